"""Ideal layer maps with known boundaries (test helper, imported as ``layer_maps``: the folder
is on ``sys.path`` through its ``conftest.py``)."""

from __future__ import annotations

import numpy as np

ROWS, COLS = 160, 112


def _fraction_above(edge: np.ndarray, rows: int = ROWS) -> np.ndarray:
    """Fraction of each pixel (rows, cols) above the line ``edge`` (per column, pixel-centre
    coordinates: pixel r covers [r - 0.5, r + 0.5))."""
    r = np.arange(rows, dtype=np.float64)[:, None]
    return np.clip(edge[None, :] - (r - 0.5), 0.0, 1.0)


def layer_map(
    sup_edge,
    deep_edge,
    *,
    band=5.0,
    muscle=1.0,
    certainty=0.98,
    rows=ROWS,
    cols=COLS,
) -> np.ndarray:
    """An ideal layer map with the belly between ``sup_edge`` and ``deep_edge`` (net rows) and
    bands ``band`` rows thick, blended with a uniform map so that nothing is exactly 0 or 1."""
    s = np.broadcast_to(np.asarray(sup_edge, float), (cols,))
    d = np.broadcast_to(np.asarray(deep_edge, float), (cols,))
    above_band = _fraction_above(s - band, rows)
    above_belly = _fraction_above(s, rows)
    above_deep = _fraction_above(d, rows)
    above_below = _fraction_above(d + band, rows)
    p = np.zeros((6, rows, cols))
    p[0] = above_band
    p[1] = above_belly - above_band
    p[2] = above_deep - above_belly
    p[3] = above_below - above_deep
    p[4] = 1.0 - above_below
    p[:5] = certainty * p[:5] + (1 - certainty) / 5
    p[5] = muscle * p[2] + 0.01
    return p.astype(np.float32)
