"""Tests of musclethick.geometry on hand-computed curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from musclethick.geometry import (
    curvature_per_px,
    fit_boundary,
    overlap_interval,
    perpendicular_distance,
    resample_boundary,
    resample_polyline,
    robust_polyfit,
    sagitta_fraction,
)
from musclethick.types import Boundary


def test_polyfit_exact_quadratic():
    x = np.arange(0.0, 200.0, 2.0)
    y = 30 + 0.1 * x - 0.0005 * x**2
    fit = robust_polyfit(x, y, degree=2)
    np.testing.assert_allclose(fit(x), y, atol=1e-6)
    np.testing.assert_allclose(fit.slope(100.0), 0.1 - 0.001 * 100, atol=1e-6)
    assert fit.inliers.all()
    assert fit.inlier_fraction == pytest.approx(1.0)


def test_robust_fit_ignores_a_run_of_outliers_and_noise():
    rng = np.random.default_rng(3)
    x = np.arange(300.0)
    truth = 50 + 0.05 * x
    y = truth + rng.normal(0, 0.5, x.size)
    y[100:160] = 20 + rng.normal(0, 0.5, 60)  # a bright fascicle 20-30 px above: 20 % of points
    y[250] = np.nan  # missing point
    fit = robust_polyfit(x, y, degree=2)
    assert np.max(np.abs(fit(x) - truth)) < 0.5
    assert not fit.inliers[100:160].any()
    assert fit.inliers[:100].mean() > 0.95
    assert not fit.inliers[250]


def test_plain_least_squares_would_be_bent_by_the_same_outliers():
    # guards the previous test against being trivially easy
    x = np.arange(300.0)
    y = 50 + 0.05 * x
    y[100:160] = 20
    naive = np.polyval(np.polyfit(x, y, 2), x)
    assert np.max(np.abs(naive - (50 + 0.05 * x))) > 3


def test_weights_break_a_tie_between_two_lines():
    x = np.tile(np.arange(100.0), 2)
    y = np.concatenate([np.full(100, 10.0), np.full(100, 40.0)])
    w = np.concatenate([np.full(100, 1.0), np.full(100, 3.0)])
    fit = robust_polyfit(x, y, degree=1, weights=w)
    np.testing.assert_allclose(fit(np.array([0.0, 99.0])), 40.0, atol=1e-6)


def test_polyfit_errors():
    with pytest.raises(ValueError, match="degree"):
        robust_polyfit(np.arange(5.0), np.arange(5.0), degree=4)
    with pytest.raises(ValueError, match="at least 3"):
        robust_polyfit(np.array([0.0, 1.0]), np.array([0.0, np.nan]), degree=2)


def test_fit_boundary_default_columns_cover_the_inliers():
    x = np.arange(10.0, 51.0)
    b = fit_boundary(x, 5.0 + 0 * x, degree=1, source="refined", confidence=0.7)
    assert b.source == "refined" and b.confidence == 0.7
    assert b.x_min == 10 and b.x_max == 50
    np.testing.assert_allclose(b.y_px, 5.0, atol=1e-9)


def test_resample_boundary_and_polyline():
    b = Boundary(np.array([0.0, 10.0]), np.array([0.0, 5.0]), "edges")
    r = resample_boundary(b, step_px=3.0)
    np.testing.assert_allclose(r.x_px, [0, 3, 6, 9, 10])
    np.testing.assert_allclose(r.y_px, [0, 1.5, 3, 4.5, 5])
    pts = resample_polyline(np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 10.0]]), step_px=2.5)
    np.testing.assert_allclose(pts[:3], [[0, 0], [1.5, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(pts[-1], [3.0, 10.0])
    assert len(pts) == 6  # s = 0, 2.5, 5, 7.5, 10, 11


def test_overlap_interval():
    a = Boundary(np.array([0.0, 100.0]), np.array([0.0, 0.0]), "edges")
    b = Boundary(np.array([40.0, 150.0]), np.array([9.0, 9.0]), "edges")
    assert overlap_interval(a, b) == (40.0, 100.0)
    c = Boundary(np.array([120.0, 150.0]), np.array([9.0, 9.0]), "edges")
    assert overlap_interval(a, c) is None


def test_perpendicular_distance_to_a_tilted_line():
    angle = math.radians(10)
    x = np.arange(0.0, 400.0)
    deep = Boundary(x, 100 + math.tan(angle) * x, "edges")
    # point 40 px vertically above the deep line at x = 200
    y_deep = 100 + math.tan(angle) * 200
    d, fx, fy = perpendicular_distance(200.0, y_deep - 40.0, deep)
    assert d == pytest.approx(40 * math.cos(angle), rel=1e-9)
    # the foot lies on the line, down-slope direction shifted by d*sin
    assert fy == pytest.approx(100 + math.tan(angle) * fx, abs=1e-9)
    assert fx == pytest.approx(200 - 40 * math.cos(angle) * math.sin(angle), abs=1e-9)


def test_perpendicular_distance_anisotropic_pixels():
    # deep line 45 deg in pixels; pixels 0.2 mm wide, 0.1 mm tall -> slope 0.5 in mm
    x = np.arange(0.0, 200.0)
    deep = Boundary(x, 50.0 + x, "edges")
    d_mm, _, _ = perpendicular_distance(100.0, 110.0, deep, mm_per_px_x=0.2, mm_per_px_y=0.1)
    # in mm: the point is 4 mm (40 px * 0.1) above the line y = 5 + 0.5 x
    # distance = 4 * cos(atan(0.5)) = 4 / sqrt(1.25)
    assert d_mm == pytest.approx(4 / math.sqrt(1.25), rel=1e-9)


def test_perpendicular_distance_extrapolates_beyond_the_curve_end():
    deep = Boundary(np.array([0.0, 100.0]), np.array([100.0, 200.0]), "edges")  # 45 deg
    d, fx, _ = perpendicular_distance(0.0, 50.0, deep)
    # foot at x < 0, outside the curve: extrapolated line gives 50 * cos 45
    assert d == pytest.approx(50 / math.sqrt(2), rel=1e-9)
    assert fx < 0
    d_no, _, _ = perpendicular_distance(0.0, 50.0, deep, extrapolate=False)
    assert d_no == pytest.approx(50.0)


def test_curvature_and_sagitta():
    x = np.arange(0.0, 501.0)
    flat = Boundary(x, 3 + 0.2 * x, "edges")
    assert curvature_per_px(flat) == pytest.approx(0.0, abs=1e-12)
    assert sagitta_fraction(flat) == pytest.approx(0.0, abs=1e-12)
    radius = 2000.0
    arc = Boundary(x, radius - np.sqrt(radius**2 - (x - 250) ** 2), "edges")
    assert curvature_per_px(arc) == pytest.approx(1 / radius, rel=0.02)
    sagitta = radius - math.sqrt(radius**2 - 250**2)
    assert sagitta_fraction(arc) == pytest.approx(sagitta / 500, rel=0.05)


def test_curvature_and_sagitta_of_a_parabola_are_exact():
    # y = 0.002 (x - 250)^2 + 0.3 x + 10 on x 0..500 (far from the origin too): the quadratic
    # fit is the curve itself; its slope is 0 at x = 175, where the curvature 2 * 0.002 is
    # largest. The least-squares line of a parabola over a symmetric range leaves residuals
    # 0.002 (u^2 - mean u^2), u = x - 250: peak to peak 0.002 * 250^2 over the width 500.
    for offset in (0.0, 3000.0):
        x = np.arange(0.0, 501.0)
        y = 0.002 * (x - 250) ** 2 + 0.3 * x + 10
        b = Boundary(x + offset, y - 0.3 * offset, "edges")
        assert curvature_per_px(b) == pytest.approx(0.004, rel=1e-9)
        assert sagitta_fraction(b) == pytest.approx(0.002 * 250**2 / 500, rel=1e-9)


def test_fast_median_matches_numpy():
    from musclethick.geometry import fast_median

    rng = np.random.default_rng(5)
    for n in (1, 2, 3, 10, 111, 112):
        v = rng.normal(size=n)
        assert fast_median(v) == pytest.approx(float(np.median(v)), abs=1e-12)
    assert np.isnan(fast_median(np.array([])))
