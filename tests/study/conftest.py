"""Helpers for the study tests: real FrameResults with known thicknesses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from musclethick.measure import failed_result
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
        return failed_result(
            path, f"{path}: cannot read", frame_index=frame_index, region=region, method=method
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


def synthetic_scan(path, *, thickness_px: int = 60, top_px: int = 30, seed: int = 0) -> None:
    """Write a small grey PNG with two bright aponeurosis-like bands ``thickness_px`` apart."""
    from pathlib import Path

    from PIL import Image

    rng = np.random.default_rng(seed)
    rows, cols = top_px + thickness_px + 50, 200
    image = rng.normal(60.0, 20.0, (rows, cols))
    image[top_px - 8 : top_px] += 150.0
    image[top_px + thickness_px : top_px + thickness_px + 10] += 150.0
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path)


@pytest.fixture
def write_scan():
    """:func:`synthetic_scan`, as a fixture."""
    return synthetic_scan


@pytest.fixture
def make_study():
    """``make(root, subjects=2, legs="LR", weeks=(0,), sites=("VL50",), reps=3)`` -> paths."""

    def make(root, *, subjects=2, legs="LR", weeks=(0,), sites=("VL50",), reps=3):
        paths = []
        seed = 0
        for s in range(1, subjects + 1):
            for leg in legs:
                for week in weeks:
                    for site in sites:
                        for rep in range(1, reps + 1):
                            path = root / f"S{s:02d}" / f"week{week}" / f"{leg}_{site}_{rep}.png"
                            synthetic_scan(path, thickness_px=50 + seed % 7, seed=seed)
                            paths.append(path)
                            seed += 1
        return paths

    return make


@pytest.fixture
def scan_writer():
    """:func:`synthetic_scan`, as a fixture."""
    return synthetic_scan
