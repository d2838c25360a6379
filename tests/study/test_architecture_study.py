"""Architecture in a study: protocol switch, batch, store, exports and reliability.

Real SQLite stores and real files; architecture values are set by the tests (known pennation
angles and fascicle lengths), so the tables have hand-computed answers.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import replace

import numpy as np
import pytest

from musclethick.errors import ProtocolError
from musclethick.export import build_tables
from musclethick.protocol import load_protocol, parse_protocol
from musclethick.stats import reliability
from musclethick.study.reliability import reliability_report
from musclethick.study.store import StudyStore
from musclethick.types import Architecture, Fascicle


def architecture(pennation_deg: float, length_mm: float, *, dx: float = 0.0) -> Architecture:
    """An architecture with one fascicle from (20 + dx, 60) to (60 + dx, 40), frame pixels."""
    return Architecture(
        pennation_deg=pennation_deg,
        pennation_superficial_deg=pennation_deg + 1.0,
        fascicle_length_px=length_mm / 0.1,
        fascicle_length_mm=length_mm,
        extrapolated_fraction=0.25,
        n_fascicles=1,
        spread_deg=0.0,
        confidence=0.8,
        fascicles=(Fascicle(20.0 + dx, 60.0, 60.0 + dx, 40.0, "detected", 2.0),),
        line=(80.0, 30.0, 10.0, 90.0),
        method="ridges",
    )


PROTOCOL = """
[protocol]
name = "arch"
[design]
weeks = [0, 4]
[acquisition]
images_per_site = 2
architecture = true
[[site]]
name = "VL50"
muscle = "VL"
[[site]]
name = "RF50"
muscle = "RF"
architecture = false
"""


def test_protocol_asks_for_architecture_per_site(tmp_path):
    protocol = parse_protocol(tomllib.loads(PROTOCOL), source="arch.toml")
    assert protocol.architecture
    assert [s.architecture for s in protocol.sites] == [True, False]
    assert protocol.wants_architecture("vl50") and not protocol.wants_architecture("RF50")
    assert protocol.wants_architecture("GM")  # not listed: the protocol's default
    assert not load_protocol("default").wants_architecture("VL50")
    adapted = protocol.adapted(weeks=[0], sites=["GM"])
    assert protocol.adapt_to_study is False and adapted is protocol
    generic = replace(protocol, adapt_to_study=True).adapted(weeks=[0], sites=["GM", "RF50"])
    assert {s.name: s.architecture for s in generic.sites} == {"GM": True, "RF50": False}
    with pytest.raises(ProtocolError, match=r"site\[1\]\.architecture"):
        parse_protocol(tomllib.loads(PROTOCOL.replace("= false", '= "no"')), source="x.toml")


def test_store_keeps_architecture_and_review_rules(tmp_path, result_factory):
    scan = tmp_path / "S01_L_VL50_1.png"
    scan.write_bytes(b"scan")
    with StudyStore(tmp_path / "s.sqlite") as store:
        scan_id = store.record_scan(scan, subject="S01", leg="L", week=0, site="VL50", rep=1)
        results = [
            replace(result_factory(str(scan), [20.0, 22.0], frame_index=k), architecture=a)
            for k, a in enumerate((architecture(18.0, 60.0), None, architecture(20.0, 64.0)))
        ]
        ids = store.record_results(scan_id, results, None)
        stored = store.get_result(ids[0])
        # original image coordinates: the frame lies at (10, 20) (study conftest)
        assert stored.architecture.fascicles == (Fascicle(30.0, 80.0, 70.0, 60.0, "detected", 2.0),)
        assert stored.architecture.line == (90.0, 50.0, 20.0, 110.0)
        assert stored.architecture.pennation_deg == 18.0 and stored.architecture.method == "ridges"
        assert store.get_result(ids[1]).architecture is None
        manual = replace(architecture(25.0, 50.0), method="manual", confidence=1.0)
        review = store.record_review(
            ids[0],
            "correct",
            reviewer="AB",
            expected_revision=0,
            lines=stored.lines,
            architecture=manual.shifted(10.0, 20.0),
        )
        assert review.architecture.pennation_deg == 25.0
        assert review.architecture.fascicles[0].x0_px == 30.0
        store.record_review(ids[2], "reject", reviewer="AB", expected_revision=0, reason="blurred")
        frame = store.results_dataframe()
    per_result = frame.drop_duplicates("result_id").set_index("result_id")
    assert per_result.loc[ids[0], "pennation_deg"] == 25.0
    assert per_result.loc[ids[0], "pennation_deg_model"] == 18.0
    assert per_result.loc[ids[0], "fascicle_length_mm"] == 50.0
    assert per_result.loc[ids[0], "fascicle_extrapolated_pct"] == 25.0
    assert math.isnan(per_result.loc[ids[1], "pennation_deg"])
    assert math.isnan(per_result.loc[ids[2], "pennation_deg"])  # rejected: no value stands
    assert per_result.loc[ids[2], "fascicle_length_mm_model"] == 64.0


def _study_store(path, values, result_factory, tmp_path):
    """A store of rt-style scans: ``values[(subject, leg, week, rep)] = (PA, FL)`` at VL50."""
    with StudyStore(path) as store:
        for (subject, leg, week, rep), (pa, fl) in values.items():
            scan = tmp_path / f"{subject}_{leg}_{week}_{rep}.png"
            scan.write_bytes(scan.name.encode())
            scan_id = store.record_scan(
                scan, subject=subject, leg=leg, week=week, site="VL50", rep=rep
            )
            result = replace(
                result_factory(str(scan), [20.0 + week]), architecture=architecture(pa, fl)
            )
            store.record_results(scan_id, [result], None)


def test_exports_and_reliability_carry_pennation_and_fascicle_length(tmp_path, result_factory):
    week0 = np.array([[18.0, 19.0], [22.0, 21.0], [25.0, 26.0], [15.0, 15.5]])
    values = {}
    for s, row in enumerate(week0):
        for rep, pa in enumerate(row, start=1):
            values[(f"S{s}", "L", 0, rep)] = (pa, 3.0 * pa)
            values[(f"S{s}", "L", 4, rep)] = (pa + 2.0, 3.0 * pa + 4.0)
    path = tmp_path / "s.sqlite"
    _study_store(path, values, result_factory, tmp_path)
    protocol = parse_protocol(tomllib.loads(PROTOCOL), source="arch.toml")
    with StudyStore(path) as store:
        results = store.results_dataframe()
    tables = build_tables(results, protocol)
    long = tables["long"]
    assert {"pennation_deg", "pennation_deg_model", "fascicle_length_mm"} <= set(long.columns)
    sessions = tables["sessions"].set_index(["subject", "week"])
    assert sessions.loc[("S0", 0), "pennation_deg"] == pytest.approx(18.5)
    assert sessions.loc[("S0", 0), "pennation_sd_deg"] == pytest.approx(np.std([18, 19], ddof=1))
    assert sessions.loc[("S0", 4), "fascicle_length_mm"] == pytest.approx(3 * 18.5 + 4)
    assert sessions.loc[("S0", 0), "n_images_architecture"] == 2
    wide = tables["wide_VL50_PA"].set_index("subject")
    assert list(wide.columns) == [
        "condition",
        "leg",
        "pennation_deg_week_0",
        "pennation_deg_week_4",
        "change_deg_week_4",
        "change_pct_week_4",
    ]
    assert wide.loc["S1", "change_deg_week_4"] == pytest.approx(2.0)
    assert wide.loc["S1", "change_pct_week_4"] == pytest.approx(2.0 / 21.5 * 100)
    fl = tables["wide_VL50_FL"].set_index("subject")
    assert fl.loc["S2", "change_mm_week_4"] == pytest.approx(4.0)
    assert "wide_RF50_PA" not in tables  # no scans there
    readme = tables["readme"].set_index(["table", "column"])
    assert readme.loc[("wide_VL50_PA", "change_deg_week_4"), "description"].endswith("[deg]")
    assert readme.loc[("sessions", "fascicle_length_mm"), "description"].endswith("[mm]")
    in_cm = build_tables(results, protocol, cm=True)
    assert "fascicle_length_cm_week_4" in in_cm["wide_VL50_FL"].columns
    assert in_cm["wide_VL50_PA"].set_index("subject").loc["S1", "pennation_deg_week_0"] == 21.5

    report = reliability_report(path, protocol=protocol, between_weeks=[0, 4])
    vl = report[report.site == "VL50"].set_index(["measure", "kind"])
    assert set(vl.index.get_level_values("measure")) == {
        "thickness_mm",
        "pennation_deg",
        "fascicle_length_mm",
    }
    within = vl.loc[("pennation_deg", "within session (2 images)")]
    expected = reliability(np.vstack([week0, week0 + 2.0]))
    assert within.icc_31 == pytest.approx(expected.icc31.value)
    assert within.typical_error == pytest.approx(expected.typical_error)
    between = vl.loc[("fascicle_length_mm", "between sessions (weeks 0, 4)")]
    sessions_fl = np.column_stack([3 * week0.mean(1), 3 * week0.mean(1) + 4.0])
    assert between.typical_error == pytest.approx(
        np.std(sessions_fl[:, 1] - sessions_fl[:, 0], ddof=1) / math.sqrt(2), abs=1e-9
    )


def test_stores_without_architecture_export_as_before(tmp_path, result_factory):
    scan = tmp_path / "a.png"
    scan.write_bytes(b"a")
    with StudyStore(tmp_path / "s.sqlite") as store:
        scan_id = store.record_scan(scan, subject="S01", leg="L", week=0, site="VL50", rep=1)
        store.record_results(scan_id, [result_factory(str(scan), [20.0])], None)
        results = store.results_dataframe()
    tables = build_tables(results, load_protocol("default").adapted(weeks=[0], sites=["VL50"]))
    assert "pennation_deg" not in tables["long"].columns
    assert "pennation_deg" not in tables["sessions"].columns
    assert not any(name.endswith(("_PA", "_FL")) for name in tables)


def test_batch_measures_architecture_at_the_sites_that_ask(tmp_path):
    import cv2

    from architecture_scans import render_scan
    from musclethick.study.batch import ARCHITECTURE_VERSION, run_batch

    study = tmp_path / "study"
    for site, angle in (("VL50", 22.0), ("RF50", 28.0)):
        for rep in (1, 2):
            path = study / "S01" / "week0" / f"L_{site}_{rep}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), render_scan(angle, seed=rep)[0])
    protocol_file = tmp_path / "arch.toml"
    protocol_file.write_text(PROTOCOL)
    store = tmp_path / "s.sqlite"
    options = {"method": "edges", "mm_per_px": 0.1, "progress": False, "workers": 1}
    summary = run_batch(study, protocol=protocol_file, store=store, **options)
    assert summary.n_measured == 4 and summary.n_failed == 0
    with StudyStore(store) as db:
        stored = {(r.scan.site, r.scan.rep): r for r in db.iter_results()}
    for rep in (1, 2):
        vl, rf = stored[("VL50", rep)], stored[("RF50", rep)]
        assert vl.architecture is not None and vl.model_version.endswith(ARCHITECTURE_VERSION)
        assert vl.architecture.pennation_deg == pytest.approx(22.0, abs=1.5)
        assert rf.architecture is None and not rf.model_version.endswith(ARCHITECTURE_VERSION)
    # switched on for RF50: only its scans are measured again (the old results superseded)
    protocol_file.write_text(PROTOCOL.replace("architecture = false", "architecture = true"))
    again = run_batch(study, protocol=protocol_file, store=store, **options)
    assert again.n_measured == 2 and again.n_skipped == 2
    with StudyStore(store) as db:
        current = {(r.scan.site, r.scan.rep): r for r in db.iter_results()}
        superseded = [r for r in db.iter_results(include_superseded=True) if r.superseded]
    assert current[("RF50", 1)].architecture.pennation_deg == pytest.approx(28.0, abs=1.5)
    assert {r.scan.site for r in superseded} == {"RF50"} and len(superseded) == 2


def test_batch_architecture_option_measures_every_site(tmp_path):
    """``batch --architecture``: every site gets architecture, whatever the protocol says."""
    import cv2

    from architecture_scans import render_scan
    from musclethick.cli import main

    study = tmp_path / "study"
    for site, angle in (("VL50", 22.0), ("RF50", 28.0)):
        path = study / "S01" / "week0" / f"L_{site}_1.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), render_scan(angle, seed=1)[0])
    protocol_file = tmp_path / "arch.toml"
    protocol_file.write_text(PROTOCOL)  # RF50 says architecture = false
    store = tmp_path / "s.sqlite"
    argv = ["batch", str(study), "--protocol", str(protocol_file), "--store", str(store)]
    argv += ["--method", "edges", "--mm-per-px", "0.1", "--workers", "1", "-q", "--architecture"]
    assert main(argv) == 0
    with StudyStore(store) as db:
        stored = {r.scan.site: r for r in db.iter_results()}
    assert stored["RF50"].architecture.pennation_deg == pytest.approx(28.0, abs=1.5)
    assert stored["VL50"].architecture.pennation_deg == pytest.approx(22.0, abs=1.5)
