"""The condition comparison against simulated studies with a known effect and against
independent computations (statsmodels' formula interface, numpy, the export's wide tables)."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from musclethick.analysis import (
    QUANTITIES,
    blind_codes,
    change_table,
    compare_conditions,
    group_summary,
    model_data,
    quantities_in,
    relative_effects,
    study_design,
)
from musclethick.errors import UsageError
from musclethick.export import aggregate_sessions, wide_tables
from musclethick.protocol import Protocol, Site
from musclethick.study.simulate import SimulatedStudy, simulate_images

THICKNESS = QUANTITIES[0]
ONE_SITE = Protocol(name="sim", sites=(Site("RF50", "RF"),), weeks=(0, 4, 8))


def sessions_of(study: SimulatedStudy, seed: int) -> pd.DataFrame:
    protocol = replace(ONE_SITE, weeks=study.weeks)
    return aggregate_sessions(simulate_images(study, seed), protocol)


def comparison_of(study: SimulatedStudy, seed: int) -> pd.DataFrame:
    sessions = sessions_of(study, seed)
    design = study_design(sessions, order=study.conditions)
    changes = change_table(sessions, baseline_week=study.weeks[0])
    return compare_conditions(
        changes, design, quantity=THICKNESS, baseline_week=study.weeks[0], sites=["RF50"]
    )


# -- design and blinding -------------------------------------------------------------------------


def frame(rows):
    return pd.DataFrame(rows, columns=["subject", "condition"])


def test_study_design_kinds():
    within = study_design(
        frame([("S1", "FAIL"), ("S1", "RIR"), ("S2", "FAIL"), ("S2", "RIR")]),
        order=("FAIL", "RIR"),
    )
    assert within.kind == "within" and within.contrasts() == (("FAIL", "RIR"),)
    assert "2 of 2 subjects" in within.message
    assert within.message.endswith("differences are FAIL - RIR.")  # named, not "condition"
    between = study_design(frame([("S1", "FAIL"), ("S2", "RIR"), ("S3", "FAIL")]))
    assert between.kind == "between" and between.reference == "RIR"  # alphabetical, last
    single = study_design(frame([("S1", "FAIL"), ("S2", "FAIL")]))
    assert single.kind == "single" and not single.comparable and "One condition" in single.message
    none = study_design(frame([("S1", ""), ("S2", "")]))
    assert none.kind == "none" and "--allocation" in none.message
    chosen = study_design(frame([("S1", "A"), ("S1", "B"), ("S1", "C")]), reference="A")
    assert chosen.contrasts() == (("B", "A"), ("C", "A"))
    assert chosen.message.endswith("differences are each condition (B, C) - A.")
    with pytest.raises(UsageError, match=r"--reference X: not a condition .*A, B, C"):
        study_design(frame([("S1", "A"), ("S1", "B"), ("S1", "C")]), reference="X")


def test_blind_codes_follow_the_key_not_the_names():
    orders = set()
    for key in (b"k1", b"k2", b"k3", b"k4", b"k5", b"k6"):
        codes = blind_codes(["FAIL", "RIR", "FAIL"], key)
        assert sorted(codes.values()) == ["A", "B"] and blind_codes(["RIR", "FAIL"], key) == codes
        orders.add(codes["FAIL"])
    assert orders == {"A", "B"}  # some keys code FAIL as A, others as B


# -- descriptive statistics against independent computations -------------------------------------


def test_change_and_group_means_match_numpy_and_the_export_wide_tables():
    study = SimulatedStudy(n_subjects=6, sites=("RF50",))
    sessions = sessions_of(study, 3)
    changes = change_table(sessions, baseline_week=0)
    summary = group_summary(changes)
    # the export's wide table (its own code path) has the change from baseline per leg
    wide = wide_tables(sessions, ONE_SITE)["wide_RF50"]
    for condition in ("FAIL", "RIR"):
        legs = wide[wide["condition"] == condition]
        row = summary[(summary["condition"] == condition) & (summary["week"] == 8)].iloc[0]
        change = legs["change_mm_week_8"].to_numpy(float)
        assert row["mean_change"] == pytest.approx(change.mean(), abs=1e-9)
        half = stats.t.ppf(0.975, len(change) - 1) * change.std(ddof=1) / math.sqrt(len(change))
        assert row["change_ci95_low"] == pytest.approx(change.mean() - half, abs=1e-9)
        assert row["change_ci95_high"] == pytest.approx(change.mean() + half, abs=1e-9)
        values = legs["week_8"].to_numpy(float)
        assert row["mean"] == pytest.approx(values.mean()) and row["n"] == len(values)
        pct = legs["change_pct_week_8"].to_numpy(float).mean()
        assert row["mean_change_pct"] == pytest.approx(pct)


def test_quantities_in_lists_measured_columns_only():
    table = pd.DataFrame({"thickness_mm": [1.0], "echo_intensity": [np.nan]})
    assert [q.column for q in quantities_in(table)] == ["thickness_mm"]


# -- the comparison against independent computations ---------------------------------------------


def test_paired_check_matches_a_hand_computed_paired_t_interval():
    study = SimulatedStudy(n_subjects=10, sites=("RF50",))
    sessions = sessions_of(study, 5)
    changes = change_table(sessions, baseline_week=0)
    design = study_design(sessions, order=("FAIL", "RIR"))
    table = compare_conditions(changes, design, quantity=THICKNESS, baseline_week=0, sites=["RF50"])
    paired = table[(table["method"] == "paired t (change)") & (table["week"] == 8)].iloc[0]
    week8 = changes[changes["week"] == 8].pivot(
        index="subject", columns="condition", values="change"
    )
    diff = (week8["FAIL"] - week8["RIR"]).to_numpy(float)
    half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / math.sqrt(len(diff))
    assert paired["estimate"] == pytest.approx(diff.mean(), abs=1e-9)
    assert paired["ci95_low"] == pytest.approx(diff.mean() - half, abs=1e-9)
    assert paired["ci95_high"] == pytest.approx(diff.mean() + half, abs=1e-9)
    assert paired["n_subjects"] == 10 and paired["df"] == 9


def test_mixed_model_matches_statsmodels_formula_interface():
    import statsmodels.formula.api as smf

    study = SimulatedStudy(n_subjects=12, sites=("RF50",), effect_mm=0.8)
    sessions = sessions_of(study, 11)
    changes = change_table(sessions, baseline_week=0)
    table = compare_conditions(
        changes,
        study_design(sessions, order=("FAIL", "RIR")),
        quantity=THICKNESS,
        baseline_week=0,
        sites=["RF50"],
    )
    data = model_data(changes, site="RF50", baseline_week=0)
    for week in (4, 8):
        part = data[data["week"] == week]
        with warnings.catch_warnings():  # a subject variance on the boundary is warned about
            warnings.simplefilter("ignore")
            fit = smf.mixedlm(
                "value ~ C(condition, Treatment('RIR')) + baseline", part, groups=part["subject"]
            ).fit(reml=True)
        name = "C(condition, Treatment('RIR'))[T.FAIL]"
        row = table[(table["method"] == "mixed model") & (table["week"] == week)].iloc[0]
        assert row["estimate"] == pytest.approx(fit.params[name], abs=1e-4)
        assert row["se"] == pytest.approx(fit.bse[name], rel=1e-3)
        half = stats.t.ppf(0.975, 12 - 3) * row["se"]
        assert row["ci95_high"] - row["ci95_low"] == pytest.approx(2 * half)
        assert row["n_subjects"] == 12 and row["n_obs"] == 24


def test_known_effect_is_covered_and_found():
    study = SimulatedStudy(n_subjects=18, sites=("RF50",), weeks=(0, 8), effect_mm=1.0)
    covered = {"mixed model": 0, "paired t (change)": 0}
    above_zero = dict(covered)
    seeds = range(100, 110)
    for seed in seeds:
        table = comparison_of(study, seed)
        for row in table[table["week"] == 8].itertuples():
            covered[row.method] += row.ci95_low <= 1.0 <= row.ci95_high
            above_zero[row.method] += row.ci95_low > 0
    # 95 % CIs: at least 8 of 10 cover the truth (P(fewer) ~ 1 % when they are right)
    assert min(covered.values()) >= 8, covered
    # +1 mm with 18 subjects is found nearly always (power ~ 0.98 for a paired SD ~ 0.9 mm)
    assert min(above_zero.values()) >= 8, above_zero


def test_between_subject_design_uses_welch_and_covers_the_effect():
    study = SimulatedStudy(n_subjects=24, sites=("RF50",), design="between", effect_mm=1.0)
    table = comparison_of(study, 7)
    week8 = table[table["week"] == 8]
    assert set(week8["method"]) == {"mixed model", "Welch t (change)"}
    sessions = sessions_of(study, 7)
    changes = change_table(sessions, baseline_week=0)
    per_subject = changes[changes["week"] == 8].groupby(["subject", "condition"])["change"].mean()
    a = per_subject.xs("FAIL", level="condition").to_numpy(float)
    b = per_subject.xs("RIR", level="condition").to_numpy(float)
    welch = week8[week8["method"] == "Welch t (change)"].iloc[0]
    assert welch["estimate"] == pytest.approx(a.mean() - b.mean())
    expected = stats.ttest_ind(a, b, equal_var=False).confidence_interval()
    assert (welch["ci95_low"], welch["ci95_high"]) == pytest.approx(tuple(expected))
    # between subjects (SD 3 mm) 24 subjects measure +1 mm with a CI of a few mm
    for row in week8.itertuples():
        assert row.ci95_low <= 1.0 <= row.ci95_high


def test_one_leg_per_subject_falls_back_to_ordinary_least_squares():
    study = SimulatedStudy(n_subjects=10, sites=("RF50",), design="between")
    sessions = sessions_of(study, 2)
    sessions = sessions[sessions["leg"] == "L"]
    changes = change_table(sessions, baseline_week=0)
    table = compare_conditions(
        changes,
        study_design(sessions, order=("FAIL", "RIR")),
        quantity=THICKNESS,
        baseline_week=0,
        sites=["RF50"],
    )
    assert set(table["method"]) == {"OLS (one leg per subject)", "Welch t (change)"}
    assert table["estimate"].notna().all()


def test_too_few_subjects_say_why():
    study = SimulatedStudy(n_subjects=3, sites=("RF50",))
    table = comparison_of(study, 0)
    model = table[table["method"] == "mixed model"]
    assert model["estimate"].isna().all() and model["note"].str.contains("too few").all()


def test_relative_effects():
    study = SimulatedStudy(n_subjects=8, sites=("RF50",))
    sessions = sessions_of(study, 1)
    changes = change_table(sessions, baseline_week=0)
    table = compare_conditions(
        changes,
        study_design(sessions, order=("FAIL", "RIR")),
        quantity=THICKNESS,
        baseline_week=0,
        sites=["RF50"],
    )
    out = relative_effects(table, changes, mdc95={"RF50": 2.0}, swc=0.5)
    baseline = sessions[sessions["week"] == 0]["thickness_mm"].mean()
    assert out["baseline_mean"].iloc[0] == pytest.approx(baseline)
    assert out["estimate_pct"].iloc[0] == pytest.approx(out["estimate"].iloc[0] / baseline * 100)
    assert out["estimate_per_mdc95"].iloc[0] == pytest.approx(out["estimate"].iloc[0] / 2.0)
    assert (out["swc_source"] == "protocol").all()
    default = relative_effects(table, changes)
    subject_means = sessions[sessions["week"] == 0].groupby("subject")["thickness_mm"].mean()
    assert default["swc"].iloc[0] == pytest.approx(0.2 * subject_means.std(ddof=1))
    assert np.isnan(default["mdc95"]).all()
    verdicts = relative_effects(
        pd.DataFrame(
            {
                "site": ["RF50"] * 4,
                "estimate": [2.0, -2.0, 0.0, 0.4],
                "ci95_low": [1.0, -3.0, -0.2, -0.2],
                "ci95_high": [3.0, -1.0, 0.2, 1.0],
            }
        ),
        changes,
        swc=0.5,
    )["vs_swc"]
    assert list(verdicts) == [
        "whole CI above +SWC",
        "whole CI below -SWC",
        "whole CI within +-SWC (trivial)",
        "CI spans the SWC (unclear)",
    ]


# -- the false-positive rate over repeated seeds (figure for 1,000 seeds in bench/README.md) -----


@pytest.mark.slow
def test_false_positive_rate_near_five_percent():
    study = SimulatedStudy(n_subjects=18, sites=("RF50",), weeks=(0, 8), effect_mm=0.0)
    seeds = range(60)
    positives = {"mixed model": 0, "paired t (change)": 0}
    for seed in seeds:
        for row in comparison_of(study, 1000 + seed).itertuples():
            positives[row.method] += not (row.ci95_low <= 0.0 <= row.ci95_high)
    # 5 % expected: 3 of 60; P(X >= 9 | n = 60, p = 0.05) = 0.4 %, and 0 or 1 of 60 would
    # point to CIs much too wide (P(X <= 0) = 4.6 %, so allow 0)
    assert all(n <= 8 for n in positives.values()), positives
