"""Tests of the SQLite study store (a real database file in tmp_path)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from musclethick.errors import StoreError
from musclethick.study.store import SCHEMA_VERSION, StudyStore
from musclethick.types import LineMeasurement


@pytest.fixture
def scan_file(tmp_path):
    path = tmp_path / "S01" / "week0" / "L_VL50_1.png"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not really a png, but the store only hashes it")
    return path


def test_schema_wal_and_version(tmp_path):
    with StudyStore(tmp_path / "s.sqlite") as store:
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
    db = sqlite3.connect(tmp_path / "s.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="schema version 99"):
        StudyStore(tmp_path / "s.sqlite")
    (tmp_path / "junk.sqlite").write_bytes(b"x" * 4096)
    with pytest.raises(StoreError, match=r"junk\.sqlite"):
        StudyStore(tmp_path / "junk.sqlite")


def test_record_scan_is_idempotent_and_results_roundtrip(tmp_path, scan_file, result_factory):
    with StudyStore(tmp_path / "s.sqlite") as store:
        run = store.start_run(method="edges", model_version="v1", settings={"a": 1})
        scan_id = store.record_scan(scan_file, subject="S01", leg="L", week=0, site="VL50", rep=1)
        assert store.record_scan(scan_file, subject="S01", leg="L", week=0, site="VL50", rep=1) == (
            scan_id
        )
        ids = store.record_results(
            scan_id, [result_factory(str(scan_file), [20.0, 22.0, 24.0])], run
        )
        stored = store.get_result(ids[0])
        assert stored.model_version == "v1" and stored.run_id == run
        assert stored.thickness_mm == pytest.approx(22.0)
        assert [m.line for m in stored.lines] == ["L1", "L2", "L3", "mean"]
        # boundaries are stored in original image coordinates (region x0=10, y0=20)
        assert stored.superficial.x_px[0] == 10.0 and stored.superficial.y_px[0] == 50.0
        assert stored.deep.y_px[0] == pytest.approx(50.0 + 220.0)
        assert store.is_done(scan_file, stored.scan.sha256, "v1", "edges")
        assert not store.is_done(scan_file, stored.scan.sha256, "v2", "edges")
        assert not store.is_done(scan_file, stored.scan.sha256, "v1", "model")


def test_remeasure_supersedes_not_deletes(tmp_path, scan_file, result_factory):
    with StudyStore(tmp_path / "s.sqlite") as store:
        r1 = store.start_run(method="edges", model_version="v1")
        s1 = store.record_scan(scan_file, subject="S01")
        store.record_results(s1, [result_factory(str(scan_file), [20.0])], r1)
        scan_file.write_bytes(b"changed content")
        s2 = store.record_scan(scan_file, subject="S01")
        assert s2 != s1
        r2 = store.start_run(method="edges", model_version="v1")
        store.record_results(s2, [result_factory(str(scan_file), [21.0])], r2)
        # a second method stays current beside the first
        r3 = store.start_run(method="model", model_version="m1")
        store.record_results(s2, [result_factory(str(scan_file), [23.0], method="model")], r3)
        current = list(store.iter_results())
        assert sorted((r.method, r.thickness_mm) for r in current) == [
            ("edges", 21.0),
            ("model", 23.0),
        ]
        everything = list(store.iter_results(include_superseded=True))
        assert len(everything) == 3 and sum(r.superseded for r in everything) == 1
        assert store.counts()["results_superseded"] == 1


def test_failed_results_are_recorded(tmp_path, scan_file, result_factory):
    with StudyStore(tmp_path / "s.sqlite") as store:
        run = store.start_run(method="edges")
        scan_id = store.record_scan(scan_file)
        store.record_results(scan_id, [result_factory(str(scan_file), [], status="failed")], run)
        (failure,) = store.failures(run_id=run)
        assert "cannot read" in failure["message"] and failure["path"] == str(scan_file)
        sha = store.get_scan(scan_id).sha256
        assert store.is_done(scan_file, sha, "", "edges")
        assert not store.is_done(scan_file, sha, "", "edges", include_failed=False)
        table = store.results_dataframe()
        assert len(table) == 1 and table["line"].iloc[0] == "" and not table["included"].iloc[0]


def test_reviews_optimistic_concurrency_and_dataframe(tmp_path, scan_file, result_factory):
    path = tmp_path / "s.sqlite"
    with StudyStore(path) as store:
        run = store.start_run(method="edges")
        scan_id = store.record_scan(scan_file, subject="S01", leg="L", week=0, site="VL50", rep=1)
        (rid,) = store.record_results(
            scan_id,
            [result_factory(str(scan_file), [20.0, 22.0], flags=("too_curved",), status="flagged")],
            run,
        )
        queue = store.review_queue()
        assert [q.result_id for q in queue] == [rid] and queue[0].flags == ("too_curved",)
        assert queue[0].revision == 0
        corrected = (
            LineMeasurement("L1", 25.0, 30.0, 240.0, 210.0, 21.0),
            LineMeasurement("L2", 50.0, 30.0, 260.0, 230.0, 23.0),
            LineMeasurement("mean", 50.0, 30.0, 250.0, 220.0, 22.0),
        )
        review = store.record_review(
            rid,
            "correct",
            reviewer="alice",
            expected_revision=0,
            reason="deep edge too high",
            deep=[[10.0, 260.0], [110.0, 262.0]],
            lines=corrected,
        )
        assert review.revision == 1 and review.thickness_mm == 22.0
        assert review.deep.y_px.tolist() == [260.0, 262.0]
        # a second reviewer who loaded revision 0 cannot overwrite silently
        with StudyStore(path) as other, pytest.raises(StoreError, match="revision 1, not 0"):
            other.record_review(rid, "reject", reviewer="bob", expected_revision=0)
        assert store.review_queue() == []
        assert store.review_queue(include_reviewed=True)[0].decision == "correct"
        table = store.results_dataframe()
        by_line = table.set_index("line")
        assert by_line.loc["L1", "thickness_mm"] == 21.0
        assert by_line.loc["L1", "thickness_mm_model"] == 20.0  # the model value is kept
        assert set(table["qc_status"]) == {"corrected"} and set(table["reviewed_by"]) == {"alice"}
        store.record_review(rid, "reject", reviewer="bob", expected_revision=1, reason="blurred")
        assert [r.decision for r in store.reviews(rid)] == ["correct", "reject"]
        assert store.latest_reviews()[rid].reviewer == "bob"
        assert not store.results_dataframe()["included"].any()
        stored = store.get_result(rid)
        assert stored.revision == 2 and stored.review.decision == "reject"
        assert np.isclose(stored.thickness_mm, 21.0)  # the model result itself is unchanged


def test_review_errors(tmp_path, scan_file, result_factory):
    with StudyStore(tmp_path / "s.sqlite") as store:
        scan_id = store.record_scan(scan_file)
        (rid,) = store.record_results(scan_id, [result_factory(str(scan_file), [20.0])], None)
        with pytest.raises(StoreError, match="decision"):
            store.record_review(rid, "maybe", reviewer="a", expected_revision=0)
        with pytest.raises(StoreError, match="needs corrected lines"):
            store.record_review(rid, "correct", reviewer="a", expected_revision=0)
        with pytest.raises(StoreError, match="no result with id 999"):
            store.record_review(999, "accept", reviewer="a", expected_revision=0)


def test_review_queue_order(tmp_path, result_factory):
    with StudyStore(tmp_path / "s.sqlite") as store:
        specs = [("ok", 0.9), ("ok", 0.3), ("flagged", 0.8), ("failed", 0.0)]
        for i, (status, conf) in enumerate(specs):
            f = tmp_path / f"f{i}.png"
            f.write_bytes(bytes([i]))
            sid = store.record_scan(f, subject="S01", site="VL50")
            store.record_results(
                sid, [result_factory(str(f), [20.0], status=status, confidence=conf)], None
            )
        queue = store.review_queue()
        assert [(q.status, q.confidence) for q in queue] == [
            ("flagged", 0.8),
            ("failed", 0.0),
            ("ok", 0.3),
            ("ok", 0.9),
        ]
        assert [q.status for q in store.review_queue(max_confidence=0.5)] == ["failed", "ok"]
        assert store.review_queue(subject="S02") == []


def test_foreign_database_is_refused_before_anything_is_written(tmp_path):
    import hashlib

    from musclethick.study.store import APPLICATION_ID

    foreign = tmp_path / "clinic.db"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE patients (id INTEGER, name TEXT)")
    db.commit()
    db.close()
    before = hashlib.sha256(foreign.read_bytes()).hexdigest()
    with pytest.raises(StoreError, match=r"clinic\.db: not a musclethick study store .*patients"):
        StudyStore(foreign)
    assert hashlib.sha256(foreign.read_bytes()).hexdigest() == before
    other_app = tmp_path / "other.db"
    db = sqlite3.connect(other_app)
    db.execute("PRAGMA application_id=1234")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="another application"):
        StudyStore(other_app)
    with StudyStore(tmp_path / "s.sqlite"):
        pass
    db = sqlite3.connect(tmp_path / "s.sqlite")
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    db.close()


def _as_schema(path, version: int, *statements: str) -> None:
    """Make the store at ``path`` look as an older schema wrote it: run ``statements`` (what
    that schema lacked) and set its ``schema_version``."""
    db = sqlite3.connect(path)
    for statement in statements:
        db.execute(statement)
    db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(version),))
    db.commit()
    db.close()


def test_a_version_1_store_is_read_and_upgraded(tmp_path, scan_file, result_factory):
    path = tmp_path / "old.sqlite"
    with StudyStore(path) as store:
        run = store.start_run(method="edges")
        store.record_results(
            store.record_scan(scan_file), [result_factory(str(scan_file), [20.0])], run
        )
    # as written before the application id and scan_states
    _as_schema(path, 1, "PRAGMA application_id=0", "DROP TABLE scan_states")
    with StudyStore(path, readonly=True) as store:
        assert store.scan_states() == [] and len(store.results_dataframe()) == 2
    with StudyStore(path) as store:
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert store.scan_states() == []


def test_a_version_3_store_is_read_and_upgraded_with_the_echo_of_corrections(
    tmp_path, scan_file, result_factory
):
    """Schema 3 stored no echo intensity with a correction: read as none (the export leaves
    it empty, the model's was measured between other boundaries); upgraded, a correction
    keeps its own."""
    from musclethick.types import LineMeasurement

    path = tmp_path / "v3.sqlite"
    line = LineMeasurement("mean", 30.0, 10.0, 260.0, 250.0, 25.0)
    with StudyStore(path) as store:
        (rid,) = store.record_results(
            store.record_scan(scan_file), [result_factory(str(scan_file), [20.0])], None
        )
        store.record_review(
            rid, "correct", reviewer="AB", expected_revision=0, lines=[line], echo_intensity=61.5
        )
    # as written by schema 3: no reviews.echo_intensity
    _as_schema(path, 3, "ALTER TABLE reviews DROP COLUMN echo_intensity")
    with StudyStore(path, readonly=True) as store:
        assert store.latest_reviews()[rid].echo_intensity is None
        table = store.results_dataframe()
        assert table["echo_intensity"].isna().all()  # not the model's 87.1
    with StudyStore(path) as store:
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
        store.record_review(
            rid, "correct", reviewer="CD", expected_revision=1, lines=[line], echo_intensity=58.0
        )
        echo = store.results_dataframe()["echo_intensity"]
        assert len(echo) and (echo == 58.0).all()


def test_an_older_scan_states_table_is_widened_for_files_not_measured(tmp_path):
    """A store whose ``scan_states`` predates the states of schema 4 keeps its rows and
    takes ``unmatched`` / ``off_protocol`` after it is opened to write."""
    from musclethick.study.store import ScanState

    path = tmp_path / "old.sqlite"
    with StudyStore(path) as store:
        store.replace_scan_states([ScanState("/s/a.png", "missing", "gone")], run_id=None)
    db = sqlite3.connect(path)  # the table as schema 3 wrote it
    (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE name='scan_states'").fetchone()
    db.execute("ALTER TABLE scan_states RENAME TO t")
    db.execute(re.sub(r",\s*'unmatched',\s*'off_protocol'", "", sql))
    db.execute("INSERT INTO scan_states SELECT * FROM t")
    db.execute("DROP TABLE t")
    db.execute("UPDATE meta SET value='3' WHERE key='schema_version'")
    db.commit()
    with pytest.raises(sqlite3.IntegrityError):  # the old constraint refuses the new states
        db.execute("UPDATE scan_states SET state='unmatched'")
    db.close()
    with StudyStore(path) as store:
        assert [s.state for s in store.scan_states()] == ["missing"]
        store.replace_scan_states(
            [ScanState("/s/a.png", "missing", "gone"), ScanState("/s/x.png", "unmatched", "name")],
            run_id=None,
        )
        assert sorted(s.state for s in store.scan_states()) == ["missing", "unmatched"]
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)


def test_a_version_2_store_is_read_and_upgraded_with_protocol_versions(
    tmp_path, scan_file, result_factory
):
    path = tmp_path / "v2.sqlite"
    with StudyStore(path) as store:
        run = store.start_run(method="edges", protocol="rt", protocol_version="7")
        store.record_results(
            store.record_scan(scan_file), [result_factory(str(scan_file), [20.0])], run
        )
        assert store.runs()[0]["protocol_version"] == "7"
    # as written by schema 2: no runs.protocol_version
    _as_schema(path, 2, "ALTER TABLE runs DROP COLUMN protocol_version")
    with StudyStore(path, readonly=True) as store:
        (old,) = store.runs()
        assert (old["protocol"], old["protocol_version"]) == ("rt", "")
        assert len(store.results_dataframe()) == 2
    with StudyStore(path) as store:
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
        new = store.start_run(method="edges", protocol="rt", protocol_version="8")
        versions = {r["id"]: r["protocol_version"] for r in store.runs()}
        assert versions == {run: "", new: "8"}
        assert len(store.results_dataframe()) == 2
    with StudyStore(path) as store:  # opening an upgraded store again changes nothing
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION) and len(store.runs()) == 2


def test_a_version_4_store_is_read_and_upgraded_with_the_turned_frames(
    tmp_path, scan_file, result_factory
):
    """Schema 4 had no ``results.turned``: read, every result is as captured; upgraded, a
    result measured turned upright (``--upside-down``) says so, and the batch's done scans
    are those measured the same way up."""
    from dataclasses import replace

    path = tmp_path / "v4.sqlite"
    with StudyStore(path) as store:
        run = store.start_run(method="edges")
        store.record_results(
            store.record_scan(scan_file), [result_factory(str(scan_file), [20.0])], run
        )
    _as_schema(path, 4, "ALTER TABLE results DROP COLUMN turned")
    with StudyStore(path, readonly=True) as store:
        (stored,) = store.iter_results()
        assert stored.turned is False and len(store.results_dataframe()) == 2
    with StudyStore(path) as store:
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
        (stored,) = store.iter_results()
        key = (stored.scan.path, stored.scan.sha256)
        assert store.done_keys("edges", "") == {key}
        assert store.done_keys("edges", "", turned=True) == set()  # measured the other way up
        turned = replace(result_factory(str(scan_file), [21.0]), turned=True)
        store.record_results(store.record_scan(scan_file), [turned], run)
        (stored,) = store.iter_results()
        assert stored.turned is True and stored.thickness_mm == pytest.approx(21.0)
        assert store.done_keys("edges", "", turned=True) == {key}
        assert store.done_keys("edges", "") == set()


def test_read_only_store_is_not_created_or_written(tmp_path, scan_file, result_factory):
    with pytest.raises(StoreError, match="study store not found"):
        StudyStore(tmp_path / "none.sqlite", readonly=True)
    assert not (tmp_path / "none.sqlite").exists()
    with StudyStore(tmp_path / "s.sqlite") as store:
        run = store.start_run(method="edges")
        store.record_results(
            store.record_scan(scan_file), [result_factory(str(scan_file), [20.0])], run
        )
    with StudyStore(tmp_path / "s.sqlite", readonly=True) as store:
        assert store.counts()["scans"] == 1
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.set_meta("x", "y")


def test_missing_and_duplicate_scans_are_left_out_of_the_tables(tmp_path, result_factory):
    from musclethick.study.store import ScanState

    files = {}
    for name, content in (("L_VL50_1.png", b"one"), ("L_VL50_2.png", b"two"), ("copy.png", b"one")):
        files[name] = tmp_path / name
        files[name].write_bytes(content)
    with StudyStore(tmp_path / "s.sqlite") as store:
        run = store.start_run(method="edges")
        for rep, (name, path) in enumerate(files.items(), start=1):
            scan = store.record_scan(
                path, subject="S01", leg="L", week=0, site="VL50", rep=rep, relpath=name
            )
            store.record_results(scan, [result_factory(str(path), [20.0 + rep])], run)
        assert set(store.results_dataframe()["relpath"]) == {"L_VL50_1.png", "L_VL50_2.png"}
        (duplicate,) = store.excluded_scans()
        assert (duplicate.relpath, duplicate.state) == ("copy.png", "duplicate")
        assert "same content (sha256) as L_VL50_1.png" in duplicate.detail
        gone = ScanState(str(files["L_VL50_2.png"]), "missing", "gone", relpath="L_VL50_2.png")
        store.replace_scan_states([gone], run_id=run)
        assert set(store.results_dataframe()["relpath"]) == {"L_VL50_1.png"}
        assert [s.state for s in store.excluded_scans()] == ["missing", "duplicate"]
        assert len(store.results_dataframe(exclude=False).drop_duplicates("relpath")) == 3
        store.replace_scan_states([], run_id=run)  # the next run found the file again
        assert set(store.results_dataframe()["relpath"]) == {"L_VL50_1.png", "L_VL50_2.png"}
        with pytest.raises(StoreError, match="unknown scan state"):
            store.replace_scan_states([ScanState("x", "lost")], run_id=run)


def _with_runner_up(result, *, shift_px: float, margin: float):
    """``result`` with a runner-up pair: its boundaries ``shift_px`` lower (frame coordinates)."""
    from dataclasses import replace

    from musclethick.types import LayerPair

    pair = LayerPair(
        result.superficial.shifted(0.0, shift_px).with_source("runner_up", 0.4),
        result.deep.shifted(0.0, shift_px).with_source("runner_up", 0.3),
        margin,
    )
    return replace(result, runner_up=pair)


def test_runner_up_roundtrip_in_original_coordinates(tmp_path, scan_file, result_factory):
    with StudyStore(tmp_path / "s.sqlite") as store:
        scan_id = store.record_scan(scan_file)
        result = _with_runner_up(result_factory(str(scan_file), [20.0]), shift_px=7.0, margin=0.25)
        plain = result_factory(str(scan_file), [20.0], frame_index=1)
        with_pair, without = store.record_results(scan_id, [result, plain], None)
        stored = store.get_result(with_pair)
        pair = stored.runner_up
        # the factory's region starts at x0=10, y0=20; its superficial boundary lies at y=30
        assert pair.superficial.x_px.tolist() == [10.0, 60.0, 109.0]
        assert pair.superficial.y_px.tolist() == [30.0 + 7.0 + 20.0] * 3
        assert pair.deep.y_px.tolist() == [30.0 + 200.0 + 7.0 + 20.0] * 3
        assert (pair.superficial.source, pair.superficial.confidence) == ("runner_up", 0.4)
        assert (pair.deep.source, pair.deep.confidence) == ("runner_up", 0.3)
        assert pair.margin_nats == 0.25
        assert store.get_result(without).runner_up is None


def _pair(result, shift_px: float, margin: float, kind: str):
    from musclethick.types import LayerPair

    return LayerPair(
        result.superficial.shifted(0.0, shift_px).with_source("runner_up", 0.4),
        result.deep.shifted(0.0, shift_px).with_source("runner_up", 0.3),
        margin,
        kind,
    )


@pytest.mark.parametrize("first_kind", ["layers", "bands", "upside_down"])
def test_offered_pairs_roundtrip_in_order_with_their_kinds(
    tmp_path, scan_file, result_factory, first_kind
):
    """The ring review's runner-up key cycles through: the layer map's runner-up in
    ``runner_ups`` as before, every other pair (a band pair first too) in ``offered_pairs``,
    read back in order, kinds and margins kept, in original image coordinates."""
    from dataclasses import replace

    path = tmp_path / "s.sqlite"
    with StudyStore(path) as store:
        scan_id = store.record_scan(scan_file)
        base = result_factory(str(scan_file), [20.0])
        first = _pair(base, 7.0, 0.25, first_kind)
        others = (_pair(base, -5.0, 1.5, "bands"), _pair(base, 12.0, 2.5, "bands"))
        (rid,) = store.record_results(
            scan_id, [replace(base, runner_up=first, other_pairs=others)], None
        )
        stored = store.get_result(rid)
    db = sqlite3.connect(path)  # what was written where
    n_runner_ups = db.execute("SELECT COUNT(*) FROM runner_ups").fetchone()[0]
    ranks = [r[0] for r in db.execute("SELECT rank FROM offered_pairs ORDER BY rank")]
    db.close()
    assert n_runner_ups == (1 if first_kind == "layers" else 0)
    assert ranks == ([1, 2] if first_kind == "layers" else [0, 1, 2])
    ring = [stored.runner_up, *stored.other_pairs]
    assert [p.kind for p in ring] == [first_kind, "bands", "bands"]
    assert [p.margin_nats for p in ring] == [0.25, 1.5, 2.5]
    # the factory's region starts at y0=20; its superficial boundary lies at y=30
    assert [p.superficial.y_px[0] for p in ring] == [30.0 + 7.0 + 20.0, 45.0, 62.0]
    assert all(p.superficial.source == "runner_up" for p in ring)


def test_store_without_offered_pairs_table_reads_the_runner_up_alone(
    tmp_path, scan_file, result_factory
):
    from dataclasses import replace

    path = tmp_path / "old.sqlite"
    with StudyStore(path) as store:
        base = result_factory(str(scan_file), [20.0])
        result = replace(
            base,
            runner_up=_pair(base, 7.0, 0.25, "layers"),
            other_pairs=(_pair(base, 9.0, 1.0, "bands"),),
        )
        (rid,) = store.record_results(store.record_scan(scan_file), [result], None)
    db = sqlite3.connect(path)  # a store written before the table existed
    db.execute("DROP TABLE offered_pairs")
    db.commit()
    db.close()
    with StudyStore(path, readonly=True) as store:
        stored = store.get_result(rid)
        assert stored.runner_up.margin_nats == 0.25 and stored.other_pairs == ()


def test_store_without_runner_up_table_opens(tmp_path, scan_file, result_factory):
    path = tmp_path / "old.sqlite"
    with StudyStore(path) as store:
        (rid,) = store.record_results(
            store.record_scan(scan_file), [result_factory(str(scan_file), [20.0])], None
        )
    db = sqlite3.connect(path)  # a store written before the table existed
    db.execute("DROP TABLE runner_ups")
    db.commit()
    db.close()
    with StudyStore(path, readonly=True) as store:  # export, reliability: nothing created
        assert store.get_result(rid).runner_up is None
    with StudyStore(path) as store:
        assert store.get_result(rid).runner_up is None
        assert store.get_result(rid).thickness_mm == pytest.approx(20.0)
    db = sqlite3.connect(path)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()
    assert "runner_ups" in tables


def test_correction_keeps_sources_of_its_boundaries(tmp_path, scan_file, result_factory):
    from musclethick.types import Boundary

    with StudyStore(tmp_path / "s.sqlite") as store:
        (rid,) = store.record_results(
            store.record_scan(scan_file), [result_factory(str(scan_file), [20.0])], None
        )
        model_sup = Boundary([10.0, 109.0], [50.0, 50.0], "model", 0.87)
        lines = (LineMeasurement("mean", 50.0, 30.0, 240.0, 210.0, 21.0),)
        review = store.record_review(
            rid,
            "correct",
            reviewer="a",
            expected_revision=0,
            superficial=model_sup,
            deep=Boundary([10.0, 109.0], [260.0, 262.0], "manual", 1.0),
            lines=lines,
        )
        assert (review.superficial.source, review.superficial.confidence) == ("model", 0.87)
        assert review.deep.source == "manual" and review.method == "manual"
        # points without a source (an older store): read as manual
        old = store.record_review(
            rid, "correct", reviewer="a", expected_revision=1, deep=[[10, 1], [20, 2]], lines=lines
        )
        assert old.deep.source == "manual" and old.superficial is None
        swap = store.record_review(
            rid,
            "correct",
            reviewer="a",
            expected_revision=2,
            superficial=model_sup.with_source("runner_up", 0.5),
            deep=Boundary([10.0, 109.0], [250.0, 250.0], "runner_up", 0.4),
            lines=lines,
        )
        assert swap.method == "runner_up"
        assert store.get_result(rid).review.superficial.source == "runner_up"
        table = store.results_dataframe()
        assert set(table["method"]) == {"runner_up"}
        assert table["reviewed_at"].iloc[0] == swap.reviewed_at


def test_failed_result_cannot_be_accepted(tmp_path, scan_file, result_factory):
    with StudyStore(tmp_path / "s.sqlite") as store:
        scan_id = store.record_scan(scan_file)
        (rid,) = store.record_results(
            scan_id, [result_factory(str(scan_file), [], status="failed")], None
        )
        with pytest.raises(StoreError, match="nothing to accept"):
            store.record_review(rid, "accept", reviewer="a", expected_revision=0)
        assert store.reviews(rid) == []
        store.record_review(rid, "reject", reviewer="a", expected_revision=0, reason="blank")
        assert store.latest_reviews()[rid].decision == "reject"


def test_rejected_result_has_no_reviewed_value(tmp_path, scan_file, result_factory):
    with StudyStore(tmp_path / "s.sqlite") as store:
        (rid,) = store.record_results(
            store.record_scan(scan_file), [result_factory(str(scan_file), [20.0, 24.0])], None
        )
        review = store.record_review(
            rid, "reject", reviewer="bob", expected_revision=0, reason="probe tilted"
        )
        table = store.results_dataframe()
        assert table["thickness_mm"].isna().all() and table["thickness_px"].isna().all()
        assert table.set_index("line")["thickness_mm_model"].to_dict() == {
            "L1": 20.0,
            "L2": 24.0,
            "mean": 22.0,
        }
        assert set(table["review_reason"]) == {"probe tilted"}
        assert set(table["reviewed_at"]) == {review.reviewed_at}
        assert set(table["method"]) == {"edges"} and not table["included"].any()


def test_load_frame_uses_the_stored_calibration_without_the_ruler(tmp_path, sample_images):
    from dataclasses import replace as replace_result

    from musclethick.io import read
    from musclethick.measure import failed_result
    from musclethick.study.frames import load_frame

    capture = sample_images / "dltrack_800x600_img_00002.png"
    (frame,) = read(capture)  # the batch read the on-screen ruler
    assert frame.calibration.source == "ruler"
    with StudyStore(tmp_path / "s.sqlite") as store:
        scan_id = store.record_scan(capture)
        measured = replace_result(
            failed_result(str(capture), "x", region=frame.region, calibration=frame.calibration),
            status="ok",
        )
        placeholder = failed_result(str(capture), "crashed", frame_index=0)  # 1 x 1 region
        ok_id, failed_id = store.record_results(scan_id, [measured, placeholder], None)
        again = load_frame(store.get_result(ok_id))
        assert again.calibration.source == "ruler"
        assert again.calibration.mm_per_px == frame.calibration.mm_per_px
        assert again.region == frame.region and again.shape == frame.shape
        whole = load_frame(store.get_result(failed_id))  # not cropped to the placeholder
        assert whole.shape == frame.shape and not whole.calibration.is_calibrated


def test_a_result_measured_again_in_review_keeps_the_batchs_doubt_about_the_pixel_size(
    tmp_path, sample_images
):
    """Review re-reads a capture without its ruler and uses the stored pixel size; a swap or
    an edit measures it again. The batch's doubt about that pixel size (unlabelled ticks:
    ``calibration_unconfirmed``) must stay on the re-measured result, not vanish with the
    ruler."""
    from musclethick.api import measure_file
    from musclethick.measure import assemble_result
    from musclethick.study.frames import load_frame

    capture = sample_images / "dltrack_800x600_img_00002.png"
    (measured,) = measure_file(capture, method="edges")
    assert "calibration_unconfirmed" in measured.flags  # the ruler's ticks are unlabelled
    assert measured.superficial is not None and measured.deep is not None
    with StudyStore(tmp_path / "s.sqlite") as store:
        (rid,) = store.record_results(store.record_scan(capture), [measured], None)
        stored = store.get_result(rid)
    frame = load_frame(stored)
    assert frame.calibration.mm_per_px == pytest.approx(measured.calibration.mm_per_px)
    assert frame.calibration.flags == ("calibration_unconfirmed",)
    dx, dy = -frame.region.x0, -frame.region.y0
    deeper = stored.deep.shifted(dx, dy + 5.0)  # a reviewer moves the deep line 5 px down
    again = assemble_result(frame, stored.superficial.shifted(dx, dy), deeper, method="manual")
    assert "calibration_unconfirmed" in again.flags and again.status != "ok"
    assert again.mean_thickness_mm > measured.mean_thickness_mm


def test_latest_method_is_the_newest_runs(tmp_path):
    from musclethick.study.store import StudyStore

    with StudyStore(tmp_path / "s.sqlite") as db:
        assert db.latest_method() is None
        db.start_run(method="edges", settings={})
        db.start_run(method="model", settings={})
        assert db.latest_method() == "model"
        db.start_run(method="edges", settings={})
        assert db.latest_method() == "edges"


def test_the_review_guides_scripted_review_runs(tmp_path, make_study, monkeypatch):
    """The code block of docs/review.md's "Reviewing from a script" runs on a real store and
    records what it says."""
    import re

    from musclethick.study.batch import run_batch

    make_study(tmp_path / "study", subjects=1, legs="L", reps=3)
    options = {"protocol": "default", "method": "edges", "mm_per_px": 0.1, "progress": False}
    run_batch(tmp_path / "study", store=tmp_path / "study.sqlite", workers=1, **options)
    guide = (Path(__file__).resolve().parents[2] / "docs" / "review.md").read_text()
    section = guide.split("## Reviewing from a script", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    monkeypatch.chdir(tmp_path)
    exec(code, {})
    with StudyStore(tmp_path / "study.sqlite") as store:
        results = {r.scan.relpath: r for r in store.iter_results()}
    decided = {k: r.review.decision for k, r in results.items() if r.review}
    assert decided == {
        "S01/week0/L_VL50_1.png": "accept",
        "S01/week0/L_VL50_2.png": "reject",
        "S01/week0/L_VL50_3.png": "correct",
    }
    corrected = results["S01/week0/L_VL50_3.png"]
    # the deep line 4 px lower: 0.4 mm thicker at 0.1 mm per px, in the exports' thickness
    assert corrected.review.thickness_mm == pytest.approx(corrected.thickness_mm + 0.4, abs=1e-6)
    moved = corrected.review.deep.y_at(corrected.deep.x_px) - corrected.deep.y_px
    assert np.allclose(moved, 4.0)
    assert corrected.review.deep.source == "manual"  # a person's edit says so
    assert corrected.review.method == "manual"


def test_results_of_sessions_whose_repeats_disagree_come_first_among_ok(tmp_path, result_factory):
    # session A (S01 week 0 VL50): 20.0, 20.5 and 24.0 mm spread by 4 / 20.5 = 19.5 % of
    # their median (> 10 %); session B (S02): 20.0 and 20.4 mm, 2.0 % (<= 10 %)
    with StudyStore(tmp_path / "s.sqlite") as store:
        ids = {}
        specs = [("S01", 1, 20.0, 0.95), ("S01", 2, 20.5, 0.9), ("S01", 3, 24.0, 0.92)]
        specs += [("S02", 1, 20.0, 0.5), ("S02", 2, 20.4, 0.6)]
        for subject, rep, mm, conf in specs:
            f = tmp_path / f"{subject}_{rep}.png"
            f.write_bytes(f"{subject}{rep}".encode())
            sid = store.record_scan(f, subject=subject, leg="L", week=0, site="VL50", rep=rep)
            (ids[(subject, rep)],) = store.record_results(
                sid, [result_factory(str(f), [mm], confidence=conf)], None
            )
        queue = store.review_queue()
        # A's three first (by rising confidence), then B's, the less confident first
        assert [(q.subject, q.rep) for q in queue] == [
            ("S01", 2),
            ("S01", 3),
            ("S01", 1),
            ("S02", 1),
            ("S02", 2),
        ]
        assert [("repeats_disagree" in q.flags) for q in queue] == [True] * 3 + [False] * 2
        assert all(q.status == "ok" for q in queue)  # the stored results are unchanged
        # a protocol that tolerates 20 %, or no check: the confidence order alone
        first = store.review_queue(repeat_tolerance_pct=20)[0]
        assert (first.subject, first.rep) == ("S02", 1)
        assert not any(q.flags for q in store.review_queue(repeat_tolerance_pct=None))
        # the reviewer rejects the 24 mm image: the two left agree (2.5 %)
        store.record_review(
            ids[("S01", 3)], "reject", reviewer="ann", expected_revision=0, reason="other line"
        )
        queue = store.review_queue()
        assert not any("repeats_disagree" in q.flags for q in queue)
        assert (queue[0].subject, queue[0].rep) == ("S02", 1)


def _px_only(result):
    """``result`` uncalibrated: its lines in px only, as a study without a pixel size."""
    from dataclasses import replace

    from musclethick.types import Calibration

    lines = tuple(replace(m, thickness_mm=None, perpendicular_mm=None) for m in result.lines)
    return replace(result, calibration=Calibration.uncalibrated("no ruler"), lines=lines)


def test_disagreeing_repeats_per_method_in_px_and_grouped_in_the_queue(tmp_path, result_factory):
    with StudyStore(tmp_path / "s.sqlite") as store:
        ids = {}

        def add(subject, site, rep, mm, conf, *, method="model", px_only=False):
            f = tmp_path / f"{subject}_{site}_{rep}.png"
            if not f.exists():
                f.write_bytes(f"{subject}{site}{rep}".encode())
            sid = store.record_scan(f, subject=subject, leg="L", week=0, site=site, rep=rep)
            r = result_factory(str(f), [mm], confidence=conf, method=method)
            (ids[(subject, site, rep, method)],) = store.record_results(
                sid, [_px_only(r) if px_only else r], None
            )

        # S01 VL50 by the model: 20, 20, 23 mm -> 15 % (disagrees); by edges: 20, 20.5, 21
        # -> 4.9 % (agrees). Never mixed: pooled per scan they would give 8.2 %.
        for rep, (model_mm, edges_mm) in enumerate([(20, 20), (20, 20.5), (23, 21)], 1):
            add("S01", "VL50", rep, model_mm, 0.6 + 0.1 * rep)
            add("S01", "VL50", rep, edges_mm, 0.6, method="edges")
        # S02, uncalibrated: 200 and 240 px -> 18 % in px
        add("S02", "VL50", 1, 20.0, 0.95, px_only=True)
        add("S02", "VL50", 2, 24.0, 0.5, px_only=True)
        # S03 RF50: 30 and 30.3 mm (1 %); S03 VL50: 30 and 36 mm (18 %)
        add("S03", "RF50", 1, 30.0, 0.55)
        add("S03", "RF50", 2, 30.3, 0.58)
        add("S03", "VL50", 1, 30.0, 0.99)
        add("S03", "VL50", 2, 36.0, 0.52)
        found = {
            (d.method, d.subject, d.site): d.spread_pct for d in store.disagreeing_repeats(10.0)
        }
        assert found == {
            ("model", "S01", "VL50"): pytest.approx(300 / 20),
            ("model", "S02", "VL50"): pytest.approx(100 * 40 / 220),  # px: (240 - 200) / 220
            ("model", "S03", "VL50"): pytest.approx(100 * 6 / 33),
        }
        assert store.disagreeing_repeats(10.0, method="edges") == []
        # the queue (model results): each disagreeing session's repeats together, the session
        # of the least confident first (S02 rep 2, 0.5), then the one of S03 VL50 rep 2
        # (0.52), then S01 (0.7); then the others by confidence
        queue = store.review_queue(method="model")
        assert [(q.subject, q.site, q.rep) for q in queue] == [
            ("S02", "VL50", 2),
            ("S02", "VL50", 1),
            ("S03", "VL50", 2),
            ("S03", "VL50", 1),
            ("S01", "VL50", 1),
            ("S01", "VL50", 2),
            ("S01", "VL50", 3),
            ("S03", "RF50", 1),
            ("S03", "RF50", 2),
        ]
