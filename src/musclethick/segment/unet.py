"""Small U-Net that maps a grey ultrasound image to aponeurosis-band logits.

The network is deliberately tiny (a few hundred thousand parameters) so that a batch of frames
runs in a few milliseconds per image on two CPU cores. It is a plain encoder-decoder with skip
connections (Ronneberger et al. 2015): two 3x3 convolutions with batch normalisation and ReLU per
level, max-pooling down, bilinear upsampling followed by a 1x1 convolution up.

Only :mod:`musclethick.segment.predict` and :mod:`musclethick.train` import this module: it needs
``torch``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["UNet", "count_parameters"]


class _DoubleConv(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class _Up(nn.Module):
    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(in_channels, skip_channels, 1, bias=False)
        self.conv = _DoubleConv(2 * skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        x = self.reduce(x)
        return self.conv(torch.cat([x, skip], dim=1))


class UNet(nn.Module):
    """U-Net with ``depth`` down-sampling steps.

    Parameters
    ----------
    in_channels : int
        Input channels (1: grey).
    out_channels : int
        Output channels: 1 for the one-class "aponeurosis band" design, 2 for the
        superficial/deep design. The outputs are logits (apply a sigmoid).
    base_channels : int
        Channels of the first level; each level below doubles them.
    depth : int
        Number of 2x down-sampling steps. Input sides must be divisible by ``2**depth``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        *,
        base_channels: int = 8,
        depth: int = 4,
    ) -> None:
        super().__init__()
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.base_channels = int(base_channels)
        self.depth = int(depth)
        widths = [base_channels * 2**i for i in range(depth + 1)]
        self.stem = _DoubleConv(in_channels, widths[0])
        self.down = nn.ModuleList(_DoubleConv(widths[i], widths[i + 1]) for i in range(depth))
        self.up = nn.ModuleList(
            _Up(widths[i + 1], widths[i], widths[i]) for i in reversed(range(depth))
        )
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits of shape ``(batch, out_channels, rows, cols)``."""
        skips = [self.stem(x)]
        for block in self.down:
            skips.append(block(F.max_pool2d(skips[-1], 2)))
        y = skips.pop()
        for block in self.up:
            y = block(y, skips.pop())
        return self.head(y)

    def config(self) -> dict[str, int]:
        """Constructor arguments, stored beside the weights."""
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "base_channels": self.base_channels,
            "depth": self.depth,
        }


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters of ``model``."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
