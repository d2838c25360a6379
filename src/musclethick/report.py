"""Plain records of results: rows of ``results.csv`` and entries of ``boundaries.json``.

Pure functions: :class:`~musclethick.types.FrameResult` in, dicts of plain Python values out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from musclethick.types import Boundary, FrameResult

__all__ = ["RESULT_COLUMNS", "boundary_record", "result_rows"]

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
)


def _num(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def result_rows(result: FrameResult) -> list[dict[str, Any]]:
    """Rows of ``results.csv`` for one frame: one per measurement line (x in original pixels).

    A failed frame (no lines) gives one row with an empty ``line`` and the message.
    """
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
    }
    empty = {
        "line": "",
        "x_px": None,
        "thickness_px": None,
        "thickness_mm": None,
        "perpendicular_mm": None,
    }
    if not result.lines:
        return [{column: {**base, **empty}[column] for column in RESULT_COLUMNS}]
    rows = []
    for line in result.lines:
        values = {
            **base,
            "line": line.line,
            "x_px": _num(line.x_px + result.region.x0, 2),
            "thickness_px": _num(line.thickness_px, 3),
            "thickness_mm": _num(line.thickness_mm, 4),
            "perpendicular_mm": _num(line.perpendicular_mm, 4),
        }
        rows.append({column: values[column] for column in RESULT_COLUMNS})
    return rows


def _boundary_json(boundary: Boundary | None, dx: float, dy: float) -> dict[str, Any] | None:
    if boundary is None:
        return None
    return {
        "source": boundary.source,
        "confidence": round(boundary.confidence, 4),
        "points": [[round(x, 2), round(y, 2)] for x, y in boundary.shifted(dx, dy).to_points()],
    }


def boundary_record(result: FrameResult) -> dict[str, Any]:
    """``boundaries.json`` entry of one frame: inner-edge polylines in original image pixels.

    Points are ``[x, y]`` with x = column and y = row of the original (uncropped) image.
    ``runner_up`` is the layer pair the model found next most plausible (``margin_nats``: how
    much less likely per row; below 1 the frame is flagged ``ambiguous_layers``), or ``None``.
    """
    dx, dy = float(result.region.x0), float(result.region.y0)
    return {
        "file": result.path,
        "frame": result.frame_index,
        "region": result.region_index,
        "imaging_region": [result.region.x0, result.region.y0, result.region.x1, result.region.y1],
        "mm_per_px": result.calibration.mm_per_px,
        "calibration_source": result.calibration.source,
        "method": result.method,
        "status": result.status,
        "flags": list(result.flags),
        "superficial": _boundary_json(result.superficial, dx, dy),
        "deep": _boundary_json(result.deep, dx, dy),
        "runner_up": None
        if result.runner_up is None
        else {
            "margin_nats": round(float(result.runner_up.margin_nats), 3),
            "superficial": _boundary_json(result.runner_up.superficial, dx, dy),
            "deep": _boundary_json(result.runner_up.deep, dx, dy),
        },
    }


def iter_rows(results: Iterable[FrameResult]) -> Iterable[dict[str, Any]]:
    """All rows of many results."""
    for result in results:
        yield from result_rows(result)
