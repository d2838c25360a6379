"""Reliability of a study store: the tables behind ``musclethick reliability``.

Reads a :class:`~musclethick.study.store.StudyStore`, builds the export's ``images`` and
``sessions`` tables (:mod:`musclethick.export`) and hands them to the pure statistics of
:mod:`musclethick.stats` (:func:`~musclethick.stats.reliability_table`); also pairs the image
values of two methods, or the values of two raters from the review history, for Bland–Altman.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from musclethick.errors import MusclethickError
from musclethick.stats import reliability_table

__all__ = ["paired_images", "paired_raters", "reliability_report"]


def reliability_report(
    store: str | Path,
    *,
    protocol: Any = None,
    method: str | None = None,
    between_weeks: Sequence[int] | None = None,
    cv_method: str = "rms",
) -> pd.DataFrame:
    """Reliability per site from a store: within sessions (images) and between sessions.

    Within-session reliability uses the first ``k`` images of every session with at least
    ``k`` images (``k`` = the site's expected images, at least 2). Between-session reliability
    uses the session values of ``between_weeks`` (e.g. ``(0, 4)``) of every subject and leg
    that has all of them. Returns one row per site, kind and measure (columns of
    :meth:`musclethick.stats.Reliability.as_row` plus ``site``, ``kind``, ``measure`` and
    ``note``): the measure is ``thickness_mm``, and with architecture in the store also
    ``pennation_deg`` and ``fascicle_length_mm`` (images and sessions with a value; figures in
    deg and mm). A figure that cannot be computed (fewer than 2 complete subjects) is NaN and
    ``note`` says why; ``note`` also warns when an ICC is undefined or outside [-1, 1]
    (:func:`musclethick.stats.icc_warning`).

    Raises
    ------
    UsageError
        ``between_weeks`` with fewer than two weeks, or weeks without results in the store.
    """
    import pandas as pd  # lazy: keeps the CLI start-up light

    from musclethick.export import (
        ARCHITECTURE_MEASURES,
        aggregate_images,
        aggregate_sessions,
        has_architecture,
        long_table,
        protocol_for_store,
    )
    from musclethick.study.store import StudyStore

    with StudyStore(store, readonly=True) as db:
        proto = protocol_for_store(db, protocol)
        if method is None:
            method = db.latest_method()
        results = db.results_dataframe(method=method)
    if results.empty:
        raise MusclethickError(f"{store}: no results (method {method}); run 'musclethick batch'")
    images = aggregate_images(long_table(results, protocol=proto))
    sessions = aggregate_sessions(images, proto)
    measures = ["thickness_mm"]
    if has_architecture(images):
        measures += [value for value, *_ in ARCHITECTURE_MEASURES if images[value].notna().any()]
    tables = [
        reliability_table(
            images,
            sessions,
            proto,
            between_weeks=between_weeks,
            cv_method=cv_method,
            value=value,
            source=str(store),
        )
        for value in measures
    ]
    return pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]


def paired_images(store: str | Path, method_a: str, method_b: str) -> tuple[np.ndarray, np.ndarray]:
    """Image thickness (mean of lines) of scans measured by both methods, paired by scan."""
    from musclethick.export import aggregate_images, long_table
    from musclethick.study.store import StudyStore

    with StudyStore(store, readonly=True) as db:
        tables = []
        for method in (method_a, method_b):
            long = long_table(db.results_dataframe(method=method))
            if long.empty:
                raise MusclethickError(f"{store}: no results of method {method!r}")
            images = aggregate_images(long)
            tables.append(images.set_index(["subject", "leg", "week", "site", "image"]))
    joined = tables[0][["thickness_mm"]].join(
        tables[1][["thickness_mm"]], how="inner", lsuffix="_a", rsuffix="_b"
    )
    return joined["thickness_mm_a"].to_numpy(), joined["thickness_mm_b"].to_numpy()


def paired_raters(
    store: str | Path, rater_a: str, rater_b: str, *, method: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame thickness of two raters on the same results, from the review history.

    A rater is a reviewer name, or ``"model"`` for the stored model result. A reviewer's value
    is that of their latest ``correct`` review (the corrected thickness) or ``accept`` review
    (the model's thickness); results they rejected or did not review are left out.
    """
    from musclethick.study.store import StudyStore

    def value(result: Any, reviews: list[Any], rater: str) -> float | None:
        if rater == "model":
            return result.thickness_mm
        mine = [r for r in reviews if r.reviewer == rater]
        if not mine or mine[-1].decision == "reject":
            return None
        return mine[-1].thickness_mm if mine[-1].decision == "correct" else result.thickness_mm

    a, b = [], []
    with StudyStore(store, readonly=True) as db:
        for result in db.iter_results(method=method, status=("ok", "flagged", "failed")):
            reviews = db.reviews(result.id)
            va, vb = value(result, reviews, rater_a), value(result, reviews, rater_b)
            if va is not None and vb is not None and np.isfinite(va) and np.isfinite(vb):
                a.append(va)
                b.append(vb)
    if len(a) < 2:
        raise MusclethickError(
            f"{store}: fewer than 2 results rated by both {rater_a} and {rater_b}"
        )
    return np.array(a), np.array(b)
