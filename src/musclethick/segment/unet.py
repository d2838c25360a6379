"""Small U-Net that maps a grey ultrasound image to the layers of a muscle scan.

The network is deliberately tiny (a few hundred thousand parameters) so that a batch of frames
runs in a few milliseconds per image on two CPU cores. It is a plain encoder-decoder with skip
connections (Ronneberger et al. 2015): two 3x3 convolutions with batch normalisation and ReLU per
level, max-pooling down, a 1x1 convolution and bilinear upsampling up (in that order: the two
commute, and the convolution runs on a quarter of the pixels).

Its six outputs per pixel are the logits of five layers, from the top of the scan down (above the
target muscle, superficial aponeurosis, muscle belly, deep aponeurosis, below; a softmax across
them) and of "muscle tissue" (a sigmoid); :meth:`UNet.probabilities` applies both, and the ONNX
export carries them (see :mod:`musclethick.train.targets` for what each layer is).

Only :mod:`musclethick.segment.predict`, :mod:`musclethick.segment.export` and
:mod:`musclethick.train` import this module: it needs ``torch``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["N_LAYERS", "OUT_CHANNELS", "Probabilities", "UNet", "count_parameters", "probabilities"]

#: Layers of the softmax group (above, superficial, belly, deep, below).
N_LAYERS = 5
#: Output channels: the layers and the muscle channel.
OUT_CHANNELS = N_LAYERS + 1


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Layer probabilities (softmax over the first five channels) and muscle probability
    (sigmoid of the last), same shape as ``logits`` ``(batch, 6, rows, cols)``."""
    return torch.cat(
        [torch.softmax(logits[:, :N_LAYERS], dim=1), torch.sigmoid(logits[:, N_LAYERS:])], dim=1
    )


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
        # the 1x1 convolution and the bilinear upsampling are both linear and commute; reducing
        # the channels first runs the convolution on a quarter of the pixels and upsamples half
        # the channels (the same function: ~1 ms less of an 11-13 ms forward pass on CPU)
        x = self.reduce(x)
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(torch.cat([x, skip], dim=1))


class _RowContext(nn.Module):
    """What each row holds across the whole width, added back to every pixel of the row.

    The mean of each channel over the columns (one value per row), mixed across channels and
    neighbouring rows by a (3 x 1) convolution, is broadcast back over the columns and added:
    every pixel then knows which layer its row is across the image, not only around it
    ("strip pooling", Hou et al. 2020). Meant for the layers of a muscle, which run across the
    image: a layer map that calls the upper muscle the target on one side and the lower one on
    the other is what it is there to prevent. Starts as the identity (zero-initialised).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.mix = nn.Conv2d(channels, channels, (3, 1), padding=(1, 0))
        nn.init.zeros_(self.mix.weight)
        nn.init.zeros_(self.mix.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(x.mean(dim=3, keepdim=True))


class UNet(nn.Module):
    """U-Net with ``depth`` down-sampling steps.

    Parameters
    ----------
    in_channels : int
        Input channels (1: grey).
    out_channels : int
        Output channels: :data:`OUT_CHANNELS` (five layer logits and the muscle logit).
    base_channels : int
        Channels of the first level; each level below doubles them.
    depth : int
        Number of 2x down-sampling steps. Input sides must be divisible by ``2**depth``.
    row_context : bool
        Add a :class:`_RowContext` after the bottleneck and after each up-sampling level.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = OUT_CHANNELS,
        *,
        base_channels: int = 8,
        depth: int = 4,
        row_context: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.base_channels = int(base_channels)
        self.depth = int(depth)
        self.row_context = bool(row_context)
        widths = [base_channels * 2**i for i in range(depth + 1)]
        self.stem = _DoubleConv(in_channels, widths[0])
        self.down = nn.ModuleList(_DoubleConv(widths[i], widths[i + 1]) for i in range(depth))
        self.up = nn.ModuleList(
            _Up(widths[i + 1], widths[i], widths[i]) for i in reversed(range(depth))
        )
        self.head = nn.Conv2d(widths[0], out_channels, 1)
        if self.row_context:
            self.context = nn.ModuleList(_RowContext(widths[i]) for i in reversed(range(depth + 1)))

    @classmethod
    def from_config(cls, config: dict) -> UNet:
        """The network :meth:`config` describes (missing keys: the defaults)."""
        return cls(
            int(config.get("in_channels", 1)),
            int(config.get("out_channels", OUT_CHANNELS)),
            base_channels=int(config.get("base_channels", 8)),
            depth=int(config.get("depth", 4)),
            row_context=bool(config.get("row_context", False)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits of shape ``(batch, out_channels, rows, cols)``."""
        skips = [self.stem(x)]
        for block in self.down:
            skips.append(block(F.max_pool2d(skips[-1], 2)))
        y = skips.pop()
        if self.row_context:
            y = self.context[0](y)
        for i, block in enumerate(self.up):
            y = block(y, skips.pop())
            if self.row_context:
                y = self.context[i + 1](y)
        return self.head(y)

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Layer and muscle probabilities (:func:`probabilities` of the logits)."""
        return probabilities(self(x))

    def config(self) -> dict[str, int | bool]:
        """Constructor arguments, stored beside the weights (``row_context`` only when on, so
        the cards of earlier weights read the same)."""
        config: dict[str, int | bool] = {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "base_channels": self.base_channels,
            "depth": self.depth,
        }
        if self.row_context:
            config["row_context"] = True
        return config


class Probabilities(nn.Module):
    """``UNet`` whose forward pass returns probabilities (what is exported and run)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return probabilities(self.net(x))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters of ``model``."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
