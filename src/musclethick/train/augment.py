"""Seeded augmentation of (image, band mask) pairs, pure numpy + OpenCV.

Every random choice is drawn from the :class:`numpy.random.Generator` passed in, so a run with
the same seed sees the same augmented samples.

The augmentations imitate what differs between scanners, settings and screen captures:

* depth crops and depth scaling: the muscle fills from a third up to nine tenths of the image
  depth, deep tissue below it is padded with attenuated speckle;
* width crops and horizontal flips;
* gain, contrast, gamma and a depth-dependent gain ramp (time-gain compensation) that makes
  deep aponeuroses faint;
* multiplicative speckle noise and blur;
* scanner-display borders around the image with rulers, tick marks and text, and small text
  inside the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["AugmentOptions", "augment_pair", "resize_pair"]


@dataclass(frozen=True)
class AugmentOptions:
    """Probabilities and ranges of the augmentations (defaults used for the shipped model)."""

    p_depth: float = 0.7
    depth_fill_range: tuple[float, float] = (0.33, 0.9)
    p_width_crop: float = 0.5
    min_width_fraction: float = 0.6
    p_flip: float = 0.5
    gain_range: tuple[float, float] = (0.6, 1.4)
    gamma_range: tuple[float, float] = (0.6, 1.6)
    p_tgc: float = 0.5
    p_speckle: float = 0.5
    p_blur: float = 0.4
    p_border: float = 0.35
    p_text: float = 0.3


def resize_pair(
    image: np.ndarray, target: np.ndarray, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Resize image (area) and target (linear) to ``shape`` ``(rows, cols)``."""
    size = (int(shape[1]), int(shape[0]))
    interp = cv2.INTER_AREA if image.shape[0] >= shape[0] else cv2.INTER_LINEAR
    img = cv2.resize(image, size, interpolation=interp)
    tgt = cv2.resize(target, size, interpolation=interp)
    if tgt.ndim == 2 and target.ndim == 3:
        tgt = tgt[..., None]
    return img, tgt


def _band_rows(target: np.ndarray) -> tuple[int, int]:
    any_band = target.max(axis=-1) if target.ndim == 3 else target
    rows = np.nonzero(any_band.max(axis=1) > 0.5)[0]
    if rows.size == 0:
        return 0, target.shape[0]
    return int(rows[0]), int(rows[-1]) + 1


def _speckle_fill(rng: np.random.Generator, rows: int, cols: int, level: float) -> np.ndarray:
    noise = rng.rayleigh(1.0, size=(max(rows // 2, 1), max(cols // 3, 1))).astype(np.float32)
    noise = cv2.resize(noise, (cols, rows), interpolation=cv2.INTER_LINEAR)
    ramp = np.linspace(1.0, 0.3, rows, dtype=np.float32)[:, None]
    return np.clip(noise * level * ramp, 0, 255)


def _depth(rng, img, tgt, opts):
    rows = img.shape[0]
    top, bottom = _band_rows(tgt)
    # crop above the first band (keeps some of it) and below the last one
    new_top = int(rng.integers(0, max(top // 2, 0) + 1))
    fill = rng.uniform(*opts.depth_fill_range)
    span = bottom - new_top
    want_rows = int(np.clip(span / fill, span + 4, 3 * rows))
    end = new_top + want_rows
    img = img[new_top : min(end, rows)]
    tgt = tgt[new_top : min(end, rows)]
    if end > rows:
        pad = end - rows
        level = float(np.percentile(img[-max(rows // 8, 1) :], 60)) + 1.0
        fill_img = _speckle_fill(rng, pad, img.shape[1], level / 1.25)
        img = np.concatenate([img, fill_img], axis=0)
        tgt = np.concatenate([tgt, np.zeros((pad, *tgt.shape[1:]), tgt.dtype)], axis=0)
    return img, tgt


def _width(rng, img, tgt, opts):
    cols = img.shape[1]
    keep = int(cols * rng.uniform(opts.min_width_fraction, 1.0))
    x0 = int(rng.integers(0, cols - keep + 1))
    return img[:, x0 : x0 + keep], tgt[:, x0 : x0 + keep]


def _border(rng, img, tgt):
    """Shrink the image into a display canvas with rulers and text; mask padded with zero."""
    rows, cols = img.shape
    left = int(rng.integers(0, cols // 6 + 1)) if rng.random() < 0.7 else 0
    right = int(rng.integers(0, cols // 6 + 1)) if rng.random() < 0.7 else 0
    top = int(rng.integers(0, rows // 8 + 1)) if rng.random() < 0.5 else 0
    bottom = int(rng.integers(0, rows // 8 + 1)) if rng.random() < 0.5 else 0
    bg = float(rng.choice([0.0, rng.uniform(0, 90)]))
    canvas = np.full((rows + top + bottom, cols + left + right), bg, np.float32)
    canvas[top : top + rows, left : left + cols] = img
    tcan = np.zeros((rows + top + bottom, cols + left + right, *tgt.shape[2:]), np.float32)
    tcan[top : top + rows, left : left + cols] = tgt
    colour = float(rng.uniform(120, 255))
    # depth ruler: a vertical line with ticks in a side border
    if right > 6 or left > 6:
        x = left + cols + right // 3 if right > 6 else left // 2
        cv2.line(canvas, (x, top), (x, top + rows - 1), colour, 1)
        step = int(rng.integers(rows // 12 + 2, rows // 4 + 3))
        for y in range(top, top + rows, step):
            cv2.line(canvas, (x, y), (x + int(rng.integers(2, 6)), y), colour, 1)
    # a few characters of text in the borders
    for _ in range(int(rng.integers(0, 4))):
        if top > 10:
            org = (int(rng.integers(0, canvas.shape[1] - 10)), int(rng.integers(8, top)))
        elif bottom > 10:
            org = (int(rng.integers(0, canvas.shape[1] - 10)), top + rows + bottom - 2)
        elif left > 10:
            org = (1, int(rng.integers(10, canvas.shape[0])))
        else:
            break
        text = "".join(rng.choice(list("0123456789cmHzdBGAIN"), size=int(rng.integers(2, 6))))
        cv2.putText(canvas, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.3, colour, 1)
    return canvas, tcan


def _text_inside(rng, img):
    rows, cols = img.shape
    colour = float(rng.uniform(150, 255))
    text = "".join(rng.choice(list("0123456789.cmdB%"), size=int(rng.integers(2, 5))))
    org = (int(rng.integers(0, max(cols - 30, 1))), int(rng.integers(8, max(rows // 6, 9))))
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.3, colour, 1)
    return img


def augment_pair(
    image: np.ndarray,
    target: np.ndarray,
    rng: np.random.Generator,
    *,
    shape: tuple[int, int],
    options: AugmentOptions | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Randomly augment one image and its target, returning them at ``shape``.

    Parameters
    ----------
    image : ndarray of uint8, shape (rows, cols)
        Grey image at working size.
    target : ndarray of float32, shape (rows, cols) or (rows, cols, channels)
        Band probability target in [0, 1].
    rng : numpy.random.Generator
        Source of every random choice.
    shape : (rows, cols)
        Output (network input) size.
    options : AugmentOptions, optional

    Returns
    -------
    image : ndarray of float32, shape ``shape``, values in [0, 255]
    target : ndarray of float32, same leading shape as ``shape``
    """
    opts = options or AugmentOptions()
    img = image.astype(np.float32)
    tgt = target.astype(np.float32)
    if rng.random() < opts.p_depth:
        img, tgt = _depth(rng, img, tgt, opts)
    if rng.random() < opts.p_width_crop:
        img, tgt = _width(rng, img, tgt, opts)
    if rng.random() < opts.p_flip:
        img, tgt = img[:, ::-1], tgt[:, ::-1]
    img = np.ascontiguousarray(img)
    tgt = np.ascontiguousarray(tgt)
    # intensity
    if rng.random() < opts.p_tgc:
        a, b = rng.uniform(0.5, 1.3, size=2)
        img = img * np.linspace(a, b, img.shape[0], dtype=np.float32)[:, None]
    if rng.random() < opts.p_speckle:
        sigma = rng.uniform(0.05, 0.35)
        img = img * rng.normal(1.0, sigma, size=img.shape).astype(np.float32).clip(0.2, 2.0)
    if rng.random() < opts.p_blur:
        k = rng.uniform(0.4, 1.5)
        img = cv2.GaussianBlur(img, (0, 0), k)
    gain = rng.uniform(*opts.gain_range)
    gamma = rng.uniform(*opts.gamma_range)
    img = 255.0 * (np.clip(img * gain, 0, 255) / 255.0) ** gamma
    if rng.random() < opts.p_text:
        img = _text_inside(rng, img)
    if rng.random() < opts.p_border:
        img, tgt = _border(rng, img, tgt)
    img, tgt = resize_pair(img.astype(np.float32), tgt.astype(np.float32), shape)
    return np.clip(img, 0, 255), np.clip(tgt, 0, 1)
