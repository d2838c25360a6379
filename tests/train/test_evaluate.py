"""Accuracy figures against masks: hand-made masks with known answers, ICC against pingouin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest

from musclethick.train.evaluate import compare_to_mask, icc_2_1, summarise
from musclethick.types import Boundary


def _mask():
    m = np.zeros((100, 60), np.uint8)
    m[10:20] = 255  # superficial band: inner edge at 19.5
    m[70:80] = 255  # deep band: inner edge at 69.5
    return m


def _line(y, cols=60):
    return Boundary(np.arange(cols, dtype=float), np.full(cols, float(y)), "model", 0.9)


def test_compare_to_mask_exact_and_offset():
    exact = compare_to_mask("a", _line(19.5), _line(69.5), _mask())
    assert exact.found
    assert exact.thickness_true_px == pytest.approx(50.0)
    assert exact.thickness_error_px == pytest.approx(0.0)
    assert exact.superficial_mae_px == pytest.approx(0.0)
    off = compare_to_mask("b", _line(21.5), _line(68.5), _mask())
    assert off.thickness_error_px == pytest.approx(-3.0)
    assert off.superficial_mae_px == pytest.approx(2.0)
    assert off.deep_mae_px == pytest.approx(1.0)


def test_missing_boundary_counts_as_without_result():
    miss = compare_to_mask("c", _line(19.5), None, _mask())
    assert not miss.found and np.isnan(miss.deep_mae_px)
    s = summarise([compare_to_mask("a", _line(19.5), _line(69.5), _mask()), miss])
    assert s["n_images"] == 2 and s["n_without_result"] == 1
    assert s["thickness_mae_px"] == pytest.approx(0.0)
    assert s["fraction_within_3px"] == pytest.approx(0.5)


def test_icc_matches_pingouin():
    rng = np.random.default_rng(0)
    a = rng.normal(100, 10, 40)
    b = a + rng.normal(1.0, 2.0, 40)
    df = pd.DataFrame(
        {"t": np.r_[np.arange(40), np.arange(40)], "r": ["a"] * 40 + ["b"] * 40, "v": np.r_[a, b]}
    )
    ref = pg.intraclass_corr(df, "t", "r", "v").set_index("Type").loc["ICC(A,1)", "ICC"]
    assert icc_2_1(a, b) == pytest.approx(ref, abs=1e-9)
    assert icc_2_1(a, a) == pytest.approx(1.0)


def test_icc_is_the_stats_implementation_on_the_finite_pairs():
    from musclethick.stats import icc_2_1 as icc_2_1_of_matrix

    a = [1.0, 3.0, np.nan, 5.0]
    b = [2.0, 4.0, 9.0, np.inf]
    # the pairs left, [[1, 2], [3, 4]], have ICC(2,1) 0.8 by hand (see tests/test_stats.py)
    assert icc_2_1(a, b) == icc_2_1_of_matrix([[1.0, 2.0], [3.0, 4.0]]) == pytest.approx(0.8)
    assert np.isnan(icc_2_1([1.0, np.nan], [2.0, 3.0]))  # one pair left


def test_left_out_images_of_a_leave_one_format_out_run(tmp_path):
    """The benches' one reading of a run's left-out format: every image of those sizes, in
    any split, sorted."""
    import json

    from musclethick.train.dataset import left_out_images

    (tmp_path / "train.json").write_text(json.dumps({"excluded_sizes": ["800x652"], "x": 1}))
    split = {
        "train": [("b.png", 800, 652), ("c.png", 512, 512)],
        "val": [("a.png", 800, 652), ("d.png", 652, 800)],
    }
    info, names = left_out_images(tmp_path, split)
    assert names == ["a.png", "b.png"] and info["x"] == 1


def test_one_key_figures_count_the_runner_up_of_frames_to_fix():
    """Of the frames not ok and off by more than 10 %, how many have a runner-up pair and how
    many that pair puts within 10 % of the mask (50 px thick here)."""
    from musclethick.types import LayerPair

    def pair(sup, deep):
        return LayerPair(_line(sup), _line(deep), 1.0)

    frames = [
        # flagged, 20 px too thin, runner-up right: one key fixes it
        compare_to_mask(
            "a", _line(19.5), _line(49.5), _mask(), status="flagged", runner_up=pair(19.5, 71.5)
        ),
        # flagged and wrong, runner-up wrong too
        compare_to_mask(
            "b", _line(19.5), _line(49.5), _mask(), status="flagged", runner_up=pair(39.5, 69.5)
        ),
        # failed without a runner-up
        compare_to_mask("c", _line(19.5), _line(49.5), _mask(), status="failed"),
        # flagged but right: nothing to fix, whatever its runner-up
        compare_to_mask(
            "d", _line(19.5), _line(69.5), _mask(), status="flagged", runner_up=pair(19.5, 69.5)
        ),
        # ok and wrong: not review's to fix (it is the "ok off" figure)
        compare_to_mask(
            "e", _line(19.5), _line(49.5), _mask(), status="ok", runner_up=pair(19.5, 69.5)
        ),
    ]
    assert frames[0].runner_up_error_fraction == pytest.approx(2 / 50)
    assert np.isnan(frames[2].runner_up_error_fraction)
    s = summarise(frames)
    assert s["n_not_ok_off_10"] == 3
    assert s["n_not_ok_off_10_with_runner_up"] == 2
    assert s["n_fixed_by_runner_up"] == 1
    assert s["n_ok_off_10"] == 1
