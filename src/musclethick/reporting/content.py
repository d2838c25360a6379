"""What the study report says: every table and estimate, gathered from a store (no drawing).

:func:`gather` reads a store once (read-only) and computes everything the report shows with the
export's tables (:mod:`musclethick.export`), the reliability statistics
(:mod:`musclethick.stats`) and the condition comparison (:mod:`musclethick.analysis`); the
helpers below it are pure functions of data frames.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musclethick.errors import MusclethickError, UsageError

if TYPE_CHECKING:
    import pandas as pd

    from musclethick.analysis import Design, Quantity
    from musclethick.protocol import Protocol
    from musclethick.study.store import StoredResult

__all__ = [
    "COUNT_COLUMNS",
    "ReportContent",
    "corrections",
    "gather",
    "scan_counts",
    "short_sessions",
]

#: Columns of the scan counts per site and week.
COUNT_COLUMNS = [
    "site",
    "week",
    "scans",
    "measured",
    "flagged",
    "failed",
    "reviewed",
    "corrected",
    "rejected",
    "left_out",
]


@dataclass(frozen=True)
class ReportContent:
    """Everything the report shows (tables are pandas data frames; lengths in mm).

    Attributes
    ----------
    study, store : str
        Study name and store path.
    generated_at, version : str
        When and by which musclethick version the report was made.
    method : str
        The measurement method reported (that of the latest run unless chosen).
    protocol : Protocol
        The protocol (fitted to the store).
    blind : bool
        Conditions are shown as codes (``A``, ``B``, ...).
    design : Design
        Allocation of the conditions.
    quantities : tuple of Quantity
        Measured quantities shown (thickness first).
    runs, counts, short, excluded, calibration : DataFrame
        Provenance of the runs; scan counts per site and week (:data:`COUNT_COLUMNS`);
        sessions short of usable images, named (:func:`short_sessions`); scans left out of
        every table; calibration sources.
    disagreeing : DataFrame
        Sessions whose repeated images disagree (:func:`disagreeing_sessions`).
    confidence : DataFrame
        ``status, confidence`` of every current result (one row per result).
    decisions, corrections : DataFrame
        Review decisions counted; corrected results, model vs reviewer (:func:`corrections`).
    reliability : dict of str to DataFrame
        Within-session reliability per site (:func:`musclethick.stats.reliability_table`),
        by quantity column.
    changes, summaries : dict of str to DataFrame
        :func:`~musclethick.analysis.change_table` and
        :func:`~musclethick.analysis.group_summary` by quantity column.
    comparison : DataFrame
        :func:`~musclethick.analysis.compare_conditions` with
        :func:`~musclethick.analysis.relative_effects`, all quantities.
    model_data : DataFrame
        The rows the models were fitted on (``quantity, site`` + the model's columns).
    gallery : tuple of StoredResult
        Flagged or reviewed results, in the order shown.
    gallery_total : int
        How many results were flagged or reviewed (the gallery may hold fewer).
    sites : tuple of str
        Sites and composites in display order.
    """

    study: str
    store: str
    generated_at: str
    version: str
    method: str
    protocol: Protocol
    blind: bool
    design: Design
    quantities: tuple[Quantity, ...]
    runs: pd.DataFrame
    counts: pd.DataFrame
    short: pd.DataFrame
    excluded: pd.DataFrame
    calibration: pd.DataFrame
    disagreeing: pd.DataFrame
    confidence: pd.DataFrame
    decisions: pd.DataFrame
    corrections: pd.DataFrame
    reliability: dict[str, pd.DataFrame]
    changes: dict[str, pd.DataFrame]
    summaries: dict[str, pd.DataFrame]
    comparison: pd.DataFrame
    model_data: pd.DataFrame
    gallery: tuple[StoredResult, ...] = field(default=())
    gallery_total: int = 0
    sites: tuple[str, ...] = ()


# -- pure helpers ---------------------------------------------------------------------------


def _per_result(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per result (its first line)."""
    return lines.drop_duplicates("result_id")


def scan_counts(lines: pd.DataFrame, excluded: pd.DataFrame) -> pd.DataFrame:
    """Scans per site and week: found, measured, flagged, failed, reviewed, left out.

    Parameters
    ----------
    lines : DataFrame
        :meth:`StudyStore.results_dataframe` without its ``"mean"`` lines.
    excluded : DataFrame
        Scans left out (``site``, ``week`` columns), one row per scan.

    Returns
    -------
    DataFrame
        :data:`COUNT_COLUMNS`; ``measured`` counts scans with a result that is not failed,
        ``flagged`` / ``failed`` the batch's status, ``reviewed`` scans with a review and
        ``corrected`` / ``rejected`` the latest decision.
    """
    import pandas as pd

    results = _per_result(lines)
    rows = []
    keys = sorted(
        {(str(s), w) for s, w in zip(results["site"], results["week"], strict=True)}
        | {(str(s), w) for s, w in zip(excluded["site"], excluded["week"], strict=True)},
        key=lambda k: (k[0], -1 if k[1] is None or k[1] != k[1] else int(k[1])),
    )
    for site, week in keys:
        mine = results[(results["site"] == site) & _same_week(results["week"], week)]
        scans = mine.drop_duplicates("scan_id")
        left = excluded[(excluded["site"] == site) & _same_week(excluded["week"], week)]
        rows.append(
            {
                "site": site,
                "week": week,
                "scans": len(scans),
                "measured": int(mine[mine["status"] != "failed"]["scan_id"].nunique()),
                "flagged": int(mine[mine["status"] == "flagged"]["scan_id"].nunique()),
                "failed": int(mine[mine["status"] == "failed"]["scan_id"].nunique()),
                "reviewed": int(mine[mine["reviewed_by"] != ""]["scan_id"].nunique()),
                "corrected": int(mine[mine["qc_status"] == "corrected"]["scan_id"].nunique()),
                "rejected": int(mine[mine["qc_status"] == "rejected"]["scan_id"].nunique()),
                "left_out": len(left),
            }
        )
    table = pd.DataFrame(rows, columns=COUNT_COLUMNS)
    total = {c: int(table[c].sum()) for c in COUNT_COLUMNS[2:]}
    return pd.concat(
        [table, pd.DataFrame([{"site": "all", "week": None, **total}])], ignore_index=True
    )


def _same_week(column: pd.Series, week: Any) -> pd.Series:
    if week is None or week != week:  # None or NaN
        return column.isna()
    return column == week


def short_sessions(
    lines: pd.DataFrame,
    images: pd.DataFrame,
    excluded: pd.DataFrame,
    protocol: Protocol,
) -> pd.DataFrame:
    """Sessions with fewer usable images than the protocol expects, and which scans are why.

    The expected sessions are every leg found for a subject x the protocol's weeks x its
    sites; a session expects the site's ``images``. Scans that failed, were rejected in
    review, have no pixel size (px only: the tables in mm leave them out) or were left out
    (missing file, duplicate, ...) are named with the reason.

    Returns
    -------
    DataFrame
        ``subject, leg, week, site, usable, expected, why`` (one row per short session).
    """
    import pandas as pd

    results = _per_result(lines)
    legs = results.groupby("subject")["leg"].agg(lambda s: sorted(set(s) - {""}))
    usable = images.groupby(["subject", "leg", "week", "site"]).size().to_dict()
    problems: dict[tuple, list[str]] = {}
    for row in results.itertuples(index=False):
        if row.qc_status == "failed":
            why = f"{_name(row.file)} failed: {row.message or 'no result'}"
        elif row.qc_status == "rejected":
            reason = f": {row.review_reason}" if row.review_reason else ""
            why = f"{_name(row.file)} rejected by {row.reviewed_by}{reason}"
        elif pd.isna(row.mm_per_px):  # measured, but the tables in mm cannot use it
            why = f"{_name(row.file)} has no pixel size (thickness in px only): calibrate it"
        else:
            continue
        problems.setdefault((row.subject, row.leg, row.week, row.site), []).append(why)
    for row in excluded.itertuples(index=False):
        problems.setdefault((row.subject, row.leg, row.week, row.site), []).append(
            f"{_name(row.file)} {row.reason}" + (f" ({row.detail})" if row.detail else "")
        )
    rows = []
    for subject, subject_legs in legs.items():
        for leg in subject_legs:
            for week in protocol.weeks:
                for site in protocol.sites:
                    key = (subject, leg, week, site.name)
                    found = int(usable.get(key, 0))
                    if found >= site.images:
                        continue
                    why = problems.get(key, [])
                    rows.append(
                        {
                            "subject": subject,
                            "leg": leg,
                            "week": week,
                            "site": site.name,
                            "usable": found,
                            "expected": site.images,
                            "why": "; ".join(why) if why else "no scan found",
                        }
                    )
    return pd.DataFrame(
        rows, columns=["subject", "leg", "week", "site", "usable", "expected", "why"]
    )


#: Columns of :func:`disagreeing_sessions`.
DISAGREEING_COLUMNS = ["subject", "leg", "week", "site", "n_images", "spread_pct", "thickness_mm"]


def disagreeing_sessions(sessions: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """The sessions (sites, not composites) whose repeated images disagree: they spread by
    more than the protocol's ``aggregation.repeat_tolerance_pct`` (``repeats_disagree`` of
    :func:`musclethick.export.aggregate_sessions`), the widest first."""
    composites = {c.name for c in protocol.composites}
    rows = sessions[sessions["repeats_disagree"] & ~sessions["site"].isin(composites)]
    rows = rows.sort_values("spread_pct", ascending=False, kind="stable")
    return rows.reindex(columns=DISAGREEING_COLUMNS).reset_index(drop=True)


def _name(path: Any) -> str:
    text = str(path or "")
    return text.replace("\\", "/").rsplit("/", 1)[-1] or "a scan"


def corrections(lines: pd.DataFrame) -> pd.DataFrame:
    """Corrected results: the model's and the reviewer's thickness (mean of the lines).

    Returns
    -------
    DataFrame
        ``result_id, subject, leg, week, site, reviewed_by, method, model_mm, reviewed_mm,
        difference_mm`` (reviewer minus model).
    """
    part = lines[lines["qc_status"] == "corrected"]
    keys = ["result_id", "subject", "leg", "week", "site", "reviewed_by", "method"]
    table = part.groupby(keys, dropna=False, as_index=False).agg(
        model_mm=("thickness_mm_model", "mean"), reviewed_mm=("thickness_mm", "mean")
    )
    table["difference_mm"] = table["reviewed_mm"] - table["model_mm"]
    return table


def _decisions(lines: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    results = _per_result(lines)
    reviewed = results[results["reviewed_by"] != ""]
    counts = reviewed["qc_status"].value_counts()
    rows = [
        {"decision": name, "results": int(counts.get(name, 0))}
        for name in ("accepted", "corrected", "rejected")
    ]
    rows.append({"decision": "not reviewed", "results": int(len(results) - len(reviewed))})
    return pd.DataFrame(rows)


def _calibration(lines: pd.DataFrame) -> pd.DataFrame:
    results = _per_result(lines)
    results = results[results["qc_status"] != "failed"]
    return (
        results.groupby("calibration_source", dropna=False)
        .agg(
            results=("result_id", "size"),
            mm_per_px_min=("mm_per_px", "min"),
            mm_per_px_median=("mm_per_px", "median"),
            mm_per_px_max=("mm_per_px", "max"),
        )
        .reset_index()
    )


def _runs(runs: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    columns = ["id", "started_at", "finished_at", "method", "model_version", "model_sha256"]
    columns += ["protocol", "protocol_version", "status", "n_measured", "n_failed", "n_skipped"]
    columns += ["host"]
    table = pd.DataFrame(runs).reindex(columns=columns)
    table["model_sha256"] = table["model_sha256"].fillna("").astype(str).str[:12]
    for column in ("started_at", "finished_at"):
        table[column] = table[column].fillna("").astype(str).str[:19]
    return table


# -- gather ---------------------------------------------------------------------------------


def _blinded(results: pd.DataFrame, codes: dict[str, str]) -> pd.DataFrame:
    results = results.copy()
    results["condition"] = [codes.get(c, c) if c else c for c in results["condition"]]
    return results


def gather(
    store: str | Path,
    *,
    protocol: Protocol | str | Path | None = None,
    method: str | None = None,
    blind: bool = False,
    key: str | bytes | None = None,
    reference: str | None = None,
    max_gallery: int = 120,
) -> ReportContent:
    """Read a store (read-only) and compute every table and estimate of the report.

    Parameters
    ----------
    store : str or path-like
        Study store written by ``musclethick batch``.
    protocol : Protocol or str or path-like, optional
        Default: the protocol recorded by the batch.
    method : str, optional
        Method to report (default: that of the latest run).
    blind : bool
        Replace condition names by codes ``A``, ``B``, ... (:func:`analysis.blind_codes`):
        nothing gathered holds a condition name.
    key : str or bytes, optional
        Key of the codes (default ``$MUSCLETHICK_BLIND_KEY``, else the store's pseudonym key,
        made and kept in the store by the first blind report, as by ``export --deidentify``).
    reference : str, optional
        Reference condition of the comparison (a code when ``blind``).
    max_gallery : int
        Most flagged or reviewed results in the gallery (lowest confidence first).

    Raises
    ------
    MusclethickError
        The store holds no results.
    UsageError
        ``reference`` is not a condition of the study.
    """
    import pandas as pd

    from musclethick import __version__
    from musclethick.analysis import (
        blind_codes,
        change_table,
        compare_conditions,
        group_summary,
        model_data,
        quantities_in,
        relative_effects,
        study_design,
    )
    from musclethick.export import (
        EXCLUDED_COLUMNS,
        aggregate_images,
        aggregate_sessions,
        long_table,
        protocol_for_store,
    )
    from musclethick.stats import reliability_table
    from musclethick.study.store import StudyStore

    with StudyStore(store, readonly=True) as db:
        proto = protocol_for_store(db, protocol)
        runs = db.runs()
        if method is None:
            method = db.latest_method()
        results = db.results_dataframe(method=method)
        excluded_states = db.excluded_scans(method=method)
        study = db.get_meta("study_name") or Path(store).stem
        stored_key = db.get_meta("pseudonym_key")
    if results.empty:
        raise MusclethickError(
            f"{store}: no results to report (method {method}); run 'musclethick batch' first"
        )
    order: tuple[str, ...] = proto.conditions
    if blind:
        codes = blind_codes(
            (c for c in results["condition"] if c), _blind_key(store, key, stored_key)
        )
        results = _blinded(results, codes)
        order = tuple(sorted(codes.values()))
    long = long_table(results, protocol=proto, study=study)
    images = aggregate_images(long)
    # one row per line with the batch's status, confidence and message beside the review
    lines = results[results["line"] != "mean"]
    lines = lines.assign(file=lines["relpath"].where(lines["relpath"] != "", lines["path"]))
    sessions = aggregate_sessions(images, proto)
    excluded = pd.DataFrame(
        [
            {
                "subject": s.subject,
                "leg": s.leg,
                "week": s.week,
                "site": s.site,
                "rep": s.rep,
                "file": s.relpath or s.path,
                "reason": s.state,
                "detail": s.detail,
            }
            for s in excluded_states
        ],
        columns=EXCLUDED_COLUMNS,
    )
    design = study_design(sessions, order=order, reference=reference)
    quantities = quantities_in(sessions)
    sites = tuple(
        s
        for s in (*proto.site_names(), *(c.name for c in proto.composites))
        if (sessions["site"] == s).any()
    )
    baseline = proto.baseline_week
    changes, summaries, reliability, comparisons, data = {}, {}, {}, [], []
    for quantity in quantities:
        changes[quantity.column] = change_table(
            sessions, value=quantity.column, baseline_week=baseline
        )
        summaries[quantity.column] = group_summary(changes[quantity.column])
        reliability[quantity.column] = reliability_table(
            images, sessions, proto, value=quantity.column, source=str(store)
        )
        mdc95 = dict(
            zip(
                reliability[quantity.column]["site"],
                reliability[quantity.column]["mdc95"],
                strict=True,
            )
        )
        comparison = compare_conditions(
            changes[quantity.column],
            design,
            quantity=quantity,
            baseline_week=baseline,
            sites=sites,
        )
        swc = proto.smallest_worthwhile_change_mm if quantity.column == "thickness_mm" else None
        comparisons.append(
            relative_effects(comparison, changes[quantity.column], mdc95=mdc95, swc=swc)
        )
        for site in sites:
            rows = model_data(changes[quantity.column], site=site, baseline_week=baseline)
            data.append(rows.assign(quantity=quantity.column, site=site))
    model_columns = ["quantity", "site", "subject", "condition", "leg", "week", "value"]
    model_columns.append("baseline")
    comparison = pd.concat(comparisons, ignore_index=True) if comparisons else pd.DataFrame()
    per_result = _per_result(lines)
    worth = per_result[(per_result["status"] == "flagged") | (per_result["reviewed_by"] != "")]
    worth = worth.assign(_reviewed=worth["reviewed_by"] != "").sort_values(
        ["_reviewed", "confidence"], na_position="first"
    )
    gallery_ids = [int(i) for i in worth["result_id"].head(max_gallery)]
    with StudyStore(store, readonly=True) as db:
        gallery = tuple(db.get_result(i) for i in gallery_ids)
    return ReportContent(
        study=study,
        store=str(store),
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        version=__version__,
        method=str(method),
        protocol=proto,
        blind=blind,
        design=design,
        quantities=quantities,
        runs=_runs(runs),
        counts=scan_counts(lines, excluded),
        short=short_sessions(lines, images, excluded, proto),
        excluded=excluded,
        calibration=_calibration(lines),
        disagreeing=disagreeing_sessions(sessions, proto),
        confidence=per_result[["result_id", "status", "confidence"]].reset_index(drop=True),
        decisions=_decisions(lines),
        corrections=corrections(lines),
        reliability=reliability,
        changes=changes,
        summaries=summaries,
        comparison=comparison,
        model_data=pd.concat(data, ignore_index=True).reindex(columns=model_columns)
        if data
        else pd.DataFrame(columns=model_columns),
        gallery=gallery,
        gallery_total=len(worth),
        sites=sites,
    )


def _blind_key(store: str | Path, key: str | bytes | None, stored: str | None) -> bytes:
    """The key of the condition codes: given, ``$MUSCLETHICK_BLIND_KEY``, or the store's."""
    from musclethick.export import pseudonym_key

    key = key if key is not None else os.environ.get("MUSCLETHICK_BLIND_KEY")
    if key is None and stored is not None:
        key = stored
    if key is None:
        key = pseudonym_key(store, None, option="--blind")
    if isinstance(key, str):
        if not key:
            raise UsageError("--key: an empty key; give a non-empty key or leave --key out")
        return key.encode("utf-8")
    return key
