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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from .edge_classifier import edge_classifier
from .errors import BoundaryNotFound
from .geometry import robust_polyfit
from .measure import MIN_FRAME_PX
from .types import Boundary

__all__ = [
    "ANNOTATION_OFFSET_PX",
    "Band",
    "band_edge",
    "band_edges",
    "find_bands",
    "find_boundaries_edges",
    "refine_boundary",
    "vertical_gradient",
]

Side = Literal["superficial", "deep"]

#: Median position of the hand-drawn DL_Track inner edges relative to the gradient peak that
#: :func:`refine_boundary` finds (px, positive = the annotation lies lower), measured on the
#: ``train`` split (bench/bench_edges.py); read from the versioned data file of
#: :mod:`musclethick.edge_classifier`. The deep offset shortens refined thicknesses by ~0.8 px
#: when it is not applied.
ANNOTATION_OFFSET_PX: Mapping[str, float] = edge_classifier().annotation_offset_px


def _as_float(pixels: np.ndarray) -> np.ndarray:
    arr = np.asarray(pixels)
    if arr.ndim != 2:
        raise ValueError(f"pixels must be 2-D (rows, cols), got shape {arr.shape}")
    if arr.shape[0] < MIN_FRAME_PX or arr.shape[1] < MIN_FRAME_PX:
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
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        denom = left - 2 * peak + right
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
    """Heuristic confidence in [0, 1] from edge evidence and fit quality.

    Product of: the fraction of columns with a clear edge peak, the fraction of those
    the robust fit keeps, a fit term ``1 / (1 + ((residual - 1 px) / 2.5 px)^2)`` and a
    contrast term ``clip((median peak / noise - 1.5) / 3, 0, 1)`` (noise = median absolute
    gradient). Calibrated on the DL_Track ``train`` split: correct boundaries have a
    median of about 0.75, wrong ones about 0.3 (80 % of these fall below 0.5).
    """
    if strength.size == 0 or not interior.any():
        return 0.0
    support = float(np.mean(interior))
    contrast = float(np.median(strength[interior])) / max(noise, 1e-6)
    contrast_term = float(np.clip((contrast - 1.5) / 3.0, 0.0, 1.0))
    fit_term = 1.0 / (1.0 + (max(residual_px - 1.0, 0.0) / 2.5) ** 2)
    conf = support * inlier_fraction * fit_term * contrast_term
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
    offset_px: float | None = None,
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
    offset_px : float, optional
        Added to the snapped rows (px, positive = down). ``None`` (default) uses
        :data:`ANNOTATION_OFFSET_PX` for ``side``, so that refined edges follow the hand-drawn
        DL_Track annotations the model learns from; ``0.0`` gives the gradient peak itself.

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
        return Boundary(boundary.x_px, boundary.y_px, "refined", 0.1 * boundary.confidence)
    fit = robust_polyfit(
        xs[use].astype(np.float64),
        y[use],
        degree=degree,
        weights=strength[use],
        inlier_px=2.0,
        ransac_trials=64,
        irls_iterations=3,
    )
    conf = _confidence(strength, interior, fit.inlier_fraction, fit.residual_px, noise)
    conf = min(conf, boundary.confidence)
    x_out = x_all[inside]
    offset = ANNOTATION_OFFSET_PX[side] if offset_px is None else float(offset_px)
    return Boundary(x_out, fit(x_out) + offset, "refined", conf)


# --------------------------------------------------------------------------- classical


def _ridge_map(small: np.ndarray, half_px: float) -> np.ndarray:
    """Bright-band response: centre minus mean of the rows ``±half_px`` away (>= 0)."""
    h = max(1, round(half_px))
    # beyond the image there is no contrast to compare with: only the other side counts
    pad = np.pad(small, ((h, h), (0, 0)), mode="constant", constant_values=-1e6)
    up = pad[: -2 * h]
    down = pad[2 * h :]
    # a band is bright relative to BOTH sides: min of the two contrasts
    return np.maximum(np.minimum(small - up, small - down), 0.0)


def _oriented_ridge(
    small: np.ndarray, half: float, aspect: float, slopes: tuple[float, ...]
) -> np.ndarray:
    """Max over orientations of the ridge map of the image smoothed along each slope.

    ``slopes`` are ``dy/dx`` in full-resolution pixels; ``aspect`` = ``sx / sy`` converts
    them to the working image. Smoothing along the band direction keeps tilted
    aponeuroses sharp while averaging out speckle and short fascicles.
    """
    wr, wc = small.shape
    sigma_x = 2.0 * half / aspect + 1.0
    cols = np.arange(wc, dtype=np.float32)
    rows = np.arange(wr, dtype=np.float32)
    grid_x = np.broadcast_to(cols[None, :], (wr, wc)).astype(np.float32)
    out = None
    for slope in slopes:
        shift = (slope * aspect * (cols - 0.5 * wc)).astype(np.float32)
        map_y = (rows[:, None] + shift[None, :]).astype(np.float32)
        sheared = cv2.remap(small, grid_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        ridge = _ridge_map(_smooth(sheared, sigma_x, 0.5 * half), 2.0 * half)
        if slope != 0.0:
            back_y = (rows[:, None] - shift[None, :]).astype(np.float32)
            ridge = cv2.remap(
                ridge, grid_x, back_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
            )
        out = ridge if out is None else np.maximum(out, ridge)
    return out


def _dp_path(score: np.ndarray, max_step: int, penalty: float) -> tuple[np.ndarray, float]:
    """Best left-to-right path maximising ``sum score - penalty * |dy|``."""
    rows, cols = score.shape
    m = int(max_step)
    steps = np.arange(-m, m + 1)
    cost = (penalty * np.abs(steps))[:, None].astype(np.float64)
    acc = score[:, 0].astype(np.float64)
    back = np.zeros((cols, rows), dtype=np.int8 if m < 60 else np.int64)
    padded = np.full(rows + 2 * m, -np.inf)
    window = np.lib.stride_tricks.sliding_window_view(padded, rows)[: 2 * m + 1]  # a view
    score_t = np.ascontiguousarray(score.T, dtype=np.float64)
    cand = np.empty((2 * m + 1, rows))
    for c in range(1, cols):
        padded[m : m + rows] = acc
        np.subtract(window, cost, out=cand)  # cand[k, y] = acc[y + steps[k]] - cost[k]
        back[c] = cand.argmax(axis=0)
        acc = cand.max(axis=0) + score_t[c]
    last = int(np.argmax(acc))
    total = float(acc[last])
    # trace back in plain Python (integer look-ups, far cheaper than NumPy scalar indexing)
    pointers, moves, trail = back.tolist(), steps.tolist(), [last]
    for c in range(cols - 1, 0, -1):
        trail.append(trail[-1] + moves[pointers[c][trail[-1]]])
    return np.array(trail[::-1], dtype=np.int64), total


def find_boundaries_edges(
    pixels: np.ndarray,
    *,
    work_rows: int = 256,
    work_cols: int = 128,
    band_fraction: float = 0.02,
    n_paths: int = 8,
    min_depth_fraction: float = 0.015,
    min_thickness_fraction: float = 0.06,
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
    rows = img.shape[0]
    cands = _candidate_bands(
        img,
        work_rows=work_rows,
        work_cols=work_cols,
        band_fraction=band_fraction,
        n_paths=n_paths,
        min_depth_fraction=min_depth_fraction,
    )
    sup_c, deep_c = _select_bands(
        cands,
        rows,
        min_thickness_fraction=min_thickness_fraction,
    )
    half = band_fraction * rows
    return _edge_from_band(img, sup_c, "superficial", half, degree), _edge_from_band(
        img, deep_c, "deep", half, degree
    )


def band_edges(
    pixels: np.ndarray,
    *,
    side: Side,
    band_fraction: float = 0.02,
    n_paths: int = 12,
    degree: int = 2,
) -> list[Boundary]:
    """The inner edges of *every* bright band the classical path finds, by depth.

    The candidate bands of :func:`find_boundaries_edges` (:func:`find_bands`: dynamic-
    programming paths through an oriented ridge map, so tilted and curved bands are found
    too), each snapped to its edge on ``side``'s polarity (:func:`band_edge`: the lower edge
    for ``"superficial"``, the upper edge for ``"deep"``) without choosing a pair. Bands whose
    edge cannot be fitted are left out.

    Parameters
    ----------
    pixels : ndarray, shape (rows, cols)
        Grey levels of the imaging region (cropped frame).
    side : {"superficial", "deep"}
        Which edge of each band.
    band_fraction, n_paths, degree
        As in :func:`find_boundaries_edges` (more paths: every band counts here).

    Returns
    -------
    list of Boundary
        Source ``"edges"``, sorted by median row.
    """
    if side not in ("superficial", "deep"):
        raise ValueError(f"side must be 'superficial' or 'deep', got {side!r}")
    edges = []
    for band in find_bands(pixels, band_fraction=band_fraction, n_paths=n_paths):
        try:
            edges.append(
                band_edge(pixels, band, side=side, band_fraction=band_fraction, degree=degree)
            )
        except BoundaryNotFound:
            continue
    return sorted(edges, key=lambda b: float(np.median(b.y_px)))


def find_bands(
    pixels: np.ndarray,
    *,
    band_fraction: float = 0.02,
    n_paths: int = 12,
    work_shape: tuple[int, int] = (256, 128),
) -> list[Band]:
    """Every bright, roughly horizontal band of the frame, by depth (the classical path's band
    search, ``n_paths`` dynamic-programming paths through an oriented ridge map of the frame
    resized to ``work_shape`` rows x columns): each band's centre row per column and where the
    ridge supports it. Cheap next to fitting their edges (:func:`band_edge`)."""
    return _candidate_bands(
        _as_float(pixels),
        work_rows=work_shape[0],
        work_cols=work_shape[1],
        band_fraction=band_fraction,
        n_paths=n_paths,
        min_depth_fraction=0.015,
    )


def band_edge(
    pixels: np.ndarray,
    band: Band,
    *,
    side: Side,
    band_fraction: float = 0.02,
    degree: int = 2,
) -> Boundary:
    """The inner edge of ``band`` on ``side``'s polarity, snapped to the image gradient and
    fitted (source ``"edges"``); :class:`BoundaryNotFound` when it cannot be."""
    img = _as_float(pixels)
    return _edge_from_band(img, band, side, band_fraction * img.shape[0], degree)


@dataclass(frozen=True)
class Band:
    """A bright, roughly horizontal band the classical path found (:func:`find_bands`)."""

    centre_px: np.ndarray  # (cols,) band centre row per full-resolution column
    support: np.ndarray  # (cols,) bool, ridge evidence present
    strength: float  # normalised ridge strength
    depth_px: float  # median centre row


def _candidate_bands(
    img: np.ndarray,
    *,
    work_rows: int,
    work_cols: int,
    band_fraction: float,
    n_paths: int,
    min_depth_fraction: float,
    slopes: tuple[float, ...] = (-0.36, -0.18, 0.0, 0.18, 0.36),
) -> list[Band]:
    """Bright, roughly horizontal bands as DP paths through a ridge map (by depth)."""
    rows, cols = img.shape
    wr = max(8, min(rows, work_rows))
    wc = max(8, min(cols, work_cols))
    small = cv2.resize(img, (wc, wr), interpolation=cv2.INTER_AREA)
    sy = rows / wr
    sx = cols / wc
    half = max(1.0, band_fraction * rows / sy)
    ridge = _oriented_ridge(small, half, sx / sy, slopes)
    score = ridge / (np.percentile(ridge, 99) + 1e-6)
    work = score.copy()
    guard = max(2, round(2.5 * half))
    work[: round(min_depth_fraction * wr)] = 0.0
    max_step = max(1, round(0.6 * sx / sy))
    xs_small = (np.arange(wc) + 0.5) * sx - 0.5
    xs_full = np.arange(cols, dtype=np.float64)
    rr = np.arange(wr)[:, None]
    bands = []
    for _ in range(n_paths):
        path, _total = _dp_path(work - 0.15, max_step, 0.05)
        vals = score[path, np.arange(wc)]
        support = vals > 0.15
        if support.mean() < 0.2:
            break
        strength = float(np.mean(np.sort(vals)[wc // 4 :]))
        centre = np.interp(xs_full, xs_small, (path + 0.5) * sy - 0.5)
        sup_full = np.interp(xs_full, xs_small, support.astype(float)) > 0.5
        bands.append(Band(centre, sup_full, strength, float(np.median(centre))))
        work[np.abs(rr - path[None, :]) <= guard] = -1.0
    bands.sort(key=lambda b: b.depth_px)
    return bands


#: The pair features :func:`_select_bands` computes, in the order of the classifier's weights.
_PAIR_FEATURES = (
    "evidence_s",
    "evidence_d",
    "evidence_s_rel",
    "evidence_d_rel",
    "depth_s",
    "thickness",
    "thickness_dev",
    "n_between",
    "max_between",
    "slope_diff",
    "rough_s",
    "rough_d",
    "index_s",
    "support_s",
    "support_d",
)


def _band_shape(band: Band) -> tuple[float, float]:
    """``(slope, roughness)`` of a band centre line (full-resolution px)."""
    cols = band.centre_px.size
    slope = float(np.polyfit(np.arange(cols, dtype=np.float64), band.centre_px, 1)[0])
    rough = float(np.std(np.diff(band.centre_px[:: max(1, cols // 64)])))
    return slope, rough


def _select_bands(
    bands: list[Band],
    rows: int,
    *,
    min_thickness_fraction: float,
    expected_thickness_fraction: float = 0.33,
) -> tuple[Band, Band]:
    """Pick the (superficial, deep) pair of candidate bands (sorted by depth).

    Every pair at least ``min_thickness_fraction`` of the height apart is scored by a
    linear model of: both bands' evidence (strength x support, absolute and relative to
    the best band), the superficial band's depth and depth rank, the thickness and its
    deviation from ``expected_thickness_fraction``, the number and strongest evidence of
    bands in between, how parallel and how smooth the two are (:data:`_PAIR_FEATURES`, in
    this order). The weights were fitted on the DL_Track ``train`` split (never on ``val``)
    and are read from the versioned data file (:mod:`musclethick.edge_classifier`).
    """
    if len(bands) < 2:
        raise BoundaryNotFound("fewer than two bright bands (aponeuroses) found")
    evidence = [b.strength * float(b.support.mean()) for b in bands]
    top = max(max(evidence), 1e-6)
    shapes = [_band_shape(b) for b in bands]
    pairs = []
    feats = []
    for i, a in enumerate(bands):
        for j in range(i + 1, len(bands)):
            b = bands[j]
            t = (b.depth_px - a.depth_px) / rows
            if t < min_thickness_fraction:
                continue
            between = evidence[i + 1 : j]
            feats.append(
                [
                    evidence[i],
                    evidence[j],
                    evidence[i] / top,
                    evidence[j] / top,
                    a.depth_px / rows,
                    t,
                    abs(t - expected_thickness_fraction),
                    len(between),
                    max(between, default=0.0),
                    abs(shapes[i][0] - shapes[j][0]),
                    shapes[i][1],
                    shapes[j][1],
                    i,
                    float(a.support.mean()),
                    float(b.support.mean()),
                ]
            )
            pairs.append((a, b))
    if not pairs:
        raise BoundaryNotFound("no two bands far enough apart to hold a muscle")
    classifier = edge_classifier()
    if classifier.feature_names != _PAIR_FEATURES:
        raise ValueError(f"edge classifier v{classifier.version}: features do not match refine.py")
    score = classifier.score(np.array(feats))
    return pairs[int(np.argmax(score))]


def _edge_from_band(
    img: np.ndarray, band: Band, side: Side, half_px: float, degree: int
) -> Boundary:
    """Snap the inner edge of a band to the strongest signed gradient and fit a curve."""
    rows, cols = img.shape
    centre = band.centre_px
    xs_full = np.arange(cols)
    step = max(1, cols // 256)
    xs = xs_full[::step]
    sign = -1.0 if side == "superficial" else 1.0
    band_px = max(2.0, half_px)
    lo_px, hi_px = (0.0, 3.0 * band_px) if side == "superficial" else (3.0 * band_px, 0.0)
    pad = int(np.ceil(3.0 * band_px + 6))
    r_lo = max(0, int(np.floor(centre.min())) - pad)
    r_hi = min(rows, int(np.ceil(centre.max())) + pad + 1)
    strip = _smooth(img[r_lo:r_hi], 3.0, 1.0)
    grad = np.zeros_like(strip)
    grad[1:-1] = 0.5 * (strip[2:] - strip[:-2])
    y, strength, interior = _snap(grad, r_lo, xs, centre[xs], lo_px, hi_px, sign)
    use = interior & band.support[xs] & np.isfinite(y)
    if use.sum() < max(degree + 2, 8):
        raise BoundaryNotFound(f"{side} aponeurosis: too few edge points")
    fit = robust_polyfit(
        xs[use].astype(np.float64),
        y[use],
        degree=degree,
        weights=strength[use],
        inlier_px=max(2.0, 0.3 * band_px),
    )
    x_in = xs[use][fit.inliers]
    x0, x1 = float(x_in.min()), float(x_in.max())
    if x1 - x0 < 0.2 * cols:
        raise BoundaryNotFound(f"{side} aponeurosis spans too few columns")
    xb = np.arange(np.ceil(x0), np.floor(x1) + 1.0)
    gnoise = float(np.median(np.abs(grad))) + 1e-6
    conf = _confidence(
        strength, interior & band.support[xs], fit.inlier_fraction, fit.residual_px, gnoise
    )
    return Boundary(xb, fit(xb), "edges", conf)
