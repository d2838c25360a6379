"""Coloured marks drawn into a scan (calipers, cursors, region-of-interest boxes): found by
their colour and painted out before measuring (pure).

A B-mode image is grey: its red, green and blue are equal. Marks a scanner or viewer draws
into it are often coloured (yellow calipers, a green region of interest), and in grey they
look like bright lines the model may take for an aponeurosis or let cut the belly (a
new-user trial: a yellow box inside the belly left 15 of 70 `val` captures `ok` instead of
53). Such pixels are painted out from their surroundings (OpenCV's inpainting) when they are
few, strongly coloured and the rest of the image is grey: a colour map (sepia, "hot") or a
colour-flow box is left as it is.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "MARK_MAX_SHARE",
    "MARK_MIN_CHROMA",
    "MARK_MIN_PX",
    "colour_marks",
    "paint_out",
]

#: A pixel is a coloured mark when its largest and smallest channel differ by more than this.
MARK_MIN_CHROMA = 60
#: Fewer coloured pixels than this are left as they are: a display's orientation marker (the
#: 660x556 display's yellow mark, 27-39 px in 299 captures of ``../shared``), so that a capture
#: without drawn marks is measured exactly as before.
MARK_MIN_PX = 100
#: More than this share of the image coloured is not marks (a colour-flow box, a colour map).
MARK_MAX_SHARE = 0.05
#: The rest of the image must be grey: at most this share of it more than faintly coloured
#: (chroma above :data:`_FAINT_CHROMA`), else it is a colour map (sepia, blue, "hot").
_MAX_TINTED_SHARE = 0.10
_FAINT_CHROMA = 8


def _chroma(rgb: np.ndarray) -> np.ndarray:
    """Largest minus smallest channel of each pixel (``uint8``)."""
    r, g, b = (np.ascontiguousarray(rgb[..., i]) for i in range(3))
    return cv2.max(cv2.max(cv2.absdiff(r, g), cv2.absdiff(g, b)), cv2.absdiff(r, b))


def colour_marks(rgb: np.ndarray) -> np.ndarray | None:
    """The coloured marks of an 8-bit colour image (``(rows, cols, 3|4)``, RGB order or BGR:
    the same), widened by one pixel (their blurred edges), or ``None`` when there are none to
    paint out: fewer than :data:`MARK_MIN_PX`, more than :data:`MARK_MAX_SHARE` of the image,
    or an image that is not grey around them."""
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] < 3 or a.dtype != np.uint8:
        return None
    chroma = _chroma(a)
    marks = chroma > MARK_MIN_CHROMA
    n = int(np.count_nonzero(marks))
    if n < MARK_MIN_PX or n > MARK_MAX_SHARE * marks.size:
        return None
    if np.count_nonzero(chroma > _FAINT_CHROMA) - n > _MAX_TINTED_SHARE * marks.size:
        return None
    return cv2.dilate(marks.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)


def paint_out(grey: np.ndarray, marks: np.ndarray) -> np.ndarray:
    """``grey`` (``uint8``) with the pixels of ``marks`` filled in from their surroundings
    (:func:`cv2.inpaint`, Telea, radius 3 px); a new array."""
    return cv2.inpaint(
        np.ascontiguousarray(grey, np.uint8), marks.astype(np.uint8), 3, cv2.INPAINT_TELEA
    )
