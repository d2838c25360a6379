"""Muscle thickness from two aponeurosis boundaries (pure).

* :func:`measure_lines`: thickness along measurement lines placed at fractions of the
  columns where both boundaries exist, vertically (along the beam) and perpendicular to
  the deep aponeurosis, in px and, when calibrated, in mm; plus a ``"mean"`` line.
* :func:`echo_intensity`: mean grey level of the muscle between the boundaries.
* :func:`assemble_result`: everything for one frame as a :class:`FrameResult`, with QC.
* :func:`failed_result`: the result of a frame (or file) that could not be measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .geometry import overlap_interval, perpendicular_distance
from .plausible import DEFAULT_RANGES, PlausibleRanges
from .qc import (
    MIN_CONFIDENCE,
    describe_flags,
    failure_reason,
    mm_withheld,
    quality_flags,
    scale_flags,
    source_flags,
    status_of,
)
from .types import Boundary, Calibration, Frame, FrameResult, LineMeasurement, PixelBox

__all__ = [
    "MIN_FRAME_PX",
    "assemble_result",
    "correction_method",
    "echo_intensity",
    "failed_result",
    "measure_lines",
]

#: Smallest frame side (px) in which aponeuroses can be looked for; smaller frames fail.
MIN_FRAME_PX = 8


def _label(fraction: float) -> str:
    pct = 100.0 * fraction
    return f"{pct:.0f}%" if abs(pct - round(pct)) < 1e-9 else f"{pct:g}%"


def measure_lines(
    superficial: Boundary,
    deep: Boundary,
    *,
    calibration: Calibration,
    line_fractions: Sequence[float] = (0.25, 0.5, 0.75),
    perpendicular: bool = True,
    labels: Sequence[str] | None = None,
) -> tuple[LineMeasurement, ...]:
    """Thickness along measurement lines, plus their mean.

    Lines are placed at ``x = x0 + f * (x1 - x0)`` for each ``f`` in ``line_fractions``,
    where ``[x0, x1]`` is the interval of columns covered by both boundaries. The vertical
    thickness is ``y_deep - y_superficial`` (px; mm with ``calibration.mm_per_px_y``). The
    perpendicular thickness is the distance from the superficial point to the deep
    boundary measured perpendicular to it (:func:`musclethick.geometry.perpendicular_distance`):
    in mm it uses both pixel sizes (anisotropic pixels handled; ``mm_per_px_x`` defaults to
    ``mm_per_px_y`` when unknown); in px it assumes square pixels.

    Parameters
    ----------
    superficial, deep : Boundary
        Inner edges in frame coordinates.
    calibration : Calibration
        Pixel size (uncalibrated: ``_mm`` fields are ``None``).
    line_fractions : sequence of float, optional
        Positions of the lines in ``[0, 1]`` across the overlap.
    perpendicular : bool, optional
        Also measure perpendicular to the deep aponeurosis.
    labels : sequence of str, optional
        Names of the lines (default ``"25%"``, ``"50%"``, ...).

    Returns
    -------
    tuple of LineMeasurement
        One per fraction, then ``"mean"`` (the mean of every field over the lines,
        ``x_px`` = mean column). Empty when the boundaries share no columns.

    Raises
    ------
    ValueError
        A fraction outside ``[0, 1]``, or ``labels`` of the wrong length.
    """
    fractions = [float(f) for f in line_fractions]
    if not fractions:
        raise ValueError("line_fractions must not be empty")
    if any(not 0.0 <= f <= 1.0 for f in fractions):
        raise ValueError(f"line fractions must lie in [0, 1], got {fractions}")
    if labels is None:
        labels = [_label(f) for f in fractions]
    if len(labels) != len(fractions):
        raise ValueError(f"{len(labels)} labels for {len(fractions)} line fractions")
    interval = overlap_interval(superficial, deep)
    if interval is None:
        return ()
    x0, x1 = interval
    my = calibration.mm_per_px_y
    mx = calibration.mm_per_px_x if calibration.mm_per_px_x is not None else my
    lines = []
    for label, f in zip(labels, fractions, strict=True):
        x = x0 + f * (x1 - x0)
        ys = float(superficial.y_at(x))
        yd = float(deep.y_at(x))
        t_px = yd - ys
        t_mm = t_px * my if my is not None else None
        p_px = p_mm = None
        if perpendicular:
            p_px = perpendicular_distance(x, ys, deep)[0]
            if my is not None:
                p_mm = perpendicular_distance(x, ys, deep, mm_per_px_x=mx, mm_per_px_y=my)[0]
            if t_px < 0:  # crossing boundaries: keep the sign of the vertical thickness
                p_px = -p_px
                p_mm = -p_mm if p_mm is not None else None
        lines.append(LineMeasurement(str(label), x, ys, yd, t_px, t_mm, p_px, p_mm))

    def mean(values: list[float | None]) -> float | None:
        return None if any(v is None for v in values) else float(np.mean(values))

    lines.append(
        LineMeasurement(
            "mean",
            float(np.mean([m.x_px for m in lines])),
            float(np.mean([m.y_superficial_px for m in lines])),
            float(np.mean([m.y_deep_px for m in lines])),
            float(np.mean([m.thickness_px for m in lines])),
            mean([m.thickness_mm for m in lines]),
            mean([m.perpendicular_px for m in lines]),
            mean([m.perpendicular_mm for m in lines]),
        )
    )
    return tuple(lines)


def echo_intensity(pixels: np.ndarray, superficial: Boundary, deep: Boundary) -> float:
    """Mean grey level of the muscle strictly between the two boundaries.

    Pixel ``(r, c)`` counts when ``y_superficial(c) < r - 0.5`` and ``r + 0.5 < y_deep(c)``
    (the whole pixel lies between the edges), over the integer columns covered by both
    boundaries.

    Parameters
    ----------
    pixels : ndarray, shape (rows, cols)
        Grey levels (0-255).
    superficial, deep : Boundary
        Inner edges in frame coordinates.

    Returns
    -------
    float
        Mean grey level, NaN when no pixel lies between the boundaries.
    """
    img = np.asarray(pixels)
    if img.ndim != 2:
        raise ValueError(f"pixels must be 2-D (rows, cols), got shape {img.shape}")
    interval = overlap_interval(superficial, deep)
    if interval is None:
        return float("nan")
    rows, cols = img.shape
    c0 = max(0, int(np.ceil(interval[0])))
    c1 = min(cols - 1, int(np.floor(interval[1])))
    if c1 < c0:
        return float("nan")
    xs = np.arange(c0, c1 + 1)
    ys = superficial.y_at(xs.astype(np.float64))
    yd = deep.y_at(xs.astype(np.float64))
    # only the rows between the two boundaries can count
    r0 = max(0, int(np.floor(np.min(ys))))
    r1 = min(rows, int(np.ceil(np.max(yd))) + 1)
    if r1 <= r0:
        return float("nan")
    r = np.arange(r0, r1, dtype=np.float64)[:, None]
    inside = (r - 0.5 >= ys[None, :] - 1e-9) & (r + 0.5 <= yd[None, :] + 1e-9)
    if not inside.any():
        return float("nan")
    return float(img[r0:r1, c0 : c1 + 1][inside].mean())


def failed_result(
    path: str,
    message: str,
    *,
    frame_index: int = 0,
    region: PixelBox | None = None,
    calibration: Calibration | None = None,
    method: str = "",
    region_index: int = 0,
    time_s: float | None = None,
) -> FrameResult:
    """A ``failed`` result: nothing measured, ``message`` says why.

    ``region`` defaults to a 1x1 box at the origin (the image size is unknown when the
    file could not be read).
    """
    return FrameResult(
        path=str(path),
        frame_index=frame_index,
        region=region if region is not None else PixelBox(0, 0, 1, 1),
        calibration=calibration if calibration is not None else Calibration.uncalibrated(),
        superficial=None,
        deep=None,
        lines=(),
        echo_intensity=None,
        confidence=0.0,
        status="failed",
        flags=(),
        message=message,
        method=method,
        region_index=region_index,
        time_s=time_s,
    )


def assemble_result(
    frame: Frame,
    superficial: Boundary | None,
    deep: Boundary | None,
    *,
    method: str,
    line_fractions: Sequence[float] = (0.25, 0.5, 0.75),
    perpendicular: bool = True,
    min_confidence: float = MIN_CONFIDENCE,
    labels: Sequence[str] | None = None,
    plausible: PlausibleRanges = DEFAULT_RANGES,
) -> FrameResult:
    """Measure one frame and run QC.

    Parameters
    ----------
    frame : Frame
        The frame the boundaries were found in.
    superficial, deep : Boundary or None
        Inner edges in frame coordinates (``None`` = not found).
    method : str
        How the boundaries were found (``"edges"``, ``"model"``, ...).
    line_fractions, perpendicular, labels
        As in :func:`measure_lines`.
    min_confidence : float, optional
        Boundaries below this confidence are flagged ``low_confidence``.
    plausible : PlausibleRanges, optional
        Plausible pixel sizes and thickness: outside them the result is flagged
        ``implausible_calibration`` / ``implausible_thickness``.

    Returns
    -------
    FrameResult
        ``"failed"`` (no lines; the message names the missing aponeurosis) when a boundary
        is missing or the two share no columns, ``"flagged"`` when a QC check fails
        (``flags`` and a readable ``message``) or the millimetres are in doubt (the
        calibration's own flags, :func:`musclethick.qc.scale_flags`: the px values stay, the
        message says why and how to fix it; a pixel size outside the plausible range has
        its mm withheld), ``"ok"`` otherwise. ``confidence`` is the
        smaller of the two boundary confidences.
    """
    flags = quality_flags(superficial, deep, frame.shape, min_confidence=min_confidence)
    common = {
        "path": frame.path,
        "frame_index": frame.frame_index,
        "region": frame.region,
        "calibration": frame.calibration,
        "superficial": superficial,
        "deep": deep,
        "method": method,
        "region_index": frame.region_index,
        "time_s": frame.time_s,
        "metadata": frame.metadata,
        "fan": frame.fan,
        "turned": frame.turned,
    }
    reason = failure_reason(superficial, deep, flags)
    if reason:
        return FrameResult(
            lines=(),
            echo_intensity=None,
            confidence=0.0,
            status="failed",
            flags=flags,
            message=f"{frame.path}: {reason}",
            **common,
        )
    lines = measure_lines(
        superficial,
        deep,
        calibration=frame.calibration,
        line_fractions=line_fractions,
        perpendicular=perpendicular,
        labels=labels,
    )
    echo = echo_intensity(frame.pixels, superficial, deep)
    mean_mm = next((m.thickness_mm for m in lines if m.line == "mean"), None)
    more, why = scale_flags(frame.calibration, mean_mm, ranges=plausible)
    if mm_withheld(frame.calibration, ranges=plausible):
        # a pixel size no ultrasound image has: its millimetres are withheld, px kept
        lines = tuple(replace(m, thickness_mm=None, perpendicular_mm=None) for m in lines)
        why += "; mm withheld"
    source, source_why = source_flags(frame.metadata.modality)
    more = (*more, *source)
    why = "; ".join(part for part in (source_why, why) if part)
    flags = tuple(dict.fromkeys((*flags, *more)))
    status = status_of(flags)
    message = "; ".join(part for part in (describe_flags(flags), why) if part)
    return FrameResult(
        lines=lines,
        echo_intensity=None if not np.isfinite(echo) else echo,
        confidence=min(superficial.confidence, deep.confidence),
        status=status,
        flags=flags,
        message=message,
        **common,
    )


def correction_method(superficial: Boundary | None, deep: Boundary | None) -> str:
    """The method of a result whose boundaries a reviewer set.

    ``"runner_up"`` when both boundaries are a pair offered in review (source
    ``"runner_up"``: the model's runner-up or a pair of the image's bands, swapped in with the
    runner-up key), else ``"manual"``.
    """
    sources = {b.source for b in (superficial, deep) if b is not None}
    return "runner_up" if sources == {"runner_up"} else "manual"
