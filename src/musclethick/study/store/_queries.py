"""The study store's reads: SQL queries that return records (:mod:`._records`) or tables.

Functions of an open connection (rows read by column name: ``row_factory`` =
:class:`sqlite3.Row`); they never write. Tables that older stores lack (``runner_ups``,
``offered_pairs``, ``architectures``, ``review_architectures``, ``scan_states``) read as empty.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musclethick.study.duplicates import Capture, find_duplicates
from musclethick.study.store._records import (
    ARCHITECTURE_FRAME_COLUMNS,
    DisagreeingSession,
    QueueItem,
    Review,
    ScanRecord,
    ScanState,
    StoredResult,
    architecture_from_row,
    boundary_from_json,
    lines_from_json,
    review_from_row,
    scan_from_row,
    split_flags,
)
from musclethick.study.store._schema import has_table
from musclethick.types import Architecture, Boundary, LayerPair, LineMeasurement

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MODEL_RESULTS_COLUMNS",
    "architecture_of",
    "boundaries_of",
    "counts",
    "excluded_scans",
    "filters",
    "latest_reviews",
    "lines_of",
    "model_results_table",
    "offered_pairs_of",
    "review_of",
    "review_queue",
    "reviews_of",
    "runner_up_of",
    "scan_of",
    "scan_states",
    "stored_result",
]


def filters(
    *,
    scan_id: int | None = None,
    path: str | Path | None = None,
    method: str | None = None,
    status: str | Sequence[str] | None = None,
    include_superseded: bool = False,
    subject: str | None = None,
    site: str | None = None,
    week: int | None = None,
    leg: str | None = None,
    max_confidence: float | None = None,
) -> tuple[str, list[Any]]:
    """``WHERE ...`` over ``results r JOIN scans s`` (current results unless
    ``include_superseded``) and its arguments."""
    clauses, args = [], []
    if not include_superseded:
        clauses.append("r.superseded=0")
    for column, value in (
        ("r.scan_id", scan_id),
        ("r.method", method),
        ("s.subject", subject),
        ("s.site", site),
        ("s.week", week),
        ("s.leg", leg),
    ):
        if value is not None:
            clauses.append(f"{column}=?")
            args.append(value)
    if path is not None:
        clauses.append("s.path=?")
        args.append(str(Path(path).resolve()))
    if status is not None:
        statuses = [status] if isinstance(status, str) else list(status)
        clauses.append(f"r.status IN ({','.join('?' * len(statuses))})")
        args += statuses
    if max_confidence is not None:
        clauses.append("(r.confidence IS NULL OR r.confidence <= ?)")
        args.append(max_confidence)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", args


def scan_of(db: sqlite3.Connection, scan_id: int) -> ScanRecord | None:
    """The scan with id ``scan_id``, or None."""
    row = db.execute("SELECT * FROM scans WHERE id=?", (scan_id,)).fetchone()
    return None if row is None else scan_from_row(row)


def lines_of(db: sqlite3.Connection, result_id: int) -> tuple[LineMeasurement, ...]:
    """The measurement lines of a result, in the order they were stored."""
    rows = db.execute(
        "SELECT line, x_px, y_superficial_px, y_deep_px, thickness_px, thickness_mm, "
        "perpendicular_px, perpendicular_mm FROM lines WHERE result_id=? ORDER BY id",
        (result_id,),
    )
    return tuple(LineMeasurement(**dict(r)) for r in rows)


def boundaries_of(db: sqlite3.Connection, result_id: int) -> dict[str, Boundary]:
    """``{side: boundary}`` of a result (original image coordinates)."""
    rows = db.execute(
        "SELECT side, points_json, source, confidence FROM boundaries WHERE result_id=?",
        (result_id,),
    )
    return {
        r["side"]: boundary_from_json(r["points_json"], r["source"], r["confidence"]) for r in rows
    }


def runner_up_of(db: sqlite3.Connection, result_id: int) -> LayerPair | None:
    """The runner-up layer pair of a result, or None."""
    try:
        row = db.execute(
            "SELECT superficial_json, deep_json, margin_nats FROM runner_ups WHERE result_id=?",
            (result_id,),
        ).fetchone()
    except sqlite3.OperationalError:  # a store written before the table, opened read-only
        return None
    if row is None:
        return None
    return LayerPair(
        boundary_from_json(row["superficial_json"], "runner_up"),
        boundary_from_json(row["deep_json"], "runner_up"),
        float(row["margin_nats"]),
    )


def offered_pairs_of(db: sqlite3.Connection, result_id: int) -> tuple[LayerPair, ...]:
    """Every layer pair review's runner-up key shows for a result, in order: the runner-up
    first (the layer map's own from ``runner_ups``, else rank 0 of ``offered_pairs``), then
    the other pairs by rank. Empty when there is none."""
    ring = []
    runner_up = runner_up_of(db, result_id)
    if runner_up is not None:
        ring.append(runner_up)
    if has_table(db, "offered_pairs"):  # older stores opened read-only lack it
        rows = db.execute(
            "SELECT kind, superficial_json, deep_json, margin_nats FROM offered_pairs "
            "WHERE result_id=? ORDER BY rank",
            (result_id,),
        ).fetchall()
        ring.extend(
            LayerPair(
                boundary_from_json(row["superficial_json"], "runner_up"),
                boundary_from_json(row["deep_json"], "runner_up"),
                float(row["margin_nats"]),
                row["kind"],
            )
            for row in rows
        )
    return tuple(ring)


def _ring(pairs: tuple[LayerPair, ...]) -> dict:
    """``runner_up`` and ``other_pairs`` of a :class:`StoredResult` from the pairs offered."""
    return {"runner_up": pairs[0] if pairs else None, "other_pairs": pairs[1:]}


def architecture_of(
    db: sqlite3.Connection, table: str, key: str, value: int
) -> Architecture | None:
    """The architecture in ``table`` (``architectures`` / ``review_architectures``) whose
    ``key`` is ``value``, or None."""
    try:
        row = db.execute(f"SELECT * FROM {table} WHERE {key}=?", (value,)).fetchone()
    except sqlite3.OperationalError:  # a store written before the table, opened read-only
        return None
    return architecture_from_row(row)


def review_of(db: sqlite3.Connection, row: sqlite3.Row | None) -> Review | None:
    """The review of a ``reviews`` row, with its architecture (None for None)."""
    if row is None:
        return None
    architecture = architecture_of(db, "review_architectures", "review_id", row["id"])
    return review_from_row(row, architecture)


def reviews_of(db: sqlite3.Connection, result_id: int) -> list[Review]:
    """All reviews of a result, oldest first (the full history)."""
    rows = db.execute("SELECT * FROM reviews WHERE result_id=? ORDER BY revision", (result_id,))
    return [r for r in (review_of(db, row) for row in rows) if r is not None]


def latest_reviews(db: sqlite3.Connection) -> dict[int, Review]:
    """``{result_id: latest review}`` for every reviewed result."""
    rows = db.execute(
        "SELECT v.* FROM reviews v JOIN (SELECT result_id, MAX(revision) AS revision "
        "FROM reviews GROUP BY result_id) lr "
        "ON lr.result_id = v.result_id AND lr.revision = v.revision"
    )
    return {r.result_id: r for r in (review_of(db, row) for row in rows) if r is not None}


def stored_result(db: sqlite3.Connection, row: sqlite3.Row, scan: ScanRecord) -> StoredResult:
    """The stored result of a ``results`` row of ``scan``, with everything recorded beside it."""
    result_id = row["id"]
    bounds = boundaries_of(db, result_id)
    review = review_of(
        db,
        db.execute(
            "SELECT * FROM reviews WHERE result_id=? ORDER BY revision DESC LIMIT 1",
            (result_id,),
        ).fetchone(),
    )
    region = json.loads(row["region_json"]) if row["region_json"] else None
    return StoredResult(
        id=result_id,
        scan=scan,
        run_id=row["run_id"],
        frame_index=row["frame_index"],
        region_index=row["region_index"],
        time_s=row["time_s"],
        status=row["status"],
        flags=split_flags(row["flags"]),
        message=row["message"],
        confidence=row["confidence"],
        echo_intensity=row["echo_intensity"],
        thickness_mm=row["thickness_mm"],
        thickness_px=row["thickness_px"],
        mm_per_px=row["mm_per_px"],
        calibration_source=row["calibration_source"],
        method=row["method"],
        model_version=row["model_version"],
        model_sha256=row["model_sha256"],
        region=None if region is None else tuple(region),
        superseded=bool(row["superseded"]),
        created_at=row["created_at"],
        lines=lines_of(db, result_id),
        superficial=bounds.get("superficial"),
        deep=bounds.get("deep"),
        revision=0 if review is None else review.revision,
        review=review,
        **_ring(offered_pairs_of(db, result_id)),
        architecture=architecture_of(db, "architectures", "result_id", result_id),
        turned=bool(row["turned"]) if "turned" in row.keys() else False,  # schema 5 on
    )


def scan_states(db: sqlite3.Connection, state: str | None = None) -> list[ScanState]:
    """Recorded scan states (all, or of one kind), by path."""
    if not has_table(db, "scan_states"):  # a version 1 store opened read-only
        return []
    query, args = "SELECT * FROM scan_states", ()
    if state is not None:
        query, args = query + " WHERE state=?", (state,)
    rows = db.execute(query + " ORDER BY relpath, path", args)
    return [ScanState(**dict(r)) for r in rows]


def excluded_scans(db: sqlite3.Connection, *, method: str | None = None) -> list[ScanState]:
    """Scans left out of the tables, and why (:meth:`StudyStore.excluded_scans`)."""
    states = scan_states(db)
    listed = {s.path for s in states}
    query = (
        "SELECT DISTINCT s.path, s.relpath, s.sha256, s.subject, s.leg, s.week, s.site, "
        "s.rep FROM scans s JOIN results r ON r.scan_id = s.id WHERE r.superseded = 0"
    )
    args: tuple = ()
    if method is not None:
        query, args = query + " AND r.method = ?", (method,)
    scans = {}
    for row in db.execute(query, args):
        if row["path"] in listed:  # the latest run's verdict on it stands
            continue
        scans[row["path"]] = row
    captures = [
        Capture(
            path=row["path"],
            name=row["relpath"] or row["path"],
            sha256=row["sha256"],
            labels=None
            if row["rep"] is None
            else (row["subject"], row["leg"], row["week"], row["site"], row["rep"]),
        )
        for row in scans.values()
    ]
    for duplicate in find_duplicates(captures):
        row = scans[duplicate.path]
        states.append(
            ScanState(
                path=row["path"],
                state="duplicate",
                detail=duplicate.describe(),
                subject=row["subject"],
                leg=row["leg"],
                week=row["week"],
                site=row["site"],
                rep=row["rep"],
                relpath=row["relpath"],
            )
        )
    return sorted(states, key=lambda s: (s.relpath or s.path, s.state))


def review_queue(
    db: sqlite3.Connection,
    *,
    status: str | Sequence[str] | None,
    subject: str | None,
    site: str | None,
    week: int | None,
    leg: str | None,
    method: str | None,
    max_confidence: float | None,
    include_reviewed: bool,
) -> list[QueueItem]:
    """Current results to review (:meth:`StudyStore.review_queue`)."""
    where, args = filters(
        status=status,
        subject=subject,
        site=site,
        week=week,
        leg=leg,
        method=method,
        max_confidence=max_confidence,
    )
    latest = (
        "LEFT JOIN (SELECT result_id, MAX(revision) AS revision FROM reviews "
        "GROUP BY result_id) lr ON lr.result_id = r.id "
        "LEFT JOIN reviews v ON v.result_id = r.id AND v.revision = lr.revision"
    )
    if not include_reviewed:
        where = (where + " AND " if where else "WHERE ") + "lr.revision IS NULL"
    rows = db.execute(
        "SELECT r.id AS result_id, r.scan_id, s.path, r.frame_index, r.region_index, "
        "s.subject, s.leg, s.condition, s.week, s.site, s.rep, r.status, r.flags, "
        "r.message, r.confidence, r.thickness_mm, r.method, r.model_version, "
        "COALESCE(lr.revision, 0) AS revision, v.decision "
        f"FROM results r JOIN scans s ON s.id = r.scan_id {latest} {where} "
        "ORDER BY CASE r.status WHEN 'flagged' THEN 0 WHEN 'failed' THEN 1 ELSE 2 END, "
        "COALESCE(r.confidence, 0), s.subject, s.week, s.site, s.rep, r.frame_index",
        args,
    ).fetchall()
    return [QueueItem(**{**dict(r), "flags": split_flags(r["flags"])}) for r in rows]


def disagreeing_repeats(
    db: sqlite3.Connection, tolerance_pct: float, method: str | None = None
) -> list[DisagreeingSession]:
    """Every session whose repeated images disagree (:func:`musclethick.qc.repeats_disagree`).

    A session is one method's results of one subject, condition, leg, week and site (two
    methods are never mixed). An image's value is the mean thickness of its results (the
    frames of a cine loop) as reviewed: a correction's thickness, a rejected result left out;
    in mm when every image of the session has one, else in px (an uncalibrated study: the
    spread is a ratio). Failed results do not count."""
    from musclethick.qc import repeat_spread_pct, repeats_disagree

    where, args = filters(method=method, status=("ok", "flagged"))
    latest = (
        "LEFT JOIN (SELECT result_id, MAX(revision) AS revision FROM reviews "
        "GROUP BY result_id) lr ON lr.result_id = r.id "
        "LEFT JOIN reviews v ON v.result_id = r.id AND v.revision = lr.revision"
    )
    rows = db.execute(
        "SELECT r.id, r.scan_id, r.method, s.subject, s.condition, s.leg, s.week, s.site, "
        "r.thickness_mm, r.thickness_px, v.decision, v.thickness_mm, v.lines_json "
        f"FROM results r JOIN scans s ON s.id = r.scan_id {latest} {where} "
        "AND s.site IS NOT NULL AND s.site != ''",
        args,
    ).fetchall()
    # (method, subject, condition, leg, week, site) -> scan -> [(result id, mm, px)]
    sessions: dict[tuple, dict[int, list[tuple[int, float | None, float | None]]]] = {}
    for rid, scan_id, meth, *labels, mm, px, decision, mm_reviewed, lines_json in rows:
        if decision == "reject":
            continue
        if decision == "correct":
            mean = [m for m in lines_from_json(lines_json) if m.line == "mean"]
            mm = mm_reviewed if mm_reviewed is not None else mm
            px = mean[0].thickness_px if mean else px
        key = (meth, *labels)
        sessions.setdefault(key, {}).setdefault(scan_id, []).append((rid, mm, px))
    out = []
    for (meth, *labels), images in sessions.items():
        for unit in (1, 2):  # mm when every image has it, else px
            per_image = [[r[unit] for r in results] for results in images.values()]
            if all(v is not None for values in per_image for v in values):
                break
        else:
            continue
        values = [sum(v) / len(v) for v in per_image]
        if repeats_disagree(values, tolerance_pct):
            ids = tuple(sorted(rid for results in images.values() for rid, _, _ in results))
            spread = repeat_spread_pct(values)
            out.append(DisagreeingSession(*labels, spread_pct=spread, result_ids=ids, method=meth))
    return out


#: Columns of :func:`model_results_table`.
MODEL_RESULTS_COLUMNS = (
    "result_id",
    "scan_id",
    "path",
    "relpath",
    "sha256",
    "subject",
    "leg",
    "condition",
    "week",
    "date",
    "site",
    "rep",
    "frame",
    "region",
    "line",
    "thickness_mm",
    "thickness_px",
    "perpendicular_mm",
    "echo_intensity",
    "confidence",
    "status",
    "flags",
    "message",
    "method",
    "model_version",
    "model_sha256",
    "mm_per_px",
    "calibration_source",
    "run_id",
    "metadata_json",
    *ARCHITECTURE_FRAME_COLUMNS,
)


def model_results_table(
    db: sqlite3.Connection, *, method: str | None = None, include_failed: bool = True
) -> pd.DataFrame:
    """The current model results, one row per measurement line (a failed result: one row,
    ``line`` None), with the architecture of each result (NaN without one,
    ``fascicle_extrapolated_pct`` in %): :data:`MODEL_RESULTS_COLUMNS`, in result and line
    order. No review is applied and no scan left out."""
    import pandas as pd

    where, args = filters(method=method)
    if not include_failed:
        where += " AND r.status != 'failed'"
    if has_table(db, "architectures"):
        arch_join = "LEFT JOIN architectures a ON a.result_id = r.id"
        arch = (
            "a.pennation_deg, a.pennation_superficial_deg, a.fascicle_length_mm, "
            "a.fascicle_length_px, a.extrapolated_fraction, a.confidence AS fascicle_confidence"
        )
    else:  # a store written before the table, opened read-only
        arch_join = ""
        arch = ", ".join(f"NULL AS c{i}" for i in range(6))
    rows = db.execute(
        "SELECT r.id AS result_id, r.scan_id, s.path, s.relpath, s.sha256, s.subject, "
        "s.leg, s.condition, s.week, s.date, s.site, s.rep, r.frame_index AS frame, "
        "r.region_index AS region, l.line, l.thickness_mm, l.thickness_px, "
        "l.perpendicular_mm, r.echo_intensity, r.confidence, r.status, r.flags, "
        "r.message, r.method, r.model_version, r.model_sha256, r.mm_per_px, "
        f"r.calibration_source, r.run_id, s.metadata_json, {arch} "
        f"FROM results r JOIN scans s ON s.id = r.scan_id {arch_join} "
        f"LEFT JOIN lines l ON l.result_id = r.id {where} ORDER BY r.id, l.id",
        args,
    ).fetchall()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=list(MODEL_RESULTS_COLUMNS))
    for column in ARCHITECTURE_FRAME_COLUMNS:
        frame[column] = frame[column].astype(float)
    frame["fascicle_extrapolated_pct"] = 100.0 * frame["fascicle_extrapolated_pct"]
    return frame


def counts(db: sqlite3.Connection) -> dict[str, int]:
    """Numbers of scans, current results by status, reviews and failures."""
    out = {"scans": db.execute("SELECT COUNT(*) FROM scans").fetchone()[0]}
    for status, n in db.execute(
        "SELECT status, COUNT(*) FROM results WHERE superseded=0 GROUP BY status"
    ):
        out[f"results_{status}"] = n
    out["results_superseded"] = db.execute(
        "SELECT COUNT(*) FROM results WHERE superseded=1"
    ).fetchone()[0]
    out["reviews"] = db.execute("SELECT COUNT(*) FROM reviews").fetchone()[0]
    out["failures"] = db.execute("SELECT COUNT(*) FROM failures").fetchone()[0]
    return out
