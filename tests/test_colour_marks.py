"""Coloured marks drawn into a scan are painted out before measuring; grey scans and colour
maps are left as they are."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from musclethick.colour_marks import MARK_MIN_PX, colour_marks, paint_out


def _speckle(rows: int = 200, cols: int = 300, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.gamma(2.0, 30.0, size=(rows, cols)).clip(0, 255).astype(np.uint8)


def test_a_yellow_box_on_a_grey_scan_is_found_and_painted_out():
    grey = _speckle()
    rgb = np.stack([grey] * 3, axis=-1)
    cv2.rectangle(rgb, (60, 50), (240, 150), (255, 255, 0), 2)
    marks = colour_marks(rgb)
    assert marks is not None
    drawn = np.zeros(grey.shape, np.uint8)
    cv2.rectangle(drawn, (60, 50), (240, 150), 1, 2)
    assert marks[drawn > 0].all()  # every drawn pixel, and its 1-px rim
    assert marks.sum() <= 3 * drawn.sum()
    shown = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    painted = paint_out(shown, marks)
    assert np.array_equal(painted[~marks], shown[~marks])  # nothing else changes
    # the bright yellow line is gone: the painted pixels look like the speckle around them
    assert abs(float(painted[drawn > 0].mean()) - float(grey.mean())) < 25
    assert float(shown[drawn > 0].mean()) > 200


def test_what_is_left_as_it_is():
    grey = _speckle()
    rgb = np.stack([grey] * 3, axis=-1)
    assert colour_marks(rgb) is None  # a grey scan stored as colour
    assert colour_marks(grey) is None  # a grey array
    small = rgb.copy()
    small[10:15, 10:15] = (255, 255, 0)  # a display's small marker
    assert np.count_nonzero(small[..., 2] == 0) < MARK_MIN_PX
    assert colour_marks(small) is None
    block = rgb.copy()
    block[40:160, 50:250] = (200, 40, 40)  # a colour-flow box: far more than marks
    assert colour_marks(block) is None
    lut = cv2.applyColorMap(grey, cv2.COLORMAP_HOT)  # a colour map over the whole scan
    lut[50:52, 60:240] = (0, 255, 255)
    assert colour_marks(lut) is None


def test_a_scan_with_a_coloured_box_is_measured_as_without_it(test_data: Path, tmp_path: Path):
    """A real capture with a yellow region-of-interest box drawn inside the belly: measured
    as an array and as a PNG file, its status and thickness are those of the capture without
    the box (within 1 %), and its message says the marks were painted out."""
    import musclethick

    grey = np.asarray(Image.open(test_data / "images" / "upright_00440.png").convert("L"))
    clean = musclethick.measure_image(grey, 0.1)
    assert clean.status == "ok"
    top = int(np.median(clean.superficial.y_px))
    bottom = int(np.median(clean.deep.y_px))
    cols = grey.shape[1]
    rgb = np.stack([grey] * 3, axis=-1)
    y0, y1 = top + (bottom - top) // 4, bottom - (bottom - top) // 4
    cv2.rectangle(rgb, (int(0.2 * cols), y0), (int(0.8 * cols), y1), (255, 255, 0), 2)
    boxed = musclethick.measure_image(rgb, 0.1)
    assert boxed.status == clean.status
    assert boxed.mean_thickness_mm == pytest.approx(clean.mean_thickness_mm, rel=0.01)
    assert "coloured marks painted out before measuring" in boxed.message
    Image.fromarray(rgb).save(tmp_path / "boxed.png")
    [from_file] = musclethick.measure_file(tmp_path / "boxed.png", 0.1)
    assert from_file.status == clean.status
    assert from_file.mean_thickness_mm == pytest.approx(clean.mean_thickness_mm, rel=0.01)
    assert "painted out" in from_file.message
    assert "painted out" not in clean.message


def test_a_colour_dicom_with_a_burned_in_box_is_measured_as_without_it(
    test_data: Path, tmp_path: Path
):
    """An RGB ultrasound DICOM whose pixels carry a yellow box (burned in by the scanner):
    painted out as in an image file, the same status and thickness as the clean capture."""
    import musclethick
    from dicom_files import rgb_us_dicom  # tests/dicom_files.py

    grey = np.asarray(Image.open(test_data / "images" / "upright_00440.png").convert("L"))
    clean = musclethick.measure_image(grey, 0.1)
    top, bottom = int(np.median(clean.superficial.y_px)), int(np.median(clean.deep.y_px))
    rgb = np.stack([grey] * 3, axis=-1).copy()
    cols = grey.shape[1]
    y0, y1 = top + (bottom - top) // 4, bottom - (bottom - top) // 4
    cv2.rectangle(rgb, (int(0.2 * cols), y0), (int(0.8 * cols), y1), (255, 255, 0), 2)
    rgb_us_dicom(tmp_path / "boxed.dcm", rgb)
    [result] = musclethick.measure_file(tmp_path / "boxed.dcm", 0.1)
    assert "painted out" in result.message
    assert result.status == clean.status
    assert result.mean_thickness_mm == pytest.approx(clean.mean_thickness_mm, rel=0.01)
