"""Shared dataclasses: validation and coordinate helpers."""

from __future__ import annotations

import numpy as np
import pytest

from musclethick.types import Boundary, Calibration, Frame, PixelBox


def test_calibration_validates_and_scales():
    cal = Calibration.isotropic(0.2, "user")
    assert cal.is_calibrated and cal.mm_per_px == pytest.approx(0.2)
    half = cal.scaled(2.0, 4.0)  # image enlarged: each new pixel is smaller
    assert half.mm_per_px_x == pytest.approx(0.1)
    assert half.mm_per_px_y == pytest.approx(0.05)
    assert not Calibration.uncalibrated().is_calibrated
    assert Calibration.uncalibrated().mm_per_px is None
    with pytest.raises(ValueError, match="positive"):
        Calibration(0.0, 0.1, "user")
    with pytest.raises(ValueError, match="positive"):
        Calibration(0.1, float("nan"), "user")


def test_pixel_box_slices_and_rejects_empty():
    box = PixelBox(2, 1, 5, 4)
    image = np.arange(36).reshape(6, 6)
    assert image[box.slices()].shape == (3, 3)
    assert image[box.slices()][0, 0] == 1 * 6 + 2
    assert PixelBox.full((6, 8)) == PixelBox(0, 0, 8, 6)
    with pytest.raises(ValueError):
        PixelBox(3, 0, 3, 5)


def test_boundary_interpolates_inside_only():
    b = Boundary([0, 10, 20], [5, 15, 5], "edges", 0.7)
    np.testing.assert_allclose(b.y_at([0, 5, 15, 20]), [5, 10, 10, 5])
    assert np.isnan(b.y_at(21.0))
    assert b.shifted(100, 50).to_points()[1] == [110.0, 65.0]
    assert b.with_source("manual").source == "manual"


@pytest.mark.parametrize(
    ("x", "y", "confidence", "match"),
    [
        ([0, 0, 1], [1, 2, 3], 1.0, "increasing"),
        ([0, 1], [1, 2, 3], 1.0, "same length"),
        ([0], [1], 1.0, "two points"),
        ([0, 1], [1, np.nan], 1.0, "finite"),
        ([0, 1], [1, 2], 1.5, "confidence"),
    ],
)
def test_boundary_rejects_bad_polylines(x, y, confidence, match):
    with pytest.raises(ValueError, match=match):
        Boundary(x, y, "edges", confidence)


def test_frame_defaults_region_to_whole_image():
    frame = Frame(np.zeros((4, 6), np.uint8), "a.png")
    assert frame.region == PixelBox(0, 0, 6, 4)
    assert frame.original_shape == (4, 6)
    with pytest.raises(ValueError, match="2-D"):
        Frame(np.zeros((4, 6, 3), np.uint8), "a.png")


def test_boundary_source_is_required_and_checked():
    from musclethick.errors import InvalidValueError, MusclethickError

    with pytest.raises(TypeError, match="source"):
        Boundary([0, 1], [1, 2])  # no default provenance
    for source in ("edges", "model", "refined", "manual", "runner_up"):
        assert Boundary([0, 1], [1, 2], source).source == source
    with pytest.raises(InvalidValueError, match=r"Boundary\.source must be one of .* got 'edge'"):
        Boundary([0, 1], [1, 2], "edge")
    with pytest.raises(InvalidValueError, match="got 'magic'"):
        Boundary([0, 1], [1, 2], "model").with_source("magic")
    assert issubclass(InvalidValueError, MusclethickError)
    assert issubclass(InvalidValueError, ValueError)


def test_calibration_source_is_checked():
    from musclethick.errors import InvalidValueError

    for source in ("dicom_region", "pixel_spacing", "user", "depth", "ruler", "clicked", "none"):
        assert Calibration.isotropic(0.1, source).source == source
    assert Calibration.isotropic(0.1, "profile:lab-a").source == "profile:lab-a"
    assert Calibration().source == "none"  # uncalibrated by default: pixels only
    for bad in ("profile", "profile:", "User", "test", ""):
        with pytest.raises(InvalidValueError, match=r"Calibration\.source must be one of"):
            Calibration.isotropic(0.1, bad)


def test_frame_result_status_is_checked():
    from musclethick.errors import InvalidValueError
    from musclethick.types import FrameResult

    def result(status):
        return FrameResult(
            "a.png",
            0,
            PixelBox(0, 0, 4, 4),
            Calibration(),
            None,
            None,
            (),
            None,
            0.0,
            status,
            method="model",
        )

    for status in ("ok", "flagged", "failed"):
        assert result(status).status == status
    with pytest.raises(InvalidValueError, match=r"FrameResult\.status must be one of .* 'skipped'"):
        result("skipped")


def test_frame_result_method_has_no_default_provenance():
    from musclethick.types import FrameResult

    # a result built without saying how its boundaries were found must not claim "edges"
    with pytest.raises(TypeError, match="method"):
        FrameResult(
            "a.png", 0, PixelBox(0, 0, 4, 4), Calibration(), None, None, (), None, 0.0, "ok"
        )
    with pytest.raises(TypeError):  # keyword-only: not confused with a positional field
        FrameResult(
            "a.png",
            0,
            PixelBox(0, 0, 4, 4),
            Calibration(),
            None,
            None,
            (),
            None,
            0.0,
            "ok",
            (),
            "",
            "model",
        )


def test_literal_types_bind_the_fields():
    import dataclasses
    import typing

    from musclethick import types

    hints = {
        (cls, f.name): typing.get_type_hints(cls)[f.name]
        for cls in (types.Boundary, types.Calibration, types.FrameResult)
        for f in dataclasses.fields(cls)
    }
    assert hints[(types.Boundary, "source")] is types.BoundarySource
    assert types.CalibrationSource in typing.get_args(hints[(types.Calibration, "source")])
    assert hints[(types.FrameResult, "status")] is types.Status
    assert types.STATUSES == ("ok", "flagged", "failed")


def test_measured_pair_needs_both_boundaries():
    from dataclasses import replace

    from musclethick.types import Boundary, FrameResult

    x = np.array([0.0, 3.0])
    sup, deep = Boundary(x, [1.0, 1.0], "model", 0.9), Boundary(x, [3.0, 3.0], "model", 0.9)
    whole = FrameResult(
        "a.png", 0, PixelBox(0, 0, 4, 4), Calibration(), sup, deep, (), None, 0.9, "ok",
        method="model",
    )  # fmt: skip
    assert whole.measured_pair == (sup, deep)
    assert replace(whole, deep=None, status="failed").measured_pair is None
    assert replace(whole, superficial=None, status="failed").measured_pair is None
