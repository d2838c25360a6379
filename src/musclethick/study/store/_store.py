"""The study store's :class:`StudyStore`: one SQLite file per study (see the package
docstring for its tables and policies).

The writes are here; the schema and its migrations are in :mod:`._schema`, the row codecs in
:mod:`._records`, the reads in :mod:`._queries` and the review rules (pure) in
:mod:`._reviews`.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musclethick.errors import StoreError
from musclethick.qc import REPEAT_TOLERANCE_PCT, REPEATS_DISAGREE
from musclethick.study.store import _queries as queries
from musclethick.study.store._records import (
    DisagreeingSession,
    QueueItem,
    Review,
    ScanRecord,
    ScanState,
    StoredResult,
    architecture_values,
    boundary_to_json,
    file_sha256,
    lines_to_json,
    scan_from_row,
)
from musclethick.study.store._reviews import apply_reviews, check_review, check_reviewable
from musclethick.study.store._schema import (
    ARCHITECTURE_COLUMNS,
    SCAN_STATES,
    check_identity,
    check_version,
    init_schema,
)
from musclethick.study.store._sqlite import (
    Transaction,
    check_writable,
    connect,
    connect_readonly,
    pid_alive,
    timestamp,
)
from musclethick.types import Architecture, Boundary, FrameResult, LineMeasurement

if TYPE_CHECKING:
    import pandas as pd

    from musclethick.study.manifest import ScanEntry

__all__ = ["StudyStore"]


class StudyStore:
    """A study's SQLite store (see :mod:`musclethick.study.store` for tables and policies).

    Parameters
    ----------
    path : str or path-like
        The ``.sqlite`` file; created with the current schema when absent.
    timeout_s : float
        How long to wait for another process's write lock.

    Examples
    --------
    >>> with StudyStore("study.sqlite") as store:  # doctest: +SKIP
    ...     run_id = store.start_run(method="edges")
    ...     scan_id = store.record_scan("S01/week0/L_VL50_1.png", subject="S01")
    ...     store.record_results(scan_id, results, run_id)
    """

    def __init__(
        self, path: str | Path, *, timeout_s: float = 60.0, readonly: bool = False
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a folder; give the store's file name (.sqlite)")
        if readonly and not self.path.is_file():
            raise StoreError(f"{self.path}: study store not found")
        if not readonly:
            check_writable(self.path)
        try:
            if readonly:
                self._db = connect_readonly(self.path, timeout_s)
            else:
                self._db = connect(self.path, timeout_s)
            self._db.row_factory = sqlite3.Row
            tables = check_identity(self._db, self.path)  # before anything is written
            if readonly:
                check_version(self._db, self.path, tables)
            else:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute("PRAGMA foreign_keys=ON")
                init_schema(self._db, self.path)
        except sqlite3.DatabaseError as error:
            raise StoreError(
                f"{self.path}: not a usable study store ({error}); give the study's .sqlite "
                "file written by 'musclethick batch --store'"
            ) from None

    # -- plumbing -----------------------------------------------------------------------

    @classmethod
    def check_writable(cls, path: str | Path) -> None:
        """Raise :class:`StoreError` unless ``path`` can be opened to write: an existing
        store is opened and closed (a foreign database is refused), a new one is not created.
        """
        path = Path(path)
        if path.exists():
            cls(path).close()
        else:
            check_writable(path)

    def _transaction(self) -> Transaction:
        return Transaction(self._db)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> StudyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_meta(self, key: str) -> str | None:
        """Value of ``key`` in the ``meta`` table."""
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        """Set ``key`` in the ``meta`` table (e.g. ``study_name``, ``protocol``)."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, value),
            )

    def relocate(self, old_folder: str | Path, new_folder: str | Path) -> int:
        """Move the study's recorded paths from ``old_folder`` to ``new_folder`` (a study
        folder that was moved or copied elsewhere, its old place gone): scans, their states and
        failures keep their results and reviews under the new paths. Returns the scans moved.
        """
        old, new = str(old_folder).rstrip("/\\"), str(new_folder).rstrip("/\\")
        cut = len(old) + 1  # SQLite's substr is 1-based: the rest after the old folder
        moved = 0
        with self._transaction():
            for table in ("scans", "scan_states", "failures"):
                cursor = self._db.execute(
                    f"UPDATE {table} SET path = ? || substr(path, ?) "  # fixed table names
                    "WHERE substr(path, 1, ?) = ? AND substr(path, ?, 1) IN ('/', '\\')",
                    (new, cut, len(old), old, cut),
                )
                if table == "scans":
                    moved = cursor.rowcount
        return moved

    # -- runs ---------------------------------------------------------------------------

    def start_run(
        self,
        *,
        method: str,
        model_version: str = "",
        model_sha256: str = "",
        settings: dict[str, Any] | None = None,
        protocol: str = "",
        protocol_version: str = "",
    ) -> int:
        """Record the start of a run; returns its id.

        ``protocol`` and ``protocol_version`` are the name and ``[protocol] version`` of the
        protocol the run measured with (:attr:`musclethick.protocol.Protocol.version`).
        Runs of this host still marked ``running`` whose process is gone (killed) are marked
        ``interrupted`` first.
        """
        host = socket.gethostname()
        with self._transaction():
            stale = self._db.execute(
                "SELECT id, pid FROM runs WHERE status='running' AND host=?", (host,)
            ).fetchall()
            for row in stale:
                if not pid_alive(int(row["pid"])):
                    # killed before it could count: its scans are the ones with its results
                    self._db.execute(
                        "UPDATE runs SET status='interrupted', "
                        "n_measured=(SELECT COUNT(DISTINCT scan_id) FROM results WHERE run_id=?),"
                        " n_failed=(SELECT COUNT(DISTINCT scan_id) FROM results r WHERE run_id=?"
                        " AND NOT EXISTS (SELECT 1 FROM results o WHERE o.run_id=r.run_id AND "
                        "o.scan_id=r.scan_id AND o.status!='failed')) WHERE id=?",
                        (row["id"], row["id"], row["id"]),
                    )
            cursor = self._db.execute(
                "INSERT INTO runs (started_at, host, pid, method, model_version, model_sha256, "
                "settings_json, protocol, protocol_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    timestamp(),
                    host,
                    os.getpid(),
                    method,
                    model_version,
                    model_sha256,
                    json.dumps(settings or {}, sort_keys=True, default=str),
                    protocol,
                    str(protocol_version),
                ),
            )
            return int(cursor.lastrowid)

    def finish_run(
        self,
        run_id: int,
        *,
        n_measured: int,
        n_failed: int,
        n_skipped: int,
        status: str = "finished",
    ) -> None:
        """Record the end of a run and its counts."""
        with self._transaction():
            self._db.execute(
                "UPDATE runs SET finished_at=?, status=?, n_measured=?, n_failed=?, n_skipped=? "
                "WHERE id=?",
                (timestamp(), status, n_measured, n_failed, n_skipped, run_id),
            )

    def runs(self) -> list[dict[str, Any]]:
        """All runs as dicts, oldest first (``protocol_version`` ``""`` when a store written
        before schema 3 is read without upgrading it)."""
        return [
            {"protocol_version": "", **dict(r)}
            for r in self._db.execute("SELECT * FROM runs ORDER BY id")
        ]

    def latest_method(self) -> str | None:
        """The method (``"model"`` / ``"edges"``) of the newest run, ``None`` without runs: the
        results a table, reliability figure or report shows unless told otherwise."""
        row = self._db.execute("SELECT method FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        return None if row is None else row[0]

    # -- scans --------------------------------------------------------------------------

    def record_scan(
        self,
        path: str | Path,
        *,
        sha256: str | None = None,
        subject: str = "",
        leg: str = "",
        condition: str = "",
        week: int | None = None,
        date: str = "",
        site: str = "",
        rep: int | None = None,
        relpath: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> int:
        """Insert (or update the labels of) the scan of ``path`` with its current content.

        The file is hashed when ``sha256`` is not given. Returns the scan id; the same
        ``(path, sha256)`` always gives the same id.
        """
        path = Path(path).resolve()
        try:
            stat = path.stat()
        except OSError as error:
            raise StoreError(f"{path}: cannot record scan ({error.strerror})") from None
        sha256 = sha256 or file_sha256(path)
        values = (
            subject,
            leg,
            condition,
            week,
            date,
            site,
            rep,
            relpath,
            json.dumps(metadata or {}, sort_keys=True, default=str),
        )
        with self._transaction():
            row = self._db.execute(
                "SELECT id FROM scans WHERE path=? AND sha256=?", (str(path), sha256)
            ).fetchone()
            if row is not None:
                self._db.execute(
                    "UPDATE scans SET subject=?, leg=?, condition=?, week=?, date=?, site=?, "
                    "rep=?, relpath=?, metadata_json=? WHERE id=?",
                    (*values, row["id"]),
                )
                return int(row["id"])
            cursor = self._db.execute(
                "INSERT INTO scans (path, sha256, size_bytes, mtime, subject, leg, condition, "
                "week, date, site, rep, relpath, metadata_json, added_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (str(path), sha256, stat.st_size, stat.st_mtime, *values, timestamp()),
            )
            return int(cursor.lastrowid)

    def record_entry(self, entry: ScanEntry, *, sha256: str | None = None) -> int:
        """:meth:`record_scan` with the labels of a discovered :class:`ScanEntry`."""
        return self.record_scan(
            entry.path,
            sha256=sha256,
            subject=entry.subject,
            leg=entry.leg,
            condition=entry.condition,
            week=entry.week,
            date=entry.date,
            site=entry.site,
            rep=entry.rep,
            relpath=entry.relpath,
        )

    def get_scan(self, scan_id: int) -> ScanRecord:
        """The scan with id ``scan_id`` (StoreError if absent)."""
        scan = queries.scan_of(self._db, scan_id)
        if scan is None:
            raise StoreError(f"{self.path}: no scan with id {scan_id}")
        return scan

    def scans(self) -> list[ScanRecord]:
        """All scan rows (every file version), by id."""
        return [scan_from_row(r) for r in self._db.execute("SELECT * FROM scans ORDER BY id")]

    def current_scans(self) -> list[ScanRecord]:
        """Scans (file versions) that have current results, by id."""
        rows = self._db.execute(
            "SELECT * FROM scans WHERE id IN (SELECT scan_id FROM results WHERE superseded=0) "
            "ORDER BY id"
        )
        return [scan_from_row(r) for r in rows]

    def is_done(
        self,
        path: str | Path,
        sha256: str,
        model_version: str,
        method: str,
        *,
        include_failed: bool = True,
    ) -> bool:
        """Whether this file content has current results of ``method`` and ``model_version``.

        ``include_failed=False`` treats scans whose last result failed as not done (retry).
        """
        query = (
            "SELECT COUNT(*) FROM results r JOIN scans s ON s.id = r.scan_id "
            "WHERE s.path=? AND s.sha256=? AND r.method=? AND r.model_version=? "
            "AND r.superseded=0"
        )
        if not include_failed:
            query += " AND r.status != 'failed'"
        row = self._db.execute(
            query, (str(Path(path).resolve()), sha256, method, model_version)
        ).fetchone()
        return bool(row[0])

    def done_keys(
        self,
        method: str,
        model_version: str,
        *,
        include_failed: bool = True,
        mm_per_px: float | None = None,
        turned: bool = False,
    ) -> set[tuple[str, str]]:
        """``{(path, sha256)}`` of all scans with current results of this method and version.

        The bulk form of :meth:`is_done` used by the batch runner. With ``mm_per_px`` (a run
        that states the pixel size), a scan measured with another pixel size, or without one,
        is not done: stating it measures those again. A scan measured the other way up than
        ``turned`` (``--upside-down``) is not done either.
        """
        query = (
            "SELECT DISTINCT s.path, s.sha256 FROM results r JOIN scans s ON s.id = r.scan_id "
            "WHERE r.method=? AND r.model_version=? AND r.superseded=0"
        )
        args: list[Any] = [method, model_version]
        if not include_failed:
            query += " AND r.status != 'failed'"
        if mm_per_px is not None:
            query += (
                " AND (r.status = 'failed' OR (r.mm_per_px IS NOT NULL "
                "AND ABS(r.mm_per_px - ?) <= ?))"
            )
            args += [float(mm_per_px), 1e-9 * float(mm_per_px)]
        query += " AND (r.status = 'failed' OR r.turned = ?)"
        args.append(int(bool(turned)))
        rows = self._db.execute(query, args)
        return {(r[0], r[1]) for r in rows}

    # -- results ------------------------------------------------------------------------

    def record_results(
        self,
        scan_id: int,
        results: Sequence[FrameResult],
        run_id: int | None,
        *,
        model_version: str = "",
        model_sha256: str = "",
        method: str | None = None,
    ) -> list[int]:
        """Store all results of one scan in ONE transaction; returns their ids.

        ``method`` (the run's method) is stored instead of each result's own ``method`` when
        given, so that a model run whose frame fell back to edge detection still counts as
        done for ``"model"`` (the fallback remains visible in the result's flags).

        Current results of the same path and method (older file versions or model versions)
        are marked superseded in the same transaction. A ``failed`` result is stored as a
        result row without lines and also in ``failures``.
        """
        if not results:
            raise StoreError(f"{self.path}: record_results got no results for scan {scan_id}")
        scan = self.get_scan(scan_id)
        if run_id is not None and (model_version == "" and model_sha256 == ""):
            run = self._db.execute(
                "SELECT model_version, model_sha256 FROM runs WHERE id=?", (run_id,)
            ).fetchone()
            if run is not None:
                model_version, model_sha256 = run["model_version"], run["model_sha256"]
        ids: list[int] = []
        now = timestamp()
        metadata = {k: v for k, v in asdict(results[0].metadata).items() if v not in ("", None)}
        with self._transaction() as db:
            if metadata and not scan.metadata:
                db.execute(
                    "UPDATE scans SET metadata_json=? WHERE id=?",
                    (json.dumps(metadata, sort_keys=True, default=str), scan_id),
                )
            methods = {method} if method else {r.method for r in results}
            for method in methods:
                db.execute(
                    "UPDATE results SET superseded=1 WHERE superseded=0 AND method=? AND scan_id "
                    "IN (SELECT id FROM scans WHERE path=?)",
                    (method, scan.path),
                )
            for result in results:
                region = result.region
                cursor = db.execute(
                    "INSERT INTO results (scan_id, run_id, frame_index, region_index, time_s, "
                    "status, flags, message, confidence, echo_intensity, thickness_mm, "
                    "thickness_px, mm_per_px, calibration_source, method, model_version, "
                    "model_sha256, region_json, turned, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        scan_id,
                        run_id,
                        int(result.frame_index),
                        int(result.region_index),
                        result.time_s,
                        result.status,
                        ";".join(result.flags),
                        result.message,
                        float(result.confidence),
                        None if result.echo_intensity is None else float(result.echo_intensity),
                        result.mean_thickness_mm,
                        result.mean_thickness_px,
                        result.calibration.mm_per_px,
                        result.calibration.source,
                        method or result.method,
                        model_version,
                        model_sha256,
                        ""
                        if region is None
                        else json.dumps([region.x0, region.y0, region.x1, region.y1]),
                        int(result.turned),
                        now,
                    ),
                )
                result_id = int(cursor.lastrowid)
                ids.append(result_id)
                db.executemany(
                    "INSERT INTO lines (result_id, line, x_px, y_superficial_px, y_deep_px, "
                    "thickness_px, thickness_mm, perpendicular_px, perpendicular_mm) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            result_id,
                            m.line,
                            m.x_px,
                            m.y_superficial_px,
                            m.y_deep_px,
                            m.thickness_px,
                            m.thickness_mm,
                            m.perpendicular_px,
                            m.perpendicular_mm,
                        )
                        for m in result.lines
                    ],
                )
                dx, dy = (0, 0) if region is None else (region.x0, region.y0)
                for side, boundary in (("superficial", result.superficial), ("deep", result.deep)):
                    if boundary is None:
                        continue
                    db.execute(
                        "INSERT INTO boundaries (result_id, side, points_json, source, "
                        "confidence) VALUES (?, ?, ?, ?, ?)",
                        (
                            result_id,
                            side,
                            json.dumps(boundary.shifted(dx, dy).to_points()),
                            boundary.source,
                            boundary.confidence,
                        ),
                    )
                # the layer map's own runner-up in runner_ups (as stores always held it);
                # any other pair review's runner-up key shows, by rank, in offered_pairs
                for rank, pair in enumerate(result.offered_pairs):
                    sup_json = boundary_to_json(pair.superficial.shifted(dx, dy))
                    deep_json = boundary_to_json(pair.deep.shifted(dx, dy))
                    if rank == 0 and pair.kind == "layers":
                        db.execute(
                            "INSERT INTO runner_ups (result_id, superficial_json, deep_json, "
                            "margin_nats) VALUES (?, ?, ?, ?)",
                            (result_id, sup_json, deep_json, float(pair.margin_nats)),
                        )
                    else:
                        db.execute(
                            "INSERT INTO offered_pairs (result_id, rank, kind, "
                            "superficial_json, deep_json, margin_nats) VALUES (?, ?, ?, ?, ?, ?)",
                            (
                                result_id,
                                rank,
                                pair.kind,
                                sup_json,
                                deep_json,
                                float(pair.margin_nats),
                            ),
                        )
                if result.architecture is not None:
                    db.execute(
                        f"INSERT INTO architectures (result_id, {', '.join(ARCHITECTURE_COLUMNS)})"
                        f" VALUES (?{', ?' * len(ARCHITECTURE_COLUMNS)})",
                        (result_id, *architecture_values(result.architecture.shifted(dx, dy))),
                    )
                if result.status == "failed":
                    db.execute(
                        "INSERT INTO failures (scan_id, run_id, path, message, created_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (scan_id, run_id, scan.path, result.message or "failed", now),
                    )
        return ids

    def record_failure(self, path: str | Path, message: str, *, run_id: int | None) -> None:
        """Record a file that could not even be registered as a scan (e.g. unreadable)."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO failures (scan_id, run_id, path, message, created_at) "
                "VALUES (NULL, ?, ?, ?, ?)",
                (run_id, str(path), message, timestamp()),
            )

    def replace_scan_states(self, states: Iterable[ScanState], *, run_id: int | None) -> None:
        """Replace the recorded scan states by ``states`` in one transaction.

        Each batch run records what it found (missing, not found, unreadable, duplicate
        scans), so the states always describe the latest run.
        """
        now = timestamp()
        rows = []
        for st in states:
            if st.state not in SCAN_STATES:
                raise StoreError(f"{self.path}: unknown scan state {st.state!r}")
            labels = (st.subject, st.leg, st.week, st.site, st.rep, st.relpath)
            rows.append((st.path, st.state, st.detail, *labels, run_id, now))
        with self._transaction() as db:
            db.execute("DELETE FROM scan_states")
            db.executemany(
                "INSERT OR REPLACE INTO scan_states (path, state, detail, subject, leg, week, "
                "site, rep, relpath, run_id, since) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def scan_states(self, state: str | None = None) -> list[ScanState]:
        """Recorded scan states (all, or of one kind), by path."""
        return queries.scan_states(self._db, state)

    def excluded_scans(self, *, method: str | None = None) -> list[ScanState]:
        """Scans left out of the tables, and why.

        The states recorded by the latest batch run (missing, not found, unreadable, and the
        duplicates it did not measure), and the duplicates among the other scans with current
        results (``method``'s, or any), found now by the rule of
        :mod:`musclethick.study.duplicates` (so that a duplicate measured by an earlier run is
        never counted either).
        """
        return queries.excluded_scans(self._db, method=method)

    def failures(self, *, run_id: int | None = None) -> list[dict[str, Any]]:
        """Failure rows (all, or of one run)."""
        if run_id is None:
            rows = self._db.execute("SELECT * FROM failures ORDER BY id")
        else:
            rows = self._db.execute("SELECT * FROM failures WHERE run_id=? ORDER BY id", (run_id,))
        return [dict(r) for r in rows]

    def get_result(self, result_id: int) -> StoredResult:
        """One stored result with lines, boundaries (original coordinates) and latest review."""
        row = self._db.execute("SELECT * FROM results WHERE id=?", (result_id,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no result with id {result_id}")
        return self._stored(row)

    def _stored(self, row: sqlite3.Row) -> StoredResult:
        return queries.stored_result(self._db, row, self.get_scan(row["scan_id"]))

    def iter_results(
        self,
        *,
        scan_id: int | None = None,
        path: str | Path | None = None,
        method: str | None = None,
        status: str | Sequence[str] | None = None,
        include_superseded: bool = False,
    ) -> Iterator[StoredResult]:
        """Stored results (current ones by default), optionally filtered, in id order."""
        where, args = queries.filters(
            scan_id=scan_id,
            path=path,
            method=method,
            status=status,
            include_superseded=include_superseded,
        )
        rows = self._db.execute(
            f"SELECT r.* FROM results r JOIN scans s ON s.id = r.scan_id {where} ORDER BY r.id",
            args,
        ).fetchall()
        for row in rows:
            yield self._stored(row)

    # -- reviews ------------------------------------------------------------------------

    def review_queue(
        self,
        *,
        status: str | Sequence[str] | None = ("flagged", "failed", "ok"),
        subject: str | None = None,
        site: str | None = None,
        week: int | None = None,
        leg: str | None = None,
        method: str | None = None,
        max_confidence: float | None = None,
        include_reviewed: bool = False,
        repeat_tolerance_pct: float | None = REPEAT_TOLERANCE_PCT,
    ) -> list[QueueItem]:
        """Current results to review: flagged first, then failed, then the results of
        sessions whose repeats disagree, then the others; each group by rising confidence.

        Parameters
        ----------
        status : str or sequence of str, optional
            Result statuses to include.
        subject, site, week, leg, method : optional
            Filters on the scan labels and method.
        max_confidence : float, optional
            Only results with confidence at most this.
        include_reviewed : bool
            Also list results that already have a review.
        repeat_tolerance_pct : float or None, optional
            The results of a session whose repeated images spread by more than this (% of
            their median; :func:`musclethick.qc.repeats_disagree`) carry the flag
            ``repeats_disagree``, and those marked ``ok`` come before the other ``ok`` ones,
            each session's together: at least one of them is wrong. ``None``: not checked.
        """
        items = queries.review_queue(
            self._db,
            status=status,
            subject=subject,
            site=site,
            week=week,
            leg=leg,
            method=method,
            max_confidence=max_confidence,
            include_reviewed=include_reviewed,
        )
        if repeat_tolerance_pct is None or not items:
            return items
        sessions = self.disagreeing_repeats(repeat_tolerance_pct, method=method)
        session_of = {rid: i for i, session in enumerate(sessions) for rid in session.result_ids}
        if not session_of:
            return items
        marked = [
            replace(item, flags=(*item.flags, REPEATS_DISAGREE))
            if item.result_id in session_of and REPEATS_DISAGREE not in item.flags
            else item
            for item in items
        ]
        # each disagreeing session's repeats together (the session of the least confident
        # one first), so that they are compared side by side
        rank: dict[int, int] = {}
        for item in marked:
            if item.result_id in session_of:
                rank.setdefault(session_of[item.result_id], len(rank))
        first = {"flagged": 0, "failed": 1}

        def order(item: QueueItem) -> tuple[int, int]:
            if item.status in first:
                return first[item.status], 0
            session = session_of.get(item.result_id)
            return (3, 0) if session is None else (2, rank[session])

        # a stable sort: the query's order (by confidence) holds within each group
        return sorted(marked, key=order)

    def disagreeing_repeats(
        self, tolerance_pct: float = REPEAT_TOLERANCE_PCT, *, method: str | None = None
    ) -> list[DisagreeingSession]:
        """Sessions (subject, condition, leg, week, site) whose repeated images spread by more
        than ``tolerance_pct`` of their median (:func:`musclethick.qc.repeats_disagree`), with
        their current results; images valued as reviewed (a rejected one does not count)."""
        return queries.disagreeing_repeats(self._db, tolerance_pct, method)

    def record_review(
        self,
        result_id: int,
        decision: str,
        *,
        reviewer: str,
        expected_revision: int,
        reason: str = "",
        superficial: Boundary | Sequence[Sequence[float]] | None = None,
        deep: Boundary | Sequence[Sequence[float]] | None = None,
        lines: Sequence[LineMeasurement] | None = None,
        thickness_mm: float | None = None,
        architecture: Architecture | None = None,
        echo_intensity: float | None = None,
    ) -> Review:
        """Record a review decision on a result; the model result itself is never changed.

        Parameters
        ----------
        result_id : int
            The reviewed result.
        decision : {"accept", "reject", "correct"}
            ``correct`` needs corrected ``lines`` (or ``thickness_mm``); a ``failed`` result
            (no boundaries) cannot be accepted.
        reviewer : str
            Who decided.
        expected_revision : int
            The revision the reviewer saw (``StoredResult.revision`` / ``QueueItem.revision``;
            0 for an unreviewed result).
        reason : str
            Free text.
        superficial, deep : Boundary or list of [x, y], optional
            Corrected boundaries in original image coordinates (a :class:`Boundary` keeps
            its source and confidence: ``manual``, ``runner_up``, or the model's own for a
            boundary the reviewer left as it was).
        lines : sequence of LineMeasurement, optional
            Corrected measurements (e.g. from ``measure.measure_lines`` on the corrected
            boundaries). ``thickness_mm`` defaults to their ``"mean"`` line.
        architecture : Architecture, optional
            Corrected pennation angle and fascicle length (original image coordinates), e.g.
            the reviewer's fascicles re-measured on the corrected boundaries.
        echo_intensity : float, optional
            The echo intensity between the corrected boundaries (the model's, measured between
            its own, no longer stands; exports leave it empty without one).

        Returns
        -------
        Review
            The stored review, with ``revision = expected_revision + 1``.

        Raises
        ------
        StoreError
            Unknown result or decision, a correction without measurements, an accept of a
            failed result, or a conflict: someone else reviewed the result since
            ``expected_revision``.
        """
        thickness_mm = check_review(
            decision,
            reviewer=reviewer,
            lines=lines,
            thickness_mm=thickness_mm,
            result_id=result_id,
            store=self.path,
        )
        with self._transaction() as db:
            exists = db.execute("SELECT status FROM results WHERE id=?", (result_id,)).fetchone()
            if exists is None:
                raise StoreError(f"{self.path}: no result with id {result_id}")
            current = db.execute(
                "SELECT COALESCE(MAX(revision), 0) FROM reviews WHERE result_id=?", (result_id,)
            ).fetchone()[0]
            check_reviewable(
                decision,
                status=exists["status"],
                revision=current,
                expected_revision=expected_revision,
                result_id=result_id,
                store=self.path,
            )
            cursor = db.execute(
                "INSERT INTO reviews (result_id, revision, decision, reviewer, reviewed_at, "
                "reason, superficial_json, deep_json, lines_json, thickness_mm, echo_intensity) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    result_id,
                    current + 1,
                    decision,
                    reviewer,
                    timestamp(),
                    reason,
                    boundary_to_json(superficial),
                    boundary_to_json(deep),
                    lines_to_json(lines),
                    thickness_mm,
                    None
                    if decision != "correct" or echo_intensity is None
                    else float(echo_intensity),
                ),
            )
            if architecture is not None:
                db.execute(
                    f"INSERT INTO review_architectures (review_id, "
                    f"{', '.join(ARCHITECTURE_COLUMNS)}) "
                    f"VALUES (?{', ?' * len(ARCHITECTURE_COLUMNS)})",
                    (cursor.lastrowid, *architecture_values(architecture)),
                )
            row = db.execute("SELECT * FROM reviews WHERE id=?", (cursor.lastrowid,)).fetchone()
        review = queries.review_of(self._db, row)
        assert review is not None
        return review

    def reviews(self, result_id: int) -> list[Review]:
        """All reviews of a result, oldest first (the full history)."""
        return queries.reviews_of(self._db, result_id)

    def reviewed_scans(self, scan_ids: Iterable[int]) -> set[int]:
        """The scans of ``scan_ids`` whose current result has a review."""
        ids = sorted({int(i) for i in scan_ids})
        found: set[int] = set()
        for start in range(0, len(ids), 500):  # SQLite's limit on bound parameters
            chunk = ids[start : start + 500]
            rows = self._db.execute(
                "SELECT DISTINCT r.scan_id FROM results r JOIN reviews v ON v.result_id = r.id "
                f"WHERE r.superseded=0 AND r.scan_id IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            found.update(int(row[0]) for row in rows)
        return found

    def latest_reviews(self) -> dict[int, Review]:
        """``{result_id: latest review}`` for every reviewed result."""
        return queries.latest_reviews(self._db)

    # -- tables -------------------------------------------------------------------------

    def results_dataframe(
        self, *, method: str | None = None, include_failed: bool = True, exclude: bool = True
    ) -> pd.DataFrame:
        """Long table of current results, one row per measurement line, reviews applied.

        Columns: ``result_id, scan_id, path, relpath, sha256, subject, leg, condition, week,
        date, site, rep, frame, region, line, thickness_mm, thickness_px, perpendicular_mm,
        thickness_mm_model, echo_intensity, confidence, status, flags, message, method,
        model_version, model_sha256, mm_per_px, calibration_source, run_id, qc_status,
        reviewed_by, reviewed_at, review_reason, included``, and the architecture of the
        result (NaN without one), repeated on each of its lines: ``pennation_deg,
        pennation_superficial_deg, fascicle_length_mm, fascicle_length_px,
        fascicle_extrapolated_pct, fascicle_confidence, pennation_deg_model,
        fascicle_length_mm_model``.

        ``qc_status`` is the result's status, or ``accepted`` / ``rejected`` / ``corrected``
        after review (the latest review counts). A correction replaces ``thickness_mm`` /
        ``thickness_px`` by the corrected lines (matched by line name) and ``method`` by how
        the corrected boundaries were found (:attr:`Review.method`: ``manual`` or
        ``runner_up``); a rejection leaves them empty (NaN). The model's value always stays in
        ``thickness_mm_model``. ``included`` is False for failed and rejected results. Failed
        results have one row with an empty ``line``. With ``exclude`` (default), scans that are
        missing or duplicates (:meth:`excluded_scans`) are left out. Architecture follows the
        same rules: a correction's own architecture (the reviewer's fascicles) replaces the
        model's, a correction without one or a rejection leaves it empty, and the model's
        values stay in ``pennation_deg_model`` / ``fascicle_length_mm_model``. These rules are
        :func:`~musclethick.study.store.apply_reviews` (pure), applied to
        :meth:`latest_reviews`.
        """
        frame = queries.model_results_table(self._db, method=method, include_failed=include_failed)
        if exclude:
            left_out = {
                s.path
                for s in self.excluded_scans(method=method)
                if s.state in ("missing", "duplicate")
            }
            frame = frame[~frame["path"].isin(left_out)].reset_index(drop=True)
        return apply_reviews(frame, self.latest_reviews().values())

    def counts(self) -> dict[str, int]:
        """Numbers of scans, current results by status, reviews and failures."""
        return queries.counts(self._db)
