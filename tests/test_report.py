"""Rows of results.csv and entries of boundaries.json."""

from __future__ import annotations

import numpy as np
import pytest

from musclethick.report import RESULT_COLUMNS, boundary_record, result_rows
from musclethick.types import Boundary, Calibration, FrameResult, LineMeasurement, PixelBox


def _result(lines=(), status="ok", superficial=True) -> FrameResult:
    sup = Boundary(np.array([0.0, 10.0]), np.array([5.0, 5.0]), "refined", 0.9)
    deep = Boundary(np.array([0.0, 10.0]), np.array([25.0, 27.0]), "model", 0.8)
    return FrameResult(
        path="scan.png",
        frame_index=3,
        region=PixelBox(100, 40, 300, 240),
        calibration=Calibration.isotropic(0.1, "user"),
        superficial=sup if superficial else None,
        deep=deep,
        lines=tuple(lines),
        echo_intensity=87.123,
        confidence=0.8,
        status=status,
        flags=("low_confidence",) if status == "flagged" else (),
        message="",
        method="model",
    )


def test_rows_are_in_original_pixels_and_carry_units():
    line = LineMeasurement("50%", 5.0, 5.0, 26.0, 21.0, 2.1, 20.5, 2.05)
    rows = result_rows(_result([line]))
    assert len(rows) == 1
    row = rows[0]
    assert tuple(row) == RESULT_COLUMNS
    assert row["x_px"] == pytest.approx(105.0)  # 5 px in the crop + region x0 100
    assert row["thickness_px"] == pytest.approx(21.0)
    assert row["thickness_mm"] == pytest.approx(2.1)
    assert row["mm_per_px"] == pytest.approx(0.1)
    assert row["calibration_source"] == "user"
    assert row["superficial_confidence"] == pytest.approx(0.9)
    assert row["deep_confidence"] == pytest.approx(0.8)
    assert row["status"] == "ok"


def test_failed_frame_gives_one_row_with_message():
    result = _result(status="failed", superficial=False)
    result = FrameResult(**{**result.__dict__, "message": "scan.png: no superficial aponeurosis"})
    rows = result_rows(result)
    assert len(rows) == 1
    assert rows[0]["line"] == ""
    assert rows[0]["thickness_mm"] is None
    assert rows[0]["superficial_confidence"] is None
    assert "scan.png" in rows[0]["message"]


def test_boundary_record_shifts_to_original_coordinates():
    record = boundary_record(_result())
    assert record["imaging_region"] == [100, 40, 300, 240]
    assert record["superficial"]["points"] == [[100.0, 45.0], [110.0, 45.0]]
    assert record["deep"]["points"][1] == [110.0, 67.0]
    assert record["superficial"]["source"] == "refined"
    assert record["deep"]["confidence"] == pytest.approx(0.8)


def test_boundary_record_carries_the_offered_pairs_in_order_as_strict_json():
    """The runner-up and the other pairs review's key cycles through, with their kinds, in
    original image coordinates; the entry is strict JSON (no NaN)."""
    import json
    from dataclasses import replace

    from musclethick.types import LayerPair

    base = _result(status="flagged")

    def pair(dy, margin, kind):
        return LayerPair(
            base.superficial.shifted(0.0, dy).with_source("runner_up", 0.5),
            base.deep.shifted(0.0, dy).with_source("runner_up", 0.4),
            margin,
            kind,
        )

    result = replace(
        base, runner_up=pair(3.0, 0.5, "bands"), other_pairs=(pair(6.0, 1.25, "bands"),)
    )
    record = json.loads(json.dumps(boundary_record(result), allow_nan=False))
    assert record["runner_up"]["kind"] == "bands" and record["runner_up"]["margin_nats"] == 0.5
    assert record["runner_up"]["superficial"]["points"][0] == [100.0, 48.0]
    (other,) = record["other_pairs"]
    assert (other["kind"], other["margin_nats"]) == ("bands", 1.25)
    assert other["deep"]["points"][1] == [110.0, 73.0]
    assert boundary_record(base)["other_pairs"] == []


def test_a_layer_pair_refuses_an_unknown_kind_or_a_margin_that_is_not_finite():
    from musclethick.errors import InvalidValueError
    from musclethick.types import LayerPair

    b = _result().superficial
    with pytest.raises(InvalidValueError, match="kind"):
        LayerPair(b, b, 0.0, "guess")
    with pytest.raises(InvalidValueError, match="finite"):
        LayerPair(b, b, float("nan"))
