"""Training data: DL_Track aponeurosis images and masks, cropped, resized and held in memory.

Each screen capture is cropped to its imaging region (the same kind of input the readers in
:mod:`musclethick.io` hand to the model), then resized once to a working size slightly larger than
the network input, so that augmentation (crops, depth scaling) has pixels to spare. All images of
a split stay in memory as ``uint8`` arrays: an epoch then costs only augmentation and the network.

The mask bands are also numbered from the top (1 = superficial, 2 = deep, 3 = any further band)
for the two-channel design.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

from musclethick.errors import InputError
from musclethick.types import PixelBox

__all__ = [
    "SampleSet",
    "crop_box",
    "load_samples",
    "load_split",
    "number_bands",
    "read_grey",
]

#: Working size (rows, cols) = this factor x the network input size.
WORK_FACTOR = 1.5


@dataclass(frozen=True, eq=False)
class SampleSet:
    """Images and masks of one split, resized to a common working size.

    Attributes
    ----------
    names : tuple of str
        Image file names.
    images : ndarray of uint8, shape (n, rows, cols)
        Grey images cropped to the imaging region and resized.
    masks : ndarray of uint8, shape (n, rows, cols)
        Band masks, 0-255 (area-resampled, so edges are soft).
    labels : ndarray of uint8, shape (n, rows, cols)
        Band numbers from the top (0 background, 1, 2, 3 = further bands), nearest-resampled.
    sizes : tuple of tuple of int
        Original ``(width, height)`` of each capture (before cropping).
    boxes : tuple of PixelBox
        Crop box of each capture in original coordinates.
    """

    names: tuple[str, ...]
    images: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    sizes: tuple[tuple[int, int], ...]
    boxes: tuple[PixelBox, ...]

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, names: Sequence[str]) -> SampleSet:
        """The samples of ``names`` (in that order)."""
        where = {n: i for i, n in enumerate(self.names)}
        idx = np.array([where[n] for n in names], dtype=np.int64)
        return SampleSet(
            tuple(names),
            self.images[idx],
            self.masks[idx],
            self.labels[idx],
            tuple(self.sizes[i] for i in idx),
            tuple(self.boxes[i] for i in idx),
        )


def read_grey(path: str | Path) -> np.ndarray:
    """Read an image file as ``uint8`` luminance ``(rows, cols)``.

    Raises
    ------
    InputError
        When the file cannot be decoded.
    """
    data = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if data is None:
        raise InputError(f"{path}: cannot decode image")
    return data


def _longest_run(flags: np.ndarray) -> tuple[int, int]:
    best = (0, 0)
    start = None
    for i, f in enumerate(np.append(flags, False)):
        if f and start is None:
            start = i
        elif not f and start is not None:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    return best


def crop_box(grey: np.ndarray) -> PixelBox:
    """Imaging region of a screen capture: the largest textured rectangle.

    Uses :func:`musclethick.region.find_imaging_region` when that module is available and
    otherwise a simple local-variance rule (display borders are flat or carry sparse text).

    Parameters
    ----------
    grey : ndarray of uint8, shape (rows, cols)

    Returns
    -------
    PixelBox
    """
    try:
        from musclethick.region import find_imaging_region
    except ImportError:
        find_imaging_region = None
    if find_imaging_region is not None:
        try:
            return find_imaging_region(grey)
        except Exception:  # fall back to the private rule below
            pass
    img = grey.astype(np.float32)
    mean = cv2.blur(img, (9, 9))
    var = cv2.blur(img * img, (9, 9)) - mean * mean
    textured = (var > 25.0) & (mean > 6.0)
    rows, cols = grey.shape
    col_frac = textured.mean(axis=0)
    c0, c1 = _longest_run(col_frac > 0.35)
    if c1 - c0 < cols // 4:
        return PixelBox.full(grey.shape)
    row_frac = textured[:, c0:c1].mean(axis=1)
    r0, r1 = _longest_run(row_frac > 0.35)
    if r1 - r0 < rows // 4:
        return PixelBox.full(grey.shape)
    return PixelBox(int(c0), int(r0), int(c1), int(r1))


def number_bands(mask: np.ndarray) -> np.ndarray:
    """Number the bands of a binary mask from the top: 1, 2, then 3 for any further band.

    Connected pieces whose rows overlap a wider piece's rows in the same columns are treated as
    separate bands; pieces are ordered by their median row.
    """
    binary = mask > 0
    lab, n = ndimage.label(binary, structure=np.ones((3, 3), bool))
    out = np.zeros(mask.shape, np.uint8)
    if n == 0:
        return out
    idx = np.arange(1, n + 1)
    areas = ndimage.sum_labels(binary, lab, idx)
    rows_c = ndimage.mean(np.indices(mask.shape)[0], lab, idx)
    keep = [i for i, a in zip(idx, areas, strict=True) if a >= 30]
    keep.sort(key=lambda i: rows_c[i - 1])
    for rank, i in enumerate(keep):
        out[lab == i] = min(rank + 1, 3)
    return out


def load_split(split_csv: str | Path) -> dict[str, list[tuple[str, int, int]]]:
    """Read ``split.csv``: ``{split: [(image, width, height), ...]}``."""
    out: dict[str, list[tuple[str, int, int]]] = {}
    with open(split_csv, newline="") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["split"], []).append(
                (row["image"], int(row["width"]), int(row["height"]))
            )
    return out


def _mask_box(mask: np.ndarray, box: PixelBox) -> PixelBox:
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return box
    return PixelBox(
        min(box.x0, int(xs.min())),
        min(box.y0, int(ys.min())),
        max(box.x1, int(xs.max()) + 1),
        max(box.y1, int(ys.max()) + 1),
    )


def load_samples(
    data_dir: str | Path,
    names: Sequence[str],
    *,
    input_shape: tuple[int, int],
    work_factor: float = WORK_FACTOR,
    cache_dir: str | Path | None = None,
) -> SampleSet:
    """Load, crop and resize images and masks of ``names`` from ``data_dir``.

    Parameters
    ----------
    data_dir : path
        Folder with ``images/`` and ``masks/``.
    names : sequence of str
        Image file names.
    input_shape : (rows, cols)
        Network input size; samples are stored at ``work_factor`` times this size.
    work_factor : float
        Working size relative to the input size.
    cache_dir : path, optional
        Folder where the loaded arrays are kept (``.npz``, keyed by the names and sizes) so
        that later runs on the same images skip decoding and cropping.
    """
    data_dir = Path(data_dir)
    cache = None
    if cache_dir is not None:
        key = hashlib.sha1(
            repr((str(data_dir.resolve()), list(names), input_shape, work_factor)).encode()
        ).hexdigest()[:16]
        cache = Path(cache_dir) / f"samples_{key}.npz"
        if cache.is_file():
            z = np.load(cache)
            return SampleSet(
                tuple(names),
                z["images"],
                z["masks"],
                z["labels"],
                tuple((int(a), int(b)) for a, b in z["sizes"]),
                tuple(PixelBox(*map(int, b)) for b in z["boxes"]),
            )
    wr = round(input_shape[0] * work_factor)
    wc = round(input_shape[1] * work_factor)
    n = len(names)
    images = np.zeros((n, wr, wc), np.uint8)
    masks = np.zeros((n, wr, wc), np.uint8)
    labels = np.zeros((n, wr, wc), np.uint8)
    sizes = []
    boxes = []
    for i, name in enumerate(names):
        grey = read_grey(data_dir / "images" / name)
        mask = read_grey(data_dir / "masks" / name)
        if mask.shape != grey.shape:
            raise InputError(f"{data_dir / 'masks' / name}: mask size differs from its image")
        box = _mask_box(mask > 127, crop_box(grey))
        sl = box.slices()
        g, m = grey[sl], (mask[sl] > 127).astype(np.uint8) * 255
        images[i] = cv2.resize(g, (wc, wr), interpolation=cv2.INTER_AREA)
        masks[i] = cv2.resize(m, (wc, wr), interpolation=cv2.INTER_AREA)
        labels[i] = cv2.resize(number_bands(m), (wc, wr), interpolation=cv2.INTER_NEAREST)
        sizes.append((int(grey.shape[1]), int(grey.shape[0])))
        boxes.append(box)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            cache,
            images=images,
            masks=masks,
            labels=labels,
            sizes=np.array(sizes, np.int64).reshape(-1, 2),
            boxes=np.array([[b.x0, b.y0, b.x1, b.y1] for b in boxes], np.int64).reshape(-1, 4),
        )
    return SampleSet(tuple(names), images, masks, labels, tuple(sizes), tuple(boxes))
