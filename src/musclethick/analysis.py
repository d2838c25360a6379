"""The study's answer: change from baseline per condition and the condition comparison.

Pure functions on the ``sessions`` table of :func:`musclethick.export.build_tables` (one row
per subject x condition x leg x week x site, composites included); every estimate comes from
a well-kept library (statsmodels, scipy).

**Design** (:func:`study_design`): *within-subject* when subjects hold more than one condition
(e.g. one leg trained to failure, FAIL, the other with reps in reserve, RIR), *between-subject*
when every subject holds one, *single* with one condition (nothing to compare) and *none*
without condition labels. The difference is always ``condition - reference``; the reference
is the last condition in the protocol's order (``FAIL - RIR`` for ``conditions = ["FAIL",
"RIR"]``) unless one is chosen.

**Mixed model** (:func:`compare_conditions`), fitted with :class:`statsmodels
MixedLM <statsmodels.regression.mixed_linear_model.MixedLM>` (REML) at each post-baseline
week ``w`` on the legs measured at ``w`` and at baseline::

    value_w ~ condition + baseline + (1 | subject)

``value_w`` is a leg's session value at week ``w`` and ``baseline`` the same leg's value at
the baseline week, so the ``condition`` coefficient is the baseline-adjusted difference in
change from baseline at ``w``. One fit per week is the condition x week model with its own
intercept, baseline slope and variances at each week: a joint fit over the weeks with one
residual variance under-covers where individual responses have grown most (87 % coverage of
95 % CIs at week 8, 96 % at week 4, against 93 % and 94 % per week, in 400 simulated studies
with a leg-to-leg response SD of 0.5 mm at week 8; ``bench/README.md``).
The 95 % CI is ``estimate +- t(0.975, df) x SE`` with ``df = subjects - fixed-effect
parameters`` (the subjects, not the legs, are the independent units). With one observation
per subject the random intercept cannot be told from the residual and ordinary least squares
(statsmodels OLS) is fitted instead.

**Paired check**: within subjects, the per-subject difference in change from baseline
(``condition`` leg minus ``reference`` leg, averaged over legs of a condition) with a
one-sample t CI (:func:`scipy.stats.ttest_1samp`); between subjects, Welch's t CI of the
difference in mean change per subject (:func:`scipy.stats.ttest_ind`).

**Relative effect** (:func:`relative_effects`): in % of the mean baseline value, relative to
the MDC95 (:mod:`musclethick.stats`) and to the smallest worthwhile change (SWC): the
protocol's, else 0.2 x the between-subject SD at baseline (Hopkins 2000).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from musclethick.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "COMPARISON_COLUMNS",
    "QUANTITIES",
    "Design",
    "Quantity",
    "blind_codes",
    "change_table",
    "compare_conditions",
    "group_summary",
    "model_data",
    "quantities_in",
    "relative_effects",
    "study_design",
]


@dataclass(frozen=True)
class Quantity:
    """A measured quantity of the session table.

    Attributes
    ----------
    column : str
        Column of the ``sessions`` table (e.g. ``"thickness_mm"``).
    label : str
        Name for people (e.g. ``"muscle thickness"``).
    unit : str
        Unit of the column (e.g. ``"mm"``).
    """

    column: str
    label: str
    unit: str


#: The measured quantities the report shows, in order; those found in a study's tables are
#: shown (:func:`quantities_in`). A new measurement that the export aggregates into its
#: session table is added here and appears in the trajectories and the comparison like
#: thickness (pennation angle and fascicle length: :mod:`musclethick.architecture`, the
#: session columns of :func:`musclethick.export.aggregate_sessions`).
QUANTITIES: tuple[Quantity, ...] = (
    Quantity("thickness_mm", "muscle thickness", "mm"),
    Quantity("pennation_deg", "pennation angle", "deg"),
    Quantity("fascicle_length_mm", "fascicle length", "mm"),
    Quantity("echo_intensity", "echo intensity", "grey level 0-255"),
)

#: Columns of the comparison table (:func:`compare_conditions` + :func:`relative_effects`).
COMPARISON_COLUMNS = [
    "quantity",
    "unit",
    "site",
    "week",
    "contrast",
    "method",
    "estimate",
    "se",
    "df",
    "ci95_low",
    "ci95_high",
    "p_value",
    "n_subjects",
    "n_obs",
    "formula",
    "note",
]


def quantities_in(table: pd.DataFrame) -> tuple[Quantity, ...]:
    """The :data:`QUANTITIES` with at least one finite value in ``table``."""
    found = []
    for quantity in QUANTITIES:
        if quantity.column in table.columns:
            values = table[quantity.column].to_numpy(dtype=float)
            if np.isfinite(values).any():
                found.append(quantity)
    return tuple(found)


# -- design -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    """How conditions are allocated in a study.

    Attributes
    ----------
    kind : str
        ``"within"`` (subjects hold several conditions, e.g. one per leg), ``"between"`` (one
        condition per subject), ``"single"`` (one condition) or ``"none"`` (no conditions).
    conditions : tuple of str
        Conditions found, in contrast order; the reference is the last.
    reference : str or None
        The condition every other one is compared with.
    n_subjects : int
        Subjects with a session value.
    message : str
        One sentence for people: the design, or why there is no comparison.
    """

    kind: str
    conditions: tuple[str, ...]
    reference: str | None
    n_subjects: int
    message: str

    @property
    def comparable(self) -> bool:
        """Whether conditions can be compared."""
        return self.kind in ("within", "between")

    def contrasts(self) -> tuple[tuple[str, str], ...]:
        """``(condition, reference)`` pairs, one per condition other than the reference."""
        if not self.comparable or self.reference is None:
            return ()
        return tuple((c, self.reference) for c in self.conditions if c != self.reference)


def study_design(
    sessions: pd.DataFrame, *, order: Sequence[str] = (), reference: str | None = None
) -> Design:
    """The allocation of conditions in ``sessions`` (see :class:`Design`).

    Parameters
    ----------
    sessions : DataFrame
        Columns ``subject`` and ``condition`` at least.
    order : sequence of str
        Preferred order of the conditions (the protocol's); others follow alphabetically.
    reference : str, optional
        The reference condition (default: the last in order).

    Raises
    ------
    UsageError
        ``reference`` is not a condition of the study.
    """
    labelled = sessions[sessions["condition"].fillna("").astype(str) != ""]
    subjects = sessions["subject"].nunique()
    found = set(labelled["condition"].astype(str))
    conditions = [c for c in order if c in found] + sorted(found - set(order))
    if reference is not None:
        if reference not in found:
            raise UsageError(
                f"--reference {reference}: not a condition of this study (conditions: "
                f"{', '.join(conditions) or 'none'})"
            )
        conditions = [c for c in conditions if c != reference] + [reference]
    if not conditions:
        return Design(
            "none",
            (),
            None,
            subjects,
            "No condition labels in the store (give the batch an --allocation): nothing to "
            "compare.",
        )
    if len(conditions) == 1:
        return Design(
            "single",
            tuple(conditions),
            None,
            subjects,
            f"One condition ({conditions[0]}) in the study: no comparison between conditions.",
        )
    per_subject = labelled.groupby("subject")["condition"].nunique()
    kind = "within" if (per_subject > 1).any() else "between"
    both = int((per_subject > 1).sum())
    words = {
        "within": f"within-subject ({both} of {len(per_subject)} subjects hold more than one "
        "condition, e.g. one per leg)",
        "between": f"between-subject (each of {len(per_subject)} subjects holds one condition)",
    }
    return Design(
        kind,
        tuple(conditions),
        conditions[-1],
        subjects,
        f"Conditions {', '.join(conditions)}; design {words[kind]}; differences are "
        f"{_difference_words(conditions)}.",
    )


def _difference_words(conditions: Sequence[str]) -> str:
    """How the differences are taken: ``"FAIL - RIR"`` for two conditions, else each other
    condition minus the reference (the last)."""
    reference = conditions[-1]
    others = list(conditions[:-1])
    if len(others) == 1:
        return f"{others[0]} - {reference}"
    return f"each condition ({', '.join(others)}) - {reference}"


def blind_codes(conditions: Iterable[str], key: bytes) -> dict[str, str]:
    """Codes ``A``, ``B``, ... for conditions, in an order only the key holder can know.

    The conditions are ordered by HMAC-SHA256(key, condition), so the codes do not follow
    the names' alphabetical or protocol order; the same key always gives the same codes.
    """
    names = sorted(
        set(conditions), key=lambda c: hmac.new(key, c.encode("utf-8"), hashlib.sha256).digest()
    )
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return {name: letters[i] if i < len(letters) else f"C{i + 1}" for i, name in enumerate(names)}


# -- descriptive ----------------------------------------------------------------------------


def _t_interval(values: np.ndarray) -> tuple[float, float]:
    """95 % t confidence interval of the mean (NaNs with fewer than 2 values)."""
    from scipy import stats

    if len(values) < 2:
        return float("nan"), float("nan")
    result = stats.ttest_1samp(values, 0.0)
    low, high = result.confidence_interval(0.95)
    return float(low), float(high)


def change_table(
    sessions: pd.DataFrame, *, value: str = "thickness_mm", baseline_week: int
) -> pd.DataFrame:
    """One row per subject x condition x leg x site x week with ``value`` and its baseline.

    Columns: ``subject, condition, leg, site, week, value, baseline, change, change_pct``;
    ``baseline`` is the same leg's value at ``baseline_week`` (NaN when it has none).
    """
    keys = ["subject", "condition", "leg", "site"]
    part = sessions.dropna(subset=["week"]).copy()
    part = part[np.isfinite(part[value].to_numpy(dtype=float))]
    part["week"] = part["week"].astype(int)
    base = part[part["week"] == baseline_week].set_index(keys)[value].rename("baseline")
    base = base[~base.index.duplicated()]
    table = part[[*keys, "week", value]].rename(columns={value: "value"})
    table = table.join(base, on=keys)
    table["change"] = table["value"] - table["baseline"]
    table["change_pct"] = table["change"] / table["baseline"] * 100.0
    return table.reset_index(drop=True)


def group_summary(changes: pd.DataFrame) -> pd.DataFrame:
    """Mean, SD and 95 % CI per site, condition and week, of the values and of the change.

    Parameters
    ----------
    changes : DataFrame
        :func:`change_table`.

    Returns
    -------
    DataFrame
        ``site, condition, week, n, mean, sd, ci95_low, ci95_high, n_change, mean_change,
        sd_change, change_ci95_low, change_ci95_high, mean_change_pct``.
    """
    import pandas as pd

    rows = []
    for (site, condition, week), group in changes.groupby(
        ["site", "condition", "week"], sort=False
    ):
        values = group["value"].to_numpy(dtype=float)
        change = group["change"].dropna().to_numpy(dtype=float)
        low, high = _t_interval(values)
        c_low, c_high = _t_interval(change)
        rows.append(
            {
                "site": site,
                "condition": condition,
                "week": int(week),
                "n": len(values),
                "mean": float(values.mean()),
                "sd": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
                "ci95_low": low,
                "ci95_high": high,
                "n_change": len(change),
                "mean_change": float(change.mean()) if len(change) else float("nan"),
                "sd_change": float(change.std(ddof=1)) if len(change) > 1 else float("nan"),
                "change_ci95_low": c_low,
                "change_ci95_high": c_high,
                "mean_change_pct": float(group["change_pct"].dropna().mean())
                if len(change)
                else float("nan"),
            }
        )
    columns = ["site", "condition", "week", "n", "mean", "sd", "ci95_low", "ci95_high"]
    columns += ["n_change", "mean_change", "sd_change", "change_ci95_low", "change_ci95_high"]
    columns += ["mean_change_pct"]
    return pd.DataFrame(rows, columns=columns)


# -- the comparison ---------------------------------------------------------------------------


def model_data(changes: pd.DataFrame, *, site: str, baseline_week: int) -> pd.DataFrame:
    """The rows the mixed model of ``site`` is fitted on: post-baseline legs with a baseline.

    Columns ``subject, condition, leg, week, value, baseline`` (what to give R).
    """
    part = changes[
        (changes["site"] == site)
        & (changes["week"] != baseline_week)
        & changes["baseline"].notna()
        & (changes["condition"].astype(str) != "")
    ]
    columns = ["subject", "condition", "leg", "week", "value", "baseline"]
    return part[columns].sort_values(["week", "subject", "leg"]).reset_index(drop=True)


def _t_ci(estimate: float, se: float, df: float) -> tuple[float, float, float]:
    from scipy import stats

    if not (np.isfinite(estimate) and np.isfinite(se) and np.isfinite(df) and df >= 1):
        return float("nan"), float("nan"), float("nan")
    q = float(stats.t.ppf(0.975, df))
    p = float(2 * stats.t.sf(abs(estimate / se), df)) if se > 0 else float("nan")
    return estimate - q * se, estimate + q * se, p


def _fit_week(
    data: pd.DataFrame, conditions: Sequence[str], reference: str
) -> tuple[dict[str, tuple[float, float]], int, str, str]:
    """Fit ``value ~ condition + baseline + (1 | subject)`` on one week's rows.

    Returns ``({condition: (estimate, se)}, fixed-effect parameters, method, note)``.
    """
    import pandas as pd
    from statsmodels.regression.linear_model import OLS
    from statsmodels.regression.mixed_linear_model import MixedLM

    others = [c for c in conditions if c != reference and (data["condition"] == c).any()]
    exog = pd.DataFrame({"intercept": 1.0}, index=data.index)
    for condition in others:
        exog[condition] = (data["condition"] == condition).astype(float)
    exog["baseline"] = data["baseline"].astype(float)
    endog = data["value"].astype(float)
    notes = []
    per_subject = data.groupby("subject").size()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if (per_subject > 1).any():
            method = "mixed model"
            model = MixedLM(endog, exog, groups=data["subject"])
            # BFGS to a gradient tolerance of 1e-4: 2-3x faster than statsmodels' default and
            # within 1e-6 mm of it; statsmodels' default (more methods) when it fails
            fit = model.fit(reml=True, method="bfgs", gtol=1e-4)
            if not fit.converged:
                caught.clear()  # what the first try warned about no longer holds
                fit = model.fit(reml=True)
            if not fit.converged:
                notes.append("the mixed model did not converge")
        else:
            method = "OLS (one leg per subject)"
            fit = OLS(endog, exog).fit()
    for warning in caught:
        if issubclass(warning.category, DeprecationWarning | FutureWarning):
            continue
        text = str(warning.message).split("\n")[0]
        if "boundary of the parameter space" in text:
            text = (
                "subject variance estimated at 0 (on the boundary): the fit equals ordinary "
                "least squares"
            )
        if text and text not in notes:
            notes.append(text)
    params, bse = fit.params, fit.bse
    estimates = {c: (float(params[c]), float(bse[c])) for c in others}
    return estimates, exog.shape[1], method, "; ".join(notes)


def _paired_week(
    data: pd.DataFrame, condition: str, reference: str, kind: str
) -> tuple[float, float, float, float, float, int, str]:
    """Paired (within) or Welch (between) estimate of the difference in change from baseline.

    Returns ``(estimate, se, df, ci_low, ci_high, n_subjects, note)`` (p-value computed by
    the caller from the t statistic).
    """
    from scipy import stats

    data = data.assign(change=data["value"] - data["baseline"])
    per = data.groupby(["subject", "condition"])["change"].mean().unstack("condition")
    nan = float("nan")
    if condition not in per.columns or reference not in per.columns:
        return nan, nan, nan, nan, nan, 0, "no subjects in one of the conditions"
    if kind == "within":
        diff = (per[condition] - per[reference]).dropna().to_numpy(dtype=float)
        if len(diff) < 2:
            return nan, nan, nan, nan, nan, len(diff), "fewer than 2 subjects with both"
        result = stats.ttest_1samp(diff, 0.0)
        low, high = result.confidence_interval(0.95)
        se = float(diff.std(ddof=1) / math.sqrt(len(diff)))
        return float(diff.mean()), se, float(result.df), float(low), float(high), len(diff), ""
    a = per[condition].dropna().to_numpy(dtype=float)
    b = per[reference].dropna().to_numpy(dtype=float)
    if len(a) < 2 or len(b) < 2:
        return nan, nan, nan, nan, nan, len(a) + len(b), "fewer than 2 subjects in a condition"
    result = stats.ttest_ind(a, b, equal_var=False)
    low, high = result.confidence_interval(0.95)
    se = float(math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)))
    estimate = float(a.mean() - b.mean())
    return estimate, se, float(result.df), float(low), float(high), len(a) + len(b), ""


def compare_conditions(
    changes: pd.DataFrame,
    design: Design,
    *,
    quantity: Quantity,
    baseline_week: int,
    sites: Sequence[str],
) -> pd.DataFrame:
    """The difference in change from baseline between conditions, per site and week.

    Two rows per site, week and contrast: the mixed model and the paired (or Welch) check
    (see the module docstring). Columns: :data:`COMPARISON_COLUMNS`.

    Parameters
    ----------
    changes : DataFrame
        :func:`change_table` of ``quantity``.
    design : Design
        :func:`study_design`; an empty table when its conditions cannot be compared.
    quantity : Quantity
        What ``changes`` holds.
    baseline_week : int
        The baseline week.
    sites : sequence of str
        Sites and composites, in display order.
    """
    import pandas as pd

    rows = []
    if not design.comparable or design.reference is None:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    reference = design.reference
    for site in sites:
        data = model_data(changes, site=site, baseline_week=baseline_week)
        for week in sorted(data["week"].unique()):
            rows_week = data[data["week"] == week]
            n_subjects = int(rows_week["subject"].nunique())
            fitted: dict[str, tuple[float, float]] = {}
            n_params, method, note = 2 + len(design.contrasts()), "mixed model", ""
            enough = n_subjects >= n_params + 2 and rows_week["condition"].nunique() > 1
            if enough:
                fitted, n_params, method, note = _fit_week(rows_week, design.conditions, reference)
            else:
                note = f"{n_subjects} subject(s) with a baseline: too few for the model"
            formula = f"{quantity.column} ~ condition + baseline + (1 | subject), week {week}"
            for condition, _ in design.contrasts():
                estimate, se = fitted.get(condition, (float("nan"), float("nan")))
                df = float(n_subjects - n_params) if np.isfinite(estimate) else float("nan")
                low, high, p = _t_ci(estimate, se, df)
                rows.append(
                    {
                        "quantity": quantity.column,
                        "unit": quantity.unit,
                        "site": site,
                        "week": int(week),
                        "contrast": f"{condition} - {reference}",
                        "method": method,
                        "estimate": estimate,
                        "se": se,
                        "df": df,
                        "ci95_low": low,
                        "ci95_high": high,
                        "p_value": p,
                        "n_subjects": n_subjects,
                        "n_obs": len(rows_week),
                        "formula": formula,
                        "note": note,
                    }
                )
                estimate, se, df, low, high, n, paired_note = _paired_week(
                    rows_week, condition, reference, design.kind
                )
                _, _, p = _t_ci(estimate, se, df)
                name = "paired t (change)" if design.kind == "within" else "Welch t (change)"
                rows.append(
                    {
                        "quantity": quantity.column,
                        "unit": quantity.unit,
                        "site": site,
                        "week": int(week),
                        "contrast": f"{condition} - {reference}",
                        "method": name,
                        "estimate": estimate,
                        "se": se,
                        "df": df,
                        "ci95_low": low,
                        "ci95_high": high,
                        "p_value": p,
                        "n_subjects": n,
                        "n_obs": len(rows_week),
                        "formula": f"change of {condition} - change of {reference}, week {week}"
                        if design.kind == "within"
                        else f"mean change {condition} - mean change {reference}, week {week}",
                        "note": paired_note,
                    }
                )
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def relative_effects(
    comparison: pd.DataFrame,
    changes: pd.DataFrame,
    *,
    mdc95: Mapping[str, float] | None = None,
    swc: float | None = None,
) -> pd.DataFrame:
    """``comparison`` with the effect in % of baseline, per MDC95 and per SWC.

    Added columns: ``baseline_mean`` (mean baseline value of the legs in the model),
    ``estimate_pct``, ``ci95_low_pct``, ``ci95_high_pct``, ``mdc95`` and
    ``estimate_per_mdc95`` (NaN where the site has no MDC95), ``swc``, ``swc_source`` and
    ``estimate_per_swc``, and ``vs_swc``: where the whole 95 % CI lies against ``+-SWC``.

    Parameters
    ----------
    comparison : DataFrame
        :func:`compare_conditions` of one quantity.
    changes : DataFrame
        The :func:`change_table` it was computed from.
    mdc95 : mapping, optional
        ``{site: MDC95}`` in the quantity's unit.
    swc : float, optional
        The protocol's smallest worthwhile change; default 0.2 x the SD between subjects'
        baseline values (per site).
    """
    table = comparison.copy()
    mdc95 = dict(mdc95 or {})
    baselines, swcs, sources = [], [], []
    for row in table.itertuples(index=False):
        part = changes[(changes["site"] == row.site) & changes["baseline"].notna()]
        legs = part.drop_duplicates(["subject", "leg"])
        baselines.append(float(legs["baseline"].mean()) if len(legs) else float("nan"))
        if swc is not None:
            swcs.append(float(swc))
            sources.append("protocol")
        else:
            subject_means = legs.groupby("subject")["baseline"].mean()
            sd = float(subject_means.std(ddof=1)) if len(subject_means) > 1 else float("nan")
            swcs.append(0.2 * sd)
            sources.append("0.2 x between-subject SD at baseline")
    table["baseline_mean"] = baselines
    for column in ("estimate", "ci95_low", "ci95_high"):
        table[f"{column}_pct"] = table[column] / table["baseline_mean"] * 100.0
    table["mdc95"] = [float(mdc95.get(site, float("nan"))) for site in table["site"]]
    table["estimate_per_mdc95"] = table["estimate"] / table["mdc95"]
    table["swc"] = swcs
    table["swc_source"] = sources
    table["estimate_per_swc"] = table["estimate"] / table["swc"]
    table["vs_swc"] = [
        _vs_swc(low, high, s)
        for low, high, s in zip(table["ci95_low"], table["ci95_high"], table["swc"], strict=True)
    ]
    return table


def _vs_swc(low: float, high: float, swc: float) -> str:
    """Where a 95 % CI lies against the smallest worthwhile change ``+-swc``."""
    if not (np.isfinite(low) and np.isfinite(high) and np.isfinite(swc)):
        return ""
    if low > swc:
        return "whole CI above +SWC"
    if high < -swc:
        return "whole CI below -SWC"
    if -swc <= low and high <= swc:
        return "whole CI within +-SWC (trivial)"
    return "CI spans the SWC (unclear)"
