"""Accuracy of boundaries against hand-drawn masks (pure numpy) and over a labelled data set.

:func:`compare_to_mask` compares one frame's superficial/deep boundaries with the inner edges of
its mask (:func:`musclethick.masks.inner_edges_from_mask`); :func:`summarise` turns a list of such
comparisons into the figures the model card and ``bench/bench_model.py`` report; :func:`icc_2_1`
is the two-way random, absolute-agreement, single-measure intraclass correlation.
:func:`evaluate_model` runs a model over labelled captures (crop to the imaging region, model,
refinement) and compares.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musclethick.masks import inner_edges_from_mask
from musclethick.types import Boundary

__all__ = ["FrameAccuracy", "compare_to_mask", "evaluate_model", "icc_2_1", "summarise"]


@dataclass(frozen=True)
class FrameAccuracy:
    """Errors of one frame (px, frame coordinates); NaN where not measurable.

    ``thickness_*`` are at the middle column of the columns where the mask has both edges.
    """

    name: str
    found: bool
    thickness_true_px: float
    thickness_pred_px: float
    superficial_mae_px: float
    deep_mae_px: float
    superficial_source: str = ""
    deep_source: str = ""

    @property
    def thickness_error_px(self) -> float:
        return self.thickness_pred_px - self.thickness_true_px


def compare_to_mask(
    name: str, superficial: Boundary | None, deep: Boundary | None, mask: np.ndarray
) -> FrameAccuracy:
    """Compare boundaries with the inner edges of a band mask of the same frame.

    Boundary MAE is the mean absolute row difference over the mask's columns where the boundary
    exists; the thickness is taken at the middle of the columns where the mask has both edges.
    """
    sup_true, deep_true = inner_edges_from_mask(mask)
    cols = np.arange(mask.shape[1], dtype=np.float64)
    both = np.flatnonzero(np.isfinite(sup_true) & np.isfinite(deep_true))
    nan = float("nan")
    if both.size == 0:
        return FrameAccuracy(name, False, nan, nan, nan, nan)
    mid = int(both[both.size // 2])
    t_true = float(deep_true[mid] - sup_true[mid])

    def mae(b: Boundary | None, truth: np.ndarray) -> float:
        if b is None:
            return nan
        y = b.y_at(cols)
        ok = np.isfinite(y) & np.isfinite(truth)
        return float(np.mean(np.abs(y[ok] - truth[ok]))) if ok.any() else nan

    found = superficial is not None and deep is not None
    t_pred = nan
    if found:
        t_pred = float(deep.y_at(float(mid)) - superficial.y_at(float(mid)))
        found = math.isfinite(t_pred)
    return FrameAccuracy(
        name,
        found,
        t_true,
        t_pred,
        mae(superficial, sup_true),
        mae(deep, deep_true),
        "" if superficial is None else superficial.source,
        "" if deep is None else deep.source,
    )


def icc_2_1(a: Sequence[float], b: Sequence[float]) -> float:
    """ICC(2,1) of two raters (two-way random effects, absolute agreement, single measure).

    Shrout & Fleiss (1979): ``(MSR - MSE) / (MSR + (k - 1) MSE + k (MSC - MSE) / n)``.
    """
    x = np.column_stack([np.asarray(a, float), np.asarray(b, float)])
    x = x[np.all(np.isfinite(x), axis=1)]
    n, k = x.shape
    if n < 2:
        return float("nan")
    grand = x.mean()
    ss_rows = k * np.sum((x.mean(axis=1) - grand) ** 2)
    ss_cols = n * np.sum((x.mean(axis=0) - grand) ** 2)
    ss_err = np.sum((x - grand) ** 2) - ss_rows - ss_cols
    msr = ss_rows / (n - 1)
    msc = ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    return float((msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n))


def summarise(results: Sequence[FrameAccuracy]) -> dict[str, float | int]:
    """Figures over frames: thickness MAE (px and % of thickness), boundary MAE, ICC, misses."""
    found = [r for r in results if r.found and math.isfinite(r.thickness_true_px)]
    err = np.array([r.thickness_error_px for r in found])
    true = np.array([r.thickness_true_px for r in found])
    sup = np.array([r.superficial_mae_px for r in results if math.isfinite(r.superficial_mae_px)])
    deep = np.array([r.deep_mae_px for r in results if math.isfinite(r.deep_mae_px)])
    nan = float("nan")
    return {
        "n_images": len(results),
        "n_without_result": len(results) - len(found),
        "thickness_mae_px": float(np.mean(np.abs(err))) if err.size else nan,
        "thickness_bias_px": float(np.mean(err)) if err.size else nan,
        "thickness_mae_percent": float(np.mean(np.abs(err) / true) * 100) if err.size else nan,
        "thickness_max_abs_error_px": float(np.max(np.abs(err))) if err.size else nan,
        "thickness_median_abs_error_px": float(np.median(np.abs(err))) if err.size else nan,
        "fraction_within_3px": float(np.sum(np.abs(err) <= 3.0) / len(results)) if results else nan,
        "superficial_mae_px": float(np.mean(sup)) if sup.size else nan,
        "deep_mae_px": float(np.mean(deep)) if deep.size else nan,
        "boundary_mae_px": float(np.mean(np.concatenate([sup, deep])))
        if sup.size + deep.size
        else nan,
        "icc_2_1": icc_2_1(true, true + err) if err.size > 1 else nan,
    }


def evaluate_model(
    model,
    data_dir: str | Path,
    names: Sequence[str],
    *,
    batch_size: int = 16,
    fallback_edges: bool = False,
) -> list[FrameAccuracy]:
    """Run ``model`` (a :class:`~musclethick.segment.SegmentationModel`) over labelled captures.

    Each capture is read as grey, cropped to its imaging region
    (:func:`musclethick.region.find_imaging_region`, the same crop the readers apply) and passed
    to ``model.find_boundaries``; the mask is cropped alike. With ``fallback_edges`` a frame whose
    model result lacks a boundary is measured by the classical edge path
    (:func:`musclethick.refine.find_boundaries_edges`, both boundaries), as
    ``musclethick measure`` does (:mod:`musclethick.pipeline`).
    """
    from musclethick.errors import BoundaryNotFound
    from musclethick.refine import find_boundaries_edges
    from musclethick.region import find_imaging_region
    from musclethick.train.dataset import read_grey

    data_dir = Path(data_dir)
    out: list[FrameAccuracy] = []
    for start in range(0, len(names), batch_size):
        chunk = names[start : start + batch_size]
        frames = []
        masks = []
        for name in chunk:
            grey = read_grey(data_dir / "images" / name)
            mask = read_grey(data_dir / "masks" / name)
            box = find_imaging_region(grey)
            frames.append(grey[box.slices()])
            masks.append(mask[box.slices()] > 127)
        results = model.find_boundaries(frames, keep_probability=False)
        for name, res, frame, mask in zip(chunk, results, frames, masks, strict=True):
            sup, deep = res.superficial, res.deep
            if fallback_edges and (sup is None or deep is None):
                try:
                    sup, deep = find_boundaries_edges(frame)
                except BoundaryNotFound:
                    sup = deep = None
            out.append(compare_to_mask(name, sup, deep, mask))
    return out
