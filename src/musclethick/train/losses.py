"""Loss of the layer model: layer cross-entropy, belly edges and Dice, muscle texture.

The network's six outputs per pixel are the logits of the five layers (softmax:
above / superficial / belly / deep / below, :mod:`musclethick.train.targets`) and of "muscle
tissue" (sigmoid). Every term counts only the pixels where its labels are known (the validity
channels of the targets), so scans with partial labels (fascicle snippets: muscle only;
reviewer corrections: the two inner edges only) train exactly what they know:

* cross-entropy over the five layers (soft targets), where the layers are known;
* cross-entropy over the three groups above the belly / belly / below the belly (the groups'
  probabilities are sums of the layers'), with extra weight on the rows next to the belly's
  edges -- the two edges thickness is measured between;
* soft Dice of the belly;
* binary cross-entropy of the muscle channel;
* optionally (``consistency_weight``), on every pixel, labelled or not, the mean absolute change
  of the three groups' probabilities from one column to the next: an aponeurosis runs across
  the image, so the target muscle must not change from one side to the other;
* optionally (``jump_weight``), on every column pair, labelled or not, how far the belly's
  centre row jumps from one column to the next beyond :data:`JUMP_TOLERANCE_ROWS`, weighted
  by how much belly both columns hold: a sloping aponeurosis moves the centre a little per
  column, taking the muscle above on one side and the one below on the other moves it far.
  Unlike ``consistency_weight`` it leaves sharp, sloping edges alone.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from musclethick.train.targets import GROUP, LAYER, MUSCLE, V_GROUP, V_LAYER, V_MUSCLE

__all__ = ["belly_jumps", "column_change", "edge_weight", "layer_loss", "soft_dice"]

#: Rows the belly's centre may move between neighbouring columns without cost (a slope).
JUMP_TOLERANCE_ROWS = 2.0


def edge_weight(belly: torch.Tensor, *, edge_gain: float = 4.0) -> torch.Tensor:
    """Per-pixel weight ``1 + edge_gain`` next to the belly's edges (where the belly target
    changes within a 3x3 neighbourhood), else 1. ``belly`` is ``(batch, 1, rows, cols)``."""
    hi = F.max_pool2d(belly, 3, stride=1, padding=1)
    lo = -F.max_pool2d(-belly, 3, stride=1, padding=1)
    edge = ((hi - lo) > 0.05).to(belly.dtype)
    return 1.0 + edge_gain * edge


def soft_dice(
    prob: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None, eps: float = 1.0
) -> torch.Tensor:
    """Mean over the batch of ``1 - Dice`` on probabilities (``weight``: pixels that count)."""
    if weight is None:
        weight = torch.ones_like(target)
    dims = tuple(range(1, prob.ndim))
    inter = (prob * target * weight).sum(dims)
    denom = (prob * weight).sum(dims) + (target * weight).sum(dims)
    return (1.0 - (2.0 * inter + eps) / (denom + eps)).mean()


def _normalised(fractions: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    return fractions / valid.clamp_min(1e-6)


def column_change(groups: torch.Tensor) -> torch.Tensor:
    """Mean over pixels of the summed absolute change of ``groups`` (batch, channels, rows,
    cols) between neighbouring columns."""
    return (groups[..., 1:] - groups[..., :-1]).abs().sum(1).mean()


def belly_jumps(belly: torch.Tensor, tolerance_rows: float = JUMP_TOLERANCE_ROWS) -> torch.Tensor:
    """Mean over neighbouring column pairs of the belly centre's jump beyond
    ``tolerance_rows``, as a fraction of the rows, weighted by the smaller belly share of the
    two columns; ``belly`` is (batch, rows, cols) probabilities."""
    rows = belly.shape[-2]
    y = torch.arange(rows, dtype=belly.dtype, device=belly.device)[:, None]
    mass = belly.sum(-2)  # (batch, cols): rows of belly per column
    centre = (belly * y).sum(-2) / mass.clamp_min(1.0)
    jump = F.relu((centre[..., 1:] - centre[..., :-1]).abs() - tolerance_rows) / rows
    both = torch.minimum(mass[..., 1:], mass[..., :-1]) / rows
    return (jump * both).mean()


def layer_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    group_weight: float = 1.0,
    dice_weight: float = 0.5,
    muscle_weight: float = 0.5,
    edge_gain: float = 4.0,
    consistency_weight: float = 0.0,
    jump_weight: float = 0.0,
) -> torch.Tensor:
    """Loss of a batch.

    Parameters
    ----------
    logits : Tensor, shape (batch, 6, rows, cols)
        Five layer logits, then the muscle logit.
    target : Tensor, shape (batch, N_CHANNELS, rows, cols)
        Targets of :mod:`musclethick.train.targets` (channels first).
    """
    layer_logits = logits[:, :5]
    log_p = F.log_softmax(layer_logits, dim=1)
    v5 = (target[:, V_LAYER : V_LAYER + 1] > 0.5).to(logits.dtype)
    t5 = _normalised(target[:, LAYER], target[:, V_LAYER : V_LAYER + 1])
    ce5 = -(t5 * log_p).sum(1, keepdim=True)
    loss = (ce5 * v5).sum() / v5.sum().clamp_min(1.0)

    log_g = torch.stack(
        [
            torch.logsumexp(log_p[:, 0:2], dim=1),
            log_p[:, 2],
            torch.logsumexp(log_p[:, 3:5], dim=1),
        ],
        dim=1,
    )
    v3 = (target[:, V_GROUP : V_GROUP + 1] > 0.5).to(logits.dtype)
    t3 = _normalised(target[:, GROUP], target[:, V_GROUP : V_GROUP + 1])
    w = edge_weight(t3[:, 1:2] * v3, edge_gain=edge_gain) * v3
    ce3 = -(t3 * log_g).sum(1, keepdim=True)
    loss = loss + group_weight * (ce3 * w).sum() / w.sum().clamp_min(1.0)

    if dice_weight:
        belly_p = log_g[:, 1:2].exp()
        loss = loss + dice_weight * soft_dice(belly_p, t3[:, 1:2], v3)

    vm = (target[:, V_MUSCLE : V_MUSCLE + 1] > 0.5).to(logits.dtype)
    tm = _normalised(target[:, MUSCLE : MUSCLE + 1], target[:, V_MUSCLE : V_MUSCLE + 1])
    bce = F.binary_cross_entropy_with_logits(
        logits[:, 5:6], tm.clamp(0, 1), weight=vm, reduction="sum"
    )
    loss = loss + muscle_weight * bce / vm.sum().clamp_min(1.0)
    if consistency_weight:
        loss = loss + consistency_weight * column_change(log_g.exp())
    if jump_weight:
        loss = loss + jump_weight * belly_jumps(log_g[:, 1].exp())
    return loss
