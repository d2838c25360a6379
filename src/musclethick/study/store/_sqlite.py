"""SQLite plumbing of the study store: connections, transactions, timestamps."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from musclethick.errors import StoreError

__all__ = ["Transaction", "check_writable", "connect", "connect_readonly", "pid_alive", "timestamp"]


def timestamp() -> str:
    """The current UTC time, ISO 8601 with microseconds (the store's timestamps)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def check_writable(path: Path) -> None:
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
    from musclethick.outputs import files_cannot_be_written

    why = files_cannot_be_written(folder)
    if why is not None:  # e.g. /proc or a read-only mount, whatever the permission bits say
        raise StoreError(
            f"{path}: files cannot be written in {folder} ({why}; SQLite writes its journal "
            "beside the store); choose another place"
        )


def connect(path: Path, timeout_s: float) -> sqlite3.Connection:
    """A connection to write (autocommit: :class:`Transaction` opens the transactions)."""
    return sqlite3.connect(
        str(path), timeout=timeout_s, isolation_level=None, check_same_thread=False
    )


def connect_readonly(path: Path, timeout_s: float) -> sqlite3.Connection:
    """A read-only connection; ``immutable`` where SQLite cannot create the WAL index
    beside a read-only store (a read-only folder or file)."""
    uri = path.resolve().as_uri()
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
    raise StoreError(f"{path}: cannot be opened to read; check its permissions")


class Transaction:
    """``with Transaction(db) as db:``: ``BEGIN IMMEDIATE``, then ``COMMIT`` (or
    ``ROLLBACK`` on an exception)."""

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
