"""Aponeurosis masks <-> inner-edge boundaries (pure numpy).

Masks are ``(rows, cols)`` arrays, 0 for background and non-zero (usually 255) for
aponeurosis pixels, as in the DL_Track data set: each aponeurosis is a filled band
~10-20 px thick.

Edge convention
---------------
Pixel ``r`` covers rows ``[r - 0.5, r + 0.5)`` (pixel centres at integer rows). An inner
edge is the *boundary between pixels*, so

* the lower (muscle-side) edge of the superficial band is ``last_mask_row + 0.5``;
* the upper (muscle-side) edge of the deep band is ``first_mask_row - 0.5``.

The vertical thickness ``y_deep - y_superficial`` is then exactly the number of
non-band rows between the two bands. :mod:`musclethick.refine` locates intensity steps
with the same convention (a step between rows ``r`` and ``r + 1`` lies at ``r + 0.5``),
so errors measured against masks are not biased by half a pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .types import Boundary

__all__ = [
    "MaskLayers",
    "bands_from_boundaries",
    "boundaries_from_mask",
    "boundary_from_edges",
    "inner_edges_from_mask",
    "mask_layers",
    "reference_column",
]


@dataclass(frozen=True)
class _Band:
    present: np.ndarray  # (cols,) bool
    top: np.ndarray  # (cols,) float, NaN where absent
    bottom: np.ndarray  # (cols,) float, NaN where absent

    @property
    def span(self) -> int:
        return int(self.present.sum())

    @property
    def centre(self) -> float:
        return float(np.nanmedian(0.5 * (self.top + self.bottom)))


def _bands(mask: np.ndarray, min_area_px: int) -> list[_Band]:
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return []
    rows = mask.shape[0]
    row_index = np.arange(rows, dtype=np.float64)[:, None]
    bands = []
    objects = ndimage.find_objects(labels)
    for k, sl in enumerate(objects, start=1):
        if sl is None:
            continue
        sub = labels[:, sl[1]] == k
        if int(sub.sum()) < min_area_px:
            continue
        present_sub = sub.any(axis=0)
        top_sub = np.where(sub, row_index, np.inf).min(axis=0)
        bottom_sub = np.where(sub, row_index, -np.inf).max(axis=0)
        present = np.zeros(mask.shape[1], dtype=bool)
        top = np.full(mask.shape[1], np.nan)
        bottom = np.full(mask.shape[1], np.nan)
        present[sl[1]] = present_sub
        top[sl[1]] = np.where(present_sub, top_sub, np.nan)
        bottom[sl[1]] = np.where(present_sub, bottom_sub, np.nan)
        bands.append(_Band(present, top, bottom))
    return bands


def _gap_below(upper: _Band, lower: _Band) -> float:
    """Median number of rows between ``upper``'s bottom and ``lower``'s top (NaN: no overlap)."""
    shared = upper.present & lower.present
    if shared.sum() == 0:
        return float("nan")
    return float(np.median(lower.top[shared] - upper.bottom[shared] - 1.0))


def _is_below(upper: _Band, lower: _Band) -> bool:
    gap = _gap_below(upper, lower)
    if np.isnan(gap):
        return lower.centre > upper.centre
    return gap >= 0 or lower.centre > upper.centre


@dataclass(frozen=True)
class MaskLayers:
    """The target muscle's aponeurosis bands in a mask, per column (rows; NaN where absent).

    ``sup_top`` / ``sup_bottom`` are the first and last rows of the superficial band (a doubled
    fascia merged into it), ``deep_top`` / ``deep_bottom`` those of the deep band. ``below`` lists
    ``(top, bottom)`` row arrays of the further bands under the deep one, from the top (stacked
    muscles: the second muscle lies between the deep band and the first of them).
    """

    sup_top: np.ndarray
    sup_bottom: np.ndarray
    deep_top: np.ndarray
    deep_bottom: np.ndarray
    below: tuple[tuple[np.ndarray, np.ndarray], ...] = ()


def mask_layers(
    mask: np.ndarray,
    *,
    min_span_fraction: float = 0.25,
    min_area_px: int = 30,
    merge_gap_fraction: float = 0.03,
) -> MaskLayers:
    """The superficial and deep aponeurosis bands of the target (top) muscle in a band mask.

    Bands are the 8-connected components of ``mask != 0``. Specks smaller than
    ``min_area_px`` are ignored. The superficial band is the top-most band whose column
    span is at least ``min_span_fraction`` of the widest band's; a band lying directly
    under it (median gap < ``merge_gap_fraction`` of the image height, e.g. a doubled
    superficial fascia) is merged into it. The deep band is the nearest substantial band
    below that; with three or more bands (two stacked muscles) the top muscle is the target,
    as the DL_Track labelling instructions say.

    Parameters
    ----------
    mask : ndarray, shape (rows, cols)
        0 for background, non-zero for aponeurosis (0/255 or bool).
    min_span_fraction : float, optional
        A band must span this fraction of the widest band's columns to count.
    min_area_px : int, optional
        Components with fewer pixels are specks and ignored.
    merge_gap_fraction : float, optional
        Bands closer than this fraction of ``rows`` below the superficial band are
        merged into it.

    Returns
    -------
    MaskLayers
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (rows, cols), got shape {mask.shape}")
    rows, cols = mask.shape
    nan = np.full(cols, np.nan)
    bands = _bands(mask != 0, min_area_px)
    if not bands:
        return MaskLayers(nan, nan.copy(), nan.copy(), nan.copy())
    widest = max(b.span for b in bands)
    substantial = [b for b in bands if b.span >= min_span_fraction * widest]
    substantial.sort(key=lambda b: b.centre)
    # Top-most: no other substantial band lies above it (compared on shared columns).
    sup = None
    for cand in substantial:
        if not any(_is_below(other, cand) for other in substantial if other is not cand):
            sup = cand
            break
    if sup is None:  # cyclic comparisons on odd masks: fall back to the centre order
        sup = substantial[0]
    rest = [b for b in substantial if b is not sup]
    # Merge bands lying just under the superficial one (doubled superficial fascia).
    merge_gap_px = merge_gap_fraction * rows
    sup_top = sup.top.copy()
    sup_bottom = sup.bottom.copy()
    sup_present = sup.present.copy()
    merged = True
    while merged:
        merged = False
        current = _Band(sup_present, np.where(sup_present, 0.0, np.nan), sup_bottom)
        for cand in rest:
            gap = _gap_below(current, cand)
            shared = int((current.present & cand.present).sum())
            if (
                not np.isnan(gap)
                and 0 <= gap < merge_gap_px
                and shared >= 0.5 * min(current.span, cand.span)
            ):
                sup_bottom = np.fmax(sup_bottom, cand.bottom)
                sup_top = np.fmin(sup_top, cand.top)
                sup_present = sup_present | cand.present
                rest = [b for b in rest if b is not cand]
                merged = True
                break
    current = _Band(sup_present, np.where(sup_present, 0.0, np.nan), sup_bottom)
    below = [b for b in rest if _is_below(current, b)]
    deep_top = nan.copy()
    deep_bottom = nan.copy()
    further: list[tuple[np.ndarray, np.ndarray]] = []
    if below:

        def key(b: _Band) -> float:
            gap = _gap_below(current, b)
            return b.centre if np.isnan(gap) else gap + float(np.nanmedian(sup_bottom))

        below.sort(key=key)
        deep = below[0]
        deep_top = np.where(deep.present, deep.top, np.nan)
        deep_bottom = np.where(deep.present, deep.bottom, np.nan)
        further = [(b.top, b.bottom) for b in below[1:] if _is_below(deep, b)]
    return MaskLayers(
        np.where(sup_present, sup_top, np.nan),
        np.where(sup_present, sup_bottom, np.nan),
        deep_top,
        deep_bottom,
        tuple(further),
    )


def inner_edges_from_mask(
    mask: np.ndarray,
    *,
    min_span_fraction: float = 0.25,
    min_area_px: int = 30,
    merge_gap_fraction: float = 0.03,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-column inner edges of the superficial and deep aponeurosis bands of a mask.

    The bands are those of :func:`mask_layers` (same parameters): the top muscle's
    superficial band (a doubled fascia merged into it) and the nearest substantial band below.

    Returns
    -------
    superficial_y_px, deep_y_px : ndarray of float, shape (cols,)
        Row of the superficial band's lower edge (``last_row + 0.5``) and of the deep
        band's upper edge (``first_row - 0.5``) in each column; NaN where the band is
        absent in that column (or absent altogether).
    """
    layers = mask_layers(
        mask,
        min_span_fraction=min_span_fraction,
        min_area_px=min_area_px,
        merge_gap_fraction=merge_gap_fraction,
    )
    return layers.sup_bottom + 0.5, layers.deep_top - 0.5


def reference_column(superficial_y_px: np.ndarray, deep_y_px: np.ndarray) -> int | None:
    """The column where a mask's thickness is read (and a sonographer puts the calipers): the
    middle one of the columns where both inner edges exist (:func:`inner_edges_from_mask`);
    ``None`` where no column has both."""
    both = np.flatnonzero(np.isfinite(superficial_y_px) & np.isfinite(deep_y_px))
    return int(both[both.size // 2]) if both.size else None


def boundary_from_edges(
    y_px: np.ndarray,
    *,
    source: str = "manual",
    confidence: float = 1.0,
    min_points: int = 2,
) -> Boundary | None:
    """Boundary through the finite entries of a per-column edge array.

    Parameters
    ----------
    y_px : ndarray of float, shape (cols,)
        Edge row per column (NaN where absent); column ``i`` is at ``x_px = i``.
    source : str, optional
        Source recorded in the boundary.
    confidence : float, optional
        Confidence recorded in the boundary.
    min_points : int, optional
        Fewer finite columns than this give ``None``.

    Returns
    -------
    Boundary or None
    """
    y = np.asarray(y_px, dtype=np.float64).reshape(-1)
    ok = np.isfinite(y)
    if int(ok.sum()) < max(2, min_points):
        return None
    x = np.flatnonzero(ok).astype(np.float64)
    return Boundary(x, y[ok], source, confidence)


def boundaries_from_mask(
    mask: np.ndarray, *, source: str = "manual", **kwargs: float
) -> tuple[Boundary | None, Boundary | None]:
    """Superficial and deep inner-edge boundaries of a band mask.

    Thin wrapper over :func:`inner_edges_from_mask` (``kwargs`` are passed to it) and
    :func:`boundary_from_edges`; a missing band gives ``None``.
    """
    sup_y, deep_y = inner_edges_from_mask(mask, **kwargs)
    return (
        boundary_from_edges(sup_y, source=source),
        boundary_from_edges(deep_y, source=source),
    )


def bands_from_boundaries(
    superficial: Boundary | None,
    deep: Boundary | None,
    shape: tuple[int, int],
    *,
    band_px: int = 12,
) -> np.ndarray:
    """Band mask (0/255) whose inner edges are the given boundaries.

    The inverse of :func:`inner_edges_from_mask`: in each column within a boundary's
    ``[x_min, x_max]`` range, the ``band_px`` rows just above the superficial edge and the
    ``band_px`` rows just below the deep edge are set to 255. Rows follow the module's edge
    convention: row ``r`` is in the superficial band when ``r + 0.5 <= y`` (rounded to the
    nearest pixel boundary), in the deep band when ``r - 0.5 >= y``.

    Parameters
    ----------
    superficial, deep : Boundary or None
        Inner edges in frame coordinates; ``None`` draws no band.
    shape : tuple of int
        ``(rows, cols)`` of the mask.
    band_px : int, optional
        Band thickness in pixels.

    Returns
    -------
    ndarray of uint8, shape (rows, cols)
    """
    rows, cols = int(shape[0]), int(shape[1])
    if band_px < 1:
        raise ValueError(f"band_px must be >= 1, got {band_px}")
    out = np.zeros((rows, cols), dtype=np.uint8)
    x = np.arange(cols, dtype=np.float64)
    r = np.arange(rows)[:, None]
    if superficial is not None:
        y = superficial.y_at(x)
        ok = np.isfinite(y)
        last = np.where(ok, np.floor(np.where(ok, y, 0.0) - 0.5 + 0.5), -(10**9))  # round(y-0.5)
        sel = (r <= last[None, :]) & (r > last[None, :] - band_px) & ok[None, :]
        out[sel] = 255
    if deep is not None:
        y = deep.y_at(x)
        ok = np.isfinite(y)
        first = np.where(ok, np.floor(np.where(ok, y, 0.0) + 0.5 + 0.5), 10**9)  # round(y+0.5)
        sel = (r >= first[None, :]) & (r < first[None, :] + band_px) & ok[None, :]
        out[sel] = 255
    return out
