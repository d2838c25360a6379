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
from dataclasses import dataclass, field, replace

from musclethick.errors import StoreError
from musclethick.study.frames import load_frame
from musclethick.study.store import QueueItem, StoredResult, StudyStore
from musclethick.types import Boundary, Frame, FrameResult

__all__ = [
    "DECISION_LABELS",
    "ReviewFilters",
    "ReviewSession",
    "frame_result_of",
    "load_frame",
]

DECISION_LABELS = {
    None: "pending",
    "accept": "accepted",
    "reject": "rejected",
    "correct": "corrected",
}


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


def frame_result_of(stored: StoredResult, frame: Frame, *, use_review: bool = True) -> FrameResult:
    """The stored result as a :class:`FrameResult` in ``frame``'s coordinates.

    With ``use_review`` and a latest ``correct`` review, its corrected boundaries and lines
    are shown (source ``"manual"``); otherwise the model's.
    """
    dx, dy = -float(frame.region.x0), -float(frame.region.y0)
    sup, deep, lines = stored.superficial, stored.deep, stored.lines
    method = stored.method
    review = stored.review
    if use_review and review is not None and review.decision == "correct" and review.deep:
        sup = review.superficial or sup
        deep = review.deep
        lines = review.lines or lines
        method = "manual"

    def shift(b: Boundary | None) -> Boundary | None:
        return None if b is None else b.shifted(dx, dy)

    return FrameResult(
        path=stored.scan.path,
        frame_index=stored.frame_index,
        region=frame.region,
        calibration=frame.calibration,
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
    )


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

    def __post_init__(self) -> None:
        if not self.reviewer.strip():
            raise StoreError(f"{self.store.path}: a reviewer name is needed")
        self.refresh()

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

    # ------------------------------------------------------------------ current item
    def stored(self) -> StoredResult:
        """The current item's stored result (fresh from the store)."""
        return self.store.get_result(self.current.result_id)

    def frame(self, stored: StoredResult | None = None) -> Frame:
        """The current item's frame (cached for the last few items)."""
        stored = stored or self.stored()
        key = stored.id
        if key not in self._frames:
            self._frames[key] = load_frame(stored)
            while len(self._frames) > 8:
                self._frames.popitem(last=False)
        self._frames.move_to_end(key)
        return self._frames[key]

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
        reason : str
            Why (required for ``reject``).
        corrected : FrameResult, optional
            The edited result for ``correct``: its boundaries (converted to original image
            coordinates) and lines are stored beside the model result.

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
        kwargs = {}
        if decision == "correct":
            if corrected is None or corrected.superficial is None or corrected.deep is None:
                raise StoreError(f"{item.path}: a correction needs both boundaries")
            dx, dy = float(corrected.region.x0), float(corrected.region.y0)
            kwargs = {
                "superficial": corrected.superficial.shifted(dx, dy),
                "deep": corrected.deep.shifted(dx, dy),
                "lines": corrected.lines,
                "thickness_mm": corrected.mean_thickness_mm,
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
