"""Reliability statistics: ICC, CV %, typical error, SEM, MDC95 and Bland–Altman.

Definitions (``data`` is an ``(n subjects, k trials)`` array: images within a session, or
sessions, or raters):

* **ICC(2,1)** (two-way random, absolute agreement, single measurement) and **ICC(3,1)**
  (two-way mixed, consistency, single measurement) of Shrout & Fleiss (1979), with 95 % CIs.
  The ICC(2,1) value is :func:`icc_2_1`, the package's one implementation of it (also used by
  :mod:`musclethick.train.evaluate` for the model card); ICC(3,1) and the CIs are computed
  by :func:`pingouin.intraclass_corr`.
* **Typical error** (Hopkins 2000): the within-subject SD, ``sqrt`` of the residual mean square
  of the two-way (subjects x trials) ANOVA; for two trials this equals
  ``SD(trial 2 - trial 1) / sqrt(2)``.
* **CV %**: per-subject ``SD / mean x 100`` over the trials (ddof=1), combined as the
  **root mean square** over subjects (default; ``cv_method="mean"`` for the plain mean).
* **SEM** = ``SD x sqrt(1 - ICC(3,1))`` with ``SD`` the SD of all scores (Weir 2005, eq. 6).
* **MDC95** = ``1.96 x sqrt(2) x SEM``: the smallest change of one subject's single
  measurement that exceeds measurement error with 95 % confidence.
* **Bland–Altman**: bias = mean of ``b - a``; 95 % limits of agreement = bias ± 1.96 SD of the
  differences.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from musclethick.errors import MusclethickError, UsageError

__all__ = [
    "BlandAltman",
    "Icc",
    "Reliability",
    "bland_altman",
    "cv_percent",
    "icc",
    "icc_2_1",
    "icc_warning",
    "plot_bland_altman",
    "reliability",
    "reliability_table",
    "sem_from_icc",
    "typical_error",
]


#: pingouin's ICC needs at least this many values (subjects x trials).
MIN_ICC_VALUES = 5


@dataclass(frozen=True)
class Icc:
    """An intraclass correlation with its 95 % confidence interval."""

    value: float
    ci95_low: float
    ci95_high: float


@dataclass(frozen=True)
class Reliability:
    """Reliability of repeated measurements (see the module docstring for definitions).

    Lengths are in the unit of the data (mm for thickness).
    """

    n_subjects: int
    n_trials: int
    mean: float
    icc21: Icc
    icc31: Icc
    cv_pct: float
    typical_error: float
    sem: float
    mdc95: float

    def as_row(self) -> dict[str, float | int]:
        """Flat dict for a table row."""
        row: dict[str, float | int] = {}
        for key, value in asdict(self).items():
            if isinstance(value, dict):
                name = key.replace("icc", "icc_")
                row[name] = value["value"]
                row[f"{name}_ci95_low"] = value["ci95_low"]
                row[f"{name}_ci95_high"] = value["ci95_high"]
            else:
                row[key] = value
        return row


@dataclass(frozen=True)
class BlandAltman:
    """Agreement between two methods or raters (``b - a``)."""

    n: int
    bias: float
    sd: float
    loa_low: float
    loa_high: float


def _matrix(data: Any) -> np.ndarray:
    matrix = np.asarray(data, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] < 2 or matrix.shape[1] < 2:
        raise MusclethickError(
            f"reliability needs at least 2 subjects x 2 trials, got shape {matrix.shape}"
        )
    if not np.all(np.isfinite(matrix)):
        raise MusclethickError("reliability data must be finite (drop incomplete subjects)")
    return matrix


def icc_2_1(data: Any) -> float:
    """ICC(2,1) of an ``(n subjects, k trials)`` array: two-way random effects, absolute
    agreement, single measurement.

    Shrout & Fleiss (1979), case 2:
    ``(BMS - EMS) / (BMS + (k - 1) EMS + k (JMS - EMS) / n)`` with the between-subjects,
    between-trials (judges) and residual mean squares of the two-way ANOVA.

    Parameters
    ----------
    data : array_like of float, shape (n, k)
        Scores of ``n`` subjects (rows) by ``k`` trials or raters (columns); all finite.

    Returns
    -------
    float
        The ICC; NaN when ``n < 2`` or the scores have no variance.
    """
    x = np.asarray(data, dtype=float)
    if x.ndim != 2 or x.shape[1] < 2:
        raise MusclethickError(
            f"ICC(2,1) needs an (n subjects, k >= 2 trials) array, got {x.shape}"
        )
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
    with np.errstate(divide="ignore", invalid="ignore"):  # no variance: 0 / 0
        return float((msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n))


def icc(data: Any) -> dict[str, Icc]:
    """ICC(2,1) and ICC(3,1) with 95 % CIs of an ``(n subjects, k trials)`` array.

    The ICC(2,1) value is :func:`icc_2_1`; ICC(3,1) and both CIs come from
    :func:`pingouin.intraclass_corr`.

    Returns
    -------
    dict
        ``{"ICC(2,1)": Icc, "ICC(3,1)": Icc}``.
    """
    import pandas as pd  # lazy: keeps the CLI start-up light
    import pingouin

    matrix = _matrix(data)
    n, k = matrix.shape
    if matrix.size < MIN_ICC_VALUES:
        raise MusclethickError(
            f"an ICC needs at least {MIN_ICC_VALUES} values, got {n} subjects x {k} trials"
        )
    long = pd.DataFrame(
        {
            "target": np.repeat(np.arange(n), k),
            "rater": np.tile(np.arange(k), n),
            "rating": matrix.ravel(),
        }
    )
    with warnings.catch_warnings():  # third-party deprecation noise (pandas inplace=...)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        # no variance: pingouin divides by zero; the NaN ICC is explained by icc_warning()
        warnings.simplefilter("ignore", RuntimeWarning)
        saved = dict(pingouin.options)
        try:
            pingouin.options.pop("round.column.CI95", None)  # it rounds CIs to 2 decimals
            table = pingouin.intraclass_corr(
                long, targets="target", raters="rater", ratings="rating"
            )
        finally:
            pingouin.options.clear()
            pingouin.options.update(saved)
    names = {"ICC(2,1)": ("ICC2", "ICC(A,1)"), "ICC(3,1)": ("ICC3", "ICC(C,1)")}
    ci_column = "CI95" if "CI95" in table.columns else "CI95%"
    out = {}
    for name, aliases in names.items():
        row = table[table["Type"].isin(aliases)].iloc[0]
        low, high = (float(v) for v in row[ci_column])
        out[name] = Icc(float(row["ICC"]), low, high)
    out["ICC(2,1)"] = replace(out["ICC(2,1)"], value=icc_2_1(matrix))
    return out


def typical_error(data: Any) -> float:
    """Typical error: ``sqrt`` of the residual mean square of the two-way ANOVA.

    For two trials this is ``SD(trial 2 - trial 1, ddof=1) / sqrt(2)`` (Hopkins 2000).
    """
    matrix = _matrix(data)
    n, k = matrix.shape
    residual = (
        matrix - matrix.mean(axis=1, keepdims=True) - matrix.mean(axis=0, keepdims=True)
    ) + matrix.mean()
    ms_error = float(np.sum(residual**2)) / ((n - 1) * (k - 1))
    return math.sqrt(ms_error)


def cv_percent(data: Any, *, method: str = "rms") -> float:
    """Within-subject CV %: per-subject ``SD / mean x 100``, combined by RMS or mean."""
    matrix = _matrix(data)
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero mean gives an inf/NaN CV
        cvs = matrix.std(axis=1, ddof=1) / matrix.mean(axis=1) * 100.0
    if method == "rms":
        return float(np.sqrt(np.mean(cvs**2)))
    if method == "mean":
        return float(np.mean(cvs))
    raise MusclethickError(f"cv method must be 'rms' or 'mean', got {method!r}")


def sem_from_icc(data: Any, icc_value: float) -> float:
    """``SD x sqrt(1 - ICC)`` with ``SD`` the SD of all scores (ddof=1)."""
    matrix = _matrix(data)
    return float(np.std(matrix, ddof=1) * math.sqrt(max(0.0, 1.0 - icc_value)))


def reliability(data: Any, *, cv_method: str = "rms") -> Reliability:
    """All reliability figures of an ``(n subjects, k trials)`` array."""
    matrix = _matrix(data)
    iccs = icc(matrix)
    sem = sem_from_icc(matrix, iccs["ICC(3,1)"].value)
    return Reliability(
        n_subjects=matrix.shape[0],
        n_trials=matrix.shape[1],
        mean=float(matrix.mean()),
        icc21=iccs["ICC(2,1)"],
        icc31=iccs["ICC(3,1)"],
        cv_pct=cv_percent(matrix, method=cv_method),
        typical_error=typical_error(matrix),
        sem=sem,
        mdc95=1.96 * math.sqrt(2.0) * sem,
    )


#: Fewer subjects than this make an ICC and its CI unreliable (cited when an ICC is undefined
#: or outside [-1, 1]).
MIN_SUBJECTS_ICC = 5


def icc_warning(data: Any, result: Reliability) -> str:
    """Why the ICCs of ``result`` (from ``data``) cannot be trusted, or ``""``.

    An ICC is undefined (NaN) when the scores have no variance, and can fall below -1 (or its
    CI collapse) when the subjects hardly differ compared with the error between trials,
    typically with too few subjects. The message gives the figures that point to the cause.
    """
    matrix = _matrix(data)
    n = matrix.shape[0]
    values = {
        "ICC(2,1)": (result.icc21.value, result.icc21.ci95_low, result.icc21.ci95_high),
        "ICC(3,1)": (result.icc31.value, result.icc31.ci95_low, result.icc31.ci95_high),
    }
    bad = []
    for name, (value, low, high) in values.items():
        if not np.isfinite(value):
            bad.append(f"{name} is undefined")
        elif not -1.0 <= value <= 1.0:
            bad.append(f"{name} = {value:.2f} lies outside [-1, 1]")
        elif not (np.isfinite(low) and np.isfinite(high) and -1.0 <= low <= high <= 1.0):
            bad.append(f"the 95 % CI of {name} is undefined or outside [-1, 1]")
    if not bad:
        return ""
    between_sd = float(np.std(matrix.mean(axis=1), ddof=1))
    error_sd = result.typical_error
    if float(np.ptp(matrix)) == 0.0:
        cause = "all values are equal (no variance)"
    elif between_sd <= error_sd:
        cause = (
            f"the subjects hardly differ (SD of subject means {between_sd:.3g} vs typical error "
            f"{error_sd:.3g}): no variance between subjects to relate the error to"
        )
    else:
        cause = "the scores vary too little for the ICC model"
    if n < MIN_SUBJECTS_ICC:
        cause += f"; too few subjects (n = {n}, at least {MIN_SUBJECTS_ICC} recommended)"
    return f"{'; '.join(bad)}, not to be trusted: {cause}"


def bland_altman(a: Sequence[float], b: Sequence[float]) -> BlandAltman:
    """Bias (mean of ``b - a``) and 95 % limits of agreement of paired measurements."""
    a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a_arr.shape != b_arr.shape or a_arr.ndim != 1 or a_arr.size < 2:
        raise MusclethickError("Bland-Altman needs two equally long series of at least 2 pairs")
    diff = b_arr - a_arr
    bias, sd = float(diff.mean()), float(diff.std(ddof=1))
    return BlandAltman(int(diff.size), bias, sd, bias - 1.96 * sd, bias + 1.96 * sd)


def plot_bland_altman(
    a: Sequence[float],
    b: Sequence[float],
    path: str | Path,
    *,
    label_a: str = "A",
    label_b: str = "B",
    unit: str = "mm",
) -> BlandAltman:
    """Write a Bland–Altman plot (PNG, matplotlib Agg backend); returns the statistics."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    stats = bland_altman(a, b)
    a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    figure = Figure(figsize=(6, 4.5), dpi=120)
    axes = figure.add_subplot()
    axes.scatter((a_arr + b_arr) / 2, b_arr - a_arr, s=14, alpha=0.7, color="tab:blue")
    for value, style, text in (
        (stats.bias, "-", f"bias {stats.bias:.2f}"),
        (stats.loa_low, "--", f"-1.96 SD {stats.loa_low:.2f}"),
        (stats.loa_high, "--", f"+1.96 SD {stats.loa_high:.2f}"),
    ):
        axes.axhline(value, linestyle=style, color="0.3", linewidth=1)
        axes.annotate(
            text, (1.0, value), xycoords=("axes fraction", "data"), ha="right", va="bottom"
        )
    axes.set_xlabel(f"mean of {label_a} and {label_b} ({unit})")
    axes.set_ylabel(f"{label_b} - {label_a} ({unit})")
    axes.set_title(f"Bland-Altman: {label_b} vs {label_a} (n = {stats.n})")
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return stats


# -- study level --------------------------------------------------------------------------


def _within_session_matrix(
    images: pd.DataFrame, site: str, k: int, value: str = "thickness_mm"
) -> tuple[np.ndarray, int]:
    """``(sessions with at least k images x k)`` and the largest number of images found in a
    session of ``site``."""
    part = images[images["site"] == site].sort_values(["image"])
    part = part[np.isfinite(part[value].to_numpy(dtype=float))]
    rows, most = [], 0
    for _, group in part.groupby(["subject", "condition", "leg", "week"], dropna=False):
        values = group[value].to_numpy(dtype=float)
        most = max(most, len(values))
        if len(values) >= k:
            rows.append(values[:k])
    return np.array(rows, dtype=float).reshape(-1, k), most


def _between_session_matrix(
    sessions: pd.DataFrame, site: str, weeks: Sequence[int], value: str = "thickness_mm"
) -> np.ndarray:
    part = sessions[(sessions["site"] == site) & sessions["week"].isin(weeks)]
    if part.empty:
        return np.empty((0, len(weeks)))
    wide = part.pivot_table(index=["subject", "condition", "leg"], columns="week", values=value)
    wide = wide.reindex(columns=list(weeks)).dropna()
    return wide.to_numpy(dtype=float)


def _row(site: str, kind: str, matrix: np.ndarray, cv_method: str, why_not: str) -> dict:
    """One table row: the figures of ``matrix``, or NaNs and ``why_not`` (too few subjects)."""
    if matrix.shape[0] < 2 or matrix.size < MIN_ICC_VALUES:
        if matrix.shape[0] >= 2:
            why_not = (
                f"{matrix.shape[0]} subjects x {matrix.shape[1]} trials: an ICC needs at least "
                f"{MIN_ICC_VALUES} values (3 or more subjects)"
            )
        return {
            "site": site,
            "kind": kind,
            "n_subjects": int(matrix.shape[0]),
            "n_trials": int(matrix.shape[1]),
            "note": why_not,
        }
    result = reliability(matrix, cv_method=cv_method)
    return {"site": site, "kind": kind, **result.as_row(), "note": icc_warning(matrix, result)}


def reliability_table(
    images: pd.DataFrame,
    sessions: pd.DataFrame,
    protocol: Any,
    *,
    between_weeks: Sequence[int] | None = None,
    cv_method: str = "rms",
    value: str = "thickness_mm",
    source: str = "the store",
) -> pd.DataFrame:
    """Reliability per site from the export's ``images`` and ``sessions`` tables (pure).

    What :func:`musclethick.study.reliability.reliability_report` computes for a store, for
    any measured ``value`` column of the tables (default thickness; also ``pennation_deg``,
    ``fascicle_length_mm``), named in the ``measure`` column; ``source`` names the data in
    error messages.

    ``n_measured`` counts what was measured repeatedly (the ICC's rows): sessions (subject x
    leg x week) within a session, subject legs between sessions; ``n_trials`` the repeats.

    Raises
    ------
    UsageError
        ``between_weeks`` with fewer than two weeks, or weeks without results.
    """
    import pandas as pd  # lazy: keeps the CLI start-up light

    if between_weeks:
        weeks = list(dict.fromkeys(int(w) for w in between_weeks))
        found = sorted({int(w) for w in sessions["week"].dropna()})
        absent = [w for w in weeks if w not in found]
        shown = " ".join(map(str, between_weeks))
        if len(weeks) < 2:
            raise UsageError(f"--between {shown}: give at least two different weeks")
        if absent:
            raise UsageError(
                f"--between {shown}: no results for week(s) {', '.join(map(str, absent))} in "
                f"{source} (weeks with results: {', '.join(map(str, found)) or 'none'})"
            )
    rows = []
    for site in protocol.sites:
        k = max(2, site.images)
        matrix, most = _within_session_matrix(images, site.name, k, value)
        rows.append(
            _row(
                site.name,
                f"within session ({k} images)",
                matrix,
                cv_method,
                f"{matrix.shape[0]} session(s) with {k} images (at most {most} image(s) per "
                "session): needs at least 2 subjects' sessions with repeated images",
            )
            | {"measure": value}
        )
        if between_weeks:
            matrix = _between_session_matrix(sessions, site.name, weeks, value)
            shown = ", ".join(str(w) for w in weeks)
            rows.append(
                _row(
                    site.name,
                    f"between sessions (weeks {shown})",
                    matrix,
                    cv_method,
                    f"{matrix.shape[0]} subject leg(s) with a session in each of weeks {shown}: "
                    "needs at least 2",
                )
                | {"measure": value}
            )
    # the ICC's "subjects" are what is measured repeatedly: sessions (subject x leg x week)
    # within a session, subject legs between sessions; not people
    table = pd.DataFrame(rows).rename(columns={"n_subjects": "n_measured"})
    columns = ["site", "kind", "measure", "n_measured", "n_trials", "mean", "icc_21"]
    columns += ["icc_21_ci95_low"]
    columns += ["icc_21_ci95_high", "icc_31", "icc_31_ci95_low", "icc_31_ci95_high", "cv_pct"]
    columns += ["typical_error", "sem", "mdc95", "note"]
    return table.reindex(columns=columns)
