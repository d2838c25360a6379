"""Quality-control flags for a pair of aponeurosis boundaries (pure).

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
    curvature above ``max_curvature_per_px`` (radius below ~1.7 image widths of 512 px).
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
    The capture's layout differs from the calibration profile's.
``implausible_thickness``
    (also) the mean thickness in mm lies outside the plausible range for skeletal muscle.
"""

from __future__ import annotations

import numpy as np

from .geometry import curvature_per_px, overlap_interval, sagitta_fraction
from .plausible import DEFAULT_RANGES, PlausibleRanges
from .types import Boundary, Calibration

__all__ = [
    "CALIBRATION_FLAGS",
    "FLAG_DESCRIPTIONS",
    "MIN_CONFIDENCE",
    "describe_flags",
    "quality_flags",
    "scale_flags",
]

#: Flags that say the millimetres (not the boundaries) are in doubt.
CALIBRATION_FLAGS = ("calibration_unconfirmed", "implausible_calibration", "profile_mismatch")

FLAG_DESCRIPTIONS: dict[str, str] = {
    "missing_superficial": "superficial aponeurosis not found",
    "missing_deep": "deep aponeurosis not found",
    "no_overlap": "the aponeuroses share no columns",
    "crossing": "the boundaries cross",
    "short_overlap": "the aponeuroses overlap over less than half the width",
    "too_curved": "a boundary is implausibly curved",
    "implausible_thickness": "implausible thickness",
    "low_confidence": "low confidence",
    # raised by the layer model (musclethick.segment.postprocess)
    "ambiguous_layers": "another pair of layers is nearly as plausible (review: swap to the "
    "runner-up pair with one key if it is the right muscle)",
    "no_muscle_texture": "the region between the boundaries does not look like muscle",
    "edge_of_image": "the muscle runs into the edge of the image: an aponeurosis is not in view",
    "unstable": "the result changes when the image is mirrored",
    "calibration_unconfirmed": "pixel size not confirmed",
    "implausible_calibration": "implausible or rejected calibration",
    "profile_mismatch": "capture does not match the calibration profile",
}


#: A boundary below this confidence is flagged ``low_confidence`` (the result is then not ``ok``).
#: Chosen with muscle_layers_v2 on its leave-one-format-out runs (bench/bench_model.py): 0.5
#: left 2 of 70 frames of the unseen 800x652 format ``ok`` but off by more than 10 % (2.9 %);
#: 0.7 is the smallest value at which every left-out format has at most 2 % such frames
#: (800x652 0 of 70, 660x556 1 of 212, 512x512 0 of 163) at the cost of flagging 4-11 % more
#: frames that were right. A flagged frame costs a reviewer seconds; a wrong ``ok`` costs a study.
MIN_CONFIDENCE = 0.7


def quality_flags(
    superficial: Boundary | None,
    deep: Boundary | None,
    shape: tuple[int, int],
    *,
    min_confidence: float = MIN_CONFIDENCE,
    min_overlap_fraction: float = 0.5,
    max_sagitta_fraction: float = 0.15,
    max_curvature_per_px: float = 1.0 / 900.0,
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
    min_confidence, min_overlap_fraction, max_sagitta_fraction, max_curvature_per_px,
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
            if any(_too_curved(b, max_sagitta_fraction, max_curvature_per_px) for b in present):
                flags.append("too_curved")
            median_t = float(np.median(thickness))
            if not (min_thickness_fraction * rows <= median_t <= max_thickness_fraction * rows):
                flags.append("implausible_thickness")
    elif any(_too_curved(b, max_sagitta_fraction, max_curvature_per_px) for b in present):
        flags.append("too_curved")
    if any(b.confidence < min_confidence for b in present):
        flags.append("low_confidence")
    return tuple(flags)


def _too_curved(boundary: Boundary, max_sagitta: float, max_curvature: float) -> bool:
    return sagitta_fraction(boundary) > max_sagitta or curvature_per_px(boundary) > max_curvature


def describe_flags(flags: tuple[str, ...]) -> str:
    """Human-readable, ``"; "``-joined description of ``flags`` (unknown names as is)."""
    return "; ".join(FLAG_DESCRIPTIONS.get(f, f) for f in flags)


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
        Flags (:data:`CALIBRATION_FLAGS` and ``implausible_thickness``) and the reason.
    """
    flags = list(calibration.flags)
    why = [calibration.note] if calibration.flags and calibration.note else []
    if calibration.is_calibrated:
        sizes = [v for v in (calibration.mm_per_px_y, calibration.mm_per_px_x) if v is not None]
        if not all(ranges.contains(ranges.mm_per_px, v) for v in sizes):
            low, high = ranges.mm_per_px
            flags.append("implausible_calibration")
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
    if flags and not any("--mm-per-px" in w for w in why):
        why.append(
            "fix: give --mm-per-px or --depth-mm, a calibration profile (musclethick "
            "calibrate), or two clicks on the ruler in napari"
        )
    return tuple(dict.fromkeys(flags)), "; ".join(why)
