"""Export tables checked against hand-computed values from a real store."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from musclethick.export import build_tables, export_store, pseudonym, write_tables
from musclethick.protocol import load_protocol
from musclethick.study.store import StudyStore
from musclethick.types import Boundary, Calibration, FrameResult, LineMeasurement, PixelBox


def result(path: str, lines_mm, *, status: str = "ok", mm_per_px: float = 0.1) -> FrameResult:
    region = PixelBox(0, 0, 100, 400)
    if status == "failed":
        return FrameResult(
            path,
            0,
            region,
            Calibration.uncalibrated(),
            None,
            None,
            (),
            None,
            0.0,
            "failed",
            flags=("missing_deep",),
            message=f"{path}: broken",
            method="edges",
        )
    lines = [
        LineMeasurement(
            f"x{25 * (i + 1)}", 25.0 * (i + 1), 10.0, 10 + t / mm_per_px, t / mm_per_px, t
        )
        for i, t in enumerate(lines_mm)
    ]
    mean = float(np.mean(lines_mm))
    lines.append(LineMeasurement("mean", 50.0, 10.0, 10 + mean / mm_per_px, mean / mm_per_px, mean))
    x = np.array([0.0, 99.0])
    return FrameResult(
        path,
        0,
        region,
        Calibration.isotropic(mm_per_px, "user"),
        Boundary(x, [10.0, 10.0], "edges", 0.8),
        Boundary(x, [200.0, 200.0], "edges", 0.8),
        tuple(lines),
        60.0,
        0.8,
        status,
        method="edges",
    )


# (subject, leg, condition, week, site, rep, lines in mm or "failed")
DESIGN = [
    ("S01", "L", "FAIL", 0, "RF50", 1, [20, 22]),
    ("S01", "L", "FAIL", 0, "RF50", 2, [21, 23]),
    ("S01", "L", "FAIL", 0, "RF50", 3, [19, 21]),
    ("S01", "L", "FAIL", 0, "VL50", 1, [30, 30]),
    ("S01", "L", "FAIL", 0, "VL50", 2, [32, 32]),
    ("S01", "L", "FAIL", 4, "RF50", 1, [22, 22]),
    ("S01", "L", "FAIL", 4, "RF50", 2, [24, 24]),
    ("S01", "L", "FAIL", 4, "RF50", 3, [100, 100]),  # rejected in review
    ("S01", "L", "FAIL", 4, "RF50", 4, "failed"),
    ("S01", "L", "FAIL", 4, "VL50", 1, [33, 33]),
    ("S01", "L", "FAIL", 4, "VL50", 2, [10, 10]),  # corrected in review to 35, 35
    ("S01", "R", "RIR", 0, "RF50", 1, [25, 25]),
]


@pytest.fixture
def store_path(tmp_path) -> Path:
    path = tmp_path / "study.sqlite"
    with StudyStore(path) as store:
        run = store.start_run(method="edges", model_version="edges-test")
        ids = {}
        for subject, leg, condition, week, site, rep, lines in DESIGN:
            file = tmp_path / "scans" / subject / f"week{week}" / f"{leg}_{site}_{rep}.png"
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(f"{subject}{leg}{week}{site}{rep}")
            scan_id = store.record_scan(
                file,
                subject=subject,
                leg=leg,
                condition=condition,
                week=week,
                site=site,
                rep=rep,
                date=f"2024-0{1 + week // 4}-01",
                relpath=f"{subject}/week{week}/{leg}_{site}_{rep}.png",
                metadata={"patient_name": "Doe^Jane", "patient_id": f"ID-{subject}"},
            )
            status = "failed" if lines == "failed" else "ok"
            (ids[(week, site, rep)],) = store.record_results(
                scan_id,
                [result(str(file), [] if status == "failed" else lines, status=status)],
                run,
            )
        store.record_review(
            ids[(4, "RF50", 3)],
            "reject",
            reviewer="ann",
            expected_revision=0,
            reason="probe tilted",
        )
        corrected = [
            LineMeasurement("x25", 25.0, 10.0, 360.0, 350.0, 35.0),
            LineMeasurement("x50", 50.0, 10.0, 360.0, 350.0, 35.0),
            LineMeasurement("mean", 50.0, 10.0, 360.0, 350.0, 35.0),
        ]
        store.record_review(
            ids[(4, "VL50", 2)], "correct", reviewer="ann", expected_revision=0, lines=corrected
        )
    return path


def tables_of(store_path, **options):
    with StudyStore(store_path) as store:
        results = store.results_dataframe()
    return build_tables(results, load_protocol("rt_failure_2024"), study="demo", **options)


def session(sessions, leg, week, site):
    row = sessions[(sessions.leg == leg) & (sessions.week == week) & (sessions.site == site)]
    assert len(row) == 1
    return row.iloc[0]


def test_long_table(store_path):
    long = tables_of(store_path)["long"]
    assert list(long.columns[:13]) == [
        "study",
        "subject",
        "condition",
        "leg",
        "week",
        "date",
        "site",
        "muscle",
        "image",
        "frame",
        "region",
        "rep",
        "line",
    ]
    assert len(long) == 11 * 2 + 1  # two lines per measured image, one row for the failure
    assert "mean" not in set(long.line)
    failed = long[long.qc_status == "failed"]
    assert (
        len(failed) == 1 and failed.line.iloc[0] == "" and math.isnan(failed.thickness_mm.iloc[0])
    )
    # why it failed, without the path the row has in `file`
    assert failed.qc_flags.iloc[0] == "missing_deep" and failed.qc_message.iloc[0] == "broken"
    assert set(long[long.qc_status == "ok"].qc_flags) == {""}
    corrected = long[long.qc_status == "corrected"]
    assert corrected.thickness_mm.tolist() == [35.0, 35.0] and set(corrected.reviewed_by) == {"ann"}
    rejected = long[long.qc_status == "rejected"]
    assert rejected.thickness_mm.isna().all()  # no value stands for a rejected scan
    assert set(rejected.thickness_mm_model) == {100.0}  # the value before review stays
    assert set(long.muscle) == {"RF", "VL"} and set(long.study) == {"demo"}
    rf4 = long[(long.week == 4) & (long.site == "RF50")].drop_duplicates("rep")
    assert rf4.image.tolist() == [1, 2, 3, 4] and rf4.rep.tolist() == [1, 2, 3, 4]
    assert set(long.mm_per_px.dropna()) == {0.1} and "S01/week0/L_RF50_1.png" in set(long.file)


def test_sessions_and_composite(store_path):
    sessions = tables_of(store_path)["sessions"]
    rf0 = session(sessions, "L", 0, "RF50")
    assert rf0.thickness_mm == pytest.approx(21.0) and rf0.sd_mm == pytest.approx(1.0)
    assert rf0.n_images == 3 and rf0.cv_pct == pytest.approx(100 / 21)
    vl0 = session(sessions, "L", 0, "VL50")
    assert vl0.thickness_mm == pytest.approx(31.0) and vl0.sd_mm == pytest.approx(math.sqrt(2))
    rf4 = session(sessions, "L", 4, "RF50")  # rejected and failed images left out
    assert rf4.thickness_mm == pytest.approx(23.0) and rf4.n_images == 2
    vl4 = session(sessions, "L", 4, "VL50")  # correction applied: (33 + 35) / 2
    assert vl4.thickness_mm == pytest.approx(34.0)
    assert session(sessions, "L", 0, "QUAD").thickness_mm == pytest.approx(26.0)
    assert session(sessions, "L", 4, "QUAD").thickness_mm == pytest.approx(28.5)
    assert session(sessions, "R", 0, "RF50").n_images == 1
    assert math.isnan(session(sessions, "R", 0, "RF50").sd_mm)
    assert not ((sessions.leg == "R") & (sessions.site == "QUAD")).any()  # VL50 missing


def test_wide_tables_with_change(store_path):
    tables = tables_of(store_path)
    assert {"wide_RF50", "wide_VL50", "wide_QUAD"} <= set(tables)
    quad = tables["wide_QUAD"].set_index("leg")
    assert list(quad.columns) == [
        "subject",
        "condition",
        "week_0",
        "week_4",
        "week_8",
        "change_mm_week_4",
        "change_pct_week_4",
        "change_mm_week_8",
        "change_pct_week_8",
        "calibration_unconfirmed",
    ]
    assert not quad["calibration_unconfirmed"].any()  # every pixel size here is stated
    assert quad.loc["L", "change_mm_week_4"] == pytest.approx(2.5)
    assert quad.loc["L", "change_pct_week_4"] == pytest.approx(2.5 / 26 * 100)
    assert math.isnan(quad.loc["L", "week_8"])
    rf = tables["wide_RF50"].set_index("leg")
    assert rf.loc["L", "condition"] == "FAIL" and rf.loc["R", "condition"] == "RIR"
    assert rf.loc["L", "change_pct_week_4"] == pytest.approx(2 / 21 * 100)
    assert rf.loc["R", "week_0"] == 25.0 and math.isnan(rf.loc["R", "change_mm_week_4"])


def test_cm_and_readme(store_path):
    tables = tables_of(store_path, cm=True)
    quad = tables["wide_QUAD"].set_index("leg")
    assert quad.loc["L", "change_cm_week_4"] == pytest.approx(0.25)
    assert quad.loc["L", "change_pct_week_4"] == pytest.approx(2.5 / 26 * 100)  # % unchanged
    assert session(tables["sessions"], "L", 0, "RF50").thickness_cm == pytest.approx(2.1)
    assert "mm_per_px" in tables["long"].columns and "thickness_cm" in tables["long"].columns
    readme = tables["readme"].set_index(["table", "column"])
    assert readme.loc[("long", "thickness_cm"), "description"].endswith("[cm]")
    assert readme.loc[("wide_QUAD", "change_pct_week_8"), "description"].endswith("[%]")
    assert (readme.description != "").all()


def test_deidentify(store_path):
    key = b"secret"
    tables = tables_of(store_path, deidentify_key=key)
    long = tables["long"]
    assert (
        set(long.subject) == {pseudonym("S01", key)} and "file" not in long and "date" not in long
    )
    assert "qc_message" not in long and "qc_flags" in long  # messages may name files
    assert pseudonym("S01", key) != pseudonym("S01", b"other") and pseudonym("S01", key)[0] == "P"
    text = "".join(t.to_csv() for t in tables.values())
    assert "S01" not in text and "Doe" not in text


def test_drop_worst_and_median(tmp_path, store_path):
    text = (Path(load_protocol("rt_failure_2024").source).name, "")
    assert text[0] == "rt_failure_2024.toml"
    protocol_file = tmp_path / "p.toml"
    protocol_file.write_text(
        "[protocol]\nname='p'\n[design]\nweeks=[0, 4]\n[aggregation]\ndrop_worst_image=true\n"
        "[[site]]\nname='RF50'\nmuscle='RF'\n"
    )
    with StudyStore(store_path) as store:
        results = store.results_dataframe()
    sessions = build_tables(results, load_protocol(protocol_file))["sessions"]
    rf0 = session(sessions, "L", 0, "RF50")  # images 21, 22, 20: median 21, drop 22 (first tie)
    assert rf0.dropped_image == 2 and rf0.thickness_mm == pytest.approx(20.5)
    assert rf0.n_images == 2
    protocol_file.write_text(
        protocol_file.read_text().replace("drop_worst_image=true", "images='median'")
    )
    sessions = build_tables(results, load_protocol(protocol_file))["sessions"]
    assert session(sessions, "L", 0, "RF50").thickness_mm == pytest.approx(21.0)


def test_write_formats(tmp_path, store_path):
    written = export_store(store_path, tmp_path / "out", format="xlsx", protocol="rt_failure_2024")
    sheets = pd.read_excel(written[0], sheet_name=None)
    assert list(sheets)[:4] == ["readme", "long", "images", "sessions"]
    assert "wide_QUAD" in sheets and len(sheets["long"]) == 23
    assert "patient_name" not in sheets["long"]
    files = export_store(
        store_path,
        tmp_path / "csv",
        format="csv",
        protocol="rt_failure_2024",
        include_dicom_names=True,
    )
    assert {f.name for f in files} >= {"long.csv", "sessions.csv", "wide_RF50.csv", "readme.csv"}
    long = pd.read_csv(tmp_path / "csv" / "long.csv")
    assert set(long.patient_name) == {"Doe^Jane"}
    parquet = export_store(
        store_path, tmp_path / "pq", format="parquet", protocol="rt_failure_2024", deidentify=True
    )
    first = pd.read_parquet(tmp_path / "pq" / "long.parquet").subject.iloc[0]
    export_store(
        store_path, tmp_path / "pq2", format="parquet", protocol="rt_failure_2024", deidentify=True
    )
    assert pd.read_parquet(tmp_path / "pq2" / "long.parquet").subject.iloc[0] == first  # stable
    assert len(parquet) == len(files) - 0
    with pytest.raises(Exception, match="format must be one of"):
        write_tables({}, tmp_path / "x", format="ods")


def test_long_table_says_what_review_did(store_path):
    tables = tables_of(store_path)
    long = tables["long"]
    for column in (
        "thickness_mm",
        "thickness_mm_model",
        "method",
        "qc_status",
        "reviewed_by",
        "reviewed_at",
        "review_reason",
        "included",
    ):
        assert column in long.columns
    with StudyStore(store_path) as store:
        when = {r.decision: r.reviewed_at for r in store.latest_reviews().values()}
    corrected = long[long.qc_status == "corrected"]
    assert corrected.thickness_mm.tolist() == [35.0, 35.0]
    assert corrected.thickness_mm_model.tolist() == [10.0, 10.0]
    assert set(corrected.method) == {"manual"} and set(corrected.reviewed_at) == {when["correct"]}
    assert corrected.included.all()
    rejected = long[long.qc_status == "rejected"]
    assert set(rejected.review_reason) == {"probe tilted"}
    assert set(rejected.reviewed_at) == {when["reject"]} and not rejected.included.any()
    unreviewed = long[long.qc_status == "ok"]
    assert (unreviewed.thickness_mm == unreviewed.thickness_mm_model).all()
    assert set(unreviewed.reviewed_by) == {""} and unreviewed.included.all()
    assert set(unreviewed.method) == {"edges"}
    assert not long[long.qc_status == "failed"].included.any()
    # the rejected scan is listed in the readme, and counts nowhere after the long table
    readme = tables["readme"]
    (note,) = readme[readme.table == "(rejected)"].itertuples()
    assert note.column.startswith("S01/week4/L_RF50_3.png (S01 L week 4 RF50 image 3")
    assert "rejected by ann" in note.description and "probe tilted" in note.description
    assert 3 not in set(tables["images"][tables["images"].week == 4].rep)
    documented = readme[readme.table == "long"].set_index("column").description
    assert "before review" in documented["thickness_mm_model"]
    assert documented["thickness_mm_model"].endswith("[mm]")
    assert "runner_up" in documented["method"]


def test_review_columns_in_cm_and_deidentified(store_path):
    tables = tables_of(store_path, cm=True, deidentify_key=b"k")
    long = tables["long"]
    corrected = long[long.qc_status == "corrected"]
    assert corrected.thickness_cm_model.tolist() == [1.0, 1.0]
    readme = tables["readme"]
    (note,) = readme[readme.table == "(rejected)"].itertuples()
    assert "L_RF50" not in note.column and note.column.startswith(pseudonym("S01", b"k"))


def test_sessions_say_when_their_repeats_disagree(store_path):
    from dataclasses import replace

    sessions = tables_of(store_path)["sessions"]
    rf = session(sessions, "L", 0, "RF50")  # images 21, 22, 20 mm: (22 - 20) / 21
    assert rf.spread_pct == pytest.approx(200 / 21)
    assert not rf.repeats_disagree  # 9.5 % <= the protocol's 10 %
    assert session(sessions, "L", 0, "VL50").spread_pct == pytest.approx(200 / 31)
    single = session(sessions, "R", 0, "RF50")
    assert math.isnan(single.spread_pct) and not single.repeats_disagree
    # the reviewed values count: week 4 RF50 without the rejected 100 mm image, 22 and 24
    assert session(sessions, "L", 4, "RF50").spread_pct == pytest.approx(200 / 23)
    # a protocol tolerating 9 %: RF50 at week 0 disagrees, and so does its composite
    protocol = load_protocol("rt_failure_2024")
    strict = replace(protocol, aggregation=replace(protocol.aggregation, repeat_tolerance_pct=9.0))
    with StudyStore(store_path) as store:
        results = store.results_dataframe()
    sessions = build_tables(results, strict, study="demo")["sessions"]
    assert session(sessions, "L", 0, "RF50").repeats_disagree
    assert not session(sessions, "L", 0, "VL50").repeats_disagree
    assert session(sessions, "L", 0, "QUAD").repeats_disagree


def test_an_image_of_several_frames_takes_its_worst_frame_status():
    """A multi-frame scan (a cine, a DICOM with frames) is one image: its ``qc_status`` is
    its worst frame's, as the column says, not a list of them (found by a new-user trial);
    a flagged frame beside ok ones is left out of the value and counted (a later trial: one
    frame on the wrong edge moved a cine's value by 2.5 mm)."""
    import pandas as pd

    from musclethick.export import aggregate_images

    def row(frame, status, mm):
        return {
            "subject": "S01", "condition": "", "leg": "L", "week": 0, "site": "VL50",
            "image": "a.dcm", "rep": 1, "frame": frame, "region": 0, "line": "50%",
            "thickness_mm": mm, "echo_intensity": 50.0, "qc_status": status, "included": True,
        }  # fmt: skip

    long = pd.DataFrame([row(0, "ok", 20.0), row(1, "flagged", 6.0), row(2, "ok", 21.0)])
    (image,) = aggregate_images(long).itertuples()
    assert image.qc_status == "ok" and image.n_frames == 2
    assert image.n_frames_flagged_left_out == 1
    assert not image.calibration_unconfirmed  # no qc_flags column: nothing says it is
    assert image.thickness_mm == pytest.approx(20.5)  # (20 + 21) / 2, the flagged 6 left out
    corrected = long.assign(qc_status=["ok", "corrected", "accepted"])
    (image,) = aggregate_images(corrected).itertuples()
    assert image.qc_status == "corrected" and image.thickness_mm == pytest.approx(47 / 3)
    assert image.n_frames == 3 and image.n_frames_flagged_left_out == 0
    # fewer than half trusted: every frame counts, and the image is flagged
    mostly = pd.DataFrame([row(0, "ok", 20.0), row(1, "flagged", 6.0), row(2, "flagged", 7.0)])
    (image,) = aggregate_images(mostly).itertuples()
    assert image.qc_status == "flagged" and image.thickness_mm == pytest.approx(11.0)
    assert image.n_frames == 3 and image.n_frames_flagged_left_out == 0
    # no trusted frame: every frame counts, and the image is flagged
    doubted = long.assign(qc_status=["flagged", "flagged", "flagged"])
    (image,) = aggregate_images(doubted).itertuples()
    assert image.qc_status == "flagged" and image.thickness_mm == pytest.approx(47 / 3)
    assert image.n_frames == 3 and image.n_frames_flagged_left_out == 0


def test_change_from_baseline_on_a_guessed_pixel_size_is_marked():
    """An image whose pixel size was not confirmed (``calibration_unconfirmed``) marks its
    session and the wide table's row, so that a change computed from it is not read as
    measured (found by a new-user trial: +33.8 % on guessed ruler spacings, unmarked)."""
    import pandas as pd

    from musclethick.export import aggregate_images, aggregate_sessions, wide_tables
    from musclethick.protocol import load_protocol

    def row(leg, week, mm, flags=""):
        return {
            "subject": "S01", "condition": "", "leg": leg, "week": week, "site": "VL50",
            "image": f"{leg}{week}.png", "rep": 1, "frame": 0, "region": 0, "line": "50%",
            "thickness_mm": mm, "echo_intensity": 50.0, "qc_status": "ok", "included": True,
            "qc_flags": flags,
        }  # fmt: skip

    long = pd.DataFrame(
        [
            row("L", 0, 20.0),
            row("L", 4, 22.0, "calibration_unconfirmed"),
            row("R", 0, 20.0),
            row("R", 4, 21.0, "low_confidence"),
        ]
    )
    protocol = load_protocol("default").adapted(weeks=[0, 4], sites=["VL50"])
    images = aggregate_images(long)
    assert images.set_index("leg").loc["L"].set_index("week")[
        "calibration_unconfirmed"
    ].to_dict() == {
        0: False,
        4: True,
    }
    sessions = aggregate_sessions(images, protocol).set_index(["leg", "week"])
    assert sessions.loc[("L", 4), "calibration_unconfirmed"]
    assert not sessions.loc[("R", 4), "calibration_unconfirmed"]
    wide = wide_tables(sessions.reset_index(), protocol)["wide_VL50"].set_index("leg")
    assert wide.loc["L", "calibration_unconfirmed"] and not wide.loc["R", "calibration_unconfirmed"]
    assert wide.loc["L", "change_mm_week_4"] == pytest.approx(2.0)  # still there, but marked


def test_a_corrected_row_keeps_only_the_flags_that_still_stand(tmp_path):
    """A correction replaces the boundaries the model's flags were about; the long table's
    ``qc_flags`` keeps those about the pixel size (they still stand: the images table marks
    them) and ``qc_flags_model`` the model's, as ``thickness_mm_model`` keeps its value. An
    accepted result keeps its flags: its value is still the model's."""
    from dataclasses import replace

    scan = tmp_path / "S01_L_w0_VL50_1.png"
    scan.write_bytes(b"x")
    other = tmp_path / "S01_L_w0_VL50_2.png"
    other.write_bytes(b"y")
    doubted = replace(
        result(str(scan), [20.0, 20.0]),
        status="flagged",
        flags=("ambiguous_layers", "calibration_unconfirmed"),
        message="another pair is nearly as plausible; pixel size not confirmed",
    )
    unsure = replace(
        result(str(other), [21.0, 21.0]),
        status="flagged",
        flags=("low_confidence",),
        message="low confidence",
    )
    with StudyStore(tmp_path / "s.sqlite") as store:
        ids = []
        for rep, (path, res) in enumerate(((scan, doubted), (other, unsure)), 1):
            scan_id = store.record_scan(path, subject="S01", leg="L", week=0, site="VL50", rep=rep)
            ids += store.record_results(scan_id, [res], None)
        line = LineMeasurement("x50", 50.0, 10.0, 260.0, 250.0, 25.0)
        store.record_review(ids[0], "correct", reviewer="ann", expected_revision=0, lines=[line])
        store.record_review(ids[1], "accept", reviewer="ann", expected_revision=0)
        results = store.results_dataframe()
    tables = build_tables(results, load_protocol("default"), study="t")
    long = tables["long"].set_index("qc_status")
    assert set(long.loc[["corrected"], "qc_flags"]) == {"calibration_unconfirmed"}
    assert set(long.loc[["corrected"], "qc_flags_model"]) == {
        "ambiguous_layers;calibration_unconfirmed"
    }
    assert all(m.startswith("before the correction") for m in long.loc[["corrected"], "qc_message"])
    assert set(long.loc[["accepted"], "qc_flags"]) == {"low_confidence"}
    assert set(long.loc[["accepted"], "qc_flags_model"]) == {"low_confidence"}
    images = tables["images"].set_index("rep")
    assert images.loc[1, "calibration_unconfirmed"] and not images.loc[2, "calibration_unconfirmed"]
    documented = tables["readme"].set_index(["table", "column"]).description
    assert "before review" in documented[("long", "qc_flags_model")]


def test_a_session_counts_its_images_still_flagged():
    """``sessions.n_images_flagged``: how many of a session's images rest on frames still
    flagged (a trial read a change from baseline off tables with no QC column)."""
    import pandas as pd

    from musclethick.export import aggregate_images, aggregate_sessions
    from musclethick.protocol import load_protocol

    def row(rep, status, mm):
        return {
            "subject": "S01", "condition": "", "leg": "L", "week": 0, "site": "VL50",
            "image": f"{rep}.png", "rep": rep, "frame": 0, "region": 0, "line": "50%",
            "thickness_mm": mm, "echo_intensity": 50.0, "qc_status": status, "included": True,
        }  # fmt: skip

    long = pd.DataFrame([row(1, "ok", 20.0), row(2, "flagged", 26.0), row(3, "accepted", 21.0)])
    protocol = load_protocol("default").adapted(weeks=[0], sites=["VL50"])
    (session,) = aggregate_sessions(aggregate_images(long), protocol).itertuples()
    assert session.n_images == 3 and session.n_images_flagged == 1
