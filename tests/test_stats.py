"""Reliability statistics against published and hand-computed values."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from musclethick.errors import MusclethickError
from musclethick.stats import (
    bland_altman,
    cv_percent,
    icc,
    icc_2_1,
    plot_bland_altman,
    reliability,
    sem_from_icc,
    typical_error,
)

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
    dtype=float,
)


def test_icc_shrout_fleiss_published_values():
    result = icc(SHROUT_FLEISS)
    # published (Shrout & Fleiss 1979, Table 4): ICC(2,1) = .29, ICC(3,1) = .71
    assert round(result["ICC(2,1)"].value, 2) == 0.29
    assert round(result["ICC(3,1)"].value, 2) == 0.71
    # and from the published mean squares BMS 11.24, JMS 32.49, EMS 1.02 (k = 4, n = 6)
    bms, jms, ems, k, n = 11.24, 32.49, 1.02, 4, 6
    icc21 = (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n)
    icc31 = (bms - ems) / (bms + (k - 1) * ems)
    assert result["ICC(2,1)"].value == pytest.approx(icc21, abs=2e-3)
    assert result["ICC(3,1)"].value == pytest.approx(icc31, abs=2e-3)
    for value in result.values():
        assert value.ci95_low < value.value < value.ci95_high


def test_icc_2_1_exact_for_shrout_fleiss_table_2():
    # by hand, in fractions: BMS = 1349/120 (11.24), JMS = 2339/72 (32.49), EMS = 367/360
    # (1.02), the mean squares Shrout & Fleiss (1979) print, so ICC(2,1) = 184/635 (.29)
    assert icc_2_1(SHROUT_FLEISS) == pytest.approx(184 / 635, rel=1e-12)
    assert icc(SHROUT_FLEISS)["ICC(2,1)"].value == icc_2_1(SHROUT_FLEISS)  # one implementation


def test_icc_3_1_confidence_interval_exact_not_rounded():
    """The ICC(3,1) CI of Shrout & Fleiss's table from their F-test formula, to 1e-9 (it was
    rounded to two decimals by pingouin's display option)."""
    from scipy.stats import f

    bms, ems, n, k = 1349 / 120, 367 / 360, 6, 4  # the exact mean squares (test above)
    f0 = bms / ems
    fl = f0 / f.ppf(0.975, n - 1, (n - 1) * (k - 1))
    fu = f0 * f.ppf(0.975, (n - 1) * (k - 1), n - 1)
    low, high = (fl - 1) / (fl + k - 1), (fu - 1) / (fu + k - 1)
    got = icc(SHROUT_FLEISS)["ICC(3,1)"]
    assert got.ci95_low == pytest.approx(low, abs=1e-9)
    assert got.ci95_high == pytest.approx(high, abs=1e-9)
    assert round(got.ci95_low, 2) != got.ci95_low  # more than two decimals


def test_icc_2_1_tiny_hand_computed():
    # [[1, 2], [3, 4]]: subjects SS 4 (MS 4), trials SS 1 (MS 1), residual 0,
    # so ICC(2,1) = 4 / (4 + 0 + 2 x 1 / 2) = 0.8
    assert icc_2_1([[1.0, 2.0], [3.0, 4.0]]) == pytest.approx(0.8, rel=1e-12)
    assert icc_2_1([[5.0, 5.0], [7.0, 7.0], [2.0, 2.0]]) == pytest.approx(1.0)
    assert math.isnan(icc_2_1([[1.0, 2.0]]))  # one subject
    assert math.isnan(icc_2_1([[3.0, 3.0], [3.0, 3.0]]))  # no variance
    with pytest.raises(MusclethickError, match="k >= 2"):
        icc_2_1([[1.0], [2.0]])


def test_typical_error_hopkins_two_trials():
    trial1 = [60.0, 62.0, 58.0, 65.0]
    trial2 = [61.0, 64.0, 57.0, 66.0]
    # differences 1, 2, -1, 1: SD = sqrt(4.75 / 3); typical error = SD / sqrt(2)
    expected = math.sqrt(4.75 / 3) / math.sqrt(2)
    assert typical_error(np.column_stack([trial1, trial2])) == pytest.approx(expected)
    assert expected == pytest.approx(0.88976, abs=1e-5)


def test_typical_error_more_trials_is_residual_sd():
    # residual mean square of the two-way ANOVA, computed by hand for this 3 x 3 array
    data = np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 5.0], [4.0, 6.0, 5.0]])
    residual = data - data.mean(1, keepdims=True) - data.mean(0, keepdims=True) + data.mean()
    assert typical_error(data) == pytest.approx(math.sqrt((residual**2).sum() / 4))


def test_cv_percent_rms_and_mean():
    data = np.array([[10.0, 12.0], [20.0, 20.0], [30.0, 33.0]])
    cvs = np.array([math.sqrt(2) / 11 * 100, 0.0, math.sqrt(4.5) / 31.5 * 100])
    assert cv_percent(data) == pytest.approx(math.sqrt(np.mean(cvs**2)))
    assert cv_percent(data, method="mean") == pytest.approx(cvs.mean())
    with pytest.raises(MusclethickError, match="cv method"):
        cv_percent(data, method="median")


def test_reliability_sem_and_mdc():
    rel = reliability(SHROUT_FLEISS)
    sd_all = SHROUT_FLEISS.std(ddof=1)
    assert rel.sem == pytest.approx(sd_all * math.sqrt(1 - rel.icc31.value))
    assert sem_from_icc(SHROUT_FLEISS, rel.icc31.value) == pytest.approx(rel.sem)
    assert rel.mdc95 == pytest.approx(1.96 * math.sqrt(2) * rel.sem)
    assert (rel.n_subjects, rel.n_trials) == (6, 4) and rel.mean == pytest.approx(127 / 24)
    row = rel.as_row()
    assert row["icc_21"] == rel.icc21.value and "icc_31_ci95_high" in row


def test_bland_altman_and_plot(tmp_path):
    stats = bland_altman([10.0, 12.0, 14.0], [11.0, 12.0, 16.0])
    assert (stats.n, stats.bias, stats.sd) == (3, 1.0, 1.0)
    assert (stats.loa_low, stats.loa_high) == pytest.approx((-0.96, 2.96))
    path = tmp_path / "ba.png"
    plot_bland_altman([10.0, 12.0, 14.0], [11.0, 12.0, 16.0], path, label_a="edges")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_errors():
    with pytest.raises(MusclethickError, match="at least 2 subjects"):
        icc([[1.0, 2.0]])
    with pytest.raises(MusclethickError, match="finite"):
        reliability([[1.0, np.nan], [2.0, 3.0]])
    with pytest.raises(MusclethickError, match="equally long"):
        bland_altman([1.0, 2.0], [1.0])


def test_reliability_report_from_store(tmp_path, capsys):
    from musclethick.study.reliability import reliability_report
    from musclethick.study.store import StudyStore
    from musclethick.types import Calibration, FrameResult, LineMeasurement, PixelBox

    def frame_result(path, thickness_mm):
        line = LineMeasurement(
            "x50", 50.0, 10.0, 10.0 + thickness_mm * 10, thickness_mm * 10, thickness_mm
        )
        return FrameResult(
            path,
            0,
            PixelBox(0, 0, 100, 100),
            Calibration.isotropic(0.1, "user"),
            None,
            None,
            (line,),
            50.0,
            0.9,
            "ok",
            method="edges",
        )

    week0 = np.array([[20.0, 21.0, 20.5], [25.0, 24.0, 24.5], [30.0, 30.5, 31.0]])
    week4 = week0 + np.array([[1.0], [0.5], [1.5]])
    with StudyStore(tmp_path / "s.sqlite") as store:
        run = store.start_run(method="edges")
        for week, matrix in ((0, week0), (4, week4)):
            for s, row in enumerate(matrix):
                for rep, value in enumerate(row, start=1):
                    file = tmp_path / f"S{s}_{week}_{rep}.png"
                    file.write_text(file.name)
                    scan = store.record_scan(
                        file, subject=f"S{s}", leg="L", week=week, site="VL50", rep=rep
                    )
                    store.record_results(scan, [frame_result(str(file), value)], run)
    report = reliability_report(
        tmp_path / "s.sqlite", protocol="rt_failure_2024", between_weeks=[0, 4]
    )
    # the CLI's table says in words what was measured repeatedly: sessions, then legs
    from musclethick.cli import main

    args = ["reliability", str(tmp_path / "s.sqlite"), "--protocol", "rt_failure_2024"]
    assert main([*args, "--between", "0", "4"]) == 0
    out = capsys.readouterr().out.splitlines()
    printed = [ln for ln in out if ln.lstrip().startswith("VL50")]
    assert len(printed) == 2 and "6 sessions" in printed[0] and "3 legs" in printed[1]
    # text under its header (a trial misread run-together columns); the CI the warnings name
    (header,) = [ln for ln in out if ln.startswith("site")]
    assert printed[0].index("within session") == header.index("kind")
    assert printed[0].index("6 sessions") == header.index("measured")
    assert "icc_21_ci95" in header and re.search(r"\[-?\d\.\d\d, -?\d\.\d\d\]", printed[0])
    # RF50 has no scans: its rows say why nothing was computed
    rf50 = report[report.site == "RF50"]
    assert len(rf50) == 2 and rf50.icc_21.isna().all() and (rf50.n_measured == 0).all()
    assert "needs at least 2" in rf50.note.iloc[0] and "needs at least 2" in rf50.note.iloc[1]
    table = report[report.site == "VL50"].set_index("kind")
    assert (table.note == "").all()  # six subject legs who differ: a trustworthy ICC
    within = table.loc["within session (3 images)"]
    expected = reliability(np.vstack([week0, week4]))
    assert within.n_measured == 6 and within.icc_31 == pytest.approx(expected.icc31.value)
    assert within.typical_error == pytest.approx(expected.typical_error)
    between = table.loc["between sessions (weeks 0, 4)"]
    sessions = np.column_stack([week0.mean(1), week4.mean(1)])
    assert between.typical_error == pytest.approx(typical_error(sessions))
    assert between.typical_error == pytest.approx(
        np.std(sessions[:, 1] - sessions[:, 0], ddof=1) / math.sqrt(2)
    )


def test_paired_raters_from_reviews(tmp_path):
    from musclethick.study.reliability import paired_raters
    from musclethick.study.store import StudyStore
    from musclethick.types import Calibration, FrameResult, LineMeasurement, PixelBox

    ids = []
    with StudyStore(tmp_path / "s.sqlite") as store:
        for i, value in enumerate([20.0, 22.0, 24.0]):
            file = tmp_path / f"f{i}.png"
            file.write_text(file.name)
            line = LineMeasurement("mean", 50.0, 10.0, 10 + value * 10, value * 10, value)
            result = FrameResult(
                str(file),
                0,
                PixelBox(0, 0, 9, 9),
                Calibration.isotropic(0.1, "user"),
                None,
                None,
                (line,),
                50.0,
                0.9,
                "ok",
                method="edges",
            )
            ids += store.record_results(store.record_scan(file), [result], None)
        store.record_review(
            ids[0], "correct", reviewer="alice", expected_revision=0, thickness_mm=21.0
        )
        store.record_review(ids[1], "accept", reviewer="alice", expected_revision=0)
        store.record_review(ids[2], "accept", reviewer="alice", expected_revision=0)
        store.record_review(ids[0], "accept", reviewer="bob", expected_revision=1)
        store.record_review(
            ids[1], "correct", reviewer="bob", expected_revision=1, thickness_mm=23.5
        )
        store.record_review(ids[2], "reject", reviewer="bob", expected_revision=1)
    a, b = paired_raters(tmp_path / "s.sqlite", "alice", "bob")
    assert a.tolist() == [21.0, 22.0] and b.tolist() == [20.0, 23.5]
    a, b = paired_raters(tmp_path / "s.sqlite", "model", "alice")
    assert a.tolist() == [20.0, 22.0, 24.0] and b.tolist() == [21.0, 22.0, 24.0]
    with pytest.raises(MusclethickError, match="fewer than 2"):
        paired_raters(tmp_path / "s.sqlite", "alice", "carol")


def test_icc_outside_range_or_undefined_is_explained():
    from musclethick.stats import icc_warning

    # two subjects with equal means and opposite trials: MSR = 0, MSC = 0, MSE = 200, so
    # ICC(2,1) = -MSE / (2 MSE - 3 MSE / 2) = -2 and ICC(3,1) = -MSE / (2 MSE) = -0.5
    data = np.array([[40.0, 60.0, 50.0], [60.0, 40.0, 50.0]])
    result = reliability(data)
    assert result.icc21.value == pytest.approx(-2.0)
    assert result.icc31.value == pytest.approx(-0.5)
    warning = icc_warning(data, result)
    assert warning.startswith("ICC(2,1) = -2.00 lies outside [-1, 1]")
    assert "SD of subject means 0 vs typical error 14.1" in warning
    assert "too few subjects (n = 2, at least 5 recommended)" in warning
    flat = np.full((3, 2), 5.0)
    warning = icc_warning(flat, reliability(flat))
    assert "ICC(2,1) is undefined" in warning and "all values are equal (no variance)" in warning
    assert icc_warning(SHROUT_FLEISS, reliability(SHROUT_FLEISS)) == ""
    with pytest.raises(MusclethickError, match="at least 5 values"):
        icc([[1.0, 2.0], [2.0, 4.0]])
