"""Classical (edge-based) aponeurosis detection and sub-pixel edge refinement (pure).

Two entry points:

* :func:`find_boundaries_edges` finds both aponeuroses without a model: the image is
  smoothed along the rows (aponeuroses are roughly horizontal), a vertical ridge filter
  scores bright bands of aponeurosis thickness, dynamic programming extracts the best
  smooth left-to-right paths through the ridge map, the superficial and deep bands are
  chosen among those paths, and finally each inner edge is snapped to the strongest
  correctly-signed vertical gradient and fitted with a robust smooth curve.
* :func:`refine_boundary` snaps an approximate boundary (e.g. from the segmentation
  model) to the strongest correctly-signed edge within ``±search_px`` of it, with
  parabolic sub-pixel interpolation, then fits a robust smooth curve.

Edge convention (shared with :mod:`musclethick.masks`): a step between pixel rows ``r``
and ``r + 1`` lies at ``y = r + 0.5``. Going down the image, the inner edge of the
superficial band is a bright -> dark transition, that of the deep band dark -> bright.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from .errors import BoundaryNotFound
from .geometry import robust_polyfit
from .types import Boundary

__all__ = ["find_boundaries_edges", "refine_boundary", "vertical_gradient"]

Side = Literal["superficial", "deep"]


def _as_float(pixels: np.ndarray) -> np.ndarray:
    arr = np.asarray(pixels)
    if arr.ndim != 2:
        raise ValueError(f"pixels must be 2-D (rows, cols), got shape {arr.shape}")
    if arr.shape[0] < 8 or arr.shape[1] < 8:
        raise BoundaryNotFound(f"image of shape {arr.shape} is too small to find aponeuroses")
    return arr.astype(np.float32, copy=False)


def vertical_gradient(
    pixels: np.ndarray, *, sigma_x_px: float = 4.0, sigma_y_px: float = 1.0
) -> np.ndarray:
    """Central-difference ``dI/dy`` of the image smoothed anisotropically.

    Parameters
    ----------
    pixels : ndarray, shape (rows, cols)
        Grey levels.
    sigma_x_px, sigma_y_px : float, optional
        Gaussian smoothing along the rows (x) and along the beam (y) before differencing.

    Returns
    -------
    ndarray of float32, shape (rows, cols)
        ``(I[r + 1] - I[r - 1]) / 2`` of the smoothed image (0 on the first/last row);
        positive where the image gets brighter going down.
    """
    img = _as_float(pixels)
    smooth = _smooth(img, sigma_x_px, sigma_y_px)
    grad = np.zeros_like(smooth)
    grad[1:-1] = 0.5 * (smooth[2:] - smooth[:-2])
    return grad


def _smooth(img: np.ndarray, sigma_x: float, sigma_y: float) -> np.ndarray:
    kx = 2 * int(np.ceil(3 * sigma_x)) + 1 if sigma_x > 0 else 1
    ky = 2 * int(np.ceil(3 * sigma_y)) + 1 if sigma_y > 0 else 1
    if kx == 1 and ky == 1:
        return img.copy()
    return cv2.GaussianBlur(
        img,
        (kx, ky),
        sigmaX=max(sigma_x, 1e-3),
        sigmaY=max(sigma_y, 1e-3),
        borderType=cv2.BORDER_REFLECT,
    )


def _snap(
    grad: np.ndarray,
    row0: int,
    cols: np.ndarray,
    y_guess: np.ndarray,
    lo_px: float,
    hi_px: float,
    sign: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Strongest ``sign * grad`` peak per column in ``[y_guess - lo, y_guess + hi]``.

    ``grad`` covers image rows ``row0 ...``; returns ``(y_px, strength, interior)`` with
    sub-pixel ``y`` in image coordinates (NaN where no positive peak).
    """
    n_rows = grad.shape[0]
    lo = int(np.ceil(lo_px))
    hi = int(np.ceil(hi_px))
    offsets = np.arange(-lo, hi + 1)
    centre = np.rint(y_guess).astype(np.int64) - row0
    rr = centre[:, None] + offsets[None, :]  # (n, k)
    valid = (rr >= 1) & (rr < n_rows - 1)
    # offsets within the asymmetric window relative to the (non-rounded) guess
    rel = (rr + row0) - y_guess[:, None]
    valid &= (rel >= -lo_px - 0.5) & (rel <= hi_px + 0.5)
    rr_c = np.clip(rr, 0, n_rows - 1)
    vals = sign * grad[rr_c, cols[:, None]]
    vals = np.where(valid, vals, -np.inf)
    k = np.argmax(vals, axis=1)
    idx = np.arange(cols.size)
    peak = vals[idx, k]
    km = np.clip(k - 1, 0, offsets.size - 1)
    kp = np.clip(k + 1, 0, offsets.size - 1)
    left = vals[idx, km]
    right = vals[idx, kp]
    interior = (k > 0) & (k < offsets.size - 1) & np.isfinite(left) & np.isfinite(right)
    denom = left - 2 * peak + right
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = np.where(interior & (denom < 0), 0.5 * (left - right) / denom, 0.0)
    delta = np.clip(delta, -0.5, 0.5)
    y = (rr_c[idx, k] + row0).astype(np.float64) + delta
    ok = np.isfinite(peak) & (peak > 0)
    y = np.where(ok, y, np.nan)
    strength = np.where(ok, peak, 0.0)
    return y, strength, interior & ok


def _confidence(
    strength: np.ndarray,
    interior: np.ndarray,
    inlier_fraction: float,
    residual_px: float,
    noise: float,
) -> float:
    """Heuristic confidence in [0, 1] from edge evidence and fit quality."""
    if strength.size == 0:
        return 0.0
    support = float(np.mean(interior))
    contrast = float(np.median(strength[interior])) if interior.any() else 0.0
    contrast_term = contrast / (contrast + 2.0 * noise + 1e-6)
    fit_term = float(np.exp(-max(residual_px - 0.5, 0.0) / 2.0))
    conf = support * inlier_fraction * fit_term * min(1.0, 1.5 * contrast_term)
    return float(np.clip(conf, 0.0, 1.0))


def refine_boundary(
    pixels: np.ndarray,
    boundary: Boundary,
    *,
    side: Side,
    search_px: float = 6.0,
    degree: int = 3,
    sigma_x_px: float = 3.0,
    sigma_y_px: float = 1.0,
    column_step: int = 2,
) -> Boundary:
    """Snap an approximate inner edge to the image's edge, sub-pixel, and smooth it.

    In every ``column_step``-th column of the boundary the strongest correctly-signed
    vertical gradient (bright -> dark going down for ``"superficial"``, dark -> bright for
    ``"deep"``) within ``±search_px`` of the boundary is located with parabolic
    interpolation; a robust polynomial (RANSAC + biweight) through these points, weighted
    by edge strength, is returned at the boundary's columns.

    Parameters
    ----------
    pixels : ndarray, shape (rows, cols)
        Grey levels of the frame.
    boundary : Boundary
        Approximate inner edge in frame coordinates.
    side : {"superficial", "deep"}
        Which aponeurosis the boundary belongs to (sets the edge polarity).
    search_px : float, optional
        Half-height of the search window, px.
    degree : int, optional
        Degree (<= 3) of the smooth curve fitted through the snapped points.
    sigma_x_px, sigma_y_px : float, optional
        Anisotropic Gaussian smoothing before differentiation.
    column_step : int, optional
        Use every n-th column for snapping (the result has the boundary's own columns).

    Returns
    -------
    Boundary
        Source ``"refined"``; confidence from edge support, contrast and fit residuals,
        capped by the input boundary's confidence. Where the image shows no usable edge
        the input boundary is returned with source ``"refined"`` and reduced confidence.
    """
    if side not in ("superficial", "deep"):
        raise ValueError(f"side must be 'superficial' or 'deep', got {side!r}")
    img = _as_float(pixels)
    rows, cols = img.shape
    x_all = boundary.x_px
    inside = (x_all >= 0) & (x_all <= cols - 1)
    if inside.sum() < 2:
        raise BoundaryNotFound(f"{side} boundary lies outside the image ({cols} columns)")
    xs = np.arange(int(np.ceil(x_all[inside][0])), int(np.floor(x_all[inside][-1])) + 1)
    xs = xs[:: max(1, int(column_step))]
    if xs.size < 4:
        xs = np.arange(int(np.ceil(x_all[inside][0])), int(np.floor(x_all[inside][-1])) + 1)
    y0 = boundary.y_at(xs.astype(np.float64))
    pad = int(np.ceil(search_px + 3 * sigma_y_px + 3))
    r_lo = max(0, int(np.floor(np.nanmin(y0))) - pad)
    r_hi = min(rows, int(np.ceil(np.nanmax(y0))) + pad + 1)
    if r_hi - r_lo < 3:
        raise BoundaryNotFound(f"{side} boundary lies outside the image ({rows} rows)")
    strip = _smooth(img[r_lo:r_hi], sigma_x_px, sigma_y_px)
    grad = np.zeros_like(strip)
    grad[1:-1] = 0.5 * (strip[2:] - strip[:-2])
    sign = -1.0 if side == "superficial" else 1.0
    y, strength, interior = _snap(grad, r_lo, xs, y0, search_px, search_px, sign)
    noise = float(np.median(np.abs(grad))) + 1e-6
    use = interior & np.isfinite(y)
    if use.sum() < max(degree + 2, 4):
        return Boundary(boundary.x_px, boundary.y_px, "refined", 0.5 * boundary.confidence * 0.2)
    fit = robust_polyfit(
        xs[use].astype(np.float64), y[use], degree=degree, weights=strength[use], inlier_px=2.0
    )
    conf = _confidence(strength, interior, fit.inlier_fraction, fit.residual_px, noise)
    conf = min(conf, boundary.confidence)
    x_out = x_all[inside]
    return Boundary(x_out, fit(x_out), "refined", conf)


# --------------------------------------------------------------------------- classical


def _ridge_map(small: np.ndarray, half_px: float) -> np.ndarray:
    """Bright-band response: centre minus mean of the rows ``±half_px`` away (>= 0)."""
    h = max(1, round(half_px))
    pad = np.pad(small, ((h, h), (0, 0)), mode="edge")
    up = pad[: -2 * h]
    down = pad[2 * h :]
    # a band is bright relative to BOTH sides: min of the two contrasts
    return np.maximum(np.minimum(small - up, small - down), 0.0)


def _dp_path(score: np.ndarray, max_step: int, penalty: float) -> tuple[np.ndarray, float]:
    """Best left-to-right path maximising ``sum score - penalty * |dy|``."""
    rows, cols = score.shape
    acc = score[:, 0].copy()
    back = np.zeros((rows, cols), dtype=np.int32)
    steps = np.arange(-max_step, max_step + 1)
    r = np.arange(rows)
    for c in range(1, cols):
        best = np.full(rows, -np.inf)
        arg = np.zeros(rows, dtype=np.int32)
        for d in steps:
            src = r + d
            okm = (src >= 0) & (src < rows)
            cand = np.full(rows, -np.inf)
            cand[okm] = acc[src[okm]] - penalty * abs(d)
            better = cand > best
            best = np.where(better, cand, best)
            arg = np.where(better, src, arg)
        acc = best + score[:, c]
        back[:, c] = arg
    path = np.zeros(cols, dtype=np.int64)
    path[-1] = int(np.argmax(acc))
    total = float(acc[path[-1]])
    for c in range(cols - 1, 0, -1):
        path[c - 1] = back[path[c], c]
    return path, total


def find_boundaries_edges(
    pixels: np.ndarray,
    *,
    work_rows: int = 256,
    work_cols: int = 128,
    band_fraction: float = 0.02,
    n_paths: int = 6,
    min_depth_fraction: float = 0.03,
    min_thickness_fraction: float = 0.06,
    strength_ratio: float = 0.35,
    degree: int = 2,
) -> tuple[Boundary, Boundary]:
    """Find the superficial and deep aponeuroses' inner edges with classical filters.

    Parameters
    ----------
    pixels : ndarray, shape (rows, cols)
        Grey levels of the imaging region (cropped frame).
    work_rows, work_cols : int, optional
        Size of the downsampled working image for the band search.
    band_fraction : float, optional
        Expected aponeurosis half-thickness as a fraction of the image height.
    n_paths : int, optional
        Number of candidate bands extracted by dynamic programming.
    min_depth_fraction : float, optional
        Bands in the top fraction of the image (skin, transducer) are ignored.
    min_thickness_fraction : float, optional
        Minimum muscle thickness between the chosen bands, fraction of the height.
    strength_ratio : float, optional
        A band counts when its strength is at least this fraction of the strongest band's.
    degree : int, optional
        Degree of the robust curve fitted to each inner edge.

    Returns
    -------
    superficial, deep : Boundary
        Inner edges, source ``"edges"``, with confidences.

    Raises
    ------
    BoundaryNotFound
        When fewer than two plausible bands are found.
    """
    img = _as_float(pixels)
    rows, cols = img.shape
    fy = min(1.0, work_rows / rows)
    fx = min(1.0, work_cols / cols)
    wr, wc = max(8, round(rows * fy)), max(8, round(cols * fx))
    small = cv2.resize(img, (wc, wr), interpolation=cv2.INTER_AREA)
    sy = rows / wr
    sx = cols / wc
    half = max(1.0, band_fraction * rows / sy)
    smooth = _smooth(small, 2.0 * half / max(sx / sy, 1e-3) + 1.0, 0.5 * half)
    ridge = _ridge_map(smooth, 2.0 * half)
    noise = float(np.median(ridge)) + 1e-3
    score = ridge / (np.percentile(ridge, 99) + 1e-6)

    paths = []
    work = score.copy()
    guard = max(2, round(2.5 * half))
    skip_top = round(min_depth_fraction * wr)
    work[:skip_top] = 0.0
    max_step = max(1, round(0.6 * sx / sy))
    for _ in range(n_paths):
        path, _total = _dp_path(work - 0.15, max_step, 0.05)
        vals = score[path, np.arange(wc)]
        support = vals > 0.15
        if support.mean() < 0.2:
            break
        strength = float(np.mean(np.sort(vals)[wc // 4 :]))
        paths.append((path, strength, support))
        rr = np.arange(wr)[:, None]
        work[np.abs(rr - path[None, :]) <= guard] = -1.0
    if len(paths) < 2:
        raise BoundaryNotFound("fewer than two bright bands (aponeuroses) found")
    max_strength = max(p[1] for p in paths)
    strong = [p for p in paths if p[1] >= strength_ratio * max_strength]
    strong.sort(key=lambda p: float(np.median(p[0])))
    if len(strong) < 2:
        raise BoundaryNotFound("only one strong band found: deep aponeurosis missing")
    sup_path = strong[0]
    min_gap = min_thickness_fraction * wr
    below = [p for p in strong[1:] if float(np.median(p[0] - sup_path[0])) > min_gap + 2 * half]
    if not below:
        raise BoundaryNotFound("no band deep enough below the superficial aponeurosis")
    deep_path = below[0]

    # Snap inner edges at full resolution.
    xs_full = np.arange(cols)
    band_px = half * sy
    out = []
    for (path, _strength, support), side in ((sup_path, "superficial"), (deep_path, "deep")):
        centre_small = path.astype(np.float64)
        centre = np.interp(
            xs_full, (np.arange(wc) + 0.5) * sx - 0.5, (centre_small + 0.5) * sy - 0.5
        )
        sup_cols = np.interp(xs_full, (np.arange(wc) + 0.5) * sx - 0.5, support.astype(float)) > 0.5
        step = max(1, cols // 256)
        xs = xs_full[::step]
        sign = -1.0 if side == "superficial" else 1.0
        lo_px, hi_px = (0.0, 3.0 * band_px) if side == "superficial" else (3.0 * band_px, 0.0)
        pad = int(np.ceil(3.0 * band_px + 6))
        r_lo = max(0, int(np.floor(centre.min())) - pad)
        r_hi = min(rows, int(np.ceil(centre.max())) + pad + 1)
        strip = _smooth(img[r_lo:r_hi], 3.0, 1.0)
        grad = np.zeros_like(strip)
        grad[1:-1] = 0.5 * (strip[2:] - strip[:-2])
        y, strength, interior = _snap(grad, r_lo, xs, centre[xs], lo_px, hi_px, sign)
        use = interior & sup_cols[xs] & np.isfinite(y)
        if use.sum() < max(degree + 2, 8):
            raise BoundaryNotFound(f"{side} aponeurosis: too few edge points")
        fit = robust_polyfit(
            xs[use].astype(np.float64),
            y[use],
            degree=degree,
            weights=strength[use],
            inlier_px=max(2.0, 0.3 * band_px),
        )
        x_in = xs[use][fit.inliers[: use.sum()]] if fit.inliers.size == use.sum() else xs[use]
        x0, x1 = float(x_in.min()), float(x_in.max())
        if x1 - x0 < 0.2 * cols:
            raise BoundaryNotFound(f"{side} aponeurosis spans too few columns")
        xb = np.arange(np.ceil(x0), np.floor(x1) + 1.0)
        gnoise = float(np.median(np.abs(grad))) + 1e-6
        conf = _confidence(
            strength, interior & sup_cols[xs], fit.inlier_fraction, fit.residual_px, gnoise
        )
        out.append(Boundary(xb, fit(xb), "edges", conf))
    del noise
    return out[0], out[1]
