"""Seeded augmentation of (image, layer target) pairs, pure numpy + OpenCV.

Every random choice is drawn from the :class:`numpy.random.Generator` passed in, so a run with
the same seed sees the same augmented samples. Targets are the area-fraction channels of
:mod:`musclethick.train.targets`; geometric operations move them with the image, so the layers
stay exact.

The augmentations imitate what differs between scanners, anatomies, settings and captures, aimed
at the failures seen on scanners the model never saw:

* **tissue layers above the superficial aponeurosis** (a thick subcutaneous layer): a strip of
  real "above" tissue from another scan, or a synthetic one (hypoechoic fat, fascia lines, a skin
  line), inserted above the aponeurosis, which then lies anywhere from the top to half the depth;
* **depth zoom** 0.5-2.5x: the muscle fills from a quarter of the depth to more than the whole
  image; zoomed-in crops put the deep aponeurosis at 60-95 % of the depth; zoomed-out frames get
  deeper tissue below (attenuated speckle, sometimes a bone line);
* **attenuation**: depth-dependent gain (exponential attenuation and time-gain ramps) that makes
  the deep aponeurosis faint;
* **top cuts** (optional, ``p_top_cut``): the capture starts inside the belly, below the
  superficial aponeurosis (a probe pressed in, a zoomed display), labelled belly up to the top
  row, so that muscle at the top of an image is taken for belly, not for the tissue above it
  (the decoding then says ``edge_of_image``);
* **bottom cuts** (optional, ``p_bottom_cut``): the capture ends inside the belly, above the
  deep aponeurosis (an imaging depth set too shallow, a thick muscle), labelled belly down to
  the bottom row, so that a septum or fascicle line inside the muscle is not taken for the
  deep aponeurosis when the real one is out of view;
* width crops, anisotropic resizing;
* gain, contrast, gamma, multiplicative speckle, blur, **low resolution**, **JPEG recompression**;
* **other scanners' image processing** (optional, ``p_look``): speckle reduction (bilateral or
  median filters, as compound imaging and speckle filters show a scan), edge enhancement, another
  dynamic range or grey map (lifted blacks, log or power tone curves), local contrast
  equalisation, one or two of them per sample (:func:`scanner_look`);
* **display borders**: black or grey borders of any width, letterboxing and pillarboxing, with
  rulers, tick marks and text; text inside the image; all of it mirrored in **mirrored captures**
  (the flip comes last);
* **drawn graphics** (optional, ``p_annotation``): straight, dashed and dotted lines and caliper
  marks burned into the capture, often right beside an aponeurosis (a line a sonographer drew,
  a caliper measurement), labelled as the tissue under them, so that the network learns that a
  perfectly straight, evenly bright line is not an aponeurosis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from musclethick.train.synthetic import fat_layer
from musclethick.train.targets import (
    GROUP,
    LAYER,
    MUSCLE,
    N_CHANNELS,
    V_GROUP,
    V_LAYER,
    V_MUSCLE,
)

__all__ = [
    "RECIPE_SHARES",
    "AugmentOptions",
    "above_strip",
    "augment_pair",
    "cut_bottom",
    "cut_top",
    "draw_annotations",
    "layer_contrast",
    "resize_channels",
    "resize_pair",
    "scanner_look",
    "tilt",
    "turned",
]


@dataclass(frozen=True)
class AugmentOptions:
    """Probabilities and ranges of the augmentations (defaults used for the shipped model)."""

    p_insert: float = 0.35
    p_real_strip: float = 0.5
    superficial_depth_range: tuple[float, float] = (0.03, 0.5)
    p_zoom: float = 0.7
    zoom_range: tuple[float, float] = (0.5, 2.5)
    p_deep_low: float = 0.4
    deep_depth_range: tuple[float, float] = (0.6, 0.95)
    p_bone: float = 0.3
    p_width_crop: float = 0.5
    min_width_fraction: float = 0.5
    p_attenuation: float = 0.5
    attenuation_range: tuple[float, float] = (0.3, 2.5)
    p_tgc: float = 0.3
    p_speckle: float = 0.5
    p_blur: float = 0.3
    p_low_resolution: float = 0.2
    p_jpeg: float = 0.25
    gain_range: tuple[float, float] = (0.6, 1.4)
    gamma_range: tuple[float, float] = (0.6, 1.6)
    p_text: float = 0.3
    p_border: float = 0.4
    p_flip: float = 0.5
    p_layer_contrast: float = 0.0
    layer_gain_range: tuple[float, float] = (0.5, 2.0)
    p_annotation: float = 0.0
    p_top_cut: float = 0.0
    p_look: float = 0.0
    p_bottom_cut: float = 0.0
    p_tilt: float = 0.0
    tilt_degrees: float = 12.0

    @classmethod
    def none(cls) -> AugmentOptions:
        """Options that leave every sample as it is (only resized)."""
        off = {f: 0.0 for f in cls.__dataclass_fields__ if f.startswith("p_")}
        return cls(**off, gain_range=(1.0, 1.0), gamma_range=(1.0, 1.0))


#: The optional augmentations of a recipe: the name a run's ``train.json`` and model card give
#: each share (``musclethick train --top-cut`` ...) and its :class:`AugmentOptions` field.
RECIPE_SHARES = {
    "layer_contrast": "p_layer_contrast",
    "annotations": "p_annotation",
    "top_cut": "p_top_cut",
    "looks": "p_look",
    "bottom_cut": "p_bottom_cut",
    "tilt": "p_tilt",
}


def resize_pair(
    image: np.ndarray, target: np.ndarray, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Resize image and target to ``shape`` ``(rows, cols)`` (area when shrinking, else
    linear), keeping a channel axis on the target when it had one."""
    size = (int(shape[1]), int(shape[0]))
    interp = cv2.INTER_AREA if image.shape[0] >= shape[0] else cv2.INTER_LINEAR
    img = cv2.resize(image, size, interpolation=interp)
    tgt = _resize_target(target, size, interp)
    return img, tgt


def _resize_target(target: np.ndarray, size: tuple[int, int], interp: int) -> np.ndarray:
    t = np.ascontiguousarray(target, dtype=np.float32)
    if t.ndim == 2:
        return cv2.resize(t, size, interpolation=interp)
    return resize_channels(t, size, interp)


def _by_fours(array: np.ndarray, size: tuple[int, int], op: Callable) -> np.ndarray:
    """``op`` (an OpenCV resampling to ``size`` = ``(cols, rows)``) of a (rows, cols, channels)
    array with any number of channels, four at a time (OpenCV's limit for some of them)."""
    a = np.ascontiguousarray(array)
    parts = [
        op(np.ascontiguousarray(a[..., k : k + 4])).reshape(size[1], size[0], -1)
        for k in range(0, a.shape[2], 4)
    ]
    return np.concatenate(parts, axis=2)


def resize_channels(array: np.ndarray, size: tuple[int, int], interp: int) -> np.ndarray:
    """``cv2.resize`` of a (rows, cols, channels) array with any number of channels (OpenCV's
    area resampling takes at most four at a time). ``size`` is ``(cols, rows)``."""
    return _by_fours(array, size, lambda a: cv2.resize(a, size, interpolation=interp))


def _first_row(channel: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Per column, the first row where ``channel`` exceeds ``threshold`` (rows if none)."""
    hit = channel > threshold
    first = np.argmax(hit, axis=0)
    return np.where(hit.any(axis=0), first, channel.shape[0])


def _superficial_rows(target: np.ndarray) -> tuple[int, int]:
    """(top, belly_start): the highest row of the superficial band and the highest row of the
    belly over the columns where they are known; ``rows`` when unknown. With only the grouped
    layers known (a reviewer's inner edges), the band's top is taken a tenth of the height above
    the belly."""
    rows = target.shape[0]
    band = target[..., 1]
    belly = target[..., GROUP][..., 1] * (target[..., V_GROUP] > 0.5)
    start = int(_first_row(belly).min()) if (belly > 0.5).any() else rows
    if (band > 0.5).any():
        top = int(_first_row(band).min())
    else:
        top = max(0, start - rows // 10) if start < rows else rows
    return top, start


def _deep_rows(target: np.ndarray) -> tuple[int, int]:
    """(inner, outer): median first row below the belly (deep inner edge) and the lowest row of
    the deep band; ``(-1, -1)`` when unknown."""
    below = target[..., GROUP][..., 2] * (target[..., V_GROUP] > 0.5)
    cols = np.flatnonzero((below > 0.5).any(axis=0))
    if cols.size == 0:
        return -1, -1
    inner = int(np.median(_first_row(below[:, cols])))
    deep = target[..., 3] > 0.5
    outer = int(np.flatnonzero(deep.any(axis=1)).max()) if deep.any() else inner
    return inner, outer


def above_strip(image: np.ndarray, target: np.ndarray, *, min_rows: int = 8) -> np.ndarray | None:
    """Rows of ``image`` above the superficial aponeurosis in every column (skin, fat), or
    ``None`` when fewer than ``min_rows`` (e.g. the aponeurosis touches the top)."""
    top, _ = _superficial_rows(target)
    if top >= target.shape[0] or top < min_rows:
        return None
    # leave a margin above the band (its blurred upper edge)
    top = max(0, top - 2)
    if top < min_rows:
        return None
    return np.ascontiguousarray(image[:top])


def _smooth_noise(rng, rows: int, cols: int, cell: tuple[float, float]) -> np.ndarray:
    """Rayleigh noise low-passed to speckle-like grains of about ``cell`` (rows, cols) px."""
    r = max(1, int(rows / cell[0]))
    c = max(1, int(cols / cell[1]))
    noise = rng.rayleigh(1.0, size=(r, c)).astype(np.float32)
    return cv2.resize(noise, (cols, rows), interpolation=cv2.INTER_LINEAR)


def _real_strip(rng, strips, rows: int, cols: int) -> np.ndarray:
    """``rows`` of real "above" tissue: strips of other scans stacked (each resized by at most
    1.5x in depth, so that their texture is not smeared into streaks)."""
    parts = []
    total = 0
    while total < rows:
        src = strips[int(rng.integers(len(strips)))].astype(np.float32)
        h = max(2, round(src.shape[0] * rng.uniform(0.7, 1.5)))
        parts.append(cv2.resize(src, (cols, h), interpolation=cv2.INTER_LINEAR))
        total += h
    return np.concatenate(parts, axis=0)[:rows]


def _insert_layers(rng, img, tgt, opts, strips):
    """Insert tissue above the superficial aponeurosis so that it lies deeper."""
    rows, cols = img.shape
    if not (tgt[..., 1] > 0.5).any():  # the band is unknown: no place to insert above it
        return img, tgt
    top, belly_start = _superficial_rows(tgt)
    if top >= rows or belly_start >= rows:
        return img, tgt
    want = rng.uniform(*opts.superficial_depth_range)
    # rows to insert so that the belly starts at `want` of the new depth
    add = round((want * rows - belly_start) / max(1e-3, 1.0 - want))
    if add < 4:
        return img, tgt
    add = min(add, 2 * rows)
    level = float(np.percentile(img[belly_start:], 60)) + 5.0
    strip = None
    if strips and rng.random() < opts.p_real_strip:
        strip = _real_strip(rng, strips, add, cols)
    if strip is None:
        strip = fat_layer(rng, add, cols, level)
    at = int(rng.integers(0, top + 1))
    # the inserted rows are "above" tissue (not muscle) wherever the column is known
    row = tgt[at].copy()
    known = row[:, V_LAYER]
    fill = np.zeros((add, cols, N_CHANNELS), np.float32)
    fill[..., 0] = known
    fill[..., V_LAYER] = known
    fill[..., 6] = row[:, V_GROUP]
    fill[..., V_GROUP] = row[:, V_GROUP]
    fill[..., V_MUSCLE] = np.maximum(known, row[:, V_GROUP])
    img = np.concatenate([img[:at], strip, img[at:]], axis=0)
    tgt = np.concatenate([tgt[:at], fill, tgt[at:]], axis=0)
    return img, tgt


def layer_contrast(rng, img, tgt, gain_range=AugmentOptions.layer_gain_range):
    """Each layer its own brightness: the tissue above, the two bands, the belly and the tissue
    below are each multiplied by a gain drawn log-uniformly from ``gain_range`` (smoothly
    blended across the edges, over 1-6 px), as another scanner, gain setting or muscle shows
    fat, muscle and aponeuroses in other ratios of brightness. The network then has to tell the
    target muscle by its texture and its bounding bands, not by how bright it is next to the
    layers around it. Pixels whose layer is unknown keep their brightness (where only the
    grouping above / belly / below is known, the group's gain is used)."""
    lo, hi = np.log(gain_range[0]), np.log(gain_range[1])
    g = np.exp(rng.uniform(lo, hi, size=5)).astype(np.float32)
    known, known_group = tgt[..., V_LAYER], tgt[..., V_GROUP]
    gain = (
        tgt[..., LAYER] @ g  # where the layers are known
        + (1.0 - known) * known_group * (tgt[..., GROUP] @ g[[0, 2, 4]])  # only the groups
        + (1.0 - known) * (1.0 - known_group)  # neither: unchanged
    )
    gain = cv2.GaussianBlur(gain.astype(np.float32), (0, 0), rng.uniform(1.0, 6.0))
    return np.clip(img * gain, 0, 255)


def _deep_fill(rng, rows: int, cols: int, level: float, bone: bool) -> np.ndarray:
    fill = level * _smooth_noise(rng, rows, cols, (rng.uniform(2, 5), rng.uniform(3, 10)))
    fill *= np.linspace(1.0, rng.uniform(0.1, 0.6), rows, dtype=np.float32)[:, None]
    if bone and rows > 12:
        y0 = rng.uniform(0.2, 0.8) * rows
        x = np.arange(cols, dtype=np.float32)
        centre = (
            y0 + rng.normal(0, 0.1) * (x - cols / 2) + rng.uniform(-8, 8) * ((x / cols - 0.5) ** 2)
        )
        yy = np.arange(rows, dtype=np.float32)[:, None]
        line = np.exp(-0.5 * ((yy - centre[None, :]) / rng.uniform(1.0, 3.0)) ** 2)
        shadow = (yy > centre[None, :] + 2).astype(np.float32)
        fill = fill * (1 - 0.85 * shadow) + line * level * rng.uniform(2.0, 4.0)
    return np.clip(fill, 0, 255)


def _zoom(rng, img, tgt, opts):
    """Depth zoom: the window of rows shown (scaled to the output height at the end)."""
    rows = img.shape[0]
    sup_top, belly_start = _superficial_rows(tgt)
    inner, outer = _deep_rows(tgt)
    lo_h, hi_h = rows / opts.zoom_range[1], rows / opts.zoom_range[0]
    # the window may start inside the superficial band, never below its middle
    if belly_start < rows:
        y0_max = max(0, min((sup_top + belly_start) // 2, rows - 8))
    else:
        y0_max = rows // 4
    y0 = int(rng.integers(0, y0_max + 1)) if rng.random() < 0.5 else 0
    if inner > y0 and rng.random() < opts.p_deep_low:
        # the deep aponeurosis's inner edge at 60-95 % of the shown depth
        frac = rng.uniform(*opts.deep_depth_range)
        height = (inner - y0) / frac
    else:
        height = rows / float(np.exp(rng.uniform(*np.log(opts.zoom_range))))
        if outer > y0 and rng.random() < 0.8:  # usually keep the whole deep band in view
            height = max(height, outer + 3 - y0)
    height = round(float(np.clip(height, max(8, lo_h), hi_h)))
    y1 = y0 + height
    img = img[y0 : min(y1, rows)]
    tgt = tgt[y0 : min(y1, rows)]
    if y1 > rows:
        pad = y1 - rows
        level = float(np.percentile(img[-max(rows // 8, 1) :], 60)) + 3.0
        fill = _deep_fill(rng, pad, img.shape[1], level, rng.random() < opts.p_bone)
        img = np.concatenate([img, fill], axis=0)
        tgt = np.concatenate([tgt, np.repeat(tgt[-1:], pad, axis=0)], axis=0)
    return img, tgt


def _inscribed(cols: int, rows: int, angle: float) -> tuple[int, int]:
    """``(cols, rows)`` of the largest upright rectangle inside a ``cols`` x ``rows`` one turned
    by ``angle`` radians about its centre."""
    sin_a, cos_a = abs(np.sin(angle)), abs(np.cos(angle))
    long_side, short_side = max(cols, rows), min(cols, rows)
    if short_side <= 2.0 * sin_a * cos_a * long_side or abs(sin_a - cos_a) < 1e-10:
        half = 0.5 * short_side
        w, h = (half / sin_a, half / cos_a) if cols >= rows else (half / cos_a, half / sin_a)
    else:
        cos_2a = cos_a * cos_a - sin_a * sin_a
        w, h = (cols * cos_a - rows * sin_a) / cos_2a, (rows * cos_a - cols * sin_a) / cos_2a
    return max(2, min(cols, int(w))), max(2, min(rows, int(h)))


def turned(img: np.ndarray, channels: np.ndarray | None, angle_degrees: float):
    """``img`` (and its ``(rows, cols, k)`` ``channels``, if given) turned by ``angle_degrees``
    counter-clockwise about the centre and cut to the largest upright rectangle inside the
    turned frame (no filled corners); channels are resampled linearly, as when resized."""
    rows, cols = img.shape[:2]
    w, h = _inscribed(cols, rows, np.deg2rad(angle_degrees))
    turn = cv2.getRotationMatrix2D(((cols - 1) / 2.0, (rows - 1) / 2.0), angle_degrees, 1.0)
    turn[0, 2] -= (cols - w) / 2.0  # the inscribed rectangle lands at the output's origin
    turn[1, 2] -= (rows - h) / 2.0
    flags, border = cv2.INTER_LINEAR, cv2.BORDER_REPLICATE

    def warp(a):
        return cv2.warpAffine(np.ascontiguousarray(a), turn, (w, h), flags=flags, borderMode=border)

    out = warp(img)
    if channels is None:
        return out, None
    return out, _by_fours(np.asarray(channels, dtype=np.float32), (w, h), warp)


def tilt(rng, img, tgt, *, max_degrees: float = AugmentOptions.tilt_degrees):
    """The sample turned by a random angle of up to ``max_degrees`` either way
    (:func:`turned`): aponeuroses and fascicles at other angles, as a probe tilted along the
    limb, another muscle's pennation or another scanner's steering show them. Targets turn
    with the image."""
    angle = float(rng.uniform(-max_degrees, max_degrees))
    return turned(img.astype(np.float32), tgt, angle)


def _belly_rows(tgt) -> tuple[int, int] | None:
    """(top, bottom): the lowest row where the belly starts and the highest row of the deep
    inner edge (the first row below the belly), over the columns that have both; ``None``
    when none has."""
    known = tgt[..., V_GROUP] > 0.5
    belly = (tgt[..., GROUP][..., 1] > 0.5) & known
    below = (tgt[..., GROUP][..., 2] > 0.5) & known
    cols = np.flatnonzero(belly.any(axis=0) & below.any(axis=0))
    if cols.size == 0:
        return None
    top = int(_first_row(belly[:, cols].astype(np.float32)).max())
    return top, int(_first_row(below[:, cols].astype(np.float32)).min())


def cut_top(rng, img, tgt, *, max_fraction: float = 0.5, min_belly_rows: int = 12):
    """The rows from a random row inside the belly down: a capture whose superficial
    aponeurosis is above the image. The cut lies at least 2 rows below the lowest point of the
    belly's top and at most ``max_fraction`` of the way to the highest point of the deep
    aponeurosis; a sample with less belly than ``min_belly_rows`` there is returned as it is."""
    rows = _belly_rows(tgt)
    if rows is None:
        return img, tgt
    start, deep = rows[0] + 2, rows[1]
    if deep - start < min_belly_rows:
        return img, tgt
    y0 = start + int(rng.uniform(0.0, max_fraction) * (deep - start))
    return img[y0:], tgt[y0:]


def cut_bottom(rng, img, tgt, *, max_fraction: float = 0.5, min_belly_rows: int = 12):
    """The rows down to a random row inside the belly: a capture whose deep aponeurosis is
    below the image. The cut lies at least 2 rows above the highest point of the deep
    aponeurosis's inner edge and at most ``max_fraction`` of the way up to the lowest point of
    the belly's top, and keeps at least a third of the rows (after a top cut and a zoom a sample
    may hold little more than the belly); a sample with less belly than ``min_belly_rows``
    there is returned as it is (the mirror image of :func:`cut_top`)."""
    rows = _belly_rows(tgt)
    if rows is None:
        return img, tgt
    start, end = max(rows[0], img.shape[0] // 3), rows[1] - 2
    if end - start < min_belly_rows:
        return img, tgt
    y1 = end - int(rng.uniform(0.0, max_fraction) * (end - start))
    return img[:y1], tgt[:y1]


def _width(rng, img, tgt, opts):
    cols = img.shape[1]
    keep = max(8, int(cols * rng.uniform(opts.min_width_fraction, 1.0)))
    x0 = int(rng.integers(0, cols - keep + 1))
    return img[:, x0 : x0 + keep], tgt[:, x0 : x0 + keep]


def _border(rng, img, tgt):
    """Shrink the image into a display canvas (borders, letterbox, rulers, text)."""
    rows, cols = img.shape
    style = rng.random()
    if style < 0.25:  # letterbox: bars above and below
        left = right = 0
        top, bottom = (int(rng.integers(2, rows // 3 + 3)) for _ in range(2))
    elif style < 0.45:  # pillarbox: bars left and right
        top = bottom = 0
        left, right = (int(rng.integers(2, cols // 2 + 3)) for _ in range(2))
    else:  # any border
        left = int(rng.integers(0, cols // 3 + 1)) if rng.random() < 0.7 else 0
        right = int(rng.integers(0, cols // 3 + 1)) if rng.random() < 0.7 else 0
        top = int(rng.integers(0, rows // 4 + 1)) if rng.random() < 0.6 else 0
        bottom = int(rng.integers(0, rows // 4 + 1)) if rng.random() < 0.5 else 0
    bg = 0.0 if rng.random() < 0.6 else float(rng.uniform(0, 110))
    canvas = np.full((rows + top + bottom, cols + left + right), bg, np.float32)
    canvas[top : top + rows, left : left + cols] = img
    tcan = np.zeros((*canvas.shape, N_CHANNELS), np.float32)
    tcan[top : top + rows, left : left + cols] = tgt
    # the display around the image: above it is "above" (not muscle), below it "below"; side
    # bars are not muscle and hold no layer: "above" too (a column without a belly). Where
    # the image starts or ends inside the belly (a top or bottom cut) the display beside it
    # holds no layer: labelled "above" or "below" there, it would put an aponeurosis on the
    # image's edge, which is what the cuts teach the network not to do (unknown instead).
    first_in_belly = tgt[0, :, GROUP][:, 1] > 0.5
    top_known = tgt[0, :, V_LAYER] * ~first_in_belly
    tcan[:top, left : left + cols, 0] = top_known
    tcan[:top, left : left + cols, V_LAYER] = top_known
    top_group = tgt[0, :, V_GROUP] * ~first_in_belly
    tcan[:top, left : left + cols, 6] = top_group
    tcan[:top, left : left + cols, V_GROUP] = top_group
    tcan[:top, left : left + cols, V_MUSCLE] = 1.0
    if bottom:
        last = tgt[-1].copy()
        in_belly = last[:, GROUP][:, 1] > 0.5
        last[in_belly, : V_GROUP + 1] = 0.0  # no layer known below a cut belly
        last[in_belly, MUSCLE] = 0.0  # and the display is not muscle
        last[in_belly, V_MUSCLE] = 1.0
        tcan[top + rows :, left : left + cols] = last
    for sl in (slice(0, left), slice(left + cols, left + cols + right)):
        tcan[:, sl, 0] = 1.0
        tcan[:, sl, V_LAYER] = 1.0
        tcan[:, sl, 6] = 1.0
        tcan[:, sl, V_GROUP] = 1.0
        tcan[:, sl, V_MUSCLE] = 1.0
    colour = float(rng.uniform(120, 255))
    if right > 6 or left > 6:  # a depth ruler with ticks in a side border
        x = left + cols + right // 3 if right > 6 else left // 2
        cv2.line(canvas, (x, top), (x, top + rows - 1), colour, 1)
        step = int(rng.integers(rows // 12 + 2, rows // 4 + 3))
        for y in range(top, top + rows, step):
            cv2.line(canvas, (x, y), (x + int(rng.integers(2, 6)), y), colour, 1)
    for _ in range(int(rng.integers(0, 4))):
        if top > 10:
            org = (int(rng.integers(0, canvas.shape[1] - 10)), int(rng.integers(8, top)))
        elif bottom > 10:
            org = (int(rng.integers(0, canvas.shape[1] - 10)), top + rows + bottom - 2)
        elif left > 10 and canvas.shape[0] > 10:
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


def draw_annotations(rng, img, tgt):
    """Graphics a scanner or a person drew into the capture: 1-3 straight lines (solid, dashed
    or dotted, 1-3 px, anti-aliased or not, bright or sometimes dark, sloping up to ~10 degrees,
    across 30-100 % of the width) or caliper marks (two crosses joined by a dotted line). Six in
    ten lines lie within 20 px of an aponeurosis's inner edge, where they can pass for one. The
    target is not changed: a line drawn over tissue is still that tissue."""
    img = np.ascontiguousarray(img, np.float32)
    rows, cols = img.shape
    edges = [r for r in (_superficial_rows(tgt)[1], _deep_rows(tgt)[0]) if 0 < r < rows]
    for _ in range(int(rng.integers(1, 4))):
        value = float(rng.uniform(0, 40) if rng.random() < 0.15 else rng.uniform(150, 255))
        thickness = int(rng.integers(1, 4))
        line_type = cv2.LINE_AA if rng.random() < 0.5 else cv2.LINE_8
        if rng.random() < 0.8:  # a line
            if edges and rng.random() < 0.6:
                y = edges[int(rng.integers(len(edges)))] + rng.uniform(-20, 20)
            else:
                y = rng.uniform(0, rows)
            length = cols * rng.uniform(0.3, 1.0)
            x0 = rng.uniform(0, cols - length)
            slope = rng.uniform(-0.18, 0.18)
            end = x0 + length
            if rng.random() < 0.6:  # solid
                segments = [(x0, end)]
            else:  # dashed or dotted
                step = rng.uniform(4, 16)
                on = step * rng.uniform(0.2, 0.6)
                segments = [(t, min(t + on, end)) for t in np.arange(x0, end, step)]
            for a, b in segments:
                p0 = (round(a), round(y + slope * (a - x0)))
                p1 = (round(b), round(y + slope * (b - x0)))
                cv2.line(img, p0, p1, value, thickness, line_type)
        else:  # caliper: two crosses and a dotted line between them
            x = int(rng.integers(0, cols))
            y0, y1 = sorted(int(v) for v in rng.integers(0, rows, size=2))
            arm = int(rng.integers(3, 9))
            for y in (y0, y1):
                cv2.line(img, (x - arm, y - arm), (x + arm, y + arm), value, 1, line_type)
                cv2.line(img, (x - arm, y + arm), (x + arm, y - arm), value, 1, line_type)
            for y in range(y0 + arm, y1 - arm, 6):
                cv2.line(img, (x, y), (x, y + 1), value, 1, line_type)
    return img


LOOKS = ("speckle_reduction", "edge_enhancement", "grey_map", "local_contrast")


def scanner_look(rng, img, looks: Sequence[str] | None = None):
    """What another scanner's image processing does to the same tissue: one or two of
    ``looks`` (default: all of :data:`LOOKS`) in random order, each with random strength.

    * ``speckle_reduction``: an edge-preserving bilateral filter (range sigma 25-90 grey levels,
      space sigma 1.5-4 px) or a 3-5 px median filter, as compound imaging, persistence and
      speckle-reduction filters smooth the speckle but keep the aponeuroses;
    * ``edge_enhancement``: an unsharp mask (amount 0.3-1.5, sigma 0.8-3 px);
    * ``grey_map``: another grey map / dynamic range: blacks lifted by 0-70 grey levels with the
      contrast compressed to match, then a log (darks brightened) or power (darks deepened)
      curve;
    * ``local_contrast``: contrast-limited adaptive histogram equalisation (clip 1-4, 4-8 tiles
      across), as some displays' auto-optimisation does.

    The layers stay where they are, so the target is not changed. Returns float32 in [0, 255].
    """
    kinds = list(LOOKS if looks is None else looks)
    out = np.clip(np.asarray(img, np.float32), 0, 255)
    n = 1 if len(kinds) == 1 or rng.random() < 0.6 else 2
    for kind in rng.permutation(kinds)[:n]:
        if kind == "speckle_reduction":
            if rng.random() < 0.7:
                d = int(rng.choice([5, 7, 9]))
                out = cv2.bilateralFilter(
                    out, d, float(rng.uniform(25, 90)), float(rng.uniform(1.5, 4.0))
                )
            else:
                k = int(rng.choice([3, 5]))
                out = cv2.medianBlur(out, k)
        elif kind == "edge_enhancement":
            sigma = float(rng.uniform(0.8, 3.0))
            out = out + rng.uniform(0.3, 1.5) * (out - cv2.GaussianBlur(out, (0, 0), sigma))
        elif kind == "grey_map":
            black = rng.uniform(0, 70)
            out = black + (255.0 - black) / 255.0 * np.clip(out, 0, 255)
            k = float(np.exp(rng.uniform(np.log(2.0), np.log(30.0))))
            x = np.clip(out, 0, 255) / 255.0
            if rng.random() < 0.5:  # log: darks brightened
                out = 255.0 * np.log1p(k * x) / np.log1p(k)
            else:  # power: darks deepened
                out = 255.0 * x ** rng.uniform(1.2, 2.0)
        elif kind == "local_contrast":
            tiles = int(rng.integers(4, 9))
            clahe = cv2.createCLAHE(
                clipLimit=float(rng.uniform(1.0, 4.0)), tileGridSize=(tiles, tiles)
            )
            out = clahe.apply(np.clip(out, 0, 255).astype(np.uint8)).astype(np.float32)
        else:
            raise ValueError(f"unknown look {str(kind)!r}; choose from {', '.join(LOOKS)}")
        out = np.clip(out, 0, 255).astype(np.float32)
    return out


def _jpeg(rng, img):
    quality = int(rng.integers(15, 70))
    ok, buf = cv2.imencode(
        ".jpg", np.clip(img, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:  # pragma: no cover - OpenCV always encodes a grey uint8 image
        return img
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32)


def _low_resolution(rng, img):
    rows, cols = img.shape
    f = rng.uniform(0.25, 0.6)
    small = cv2.resize(
        img, (max(4, int(cols * f)), max(4, int(rows * f))), interpolation=cv2.INTER_AREA
    )
    interp = cv2.INTER_NEAREST if rng.random() < 0.3 else cv2.INTER_LINEAR
    return cv2.resize(small, (cols, rows), interpolation=interp)


def augment_pair(
    image: np.ndarray,
    target: np.ndarray,
    rng: np.random.Generator,
    *,
    shape: tuple[int, int],
    options: AugmentOptions | None = None,
    strips: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Randomly augment one image and its target, returning them at ``shape``.

    Parameters
    ----------
    image : ndarray of uint8, shape (rows, cols)
        Grey image at working size.
    target : ndarray of float32, shape (rows, cols, N_CHANNELS)
        Layer targets (:mod:`musclethick.train.targets`) in [0, 1].
    rng : numpy.random.Generator
        Source of every random choice.
    shape : (rows, cols)
        Output (network input) size.
    options : AugmentOptions, optional
    strips : sequence of ndarray, optional
        Real "above" tissue strips (:func:`above_strip`) to insert above the superficial
        aponeurosis; synthetic ones are used when absent.

    Returns
    -------
    image : ndarray of float32, shape ``shape``, values in [0, 255]
    target : ndarray of float32, shape ``(*shape, N_CHANNELS)``
    """
    opts = options or AugmentOptions()
    img = image.astype(np.float32)
    tgt = np.asarray(target, np.float32)
    if tgt.ndim != 3 or tgt.shape[2] != N_CHANNELS:
        raise ValueError(f"target must be (rows, cols, {N_CHANNELS}), got {tgt.shape}")
    if rng.random() < opts.p_insert:
        img, tgt = _insert_layers(rng, img, tgt, opts, strips)
    if opts.p_tilt and rng.random() < opts.p_tilt:  # the stream is unchanged when 0
        img, tgt = tilt(rng, img, tgt, max_degrees=opts.tilt_degrees)
    if rng.random() < opts.p_zoom:
        img, tgt = _zoom(rng, img, tgt, opts)
    if rng.random() < opts.p_width_crop:
        img, tgt = _width(rng, img, tgt, opts)
    if opts.p_top_cut and rng.random() < opts.p_top_cut:  # the stream is unchanged when 0
        img, tgt = cut_top(rng, img, tgt)
    if opts.p_bottom_cut and rng.random() < opts.p_bottom_cut:  # unchanged stream when 0
        img, tgt = cut_bottom(rng, img, tgt)
    img = np.ascontiguousarray(img)
    tgt = np.ascontiguousarray(tgt)
    rows = img.shape[0]
    if opts.p_layer_contrast and rng.random() < opts.p_layer_contrast:
        img = layer_contrast(rng, img, tgt, opts.layer_gain_range)
    if rng.random() < opts.p_attenuation:
        alpha = rng.uniform(*opts.attenuation_range)
        img = img * np.exp(-alpha * np.linspace(0, 1, rows, dtype=np.float32))[:, None]
    if rng.random() < opts.p_tgc:
        a, b = rng.uniform(0.5, 1.3, size=2)
        img = img * np.linspace(a, b, rows, dtype=np.float32)[:, None]
    if rng.random() < opts.p_speckle:
        sigma = rng.uniform(0.05, 0.35)
        img = img * rng.normal(1.0, sigma, size=img.shape).astype(np.float32).clip(0.2, 2.0)
    if rng.random() < opts.p_blur:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.5))
    if opts.p_look and rng.random() < opts.p_look:  # the stream is unchanged when 0
        img = scanner_look(rng, img)
    gain = rng.uniform(*opts.gain_range)
    gamma = rng.uniform(*opts.gamma_range)
    img = 255.0 * (np.clip(img * gain, 0, 255) / 255.0) ** gamma
    if rng.random() < opts.p_low_resolution:
        img = _low_resolution(rng, img)
    if opts.p_annotation and rng.random() < opts.p_annotation:
        img = draw_annotations(rng, img, tgt)
    if rng.random() < opts.p_text:
        img = _text_inside(rng, img)
    if rng.random() < opts.p_border:
        img, tgt = _border(rng, img, tgt)
    if rng.random() < opts.p_jpeg:
        img = _jpeg(rng, img)
    if rng.random() < opts.p_flip:  # mirrored capture: text and rulers mirrored too
        img, tgt = img[:, ::-1], tgt[:, ::-1]
    img, tgt = resize_pair(np.ascontiguousarray(img, np.float32), np.ascontiguousarray(tgt), shape)
    return np.clip(img, 0, 255), np.clip(tgt, 0, 1)
