"""The review rules of the study store, on small tables built by hand (no SQLite)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from musclethick.errors import StoreError
from musclethick.study.store import Review, apply_reviews
from musclethick.study.store._reviews import check_review, check_reviewable, latest_reviews
from musclethick.types import Architecture, Boundary, LineMeasurement

NAN = float("nan")


def row(result_id, line, thickness_mm, *, status="ok", method="edges", pennation=NAN):
    """One line of a model result: thickness_px = 10 x thickness_mm (0.1 mm per px); with a
    pennation angle, a 50 mm fascicle (500 px, 10 % extrapolated, confidence 0.9)."""
    arch = not math.isnan(pennation)
    return {
        "result_id": result_id,
        "line": line,
        "thickness_mm": thickness_mm,
        "thickness_px": None if thickness_mm is None else 10.0 * thickness_mm,
        "perpendicular_mm": None if thickness_mm is None else thickness_mm - 0.5,
        "status": status,
        "method": method,
        "pennation_deg": pennation,
        "pennation_superficial_deg": NAN,
        "fascicle_length_mm": 50.0 if arch else NAN,
        "fascicle_length_px": 500.0 if arch else NAN,
        "fascicle_extrapolated_pct": 10.0 if arch else NAN,
        "fascicle_confidence": 0.9 if arch else NAN,
    }


def results(*rows):
    return pd.DataFrame(list(rows))


def two_lines(result_id=1, **kwargs):
    """A result with lines L1 = 20 mm, L2 = 24 mm and their mean 22 mm."""
    return [
        row(result_id, "L1", 20.0, **kwargs),
        row(result_id, "L2", 24.0, **kwargs),
        row(result_id, "mean", 22.0, **kwargs),
    ]


def review(decision, *, result_id=1, revision=1, reviewer="alice", lines=(), **kwargs):
    values = {
        "id": 100 * result_id + revision,
        "result_id": result_id,
        "revision": revision,
        "decision": decision,
        "reviewer": reviewer,
        "reviewed_at": f"2026-01-0{revision}T10:00:00+00:00",
        "reason": f"{decision} by {reviewer}",
        "superficial": None,
        "deep": None,
        "lines": tuple(lines),
        "thickness_mm": None,
        **kwargs,
    }
    return Review(**values)


def line(name, thickness_mm, perpendicular_mm=None):
    return LineMeasurement(name, 50.0, 30.0, 30.0 + 10 * thickness_mm, 10 * thickness_mm,
                           thickness_mm, None, perpendicular_mm)  # fmt: skip


def by_line(table, column):
    return dict(zip(table["line"], table[column], strict=True))


def test_unreviewed_results_keep_their_values_and_status():
    table = apply_reviews(results(*two_lines(1), row(2, None, None, status="failed")), [])
    assert table["qc_status"].tolist() == ["ok", "ok", "ok", "failed"]
    assert table["thickness_mm"].tolist()[:3] == [20.0, 24.0, 22.0]
    assert table["thickness_mm_model"].tolist()[:3] == [20.0, 24.0, 22.0]
    assert table["line"].tolist() == ["L1", "L2", "mean", ""]  # no line: empty text
    assert set(table["reviewed_by"]) == set(table["reviewed_at"]) == {""}
    assert set(table["review_reason"]) == {""}
    assert table["included"].tolist() == [True, True, True, False]  # failed: not included


def test_accept_keeps_the_values_and_records_who_when_and_why():
    table = apply_reviews(results(*two_lines()), [review("accept", reviewer="bob")])
    assert set(table["qc_status"]) == {"accepted"}
    assert by_line(table, "thickness_mm") == {"L1": 20.0, "L2": 24.0, "mean": 22.0}
    assert set(table["reviewed_by"]) == {"bob"}
    assert set(table["reviewed_at"]) == {"2026-01-01T10:00:00+00:00"}
    assert set(table["review_reason"]) == {"accept by bob"}
    assert set(table["method"]) == {"edges"} and table["included"].all()


def test_reject_leaves_no_value_but_keeps_the_model_values():
    model = results(*two_lines(pennation=15.0))
    table = apply_reviews(model, [review("reject")])
    assert set(table["qc_status"]) == {"rejected"} and not table["included"].any()
    for column in ("thickness_mm", "thickness_px", "perpendicular_mm", "pennation_deg",
                   "fascicle_length_mm", "fascicle_extrapolated_pct"):  # fmt: skip
        assert table[column].isna().all(), column
    assert by_line(table, "thickness_mm_model") == {"L1": 20.0, "L2": 24.0, "mean": 22.0}
    assert set(table["pennation_deg_model"]) == {15.0}
    assert set(table["fascicle_length_mm_model"]) == {50.0}
    assert set(table["method"]) == {"edges"}  # a rejection says nothing of how it was found


def test_correction_replaces_lines_by_name_and_drops_the_lines_it_does_not_give():
    corrected = [line("L1", 21.0, 20.8), line("mean", 22.5, 22.3)]
    table = apply_reviews(results(*two_lines()), [review("correct", lines=corrected)])
    assert set(table["qc_status"]) == {"corrected"} and table["included"].all()
    thickness = by_line(table, "thickness_mm")
    assert thickness["L1"] == 21.0 and thickness["mean"] == 22.5
    assert math.isnan(thickness["L2"])  # not in the correction: no longer trustworthy
    assert by_line(table, "thickness_px")["L1"] == 210.0
    assert by_line(table, "perpendicular_mm")["mean"] == 22.3
    assert math.isnan(by_line(table, "thickness_px")["L2"])
    assert by_line(table, "thickness_mm_model") == {"L1": 20.0, "L2": 24.0, "mean": 22.0}
    assert set(table["method"]) == {"manual"}  # boundaries without a source: drawn by hand


def test_correction_method_says_how_the_boundaries_were_found():
    pair = {
        "superficial": Boundary([0.0, 99.0], [30.0, 30.0], "runner_up", 0.4),
        "deep": Boundary([0.0, 99.0], [250.0, 250.0], "runner_up", 0.4),
    }
    lines = [line("mean", 22.0)]
    swapped = apply_reviews(results(*two_lines()), [review("correct", lines=lines, **pair)])
    assert set(swapped["method"]) == {"runner_up"}
    one_drawn = {**pair, "deep": Boundary([0.0, 99.0], [250.0, 250.0], "manual", 1.0)}
    mixed = apply_reviews(results(*two_lines()), [review("correct", lines=lines, **one_drawn)])
    assert set(mixed["method"]) == {"manual"}


def test_correction_of_thickness_only_is_its_mean_line():
    table = apply_reviews(results(*two_lines()), [review("correct", thickness_mm=19.0)])
    thickness = by_line(table, "thickness_mm")
    assert thickness["mean"] == 19.0
    assert math.isnan(thickness["L1"]) and math.isnan(thickness["L2"])
    assert math.isnan(by_line(table, "thickness_px")["mean"])  # no pixels were given


def test_correction_replaces_the_architecture_by_its_own_or_none():
    model = results(*two_lines(pennation=15.0))
    own = Architecture(
        pennation_deg=18.0,
        pennation_superficial_deg=12.0,
        fascicle_length_px=600.0,
        fascicle_length_mm=60.0,
        extrapolated_fraction=0.25,
        n_fascicles=2,
        spread_deg=3.0,
        confidence=0.8,
        fascicles=(),
        line=None,
        flags=(),
        method="manual",
    )
    lines = [line("mean", 22.0)]
    table = apply_reviews(model, [review("correct", lines=lines, architecture=own)])
    assert set(table["pennation_deg"]) == {18.0}
    assert set(table["pennation_superficial_deg"]) == {12.0}
    assert set(table["fascicle_length_mm"]) == {60.0}
    assert set(table["fascicle_extrapolated_pct"]) == {25.0}  # a fraction, in %
    assert set(table["fascicle_confidence"]) == {0.8}
    assert set(table["pennation_deg_model"]) == {15.0}
    without = apply_reviews(model, [review("correct", lines=lines)])
    assert without["pennation_deg"].isna().all() and without["fascicle_length_mm"].isna().all()
    assert set(without["fascicle_length_mm_model"]) == {50.0}


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_the_latest_review_wins_whatever_the_order(order):
    history = [
        review("correct", revision=1, reviewer="alice", lines=[line("mean", 21.0)]),
        review("reject", revision=2, reviewer="bob"),
    ]
    table = apply_reviews(results(*two_lines()), [history[i] for i in order])
    assert set(table["qc_status"]) == {"rejected"} and set(table["reviewed_by"]) == {"bob"}
    assert set(table["reviewed_at"]) == {"2026-01-02T10:00:00+00:00"}
    assert table["thickness_mm"].isna().all() and not table["included"].any()


def test_two_reviews_of_one_revision_are_refused():
    twins = [review("accept", revision=1), review("reject", revision=1)]
    with pytest.raises(ValueError, match="revision 1"):
        latest_reviews(twins)
    assert latest_reviews(
        [review("accept", result_id=1), review("reject", result_id=2)]
    ).keys() == {
        1,
        2,
    }


def test_a_failed_result_corrected_by_hand_gets_its_lines():
    model = results(*two_lines(1), row(2, None, None, status="failed"), *two_lines(3))
    drawn = [line("L1", 30.0), line("mean", 31.0)]
    table = apply_reviews(model, [review("correct", result_id=2, lines=drawn)])
    assert table["result_id"].tolist() == [1, 1, 1, 2, 2, 3, 3, 3]  # still in result order
    failed = table[table["result_id"] == 2]
    assert failed["line"].tolist() == ["L1", "mean"]
    assert failed["thickness_mm"].tolist() == [30.0, 31.0]
    assert failed["thickness_px"].tolist() == [300.0, 310.0]
    assert set(failed["qc_status"]) == {"corrected"} and failed["included"].all()
    assert failed["thickness_mm_model"].isna().all()  # the model measured nothing
    assert list(table.index) == list(range(8))


def test_reviews_of_other_results_are_ignored_and_the_input_is_not_changed():
    model = results(*two_lines(1))
    before = model.copy()
    table = apply_reviews(model, [review("reject", result_id=7)])
    assert set(table["qc_status"]) == {"ok"} and table["included"].all()
    pd.testing.assert_frame_equal(model, before)
    assert "qc_status" not in model.columns


def test_a_table_without_the_needed_columns_is_refused():
    with pytest.raises(ValueError, match="pennation_deg"):
        apply_reviews(results(*two_lines()).drop(columns="pennation_deg"), [])


def test_check_review_rules():
    kwargs = {"reviewer": "a", "lines": None, "thickness_mm": None, "result_id": 3, "store": "s"}
    with pytest.raises(StoreError, match="decision must be one of"):
        check_review("approve", **kwargs)
    with pytest.raises(StoreError, match="needs a reviewer"):
        check_review("accept", **{**kwargs, "reviewer": ""})
    with pytest.raises(StoreError, match="result 3 needs corrected lines"):
        check_review("correct", **kwargs)
    lines = [line("L1", 20.0), line("mean", 21.5)]
    assert check_review("correct", **{**kwargs, "lines": lines}) == 21.5  # the mean line
    assert check_review("correct", **{**kwargs, "lines": lines, "thickness_mm": 9.0}) == 9.0
    assert check_review("accept", **kwargs) is None


def test_check_reviewable_rules():
    kwargs = {"revision": 0, "expected_revision": 0, "result_id": 3, "store": "s"}
    with pytest.raises(StoreError, match="nothing to accept"):
        check_reviewable("accept", status="failed", **kwargs)
    check_reviewable("reject", status="failed", **kwargs)
    check_reviewable("correct", status="failed", **kwargs)
    with pytest.raises(StoreError, match="revision 2, not 1"):
        check_reviewable("reject", status="ok", **{**kwargs, "revision": 2, "expected_revision": 1})
