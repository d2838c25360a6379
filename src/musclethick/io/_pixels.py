"""Pixel conversions shared by the readers (pure)."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["to_grey_uint8"]

_LUMA = np.array([0.299, 0.587, 0.114])


def to_grey_uint8(pixels: np.ndarray, *, max_value: float | None = None) -> np.ndarray:
    """Convert grey/RGB(A) pixels of any integer or float type to grey ``uint8``.

    Parameters
    ----------
    pixels : ndarray, shape (rows, cols) or (rows, cols, 3|4)
        Colour is converted to luminance (ITU-R BT.601 weights); alpha is dropped. 8-bit colour
    uses OpenCV's fixed-point conversion (at most 1 grey level from the float formula).
    max_value : float, optional
        The value that maps to 255. Default: 255 for ``uint8``/``bool``, otherwise the
        maximum of the dtype for integer types and 1.0 for floats in [0, 1] (else their max).

    Returns
    -------
    ndarray of uint8, shape (rows, cols)
    """
    a = np.asarray(pixels)
    if a.ndim == 3:
        if a.shape[2] == 1:
            a = a[..., 0]
        elif a.shape[2] in (3, 4):
            a = a[..., :3]
        else:
            raise ValueError(f"unsupported pixel shape {a.shape}")
    elif a.ndim != 2:
        raise ValueError(f"unsupported pixel shape {a.shape}")
    if a.dtype == np.uint8 and a.ndim == 2:
        return np.ascontiguousarray(a)
    if a.dtype == np.uint8 and max_value in (None, 255.0):
        # fixed-point BT.601 in OpenCV: within 1 grey level of the float formula, ~20x faster
        return cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2GRAY)
    if max_value is None:
        if a.dtype in (np.uint8, np.bool_):
            max_value = 255.0 if a.dtype == np.uint8 else 1.0
        elif np.issubdtype(a.dtype, np.integer):
            max_value = float(np.iinfo(a.dtype).max)
        else:
            peak = float(np.nanmax(a)) if a.size else 1.0
            max_value = 1.0 if peak <= 1.0 else peak
    f = a.astype(np.float64)
    if f.ndim == 3:
        f = f @ _LUMA
    f = f * (255.0 / max_value)
    return np.clip(np.rint(f), 0, 255).astype(np.uint8)
