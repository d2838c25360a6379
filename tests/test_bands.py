"""Next band down / up (pure): synthetic scans with bands at known rows."""

from __future__ import annotations

import numpy as np
import pytest

from musclethick.bands import next_band
from musclethick.errors import BoundaryNotFound
from musclethick.refine import band_edges
from musclethick.types import Boundary

ROWS, COLS = 200, 240


def _scan(seed: int = 0, tilt: float = 0.0) -> np.ndarray:
    """Speckle (mean 45, SD 12) with three bright bands: rows 38-49 (superficial
    aponeurosis), 95-100 (a fascia) and 150-161 (deep aponeurosis); with ``tilt``, the fascia
    is tilted by ``tilt`` rows per column about the middle column (not parallel to the
    others)."""
    rng = np.random.default_rng(seed)
    img = rng.normal(45, 12, size=(ROWS, COLS))
    for top, bottom in ((38, 50), (150, 162)):
        img[top:bottom] = rng.normal(210, 15, size=(bottom - top, COLS))
    for col in range(COLS):
        top = 95 + round(tilt * (col - COLS // 2))
        img[top : top + 6, col] = rng.normal(210, 15, size=6)
    return img.clip(0, 255).astype(np.uint8)


def _flat(y: float, source: str = "model") -> Boundary:
    x = np.arange(10.0, 230.0)
    return Boundary(x, np.full_like(x, y), source, 0.9)


def _rows(boundary: Boundary, expected) -> bool:
    """Within 0.6 px of ``expected`` (a step between rows r and r + 1 lies at r + 0.5)."""
    want = np.broadcast_to(np.asarray(expected, dtype=float), boundary.y_px.shape)
    return boundary.y_px == pytest.approx(want, abs=0.6)


def test_deep_boundary_on_a_fascia_goes_down_to_the_deep_aponeurosis():
    found = next_band(_scan(), _flat(94.5), side="deep", direction=1)
    assert _rows(found, 149.5)
    np.testing.assert_array_equal(found.x_px, _flat(94.5).x_px)
    assert found.source == "edges"


def test_deep_boundary_goes_up_to_the_fascia_but_not_past_the_superficial_one():
    img = _scan()
    up = next_band(img, _flat(149.5), side="deep", direction=-1, other=_flat(49.5))
    assert _rows(up, 94.5)
    # from the fascia up, the next dark -> bright edge (row 37.5) lies above the superficial
    # boundary: not a deep aponeurosis
    with pytest.raises(BoundaryNotFound, match="above the deep boundary"):
        next_band(img, _flat(94.5), side="deep", direction=-1, other=_flat(49.5))
    with pytest.raises(BoundaryNotFound, match="below the deep boundary"):
        next_band(img, _flat(149.5), side="deep", direction=1)


def test_superficial_boundary_goes_down_to_the_lower_edge_of_the_fascia_and_back():
    img = _scan()
    down = next_band(img, _flat(49.5), side="superficial", direction=1, other=_flat(149.5))
    assert _rows(down, 100.5)
    back = next_band(img, down, side="superficial", direction=-1)
    assert _rows(back, 49.5)


def test_a_tilted_band_is_followed():
    img = _scan(tilt=0.1)  # the fascia rises 12 rows to the left, drops 12 to the right
    found = next_band(img, _flat(149.5), side="deep", direction=-1, other=_flat(49.5))
    expected = 94.5 + np.round(0.1 * (found.x_px - COLS // 2))
    assert np.abs(found.y_px - expected).max() < 1.0  # a smooth fit through 1-row steps


def test_band_edges_lists_every_band_on_the_side_asked():
    img = _scan()
    deep = [float(np.median(b.y_px)) for b in band_edges(img, side="deep")]
    sup = [float(np.median(b.y_px)) for b in band_edges(img, side="superficial")]
    assert deep == pytest.approx([37.5, 94.5, 149.5], abs=0.6)
    assert sup == pytest.approx([49.5, 100.5, 161.5], abs=0.6)
    with pytest.raises(ValueError, match="side"):
        band_edges(img, side="middle")
