"""The one conversion of pixel values to grey ``uint8`` (pure).

Every image that enters the measurement goes through :func:`to_grey_uint8`: the readers (with
the ``max_value`` their file format states), :class:`~musclethick.types.Frame`,
:func:`musclethick.measure_image`, the imaging-region finder, the ruler reader and napari
layers. Its rules for arrays whose white level is not stated (``max_value=None``):

========================  ==============================================================
dtype                     grey level
========================  ==============================================================
``uint8``                 unchanged
``bool``                  ``False`` -> 0, ``True`` -> 255
integer, values 0-255     unchanged (8-bit values in a wider type, e.g. ``int64``)
``uint16``, top 256-4095  ``value * 255 / 4095`` (12-bit data in 16 bits, as scanners' 16-bit
                          exports hold it; a file's stated depth is passed instead)
``uint16``, other values  ``value * 255 / 65535`` (16-bit data)
other integer values      refused (:class:`~musclethick.errors.InputError`): state ``max_value``
float, values in [0, 1]   ``value * 255`` (the convention of scikit-image and OpenCV)
float, values in [0, 255] unchanged (rounded), when the largest value exceeds 1
other float values        refused (negative, above 255, NaN or infinite): a rescaling
                          chosen here would change the echo intensity silently
========================  ==============================================================

With ``max_value`` given, ``value * 255 / max_value`` (clipped to 0-255) for any dtype. With
``stretch=True`` (the readers, for files whose format states no white level: float DICOM,
32-bit integer or float TIFF), the lowest value maps to 0 and the highest to 255.
Colour (``(rows, cols, 3|4)``) becomes BT.601 luminance of the scaled values; alpha is dropped.
Values are rounded to the nearest grey level.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["to_grey_uint8"]

_LUMA = np.array([0.299, 0.587, 0.114])

#: White level of 12-bit data (the rule for ``uint16`` arrays whose values all fit in 12 bits).
_TWELVE_BIT = 4095.0


def to_grey_uint8(
    pixels: np.ndarray, *, max_value: float | None = None, stretch: bool = False
) -> np.ndarray:
    """Convert grey/RGB(A) pixels of any integer, bool or float type to grey ``uint8``.

    The rules (module docstring) are the only pixel-value conversion of the package.

    Parameters
    ----------
    pixels : ndarray, shape (rows, cols) or (rows, cols, 1|3|4)
        Colour is converted to luminance (ITU-R BT.601 weights); alpha is dropped. 8-bit colour
        uses OpenCV's fixed-point conversion (at most 1 grey level from the float formula).
    max_value : float, optional
        The value that maps to 255 (e.g. ``2**bits - 1`` of a DICOM file). Default: by dtype,
        see the module docstring.
    stretch : bool
        Map the lowest value to 0 and the highest to 255 (``max_value`` is then ignored).

    Returns
    -------
    ndarray of uint8, shape (rows, cols)
        The input itself (no copy) when it is already contiguous grey ``uint8``.

    Raises
    ------
    ValueError
        If ``pixels`` is not ``(rows, cols)`` or ``(rows, cols, 1|3|4)``.
    InputError
        If the values have no stated white level and fit none of the rules (e.g. float
        values outside [0, 255]); the message names the fix.
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
    if stretch:
        f = a if a.dtype.kind == "f" else a.astype(np.float64)
        lo, hi = float(np.nanmin(f)), float(np.nanmax(f))
        return to_grey_uint8((f - lo) / (hi - lo if hi > lo else 1.0), max_value=1.0)
    if a.dtype == np.uint8 and a.ndim == 2:
        return np.ascontiguousarray(a)
    if a.dtype == np.uint8 and max_value in (None, 255.0):
        import cv2  # imported on first use: `import musclethick` stays light

        # fixed-point BT.601 in OpenCV: within 1 grey level of the float formula, ~20x faster
        return cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2GRAY)
    if max_value is None:
        max_value = _white_level(a)
    elif not (np.isfinite(max_value) and max_value > 0):
        raise ValueError(f"max_value must be a positive finite number, got {max_value!r}")
    f = a.astype(np.float64)
    if f.ndim == 3:
        f = f @ _LUMA
    if max_value != 255.0:
        f = f * (255.0 / max_value)
    return np.clip(np.rint(f), 0, 255).astype(np.uint8)


def _white_level(a: np.ndarray) -> float:
    """The value that maps to 255 for an array of no stated white level (module rules)."""
    if a.dtype == np.bool_:
        return 1.0
    kind = a.dtype.kind
    if kind not in "uif":
        raise InputError(
            f"cannot convert pixels of dtype {a.dtype} to grey levels: give an integer, bool "
            "or float array"
        )
    if a.size == 0:
        return 255.0
    lo, hi = float(np.min(a)), float(np.max(a))
    if kind == "f" and not (np.isfinite(lo) and np.isfinite(hi)):
        raise InputError(
            "image has NaN or infinite values: replace them (e.g. numpy.nan_to_num) before "
            "measuring"
        )
    if kind == "f" and lo >= 0.0 and hi <= 1.0:
        return 1.0
    if lo >= 0.0 and hi <= 255.0:
        return 255.0
    if a.dtype == np.uint16:
        # 12-bit data (the deeper depth of ultrasound and other medical images) stored in 16
        # bits: a true 16-bit image whose brightest pixel is under 6.3 % of full scale is not
        # a scan anyone exports, so the smaller white level is the one that keeps the echo
        # intensity right
        return _TWELVE_BIT if hi <= _TWELVE_BIT else 65535.0
    fix = (
        "rescale it to 0-255 (uint8) or 0-1 (float), or state the white level "
        "(max_value=, e.g. 4095 for 12-bit data)"
    )
    raise InputError(f"image of dtype {a.dtype} has values {lo:g} to {hi:g}: {fix}")
