"""Plausible ranges of pixel sizes, imaging depths and muscle thickness (pure, one home).

A pixel size or a thickness outside these ranges is not a measurement of skeletal muscle on
B-mode ultrasound but a broken calibration (a DICOM delta in the wrong unit, a depth typed in
micrometres, a ruler read at the wrong scale). Results are flagged, user values refused.
The thickness range is configurable per study (protocol ``[calibration]``
``plausible_thickness_mm = [min, max]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DEFAULT_RANGES", "PlausibleRanges", "check_depth_mm", "check_mm_per_px"]


@dataclass(frozen=True)
class PlausibleRanges:
    """Closed ranges ``(low, high)`` of plausible values.

    Attributes
    ----------
    mm_per_px : tuple of float
        Pixel size of an ultrasound image in mm (a 1 cm wide image over 2000 px to a 50 cm
        deep one over 250 px).
    depth_mm : tuple of float
        Depth shown by an imaging region in mm.
    thickness_mm : tuple of float
        Thickness of one skeletal muscle in mm.
    """

    mm_per_px: tuple[float, float] = (0.005, 2.0)
    depth_mm: tuple[float, float] = (5.0, 400.0)
    thickness_mm: tuple[float, float] = (2.0, 120.0)

    def __post_init__(self) -> None:
        for name in ("mm_per_px", "depth_mm", "thickness_mm"):
            low, high = (float(v) for v in getattr(self, name))
            if not (math.isfinite(low) and math.isfinite(high) and 0 < low < high):
                raise ValueError(f"{name} range must be 0 < low < high, got {(low, high)!r}")
            object.__setattr__(self, name, (low, high))

    @staticmethod
    def contains(bounds: tuple[float, float], value: float | None) -> bool:
        """True when ``value`` is a finite number within ``bounds``."""
        if value is None:
            return False
        try:
            v = float(value)
        except (TypeError, ValueError):
            return False
        return math.isfinite(v) and bounds[0] <= v <= bounds[1]


DEFAULT_RANGES = PlausibleRanges()


def _check(name: str, value: float, bounds: tuple[float, float], unit: str) -> float:
    if not PlausibleRanges.contains(bounds, value):
        raise ValueError(
            f"{name} {value!r} is outside the plausible range {bounds[0]:g}-{bounds[1]:g} {unit} "
            "for ultrasound"
        )
    return float(value)


def check_mm_per_px(value: float, ranges: PlausibleRanges = DEFAULT_RANGES) -> float:
    """``value`` if it is a plausible pixel size in mm, else ``ValueError`` (one line)."""
    return _check("mm per px", value, ranges.mm_per_px, "mm")


def check_depth_mm(value: float, ranges: PlausibleRanges = DEFAULT_RANGES) -> float:
    """``value`` if it is a plausible imaging depth in mm, else ``ValueError`` (one line)."""
    return _check("depth", value, ranges.depth_mm, "mm")
