"""Screen layouts a lab's captures come in, built from the committed sample captures."""

from __future__ import annotations

import numpy as np
from PIL import Image

from musclethick.region import find_imaging_region

CAPTURES = (
    "dltrack_512x512_img_00053.png",
    "dltrack_800x600_img_00002.png",
    "dltrack_800x652_img_00037.png",
    "dltrack_telemed_1234x688_img_00005.png",
    "dltrack_telemed_660x556_img_00309.png",
)


def image_of(sample_images, name: str) -> np.ndarray:
    grey = np.asarray(Image.open(sample_images / name).convert("L"))
    return grey[find_imaging_region(grey).slices()]


def dual_view(left: np.ndarray, right: np.ndarray, gap: int, bar: int | None = None):
    """A scanner display with two images side by side (the right one scaled to the left's
    height), a title bar, and ``gap`` columns between them (display background, or a panel of
    grey ``bar``); returns the capture and the seam's column in it."""
    import cv2

    width = round(right.shape[1] * left.shape[0] / right.shape[0])
    right = cv2.resize(right, (width, left.shape[0]), interpolation=cv2.INTER_AREA)
    rows, top, margin = left.shape[0] + 100, 70, 30
    cap = np.full((rows, margin + left.shape[1] + gap + width + margin), 16, np.uint8)
    cap[:40] = 60
    cap[top : top + left.shape[0], margin : margin + left.shape[1]] = left
    x = margin + left.shape[1]
    if bar is not None:
        cap[40:, x : x + gap] = bar
    cap[top : top + left.shape[0], x + gap : x + gap + width] = right
    return cap, x + gap // 2


#: Grey maps some scanners display B-mode through (per-channel gains of the grey level).
TINTS = {"sepia": (1.0, 0.85, 0.6), "blue": (0.7, 0.85, 1.0)}


def tinted(capture: np.ndarray, tint: str) -> np.ndarray:
    """The capture shown through a colour map (RGB), as Siemens, Esaote and Mindray displays
    show B-mode."""
    gains = np.asarray(TINTS[tint], np.float32)
    return np.clip(capture[..., None].astype(np.float32) * gains, 0, 255).astype(np.uint8)


def phone_screenshot(capture: np.ndarray, width: int = 1170, height: int = 2532):
    """A handheld probe's app screenshot: a portrait canvas in dark grey, white status and
    title bars with text, the capture scaled to the screen's width, coloured buttons and a
    white text bar below it. Returns the screenshot (RGB) and the capture's scale and box
    ``(x0, y0, x1, y1)`` in it."""
    import cv2

    scale = width / capture.shape[1]
    scan = cv2.resize(capture, (width, round(capture.shape[0] * scale)), cv2.INTER_LINEAR)
    shot = np.full((height, width, 3), 38, np.uint8)
    shot[:140] = 250
    cv2.putText(shot, "9:41   MSK  Linear  L7", (40, 100), cv2.FONT_HERSHEY_SIMPLEX, 2.0,
                (20, 20, 20), 4)  # fmt: skip
    y0 = 420
    shot[y0 : y0 + scan.shape[0]] = scan[..., None]
    below = y0 + scan.shape[0] + 80
    for i, colour in enumerate(((0, 122, 255), (52, 199, 89), (255, 59, 48))):
        cv2.circle(shot, (200 + 385 * i, below + 120), 90, colour, -1)
    shot[below + 300 : below + 420] = 245
    cv2.putText(shot, "Gain 52  Depth 4 cm  Freq 10 MHz", (40, below + 380),
                cv2.FONT_HERSHEY_SIMPLEX, 1.6, (30, 30, 30), 3)  # fmt: skip
    return shot, scale, (0, y0, width, y0 + scan.shape[0])
