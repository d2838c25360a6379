"""DICOM reader on real pydicom files and on synthetic-metadata fixtures made from a real scan."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from musclethick.errors import InputError
from musclethick.io import CalibrationOptions, FrameSelection, read
from musclethick.types import PixelBox

DELTA_MM = 0.15  # PhysicalDeltaY of the synthetic fixtures (scripts/make_fixtures.py)
REGION = PixelBox(40, 16, 296, 272)


def test_single_frame_region_calibration(test_data):
    [frame] = list(read(test_data / "dicom" / "us_single.dcm"))
    assert frame.region == REGION and frame.shape == (256, 256)
    assert frame.calibration.source == "dicom_region"
    assert frame.calibration.mm_per_px == pytest.approx(DELTA_MM)
    assert frame.original_shape == (288, 320)
    assert frame.pixels.dtype == np.uint8
    m = frame.metadata
    assert (m.patient_id, m.study_date, m.laterality, m.modality) == (
        "SUBJ01",
        "20240131",
        "R",
        "US",
    )
    assert m.transducer == "L12-5" and m.series_description == "GM longitudinal"


def test_multiframe_lazy_times_and_selection(test_data):
    path = test_data / "dicom" / "us_multiframe.dcm"
    frames = list(read(path))
    assert [f.frame_index for f in frames] == [0, 1, 2, 3]
    assert [f.time_s for f in frames] == pytest.approx([0.0, 0.05, 0.1, 0.15])
    assert frames[0].metadata.n_frames == 4 and frames[0].metadata.frame_time_ms == 50.0
    # frames really differ (shifted by 1 row and 2 columns each)
    np.testing.assert_array_equal(frames[1].pixels[1:, 2:], frames[0].pixels[:-1, :-2])
    sel = list(read(path, frames=FrameSelection.parse("1:4:2")))
    assert [f.frame_index for f in sel] == [1, 3]
    np.testing.assert_array_equal(sel[1].pixels, frames[3].pixels)
    it = read(path)
    assert next(it).frame_index == 0  # an iterator: decoded as consumed


def test_jpeg_baseline_and_rle_match_uncompressed(test_data):
    ref = list(read(test_data / "dicom" / "us_multiframe.dcm"))
    jpeg = list(read(test_data / "dicom" / "us_jpeg_baseline.dcm"))
    assert len(jpeg) == 2
    diff = np.abs(jpeg[1].pixels.astype(int) - ref[1].pixels.astype(int))
    assert diff.mean() < 4.0  # lossy, but the same image
    [rle] = list(read(test_data / "dicom" / "us_rle.dcm"))
    np.testing.assert_array_equal(rle.pixels, ref[0].pixels)
    assert rle.calibration.mm_per_px == pytest.approx(DELTA_MM)


def test_two_regions_become_two_frames(test_data):
    frames = list(read(test_data / "dicom" / "us_two_regions.dcm"))
    assert [f.region_index for f in frames] == [0, 1]
    assert frames[0].region == PixelBox(40, 16, 168, 272)
    assert frames[1].region == PixelBox(168, 16, 296, 272)
    assert [f.calibration.mm_per_px for f in frames] == pytest.approx([0.15, 0.2])


def test_pixel_spacing_fallback(test_data):
    [frame] = list(read(test_data / "dicom" / "us_pixel_spacing.dcm"))
    assert frame.calibration.source == "pixel_spacing"
    assert (frame.calibration.mm_per_px_y, frame.calibration.mm_per_px_x) == (0.15, 0.2)


def test_non_ultrasound_without_calibration(test_data):
    [frame] = list(read(test_data / "dicom" / "ct_no_regions.dcm"))
    assert not frame.calibration.is_calibrated and frame.calibration.source == "none"
    assert "px only" in frame.calibration.note
    assert frame.region == PixelBox(0, 0, 256, 256)


def test_user_calibration_overrides_dicom(test_data):
    """A given pixel size is used, and flagged when the file's own region calibration
    (DELTA_MM) contradicts it, the note naming both values: a value typed for another
    scanner must not pass as ``ok``; one within 5 % of the file's is not doubted."""
    path = test_data / "dicom" / "us_single.dcm"
    [f] = list(read(path, calibration=CalibrationOptions(mm_per_px=0.5)))
    assert (f.calibration.source, f.calibration.mm_per_px, f.region) == ("user", 0.5, REGION)
    assert f.calibration.flags == ("calibration_unconfirmed",)
    assert "--mm-per-px gives 0.5 mm/px" in f.calibration.note
    assert f"ultrasound region gives {DELTA_MM:.5g} mm/px" in f.calibration.note
    [f] = list(read(path, calibration=CalibrationOptions(depth_mm=51.2)))
    assert f.calibration.source == "depth" and f.calibration.mm_per_px == pytest.approx(0.2)
    assert "--depth-mm gives 0.2 mm/px" in f.calibration.note
    assert "(a depth of 38.4 mm)" in f.calibration.note  # 51.2 mm x 0.15 / 0.2
    [f] = list(read(path, calibration=CalibrationOptions(mm_per_px=DELTA_MM * 1.04)))
    assert f.calibration.source == "user" and f.calibration.is_confirmed


def test_no_pixel_data(test_data):
    with pytest.raises(InputError, match=r"no_pixels\.dcm.*without pixel data"):
        read(test_data / "dicom" / "no_pixels.dcm")


@pytest.mark.parametrize("name", ["us_single.dcm", "us_rle.dcm", "us_jpeg_baseline.dcm"])
@pytest.mark.parametrize("keep", [100, 1000, 0.5, -10])
def test_truncated(test_data, tmp_path, name, keep):
    data = (test_data / "dicom" / name).read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    bad = tmp_path / f"cut_{name}"
    bad.write_bytes(data[:n])
    with pytest.raises(InputError, match=rf"cut_{re.escape(name)}: .*(truncated|corrupt)") as e:
        list(read(bad))
    message = str(e.value)
    if "DICOM file" in message:  # the reader's own words: the path once, and the fix
        assert message.count(str(bad)) == 1 and "copy or export the scan again" in message


def test_text_file_with_dcm_suffix(tmp_path):
    bad = tmp_path / "notes.dcm"
    bad.write_text("hello, this is a text file and not DICOM at all\n" * 10)
    with pytest.raises(InputError, match=r"notes\.dcm: not a DICOM file"):
        read(bad)


def test_dicom_without_suffix_found_by_preamble(test_data, tmp_path):
    path = tmp_path / "IM0001"
    shutil.copyfile(test_data / "dicom" / "us_single.dcm", path)
    [frame] = list(read(path))
    assert frame.calibration.mm_per_px == pytest.approx(DELTA_MM)


def test_committed_pydicom_files(test_data):
    [rle] = list(read(test_data / "dicom" / "OBXXXX1A_rle.dcm"))
    assert rle.calibration.mm_per_px == pytest.approx(0.2622879, rel=1e-6)
    assert rle.region == PixelBox(120, 60, 800, 519)  # box overruns by 1 px: clipped
    assert "clipped" in rle.calibration.note
    ybr = list(read(test_data / "dicom" / "examples_ybr_color.dcm", frames=FrameSelection(0, 3)))
    assert len(ybr) == 3 and not ybr[0].calibration.is_calibrated
    assert "overruns" in ybr[0].calibration.note  # region refers to the pre-rescale size
    assert ybr[1].time_s == pytest.approx(0.033333)
    [j2k] = list(read(test_data / "dicom" / "US1_J2KI.dcm"))
    assert j2k.original_shape == (480, 640)
    [be] = list(read(test_data / "dicom" / "ExplVR_BigEnd.dcm"))
    assert be.shape == (60, 80) and be.pixels.max() > 0


# expected: (n frames, n regions, mm_per_px or None)
SHARED = {
    "OBXXXX1A.dcm": (1, 1, 0.2622879),
    "OBXXXX1A_expb.dcm": (1, 1, 0.2622879),
    "OBXXXX1A_rle.dcm": (1, 1, 0.2622879),
    "OBXXXX1A_2frame.dcm": (2, 1, 0.2622879),
    "OBXXXX1A_rle_2frame.dcm": (2, 1, 0.2622879),
    "examples_palette.dcm": (1, 1, "ruler"),
    "examples_ybr_color.dcm": (30, 1, None),
    "JPGLosslessP14SV1_1s_1f_8b.dcm": (1, 1, 0.25476697),
    "gdcm-US-ALOKA-16.dcm": (1, 2, 0.3826531),
    "gdcm-US-ALOKA-16_big.dcm": (1, 2, 0.3826531),
    "US1_UNCR.dcm": (1, 1, None),
    "US1_J2KR.dcm": (1, 1, None),
    "US1_J2KI.dcm": (1, 1, None),
    "examples_rgb_color.dcm": (1, 1, None),
    "color-pl.dcm": (1, 1, None),
    "ExplVR_BigEnd.dcm": (1, 1, None),
}


@pytest.mark.shared_data
@pytest.mark.parametrize(("name", "expected"), sorted(SHARED.items()))
def test_shared_dicom(shared_data, name, expected):
    n_frames, n_regions, mm = expected
    frames = list(read(shared_data / "dicom" / name))
    assert len(frames) == n_frames * n_regions
    for f in frames:
        assert f.pixels.dtype == np.uint8 and f.pixels.ndim == 2
        assert f.pixels.std() > 1.0  # decoded to a real image, not a flat array
        r = f.region
        assert 0 <= r.x0 < r.x1 <= f.original_shape[1] and 0 <= r.y0 < r.y1 <= f.original_shape[0]
    cal = frames[0].calibration
    if mm is None:
        assert not cal.is_calibrated and cal.note
    elif mm == "ruler":
        # examples_palette: region box runs past the cropped rows -> not trusted; the
        # on-screen ruler of the same Philips display agrees with OBXXXX1A's DICOM value,
        # but the file contradicts itself: flagged, with the reason
        assert cal.source == "ruler" and "overruns" in cal.note
        assert "implausible_calibration" in cal.flags
        assert cal.mm_per_px == pytest.approx(0.2622879, rel=5e-3)
    else:
        assert cal.source == "dicom_region" and cal.mm_per_px == pytest.approx(mm, rel=1e-6)


@pytest.mark.shared_data
def test_shared_palette_region_not_trusted(shared_data):
    import pydicom

    from musclethick.calibration import from_ultrasound_regions
    from musclethick.errors import CalibrationError
    from musclethick.io.dicom import ultrasound_regions

    ds = pydicom.dcmread(shared_data / "dicom" / "examples_palette.dcm")
    with pytest.raises(CalibrationError, match="overruns"):
        from_ultrasound_regions(ultrasound_regions(ds), image_shape=(ds.Rows, ds.Columns))


@pytest.mark.shared_data
def test_shared_aloka_16bit_regions_side_by_side(shared_data):
    le = list(read(shared_data / "dicom" / "gdcm-US-ALOKA-16.dcm"))
    be = list(read(shared_data / "dicom" / "gdcm-US-ALOKA-16_big.dcm"))
    assert [f.region for f in le] == [PixelBox(32, 24, 336, 416), PixelBox(336, 24, 640, 416)]
    for a, b in zip(le, be, strict=True):
        np.testing.assert_array_equal(a.pixels, b.pixels)
    assert le[0].metadata.laterality == "R" and le[0].metadata.manufacturer.startswith("ALOKA")


def _variant(test_data, tmp_path, name, edit):
    """A copy of us_single.dcm changed by ``edit(ds, pixels)`` and written with pydicom."""
    import pydicom

    ds = pydicom.dcmread(test_data / "dicom" / "us_single.dcm")
    pixels = ds.pixel_array.copy()
    edit(ds, pixels)
    path = tmp_path / name
    ds.save_as(path, enforce_file_format=True)
    return path, pixels


def test_12_bit_in_16_scaled_by_bits_stored(test_data, tmp_path):
    def edit(ds, px):
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.PixelData = (px.astype("<u2") * 16).tobytes()  # 0..4080 of 4095

    path, px = _variant(test_data, tmp_path, "u12.dcm", edit)
    [f] = list(read(path))
    expected = np.rint(px[16:272, 40:296].astype(float) * 16 * 255 / 4095)
    assert np.abs(f.pixels.astype(float) - expected).max() <= 1


def test_monochrome1_inverted(test_data, tmp_path):
    def edit(ds, px):
        ds.PhotometricInterpretation = "MONOCHROME1"

    path, px = _variant(test_data, tmp_path, "mono1.dcm", edit)
    [f] = list(read(path))
    np.testing.assert_array_equal(f.pixels, 255 - px[16:272, 40:296])


def test_frame_time_vector(test_data, tmp_path):
    import pydicom

    ds = pydicom.dcmread(test_data / "dicom" / "us_multiframe.dcm")
    del ds.FrameTime
    ds.FrameTimeVector = [0, 40, 60, 100]  # ms since the previous frame
    ds.FrameIncrementPointer = pydicom.tag.Tag("FrameTimeVector")
    path = tmp_path / "ftv.dcm"
    ds.save_as(path, enforce_file_format=True)
    frames = list(read(path))
    assert [f.time_s for f in frames] == pytest.approx([0.0, 0.04, 0.1, 0.2])
    assert frames[0].metadata.frame_time_ms == pytest.approx(200 / 3)


def test_bare_dataset_without_preamble(test_data, tmp_path):
    """A DICOM data set written without preamble and file meta (implicit VR)."""
    import pydicom

    ds = pydicom.dcmread(test_data / "dicom" / "us_multiframe.dcm")
    del ds.file_meta
    ds.preamble = None
    path = tmp_path / "bare.dcm"
    pydicom.dcmwrite(path, ds, enforce_file_format=False, implicit_vr=True, little_endian=True)
    assert path.read_bytes()[128:132] != b"DICM"
    frames = list(read(path, frames=FrameSelection.parse("2-3")))
    ref = list(read(test_data / "dicom" / "us_multiframe.dcm"))
    assert [f.frame_index for f in frames] == [2, 3]
    np.testing.assert_array_equal(frames[1].pixels, ref[3].pixels)
    assert frames[0].calibration.mm_per_px == pytest.approx(DELTA_MM)


def test_set_grey8_pixels_round_trips_through_pydicom(tmp_path):
    from musclethick.io.dicom import set_grey8_pixels

    frames = [np.full((6, 5), v, np.uint8) for v in (10, 200)]
    _us_dicom(tmp_path / "x.dcm", frames)  # set_grey8_pixels, then pydicom writes it
    back = pydicom.dcmread(tmp_path / "x.dcm").pixel_array
    np.testing.assert_array_equal(back, np.stack(frames))
    with pytest.raises(ValueError, match="uint8"):
        set_grey8_pixels(pydicom.Dataset(), [np.zeros((3, 3), np.uint16)])
    with pytest.raises(ValueError, match="no frames"):
        set_grey8_pixels(pydicom.Dataset(), [])


def test_a_ct_image_is_measured_but_never_ok(test_data):
    """A DICOM of another modality is flagged ``not_ultrasound`` with the modality named; an
    ultrasound DICOM is not."""
    from musclethick.pipeline import MeasureSettings, measure_frames

    settings = MeasureSettings(method="edges")
    ct = list(measure_frames(read(test_data / "dicom" / "ct_no_regions.dcm"), settings))
    assert ct and all("not_ultrasound" in r.flags and r.status != "ok" for r in ct)
    assert all("DICOM modality CT" in r.message for r in ct if r.status == "flagged")
    us = list(measure_frames(read(test_data / "dicom" / "us_single.dcm"), settings))
    assert us and all("not_ultrasound" not in r.flags for r in us)


def _us_dicom(path, frames, **tags):
    """Write ``frames`` (grey uint8) as an ultrasound DICOM with the given tags."""
    from dicom_files import us_dataset  # tests/dicom_files.py
    from musclethick.io.dicom import set_grey8_pixels

    ds = us_dataset(**tags)
    set_grey8_pixels(ds, frames)
    ds.save_as(path, enforce_file_format=True)
    return path


def _capture_as_dicom(sample_images, path, **tags):
    """A real screen capture with its depth ruler (sample_images, 0.12912 mm per px read by
    hand: tests/ruler_reference.py) written as an ultrasound DICOM with the given tags."""
    from PIL import Image

    capture = sample_images / "dltrack_telemed_660x556_img_00309.png"
    return _us_dicom(path, [np.asarray(Image.open(capture).convert("L"))], **tags)


needs_ocr = pytest.mark.skipif(
    __import__("musclethick.ocr", fromlist=["default_reader"]).default_reader() is None,
    reason="OCR engine (tesserocr + tessdata) missing",
)


@needs_ocr
def test_pixel_spacing_that_contradicts_the_burnt_in_ruler_is_unconfirmed(sample_images, tmp_path):
    """A converter's PixelSpacing 1\\1 (or any value) that the image's own confirmed depth
    ruler contradicts is kept but ``calibration_unconfirmed``, both values named (a new-user
    trial measured 94 mm ``ok`` where the ruler gives 12); one that agrees stays trusted."""
    wrong = _capture_as_dicom(sample_images, tmp_path / "ps1.dcm", PixelSpacing=[1.0, 1.0])
    (frame,) = read(wrong)
    assert frame.calibration.source == "pixel_spacing" and frame.calibration.mm_per_px == 1.0
    assert frame.calibration.flags == ("calibration_unconfirmed",)
    note = frame.calibration.note
    assert "PixelSpacing gives 1 mm/px" in note and "ruler on the image reads 0.129" in note
    right = _capture_as_dicom(sample_images, tmp_path / "ps.dcm", PixelSpacing=[0.1291, 0.1291])
    (frame,) = read(right)
    assert frame.calibration.mm_per_px == pytest.approx(0.1291) and not frame.calibration.flags

    def region(delta_cm):
        item = pydicom.Dataset()
        item.RegionSpatialFormat, item.RegionDataType = 1, 1
        item.RegionLocationMinX0, item.RegionLocationMinY0 = 98, 43
        item.RegionLocationMaxX1, item.RegionLocationMaxY1 = 561, 554
        item.PhysicalUnitsXDirection = item.PhysicalUnitsYDirection = 3
        item.PhysicalDeltaX = item.PhysicalDeltaY = delta_cm
        return pydicom.Sequence([item])

    # a region delta twice the ruler's (a writer's unit slip): unconfirmed; the right one not
    doubled = tmp_path / "region2x.dcm"
    (frame,) = read(
        _capture_as_dicom(sample_images, doubled, SequenceOfUltrasoundRegions=region(0.025824))
    )
    assert frame.calibration.source == "dicom_region"
    assert frame.calibration.flags == ("calibration_unconfirmed",)
    assert "ultrasound region gives 0.25824" in frame.calibration.note
    exact = tmp_path / "region.dcm"
    (frame,) = read(
        _capture_as_dicom(sample_images, exact, SequenceOfUltrasoundRegions=region(0.012912))
    )
    assert frame.calibration.mm_per_px == pytest.approx(0.12912) and not frame.calibration.flags


def test_placeholder_pixel_spacing_without_a_ruler_is_unconfirmed(tmp_path):
    """PixelSpacing of exactly 1 x 1 mm on an ultrasound image with nothing to confirm it is
    what converters write when they know no pixel size."""
    rng = np.random.default_rng(0)
    speckle = rng.integers(20, 200, (120, 160), dtype=np.uint8)

    def write(name, spacing):
        return _us_dicom(tmp_path / name, [speckle], PixelSpacing=spacing)

    (placeholder,) = read(write("one.dcm", [1.0, 1.0]))
    assert placeholder.calibration.flags == ("calibration_unconfirmed",)
    assert "converters write" in placeholder.calibration.note
    (measured,) = read(write("measured.dcm", [0.2, 0.2]))
    assert measured.calibration.mm_per_px == 0.2 and not measured.calibration.flags


@needs_ocr
def test_tags_checked_against_an_unconfirmed_ruler_a_whole_image_region_and_other_modalities(
    sample_images, test_data, tmp_path
):
    """PixelSpacing (often a converter's) twice what the image's own ruler reads, even when
    that reading is unconfirmed (a misread capture's: 0.1296 mm/px assumed from its ticks),
    is flagged; an ultrasound region (the scanner's own) is not doubted by an unconfirmed
    reading. A region over the whole capture and a secondary capture (modality OT) are
    checked too (a second trial found all three `ok` at twice the true thickness)."""
    from PIL import Image

    misread = np.asarray(
        Image.open(test_data / "rulers" / "misread_00450_657x554.jpg").convert("L")
    )
    (frame,) = read(_us_dicom(tmp_path / "ps.dcm", [misread], PixelSpacing=[0.2592, 0.2592]))
    assert frame.calibration.flags == ("calibration_unconfirmed",)
    assert "not confirmed, but off by more than a tick step" in frame.calibration.note

    def region(box, delta_cm):
        item = pydicom.Dataset()
        item.RegionSpatialFormat, item.RegionDataType = 1, 1
        (item.RegionLocationMinX0, item.RegionLocationMinY0) = box[:2]
        (item.RegionLocationMaxX1, item.RegionLocationMaxY1) = box[2:]
        item.PhysicalUnitsXDirection = item.PhysicalUnitsYDirection = 3
        item.PhysicalDeltaX = item.PhysicalDeltaY = delta_cm
        return pydicom.Sequence([item])

    rows, cols = misread.shape
    scanner = region((0, 0, cols - 1, rows - 1), 0.02592)
    (frame,) = read(_us_dicom(tmp_path / "r.dcm", [misread], SequenceOfUltrasoundRegions=scanner))
    assert frame.calibration.mm_per_px == pytest.approx(0.2592) and not frame.calibration.flags
    whole = region((0, 0, 659, 555), 0.025824)  # the 660x556 capture, twice its scale
    bordered = tmp_path / "w.dcm"
    _capture_as_dicom(sample_images, bordered, SequenceOfUltrasoundRegions=whole)
    (frame,) = read(bordered)
    assert frame.calibration.flags == ("calibration_unconfirmed",)
    secondary = _capture_as_dicom(
        sample_images, tmp_path / "ot.dcm", Modality="OT", PixelSpacing=[0.2582, 0.2582]
    )
    (frame,) = read(secondary)
    assert frame.calibration.flags == ("calibration_unconfirmed",)
    assert "confirmed" in frame.calibration.note


def test_a_library_message_loses_the_path_only_where_it_stands_as_one():
    from musclethick.io.dicom import _one_line

    short = Path("1")
    assert _one_line(ValueError("Expected 128 bytes, read 1 in file 1"), short) == (
        "Expected 128 bytes, read 1"
    )
    long = Path("/data/scans/a.dcm")
    assert _one_line(OSError("cannot read '/data/scans/a.dcm': end"), long) == (
        "cannot read the file: end"
    )
    assert _one_line(OSError("in scans/a.dcm.bak"), Path("scans/a.dcm")) == "in scans/a.dcm.bak"
