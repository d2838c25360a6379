"""The only torch runtime of musclethick: batched, deterministic forward passes.

:class:`Predictor` wraps a :class:`~musclethick.segment.unet.UNet` in evaluation mode with the
batch-normalisation layers folded into the convolutions (fewer operations, same result), and turns
a list of frames of any sizes into probability maps at each frame's own size. The network runs
in the channels-last memory layout (faster on CPU for narrow convolutions).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from musclethick.segment.preprocess import DEFAULT_NORMALISATION
from musclethick.segment.runtime import BatchPredictor
from musclethick.segment.unet import UNet, probabilities

__all__ = ["Predictor", "fold_batchnorm"]


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every ``Conv2d`` directly followed by ``BatchNorm2d`` (in a ``Sequential``) into one
    convolution. The model must be in evaluation mode; it is modified in place and returned."""
    for module in model.modules():
        if isinstance(module, nn.Sequential):
            names = list(module._modules)
            for a, b in itertools.pairwise(names):
                conv, bn = module._modules[a], module._modules[b]
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                    module._modules[a] = fuse_conv_bn_eval(conv, bn)
                    module._modules[b] = nn.Identity()
    return model


class Predictor(BatchPredictor):
    """Batched inference of a segmentation U-Net.

    Parameters
    ----------
    state_dict : dict
        Network weights.
    config : dict
        :class:`UNet` constructor arguments (``in_channels``, ``out_channels``,
        ``base_channels``, ``depth``).
    input_shape : (rows, cols)
        Network input size.
    batch_size : int, optional
        Frames per forward pass.
    threads : int, optional
        Torch intra-op threads (default: leave torch's setting).
    normalisation : {"equalise", "standardise"}
        Input normalisation the weights were trained with
        (:func:`~musclethick.segment.preprocess.normalise`).
    """

    backend = "torch"

    def __init__(
        self,
        state_dict: dict,
        config: dict,
        input_shape: tuple[int, int],
        *,
        batch_size: int = 16,
        threads: int | None = None,
        normalisation: str = DEFAULT_NORMALISATION,
    ) -> None:
        model = UNet.from_config(config)
        model.load_state_dict(state_dict)
        model.eval()
        # channels-last (NHWC) runs the narrow convolutions of this small net about twice as
        # fast on CPU (oneDNN) as the default layout, with the same results
        self.model = fold_batchnorm(model).to(memory_format=torch.channels_last)
        self.input_shape = (int(input_shape[0]), int(input_shape[1]))
        self.out_channels = model.out_channels
        self.batch_size = int(batch_size)
        self.normalisation = str(normalisation)
        if threads is not None:
            torch.set_num_threads(int(threads))

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, channels, rows, cols)`` for a prepared ``(n, 1, rows, cols)``
        float32 batch (see :func:`~musclethick.segment.preprocess.prepare_batch`)."""
        out = []
        with torch.inference_mode():
            for start in range(0, batch.shape[0], self.batch_size):
                x = torch.from_numpy(np.ascontiguousarray(batch[start : start + self.batch_size]))
                y = self.model(x.contiguous(memory_format=torch.channels_last))
                out.append(probabilities(y).contiguous().numpy())
        if not out:
            return self._empty()
        return np.concatenate(out, axis=0)
