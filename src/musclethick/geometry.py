"""Polyline maths for aponeurosis boundaries (pure numpy).

* :func:`robust_polyfit` / :func:`fit_boundary`: one smooth curve (polynomial of degree
  <= 3 in ``x``) through noisy edge points, with RANSAC to find the consensus set (so that
  fragments and bright fascicles, which come as contiguous runs of wrong points, cannot
  bend it) followed by Tukey-biweight IRLS on the inliers.
* :func:`resample_boundary`, :func:`resample_polyline`: uniform resampling.
* :func:`overlap_interval`: columns where two boundaries both exist.
* :func:`perpendicular_distance`: distance from a point to a boundary curve measured
  perpendicular to the curve, in physical units with anisotropic pixels.
* :func:`curvature_per_px`, :func:`sagitta_fraction`: how curved a boundary is (for QC).

All coordinates are ``x`` = column, ``y`` = row, in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .types import Boundary, BoundarySource

__all__ = [
    "PolyFit",
    "curvature_per_px",
    "fast_median",
    "fit_boundary",
    "overlap_interval",
    "perpendicular_distance",
    "resample_boundary",
    "resample_polyline",
    "robust_polyfit",
    "sagitta_fraction",
]


@dataclass(frozen=True)
class PolyFit:
    """Result of :func:`robust_polyfit`.

    Attributes
    ----------
    coef : ndarray, shape (degree + 1,)
        Polynomial coefficients in the *normalised* variable ``u = (x - x_mid) / x_half``,
        highest power first (as :func:`numpy.polyval` expects).
    x_mid, x_half : float
        Normalisation of ``x``.
    inliers : ndarray of bool, shape (n,)
        Points kept by the fit.
    residual_px : float
        Robust scale (1.4826 * median absolute residual) of the inliers, px.
    inlier_fraction : float
        Weighted fraction of points that are inliers.
    """

    coef: np.ndarray
    x_mid: float
    x_half: float
    inliers: np.ndarray
    residual_px: float
    inlier_fraction: float

    def __call__(self, x_px: np.ndarray | float) -> np.ndarray:
        """Evaluate the fitted curve at columns ``x_px``."""
        u = (np.asarray(x_px, dtype=np.float64) - self.x_mid) / self.x_half
        return np.polyval(self.coef, u)

    def slope(self, x_px: np.ndarray | float) -> np.ndarray:
        """``dy/dx`` of the fitted curve at ``x_px``."""
        u = (np.asarray(x_px, dtype=np.float64) - self.x_mid) / self.x_half
        return np.polyval(np.polyder(self.coef), u) / self.x_half


def _vander(u: np.ndarray, degree: int) -> np.ndarray:
    return np.vander(u, degree + 1)


def _wlstsq(a: np.ndarray, y: np.ndarray, w: np.ndarray, ridge: float = 1e-9) -> np.ndarray:
    aw = a * w[:, None]
    lhs = aw.T @ a
    lhs.flat[:: a.shape[1] + 1] += ridge
    return np.linalg.solve(lhs, aw.T @ y)


def fast_median(values: np.ndarray) -> float:
    """Median of a 1-D float array (``np.median`` without its overhead; NaN-free input)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    n = v.size
    if n == 0:
        return float("nan")
    k = n // 2
    if n % 2:
        return float(np.partition(v, k)[k])
    part = np.partition(v, (k - 1, k))
    return 0.5 * float(part[k - 1] + part[k])


@lru_cache(maxsize=16)
def _uniform_draws(seed: int, trials: int, k: int) -> np.ndarray:
    """The first ``(trials, k)`` uniform draws of ``default_rng(seed)``, drawn once per
    process (read-only). ``cdf.searchsorted(draws, side="right")`` is exactly
    ``default_rng(seed).choice(n, (trials, k), p=p)`` (NumPy's own method), without a new
    generator per fit."""
    draws = np.random.default_rng(seed).random((trials, k))
    draws.setflags(write=False)
    return draws


def robust_polyfit(
    x_px: np.ndarray,
    y_px: np.ndarray,
    *,
    degree: int = 2,
    weights: np.ndarray | None = None,
    inlier_px: float = 3.0,
    ransac_degree: int | None = None,
    ransac_trials: int = 200,
    irls_iterations: int = 5,
    seed: int = 0,
) -> PolyFit:
    """Robust polynomial ``y(x)`` through noisy points.

    RANSAC (``ransac_trials`` random minimal samples of a ``ransac_degree`` polynomial,
    default ``min(degree, 2)``) picks the largest weighted consensus set within
    ``max(inlier_px, 3 * spread)`` px; the final ``degree`` polynomial is then fitted by
    Tukey-biweight iteratively reweighted least squares started from the consensus set.

    Parameters
    ----------
    x_px, y_px : ndarray, shape (n,)
        Points (columns, rows). Non-finite points are ignored.
    degree : int, optional
        Degree of the fitted polynomial, 0-3.
    weights : ndarray, shape (n,), optional
        Non-negative evidence of each point (e.g. edge strength).
    inlier_px : float, optional
        Minimum inlier band half-width in px.
    ransac_degree : int, optional
        Degree of the RANSAC model (default ``min(degree, 2)``).
    ransac_trials : int, optional
        Number of random samples (seeded, vectorised).
    irls_iterations : int, optional
        Biweight iterations after RANSAC.
    seed : int, optional
        Seed of the sampler, so that results are reproducible.

    Returns
    -------
    PolyFit

    Raises
    ------
    ValueError
        Fewer finite points than ``degree + 1``, or ``degree`` outside 0-3.
    """
    if not 0 <= degree <= 3:
        raise ValueError(f"degree must be 0-3, got {degree}")
    x = np.asarray(x_px, dtype=np.float64).reshape(-1)
    y = np.asarray(y_px, dtype=np.float64).reshape(-1)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if not (x.shape == y.shape == w.shape):
        raise ValueError("x_px, y_px and weights must have the same length")
    finite = np.isfinite(x) & np.isfinite(y) & np.isfinite(w) & (w > 0)
    n_ok = int(finite.sum())
    if n_ok < degree + 1:
        raise ValueError(f"need at least {degree + 1} finite points, got {n_ok}")
    xs, ys, ws = x[finite], y[finite], w[finite]
    x_mid = 0.5 * (xs.min() + xs.max())
    x_half = max(0.5 * (xs.max() - xs.min()), 1.0)
    u = (xs - x_mid) / x_half
    rdeg = min(degree, 2) if ransac_degree is None else min(ransac_degree, degree)
    # Distinct x values are needed for a minimal sample; reduce degrees for few distinct x.
    n_distinct = np.unique(xs).size
    degree_eff = min(degree, n_distinct - 1)
    rdeg = min(rdeg, degree_eff)

    # --- RANSAC (vectorised over trials) ---
    k = rdeg + 1
    inlier = np.ones(xs.size, dtype=bool)
    if xs.size > k + 2 and ransac_trials > 0:
        # drawn with replacement, weighted, in one call; samples that repeat a point are
        # singular and dropped by the determinant test below
        cdf = (ws / ws.sum()).cumsum()
        cdf /= cdf[-1]
        idx = cdf.searchsorted(_uniform_draws(seed, ransac_trials, k), side="right")
        powers = np.vander(u, k)  # (n, k): u**rdeg ... u**0
        vand = powers[idx]  # (T, k, k)
        det_ok = np.abs(np.linalg.det(vand)) > 1e-12
        if det_ok.any():
            vand, idx = vand[det_ok], idx[det_ok]
            coefs = np.linalg.solve(vand, ys[idx][..., None])[..., 0]  # (T', k)
            pred = coefs @ powers.T  # (T', n)
            resid = np.abs(pred - ys[None, :])
            thr = inlier_px
            score = ((resid <= thr) * ws[None, :]).sum(axis=1)
            best = int(np.argmax(score))
            inlier = resid[best] <= thr
            if inlier.sum() < degree_eff + 1:
                inlier = np.ones(xs.size, dtype=bool)

    # --- biweight IRLS on the consensus set ---
    a = _vander(u, degree_eff)
    wi = ws * inlier
    coef = _wlstsq(a, ys, wi)
    scale = inlier_px
    for _ in range(irls_iterations):
        r = ys - a @ coef
        mad = 1.4826 * fast_median(np.abs(r[wi > 0])) if np.any(wi > 0) else inlier_px
        scale = max(mad, 0.5)
        c = max(4.685 * scale, inlier_px)
        t = np.minimum(np.abs(r) / c, 1.0)  # np.clip without its Python overhead (>= 0)
        wi = ws * (1.0 - t**2) ** 2
        if wi.sum() <= 0:
            break
        coef = _wlstsq(a, ys, wi)
    r = ys - a @ coef
    c = max(4.685 * scale, inlier_px)
    final_in = np.abs(r) <= c
    if degree_eff < degree:
        coef = np.concatenate([np.zeros(degree - degree_eff), coef])
    inliers_all = np.zeros(x.size, dtype=bool)
    inliers_all[np.flatnonzero(finite)] = final_in
    inl_r = r[final_in]
    residual = float(1.4826 * fast_median(np.abs(inl_r))) if inl_r.size else float("inf")
    frac = float((ws * final_in).sum() / ws.sum())
    return PolyFit(coef, float(x_mid), float(x_half), inliers_all, residual, frac)


def fit_boundary(
    x_px: np.ndarray,
    y_px: np.ndarray,
    *,
    x_eval_px: np.ndarray | None = None,
    degree: int = 2,
    weights: np.ndarray | None = None,
    inlier_px: float = 3.0,
    source: BoundarySource,
    confidence: float = 1.0,
    seed: int = 0,
) -> Boundary:
    """Robust smooth boundary through noisy edge points.

    Parameters
    ----------
    x_px, y_px : ndarray, shape (n,)
        Edge points (columns, rows); non-finite ones are ignored.
    x_eval_px : ndarray, optional
        Strictly increasing columns at which the returned boundary is sampled; default
        every integer column from the first to the last inlier.
    degree, weights, inlier_px, seed
        As in :func:`robust_polyfit`.
    source : BoundarySource
        Source recorded in the boundary (required: no default provenance).
    confidence : float, optional
        Confidence recorded in the boundary.

    Returns
    -------
    Boundary
    """
    fit = robust_polyfit(x_px, y_px, degree=degree, weights=weights, inlier_px=inlier_px, seed=seed)
    if x_eval_px is None:
        xin = np.asarray(x_px, dtype=np.float64)[fit.inliers]
        x_eval_px = np.arange(np.ceil(xin.min()), np.floor(xin.max()) + 1.0)
        if x_eval_px.size < 2:
            x_eval_px = np.array([xin.min(), xin.min() + 1.0])
    x_eval = np.asarray(x_eval_px, dtype=np.float64)
    return Boundary(x_eval, fit(x_eval), source, confidence)


def resample_boundary(boundary: Boundary, *, step_px: float = 1.0) -> Boundary:
    """Boundary resampled at uniform columns ``x_min, x_min + step_px, ...``.

    Parameters
    ----------
    boundary : Boundary
    step_px : float, optional
        Column spacing, > 0.

    Returns
    -------
    Boundary
        Same source and confidence; always includes ``x_max``.
    """
    if not step_px > 0:
        raise ValueError(f"step_px must be > 0, got {step_px}")
    x = np.arange(boundary.x_min, boundary.x_max, step_px)
    if x.size == 0 or boundary.x_max - x[-1] > 1e-9:
        x = np.append(x, boundary.x_max)
    if x.size < 2:
        x = np.array([boundary.x_min, boundary.x_max])
    return Boundary(x, boundary.y_at(x), boundary.source, boundary.confidence)


def resample_polyline(points_xy: np.ndarray, *, step_px: float = 1.0) -> np.ndarray:
    """Polyline resampled at uniform arc length.

    Parameters
    ----------
    points_xy : ndarray, shape (n, 2)
        Vertices ``(x, y)``.
    step_px : float, optional
        Spacing along the curve, > 0.

    Returns
    -------
    ndarray, shape (m, 2)
        Includes both end points.
    """
    pts = np.asarray(points_xy, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < 2:
        raise ValueError(f"points_xy must have shape (n >= 2, 2), got {pts.shape}")
    if not step_px > 0:
        raise ValueError(f"step_px must be > 0, got {step_px}")
    seg = np.hypot(*np.diff(pts, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] == 0:
        return pts[[0, -1]]
    t = np.arange(0.0, s[-1], step_px)
    if s[-1] - t[-1] > 1e-9:
        t = np.append(t, s[-1])
    keep = np.concatenate([[True], seg > 0])
    return np.column_stack(
        [np.interp(t, s[keep], pts[keep, 0]), np.interp(t, s[keep], pts[keep, 1])]
    )


def overlap_interval(a: Boundary, b: Boundary) -> tuple[float, float] | None:
    """Columns ``(x_start, x_end)`` covered by both boundaries, or ``None``."""
    lo = max(a.x_min, b.x_min)
    hi = min(a.x_max, b.x_max)
    return (lo, hi) if hi > lo else None


def perpendicular_distance(
    x_px: float,
    y_px: float,
    curve: Boundary,
    *,
    mm_per_px_x: float = 1.0,
    mm_per_px_y: float = 1.0,
    extrapolate: bool = True,
) -> tuple[float, float, float]:
    """Distance from a point to a boundary, perpendicular to the boundary.

    The point and the curve are first converted to physical coordinates
    (``x * mm_per_px_x``, ``y * mm_per_px_y``), so anisotropic pixels are handled; the
    distance is the shortest one from the point to the polyline, i.e. along the normal of
    the curve through its foot. With ``extrapolate`` the curve is continued along its end
    tangents so that the foot can lie a little outside the field of view.

    Parameters
    ----------
    x_px, y_px : float
        The point (e.g. on the superficial boundary), pixels.
    curve : Boundary
        The curve (e.g. the deep boundary).
    mm_per_px_x, mm_per_px_y : float, optional
        Pixel size; leave at 1 for a distance in (isotropic) pixels.
    extrapolate : bool, optional
        Continue the curve linearly beyond its ends.

    Returns
    -------
    distance : float
        In the units of ``mm_per_px_*`` (pixels when both are 1).
    foot_x_px, foot_y_px : float
        Foot of the perpendicular on the curve, pixels.
    """
    sx, sy = float(mm_per_px_x), float(mm_per_px_y)
    cx = curve.x_px * sx
    cy = curve.y_px * sy
    if extrapolate:
        span = (cx[-1] - cx[0]) + abs(cy[-1] - cy[0]) + 1.0
        m = max(2, min(cx.size // 10 + 1, cx.size))
        d0 = np.array([cx[0] - cx[m - 1], cy[0] - cy[m - 1]])
        d1 = np.array([cx[-1] - cx[-m], cy[-1] - cy[-m]])
        d0 /= np.hypot(*d0)
        d1 /= np.hypot(*d1)
        cx = np.concatenate([[cx[0] + span * d0[0]], cx, [cx[-1] + span * d1[0]]])
        cy = np.concatenate([[cy[0] + span * d0[1]], cy, [cy[-1] + span * d1[1]]])
    px, py = float(x_px) * sx, float(y_px) * sy
    ax, ay = cx[:-1], cy[:-1]
    dx, dy = np.diff(cx), np.diff(cy)
    len2 = dx * dx + dy * dy
    t = ((px - ax) * dx + (py - ay) * dy) / np.where(len2 > 0, len2, 1.0)
    t = np.minimum(np.maximum(t, 0.0), 1.0)  # np.clip without its Python overhead
    fx, fy = ax + t * dx, ay + t * dy
    dist = np.hypot(fx - px, fy - py)
    i = int(np.argmin(dist))
    return float(dist[i]), float(fx[i] / sx), float(fy[i] / sy)


def curvature_per_px(boundary: Boundary) -> float:
    """Largest curvature (1/px) of a quadratic least-squares fit to the boundary.

    A straight boundary gives 0; a circle arc of radius ``R`` px gives about ``1 / R``.
    The quadratic fit makes the measure insensitive to pixel-level jitter.
    """
    x, y = boundary.x_px, boundary.y_px
    if x.size < 3:
        return 0.0
    xs = x - x.mean()
    scale = max(float(np.abs(xs).max()), 1e-12)
    u = xs / scale  # in [-1, 1]: the normal equations stay well conditioned
    a, b, _ = _least_squares_poly(u, y, 2)
    a, b = a / scale**2, b / scale
    slope = 2 * a * xs + b
    return float(np.max(np.abs(2 * a) / (1 + slope**2) ** 1.5))


def sagitta_fraction(boundary: Boundary) -> float:
    """Peak-to-peak deviation from the best straight line, as a fraction of the width.

    0 for a straight boundary; a shallow arc of sagitta ``s`` over width ``w`` gives
    about ``s / w``. Sensitive to wiggles as well as to bending.
    """
    x, y = boundary.x_px, boundary.y_px
    width = x[-1] - x[0]
    if x.size < 3 or width <= 0:
        return 0.0
    xc = x - x.mean()
    r = y - (y.mean() + float(xc @ y) / float(xc @ xc) * xc)  # the least-squares line
    return float((r.max() - r.min()) / width)


def _least_squares_poly(u: np.ndarray, y: np.ndarray, degree: int) -> np.ndarray:
    """Least-squares polynomial coefficients (highest power first, as :func:`numpy.polyfit`)
    of ``y(u)`` for ``u`` scaled to about [-1, 1], by the normal equations (a few
    microseconds against ~100 for ``polyfit``'s SVD; the same to rounding there)."""
    a = np.vander(u, degree + 1)
    return np.linalg.solve(a.T @ a, a.T @ y)
