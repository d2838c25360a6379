"""The study store: one SQLite file per study (stdlib :mod:`sqlite3`, WAL mode).

Tables (schema version :data:`SCHEMA_VERSION`, kept in ``meta``):

``runs``         one row per batch run: method, model version and sha256, settings JSON,
                 protocol and its version (``protocol_version``, schema 3; ``''`` for runs
                 recorded before), host, pid, start/finish times and counts.
``scans``        one row per *file content*: path, sha256, size, mtime and the study labels
                 (subject, leg, condition, week, date, site, rep, metadata JSON).
                 ``UNIQUE(path, sha256)``: a changed file is a new scan row.
``results``      one row per measured frame and tissue region (``scan + frame + region``):
                 status, flags, message, confidence, echo intensity, calibration, method,
                 model version/sha256, the run that made it and ``superseded``.
``lines``        one row per measurement line of a result (px and mm).
``boundaries``   the two boundaries of a result as JSON polylines ``[[x, y], ...]`` in
                 **original image coordinates**, with source and confidence.
``failures``     scans that could not be measured, with the message (one per run and scan).
``reviews``      decisions on results: ``accept`` / ``reject`` / ``correct`` with reviewer, time,
                 reason, corrected boundaries (JSON, original coordinates) and corrected lines.
                 The model result is never changed: reviews sit beside it. ``revision``
                 counts reviews of a result (1, 2, ...); :meth:`StudyStore.record_review` takes
                 ``expected_revision`` and raises :class:`StoreError` when another reviewer got
                 there first (optimistic concurrency). Corrected boundaries keep their source
                 and confidence (``{"points": [[x, y], ...], "source": ..., "confidence": ...}``;
                 older stores hold the bare point list, read as ``manual``).
``runner_ups``   the layer pair the model found next most plausible for a result (issue 6):
                 both boundaries as JSON polylines in **original image coordinates** and the
                 margin in nats. A table of its own, created when a store is opened, so stores
                 written before it existed open unchanged.
``architectures`` pennation angle and fascicle length of a result measured with architecture
                 (issue 14): the values, flags, method, the fascicles and the fascicle-length
                 line as JSON in **original image coordinates**. Like ``runner_ups``, created
                 when a store is opened to write; a store without it reads as no architecture.
``review_architectures`` the architecture of a ``correct`` review (the reviewer's fascicles,
                 re-measured), one row per review that has one, same columns.

``scan_states`` scans left out of the tables, as found by the latest batch run: ``missing``
                 (measured before, the file is gone), ``not_found`` (listed in a manifest, no
                 such file), ``unreadable`` (a file or folder that cannot be read) and
                 ``duplicate`` (same content or labels as a scan that counts; see
                 :mod:`musclethick.study.duplicates`).

The file is marked with an SQLite ``application_id`` (:data:`APPLICATION_ID`): a database of
another application is refused before anything is written to it.

Re-measurement policy: results are **superseded, never deleted**. When a scan is measured
again with the same method (a new model version, or the file changed and so has a new sha256),
the previous results of that path and method are marked ``superseded = 1`` in the same
transaction that inserts the new ones, so reviews of old results remain readable. Results of
*another* method are kept current side by side (for method comparisons).

Originals are never copied or modified: the store keeps paths and hashes only.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musclethick.errors import StoreError
from musclethick.study.duplicates import Capture, find_duplicates
from musclethick.types import (
    Architecture,
    Boundary,
    Fascicle,
    FrameResult,
    LayerPair,
    LineMeasurement,
)

if TYPE_CHECKING:
    import pandas as pd

    from musclethick.study.manifest import ScanEntry

__all__ = [
    "APPLICATION_ID",
    "SCAN_STATES",
    "SCHEMA_VERSION",
    "QueueItem",
    "Review",
    "ScanRecord",
    "ScanState",
    "StoredResult",
    "StudyStore",
    "file_sha256",
]

SCHEMA_VERSION = 3
#: Schema versions this musclethick reads (older stores are upgraded when opened to write:
#: 1 -> 2 adds ``scan_states``, 2 -> 3 adds ``runs.protocol_version``).
READABLE_VERSIONS = (1, 2, 3)
#: SQLite ``PRAGMA application_id`` of a study store ("MTHK").
APPLICATION_ID = 0x4D54484B
#: The tables of a study store; a database holding only these (or nothing) is accepted.
STORE_TABLES = frozenset(
    {
        "meta",
        "runs",
        "scans",
        "results",
        "lines",
        "boundaries",
        "failures",
        "reviews",
        "runner_ups",
        "architectures",
        "review_architectures",
    }
)
DECISIONS = ("accept", "reject", "correct")
#: Why a scan is left out of the tables (``scan_states.state``).
SCAN_STATES = ("missing", "not_found", "unreadable", "duplicate")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    method TEXT NOT NULL,
    model_version TEXT NOT NULL DEFAULT '',
    model_sha256 TEXT NOT NULL DEFAULT '',
    settings_json TEXT NOT NULL DEFAULT '{}',
    protocol TEXT NOT NULL DEFAULT '',
    protocol_version TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'running',
    n_measured INTEGER NOT NULL DEFAULT 0,
    n_failed INTEGER NOT NULL DEFAULT 0,
    n_skipped INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    mtime REAL NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    leg TEXT NOT NULL DEFAULT '',
    condition TEXT NOT NULL DEFAULT '',
    week INTEGER,
    date TEXT NOT NULL DEFAULT '',
    site TEXT NOT NULL DEFAULT '',
    rep INTEGER,
    relpath TEXT NOT NULL DEFAULT '',
    metadata_json TEXT NOT NULL DEFAULT '{}',
    added_at TEXT NOT NULL,
    UNIQUE (path, sha256)
);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY,
    scan_id INTEGER NOT NULL REFERENCES scans(id),
    run_id INTEGER REFERENCES runs(id),
    frame_index INTEGER NOT NULL DEFAULT 0,
    region_index INTEGER NOT NULL DEFAULT 0,
    time_s REAL,
    status TEXT NOT NULL,
    flags TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    confidence REAL,
    echo_intensity REAL,
    thickness_mm REAL,
    thickness_px REAL,
    mm_per_px REAL,
    calibration_source TEXT NOT NULL DEFAULT 'none',
    method TEXT NOT NULL,
    model_version TEXT NOT NULL DEFAULT '',
    model_sha256 TEXT NOT NULL DEFAULT '',
    region_json TEXT NOT NULL DEFAULT '',
    superseded INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_scan ON results (scan_id, method, superseded);
CREATE TABLE IF NOT EXISTS lines (
    id INTEGER PRIMARY KEY,
    result_id INTEGER NOT NULL REFERENCES results(id),
    line TEXT NOT NULL,
    x_px REAL,
    y_superficial_px REAL,
    y_deep_px REAL,
    thickness_px REAL,
    thickness_mm REAL,
    perpendicular_px REAL,
    perpendicular_mm REAL
);
CREATE INDEX IF NOT EXISTS lines_result ON lines (result_id);
CREATE TABLE IF NOT EXISTS boundaries (
    id INTEGER PRIMARY KEY,
    result_id INTEGER NOT NULL REFERENCES results(id),
    side TEXT NOT NULL CHECK (side IN ('superficial', 'deep')),
    points_json TEXT NOT NULL,
    source TEXT NOT NULL,
    confidence REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS boundaries_result ON boundaries (result_id);
CREATE TABLE IF NOT EXISTS failures (
    id INTEGER PRIMARY KEY,
    scan_id INTEGER REFERENCES scans(id),
    run_id INTEGER REFERENCES runs(id),
    path TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY,
    result_id INTEGER NOT NULL REFERENCES results(id),
    revision INTEGER NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('accept', 'reject', 'correct')),
    reviewer TEXT NOT NULL,
    reviewed_at TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    superficial_json TEXT,
    deep_json TEXT,
    lines_json TEXT,
    thickness_mm REAL,
    UNIQUE (result_id, revision)
);
CREATE TABLE IF NOT EXISTS scan_states (
    path TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('missing', 'not_found', 'unreadable', 'duplicate')),
    detail TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',
    leg TEXT NOT NULL DEFAULT '',
    week INTEGER,
    site TEXT NOT NULL DEFAULT '',
    rep INTEGER,
    relpath TEXT NOT NULL DEFAULT '',
    run_id INTEGER REFERENCES runs(id),
    since TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runner_ups (
    result_id INTEGER PRIMARY KEY REFERENCES results(id),
    superficial_json TEXT NOT NULL,
    deep_json TEXT NOT NULL,
    margin_nats REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS architectures (
    result_id INTEGER PRIMARY KEY REFERENCES results(id),
    pennation_deg REAL,
    pennation_superficial_deg REAL,
    fascicle_length_mm REAL,
    fascicle_length_px REAL,
    extrapolated_fraction REAL,
    n_fascicles INTEGER NOT NULL,
    spread_deg REAL,
    confidence REAL NOT NULL,
    flags TEXT NOT NULL DEFAULT '',
    method TEXT NOT NULL,
    fascicles_json TEXT NOT NULL,
    line_json TEXT
);
CREATE TABLE IF NOT EXISTS review_architectures (
    review_id INTEGER PRIMARY KEY REFERENCES reviews(id),
    pennation_deg REAL,
    pennation_superficial_deg REAL,
    fascicle_length_mm REAL,
    fascicle_length_px REAL,
    extrapolated_fraction REAL,
    n_fascicles INTEGER NOT NULL,
    spread_deg REAL,
    confidence REAL NOT NULL,
    flags TEXT NOT NULL DEFAULT '',
    method TEXT NOT NULL,
    fascicles_json TEXT NOT NULL,
    line_json TEXT
);
"""

#: Columns of ``architectures`` / ``review_architectures`` after the key, in order.
_ARCHITECTURE_COLUMNS = (
    "pennation_deg",
    "pennation_superficial_deg",
    "fascicle_length_mm",
    "fascicle_length_px",
    "extrapolated_fraction",
    "n_fascicles",
    "spread_deg",
    "confidence",
    "flags",
    "method",
    "fascicles_json",
    "line_json",
)


#: Architecture columns of :meth:`StudyStore.results_dataframe` (besides the ``_model`` ones).
_ARCHITECTURE_FRAME_COLUMNS = (
    "pennation_deg",
    "pennation_superficial_deg",
    "fascicle_length_mm",
    "fascicle_length_px",
    "fascicle_extrapolated_pct",
    "fascicle_confidence",
)


def _architecture_frame_values(architecture: Architecture | None) -> dict[str, float]:
    """:data:`_ARCHITECTURE_FRAME_COLUMNS` of an architecture (NaN for what is missing)."""
    nan = float("nan")
    if architecture is None:
        return dict.fromkeys(_ARCHITECTURE_FRAME_COLUMNS, nan)
    a = architecture

    def value(v: float | None, factor: float = 1.0) -> float:
        return nan if v is None else float(v) * factor

    return {
        "pennation_deg": value(a.pennation_deg),
        "pennation_superficial_deg": value(a.pennation_superficial_deg),
        "fascicle_length_mm": value(a.fascicle_length_mm),
        "fascicle_length_px": value(a.fascicle_length_px),
        "fascicle_extrapolated_pct": value(a.extrapolated_fraction, 100.0),
        "fascicle_confidence": value(a.confidence),
    }


def _architecture_values(architecture: Architecture) -> tuple[Any, ...]:
    """The :data:`_ARCHITECTURE_COLUMNS` of an architecture (already in original pixels)."""
    a = architecture
    fascicles = [
        {"points": f.to_points(), "source": f.source, "weight": f.weight} for f in a.fascicles
    ]
    return (
        a.pennation_deg,
        a.pennation_superficial_deg,
        a.fascicle_length_mm,
        a.fascicle_length_px,
        a.extrapolated_fraction,
        int(a.n_fascicles),
        a.spread_deg,
        float(a.confidence),
        ";".join(a.flags),
        a.method,
        json.dumps(fascicles),
        None if a.line is None else json.dumps(list(a.line)),
    )


def _architecture_from_row(row: sqlite3.Row | None) -> Architecture | None:
    if row is None:
        return None
    fascicles = tuple(
        Fascicle(*f["points"][0], *f["points"][1], f.get("source", "manual"), f.get("weight", 1))
        for f in json.loads(row["fascicles_json"] or "[]")
    )
    line = json.loads(row["line_json"]) if row["line_json"] else None
    return Architecture(
        pennation_deg=row["pennation_deg"],
        pennation_superficial_deg=row["pennation_superficial_deg"],
        fascicle_length_px=row["fascicle_length_px"],
        fascicle_length_mm=row["fascicle_length_mm"],
        extrapolated_fraction=row["extrapolated_fraction"],
        n_fascicles=int(row["n_fascicles"]),
        spread_deg=row["spread_deg"],
        confidence=float(row["confidence"]),
        fascicles=fascicles,
        line=None if line is None else tuple(float(v) for v in line),
        flags=tuple(f for f in row["flags"].split(";") if f),
        method=row["method"],
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def file_sha256(path: str | Path, *, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def _boundary_from_json(text: str | None, source: str = "manual", confidence: float = 1.0):
    """A boundary from ``[[x, y], ...]`` (with ``source`` and ``confidence``) or from
    ``{"points": [[x, y], ...], "source": ..., "confidence": ...}`` (its own)."""
    if not text:
        return None
    data = json.loads(text)
    if isinstance(data, dict):
        source = str(data.get("source", source))
        confidence = float(data.get("confidence", confidence))
        data = data["points"]
    xs = [p[0] for p in data]
    ys = [p[1] for p in data]
    return Boundary(xs, ys, source, confidence)


def _lines_to_json(lines: Sequence[LineMeasurement] | None) -> str | None:
    if lines is None:
        return None
    return json.dumps([asdict(line) for line in lines])


def _lines_from_json(text: str | None) -> tuple[LineMeasurement, ...]:
    if not text:
        return ()
    return tuple(LineMeasurement(**item) for item in json.loads(text))


def _boundary_points(boundary: Boundary | Sequence[Sequence[float]] | None) -> str | None:
    """JSON of a boundary: with its source and confidence when it is a :class:`Boundary`,
    else the bare point list (read back as ``manual``)."""
    if boundary is None:
        return None
    if isinstance(boundary, Boundary):
        return json.dumps(
            {
                "points": boundary.to_points(),
                "source": boundary.source,
                "confidence": float(boundary.confidence),
            }
        )
    return json.dumps([[float(x), float(y)] for x, y in boundary])


def _check_writable(path: Path) -> None:
    """A store opened to write must be a writable file in a writable folder."""
    folder = path.parent
    if not folder.is_dir():
        raise StoreError(f"{path}: {folder} is not a folder; create it or choose another store")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(
            f"{path}: folder {folder} is not writable (SQLite needs to write its journal "
            "beside the store); choose another place or fix its permissions"
        )
    if path.exists() and not os.access(path, os.W_OK):
        raise StoreError(
            f"{path}: the store is read-only; make it writable or choose another store"
        )


@dataclass(frozen=True)
class ScanRecord:
    """A row of ``scans``."""

    id: int
    path: str
    sha256: str
    size_bytes: int
    mtime: float
    subject: str
    leg: str
    condition: str
    week: int | None
    date: str
    site: str
    rep: int | None
    relpath: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class ScanState:
    """A scan left out of the tables, and why (a row of ``scan_states``).

    Attributes
    ----------
    path : str
        The file (or folder, for ``unreadable``).
    state : str
        One of :data:`SCAN_STATES`.
    detail : str
        One line: what was found and, for duplicates, which scan counts instead.
    subject, leg, week, site, rep, relpath
        The scan's labels, where known.
    run_id : int or None
        The batch run that found it.
    since : str
        When it was recorded.
    """

    path: str
    state: str
    detail: str = ""
    subject: str = ""
    leg: str = ""
    week: int | None = None
    site: str = ""
    rep: int | None = None
    relpath: str = ""
    run_id: int | None = None
    since: str = ""


@dataclass(frozen=True)
class Review:
    """A row of ``reviews``; ``lines``, boundaries and ``architecture`` (original image
    coordinates) are the corrected values (if any)."""

    id: int
    result_id: int
    revision: int
    decision: str
    reviewer: str
    reviewed_at: str
    reason: str
    superficial: Boundary | None
    deep: Boundary | None
    lines: tuple[LineMeasurement, ...]
    thickness_mm: float | None
    architecture: Architecture | None = None

    @property
    def method(self) -> str | None:
        """How a correction's boundaries were found: ``"runner_up"`` when both are the model's
        runner-up pair, else ``"manual"``; ``None`` for other decisions."""
        from musclethick.measure import correction_method

        if self.decision != "correct":
            return None
        return correction_method(self.superficial, self.deep)


@dataclass(frozen=True, eq=False)
class StoredResult:
    """One stored model result (``scan + frame + region``) with its boundaries and lines.

    ``superficial`` / ``deep`` are in **original image coordinates**. ``revision`` is the
    number of reviews so far (pass it as ``expected_revision`` to
    :meth:`StudyStore.record_review`); ``review`` is the latest review or ``None``.
    ``runner_up`` is the layer pair the model found next most plausible (original image
    coordinates, like the boundaries), or ``None``; ``architecture`` the pennation angle and
    fascicle length measured with it (fascicles in original image coordinates), or ``None``.
    """

    id: int
    scan: ScanRecord
    run_id: int | None
    frame_index: int
    region_index: int
    time_s: float | None
    status: str
    flags: tuple[str, ...]
    message: str
    confidence: float | None
    echo_intensity: float | None
    thickness_mm: float | None
    thickness_px: float | None
    mm_per_px: float | None
    calibration_source: str
    method: str
    model_version: str
    model_sha256: str
    region: tuple[int, int, int, int] | None
    superseded: bool
    created_at: str
    lines: tuple[LineMeasurement, ...]
    superficial: Boundary | None
    deep: Boundary | None
    revision: int
    review: Review | None
    runner_up: LayerPair | None = None
    architecture: Architecture | None = None


@dataclass(frozen=True)
class QueueItem:
    """One entry of :meth:`StudyStore.review_queue` (flagged and low-confidence first)."""

    result_id: int
    scan_id: int
    path: str
    frame_index: int
    region_index: int
    subject: str
    leg: str
    condition: str
    week: int | None
    site: str
    rep: int | None
    status: str
    flags: tuple[str, ...]
    message: str
    confidence: float | None
    thickness_mm: float | None
    method: str
    model_version: str
    revision: int
    decision: str | None


class StudyStore:
    """A study's SQLite store (see the module docstring for tables and policies).

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
            _check_writable(self.path)
        try:
            if readonly:
                self._db = self._connect_readonly(timeout_s)
            else:
                self._db = sqlite3.connect(
                    str(self.path),
                    timeout=timeout_s,
                    isolation_level=None,
                    check_same_thread=False,
                )
            self._db.row_factory = sqlite3.Row
            tables = self._check_identity()  # before anything is written
            if readonly:
                self._check_version(tables)
            else:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute("PRAGMA foreign_keys=ON")
                self._init_schema()
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{self.path}: not a usable study store ({error})") from None

    # -- plumbing -----------------------------------------------------------------------

    def _connect_readonly(self, timeout_s: float) -> sqlite3.Connection:
        """A read-only connection; ``immutable`` where SQLite cannot create the WAL index
        beside a read-only store (a read-only folder or file)."""
        uri = self.path.resolve().as_uri()
        for options in ("mode=ro", "mode=ro&immutable=1"):
            db = sqlite3.connect(
                f"{uri}?{options}",
                uri=True,
                timeout=timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError:
                db.close()
                continue
            return db
        raise StoreError(f"{self.path}: cannot be opened to read; check its permissions")

    @classmethod
    def check_writable(cls, path: str | Path) -> None:
        """Raise :class:`StoreError` unless ``path`` can be opened to write: an existing
        store is opened and closed (a foreign database is refused), a new one is not created.
        """
        path = Path(path)
        if path.exists():
            cls(path).close()
        else:
            _check_writable(path)

    def _check_identity(self) -> set[str]:
        """Refuse a database of another application; returns the names of its tables."""
        app_id = int(self._db.execute("PRAGMA application_id").fetchone()[0])
        tables = {
            r[0]
            for r in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        if app_id == APPLICATION_ID:
            return tables
        if app_id != 0:
            raise StoreError(
                f"{self.path}: an SQLite database of another application (application id "
                f"{app_id:#x}), not a musclethick study store; nothing was written to it: "
                "choose another store file"
            )
        # no application id: a new (empty) file, or a store written before the id existed
        if tables and not ({"meta", "runs", "scans", "results"} <= tables <= STORE_TABLES):
            shown = ", ".join(sorted(tables)[:6]) + (", ..." if len(tables) > 6 else "")
            raise StoreError(
                f"{self.path}: not a musclethick study store (an SQLite database with tables "
                f"{shown}); nothing was written to it: choose another store file"
            )
        return tables

    def _check_version(self, tables: set[str]) -> None:
        if "meta" not in tables:
            raise StoreError(f"{self.path}: an empty database, not a study store")
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None or int(row["value"]) not in READABLE_VERSIONS:
            version = "none" if row is None else row["value"]
            raise StoreError(
                f"{self.path}: schema version {version} is not supported "
                f"(this musclethick reads versions {', '.join(map(str, READABLE_VERSIONS))})"
            )

    def _init_schema(self) -> None:
        with self._transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                self._db.execute(
                    "INSERT INTO meta (key, value) VALUES ('created_at', ?)", (_now(),)
                )
            elif int(row["value"]) not in READABLE_VERSIONS:
                raise StoreError(
                    f"{self.path}: schema version {row['value']} is not supported "
                    f"(this musclethick writes version {SCHEMA_VERSION})"
                )
            elif int(row["value"]) < SCHEMA_VERSION:
                # 1 -> 2: scan_states (created above); 2 -> 3: runs.protocol_version
                if "protocol_version" not in self._columns("runs"):
                    self._db.execute(
                        "ALTER TABLE runs ADD COLUMN protocol_version TEXT NOT NULL DEFAULT ''"
                    )
                self._db.execute(
                    "UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),)
                )
            self._db.execute(f"PRAGMA application_id={APPLICATION_ID}")

    def _columns(self, table: str) -> set[str]:
        """Names of the columns of ``table``."""
        return {str(r[1]) for r in self._db.execute(f"PRAGMA table_info({table})")}

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, kind, value, traceback) -> None:
            if kind is None:
                self.db.execute("COMMIT")
            else:
                self.db.execute("ROLLBACK")

    def _transaction(self) -> StudyStore._Tx:
        return StudyStore._Tx(self._db)

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
                if not _pid_alive(int(row["pid"])):
                    self._db.execute(
                        "UPDATE runs SET status='interrupted' WHERE id=?", (row["id"],)
                    )
            cursor = self._db.execute(
                "INSERT INTO runs (started_at, host, pid, method, model_version, model_sha256, "
                "settings_json, protocol, protocol_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _now(),
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
                (_now(), status, n_measured, n_failed, n_skipped, run_id),
            )

    def runs(self) -> list[dict[str, Any]]:
        """All runs as dicts, oldest first (``protocol_version`` ``""`` when a store written
        before schema 3 is read without upgrading it)."""
        return [
            {"protocol_version": "", **dict(r)}
            for r in self._db.execute("SELECT * FROM runs ORDER BY id")
        ]

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
                (str(path), sha256, stat.st_size, stat.st_mtime, *values, _now()),
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

    def _scan(self, row: sqlite3.Row) -> ScanRecord:
        return ScanRecord(
            id=row["id"],
            path=row["path"],
            sha256=row["sha256"],
            size_bytes=row["size_bytes"],
            mtime=row["mtime"],
            subject=row["subject"],
            leg=row["leg"],
            condition=row["condition"],
            week=row["week"],
            date=row["date"],
            site=row["site"],
            rep=row["rep"],
            relpath=row["relpath"],
            metadata=json.loads(row["metadata_json"] or "{}"),
        )

    def get_scan(self, scan_id: int) -> ScanRecord:
        """The scan with id ``scan_id`` (StoreError if absent)."""
        row = self._db.execute("SELECT * FROM scans WHERE id=?", (scan_id,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no scan with id {scan_id}")
        return self._scan(row)

    def scans(self) -> list[ScanRecord]:
        """All scan rows (every file version), by id."""
        return [self._scan(r) for r in self._db.execute("SELECT * FROM scans ORDER BY id")]

    def current_scans(self) -> list[ScanRecord]:
        """Scans (file versions) that have current results, by id."""
        rows = self._db.execute(
            "SELECT * FROM scans WHERE id IN (SELECT scan_id FROM results WHERE superseded=0) "
            "ORDER BY id"
        )
        return [self._scan(r) for r in rows]

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
        self, method: str, model_version: str, *, include_failed: bool = True
    ) -> set[tuple[str, str]]:
        """``{(path, sha256)}`` of all scans with current results of this method and version.

        The bulk form of :meth:`is_done` used by the batch runner.
        """
        query = (
            "SELECT DISTINCT s.path, s.sha256 FROM results r JOIN scans s ON s.id = r.scan_id "
            "WHERE r.method=? AND r.model_version=? AND r.superseded=0"
        )
        if not include_failed:
            query += " AND r.status != 'failed'"
        rows = self._db.execute(query, (method, model_version))
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
        now = _now()
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
                    "model_sha256, region_json, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                pair = result.runner_up
                if pair is not None:
                    db.execute(
                        "INSERT INTO runner_ups (result_id, superficial_json, deep_json, "
                        "margin_nats) VALUES (?, ?, ?, ?)",
                        (
                            result_id,
                            _boundary_points(pair.superficial.shifted(dx, dy)),
                            _boundary_points(pair.deep.shifted(dx, dy)),
                            float(pair.margin_nats),
                        ),
                    )
                if result.architecture is not None:
                    db.execute(
                        f"INSERT INTO architectures (result_id, {', '.join(_ARCHITECTURE_COLUMNS)})"
                        f" VALUES (?{', ?' * len(_ARCHITECTURE_COLUMNS)})",
                        (result_id, *_architecture_values(result.architecture.shifted(dx, dy))),
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
                (run_id, str(path), message, _now()),
            )

    def replace_scan_states(self, states: Iterable[ScanState], *, run_id: int | None) -> None:
        """Replace the recorded scan states by ``states`` in one transaction.

        Each batch run records what it found (missing, not found, unreadable, duplicate
        scans), so the states always describe the latest run.
        """
        now = _now()
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
        has_table = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='scan_states'"
        ).fetchone()
        if has_table is None:  # a version 1 store opened read-only
            return []
        query, args = "SELECT * FROM scan_states", ()
        if state is not None:
            query, args = query + " WHERE state=?", (state,)
        rows = self._db.execute(query + " ORDER BY relpath, path", args)
        return [ScanState(**dict(r)) for r in rows]

    def excluded_scans(self, *, method: str | None = None) -> list[ScanState]:
        """Scans left out of the tables, and why.

        The states recorded by the latest batch run (missing, not found, unreadable, and the
        duplicates it did not measure), and the duplicates among the other scans with current
        results (``method``'s, or any), found now by the rule of
        :mod:`musclethick.study.duplicates` (so that a duplicate measured by an earlier run is
        never counted either).
        """
        states = self.scan_states()
        listed = {s.path for s in states}
        query = (
            "SELECT DISTINCT s.path, s.relpath, s.sha256, s.subject, s.leg, s.week, s.site, "
            "s.rep FROM scans s JOIN results r ON r.scan_id = s.id WHERE r.superseded = 0"
        )
        args: tuple = ()
        if method is not None:
            query, args = query + " AND r.method = ?", (method,)
        scans = {}
        for row in self._db.execute(query, args):
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

    def failures(self, *, run_id: int | None = None) -> list[dict[str, Any]]:
        """Failure rows (all, or of one run)."""
        if run_id is None:
            rows = self._db.execute("SELECT * FROM failures ORDER BY id")
        else:
            rows = self._db.execute("SELECT * FROM failures WHERE run_id=? ORDER BY id", (run_id,))
        return [dict(r) for r in rows]

    def _lines_of(self, result_id: int) -> tuple[LineMeasurement, ...]:
        rows = self._db.execute(
            "SELECT line, x_px, y_superficial_px, y_deep_px, thickness_px, thickness_mm, "
            "perpendicular_px, perpendicular_mm FROM lines WHERE result_id=? ORDER BY id",
            (result_id,),
        )
        return tuple(LineMeasurement(**dict(r)) for r in rows)

    def _boundaries_of(self, result_id: int) -> dict[str, Boundary]:
        rows = self._db.execute(
            "SELECT side, points_json, source, confidence FROM boundaries WHERE result_id=?",
            (result_id,),
        )
        return {
            r["side"]: _boundary_from_json(r["points_json"], r["source"], r["confidence"])
            for r in rows
        }

    def _runner_up_of(self, result_id: int) -> LayerPair | None:
        try:
            row = self._db.execute(
                "SELECT superficial_json, deep_json, margin_nats FROM runner_ups WHERE result_id=?",
                (result_id,),
            ).fetchone()
        except sqlite3.OperationalError:  # a store written before the table, opened read-only
            return None
        if row is None:
            return None
        return LayerPair(
            _boundary_from_json(row["superficial_json"], "runner_up"),
            _boundary_from_json(row["deep_json"], "runner_up"),
            float(row["margin_nats"]),
        )

    def _has_table(self, name: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)
        ).fetchone()
        return row is not None

    def _architecture_of(self, table: str, key: str, value: int) -> Architecture | None:
        try:
            row = self._db.execute(f"SELECT * FROM {table} WHERE {key}=?", (value,)).fetchone()
        except sqlite3.OperationalError:  # a store written before the table, opened read-only
            return None
        return _architecture_from_row(row)

    def _review(self, row: sqlite3.Row | None) -> Review | None:
        if row is None:
            return None
        return Review(
            id=row["id"],
            result_id=row["result_id"],
            revision=row["revision"],
            decision=row["decision"],
            reviewer=row["reviewer"],
            reviewed_at=row["reviewed_at"],
            reason=row["reason"],
            superficial=_boundary_from_json(row["superficial_json"]),
            deep=_boundary_from_json(row["deep_json"]),
            lines=_lines_from_json(row["lines_json"]),
            thickness_mm=row["thickness_mm"],
            architecture=self._architecture_of("review_architectures", "review_id", row["id"]),
        )

    def get_result(self, result_id: int) -> StoredResult:
        """One stored result with lines, boundaries (original coordinates) and latest review."""
        row = self._db.execute("SELECT * FROM results WHERE id=?", (result_id,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no result with id {result_id}")
        return self._stored(row)

    def _stored(self, row: sqlite3.Row) -> StoredResult:
        result_id = row["id"]
        bounds = self._boundaries_of(result_id)
        review = self._review(
            self._db.execute(
                "SELECT * FROM reviews WHERE result_id=? ORDER BY revision DESC LIMIT 1",
                (result_id,),
            ).fetchone()
        )
        region = json.loads(row["region_json"]) if row["region_json"] else None
        return StoredResult(
            id=result_id,
            scan=self.get_scan(row["scan_id"]),
            run_id=row["run_id"],
            frame_index=row["frame_index"],
            region_index=row["region_index"],
            time_s=row["time_s"],
            status=row["status"],
            flags=tuple(f for f in row["flags"].split(";") if f),
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
            lines=self._lines_of(result_id),
            superficial=bounds.get("superficial"),
            deep=bounds.get("deep"),
            revision=0 if review is None else review.revision,
            review=review,
            runner_up=self._runner_up_of(result_id),
            architecture=self._architecture_of("architectures", "result_id", result_id),
        )

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
        where, args = self._filters(
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

    @staticmethod
    def _filters(
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
    ) -> list[QueueItem]:
        """Current results to review: flagged first, then failed, then by rising confidence.

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
        """
        where, args = self._filters(
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
        rows = self._db.execute(
            "SELECT r.id AS result_id, r.scan_id, s.path, r.frame_index, r.region_index, "
            "s.subject, s.leg, s.condition, s.week, s.site, s.rep, r.status, r.flags, "
            "r.message, r.confidence, r.thickness_mm, r.method, r.model_version, "
            "COALESCE(lr.revision, 0) AS revision, v.decision "
            f"FROM results r JOIN scans s ON s.id = r.scan_id {latest} {where} "
            "ORDER BY CASE r.status WHEN 'flagged' THEN 0 WHEN 'failed' THEN 1 ELSE 2 END, "
            "COALESCE(r.confidence, 0), s.subject, s.week, s.site, s.rep, r.frame_index",
            args,
        ).fetchall()
        return [
            QueueItem(**{**dict(r), "flags": tuple(f for f in r["flags"].split(";") if f)})
            for r in rows
        ]

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
        if decision not in DECISIONS:
            raise StoreError(f"{self.path}: decision must be one of {DECISIONS}, got {decision!r}")
        if not reviewer:
            raise StoreError(f"{self.path}: a review needs a reviewer name")
        if thickness_mm is None and lines:
            thickness_mm = next((m.thickness_mm for m in lines if m.line == "mean"), None)
        if decision == "correct" and not lines and thickness_mm is None:
            raise StoreError(
                f"{self.path}: a 'correct' review of result {result_id} needs corrected lines"
            )
        with self._transaction() as db:
            exists = db.execute("SELECT status FROM results WHERE id=?", (result_id,)).fetchone()
            if exists is None:
                raise StoreError(f"{self.path}: no result with id {result_id}")
            if decision == "accept" and exists["status"] == "failed":
                raise StoreError(
                    f"{self.path}: result {result_id} failed (no boundaries were found), so "
                    "there is nothing to accept: draw both boundaries and save a correction, "
                    "or reject it"
                )
            current = db.execute(
                "SELECT COALESCE(MAX(revision), 0) FROM reviews WHERE result_id=?", (result_id,)
            ).fetchone()[0]
            if current != expected_revision:
                raise StoreError(
                    f"{self.path}: result {result_id} is at revision {current}, not "
                    f"{expected_revision}: someone else reviewed it; reload and try again"
                )
            cursor = db.execute(
                "INSERT INTO reviews (result_id, revision, decision, reviewer, reviewed_at, "
                "reason, superficial_json, deep_json, lines_json, thickness_mm) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    result_id,
                    current + 1,
                    decision,
                    reviewer,
                    _now(),
                    reason,
                    _boundary_points(superficial),
                    _boundary_points(deep),
                    _lines_to_json(lines),
                    thickness_mm,
                ),
            )
            if architecture is not None:
                db.execute(
                    f"INSERT INTO review_architectures (review_id, "
                    f"{', '.join(_ARCHITECTURE_COLUMNS)}) "
                    f"VALUES (?{', ?' * len(_ARCHITECTURE_COLUMNS)})",
                    (cursor.lastrowid, *_architecture_values(architecture)),
                )
            row = db.execute("SELECT * FROM reviews WHERE id=?", (cursor.lastrowid,)).fetchone()
        review = self._review(row)
        assert review is not None
        return review

    def reviews(self, result_id: int) -> list[Review]:
        """All reviews of a result, oldest first (the full history)."""
        rows = self._db.execute(
            "SELECT * FROM reviews WHERE result_id=? ORDER BY revision", (result_id,)
        )
        return [r for r in (self._review(row) for row in rows) if r is not None]

    def latest_reviews(self) -> dict[int, Review]:
        """``{result_id: latest review}`` for every reviewed result."""
        rows = self._db.execute(
            "SELECT v.* FROM reviews v JOIN (SELECT result_id, MAX(revision) AS revision "
            "FROM reviews GROUP BY result_id) lr "
            "ON lr.result_id = v.result_id AND lr.revision = v.revision"
        )
        return {r.result_id: r for r in (self._review(row) for row in rows) if r is not None}

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
        values stay in ``pennation_deg_model`` / ``fascicle_length_mm_model``.
        """
        import pandas as pd

        where, args = self._filters(method=method)
        if not include_failed:
            where += " AND r.status != 'failed'"
        if self._has_table("architectures"):
            arch_join = "LEFT JOIN architectures a ON a.result_id = r.id"
            arch = (
                "a.pennation_deg, a.pennation_superficial_deg, a.fascicle_length_mm, "
                "a.fascicle_length_px, a.extrapolated_fraction, a.confidence AS fascicle_confidence"
            )
        else:  # a store written before the table, opened read-only
            arch_join = ""
            arch = ", ".join(f"NULL AS c{i}" for i in range(6))
        rows = self._db.execute(
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
        columns = [
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
            *_ARCHITECTURE_FRAME_COLUMNS,
        ]
        frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
        for column in _ARCHITECTURE_FRAME_COLUMNS:
            frame[column] = frame[column].astype(float)
        frame["fascicle_extrapolated_pct"] = 100.0 * frame["fascicle_extrapolated_pct"]
        frame["pennation_deg_model"] = frame["pennation_deg"]
        frame["fascicle_length_mm_model"] = frame["fascicle_length_mm"]
        if exclude:
            left_out = {
                s.path
                for s in self.excluded_scans(method=method)
                if s.state in ("missing", "duplicate")
            }
            frame = frame[~frame["path"].isin(left_out)].reset_index(drop=True)
        frame["thickness_mm_model"] = frame["thickness_mm"]
        frame["qc_status"] = frame["status"]
        frame["reviewed_by"] = ""
        frame["reviewed_at"] = ""
        frame["review_reason"] = ""
        frame["line"] = frame["line"].fillna("")
        frame["thickness_mm"] = frame["thickness_mm"].astype(float)
        frame["thickness_px"] = frame["thickness_px"].astype(float)
        reviews = self.latest_reviews()
        labels = {"accept": "accepted", "reject": "rejected", "correct": "corrected"}
        for result_id, review in reviews.items():
            mask = frame["result_id"] == result_id
            if not mask.any():
                continue
            frame.loc[mask, "qc_status"] = labels[review.decision]
            frame.loc[mask, "reviewed_by"] = review.reviewer
            frame.loc[mask, "reviewed_at"] = review.reviewed_at
            frame.loc[mask, "review_reason"] = review.reason
            if review.decision == "reject":  # no value stands for a rejected scan
                frame.loc[mask, ["thickness_mm", "thickness_px", "perpendicular_mm"]] = float("nan")
                frame.loc[mask, list(_ARCHITECTURE_FRAME_COLUMNS)] = float("nan")
            if review.decision != "correct":
                continue
            # a correction's own architecture, or none: the model's no longer stands
            for column, value in _architecture_frame_values(review.architecture).items():
                frame.loc[mask, column] = value
            frame.loc[mask, "method"] = review.method
            corrected = {m.line: m for m in review.lines}
            if not corrected and review.thickness_mm is not None:
                nan = float("nan")
                mean = LineMeasurement("mean", nan, nan, nan, nan, review.thickness_mm)
                corrected = {"mean": mean}
            for index in frame.index[mask]:
                line = frame.at[index, "line"] or "mean"
                if line in corrected:
                    frame.at[index, "thickness_mm"] = corrected[line].thickness_mm
                    frame.at[index, "thickness_px"] = corrected[line].thickness_px
                    frame.at[index, "perpendicular_mm"] = corrected[line].perpendicular_mm
                else:  # a line the correction does not give: no longer trustworthy
                    frame.at[index, "thickness_mm"] = float("nan")
                    frame.at[index, "thickness_px"] = float("nan")
                    frame.at[index, "perpendicular_mm"] = float("nan")
            if frame.loc[mask, "line"].eq("").all():  # a failed result corrected by hand
                extra = [
                    {
                        **frame.loc[mask].iloc[0].to_dict(),
                        "line": m.line,
                        "thickness_mm": m.thickness_mm,
                        "thickness_px": m.thickness_px,
                        "perpendicular_mm": m.perpendicular_mm,
                    }
                    for m in corrected.values()
                ]
                frame = pd.concat([frame[~mask], pd.DataFrame(extra)], ignore_index=True)
        frame["included"] = ~frame["qc_status"].isin(["failed", "rejected"])
        return frame.sort_values(["result_id"], kind="stable").reset_index(drop=True)

    def counts(self) -> dict[str, int]:
        """Numbers of scans, current results by status, reviews and failures."""
        out = {"scans": self._db.execute("SELECT COUNT(*) FROM scans").fetchone()[0]}
        for status, n in self._db.execute(
            "SELECT status, COUNT(*) FROM results WHERE superseded=0 GROUP BY status"
        ):
            out[f"results_{status}"] = n
        out["results_superseded"] = self._db.execute(
            "SELECT COUNT(*) FROM results WHERE superseded=1"
        ).fetchone()[0]
        out["reviews"] = self._db.execute("SELECT COUNT(*) FROM reviews").fetchone()[0]
        out["failures"] = self._db.execute("SELECT COUNT(*) FROM failures").fetchone()[0]
        return out
