"""Quality control of a pair of aponeurosis boundaries (pure): the flags, and the decisions
that turn them into a result's status.

Decisions (the one home of each; :mod:`musclethick.measure` and :mod:`musclethick.pipeline`
call them):

* :func:`failure_reason`: ``failed`` (nothing measured) when an aponeurosis is missing or the
  two share no columns.
* :func:`status_of`: ``flagged`` when any flag is raised, else ``ok``.
* :func:`mm_withheld`: the millimetres of a pixel size outside the plausible range are
  withheld (px kept).
* :func:`no_muscle_reason`: ``failed`` with flag ``no_muscle`` when a measured result's
  boundary confidence is below ``no_muscle_confidence``: boundaries that weak are noise.
* :func:`with_added_flags`: flags added after measuring (the layer model's doubts,
  ``fallback_edges`` when the model missed an aponeurosis and the edge path measured
  instead) turn ``ok`` into ``flagged``.
* :func:`with_replaced_flags`: a set of flags replaced by another (the architecture's, by
  :func:`musclethick.architecture.with_architecture`): ``flagged`` with no flag left becomes
  ``ok``, new flags turn ``ok`` into ``flagged``.

Flags (strings, in this order when several apply):

``missing_superficial``
    No superficial boundary was found.
``missing_deep``
    No deep boundary was found.
``no_overlap``
    The two boundaries share no columns, so nothing can be measured.
``crossing``
    The deep boundary lies at or above the superficial one somewhere in the shared columns.
``short_overlap``
    The shared columns cover less than ``min_overlap_fraction`` (default 50 %) of the
    image width: the lines are placed in a narrow window.
``too_curved``
    A boundary bends or wiggles more than an aponeurosis can: peak-to-peak deviation from
    its straight-line fit above ``max_sagitta_fraction`` of its width (default 0.15), or
    curvature above ``max_curvature_per_width`` per frame width (0.57: a radius below 1.76
    frame widths, 900 px in a frame 512 px wide). Per width, not per px: the same capture at
    twice the resolution bends as much (until the thirteenth session a fixed 1/900 px let an
    enlarged capture's bent line pass).
``drawn_line``
    A boundary runs along a drawn straight line (a caliper or annotation line burned into the
    capture, :func:`drawn_line_share`): evenly bright, thin and straight, unlike an aponeurosis.
``two_images``
    The frame holds two images side by side (a scanner's dual view: a flat gap between two
    textured sides, or columns unlike their neighbours down the whole height;
    :func:`musclethick.region.find_side_by_side`): the lines would span both images.
``sector_image``
    The frame is a curvilinear probe's fan (straight sides spreading with depth, an arched top;
    :func:`musclethick.region.find_sector`) that is measured as it is: the aponeuroses are
    arcs, the beams fan out, and the layer model was trained on rectangular (linear-probe)
    images. A fan read from a file is measured on its beam view instead
    (:func:`musclethick.fan.as_beam_view`) and has no such flag; this one is left for a fan
    whose geometry could not be told (:func:`musclethick.region.fan_geometry`) and for frames
    made from pixels (a napari image layer, `measure_frames` on frames of one's own).
``implausible_thickness``
    The median vertical thickness is below ``min_thickness_fraction`` (3 %) or above
    ``max_thickness_fraction`` (95 %) of the image height.
``low_confidence``
    A boundary's confidence is below ``min_confidence`` (default :data:`MIN_CONFIDENCE`, 0.7).

Flags of the millimetres (:func:`scale_flags`), after the geometric ones:

``calibration_unconfirmed``
    The pixel size was not confirmed by two sources (e.g. a ruler of unlabelled ticks).
``implausible_calibration``
    The pixel size lies outside the plausible range, or the file's own calibration was
    rejected (invalid DICOM regions).
``profile_mismatch``
    The capture's layout differs from the calibration profile's, or its own depth ruler reads
    (confirmed) a pixel size the profile's contradicts.
``implausible_thickness``
    (also) the mean thickness in mm lies outside the plausible range for skeletal muscle.

Flags of the source (:func:`source_flags`):

``not_ultrasound``
    The DICOM file says it is another modality (CT, MR, X-ray, ...): musclethick measures
    B-mode ultrasound, so the numbers mean nothing until a person confirms the file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import cache

import numpy as np

from .calibration import FIX_HINT, IMPLAUSIBLE, PROFILE_MISMATCH, UNCONFIRMED
from .geometry import curvature_per_px, overlap_interval, sagitta_fraction
from .plausible import DEFAULT_RANGES, PlausibleRanges
from .protocol import DEFAULT_REPEAT_TOLERANCE_PCT
from .region import find_sector, find_side_by_side
from .types import Boundary, Calibration, Status

__all__ = [
    "CALIBRATION_FLAGS",
    "DRAWN_LINE",
    "DRAWN_LINE_MIN_SHARE",
    "FALLBACK_EDGES",
    "FLAG_DESCRIPTIONS",
    "MIN_CONFIDENCE",
    "NO_MUSCLE",
    "REPEATS_DISAGREE",
    "REPEAT_TOLERANCE_PCT",
    "ROTATED",
    "SECTOR_IMAGE",
    "SELF_TRAINING_MIN_OK_SHARE",
    "SOURCE_FLAGS",
    "TWO_IMAGES",
    "ULTRASOUND_MODALITIES",
    "UPSIDE_DOWN_MIN_FRAMES",
    "UPSIDE_DOWN_STUDY_SHARE",
    "describe_flags",
    "doubts_boundaries",
    "drawn_line",
    "drawn_line_flags",
    "drawn_line_share",
    "drawn_lines",
    "failure_reason",
    "flags_after_correction",
    "mm_withheld",
    "no_muscle_reason",
    "quality_flags",
    "repeat_spread_pct",
    "repeats_disagree",
    "scale_flags",
    "sector_flags",
    "source_flags",
    "status_of",
    "two_images_flags",
    "unfamiliar_scanner",
    "upside_down_study",
    "with_added_flags",
    "with_replaced_flags",
]

#: Flags that say the millimetres (not the boundaries) are in doubt.
CALIBRATION_FLAGS = (UNCONFIRMED, IMPLAUSIBLE, PROFILE_MISMATCH)
#: Flags that say the file itself is in doubt (:func:`source_flags`).
SOURCE_FLAGS = ("not_ultrasound",)


def flags_after_correction(flags: Iterable[str]) -> tuple[str, ...]:
    """The flags that still stand once a person has corrected the boundaries: those about the
    millimetres and the file (:data:`CALIBRATION_FLAGS`, :data:`SOURCE_FLAGS`). The others
    were about the boundaries (or the fascicles) the correction replaced."""
    standing = (*CALIBRATION_FLAGS, *SOURCE_FLAGS)
    return tuple(f for f in flags if f in standing)


FLAG_DESCRIPTIONS: dict[str, str] = {
    "missing_superficial": "superficial aponeurosis not found",
    "missing_deep": "deep aponeurosis not found",
    "no_overlap": "the aponeuroses share no columns",
    "crossing": "the boundaries cross",
    "short_overlap": "the aponeuroses overlap over less than half the width",
    "too_curved": "a boundary is implausibly curved",
    "implausible_thickness": "implausible thickness",
    "low_confidence": "low confidence in a boundary: check in review that both "
    "lines lie on the target muscle's aponeuroses",
    # raised by the layer model (musclethick.segment.postprocess)
    "ambiguous_layers": "another pair of layers is nearly as plausible (review: swap to the "
    "runner-up pair with one key if it is the right muscle)",
    "no_muscle_texture": "the region between the boundaries does not look like muscle",
    "band_inside_muscle": "a band that is not muscle crosses the measured muscle: two muscles "
    "or a missed aponeurosis (review: swap to the runner-up pair, or move a boundary onto the "
    "band with Shift-Up / Shift-Down)",
    "second_deep_band": "another deep-aponeurosis band lies below the measured deep boundary, "
    "with muscle between: the measured one may be a band inside the muscle (review: swap to the "
    "runner-up pair, which ends on the lower band, with one key)",
    "drawn_line": "a boundary runs along a drawn straight line (caliper or annotation), not "
    "an aponeurosis: check it in review and move it onto the aponeurosis",
    "edge_of_image": "the muscle runs into the edge of the image: an aponeurosis is not in view",
    "two_images": "the capture changes abruptly down a vertical line: two images side by side "
    "(a dual view), a turned capture or the edge of a colour (Doppler) box, and the lines may "
    "span both sides: measure each image on its own (export it alone, or crop the capture to "
    "it), or export the scan without the colour box",
    "sector_image": "a curvilinear (sector) image whose fan could not be laid out as beams "
    "(its sides and probe face did not agree): the aponeuroses are arcs and the beams fan "
    "out, and the layer model knows rectangular (linear-probe) images; the thickness is measured "
    "vertically, along the beam only in the middle of the fan: check both lines in review, or "
    "scan with a linear probe",
    "unstable": "the result changes when the image is mirrored or made brighter or darker",
    "rotated": "the image looks like muscle when turned by 90 degrees: the capture is likely "
    "rotated (a portrait export, a viewer's rotation); turn it so that the skin is at the top "
    "and measure again",
    "upside_down": "the image looks more like muscle turned upside down: the capture may be "
    "upside down (a display's up/down setting), and the lines on the wrong muscle; turn it "
    "upright and measure again (review: the runner-up pair, one key, is the pair measured with "
    "the image turned upside down)",
    UNCONFIRMED: "pixel size not confirmed",
    IMPLAUSIBLE: "implausible or rejected calibration",
    PROFILE_MISMATCH: "capture does not match the calibration profile",
    "not_ultrasound": "the file is not an ultrasound image",
    # raised for a session, not a frame (review queue, exports)
    "repeats_disagree": "the repeated images of this site in this session disagree: at least "
    "one of them measured another line (review them side by side)",
}

#: DICOM modalities an ultrasound image may carry: ultrasound itself, and the generic "other"
#: and secondary-capture codes that screen grabs and exports use; anything else is flagged.
ULTRASOUND_MODALITIES = frozenset({"", "US", "IVUS", "OT", "SC", "XC"})


#: Flag of a result whose boundaries are too weak to be a muscle (status ``failed``).
NO_MUSCLE = "no_muscle"
#: Flag of a frame that could not be measured but looks like muscle turned by 90 degrees
#: (:meth:`musclethick.segment.SegmentationModel.rotation_look`; status ``failed``).
ROTATED = "rotated"
#: Flag of a result the edge path measured because the layer model missed an aponeurosis.
FALLBACK_EDGES = "fallback_edges"

#: A boundary below this confidence is flagged ``low_confidence`` (the result is then not ``ok``).
#: Chosen with muscle_layers_v2 on its leave-one-format-out runs (bench/bench_model.py): 0.5
#: left 2 of 70 frames of the unseen 800x652 format ``ok`` but off by more than 10 % (2.9 %);
#: 0.7 is the smallest value at which every left-out format has at most 2 % such frames
#: (800x652 0 of 70, 660x556 1 of 212, 512x512 0 of 163) at the cost of flagging 4-11 % more
#: frames that were right. A flagged frame costs a reviewer seconds; a wrong ``ok`` costs a study.
MIN_CONFIDENCE = 0.7


#: Flag of a result with a boundary on a drawn line (:func:`drawn_line_flags`).
DRAWN_LINE = "drawn_line"
#: Share of a boundary's width a drawn line must run along to raise :data:`DRAWN_LINE` (of 747
#: real captures of ``../shared`` none reaches 0.21; a line drawn beside an aponeurosis that
#: the boundary follows gives 0.5-1).
DRAWN_LINE_MIN_SHARE = 0.3


def drawn_line_share(pixels: np.ndarray, boundary: Boundary, **options) -> float:
    """Share of ``boundary``'s columns along which a drawn straight line runs beside it (see
    :func:`drawn_line`, whose keyword ``options`` it takes)."""
    return drawn_line(pixels, boundary, **options)[0]


def drawn_line(
    pixels: np.ndarray,
    boundary: Boundary,
    *,
    search_px: int = 8,
    half_width_px: int = 3,
    min_contrast: float = 25.0,
    max_level_spread: float = 4.0,
    min_run_px: int = 12,
    below: float = 0.0,
) -> tuple[float, np.ndarray | None]:
    """Share of ``boundary``'s columns along which a drawn straight line runs beside it.

    Sonographers and scanners burn lines into captures (caliper measurements, annotation
    lines), and a line drawn a millimetre from an aponeurosis can pass for it. Tissue and a
    drawn line differ in two ways that survive JPEG and resizing: a drawn line is straight to
    the pixel, and its brightness is the same in every column (speckle makes an aponeurosis's
    vary). In each column within ``search_px`` rows of the boundary the row
    that stands out most above the rows ``half_width_px + 1`` above and below it (a line at
    most ``2 * half_width_px + 1`` px thick, brighter than them by ``min_contrast`` grey
    levels) is a candidate; the straight line (slope within 0.05 of the boundary's, every
    0.0025) holding most candidates within 1 px, among them those whose brightness (the
    brightest of the three rows around each) lies within ``max_level_spread`` grey levels of
    their median and whose thickness (rows at that brightness) is their median, in runs of at
    least ``min_run_px`` neighbouring columns (a solid or dashed line, not scattered speckle),
    gives the share.

    Only columns in runs of at least ``min_run_px`` neighbours that agree with each other (both
    stand out, centres at most 2 rows apart, brightness and thickness alike) are searched; a
    boundary with fewer than ``below`` of its columns in such runs returns 0 at once.

    Parameters
    ----------
    pixels : ndarray, shape (rows, cols)
        The grey frame the boundary was found in.
    boundary : Boundary

    Returns
    -------
    share : float
        0 (no drawn line along the boundary) to 1 (one along its whole width).
    line : ndarray of bool, shape (rows, cols), or None
        The drawn line's pixels (in its columns, its thickness and two pixels either side),
        or ``None`` when the share is 0.
    """
    img = np.asarray(pixels, dtype=np.float32)
    if img.ndim != 2:
        return 0.0, None
    rows, cols = img.shape
    x = np.arange(max(0, math.ceil(boundary.x_min)), min(cols - 1, math.floor(boundary.x_max)) + 1)
    if x.size < 16:
        return 0.0, None
    y_boundary = np.rint(boundary.y_at(x)).astype(np.int64)
    gap = half_width_px + 1
    rr = y_boundary[None, :] + np.arange(-search_px, search_px + 1)[:, None]
    inside = (rr >= gap + 1) & (rr < rows - gap - 1)
    rr = np.clip(rr, gap + 1, rows - gap - 2)
    ridge = img[rr, x] - np.maximum(img[rr - gap, x], img[rr + gap, x])
    ridge = np.where(inside, ridge, -np.inf)
    best = np.argmax(ridge, axis=0)
    cols_idx = np.arange(x.size)
    centre_row = rr[best, cols_idx]
    level = np.maximum.reduce([img[centre_row + d, x] for d in (-1, 0, 1)])
    # how many rows around the centre hold that brightness: a drawn line's thickness is the
    # same in every column, a bright aponeurosis's (saturated or not) varies with the speckle
    around = img[centre_row[None, :] + np.arange(-gap, gap + 1)[:, None], x]
    thick = (np.abs(around - level[None, :]) <= max_level_spread).sum(axis=0)
    candidate = ridge[best, cols_idx] >= min_contrast
    # neighbouring columns of one drawn line: both candidates, centres at most 2 rows apart
    # (1 px either side of a line sloping up to ~0.1), the same brightness and thickness; only
    # runs of such columns can hold one (this leaves the search below few columns, or none)
    alike = np.zeros(x.size, dtype=bool)
    alike[1:] = (
        candidate[1:]
        & candidate[:-1]
        & (np.abs(np.diff(centre_row)) <= 2)
        & (np.abs(np.diff(level)) <= 2 * max_level_spread)
        & (thick[1:] == thick[:-1])
    )
    in_runs = _in_runs(alike, min_run_px - 1)
    in_runs[:-1] |= in_runs[1:]  # a run's first column
    if in_runs.sum() < max(min_run_px, below * x.size):
        return 0.0, None  # the share cannot reach ``below``: not worth the search
    cand = np.flatnonzero(in_runs)
    peak = centre_row[cand].astype(np.float64)
    xc = x[cand].astype(np.float64)
    level, thick = level[cand], thick[cand]
    fit = np.polyfit(x.astype(np.float64), boundary.y_at(x), 1)[0]
    share, best_columns = 0.0, None
    for slope in fit + np.arange(-0.05, 0.05 + 1e-9, 0.0025):
        offset = peak - slope * xc
        bins = np.rint(offset - offset.min()).astype(np.int64)
        window = np.convolve(np.bincount(bins), np.ones(3), mode="same")
        on_line = np.abs(bins - int(np.argmax(window))) <= 1
        if on_line.sum() <= share * x.size:
            continue
        even = np.zeros(x.size, dtype=bool)
        even[cand[on_line]] = (
            np.abs(level[on_line] - np.median(level[on_line])) <= max_level_spread
        ) & (thick[on_line] == np.median(thick[on_line]))
        kept = _in_runs(even, min_run_px)
        if kept.sum() > share * x.size:
            share, best_columns = float(kept.sum()) / x.size, kept
    if best_columns is None:
        return 0.0, None
    line = np.zeros((rows, cols), dtype=bool)
    for i in np.flatnonzero(best_columns):
        # the rows at the line's brightness around its centre, and two more either side
        half = int(thick[np.searchsorted(cand, i)]) // 2 + 2
        line[max(0, centre_row[i] - half) : centre_row[i] + half + 1, x[i]] = True
    return share, line


def _in_runs(mask: np.ndarray, min_run: int) -> np.ndarray:
    """``mask`` kept only where it is true over at least ``min_run`` consecutive elements."""
    padded = np.concatenate([[False], mask, [False]])
    change = np.flatnonzero(np.diff(padded.astype(np.int8)))
    keep = np.zeros(mask.size, dtype=bool)
    for start, stop in zip(change[::2], change[1::2], strict=True):
        if stop - start >= min_run:
            keep[start:stop] = True
    return keep


def drawn_line_flags(
    pixels: np.ndarray,
    superficial: Boundary | None,
    deep: Boundary | None,
    *,
    min_share: float = DRAWN_LINE_MIN_SHARE,
) -> tuple[str, ...]:
    """``(DRAWN_LINE,)`` when a drawn line runs along either boundary over at least
    ``min_share`` of its width (:func:`drawn_line`), else ``()``."""
    found = drawn_lines(pixels, superficial, deep, min_share=min_share)
    return (DRAWN_LINE,) if found is not None else ()


TWO_IMAGES = "two_images"


def two_images_flags(pixels: np.ndarray) -> tuple[str, ...]:
    """``(TWO_IMAGES,)`` when the frame holds two images side by side
    (:func:`musclethick.region.find_side_by_side`), else ``()``."""
    return (TWO_IMAGES,) if find_side_by_side(pixels) is not None else ()


SECTOR_IMAGE = "sector_image"


def sector_flags(pixels: np.ndarray) -> tuple[str, ...]:
    """``(SECTOR_IMAGE,)`` when the frame is a curvilinear probe's fan
    (:func:`musclethick.region.find_sector`), else ``()``."""
    return (SECTOR_IMAGE,) if find_sector(pixels) is not None else ()


def drawn_lines(
    pixels: np.ndarray,
    superficial: Boundary | None,
    deep: Boundary | None,
    *,
    min_share: float = DRAWN_LINE_MIN_SHARE,
) -> np.ndarray | None:
    """The pixels of the drawn lines that run along either boundary over at least
    ``min_share`` of its width (bool, the frame's shape), or ``None`` when there is none."""
    found = None
    for boundary in (superficial, deep):
        if boundary is None:
            continue
        share, line = drawn_line(pixels, boundary, below=min_share)
        if share >= min_share and line is not None:
            found = line if found is None else found | line
    return found


def quality_flags(
    superficial: Boundary | None,
    deep: Boundary | None,
    shape: tuple[int, int],
    *,
    min_confidence: float = MIN_CONFIDENCE,
    min_overlap_fraction: float = 0.5,
    max_sagitta_fraction: float = 0.15,
    max_curvature_per_width: float = 512.0 / 900.0,
    min_thickness_fraction: float = 0.03,
    max_thickness_fraction: float = 0.95,
) -> tuple[str, ...]:
    """QC flags of a pair of boundaries (see the module docstring for each flag).

    Parameters
    ----------
    superficial, deep : Boundary or None
        Inner edges in frame coordinates (``None`` = not found).
    shape : tuple of int
        ``(rows, cols)`` of the frame.
    min_confidence, min_overlap_fraction, max_sagitta_fraction, max_curvature_per_width,
    min_thickness_fraction, max_thickness_fraction : float, optional
        Thresholds of the individual flags.

    Returns
    -------
    tuple of str
        Empty when every check passes.
    """
    rows, cols = int(shape[0]), int(shape[1])
    flags: list[str] = []
    if superficial is None:
        flags.append("missing_superficial")
    if deep is None:
        flags.append("missing_deep")
    present = [b for b in (superficial, deep) if b is not None]
    max_curvature = max_curvature_per_width / max(cols, 1)  # per px of this frame
    if superficial is not None and deep is not None:
        interval = overlap_interval(superficial, deep)
        if interval is None:
            flags.append("no_overlap")
        else:
            x0, x1 = interval
            xs = np.linspace(x0, x1, max(2, int(x1 - x0) + 1))
            thickness = deep.y_at(xs) - superficial.y_at(xs)
            if np.any(thickness <= 0):
                flags.append("crossing")
            if (x1 - x0) < min_overlap_fraction * (cols - 1):
                flags.append("short_overlap")
            if any(_too_curved(b, max_sagitta_fraction, max_curvature) for b in present):
                flags.append("too_curved")
            median_t = float(np.median(thickness))
            if not (min_thickness_fraction * rows <= median_t <= max_thickness_fraction * rows):
                flags.append("implausible_thickness")
    elif any(_too_curved(b, max_sagitta_fraction, max_curvature) for b in present):
        flags.append("too_curved")
    if any(b.confidence < min_confidence for b in present):
        flags.append("low_confidence")
    return tuple(flags)


def _too_curved(boundary: Boundary, max_sagitta: float, max_curvature: float) -> bool:
    return sagitta_fraction(boundary) > max_sagitta or curvature_per_px(boundary) > max_curvature


def describe_flags(flags: tuple[str, ...]) -> str:
    """Human-readable, ``"; "``-joined description of ``flags`` (unknown names as is)."""
    return "; ".join(FLAG_DESCRIPTIONS.get(f, f) for f in flags)


def source_flags(modality: str) -> tuple[tuple[str, ...], str]:
    """``not_ultrasound`` and a sentence saying why when the file's DICOM ``modality`` is
    not one an ultrasound image carries (:data:`ULTRASOUND_MODALITIES`); else ``((), "")``."""
    code = (modality or "").strip().upper()
    if code in ULTRASOUND_MODALITIES:
        return (), ""
    return SOURCE_FLAGS, (
        f"DICOM modality {code}: musclethick measures B-mode ultrasound; check that this is "
        "the intended file"
    )


def scale_flags(
    calibration: Calibration,
    thickness_mm: float | None,
    *,
    ranges: PlausibleRanges = DEFAULT_RANGES,
) -> tuple[tuple[str, ...], str]:
    """Flags of the millimetres of one result, and a sentence saying why.

    Parameters
    ----------
    calibration : Calibration
        The frame's calibration (its own ``flags`` are passed on).
    thickness_mm : float or None
        Mean thickness in mm (``None`` when uncalibrated or not measured).
    ranges : PlausibleRanges
        Plausible pixel sizes and muscle thickness.

    Returns
    -------
    (tuple of str, str)
        Flags (:data:`CALIBRATION_FLAGS` and ``implausible_thickness``) and the reason; an
        uncalibrated frame raises no flag (its result is in px) but the reason says why and
        how to calibrate it.
    """
    flags = list(calibration.flags)
    # px only is not a doubt about the result (no flag), but the message says why and how
    uncalibrated = not calibration.is_calibrated and bool(calibration.note)
    why = [calibration.note] if calibration.note and (calibration.flags or uncalibrated) else []
    if calibration.is_calibrated:
        sizes = [v for v in (calibration.mm_per_px_y, calibration.mm_per_px_x) if v is not None]
        if not all(ranges.contains(ranges.mm_per_px, v) for v in sizes):
            low, high = ranges.mm_per_px
            flags.append(IMPLAUSIBLE)
            why.append(
                f"pixel size {calibration.mm_per_px:g} mm ({calibration.source}) is outside the "
                f"plausible {low:g}-{high:g} mm"
            )
        if thickness_mm is not None and not ranges.contains(ranges.thickness_mm, thickness_mm):
            low, high = ranges.thickness_mm
            flags.append("implausible_thickness")
            why.append(
                f"thickness {thickness_mm:.4g} mm is outside the plausible {low:g}-{high:g} mm "
                "for skeletal muscle: check the calibration"
            )
    # a note that names the options already says what to do (e.g. a given value contradicted)
    named = any(option in w for w in why for option in ("--mm-per-px", "--depth-mm"))
    if (flags or uncalibrated) and not named:
        why.append(f"fix: {FIX_HINT}")
    return tuple(dict.fromkeys(flags)), "; ".join(why)


# -- decisions: flags -> status ----------------------------------------------------------------


def failure_reason(
    superficial: Boundary | None, deep: Boundary | None, flags: tuple[str, ...]
) -> str:
    """Why nothing can be measured from these boundaries, or ``""`` when they can be.

    Parameters
    ----------
    superficial, deep : Boundary or None
        Inner edges (``None`` = not found).
    flags : tuple of str
        Their :func:`quality_flags`.

    Returns
    -------
    str
        ``"superficial aponeurosis not found"``, ``"deep ..."``, ``"superficial and deep
        ..."``, ``"the superficial and deep aponeuroses share no columns"`` (flag
        ``no_overlap``), ``"the deep aponeurosis lies above the superficial one ..."`` (flag
        ``crossing`` with the deep boundary above the superficial one over at least half of
        their shared columns: no thickness to measure, a negative one is never reported), or
        ``""``: the result is ``failed`` exactly when this is not empty.
    """
    missing = [n for n, b in (("superficial", superficial), ("deep", deep)) if b is None]
    if missing:
        return f"{' and '.join(missing)} aponeurosis not found"
    if "no_overlap" in flags:
        return "the superficial and deep aponeuroses share no columns"
    if "crossing" in flags and superficial is not None and deep is not None:
        interval = overlap_interval(superficial, deep)
        if interval is not None:
            xs = np.linspace(interval[0], interval[1], 64)
            if float(np.median(deep.y_at(xs) - superficial.y_at(xs))) <= 0.0:
                return (
                    "the deep aponeurosis lies above the superficial one (the boundaries "
                    "cross): no thickness; draw them in review"
                )
    return ""


def status_of(flags: tuple[str, ...]) -> Status:
    """Status of a measured result: ``"flagged"`` when any flag is raised, else ``"ok"``."""
    return "flagged" if flags else "ok"


def mm_withheld(calibration: Calibration, *, ranges: PlausibleRanges = DEFAULT_RANGES) -> bool:
    """Whether the millimetres of a result are withheld (its px kept): the frame is
    calibrated with a pixel size (along the beam) no ultrasound image has."""
    return calibration.is_calibrated and not ranges.contains(
        ranges.mm_per_px, calibration.mm_per_px
    )


#: A run whose frames are failed or flagged for their boundaries this often looks like a
#: scanner (or protocol) the model does not know: on the formats left out of training 58-64 %
#: of the frames are (660x556, 800x652), on those it was trained on 7-12 % (val, 512x512 left
#: out; README, Accuracy). Flags about the millimetres only (:data:`CALIBRATION_FLAGS`) do not
#: count: a fine-tune cannot fix a ruler.
UNFAMILIAR_SHARE = 0.3
#: Fewest frames for that judgement.
UNFAMILIAR_MIN_FRAMES = 10


def doubts_boundaries(status: Status, flags: Iterable[str]) -> bool:
    """Whether a result is failed, or flagged for its boundaries: for something other than its
    calibration or its architecture (fascicles faint or steep say nothing of the layers)."""
    if status == "failed":
        return True
    others = _not_about_boundaries()
    return any(f not in others for f in flags)


@cache
def _not_about_boundaries() -> frozenset[str]:
    from musclethick.architecture import ARCHITECTURE_FLAGS  # it imports this module

    return frozenset(CALIBRATION_FLAGS) | frozenset(ARCHITECTURE_FLAGS)


#: The least share of a study's results without a doubt about their boundaries from which the
#: model may learn from them unreviewed (``musclethick train --from-store --learn-from-ok``):
#: on the formats left out of training, 660x556 (25-34 % without a doubt) measured 2.7-2.9 %
#: MAE after it instead of 5.0-9.7 %, with 0-1 of 212 frames ``ok`` and off by more than
#: 10 %; 800x652 (11-17 %) was left with 4-6 of 70 such frames (``bench/bench_adapt.py``).
SELF_TRAINING_MIN_OK_SHARE = 0.2


def unfamiliar_scanner(n_frames: int, n_doubtful: int, *, model_path: str | None = None) -> str:
    """A sentence when :data:`UNFAMILIAR_SHARE` or more of a run's ``n_frames`` (at least
    :data:`UNFAMILIAR_MIN_FRAMES`) are doubtful (:func:`doubts_boundaries`), else ``""``.

    It says what the share is and what it suggests (with ``model_path``, the model given
    instead of the shipped one, e.g. a fine-tune: to fine-tune it again); the commands that
    follow from it are the caller's (a store, or not).
    """
    if n_frames < UNFAMILIAR_MIN_FRAMES:
        return ""
    share = n_doubtful / n_frames
    if share < UNFAMILIAR_SHARE:
        return ""
    again = (
        f" (measured with --model {model_path}: review and correct more scans and fine-tune again)"
        if model_path
        else ""
    )
    return (
        f"{100 * share:.0f} % of the frames are failed or flagged for their boundaries; on "
        "scanners the model never saw that share was 58-64 %, on those it was trained on "
        f"7-12 %: this scanner or protocol may be new to the model{again}"
    )


#: A run whose measured frames are flagged ``upside_down`` this often (and at least
#: :data:`UPSIDE_DOWN_MIN_FRAMES` of them) was likely captured upside down as a whole
#: (:func:`upside_down_study`). With the shipped model, captures turned upside down (rows
#: reversed) were flagged so 31 of 70 times on ``val`` and 160 of 399 on ``train``; the same
#: captures upright 0 of 70 and 3 of 399 (``python bench/bench_upside_down.py [--split
#: train]``; README, "Upside-down studies").
UPSIDE_DOWN_STUDY_SHARE = 0.25
UPSIDE_DOWN_MIN_FRAMES = 3


def upside_down_study(
    n_frames: int, n_upside_down: int, *, turned: bool = False, redo: str = "measure them again"
) -> str:
    """A sentence when :data:`UPSIDE_DOWN_STUDY_SHARE` or more of a run's ``n_frames``
    measured frames (at least :data:`UPSIDE_DOWN_MIN_FRAMES` of them) are flagged
    ``upside_down``, else ``""``: ``redo`` with ``--upside-down``, or, when the frames were
    ``turned`` upright already, without it."""
    if n_upside_down < UPSIDE_DOWN_MIN_FRAMES or n_upside_down < UPSIDE_DOWN_STUDY_SHARE * n_frames:
        return ""
    share = f"{n_upside_down} of the {n_frames} frames measured look upside down"
    if turned:
        return (
            f"{share} after they were turned upright (--upside-down): the scans may be upright "
            f"already; {redo} without --upside-down"
        )
    return (
        f"{share} (flag upside_down): if the display showed the skin at the bottom, {redo} "
        "with --upside-down to turn every frame upright"
    )


#: A session's repeated images of one site whose thicknesses spread by more than this (% of
#: their median) disagree (:func:`repeats_disagree`; the rationale at
#: :data:`musclethick.protocol.DEFAULT_REPEAT_TOLERANCE_PCT`, the one home of the value).
REPEAT_TOLERANCE_PCT = DEFAULT_REPEAT_TOLERANCE_PCT
#: The flag of the results of such a session (review queue; ``repeats_disagree`` of the
#: exported sessions).
REPEATS_DISAGREE = "repeats_disagree"


def repeat_spread_pct(thickness: Iterable[float]) -> float:
    """Spread of repeated images' thicknesses: ``(max - min) / median x 100`` of the finite
    values; NaN with fewer than two, or a median that is not positive."""
    values = np.array([float(v) for v in thickness], dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return float("nan")
    median = float(np.median(values))
    if median <= 0:
        return float("nan")
    return float((values.max() - values.min()) / median * 100.0)


def repeats_disagree(
    thickness: Iterable[float], tolerance_pct: float = REPEAT_TOLERANCE_PCT
) -> bool:
    """Whether repeated images of one site in one session spread by more than
    ``tolerance_pct`` (:func:`repeat_spread_pct`): at least one of them is wrong, whatever
    their own status."""
    return bool(repeat_spread_pct(thickness) > tolerance_pct)


def no_muscle_reason(status: Status, confidence: float, *, min_confidence: float) -> str:
    """Why a measured result is no muscle, or ``""``.

    A result that is not already ``failed`` whose confidence (the weaker boundary's) is
    below ``min_confidence`` has boundaries that are noise, not aponeuroses: it becomes
    ``failed`` with flag :data:`NO_MUSCLE` and no thickness.

    Returns
    -------
    str
        E.g. ``"no muscle found (boundary confidence 0.050 < 0.1)"``, or ``""``.
    """
    if status == "failed" or not confidence < min_confidence:
        return ""
    # rounded down, so that the printed value is below the printed limit (not "0.10 < 0.10")
    shown = math.floor(confidence * 1000.0) / 1000.0
    return f"no muscle found (boundary confidence {shown:.3f} < {min_confidence:g})"


def with_added_flags(
    status: Status, flags: tuple[str, ...], extra: tuple[str, ...]
) -> tuple[Status, tuple[str, ...], tuple[str, ...]]:
    """A result's status and flags after ``extra`` flags are added to it.

    Parameters
    ----------
    status : Status
        The result's status.
    flags : tuple of str
        Its flags.
    extra : tuple of str
        Flags raised after measuring (e.g. :data:`FALLBACK_EDGES`, the layer model's
        doubts).

    Returns
    -------
    (Status, tuple of str, tuple of str)
        The status (``ok`` becomes ``flagged`` when ``extra`` is not empty; ``flagged`` and
        ``failed`` stay), the flags without repeats (first occurrence kept), and the
        descriptions of the ``extra`` flags the result did not have yet (those in
        :data:`FLAG_DESCRIPTIONS`), for its message.
    """
    merged = tuple(dict.fromkeys((*flags, *extra)))
    new_status: Status = "flagged" if status == "ok" and extra else status
    described = tuple(
        FLAG_DESCRIPTIONS[f]
        for f in dict.fromkeys(extra)  # each once, as in the flags
        if f in FLAG_DESCRIPTIONS and f not in flags
    )
    return new_status, merged, described


def with_replaced_flags(
    status: Status, flags: tuple[str, ...], *, removed: Iterable[str], added: tuple[str, ...]
) -> tuple[Status, tuple[str, ...]]:
    """A result's status and flags after the flags in ``removed`` are taken out and
    ``added`` appended (e.g. an earlier architecture's flags replaced by a new one's).

    Returns
    -------
    (Status, tuple of str)
        ``flagged`` with no flag left becomes ``ok``; ``ok`` with ``added`` flags becomes
        ``flagged``; ``failed`` stays. The flags keep their order, ``added`` last.
    """
    gone = set(removed)
    kept = tuple(f for f in flags if f not in gone)
    new_status: Status = "ok" if status == "flagged" and not kept else status
    if added:
        kept = (*kept, *added)
        if new_status == "ok":
            new_status = "flagged"
    return new_status, kept
