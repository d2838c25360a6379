"""Tests of musclethick.masks on hand-made masks with known edges."""

from __future__ import annotations

import numpy as np
import pytest

from musclethick.masks import (
    bands_from_boundaries,
    boundaries_from_mask,
    boundary_from_edges,
    inner_edges_from_mask,
)
from musclethick.types import Boundary


def _two_bands(rows: int = 100, cols: int = 200) -> np.ndarray:
    mask = np.zeros((rows, cols), dtype=np.uint8)
    mask[8:20, :] = 255  # superficial band rows 8..19 -> lower edge 19.5
    mask[60:72, :] = 255  # deep band rows 60..71 -> upper edge 59.5
    return mask


def test_flat_bands_edges_follow_the_half_pixel_convention():
    sup, deep = inner_edges_from_mask(_two_bands())
    assert sup.shape == (200,)
    np.testing.assert_array_equal(sup, 19.5)
    np.testing.assert_array_equal(deep, 59.5)
    # 40 background rows (20..59) between the bands
    np.testing.assert_array_equal(deep - sup, 40.0)


def test_missing_columns_are_nan_and_specks_ignored():
    mask = _two_bands()
    mask[60:72, 150:] = 0  # deep band stops at column 150
    mask[40:42, 30:33] = 255  # a 6 px speck between the bands
    sup, deep = inner_edges_from_mask(mask)
    assert np.all(np.isfinite(sup))
    assert np.all(np.isfinite(deep[:150]))
    assert np.all(np.isnan(deep[150:]))
    np.testing.assert_array_equal(deep[:150], 59.5)


def test_three_bands_measure_the_top_muscle():
    mask = _two_bands(rows=140)
    mask[110:120, :] = 255
    sup, deep = inner_edges_from_mask(mask)
    np.testing.assert_array_equal(sup, 19.5)
    np.testing.assert_array_equal(deep, 59.5)


def test_narrow_band_above_is_not_the_superficial_one():
    mask = _two_bands()
    mask[0:4, 0:20] = 255  # short fragment at the top: 10% of the widest span
    sup, _ = inner_edges_from_mask(mask)
    np.testing.assert_array_equal(sup, 19.5)


def test_doubled_superficial_band_is_merged():
    mask = _two_bands()
    mask[2:6, :] = 255  # thin fascia 2 rows above the superficial band (gap < 3% of rows)
    sup, deep = inner_edges_from_mask(mask)
    np.testing.assert_array_equal(sup, 19.5)
    np.testing.assert_array_equal(deep, 59.5)


def test_tilted_bands_and_forked_deep_band():
    rows, cols = 120, 100
    mask = np.zeros((rows, cols), dtype=np.uint8)
    for x in range(cols):
        top = 10 + x // 10
        mask[top : top + 8, x] = 255
        mask[70 : 70 + 6, x] = 255
        if x >= 50:  # lower branch of a fork, joined to the deep band at x = 50
            mask[76 + (x - 50) // 5 : 80 + (x - 50) // 5, x] = 255
    sup, deep = inner_edges_from_mask(mask)
    expected_sup = 10 + np.arange(cols) // 10 + 7 + 0.5
    np.testing.assert_array_equal(sup, expected_sup)
    np.testing.assert_array_equal(deep, 69.5)  # upper edge of the upper branch


def test_empty_and_single_band_masks():
    sup, deep = inner_edges_from_mask(np.zeros((30, 40), dtype=np.uint8))
    assert np.all(np.isnan(sup)) and np.all(np.isnan(deep))
    mask = np.zeros((30, 40), dtype=np.uint8)
    mask[5:10] = 255
    sup, deep = inner_edges_from_mask(mask)
    np.testing.assert_array_equal(sup, 9.5)
    assert np.all(np.isnan(deep))
    assert boundaries_from_mask(mask)[1] is None


def test_rejects_non_2d():
    with pytest.raises(ValueError, match="2-D"):
        inner_edges_from_mask(np.zeros((3, 4, 3)))


def test_boundary_from_edges_skips_nan():
    b = boundary_from_edges(np.array([np.nan, 1.0, 2.0, np.nan, 4.0]), source="model")
    assert b is not None and b.source == "model"
    np.testing.assert_array_equal(b.x_px, [1, 2, 4])
    np.testing.assert_array_equal(b.y_px, [1, 2, 4])
    assert boundary_from_edges(np.array([np.nan, 1.0])) is None


def test_round_trip_mask_to_boundaries_to_mask():
    mask = _two_bands()
    sup, deep = boundaries_from_mask(mask)
    again = bands_from_boundaries(sup, deep, mask.shape, band_px=12)
    np.testing.assert_array_equal(again, mask)


def test_round_trip_boundaries_to_mask_to_boundaries_subpixel():
    cols = 80
    x = np.arange(cols, dtype=float)
    sup = Boundary(x, 20.3 + 0.1 * x, "manual")
    deep = Boundary(x, 60.6 - 0.05 * x, "manual")
    mask = bands_from_boundaries(sup, deep, (100, cols), band_px=10)
    assert set(np.unique(mask)) == {0, 255}
    s, d = inner_edges_from_mask(mask)
    # the mask can only hold edges at half-integer rows: within half a pixel
    assert np.max(np.abs(s - sup.y_px)) <= 0.5
    assert np.max(np.abs(d - deep.y_px)) <= 0.5
    assert np.all(np.mod(s, 1.0) == 0.5)


def test_bands_only_within_boundary_columns():
    sup = Boundary(np.array([10.0, 30.0]), np.array([20.5, 20.5]), "edges")
    mask = bands_from_boundaries(sup, None, (50, 50), band_px=5)
    assert mask[:, :10].max() == 0 and mask[:, 31:].max() == 0
    np.testing.assert_array_equal(np.flatnonzero(mask[:, 20]), [16, 17, 18, 19, 20])


@pytest.mark.shared_data
def test_real_masks_three_bands_doubled_fascia_and_single_band(shared_data):
    import cv2
    from scipy import ndimage

    folder = shared_data / "dltrack_apo" / "masks"

    def read(name):
        return cv2.imread(str(folder / name), cv2.IMREAD_GRAYSCALE)

    def band_tops(mask):  # median top row of each component, top to bottom
        labels, n = ndimage.label(mask > 0, structure=np.ones((3, 3)))
        rows = np.arange(mask.shape[0])[:, None]
        tops = []
        for k in range(1, n + 1):
            comp = labels == k
            top = np.where(comp, rows, np.inf).min(axis=0)
            tops.append(float(np.median(top[np.isfinite(top)])))
        return sorted(tops)

    # three bands, the middle one partial: the deep edge is the middle band's top
    mask = read("img_00085.png")
    tops = band_tops(mask)
    assert len(tops) == 3
    sup, deep = inner_edges_from_mask(mask)
    assert abs(np.nanmedian(deep) - (tops[1] - 0.5)) <= 2
    assert np.nanmedian(sup) < tops[1] and np.all(np.isnan(deep) | (deep < tops[2]))
    # a thin fascia band just under the top band is merged into the superficial one
    mask = read("img_00064.png")
    tops = band_tops(mask)
    sup, deep = inner_edges_from_mask(mask)
    assert tops[0] < tops[1] < np.nanmedian(sup) < tops[2]
    assert abs(np.nanmedian(deep) - (tops[2] - 0.5)) <= 2
    # a single band: no deep edge
    sup, deep = inner_edges_from_mask(read("img_00075.png"))
    assert np.isfinite(sup).sum() > 100 and np.all(np.isnan(deep))
