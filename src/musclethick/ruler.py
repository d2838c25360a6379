"""Reading the on-screen depth scale of a scanner screen capture, the way a person does (pure).

A depth scale is a column of tick marks beside the image, often with printed depth numbers,
and many displays also print the depth of the image ("D 4.0 cm", "De 50 mm"). No single cue
gives the scale reliably: the distance between two ticks is 1, 2, 5 or 10 mm depending on the
scanner and the depth setting, and printed numbers are in cm on some displays and in mm on
others. :func:`read_ruler` therefore collects every independent source and cross-checks them:

``labels``
    Printed depth numbers read by an OCR engine (:mod:`musclethick.ocr`) in one column on one
    side of the ticks, each moved to the tick it labels; mm per px is the slope of depth
    against tick row (at least two numbers).
    Numbers with a decimal point, or that step by less than 5, are cm; others are mm (a unit
    giving an imaging depth outside 10-400 mm is rejected for the other).
``ticks``
    The tick grid (least-squares spacing of all ticks, minor included) times the mm per tick
    the labels imply, which must be a standard step (0.5, 1, 2, 2.5, 5 or 10 mm): numbers
    implying none are taken for misreadings and ignored.
``depth_readout``
    A displayed depth ("D 4.0 cm", "4 cm", "De 50 mm") over the height of the imaging area;
    without labels it picks the standard tick step that matches it.

A number counts only where it fills the box of the strokes it was read from (a digit dropped
or added by the OCR leaves the box too wide or too narrow) and is printed in the size of the
others; two numbers alone must put 0 mm at the top of the image, where a depth scale starts.

A reading is *confirmed* when two sources agree within 2 %. Otherwise (unlabelled ticks only,
no OCR engine, or sources that disagree) it still reports a pixel size (10 mm per major tick,
the most common convention, or the labels' value) but is unconfirmed: the calibration then
carries the flag ``calibration_unconfirmed`` and the results are ``flagged``.

Captures may be mirrored (the digits are then read flipped) and the display light or dark.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from .errors import CalibrationError
from .io._pixels import to_grey_uint8
from .ocr import TextReader
from .types import PixelBox

__all__ = [
    "AGREEMENT_TOLERANCE",
    "ASSUMED_MAJOR_TICK_MM",
    "STANDARD_TICK_STEPS_MM",
    "RulerLabel",
    "RulerReading",
    "RulerTicks",
    "find_ruler_ticks",
    "read_ruler",
    "same_display",
]

#: mm between major ticks assumed when nothing on screen says otherwise (unconfirmed).
ASSUMED_MAJOR_TICK_MM = 10.0
#: Distances between neighbouring ticks that scanners use (mm).
STANDARD_TICK_STEPS_MM = (0.5, 1.0, 2.0, 2.5, 5.0, 10.0)
#: Sources that differ by more than this (relative) do not confirm each other.
AGREEMENT_TOLERANCE = 0.02
#: mm between the long ticks of a scale that has long and short ones.
_MAJOR_TICK_STEPS_MM = (5.0, 10.0)
#: Imaging depths a label unit may imply (mm).
_DEPTH_RANGE_MM = (10.0, 400.0)
#: Major ticks closer than this are text strokes (10 mm < 15 px would be > 0.67 mm/px).
_MIN_TICK_SPACING_PX = 15.0
#: Numbers read with a lower OCR confidence (0-100) are not used.
_MIN_LABEL_CONFIDENCE = 50.0
#: Columns searched for printed numbers on either side of the ticks.
_LABEL_BAND_PX = 45
#: A ruler number as scanners print it: no leading zero ("0", "5", "10", "0.5", "1.5"). A read
#: such as "03" or "09" is a misread (a mirrored "60" read as printed, on a stretched capture):
#: taken as 3 it halved the scale and the tick grid agreed with it.
_LABEL = re.compile(r"^(?:0|[1-9]\d{0,2})(?:\.\d{1,2})?$")
#: Words that name the value after them as the depth (OCR reads "Depth" as "Dept" in small
#: display fonts: a new-user trial).
_DEPTH_WORDS = ("D", "De", "Dep", "Dept", "Depth", "DEPTH", "Dept:", "Depth:", "D:")
_DEPTH_WORD = re.compile(rf"^(?:{'|'.join(_DEPTH_WORDS)})$")
#: A depth read-out in one word, its depth word first or not ("em": "cm" as OCR reads it).
_DEPTH = re.compile(rf"^({'|'.join(_DEPTH_WORDS)}|d)?(\d{{1,3}}(?:\.\d{{1,2}})?)(cm|mm|CM|MM|em)$")
#: Width over height of one printed digit, and what a decimal point adds: a number read must
#: fill the box its strokes make. Printed digits measure 0.5-0.9 (the committed captures and
#: the synthetic corpus); a "60" read as "3" fills a box 1.14-1.22 wide, a tick's fragment
#: read as "7" one 0.03 wide (a new-user trial: both gave a ``confirmed`` scale off by 2-5x).
_DIGIT_WIDTH = (0.25, 1.0)
_POINT_WIDTH = (0.1, 0.6)
#: Numbers of one scale are printed in one size: heights differing by more than this share of
#: the taller one are not one scale's.
_LABEL_HEIGHT_SPREAD = 0.35


@dataclass(frozen=True)
class RulerTicks:
    """Ticks of a depth ruler found on screen.

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
        Largest deviation of a major tick from the fitted regular grid.
    tick_y_px : ndarray of float
        Rows of all ticks of the scale, minor included, on one regular grid.
    fine_spacing_px : float
        Distance between neighbouring ticks of ``tick_y_px`` (least-squares fit).
    polarity : str
        ``"bright"`` (light marks on a dark display) or ``"dark"``.
    """

    y_px: np.ndarray
    x0: int
    x1: int
    spacing_px: float
    n_minor: int
    residual_px: float
    tick_y_px: np.ndarray = field(default_factory=lambda: np.zeros(0))
    fine_spacing_px: float = 0.0
    polarity: str = "bright"


@dataclass(frozen=True)
class RulerLabel:
    """A printed depth number, read and matched to its tick.

    Attributes
    ----------
    text : str
        As read.
    value_mm : float
        Depth in mm (after the cm/mm decision).
    box : PixelBox
        Where the number is printed.
    tick_y_px : float
        Row of the tick it labels.
    confidence : float
        OCR confidence, 0-100.
    """

    text: str
    value_mm: float
    box: PixelBox
    tick_y_px: float
    confidence: float


@dataclass(frozen=True)
class RulerReading:
    """Everything read from a depth scale, and the verdict.

    Attributes
    ----------
    ticks : RulerTicks
        The tick column.
    region : PixelBox
        The imaging region beside it.
    labels : tuple of RulerLabel
        Printed numbers used for the scale (consistent with one another).
    words : tuple of (PixelBox, str)
        Every word read near the ruler and on the display (for the confirmation overlay).
    depth_mm : float or None
        Displayed depth read on screen.
    estimates : tuple of (str, float)
        mm per px from each source that gave one: ``labels``, ``ticks``, ``depth_readout``,
        ``assumed_ticks``.
    mm_per_px : float
        The pixel size reported.
    confirmed : bool
        True when two independent sources agree within :data:`AGREEMENT_TOLERANCE`.
    reason : str
        Which sources agree, or why the reading is unconfirmed.
    mirrored : bool
        The digits read mirrored (a horizontally flipped capture).
    reader : str
        OCR engine used (``""`` without one).
    looked_at : PixelBox or None
        The part of the capture the reading depends on: the tick and number band, or the
        whole capture when the display was also searched for a depth read-out (``None``:
        not recorded). Another capture whose pixels there are the same (outside the imaging
        region) reads the same: :func:`same_display`.
    """

    ticks: RulerTicks
    region: PixelBox
    labels: tuple[RulerLabel, ...]
    words: tuple[tuple[PixelBox, str], ...]
    depth_mm: float | None
    estimates: tuple[tuple[str, float], ...]
    mm_per_px: float
    confirmed: bool
    reason: str
    mirrored: bool = False
    reader: str = ""
    looked_at: PixelBox | None = None

    def describe(self) -> str:
        """One line: the ticks, the numbers read and the verdict."""
        t = self.ticks
        parts = [
            f"on-screen ruler: {len(t.tick_y_px)} ticks every {t.fine_spacing_px:.2f} px at x "
            f"{t.x0}-{t.x1 - 1}, y {t.tick_y_px[0]:.0f}-{t.tick_y_px[-1]:.0f}"
        ]
        if self.labels:
            parts.append(
                "labels " + ", ".join(f"{lab.text!r}@{lab.tick_y_px:.0f}" for lab in self.labels)
            )
        if self.depth_mm is not None:
            parts.append(f"depth read-out {self.depth_mm:g} mm")
        if self.mirrored:
            parts.append("mirrored capture")
        parts.append(
            ("confirmed: " if self.confirmed else "unconfirmed: ")
            + self.reason
            + f" -> {self.mm_per_px:.5f} mm/px"
        )
        return "; ".join(parts)


# ----------------------------------------------------------------------------------------
# Ticks
# ----------------------------------------------------------------------------------------


def _grey_u8(image: np.ndarray) -> np.ndarray:
    """Grey ``uint8`` by the package's one pixel conversion (:func:`to_grey_uint8`)."""
    return to_grey_uint8(image)


def _median(values: np.ndarray) -> float:
    """``np.median`` of a 1-D ``uint8`` array, by counting."""
    cum = np.cumsum(np.bincount(values, minlength=256))
    n = int(cum[-1])
    lo = int(np.searchsorted(cum, (n - 1) // 2, side="right"))
    hi = int(np.searchsorted(cum, n // 2, side="right"))
    return (lo + hi) / 2.0


def find_ruler_ticks(
    image: np.ndarray,
    *,
    region: PixelBox | None = None,
    polarity: str = "auto",
    min_ticks: int = 4,
    max_tick_height_px: int = 3,
    max_tick_width_px: int = 30,
) -> RulerTicks:
    """Find the column of regularly spaced depth-ruler ticks beside the imaging region.

    Tick marks are short horizontal strokes (at most ``max_tick_height_px`` high, 2 to
    ``max_tick_width_px`` long) that share one end column (they hang off the ruler's line or
    the image border) and stand alone (text strokes have neighbours within a few rows). Long
    vertical lines are removed first. Among all aligned groups the one with the most ticks on
    a regular grid wins; when the group holds long and short ticks, the long ones are the
    major ticks. With a ``region``, the ticks must run along it (at least two at its rows,
    spanning a quarter of its height or more).

    Parameters
    ----------
    image : ndarray, shape (rows, cols) or (rows, cols, 3)
        The whole screen capture.
    region : PixelBox, optional
        The imaging region; ticks inside it are ignored.
    polarity : {"auto", "bright", "dark"}
        Light marks on a dark display, dark marks on a light one, or the better of both.

    Returns
    -------
    RulerTicks

    Raises
    ------
    CalibrationError
        If no group of at least ``min_ticks`` regularly spaced ticks is found.
    """
    columns, _, _, fx, fy = _find_columns(
        _grey_u8(image),
        region,
        polarity,
        min_ticks=min_ticks,
        max_tick_height_px=max_tick_height_px,
        max_tick_width_px=max_tick_width_px,
    )
    return columns[0] if (fx, fy) == (1.0, 1.0) else _ticks_times(columns[0], fx, fy)


def _find_columns(
    g: np.ndarray, region: PixelBox | None, polarity: str = "auto", **options: int
) -> tuple[list[RulerTicks], np.ndarray, PixelBox | None, float, float]:
    """The tick columns of ``g`` (:func:`_tick_columns`), or of a copy reduced by one of
    :data:`_ENLARGED_FACTORS` when ``g`` has none (an enlarged capture, a HiDPI screenshot:
    its ticks are thicker than a tick may be): ``(columns, the pixels and imaging region they
    were found in, fx, fy)``, ``fx`` and ``fy`` the factors back to ``g``'s pixels.

    Raises
    ------
    CalibrationError
        No tick column at any of these sizes.
    """
    columns = _tick_columns(g, region, polarity, **options)
    if columns:
        return columns, g, region, 1.0, 1.0
    for factor in _ENLARGED_FACTORS:
        reduced = _resized(g, region, 1.0 / factor)
        if reduced is None:
            continue
        small, small_region, fx, fy = reduced
        columns = _tick_columns(small, small_region, polarity, **options)
        if columns:
            return columns, small, small_region, fx, fy
    raise CalibrationError("no regularly spaced depth-ruler ticks found beside the image")


#: Tick groups whose columns lie closer than this (px) are one ruler (major and minor ticks,
#: both ends of the same marks).
_SAME_COLUMN_PX = 10


def _tick_columns(
    g: np.ndarray,
    region: PixelBox | None,
    polarity: str = "auto",
    *,
    min_ticks: int = 4,
    max_tick_height_px: int = 3,
    max_tick_width_px: int = 30,
) -> list[RulerTicks]:
    """The best tick group of every column that holds one, best first (see
    :func:`find_ruler_ticks`): the first is the ruler; another is a second scale beside the
    image, which none of 400 real captures (DL_Track, Telemed) holds."""
    tries = ("bright", "dark") if polarity == "auto" else (polarity,)
    # a letterbox around the whole screen (a small display shown on a large screen) is not
    # the display: its flat colour would be taken for the display's background (the same
    # rows and columns in the capture and its negative)
    inside = _inside_letterbox(g)
    found: list[tuple[float, RulerTicks]] = []
    for pol in tries:
        found += _find_ticks(
            g if pol == "bright" else 255 - g,
            region,
            pol,
            inside,
            min_ticks=min_ticks,
            max_tick_height_px=max_tick_height_px,
            max_tick_width_px=max_tick_width_px,
        )
    found.sort(key=lambda item: -item[0])
    columns: list[RulerTicks] = []
    for _, ticks in found:
        if all(abs(ticks.x0 - c.x0) > _SAME_COLUMN_PX for c in columns):
            columns.append(ticks)
    return columns


def _find_ticks(
    g: np.ndarray,
    region: PixelBox | None,
    polarity: str,
    inside: tuple[tuple[int, int], tuple[int, int]],
    *,
    min_ticks: int,
    max_tick_height_px: int,
    max_tick_width_px: int,
) -> list[tuple[float, RulerTicks]]:
    (r0, r1), (c0, c1) = inside  # the rows and columns inside a letterbox (_inside_letterbox)
    if region is not None:
        # a depth ruler stands beside the image: search the columns left and right of it
        # (each strip on its own: nothing connects them across the masked image)
        spans = [(c0, min(region.x0 + 1, c1)), (max(region.x1 - 1, c0), c1)]
        spans = [(a, b) for a, b in spans if b > a]
    else:
        spans = [(c0, c1)]
    strips = [np.ascontiguousarray(g[:, a:b]) for a, b in spans]
    if not strips:
        return []
    background = _median(np.concatenate([s[r0:r1].ravel() for s in strips]))
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
        return []
    arr = cand.astype(np.float64)
    groups: list[tuple[float, RulerTicks]] = []
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
            ticks = _regular_ticks(group, min_ticks=min_ticks, polarity=polarity)
            if ticks is None or (region is not None and not _beside(ticks, region)):
                continue
            groups.append((len(ticks.y_px) + 0.5 * ticks.n_minor - ticks.residual_px, ticks))
    return groups


#: Grey levels a letterbox's rows and columns may vary by (JPEG noise) and still be flat.
_LETTERBOX_TOLERANCE = 3


def _inside_letterbox(g: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((r0, r1), (c0, c1))``: the rows and columns of ``g`` inside a letterbox, the flat
    rows and columns of the corners' colour along its edges (the whole of ``g`` without
    one). A display enlarged onto a 4K screen (a new-user trial: its ruler lost on 33 of 45
    such captures) has its ruler's background inside, not the screen's black."""
    corner = int(np.median([g[0, 0], g[0, -1], g[-1, 0], g[-1, -1]]))
    tol = _LETTERBOX_TOLERANCE

    def flat(axis: int) -> np.ndarray:
        lo, hi = g.min(axis=axis).astype(np.int16), g.max(axis=axis).astype(np.int16)
        return (lo >= corner - tol) & (hi <= corner + tol)

    def inside(is_flat: np.ndarray) -> tuple[int, int]:
        content = np.flatnonzero(~is_flat)
        if content.size == 0:
            return 0, is_flat.size
        return int(content[0]), int(content[-1]) + 1

    return inside(flat(1)), inside(flat(0))


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


def _dedup(y: np.ndarray) -> np.ndarray:
    """Rows closer than 2 px are one tick (a tick split into two components)."""
    return np.array([v for i, v in enumerate(y) if i == 0 or v - y[i - 1] > 2.0])


def _longest_run(d: np.ndarray, spacing: float) -> tuple[int, int]:
    """``(start, length)`` of the longest run of differences ``d`` on ``spacing``."""
    ok = np.abs(d - spacing) <= max(1.5, 0.03 * spacing)
    best_start, best_len, start = 0, 0, 0
    for i in range(len(ok) + 1):
        if i == len(ok) or not ok[i]:
            if i - start > best_len:
                best_start, best_len = start, i - start
            start = i + 1
    return best_start, best_len


def _regular_ticks(group: np.ndarray, *, min_ticks: int, polarity: str) -> RulerTicks | None:
    """The ticks of one aligned group if they form a regular grid, else ``None``."""
    group = group[np.argsort(group[:, 0])]
    widths = group[:, 2] - group[:, 1]
    major = group
    n_minor = 0
    if widths.max() >= 1.5 * widths.min():
        long = widths >= (widths.max() + widths.min()) / 2.0
        if long.sum() >= min_ticks:
            major, n_minor = group[long], int((~long).sum())
    y = _dedup(major[:, 0])
    if len(y) < min_ticks:
        return None
    d = np.diff(y)
    spacing = float(np.median(d))
    if spacing < _MIN_TICK_SPACING_PX:
        return None
    # The longest run of consecutive ticks on one spacing (a stray stroke at either end,
    # e.g. an axis line, is left out; a ruler has no missing major tick inside the run).
    start, length = _longest_run(d, spacing)
    if length + 1 < min_ticks:
        return None
    y = y[start : start + length + 1]
    used = major[(major[:, 0] >= y[0] - 2.0) & (major[:, 0] <= y[-1] + 2.0)]
    idx = np.arange(len(y), dtype=np.float64)
    slope, intercept = np.polyfit(idx, y, 1)
    residual = float(np.max(np.abs(y - (slope * idx + intercept))))
    fine_y, fine_spacing = _fine_grid(group[:, 0], y, float(slope))
    return RulerTicks(
        y_px=y,
        x0=int(used[:, 1].min()),
        x1=int(used[:, 2].max()),
        spacing_px=float(slope),
        n_minor=n_minor,
        residual_px=residual,
        tick_y_px=fine_y,
        fine_spacing_px=fine_spacing,
        polarity=polarity,
    )


def _fine_grid(all_y: np.ndarray, major_y: np.ndarray, spacing: float) -> tuple[np.ndarray, float]:
    """All ticks (minor included) around the major run when they form one regular grid;
    else the major ticks. Returns ``(rows, least-squares spacing)``."""
    lo, hi = major_y[0] - 0.75 * spacing, major_y[-1] + 0.75 * spacing
    y = _dedup(np.sort(all_y[(all_y >= lo) & (all_y <= hi)]))
    if len(y) > len(major_y):
        fine = float(np.median(np.diff(y)))
        if fine >= 4.0 and abs(spacing / fine - round(spacing / fine)) < 0.05:
            idx = np.rint((y - y[0]) / fine)
            if len(np.unique(idx)) == len(idx):
                slope, intercept = np.polyfit(idx, y, 1)
                if np.max(np.abs(y - (slope * idx + intercept))) <= max(1.5, 0.1 * fine):
                    return y, float(slope)
    return major_y, spacing


# ----------------------------------------------------------------------------------------
# Words on the display
# ----------------------------------------------------------------------------------------


def _stroke_mask(g: np.ndarray, box: tuple[int, int, int, int], *, max_char_px: int) -> np.ndarray:
    """Text-like strokes inside ``box`` (x0, y0, x1, y1) of the bright-on-dark ``g``: bright
    pixels, less long vertical lines (ruler line, borders) and tick-like horizontal strokes."""
    x0, y0, x1, y1 = box
    sub = np.ascontiguousarray(g[y0:y1, x0:x1])
    if sub.size == 0:
        return np.zeros((max(0, y1 - y0), max(0, x1 - x0)), np.uint8)
    background = _median(sub.ravel())
    bright = (sub > background + 40.0).astype(np.uint8)
    kernel = np.ones((max_char_px + 6, 1), np.uint8)
    vertical = cv2.dilate(cv2.erode(bright, kernel), kernel)
    kernel = np.ones((1, max_char_px + 6), np.uint8)
    horizontal = cv2.dilate(cv2.erode(bright, kernel), kernel)
    mask = bright & (1 - vertical) & (1 - horizontal)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    w, h = stats[:, 2], stats[:, 3]
    tick_like = (h <= 3) & (w >= 4)
    too_big = (h > max_char_px) | (w > 3 * max_char_px)
    drop = tick_like | too_big
    drop[0] = True
    return np.where(drop[labels], 0, mask).astype(np.uint8)


def _words(
    g: np.ndarray,
    box: tuple[int, int, int, int],
    *,
    max_char_px: int = 40,
    join_px: int = 5,
    min_height_px: int = 5,
) -> list[tuple[PixelBox, np.ndarray]]:
    """Words inside ``box``: ``(PixelBox, crop)`` with the crop dark text on white."""
    x0, y0, _, _ = box
    mask = _stroke_mask(g, box, max_char_px=max_char_px)
    if not mask.any():
        return []
    joined = cv2.dilate(mask, np.ones((1, join_px), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    out = []
    for i in range(1, n):
        bx, by, bw, bh = (int(v) for v in stats[i, :4])
        part = (labels[by : by + bh, bx : bx + bw] == i) & (mask[by : by + bh, bx : bx + bw] > 0)
        ys, xs = np.nonzero(part)
        if len(ys) < 4:
            continue
        ty0, ty1, tx0, tx1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        if not (min_height_px <= ty1 - ty0 <= max_char_px) or tx1 - tx0 > 8 * max_char_px:
            continue
        ax0, ay0 = x0 + bx + tx0, y0 + by + ty0
        ax1, ay1 = x0 + bx + tx1, y0 + by + ty1
        crop = _crop(g, part[ty0:ty1, tx0:tx1], (ax0, ay0, ax1, ay1))
        out.append((PixelBox(int(ax0), int(ay0), int(ax1), int(ay1)), crop))
    return out


def _crop(g: np.ndarray, part: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The word's pixels as dark text on white (other strokes in the box blanked), 2 px margin."""
    x0, y0, x1, y1 = box
    pixels = g[y0:y1, x0:x1].astype(np.float64)
    near = cv2.dilate(part.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    text = pixels[part]
    low = float(np.median(pixels[~near])) if (~near).any() else float(pixels.min())
    high = float(text.max()) if text.size else low + 1.0
    level = np.clip((pixels - low) / max(high - low, 1.0), 0.0, 1.0)
    level[~near] = 0.0
    crop = (255.0 * (1.0 - level)).astype(np.uint8)
    return np.pad(crop, 2, constant_values=255)


# ----------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------


def _nice_step(step_mm: float) -> float | None:
    for s in STANDARD_TICK_STEPS_MM:
        if abs(step_mm / s - 1.0) <= AGREEMENT_TOLERANCE:
            return s
    return None


def _agree(a: float, b: float) -> bool:
    return abs(a / b - 1.0) <= AGREEMENT_TOLERANCE


def _fills_its_box(text: str, box: PixelBox) -> bool:
    """Whether ``text`` (a number) is as wide as the box of the strokes it was read from: a
    digit dropped or added by the OCR leaves the box too wide or too narrow for it."""
    digits = sum(ch.isdigit() for ch in text)
    points = text.count(".")
    ratio = box.width / max(box.height, 1)
    low = digits * _DIGIT_WIDTH[0] + points * _POINT_WIDTH[0]
    high = digits * _DIGIT_WIDTH[1] + points * _POINT_WIDTH[1]
    return low <= ratio <= high


def _parse_labels(
    words: Sequence[tuple[PixelBox, str, float]], ticks: RulerTicks
) -> list[tuple[float, str, PixelBox, float, float]]:
    """Numbers that sit at a tick: ``(value as printed, text, box, tick row, confidence)``."""
    rows = ticks.tick_y_px
    out: dict[float, tuple[float, str, PixelBox, float, float]] = {}
    for box, text, conf in words:
        t = text.replace(" ", "")
        if not _LABEL.match(t) or conf < _MIN_LABEL_CONFIDENCE or not _fills_its_box(t, box):
            continue
        centre = (box.y0 + box.y1 - 1) / 2.0
        k = int(np.argmin(np.abs(rows - centre)))
        if abs(rows[k] - centre) > 0.5 * ticks.fine_spacing_px:
            continue
        row = float(rows[k])
        if row not in out or conf > out[row][4]:
            out[row] = (float(t), t, box, row, conf)
    return sorted(out.values(), key=lambda item: item[3])


def _label_fit(
    labels: list[tuple[float, str, PixelBox, float, float]], ticks: RulerTicks, region: PixelBox
) -> tuple[float, list[tuple[float, str, PixelBox, float, float]], float, float | None] | None:
    """``(mm per px, consistent labels, mm per tick, mm per px in the other unit)`` from
    printed numbers, or ``None``. The last is ``None`` unless the numbers read as mm and as cm
    alike (then ``mm per px`` is the more likely of the two, not a confirmed one)."""
    if len(labels) < 2:
        return None
    tol = 0.25 * ticks.fine_spacing_px
    # the numbers of one scale stand in one column on one side of the ticks, aligned on the
    # edge that faces them (an icon's digit elsewhere is not a label)
    height = float(np.median([lab[2].height for lab in labels]))
    align = max(4.0, 0.6 * height)
    centre = (ticks.x0 + ticks.x1) / 2.0
    left = [lab[2].x1 + lab[2].x0 < 2 * centre for lab in labels]
    edge = [lab[2].x1 if is_left else lab[2].x0 for lab, is_left in zip(labels, left, strict=True)]

    heights = [lab[2].height for lab in labels]

    def together(k: int, i: int) -> bool:
        same_size = abs(heights[k] - heights[i]) <= _LABEL_HEIGHT_SPREAD * max(
            heights[k], heights[i]
        )
        return left[k] == left[i] and abs(edge[k] - edge[i]) <= align and same_size

    best: list[int] = []
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            (vi, *_, yi, _), (vj, *_, yj, _) = labels[i], labels[j]
            if vj <= vi or yj <= yi or not together(j, i):
                continue
            slope = (yj - yi) / (vj - vi)  # px per printed unit
            inl = [
                k
                for k, lab in enumerate(labels)
                if together(k, i) and abs(yi + (lab[0] - vi) * slope - lab[3]) <= tol
            ]
            if len(inl) > len(best) or (
                len(inl) == len(best)
                and best
                and labels[inl[-1]][3] - labels[inl[0]][3]
                > labels[best[-1]][3] - labels[best[0]][3]
            ):
                best = inl
    if len(best) < 2:
        return None
    used = [labels[k] for k in best]
    values = np.array([lab[0] for lab in used])
    rows = np.array([lab[3] for lab in used])
    per_px = float(np.polyfit(rows, values, 1)[0])  # printed units per px
    steps = np.diff(values)
    decimal = any("." in lab[1] for lab in used)  # "0.5 1.0 1.5": cm
    cm = decimal or float(steps.min()) < 5.0
    n_ticks = max(round((rows[-1] - rows[0]) / ticks.fine_spacing_px), 1)
    # mm per printed unit: the more likely first; each must give a depth in range, and its
    # deepest number too (a zoomed view's "25 ... 45" is no 45 cm)
    factors = [
        f
        for f in ((10.0, 1.0) if cm else (1.0, 10.0))
        if _DEPTH_RANGE_MM[0] <= per_px * f * region.height <= _DEPTH_RANGE_MM[1]
        and float(values.max()) * f <= _DEPTH_RANGE_MM[1]
    ]
    if not factors:
        return None
    factor = factors[0]
    tick_mm = (values[-1] - values[0]) * factor / n_ticks
    scaled = [(v * factor, t, b, y, c) for v, t, b, y, c in used]
    # Numbers without a unit read as mm and as cm alike ("0 5 10" on a 10 cm display, or
    # "0 2 4 ... 30" on a 3 cm one) when both give a depth in range and a standard tick step:
    # the ticks cannot tell (the standard steps repeat at ten times), so the other reading is
    # kept for a source with a unit to decide (:func:`_verdict`). A decimal point says cm.
    other = None
    if len(factors) == 2 and not decimal and _nice_step(tick_mm * factors[1] / factor):
        other = per_px * factors[1]
    return per_px * factor, scaled, float(tick_mm), other


def _depth_readout(words: Sequence[tuple[PixelBox, str, float]]) -> float | None:
    """The displayed depth in mm: a value with a unit named as the depth ("D 4.0 cm",
    "Depth 45mm", or "Depth" as the word before "45mm" on its line), when every such read-out
    gives one value. A value with a unit alone ("20mm", "2.0cm") is not taken: a display
    shows widths, focus depths, probe names and scale bars alike (a new-user trial: each was
    taken for the depth, and two standard tick steps apart "agreed" with it)."""
    found = set()
    for box, text, _ in words:
        t = text.replace(" ", "")
        m = _DEPTH.match(t)
        if not m:
            continue
        if not m.group(1) and not any(
            _DEPTH_WORD.match(w.replace(" ", "")) for w in _left_of(box, words)
        ):
            continue
        found.add(float(m.group(2)) * (1.0 if m.group(3).lower() == "mm" else 10.0))
    return found.pop() if len(found) == 1 else None


def _left_of(box: PixelBox, words: Sequence[tuple[PixelBox, str, float]]) -> list[str]:
    """The words just left of ``box`` on its line (within two of its heights)."""
    centre = (box.y0 + box.y1) / 2.0
    return [
        text
        for other, text, _ in words
        if other.y0 <= centre <= other.y1
        and other.x1 <= box.x0 + 1
        and box.x0 - other.x1 <= 2 * box.height
    ]


def _numbers_of(
    g: np.ndarray, ticks: RulerTicks, region: PixelBox, reader: TextReader | None
) -> tuple[
    tuple[int, int, int, int],
    list[tuple[PixelBox, str, float]],
    bool,
    tuple[float, list[tuple[float, str, PixelBox, float, float]], float] | None,
]:
    """The printed numbers of one tick column: the band searched ``(x0, y0, x1, y1)``, the
    words read there, whether they read mirrored, and their label fit (:func:`_good_fit`)."""
    gp = g if ticks.polarity == "bright" else 255 - g
    rows, cols = g.shape
    # printed numbers: beside the ticks, outside the image (a few columns of slack: region
    # boxes can reach into a number printed right against the image)
    bx0, bx1 = max(0, ticks.x0 - _LABEL_BAND_PX), min(cols, ticks.x1 + _LABEL_BAND_PX)
    if ticks.x0 >= region.x1 - 2:
        bx0 = max(bx0, region.x1 - 4)
    elif ticks.x1 <= region.x0 + 2:
        bx1 = min(bx1, region.x0 + 4)
    pad = 0.75 * ticks.fine_spacing_px
    by0 = max(0, int(ticks.tick_y_px[0] - pad))
    by1 = min(rows, math.ceil(ticks.tick_y_px[-1] + pad))
    label_words = [
        (box, crop)
        for box, crop in _words(gp, (bx0, by0, bx1, by1))
        # a word cut by the band's edge on the image side is image content, not a number
        if not (box.x0 <= bx0 and bx0 > 0 and ticks.x0 >= region.x1 - 2)
        and not (box.x1 >= bx1 and bx1 < cols and ticks.x1 <= region.x0 + 2)
    ]
    read, mirrored = _read(reader, label_words, None)
    fit = _good_fit(read, ticks, region)
    if fit is None and read:
        # the numbers may read in the other orientation only (a mirrored capture whose
        # flipped digits also look like digits, e.g. "50" -> "02")
        other, _ = _read(reader, label_words, not mirrored)
        other_fit = _good_fit(other, ticks, region)
        if other_fit is not None:
            read, mirrored, fit = other, not mirrored, other_fit
    return (bx0, by0, bx1, by1), read, mirrored, fit


def _second_scale(
    g: np.ndarray,
    columns: Sequence[RulerTicks],
    region: PixelBox,
    reader: TextReader | None,
    mm_per_px: float,
) -> str:
    """Why the reading is not confirmed when another tick column beside the image carries
    numbers that give another scale (a drawn scale, a second display's ruler), or ``""``."""
    for other in columns[1:]:
        _, _, _, fit = _numbers_of(g, other, region, reader)
        if fit is not None and not _agree(fit[0], mm_per_px):
            return (
                f"two depth scales beside the image disagree: the scale at x {columns[0].x0} "
                f"gives {mm_per_px:.5f} mm/px, the one at x {other.x0} {fit[0]:.5f} (the first "
                "is used: check which is the scanner's)"
            )
    return ""


def read_ruler(
    image: np.ndarray,
    *,
    region: PixelBox | None = None,
    reader: TextReader | None = None,
) -> RulerReading:
    """Read the depth scale of a screen capture, cross-checking every source.

    Parameters
    ----------
    image : ndarray, shape (rows, cols) or (rows, cols, 3)
        The whole screen capture (not cropped to the imaging region).
    region : PixelBox, optional
        The imaging region (found with :func:`musclethick.region.find_imaging_region` when
        not given).
    reader : TextReader, optional
        OCR engine for the printed numbers and the depth read-out
        (:func:`musclethick.ocr.default_reader`). Without one only the ticks are found and
        the reading is unconfirmed.

    Returns
    -------
    RulerReading

    Raises
    ------
    CalibrationError
        If the capture has no display around the image or no tick column is found.
    """
    g = _grey_u8(image)
    if region is None:
        from .region import find_imaging_region

        region = find_imaging_region(g)
    if region == PixelBox.full(g.shape):
        raise CalibrationError("no display around the imaging region: no on-screen ruler")
    columns, found_in, found_region, fx, fy = _find_columns(g, region)
    assert found_region is not None
    reading = _read_columns(found_in, found_region, reader, columns)
    if (fx, fy) != (1.0, 1.0):
        reading = _reading_times(reading, fx, fy, region)
    if reading.labels or reader is None:
        return reading
    # numbers not read: a capture scaled by a screen grabber or viewer draws its digits at
    # sizes the OCR misreads; read a copy at another size, trusted only if confirmed (its
    # numbers first: a display without any costs a search for words beside the ticks)
    for factor in _RESCALES_FOR_NUMBERS:
        other = _resized(g, region, factor)
        if other is None:
            continue
        small, small_region, fx, fy = other
        assert small_region is not None
        more = _tick_columns(small, small_region)
        if not more:
            continue
        numbers = _numbers_of(small, more[0], small_region, reader)
        if numbers[3] is None:
            continue
        again = _read_columns(small, small_region, reader, more, numbers)
        if again.confirmed and again.labels:
            return _reading_times(again, fx, fy, region)
    return reading


#: Reductions tried when no tick column is found at a capture's own size: a capture enlarged
#: 2-3x (a HiDPI screenshot, a zoomed screen grab) has ticks thicker than the 3 px a tick may
#: be, and numbers larger than the OCR's words (a new-user trial: 109 of 118 captures enlarged
#: 1.6x or more had no ruler).
_ENLARGED_FACTORS = (2, 3, 4)


#: Sizes a capture whose printed numbers were not read is read again at (x its own): a
#: capture enlarged 1.5-2x draws its digits at sizes the OCR misreads (a trial of screen
#: recordings: the 660x556 display's "60" read as "3", refused by the box check). Enlarging
#: a reduced capture did not recover its digits, so only reductions are tried.
_RESCALES_FOR_NUMBERS = (1.0 / 1.5, 0.5)


def _resized(
    g: np.ndarray, region: PixelBox | None, factor: float
) -> tuple[np.ndarray, PixelBox | None, float, float] | None:
    """``g`` resized by ``factor``: ``(pixels, its imaging region, fx, fy)``, ``fx`` and ``fy``
    the factors back to ``g``'s pixels; ``None`` when too small or too large to read."""
    size = (round(g.shape[1] * factor), round(g.shape[0] * factor))
    if min(size) < 64 or size[0] * size[1] > 16_000_000:
        return None
    mode = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    small = cv2.resize(g, size, interpolation=mode)
    fx, fy = g.shape[1] / size[0], g.shape[0] / size[1]
    small_region = None if region is None else _box_times(region, 1.0 / fx, 1.0 / fy)
    return small, small_region, fx, fy


def _box_times(box: PixelBox, fx: float, fy: float) -> PixelBox:
    """``box`` scaled by ``(fx, fy)``, at least one pixel."""
    x0, y0 = round(box.x0 * fx), round(box.y0 * fy)
    return PixelBox(x0, y0, max(x0 + 1, round(box.x1 * fx)), max(y0 + 1, round(box.y1 * fy)))


def _ticks_times(t: RulerTicks, fx: float, fy: float) -> RulerTicks:
    """Ticks found on a capture reduced ``(fx, fy)`` times, in its own pixels."""
    return dataclasses.replace(
        t,
        y_px=t.y_px * fy,
        x0=round(t.x0 * fx),
        x1=max(round(t.x0 * fx) + 1, round(t.x1 * fx)),
        spacing_px=t.spacing_px * fy,
        residual_px=t.residual_px * fy,
        tick_y_px=t.tick_y_px * fy,
        fine_spacing_px=t.fine_spacing_px * fy,
    )


def _reading_times(reading: RulerReading, fx: float, fy: float, region: PixelBox) -> RulerReading:
    """A reading made on a capture reduced ``(fx, fy)`` times, in the capture's own pixels
    (``region``: its imaging region there)."""
    return dataclasses.replace(
        reading,
        ticks=_ticks_times(reading.ticks, fx, fy),
        region=region,
        labels=tuple(
            dataclasses.replace(lab, box=_box_times(lab.box, fx, fy), tick_y_px=lab.tick_y_px * fy)
            for lab in reading.labels
        ),
        words=tuple((_box_times(b, fx, fy), text) for b, text in reading.words),
        estimates=tuple((k, v / fy) for k, v in reading.estimates),
        mm_per_px=reading.mm_per_px / fy,
        reason=f"{reading.reason} (read on a copy of the capture at {1 / fy:.3g}x its size)",
        looked_at=None if reading.looked_at is None else _box_times(reading.looked_at, fx, fy),
    )


def _read_columns(
    g: np.ndarray,
    region: PixelBox,
    reader: TextReader | None,
    columns: list[RulerTicks],
    numbers: tuple | None = None,
) -> RulerReading:
    """:func:`read_ruler` once its tick columns are found (the first is the ruler);
    ``numbers``: :func:`_numbers_of` the first, when already read."""
    ticks = columns[0]
    gp = g if ticks.polarity == "bright" else 255 - g
    name = str(getattr(reader, "name", "ocr")) if reader is not None else ""
    if numbers is None:
        numbers = _numbers_of(g, ticks, region, reader)
    (bx0, by0, bx1, by1), read, mirrored, fit = numbers
    rows, cols = g.shape
    estimates: list[tuple[str, float]] = []
    used_labels: tuple[RulerLabel, ...] = ()
    zero_doubt = ""
    other_unit = None
    if fit is not None:
        per_px, used, tick_mm, other_unit = fit
        used_labels = tuple(RulerLabel(t, v, b, y, c) for v, t, b, y, c in used)
        estimates.append(("labels", per_px))
        estimates.append(("ticks", float(_nice_step(tick_mm)) / ticks.fine_spacing_px))
        zero_doubt = _zero_doubt(used_labels, ticks, region)
    depth_mm = None
    looked_at = PixelBox(bx0, by0, bx1, by1)
    if reader is not None and (len(estimates) < 2 or other_unit is not None):
        looked_at = PixelBox.full(g.shape)
        # not confirmed by the numbers and the ticks, or the numbers' unit in doubt: look for
        # a depth read-out anywhere on the display outside the image and the ruler band
        display = gp.copy()
        display[region.slices()] = 0
        display[by0:by1, bx0:bx1] = 0
        depth_words = [
            w
            for w in _words(display, (0, 0, cols, rows), max_char_px=30, join_px=9, min_height_px=6)
            if w[0].width >= 1.5 * w[0].height
        ][:40]
        more, flipped = _read(reader, depth_words, mirrored if used_labels else None)
        mirrored = mirrored if used_labels else flipped
        read += more
        depth_mm = _depth_readout(more)
    depth_ests = _depth_estimates(depth_mm, ticks, region)
    for value in depth_ests:
        estimates.append(("depth_readout", value))
    mm_per_px, confirmed, reason = _verdict(
        estimates, ticks, fit is not None, depth_ests, name, zero_doubt, other_unit
    )
    if (confirmed or other_unit is not None) and len(columns) > 1 and reader is not None:
        # (a scale whose unit is in doubt is compared too: another scale is the better reason)
        doubt = _second_scale(g, columns, region, reader, mm_per_px)
        if doubt:
            confirmed, reason = False, doubt
    if fit is None and not confirmed:
        estimates.append(("assumed_ticks", ASSUMED_MAJOR_TICK_MM / ticks.spacing_px))
    words = tuple((box, text) for box, text, _ in read if text)
    return RulerReading(
        ticks=ticks,
        region=region,
        labels=used_labels,
        words=words,
        depth_mm=depth_mm,
        estimates=tuple(estimates),
        mm_per_px=mm_per_px,
        confirmed=confirmed,
        reason=reason,
        mirrored=mirrored,
        reader=name,
        looked_at=looked_at,
    )


#: Grey levels by which a pixel may differ (screen capture noise, JPEG) and still be "the same".
SAME_DISPLAY_LEVELS = 48
#: Pixels of the looked-at area (outside the imaging region) that may differ by more.
SAME_DISPLAY_MAX_CHANGED_PX = 4
#: How far (px) the imaging region may move for a band-only reading to stay valid.
SAME_DISPLAY_REGION_SLACK_PX = 3
#: Pixels within this distance (px) outside either imaging region are not compared: where
#: the region was found a few rows inside the image's edge, image rows show there.
SAME_DISPLAY_EDGE_PX = 8


def same_display(
    reading: RulerReading,
    seen: np.ndarray,
    image: np.ndarray,
    region: PixelBox,
) -> bool:
    """True when ``image`` shows the same depth scale as ``seen``, which ``reading`` was read
    from, so that the reading holds for it too.

    Everything the reading depends on (:attr:`RulerReading.looked_at`) must be the same:
    the same capture size, the imaging region within :data:`SAME_DISPLAY_REGION_SLACK_PX`
    (exactly the same when the depth read-out was used: it is divided by the region's
    height), and at most :data:`SAME_DISPLAY_MAX_CHANGED_PX` pixels there differing by more
    than :data:`SAME_DISPLAY_LEVELS` grey levels (capture noise). A changed digit or tick
    changes dozens of pixels by far more. Not compared: both imaging regions, and the
    :data:`SAME_DISPLAY_EDGE_PX` around them (image rows just outside a region found a few
    rows inside the image's edge), except the reading's tick columns and printed numbers.

    An unconfirmed reading is reused like a confirmed one: read afresh, such a capture gave
    the same reading in every case measured (``bench/bench_ruler_reuse.py``, the 847 captures
    of ``../shared``: the same calibrations as reading every ruler afresh, but for 10
    unconfirmed captures that take their display's confirmed reading; 65 ruler reads instead
    of 615 (112 when an unconfirmed reading needed the very same region and no edge was left
    out of the comparison). A capture of the display that differs by more is read afresh and
    may confirm it.

    Parameters
    ----------
    reading : RulerReading
        Read from ``seen``.
    seen, image : ndarray of uint8, shape (rows, cols)
        The grey capture ``reading`` came from, and a new one.
    region : PixelBox
        The new capture's imaging region.
    """
    box = reading.looked_at
    if box is None or seen.shape != image.shape:
        return False
    old = reading.region
    # one using the depth read-out divides by the region's height: the very same region only
    exact = any(k == "depth_readout" for k, _ in reading.estimates)
    slack = 0 if exact else SAME_DISPLAY_REGION_SLACK_PX
    if (
        max(
            abs(region.x0 - old.x0),
            abs(region.y0 - old.y0),
            abs(region.x1 - old.x1),
            abs(region.y1 - old.y1),
        )
        > slack
    ):
        return False
    sl = box.slices()
    changed = cv2.absdiff(seen[sl], image[sl]) > SAME_DISPLAY_LEVELS
    skip = np.zeros_like(changed)
    for r, e in ((old, SAME_DISPLAY_EDGE_PX), (region, SAME_DISPLAY_EDGE_PX)):
        skip[_within(r, e, box)] = True
    # ... but the ticks and printed numbers the reading rests on are always compared
    t = reading.ticks
    keep = [PixelBox(t.x0 - 1, box.y0, t.x1 + 1, box.y1)]
    keep += [label.box for label in reading.labels]
    for k in keep:
        skip[_within(k, 1, box)] = False
    for r in (old, region):  # the images themselves never count
        skip[_within(r, 0, box)] = True
    changed &= ~skip
    return int(np.count_nonzero(changed)) <= SAME_DISPLAY_MAX_CHANGED_PX


def _within(r: PixelBox, margin: int, box: PixelBox) -> tuple[slice, slice]:
    """Slices of ``r`` grown by ``margin`` px, in the coordinates of the crop ``box``
    (empty where they do not meet)."""
    y0, y1 = max(r.y0 - margin, box.y0) - box.y0, min(r.y1 + margin, box.y1) - box.y0
    x0, x1 = max(r.x0 - margin, box.x0) - box.x0, min(r.x1 + margin, box.x1) - box.x0
    return slice(y0, max(y0, y1)), slice(x0, max(x0, x1))


def _good_fit(
    read: list[tuple[PixelBox, str, float]], ticks: RulerTicks, region: PixelBox
) -> tuple[float, list[tuple[float, str, PixelBox, float, float]], float] | None:
    """The label fit of ``read``, unless it implies no standard tick step (misreadings, or
    not labels at all)."""
    fit = _label_fit(_parse_labels(read, ticks), ticks, region)
    return fit if fit is not None and _nice_step(fit[2]) is not None else None


def _read(
    reader: TextReader | None,
    words: Sequence[tuple[PixelBox, np.ndarray]],
    mirrored: bool | None,
) -> tuple[list[tuple[PixelBox, str, float]], bool]:
    """OCR of ``words`` as printed and mirrored (or only as ``mirrored`` says): the readings
    of the orientation with more numbers and depth read-outs, and whether it is mirrored."""
    if reader is None or not words:
        return [], bool(mirrored)
    n = len(words)
    crops = [] if mirrored is True else [c for _, c in words]
    if mirrored is not False:
        crops += [np.ascontiguousarray(c[:, ::-1]) for _, c in words]
    texts = reader.read_words(crops)
    if mirrored is None:
        plain, flipped = texts[:n], texts[n:]

        def score(ws: Sequence) -> tuple[int, float]:
            good = [
                w
                for w in ws
                if _LABEL.match(w.text.replace(" ", "")) or _DEPTH.match(w.text.replace(" ", ""))
            ]
            return len(good), sum(w.confidence for w in good)

        mirrored = score(flipped) > score(plain)
        texts = flipped if mirrored else plain
    return [(box, w.text, w.confidence) for (box, _), w in zip(words, texts, strict=True)], mirrored


def _depth_estimates(depth_mm: float | None, ticks: RulerTicks, region: PixelBox) -> list[float]:
    """mm per px implied by a depth read-out: over the imaging area's height, and over the
    tick column when it starts at the top of the image (the scale then ends at the depth)."""
    if depth_mm is None:
        return []
    out = [depth_mm / region.height]
    span = float(ticks.tick_y_px[-1] - ticks.tick_y_px[0])
    if abs(ticks.tick_y_px[0] - region.y0) <= 0.03 * region.height and span > 0:
        out.append(depth_mm / span)
    return out


def _zero_doubt(labels: Sequence[RulerLabel], ticks: RulerTicks, region: PixelBox) -> str:
    """Why two numbers alone are not trusted, or ``""``: a depth scale starts at 0 mm at the
    top of the image (the transducer face), so two numbers that put 0 mm elsewhere are likely
    a misreading (a new-user trial: "1" and "7" read from an icon and a tick's fragment put it
    193 px down). Three or more numbers on one line (a zoomed view may start deeper) are
    trusted without it."""
    if len(labels) != 2:
        return ""
    (a, b) = labels
    slope = (b.value_mm - a.value_mm) / (b.tick_y_px - a.tick_y_px)  # mm per px
    zero = a.tick_y_px - a.value_mm / slope
    tol = max(0.5 * ticks.fine_spacing_px, 0.03 * region.height)
    off = min(abs(zero - region.y0), abs(zero - float(ticks.tick_y_px[0])))
    if off <= tol:
        return ""
    return (
        f"printed numbers {a.text!r} and {b.text!r} put 0 mm at row {zero:.0f}, not at the top "
        f"of the image (row {region.y0}): a misread number?"
    )


def _verdict(
    estimates: list[tuple[str, float]],
    ticks: RulerTicks,
    has_labels: bool,
    depth_ests: list[float],
    reader: str,
    zero_doubt: str = "",
    other_unit: float | None = None,
) -> tuple[float, bool, str]:
    """``(mm per px, confirmed, reason)`` from the sources' estimates; ``zero_doubt`` (from
    :func:`_zero_doubt`) leaves two numbers unconfirmed, whatever agrees with them;
    ``other_unit``: the printed numbers' mm per px read in the other unit (:func:`_label_fit`),
    when they read as mm and cm alike: only a depth read-out then decides, else unconfirmed."""
    est = dict(estimates)
    if has_labels and zero_doubt:
        return est["labels"], False, zero_doubt
    if has_labels and other_unit is not None:
        labels = est["labels"]
        for value in (labels, other_unit):
            if any(_agree(d, value) for d in depth_ests):
                return (
                    value,
                    True,
                    "printed numbers agree with the tick grid and the depth read-out",
                )
        cm, mm = max(labels, other_unit), min(labels, other_unit)
        return (
            labels,
            False,
            f"the printed numbers carry no unit and the ticks cannot tell: read as cm they give "
            f"{cm:.5f} mm/px, as mm {mm:.5f}, and no depth read-out says which",
        )
    if has_labels:
        labels = est["labels"]
        agreeing = []
        if "ticks" in est and _agree(est["ticks"], labels):
            agreeing.append("the tick grid")
        if depth_ests:
            if not any(_agree(d, labels) for d in depth_ests):
                return (
                    labels,
                    False,
                    f"printed numbers give {labels:.5f} mm/px but the depth read-out "
                    + " or ".join(f"{d:.5f}" for d in depth_ests),
                )
            agreeing.append("the depth read-out")
        if agreeing:
            value = est["ticks"] if "ticks" in est else labels
            return value, True, "printed numbers agree with " + " and ".join(agreeing)
        return labels, False, "printed numbers disagree with the tick grid"
    assumed = ASSUMED_MAJOR_TICK_MM / ticks.spacing_px
    if depth_ests:
        # a scale with long and short ticks has its long ones every 5 or 10 mm: a read-out
        # that puts them 20 mm apart (twice the truth, a read-out of the whole depth beside a
        # zoomed image) confirms nothing
        ranked = ticks.spacing_px > 1.5 * ticks.fine_spacing_px
        for spacing, kind in ((ticks.fine_spacing_px, "tick"), (ticks.spacing_px, "major tick")):
            for step in STANDARD_TICK_STEPS_MM:
                if any(_agree(step / spacing, d) for d in depth_ests):
                    major_mm = ticks.spacing_px * step / spacing
                    if ranked and not any(_agree(major_mm, m) for m in _MAJOR_TICK_STEPS_MM):
                        continue
                    why = f"the depth read-out matches {step:g} mm per {kind}"
                    return step / spacing, True, why
        return assumed, False, "the depth read-out matches no standard tick step"
    why = "no OCR engine to read the printed numbers" if not reader else "no printed numbers read"
    return (
        assumed,
        False,
        f"unlabelled ticks only ({why}): {ASSUMED_MAJOR_TICK_MM:g} mm per major tick assumed",
    )
