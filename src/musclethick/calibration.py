"""Physical pixel size from DICOM regions, PixelSpacing, depth, two points or an on-screen ruler.

All functions are pure: arrays and small frozen dataclasses in, :class:`Calibration` out.
They raise :class:`~musclethick.errors.CalibrationError` when no trustworthy calibration can
be derived; they never invent a pixel size.

On-screen ruler assumption
--------------------------
Scanner displays draw a depth scale beside the image: a column of tick marks whose *major*
ticks are 10 mm apart (minor ticks, when present, are shorter and lie between them). The
tick spacing in pixels is measured and 10 mm is divided by it. This holds for the Telemed
(Echo Blaster / ArtUs / SmartUs), Philips HD11 and Hitachi Aloka layouts of the DL_Track
data, where the printed depth labels (e.g. "0" ... "50") agree with 10 mm major ticks.
The assumption is written into :attr:`Calibration.note`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .errors import CalibrationError
from .io.options import CalibrationOptions
from .types import Calibration, PixelBox

__all__ = [
    "RULER_MAJOR_TICK_MM",
    "RulerTicks",
    "UltrasoundRegion",
    "find_ruler_ticks",
    "from_depth",
    "from_options",
    "from_pixel_spacing",
    "from_ruler",
    "from_two_points",
    "from_ultrasound_regions",
]

#: Distance between two major ticks of an on-screen depth ruler (assumed).
RULER_MAJOR_TICK_MM = 10.0

#: DICOM PhysicalUnits{X,Y}Direction code for centimetres.
_UNITS_CM = 3
#: A region box that overruns the pixel data by at most this many pixels is clipped
#: (DICOM writers disagree whether RegionLocationMax is inclusive); more is not trusted.
_MAX_OVERRUN_PX = 2
#: Major ruler ticks closer than this are text strokes (10 mm < 15 px would be > 0.67 mm/px).
_MIN_TICK_SPACING_PX = 15.0


@dataclass(frozen=True)
class UltrasoundRegion:
    """One item of the DICOM Sequence of Ultrasound Regions (0018,6011).

    Attributes
    ----------
    min_x0, min_y0, max_x1, max_y1 : int
        RegionLocationMinX0 / MinY0 / MaxX1 / MaxY1 (the max corner is *inclusive*).
    spatial_format : int
        RegionSpatialFormat: 1 = 2D (tissue or flow), 2 = M-mode, 3 = spectral, ...
    data_type : int
        RegionDataType: 1 = tissue, 2 = colour flow, ...
    units_x, units_y : int
        PhysicalUnitsX/YDirection: 3 = cm, 0 = none, ...
    delta_x, delta_y : float
        PhysicalDeltaX/Y: physical size of one pixel in ``units_x`` / ``units_y``.
    """

    min_x0: int
    min_y0: int
    max_x1: int
    max_y1: int
    spatial_format: int = 1
    data_type: int = 1
    units_x: int = _UNITS_CM
    units_y: int = _UNITS_CM
    delta_x: float = 0.0
    delta_y: float = 0.0

    @property
    def is_tissue_2d(self) -> bool:
        """A 2D B-mode tissue region with a physical pixel size in cm."""
        return (
            self.spatial_format == 1
            and self.data_type == 1
            and self.units_y == _UNITS_CM
            and self.delta_y > 0
        )

    def describe(self) -> str:
        return f"({self.min_x0},{self.min_y0})-({self.max_x1},{self.max_y1})"


def from_ultrasound_regions(
    regions: Sequence[UltrasoundRegion], *, image_shape: tuple[int, ...]
) -> list[tuple[PixelBox, Calibration]]:
    """Boxes and calibrations of the 2D tissue regions of a DICOM ultrasound image.

    Parameters
    ----------
    regions : sequence of UltrasoundRegion
        Items of the Sequence of Ultrasound Regions, in file order.
    image_shape : tuple of int
        ``(rows, cols, ...)`` of the pixel data the regions should describe.

    Returns
    -------
    list of (PixelBox, Calibration)
        One entry per usable tissue region, left to right as in the file; empty when the file
        has no 2D tissue region with a physical size in cm. Source ``"dicom_region"``.

    Raises
    ------
    CalibrationError
        If tissue regions exist but none fits the pixel data. Policy: a box overrunning the
        pixel data by at most 2 px (an inclusive/exclusive off-by-one) is clipped and the
        clipping noted; a box overrunning by more (it refers to other pixels, e.g. the
        image was rescaled or cropped after the regions were written) is not trusted.
    """
    rows, cols = int(image_shape[0]), int(image_shape[1])
    tissue = [r for r in regions if r.is_tissue_2d]
    out: list[tuple[PixelBox, Calibration]] = []
    rejected: list[str] = []
    for region in tissue:
        x0, y0 = int(region.min_x0), int(region.min_y0)
        x1, y1 = int(region.max_x1) + 1, int(region.max_y1) + 1  # inclusive -> half-open
        over_x, over_y = max(0, x1 - cols), max(0, y1 - rows)
        if x0 < 0 or y0 < 0 or x0 >= cols or y0 >= rows or x1 <= x0 or y1 <= y0:
            rejected.append(f"region {region.describe()} lies outside the {rows}x{cols} pixels")
            continue
        if over_x > _MAX_OVERRUN_PX or over_y > _MAX_OVERRUN_PX:
            rejected.append(
                f"region {region.describe()} overruns the {rows}x{cols} pixels by "
                f"{over_x} px in x and {over_y} px in y"
            )
            continue
        box = PixelBox(x0, y0, min(x1, cols), min(y1, rows))
        mm_y = float(region.delta_y) * 10.0
        mm_x = float(region.delta_x) * 10.0 if region.units_x == _UNITS_CM else None
        if mm_x is not None and mm_x <= 0:
            mm_x = None
        note = f"DICOM ultrasound region {region.describe()}"
        if over_x or over_y:
            note += f" clipped by {over_x} px in x and {over_y} px in y to fit the pixel data"
        out.append((box, Calibration(mm_x, mm_y, "dicom_region", note)))
    if tissue and not out:
        raise CalibrationError("ultrasound region calibration not trusted: " + "; ".join(rejected))
    if rejected and out:
        extra = "; ignored " + "; ".join(rejected)
        out = [
            (box, Calibration(c.mm_per_px_x, c.mm_per_px_y, c.source, c.note + extra))
            for box, c in out
        ]
    return out


def from_pixel_spacing(row_mm: float, col_mm: float, *, note: str = "") -> Calibration:
    """Calibration from DICOM PixelSpacing / ImagerPixelSpacing ``[row, col]`` in mm."""
    if not (_positive(row_mm) and _positive(col_mm)):
        raise CalibrationError(f"invalid pixel spacing {row_mm!r} x {col_mm!r} mm")
    return Calibration(float(col_mm), float(row_mm), "pixel_spacing", note)


def from_depth(depth_mm: float, *, region_height_px: int) -> Calibration:
    """Square pixels from the depth shown by the imaging region.

    Parameters
    ----------
    depth_mm : float
        Depth from the top to the bottom of the imaging region in mm.
    region_height_px : int
        Height of the imaging region in px.
    """
    if not _positive(depth_mm) or region_height_px <= 0:
        raise CalibrationError(
            f"invalid depth {depth_mm!r} mm over a region of {region_height_px!r} px"
        )
    return Calibration.isotropic(
        depth_mm / region_height_px,
        "depth",
        f"depth {depth_mm:g} mm over {region_height_px} px, square pixels assumed",
    )


def from_two_points(
    p0_xy: tuple[float, float], p1_xy: tuple[float, float], *, distance_mm: float
) -> Calibration:
    """Square pixels from two points ``(x, y)`` ``distance_mm`` apart (source ``"clicked"``)."""
    dist_px = math.hypot(p1_xy[0] - p0_xy[0], p1_xy[1] - p0_xy[1])
    if not _positive(distance_mm) or not dist_px > 0:
        raise CalibrationError(
            f"cannot calibrate from points {p0_xy} and {p1_xy} {distance_mm!r} mm apart"
        )
    return Calibration.isotropic(
        distance_mm / dist_px,
        "clicked",
        f"{distance_mm:g} mm between ({p0_xy[0]:.1f}, {p0_xy[1]:.1f}) and "
        f"({p1_xy[0]:.1f}, {p1_xy[1]:.1f})",
    )


def from_options(options: CalibrationOptions, *, region_height_px: int) -> Calibration | None:
    """The user's calibration (``mm_per_px`` first, then ``depth_mm``), or ``None``."""
    if options.mm_per_px is not None:
        return Calibration.isotropic(options.mm_per_px, "user", "given by the user")
    if options.depth_mm is not None:
        return from_depth(options.depth_mm, region_height_px=region_height_px)
    return None


def _positive(value: float) -> bool:
    try:
        return math.isfinite(float(value)) and float(value) > 0
    except (TypeError, ValueError):
        return False


# ----------------------------------------------------------------------------------------
# On-screen ruler
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RulerTicks:
    """Major ticks of a depth ruler found on screen.

    Attributes
    ----------
    y_px : ndarray of float
        Rows of the major ticks (centre of each tick mark).
    x0, x1 : int
        Columns spanned by the major ticks (half-open).
    spacing_px : float
        Distance between neighbouring major ticks (least-squares fit).
    n_minor : int
        Number of shorter ticks between the major ones.
    residual_px : float
        Largest deviation of a tick from the fitted regular grid.
    """

    y_px: np.ndarray
    x0: int
    x1: int
    spacing_px: float
    n_minor: int
    residual_px: float


def _grey(image: np.ndarray) -> np.ndarray:
    """Grey levels: ``uint8`` input as is, anything else as ``float64``."""
    a = np.asarray(image)
    if a.ndim == 3:
        a = a[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return a if a.dtype == np.uint8 else a.astype(np.float64)


def _median(values: np.ndarray) -> float:
    """``np.median`` of a 1-D array, by counting for ``uint8``."""
    if values.dtype != np.uint8:
        return float(np.median(values))
    cum = np.cumsum(np.bincount(values, minlength=256))
    n = int(cum[-1])
    lo = int(np.searchsorted(cum, (n - 1) // 2, side="right"))
    hi = int(np.searchsorted(cum, n // 2, side="right"))
    return (lo + hi) / 2.0


def find_ruler_ticks(
    image: np.ndarray,
    *,
    region: PixelBox | None = None,
    min_ticks: int = 4,
    max_tick_height_px: int = 3,
    max_tick_width_px: int = 30,
) -> RulerTicks:
    """Find the column of regularly spaced depth-ruler ticks beside the imaging region.

    Tick marks are short horizontal bright strokes (at most ``max_tick_height_px`` high,
    2 to ``max_tick_width_px`` long) that share one end column (they hang off the ruler's
    line or the image border) and stand alone (text strokes have neighbours within a few
    rows). Long vertical lines are removed first. Among all aligned groups the one with the
    most ticks on a regular grid wins; when the group holds long and short ticks, the long
    ones are the major ticks. With a ``region``, the ticks must run along it (at least two
    at its rows, spanning a quarter of its height or more).

    Parameters
    ----------
    image : ndarray, shape (rows, cols) or (rows, cols, 3)
        The whole screen capture.
    region : PixelBox, optional
        The imaging region; ticks inside it are ignored.

    Returns
    -------
    RulerTicks

    Raises
    ------
    CalibrationError
        If no group of at least ``min_ticks`` regularly spaced ticks is found.
    """
    g = _grey(image)
    cols = g.shape[1]
    if region is not None:
        # a depth ruler stands beside the image: search the columns left and right of it
        # (each strip on its own: nothing connects them across the masked image)
        spans = [(0, min(region.x0 + 1, cols)), (max(region.x1 - 1, 0), cols)]
        spans = [(a, b) for a, b in spans if b > a]
    else:
        spans = [(0, cols)]
    strips = [np.ascontiguousarray(g[:, a:b]) for a, b in spans]
    if not strips:
        raise CalibrationError("no depth-ruler tick marks found beside the imaging region")
    background = _median(np.concatenate([s.ravel() for s in strips]))
    found = [
        _tick_candidates(
            strip,
            background,
            max_tick_height_px=max_tick_height_px,
            max_tick_width_px=max_tick_width_px,
            x_offset=a,
        )
        for strip, (a, _) in zip(strips, spans, strict=True)
    ]
    cand = np.concatenate(found, axis=0)
    if len(cand) < min_ticks:
        raise CalibrationError("no depth-ruler tick marks found beside the imaging region")
    arr = cand.astype(np.float64)
    best: RulerTicks | None = None
    best_score = -1.0
    for end_col in (1, 2):  # ticks aligned on their left (x0) or right (x1) end
        ends = arr[:, end_col].astype(np.int64)  # integer columns
        lo = int(ends.min())
        # ticks ending within +-1 column of each column: only anchors with enough of them can
        # hold a ruler (the same groups as testing every anchor, without the Python loop)
        counts = np.concatenate([[0], np.bincount(ends - lo), [0]])
        near = counts[:-2] + counts[1:-1] + counts[2:]
        for anchor in np.unique(ends):
            if near[anchor - lo] < min_ticks:
                continue
            group = arr[np.abs(arr[:, end_col] - anchor) <= 1]
            found = _regular_ticks(group, min_ticks=min_ticks)
            if found is None or (region is not None and not _beside(found, region)):
                continue
            score = len(found.y_px) + 0.5 * found.n_minor - found.residual_px
            if score > best_score:
                best, best_score = found, score
    if best is None:
        raise CalibrationError("no regularly spaced depth-ruler ticks found")
    return best


def _tick_candidates(
    g: np.ndarray,
    background: float,
    *,
    max_tick_height_px: int,
    max_tick_width_px: int,
    x_offset: int,
) -> np.ndarray:
    """Isolated short horizontal bright strokes of ``g``: rows ``(y_centre, x0, x1)``."""
    bright = (g > background + 40.0).view(np.uint8)
    # Remove vertical strokes (ruler line, borders, text stems): runs longer than a tick
    # (a binary opening; pixels outside the image count as 0).
    kernel = np.ones((max_tick_height_px + 2, 1), np.uint8)
    vertical = cv2.erode(bright, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    vertical = cv2.dilate(vertical, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    ticks_mask = bright & (1 - vertical)
    n, _, stats, _ = cv2.connectedComponentsWithStats(ticks_mask, connectivity=8)
    if n <= 1:
        return np.zeros((0, 3))
    x, y, w, h = (stats[1:, i].astype(np.int64) for i in range(4))
    shape_ok = (h <= max_tick_height_px) & (w >= 2) & (w <= max_tick_width_px) & (w >= h)
    x, y, w, h = x[shape_ok], y[shape_ok], w[shape_ok], h[shape_ok]
    # a tick stands alone: nothing else within 4 rows above/below (text strokes do not)
    rows, cols = ticks_mask.shape
    integral = cv2.integral(ticks_mask, sdepth=cv2.CV_32S)

    def box_sum(y0: np.ndarray, y1: np.ndarray, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        return integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]

    around = box_sum(
        np.maximum(y - 4, 0),
        np.minimum(y + h + 4, rows),
        np.maximum(x - 1, 0),
        np.minimum(x + w + 1, cols),
    )
    alone = around <= box_sum(y, y + h, x, x + w)
    cand = np.stack([y + (h - 1) / 2.0, x + x_offset, x + w + x_offset], axis=1)[alone]
    return cand.astype(np.float64)


def _beside(ticks: RulerTicks, region: PixelBox) -> bool:
    """A depth ruler runs along the image: ticks at its rows, spanning a good part of it."""
    margin = 0.1 * region.height
    near = (ticks.y_px >= region.y0 - margin) & (ticks.y_px <= region.y1 + margin)
    span = float(ticks.y_px[-1] - ticks.y_px[0])
    return int(near.sum()) >= 2 and span >= 0.25 * region.height


def _regular_ticks(group: np.ndarray, *, min_ticks: int) -> RulerTicks | None:
    """The major ticks of one aligned group if they form a regular grid, else ``None``."""
    group = group[np.argsort(group[:, 0])]
    widths = group[:, 2] - group[:, 1]
    major = group
    n_minor = 0
    if widths.max() >= 1.5 * widths.min():
        long = widths >= (widths.max() + widths.min()) / 2.0
        if long.sum() >= min_ticks:
            major, n_minor = group[long], int((~long).sum())
    y = major[:, 0]
    # merge duplicates (a tick split into two components)
    y = np.array([v for i, v in enumerate(y) if i == 0 or v - y[i - 1] > 2.0])
    if len(y) < min_ticks:
        return None
    d = np.diff(y)
    spacing = float(np.median(d))
    if spacing < _MIN_TICK_SPACING_PX:
        return None
    # The longest run of consecutive ticks on one spacing (a stray stroke at either end,
    # e.g. an axis line, is left out; a ruler has no missing major tick inside the run).
    ok = np.abs(d - spacing) <= max(1.5, 0.03 * spacing)
    best_start, best_len, start = 0, 0, 0
    for i in range(len(ok) + 1):
        if i == len(ok) or not ok[i]:
            if i - start > best_len:
                best_start, best_len = start, i - start
            start = i + 1
    if best_len + 1 < min_ticks:
        return None
    y = y[best_start : best_start + best_len + 1]
    used = major[(major[:, 0] >= y[0] - 2.0) & (major[:, 0] <= y[-1] + 2.0)]
    idx = np.arange(len(y), dtype=np.float64)
    slope, intercept = np.polyfit(idx, y, 1)
    residual = float(np.max(np.abs(y - (slope * idx + intercept))))
    return RulerTicks(
        y_px=y,
        x0=int(used[:, 1].min()),
        x1=int(used[:, 2].max()),
        spacing_px=float(slope),
        n_minor=n_minor,
        residual_px=residual,
    )


def from_ruler(image: np.ndarray, *, region: PixelBox | None = None) -> Calibration:
    """Square pixels from the on-screen depth ruler of a scanner screen capture.

    Parameters
    ----------
    image : ndarray, shape (rows, cols) or (rows, cols, 3)
        The whole screen capture (not cropped to the imaging region).
    region : PixelBox, optional
        The imaging region; ticks inside it are ignored. Found with
        :func:`musclethick.region.find_imaging_region` when not given.

    Returns
    -------
    Calibration
        Source ``"ruler"``, ``mm_per_px = 10 mm / major tick spacing``; the note states the
        assumption (10 mm between major ticks, square pixels) and the ticks used.

    Raises
    ------
    CalibrationError
        If no ruler is found.
    """
    if region is None:
        from .region import find_imaging_region

        region = find_imaging_region(image)
    if region == PixelBox.full(np.shape(image)):
        raise CalibrationError("no display around the imaging region: no on-screen ruler")
    ticks = find_ruler_ticks(image, region=region)
    mm_per_px = RULER_MAJOR_TICK_MM / ticks.spacing_px
    note = (
        f"on-screen ruler: {len(ticks.y_px)} major ticks at x {ticks.x0}-{ticks.x1 - 1}, "
        f"y {ticks.y_px[0]:.0f}-{ticks.y_px[-1]:.0f}, spacing {ticks.spacing_px:.2f} px "
        f"assumed {RULER_MAJOR_TICK_MM:g} mm"
        + (f" ({ticks.n_minor} minor ticks)" if ticks.n_minor else "")
        + "; square pixels assumed"
    )
    return Calibration.isotropic(mm_per_px, "ruler", note)
