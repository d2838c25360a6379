"""Probability map -> superficial and deep inner-edge boundaries (pure numpy).

The network outputs, for every pixel of the frame, the probability that it belongs to an
aponeurosis band. This module turns that map into the two muscle-side inner edges:

1. threshold the map and label its connected pieces (:func:`find_bands`); each piece gives, in
   every column it covers, a sub-pixel upper and lower edge (where the probability crosses the
   threshold) and its mean probability;
2. chain pieces that continue one another (side by side, on the same line) into bands, so that a
   band broken into fragments counts as one; short isolated pieces (blobs, bright fascicles,
   display artefacts) are dropped by a minimum width;
3. assign by geometry (:func:`assign_bands`): a thin line touching the top of the frame (skin /
   probe contact) is ignored when at least two bands lie below it; the superficial band is the
   top-most band spanning enough of the field of view, a band lying just under it (a doubled
   fascia) is merged into it, and the deep band is the next band below;
4. fit one robust smooth curve (RANSAC + biweight, :func:`musclethick.geometry.fit_boundary`)
   through each inner edge (lower edge of the superficial band, upper edge of the deep band), so
   that a boundary never jumps between columns and outlying columns cannot bend it.

Weak or contradictory maps give ``None`` for the boundary concerned, with a note saying why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from musclethick.geometry import fast_median, robust_polyfit
from musclethick.types import Boundary

__all__ = [
    "Band",
    "PostprocessOptions",
    "assign_bands",
    "boundaries_from_channels",
    "boundaries_from_probability",
    "find_bands",
]


@dataclass(frozen=True)
class PostprocessOptions:
    """Options of :func:`boundaries_from_probability`.

    Attributes
    ----------
    threshold : float
        Probability above which a pixel is in a band; edges lie where the map crosses it.
    min_piece_fraction : float
        Pieces narrower than this fraction of the frame width are ignored.
    min_band_fraction : float
        A (chained) band must cover this fraction of the frame width to count.
    min_superficial_fraction : float
        The superficial band must cover this fraction of the width.
    chain_tolerance_fraction : float
        Pieces are chained into one band when their centre lines agree within this fraction of
        the frame height (at least ``chain_tolerance_px``).
    chain_tolerance_px : float
        Minimum chaining tolerance in px.
    merge_gap_fraction : float
        A band lying less than this fraction of the height below the superficial band is merged
        into it (doubled superficial fascia).
    skin_fraction : float
        A band whose upper edge lies within this fraction of the height from the top, with at
        least two bands below it, is the skin line and ignored.
    skin_near_fraction, skin_gap_fraction : float
        A thin band whose upper edge lies within ``skin_near_fraction`` of the height from the
        top, with at least two bands below it and the next band less than ``skin_gap_fraction``
        of the height below it, is also the skin (probe contact) line: on scanners whose
        crop keeps a few rows above the skin, the superficial aponeurosis lies just under it.
    deep_mass_ratio : float
        The deep band is the nearest band below the superficial one whose mean probability x
        covered width is at least this fraction of the largest such value below it. 0.2 (only
        faint fragments are passed over) was chosen on the leave-one-format-out runs and the
        train split: on formats absent from training, preferring a stronger band further down
        picked a deeper structure instead of the deep aponeurosis (660x556 held out: thickness
        MAE 11.6 px at 0.8 vs 6.7 px at 0.2).
    degree : int
        Degree of the polynomial fitted through each inner edge.
    inlier_px : float
        Minimum inlier half-width of the robust fit, px.
    min_inlier_fraction : float
        A fit explaining less of its points than this is contradictory: the boundary is ``None``.
    min_confidence : float
        Boundaries with a lower confidence are returned as ``None``.
    extrapolate : bool
        Extend each boundary to the full frame width along the tangent of its fit when the band
        covers at least ``extrapolate_min_fraction`` of the width.
    extrapolate_min_fraction : float
        See ``extrapolate``. 0.35 (was 0.5) was chosen on the leave-one-format-out runs and the
        train split: on formats absent from training it halves the frames without a value at
        the middle column (39 -> 19 of 445) at the same train figures; such short bands have a
        low confidence (coverage term) and are flagged.
    """

    threshold: float = 0.5
    min_piece_fraction: float = 0.04
    min_band_fraction: float = 0.25
    min_superficial_fraction: float = 0.3
    chain_tolerance_fraction: float = 0.04
    chain_tolerance_px: float = 6.0
    merge_gap_fraction: float = 0.03
    skin_fraction: float = 0.02
    skin_near_fraction: float = 0.06
    skin_gap_fraction: float = 0.15
    deep_mass_ratio: float = 0.2
    degree: int = 2
    inlier_px: float = 2.0
    min_inlier_fraction: float = 0.6
    min_confidence: float = 0.15
    extrapolate: bool = True
    extrapolate_min_fraction: float = 0.35


@dataclass(frozen=True, eq=False)
class Band:
    """One aponeurosis band found in a probability map.

    Attributes
    ----------
    x_px : ndarray of int, shape (n,)
        Columns covered, increasing.
    top_px, bottom_px : ndarray of float, shape (n,)
        Sub-pixel upper and lower edges in those columns (threshold crossings; a sharp edge
        between rows ``r`` and ``r + 1`` lies at ``r + 0.5``).
    mean_probability : float
        Mean probability of the band's pixels.
    width : int
        Frame width in px (for :attr:`coverage`).
    """

    x_px: np.ndarray
    top_px: np.ndarray
    bottom_px: np.ndarray
    mean_probability: float
    width: int
    pieces: int = 1
    _extra: dict = field(default_factory=dict, repr=False)

    @property
    def coverage(self) -> float:
        """Fraction of the frame width covered."""
        return float(self.x_px.size) / float(max(self.width, 1))

    @property
    def centre_px(self) -> np.ndarray:
        return 0.5 * (self.top_px + self.bottom_px)

    @property
    def median_centre_px(self) -> float:
        return fast_median(self.centre_px)


def _crossings(prob: np.ndarray, comp: np.ndarray, threshold: float):
    """Per-column first/last rows of ``comp`` and their sub-pixel threshold crossings."""
    rows, _cols = comp.shape
    present = comp.any(axis=0)
    xs = np.flatnonzero(present)
    sub = comp[:, xs]
    first = np.argmax(sub, axis=0)
    last = rows - 1 - np.argmax(sub[::-1], axis=0)
    p = prob[:, xs]
    ar = np.arange(xs.size)

    def cross(inside_row: np.ndarray, outside_row: np.ndarray, direction: float) -> np.ndarray:
        ok = (outside_row >= 0) & (outside_row < rows)
        o = np.clip(outside_row, 0, rows - 1)
        p_in = p[inside_row, ar]
        p_out = np.where(ok, p[o, ar], 0.0)
        denom = np.maximum(p_in - p_out, 1e-6)
        frac = np.clip((p_in - threshold) / denom, 0.0, 1.0)
        # the crossing lies between the inside and outside pixel centres
        return inside_row + direction * frac

    top = cross(first, first - 1, -1.0)
    bottom = cross(last, last + 1, +1.0)
    return xs, top, bottom


def find_bands(
    prob: np.ndarray,
    *,
    options: PostprocessOptions | None = None,
    map_px_per_frame_px: float = 1.0,
) -> list[Band]:
    """Bands of a probability map: thresholded pieces, fragments chained, blobs dropped.

    Parameters
    ----------
    prob : ndarray of float, shape (rows, cols)
        Probability of "aponeurosis band" per pixel, in [0, 1].
    options : PostprocessOptions, optional
    map_px_per_frame_px : float, optional
        Rows of the map per row of the frame it describes (the px tolerances of ``options`` are
        frame px).

    Returns
    -------
    list of Band
        In map coordinates, sorted from the top (by median centre row); only bands covering at least
        ``min_band_fraction`` of the width.
    """
    opts = options or PostprocessOptions()
    p = np.asarray(prob, dtype=np.float32)
    if p.ndim != 2:
        raise ValueError(f"probability map must be 2-D (rows, cols), got shape {p.shape}")
    rows, cols = p.shape
    binary = p > opts.threshold
    n, labels, stats, _ = cv2.connectedComponentsWithStats(
        binary.view(np.uint8), connectivity=8, ltype=cv2.CV_32S
    )
    if n <= 1:
        return []
    # visit the pieces in raster order of their first pixel (stable ties when sorting below)
    flat = labels.ravel()
    first_pixel = np.full(n, flat.size, dtype=np.int64)
    found, where = np.unique(flat, return_index=True)
    first_pixel[found] = where
    pieces = []
    min_cols = max(2, round(opts.min_piece_fraction * cols))
    for k in sorted(range(1, n), key=lambda j: first_pixel[j]):
        x0, y0, w, h = (int(v) for v in stats[k, :4])
        if w < min_cols:
            continue
        sl = (slice(y0, y0 + h), slice(x0, x0 + w))
        comp = np.zeros_like(binary)
        comp[sl] = labels[sl] == k
        xs, top, bottom = _crossings(p, comp, opts.threshold)
        if xs.size < min_cols:
            continue
        mean_p = float(p[comp].mean())
        pieces.append(
            {"x": xs, "top": top, "bottom": bottom, "mass": mean_p * xs.size, "p": mean_p}
        )
    # chain pieces into bands, widest first
    pieces.sort(key=lambda q: -q["x"].size)
    tol = max(opts.chain_tolerance_px * map_px_per_frame_px, opts.chain_tolerance_fraction * rows)
    chains: list[list[dict]] = []
    for piece in pieces:
        joined = False
        for chain in chains:
            xs = np.concatenate([q["x"] for q in chain])
            cs = np.concatenate([0.5 * (q["top"] + q["bottom"]) for q in chain])
            overlap = np.intersect1d(xs, piece["x"]).size
            if overlap > 0.2 * min(xs.size, piece["x"].size):
                continue
            deg = 1 if xs.size >= 4 else 0
            coef = np.polyfit(xs.astype(np.float64), cs, deg)
            pred = np.polyval(coef, piece["x"].astype(np.float64))
            if fast_median(np.abs(pred - 0.5 * (piece["top"] + piece["bottom"]))) <= tol:
                chain.append(piece)
                joined = True
                break
        if not joined:
            chains.append([piece])
    bands = []
    for chain in chains:
        x = np.concatenate([q["x"] for q in chain])
        top = np.concatenate([q["top"] for q in chain])
        bottom = np.concatenate([q["bottom"] for q in chain])
        # one value per column (overlapping pieces: keep the upper top and the lower bottom)
        order = np.argsort(x, kind="stable")
        x, top, bottom = x[order], top[order], bottom[order]
        ux, start = np.unique(x, return_index=True)
        top = np.minimum.reduceat(top, start)
        bottom = np.maximum.reduceat(bottom, start)
        mean_p = sum(q["mass"] for q in chain) / sum(q["x"].size for q in chain)
        band = Band(ux, top, bottom, float(mean_p), cols, len(chain))
        if band.coverage >= opts.min_band_fraction:
            bands.append(band)
    bands.sort(key=lambda b: b.median_centre_px)
    return bands


def _below(upper: Band, lower: Band) -> float:
    """Median gap (px) from ``upper``'s lower edge to ``lower``'s upper edge on shared columns;
    falls back to the centre difference when they share no column."""
    shared, iu, il = np.intersect1d(upper.x_px, lower.x_px, return_indices=True)
    if shared.size == 0:
        return lower.median_centre_px - upper.median_centre_px
    return fast_median(lower.top_px[il] - upper.bottom_px[iu])


def assign_bands(
    bands: list[Band], shape: tuple[int, int], *, options: PostprocessOptions | None = None
) -> tuple[Band | None, Band | None, str]:
    """Pick the superficial and deep bands among ``bands`` (sorted from the top).

    Returns
    -------
    superficial, deep : Band or None
        The deep band's ``top_px`` is its inner edge; the superficial band's ``bottom_px`` is its
        inner edge (a merged doubled fascia contributes its lower edge).
    note : str
        Why a band is missing, or which bands were skipped; empty when nothing is to say.
    """
    opts = options or PostprocessOptions()
    rows = shape[0]
    notes = []
    bands = list(bands)
    if len(bands) >= 3:
        first = bands[0]
        thin = np.median(first.bottom_px - first.top_px) < 0.04 * rows
        top = np.median(first.top_px)
        near = top <= opts.skin_near_fraction * rows and (
            _below(first, bands[1]) < opts.skin_gap_fraction * rows
        )
        if thin and (top <= opts.skin_fraction * rows or near):
            bands = bands[1:]
            notes.append("skin line ignored")
    sup_idx = next(
        (i for i, b in enumerate(bands) if b.coverage >= opts.min_superficial_fraction), None
    )
    if sup_idx is None:
        return None, None, "; ".join([*notes, "no band spans the field of view"])
    sup = bands[sup_idx]
    rest = [b for b in bands[sup_idx + 1 :]]
    # doubled superficial fascia: merge a band lying just under it
    while rest:
        cand = rest[0]
        gap = _below(sup, cand)
        shared = np.intersect1d(sup.x_px, cand.x_px).size
        if 0 <= gap < opts.merge_gap_fraction * rows and shared >= 0.5 * min(
            sup.x_px.size, cand.x_px.size
        ):
            x = np.union1d(sup.x_px, cand.x_px)
            bottom = np.fmax(
                np.interp(x, sup.x_px, sup.bottom_px, left=np.nan, right=np.nan),
                np.interp(x, cand.x_px, cand.bottom_px, left=np.nan, right=np.nan),
            )
            top = np.fmin(
                np.interp(x, sup.x_px, sup.top_px, left=np.nan, right=np.nan),
                np.interp(x, cand.x_px, cand.top_px, left=np.nan, right=np.nan),
            )
            ok = np.isfinite(bottom) & np.isfinite(top)
            sup = Band(
                x[ok],
                top[ok],
                bottom[ok],
                0.5 * (sup.mean_probability + cand.mean_probability),
                sup.width,
                sup.pieces + cand.pieces,
            )
            rest = rest[1:]
            notes.append("doubled superficial fascia merged")
        else:
            break
    below = [b for b in rest if _below(sup, b) > 0]
    if not below:
        return sup, None, "; ".join([*notes, "no band below the superficial one"])
    # the nearest band below, unless it is much weaker (mean probability x covered width) than
    # another band below: a faint partial fragment inside the muscle must not win over the
    # deep aponeurosis
    mass = [b.mean_probability * b.coverage for b in below]
    strong = [b for b, m in zip(below, mass, strict=True) if m >= opts.deep_mass_ratio * max(mass)]
    deep = min(strong, key=lambda b: _below(sup, b))
    return sup, deep, "; ".join(notes)


def _fit(
    band: Band,
    edge: np.ndarray,
    cols: int,
    opts: PostprocessOptions,
) -> tuple[Boundary | None, str]:
    x = band.x_px.astype(np.float64)
    if x.size < opts.degree + 3:
        return None, "too few columns"
    fit = robust_polyfit(x, edge, degree=opts.degree, inlier_px=opts.inlier_px)
    if fit.inlier_fraction < opts.min_inlier_fraction:
        return None, f"edge points disagree (inliers {fit.inlier_fraction:.2f})"
    xin = x[fit.inliers]
    x0, x1 = float(xin.min()), float(xin.max())
    coverage = band.coverage * float(xin.size) / float(x.size)
    if opts.extrapolate and coverage >= opts.extrapolate_min_fraction:
        xs = np.arange(0.0, float(cols))
    else:
        xs = np.arange(np.ceil(x0), np.floor(x1) + 1.0)
    ys = fit(np.clip(xs, x0, x1))
    # tangent extension beyond the fitted range (no polynomial run-away)
    left = xs < x0
    right = xs > x1
    ys[left] = fit(x0) + fit.slope(x0) * (xs[left] - x0)
    ys[right] = fit(x1) + fit.slope(x1) * (xs[right] - x1)
    coverage_term = min(1.0, coverage / 0.8)
    conf = float(np.clip(band.mean_probability * coverage_term * fit.inlier_fraction, 0, 1))
    if conf < opts.min_confidence or xs.size < 2:
        return None, f"low confidence ({conf:.2f})"
    return Boundary(xs, ys, "model", conf), ""


def _to_frame(band: Band, sy: float, sx: float) -> Band:
    """Band in frame coordinates (pixel centres aligned as in bilinear resizing)."""
    if sy == 1.0 and sx == 1.0:
        return band
    return Band(
        (band.x_px + 0.5) * sx - 0.5,
        (band.top_px + 0.5) * sy - 0.5,
        (band.bottom_px + 0.5) * sy - 0.5,
        band.mean_probability,
        band.width,
        band.pieces,
    )


def _scales(shape: tuple[int, int], frame_shape: tuple[int, int] | None):
    if frame_shape is None:
        return (int(shape[0]), int(shape[1])), 1.0, 1.0
    frame = (int(frame_shape[0]), int(frame_shape[1]))
    return frame, frame[0] / shape[0], frame[1] / shape[1]


def boundaries_from_probability(
    prob: np.ndarray,
    *,
    frame_shape: tuple[int, int] | None = None,
    options: PostprocessOptions | None = None,
) -> tuple[Boundary | None, Boundary | None, str]:
    """Superficial and deep inner edges from an aponeurosis-band probability map.

    Parameters
    ----------
    prob : ndarray of float, shape (rows, cols)
        Band probability per pixel, in [0, 1], of the frame or of a resized copy of it (e.g. the
        network's output resolution: post-processing is then cheaper).
    frame_shape : (rows, cols), optional
        Size of the frame when ``prob`` was resized; the boundaries are returned in frame
        coordinates (centre-aligned scaling, as bilinear resizing). Default: ``prob.shape``.
    options : PostprocessOptions, optional

    Returns
    -------
    superficial, deep : Boundary or None
        Inner edges (lower edge of the superficial band, upper edge of the deep band) in frame
        coordinates, source ``"model"``; confidence = mean band probability x covered width
        (saturating at 80 %) x inlier fraction of the fit. ``None`` when the map gives no
        trustworthy boundary.
    note : str
        Why a boundary is missing (empty when both were found).
    """
    opts = options or PostprocessOptions()
    p = np.asarray(prob, dtype=np.float32)
    if p.ndim != 2:
        raise ValueError(f"probability map must be 2-D (rows, cols), got shape {p.shape}")
    (rows, cols), sy, sx = _scales(p.shape, frame_shape)
    bands = [_to_frame(b, sy, sx) for b in find_bands(p, options=opts, map_px_per_frame_px=1 / sy)]
    if not bands:
        return None, None, "no aponeurosis band in the probability map"
    sup_band, deep_band, note = assign_bands(bands, (rows, cols), options=opts)
    notes = [note] if note else []
    sup = deep = None
    if sup_band is not None:
        sup, why = _fit(sup_band, sup_band.bottom_px, cols, opts)
        if why:
            notes.append(f"superficial: {why}")
    if deep_band is not None:
        deep, why = _fit(deep_band, deep_band.top_px, cols, opts)
        if why:
            notes.append(f"deep: {why}")
    if _crosses(sup, deep):
        deep = None
        notes.append("deep: crosses the superficial boundary")
    return sup, deep, "; ".join(notes)


def _crosses(sup: Boundary | None, deep: Boundary | None) -> bool:
    """True when both exist and the deep boundary is not >= 1 px below the superficial one
    over their shared columns (or they share none)."""
    if sup is None or deep is None:
        return False
    lo, hi = max(sup.x_min, deep.x_min), min(sup.x_max, deep.x_max)
    xs = np.linspace(lo, hi, 64) if hi > lo else np.array([])
    return bool(xs.size == 0 or np.any(deep.y_at(xs) - sup.y_at(xs) < 1.0))


def boundaries_from_channels(
    prob: np.ndarray,
    *,
    frame_shape: tuple[int, int] | None = None,
    options: PostprocessOptions | None = None,
) -> tuple[Boundary | None, Boundary | None, str]:
    """Inner edges from a two-channel map (superficial band, deep band) of a two-class model.

    In each channel the band with the largest mean probability x covered width is taken; the
    rest (fitting, confidence, crossing check) is as in :func:`boundaries_from_probability`.
    """
    opts = options or PostprocessOptions()
    p = np.asarray(prob, dtype=np.float32)
    if p.ndim != 3 or p.shape[0] != 2:
        raise ValueError(f"expected a (2, rows, cols) map, got shape {p.shape}")
    (_, cols), sy, sx = _scales(p.shape[1:], frame_shape)
    out: list[Boundary | None] = []
    notes = []
    for channel, side in ((0, "superficial"), (1, "deep")):
        bands = [
            _to_frame(b, sy, sx)
            for b in find_bands(p[channel], options=opts, map_px_per_frame_px=1 / sy)
        ]
        if not bands:
            out.append(None)
            notes.append(f"{side}: no band")
            continue
        band = max(bands, key=lambda b: b.mean_probability * b.coverage)
        edge = band.bottom_px if side == "superficial" else band.top_px
        b, why = _fit(band, edge, cols, opts)
        out.append(b)
        if why:
            notes.append(f"{side}: {why}")
    sup, deep = out
    if _crosses(sup, deep):
        deep = None
        notes.append("deep: crosses the superficial boundary")
    return sup, deep, "; ".join(notes)
