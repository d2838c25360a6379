"""Tests of musclethick.measure with exactly known thicknesses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from musclethick.measure import assemble_result, echo_intensity, failed_result, measure_lines
from musclethick.types import Boundary, Calibration, Frame, PixelBox


def flat(y: float, x0: float = 0.0, x1: float = 199.0) -> Boundary:
    return Boundary(np.array([x0, x1]), np.array([y, y]), "edges", 0.9)


def test_flat_boundaries_thickness_in_px_and_mm():
    lines = measure_lines(flat(20.0), flat(60.0), calibration=Calibration.isotropic(0.1, "user"))
    assert [m.line for m in lines] == ["25%", "50%", "75%", "mean"]
    assert [m.x_px for m in lines] == pytest.approx([49.75, 99.5, 149.25, 99.5])
    for m in lines:
        assert m.thickness_px == pytest.approx(40.0)
        assert m.thickness_mm == pytest.approx(4.0)
        assert m.perpendicular_px == pytest.approx(40.0)
        assert m.perpendicular_mm == pytest.approx(4.0)
        assert m.y_superficial_px == pytest.approx(20.0)
        assert m.y_deep_px == pytest.approx(60.0)


def test_lines_are_placed_in_the_overlap_interval():
    lines = measure_lines(
        flat(20.0, 0, 100),
        flat(60.0, 50, 300),
        calibration=Calibration.uncalibrated(),
        line_fractions=(0.0, 1.0),
        labels=("left", "right"),
    )
    assert [(m.line, m.x_px) for m in lines] == [("left", 50.0), ("right", 100.0), ("mean", 75.0)]
    assert all(m.thickness_mm is None and m.perpendicular_mm is None for m in lines)
    assert lines[0].perpendicular_px == pytest.approx(40.0)


def test_tilted_deep_boundary_perpendicular_is_vertical_times_cos():
    angle = math.radians(12)
    x = np.arange(0.0, 400.0)
    deep = Boundary(x, 150 + math.tan(angle) * x, "edges")
    sup = Boundary(x, np.full(x.size, 30.0), "edges")
    lines = measure_lines(
        sup, deep, calibration=Calibration.isotropic(0.2, "user"), line_fractions=(0.5,)
    )
    m = lines[0]
    vertical = 150 + math.tan(angle) * m.x_px - 30
    assert m.thickness_px == pytest.approx(vertical)
    assert m.perpendicular_px == pytest.approx(vertical * math.cos(angle), rel=1e-9)
    assert m.perpendicular_mm == pytest.approx(0.2 * vertical * math.cos(angle), rel=1e-9)
    assert m.thickness_mm == pytest.approx(0.2 * vertical)


def test_anisotropic_calibration():
    x = np.arange(0.0, 200.0)
    deep = Boundary(x, 50.0 + x, "edges")  # 45 deg in pixels
    sup = Boundary(x, 10.0 + x, "edges")  # 40 px above it
    cal = Calibration(0.2, 0.1, "dicom_region")
    m = measure_lines(sup, deep, calibration=cal, line_fractions=(0.5,))[0]
    assert m.thickness_px == pytest.approx(40.0)
    assert m.thickness_mm == pytest.approx(4.0)  # vertical uses mm_per_px_y only
    # in mm the deep line has slope 0.5: perpendicular = 4 mm * cos(atan 0.5)
    assert m.perpendicular_mm == pytest.approx(4.0 / math.sqrt(1.25), rel=1e-9)
    assert m.perpendicular_px == pytest.approx(40.0 / math.sqrt(2), rel=1e-9)


def test_perpendicular_off_and_no_overlap_and_bad_fractions():
    lines = measure_lines(
        flat(20.0), flat(60.0), calibration=Calibration.uncalibrated(), perpendicular=False
    )
    assert all(m.perpendicular_px is None for m in lines)
    assert (
        measure_lines(flat(20, 0, 10), flat(60, 20, 30), calibration=Calibration.uncalibrated())
        == ()
    )
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        measure_lines(
            flat(20), flat(60), calibration=Calibration.uncalibrated(), line_fractions=(1.5,)
        )
    with pytest.raises(ValueError, match="labels"):
        measure_lines(flat(20), flat(60), calibration=Calibration.uncalibrated(), labels=("a",))


def test_echo_intensity_of_a_known_region():
    img = np.full((100, 200), 200, dtype=np.uint8)
    img[20:60, :] = 77  # muscle rows 20..59 lie strictly between edges 19.5 and 59.5
    assert echo_intensity(img, flat(19.5), flat(59.5)) == pytest.approx(77.0)
    img[20:60, 100:] = 177
    assert echo_intensity(img, flat(19.5), flat(59.5)) == pytest.approx(127.0)
    # half-covered rows are excluded: edges at 19.7 and 59.2 keep rows 21..58
    img2 = np.full((100, 200), 200, dtype=np.uint8)
    img2[21:59, :] = 50
    assert echo_intensity(img2, flat(19.7), flat(59.2)) == pytest.approx(50.0)
    assert math.isnan(echo_intensity(img, flat(19.5), flat(19.6)))


def frame(calibration=None, shape=(100, 200)) -> Frame:
    pixels = np.full(shape, 60, dtype=np.uint8)
    return Frame(pixels, "scan.png", calibration=calibration or Calibration.isotropic(0.1, "user"))


def test_assemble_ok_result():
    result = assemble_result(frame(), flat(19.5), flat(59.5), method="edges")
    assert result.status == "ok" and result.flags == () and result.message == ""
    assert result.mean_thickness_px == pytest.approx(40.0)
    assert result.mean_thickness_mm == pytest.approx(4.0)
    assert result.echo_intensity == pytest.approx(60.0)
    assert result.confidence == pytest.approx(0.9)
    assert result.method == "edges" and result.path == "scan.png"


def test_assemble_flagged_and_failed_results():
    low = Boundary(np.array([0.0, 199.0]), np.array([59.5, 59.5]), "model", 0.2)
    result = assemble_result(frame(), flat(19.5), low, method="model", min_confidence=0.5)
    assert result.status == "flagged"
    assert result.flags == ("low_confidence",)
    assert "low confidence" in result.message
    assert result.confidence == pytest.approx(0.2)
    assert len(result.lines) == 4

    failed = assemble_result(frame(), flat(19.5), None, method="edges")
    assert failed.status == "failed" and failed.lines == ()
    assert "deep aponeurosis not found" in failed.message and "scan.png" in failed.message
    assert "missing_deep" in failed.flags


def test_boundaries_the_wrong_way_round_give_no_thickness():
    # the "deep" boundary 40 px above the superficial one: no negative millimetres
    upside_down = assemble_result(frame(), flat(59.5), flat(19.5), method="edges")
    assert upside_down.status == "failed" and upside_down.lines == ()
    assert upside_down.mean_thickness_mm is None
    assert "crossing" in upside_down.flags and "cross" in upside_down.message
    assert "calibration" not in upside_down.message
    # crossing over a third of the width only: measured, flagged
    x = np.array([0.0, 199.0])
    tilted = Boundary(x, np.array([5.0, 65.0]), "edges", 0.9)
    crossed = assemble_result(frame(), tilted, flat(45.5), method="edges")
    assert crossed.status == "flagged" and "crossing" in crossed.flags
    assert crossed.mean_thickness_mm is not None


def test_failed_result_helper():
    r = failed_result("bad.dcm", "bad.dcm: not a DICOM file", frame_index=3)
    assert r.status == "failed" and r.frame_index == 3 and r.lines == ()
    assert r.region == PixelBox(0, 0, 1, 1) and not r.calibration.is_calibrated
    assert r.mean_thickness_mm is None
