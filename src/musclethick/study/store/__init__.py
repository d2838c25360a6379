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
                 reason, corrected boundaries (JSON, original coordinates), corrected lines and
                 the echo intensity between the corrected boundaries (schema 4).
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
``offered_pairs`` the other layer pairs review's runner-up key cycles through, after the
                 runner-up (``rank`` 1, 2, ...; ``rank`` 0 is a runner-up that is not the
                 layer map's own, e.g. a pair of the frame's bands), with their ``kind``
                 (:data:`musclethick.types.PAIR_KINDS`). Created when a store is opened, like
                 ``runner_ups``; a store without it reads as no other pairs.
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

The package: :class:`StudyStore` (``_store.py``, the connection and the writes), the schema,
its version and migrations (``_schema.py``), the records and their row codecs
(``_records.py``), the reads (``_queries.py``) and the review rules, pure
(``_reviews.py``: :func:`apply_reviews` makes the reviewed results table).
"""

from __future__ import annotations

from musclethick.study.store._records import (
    DisagreeingSession,
    QueueItem,
    Review,
    ScanRecord,
    ScanState,
    StoredResult,
    file_sha256,
)
from musclethick.study.store._reviews import QC_STATUS, apply_reviews
from musclethick.study.store._schema import (
    APPLICATION_ID,
    DECISIONS,
    READABLE_VERSIONS,
    SCAN_STATES,
    SCHEMA_VERSION,
    STORE_TABLES,
)
from musclethick.study.store._store import StudyStore

__all__ = [
    "APPLICATION_ID",
    "DECISIONS",
    "QC_STATUS",
    "READABLE_VERSIONS",
    "SCAN_STATES",
    "SCHEMA_VERSION",
    "STORE_TABLES",
    "DisagreeingSession",
    "QueueItem",
    "Review",
    "ScanRecord",
    "ScanState",
    "StoredResult",
    "StudyStore",
    "apply_reviews",
    "file_sha256",
]
