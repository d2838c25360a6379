"""The next aponeurosis-like band above or below a boundary (pure).

A reviewer who sees a boundary on the wrong layer (the model took a fascia, or the
aponeurosis of the next muscle) moves it to "the next band down / up" with one key.
:func:`next_band` finds that band from the image alone, with the classical path's own band
search: every bright band :func:`musclethick.refine.band_edges` finds (dynamic-programming
paths through an oriented ridge map, so tilted and curved bands count), snapped to its edge of
the boundary's polarity (bright -> dark going down for the inner edge of a superficial
aponeurosis, dark -> bright for a deep one). The nearest such edge at least ``min_gap_px``
beyond the boundary (median over the columns both cover), and not across the other
aponeurosis, is the next band.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from musclethick.errors import BoundaryNotFound
from musclethick.refine import band_edges
from musclethick.types import Boundary

__all__ = ["next_band"]

Side = Literal["superficial", "deep"]


def next_band(
    pixels: np.ndarray,
    boundary: Boundary,
    *,
    side: Side,
    direction: int,
    other: Boundary | None = None,
    min_gap_px: float = 6.0,
    min_overlap: float = 0.25,
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
        Smallest distance (median over the columns, px) from ``boundary``, so that its own
        edge is not found again.
    min_overlap : float
        A band must cover at least this fraction of ``boundary``'s columns.

    Returns
    -------
    Boundary
        The band's edge at ``boundary``'s columns that the band covers (source ``"edges"``).

    Raises
    ------
    BoundaryNotFound
        When no band lies in that direction (the message says which).
    """
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 (down) or -1 (up), got {direction!r}")
    best: tuple[float, Boundary] | None = None
    for edge in band_edges(pixels, side=side):
        x = boundary.x_px[(boundary.x_px >= edge.x_min) & (boundary.x_px <= edge.x_max)]
        if x.size < max(2, min_overlap * boundary.x_px.size):
            continue
        y = edge.y_at(x)
        distance = direction * float(np.median(y - boundary.y_at(x)))
        if distance < min_gap_px or not _on_its_side(x, y, side, other, min_gap_px):
            continue
        if best is None or distance < best[0]:
            best = (distance, Boundary(x, y, "edges", edge.confidence))
    if best is None:
        where = "below" if direction > 0 else "above"
        raise BoundaryNotFound(f"no band {where} the {side} boundary")
    return best[1]


def _on_its_side(
    x: np.ndarray, y: np.ndarray, side: Side, other: Boundary | None, gap: float
) -> bool:
    """Whether an edge ``(x, y)`` for ``side`` stays ``gap`` px on its side of ``other``."""
    if other is None:
        return True
    rows = other.y_at(x)
    ok = np.isfinite(rows)
    if not ok.any():
        return True
    between = float(np.median(y[ok] - rows[ok]))  # > 0: the edge lies below the other one
    return between >= gap if side == "deep" else -between >= gap
