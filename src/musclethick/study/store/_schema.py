"""The study store's schema: its SQL text, version, identity and the migrations.

Nothing here knows about results or reviews: the store calls :func:`check_identity` before
anything is written, :func:`check_version` when a store is opened read-only and
:func:`init_schema` (which creates the tables and upgrades older stores) when it is opened to
write.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from musclethick.errors import StoreError
from musclethick.study.store._sqlite import Transaction, timestamp

__all__ = [
    "APPLICATION_ID",
    "ARCHITECTURE_COLUMNS",
    "DECISIONS",
    "READABLE_VERSIONS",
    "SCAN_STATES",
    "SCHEMA",
    "SCHEMA_VERSION",
    "STORE_TABLES",
    "check_identity",
    "check_version",
    "has_table",
    "init_schema",
    "table_columns",
]

SCHEMA_VERSION = 5
#: Schema versions this musclethick reads (older stores are upgraded when opened to write:
#: 1 -> 2 adds ``scan_states``, 2 -> 3 adds ``runs.protocol_version``, 3 -> 4 adds
#: ``reviews.echo_intensity``, 4 -> 5 adds ``results.turned``).
READABLE_VERSIONS = (1, 2, 3, 4, 5)
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
        "offered_pairs",
        "architectures",
        "review_architectures",
    }
)
DECISIONS = ("accept", "reject", "correct")
#: Why a scan is left out of the tables (``scan_states.state``): ``unmatched`` (the file name
#: does not fit the study's pattern) and ``off_protocol`` (its site is not in the protocol) are
#: files batch found and did not measure (schema 4).
SCAN_STATES = ("missing", "not_found", "unreadable", "duplicate", "unmatched", "off_protocol")

SCHEMA = """
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
    turned INTEGER NOT NULL DEFAULT 0,
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
    echo_intensity REAL,
    UNIQUE (result_id, revision)
);
CREATE TABLE IF NOT EXISTS scan_states (
    path TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('missing', 'not_found', 'unreadable', 'duplicate',
        'unmatched', 'off_protocol')),
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
CREATE TABLE IF NOT EXISTS offered_pairs (
    result_id INTEGER NOT NULL REFERENCES results(id),
    rank INTEGER NOT NULL,
    kind TEXT NOT NULL,
    superficial_json TEXT NOT NULL,
    deep_json TEXT NOT NULL,
    margin_nats REAL NOT NULL,
    PRIMARY KEY (result_id, rank)
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
ARCHITECTURE_COLUMNS = (
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


def check_identity(db: sqlite3.Connection, path: Path) -> set[str]:
    """Refuse a database of another application; returns the names of its tables."""
    app_id = int(db.execute("PRAGMA application_id").fetchone()[0])
    tables = {
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    if app_id == APPLICATION_ID:
        return tables
    if app_id != 0:
        raise StoreError(
            f"{path}: an SQLite database of another application (application id "
            f"{app_id:#x}), not a musclethick study store; nothing was written to it: "
            "choose another store file"
        )
    # no application id: a new (empty) file, or a store written before the id existed
    if tables and not ({"meta", "runs", "scans", "results"} <= tables <= STORE_TABLES):
        shown = ", ".join(sorted(tables)[:6]) + (", ..." if len(tables) > 6 else "")
        raise StoreError(
            f"{path}: not a musclethick study store (an SQLite database with tables "
            f"{shown}); nothing was written to it: choose another store file"
        )
    return tables


def check_version(db: sqlite3.Connection, path: Path, tables: set[str]) -> None:
    """Refuse a store (opened read-only) whose schema version this musclethick cannot read."""
    if "meta" not in tables:
        raise StoreError(f"{path}: an empty database, not a study store")
    row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    if row is None or int(row["value"]) not in READABLE_VERSIONS:
        version = "none" if row is None else row["value"]
        raise StoreError(
            f"{path}: schema version {version} is not supported "
            f"(this musclethick reads versions {', '.join(map(str, READABLE_VERSIONS))})"
        )


def init_schema(db: sqlite3.Connection, path: Path) -> None:
    """Create the missing tables and upgrade an older store to :data:`SCHEMA_VERSION`
    (1 -> 2: ``scan_states``, created with the tables; 2 -> 3: ``runs.protocol_version``;
    3 -> 4: ``reviews.echo_intensity`` and the ``scan_states`` of files not measured; 4 -> 5:
    ``results.turned``, a frame measured turned upright), in one transaction; marks the file
    with :data:`APPLICATION_ID`."""
    with Transaction(db):
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            db.execute("INSERT INTO meta (key, value) VALUES ('created_at', ?)", (timestamp(),))
        elif int(row["value"]) not in READABLE_VERSIONS:
            raise StoreError(
                f"{path}: schema version {row['value']} is not supported "
                f"(this musclethick writes version {SCHEMA_VERSION})"
            )
        elif int(row["value"]) < SCHEMA_VERSION:
            # 1 -> 2: scan_states (created above); 2 -> 3: runs.protocol_version;
            # 3 -> 4: reviews.echo_intensity (a correction's own; NULL for earlier reviews)
            if "protocol_version" not in table_columns(db, "runs"):
                db.execute("ALTER TABLE runs ADD COLUMN protocol_version TEXT NOT NULL DEFAULT ''")
            if "echo_intensity" not in table_columns(db, "reviews"):
                db.execute("ALTER TABLE reviews ADD COLUMN echo_intensity REAL")
            # 4 -> 5: results.turned (frames measured turned upright, --upside-down)
            if "turned" not in table_columns(db, "results"):
                db.execute("ALTER TABLE results ADD COLUMN turned INTEGER NOT NULL DEFAULT 0")
            db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
        _widen_scan_states(db)  # also a store of this version written before the new states
        db.execute(f"PRAGMA application_id={APPLICATION_ID}")


def _widen_scan_states(db: sqlite3.Connection) -> None:
    """Rebuild ``scan_states`` when its CHECK constraint predates the states of schema 4
    (``unmatched``, ``off_protocol``): SQLite cannot alter a constraint, so the rows are copied
    into a table of the current definition (inside the caller's transaction)."""
    row = db.execute(
        "SELECT sql FROM sqlite_master WHERE type='table' AND name='scan_states'"
    ).fetchone()
    if row is None or "off_protocol" in str(row[0]):
        return
    db.execute("ALTER TABLE scan_states RENAME TO scan_states_before_4")
    create = SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS scan_states") :]
    db.execute(create[: create.index(";")])
    db.execute("INSERT INTO scan_states SELECT * FROM scan_states_before_4")
    db.execute("DROP TABLE scan_states_before_4")


def table_columns(db: sqlite3.Connection, table: str) -> set[str]:
    """Names of the columns of ``table``."""
    return {str(r[1]) for r in db.execute(f"PRAGMA table_info({table})")}


def has_table(db: sqlite3.Connection, name: str) -> bool:
    """Whether the store has the table ``name`` (older stores lack the later ones)."""
    row = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)
    ).fetchone()
    return row is not None
