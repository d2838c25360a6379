"""The same scan captured differently: deterministic capture variants (pure numpy + OpenCV).

A lab's scans of one muscle differ in how they were captured, not in the muscle: mirrored
probes, other gain and dynamic-range settings, other screen resolutions, frame grabbers that add
black borders, JPEG exports, noisier machines. Each variant here changes a grey capture (and its
mask, for accuracy figures) the way one of those does, with fixed parameters so that figures and
tests are reproducible. ``scale_y`` says how a vertical length in px changes (thickness in px of
the variant = thickness of the original x ``scale_y``).

Used by ``bench/bench_variants.py`` and the capture-variant tests: thickness must stay within
3 % of the unmodified scan and the status must not flip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["VARIANTS", "Variant", "apply_variant"]


@dataclass(frozen=True)
class Variant:
    """A named capture change.

    Attributes
    ----------
    name : str
    describe : str
        What it imitates.
    scale_y : float
        Factor of vertical lengths in px.
    """

    name: str
    describe: str
    scale_y: float = 1.0


def _flip(grey: np.ndarray, mask: np.ndarray | None):
    return grey[:, ::-1], None if mask is None else mask[:, ::-1]


def _shift(grey: np.ndarray, mask: np.ndarray | None, px: int = 3):
    """The capture moved sideways by ``px``: its left ``px`` columns cut off."""
    return grey[:, px:], None if mask is None else mask[:, px:]


def _gain_gamma(grey: np.ndarray, mask: np.ndarray | None):
    g = grey.astype(np.float32) / 255.0
    out = np.clip(255.0 * (1.3 * g) ** 0.7, 0, 255)
    return out.astype(np.uint8), mask


def _dark(grey: np.ndarray, mask: np.ndarray | None):
    g = grey.astype(np.float32) / 255.0
    out = np.clip(255.0 * (0.75 * g) ** 1.4, 0, 255)
    return out.astype(np.uint8), mask


def _resize(grey: np.ndarray, mask: np.ndarray | None, f: float = 0.75):
    rows, cols = grey.shape
    size = (round(cols * f), round(rows * f))
    small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    m = None
    if mask is not None:
        m = cv2.resize(mask.astype(np.uint8) * 255, size, interpolation=cv2.INTER_AREA) > 127
    return small, m


def _border(grey: np.ndarray, mask: np.ndarray | None):
    rows, cols = grey.shape
    top, bottom = rows // 5, rows // 8
    left, right = cols // 4, cols // 4
    out = cv2.copyMakeBorder(grey, top, bottom, left, right, cv2.BORDER_CONSTANT, value=0)
    m = None
    if mask is not None:
        m = cv2.copyMakeBorder(
            mask.astype(np.uint8), top, bottom, left, right, cv2.BORDER_CONSTANT, value=0
        ).astype(bool)
    return out, m


def _jpeg(grey: np.ndarray, mask: np.ndarray | None):
    ok, buf = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, 40])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE), mask


def _speckle(grey: np.ndarray, mask: np.ndarray | None):
    rng = np.random.default_rng(12345)
    noise = rng.rayleigh(1.0 / np.sqrt(np.pi / 2), size=grey.shape).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 0.7)
    noise /= noise.mean()
    out = np.clip(grey.astype(np.float32) * (0.6 + 0.4 * noise), 0, 255)
    return out.astype(np.uint8), mask


VARIANTS: dict[str, tuple[Variant, Callable]] = {
    v.name: (v, f)
    for v, f in (
        (Variant("flip", "mirrored left-right (probe held the other way)"), _flip),
        (Variant("shift_3px", "moved sideways by 3 px (left 3 columns cut off)"), _shift),
        (Variant("gain_gamma", "brighter, gamma 0.7 (other gain / dynamic range)"), _gain_gamma),
        (Variant("dark", "darker, gamma 1.4 (low gain)"), _dark),
        (Variant("resize_0.75", "captured at 0.75x the resolution", 0.75), _resize),
        (
            Variant("black_border", "black border of 1/4 width and 1/5 height (frame grabber)"),
            _border,
        ),
        (Variant("jpeg_40", "JPEG-recompressed at quality 40"), _jpeg),
        (Variant("speckle", "extra multiplicative speckle noise"), _speckle),
    )
}


def apply_variant(
    name: str, grey: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Apply the capture variant ``name`` to a grey capture (and its mask).

    Parameters
    ----------
    name : str
        A key of :data:`VARIANTS`.
    grey : ndarray of uint8, shape (rows, cols)
    mask : ndarray of bool, shape (rows, cols), optional

    Returns
    -------
    grey, mask : the changed capture (C-contiguous) and mask (``None`` if not given)
    """
    if name not in VARIANTS:
        raise ValueError(f"unknown capture variant {name!r}; known: {', '.join(VARIANTS)}")
    out, m = VARIANTS[name][1](np.asarray(grey), mask)
    return np.ascontiguousarray(out), None if m is None else np.ascontiguousarray(m)
