"""Plain records of results: rows of ``results.csv`` and entries of ``boundaries.json``.

Pure functions: :class:`~musclethick.types.FrameResult` in, dicts of plain Python values out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from musclethick.types import Architecture, Boundary, FrameResult, LayerPair

#: Frame points ``(x, y)`` -> the original image's pixels (:func:`capture_placer`).
Placer = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

__all__ = [
    "ARCHITECTURE_COLUMNS",
    "RESULT_COLUMNS",
    "architecture_record",
    "architecture_values",
    "boundary_record",
    "capture_placer",
    "edge_classifier_label",
    "result_columns",
    "result_rows",
]

RESULT_COLUMNS: tuple[str, ...] = (
    "file",
    "frame",
    "region",
    "time_s",
    "line",
    "x_px",
    "thickness_px",
    "thickness_mm",
    "perpendicular_mm",
    "mm_per_px",
    "calibration_source",
    "echo_intensity",
    "confidence",
    "superficial_confidence",
    "deep_confidence",
    "method",
    "status",
    "flags",
    "message",
    "model_version",
)


#: Columns added to ``results.csv`` by ``--architecture`` (one value per frame, repeated on
#: each of its lines).
ARCHITECTURE_COLUMNS: tuple[str, ...] = (
    "pennation_deg",
    "pennation_superficial_deg",
    "fascicle_length_mm",
    "fascicle_length_px",
    "fascicle_extrapolated_pct",
    "n_fascicles",
    "fascicle_spread_deg",
    "fascicle_confidence",
)


def result_columns(*, architecture: bool = False) -> tuple[str, ...]:
    """Columns of ``results.csv``: :data:`RESULT_COLUMNS`, then :data:`ARCHITECTURE_COLUMNS`
    when architecture is measured."""
    return (*RESULT_COLUMNS, *ARCHITECTURE_COLUMNS) if architecture else RESULT_COLUMNS


def architecture_values(architecture: Architecture | None) -> dict[str, Any]:
    """The :data:`ARCHITECTURE_COLUMNS` of one frame (all ``None`` without architecture)."""
    if architecture is None:
        return dict.fromkeys(ARCHITECTURE_COLUMNS)
    a = architecture
    extrapolated = None if a.extrapolated_fraction is None else 100.0 * a.extrapolated_fraction
    return {
        "pennation_deg": _num(a.pennation_deg, 2),
        "pennation_superficial_deg": _num(a.pennation_superficial_deg, 2),
        "fascicle_length_mm": _num(a.fascicle_length_mm, 3),
        "fascicle_length_px": _num(a.fascicle_length_px, 2),
        "fascicle_extrapolated_pct": _num(extrapolated, 1),
        "n_fascicles": int(a.n_fascicles),
        "fascicle_spread_deg": _num(a.spread_deg, 2),
        "fascicle_confidence": _num(a.confidence, 3),
    }


def _num(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def result_rows(result: FrameResult, *, architecture: bool = False) -> list[dict[str, Any]]:
    """Rows of ``results.csv`` for one frame: one per measurement line (x in original pixels;
    for a convex probe's fan, where the line's middle lies in the fan).

    A failed frame (no lines) gives one row with an empty ``line`` and the message. With
    ``architecture`` the rows also hold the frame's :data:`ARCHITECTURE_COLUMNS`.
    """
    columns = result_columns(architecture=architecture)
    base = {
        "file": result.path,
        "frame": result.frame_index,
        "region": result.region_index,
        "time_s": _num(result.time_s, 4),
        "mm_per_px": _num(result.calibration.mm_per_px, 6),
        "calibration_source": result.calibration.source,
        "echo_intensity": _num(result.echo_intensity, 2),
        "confidence": _num(result.confidence, 3),
        "superficial_confidence": _num(
            result.superficial.confidence if result.superficial else None, 3
        ),
        "deep_confidence": _num(result.deep.confidence if result.deep else None, 3),
        "method": result.method,
        "status": result.status,
        "flags": ";".join(result.flags),
        "message": result.message,
        "model_version": result.model_version,
    }
    if architecture:
        base.update(architecture_values(result.architecture))
    empty = {
        "line": "",
        "x_px": None,
        "thickness_px": None,
        "thickness_mm": None,
        "perpendicular_mm": None,
    }
    if not result.lines:
        return [{column: {**base, **empty}[column] for column in columns}]
    rows = []
    place = capture_placer(result)
    for line in result.lines:
        # the line's middle in the original image (for a fan, the beam is slanted there)
        x, _ = place(
            np.array([line.x_px]), np.array([0.5 * (line.y_superficial_px + line.y_deep_px)])
        )
        values = {
            **base,
            "line": line.line,
            "x_px": _num(float(x[0]), 2),
            "thickness_px": _num(line.thickness_px, 3),
            "thickness_mm": _num(line.thickness_mm, 4),
            "perpendicular_mm": _num(line.perpendicular_mm, 4),
        }
        rows.append({column: values[column] for column in columns})
    return rows


def capture_placer(result: FrameResult) -> Placer:
    """Where the points of ``result``'s frame lie in the original (uncropped) image: moved by
    the imaging region's corner, for a convex probe's fan (``result.fan``) first taken from
    its beam view into the fan (:meth:`~musclethick.types.FanGeometry.to_frame`), and for a
    frame turned upright (``result.turned``) then turned back, its rows counted from the
    region's bottom."""
    dx, dy = float(result.region.x0), float(result.region.y0)
    last_row = float(result.region.height - 1)
    fan, turned = result.fan, result.turned

    def place(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if fan is not None:
            x, y = fan.to_frame(x, y)
        if turned:
            y = last_row - y
        return x + dx, y + dy

    return place


def _points(place: Placer, x: Iterable[float], y: Iterable[float]) -> list[list[float]]:
    px, py = place(np.asarray(list(x), dtype=np.float64), np.asarray(list(y), dtype=np.float64))
    return [[round(float(a), 2), round(float(b), 2)] for a, b in zip(px, py, strict=True)]


def _boundary_json(boundary: Boundary | None, place: Placer) -> dict[str, Any] | None:
    if boundary is None:
        return None
    return {
        "source": boundary.source,
        "confidence": round(boundary.confidence, 4),
        "points": _points(place, boundary.x_px, boundary.y_px),
    }


def architecture_record(architecture: Architecture, place: Placer) -> dict[str, Any]:
    """JSON of an architecture, its fascicles and line placed in the original image's pixels
    by ``place`` (:func:`capture_placer`): the values of :func:`architecture_values`,
    ``flags``, ``method``, ``fascicles`` (``{"points": [[x0, y0], [x1, y1]], "source",
    "weight"}``) and ``fascicle_line`` (``[[x, y] superficial end, [x, y] deep end]`` or
    ``None``)."""
    a = architecture
    line = None
    if a.line is not None:
        line = _points(place, (a.line[0], a.line[2]), (a.line[1], a.line[3]))
    return {
        **architecture_values(a),
        "flags": list(a.flags),
        "method": a.method,
        "fascicle_line": line,
        "fascicles": [
            {
                "points": _points(place, (f.x0_px, f.x1_px), (f.y0_px, f.y1_px)),
                "source": f.source,
                "weight": round(f.weight, 4),
            }
            for f in a.fascicles
        ],
    }


def edge_classifier_label(result: FrameResult) -> str | None:
    """``"edge-classifier-v<N>"`` if ``result`` used the edge path's learned numbers, or ``None``.

    They are used by the classical edge path (``method`` ``"edges"``, also as the model's
    fallback) and by refined boundaries (source ``"refined"``: the annotation offset); see
    :mod:`musclethick.edge_classifier`.
    """
    sources = {b.source for b in (result.superficial, result.deep) if b is not None}
    if result.method == "edges" or sources & {"edges", "refined"}:
        from musclethick.edge_classifier import edge_classifier

        return edge_classifier().label
    return None


def _fan_json(result: FrameResult) -> dict[str, Any]:
    """Where a convex probe's fan lies in the original image (apex in its pixels, the angles
    of the first and last beam measured from the vertical in degrees (in the frame turned
    upright for a ``turned`` result), the probe face's and
    the beam view's last row's distance from the apex in px), and what that means for the
    numbers."""
    fan = result.fan
    assert fan is not None
    apex_y = (result.region.height - 1) - fan.apex_y_px if result.turned else fan.apex_y_px
    return {
        "apex": [
            round(fan.apex_x_px + result.region.x0, 2),
            round(apex_y + result.region.y0, 2),
        ],
        "beam_angles_deg": [
            round(math.degrees(fan.left_rad), 3),
            round(math.degrees(fan.right_rad), 3),
        ],
        "face_radius_px": round(fan.face_px, 2),
        "end_radius_px": round(fan.face_px + fan.depth_px, 2),
        "note": fan.describe(),
    }


def _pair_json(pair: LayerPair, place: Placer) -> dict[str, Any]:
    return {
        "kind": pair.kind,
        "margin_nats": round(float(pair.margin_nats), 3),
        "superficial": _boundary_json(pair.superficial, place),
        "deep": _boundary_json(pair.deep, place),
    }


def boundary_record(result: FrameResult) -> dict[str, Any]:
    """``boundaries.json`` entry of one frame: inner-edge polylines in original image pixels.

    Points are ``[x, y]`` with x = column and y = row of the original (uncropped) image.
    ``runner_up`` is the layer pair the model found next most plausible (``margin_nats``: how
    much less likely per row; below 1 the frame is flagged ``ambiguous_layers``; ``kind``:
    ``layers`` the layer map's own, ``bands`` a pair of the frame's bands), or ``None``;
    ``other_pairs`` the pairs after it that review's runner-up key cycles through.
    With architecture measured, ``architecture`` holds its values, the fascicles and the
    fascicle-length line (:func:`architecture_record`). ``edge_classifier`` is the version of
    the edge path's learned numbers when the result used them (:func:`edge_classifier_label`).
    ``fan`` is ``None``, or for a convex probe's fan measured on its beam view where the fan
    lies (:func:`_fan_json`); its points are placed in the fan, so they draw arcs on the
    capture. ``turned`` says the frame was measured turned upright (``--upside-down``); its
    points are placed in the capture as it is.
    """
    place = capture_placer(result)
    record = {
        "file": result.path,
        "frame": result.frame_index,
        "region": result.region_index,
        "imaging_region": [result.region.x0, result.region.y0, result.region.x1, result.region.y1],
        "mm_per_px": result.calibration.mm_per_px,
        "calibration_source": result.calibration.source,
        "method": result.method,
        "model_version": result.model_version,
        "edge_classifier": edge_classifier_label(result),
        "status": result.status,
        "flags": list(result.flags),
        "superficial": _boundary_json(result.superficial, place),
        "deep": _boundary_json(result.deep, place),
        "runner_up": None if result.runner_up is None else _pair_json(result.runner_up, place),
        "other_pairs": [_pair_json(pair, place) for pair in result.other_pairs],
        "fan": None if result.fan is None else _fan_json(result),
        "turned": result.turned,
    }
    if result.architecture is not None:
        record["architecture"] = architecture_record(result.architecture, place)
    return record


def iter_rows(
    results: Iterable[FrameResult], *, architecture: bool = False
) -> Iterable[dict[str, Any]]:
    """All rows of many results."""
    for result in results:
        yield from result_rows(result, architecture=architecture)
