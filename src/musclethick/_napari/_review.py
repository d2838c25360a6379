"""Headless review session on a study store (no napari, no Qt).

:class:`ReviewSession` is what the review widget drives: a queue of stored results (flagged
and low-confidence first, filtered by subject / leg / week / site / status), the frame and
result of the current item, and decisions written to the store at once with the reviewer's
name. The store keeps the model result; reviews sit beside it (see
:mod:`musclethick.study.store`). A decision made on a stale revision raises
:class:`~musclethick.errors.StoreError` (another reviewer got there first) and is never
written over the other review.
"""

from __future__ import annotations

from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from musclethick.errors import StoreError
from musclethick.qc import REPEATS_DISAGREE
from musclethick.study.frames import load_frame, stored_calibration
from musclethick.study.store import QueueItem, StoredResult, StudyStore
from musclethick.types import Boundary, Frame, FrameResult, LayerPair, PixelBox

__all__ = [
    "BLIND_FILTERS",
    "DECISION_LABELS",
    "ReviewFilters",
    "ReviewSession",
    "blind_text",
    "frame_result_of",
    "item_text",
    "load_frame",
]

DECISION_LABELS = {
    None: "pending",
    "accept": "accepted",
    "reject": "rejected",
    "correct": "corrected",
}


#: Queue filters hidden in a blind review (they would show what is hidden).
BLIND_FILTERS = ("subject", "week")


def item_text(item: QueueItem, *, blind: bool = False) -> str:
    """One line for the queue and the status line: mark (⚑ flagged, ✗ failed, ≠ ok but its
    session's repeats disagree), labels (with the repeat, so that a session's images are told
    apart), confidence, review state.

    ``blind`` hides the subject, the week and the file name (which usually carries them),
    showing ``scan <result id>`` with the leg and site instead; the condition is never shown.
    """
    week = f"w{item.week}" if item.week is not None else ""
    conf = "—" if item.confidence is None else f"{item.confidence:.2f}"
    mark = {"flagged": "⚑", "failed": "✗"}.get(item.status, " ")
    if mark == " " and REPEATS_DISAGREE in item.flags:
        mark = "≠"  # ok, but its session's repeats disagree (they are listed together)
    frame = f"#{item.frame_index}" if item.frame_index else ""
    rep = f"rep {item.rep}" if item.rep is not None else ""  # repeats of a session apart
    if blind:
        labels = " ".join(str(v) for v in (f"scan {item.result_id}", item.leg, item.site, rep) if v)
    else:
        shown = " ".join(str(v) for v in (item.subject, item.leg, week, item.site, rep) if v)
        labels = shown or _file_name(item.path)
    return f"{mark} {labels}{frame} · conf {conf} · {DECISION_LABELS[item.decision]}"


def blind_text(text: str, path: str) -> str:
    """``text`` with the scan's path, its folders and file name replaced by ``<scan>`` (they
    usually name the subject and the week)."""
    if not text:
        return text
    full = str(path)
    out = text.replace(full, "<scan>")
    parts = [p for p in full.replace("\\", "/").split("/") if p]
    name = parts[-1] if parts else ""
    if name:
        out = out.replace(name, "<scan>")
    return out


def _file_name(path: str) -> str:
    return str(path).replace("\\", "/").rsplit("/", 1)[-1] or str(path)


@dataclass(frozen=True)
class ReviewFilters:
    """Filters of the review queue (``None`` = any).

    ``review`` is ``"pending"`` (not reviewed yet), ``"reviewed"`` or ``None`` (all);
    ``status`` is a result status (``"flagged"``, ``"failed"``, ``"ok"``) or ``None``;
    ``method`` selects one method when a store holds results of several side by side.
    """

    subject: str | None = None
    leg: str | None = None
    week: int | None = None
    site: str | None = None
    status: str | None = None
    review: str | None = None
    method: str | None = None

    def __post_init__(self) -> None:
        if self.review not in (None, "pending", "reviewed"):
            raise ValueError(f"review filter must be pending/reviewed/None, got {self.review!r}")


def frame_result_of(
    stored: StoredResult, frame: Frame | None, *, use_review: bool = True
) -> FrameResult:
    """The stored result as a :class:`FrameResult` in ``frame``'s coordinates.

    With ``use_review`` and a latest ``correct`` review, its corrected boundaries (with the
    sources they were saved with), lines and architecture are shown; otherwise the model's.
    ``runner_up`` and ``other_pairs`` are the pairs the runner-up key shows; when the
    correction shown *is* one of them (swapped in and saved), the model's own pair takes the
    first place in their stead, so the runner-up key swaps back.

    ``frame=None`` (the scan cannot be read any more) gives the stored values in the
    coordinates of the stored region, for the table.
    """
    if frame is not None:
        region, calibration = frame.region, frame.calibration
    else:
        x0, y0, x1, y1 = stored.region if stored.region is not None else (0, 0, 1, 1)
        region = PixelBox(x0, y0, max(x1, x0 + 1), max(y1, y0 + 1))
        calibration = stored_calibration(stored)
    dx, dy = -float(region.x0), -float(region.y0)
    sup, deep, lines = stored.superficial, stored.deep, stored.lines
    method = stored.method
    review = stored.review
    ring = list(stored.offered_pairs)
    architecture = stored.architecture
    if use_review and review is not None and review.decision == "correct" and review.deep:
        sup = review.superficial or sup
        deep = review.deep
        lines = review.lines or lines
        method = review.method or "manual"
        architecture = review.architecture
        if method == "runner_up" and ring:
            saved = [p for p in ring if _same_pair(p, sup, deep)]
            rest = [p for p in ring if not _same_pair(p, sup, deep)]
            own = []
            if stored.superficial is not None and stored.deep is not None:
                margin = -float((saved or ring)[0].margin_nats)
                own = [LayerPair(stored.superficial, stored.deep, margin, "model")]
            ring = own + rest

    def shift(b: Boundary | None) -> Boundary | None:
        return None if b is None else b.shifted(dx, dy)

    shifted = [LayerPair(shift(p.superficial), shift(p.deep), p.margin_nats, p.kind) for p in ring]
    runner_up = shifted[0] if shifted else None
    return FrameResult(
        path=stored.scan.path,
        frame_index=stored.frame_index,
        region=region,
        calibration=calibration,
        superficial=shift(sup),
        deep=shift(deep),
        lines=tuple(lines),
        echo_intensity=stored.echo_intensity,
        confidence=0.0 if stored.confidence is None else float(stored.confidence),
        status=stored.status,
        flags=stored.flags,
        message=stored.message,
        method=method,
        region_index=stored.region_index,
        time_s=stored.time_s,
        runner_up=runner_up,
        other_pairs=tuple(shifted[1:]),
        architecture=None if architecture is None else architecture.shifted(dx, dy),
        fan=None if frame is None else frame.fan,
        turned=stored.turned if frame is None else frame.turned,
    )


def _same_pair(pair: LayerPair, sup: Boundary | None, deep: Boundary | None) -> bool:
    """Whether ``pair`` has the boundaries ``sup`` and ``deep`` (a saved swap to it)."""

    def same(a: Boundary, b: Boundary | None) -> bool:
        return (
            b is not None
            and a.x_px.shape == b.x_px.shape
            and np.allclose(a.x_px, b.x_px, atol=1e-3)
            and np.allclose(a.y_px, b.y_px, atol=1e-3)
        )

    return same(pair.superficial, sup) and same(pair.deep, deep)


@dataclass
class ReviewSession:
    """A reviewer's pass through a store's review queue.

    Parameters
    ----------
    store : StudyStore
        The study store.
    reviewer : str
        Name or initials written with every decision.
    filters : ReviewFilters
        Which results to list.
    """

    store: StudyStore
    reviewer: str
    filters: ReviewFilters = field(default_factory=ReviewFilters)
    items: list[QueueItem] = field(default_factory=list)
    index: int = 0
    _frames: OrderedDict = field(default_factory=OrderedDict)
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    _repeat_tolerance_pct: float | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.reviewer.strip():
            raise StoreError(f"{self.store.path}: a reviewer name is needed")
        self.refresh()

    def repeat_tolerance_pct(self) -> float:
        """The store's protocol's ``aggregation.repeat_tolerance_pct`` (read once): results
        of sessions whose repeats spread by more are listed before the other ``ok`` ones."""
        if self._repeat_tolerance_pct is None:
            from musclethick.export import protocol_for_store

            protocol = protocol_for_store(self.store)
            self._repeat_tolerance_pct = protocol.aggregation.repeat_tolerance_pct
        return self._repeat_tolerance_pct

    # ------------------------------------------------------------------ queue
    def refresh(self, filters: ReviewFilters | None = None) -> None:
        """Reload the queue (keeps the current result selected when it is still listed)."""
        if filters is not None:
            self.filters = filters
        current = self.current.result_id if self.items else None
        f = self.filters
        items = self.store.review_queue(
            status=f.status if f.status else ("flagged", "failed", "ok"),
            subject=f.subject,
            leg=f.leg,
            week=f.week,
            site=f.site,
            method=f.method,
            include_reviewed=f.review != "pending",
            repeat_tolerance_pct=self.repeat_tolerance_pct(),
        )
        if f.review == "reviewed":
            items = [i for i in items if i.decision is not None]
        self.items = items
        ids = [i.result_id for i in items]
        self.index = ids.index(current) if current in ids else 0

    def choices(self) -> dict[str, list[str]]:
        """Values present in the store for each filter (for combo boxes)."""
        every = self.store.review_queue(status=None, include_reviewed=True)
        return {
            "subject": sorted({i.subject for i in every if i.subject}),
            "leg": sorted({i.leg for i in every if i.leg}),
            "week": [str(w) for w in sorted({i.week for i in every if i.week is not None})],
            "site": sorted({i.site for i in every if i.site}),
            "status": ["flagged", "failed", "ok"],
            "review": ["pending", "reviewed"],
            "method": sorted({i.method for i in every if i.method}),
        }

    @property
    def current(self) -> QueueItem:
        """The queue item under review (StoreError when the queue is empty)."""
        if not self.items:
            raise StoreError(f"{self.store.path}: nothing to review with these filters")
        return self.items[self.index]

    def progress(self) -> tuple[int, int]:
        """``(n_reviewed, n_total)`` of the listed items."""
        return sum(i.decision is not None for i in self.items), len(self.items)

    def move(self, step: int) -> QueueItem:
        """Go ``step`` items forward (negative: back), clamped to the queue."""
        if not self.items:
            raise StoreError(f"{self.store.path}: nothing to review with these filters")
        self.index = min(max(self.index + step, 0), len(self.items) - 1)
        return self.current

    def next_pending(self) -> QueueItem:
        """Go to the next item without a decision (wrapping), or stay if all are done."""
        n = len(self.items)
        for k in range(1, n + 1):
            j = (self.index + k) % n
            if self.items[j].decision is None:
                self.index = j
                break
        return self.current

    def measuring_model(self, stored: StoredResult) -> tuple[str | None, str]:
        """The model file ``stored`` was measured with, to rank the layer pairs review looks
        for on demand, and a note when it cannot be used.

        ``(None, "")`` for the shipped model (a run without ``--model``); the run's model path
        when the file is still there with the weights the result was measured with (its
        SHA-256); else ``(None, why)``: the shipped model ranks them, and the note says so.
        """
        import json

        run = next((r for r in self.store.runs() if r["id"] == stored.run_id), None)
        try:
            settings = json.loads(run["settings_json"]) if run is not None else {}
        except (TypeError, ValueError):
            settings = {}
        path = settings.get("model_path") if isinstance(settings, dict) else None
        if not path:
            return None, ""
        if not Path(path).exists():
            return None, f"ranked by the shipped model: the study's model {path} is not found"
        from musclethick.errors import ModelError
        from musclethick.pipeline import get_model

        try:
            model = get_model(str(path))
        except (ModelError, OSError, ValueError):
            return None, f"ranked by the shipped model: the study's model {path} cannot be loaded"
        if stored.model_sha256 and str(model.sha256) != stored.model_sha256:
            return None, f"ranked by the shipped model: the study's model {path} has changed"
        return str(path), ""

    # ------------------------------------------------------------------ current item
    def stored(self) -> StoredResult:
        """The current item's stored result (fresh from the store)."""
        return self.store.get_result(self.current.result_id)

    def frame(self, stored: StoredResult | None = None) -> Frame:
        """The current item's frame (cached for the last few items; read ahead by
        :meth:`prefetch`).

        Raises
        ------
        InputError
            The scan cannot be read any more (moved, deleted, changed).
        """
        stored = stored or self.stored()
        key = stored.id
        entry = self._frames.get(key)
        if entry is None:
            entry = load_frame(stored)
        elif isinstance(entry, Future):
            try:
                entry = entry.result()
            except BaseException:
                del self._frames[key]
                raise
        self._frames[key] = entry
        self._frames.move_to_end(key)
        while len(self._frames) > 8:
            self._frames.popitem(last=False)
        return entry

    def upcoming(self) -> list[int]:
        """Queue indices likely to be shown next: the next item and the next pending one."""
        n = len(self.items)
        if n < 2:
            return []
        out = [(self.index + 1) % n]
        for k in range(1, n):
            j = (self.index + k) % n
            if self.items[j].decision is None:
                if j not in out:
                    out.append(j)
                break
        return [j for j in out if j != self.index]

    def prefetch(self) -> None:
        """Start reading the frames of :meth:`upcoming` items in a background thread, so
        that moving on shows them without waiting for the file."""
        for j in self.upcoming():
            stored = self.store.get_result(self.items[j].result_id)
            if stored.id in self._frames:
                continue
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="musclethick-prefetch")
            self._frames[stored.id] = self._pool.submit(load_frame, stored)

    def close(self) -> None:
        """Stop reading ahead (the store stays open: it belongs to the caller)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._frames.clear()

    # ------------------------------------------------------------------ decisions
    def decide(
        self,
        decision: str,
        *,
        reason: str = "",
        corrected: FrameResult | None = None,
    ):
        """Write a decision on the current item to the store at once.

        Parameters
        ----------
        decision : {"accept", "reject", "correct"}
            ``accept`` of a result whose latest review is a correction confirms that
            correction (it is recorded again as a ``correct`` review with the same boundaries
            and lines: the reviewer accepted what was shown, not the model's result).
        reason : str
            Why (required for ``reject``).
        corrected : FrameResult, optional
            The edited result for ``correct``: its boundaries and architecture (converted to
            original image coordinates) and lines are stored beside the model result.

        Returns
        -------
        Review

        Raises
        ------
        StoreError
            Missing reason or correction, or a conflict: another reviewer decided on this
            result since it was loaded. Nothing is written then; the queue is refreshed so
            the other decision shows.
        """
        item = self.current
        if decision == "reject" and not reason.strip():
            raise StoreError(f"{item.path}: give a reason to reject")
        kwargs: dict = {}
        if decision == "accept":
            shown = self.store.get_result(item.result_id).review
            if shown is not None and shown.decision == "correct":
                decision = "correct"
                kwargs = {
                    "superficial": shown.superficial,
                    "deep": shown.deep,
                    "lines": shown.lines,
                    "thickness_mm": shown.thickness_mm,
                    "architecture": shown.architecture,
                }
        elif decision == "correct":
            if corrected is None or corrected.superficial is None or corrected.deep is None:
                raise StoreError(f"{item.path}: a correction needs both boundaries")
            dx, dy = float(corrected.region.x0), float(corrected.region.y0)
            architecture = corrected.architecture
            kwargs = {
                "superficial": corrected.superficial.shifted(dx, dy),
                "deep": corrected.deep.shifted(dx, dy),
                "lines": corrected.lines,
                "thickness_mm": corrected.mean_thickness_mm,
                "architecture": None if architecture is None else architecture.shifted(dx, dy),
                "echo_intensity": corrected.echo_intensity,
            }
        try:
            review = self.store.record_review(
                item.result_id,
                decision,
                reviewer=self.reviewer,
                expected_revision=item.revision,
                reason=reason,
                **kwargs,
            )
        except StoreError:
            self.refresh()
            raise
        self.items[self.index] = replace(item, revision=review.revision, decision=decision)
        return review
