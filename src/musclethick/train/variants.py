"""The same scan captured differently: deterministic capture variants (pure numpy + OpenCV).

A lab's scans of one muscle differ in how they were captured, not in the muscle: mirrored
probes, other gain and dynamic-range settings, other screen resolutions, frame grabbers that add
black borders, JPEG exports, noisier machines; and other scanners' looks (speckle reduction,
edge enhancement, another dynamic range, a shorter probe) and what labs leave in a capture
(calipers, typed labels, lines drawn beside an aponeurosis). Each variant here changes a grey
capture (and its mask, for accuracy figures) the way one of those does, with fixed parameters so
that figures and tests are reproducible. ``scale_y`` says how a vertical length in px changes
(thickness in px of the variant = thickness of the original x ``scale_y``).

Used by ``bench/bench_variants.py`` and the capture-variant tests: thickness must stay within
3 % of the unmodified scan and the status must not flip. A variant that cuts off what the
measurement needs (the imaging depth set too shallow, so the deep aponeurosis is out of view, or
the superficial aponeurosis above the image) or turns the capture upside down
(``Variant.never_ok``) has no right thickness to expect: no result of it may be ``ok``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from musclethick.masks import inner_edges_from_mask, reference_column

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
    never_ok : bool
        The variant removes an aponeurosis from view (its thickness cannot be measured) or turns
        the capture upside down (the model's picture of a muscle is upright): a result must be
        ``flagged`` or ``failed``, never ``ok``.
    unsupported : str
        Why the tool does not measure this kind of capture yet (empty: it does). Its results
        may be ``failed``, and must still never be ``ok`` and wrong.
    own_thickness : bool
        The variant changes the vertical thickness itself (a turned image: the layers slope
        otherwise), so its results are judged against its own (changed) mask, not against the
        unmodified capture's result.
    """

    name: str
    describe: str
    scale_y: float = 1.0
    never_ok: bool = False
    unsupported: str = ""
    own_thickness: bool = False


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


def _inner_edges(mask: np.ndarray | None, rows: int, cols: int) -> tuple[int, int, int]:
    """``(column, superficial row, deep row)`` where a sonographer puts the calipers: the
    mask's reference column (:func:`musclethick.masks.reference_column`), on the first image
    row below the superficial band and the last above the deep one; without a mask (or
    without both bands) the middle column at 35 % and 65 % of the rows."""
    fallback = (cols // 2, int(0.35 * rows), int(0.65 * rows))
    if mask is None:
        return fallback
    sup, deep = inner_edges_from_mask(np.asarray(mask, dtype=bool))
    c = reference_column(sup, deep)
    if c is None:
        return fallback
    # the edges lie between rows (last band row + 0.5, first band row - 0.5)
    return c, round(float(sup[c]) + 0.5), round(float(deep[c]) - 0.5)


def _calipers(grey: np.ndarray, mask: np.ndarray | None):
    """On-screen calipers left in the capture: crosses at the two inner edges, a dotted line
    between them and the scanner's read-out beside it."""
    out = np.array(grey, copy=True)
    rows, cols = out.shape
    c, y0, y1 = _inner_edges(mask, rows, cols)
    for y in (y0, y1):
        cv2.line(out, (c - 6, y), (c + 6, y), 255, 1)
        cv2.line(out, (c, y - 6), (c, y + 6), 255, 1)
    for y in range(y0 + 8, y1 - 6, 8):
        cv2.line(out, (c, y), (c, y + 2), 230, 1)
    cv2.putText(out, "D 2.31cm", (c + 12, (y0 + y1) // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 255, 1)
    return out, mask


def _drawn_line(grey: np.ndarray, mask: np.ndarray | None):
    """A straight white line (2 px) drawn by hand or by the scanner across the middle 60 % of
    the width, 15 px above the deep aponeurosis's inner edge at the caliper column, where it
    can pass for the aponeurosis (an annotation or a measurement line left in the capture)."""
    out = np.array(grey, copy=True)
    rows, cols = out.shape
    _c, _y0, y1 = _inner_edges(mask, rows, cols)
    y = max(y1 - 15, 0)
    cv2.line(out, (int(0.2 * cols), y), (int(0.8 * cols), y), 255, 2)
    return out, mask


def _depth_cut(grey: np.ndarray, mask: np.ndarray | None, above_px: int = 8):
    """The imaging depth set too shallow: the capture ends ``above_px`` rows above the highest
    point of the deep aponeurosis's inner edge (without a mask, or without a deep band, at
    60 % of the rows), so the deep aponeurosis is out of view."""
    rows = grey.shape[0]
    cut = int(0.6 * rows)
    if mask is not None:
        _sup, deep = inner_edges_from_mask(np.asarray(mask, dtype=bool))
        if np.isfinite(deep).any():
            cut = int(np.floor(np.nanmin(deep))) - above_px
    cut = max(cut, 1)
    return grey[:cut], None if mask is None else mask[:cut]


def _top_cut(grey: np.ndarray, mask: np.ndarray | None, below_px: int = 8):
    """The superficial aponeurosis above the image (a probe pressed in, a zoomed display): the
    capture starts ``below_px`` rows below the lowest point of the superficial aponeurosis's
    inner edge (without a mask, or without a superficial band, at 40 % of the rows)."""
    rows = grey.shape[0]
    cut = int(0.4 * rows)
    if mask is not None:
        sup, _deep = inner_edges_from_mask(np.asarray(mask, dtype=bool))
        if np.isfinite(sup).any():
            cut = int(np.ceil(np.nanmax(sup))) + below_px
    cut = min(max(cut, 0), rows - 1)
    return grey[cut:], None if mask is None else mask[cut:]


def _smoothed(grey: np.ndarray, mask: np.ndarray | None):
    """Speckle reduction, as compound imaging and speckle filters show a scan (non-local
    means, strength 12)."""
    return cv2.fastNlMeansDenoising(np.ascontiguousarray(grey), None, 12, 7, 21), mask


def _sharpened(grey: np.ndarray, mask: np.ndarray | None):
    """Edge enhancement (unsharp mask, amount 1, sigma 2 px)."""
    g = grey.astype(np.float32)
    out = g + (g - cv2.GaussianBlur(g, (0, 0), 2.0))
    return np.clip(out, 0, 255).astype(np.uint8), mask


def _washed_out(grey: np.ndarray, mask: np.ndarray | None):
    """Another dynamic range: blacks lifted to 60, contrast 0.6."""
    return np.clip(60.0 + 0.6 * grey.astype(np.float32), 0, 255).astype(np.uint8), mask


def _narrow(grey: np.ndarray, mask: np.ndarray | None):
    """The central 60 % of the width (a shorter probe footprint)."""
    cols = grey.shape[1]
    a, b = int(0.2 * cols), int(0.8 * cols)
    return grey[:, a:b], None if mask is None else mask[:, a:b]


def _narrow_35(grey: np.ndarray, mask: np.ndarray | None):
    """The central 35 % of the imaging region's columns, the capture's full height (a short
    footprint or a narrowed sector on the same anatomy: a frame about three times deeper than
    wide)."""
    from musclethick.region import find_imaging_region

    box = find_imaging_region(grey)
    keep = max(2, int(0.35 * (box.x1 - box.x0)))
    a = box.x0 + (box.x1 - box.x0 - keep) // 2
    return grey[:, a : a + keep], None if mask is None else mask[:, a : a + keep]


def _upside_down(grey: np.ndarray, mask: np.ndarray | None):
    """Turned by 180 degrees, as a display's up/down setting with the probe held the other way
    shows a scan: the skin at the bottom."""
    return grey[::-1, ::-1], None if mask is None else mask[::-1, ::-1]


def _imaging_area(grey: np.ndarray, mask: np.ndarray | None):
    """The capture's imaging region (:func:`musclethick.region.find_imaging_region`) alone, and
    the mask cropped alike: what a geometry variant reshapes."""
    from musclethick.region import find_imaging_region

    box = find_imaging_region(grey)
    crop = (slice(box.y0, box.y1), slice(box.x0, box.x1))
    return grey[crop], None if mask is None else mask[crop]


def _trapezoid(grey: np.ndarray, mask: np.ndarray | None, inset: float = 0.15):
    """A trapezoid field of view (virtual convex or steered mode): the imaging region with its
    top corners black, the field widening from 70 % of the width at the skin to the full width
    at the bottom, inside a 20 px black display border. The anatomy and its depths are
    unchanged; the mask loses what the black corners hide."""
    g, m = _imaging_area(grey, mask)
    rows, cols = g.shape
    yy, xx = np.mgrid[:rows, :cols]
    side = inset * cols * (1.0 - yy / max(rows - 1, 1))
    outside = (xx < side) | (xx > cols - 1 - side)
    out = np.where(outside, 0, g).astype(np.uint8)
    pad = (20, 20, 20, 20)
    out = cv2.copyMakeBorder(out, *pad, cv2.BORDER_CONSTANT, value=0)
    if m is not None:
        m = np.where(outside, False, m).astype(np.uint8)
        m = cv2.copyMakeBorder(m, *pad, cv2.BORDER_CONSTANT, value=0).astype(bool)
    return out, m


def _sector(grey: np.ndarray, mask: np.ndarray | None, half_angle_deg: float = 25.0):
    """A curvilinear probe's sector: the imaging region scan-converted into a fan of +-25
    degrees whose probe face has a radius of 0.8 of the region's width, each image row one px
    of depth along its beam (so the middle beam keeps the thickness in px), outside the fan
    black. Flat aponeuroses become arcs; the beam is vertical only in the middle of the fan."""
    g, m = _imaging_area(grey, mask)
    rows, cols = g.shape
    half = np.deg2rad(half_angle_deg)
    r0 = 0.8 * cols
    r1 = r0 + rows
    apex_y = -r0 * np.cos(half)  # the fan's top corners on the first output row
    out_cols = int(np.ceil(2.0 * r1 * np.sin(half)))
    out_rows = int(np.ceil(r1 + apex_y)) + 1
    yy, xx = np.mgrid[:out_rows, :out_cols].astype(np.float32)
    dx, dy = xx - (out_cols - 1) / 2.0, yy - apex_y
    radius = np.hypot(dx, dy)
    theta = np.arctan2(dx, dy)
    map_y = (radius - r0).astype(np.float32)
    map_x = ((theta + half) / (2.0 * half) * (cols - 1)).astype(np.float32)
    border = cv2.BORDER_CONSTANT
    out = cv2.remap(g, map_x, map_y, cv2.INTER_LINEAR, borderMode=border, borderValue=0)
    if m is not None:
        m8 = np.asarray(m, dtype=np.uint8)
        m = cv2.remap(m8, map_x, map_y, cv2.INTER_NEAREST, borderMode=border, borderValue=0)
        m = m.astype(bool)
    return out, m


def _tilted(grey: np.ndarray, mask: np.ndarray | None, degrees: float = 10.0):
    """The probe tilted: the imaging region turned by ``degrees`` and cut to the largest
    upright rectangle inside it (:func:`musclethick.train.augment.turned`), so that the
    aponeuroses slope 10 degrees more (or less) than they did."""
    from musclethick.train.augment import turned

    g, m = _imaging_area(grey, mask)
    channel = None if m is None else np.asarray(m, np.float32)[..., None]
    out, t = turned(g, channel, degrees)
    return out, None if t is None else t[..., 0] > 0.5


def _label(grey: np.ndarray, mask: np.ndarray | None):
    """Text the sonographer typed into the image (site and side, the probe orientation)."""
    out = np.array(grey, copy=True)
    rows, cols = out.shape
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(out, "R VL 50%", (cols // 3, rows // 6), font, 0.8, 255, 2)
    cv2.putText(out, "TRANS", (cols // 2, rows - rows // 8), font, 0.6, 255, 1)
    return out, mask


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
        # other scanners' looks and what labs leave in a capture
        (
            Variant("calipers", "caliper crosses at the inner edges, dotted line, read-out"),
            _calipers,
        ),
        (
            Variant("drawn_line", "a straight line drawn 15 px above the deep aponeurosis"),
            _drawn_line,
        ),
        (Variant("smoothed", "speckle reduction (non-local means, strength 12)"), _smoothed),
        (Variant("sharpened", "edge enhancement (unsharp mask, amount 1, sigma 2 px)"), _sharpened),
        (Variant("washed_out", "other dynamic range: blacks at 60, contrast 0.6"), _washed_out),
        (Variant("narrow", "central 60 % of the width (shorter probe footprint)"), _narrow),
        (
            Variant("narrow_35", "central 35 % of the imaging width (3x deeper than wide)"),
            _narrow_35,
        ),
        (Variant("label", "site text typed into the image"), _label),
        # other probes' fields of view
        (
            Variant("trapezoid", "trapezoid field: top corners black, 70 % wide at the skin"),
            _trapezoid,
        ),
        (
            Variant(
                "tilted", "the probe tilted: imaging region turned 10 degrees", own_thickness=True
            ),
            _tilted,
        ),
        (
            Variant(
                "sector",
                "curvilinear sector of +-25 degrees (a convex probe; measured on its beam view)",
            ),
            _sector,
        ),
        # what the measurement needs cut off, or the capture upside down: never ok
        (
            Variant(
                "depth_cut",
                "ends 8 px above the deep aponeurosis (depth too shallow)",
                never_ok=True,
            ),
            _depth_cut,
        ),
        (
            Variant(
                "top_cut",
                "starts 8 px below the superficial aponeurosis (it is above the image)",
                never_ok=True,
            ),
            _top_cut,
        ),
        (
            Variant(
                "upside_down",
                "turned upside down (a display's up/down setting)",
                never_ok=True,
            ),
            _upside_down,
        ),
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
