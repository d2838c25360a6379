"""Review rules of the study store, pure: which reviews may be recorded, and what the latest
review of a result makes of its rows in the results table.

The store keeps reviews beside the model results and never changes those; the reviewed values
exist only in the table :func:`apply_reviews` makes (``StudyStore.results_dataframe``). The
rules, one home each:

- the **latest review** of a result counts (highest ``revision``); earlier ones are history;
- ``qc_status`` is the result's ``status`` until reviewed, then ``accepted`` / ``rejected`` /
  ``corrected`` (:data:`QC_STATUS`); ``reviewed_by``, ``reviewed_at`` and ``review_reason``
  say who decided, when and why (empty until reviewed);
- the model's values always stay in ``thickness_mm_model``, ``pennation_deg_model`` and
  ``fascicle_length_mm_model``;
- an **accept** changes no value;
- a **reject** leaves no value standing: ``thickness_mm``, ``thickness_px``,
  ``perpendicular_mm``, ``echo_intensity`` and the architecture columns become NaN;
- a **correct** replaces each line's ``thickness_mm``, ``thickness_px`` and
  ``perpendicular_mm`` by the corrected line of the same name (a correction that gives only
  ``thickness_mm`` is its ``"mean"`` line); a line the correction does not give becomes NaN;
  ``method`` becomes how the corrected boundaries were found (:attr:`Review.method`:
  ``manual`` or ``runner_up``); the correction's own architecture replaces the model's (NaN
  without one), and so does its echo intensity between the corrected boundaries (NaN for a
  correction stored without one, before schema 4: the model's was measured between other
  boundaries); a failed result (one row, no line) corrected by hand gets one row per
  corrected line; its ``flags`` keep only those that still stand
  (:func:`musclethick.qc.flags_after_correction`: the millimetres', the file's), the model's
  stay in ``flags_model``, and its ``message`` says it was the model's;
- ``included`` is False for failed and rejected results.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from musclethick.errors import StoreError
from musclethick.qc import flags_after_correction
from musclethick.study.store._records import (
    ARCHITECTURE_FRAME_COLUMNS,
    Review,
    architecture_frame_values,
)
from musclethick.study.store._schema import DECISIONS
from musclethick.types import LineMeasurement

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "QC_STATUS",
    "REVIEWED_COLUMNS",
    "apply_reviews",
    "check_review",
    "check_reviewable",
    "latest_reviews",
]

#: ``qc_status`` of a reviewed result, by decision.
QC_STATUS = {"accept": "accepted", "reject": "rejected", "correct": "corrected"}

#: Columns the results table needs for :func:`apply_reviews` (besides
#: :data:`~musclethick.study.store._records.ARCHITECTURE_FRAME_COLUMNS`).
REVIEWED_COLUMNS = (
    "result_id",
    "line",
    "status",
    "method",
    "thickness_mm",
    "thickness_px",
    "perpendicular_mm",
)

#: The value columns a review decides on (besides the architecture ones).
_VALUE_COLUMNS = ["thickness_mm", "thickness_px", "perpendicular_mm", "echo_intensity"]


def check_review(
    decision: str,
    *,
    reviewer: str,
    lines: Sequence[LineMeasurement] | None,
    thickness_mm: float | None,
    result_id: int,
    store: str | Path,
) -> float | None:
    """Check a review before it is recorded; returns its ``thickness_mm`` (by default the
    corrected ``"mean"`` line's).

    Raises
    ------
    StoreError
        An unknown decision, no reviewer, or a correction without measurements (the message
        starts with ``store``).
    """
    if decision not in DECISIONS:
        raise StoreError(f"{store}: decision must be one of {DECISIONS}, got {decision!r}")
    if not reviewer:
        raise StoreError(f"{store}: a review needs a reviewer name")
    if thickness_mm is None and lines:
        thickness_mm = next((m.thickness_mm for m in lines if m.line == "mean"), None)
    if decision == "correct" and not lines and thickness_mm is None:
        raise StoreError(f"{store}: a 'correct' review of result {result_id} needs corrected lines")
    return thickness_mm


def check_reviewable(
    decision: str,
    *,
    status: str,
    revision: int,
    expected_revision: int,
    result_id: int,
    store: str | Path,
) -> None:
    """Check a review against the result's ``status`` and current ``revision``.

    Raises
    ------
    StoreError
        An accept of a failed result (nothing to accept), or a conflict: the result is at
        another revision than the reviewer saw (someone else reviewed it since).
    """
    if decision == "accept" and status == "failed":
        raise StoreError(
            f"{store}: result {result_id} failed (no boundaries were found), so "
            "there is nothing to accept: draw both boundaries and save a correction, "
            "or reject it"
        )
    if revision != expected_revision:
        raise StoreError(
            f"{store}: result {result_id} is at revision {revision}, not "
            f"{expected_revision}: someone else reviewed it; reload and try again"
        )


def latest_reviews(reviews: Iterable[Review]) -> dict[int, Review]:
    """``{result_id: review}`` of the highest revision of each result.

    Raises
    ------
    ValueError
        Two reviews of one result with the same revision.
    """
    latest: dict[int, Review] = {}
    for review in reviews:
        seen = latest.get(review.result_id)
        if seen is not None and seen.revision == review.revision:
            raise ValueError(
                f"two reviews of result {review.result_id} have revision {review.revision}"
            )
        if seen is None or review.revision > seen.revision:
            latest[review.result_id] = review
    return latest


def apply_reviews(results: pd.DataFrame, reviews: Iterable[Review]) -> pd.DataFrame:
    """The results table with the latest review of each result applied (module docstring).

    Parameters
    ----------
    results : pandas.DataFrame
        Model results, one row per measurement line (a failed result: one row with an empty
        or missing ``line``), with the columns :data:`REVIEWED_COLUMNS` and
        :data:`~musclethick.study.store._records.ARCHITECTURE_FRAME_COLUMNS`; not modified.
    reviews : iterable of Review
        Reviews of these results (any number per result; the highest ``revision`` counts;
        reviews of results not in the table are ignored).

    Returns
    -------
    pandas.DataFrame
        A new table: ``results``' columns (with ``line`` ``""`` for no line) plus
        ``pennation_deg_model, fascicle_length_mm_model, thickness_mm_model, qc_status,
        reviewed_by, reviewed_at, review_reason, included`` (and ``flags_model`` when it has
        ``flags``), stably sorted by ``result_id``,
        index ``0..n-1``.

    Raises
    ------
    ValueError
        ``results`` lacks a needed column, or two reviews of one result have one revision.
    """
    import pandas as pd

    needed = (*REVIEWED_COLUMNS, *ARCHITECTURE_FRAME_COLUMNS)
    missing = [c for c in needed if c not in results.columns]
    if missing:
        raise ValueError(f"the results table has no column {', '.join(missing)}")
    frame = results.copy()
    frame["pennation_deg_model"] = frame["pennation_deg"]
    frame["fascicle_length_mm_model"] = frame["fascicle_length_mm"]
    frame["thickness_mm_model"] = frame["thickness_mm"]
    has_flags = "flags" in frame.columns
    if has_flags:
        frame["flags"] = frame["flags"].fillna("").astype(str)
        frame["flags_model"] = frame["flags"]
    frame["qc_status"] = frame["status"]
    frame["reviewed_by"] = ""
    frame["reviewed_at"] = ""
    frame["review_reason"] = ""
    frame["line"] = frame["line"].fillna("")
    frame["thickness_mm"] = frame["thickness_mm"].astype(float)
    frame["thickness_px"] = frame["thickness_px"].astype(float)
    for result_id, review in latest_reviews(reviews).items():
        mask = frame["result_id"] == result_id
        if not mask.any():
            continue
        frame.loc[mask, "qc_status"] = QC_STATUS[review.decision]
        frame.loc[mask, "reviewed_by"] = review.reviewer
        frame.loc[mask, "reviewed_at"] = review.reviewed_at
        frame.loc[mask, "review_reason"] = review.reason
        if review.decision == "reject":  # no value stands for a rejected scan
            frame.loc[mask, _VALUE_COLUMNS] = float("nan")
            frame.loc[mask, list(ARCHITECTURE_FRAME_COLUMNS)] = float("nan")
        if review.decision != "correct":
            continue
        # a correction's own architecture, or none: the model's no longer stands
        for column, value in architecture_frame_values(review.architecture).items():
            frame.loc[mask, column] = value
        frame.loc[mask, "method"] = review.method
        if has_flags:  # one result's rows share its flags and message
            first = frame.index[mask][0]
            model_flags = frame.at[first, "flags_model"].split(";")
            frame.loc[mask, "flags"] = ";".join(flags_after_correction(model_flags))
            message = frame.at[first, "message"] if "message" in frame.columns else ""
            if isinstance(message, str) and message:
                frame.loc[mask, "message"] = f"before the correction (the model's): {message}"
        # the echo intensity between the corrected boundaries (none stored: empty)
        echo = review.echo_intensity
        frame.loc[mask, "echo_intensity"] = float("nan") if echo is None else float(echo)
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
