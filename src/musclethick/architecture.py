"""Muscle architecture: pennation angle and fascicle length beside thickness (pure).

The aponeurosis boundaries a frame was measured with (:class:`~musclethick.types.Boundary`,
frame coordinates, whatever found them) are half of the work:

* :func:`detect_fascicles` finds the fascicles in the muscle belly between the two boundaries
  with oriented ridge filters (classical; see :data:`DETECTOR` and ``bench/bench_fascicles.py``
  for how well it agrees with fascicles traced by people);
* :func:`measure_architecture` turns fascicles (detected, or drawn by a reviewer) into the
  pennation angle against the deep (and the superficial) aponeurosis and the fascicle
  length: the straight line at the fascicles' dominant direction through the belly's centre,
  extrapolated to both aponeuroses (the convention of DL_Track_US, SMA and manual ImageJ
  analysis), with the share of that length lying outside the image;
* :func:`add_architecture` does both for one :class:`~musclethick.types.FrameResult` (the
  pipeline's opt-in step, ``musclethick measure --architecture``).

Geometry
--------
Angles and lengths are computed in physical space: a frame pixel is ``mm_per_px_x`` wide and
``mm_per_px_y`` tall (square pixels of 1 when uncalibrated), so anisotropic pixels do not bend
angles. Directions are "image-up" angles: 0 deg along the rows to the right, positive rising
to the right (toward the skin), folded into (-90, 90]. Outside its own columns an aponeurosis
is extended by the straight line fitted to its outer third (:func:`extended_boundary`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from .geometry import overlap_interval
from .qc import with_replaced_flags
from .types import Architecture, Boundary, Calibration, Fascicle, Frame, FrameResult

__all__ = [
    "ARCHITECTURE_FLAGS",
    "AT_SEARCH_LIMIT_SHARE",
    "DETECTOR",
    "ExtendedBoundary",
    "FascicleLine",
    "FascicleSettings",
    "add_architecture",
    "architecture_text",
    "belly_centre",
    "describe_architecture_flags",
    "detect_fascicles",
    "dominant_direction",
    "extended_boundary",
    "fascicle_angle_deg",
    "fascicle_line",
    "measure_architecture",
    "share_at_search_limit",
    "with_architecture",
]

#: Name of the classical fascicle detector (recorded as ``Architecture.method``).
DETECTOR = "ridges"

#: Flags of an architecture measurement and what they mean (the one home of these flags).
ARCHITECTURE_FLAGS: dict[str, str] = {
    "no_fascicles": "no fascicles seen in the muscle belly: no pennation angle or fascicle length",
    "low_fascicle_confidence": "fascicles faint or disagreeing: check the pennation angle",
    "long_extrapolation": "over half of the fascicle length lies outside the image",
    "no_insertion": "the fascicle line does not meet both aponeuroses: no fascicle length",
    "fascicles_at_search_limit": "many fascicles run as steep as the detector looks (45 deg "
    "from the image rows): the pennation angle may be larger than measured; check it",
}

#: ``fascicles_at_search_limit`` when at least this share of the fascicles' weight lies within
#: one step of the steepest direction searched (``FascicleSettings.max_angle_deg``). The
#: directions beyond it are not looked at, so such fascicles pile up there and the pennation
#: angle is cut short. In the DL_Track fascicle scans the share is at most 0.03; in maximal
#: contractions of the Telemed captures it is 0.4-0.8 (``bench/bench_fascicles.py``,
#: ``bench/bench_telemed.py``).
AT_SEARCH_LIMIT_SHARE = 0.25


def describe_architecture_flags(flags: Sequence[str]) -> str:
    """``"; "``-joined description of architecture ``flags`` (others are left out)."""
    return "; ".join(ARCHITECTURE_FLAGS[f] for f in flags if f in ARCHITECTURE_FLAGS)


def architecture_text(architecture: Architecture) -> str:
    """``"PA 17.9 deg  FL 61.2 mm (12 % extrapolated)  n 14"`` (px when uncalibrated;
    ``"no fascicles"`` without a pennation angle)."""
    a = architecture
    if a.pennation_deg is None:
        return "no fascicles" if "no_fascicles" in a.flags else "no fascicle line"
    text = f"PA {a.pennation_deg:.1f} deg"
    if a.fascicle_length_mm is not None:
        text += f"  FL {a.fascicle_length_mm:.1f} mm"
    elif a.fascicle_length_px is not None:
        text += f"  FL {a.fascicle_length_px:.0f} px"
    if a.extrapolated_fraction:
        text += f" ({100 * a.extrapolated_fraction:.0f} % extrapolated)"
    return f"{text}  n {a.n_fascicles}"


# --------------------------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------------------------
def _pixel_size(calibration: Calibration | None) -> tuple[float, float]:
    """``(mm_per_px_x, mm_per_px_y)``, or ``(1, 1)`` when uncalibrated."""
    if calibration is None or not calibration.is_calibrated:
        return 1.0, 1.0
    my = float(calibration.mm_per_px_y)
    mx = float(calibration.mm_per_px_x) if calibration.mm_per_px_x is not None else my
    return mx, my


def _fold(angle_deg: float) -> float:
    """An undirected line's angle folded into (-90, 90]."""
    a = (float(angle_deg) + 90.0) % 180.0 - 90.0
    return 90.0 if a == -90.0 else a


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    """Slope of the least-squares straight line through ``(x, y)`` (as ``np.polyfit(x, y,
    1)[0]``, without its overhead)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    dx = x - x.mean()
    return float(np.dot(dx, y - y.mean()) / np.dot(dx, dx))


def _directions_deg(
    fascicles: Sequence[Fascicle], pixel_size: tuple[float, float] = (1.0, 1.0)
) -> np.ndarray:
    """:func:`fascicle_angle_deg` of each fascicle, as one array."""
    mx, my = pixel_size
    ends = np.array([(f.x0_px, f.y0_px, f.x1_px, f.y1_px) for f in fascicles], dtype=np.float64)
    angles = np.degrees(np.arctan2(-(ends[:, 3] - ends[:, 1]) * my, (ends[:, 2] - ends[:, 0]) * mx))
    return _fold_array(angles)


def _fold_array(angles_deg: np.ndarray) -> np.ndarray:
    """:func:`_fold` of each angle."""
    a = (np.asarray(angles_deg, dtype=np.float64) + 90.0) % 180.0 - 90.0
    return np.where(a == -90.0, 90.0, a)


def fascicle_angle_deg(
    fascicle: Fascicle, *, pixel_size: tuple[float, float] = (1.0, 1.0)
) -> float:
    """Image-up direction of a fascicle in degrees, (-90, 90] (see the module docstring).

    Parameters
    ----------
    fascicle : Fascicle
        Segment in frame pixels.
    pixel_size : (float, float)
        ``(mm_per_px_x, mm_per_px_y)``.
    """
    mx, my = pixel_size
    dx = (fascicle.x1_px - fascicle.x0_px) * mx
    dy = (fascicle.y1_px - fascicle.y0_px) * my
    return _fold(math.degrees(math.atan2(-dy, dx)))


@dataclass(frozen=True)
class ExtendedBoundary:
    """An aponeurosis as a piecewise-linear function ``y(x)`` over all columns.

    Inside the boundary's own columns it is the boundary's polyline; beyond each end it is the
    straight line fitted (least squares) to the outer third of the boundary on that side.

    Attributes
    ----------
    x_px, y_px : ndarray
        Vertices, strictly increasing in x, the first and last far outside the frame.
    x_min, x_max : float
        Columns the boundary itself covers (outside them ``y`` is extrapolated).
    """

    x_px: np.ndarray
    y_px: np.ndarray
    x_min: float
    x_max: float

    def y_at(self, x_px: np.ndarray | float) -> np.ndarray:
        """Row at columns ``x_px`` (extrapolated outside ``[x_min, x_max]``)."""
        return np.interp(np.asarray(x_px, dtype=np.float64), self.x_px, self.y_px)

    def slope_at(self, x_px: float, *, half_window_px: float) -> float:
        """``dy/dx`` (px per px) of the straight line fitted to the boundary within
        ``half_window_px`` of column ``x_px`` (the extrapolation line's slope outside it)."""
        lo = max(self.x_min, x_px - half_window_px)
        hi = min(self.x_max, x_px + half_window_px)
        if hi - lo < 1.0:  # the window lies outside the boundary: the extension line
            k = 0 if x_px < self.x_min else len(self.x_px) - 2
            return float((self.y_px[k + 1] - self.y_px[k]) / (self.x_px[k + 1] - self.x_px[k]))
        xs = np.linspace(lo, hi, max(3, int(hi - lo) + 1))
        ys = self.y_at(xs)
        return _slope(xs, ys)


#: How far (in frame widths) the extension lines reach beyond the boundary.
_REACH_WIDTHS = 50.0


def extended_boundary(boundary: Boundary, *, width_px: float | None = None) -> ExtendedBoundary:
    """The boundary with straight extensions beyond both ends (see :class:`ExtendedBoundary`).

    Parameters
    ----------
    boundary : Boundary
        Inner edge in frame pixels.
    width_px : float, optional
        Frame width, to size the reach of the extensions (default: the boundary's width).
    """
    x, y = boundary.x_px, boundary.y_px
    span = max(float(x[-1] - x[0]), 1.0)
    reach = _REACH_WIDTHS * max(float(width_px or 0.0), span)
    third = span / 3.0
    left = x <= x[0] + third
    right = x >= x[-1] - third
    slopes = []
    for part in (left, right):
        if part.sum() >= 2 and np.ptp(x[part]) > 0:
            slopes.append(_slope(x[part], y[part]))
        else:
            slopes.append(float((y[-1] - y[0]) / span))
    x_left, x_right = x[0] - reach, x[-1] + reach
    xs = np.concatenate([[x_left], x, [x_right]])
    ys = np.concatenate([[y[0] - slopes[0] * reach], y, [y[-1] + slopes[1] * reach]])
    return ExtendedBoundary(xs, ys, float(x[0]), float(x[-1]))


def _crossing(
    apo: ExtendedBoundary, xc: float, yc: float, slope: float, *, direction: int
) -> float | None:
    """First column from ``xc`` in ``direction`` (+1 / -1) where the line
    ``y = yc + slope (x - xc)`` meets ``apo`` (exact: both are piecewise linear)."""
    xs = apo.x_px
    if direction > 0:
        nodes = np.concatenate([[xc], xs[xs > xc]])
    else:
        nodes = np.concatenate([[xc], xs[xs < xc][::-1]])
    g = yc + slope * (nodes - xc) - apo.y_at(nodes)
    if g[0] == 0.0:
        return float(xc)
    sign = np.sign(g[0])
    change = np.nonzero(np.sign(g[1:]) != sign)[0]
    if change.size == 0:
        return None
    k = int(change[0])
    x0, x1, g0, g1 = nodes[k], nodes[k + 1], g[k], g[k + 1]
    return float(x0 + (x1 - x0) * g0 / (g0 - g1))


def _nearest_crossing(
    apo: ExtendedBoundary, xc: float, yc: float, slope: float
) -> tuple[float, float] | None:
    found = [
        x
        for x in (
            _crossing(apo, xc, yc, slope, direction=+1),
            _crossing(apo, xc, yc, slope, direction=-1),
        )
        if x is not None
    ]
    if not found:
        return None
    x = min(found, key=lambda v: abs(v - xc))
    return x, float(yc + slope * (x - xc))


def belly_centre(superficial: Boundary, deep: Boundary) -> tuple[float, float] | None:
    """``(x, y)`` half-way between the aponeuroses at the middle of their shared columns."""
    interval = overlap_interval(superficial, deep)
    if interval is None:
        return None
    xc = 0.5 * (interval[0] + interval[1])
    return xc, 0.5 * float(superficial.y_at(xc) + deep.y_at(xc))


@dataclass(frozen=True)
class FascicleLine:
    """The straight fascicle line between the two aponeuroses (:func:`fascicle_line`).

    Attributes
    ----------
    superficial_xy, deep_xy : (float, float)
        Where it meets the superficial and the deep aponeurosis (frame pixels).
    length_px : float
        Its length in frame pixels.
    length_mm : float or None
        Its length in mm (``None`` when uncalibrated).
    extrapolated_fraction : float
        Share of the length outside the frame ``[0, cols - 1] x [0, rows - 1]``.
    pennation_deg, pennation_superficial_deg : float
        Angle (0-90) against the deep / superficial aponeurosis where it meets them.
    """

    superficial_xy: tuple[float, float]
    deep_xy: tuple[float, float]
    length_px: float
    length_mm: float | None
    extrapolated_fraction: float
    pennation_deg: float
    pennation_superficial_deg: float


def _inside_fraction(
    p: tuple[float, float], q: tuple[float, float], shape: tuple[int, int]
) -> float:
    """Share of segment ``p``-``q`` inside ``[0, cols-1] x [0, rows-1]`` (Liang-Barsky)."""
    rows, cols = shape
    (x0, y0), (x1, y1) = p, q
    dx, dy = x1 - x0, y1 - y0
    t0, t1 = 0.0, 1.0
    for step, start, low, high in ((dx, x0, 0.0, cols - 1.0), (dy, y0, 0.0, rows - 1.0)):
        if step == 0.0:
            if not low <= start <= high:
                return 0.0
            continue
        a, b = (low - start) / step, (high - start) / step
        t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
        if t0 >= t1:
            return 0.0
    return t1 - t0


def _angle_between(a_deg: float, b_deg: float) -> float:
    """Acute angle (0-90) between two undirected lines."""
    return abs(_fold(a_deg - b_deg))


def fascicle_line(
    superficial: Boundary,
    deep: Boundary,
    angle_deg: float,
    *,
    shape: tuple[int, int],
    calibration: Calibration | None = None,
    through: tuple[float, float] | None = None,
    tangent_half_window: float = 0.1,
) -> FascicleLine | None:
    """The straight fascicle line at ``angle_deg`` extended to both aponeuroses.

    Parameters
    ----------
    superficial, deep : Boundary
        Inner edges in frame pixels.
    angle_deg : float
        Image-up direction of the fascicles (physical space).
    shape : (int, int)
        ``(rows, cols)`` of the frame.
    calibration : Calibration, optional
        Pixel size (``None`` or uncalibrated: square pixels, lengths in px only).
    through : (float, float), optional
        A point of the line (default: :func:`belly_centre`).
    tangent_half_window : float
        The aponeurosis direction where the line meets it is the straight line fitted to
        the aponeurosis within this fraction of the frame width on either side.

    Returns
    -------
    FascicleLine or None
        ``None`` when the line runs parallel to an aponeurosis (it never meets it) or the
        boundaries share no columns.
    """
    mx, my = _pixel_size(calibration)
    if through is None:
        through = belly_centre(superficial, deep)
        if through is None:
            return None
    xc, yc = float(through[0]), float(through[1])
    theta = math.radians(_fold(angle_deg))
    if abs(math.cos(theta)) < 1e-9:  # vertical: x is constant
        return None
    slope = -math.tan(theta) * mx / my  # dy/dx in pixels
    cols = float(shape[1])
    sup = extended_boundary(superficial, width_px=cols)
    dp = extended_boundary(deep, width_px=cols)
    top = _nearest_crossing(sup, xc, yc, slope)
    bottom = _nearest_crossing(dp, xc, yc, slope)
    if top is None or bottom is None:
        return None
    length_px = math.hypot(bottom[0] - top[0], bottom[1] - top[1])
    length_mm = None
    if calibration is not None and calibration.is_calibrated:
        length_mm = math.hypot((bottom[0] - top[0]) * mx, (bottom[1] - top[1]) * my)
    inside = _inside_fraction(top, bottom, (int(shape[0]), int(shape[1])))
    half = tangent_half_window * cols
    angles = []
    for apo, (x, _) in ((dp, bottom), (sup, top)):
        s = apo.slope_at(x, half_window_px=half)
        angles.append(_angle_between(math.degrees(theta), math.degrees(math.atan2(-s * my, mx))))
    return FascicleLine(
        superficial_xy=(float(top[0]), float(top[1])),
        deep_xy=(float(bottom[0]), float(bottom[1])),
        length_px=float(length_px),
        length_mm=None if length_mm is None else float(length_mm),
        extrapolated_fraction=float(min(1.0, max(0.0, 1.0 - inside))),
        pennation_deg=float(angles[0]),
        pennation_superficial_deg=float(angles[1]),
    )


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


#: Fascicles within this angle of the weighted median direction make the dominant direction.
_CORE_DEG = 3.0


def dominant_direction(
    fascicles: Sequence[Fascicle], *, pixel_size: tuple[float, float] = (1.0, 1.0)
) -> tuple[float, float] | None:
    """``(direction_deg, spread_deg)`` of fascicles (image-up directions unwrapped around
    their mean axis): the weighted mean of the directions within 3 deg of their weighted
    median (robust to stray fascicles, finer than any one of them), and the weighted SD of
    all directions; ``None`` without fascicles."""
    if not fascicles:
        return None
    angles = _directions_deg(fascicles, pixel_size)
    weights = np.array([f.weight for f in fascicles], dtype=float)
    return _dominant(angles, weights)


def _dominant(angles: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """:func:`dominant_direction` of directions ``angles`` (deg) with ``weights``."""
    doubled = np.radians(2.0 * angles)
    axis = 0.5 * math.degrees(
        math.atan2(
            float(np.sum(weights * np.sin(doubled))), float(np.sum(weights * np.cos(doubled)))
        )
    )
    unwrapped = axis + _fold_array(angles - axis)
    median = _weighted_median(unwrapped, weights)
    near = np.abs(unwrapped - median) <= _CORE_DEG
    direction = float(np.average(unwrapped[near], weights=weights[near]))
    mean = float(np.average(unwrapped, weights=weights))
    spread = float(np.sqrt(np.average((unwrapped - mean) ** 2, weights=weights)))
    return _fold(direction), spread


def measure_architecture(
    superficial: Boundary,
    deep: Boundary,
    fascicles: Sequence[Fascicle],
    *,
    shape: tuple[int, int],
    calibration: Calibration | None = None,
    confidence: float = 1.0,
    method: str = DETECTOR,
    min_confidence: float = 0.3,
    visible_confidence: float = 0.15,
    max_extrapolated: float = 0.5,
) -> Architecture:
    """Pennation angle and fascicle length from fascicles and the two aponeuroses.

    The fascicles' dominant direction (:func:`dominant_direction`) gives the line through the
    belly's centre (:func:`fascicle_line`): its angle with the deep aponeurosis where it meets
    it is the pennation angle, its length between the two aponeuroses the fascicle length.

    Parameters
    ----------
    superficial, deep : Boundary
        Inner edges in frame pixels.
    fascicles : sequence of Fascicle
        Detected (:func:`detect_fascicles`) or drawn fascicles, frame pixels.
    shape : (int, int)
        ``(rows, cols)`` of the frame.
    calibration : Calibration, optional
        Pixel size (mm values ``None`` when uncalibrated).
    confidence : float
        Evidence of the fascicles (0-1): below ``visible_confidence`` they count as not
        visible (``no_fascicles``: no values), below ``min_confidence`` the result is
        flagged ``low_fascicle_confidence``. Both thresholds were chosen on the tuning split
        of ``bench/bench_fascicles.py``.
    method : str
        ``"ridges"`` (detected) or ``"manual"`` (drawn by a person).
    max_extrapolated : float
        Above this share of the length outside the image the result is flagged
        ``long_extrapolation``.

    Returns
    -------
    Architecture
        Values ``None`` and flag ``no_fascicles`` without fascicles (or with confidence 0),
        ``no_insertion`` when the line does not meet both aponeuroses.
    """
    pixel_size = _pixel_size(calibration)
    confidence = float(min(1.0, max(0.0, confidence)))
    dominant = dominant_direction(fascicles, pixel_size=pixel_size)
    empty = Architecture(
        pennation_deg=None,
        pennation_superficial_deg=None,
        fascicle_length_px=None,
        fascicle_length_mm=None,
        extrapolated_fraction=None,
        n_fascicles=len(fascicles),
        spread_deg=None,
        confidence=confidence if fascicles else 0.0,
        fascicles=tuple(fascicles),
        method=method,
    )
    if dominant is None or confidence <= 0.0 or confidence < visible_confidence:
        return replace(empty, flags=("no_fascicles",))
    direction, spread = dominant
    line = fascicle_line(superficial, deep, direction, shape=shape, calibration=calibration)
    if line is None:
        return replace(empty, spread_deg=spread, flags=("no_insertion",))
    flags = []
    if confidence < min_confidence:
        flags.append("low_fascicle_confidence")
    if line.extrapolated_fraction > max_extrapolated:
        flags.append("long_extrapolation")
    return Architecture(
        pennation_deg=line.pennation_deg,
        pennation_superficial_deg=line.pennation_superficial_deg,
        fascicle_length_px=line.length_px,
        fascicle_length_mm=line.length_mm,
        extrapolated_fraction=line.extrapolated_fraction,
        n_fascicles=len(fascicles),
        spread_deg=spread,
        confidence=confidence,
        fascicles=tuple(fascicles),
        line=(*line.superficial_xy, *line.deep_xy),
        flags=tuple(flags),
        method=method,
    )


# --------------------------------------------------------------------------------------------
# detection
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FascicleSettings:
    """Settings of the classical fascicle detector (:func:`detect_fascicles`).

    Lengths are in *working* pixels: the belly is resampled so that its median thickness is
    ``belly_px`` (at most 1:1).

    Attributes
    ----------
    belly_px : float
        Median thickness of the belly after resampling.
    margin : float
        Share of the thickness next to each aponeurosis left out of the belly.
    row_filter_px : float
        Width of the horizontal mean removed first: structures along the image rows
        (speckle streaks and display banding, locked to the beam, not to the muscle) go.
    across_px, along_px : float
        Gaussian widths of the oriented ridge filter across and along the fascicle.
    patch_px : int
        Side of the square patches of belly that each give one fascicle direction.
    max_angle_deg : float
        Directions searched: within this angle of the image rows, either way.
    step_deg : float
        Step of the searched directions (peaks are refined between steps).
    min_row_angle_deg : float
        Directions closer than this to the image rows are not fascicles (beam-locked speckle).
    min_aponeurosis_angle_deg : float
        A dominant direction closer than this to either aponeurosis is not the fascicles'
        (fascia and septa along the aponeuroses; pennate fascicles meet them at an angle):
        the confidence is then 0.
    min_patch_fill : float
        Share of a patch that must lie in the belly.
    refine_along_px : float
        Gaussian width along the fascicle of the longer ridge filters that refine the
        directions near the dominant one (:func:`_refined_directions`); 0: not refined. Three
        times ``along_px``: on rendered scans the SD of the dominant direction falls from
        ~0.09 deg to ~0.04 deg (``bench/bench_fascicle_length.py``); the tuning split of
        ``bench/bench_fascicles.py`` is unchanged by it (PA MAE 1.64 -> 1.63 deg, ICC 0.785
        -> 0.784).
    refine_step_deg : float
        Step between the three directions of the longer filters (the middle one the multiple
        of it nearest to the weighted median direction).
    """

    belly_px: float = 75.0
    margin: float = 0.2
    row_filter_px: float = 60.0
    across_px: float = 1.5
    along_px: float = 12.0
    patch_px: int = 32
    max_angle_deg: float = 45.0
    step_deg: float = 2.0
    min_row_angle_deg: float = 2.0
    min_aponeurosis_angle_deg: float = 3.0
    min_patch_fill: float = 0.6
    refine_along_px: float = 36.0
    refine_step_deg: float = 1.0


def _ridge_spectra(
    fy: np.ndarray,
    fx: np.ndarray,
    angles_deg: tuple[float, ...],
    across_px: float,
    along_px: float,
) -> np.ndarray:
    """Spectra ``(n_angles, *shape)`` of bright-ridge filters at the frequencies ``(fy, fx)``
    (cycles per working pixel, float32 arrays broadcast to ``shape``): minus the second
    derivative of a Gaussian across the direction, a long Gaussian along it."""
    ndim = len(np.broadcast_shapes(fy.shape, fx.shape))
    t = np.radians(np.asarray(angles_deg, dtype=np.float64)).reshape(-1, *([1] * ndim))
    cos_t, sin_t = np.cos(t).astype(np.float32), np.sin(t).astype(np.float32)
    # along (cos t, -sin t) and across (sin t, cos t) in (x, y-down) coordinates
    f_along = fx * cos_t - fy * sin_t
    f_across = fx * sin_t + fy * cos_t
    two_pi2 = np.float32(2.0 * math.pi**2)
    return (
        np.float32(4.0 * math.pi**2)
        * f_across**2
        * np.exp(-two_pi2 * (along_px**2 * f_along**2 + across_px**2 * f_across**2))
    )


@dataclass(frozen=True)
class _Belly:
    """The belly resampled for detection: working image (with context around the belly),
    mask, the context missing at the frame's edges ``(top, bottom, left, right)`` in working
    pixels, and the map back to frame pixels (``x_frame = x0 + (c + 0.5) / scale_x - 0.5``,
    likewise for rows)."""

    image: np.ndarray
    mask: np.ndarray
    scale_x: float
    scale_y: float
    x0: int
    y0: int
    missing: tuple[int, int, int, int]

    def to_frame(self, col: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (
            self.x0 + (np.asarray(col) + 0.5) / self.scale_x - 0.5,
            self.y0 + (np.asarray(row) + 0.5) / self.scale_y - 0.5,
        )


def _context_px(settings: FascicleSettings) -> tuple[int, int]:
    """Working pixels of image the ridge filters need above/below and beside the belly
    (above and below, the belly's own margin next to the aponeuroses counts)."""
    reach = 3.0 * settings.along_px
    rows = reach * math.sin(math.radians(settings.max_angle_deg)) + 3.0 * settings.across_px
    rows -= settings.margin * settings.belly_px
    return max(0, math.ceil(rows)), math.ceil(reach)


def _belly(
    pixels: np.ndarray, superficial: Boundary, deep: Boundary, settings: FascicleSettings
) -> _Belly | None:
    import cv2  # OpenCV: not at import time (CLI start-up)

    rows, cols = pixels.shape
    interval = overlap_interval(superficial, deep)
    if interval is None:
        return None
    xs = np.arange(math.ceil(interval[0]), math.floor(interval[1]) + 1, dtype=np.float64)
    if xs.size < 8:
        return None
    ys, yd = superficial.y_at(xs), deep.y_at(xs)
    thickness = float(np.median(yd - ys))
    if not thickness >= 8.0:
        return None
    scale = min(1.0, settings.belly_px / thickness)
    context_rows, context_cols = _context_px(settings)
    pad_rows, pad_cols = math.ceil(context_rows / scale), math.ceil(context_cols / scale)
    want = (
        math.floor(float(np.min(ys))) - pad_rows,
        math.ceil(float(np.max(yd))) + pad_rows + 1,
        int(xs[0]) - pad_cols,
        int(xs[-1]) + pad_cols + 1,
    )
    y0, y1 = max(0, want[0]), min(rows, want[1])
    x0, x1 = max(0, want[2]), min(cols, want[3])
    if y1 - y0 < 2 or x1 - x0 < 2:
        return None
    crop = np.asarray(pixels[y0:y1, x0:x1], dtype=np.float32)
    width = max(8, round((x1 - x0) * scale))
    height = max(8, round((y1 - y0) * scale))
    work = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
    scale_x, scale_y = width / (x1 - x0), height / (y1 - y0)
    cx = x0 + (np.arange(width) + 0.5) / scale_x - 0.5
    cy = y0 + (np.arange(height) + 0.5) / scale_y - 0.5
    top = superficial.y_at(cx)
    bottom = deep.y_at(cx)
    inset = settings.margin * (bottom - top)
    mask = (cy[:, None] >= (top + inset)[None, :]) & (cy[:, None] <= (bottom - inset)[None, :])
    mask &= (np.isfinite(top) & np.isfinite(bottom))[None, :]
    missing = (
        min(context_rows, math.ceil((y0 - want[0]) * scale_y)),
        min(context_rows, math.ceil((want[1] - y1) * scale_y)),
        min(context_cols, math.ceil((x0 - want[2]) * scale_x)),
        min(context_cols, math.ceil((want[3] - x1) * scale_x)),
    )
    return _Belly(work, mask, scale_x, scale_y, x0, y0, missing)


def _angles(settings: FascicleSettings) -> tuple[float, ...]:
    n = round(settings.max_angle_deg / settings.step_deg)
    return tuple(float(k * settings.step_deg) for k in range(-n, n + 1))


def _is_regular(n: int) -> bool:
    """True when ``n`` has no prime factor but 2, 3 and 5."""
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1


def _fft_size(n: int, multiple: int = 1) -> int:
    """The smallest size >= ``n``, a multiple of ``multiple``, whose FFT is fast (only factors
    2, 3 and 5; NumPy's FFT, so that SciPy is not imported: ~0.4 s per process)."""
    size = max(n, multiple, 1)
    size += -size % multiple
    while not _is_regular(size):
        size += multiple
    return size


#: The ridge responses are computed only at every :data:`_ROW_STEP`-th working row and
#: :data:`_COLUMN_STEP`-th working column, and exactly there: the filtered spectrum is
#: folded onto that grid (the bins that alias onto each grid bin added, :func:`_aliases`),
#: so one inverse FFT per direction runs on an eighth of the pixels. Only column frequencies
#: below a quarter are kept (at most ``max_angle_deg`` from the rows the ridge spectra hardly
#: reach beyond). A patch's mean response is the mean of its samples (128 in a 32 x 32
#: patch).
_COLUMN_STEP = 4
_ROW_STEP = 2


@lru_cache(maxsize=32)
def _aliases(
    size: tuple[int, int], rstep: int, cstep: int
) -> tuple[tuple[np.ndarray, np.ndarray, bool, np.ndarray], ...]:
    """The spectrum bins that alias onto the bins of a sampled grid.

    For the grid of every ``rstep``-th row and ``cstep``-th column of an image of ``size``
    (``rfft2`` layouts): a tuple of ``(rows, cols, conjugate, used)`` such that ``Z[r, c]``
    is the sum over the tuple of ``Y[rows[r], cols[c]]`` (conjugated where ``conjugate``;
    where not ``used[c]``, nothing), up to the factor ``1 / (rstep cstep)`` (``Y`` the
    image's spectrum, ``Z`` the grid's). Only column frequencies below a quarter (in cycles
    per pixel) are used: the ridge spectra hardly reach beyond (so ``cstep`` is 2 or more;
    ``size`` a multiple of ``(rstep, 2 cstep)``).
    """
    n, m = size
    out_rows, out_cols = n // rstep, m // cstep
    r, c = np.arange(out_rows), np.arange(out_cols // 2 + 1)
    found = []
    for i in range(rstep):
        for j in range(cstep):
            ky, kx = r + i * out_rows, c + j * out_cols
            for conjugate, used in ((False, 4 * kx < m), (True, 4 * (m - kx) < m)):
                if 2 * used.sum() > used.size:  # else: at most the edge bin of the band
                    rows_ = (-ky) % n if conjugate else ky
                    cols_ = np.where(used, m - kx if conjugate else kx, 0)
                    found.append((rows_, cols_, conjugate, used))
    return tuple(found)


def _folded_spectra(
    size: tuple[int, int],
    angles_deg: tuple[float, ...],
    across_px: float,
    along_px: float,
    rstep: int,
    cstep: int,
) -> np.ndarray:
    """The ridge spectra of ``size`` at the bins of :func:`_aliases` ``(n_aliases, n_angles,
    rows / rstep, cols / cstep / 2 + 1)`` (0 where not used), times ``1 / (rstep cstep)``
    (evaluated at the used bins only: a third of them are not)."""
    aliases = _aliases(size, rstep, cstep)
    fy = np.fft.fftfreq(size[0]).astype(np.float32)
    fx = np.fft.rfftfreq(size[1]).astype(np.float32)
    rows, cols = aliases[0][0].size, aliases[0][1].size
    out = np.zeros((len(aliases), len(angles_deg), rows, cols), dtype=np.float32)
    weight = np.float32(1.0 / (rstep * cstep))
    for k, (ky, kx, _, used) in enumerate(aliases):
        keep = np.flatnonzero(used)
        spectra = _ridge_spectra(
            fy[ky][:, None], fx[kx[keep]][None, :], angles_deg, across_px, along_px
        )
        out[k][:, :, keep] = spectra * weight
    return out


@lru_cache(maxsize=32)
def _aliased_spectra(
    size: tuple[int, int],
    angles_deg: tuple[float, ...],
    across_px: float,
    along_px: float,
    rstep: int,
    cstep: int,
) -> np.ndarray:
    """:func:`_folded_spectra`, cached: the filter bank of one working size is computed once."""
    return _folded_spectra(size, angles_deg, across_px, along_px, rstep, cstep)


@lru_cache(maxsize=64)
def _fine_spectra(
    size: tuple[int, int],
    angles_deg: tuple[float, ...],
    across_px: float,
    along_px: float,
    rstep: int,
    cstep: int,
) -> np.ndarray:
    """:func:`_folded_spectra` of the finer directions of :func:`_refined_directions`, cached:
    they lie on a grid of ``FascicleSettings.refine_step_deg``, so a batch of one scanner's
    captures reuses them (one entry for the three: a third of the set-up per capture)."""
    return _folded_spectra(size, angles_deg, across_px, along_px, rstep, cstep)


@dataclass(frozen=True)
class _Padded:
    """Spectrum of the working image prepared for the ridge filters (:func:`_padded`):
    ``rfft2`` of the image in its context, padded to the FFT ``size``; the image starts
    ``top`` rows and ``left`` columns in (whole steps) and is ``shape`` big."""

    spectrum: np.ndarray
    size: tuple[int, int]
    top: int
    left: int
    shape: tuple[int, int]


def _padded(belly: _Belly, settings: FascicleSettings) -> _Padded:
    """The working image less its running row mean (``settings.row_filter_px`` wide), in the
    context the filters need (mirrored where the frame ended), transformed once for all the
    directions filtered."""
    import cv2

    work = belly.image
    rows, cols = work.shape
    k = max(3, round(settings.row_filter_px) | 1)
    flat = work - cv2.blur(work, (k, 1), borderType=cv2.BORDER_REFLECT)
    # the crop holds the context the filters need; where the frame ended, mirror it; then
    # up to the FFT size (the wrap-around of the circular convolution falls in the context);
    # the context before the image is a whole number of steps, so the samples fall on the
    # working image's rows 0, step, 2 step, ... (and columns alike)
    rstep, cstep = _ROW_STEP, _COLUMN_STEP
    top, bottom, left, right = belly.missing
    top, left = -(-top // rstep) * rstep, -(-left // cstep) * cstep
    size = (
        _fft_size(rows + top + bottom, rstep),
        _fft_size(cols + left + right, 2 * cstep),
    )
    framed = cv2.copyMakeBorder(
        flat, top, size[0] - rows - top, left, size[1] - cols - left, cv2.BORDER_REFLECT
    )
    return _Padded(np.fft.rfft2(framed), size, top, left, (rows, cols))


def _filtered(padded: _Padded, spectra: np.ndarray) -> np.ndarray:
    """Responses ``(n_angles, ceil(rows / _ROW_STEP), ceil(cols / _COLUMN_STEP))`` of the
    filters of ``spectra`` (:func:`_folded_spectra` of ``padded.size``) at every
    :data:`_ROW_STEP`-th row and :data:`_COLUMN_STEP`-th column of the working image."""
    rstep, cstep = _ROW_STEP, _COLUMN_STEP
    size, spectrum = padded.size, padded.spectrum
    kept = None
    for (ky, kx, conjugate, _), filters in zip(_aliases(size, rstep, cstep), spectra, strict=True):
        part = spectrum[ky[:, None], kx[None, :]]
        part = filters * (np.conj(part) if conjugate else part)[None]
        kept = part if kept is None else np.add(kept, part, out=kept)
    out = np.fft.irfft2(kept, s=(size[0] // rstep, size[1] // cstep), axes=(1, 2))
    rows, cols = padded.shape
    out = out[:, padded.top // rstep :, padded.left // cstep :]
    return out[:, : -(-rows // rstep), : -(-cols // cstep)]


def _responses(
    padded: _Padded, settings: FascicleSettings, angles: tuple[float, ...]
) -> np.ndarray:
    """Ridge responses of the filter bank ``(n_angles, ceil(rows / _ROW_STEP), ceil(cols /
    _COLUMN_STEP))`` of the working image (:func:`_padded`), at every :data:`_ROW_STEP`-th
    row and every :data:`_COLUMN_STEP`-th column (not rectified)."""
    spectra = _aliased_spectra(
        padded.size, angles, settings.across_px, settings.along_px, _ROW_STEP, _COLUMN_STEP
    )
    return _filtered(padded, spectra)


@lru_cache(maxsize=64)
def _band(n: int, half: int) -> np.ndarray:
    """``(n // half - 1, n)`` 0/1 matrix: row ``i`` adds elements ``i half`` to ``(i + 2)
    half - 1``."""
    k = max(0, n // half - 1)
    band = np.zeros((k, n), dtype=np.float32)
    for i in range(k):
        band[i, i * half : (i + 2) * half] = 1.0
    return band


def _patch_sums(
    values: np.ndarray, half_rows: int, half_cols: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums over patches of ``2 half_rows x 2 half_cols`` at half-patch steps of the last
    two axes; returns the sums and the patch corners (row, col) in the arrays' pixels."""
    rows, cols = values.shape[-2:]
    nr, nc = rows // half_rows, cols // half_cols
    if nr < 2 or nc < 2:
        empty = np.zeros((*values.shape[:-2], 0, 0), dtype=values.dtype)
        return empty, np.zeros(0, int), np.zeros(0, int)
    sums = _band(rows, half_rows) @ values @ _band(cols, half_cols).T
    return sums, np.arange(nr - 1) * half_rows, np.arange(nc - 1) * half_cols


def _gaussian_peak(
    below: np.ndarray, at: np.ndarray, above: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Vertex of the Gaussian through three equally spaced positive values, in steps from the
    middle one, and where it is defined (all three positive, the middle one a maximum of the
    curve: the log-parabola opens downward); 0 where not defined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        la, lb, lc = np.log(below), np.log(at), np.log(above)
        curvature = la - 2.0 * lb + lc
        ok = np.isfinite(la) & np.isfinite(lb) & np.isfinite(lc) & (curvature < 0.0)
        shift = np.where(ok, 0.5 * (la - lc) / np.where(ok, curvature, -1.0), 0.0)
    return shift, ok


def _refined_directions(
    theta_deg: np.ndarray,
    fine_means: np.ndarray,
    *,
    centre_deg: float,
    step_deg: float,
    near_deg: float,
) -> np.ndarray:
    """Patch directions refined by longer ridge filters at three directions about the centre.

    The filter bank's responses fall off slowly with the direction (its filters are short:
    fascicles bend, and a patch must see them), so speckle moves a patch's peak by tenths of a
    degree. Filters ``FascicleSettings.refine_along_px`` long, at ``centre_deg`` and
    ``step_deg`` either side, are sharper. A patch takes the vertex of the Gaussian through
    its three mean responses to them where that vertex lies within the three directions
    (interpolated, not extrapolated) and within ``near_deg`` of the patch's own direction (the
    long filters reach beyond the patch: where they disagree with it, they see other
    fascicles); the others keep theirs.

    Parameters
    ----------
    theta_deg : ndarray, shape (n,)
        Patch directions from the filter bank (working pixels, deg).
    fine_means : ndarray, shape (3, n)
        Each patch's mean rectified response to the longer filters at ``centre_deg -
        step_deg``, ``centre_deg`` and ``centre_deg + step_deg``.
    centre_deg, step_deg : float
        The middle direction and the step between the three.
    near_deg : float
        How far a refined direction may lie from the patch's own.

    Returns
    -------
    ndarray, shape (n,)
        The directions, refined where they could be.
    """
    shift, ok = _gaussian_peak(*fine_means)
    refined = centre_deg + shift * step_deg
    ok &= (np.abs(refined - theta_deg) <= near_deg) & (np.abs(shift) <= 1.0)
    return np.where(ok, refined, theta_deg)


def _clipped(ends: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Segments ``(x0, y0, x1, y1)`` (frame px, one per row) shortened along themselves to the
    frame ``[0, cols - 1] x [0, rows - 1]``: a snippet around a ridge near the frame's edge
    would otherwise reach past it (its direction, all the measurement uses, is unchanged).
    The ridge each is centred on lies in the frame, so none vanishes."""
    rows, cols = shape
    p0, d = ends[:, :2], ends[:, 2:] - ends[:, :2]
    lo, hi = np.zeros(len(ends)), np.ones(len(ends))
    for axis, top in ((0, cols - 1.0), (1, rows - 1.0)):
        step = d[:, axis]
        moving = np.abs(step) > 1e-12
        safe = np.where(moving, step, 1.0)
        a, b = (0.0 - p0[:, axis]) / safe, (top - p0[:, axis]) / safe
        enter, leave = np.minimum(a, b), np.maximum(a, b)
        lo = np.where(moving, np.maximum(lo, enter), lo)
        hi = np.where(moving, np.minimum(hi, leave), hi)
    hi = np.maximum(hi, lo)
    return np.concatenate([p0 + lo[:, None] * d, p0 + hi[:, None] * d], axis=1)


def detect_fascicles(
    pixels: np.ndarray,
    superficial: Boundary,
    deep: Boundary,
    *,
    settings: FascicleSettings = FascicleSettings(),
) -> tuple[tuple[Fascicle, ...], float]:
    """Fascicles in the muscle belly between two aponeuroses (classical, oriented ridges).

    The belly (between the aponeuroses, ``settings.margin`` of the thickness off each) is
    resampled to ``settings.belly_px`` thick; structures along the image rows are removed
    (a running horizontal mean is subtracted: ultrasound speckle and display bands are
    stretched along the rows whatever the muscle does); bright thin lines are enhanced by
    oriented ridge filters (Gaussian second derivative across, long Gaussian along) every
    ``step_deg`` within ``max_angle_deg`` of the rows. In each square patch of the belly the
    direction whose response most exceeds that of its mirror image about the rows is the
    fascicle direction there (speckle responds alike to both, fascicles to one); the patch
    gives one fascicle through its strongest ridge in that direction, weighted by that excess
    relative to the patch's median response. The responses are computed (exactly) only at
    every second row and fourth column of the resampled belly, and only those samples are
    averaged (:data:`_COLUMN_STEP`): the direction comes from patch means, not from single
    pixels. The directions of the patches near the dominant direction are then refined by
    longer filters at three directions about it (``settings.refine_along_px``,
    :func:`_refined_directions`): the short filters find the fascicles, the long ones place
    their direction to a few hundredths of a degree, as the fascicle length needs at shallow
    angles (at 15 deg, 1 % of it is 0.15 deg).

    Parameters
    ----------
    pixels : ndarray, shape (rows, cols)
        Grey levels of the frame.
    superficial, deep : Boundary
        Inner edges in frame pixels.
    settings : FascicleSettings
        Detector settings.

    Returns
    -------
    fascicles : tuple of Fascicle
        One per patch with a fascicle direction (source ``"detected"``), frame pixels.
    confidence : float
        0-1: the share of the fascicles' weight that agrees (within 3 deg) with their dominant
        direction, times the evidence of their mean weight (:func:`_confidence`); 0 without
        fascicles.
    """
    img = np.asarray(pixels)
    if img.ndim != 2:
        raise ValueError(f"pixels must be 2-D (rows, cols), got shape {img.shape}")
    belly = _belly(img, superficial, deep, settings)
    if belly is None or not belly.mask.any():
        return (), 0.0
    angles = _angles(settings)
    padded = _padded(belly, settings)  # transformed once: also for the finer filters below
    rstep, step = _ROW_STEP, _COLUMN_STEP
    responses = _responses(padded, settings, angles)
    half = max(1, settings.patch_px // 2)
    half_rows, half_cols = max(1, half // rstep), max(1, half // step)
    in_belly = belly.mask[::rstep, ::step]
    # only the patches that reach into the belly count: the rows and columns of those (the
    # patch grid kept), so the sums run over the belly's bounding box, not the context
    rows_in, cols_in = np.nonzero(in_belly.any(axis=1))[0], np.nonzero(in_belly.any(axis=0))[0]
    ra = max(0, (int(rows_in[0]) // half_rows - 1) * half_rows)
    ca = max(0, (int(cols_in[0]) // half_cols - 1) * half_cols)
    rb, cb = int(rows_in[-1]) + half_rows + 1, int(cols_in[-1]) + half_cols + 1
    mask = in_belly[ra:rb, ca:cb].astype(np.float32)
    responses = np.maximum(responses[:, ra:rb, ca:cb], 0.0)  # rectified
    responses *= mask[None]  # outside the belly: nothing
    sums, r0, c0 = _patch_sums(responses, half_rows, half_cols)
    fill, _, _ = _patch_sums(mask, half_rows, half_cols)
    keep = fill >= settings.min_patch_fill * (4 * half_rows * half_cols)
    if not keep.any():
        return (), 0.0
    mean = sums[:, keep] / fill[keep][None, :]  # (n_angles, n_patches)
    excess = mean - mean[::-1]
    angle = np.asarray(angles)
    excess[np.abs(angle) < settings.min_row_angle_deg] = -np.inf
    best = np.argmax(excess, axis=0)
    n_patches = mean.shape[1]
    cols_ = np.arange(n_patches)
    peak = excess[best, cols_]
    typical = np.median(mean, axis=0)
    weight = peak / np.maximum(typical, 1e-12)
    # sub-step refinement of each patch's peak: a Gaussian through the responses (not the
    # excess: they are positive) at the peak and its two neighbours
    lo = np.clip(best - 1, 0, len(angle) - 1)
    hi = np.clip(best + 1, 0, len(angle) - 1)
    shift, ok_fit = _gaussian_peak(mean[lo, cols_], mean[best, cols_], mean[hi, cols_])
    ok_fit &= (lo < best) & (best < hi)
    ok_fit &= np.isfinite(excess[lo, cols_]) & np.isfinite(excess[hi, cols_])
    theta = angle[best] + np.where(ok_fit, np.clip(shift, -0.5, 0.5), 0.0) * settings.step_deg
    found = np.nonzero((peak > 0) & np.isfinite(weight) & (weight > 0))[0]
    if found.size == 0:
        return (), 0.0
    bank_theta = theta
    if settings.refine_along_px > 0.0 and settings.refine_step_deg > 0.0:
        # the directions near the dominant one measured again, finer (_refined_directions):
        # longer filters at the refine step nearest to the weighted median direction and one
        # step either side; a patch takes theirs within half a bank step of its own
        fine_step = settings.refine_step_deg
        centre = fine_step * round(_weighted_median(theta[found], weight[found]) / fine_step)
        spectra = _fine_spectra(
            padded.size,
            tuple(centre + k * fine_step for k in (-1, 0, 1)),
            settings.across_px,
            settings.refine_along_px,
            rstep,
            step,
        )
        fine = np.maximum(_filtered(padded, spectra)[:, ra:rb, ca:cb], 0.0) * mask[None]
        fine_sums, _, _ = _patch_sums(fine, half_rows, half_cols)
        theta = theta.copy()
        theta[found] = _refined_directions(
            theta[found],
            fine_sums[:, keep][:, found] / fill[keep][found][None, :],
            centre_deg=centre,
            step_deg=fine_step,
            near_deg=0.5 * settings.step_deg,
        )
    # each patch's strongest ridge in its direction (working px), all patches at once
    rows_idx, cols_idx = np.nonzero(keep)
    pr, pc = r0[rows_idx[found]], c0[cols_idx[found]]
    dr_, dc_ = np.arange(2 * half_rows), np.arange(2 * half_cols)
    windows = responses[
        best[found][:, None, None],
        (pr[:, None] + dr_[None, :])[:, :, None],
        (pc[:, None] + dc_[None, :])[:, None, :],
    ].reshape(found.size, -1)
    rr, cc = np.divmod(np.argmax(windows, axis=1), 2 * half_cols)
    row, col = (ra + pr + rr) * rstep, (ca + pc + cc) * step

    def frame_ends(directions_deg: np.ndarray) -> np.ndarray:
        t = np.radians(directions_deg)
        dc, dr = half * np.cos(t), -half * np.sin(t)
        fx0, fy0 = belly.to_frame(col - dc, row - dr)
        fx1, fy1 = belly.to_frame(col + dc, row + dr)
        return np.stack([fx0, fy0, fx1, fy1], axis=1)

    ends = _clipped(frame_ends(theta[found]), pixels.shape[:2])
    weights = weight[found]
    # overlapping patches can snap to the same ridge in the same direction (of the filter
    # bank: refined, their directions differ in the last digits): one fascicle (the
    # heaviest), in the order the patches first gave it
    same = ends if bank_theta is theta else frame_ends(bank_theta[found])
    chosen: dict[tuple[float, ...], int] = {}
    for j, key in enumerate(map(tuple, np.round(same, 1).tolist())):
        i = chosen.get(key)
        if i is None or weights[j] > weights[i]:
            chosen[key] = j
    kept = np.fromiter(chosen.values(), dtype=int, count=len(chosen))
    ends, weights = ends[kept], weights[kept]
    fascicles = tuple(
        Fascicle(float(a), float(b), float(c), float(d), "detected", float(w))
        for (a, b, c, d), w in zip(ends.tolist(), weights.tolist(), strict=True)
    )
    angles_deg = _directions_deg(fascicles)
    direction = _dominant(angles_deg, weights)[0]
    for apo in (superficial, deep):
        along = math.degrees(math.atan(-_slope(apo.x_px, apo.y_px)))
        if _angle_between(direction, along) < settings.min_aponeurosis_angle_deg:
            return fascicles, 0.0  # structures along an aponeurosis, not fascicles
    return fascicles, _confidence_of(angles_deg, weights, direction)


def _confidence(fascicles: Sequence[Fascicle]) -> float:
    """Agreement of the fascicles with their dominant direction times their evidence.

    Agreement is the share of their weight within 3 deg of the dominant direction; evidence
    rises from 0 at a mean weight of :data:`_NOISE_WEIGHT` (what speckle alone gives: its
    patches agree by chance, the filters being longer than a patch) to 1 one unit above.
    """
    if not fascicles:
        return 0.0
    angles = _directions_deg(fascicles)
    weights = np.array([f.weight for f in fascicles], dtype=float)
    return _confidence_of(angles, weights, _dominant(angles, weights)[0])


def _confidence_of(angles: np.ndarray, weights: np.ndarray, direction: float) -> float:
    """:func:`_confidence` of fascicles at directions ``angles`` (deg) with ``weights``
    whose dominant direction is ``direction``."""
    close = np.abs(_fold_array(angles - direction)) <= 3.0
    agreement = float(weights[close].sum() / weights.sum())
    evidence = min(1.0, max(0.0, float(weights.mean()) - _NOISE_WEIGHT))
    return agreement * evidence


#: Mean fascicle weight of pure speckle (measured on rendered noise; see the tests).
_NOISE_WEIGHT = 0.5


# --------------------------------------------------------------------------------------------
# one frame
# --------------------------------------------------------------------------------------------
def add_architecture(
    frame: Frame, result: FrameResult, *, settings: FascicleSettings = FascicleSettings()
) -> FrameResult:
    """``result`` with the architecture of ``frame`` measured between its boundaries.

    Fascicles are detected (:func:`detect_fascicles`) between ``result.superficial`` and
    ``result.deep`` and measured (:func:`measure_architecture`) with the frame's calibration.
    The architecture's flags join the result's flags (an ``ok`` result becomes ``flagged``)
    and its message says what they mean. A result without both boundaries (``failed``) is
    returned unchanged, with no architecture.
    """
    if result.superficial is None or result.deep is None or result.status == "failed":
        return result
    fascicles, confidence = detect_fascicles(
        frame.pixels, result.superficial, result.deep, settings=settings
    )
    architecture = measure_architecture(
        result.superficial,
        result.deep,
        fascicles,
        shape=frame.shape,
        calibration=frame.calibration,
        confidence=confidence,
    )
    if (
        architecture.pennation_deg is not None
        and share_at_search_limit(fascicles, settings) >= AT_SEARCH_LIMIT_SHARE
    ):
        architecture = replace(
            architecture, flags=(*architecture.flags, "fascicles_at_search_limit")
        )
    return with_architecture(result, architecture)


def share_at_search_limit(
    fascicles: Sequence[Fascicle], settings: FascicleSettings = FascicleSettings()
) -> float:
    """Share of the fascicles' weight whose direction (image pixels) lies within one step
    of the steepest direction the detector searches (0 without fascicles)."""
    if not fascicles:
        return 0.0
    angles = np.abs(_directions_deg(fascicles, (1.0, 1.0)))
    weights = np.array([f.weight for f in fascicles], dtype=float)
    total = float(weights.sum())
    if total <= 0.0:
        return 0.0
    steep = angles >= settings.max_angle_deg - settings.step_deg
    return float(weights[steep].sum() / total)


def with_architecture(result: FrameResult, architecture: Architecture | None) -> FrameResult:
    """``result`` carrying ``architecture``: its flags added to the result's (status ``ok``
    becomes ``flagged``) and described in the message; the flags and message of an earlier
    architecture are replaced."""
    added = architecture.flags if architecture is not None else ()
    status, flags = with_replaced_flags(
        result.status, result.flags, removed=ARCHITECTURE_FLAGS, added=added
    )
    message = "; ".join(
        part
        for part in result.message.split("; ")
        if part and part not in ARCHITECTURE_FLAGS.values()
    )
    if added:
        message = "; ".join(p for p in (message, describe_architecture_flags(added)) if p)
    return replace(result, architecture=architecture, flags=flags, status=status, message=message)
