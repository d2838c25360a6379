"""The one pixel conversion (musclethick.io.to_grey_uint8): its rules on tiny arrays."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from musclethick.errors import InputError
from musclethick.io import to_grey_uint8
from musclethick.region import find_imaging_region
from musclethick.types import Frame


def test_uint8_grey_passes_through_without_a_copy():
    a = np.array([[0, 7], [128, 255]], np.uint8)
    assert to_grey_uint8(a) is a


@pytest.mark.parametrize(
    ("pixels", "expected"),
    [
        (np.array([[False, True]]), [[0, 255]]),
        (np.array([[0.0, 0.5, 1.0, 0.25]]), [[0, 128, 255, 64]]),  # x 255, rounded
        (np.array([[0.0, 1.5, 254.6]], np.float32), [[0, 2, 255]]),  # [0, 255]: as is
        (np.array([[0, 200, 255]], np.int64), [[0, 200, 255]]),  # 8-bit values, wide type
        (np.array([[0, 19]], np.uint16), [[0, 19]]),
        (np.array([[0, 257, 32896, 65535]], np.uint16), [[0, 1, 128, 255]]),  # x 255 / 65535
    ],
)
def test_rules_without_a_stated_white_level(pixels, expected):
    out = to_grey_uint8(pixels)
    assert out.dtype == np.uint8
    assert out.tolist() == expected


def test_stated_white_level_scales_any_dtype():
    twelve_bit = np.array([[0, 819, 4095]], np.uint16)  # 819 / 4095 * 255 = 51.0
    assert to_grey_uint8(twelve_bit, max_value=4095).tolist() == [[0, 51, 255]]
    assert to_grey_uint8(np.array([[2.0, 4.0]]), max_value=4.0).tolist() == [[128, 255]]


def test_colour_is_bt601_luminance_of_the_scaled_values():
    rgb = np.zeros((1, 3, 3))
    rgb[0, 0] = (1.0, 0.0, 0.0)
    rgb[0, 1] = (0.0, 1.0, 0.0)
    rgb[0, 2] = (0.0, 0.0, 1.0)
    # 0.299 * 255 = 76.2, 0.587 * 255 = 149.7, 0.114 * 255 = 29.1
    assert to_grey_uint8(rgb).tolist() == [[76, 150, 29]]
    rgba = np.concatenate([rgb * 255, np.zeros((1, 3, 1))], axis=2).astype(np.uint8)
    assert np.abs(to_grey_uint8(rgba).astype(int) - [[76, 150, 29]]).max() <= 1


@pytest.mark.parametrize(
    ("pixels", "match"),
    [
        (np.array([[-0.5, 0.5]]), "values -0.5 to 0.5: rescale it"),
        (np.array([[0.0, 256.0]]), "values 0 to 256: rescale it"),
        (np.array([[0.0, np.inf]]), "NaN or infinite"),
        (np.array([[0, 70000]], np.int32), r"max_value="),
        (np.array([[-1, 5]], np.int16), r"max_value="),
        (np.array([["a", "b"]]), "dtype"),
    ],
)
def test_values_without_a_rule_are_refused(pixels, match):
    with pytest.raises(InputError, match=match):
        to_grey_uint8(pixels)


def test_frame_converts_through_the_same_rules():
    frame = Frame(np.array([[0.0, 0.5], [1.0, 0.25]]), "x.png")
    assert frame.pixels.dtype == np.uint8
    assert frame.pixels.tolist() == [[0, 128], [255, 64]]
    same = np.array([[0, 128], [255, 64]], np.uint8)
    assert Frame(same, "x.png").pixels is same


def test_region_of_a_float_capture_is_that_of_the_uint8_capture(sample_images):
    grey = np.asarray(Image.open(sample_images / "dltrack_800x652_img_00037.png").convert("L"))
    box = find_imaging_region(grey)
    assert box.width < grey.shape[1]  # a display around the image
    assert find_imaging_region(grey / 255.0) == box
    assert find_imaging_region(grey.astype(np.uint16) * 257) == box


def test_uint16_that_fits_in_twelve_bits_is_twelve_bit_data():
    """Values 256-4095 in a 16-bit array are 12-bit data (x 255 / 4095); one value above 4095
    makes it 16-bit data; values up to 255 stay 8-bit levels."""
    assert to_grey_uint8(np.array([[0, 819, 4095]], np.uint16)).tolist() == [[0, 51, 255]]
    assert to_grey_uint8(np.array([[0, 819, 4096]], np.uint16)).tolist() == [[0, 3, 16]]
    assert to_grey_uint8(np.array([[0, 100, 255]], np.uint16)).tolist() == [[0, 100, 255]]
