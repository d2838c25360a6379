"""Next band down / up (pure): synthetic scans with bands at known rows."""

from __future__ import annotations

import numpy as np
import pytest

from musclethick.bands import band_profile, next_band
from musclethick.errors import BoundaryNotFound
from musclethick.refine import ANNOTATION_OFFSET_PX
from musclethick.types import Boundary

ROWS, COLS = 200, 240


def _scan(seed: int = 0) -> np.ndarray:
    """Speckle (mean 45, SD 12) with three bright bands: rows 38-49 (superficial
    aponeurosis), 95-100 (a fascia) and 150-161 (deep aponeurosis)."""
    rng = np.random.default_rng(seed)
    img = rng.normal(45, 12, size=(ROWS, COLS))
    for top, bottom in ((38, 50), (95, 101), (150, 162)):
        img[top:bottom] = rng.normal(210, 15, size=(bottom - top, COLS))
    return img.clip(0, 255).astype(np.uint8)


def _flat(y: float, source: str = "model") -> Boundary:
    x = np.arange(10.0, 230.0)
    return Boundary(x, np.full_like(x, y), source, 0.9)


# a step between rows r and r + 1 lies at y = r + 0.5 (refine's convention), plus the offset
# refine adds to follow hand-drawn annotations
DEEP = ANNOTATION_OFFSET_PX["deep"]
SUP = ANNOTATION_OFFSET_PX["superficial"]


def test_deep_boundary_on_a_fascia_goes_down_to_the_deep_aponeurosis():
    found = next_band(_scan(), _flat(95.0), side="deep", direction=1)
    assert found.y_px == pytest.approx(np.full(found.x_px.size, 149.5 + DEEP), abs=0.6)
    np.testing.assert_array_equal(found.x_px, _flat(95.0).x_px)


def test_deep_boundary_goes_up_to_the_fascia_but_not_past_the_superficial_one():
    img = _scan()
    up = next_band(img, _flat(150.0), side="deep", direction=-1, other=_flat(49.5))
    assert up.y_px == pytest.approx(np.full(up.x_px.size, 94.5 + DEEP), abs=0.6)
    # from the fascia up, the next dark -> bright edge (row 37.5) lies above the superficial
    # boundary: not a deep aponeurosis
    with pytest.raises(BoundaryNotFound, match="above the deep boundary"):
        next_band(img, _flat(95.0), side="deep", direction=-1, other=_flat(49.5))
    with pytest.raises(BoundaryNotFound, match="below the deep boundary"):
        next_band(img, _flat(150.0), side="deep", direction=1)


def test_superficial_boundary_goes_down_to_the_lower_edge_of_the_fascia():
    img = _scan()
    down = next_band(img, _flat(49.5), side="superficial", direction=1, other=_flat(150.0))
    assert down.y_px == pytest.approx(np.full(down.x_px.size, 100.5 + SUP), abs=0.6)
    back = next_band(img, down, side="superficial", direction=-1)
    assert back.y_px == pytest.approx(np.full(back.x_px.size, 49.5 + SUP), abs=0.6)


def test_band_profile_peaks_at_the_band_and_is_flat_in_speckle():
    shifts = np.arange(0, 60)
    score, noise = band_profile(_scan(), _flat(95.0), side="deep", shifts_px=shifts)
    assert int(shifts[np.argmax(score[10:])]) + 10 in (54, 55)  # 95 -> 149.5
    assert np.median(score[10:45]) < noise  # muscle speckle between the bands
    with pytest.raises(ValueError, match="side"):
        band_profile(_scan(), _flat(95.0), side="middle", shifts_px=shifts)
