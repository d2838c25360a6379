"""Tests of musclethick.qc flags."""

from __future__ import annotations

import numpy as np

from musclethick.qc import FLAG_DESCRIPTIONS, describe_flags, quality_flags
from musclethick.types import Boundary

X = np.arange(0.0, 200.0)


def line(y0: float, slope: float = 0.0, x=X, confidence: float = 0.9) -> Boundary:
    return Boundary(x, y0 + slope * x, "edges", confidence)


def test_good_pair_has_no_flags():
    assert quality_flags(line(20), line(60, 0.05), (100, 200)) == ()


def test_missing():
    assert quality_flags(None, line(60), (100, 200)) == ("missing_superficial",)
    assert quality_flags(line(20), None, (100, 200)) == ("missing_deep",)
    assert quality_flags(None, None, (100, 200)) == ("missing_superficial", "missing_deep")


def test_crossing():
    flags = quality_flags(line(20, 0.3), line(60), (100, 200))  # sup reaches 79.7
    assert "crossing" in flags


def test_too_curved():
    wavy = Boundary(X, 60 + 20 * np.sin(X / 15), "edges", 0.9)
    assert "too_curved" in quality_flags(line(20), wavy, (100, 200))
    bent = Boundary(X, 20 + 0.004 * (X - 100) ** 2, "edges", 0.9)  # curvature 1/125 per px
    assert "too_curved" in quality_flags(bent, None, (100, 200))


def test_low_confidence_short_overlap_and_thickness():
    assert "low_confidence" in quality_flags(line(20, confidence=0.3), line(60), (100, 200))
    assert "low_confidence" not in quality_flags(
        line(20, confidence=0.3), line(60), (100, 200), min_confidence=0.2
    )
    short = line(60, x=np.arange(0.0, 80.0))
    assert "short_overlap" in quality_flags(line(20), short, (100, 200))
    assert "implausible_thickness" in quality_flags(line(20), line(22), (100, 200))
    assert "implausible_thickness" in quality_flags(line(1), line(98), (100, 200))
    far = line(60, x=np.arange(300.0, 400.0))
    assert "no_overlap" in quality_flags(line(20), far, (100, 400))


def test_descriptions():
    assert set(FLAG_DESCRIPTIONS) >= {"crossing", "missing_deep", "too_curved"}
    assert describe_flags(("crossing", "custom")) == "the boundaries cross; custom"
