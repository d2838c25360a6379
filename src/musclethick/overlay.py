"""Overlay images of a measured frame (OpenCV drawing).

:func:`render_overlay` is pure (array in, array out); :func:`write_overlay` writes it as a
PNG. Colours (BGR is converted to RGB on return): superficial boundary cyan, deep
boundary orange, measurement lines yellow, status text green (ok) / orange (flagged) /
red (failed); with architecture, the fascicles found light green and the fascicle-length
line magenta (its part inside the image), with the pennation angle and fascicle length
in the header, a strip above the frame.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from .errors import InputError
from .types import Boundary, Frame, FrameResult, PixelBox

__all__ = [
    "overlay_name",
    "render_calibration_overlay",
    "render_overlay",
    "write_overlay",
    "write_png",
]

# RGB
_SUPERFICIAL = (0, 220, 255)
_DEEP = (255, 150, 0)
_LINE = (255, 240, 0)
_STATUS = {"ok": (60, 220, 60), "flagged": (255, 160, 0), "failed": (255, 60, 60)}
_FASCICLE = (120, 255, 120)
_FASCICLE_LINE = (255, 60, 255)


def _polyline(
    img: np.ndarray, boundary: Boundary, colour: tuple[int, int, int], thick: int
) -> None:
    pts = np.stack([boundary.x_px, boundary.y_px], axis=1)
    pts = np.round(pts * 16).astype(np.int32)  # 4 bits of sub-pixel precision
    cv2.polylines(img, [pts], False, colour, thick, cv2.LINE_AA, shift=4)


def _text(img: np.ndarray, text: str, org: tuple[int, int], colour, scale: float) -> None:
    thick = max(1, round(scale * 2))
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)


def render_overlay(frame: Frame, result: FrameResult) -> np.ndarray:
    """Frame with boundaries, measurement lines, values and status drawn on it.

    Parameters
    ----------
    frame : Frame
        The measured frame (its pixels are drawn on; not modified).
    result : FrameResult
        Result of :func:`musclethick.measure.assemble_result` for ``frame``.

    Returns
    -------
    ndarray of uint8, shape (header + rows, cols, 3)
        RGB image: a dark strip with the status, mean thickness, confidence, flags (and
        architecture) above the frame, so that no text covers it. Thickness values are in mm
        when calibrated, px otherwise. A convex probe's fan is drawn as it was measured, as
        its beam view, and a line above it says so.
    """
    pixels = np.asarray(frame.pixels)
    if pixels.dtype != np.uint8:
        pixels = np.clip(pixels, 0, 255).astype(np.uint8)
    img = np.ascontiguousarray(np.repeat(pixels[:, :, None], 3, axis=2))
    rows, cols = pixels.shape
    scale = float(np.clip(min(rows, cols) / 700.0, 0.35, 1.2))
    thick = max(1, round(min(rows, cols) / 350))
    if result.superficial is not None:
        _polyline(img, result.superficial, _SUPERFICIAL, thick)
    if result.deep is not None:
        _polyline(img, result.deep, _DEEP, thick)
    if result.architecture is not None:
        _draw_architecture(img, result.architecture, thick)
    calibrated = result.calibration.is_calibrated
    for line in result.lines:
        if line.line == "mean":
            continue
        p0 = (round(line.x_px * 16), round(line.y_superficial_px * 16))
        p1 = (round(line.x_px * 16), round(line.y_deep_px * 16))
        cv2.line(img, p0, p1, _LINE, thick, cv2.LINE_AA, shift=4)
        value = (
            f"{line.thickness_mm:.1f} mm"
            if calibrated and line.thickness_mm is not None
            else f"{line.thickness_px:.0f} px"
        )
        y_text = round(0.5 * (line.y_superficial_px + line.y_deep_px))
        x_text = int(min(max(line.x_px + 4, 0), max(cols - 60 * scale, 0)))
        _text(img, value, (x_text, y_text), _LINE, scale * 0.8)
    status = result.status
    mean = result.mean_thickness_mm if calibrated else result.mean_thickness_px
    header = status
    if mean is not None:
        header += f"  mean {mean:.1f} {'mm' if calibrated else 'px'}"
    header += f"  conf {result.confidence:.2f}"
    colour = _STATUS.get(status, (255, 255, 255))
    texts = [(header, colour, scale)]
    detail = ", ".join(result.flags) if result.flags else ""
    if status == "failed" and result.message:
        detail = result.message
    if detail:
        texts.append((detail[:120], colour, scale * 0.7))
    if result.fan is not None:  # what is shown is not the capture's picture of it
        texts.append(("convex fan: its beams side by side", (200, 200, 200), scale * 0.7))
    if frame.marks_px:  # the picture is the capture with its coloured marks painted out
        texts.append(("coloured marks painted out", (200, 200, 200), scale * 0.7))
    if result.turned:  # the picture is the capture turned upright, as asked
        texts.append(("turned upright (--upside-down)", (200, 200, 200), scale * 0.7))
    if result.architecture is not None:
        from .architecture import architecture_text  # only with architecture (scipy)

        texts.append((architecture_text(result.architecture), _FASCICLE_LINE, scale * 0.8))
    # the text goes in a strip above the frame, never over it: the superficial aponeurosis
    # often lies in the top rows
    line_h = round(28 * scale) + 4
    strip = np.full((line_h * len(texts) + round(8 * scale), cols, 3), 24, np.uint8)
    for i, (text, text_colour, text_scale) in enumerate(texts):
        _text(strip, text, (5, (i + 1) * line_h), text_colour, text_scale)
    return np.ascontiguousarray(np.concatenate([strip, img], axis=0))


def _draw_architecture(img: np.ndarray, architecture, thick: int) -> None:
    """Fascicle segments and the fascicle-length line (its part inside the image)."""
    rows, cols = img.shape[:2]
    for f in architecture.fascicles:
        p0 = (round(f.x0_px * 16), round(f.y0_px * 16))
        p1 = (round(f.x1_px * 16), round(f.y1_px * 16))
        cv2.line(img, p0, p1, _FASCICLE, max(1, thick - 1), cv2.LINE_AA, shift=4)
    if architecture.line is None:
        return
    xs, ys, xd, yd = architecture.line
    inside, a, b = cv2.clipLine((0, 0, cols, rows), (round(xs), round(ys)), (round(xd), round(yd)))
    if inside:
        cv2.line(img, a, b, _FASCICLE_LINE, thick + 1, cv2.LINE_AA)


def write_overlay(path: str | Path, frame: Frame, result: FrameResult) -> Path:
    """Render the overlay of ``result`` on ``frame`` and write it as a PNG.

    Parameters
    ----------
    path : str or Path
        Output file (``.png`` is appended when it has another suffix); parent folders
        are created.
    frame, result
        As in :func:`render_overlay`.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    InputError
        When the file cannot be written.
    """
    out = Path(path)
    if out.suffix.lower() != ".png":
        out = out.with_name(out.name + ".png")
    out.parent.mkdir(parents=True, exist_ok=True)
    rgb = render_overlay(frame, result)
    ok = cv2.imwrite(str(out), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"{out}: cannot write the overlay PNG")
    return out


def render_calibration_overlay(
    grey: np.ndarray,
    *,
    box: PixelBox,
    mm_per_px: float | None,
    lines: list[str],
    reading=None,
    ok: bool = True,
) -> np.ndarray:
    """The whole capture with what calibrated it, for a person to check (pure).

    The imaging area is outlined green, the ruler's ticks marked cyan and the numbers read
    boxed yellow (with the text read). A red scale of 10 mm marks is drawn beside the ruler
    from its first tick (or the top of the image) at ``mm_per_px``: with a right calibration
    every red mark sits on a tick of the display's own ruler. ``lines`` are printed at the
    top (green when ``ok``, orange otherwise).

    Returns
    -------
    ndarray of uint8, shape (rows, cols, 3)
        RGB.
    """
    img = cv2.cvtColor(np.asarray(grey, dtype=np.uint8), cv2.COLOR_GRAY2RGB)
    cv2.rectangle(img, (box.x0, box.y0), (box.x1 - 1, box.y1 - 1), (60, 220, 60), 1)
    x_scale = box.x1 + 4 if box.x1 + 20 < img.shape[1] else max(0, box.x0 - 16)
    y_start = float(box.y0)
    if reading is not None:
        t = reading.ticks
        for y in t.tick_y_px:
            cv2.line(img, (t.x0 - 3, round(y)), (t.x1 + 2, round(y)), (0, 220, 255), 1)
        for word_box, text in reading.words:
            cv2.rectangle(
                img,
                (word_box.x0 - 1, word_box.y0 - 1),
                (word_box.x1, word_box.y1),
                (255, 240, 0),
                1,
            )
            _text(img, text, (word_box.x1 + 2, word_box.y1), (255, 240, 0), 0.35)
        x_scale = t.x1 + 6 if t.x1 + 20 < img.shape[1] else max(0, t.x0 - 16)
        y_start = float(t.tick_y_px[0])
    if mm_per_px:
        step = 10.0 / mm_per_px
        y_end = min(img.shape[0] - 1, box.y1)
        cv2.line(img, (x_scale + 5, round(y_start)), (x_scale + 5, y_end), (255, 60, 60), 1)
        k = 0
        while y_start + k * step <= y_end:
            y = round(y_start + k * step)
            cv2.line(img, (x_scale, y), (x_scale + 10, y), (255, 60, 60), 2)
            _text(img, f"{10 * k}", (x_scale + 12, y + 4), (255, 60, 60), 0.35)
            k += 1
    colour = (60, 220, 60) if ok else (255, 160, 0)
    for i, line in enumerate(lines):
        _text(img, line, (6, 16 + 16 * i), colour, 0.42)
    return img


def write_png(path: str | Path, rgb: np.ndarray) -> None:
    """Write an RGB array as a PNG (:class:`InputError` naming the file on failure)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise InputError(f"{path}: cannot write the PNG")


def overlay_name(relative: PurePosixPath, frame_index: int, region_index: int) -> PurePosixPath:
    """Name of the overlay of one frame: the input's relative path, frame and region.

    ``a/scan.png``, frame 3, region 0 -> ``a/scan.png_f0003_r0.png``: unique for every input,
    frame and tissue region, and it names the input it belongs to (and folders of inputs skip
    it: :data:`musclethick.io._suffixes.OVERLAY_FILE`).
    """
    return relative.parent / f"{relative.name}_f{frame_index:04d}_r{region_index}.png"
