"""DICOM calibration taken strictly: each bad file is made by the test (pydicom) from the real
B-mode fixture us_single.dcm (region (40,16)-(295,271), 0.015 cm = 0.15 mm per px)."""

from __future__ import annotations

import math

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from musclethick.errors import InputError
from musclethick.io import read
from musclethick.io.options import CalibrationOptions
from musclethick.pipeline import MeasureSettings, measure_path

EDGES = MeasureSettings(method="edges")


@pytest.fixture()
def make(tmp_path, test_data):
    """``make(name, edit)``: a copy of us_single.dcm changed by ``edit(ds)``, saved by pydicom."""

    def _make(name, edit):
        ds = pydicom.dcmread(test_data / "dicom" / "us_single.dcm")
        edit(ds)
        path = tmp_path / name
        ds.save_as(path, enforce_file_format=True)
        return path

    return _make


def _region(ds):
    return ds.SequenceOfUltrasoundRegions[0]


def test_valid_region_is_trusted(make):
    path = make("ok.dcm", lambda ds: None)
    [frame] = read(path)
    assert frame.calibration.source == "dicom_region" and not frame.calibration.flags
    assert frame.calibration.mm_per_px == pytest.approx(0.15)
    [result] = measure_path(path, EDGES)
    assert result.status == "ok" and result.mean_thickness_mm is not None


BAD_REGIONS = {
    "huge_delta": ("PhysicalDeltaY", 1e6, "outside the plausible"),
    "zero_delta": ("PhysicalDeltaY", 0.0, "not a positive number"),
    "negative_delta": ("PhysicalDeltaY", -0.015, "not a positive number"),
    "nan_delta": ("PhysicalDeltaY", math.nan, "not a positive number"),
    "tiny_delta_x": ("PhysicalDeltaX", 1e-6, "outside the plausible"),
    "units_none": ("PhysicalUnitsYDirection", 0, "is not 3 (cm)"),
    "units_seconds": ("PhysicalUnitsYDirection", 4, "is not 3 (cm)"),
    "box_outside": ("RegionLocationMaxX1", 1000, "overruns"),
}


@pytest.mark.parametrize(("name", "change"), sorted(BAD_REGIONS.items()))
def test_bad_region_is_never_a_silent_ok(make, name, change):
    keyword, value, reason = change
    path = make(f"{name}.dcm", lambda ds: setattr(_region(ds), keyword, value))
    [frame] = read(path)
    cal = frame.calibration
    assert "implausible_calibration" in cal.flags and reason in cal.note
    assert not cal.is_calibrated  # no ruler on this image: px only
    [result] = measure_path(path, EDGES)
    assert result.status == "flagged" and "implausible_calibration" in result.flags
    assert result.mean_thickness_mm is None and result.mean_thickness_px > 0
    assert str(path) in result.message and "--mm-per-px" in result.message
    # the user's pixel size is the fix
    [fixed] = measure_path(path, MeasureSettings(method="edges", calibration=_user(0.15)))
    assert fixed.status == "ok" and fixed.mean_thickness_mm is not None


def _user(mm_per_px):
    return CalibrationOptions(mm_per_px=mm_per_px)


@pytest.mark.parametrize(("rows", "cols"), [(287, 320), (288, 319), (256, 320)])
def test_rows_columns_must_match_the_pixel_data(make, rows, cols):
    def edit(ds):
        ds.Rows, ds.Columns = rows, cols

    path = make("sheared.dcm", edit)
    with pytest.raises(InputError, match="pixel data holds 92160 bytes"):
        read(path)
    [result] = measure_path(path, EDGES)
    assert result.status == "failed" and str(path) in result.message
    assert "wrong Rows/Columns" in result.message


def test_samples_per_pixel_counts(make):
    def edit(ds):
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0

    with pytest.raises(InputError, match=r"truncated or corrupt pixel data.* x 3 x 1"):
        read(make("rgb_claimed.dcm", edit))


def test_more_rows_than_the_pixel_data_holds(make):
    def edit(ds):
        ds.Rows = 300

    with pytest.raises(InputError, match="truncated or corrupt pixel data"):
        read(make("short.dcm", edit))


def test_two_regions_with_different_spacings_each_keep_theirs(make):
    def edit(ds):
        left, right = Dataset(), Dataset()
        for item, (x0, x1, delta) in ((left, (0, 159, 0.01)), (right, (160, 319, 0.02))):
            item.RegionSpatialFormat, item.RegionDataType = 1, 1
            item.RegionLocationMinX0, item.RegionLocationMaxX1 = x0, x1
            item.RegionLocationMinY0, item.RegionLocationMaxY1 = 0, 287
            item.PhysicalUnitsXDirection = item.PhysicalUnitsYDirection = 3
            item.PhysicalDeltaX = item.PhysicalDeltaY = delta
        ds.SequenceOfUltrasoundRegions = Sequence([left, right])

    frames = list(read(make("two.dcm", edit)))
    assert [f.calibration.mm_per_px for f in frames] == pytest.approx([0.1, 0.2])
    assert [f.region.width for f in frames] == [160, 160]
    assert not any(f.calibration.flags for f in frames)


def _per_frame(ds, spacings):
    del ds.SequenceOfUltrasoundRegions
    items = []
    for spacing in spacings:
        measures = Dataset()
        measures.PixelSpacing = list(spacing)
        item = Dataset()
        item.PixelMeasuresSequence = Sequence([measures])
        items.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(items)


def test_per_frame_spacing_that_varies_is_rejected(make):
    path = make("varies.dcm", lambda ds: _per_frame(ds, [(0.15, 0.15), (0.2, 0.2)]))
    [frame] = read(path)
    assert "implausible_calibration" in frame.calibration.flags
    assert "differs between frames" in frame.calibration.note


def test_per_frame_spacing_that_agrees_is_used(make):
    path = make("same.dcm", lambda ds: _per_frame(ds, [(0.15, 0.2), (0.15, 0.2)]))
    [frame] = read(path)
    cal = frame.calibration
    assert cal.source == "pixel_spacing" and not cal.flags
    assert (cal.mm_per_px_y, cal.mm_per_px_x) == (0.15, 0.2)


def test_implausible_pixel_spacing_is_flagged(make):
    def edit(ds):
        del ds.SequenceOfUltrasoundRegions
        ds.PixelSpacing = [1000.0, 1000.0]

    [frame] = read(make("ps.dcm", edit))
    assert "implausible_calibration" in frame.calibration.flags
    assert not frame.calibration.is_calibrated
