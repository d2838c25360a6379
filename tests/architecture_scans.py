"""Rendered B-mode-like scans with fascicles of known direction (test and bench helper).

Imported by the tests as ``architecture_scans`` (``tests/`` is on ``sys.path`` through its
``conftest.py``).
"""

from __future__ import annotations

import math

import numpy as np

from musclethick.types import Boundary

#: ``(fascicle angle deg, deep tilt deg, deep curvature 1/px)`` of the rendered test scans
GEOMETRIES = (
    (15.0, 0.0, 0.0),
    (20.0, 0.0, 0.0),
    (25.0, 5.0, 0.0),
    (30.0, -4.0, 0.0),
    (35.0, 3.0, 0.0),
    (40.0, 0.0, 0.0),
    (30.0, 0.0, 0.0003),  # deep aponeurosis bending down at the sides
    (32.0, 0.0, -0.0003),  # ... and up
)


def render_scan(angle_deg, *, deep_tilt_deg=0.0, curvature=0.0, seed=0, rows=400, cols=600):
    """A speckled B-mode-like image: bright aponeurosis bands whose inner edges are at row 90
    (superficial) and ``320 - tan(tilt) (x - 300) + curvature (x - 300)^2`` (deep), bright
    broken fascicle lines at ``angle_deg`` (image-up) in between; returns the image and the
    two inner edges."""
    import cv2

    rng = np.random.default_rng(seed)
    speckle = cv2.GaussianBlur(
        rng.rayleigh(1.0, (rows, cols)).astype(np.float32), (0, 0), sigmaX=2.5, sigmaY=0.8
    )
    img = 40.0 + 25.0 * (speckle - speckle.mean()) / speckle.std()
    x = np.arange(cols, dtype=float)
    y_sup = np.full(cols, 90.0)
    y_deep = (
        320.0 - math.tan(math.radians(deep_tilt_deg)) * (x - 300.0) + curvature * (x - 300.0) ** 2
    )
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    t = math.radians(angle_deg)
    across = xx * math.sin(t) + yy * math.cos(t) + rng.uniform(0.0, 14.0)
    dist = np.mod(across, 14.0)
    dist = np.minimum(dist, 14.0 - dist)
    along = xx * math.cos(t) - yy * math.sin(t)
    broken = np.sin(along / 23.0 + rng.uniform(0, 6) + np.floor(across / 14.0) * 1.7) > -0.3
    inside = (yy > y_sup[None, :]) & (yy < y_deep[None, :])
    img += 60.0 * np.exp(-(dist**2) / (2 * 1.2**2)) * broken * inside
    img[(yy <= y_sup[None, :]) & (yy > y_sup[None, :] - 12)] += 120.0
    img[(yy >= y_deep[None, :]) & (yy < y_deep[None, :] + 14)] += 120.0
    return (
        np.clip(img, 0, 255).astype(np.uint8),
        Boundary(x, y_sup, "edges"),
        Boundary(x, y_deep, "edges"),
    )


def true_fascicle_line(angle_deg, deep_tilt_deg, curvature):
    """Exact fascicle line through the belly centre (299.5, mid-belly) of a rendered scan:
    its crossings with y = 90 and with the deep edge (a parabola), solved in closed form.
    Returns ``(length_px, pennation_deg against the deep edge, x of the deep crossing)``."""
    xc = 299.5
    u0 = xc - 300.0
    tilt = math.tan(math.radians(deep_tilt_deg))
    yc = 0.5 * (90.0 + 320.0 - tilt * u0 + curvature * u0**2)
    k = math.tan(math.radians(angle_deg))  # the line: y = yc - k (x - xc)
    xs = xc + (yc - 90.0) / k
    # yc - k (x - xc) = 320 - tilt u + c u^2 with u = x - 300: c u^2 + (k - tilt) u + d = 0,
    # d = 320 - yc + k (300 - xc)
    d = 320.0 - yc + k * (300.0 - xc)
    if curvature == 0.0:
        u = -d / (k - tilt)
    else:
        disc = math.sqrt((k - tilt) ** 2 - 4 * curvature * d)
        roots = [(-(k - tilt) + s * disc) / (2 * curvature) for s in (1.0, -1.0)]
        u = min(roots, key=lambda r: abs(r - u0))
    xd = 300.0 + u
    yd = yc - k * (xd - xc)
    slope = -tilt + 2.0 * curvature * u  # dy/dx of the deep edge (rows down)
    pennation = angle_deg - math.degrees(math.atan(-slope))
    return math.hypot(xs - xd, 90.0 - yd), pennation, xd


def measure_render(angle_deg, tilt_deg=0.0, curvature=0.0, *, seed=0):
    """A render's architecture as the product measures it (fascicles detected, 0.1 mm
    pixels) and its closed-form truth: ``(architecture, confidence, truth)`` with ``truth``
    ``(length_px, pennation_deg, x_deep)`` (:func:`true_fascicle_line`)."""
    from musclethick.architecture import detect_fascicles, measure_architecture
    from musclethick.types import Calibration

    img, sup, deep = render_scan(angle_deg, deep_tilt_deg=tilt_deg, curvature=curvature, seed=seed)
    fascicles, confidence = detect_fascicles(img, sup, deep)
    arch = measure_architecture(
        sup,
        deep,
        fascicles,
        shape=img.shape,
        calibration=Calibration.isotropic(0.1, "user"),
        confidence=confidence,
    )
    return arch, confidence, true_fascicle_line(angle_deg, tilt_deg, curvature)
