"""Helpers for the study tests: real FrameResults with known thicknesses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from musclethick.types import Boundary, Calibration, FrameResult, LineMeasurement, PixelBox


def make_result(
    path: str,
    thicknesses_mm: Sequence[float],
    *,
    mm_per_px: float = 0.1,
    frame_index: int = 0,
    status: str = "ok",
    confidence: float = 0.9,
    method: str = "edges",
    flags: tuple[str, ...] = (),
    echo: float = 50.0,
) -> FrameResult:
    """A FrameResult whose lines have the given thicknesses (mm) plus their ``"mean"`` line."""
    region = PixelBox(10, 20, 110, 220)
    if status == "failed":
        return FrameResult(
            path=path,
            frame_index=frame_index,
            region=region,
            calibration=Calibration.uncalibrated(),
            superficial=None,
            deep=None,
            lines=(),
            echo_intensity=None,
            confidence=0.0,
            status="failed",
            message=f"{path}: cannot read",
            method=method,
        )
    lines = []
    for i, t_mm in enumerate(thicknesses_mm):
        t_px = t_mm / mm_per_px
        lines.append(LineMeasurement(f"L{i + 1}", 25.0 * (i + 1), 30.0, 30.0 + t_px, t_px, t_mm))
    mean_mm = float(np.mean(thicknesses_mm))
    lines.append(
        LineMeasurement(
            "mean", 50.0, 30.0, 30.0 + mean_mm / mm_per_px, mean_mm / mm_per_px, mean_mm
        )
    )
    x = np.array([0.0, 50.0, 99.0])
    return FrameResult(
        path=path,
        frame_index=frame_index,
        region=region,
        calibration=Calibration.isotropic(mm_per_px, "user"),
        superficial=Boundary(x, np.full(3, 30.0), method, confidence),
        deep=Boundary(x, np.full(3, 30.0 + mean_mm / mm_per_px), method, confidence),
        lines=tuple(lines),
        echo_intensity=echo,
        confidence=confidence,
        status=status,
        flags=flags,
        message="; ".join(flags),
        method=method,
    )


@pytest.fixture
def result_factory():
    """:func:`make_result`, as a fixture."""
    return make_result
