"""Reliability of a study store: the tables behind ``musclethick reliability``.

Reads a :class:`~musclethick.study.store.StudyStore`, builds the export's ``images`` and
``sessions`` tables (:mod:`musclethick.export`) and hands them to the pure statistics of
:mod:`musclethick.stats` (:func:`~musclethick.stats.reliability_table`); also pairs the image
values of two methods, or the values of two raters from the review history, for Bland–Altman.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from musclethick import stats
from musclethick.errors import MusclethickError
from musclethick.stats import bland_altman, plot_bland_altman, reliability_table

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
            runs = db.runs()
            method = runs[-1]["method"] if runs else None
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


def register_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``reliability`` subcommand to an argparse ``subparsers`` object."""
    parser = subparsers.add_parser(
        "reliability",
        help="ICC, CV %%, typical error, SEM, MDC95 and Bland-Altman from a study store",
        description=stats.__doc__.split("\n\n")[0],
    )
    parser.add_argument("store", help="study store written by 'musclethick batch'")
    parser.add_argument("--protocol", help="protocol (default: the one the batch used)")
    parser.add_argument("--method", help="method to analyse (default: the latest run's)")
    parser.add_argument(
        "--between", nargs="+", type=int, metavar="WEEK", help="weeks for between-session figures"
    )
    parser.add_argument("--cv", choices=("rms", "mean"), default="rms", help="CV %% combination")
    parser.add_argument("--out", help="write the table (CSV)")
    parser.add_argument(
        "--compare", nargs=2, metavar=("METHOD_A", "METHOD_B"), help="Bland-Altman of two methods"
    )
    parser.add_argument(
        "--raters",
        nargs=2,
        metavar=("RATER_A", "RATER_B"),
        help="Bland-Altman of two reviewers (or 'model' and a reviewer) from the reviews",
    )
    parser.add_argument("--plot", help="Bland-Altman plot (PNG) for --compare / --raters")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.set_defaults(func=reliability_main)
    return parser


def reliability_main(args: argparse.Namespace) -> int:
    """Run ``musclethick reliability`` from parsed arguments (errors are raised for
    :func:`musclethick.cli.run_command`). What could not be computed, and ICCs that cannot be
    trusted, are explained on stderr."""
    import pandas as pd  # lazy: keeps the CLI start-up light

    from musclethick.outputs import check_output_file, write_atomically

    out = plot = None
    if args.out:
        out = check_output_file(
            args.out, option="--out", inputs=[args.store], overwrite=args.overwrite
        )
    if args.plot:
        plot = check_output_file(
            args.plot, option="--plot", inputs=[args.store], overwrite=args.overwrite
        )
    table = reliability_report(
        args.store,
        protocol=args.protocol,
        method=args.method,
        between_weeks=args.between,
        cv_method=args.cv,
    )
    with pd.option_context("display.width", 160, "display.max_columns", 30):
        columns = ["site", "kind", "n_subjects", "icc_21", "icc_31", "cv_pct"]
        if set(table["measure"]) != {"thickness_mm"}:  # architecture: say which value
            columns.insert(2, "measure")
        columns += ["typical_error", "sem", "mdc95"]
        print(table[columns].round(3).to_string(index=False))
    for row in table.itertuples():
        if isinstance(row.note, str) and row.note:
            measure = "" if row.measure == "thickness_mm" else f" {row.measure}"
            print(
                f"musclethick reliability: warning: {row.site} {row.kind}{measure}: {row.note}",
                file=sys.stderr,
            )
    if out is not None:
        write_atomically(out, lambda partial: table.to_csv(partial, index=False))
        print(out)
    pairs = []
    if args.compare:
        pairs.append((args.compare, paired_images(args.store, *args.compare)))
    if args.raters:
        pairs.append((args.raters, paired_raters(args.store, *args.raters, method=args.method)))
    for (name_a, name_b), (a, b) in pairs:
        if plot is not None:
            target = plot
            if len(pairs) > 1:
                target = plot.with_name(f"{plot.stem}_{name_a}_{name_b}{plot.suffix}")
            stats = plot_bland_altman(a, b, target, label_a=name_a, label_b=name_b)
            print(target)
        else:
            stats = bland_altman(a, b)
        print(
            f"Bland-Altman {name_b} - {name_a}: n={stats.n}, bias {stats.bias:.3f} mm, "
            f"95 % LoA {stats.loa_low:.3f} to {stats.loa_high:.3f} mm"
        )
    return 0
