"""Pure-numpy input preparation for the segmentation network.

The same functions feed training and inference, so the network always sees the same kind of
input: a grey frame (already cropped to the imaging region) resized to the network input size and
normalised per image, one of two ways (recorded with the weights and in the model card):

* ``"equalise"`` (a training option, ``musclethick train --normalisation equalise``):
  histogram equalisation, then scaled to zero mean and unit variance. The network then sees
  the same input whatever monotone grey-level mapping the scanner or the capture applied
  (gain, gamma, dynamic range, log compression): one scanner's muscle is not brighter than
  another's;
* ``"standardise"`` (:data:`DEFAULT_NORMALISATION`: the shipped model, and any weights that
  do not say): zero mean and unit variance, clipped to +-5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "DEFAULT_NORMALISATION",
    "NARROW_ASPECT",
    "NORMALISATIONS",
    "WIDENED_ASPECT",
    "ColumnSpan",
    "narrowed",
    "normalise",
    "prepare_batch",
    "resize_probability",
    "widened",
]

#: Per-image input normalisations (see the module docstring).
NORMALISATIONS = ("equalise", "standardise")
#: The normalisation of weights and model cards that do not record one (trained before the
#: choice existed), and of the shipped model.
DEFAULT_NORMALISATION = "standardise"
#: Standard deviation of a uniform distribution on 0-255 (equalised grey levels).
_EQUALISED_STD = 255.0 / np.sqrt(12.0)


def normalise(image: np.ndarray, method: str = DEFAULT_NORMALISATION) -> np.ndarray:
    """Normalise one image for the network (``float32``).

    Parameters
    ----------
    image : ndarray, shape (rows, cols)
        Grey levels 0-255 (any real dtype).
    method : {"equalise", "standardise"}
        ``"equalise"``: histogram-equalised (the darkest level stays 0), then ``(x - 127.5) /
        73.6``; ``"standardise"``: ``(x - mean) / max(std, 1)`` clipped to +-5.
    """
    x = np.asarray(image, dtype=np.float32)
    if method == "equalise":
        grey = np.clip(np.rint(x), 0, 255).astype(np.uint8)
        eq = cv2.equalizeHist(np.ascontiguousarray(grey)).astype(np.float32)
        return ((eq - 127.5) / _EQUALISED_STD).astype(np.float32)
    if method != "standardise":
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {method!r}")
    mean = float(x.mean())
    std = float(x.std())
    return np.clip((x - mean) / max(std, 1.0), -5.0, 5.0).astype(np.float32)


#: A frame narrower than this (columns / rows) is widened before the network (:func:`widened`)
#: to :data:`WIDENED_ASPECT`. A short probe footprint or a narrowed field of view gives frames
#: a third as wide as they are deep; resized to the network input as they are, the muscle is
#: stretched sideways 2-3x (its fascicles flattened, its bands thickened), which the network
#: never saw.
#: Chosen on the central 35 % / 50 % of the width of the 70 ``val`` captures (aspect 0.2-0.6):
#: MAE 9.45 -> 4.56 % and 3.57 -> 4.84 %, ``ok`` frames 36 -> 49 and 53 -> 56, ``ok`` frames off
#: by > 10 % 2 -> 1 and 2 -> 1 (a widening to 1.0 gave 4.07 / 4.36 % but 2 and 1 wrong ``ok``;
#: model card, "Narrow frames"). No capture of ``../shared`` is this narrow (the narrowest,
#: 800x600 displays, 0.73), so the measured figures of whole captures do not change.
NARROW_ASPECT = 0.6
#: The aspect (columns / rows) a narrow frame is widened to.
WIDENED_ASPECT = 0.8


@dataclass(frozen=True)
class ColumnSpan:
    """Where a frame lies in its widened copy: its first column and width, and the copy's
    width (columns)."""

    left: int
    cols: int
    widened_cols: int


def widened(
    image: np.ndarray, below: float = NARROW_ASPECT, to: float = WIDENED_ASPECT
) -> tuple[np.ndarray, ColumnSpan | None]:
    """A frame narrower than ``below`` (columns / rows) continued sideways by its own mirror
    image (reflection without repeating the edge column) to ``to``, centred; other frames as
    they are (span ``None``). The aponeuroses run on across the seams, so the network sees
    the muscle at the sideways scale it was trained at (:data:`NARROW_ASPECT`)."""
    img = np.asarray(image)
    rows, cols = img.shape[:2]
    if cols >= below * rows or cols < 2:  # (a frame too small to read: prepare_batch says so)
        return img, None
    if img.dtype not in (np.uint8, np.uint16, np.int16, np.float32, np.float64):
        img = img.astype(np.float32)  # what OpenCV can pad (bool, uint32, ...)
    width = int(np.ceil(to * rows))
    left = (width - cols) // 2
    out = cv2.copyMakeBorder(
        np.ascontiguousarray(img), 0, 0, left, width - cols - left, cv2.BORDER_REFLECT_101
    )
    return out, ColumnSpan(left, cols, width)


def narrowed(prob: np.ndarray, span: ColumnSpan | None) -> np.ndarray:
    """The part of a network-resolution map ``(channels, rows, cols)`` of a widened frame that
    covers the frame itself, resampled to the same number of columns (linear, pixel-centre
    aligned, as if the frame had been resized to the input), so that it reads as the map of
    the frame. ``span`` ``None``: the map as it is."""
    p = np.asarray(prob, np.float32)
    if span is None:
        return p
    _, rows, cols = p.shape
    frame_x = (np.arange(cols) + 0.5) * span.cols / cols - 0.5 + span.left
    map_x = ((frame_x + 0.5) * cols / span.widened_cols - 0.5).astype(np.float32)
    mx = np.ascontiguousarray(np.broadcast_to(map_x, (rows, cols)))
    row = np.arange(rows, dtype=np.float32)[:, None]
    my = np.ascontiguousarray(np.broadcast_to(row, (rows, cols)))
    border = cv2.BORDER_REPLICATE
    return np.stack([cv2.remap(c, mx, my, cv2.INTER_LINEAR, borderMode=border) for c in p])


def prepare_batch(
    images: Sequence[np.ndarray],
    input_shape: tuple[int, int],
    normalisation: str = DEFAULT_NORMALISATION,
) -> np.ndarray:
    """Resize and normalise frames into a ``(batch, 1, rows, cols)`` ``float32`` array.

    Parameters
    ----------
    images : sequence of ndarray, each (rows, cols) (colour images are averaged to grey)
    input_shape : (rows, cols)
        Network input size.
    normalisation : {"equalise", "standardise"}
        See :func:`normalise`.
    """
    rows, cols = int(input_shape[0]), int(input_shape[1])
    out = np.empty((len(images), 1, rows, cols), np.float32)
    for i, image in enumerate(images):
        img = np.asarray(image)
        if img.ndim == 3:
            img = img[..., :3].mean(axis=-1)
        if img.ndim != 2 or img.shape[0] < 2 or img.shape[1] < 2:
            raise ValueError(f"frame {i} must be a 2-D image, got shape {img.shape}")
        img = img.astype(np.float32)
        interp = cv2.INTER_AREA if img.shape[0] >= rows else cv2.INTER_LINEAR
        out[i, 0] = normalise(cv2.resize(img, (cols, rows), interpolation=interp), normalisation)
    return out


def resize_probability(prob: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a probability map ``(rows, cols)`` or ``(channels, rows, cols)`` to ``shape``.

    Bilinear, pixel-centre aligned, so that edges keep sub-pixel positions.
    """
    size = (int(shape[1]), int(shape[0]))
    p = np.asarray(prob, dtype=np.float32)
    if p.ndim == 2:
        return cv2.resize(p, size, interpolation=cv2.INTER_LINEAR)
    return np.stack([cv2.resize(c, size, interpolation=cv2.INTER_LINEAR) for c in p])
