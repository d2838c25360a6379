"""Layer maps -> boundaries, runner-up and doubts, on hand-made maps with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from layer_maps import COLS, ROWS, layer_map  # tests/segment/layer_maps.py

from musclethick.qc import describe_flags
from musclethick.segment.postprocess import (
    PostprocessOptions,
    boundaries_from_layers,
    decode_layers,
)


def _frame_y(net_y, scale):
    return (np.asarray(net_y) + 0.5) * scale - 0.5


def test_soft_steps_give_exact_subpixel_edges_in_frame_coordinates():
    x = np.arange(COLS)
    sup = 20.3 + 0.05 * x
    deep = 80.7 - 0.1 * x
    res = boundaries_from_layers(layer_map(sup, deep), frame_shape=(480, 336))
    xf = (x + 0.5) * 3 - 0.5
    np.testing.assert_allclose(res.superficial.y_at(xf), _frame_y(sup, 3.0), atol=0.05)
    np.testing.assert_allclose(res.deep.y_at(xf), _frame_y(deep, 3.0), atol=0.05)
    assert res.superficial.source == "model" and res.superficial.confidence > 0.9
    assert res.doubts == ()
    assert res.evidence.belly_coverage == 1.0 and res.evidence.muscle_probability > 0.9
    # boundaries span the whole frame width
    assert res.superficial.x_min == 0 and res.superficial.x_max == 335


def test_a_thick_layer_above_does_not_move_the_superficial_boundary_to_the_top():
    # the belly is what counts, wherever it lies: here it starts at half the depth
    res = boundaries_from_layers(layer_map(80.0, 140.0, band=3.0))
    assert res.superficial.y_at(50.0) == pytest.approx(80.0, abs=0.05)
    assert res.deep.y_at(50.0) == pytest.approx(140.0, abs=0.05)


def _two_candidates(weight_second: float) -> np.ndarray:
    """Belly in rows 20-60 (weight 1 - w) or 70-130 (weight w) in every column."""
    first = layer_map(20.0, 60.0)
    second = layer_map(70.0, 130.0)
    return ((1 - weight_second) * first + weight_second * second).astype(np.float32)


def test_confident_map_has_a_distant_runner_up_and_no_doubt():
    res = boundaries_from_layers(_two_candidates(0.15))
    assert res.superficial.y_at(50.0) == pytest.approx(20.0, abs=0.5)
    assert "ambiguous_layers" not in res.doubts
    # the other muscle is the runner-up, 85:15 less likely per row than the measured one
    assert res.runner_up is not None
    assert res.runner_up.superficial.y_at(50.0) == pytest.approx(70.0, abs=1.5)
    assert res.runner_up.margin_nats == pytest.approx(np.log(0.85 / 0.15), rel=0.1)


def test_a_faint_second_muscle_is_no_runner_up():
    res = boundaries_from_layers(_two_candidates(0.05))
    assert res.runner_up is None and res.evidence.margin_nats == np.inf
    assert res.doubts == ()


def test_nearly_equal_layer_pairs_are_ambiguous_and_the_other_pair_is_the_runner_up():
    res = boundaries_from_layers(_two_candidates(0.45))
    assert res.superficial.y_at(50.0) == pytest.approx(20.0, abs=1.0)
    assert "ambiguous_layers" in res.doubts
    alt = res.runner_up
    assert alt is not None and alt.superficial.source == "runner_up"
    # the runner-up is the other muscle: its belly is the second one
    assert alt.superficial.y_at(50.0) == pytest.approx(70.0, abs=1.5)
    assert alt.deep.y_at(50.0) == pytest.approx(130.0, abs=1.5)
    assert alt.margin_nats < 4.0


def test_belly_without_muscle_texture_is_doubted():
    res = boundaries_from_layers(layer_map(20.0, 60.0, muscle=0.1))
    assert "no_muscle_texture" in res.doubts
    assert res.evidence.muscle_probability < 0.5


def test_belly_running_into_the_top_edge_gives_no_superficial_boundary():
    res = boundaries_from_layers(layer_map(-3.0, 60.0, band=2.0))
    assert res.superficial is None and "superficial" in res.note
    assert "edge_of_image" in res.doubts
    assert res.deep is not None


def test_belly_running_out_at_the_bottom_gives_no_deep_boundary():
    res = boundaries_from_layers(layer_map(20.0, ROWS + 10.0))
    assert res.deep is None and "edge_of_image" in res.doubts


def test_columns_without_a_belly_are_left_out_and_bridged():
    p = layer_map(30.0, 90.0)
    # a black pillarbox bar on the left: "above" only, no belly
    p[:5, :, :20] = 0.001
    p[0, :, :20] = 0.996
    dec = decode_layers(p)
    assert not dec.has_belly[:20].any() and dec.has_belly[20:].all()
    res = boundaries_from_layers(p)
    assert res.superficial.x_min == 0  # extended across the bar along the fit
    assert res.superficial.y_at(5.0) == pytest.approx(30.0, abs=0.05)
    assert res.evidence.belly_coverage == pytest.approx(92 / 112)


def test_a_few_outlying_columns_do_not_bend_the_boundaries():
    p = layer_map(30.0, 90.0)
    p[:, :, 50:56] = layer_map(30.0, 60.0)[:, :, 50:56]  # a septum taken for the deep edge
    res = boundaries_from_layers(p)
    assert res.deep.y_at(53.0) == pytest.approx(90.0, abs=0.1)


def test_a_deep_edge_in_two_pieces_is_refused_but_kept_as_the_last_resort():
    """55 % of the columns end the belly at row 90, 45 % at row 120: no fit explains 60 % of the
    deep edge's points, so there is no deep boundary; the last resort follows the larger piece
    with a confidence that cannot pass as ``ok`` (below qc.MIN_CONFIDENCE, 0.7)."""
    deep_rows = np.where(np.arange(COLS) < 62, 90.0, 120.0)
    res = boundaries_from_layers(layer_map(30.0, deep_rows))
    assert res.deep is None and "deep: edge points disagree" in res.note
    sup, deep = res.last_resort
    assert sup is res.superficial  # the edge that was found is kept as it is
    assert deep.y_at(np.array([5.0, 60.0, 110.0])) == pytest.approx([90.0] * 3, abs=0.5)
    assert deep.confidence < 0.7
    # a map whose edges agree has no last resort, nor one whose pieces are all small
    assert boundaries_from_layers(layer_map(30.0, 90.0)).last_resort is None
    thirds = np.select([np.arange(COLS) < 37, np.arange(COLS) < 74], [90.0, 120.0], 60.0)
    res = boundaries_from_layers(
        layer_map(30.0, thirds), options=PostprocessOptions(last_resort_min_inlier_fraction=0.5)
    )
    assert res.deep is None and res.last_resort is None
    # pair_only (the second look's copies) does not look for one
    assert boundaries_from_layers(layer_map(30.0, deep_rows), pair_only=True).last_resort is None


def test_no_belly_anywhere_gives_nothing():
    p = np.zeros((6, ROWS, COLS), np.float32)
    p[0] = 0.96
    p[1:5] = 0.01
    res = boundaries_from_layers(p)
    assert res.superficial is None and res.deep is None
    assert "no muscle belly" in res.note


def test_decoding_is_exact_for_hard_labels():
    # edges on pixel boundaries: rows 40-99 are belly
    p = layer_map(39.5, 99.5, certainty=0.999)
    dec = decode_layers(p)
    assert (dec.b == 40).all() and (dec.d == 100).all()
    np.testing.assert_allclose(dec.sup_y, 39.5, atol=0.01)
    np.testing.assert_allclose(dec.deep_y, 99.5, atol=0.01)
    assert (dec.gain_nats > 10).all()


def test_options_change_the_doubt_thresholds():
    p = _two_candidates(0.3)
    strict = boundaries_from_layers(p, options=PostprocessOptions(ambiguous_margin_nats=1e6))
    lax = boundaries_from_layers(p, options=PostprocessOptions(ambiguous_margin_nats=0.0))
    assert "ambiguous_layers" in strict.doubts and "ambiguous_layers" not in lax.doubts


def test_rejects_maps_of_the_wrong_shape():
    with pytest.raises(ValueError, match="6, rows, cols"):
        boundaries_from_layers(np.zeros((ROWS, COLS)))
    with pytest.raises(ValueError, match="6, rows, cols"):
        boundaries_from_layers(np.zeros((2, ROWS, COLS)))


def test_mirrored_boundary_maps_back_to_the_frame():
    from musclethick.segment.postprocess import mirrored
    from musclethick.types import Boundary

    b = Boundary(np.array([0.0, 10.0, 39.0]), np.array([5.0, 6.0, 9.0]), "model", 0.8)
    m = mirrored(b, 40)
    np.testing.assert_allclose(m.x_px, [0.0, 29.0, 39.0])
    np.testing.assert_allclose(m.y_px, [9.0, 6.0, 5.0])
    assert m.confidence == 0.8 and mirrored(None, 40) is None


def test_thickness_difference_and_the_second_look_rule():
    from musclethick.segment.postprocess import needs_second_look, thickness_difference

    a = boundaries_from_layers(layer_map(20.0, 60.0))
    b = boundaries_from_layers(layer_map(20.0, 62.0))
    assert thickness_difference(a, a) == 0.0
    assert thickness_difference(a, b) == pytest.approx(2.0 / 40.0, abs=1e-3)
    assert thickness_difference(a, boundaries_from_layers(layer_map(-3.0, 60.0))) == np.inf
    # a confident result needs no second look, a nearly ambiguous or weak one does
    assert not needs_second_look(a)
    weak = boundaries_from_layers(layer_map(20.0, 60.0, muscle=0.6))
    assert weak.doubts == () and needs_second_look(weak)
    doubted = boundaries_from_layers(layer_map(20.0, 60.0, muscle=0.1))
    assert doubted.doubts and not needs_second_look(doubted)  # already flagged


def _with_band(p: np.ndarray, rows: slice, columns: slice, belly: float = 0.2) -> np.ndarray:
    """``p`` with a band of low belly probability (the rest "deep aponeurosis") in ``rows`` of
    ``columns``."""
    out = p.copy()
    out[:5, rows, columns] = (1.0 - belly) * np.eye(5)[3][:, None, None]
    out[2, rows, columns] = belly
    return out


def test_a_band_across_the_belly_is_doubted_and_does_not_move_the_edges():
    # two stacked muscles seen as one belly: a band of low belly probability runs through it
    # over half the width
    p = _with_band(layer_map(20.0, 120.0), slice(68, 72), slice(0, COLS // 2))
    res = boundaries_from_layers(p)
    assert "band_inside_muscle" in res.doubts
    assert res.evidence.band_fraction == pytest.approx(0.5, abs=0.03)
    # the reviewer reads why
    assert "two muscles" in describe_flags(res.doubts)
    # the doubt is a flag, not a different answer
    assert res.superficial.y_at(50.0) == pytest.approx(20.0, abs=0.5)
    assert res.deep.y_at(50.0) == pytest.approx(120.0, abs=0.5)


def test_a_short_dark_streak_in_the_belly_is_no_band():
    # a fascicle shadow or vessel over a fifth of the width is muscle, not a second layer
    p = _with_band(layer_map(20.0, 120.0), slice(68, 72), slice(0, COLS // 5))
    res = boundaries_from_layers(p)
    assert res.evidence.band_fraction == pytest.approx(0.2, abs=0.03)
    assert res.doubts == ()


def test_low_belly_probability_at_the_edges_of_the_belly_is_no_band():
    # the soft steps at the two edges are not a band inside the muscle
    p = _with_band(layer_map(20.0, 120.0), slice(21, 23), slice(0, COLS))
    p = _with_band(p, slice(117, 119), slice(0, COLS))
    res = boundaries_from_layers(p)
    assert res.evidence.band_fraction == 0.0 and "band_inside_muscle" not in res.doubts


@pytest.mark.parametrize("batch", [None, 3])
def test_viterbi_finds_the_best_path_of_every_decoding(batch):
    # every path of 4 candidates over 5 columns (4**5) scored by brute force; ties are
    # avoided by continuous random scores, and one candidate is impossible in two columns
    import itertools

    from musclethick.segment.postprocess import _viterbi

    rng = np.random.default_rng(3)
    k, cols = 4, 5
    n = 1 if batch is None else batch
    score = rng.normal(size=(n, k, cols))
    score[:, 2, 1:3] = -np.inf
    cost = np.abs(rng.normal(size=(cols - 1, k, k)))  # [c, to, from]
    got = _viterbi(score[0] if batch is None else score, cost)
    got = np.atleast_2d(got)
    for i in range(n):
        best, best_path = -np.inf, None
        for path in itertools.product(range(k), repeat=cols):
            total = sum(score[i, path[c], c] for c in range(cols))
            total -= sum(cost[c - 1, path[c], path[c - 1]] for c in range(1, cols))
            if total > best:
                best, best_path = total, path
        assert tuple(got[i]) == best_path


@pytest.mark.parametrize("weight_second", [0.15, 0.45])
def test_pair_only_gives_the_same_edges_without_runner_up_or_doubts(weight_second):
    # the second look compares copies by their edges alone: the same pair, nothing else
    full = boundaries_from_layers(_two_candidates(weight_second), frame_shape=(480, 336))
    pair = boundaries_from_layers(
        _two_candidates(weight_second), frame_shape=(480, 336), pair_only=True
    )
    assert full.runner_up is not None  # there is one to leave out
    assert pair.runner_up is None and pair.doubts == ()
    for a, b in ((full.superficial, pair.superficial), (full.deep, pair.deep)):
        np.testing.assert_array_equal(a.x_px, b.x_px)
        np.testing.assert_array_equal(a.y_px, b.y_px)
        assert a.confidence == b.confidence
    assert pair.note == full.note


def _with_deep_band(p: np.ndarray, rows: slice, columns: slice, deep: float = 0.6) -> np.ndarray:
    """``p`` with a second band of "deep aponeurosis" probability ``deep`` (the rest "below")
    in ``rows`` of ``columns``, under the belly."""
    out = p.copy()
    out[:5, rows, columns] = 0.0
    out[3, rows, columns] = deep
    out[4, rows, columns] = 1.0 - deep
    return out


def test_a_second_deep_band_below_is_doubted_and_becomes_the_runner_up_deep_edge():
    # the chosen deep band (60-65) lies inside the muscle; the true deep aponeurosis is a band
    # 20 rows lower over 60 % of the width, which the network also calls "deep"
    p = _with_deep_band(layer_map(20.0, 60.0), slice(85, 89), slice(0, int(0.6 * COLS)))
    res = boundaries_from_layers(p)
    assert "second_deep_band" in res.doubts
    assert res.evidence.second_deep_fraction == pytest.approx(0.6, abs=0.03)
    assert "runner-up" in describe_flags(res.doubts)
    # the measured pair is unchanged: the doubt is a flag, not another answer
    assert res.superficial.y_at(30.0) == pytest.approx(20.0, abs=0.5)
    assert res.deep.y_at(30.0) == pytest.approx(60.0, abs=0.5)
    # one key in review swaps to the pair that ends on the lower band
    alt = res.runner_up
    assert alt is not None and alt.deep.source == "runner_up"
    assert alt.superficial.y_at(30.0) == pytest.approx(20.0, abs=0.5)
    assert alt.deep.y_at(30.0) == pytest.approx(84.5, abs=1.0)
    assert alt.margin_nats > 0


@pytest.mark.parametrize(
    ("rows", "columns", "why"),
    [
        (slice(67, 70), slice(0, COLS), "a doubled aponeurosis: two lines a few rows apart"),
        (slice(105, 110), slice(0, COLS), "more than a thickness below: the next structure"),
        (slice(85, 89), slice(0, COLS // 5), "over a fifth of the width only"),
    ],
)
def test_deep_bands_that_are_no_second_deep_aponeurosis(rows, columns, why):
    res = boundaries_from_layers(_with_deep_band(layer_map(20.0, 60.0), rows, columns))
    assert "second_deep_band" not in res.doubts, why
    assert res.deep.y_at(30.0) == pytest.approx(60.0, abs=0.5)


def test_a_deep_edge_at_the_bottom_of_the_image_is_doubted():
    # the deep inner edge 4 rows above the bottom (ROWS = 160): the band below it is not in
    # view, so the "aponeurosis" may be a band inside a muscle whose deep edge is cut off
    res = boundaries_from_layers(layer_map(20.0, ROWS - 4.0, band=3.0))
    assert "edge_of_image" in res.doubts
    assert res.deep is not None and res.deep.y_at(50.0) == pytest.approx(ROWS - 4.0, abs=0.5)
    # with its band and some tissue below in view (11 rows, 7 %), no doubt
    assert boundaries_from_layers(layer_map(20.0, ROWS - 11.0, band=3.0)).doubts == ()
