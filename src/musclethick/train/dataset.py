"""Training data: DL_Track scans with their masks, cropped, resized and held in memory.

Each screen capture is cropped to its imaging region (the same kind of input the readers in
:mod:`musclethick.io` hand to the model), then resized once to a working size slightly larger than
the network input, so that augmentation (crops, depth scaling) has pixels to spare. Targets are
the layer channels of :mod:`musclethick.train.targets`, computed at the capture's resolution and
area-resized (so the layer edges keep sub-pixel positions). Everything stays in memory as
``uint8`` arrays (targets scaled by 255): an epoch then costs only augmentation and the network.

Two kinds of labelled scans:

* aponeurosis masks (``dltrack_apo``): every layer of the target muscle
  (:func:`~musclethick.train.targets.layer_targets`);
* fascicle snippets (``dltrack_fasc``): weak "this is muscle" labels only
  (:func:`~musclethick.train.targets.fascicle_targets`).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from musclethick.errors import InputError
from musclethick.train.augment import resize_channels
from musclethick.train.targets import N_CHANNELS, fascicle_targets, layer_targets
from musclethick.types import PixelBox

__all__ = [
    "SampleSet",
    "crop_box",
    "load_fascicle_index",
    "load_samples",
    "load_split",
    "read_grey",
]

#: Working size (rows, cols) = this factor x the network input size.
WORK_FACTOR = 1.5


@dataclass(frozen=True, eq=False)
class SampleSet:
    """Images and targets of one split, resized to a common working size.

    Attributes
    ----------
    names : tuple of str
        Image file names.
    images : ndarray of uint8, shape (n, rows, cols)
        Grey images cropped to the imaging region and resized.
    targets : ndarray of uint8, shape (n, rows, cols, N_CHANNELS)
        Layer targets x 255 (area-resampled, so edges are soft).
    sizes : tuple of tuple of int
        Original ``(width, height)`` of each capture (before cropping).
    boxes : tuple of PixelBox
        Crop box of each capture in original coordinates.
    """

    names: tuple[str, ...]
    images: np.ndarray
    targets: np.ndarray
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
            self.targets[idx],
            tuple(self.sizes[i] for i in idx),
            tuple(self.boxes[i] for i in idx),
        )

    def concat(self, other: SampleSet) -> SampleSet:
        """These samples followed by ``other``'s (same working size)."""
        return SampleSet(
            self.names + other.names,
            np.concatenate([self.images, other.images]),
            np.concatenate([self.targets, other.targets]),
            self.sizes + other.sizes,
            self.boxes + other.boxes,
        )

    def target(self, i: int) -> np.ndarray:
        """Targets of sample ``i`` as float32 in [0, 1], shape (rows, cols, N_CHANNELS)."""
        return self.targets[i].astype(np.float32) * (1.0 / 255.0)


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


def load_split(split_csv: str | Path) -> dict[str, list[tuple[str, int, int]]]:
    """Read ``split.csv``: ``{split: [(image, width, height), ...]}``."""
    out: dict[str, list[tuple[str, int, int]]] = {}
    with open(split_csv, newline="") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["split"], []).append(
                (row["image"], int(row["width"]), int(row["height"]))
            )
    return out


def left_out_images(
    run_dir: str | Path, split: dict[str, list[tuple[str, int, int]]]
) -> tuple[dict, list[str]]:
    """A leave-one-format-out run's ``train.json`` and, sorted, every image of ``split``
    (:func:`load_split`, all its splits) of the sizes that run was trained without."""
    info = json.loads((Path(run_dir) / "train.json").read_text())
    left_out = {tuple(int(v) for v in size.split("x")) for size in info["excluded_sizes"]}
    names = sorted(n for rows in split.values() for n, w, h in rows if (w, h) in left_out)
    return info, names


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
    kind: str = "aponeurosis",
) -> SampleSet:
    """Load, crop and resize images and their targets of ``names`` from ``data_dir``.

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
        Folder where the loaded arrays are kept (``.npz``, keyed by the names, sizes and kind)
        so that later runs on the same images skip decoding and cropping.
    kind : {"aponeurosis", "fascicles"}
        What the masks are: aponeurosis bands (every layer known) or fascicle snippets (muscle
        only).
    """
    if kind not in ("aponeurosis", "fascicles"):
        raise ValueError(f"kind must be 'aponeurosis' or 'fascicles', got {kind!r}")
    data_dir = Path(data_dir)
    cache = None
    if cache_dir is not None:
        key = hashlib.sha1(
            repr(
                (str(data_dir.resolve()), list(names), input_shape, work_factor, kind, "layers1")
            ).encode()
        ).hexdigest()[:16]
        cache = Path(cache_dir) / f"samples_{key}.npz"
        if cache.is_file():
            z = np.load(cache)
            return SampleSet(
                tuple(names),
                z["images"],
                z["targets"],
                tuple((int(a), int(b)) for a, b in z["sizes"]),
                tuple(PixelBox(*map(int, b)) for b in z["boxes"]),
            )
    wr = round(input_shape[0] * work_factor)
    wc = round(input_shape[1] * work_factor)
    n = len(names)
    images = np.zeros((n, wr, wc), np.uint8)
    targets = np.zeros((n, wr, wc, N_CHANNELS), np.uint8)
    sizes = []
    boxes = []
    for i, name in enumerate(names):
        grey = read_grey(data_dir / "images" / name)
        mask = read_grey(data_dir / "masks" / name)
        if mask.shape != grey.shape:
            raise InputError(f"{data_dir / 'masks' / name}: mask size differs from its image")
        if kind == "aponeurosis":
            box = _mask_box(mask > 127, crop_box(grey))
        else:
            box = crop_box(grey)
        sl = box.slices()
        g, m = grey[sl], mask[sl] > 127
        t = layer_targets(m) if kind == "aponeurosis" else fascicle_targets(m)
        images[i] = cv2.resize(g, (wc, wr), interpolation=cv2.INTER_AREA)
        small = resize_channels(t, (wc, wr), cv2.INTER_AREA)
        targets[i] = np.clip(np.rint(small * 255.0), 0, 255).astype(np.uint8)
        sizes.append((int(grey.shape[1]), int(grey.shape[0])))
        boxes.append(box)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            cache,
            images=images,
            targets=targets,
            sizes=np.array(sizes, np.int64).reshape(-1, 2),
            boxes=np.array([[b.x0, b.y0, b.x1, b.y1] for b in boxes], np.int64).reshape(-1, 4),
        )
    return SampleSet(tuple(names), images, targets, tuple(sizes), tuple(boxes))


def load_fascicle_index(index_csv: str | Path) -> list[dict[str, str]]:
    """Rows of the fascicle data set's ``index.csv`` (image, width, height, nearest_apo_image,
    nearest_apo_split, similarity)."""
    with open(index_csv, newline="") as fh:
        return list(csv.DictReader(fh))
