"""Pure calibration functions; the on-screen ruler on real captures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from musclethick.calibration import (
    UltrasoundRegion,
    find_ruler_ticks,
    from_depth,
    from_pixel_spacing,
    from_ruler,
    from_two_points,
    from_ultrasound_regions,
)
from musclethick.errors import CalibrationError
from musclethick.io.options import CalibrationOptions, from_options
from musclethick.region import find_imaging_region
from musclethick.types import Calibration, PixelBox
from ruler_reference import RULERS  # tests/ruler_reference.py: read by hand


def _region(x0, y0, x1, y1, delta_cm=0.02, **kw):
    return UltrasoundRegion(x0, y0, x1, y1, delta_x=delta_cm, delta_y=delta_cm, **kw)


def test_regions_inclusive_box_and_cm_to_mm():
    [(box, cal)] = from_ultrasound_regions([_region(10, 5, 49, 24)], image_shape=(30, 60))
    assert box == PixelBox(10, 5, 50, 25)
    assert cal.mm_per_px_y == pytest.approx(0.2)
    assert cal.mm_per_px_x == pytest.approx(0.2)
    assert cal.source == "dicom_region"


def test_regions_skip_non_tissue_and_keep_order():
    regions = [
        _region(0, 0, 9, 9, spatial_format=4, data_type=10),  # waveform
        _region(0, 0, 29, 19, delta_cm=0.01),
        _region(30, 0, 59, 19, delta_cm=0.03),
        _region(0, 20, 59, 29, data_type=2),  # colour flow
    ]
    out = from_ultrasound_regions(regions, image_shape=(30, 60))
    assert [b for b, _ in out] == [PixelBox(0, 0, 30, 20), PixelBox(30, 0, 60, 20)]
    assert [c.mm_per_px for _, c in out] == pytest.approx([0.1, 0.3])


def test_regions_small_overrun_clipped_with_note():
    [(box, cal)] = from_ultrasound_regions([_region(5, 5, 60, 29)], image_shape=(30, 60))
    assert box == PixelBox(5, 5, 60, 30)
    assert "clipped by 1 px in x" in cal.note


def test_regions_large_overrun_not_trusted():
    with pytest.raises(CalibrationError, match="overruns"):
        from_ultrasound_regions([_region(5, 5, 200, 100)], image_shape=(30, 60))
    # one good, one bad: the good one is kept and the bad one noted
    out = from_ultrasound_regions(
        [_region(0, 0, 29, 29), _region(30, 0, 99, 29)], image_shape=(30, 60)
    )
    assert len(out) == 1 and "ignored region (30,0)-(99,29)" in out[0][1].note


def test_regions_none_without_tissue():
    assert from_ultrasound_regions([], image_shape=(30, 60)) == []


def test_pixel_spacing_row_col_order():
    cal = from_pixel_spacing(0.15, 0.2)
    assert (cal.mm_per_px_y, cal.mm_per_px_x, cal.source) == (0.15, 0.2, "pixel_spacing")
    with pytest.raises(CalibrationError):
        from_pixel_spacing(0.0, 0.2)


def test_depth_and_two_points():
    cal = from_depth(40.0, region_height_px=400)
    assert cal.mm_per_px == pytest.approx(0.1) and cal.source == "depth"
    cal = from_two_points((0, 0), (30, 40), distance_mm=10.0)
    assert cal.mm_per_px == pytest.approx(0.2) and cal.source == "clicked"
    with pytest.raises(CalibrationError):
        from_two_points((3, 3), (3, 3), distance_mm=10.0)


def test_from_options_precedence():
    both = CalibrationOptions(mm_per_px=0.3, depth_mm=50)
    assert from_options(both, region_height_px=100).source == "user"
    assert from_options(CalibrationOptions(depth_mm=50), region_height_px=100).mm_per_px == 0.5
    assert from_options(CalibrationOptions(), region_height_px=100) is None


def _synthetic_capture(spacing_px: float, *, minor: bool) -> np.ndarray:
    """Noise image in a flat display with a ruler of ticks every ``spacing_px`` at the left."""
    rng = np.random.default_rng(0)
    img = np.zeros((400, 300), dtype=np.uint8)
    img[20:380, 60:280] = rng.integers(20, 200, size=(360, 220))
    for k in range(6):
        y = round(20 + k * spacing_px)
        img[y : y + 2, 2:10] = 220
        if minor:
            yy = round(20 + (k + 0.5) * spacing_px)
            if yy < 380:
                img[yy : yy + 2, 6:10] = 220
    return img


@pytest.mark.parametrize("minor", [False, True])
def test_ruler_synthetic(minor):
    img = _synthetic_capture(64.0, minor=minor)
    cal = from_ruler(img)
    assert cal.mm_per_px == pytest.approx(10 / 64.0, rel=1e-3)
    # unlabelled ticks only: the 10 mm convention is a guess, and the calibration says so
    assert cal.source == "ruler" and "10 mm per major tick assumed" in cal.note
    assert cal.flags == ("calibration_unconfirmed",) and "--mm-per-px" in cal.note
    if minor:
        assert find_ruler_ticks(img, region=find_imaging_region(img)).n_minor >= 4


def test_ruler_absent_raises():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, size=(200, 200)).astype(np.uint8)
    with pytest.raises(CalibrationError):
        from_ruler(img)


@pytest.mark.parametrize("name", sorted(RULERS))
def test_ruler_on_committed_captures(sample_images, name):
    # reference: the tick rows and printed numbers read by hand (tests/ruler_reference.py)
    reference = RULERS[name]
    img = np.asarray(Image.open(sample_images / name))
    assert reference.ticks_present(np.asarray(Image.open(sample_images / name).convert("L")))
    # within a pixel over the span of the ticks (each end tick's row known to half a pixel)
    cal = from_ruler(img)
    assert cal.mm_per_px == pytest.approx(reference.mm_per_px, rel=reference.rel_tolerance)


def test_ruler_none_on_bare_image(sample_images):
    img = np.asarray(Image.open(sample_images / "dltrack_512x512_img_00053.png"))
    with pytest.raises(CalibrationError):
        from_ruler(img)


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("size", "names"),
    [
        ((660, 556), ["img_00300.png", "img_00302.png", "img_00303.png", "img_00304.png"]),
        ((1234, 688), ["img_00003.png", "img_00004.png", "img_00006.png", "img_00008.png"]),
    ],
)
def test_ruler_consistent_within_layout(shared_data, size, names):
    values = []
    for name in names:
        img = np.asarray(Image.open(shared_data / "dltrack_apo" / "images" / name))
        assert img.shape[1::-1] == size
        values.append(from_ruler(img).mm_per_px)
    assert max(values) - min(values) < 1e-3 * values[0]


@pytest.mark.shared_data
def test_ruler_agrees_with_dicom_region(shared_data):
    """The Philips CX50 capture's own depth ruler vs its DICOM PhysicalDeltaY."""
    from pydicom import dcmread
    from pydicom.pixels import apply_color_lut, pixel_array

    ds = dcmread(shared_data / "dicom" / "OBXXXX1A.dcm")
    rgb = apply_color_lut(pixel_array(ds), ds)
    grey = (rgb[..., 0].astype(float) / 257).astype(np.uint8)
    # the sector of this curved-array image; its DICOM region box also covers the ruler
    cal = from_ruler(grey, region=PixelBox(320, 60, 620, 519))
    assert cal.mm_per_px == pytest.approx(0.2622879, rel=5e-3)


@pytest.mark.shared_data
def test_ruler_telemed_jpeg(shared_data):
    """Telemed SmartUs JPEG captures: labels 0 and 50 mm over 5 major ticks."""
    path = sorted((shared_data / "unlabeled_gm_telemed").glob("*/*.jpg"))[0]
    cal = from_ruler(np.asarray(Image.open(path)))
    assert cal.mm_per_px == pytest.approx(50.0 / (5 * 141.86), rel=3e-3)


def test_ruler_ticks_aligned_within_one_column_are_one_group():
    # eight ticks 20 px apart whose right ends alternate between two neighbouring columns
    img = np.zeros((240, 120), np.uint8)
    for i in range(8):
        y = 30 + 20 * i
        img[y, 10 : 20 + (i % 2)] = 255
    ticks = find_ruler_ticks(img)
    assert len(ticks.y_px) == 8
    assert ticks.spacing_px == pytest.approx(20.0)


def test_a_given_pixel_size_is_doubted_only_by_a_confirmed_one_of_the_file():
    from musclethick.calibration import user_checked

    user = Calibration.isotropic(0.2, "user", "given by the user")
    region = Calibration.isotropic(0.1, "dicom_region")
    doubted = user_checked(user, region)
    assert "--mm-per-px gives 0.2 mm/px" in doubted.note
    assert doubted.mm_per_px == 0.2 and doubted.flags == ("calibration_unconfirmed",)
    assert "ultrasound region gives 0.1 mm/px" in doubted.note
    # within 5 %, uncalibrated, unconfirmed, a converter's 1 x 1 mm: nothing to doubt it by
    for own in (
        Calibration.isotropic(0.195, "dicom_region"),
        Calibration.uncalibrated("no ruler"),
        Calibration.isotropic(0.1, "ruler", flags=("calibration_unconfirmed",)),
        Calibration.isotropic(1.0, "pixel_spacing"),
        None,
    ):
        assert user_checked(user, own) is user
    by_depth = Calibration.isotropic(0.2, "depth")  # --depth-mm over the region's height
    spacing = user_checked(by_depth, Calibration.isotropic(0.3, "pixel_spacing"), depth_mm=40.0)
    assert "--depth-mm gives 0.2 mm/px but the file's PixelSpacing gives 0.3" in spacing.note
    assert "(a depth of 60 mm)" in spacing.note


def test_a_given_pixel_size_is_checked_across_the_beam_too():
    """Thickness across a sloping muscle and pennation use the width: a file whose pixels are
    0.1 mm wide and 0.2 mm deep contradicts a given 0.2 mm square pixel."""
    from musclethick.calibration import user_checked

    user = Calibration.isotropic(0.2, "user")
    file_region = Calibration(0.1, 0.2, "dicom_region")
    checked = user_checked(user, file_region)
    assert checked.flags == ("calibration_unconfirmed",)
    assert "0.2 mm/px across the beam but the file's ultrasound region gives 0.1" in checked.note


def test_a_contradicted_given_value_is_not_told_to_be_given():
    """The message of a given pixel size the file contradicts says what to check; it does not
    end with the generic fix "give --mm-per-px or --depth-mm" the user has just followed."""
    from musclethick.plausible import DEFAULT_RANGES
    from musclethick.qc import scale_flags

    doubted = Calibration.isotropic(0.2, "user").with_flags(
        "calibration_unconfirmed",
        note="--mm-per-px gives 0.2 mm/px but the file's ultrasound region gives 0.1 mm/px",
    )
    flags, why = scale_flags(doubted, 20.0, ranges=DEFAULT_RANGES)
    assert flags == ("calibration_unconfirmed",) and "fix:" not in why
    ruler = Calibration.isotropic(0.1, "ruler").with_flags("calibration_unconfirmed", note="x")
    assert "fix:" in scale_flags(ruler, 20.0, ranges=DEFAULT_RANGES)[1]
