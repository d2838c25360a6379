"""Shared fixtures of the segmentation tests."""

from __future__ import annotations

import pytest
import torch

from musclethick.segment.unet import UNet


@pytest.fixture()
def tiny_unet() -> UNet:
    """A seeded tiny U-Net in evaluation mode with non-trivial batch-norm statistics (so that
    folding them into the convolutions is exercised)."""
    torch.manual_seed(0)
    model = UNet(base_channels=4, depth=2).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return model
