"""Tests of musclethick.overlay."""

from __future__ import annotations

import cv2
import numpy as np

from musclethick.measure import assemble_result
from musclethick.overlay import render_overlay, write_overlay
from musclethick.types import Boundary, Calibration, Frame


def _frame_and_result(calibration=None, deep=True):
    pixels = np.full((120, 200), 50, dtype=np.uint8)
    frame = Frame(pixels, "scan.png", calibration=calibration or Calibration.uncalibrated())
    x = np.arange(200.0)
    sup = Boundary(x, np.full(200, 30.0), "edges", 0.9)
    dp = Boundary(x, np.full(200, 90.0), "edges", 0.9) if deep else None
    return frame, assemble_result(frame, sup, dp, method="edges")


def test_a_frame_turned_upright_says_so_above_the_picture():
    """A frame measured turned upright (``--upside-down``) shows the turned picture, with a
    line of text saying so: one text line more than the same result as captured."""
    from dataclasses import replace

    frame, result = _frame_and_result(Calibration.isotropic(0.1, "user"))
    plain = render_overlay(frame, result)
    turned = render_overlay(replace(frame, turned=True), replace(result, turned=True))
    assert turned.shape[0] > plain.shape[0] and turned.shape[1:] == plain.shape[1:]
    assert np.array_equal(turned[-120:], plain[-120:])  # the picture itself is the same
    strip = turned[: turned.shape[0] - 120]
    assert strip[plain.shape[0] - 120 :].max() > 100  # the added line has text


def test_render_draws_boundaries_and_lines_in_colour():
    frame, result = _frame_and_result(Calibration.isotropic(0.1, "user"))
    overlay = render_overlay(frame, result)
    header = overlay.shape[0] - 120  # the text's strip above the frame
    assert header > 0 and overlay.shape[1:] == (200, 3) and overlay.dtype == np.uint8
    assert overlay[:header].max() > 100  # the status text is in it
    img = overlay[header:]
    assert np.array_equal(frame.pixels, np.full((120, 200), 50))  # input untouched
    # no text over the frame: its top rows (where a superficial aponeurosis often lies) away
    # from the boundaries are the frame's own grey
    assert np.all(img[0:25, :] == 50)
    # superficial boundary row 30 is coloured (not grey) at a column without text
    px = img[30, 10].astype(int)
    assert px.max() - px.min() > 50
    # the 50 % measurement line (x ~ 99.5) is drawn between the boundaries
    column = img[40:80, 99:101].astype(int)
    assert (column.max(axis=2) - column.min(axis=2)).max() > 50
    # the grey background far from drawings stays grey
    assert np.all(img[110, 180] == 50)


def test_failed_result_still_renders_and_writes(tmp_path):
    frame, result = _frame_and_result(deep=False)
    assert result.status == "failed"
    img = render_overlay(frame, result)
    assert img.shape[0] > 120 and img.shape[1:] == (200, 3)
    out = write_overlay(tmp_path / "sub" / "overlay", frame, result)
    assert out.suffix == ".png" and out.is_file()
    back = cv2.imread(str(out), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(back[:, :, ::-1], img)


def test_overlay_names_say_which_input_frame_and_region():
    from pathlib import PurePosixPath

    from musclethick.overlay import overlay_name

    assert overlay_name(PurePosixPath("a/scan.png"), 3, 1) == PurePosixPath(
        "a/scan.png_f0003_r1.png"
    )
    names = {
        overlay_name(PurePosixPath(p), f, 0)
        for p in ("a/scan.png", "b/scan.png", "a/scan.dcm")
        for f in (0, 1)
    }
    assert len(names) == 6
