"""Post-processing on hand-made probability maps with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from musclethick.segment.postprocess import (
    PostprocessOptions,
    assign_bands,
    boundaries_from_channels,
    boundaries_from_probability,
    find_bands,
)

ROWS, COLS = 200, 300


def _band(p, top, bottom, x0=0, x1=COLS, value=1.0):
    p[top:bottom, x0:x1] = value
    return p


def _blank():
    return np.zeros((ROWS, COLS), np.float32)


def test_two_bands_inner_edges():
    p = _band(_band(_blank(), 20, 32), 140, 152)
    sup, deep, note = boundaries_from_probability(p)
    assert note == ""
    # sharp edges lie between rows: rows 20..31 end at 31.5, row 140 starts at 139.5
    np.testing.assert_allclose(sup.y_at(np.arange(COLS)), 31.5, atol=1e-3)
    np.testing.assert_allclose(deep.y_at(np.arange(COLS)), 139.5, atol=1e-3)
    assert sup.source == deep.source == "model"
    assert sup.confidence == pytest.approx(1.0)
    assert sup.x_min == 0 and sup.x_max == COLS - 1


def test_sloped_deep_band_follows_the_line():
    p = _band(_blank(), 20, 32)
    x = np.arange(COLS)
    top = (120 + 0.1 * x).astype(int)
    for c in x:
        p[top[c] : top[c] + 12, c] = 1.0
    _, deep, _ = boundaries_from_probability(p)
    np.testing.assert_allclose(deep.y_at(x.astype(float)), top - 0.5, atol=0.6)


def test_three_bands_measure_top_muscle():
    p = _band(_band(_band(_blank(), 20, 30), 90, 100), 160, 170)
    sup, deep, _ = boundaries_from_probability(p)
    assert sup.y_at(150.0) == pytest.approx(29.5, abs=1e-3)
    assert deep.y_at(150.0) == pytest.approx(89.5, abs=1e-3)


def test_fragments_and_outlier_blob_do_not_bend_the_deep_boundary():
    p = _band(_blank(), 20, 30)
    # deep band in three fragments with gaps
    for x0, x1 in [(0, 80), (100, 190), (215, 300)]:
        _band(p, 140, 150, x0, x1)
    # a bright blob (fascicle) between the bands, and one touching the deep band
    _band(p, 80, 90, 120, 150)
    _band(p, 128, 141, 160, 175)
    sup, deep, _ = boundaries_from_probability(p)
    y = deep.y_at(np.arange(COLS, dtype=float))
    np.testing.assert_allclose(y, 139.5, atol=0.6)
    assert np.all(np.abs(np.diff(y)) < 0.5)  # never jumps between columns
    assert sup.y_at(135.0) == pytest.approx(29.5, abs=1e-3)


def test_skin_line_above_is_ignored():
    p = _band(_band(_band(_blank(), 0, 3), 25, 35), 140, 150)
    sup, deep, note = boundaries_from_probability(p)
    assert sup.y_at(150.0) == pytest.approx(34.5, abs=1e-3)
    assert deep.y_at(150.0) == pytest.approx(139.5, abs=1e-3)
    assert "skin" in note


def test_skin_line_a_few_rows_down_is_ignored_when_the_aponeurosis_follows_closely():
    # thin line at 3 % of the height, superficial aponeurosis 7 % below it
    p = _band(_band(_band(_blank(), 6, 10), 24, 34), 140, 150)
    sup, deep, note = boundaries_from_probability(p)
    assert sup.y_at(150.0) == pytest.approx(33.5, abs=1e-3)
    assert deep.y_at(150.0) == pytest.approx(139.5, abs=1e-3)
    assert "skin" in note


def test_thin_top_band_far_above_the_next_is_the_superficial_aponeurosis():
    p = _band(_band(_band(_blank(), 6, 10), 80, 90), 150, 160)
    sup, deep, note = boundaries_from_probability(p)
    assert sup.y_at(150.0) == pytest.approx(9.5, abs=1e-3)
    assert deep.y_at(150.0) == pytest.approx(79.5, abs=1e-3)
    assert "skin" not in note


def test_missing_deep_band_gives_none():
    p = _band(_blank(), 20, 30)
    sup, deep, note = boundaries_from_probability(p)
    assert sup is not None and deep is None
    assert "below" in note


def test_weak_partial_fragment_does_not_win_over_the_deep_band():
    p = _band(_band(_blank(), 20, 30), 160, 170)
    _band(p, 90, 96, 60, 150, value=0.6)  # faint band over 30 % of the width, inside the muscle
    _, deep, _ = boundaries_from_probability(p)
    assert deep.y_at(150.0) == pytest.approx(159.5, abs=1e-3)


def test_faint_fragment_above_a_full_deep_band_does_not_win():
    # a faint band over 30 % of the width (mass 0.6 x 0.3 < 20 % of the deep band's 1.0 x 1.0)
    p = _band(_band(_blank(), 20, 30), 160, 170)
    _band(p, 90, 98, 0, 90, value=0.6)
    _, deep, _ = boundaries_from_probability(p)
    assert deep.y_at(250.0) == pytest.approx(159.5, abs=1e-3)
    # a clear band nearer the superficial one wins even when it is partial (60 % of the width):
    # on formats never seen in training the stronger band further down is usually a deeper
    # structure, not the deep aponeurosis
    _band(p, 90, 98, 0, 180)
    _, deep, _ = boundaries_from_probability(p)
    assert deep.y_at(100.0) == pytest.approx(89.5, abs=1e-3)
    # the old rule (0.8) is still available as an option
    _, deep, _ = boundaries_from_probability(p, options=PostprocessOptions(deep_mass_ratio=0.8))
    assert deep.y_at(250.0) == pytest.approx(159.5, abs=1e-3)


def test_weak_map_gives_none():
    p = np.full((ROWS, COLS), 0.3, np.float32)
    sup, deep, note = boundaries_from_probability(p)
    assert sup is None and deep is None and note


def test_short_deep_fragment_gives_none():
    p = _band(_band(_blank(), 20, 30), 140, 150, 100, 140)
    sup, deep, _ = boundaries_from_probability(p)
    assert sup is not None and deep is None


def test_confidence_follows_probability_and_coverage():
    p = _band(_band(_blank(), 20, 30, value=0.9), 140, 150, 0, 150, value=0.7)
    sup, deep, _ = boundaries_from_probability(p)
    assert sup.confidence == pytest.approx(0.9, abs=0.02)
    # half the width at p=0.7: 0.7 * (0.5 / 0.8)
    assert deep.confidence == pytest.approx(0.7 * 0.5 / 0.8, abs=0.03)
    assert deep.confidence < sup.confidence


def test_doubled_superficial_fascia_is_merged():
    p = _band(_band(_band(_blank(), 20, 28), 30, 36), 140, 150)
    sup, _deep, note = boundaries_from_probability(p)
    assert sup.y_at(150.0) == pytest.approx(35.5, abs=1e-3)
    assert "merged" in note


def test_find_bands_sorted_and_filtered():
    p = _band(_band(_band(_blank(), 140, 150), 20, 30), 80, 85, 10, 30)
    bands = find_bands(p)
    assert [round(b.median_centre_px) for b in bands] == [24, 144]
    sup, deep, _ = assign_bands(bands, p.shape)
    assert sup is bands[0] and deep is bands[1]


def test_subpixel_crossing_of_a_soft_edge():
    p = _band(_blank(), 20, 30)
    p[30, :] = 0.75  # the edge lies half way into row 30 at threshold 0.5
    p = _band(p, 140, 150)
    sup, _, _ = boundaries_from_probability(p, options=PostprocessOptions(threshold=0.5))
    # crossing between row 30 (0.75) and row 31 (0): 30 + 0.25/0.75
    assert sup.y_at(100.0) == pytest.approx(30 + 0.25 / 0.75, abs=1e-3)


def test_two_channel_map():
    p = np.zeros((2, ROWS, COLS), np.float32)
    p[0, 20:30] = 1.0
    p[0, 80:84, 100:120] = 1.0  # small blob in the superficial channel
    p[1, 140:150] = 0.9
    sup, deep, _ = boundaries_from_channels(p)
    assert sup.y_at(150.0) == pytest.approx(29.5, abs=1e-3)
    assert deep.y_at(150.0) == pytest.approx(140 - 0.4 / 0.9, abs=1e-3)


def test_rejects_non_2d():
    with pytest.raises(ValueError, match="2-D"):
        boundaries_from_probability(np.zeros((2, 3, 4)))


def test_low_resolution_map_gives_frame_coordinates():
    import cv2

    p = _band(_blank(), 20, 32)
    x = np.arange(COLS)
    top = (120 + 0.1 * x).astype(int)
    for c in x:
        p[top[c] : top[c] + 12, c] = 1.0
    full_sup, full_deep, _ = boundaries_from_probability(p)
    small = cv2.resize(p, (COLS // 3, ROWS // 4), interpolation=cv2.INTER_AREA)
    sup, deep, _ = boundaries_from_probability(small, frame_shape=(ROWS, COLS))
    assert sup.x_min == 0 and sup.x_max == COLS - 1
    xs = np.arange(10.0, COLS - 10.0)
    np.testing.assert_allclose(sup.y_at(xs), full_sup.y_at(xs), atol=1.0)
    np.testing.assert_allclose(deep.y_at(xs), full_deep.y_at(xs), atol=1.5)
