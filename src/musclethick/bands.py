"""The next aponeurosis-like band above or below a boundary (pure).

A reviewer who sees a boundary on the wrong layer (the model took a fascia, or the
aponeurosis of the next muscle) moves it to "the next band down / up" with one key.
:func:`next_band` finds that band from the image alone, as the classical path does: the
boundary is shifted up or down with its shape kept, each shift is scored by the median over
the boundary's columns of the correctly-signed vertical gradient (bright -> dark going down for
the inner edge of a superficial aponeurosis, dark -> bright for a deep one), and the nearest
shift whose score stands out from the speckle is taken; the shifted boundary is then snapped
to the edge column by column (:func:`musclethick.refine.refine_boundary`).

Scoring a whole shifted boundary (rather than searching each column on its own) is what makes
one key press reliable: speckle inside the muscle gives strong gradients in single columns
but no consistent edge along the boundary's shape, while an aponeurosis or fascia does.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from musclethick.errors import BoundaryNotFound
from musclethick.refine import refine_boundary, vertical_gradient
from musclethick.types import Boundary

__all__ = ["band_profile", "next_band"]

Side = Literal["superficial", "deep"]


def band_profile(
    pixels: np.ndarray,
    boundary: Boundary,
    *,
    side: Side,
    shifts_px: np.ndarray,
    column_step: int = 2,
) -> tuple[np.ndarray, float]:
    """Edge score of ``boundary`` shifted by each of ``shifts_px`` rows, and the noise level.

    Parameters
    ----------
    pixels : ndarray, shape (rows, cols)
        Grey levels of the frame.
    boundary : Boundary
        Inner edge in frame coordinates.
    side : {"superficial", "deep"}
        Sets the edge polarity.
    shifts_px : ndarray of int, shape (k,)
        Row shifts to score (positive = down).
    column_step : int
        Use every n-th column of the boundary.

    Returns
    -------
    score : ndarray of float, shape (k,)
        Median over the columns (inside the image after the shift) of the correctly-signed
        vertical gradient, clipped at 0; 0 where fewer than a quarter of the columns remain.
    noise : float
        Median absolute vertical gradient of the frame (the speckle level).
    """
    if side not in ("superficial", "deep"):
        raise ValueError(f"side must be 'superficial' or 'deep', got {side!r}")
    grad = vertical_gradient(pixels, sigma_x_px=4.0, sigma_y_px=1.5)
    rows, cols = grad.shape
    sign = -1.0 if side == "superficial" else 1.0
    edge = np.clip(sign * grad, 0.0, None)
    lo = max(int(np.ceil(boundary.x_min)), 0)
    hi = min(int(np.floor(boundary.x_max)), cols - 1)
    xs = np.arange(lo, hi + 1, max(1, int(column_step)))
    shifts = np.asarray(shifts_px, dtype=np.int64)
    if xs.size < 2 or shifts.size == 0:
        return np.zeros(shifts.size), float(np.median(np.abs(grad))) + 1e-6
    y0 = np.rint(boundary.y_at(xs.astype(np.float64))).astype(np.int64)
    rr = y0[None, :] + shifts[:, None]  # (k, n)
    inside = (rr >= 1) & (rr < rows - 1)
    values = np.where(inside, edge[np.clip(rr, 0, rows - 1), xs[None, :]], np.nan)
    enough = inside.sum(axis=1) >= max(2, xs.size // 4)
    with np.errstate(all="ignore"):
        score = np.where(enough, np.nanmedian(np.where(enough[:, None], values, 0.0), axis=1), 0)
    return np.nan_to_num(score), float(np.median(np.abs(grad))) + 1e-6


def next_band(
    pixels: np.ndarray,
    boundary: Boundary,
    *,
    side: Side,
    direction: int,
    other: Boundary | None = None,
    min_gap_px: float = 6.0,
    min_contrast: float = 2.0,
) -> Boundary:
    """The inner edge of the next band below (``direction=+1``) or above (``-1``) ``boundary``.

    Parameters
    ----------
    pixels : ndarray, shape (rows, cols)
        Grey levels of the frame.
    boundary : Boundary
        The current inner edge (frame coordinates).
    side : {"superficial", "deep"}
        Which aponeurosis ``boundary`` stands for (sets the edge polarity).
    direction : {+1, -1}
        Down (deeper) or up.
    other : Boundary, optional
        The other aponeurosis: the new edge stays at least ``min_gap_px`` on its own side of
        it (a deep edge below the superficial one and vice versa).
    min_gap_px : float
        Smallest shift considered (px), so the current edge is not found again.
    min_contrast : float
        A shift counts as a band when its score (see :func:`band_profile`) is at least this
        many times the speckle level and a local maximum of the profile.

    Returns
    -------
    Boundary
        At the boundary's columns, snapped to the image edge; source ``"refined"``.

    Raises
    ------
    BoundaryNotFound
        When no band stands out in that direction (the message says which).
    """
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 (down) or -1 (up), got {direction!r}")
    rows = int(np.asarray(pixels).shape[0])
    gap = max(int(np.ceil(min_gap_px)), 2)
    distances = np.arange(gap - 1, rows)  # one below the gap: local maxima need a neighbour
    max_distance = rows
    if other is not None and _towards(side, direction):
        between = other.y_at(boundary.x_px) - boundary.y_px
        between = between[np.isfinite(between)]
        if between.size:
            max_distance = abs(float(np.median(between))) - min_gap_px
    score, noise = band_profile(
        pixels, boundary, side=side, shifts_px=direction * distances, column_step=2
    )
    for k in range(1, distances.size - 1):
        d = int(distances[k])
        if d > max_distance:
            break
        s = score[k]
        if s >= min_contrast * noise and s >= score[k - 1] and s > score[k + 1]:
            shifted = boundary.shifted(0.0, float(direction * d))
            return refine_boundary(
                pixels, shifted, side=side, search_px=min(4.0, max(1.5, d / 3.0))
            )
    where = "below" if direction > 0 else "above"
    raise BoundaryNotFound(f"no band {where} the {side} boundary stands out from the speckle")


def _towards(side: Side, direction: int) -> bool:
    """Whether moving ``side``'s edge in ``direction`` goes towards the other aponeurosis."""
    return (side == "deep" and direction < 0) or (side == "superficial" and direction > 0)
