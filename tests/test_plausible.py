"""Plausible pixel sizes and thickness: flags on results, refusals of user values."""

from __future__ import annotations

import numpy as np
import pytest

from musclethick.cli import main
from musclethick.errors import ProtocolError
from musclethick.io.options import CalibrationOptions
from musclethick.measure import assemble_result
from musclethick.pipeline import MeasureSettings, measure_path
from musclethick.plausible import DEFAULT_RANGES, PlausibleRanges, check_mm_per_px
from musclethick.protocol import parse_protocol
from musclethick.qc import scale_flags
from musclethick.types import Boundary, Calibration, Frame


def _frame(mm_per_px, flags=()):
    cal = Calibration.isotropic(mm_per_px, "user", "test", flags) if mm_per_px else Calibration()
    return Frame(np.zeros((300, 200), np.uint8), "scan.png", calibration=cal)


def _lines(thickness_px=100.0):
    x = np.array([0.0, 199.0])
    return Boundary(x, np.array([50.0, 50.0]), "edges"), Boundary(
        x, np.array([50.0, 50.0]) + thickness_px, "edges"
    )


@pytest.mark.parametrize(
    ("mm_per_px", "flags"),
    [
        (0.1, ()),  # 10 mm muscle
        (5.0, ("implausible_calibration", "implausible_thickness")),  # 500 mm "muscle"
        (1.5, ("implausible_thickness",)),  # 150 mm: a plausible pixel, not a muscle
        (0.01, ("implausible_thickness",)),  # 1 mm
        (1e-4, ("implausible_calibration", "implausible_thickness")),
    ],
)
def test_assembled_result_flags_implausible_millimetres(mm_per_px, flags):
    superficial, deep = _lines(100.0)
    result = assemble_result(_frame(mm_per_px), superficial, deep, method="manual")
    assert result.flags == flags
    assert result.status == ("flagged" if flags else "ok")
    assert result.mean_thickness_px == pytest.approx(100.0)  # px kept
    if flags:
        assert "--mm-per-px" in result.message
    if "implausible_calibration" in flags:  # no ultrasound pixel is that size: no mm at all
        assert result.mean_thickness_mm is None and "mm withheld" in result.message
    else:
        assert result.mean_thickness_mm == pytest.approx(100.0 * mm_per_px)


def test_thickness_range_from_the_protocol_is_used():
    superficial, deep = _lines(100.0)
    narrow = PlausibleRanges(thickness_mm=(2.0, 8.0))
    result = assemble_result(_frame(0.1), superficial, deep, method="manual", plausible=narrow)
    assert result.flags == ("implausible_thickness",)


def test_calibration_flags_reach_the_result_with_the_reason():
    superficial, deep = _lines(100.0)
    frame = _frame(0.1, ("calibration_unconfirmed",))
    result = assemble_result(frame, superficial, deep, method="manual")
    assert result.status == "flagged" and result.flags == ("calibration_unconfirmed",)
    assert "pixel size not confirmed" in result.message and "test" in result.message
    assert result.mean_thickness_mm == pytest.approx(10.0)  # mm kept, but flagged


def test_uncalibrated_has_no_scale_flags():
    assert scale_flags(Calibration(), None) == ((), "")


def test_user_values_outside_the_range_are_refused():
    assert check_mm_per_px(0.1) == 0.1
    for kwargs in ({"mm_per_px": 5.0}, {"mm_per_px": 1e-4}, {"depth_mm": 1e9}, {"depth_mm": 1}):
        with pytest.raises(ValueError, match="outside the plausible range"):
            CalibrationOptions(**kwargs)
    with pytest.raises(ValueError):
        PlausibleRanges(thickness_mm=(10.0, 2.0))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["measure", "x.png", "--out", "r.csv", "--mm-per-px", "5"], "mm per px 5.0 is outside"),
        (["measure", "x.png", "--out", "r.csv", "--depth-mm", "1e9"], "depth 1000000000.0 is"),
        (["batch", "{tmp}", "--store", "s.sqlite", "--mm-per-px", "5"], "mm per px 5.0 is"),
    ],
)
def test_cli_refuses_implausible_values(args, message, capsys, tmp_path):
    assert main([a.replace("{tmp}", str(tmp_path)) for a in args]) == 2  # an existing study
    assert message in capsys.readouterr().err


def test_protocol_plausible_thickness_and_calibration_ranges():
    base = {"protocol": {"name": "p"}, "site": [{"name": "VL50", "muscle": "VL"}]}
    assert parse_protocol(base).plausible_thickness_mm == DEFAULT_RANGES.thickness_mm
    narrow = {**base, "calibration": {"plausible_thickness_mm": [5, 60]}}
    assert parse_protocol(narrow).plausible_thickness_mm == (5.0, 60.0)
    for cal in ({"mm_per_px": 5.0}, {"plausible_thickness_mm": [60, 5]}, {"depth_mm": 1e9}):
        with pytest.raises(ProtocolError, match="calibration"):
            parse_protocol({**base, "calibration": cal}, source="p.toml")


def test_unlabelled_ruler_never_gives_an_ok_millimetre(test_data):
    """A capture whose ruler has 5 mm ticks and no numbers: measured, flagged, never ok."""
    import csv

    with (test_data / "rulers" / "truth.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["confirmable"] == "0"]
    for row in rows[:2]:
        results = measure_path(test_data / "rulers" / row["file"], MeasureSettings(method="edges"))
        for result in results:
            assert result.status != "ok"
            if result.status == "flagged":
                assert "calibration_unconfirmed" in result.flags
