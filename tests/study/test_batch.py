"""Tests of the batch runner: resume after kill -9, re-measure on change, failures, dask."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from musclethick.study.batch import run_batch
from musclethick.study.store import StudyStore

OPTIONS = {"protocol": "default", "method": "edges", "mm_per_px": 0.1, "progress": False}


def _query(store_path, sql: str) -> list[tuple]:
    """Rows of ``sql`` on the store, opened read-only."""
    db = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _one_site_protocol(path, header: str):
    """A protocol file: ``[protocol]`` with ``header``, adapting to the study, site VL50."""
    path.write_text(
        f"[protocol]\n{header}\n"
        '[design]\nadapt_to_study = true\n[[site]]\nname = "VL50"\nmuscle = "VL"\n',
        encoding="utf-8",
    )
    return path


def current_results(store_path):
    return _query(
        store_path,
        "SELECT s.path, r.id, r.run_id, r.created_at FROM results r "
        "JOIN scans s ON s.id = r.scan_id WHERE r.superseded = 0 ORDER BY r.id",
    )


def test_the_protocol_version_is_stored_with_the_run(tmp_path, make_study):
    make_study(tmp_path / "study", subjects=1, legs="L", reps=1)
    protocol = _one_site_protocol(tmp_path / "p.toml", 'name = "versioned"\nversion = "2024-03"')
    options = {**OPTIONS, "protocol": str(protocol)}
    run_batch(tmp_path / "study", store=tmp_path / "s.sqlite", **options)
    with StudyStore(tmp_path / "s.sqlite", readonly=True) as db:
        (run,) = db.runs()
    assert (run["protocol"], run["protocol_version"]) == ("versioned", "2024-03")


def test_dry_run_measures_nothing(tmp_path, make_study):
    make_study(tmp_path / "study", subjects=1, reps=2)
    summary = run_batch(tmp_path / "study", store=tmp_path / "s.sqlite", dry_run=True, **OPTIONS)
    assert summary.run_id is None and summary.n_scans == 4
    assert "Dry run" in summary.render() and "1 of 3" not in summary.render()
    assert "2 of 3 images" in summary.render()
    assert not (tmp_path / "s.sqlite").exists()


@pytest.mark.slow
def test_resume_after_sigkill(tmp_path, make_study):
    study, store = tmp_path / "study", tmp_path / "s.sqlite"
    paths = make_study(study, subjects=2, reps=6)  # 24 scans
    command = [sys.executable, "-m", "musclethick.study.batch", str(study), "--store", str(store)]
    command += ["--method", "edges", "--mm-per-px", "0.1", "--workers", "1", "-q"]
    process = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if len(current_results(store)) >= 4:
                    break
            except sqlite3.OperationalError:  # the store is still being created
                pass
            time.sleep(0.02)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
    before = current_results(store)
    assert 4 <= len(before) < len(paths), "the run finished before it could be killed"
    assert {row[2] for row in before} == {1}

    summary = run_batch(study, store=store, workers=1, **OPTIONS)
    after = current_results(store)
    assert summary.n_skipped == len(before)
    assert summary.n_measured == len(paths) - len(before) and summary.n_failed == 0
    assert len(after) == len(paths) == len({row[0] for row in after})  # no duplicates
    assert after[: len(before)] == before  # finished scans were not measured again
    assert {row[2] for row in after[len(before) :]} == {summary.run_id}
    with StudyStore(store) as db:
        runs = {r["id"]: r["status"] for r in db.runs()}
        assert runs == {1: "interrupted", summary.run_id: "finished"}
        assert db.counts()["scans"] == len(paths)
        # the killed run could not count its scans: the next run counted them for it
        killed = next(r for r in db.runs() if r["id"] == 1)
        assert (killed["n_measured"], killed["n_failed"]) == (len(before), 0)


def test_changed_file_is_remeasured_and_failures_recorded(tmp_path, make_study, scan_writer):
    study, store = tmp_path / "study", tmp_path / "s.sqlite"
    paths = make_study(study, subjects=1, legs="L", reps=3)
    corrupt = study / "S01" / "week0" / "R_VL50_1.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    first = run_batch(study, store=store, workers=1, **OPTIONS)
    assert (first.n_measured, first.n_failed, first.n_skipped) == (4, 1, 0)
    # the run names the failed file and why, once, on its own line
    (line,) = first.failure_lines()
    assert line.startswith(str(corrupt)) and line.count(str(corrupt)) == 1
    assert "image" in line.removeprefix(str(corrupt))
    with StudyStore(store) as db:
        (failure,) = db.failures()
        assert "R_VL50_1.png" in failure["message"]
    scan_writer(paths[0], thickness_px=70, seed=99)  # new content -> new sha256
    second = run_batch(study, store=store, workers=1, **OPTIONS)
    assert (second.n_measured, second.n_skipped) == (1, 3)  # the failed scan is not retried
    third = run_batch(study, store=store, workers=1, retry_failed=True, **OPTIONS)
    assert (third.n_measured, third.n_failed, third.n_skipped) == (1, 1, 3)
    with StudyStore(store) as db:
        old = [r for r in db.iter_results(path=paths[0], include_superseded=True)]
        assert [(r.superseded, r.run_id) for r in old] == [
            (True, first.run_id),
            (False, second.run_id),
        ]
        assert old[1].thickness_mm == pytest.approx(7.0, abs=0.3)
        assert old[0].scan.sha256 != old[1].scan.sha256
        assert len(list(db.iter_results())) == 4


@pytest.mark.slow
def test_dask_local_cluster(tmp_path, make_study):
    distributed = pytest.importorskip("distributed")
    import dask

    study, store = tmp_path / "study", tmp_path / "s.sqlite"
    paths = make_study(study, subjects=1, legs="L", reps=4)
    with (
        dask.config.set({"distributed.worker.profile.enabled": False}),
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        summary = run_batch(study, store=store, scheduler=client, **OPTIONS)
        assert summary.n_measured == len(paths) and summary.n_failed == 0
        again = run_batch(study, store=store, scheduler=cluster.scheduler_address, **OPTIONS)
        assert again.n_measured == 0 and again.n_skipped == len(paths)
    rows = current_results(store)
    assert len(rows) == len(paths) == len({r[0] for r in rows})


def test_duplicates_deletions_and_renames_between_runs_in_the_exported_tables(tmp_path, make_study):
    import shutil

    import pandas as pd

    from musclethick.export import export_store

    study, store = tmp_path / "study", tmp_path / "s.sqlite"
    make_study(study, subjects=2, legs="LR", reps=3)  # 12 distinct scans, week 0
    first = run_batch(study, store=store, workers=1, **OPTIONS)
    assert (first.n_measured, first.n_failed) == (12, 0)
    before = export_store(store, tmp_path / "before", format="csv")
    images = pd.read_csv(tmp_path / "before" / "images.csv")
    value = {
        (r.subject, r.leg, r.rep): r.thickness_mm for r in images.itertuples()
    }  # image values of the first run, to compare the second run's sessions with
    assert len(before) >= 5 and len(value) == 12

    week0 = study / "S01" / "week0"
    (study / "S01" / "wk0").mkdir()
    shutil.copy(week0 / "L_VL50_1.png", study / "S01" / "wk0" / "L_VL50_1.png")  # a copy
    shutil.copy(week0 / "L_VL50_2.png", week0 / "L_VL50_4.png")  # saved again as rep 4
    (study / "S02" / "week0" / "R_VL50_3.png").unlink()  # deleted
    renamed = study / "S02" / "week0" / "L_VL50_5.png"
    (study / "S02" / "week0" / "L_VL50_3.png").rename(renamed)  # renamed (rep 3 -> 5)

    second = run_batch(study, store=store, workers=1, **OPTIONS)
    assert second.n_measured == 1 and second.n_skipped == 10  # only the renamed file is new
    reasons = {state.relpath: state.state for state in second.left_out}
    assert reasons == {
        "S01/wk0/L_VL50_1.png": "duplicate",
        "S01/week0/L_VL50_4.png": "duplicate",
        "S02/week0/R_VL50_3.png": "missing",
        "S02/week0/L_VL50_3.png": "missing",
    }
    export_store(store, tmp_path / "after", format="csv")
    long = pd.read_csv(tmp_path / "after" / "long.csv")
    sessions = pd.read_csv(tmp_path / "after" / "sessions.csv").set_index(["subject", "leg"])
    excluded = pd.read_csv(tmp_path / "after" / "excluded.csv")
    readme = pd.read_csv(tmp_path / "after" / "readme.csv")

    # every scan counted once: 12 - 2 gone + 1 renamed; the copies are never counted
    assert len(long.drop_duplicates("file")) == 11
    assert not set(reasons) & set(long["file"])
    assert "S02/week0/L_VL50_5.png" in set(long["file"])
    assert sessions.loc[("S01", "L"), "n_images"] == 3  # not 5 with the two copies
    assert sessions.loc[("S01", "L"), "thickness_mm"] == pytest.approx(
        (value[("S01", "L", 1)] + value[("S01", "L", 2)] + value[("S01", "L", 3)]) / 3
    )
    assert sessions.loc[("S02", "R"), "n_images"] == 2  # the deleted scan is left out
    assert sessions.loc[("S02", "R"), "thickness_mm"] == pytest.approx(
        (value[("S02", "R", 1)] + value[("S02", "R", 2)]) / 2
    )
    assert sessions.loc[("S02", "L"), "thickness_mm"] == pytest.approx(
        (value[("S02", "L", 1)] + value[("S02", "L", 2)] + value[("S02", "L", 3)]) / 3
    )  # the renamed scan still counts, once
    assert dict(zip(excluded["file"], excluded["reason"], strict=True)) == reasons
    note = readme.loc[readme["table"] == "(note)", "description"].item()
    assert note.startswith("4 scan(s) left out of every table")
    assert "2 missing" in note and "2 duplicates" in note


def test_files_not_measured_for_their_name_are_recorded_warned_and_exported(tmp_path, make_study):
    """A file whose name does not fit the pattern is not measured; the run warns about it and
    the store records it, so that the export's excluded table and note name it (found by a
    new-user trial: it showed only in the batch's printout)."""
    import pandas as pd

    from musclethick.export import export_store

    study, store = tmp_path / "study", tmp_path / "s.sqlite"
    make_study(study, subjects=1, legs="L", reps=2)
    stray = study / "S01" / "IMG_0042.png"
    stray.write_bytes((study / "S01" / "week0" / "L_VL50_1.png").read_bytes())
    summary = run_batch(study, store=store, workers=1, **OPTIONS)
    assert summary.n_measured == 2
    assert any("S01/IMG_0042.png: the file name does not fit" in w for w in summary.warnings())
    with StudyStore(store) as db:
        (state,) = db.excluded_scans()
        assert (state.state, state.relpath) == ("unmatched", "S01/IMG_0042.png")
    export_store(store, tmp_path / "tables", format="csv")
    excluded = pd.read_csv(tmp_path / "tables" / "excluded.csv")
    assert excluded["reason"].tolist() == ["unmatched"]
    readme = pd.read_csv(tmp_path / "tables" / "readme.csv")
    note = readme.loc[readme["table"] == "(note)", "description"].item()
    assert "1 whose file name does not fit the study's pattern" in note


def test_duplicates_are_listed_in_the_dry_run_and_never_measured(tmp_path, make_study):
    import shutil

    study, store = tmp_path / "study", tmp_path / "s.sqlite"
    make_study(study, subjects=1, legs="L", reps=3)
    week0 = study / "S01" / "week0"
    shutil.copy(week0 / "L_VL50_1.png", week0 / "L_VL50_1.PNG")
    shutil.copy(week0 / "L_VL50_3.png", week0 / "L_VL50_03.png")
    dry = run_batch(study, store=store, dry_run=True, **OPTIONS)
    text = dry.render()
    assert "Duplicates, not measured (2):" in text
    assert "S01/week0/L_VL50_1.png: same content (sha256) as S01/week0/L_VL50_1.PNG" in text
    assert "S01/week0/L_VL50_3.png: same content (sha256) as S01/week0/L_VL50_03.png" in text
    assert dry.n_scans == 3 and not store.exists()
    summary = run_batch(study, store=store, workers=1, **OPTIONS)
    assert summary.n_measured == 3
    with StudyStore(store) as db:
        assert {s.state for s in db.scan_states()} == {"duplicate"}
        assert len(db.scan_states()) == 2 and db.counts()["scans"] == 3


def test_generic_protocol_takes_the_weeks_and_sites_of_the_study(tmp_path, make_study):
    study = tmp_path / "study"
    make_study(study, subjects=2, weeks=(4, 8), sites=("RF50", "VL50"), reps=3)
    dry = run_batch(study, store=tmp_path / "s.sqlite", dry_run=True, **OPTIONS)
    assert dry.discovery.unexpected == () and dry.discovery.missing == ()
    assert dry.discovery.protocol.weeks == (4, 8)
    assert dry.discovery.protocol.site_names() == ("RF50", "VL50")
    assert "Found 48 scans of 2 subjects (expected 48" in dry.render()
    assert "not in the protocol" not in dry.render()


def test_measuring_reviewed_scans_again_says_their_reviews_stay_behind(tmp_path, make_study):
    """Re-measuring with other settings supersedes the reviewed results: the run says so
    (found by a new-user trial: reviews vanished from the export without a word)."""
    make_study(tmp_path / "study", subjects=1, legs="L", reps=2)
    store = tmp_path / "s.sqlite"
    first = run_batch(tmp_path / "study", store=store, workers=1, **OPTIONS)
    assert first.n_reviews_superseded == 0 and first.warnings() == []
    with StudyStore(store) as db:
        result_id = next(iter(db.iter_results())).id
        db.record_review(result_id, "accept", reviewer="ann", expected_revision=0)
    # architecture on: another model version, so every scan is measured again
    again = run_batch(tmp_path / "study", store=store, workers=1, architecture=True, **OPTIONS)
    assert again.n_measured == 2 and again.n_reviews_superseded == 1
    assert any("1 reviewed scan(s) were measured again" in w for w in again.warnings())


def test_summary_counts_frames_and_advises_on_an_unfamiliar_scanner(tmp_path, make_study):
    """The run's frames by status are in the summary; a run with most frames failed or flagged
    for their boundaries says what to do (review, correct, fine-tune from the store, measure
    again)."""
    from dataclasses import replace

    from musclethick.qc import doubts_boundaries

    study, store = tmp_path / "study", tmp_path / "s.sqlite"
    paths = make_study(study, subjects=1, legs="L", reps=3)
    summary = run_batch(study, store=store, workers=1, **OPTIONS)
    with StudyStore(store) as db:
        statuses = [r.status for r in db.iter_results()]
    counts = (summary.n_frames_ok, summary.n_frames_flagged, summary.n_frames_failed)
    assert sum(counts) == len(statuses) >= len(paths)
    assert counts == tuple(statuses.count(s) for s in ("ok", "flagged", "failed"))
    assert f"frames {counts[0]} ok, {counts[1]} flagged, {counts[2]} failed" in summary.render()
    with StudyStore(store) as db:
        doubtful = sum(doubts_boundaries(r.status, r.flags) for r in db.iter_results())
    assert summary.n_frames_doubtful == doubtful
    unfamiliar = replace(
        summary, n_frames_ok=4, n_frames_flagged=5, n_frames_failed=3, n_frames_doubtful=8
    )
    advice = unfamiliar.advice()
    assert advice.startswith("67 % of the frames are failed or flagged for their boundaries")
    assert f"musclethick train --from-store {store} --out models/mine --holdout 5" in advice
    assert f"musclethick review {store} --reviewer" in advice
    assert "--model" not in advice.split("'musclethick review")[0]
    # 4 of 12 frames without a doubt (33 %, at least SELF_TRAINING_MIN_OK_SHARE): learning
    # from them unreviewed is offered; with 1 of 12 (8 %) it is not
    assert "add --learn-from-ok" in advice
    mostly_doubted = replace(unfamiliar, n_frames_doubtful=11)
    assert mostly_doubted.advice().startswith("92 %")
    assert "--learn-from-ok" not in mostly_doubted.advice()
    again = replace(unfamiliar, model_path="models/mine/model.pt").advice()
    assert "measured with --model models/mine/model.pt" in again
    # flagged for their calibration only: nothing to fine-tune
    ruler_only = replace(unfamiliar, n_frames_doubtful=1)
    assert ruler_only.advice() == ""


def test_a_session_whose_repeats_disagree_is_named_with_what_to_do(
    tmp_path, make_study, write_scan
):
    """Three repeats of one site, one of them with the aponeuroses 30 px further apart: the
    batch names the session and where its results come in the review queue."""
    study, store = tmp_path / "study", tmp_path / "s.sqlite"
    paths = make_study(study, subjects=1, legs="L", reps=3)
    for i, path in enumerate(paths):  # 50, 50, 80 px apart (the made study varies them)
        write_scan(path, thickness_px=80 if i == 2 else 50, seed=i)
    summary = run_batch(study, store=store, workers=1, **OPTIONS)
    with StudyStore(store) as db:
        thickness = sorted(r.thickness_mm for r in db.iter_results())
    assert thickness[-1] > 1.3 * thickness[0]  # the edge path measured the 80 px repeat as such
    (session,) = summary.disagreeing
    assert (session.subject, session.leg, session.week, session.site) == ("S01", "L", 0, "VL50")
    assert session.spread_pct == pytest.approx(100 * (thickness[-1] - thickness[0]) / thickness[1])
    note = summary.repeats_note()
    assert note.startswith("1 session(s) whose repeated images differ by more than 10 %")
    assert "(edges)" in note  # the method of this run (the study was measured with edges)
    assert "S01 L week 0 VL50" in note and f"musclethick review {store} --reviewer" in note
    with StudyStore(store) as db:
        first = db.review_queue()[0]
    assert "repeats_disagree" in first.flags


def test_repeats_that_agree_give_no_note(tmp_path, make_study, write_scan):
    study, store = tmp_path / "study", tmp_path / "s.sqlite"
    for i, path in enumerate(make_study(study, subjects=1, legs="L", reps=3)):
        write_scan(path, thickness_px=50, seed=i)
    summary = run_batch(study, store=store, workers=1, **OPTIONS)
    assert summary.disagreeing == () and summary.repeats_note() == ""


def test_frames_without_a_pixel_size_are_named_and_measuring_again_with_one_fixes_them(
    tmp_path, make_study
):
    study, store = tmp_path / "study", tmp_path / "s.sqlite"
    make_study(study, subjects=1, legs="L", reps=2)
    options = {k: v for k, v in OPTIONS.items() if k != "mm_per_px"}
    summary = run_batch(study, store=store, workers=1, **options)  # no ruler on these scans
    assert summary.n_frames_px_only == summary.n_frames == 2
    note = summary.calibration_note()
    assert note.startswith("2 of the 2 frames of this run have no pixel size")
    assert all(path in note for path in summary.px_only_files) and len(summary.px_only_files) == 2
    # the advice says what --mm-per-px does to the scans that have a pixel size of their own
    assert "--mm-per-px sets one pixel size for EVERY scan" in note and "--calibration" in note
    again = run_batch(study, store=store, workers=1, **options, mm_per_px=0.1)
    assert again.n_measured == 2 and again.n_frames_px_only == 0  # measured again, in mm
    assert again.calibration_note() == ""
    with StudyStore(store) as db:
        assert all(r.thickness_mm is not None and r.mm_per_px == 0.1 for r in db.iter_results())


def _measured(store_path) -> list[tuple]:
    return _query(
        store_path,
        "SELECT s.path, r.status, r.flags, r.message, r.thickness_px, r.thickness_mm "
        "FROM results r JOIN scans s ON s.id = r.scan_id ORDER BY s.path, r.frame_index",
    )


@pytest.mark.parametrize(
    "start",
    [
        "spawn",
        pytest.param(
            "fork",
            marks=pytest.mark.skipif(
                not sys.platform.startswith("linux"), reason="forking is used on Linux only"
            ),
        ),
    ],
)
def test_worker_processes_store_what_one_process_stores(tmp_path, make_study, monkeypatch, start):
    import multiprocessing

    import cv2

    import musclethick.study.batch as batch

    monkeypatch.setattr(batch, "worker_context", lambda: multiprocessing.get_context(start))
    make_study(tmp_path / "study", subjects=1, reps=3)
    threads = cv2.getNumThreads()
    run_batch(tmp_path / "study", store=tmp_path / "one.sqlite", workers=1, **OPTIONS)
    run_batch(tmp_path / "study", store=tmp_path / "two.sqlite", workers=2, **OPTIONS)
    one, two = _measured(tmp_path / "one.sqlite"), _measured(tmp_path / "two.sqlite")
    assert len(one) == 6 and two == one
    assert cv2.getNumThreads() == threads  # the coordinator's own threads are as they were


def test_the_coordinator_keeps_opencv_on_one_thread_while_workers_start():
    import cv2

    from musclethick._workers import opencv_on_one_thread

    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        with opencv_on_one_thread():
            assert cv2.getNumThreads() == 1
        assert cv2.getNumThreads() == 2
    finally:
        cv2.setNumThreads(before)


def test_the_store_is_named_as_batch_names_it_or_by_position(tmp_path, make_study, capsys):
    from musclethick.cli import main

    make_study(tmp_path / "study", subjects=1, reps=1)
    store = tmp_path / "s.sqlite"
    run_batch(tmp_path / "study", store=store, workers=1, **OPTIONS)
    assert main(["export", str(store), "--out", str(tmp_path / "a"), "--format", "csv"]) == 0
    assert (
        main(["export", "--store", str(store), "--out", str(tmp_path / "b"), "--format", "csv"])
        == 0
    )
    assert (tmp_path / "a" / "long.csv").read_text() == (tmp_path / "b" / "long.csv").read_text()
    capsys.readouterr()
    other = tmp_path / "other.sqlite"
    other.write_bytes(b"")
    assert main(["reliability", str(store), "--store", str(other)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("musclethick reliability: error: two study stores given")
    assert main(["report", "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "required: store (or --store STORE)" in err
    assert err.rstrip().endswith("(see 'musclethick report --help')")


def test_another_study_folder_is_refused_by_a_store_that_holds_one(tmp_path, make_study, capsys):
    """A store holds one study folder: batching another one (or a moved copy) into it is
    refused with one line naming both folders and the fix, before anything is measured, and
    what the store holds is unchanged. The same folder by another path is the same study."""
    from musclethick.cli import main

    make_study(tmp_path / "study", subjects=1, legs="L", reps=1)
    make_study(tmp_path / "other", subjects=1, legs="L", reps=1)  # also a subject S01
    store = tmp_path / "s.sqlite"
    run_batch(tmp_path / "study", store=store, workers=1, **OPTIONS)
    before = _query(store, "SELECT path, sha256 FROM scans ORDER BY id")
    capsys.readouterr()
    argv = ["batch", str(tmp_path / "other"), "--store", str(store), "--method", "edges", "-q"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(tmp_path / "study") in err and str(tmp_path / "other") in err
    assert "--store NEW.sqlite" in err
    assert _query(store, "SELECT path, sha256 FROM scans ORDER BY id") == before
    # the dry run says so too, and writes nothing (a read-only store is only read)
    store.chmod(0o444)
    assert main([*argv, "--dry-run"]) == 2
    assert "holds the study in" in capsys.readouterr().err
    store.chmod(0o644)
    # the study itself, named through a symlink, is accepted
    (tmp_path / "link").symlink_to(tmp_path / "study")
    run_batch(tmp_path / "link", store=store, workers=1, **OPTIONS)
    # and so are its files listed in a manifest kept in a folder of their own
    manifest = tmp_path / "study" / "lists" / "m.csv"
    manifest.parent.mkdir()
    manifest.write_text(
        "file,subject,leg,week,site,rep\n../S01/week0/L_VL50_1.png,S01,L,0,VL50,1\n",
        encoding="utf-8",
    )
    again = run_batch(None, manifest=manifest, store=store, workers=1, **OPTIONS)
    assert again.n_measured == 0 and again.n_skipped == 1


def test_a_copy_added_beside_a_measured_scan_never_takes_its_place(tmp_path, make_study):
    """A copy (``R_VL50_01.png`` of a measured ``R_VL50_1.png``) sorts first by name; the scan
    the store measured still counts, the copy is the duplicate and nothing is measured again
    (a trial found the measured scan excluded and the copy measured in its place)."""
    import shutil

    make_study(tmp_path / "study", subjects=1, legs="R", reps=1)
    store = tmp_path / "s.sqlite"
    first = run_batch(tmp_path / "study", store=store, workers=1, **OPTIONS)
    assert first.n_measured == 1
    before = current_results(store)
    week0 = tmp_path / "study" / "S01" / "week0"
    shutil.copy(week0 / "R_VL50_1.png", week0 / "R_VL50_01.png")
    again = run_batch(tmp_path / "study", store=store, workers=1, **OPTIONS)
    assert again.n_measured == 0 and again.n_skipped == 1
    (duplicate,) = [s for s in again.left_out if s.state == "duplicate"]
    assert duplicate.path.endswith("R_VL50_01.png") and "R_VL50_1.png" in duplicate.detail
    assert current_results(store) == before
    # in a new store neither is measured yet: the first by name counts, as before
    fresh = run_batch(tmp_path / "study", store=tmp_path / "new.sqlite", workers=1, **OPTIONS)
    (duplicate,) = [s for s in fresh.left_out if s.state == "duplicate"]
    assert duplicate.path.endswith("R_VL50_1.png")


def test_a_moved_study_is_taken_up_where_it_lies(tmp_path, make_study):
    """A study folder moved elsewhere (its old place gone) is batched into its store without
    measuring anything again: the recorded paths move with it, results (and so reviews) stay,
    and the exports list its scans under the new folder; nothing is reported missing."""
    from musclethick.cli import main

    make_study(tmp_path / "study", subjects=1, legs="L", reps=2)
    store = tmp_path / "s.sqlite"
    run_batch(tmp_path / "study", store=store, workers=1, **OPTIONS)
    before = [(r[1], r[2]) for r in current_results(store)]
    (tmp_path / "study").rename(tmp_path / "moved")
    again = run_batch(tmp_path / "moved", store=store, workers=1, **OPTIONS)
    assert again.n_measured == 0 and again.n_skipped == 2
    assert not [s for s in again.left_out if s.state == "missing"]
    after = current_results(store)
    assert [(r[1], r[2]) for r in after] == before  # the same results, not new ones
    assert all(r[0].startswith(str((tmp_path / "moved").resolve())) for r in after)
    assert main(["export", str(store), "--out", str(tmp_path / "t"), "--format", "csv"]) == 0
    long = (tmp_path / "t" / "long.csv").read_text()
    assert long.count("L_VL50_") >= 2


def test_a_run_without_the_allocation_keeps_the_conditions_the_store_knows(
    tmp_path, make_study, scan_writer
):
    """A later run without ``--allocation`` (a new week, a changed file) records the scans of an
    allocated leg under that leg's condition, not under none (a trial's dry run showed
    "Conditions: -", and such a run split a leg's sessions and lost its change)."""
    make_study(tmp_path / "study", subjects=1, legs="LR", reps=1)
    allocation = tmp_path / "alloc.csv"
    allocation.write_text("subject,leg,condition\nS01,L,FAIL\nS01,R,RIR\n", encoding="utf-8")
    store = tmp_path / "s.sqlite"
    run_batch(tmp_path / "study", store=store, workers=1, allocation=allocation, **OPTIONS)
    scan_writer(tmp_path / "study" / "S01" / "week4" / "L_VL50_1.png", thickness_px=58, seed=90)
    dry = run_batch(tmp_path / "study", store=store, dry_run=True, **OPTIONS)
    assert "Conditions: FAIL: 2 scans, RIR: 1 scan" in dry.render()
    run_batch(tmp_path / "study", store=store, workers=1, **OPTIONS)
    assert sorted(_query(store, "SELECT condition, COUNT(*) FROM scans GROUP BY condition")) == [
        ("FAIL", 2),
        ("RIR", 1),
    ]


def test_switching_the_protocol_of_a_store_is_said(tmp_path, make_study):
    """A run with another protocol than the store's earlier runs says so, with how to keep the
    earlier one (a trial switched protocols without a word); the same protocol says nothing."""
    make_study(tmp_path / "study", subjects=1, legs="L", reps=1)
    protocol = _one_site_protocol(tmp_path / "p.toml", 'name = "other"')
    store = tmp_path / "s.sqlite"
    first = run_batch(tmp_path / "study", store=store, workers=1, **OPTIONS)
    assert not [w for w in first.warnings() if "protocol" in w]
    same = run_batch(tmp_path / "study", store=store, workers=1, **OPTIONS)
    assert not [w for w in same.warnings() if "protocol" in w]
    options = {**OPTIONS, "protocol": str(protocol)}
    switched = run_batch(tmp_path / "study", store=store, workers=1, **options)
    (note,) = [w for w in switched.warnings() if "protocol" in w]
    assert "'default' before" in note and "'other'" in note and "--protocol default" in note


def test_a_site_range_flags_a_pixel_size_ten_times_off(tmp_path, make_study):
    """The study's scans are 50-56 px thick; at a typed 0.1 mm per px (ten times too small for
    a vastus lateralis, say) they measure 5-5.6 mm: inside the any-muscle range (2-120 mm),
    outside the site's own [8, 60] mm, so flagged ``implausible_thickness`` there."""
    make_study(tmp_path / "study", subjects=1, legs="L", reps=2)
    plain = _one_site_protocol(tmp_path / "plain.toml", 'name = "plain"')
    narrowed = tmp_path / "narrowed.toml"
    narrowed.write_text(
        plain.read_text(encoding="utf-8") + "plausible_thickness_mm = [8, 60]\n", encoding="utf-8"
    )
    flags = {}
    for protocol in (plain, narrowed):
        store = tmp_path / f"{protocol.stem}.sqlite"
        run_batch(tmp_path / "study", store=store, **{**OPTIONS, "protocol": str(protocol)})
        flags[protocol.stem] = [
            f for (f,) in _query(store, "SELECT flags FROM results WHERE superseded = 0")
        ]
    assert len(flags["plain"]) == len(flags["narrowed"]) == 2
    assert not any("implausible_thickness" in f for f in flags["plain"])
    assert all("implausible_thickness" in f for f in flags["narrowed"])
