"""Still images: formats, grey conversion, imaging region, calibration precedence."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from musclethick.errors import InputError
from musclethick.io import CalibrationOptions, FrameSelection, read
from musclethick.types import PixelBox
from ruler_reference import RULERS  # tests/ruler_reference.py: read by hand


def test_formats_agree(test_data):
    ref = np.asarray(Image.open(test_data / "images" / "muscle.tif"))
    for name in ("muscle.tif", "muscle.bmp", "muscle_16bit.tif"):
        [f] = list(read(test_data / "images" / name))
        np.testing.assert_array_equal(f.pixels, ref)
        assert f.region == PixelBox(0, 0, 256, 256)
    [jpg] = list(read(test_data / "images" / "muscle.jpg"))
    assert np.abs(jpg.pixels.astype(int) - ref).mean() < 3
    [rgb] = list(read(test_data / "images" / "muscle_rgb.png"))
    expected = np.rint(ref * (0.299 + 0.587) + (ref * 0.8).astype(np.uint8) * 0.114)
    assert np.abs(rgb.pixels.astype(int) - expected).max() <= 1


def test_capture_cropped_and_ruler_calibrated(sample_images):
    [f] = list(read(sample_images / "dltrack_800x652_img_00037.png"))
    assert f.calibration.source == "ruler"
    reference = RULERS["dltrack_800x652_img_00037.png"]  # read by hand, tests/ruler_reference.py
    assert f.calibration.mm_per_px == pytest.approx(
        reference.mm_per_px, rel=reference.rel_tolerance
    )
    assert f.original_shape == (652, 800)
    r = f.region
    assert abs(r.x0 - 104) <= 4 and abs(r.y0 - 130) <= 4 and abs(r.x1 - 543) <= 4


def test_precedence_user_depth_ruler(sample_images):
    path = sample_images / "dltrack_telemed_660x556_img_00309.png"
    [f] = list(read(path, calibration=CalibrationOptions(mm_per_px=0.2)))
    assert f.calibration.source == "user" and f.calibration.mm_per_px == 0.2
    # the capture's own ruler, read and confirmed, contradicts 0.2: used, but flagged
    reference = RULERS["dltrack_telemed_660x556_img_00309.png"]
    assert f.calibration.flags == ("calibration_unconfirmed",)
    assert "--mm-per-px gives 0.2 mm/px but the depth ruler on the image gives" in (
        f.calibration.note
    )
    [f] = list(read(path, calibration=CalibrationOptions(mm_per_px=reference.mm_per_px)))
    assert f.calibration.is_confirmed  # the ruler's own value: nothing to doubt
    [f] = list(read(path, calibration=CalibrationOptions(mm_per_px=0.2, use_ruler=False)))
    assert f.calibration.is_confirmed  # ruler reading switched off: nothing to compare with
    [f] = list(read(path, calibration=CalibrationOptions(depth_mm=60.0)))
    assert f.calibration.source == "depth"
    assert f.calibration.mm_per_px == pytest.approx(60.0 / f.region.height)
    [f] = list(read(path, calibration=CalibrationOptions(use_ruler=False)))
    assert not f.calibration.is_calibrated and "disabled" in f.calibration.note


def test_bare_image_uncalibrated(sample_images):
    [f] = list(read(sample_images / "dltrack_512x512_img_00053.png"))
    assert not f.calibration.is_calibrated and f.region == PixelBox(0, 0, 512, 512)
    assert "px only" in f.calibration.note


def test_not_an_image(test_data):
    with pytest.raises(InputError, match=r"not_an_image\.png.*not an image"):
        read(test_data / "images" / "not_an_image.png")


def test_truncated_png(sample_images, tmp_path):
    data = (sample_images / "dltrack_512x512_img_00053.png").read_bytes()
    bad = tmp_path / "cut.png"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.png: corrupt or truncated .*: copy or export"):
        list(read(bad))


def test_multipage_tiff_pages_are_frames(test_data, tmp_path):
    ref = Image.open(test_data / "images" / "muscle.tif")
    pages = [ref, ref.transpose(Image.Transpose.FLIP_LEFT_RIGHT), ref.rotate(180)]
    path = tmp_path / "stack.tiff"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    frames = list(read(path, frames=FrameSelection.parse("1-2")))
    assert [f.frame_index for f in frames] == [1, 2]
    np.testing.assert_array_equal(frames[0].pixels, np.asarray(pages[1]))
    np.testing.assert_array_equal(frames[1].pixels, np.asarray(pages[2]))
    assert frames[0].metadata.n_frames == 3


# --- a display is read once per process ----------------------------------------------------


@pytest.fixture
def ruler_reads(monkeypatch):
    """The captures whose ruler was really read (the real reader, counted)."""
    from musclethick.io import image as image_module

    image_module.SEEN_DISPLAYS.clear()
    calls = []
    real = image_module.read_ruler

    def counted(grey, **kwargs):
        calls.append(grey.shape)
        return real(grey, **kwargs)

    monkeypatch.setattr(image_module, "read_ruler", counted)
    yield calls
    image_module.SEEN_DISPLAYS.clear()


def test_a_display_already_read_is_not_read_again(sample_images, tmp_path, ruler_reads):
    path = sample_images / "dltrack_telemed_660x556_img_00309.png"
    [first] = list(read(path))
    # the same display in another file, re-encoded (JPEG: every edge a little different)
    Image.open(path).convert("L").save(tmp_path / "again.jpg", quality=92)
    [second] = list(read(tmp_path / "again.jpg"))
    assert len(ruler_reads) == 1
    assert second.calibration == first.calibration
    assert second.calibration.source == "ruler"


def test_another_display_is_read(sample_images, tmp_path, ruler_reads):
    path = sample_images / "dltrack_telemed_660x556_img_00309.png"
    list(read(path))
    grey = np.asarray(Image.open(path).convert("L")).copy()
    [f] = list(read(path))
    # the ruler column moved down by 3 rows: another display (another depth)
    t = f.region
    right = grey[:, t.x1 :].copy()
    grey[:, t.x1 :] = np.roll(right, 3, axis=0)
    left = grey[:, : t.x0].copy()
    grey[:, : t.x0] = np.roll(left, 3, axis=0)
    Image.fromarray(grey).save(tmp_path / "other.png")
    list(read(tmp_path / "other.png"))
    assert len(ruler_reads) == 2


def test_a_reading_made_without_ocr_is_not_reused_with_it(sample_images, ruler_reads):
    path = sample_images / "dltrack_telemed_660x556_img_00309.png"
    [plain] = list(read(path, calibration=CalibrationOptions(ocr=False)))
    list(read(path))
    assert len(ruler_reads) == 2
    assert "calibration_unconfirmed" in plain.calibration.flags


def test_grey_alpha_gif_webp_and_exif_orientation_read_as_shown(test_data, tmp_path):
    """Formats a lab may export: grey + alpha PNG, GIF and WebP (Pillow reads them), and a
    JPEG whose EXIF orientation turns it (every viewer shows it turned: measured as shown)."""
    ref = np.asarray(Image.open(test_data / "images" / "muscle.tif"))
    alpha = np.full(ref.shape, 255, np.uint8)
    Image.fromarray(np.dstack([ref, alpha]), "LA").save(tmp_path / "la.png")
    Image.fromarray(ref).save(tmp_path / "muscle.gif")
    Image.fromarray(ref).save(tmp_path / "muscle.webp", lossless=True)
    for name in ("la.png", "muscle.gif", "muscle.webp"):
        [f] = list(read(tmp_path / name))
        np.testing.assert_array_equal(f.pixels, ref)
    # stored turned a quarter clockwise, with orientation 6 ("rotate 90 CW to show")
    stored = np.ascontiguousarray(np.rot90(ref, k=1))
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "turned.jpg", exif=exif, quality=98)
    [f] = list(read(tmp_path / "turned.jpg"))
    assert f.pixels.shape == ref.shape
    assert np.abs(f.pixels.astype(int) - ref).mean() < 3
    # a folder lists them too
    from musclethick.io import find_inputs

    assert {p.name for p in find_inputs([tmp_path])} == {
        "la.png",
        "muscle.gif",
        "muscle.webp",
        "turned.jpg",
    }


def _with_sbit(png: bytes, bits: int) -> bytes:
    """The PNG with an ``sBIT`` chunk (grey: one byte) inserted after ``IHDR``."""
    import struct
    import zlib

    ihdr_end = 8 + 12 + int.from_bytes(png[8:12], "big")
    body = b"sBIT" + bytes([bits])
    chunk = struct.pack(">I", 1) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def test_sixteen_bit_png_of_twelve_bit_data_keeps_the_echo_intensity(test_data, tmp_path):
    """A scanner's 16-bit export of 12-bit data (0-4095) reads as the 8-bit capture, with or
    without the ``sBIT`` chunk that states the depth; a stated depth of 16 bits is obeyed, and
    full-range 16-bit data is scaled by 65535 (the grey levels, hence the echo intensity,
    within one level of the 8-bit capture's)."""
    import io

    ref = np.asarray(Image.open(test_data / "images" / "muscle.tif"))
    twelve = np.rint(ref.astype(np.float64) * 4095 / 255).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(twelve).save(buf, format="PNG")
    plain = buf.getvalue()
    assert Image.open(io.BytesIO(plain)).mode.startswith("I;16")
    (tmp_path / "twelve.png").write_bytes(plain)
    (tmp_path / "twelve_sbit.png").write_bytes(_with_sbit(plain, 12))
    (tmp_path / "twelve_said_16.png").write_bytes(_with_sbit(plain, 16))
    full = np.rint(ref.astype(np.float64) * 65535 / 255).astype(np.uint16)
    Image.fromarray(full).save(tmp_path / "full.png")
    for name in ("twelve.png", "twelve_sbit.png", "full.png"):
        [f] = list(read(tmp_path / name))
        assert np.abs(f.pixels.astype(int) - ref).max() <= 1, name
    [said] = list(read(tmp_path / "twelve_said_16.png"))
    assert said.pixels.max() <= 16  # the file says 16 bits: 4095 / 65535 x 255
    # the same with an EXIF turn: the depth is read from the file, not the turned copy
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(twelve).save(buf, format="PNG", exif=exif)
    (tmp_path / "turned_said_16.png").write_bytes(_with_sbit(buf.getvalue(), 16))
    [turned] = list(read(tmp_path / "turned_said_16.png"))
    assert turned.pixels.shape == ref.shape[::-1]
    assert turned.pixels.max() <= 16
