"""Thickness read from a hand-drawn aponeurosis mask with plain numpy (test helper).

An answer independent of the package: no ``musclethick`` code is used. Imported by the tests
as ``mask_reference`` (``tests/`` is on ``sys.path`` through its ``conftest.py``).
"""

from __future__ import annotations

import numpy as np


def mask_thickness_px(mask: np.ndarray, x_px: float) -> float:
    """Rows between the top two aponeurosis bands of ``mask`` in the column nearest ``x_px``.

    DL_Track masks are white (> 127) bands on black; with three bands (two stacked muscles)
    the top muscle is the one measured, as the DL_Track labelling instructions say. The
    muscle-side edges lie between pixel rows, so the thickness is the number of black rows
    between the first band's last row and the second band's first row.
    """
    column = np.asarray(mask)[:, round(x_px)] > 127
    rows = np.flatnonzero(column)
    breaks = np.flatnonzero(np.diff(rows) > 1)  # a band ends where the white rows jump
    if breaks.size == 0:
        raise ValueError(f"column {x_px}: fewer than two bands")
    first_end, second_start = rows[breaks[0]], rows[breaks[0] + 1]
    return float(second_start - first_end - 1)
