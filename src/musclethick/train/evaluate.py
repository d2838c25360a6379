"""Accuracy of boundaries against hand-drawn masks (pure numpy) and over a labelled data set.

:func:`compare_to_mask` compares one frame's superficial/deep boundaries with the inner edges of
its mask (:func:`musclethick.masks.inner_edges_from_mask`); :func:`summarise` turns a list of
such comparisons into the figures the model card and ``bench/bench_model.py`` report (including
how often ``ok`` is right); :func:`icc_2_1` is the two-way random, absolute-agreement,
single-measure intraclass correlation. :func:`evaluate_model` measures labelled captures exactly
as ``musclethick measure`` does and compares.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musclethick.masks import inner_edges_from_mask, reference_column
from musclethick.types import Boundary, LayerPair, offered_pairs

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
    status: str = ""
    flags: tuple[str, ...] = ()
    #: |error| / true thickness of each pair review's runner-up key shows, in order (the
    #: runner-up, then the other pairs offered)
    pair_error_fractions: tuple[float, ...] = ()

    @property
    def runner_up_error_fraction(self) -> float:
        """|error| / true thickness of the runner-up pair (NaN without one)."""
        return self.pair_error_fractions[0] if self.pair_error_fractions else float("nan")

    def presses_to_within(self, fraction: float = 0.10) -> int | None:
        """How many presses of review's runner-up key show a pair within ``fraction`` of the
        mask's thickness (``None``: none of the pairs offered is)."""
        for k, error in enumerate(self.pair_error_fractions, start=1):
            if error <= fraction:
                return k
        return None

    @property
    def thickness_error_px(self) -> float:
        return self.thickness_pred_px - self.thickness_true_px

    @property
    def thickness_error_fraction(self) -> float:
        """|error| / true thickness (NaN when not measurable)."""
        if not (self.found and self.thickness_true_px > 0):
            return float("nan")
        return abs(self.thickness_error_px) / self.thickness_true_px


def compare_to_mask(
    name: str,
    superficial: Boundary | None,
    deep: Boundary | None,
    mask: np.ndarray,
    *,
    status: str = "",
    flags: tuple[str, ...] = (),
    runner_up: LayerPair | None = None,
    other_pairs: Sequence[LayerPair] = (),
) -> FrameAccuracy:
    """Compare boundaries with the inner edges of a band mask of the same frame.

    Boundary MAE is the mean absolute row difference over the mask's columns where the boundary
    exists; the thickness is taken at the middle of the columns where the mask has both edges.
    The thicknesses of the ``runner_up`` pair and the ``other_pairs`` after it are compared
    there too (what review's runner-up key shows, press by press).
    """
    sup_true, deep_true = inner_edges_from_mask(mask)
    cols = np.arange(mask.shape[1], dtype=np.float64)
    mid = reference_column(sup_true, deep_true)
    nan = float("nan")
    if mid is None:  # nothing to compare with; the status still counts
        return FrameAccuracy(name, False, nan, nan, nan, nan, status=status, flags=tuple(flags))
    t_true = float(deep_true[mid] - sup_true[mid])

    def mae(b: Boundary | None, truth: np.ndarray) -> float:
        if b is None:
            return nan
        y = b.y_at(cols)
        ok = np.isfinite(y) & np.isfinite(truth)
        return float(np.mean(np.abs(y[ok] - truth[ok]))) if ok.any() else nan

    found = superficial is not None and deep is not None and status != "failed"
    t_pred = nan
    if found:
        t_pred = float(deep.y_at(float(mid)) - superficial.y_at(float(mid)))
        found = math.isfinite(t_pred)
    pair_errors = []
    for pair in offered_pairs(runner_up, other_pairs):
        t_pair = float(pair.deep.y_at(float(mid)) - pair.superficial.y_at(float(mid)))
        ok = math.isfinite(t_pair) and t_true > 0
        pair_errors.append(abs(t_pair - t_true) / t_true if ok else nan)
    return FrameAccuracy(
        name,
        found,
        t_true,
        t_pred,
        mae(superficial, sup_true),
        mae(deep, deep_true),
        "" if superficial is None else superficial.source,
        "" if deep is None else deep.source,
        status,
        tuple(flags),
        tuple(pair_errors),
    )


def icc_2_1(a: Sequence[float], b: Sequence[float]) -> float:
    """ICC(2,1) of two raters (two-way random effects, absolute agreement, single measure).

    Pairs with a non-finite value are dropped; the ICC is
    :func:`musclethick.stats.icc_2_1` (Shrout & Fleiss 1979) of the rest, NaN with fewer
    than two pairs.
    """
    from musclethick.stats import icc_2_1 as icc_2_1_of_matrix

    x = np.column_stack([np.asarray(a, float), np.asarray(b, float)])
    return icc_2_1_of_matrix(x[np.all(np.isfinite(x), axis=1)])


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
        **_status_figures(results),
    }


def _status_figures(results: Sequence[FrameAccuracy]) -> dict[str, float | int]:
    """How often ``ok`` is right: counts by status and ``ok`` frames off by more than 10 %."""
    if not any(r.status for r in results):
        return {}
    ok = [r for r in results if r.status == "ok"]
    off = [r for r in ok if not r.found or not r.thickness_error_fraction <= 0.10]
    flagged_right = [
        r
        for r in results
        if r.status == "flagged" and r.found and r.thickness_error_fraction <= 0.10
    ]
    wrong = [r for r in results if not r.found or not r.thickness_error_fraction <= 0.10]
    # what review must fix, and how often its one key (the runner-up pair) does
    to_fix = [r for r in wrong if r.status != "ok"]
    return {
        "n_ok": len(ok),
        "n_flagged": sum(r.status == "flagged" for r in results),
        "n_failed": sum(r.status == "failed" for r in results),
        "n_ok_off_10": len(off),
        "ok_off_10_percent": 100.0 * len(off) / len(results) if results else float("nan"),
        "n_off_10": len(wrong),
        "n_flagged_within_10": len(flagged_right),
        "n_not_ok_off_10": len(to_fix),
        "n_not_ok_off_10_with_runner_up": sum(
            math.isfinite(r.runner_up_error_fraction) for r in to_fix
        ),
        "n_fixed_by_runner_up": sum(r.presses_to_within(0.10) == 1 for r in to_fix),
        "n_fixed_by_offered_pairs": sum(r.presses_to_within(0.10) is not None for r in to_fix),
    }


def evaluate_model(
    model,
    data_dir: str | Path,
    names: Sequence[str],
    *,
    settings=None,
    batch_size: int = 16,
    transform=None,
) -> list[FrameAccuracy]:
    """Measure labelled captures as ``musclethick measure`` does and compare with their masks.

    Each capture is read as grey and cropped to its imaging region
    (:func:`musclethick.region.find_imaging_region`, the crop the readers apply); the frame goes
    through :func:`musclethick.pipeline.measure_frames` (model, post-processing, QC, the
    classical edge fallback) with ``model``; the mask is cropped alike and compared with the
    result's boundaries, whose status and flags are kept.

    Parameters
    ----------
    model : SegmentationModel
    data_dir : path
        Folder with ``images/`` and ``masks/``.
    names : sequence of str
    settings : MeasureSettings, optional
        Default: the ``measure`` defaults.
    transform : callable, optional
        ``(grey, mask) -> (grey, mask)`` applied to each capture and its mask before cropping
        (capture variants). A convex probe's fan is measured on its beam view, as
        :func:`musclethick.io.read` gives it, with its mask resampled alike.
    """
    from musclethick.fan import as_beam_view, beam_view
    from musclethick.pipeline import MeasureSettings, measure_frames
    from musclethick.region import find_imaging_region
    from musclethick.train.dataset import read_grey
    from musclethick.types import Frame

    settings = settings or MeasureSettings()
    data_dir = Path(data_dir)
    out: list[FrameAccuracy] = []
    for start in range(0, len(names), batch_size):
        chunk = names[start : start + batch_size]
        frames = []
        masks = []
        for name in chunk:
            grey = read_grey(data_dir / "images" / name)
            mask = read_grey(data_dir / "masks" / name) > 127
            if transform is not None:
                grey, mask = transform(grey, mask)
            box = find_imaging_region(grey)
            frame = as_beam_view(Frame(np.ascontiguousarray(grey[box.slices()]), str(name)))
            mask = mask[box.slices()]
            if frame.fan is not None:  # a convex probe's fan: measured on its beam view
                mask = beam_view(mask.astype(np.uint8) * 255, frame.fan) > 127
            frames.append(frame)
            masks.append(mask)
        results = list(measure_frames(frames, settings, model=model))
        for name, res, mask in zip(chunk, results, masks, strict=True):
            out.append(
                compare_to_mask(
                    name,
                    res.superficial,
                    res.deep,
                    mask,
                    status=res.status,
                    flags=res.flags,
                    runner_up=res.runner_up,
                    other_pairs=res.other_pairs,
                )
            )
    return out
