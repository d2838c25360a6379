"""Other layer pairs for a frame a person will review: the image's bands, ranked by the layer map.

The decoding's runner-up (:mod:`musclethick.segment.postprocess`) is another reading of the
layer map, and exists only when the map itself holds a second muscle nearly as plausible. On a
scanner the model never saw, the map is often wrong without holding the right pair at all: on
the leave-one-format-out runs, 155 frames were flagged or failed *and* off by more than 10 %,
and for 6 of them the runner-up was right (model card, "Other layer pairs").

The image holds the right pair more often than the map does: its bright bands (the classical
path's band search, :func:`musclethick.refine.band_edge_sets`) are where aponeuroses can be.
Every pair of band edges (a superficial inner edge above a deep one, covering at least half the
width) is scored by the layer map as the decoding scores a belly: the log-likelihood of each
network column read as "above / belly / below" with the belly between the two edges, averaged
over the columns. The best pairs that are not the measured one, and not the same as one
another, are returned best first.

Pure numpy (and the band search's OpenCV); ~30 ms per frame, so it runs only for frames whose
result is not ``ok`` (:func:`musclethick.pipeline`), where a person looks anyway.
"""

from __future__ import annotations

import numpy as np

from musclethick.refine import band_edge_sets
from musclethick.types import Boundary, LayerPair

__all__ = ["band_pairs"]

_EPS = 1e-4


def _rows_at(boundary: Boundary, x: np.ndarray) -> np.ndarray:
    """Rows of ``boundary`` at columns ``x`` (NaN outside its columns)."""
    return np.interp(x, boundary.x_px, boundary.y_px, left=np.nan, right=np.nan)


def _same(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], tol: float) -> bool:
    """Whether two pairs of rows (sampled at the same columns) are the same pair: both edges
    within ``tol`` rows (median over the columns where both exist)."""
    for u, v in zip(a, b, strict=True):
        both = np.isfinite(u) & np.isfinite(v)
        if not both.any() or float(np.median(np.abs(u[both] - v[both]))) > tol:
            return False
    return True


def band_pairs(
    pixels: np.ndarray,
    prob: np.ndarray,
    *,
    measured: tuple[Boundary, Boundary] | None = None,
    k: int = 1,
    min_cover: float = 0.5,
    min_thickness_fraction: float = 0.05,
    same_fraction: float = 0.02,
) -> tuple[LayerPair, ...]:
    """The ``k`` most plausible layer pairs made of the image's band edges, best first.

    Parameters
    ----------
    pixels : ndarray, shape (rows, cols)
        Grey frame (the imaging region).
    prob : ndarray, shape (6, R, C)
        The layer map at the network's resolution (above, superficial, belly, deep, below,
        muscle), covering the frame.
    measured : (Boundary, Boundary), optional
        The pair measured: left out, as is any pair the same as it.
    k : int
        How many pairs at most.
    min_cover : float
        A pair must span this share of the width (both edges present).
    min_thickness_fraction : float
        The deep edge lies at least this share of the frame's rows below the superficial one in
        every column of the pair.
    same_fraction : float
        Two pairs whose edges both lie within this share of the rows of each other (median)
        are the same pair.

    Returns
    -------
    tuple of LayerPair
        Sources ``"runner_up"``; ``margin_nats``: how much less likely than the measured pair
        the map finds it, per column (NaN without a measured pair).
    """
    rows, cols = pixels.shape[:2]
    n_rows, n_cols = prob.shape[1:]
    # network columns in frame coordinates, and cumulative log-likelihoods down each column
    xs = (np.arange(n_cols) + 0.5) * cols / n_cols - 0.5
    groups = (prob[0] + prob[1], prob[2], prob[3] + prob[4])
    cum = [
        np.vstack([np.zeros(n_cols), np.cumsum(np.log(g.astype(np.float64) + _EPS), axis=0)])
        for g in groups
    ]

    def scores(sup: np.ndarray, deep: np.ndarray) -> np.ndarray:
        """Per network column, the log-likelihood of the belly between ``sup`` and ``deep``
        (frame rows; NaN where either is missing)."""
        out = np.full(n_cols, np.nan)
        ok = np.isfinite(sup) & np.isfinite(deep)
        if not ok.any():
            return out
        j = np.nonzero(ok)[0]
        # the belly starts on the first network row below the superficial edge
        b = np.clip(np.floor((sup[ok] + 0.5) * n_rows / rows).astype(int), 0, n_rows)
        d = np.clip(np.floor((deep[ok] + 0.5) * n_rows / rows).astype(int), 0, n_rows)
        d = np.maximum(d, b)
        above, belly, below = cum
        out[j] = above[b, j] + (belly[d, j] - belly[b, j]) + (below[n_rows, j] - below[d, j])
        return out

    edges = band_edge_sets(pixels)
    sups = [(e, _rows_at(e, xs)) for e in edges["superficial"]]
    deeps = [(e, _rows_at(e, xs)) for e in edges["deep"]]
    tol = same_fraction * rows
    reference = None
    if measured is not None:
        reference = (_rows_at(measured[0], xs), _rows_at(measured[1], xs))
        measured_scores = scores(*reference)
    candidates: list[tuple[float, tuple[np.ndarray, np.ndarray], LayerPair]] = []
    for s_edge, s in sups:
        for d_edge, d in deeps:
            both = np.isfinite(s) & np.isfinite(d)
            if both.mean() < min_cover:
                continue
            if np.any(d[both] - s[both] < min_thickness_fraction * rows):
                continue
            if reference is not None and _same((s, d), reference, tol):
                continue
            col_scores = scores(s, d)
            score = float(np.nanmean(col_scores))
            margin = float("nan")
            if reference is not None:
                common = np.isfinite(col_scores) & np.isfinite(measured_scores)
                if common.any():
                    margin = float(np.median(measured_scores[common] - col_scores[common]))
            pair = LayerPair(
                s_edge.with_source("runner_up"), d_edge.with_source("runner_up"), margin
            )
            candidates.append((score, (s, d), pair))
    candidates.sort(key=lambda c: -c[0])
    chosen: list[tuple[tuple[np.ndarray, np.ndarray], LayerPair]] = []
    for _, rows_of, pair in candidates:
        if len(chosen) == k:
            break
        if any(_same(rows_of, other, tol) for other, _ in chosen):
            continue
        chosen.append((rows_of, pair))
    return tuple(pair for _, pair in chosen)
