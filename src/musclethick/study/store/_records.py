"""The study store's records: the dataclasses its rows are read into, and the codecs between
them and the columns (JSON polylines, lines, architectures, scans, reviews).

Pure: rows in (anything indexable by column name, such as :class:`sqlite3.Row` or a dict),
dataclasses out, and back; no connection.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from musclethick._files import file_sha256
from musclethick.types import (
    Architecture,
    Boundary,
    Fascicle,
    LayerPair,
    LineMeasurement,
    offered_pairs,
)

__all__ = [
    "ARCHITECTURE_FRAME_COLUMNS",
    "QueueItem",
    "Review",
    "ScanRecord",
    "ScanState",
    "StoredResult",
    "architecture_frame_values",
    "architecture_from_row",
    "architecture_values",
    "boundary_from_json",
    "boundary_to_json",
    "file_sha256",
    "lines_from_json",
    "lines_to_json",
    "review_from_row",
    "scan_from_row",
    "split_flags",
]

#: A row of the store, read by column name (:class:`sqlite3.Row` or a dict).
Row = Mapping[str, Any]


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
    """A row of ``reviews``; ``lines``, boundaries, ``echo_intensity`` and ``architecture``
    (original image coordinates) are the corrected values (if any; ``echo_intensity`` is
    ``None`` for a correction stored before schema 4)."""

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
    echo_intensity: float | None = None

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
    coordinates, like the boundaries), or ``None``; ``other_pairs`` the pairs review's
    runner-up key shows after it; ``architecture`` the pennation angle and fascicle length
    measured with it (fascicles in original image coordinates), or ``None``. Original image
    coordinates are the frame's own moved by its region's corner: for a convex probe's fan
    they are in its beam view, and for a frame measured ``turned`` upright
    (``--upside-down``; re-read turned, :func:`musclethick.study.frames.stored_frame`) in the
    region turned upright.
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
    other_pairs: tuple[LayerPair, ...] = ()
    turned: bool = False

    @property
    def offered_pairs(self) -> tuple[LayerPair, ...]:
        """The runner-up, then the other pairs (:func:`musclethick.types.offered_pairs`)."""
        return offered_pairs(self.runner_up, self.other_pairs)


@dataclass(frozen=True)
class DisagreeingSession:
    """A session whose repeated images disagree (:meth:`StudyStore.disagreeing_repeats`)."""

    subject: str
    condition: str
    leg: str
    week: int | None
    site: str
    spread_pct: float
    result_ids: tuple[int, ...]
    method: str = "model"

    def describe(self) -> str:
        """E.g. ``"S01 L week 4 VL50: 14 %"`` (the method named when it is not the model)."""
        week = "" if self.week is None else f" week {self.week}"
        how = "" if self.method == "model" else f" ({self.method})"
        return f"{self.subject} {self.leg}{week} {self.site}{how}: {self.spread_pct:.0f} %"


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


#: Architecture columns of :meth:`StudyStore.results_dataframe` (besides the ``_model`` ones).
ARCHITECTURE_FRAME_COLUMNS = (
    "pennation_deg",
    "pennation_superficial_deg",
    "fascicle_length_mm",
    "fascicle_length_px",
    "fascicle_extrapolated_pct",
    "fascicle_confidence",
)


def architecture_frame_values(architecture: Architecture | None) -> dict[str, float]:
    """:data:`ARCHITECTURE_FRAME_COLUMNS` of an architecture (NaN for what is missing)."""
    nan = float("nan")
    if architecture is None:
        return dict.fromkeys(ARCHITECTURE_FRAME_COLUMNS, nan)
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


def architecture_values(architecture: Architecture) -> tuple[Any, ...]:
    """The values of :data:`~musclethick.study.store._schema.ARCHITECTURE_COLUMNS` of an
    architecture (already in original pixels)."""
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


def architecture_from_row(row: Row | None) -> Architecture | None:
    """The architecture of a row of ``architectures`` / ``review_architectures`` (or None)."""
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
        flags=split_flags(row["flags"]),
        method=row["method"],
    )


def boundary_from_json(text: str | None, source: str = "manual", confidence: float = 1.0):
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


def lines_to_json(lines: Sequence[LineMeasurement] | None) -> str | None:
    """JSON of corrected lines (``reviews.lines_json``)."""
    if lines is None:
        return None
    return json.dumps([asdict(line) for line in lines])


def lines_from_json(text: str | None) -> tuple[LineMeasurement, ...]:
    """The lines of :func:`lines_to_json` (none for an empty text)."""
    if not text:
        return ()
    return tuple(LineMeasurement(**item) for item in json.loads(text))


def boundary_to_json(boundary: Boundary | Sequence[Sequence[float]] | None) -> str | None:
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


def split_flags(text: str) -> tuple[str, ...]:
    """The flags of a ``flags`` column (``;``-separated)."""
    return tuple(f for f in text.split(";") if f)


def scan_from_row(row: Row) -> ScanRecord:
    """A row of ``scans``."""
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


def review_from_row(row: Row | None, architecture: Architecture | None = None) -> Review | None:
    """A row of ``reviews`` (None for None) with its ``review_architectures`` one."""
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
        superficial=boundary_from_json(row["superficial_json"]),
        deep=boundary_from_json(row["deep_json"]),
        lines=lines_from_json(row["lines_json"]),
        thickness_mm=row["thickness_mm"],
        architecture=architecture,
        echo_intensity=row["echo_intensity"] if "echo_intensity" in row.keys() else None,
    )
