"""Studies: discovery (folder patterns, manifests), the SQLite store and the batch runner.

:mod:`~musclethick.study.batch` (which imports the measurement pipeline) is loaded lazily.
"""

from __future__ import annotations

from typing import Any

from musclethick.study.layout import (
    DEFAULT_PATTERN,
    MissingImages,
    StudyDiscovery,
    discover_study,
    pattern_to_regex,
    scan_folder,
)
from musclethick.study.manifest import ScanEntry, read_allocation, read_manifest
from musclethick.study.store import QueueItem, Review, ScanRecord, StoredResult, StudyStore

__all__ = [
    "DEFAULT_PATTERN",
    "BatchSummary",
    "MissingImages",
    "QueueItem",
    "Review",
    "ScanEntry",
    "ScanRecord",
    "StoredResult",
    "StudyDiscovery",
    "StudyStore",
    "discover_study",
    "pattern_to_regex",
    "read_allocation",
    "read_manifest",
    "run_batch",
    "scan_folder",
]


def __getattr__(name: str) -> Any:
    if name in ("run_batch", "BatchSummary"):
        from musclethick.study import batch

        return getattr(batch, name)
    raise AttributeError(f"module 'musclethick.study' has no attribute {name!r}")
