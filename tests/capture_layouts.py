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
