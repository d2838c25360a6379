"""Losses for band segmentation: binary cross-entropy + soft Dice, edge rows weighted."""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["band_loss", "edge_weight", "soft_dice"]


def edge_weight(target: torch.Tensor, *, edge_gain: float = 4.0) -> torch.Tensor:
    """Per-pixel weight ``1 + edge_gain`` on band edges (where the target changes), else 1."""
    smooth = F.avg_pool2d(target, 3, stride=1, padding=1, count_include_pad=False)
    edge = ((smooth - target).abs() > 0.05).to(target.dtype)
    return 1.0 + edge_gain * edge


def soft_dice(prob: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Mean over batch and channels of ``1 - Dice`` computed on probabilities."""
    dims = (-2, -1)
    inter = (prob * target).sum(dims)
    denom = prob.sum(dims) + target.sum(dims)
    return (1.0 - (2.0 * inter + eps) / (denom + eps)).mean()


def band_loss(
    logits: torch.Tensor, target: torch.Tensor, *, dice_weight: float = 1.0, edge_gain: float = 4.0
) -> torch.Tensor:
    """Edge-weighted BCE plus ``dice_weight`` x soft Dice.

    Parameters
    ----------
    logits, target : Tensor, shape (batch, channels, rows, cols)
        Network logits and band targets in [0, 1].
    """
    weight = edge_weight(target, edge_gain=edge_gain)
    bce = F.binary_cross_entropy_with_logits(logits, target, weight=weight)
    return bce + dice_weight * soft_dice(torch.sigmoid(logits), target)
