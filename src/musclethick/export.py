"""Study tables from a store: long table, images, sessions, wide tables with change.

Tables (all lengths in mm, or cm with ``cm=True``; the ``_mm`` suffix then becomes ``_cm``):

``long``      one row per measurement line (the ``"mean"`` pseudo-line is left out; a failed
              scan has one row with an empty ``line``): study, subject, condition, leg, week,
              date, site, muscle, image, frame, rep, line, thickness_mm (the reviewed value),
              thickness_mm_model (the value before review), echo_intensity, method,
              model_version, mm_per_px, calibration_source, qc_status, qc_flags (those still
              standing after a correction), qc_flags_model,
              qc_message, reviewed_by, reviewed_at, review_reason, included, file.
``images``    one row per image (scan): the protocol's line aggregation (mean of the lines of
              each frame, then mean of the frames of a cine loop).
``sessions``  one row per subject x leg x week x site (and composite): ``thickness_mm``
              (mean or median of the images, optionally after dropping the image farthest from
              the median), ``sd_mm``, ``n_images``, ``cv_pct`` (SD / mean x 100 of the images
              kept), ``dropped_image``, ``spread_pct`` and ``repeats_disagree`` (the images
              spread by more than the protocol's tolerance: one measured another line).
``wide_<SITE>`` per site and composite: one row per subject and leg, weeks as columns
              (``week_0``, ``week_4``, ...), and change from the baseline week per later week
              (``change_mm_week_4``, ``change_pct_week_4``).
``excluded``  scans left out of every table, and why: ``missing`` (measured before, the file
              was gone at the latest batch run), ``duplicate`` (same content or labels as a scan
              that counts), ``not_found`` (a manifest row without its file) and ``unreadable``.
``readme``    column descriptions and units, a note on the scans left out, and one row per
              scan rejected in review (who, when, why), which no table after ``long`` counts.

Architecture (when the store holds results measured with it, ``musclethick batch`` with a
protocol asking for it): the long table gets ``pennation_deg``, ``fascicle_length_mm`` (the
reviewed values), their ``_model`` values and ``fascicle_extrapolated_pct``; ``images`` and
``sessions`` the image and session values (mean or median of the images with a value, as the
protocol aggregates thickness, with their SD); and each site gets ``wide_<SITE>_PA`` and
``wide_<SITE>_FL`` beside ``wide_<SITE>``, with the change from baseline in deg / mm and %.
Stores without architecture give exactly the tables above.

Only results that are not failed and not rejected in review enter ``images`` and later tables;
corrected reviews replace the model values (see :meth:`StudyStore.results_dataframe`).

``deidentify=True`` replaces subject ids by stable pseudonyms (``P`` + 8 hex digits of an
HMAC-SHA256 with a key kept in the store, or given), and leaves out file paths and dates.
DICOM patient names/ids are never exported unless ``include_dicom_names=True``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from musclethick.errors import MusclethickError, ProtocolError, StoreError, UsageError
from musclethick.protocol import Protocol, Site, load_protocol

__all__ = [
    "FORMATS",
    "aggregate_images",
    "aggregate_sessions",
    "build_tables",
    "export_store",
    "has_architecture",
    "long_table",
    "protocol_for_store",
    "pseudonym",
    "pseudonym_key",
    "wide_tables",
    "write_tables",
]

FORMATS = ("csv", "xlsx", "parquet")
SESSION_KEYS = ["subject", "condition", "leg", "week", "site"]

LONG_COLUMNS = [
    "study",
    "subject",
    "condition",
    "leg",
    "week",
    "date",
    "site",
    "muscle",
    "image",
    "frame",
    "region",
    "rep",
    "line",
    "thickness_mm",
    "thickness_mm_model",
    "echo_intensity",
    "method",
    "model_version",
    "mm_per_px",
    "calibration_source",
    "qc_status",
    "qc_flags",
    "qc_flags_model",
    "qc_message",
    "reviewed_by",
    "reviewed_at",
    "review_reason",
    "included",
    "file",
]

#: Long-table columns added when the results hold architecture (after ``thickness_mm_model``).
ARCHITECTURE_LONG_COLUMNS = [
    "pennation_deg",
    "pennation_deg_model",
    "fascicle_length_mm",
    "fascicle_length_mm_model",
    "fascicle_extrapolated_pct",
]
#: Architecture values aggregated like thickness: ``(value, SD column, wide table suffix,
#: unit of the change)``.
ARCHITECTURE_MEASURES = (
    ("pennation_deg", "pennation_sd_deg", "PA", "deg"),
    ("fascicle_length_mm", "fascicle_length_sd_mm", "FL", "mm"),
)

EXCLUDED_COLUMNS = ["subject", "leg", "week", "site", "rep", "file", "reason", "detail"]

COLUMN_DOCS = {
    "study": "study name (store meta 'study_name' or the store file name)",
    "subject": "subject id (a keyed pseudonym when de-identified)",
    "condition": "condition of the leg (allocation), e.g. FAIL or RIR",
    "leg": "L or R",
    "week": "week of the session",
    "date": "session date YYYY-MM-DD (left out when de-identified)",
    "site": "scanning site code, or a composite name",
    "muscle": "muscle code of the site",
    "image": "image number within the session (1, 2, ...)",
    "frame": "frame index within a multi-frame file (0 for still images)",
    "region": "tissue region index when a file holds several side by side (usually 0)",
    "rep": "repetition number from the file name or manifest",
    "line": "measurement line (e.g. 25% = at 25 % of the shared width; the per-image mean of "
    "the lines is in the images table, not here)",
    "thickness_mm": "muscle thickness, inner edge of superficial to inner edge of deep "
    "aponeurosis, as reviewed: a correction's value, empty for a rejected scan",
    "thickness_mm_model": "the thickness measured before review (model or edge method)",
    "echo_intensity": "mean grey level (0-255) between the boundaries (a correction's own; "
    "empty for a rejected scan, or a correction stored before its echo was kept)",
    "method": "how the boundaries were found: model or edges, or after a correction manual "
    "(edited by hand) or runner_up (a layer pair offered in review: the model's runner-up or "
    "a pair of the image's bands, chosen by the reviewer)",
    "model_version": "model version (edges-<release>+edge-classifier-v<N> for the classical "
    "method)",
    "mm_per_px": "pixel size along the beam",
    "calibration_source": "where the pixel size came from (dicom_region, user, ruler, ...)",
    "qc_status": "ok / flagged / failed, or accepted / rejected / corrected after review",
    "qc_flags": "the measurement's QC flags (';'-separated; empty for ok): why it is flagged or "
    "failed; after a correction only those that still stand (about the pixel size or the file)",
    "qc_flags_model": "the QC flags of the measurement before review (the model's or edge "
    "method's)",
    "qc_message": "the measurement's message: what the flags mean, why a scan failed and the "
    "fix (left out when de-identified)",
    "reviewed_by": "reviewer of the latest review (empty when unreviewed)",
    "reviewed_at": "time of the latest review (UTC, ISO 8601; empty when unreviewed)",
    "review_reason": "the reason the reviewer gave (required to reject)",
    "included": "whether the row counts in images, sessions and wide tables (not failed, not "
    "rejected)",
    "file": "file path relative to the study (left out when de-identified)",
    "n_lines": "measurement lines averaged",
    "n_frames": "frames averaged",
    "n_frames_flagged_left_out": "flagged frames of a cine loop left out of the image value "
    "because at least half of its frames are ok, accepted or corrected",
    "sd_mm": "standard deviation of the images of the session (ddof=1)",
    "n_images": "images kept for the session value",
    "n_images_flagged": "images of the session whose value is still flagged (not reviewed): "
    "review them before reading the session value as measured",
    "cv_pct": "within-session coefficient of variation, SD / mean x 100 of the images kept",
    "dropped_image": "image dropped as farthest from the session median (protocol option)",
    "spread_pct": "(largest - smallest) / median x 100 of the session's images, a dropped one "
    "included",
    "repeats_disagree": "the session's images spread by more than the protocol's "
    "aggregation.repeat_tolerance_pct (the protocol of this export; 10 % unless it sets "
    "another): they do not measure the same thickness, so at least one is wrong; review them "
    "('musclethick review' lists them right after the flagged and failed results)",
    "week_N": "session thickness at week N",
    "change_mm_week_N": "change from the baseline week to week N",
    "change_pct_week_N": "change from the baseline week to week N in % of baseline",
    "pennation_deg": "pennation angle: dominant fascicle direction against the deep aponeurosis "
    "where the fascicle line through the belly's centre meets it, as reviewed",
    "pennation_deg_model": "the pennation angle measured before review",
    "fascicle_length_mm": "fascicle length: that line between the two aponeuroses, extrapolated "
    "beyond the image where needed, as reviewed",
    "fascicle_length_mm_model": "the fascicle length measured before review",
    "fascicle_extrapolated_pct": "share of the fascicle length outside the image",
    "pennation_sd_deg": "standard deviation of the pennation angle of the images (ddof=1)",
    "fascicle_length_sd_mm": "standard deviation of the fascicle length of the images (ddof=1)",
    "n_images_architecture": "images with a pennation angle in the session",
    "pennation_deg_week_N": "session pennation angle at week N",
    "change_deg_week_N": "change of the pennation angle from the baseline week to week N",
    "fascicle_length_mm_week_N": "session fascicle length at week N",
    "calibration_unconfirmed": "the pixel size of at least one image behind this value was not "
    "confirmed (e.g. a ruler's tick spacing assumed: flag calibration_unconfirmed): its mm, and "
    "a change computed from it, rest on that guess; calibrate the display to confirm it",
    "reason": "why the scan is left out: missing, duplicate, not_found, unreadable, unmatched "
    "(the file name does not fit the pattern) or off_protocol (a site the protocol does not "
    "list)",
    "detail": "what was found (for a duplicate: the scan that counts instead)",
}

# -- pseudonyms ---------------------------------------------------------------------------


def pseudonym(subject: str, key: bytes) -> str:
    """Stable pseudonym of ``subject``: ``"P"`` + 8 hex digits of HMAC-SHA256(key, subject)."""
    return "P" + hmac.new(key, subject.encode("utf-8"), hashlib.sha256).hexdigest()[:8]


def pseudonym_key(
    store: str | Path, key: str | bytes | None, *, option: str = "--deidentify"
) -> bytes:
    """``key``, or the store's key, or a new random key kept in ``store``.

    The one secret of a store: subject pseudonyms (``export --deidentify``) and the condition
    codes of a blind report stay stable because they are keyed by it. ``option`` names the
    command-line option that needs the key, in the message when the store cannot keep one.
    """
    from musclethick.study.store import StudyStore

    if key is None:
        try:
            with StudyStore(store) as db:
                key = db.get_meta("pseudonym_key")  # another export may have just made one
                if key is None:
                    key = secrets.token_hex(32)
                    db.set_meta("pseudonym_key", key)
        except StoreError as error:
            what = (
                "the first de-identified export"
                if option == "--deidentify"
                else f"the first {option} report"
            )
            raise StoreError(
                f"{option}: {what} keeps a new key in the store, but {error}; give --key KEY "
                "instead"
                + (" (or set $MUSCLETHICK_PSEUDONYM_KEY)" if option == "--deidentify" else "")
            ) from None
    return key.encode("utf-8") if isinstance(key, str) else key


# -- tables -------------------------------------------------------------------------------


def _site_info(protocol: Protocol | None, name: str) -> Site | None:
    if protocol is None:
        return None
    for site in protocol.sites:
        if site.name == name:
            return site
    return None


def long_table(
    results: pd.DataFrame, *, protocol: Protocol | None = None, study: str = ""
) -> pd.DataFrame:
    """The long table from :meth:`StudyStore.results_dataframe` (one row per line).

    Adds ``study``, ``muscle`` and ``image`` (1-based number of the scan within its session,
    ordered by ``rep`` then file) and keeps the columns of :data:`LONG_COLUMNS` plus
    ``result_id`` and ``scan_id``.
    """
    frame = results[results["line"] != "mean"].copy()
    frame["study"] = study
    frame["muscle"] = [
        (info.muscle if (info := _site_info(protocol, s)) is not None else "")
        for s in frame["site"]
    ]
    frame["file"] = frame["relpath"].where(frame["relpath"] != "", frame["path"])
    scans = (
        frame[["scan_id", *SESSION_KEYS, "rep", "file"]]
        .drop_duplicates("scan_id")
        .sort_values([*SESSION_KEYS, "rep", "file"], na_position="last")
    )
    scans["image"] = scans.groupby(SESSION_KEYS, dropna=False).cumcount() + 1
    frame = frame.merge(scans[["scan_id", "image"]], on="scan_id", how="left")
    frame = frame.sort_values(
        ["subject", "leg", "week", "site", "image", "frame", "region", "result_id"], kind="stable"
    )
    frame["qc_flags"] = frame["flags"].fillna("") if "flags" in frame else ""
    model_flags = frame["flags_model"] if "flags_model" in frame else frame["qc_flags"]
    frame["qc_flags_model"] = model_flags.fillna("")
    messages = frame["message"].fillna("") if "message" in frame else [""] * len(frame)
    frame["qc_message"] = [
        _without_path(str(m), str(p)) for m, p in zip(messages, frame["path"], strict=True)
    ]
    columns = [*LONG_COLUMNS, "result_id", "scan_id"]
    if has_architecture(frame):
        at = columns.index("thickness_mm_model") + 1
        columns[at:at] = ARCHITECTURE_LONG_COLUMNS
    return frame[columns].reset_index(drop=True)


def _without_path(message: str, path: str) -> str:
    """``message`` without the scan's own path (the table has it in ``file``)."""
    if not path:
        return message
    return message.replace(f"{path}: ", "").replace(path, "the file")


def has_architecture(table: pd.DataFrame) -> bool:
    """Whether a results / long / images / sessions table holds any architecture value."""
    return any(
        value in table.columns and bool(table[value].notna().any())
        for value, *_ in ARCHITECTURE_MEASURES
    )


def aggregate_images(long: pd.DataFrame) -> pd.DataFrame:
    """Image values: mean of the lines of each frame, then mean of the frames of a scan.

    Only rows with ``included`` and a finite thickness count. A scan of several frames (a cine
    loop) at least half of whose frames are trusted (``ok``, ``accepted`` or ``corrected``)
    leaves its ``flagged`` frames out of its value (``n_frames_flagged_left_out``): one
    doubtful frame must not move the image (a trial's cine: one frame on the wrong edge, 6.3 mm
    against ~20 mm, took the image to 17.6 mm); a scan with fewer trusted frames keeps them
    all and is ``flagged`` (one ``ok`` frame among nine flagged is no sure value).
    Columns: session keys, ``image``, ``rep``, ``thickness_mm``, ``echo_intensity``,
    ``n_lines``, ``n_frames``, ``n_frames_flagged_left_out``,
    ``qc_status`` (worst of the frames kept: the first of corrected/flagged/accepted/ok),
    ``calibration_unconfirmed`` (a frame's pixel size was not confirmed); with
    architecture also ``pennation_deg`` and ``fascicle_length_mm`` (mean of the frames with a
    value).
    """
    rows = long[long["included"] & np.isfinite(long["thickness_mm"].astype(float))]
    keys = [*SESSION_KEYS, "image", "rep"]
    architecture = {
        value: (value, "first") for value, *_ in ARCHITECTURE_MEASURES if has_architecture(long)
    }
    import pandas as pd  # lazy: keeps the CLI start-up light

    flags = rows["qc_flags"] if "qc_flags" in rows else pd.Series("", index=rows.index)
    rows = rows.assign(calibration_unconfirmed=flags.fillna("").str.contains(UNCONFIRMED))
    per_frame = rows.groupby([*keys, "frame", "region"], dropna=False, as_index=False).agg(
        thickness_mm=("thickness_mm", "mean"),
        echo_intensity=("echo_intensity", "first"),
        n_lines=("thickness_mm", "size"),
        qc_status=("qc_status", "first"),
        calibration_unconfirmed=("calibration_unconfirmed", "any"),
        **architecture,
    )
    flagged = per_frame["qc_status"] == "flagged"
    trusted = (
        per_frame["qc_status"]
        .isin(_TRUSTED)
        .groupby([per_frame[k] for k in keys], dropna=False)
        .transform("mean")  # the share of the scan's frames that are trusted
    )
    left_out = flagged & (trusted >= 0.5)
    per_frame = per_frame.assign(_left_out=left_out.astype(int))
    counts = per_frame.groupby(keys, dropna=False, as_index=False)["_left_out"].sum()
    images = (
        per_frame[~left_out]
        .groupby(keys, dropna=False, as_index=False)
        .agg(
            thickness_mm=("thickness_mm", "mean"),
            echo_intensity=("echo_intensity", "mean"),
            n_lines=("n_lines", "sum"),
            n_frames=("frame", "size"),
            qc_status=("qc_status", _worst_status),
            calibration_unconfirmed=("calibration_unconfirmed", "any"),
            **{value: (value, "mean") for value in architecture},
        )
    )
    counts = counts.rename(columns={"_left_out": "n_frames_flagged_left_out"})
    images = images.merge(counts, on=keys, how="left")
    at = list(images.columns).index("n_frames") + 1
    ordered = [*images.columns[:at], "n_frames_flagged_left_out"]
    ordered += [c for c in images.columns[at:] if c != "n_frames_flagged_left_out"]
    return images[ordered]


#: Frame statuses a scan's value may rest on alone: a person or the tool saw no doubt.
_TRUSTED = ("ok", "accepted", "corrected")

#: The order of a scan's frame statuses, worst first: an image's ``qc_status`` is its worst
#: frame's (failed and rejected frames do not reach the image values).
_STATUS_ORDER = ("corrected", "flagged", "accepted", "ok")


def _worst_status(statuses: pd.Series) -> str:
    """The worst of a scan's frame statuses (:data:`_STATUS_ORDER`)."""
    found = set(statuses)
    return next((s for s in _STATUS_ORDER if s in found), ",".join(sorted(found)))


#: The QC flag of a pixel size that was read but not confirmed (e.g. a ruler's tick spacing
#: assumed; :data:`musclethick.calibration.UNCONFIRMED`, spelt here so that exporting does not
#: import the image code): the tables carry it on in a column of the same name.
UNCONFIRMED = "calibration_unconfirmed"


def _unconfirmed(group: pd.DataFrame) -> bool:
    """Whether any row of ``group`` (images or sessions) rests on an unconfirmed pixel size."""
    return bool(group[UNCONFIRMED].any()) if UNCONFIRMED in group else False


def _session_value(values: np.ndarray, images: np.ndarray, protocol: Protocol) -> dict[str, Any]:
    from musclethick.qc import repeat_spread_pct, repeats_disagree

    # the spread of every image, the one a protocol drops included: repeats that disagree are
    # a measurement to check, whatever the session value does with them
    spread = repeat_spread_pct(values)
    disagree = repeats_disagree(values, protocol.aggregation.repeat_tolerance_pct)
    dropped: int | None = None
    if protocol.aggregation.drop_worst_image and len(values) >= 3:
        distance = np.abs(values - np.median(values))
        worst = int(np.argmax(distance))  # first of ties
        dropped = int(images[worst])
        keep = np.ones(len(values), dtype=bool)
        keep[worst] = False
        values = values[keep]
    if protocol.aggregation.images == "median":
        value = float(np.median(values))
    else:
        value = float(np.mean(values))
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    mean = float(np.mean(values))
    return {
        "thickness_mm": value,
        "sd_mm": sd,
        "n_images": len(values),
        "cv_pct": sd / mean * 100.0 if mean > 0 and np.isfinite(sd) else float("nan"),
        "dropped_image": dropped,
        "spread_pct": spread,
        "repeats_disagree": disagree,
    }


def _architecture_session(group: pd.DataFrame, protocol: Protocol) -> dict[str, Any]:
    """Session pennation angle and fascicle length: mean or median (as the protocol
    aggregates images) of the images with a value, their SD and count."""
    out: dict[str, Any] = {}
    n = 0
    for value, sd, *_ in ARCHITECTURE_MEASURES:
        values = group[value].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        n = max(n, values.size)
        if values.size == 0:
            out[value], out[sd] = float("nan"), float("nan")
            continue
        median = protocol.aggregation.images == "median"
        out[value] = float(np.median(values) if median else np.mean(values))
        out[sd] = float(np.std(values, ddof=1)) if values.size > 1 else float("nan")
    out["n_images_architecture"] = n
    return out


def aggregate_sessions(images: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """Session values per subject x condition x leg x week x site, plus composites.

    A composite's ``thickness_mm`` is the mean of its sites' session values, present only when
    every one of its sites has a value; its ``sd_mm``/``cv_pct``/``spread_pct`` are NaN,
    ``n_images`` the sum and ``repeats_disagree`` true when a site's does.
    ``spread_pct`` is the spread of the session's images (:func:`musclethick.qc.repeat_spread_pct`,
    every image, a dropped one included) and ``repeats_disagree`` whether it exceeds the
    protocol's ``aggregation.repeat_tolerance_pct``.
    With architecture, sessions also hold ``pennation_deg``, ``pennation_sd_deg``,
    ``fascicle_length_mm``, ``fascicle_length_sd_mm`` and ``n_images_architecture``
    (:func:`_architecture_session`; NaN for composites: architecture belongs to one muscle).
    """
    import pandas as pd  # lazy: keeps the CLI start-up light

    architecture = has_architecture(images)
    rows = []
    for key, group in images.groupby(SESSION_KEYS, dropna=False, sort=True):
        values = group["thickness_mm"].to_numpy(dtype=float)
        rows.append(
            {
                **dict(zip(SESSION_KEYS, key, strict=True)),
                **_session_value(values, group["image"].to_numpy(), protocol),
                "n_images_flagged": _n_flagged(group),
                "echo_intensity": float(group["echo_intensity"].mean()),
                UNCONFIRMED: _unconfirmed(group),
                **(_architecture_session(group, protocol) if architecture else {}),
            }
        )
    columns = [
        *SESSION_KEYS,
        "thickness_mm",
        "sd_mm",
        "n_images",
        "n_images_flagged",
        "cv_pct",
        "dropped_image",
        "spread_pct",
        "repeats_disagree",
        "echo_intensity",
        UNCONFIRMED,
    ]
    if architecture:
        columns += [c for value, sd, *_ in ARCHITECTURE_MEASURES for c in (value, sd)]
        columns.append("n_images_architecture")
    sessions = pd.DataFrame(rows, columns=columns)
    composite_rows = []
    keys = ["subject", "condition", "leg", "week"]
    for composite in protocol.composites:
        part = sessions[sessions["site"].isin(composite.sites)]
        for key, group in part.groupby(keys, dropna=False, sort=True):
            if set(group["site"]) != set(composite.sites):
                continue
            composite_rows.append(
                {
                    **dict(zip(keys, key, strict=True)),
                    "site": composite.name,
                    "thickness_mm": float(group["thickness_mm"].mean()),
                    "sd_mm": float("nan"),
                    "n_images": int(group["n_images"].sum()),
                    "n_images_flagged": int(group["n_images_flagged"].sum()),
                    "cv_pct": float("nan"),
                    "dropped_image": None,
                    "spread_pct": float("nan"),
                    "repeats_disagree": bool(group["repeats_disagree"].any()),
                    "echo_intensity": float(group["echo_intensity"].mean()),
                    UNCONFIRMED: _unconfirmed(group),
                }
            )
    if composite_rows:
        sessions = pd.concat([sessions, pd.DataFrame(composite_rows)], ignore_index=True)
    order = {name: i for i, name in enumerate(protocol.site_names())}
    order.update({c.name: len(order) + i for i, c in enumerate(protocol.composites)})
    sessions["_order"] = sessions["site"].map(order).fillna(len(order))
    sessions = sessions.sort_values(["_order", "subject", "leg", "week"], kind="stable")
    return sessions.drop(columns="_order").reset_index(drop=True)


def _n_flagged(images: pd.DataFrame) -> int:
    """Images of a session whose value rests on frames still flagged (not reviewed)."""
    if "qc_status" not in images:
        return 0
    return int((images["qc_status"] == "flagged").sum())


def wide_tables(sessions: pd.DataFrame, protocol: Protocol) -> dict[str, pd.DataFrame]:
    """Per site and composite: subject/leg rows, weeks as columns, change from baseline.

    Returns ``{"wide_<SITE>": table}``. Columns: ``subject, condition, leg, week_<w>...,
    change_mm_week_<w>..., change_pct_week_<w>...`` for every later week ``w``; the baseline is
    the protocol's first week. With architecture, also ``wide_<SITE>_PA``
    (``pennation_deg_week_<w>``, ``change_deg_week_<w>``, ``change_pct_week_<w>``) and
    ``wide_<SITE>_FL`` (``fascicle_length_mm_week_<w>``, ``change_mm_week_<w>``,
    ``change_pct_week_<w>``) for the sites with a value.
    """
    tables = {}
    names = [*protocol.site_names(), *(c.name for c in protocol.composites)]
    architecture = has_architecture(sessions)
    for name in names:
        part = sessions[sessions["site"] == name]
        if part.empty:
            continue
        tables[f"wide_{name}"] = _wide(part, protocol, "thickness_mm", "", "mm")
        if not architecture:
            continue
        for value, _, suffix, unit in ARCHITECTURE_MEASURES:
            if part[value].notna().any():
                tables[f"wide_{name}_{suffix}"] = _wide(part, protocol, value, f"{value}_", unit)
    return tables


def _wide(part: pd.DataFrame, protocol: Protocol, value: str, prefix: str, unit: str):
    """One wide table of ``value``: ``{prefix}week_<w>`` columns and the change from the
    baseline week in ``unit`` and in %; a value in mm also ``calibration_unconfirmed``: whether
    a session of the row rests on a pixel size that was not confirmed."""
    import pandas as pd  # lazy: keeps the CLI start-up light

    baseline = protocol.baseline_week
    wide = (
        part.dropna(subset=["week"])
        .astype({"week": int})
        .set_index(["subject", "condition", "leg", "week"])[value]
        .unstack("week")
    )
    weeks = sorted({int(w) for w in part["week"].dropna()} | set(protocol.weeks))
    wide = wide.reindex(columns=weeks)
    out = pd.DataFrame(index=wide.index)
    for week in weeks:
        out[f"{prefix}week_{week}"] = wide[week]
    if baseline in weeks:
        for week in weeks:
            if week == baseline:
                continue
            change = wide[week] - wide[baseline]
            out[f"change_{unit}_week_{week}"] = change
            out[f"change_pct_week_{week}"] = change / wide[baseline] * 100.0
    if unit == "mm" and UNCONFIRMED in part:
        rows = part[part[value].notna()].groupby(["subject", "condition", "leg"], dropna=False)
        guessed = rows[UNCONFIRMED].any()
        out[UNCONFIRMED] = guessed.reindex(out.index).fillna(False).astype(bool)
    return out.reset_index()


def _left_out_note(excluded: pd.DataFrame) -> str:
    """One sentence on the scans left out of the tables (``""`` when none)."""
    if excluded.empty:
        return ""
    words = {
        "missing": "missing (measured before, the file was gone at the latest batch run)",
        "duplicate": "duplicates of a scan that counts",
        "not_found": "listed in the manifest but not found",
        "unreadable": "unreadable",
        "unmatched": "whose file name does not fit the study's pattern",
        "off_protocol": "of a site the protocol does not list",
    }
    counts = excluded["reason"].value_counts()
    parts = [f"{n} {words.get(reason, reason)}" for reason, n in counts.items()]
    return (
        f"{len(excluded)} scan(s) left out of every table: {'; '.join(parts)}. "
        "See the 'excluded' table."
    )


def _readme(tables: Mapping[str, pd.DataFrame], unit: str, note: str = "") -> pd.DataFrame:
    import pandas as pd  # lazy: keeps the CLI start-up light

    rows = []
    if note:
        rows.append({"table": "(note)", "column": "", "description": note})
    for name, table in tables.items():
        for column in table.columns:
            generic = re.sub(r"_cm($|_)", r"_mm\1", str(column))
            generic = re.sub(
                r"^((?:change_(?:mm|pct|deg)_|pennation_deg_|fascicle_length_mm_)?week_)\d+$",
                r"\1N",
                generic,
            )
            doc = COLUMN_DOCS.get(generic, "")
            if generic == "mm_per_px":
                doc = f"{doc} [mm]"
            elif generic.endswith("_deg") or "_deg_" in generic:
                doc = f"{doc} [deg]"
            elif (
                generic.endswith("_mm")
                or "_mm_" in generic
                or generic.startswith(("week_", "change_mm"))
            ):
                doc = f"{doc} [{unit}]"
            elif generic.endswith("_pct") or generic.startswith("change_pct"):
                doc = f"{doc} [%]"
            rows.append({"table": name, "column": column, "description": doc})
    return pd.DataFrame(rows, columns=["table", "column", "description"])


def _with_rejected(readme: pd.DataFrame, long: pd.DataFrame) -> pd.DataFrame:
    """``readme`` with one row per scan rejected in review: which, who, when and why."""
    import pandas as pd  # lazy: keeps the CLI start-up light

    rejected = long[long["qc_status"] == "rejected"].drop_duplicates("result_id")
    rows = []
    for row in rejected.itertuples(index=False):
        week = "" if pd.isna(row.week) else f"week {int(row.week)}"
        labels = " ".join(
            str(v) for v in (row.subject, row.leg, week, row.site, f"image {row.image}") if v
        )
        frame = f" frame {row.frame}" if row.frame else ""
        where = f"{row.file} ({labels}{frame})" if row.file else f"{labels}{frame}"
        rows.append(
            {
                "table": "(rejected)",
                "column": where,
                "description": f"rejected by {row.reviewed_by} at {row.reviewed_at[:19]} UTC"
                + (f": {row.review_reason}" if row.review_reason else "")
                + "; left out of images, sessions and wide tables",
            }
        )
    if not rows:
        return readme
    return pd.concat([readme, pd.DataFrame(rows, columns=readme.columns)], ignore_index=True)


def _to_cm(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    renames = {}
    for column in table.columns:
        if column in ("mm_per_px",):
            continue
        if column.endswith("_mm") or column.startswith("week_") or "_mm_" in column:
            table[column] = table[column].astype(float) / 10.0
            renames[column] = column.replace("_mm", "_cm")
    return table.rename(columns=renames)


def build_tables(
    results: pd.DataFrame,
    protocol: Protocol,
    *,
    study: str = "",
    cm: bool = False,
    deidentify_key: bytes | None = None,
    metadata_columns: tuple[str, ...] = (),
    excluded: Sequence[Any] = (),
) -> dict[str, pd.DataFrame]:
    """All export tables from a results dataframe (see the module docstring).

    Parameters
    ----------
    results : DataFrame
        :meth:`StudyStore.results_dataframe` of one method.
    protocol : Protocol
        Sites, aggregation, composites and the baseline week.
    study : str
        Value of the ``study`` column.
    cm : bool
        Report lengths in cm.
    deidentify_key : bytes, optional
        Replace subject ids by keyed pseudonyms and leave out files and dates.
    metadata_columns : tuple of str
        :class:`~musclethick.types.ScanMetadata` fields to add to the long table
        (e.g. ``("patient_name",)``); never with de-identification.
    excluded : sequence of ScanState
        Scans left out (:meth:`StudyStore.excluded_scans`): the ``excluded`` table and a note
        in ``readme``.
    """
    import pandas as pd  # lazy: keeps the CLI start-up light

    results = results.copy()
    if deidentify_key is not None:
        if metadata_columns:
            raise MusclethickError("DICOM names cannot be exported from a de-identified table")
        results["subject"] = [pseudonym(str(s), deidentify_key) for s in results["subject"]]
        results["relpath"] = ""
        results["path"] = ""
        results["date"] = ""
    long = long_table(results, protocol=protocol, study=study)
    for column in metadata_columns:
        meta = results.drop_duplicates("scan_id").set_index("scan_id")["metadata_json"]
        values = {k: json.loads(v or "{}").get(column, "") for k, v in meta.items()}
        long[column] = long["scan_id"].map(values)
    images = aggregate_images(long)
    sessions = aggregate_sessions(images, protocol)
    tables: dict[str, pd.DataFrame] = {
        "long": long.drop(columns=["result_id", "scan_id"]),
        "images": images,
        "sessions": sessions,
        **wide_tables(sessions, protocol),
    }
    if deidentify_key is not None:
        tables["long"] = tables["long"].drop(columns=["file", "date", "qc_message"])
    left_out = pd.DataFrame(
        [
            {
                "subject": state.subject,
                "leg": state.leg,
                "week": state.week,
                "site": state.site,
                "rep": state.rep,
                "file": state.relpath or state.path,
                "reason": state.state,
                "detail": state.detail,
            }
            for state in excluded
        ],
        columns=EXCLUDED_COLUMNS,
    )
    if deidentify_key is not None:  # no names of files or subjects
        left_out["subject"] = [
            pseudonym(str(s), deidentify_key) if s else "" for s in left_out["subject"]
        ]
        left_out = left_out.drop(columns=["file", "detail"])
    unit = "cm" if cm else "mm"
    if cm:
        tables = {name: _to_cm(table) for name, table in tables.items()}
    tables["excluded"] = left_out
    tables["readme"] = _readme(tables, unit, _left_out_note(left_out))
    tables["readme"] = _with_rejected(tables["readme"], long)
    return tables


def workbook_path(out: str | Path) -> Path:
    """The Excel workbook written for ``--out``: ``.xlsx`` is added to a name without suffix.

    Raises
    ------
    UsageError
        ``out`` has another suffix (``x.txt``): it would silently become another file.
    """
    out = Path(out)
    if out.suffix.lower() == ".xlsx":
        return out
    if out.suffix:
        raise UsageError(
            f"--out {out}: an Excel workbook is named .xlsx; give --out "
            f"{out.with_suffix('.xlsx')} (or --format csv / parquet for a folder)"
        )
    return out.with_suffix(".xlsx")


def write_tables(
    tables: Mapping[str, pd.DataFrame],
    out: str | Path,
    *,
    format: str,
    overwrite: bool = False,
    inputs: Sequence[str | Path] = (),
) -> list[Path]:
    """Write tables: one Excel workbook (a sheet per table) or one file per table in a folder.

    The rules of :mod:`musclethick.outputs` apply: an existing file is replaced only with
    ``overwrite``, ``inputs`` (the store) are never written, and each file is written whole
    under a temporary name first. Returns the files written.
    """
    import pandas as pd  # lazy: keeps the CLI start-up light

    from musclethick.outputs import check_output_file, check_output_folder, write_atomically

    if format not in FORMATS:
        raise MusclethickError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if format == "xlsx":
        out = check_output_file(
            workbook_path(out), option="--out", inputs=inputs, overwrite=overwrite
        )

        def workbook(partial: Path) -> None:
            with pd.ExcelWriter(partial, engine="openpyxl") as writer:
                ordered = ["readme", *(n for n in tables if n != "readme")]
                for name in ordered:
                    tables[name].to_excel(writer, sheet_name=name[:31], index=False)

        return [write_atomically(out, workbook)]
    names = [f"{name}.{format}" for name in tables]
    out = check_output_folder(out, option="--out", inputs=inputs, overwrite=overwrite, names=names)
    written = []
    for table, file in zip(tables.values(), names, strict=True):
        if format == "csv":
            written.append(
                write_atomically(out / file, lambda p, t=table: t.to_csv(p, index=False))
            )
        else:
            written.append(
                write_atomically(out / file, lambda p, t=table: t.to_parquet(p, index=False))
            )
    return written


def protocol_for_store(store: Any, protocol: Protocol | str | Path | None = None) -> Protocol:
    """``protocol`` if given, else the protocol recorded in ``store`` by the batch, else default;
    a generic protocol is fitted to the weeks and sites of the store's scans
    (:meth:`Protocol.adapted`)."""
    if isinstance(protocol, Protocol):
        chosen = protocol
    elif protocol is not None:
        chosen = load_protocol(protocol)
    else:
        chosen = None
        for key in ("protocol_source", "protocol"):
            value = store.get_meta(key)
            if value and (Path(value).is_file() or key == "protocol"):
                try:
                    chosen = load_protocol(value)
                    break
                except ProtocolError:
                    continue
        chosen = chosen or load_protocol("default")
    scans = store.current_scans()
    return chosen.adapted(weeks=(s.week for s in scans), sites=(s.site for s in scans if s.site))


def export_store(
    store: str | Path,
    out: str | Path,
    *,
    format: str = "xlsx",
    protocol: Protocol | str | Path | None = None,
    method: str | None = None,
    cm: bool = False,
    deidentify: bool = False,
    key: str | bytes | None = None,
    include_dicom_names: bool = False,
    overwrite: bool = False,
) -> list[Path]:
    """Export a store's tables (``musclethick export``).

    Parameters
    ----------
    store : str or path-like
        Study store (only read, except to keep a new pseudonym key: see ``key``).
    out : str or path-like
        Workbook (xlsx; ``.xlsx`` added to a name without suffix) or folder (csv, parquet).
    format : {"xlsx", "csv", "parquet"}
        Output format.
    protocol : Protocol or str or path-like, optional
        Default: the protocol recorded by the batch run.
    method : str, optional
        Method whose results to export (default: that of the latest run).
    cm : bool
        Lengths in cm.
    deidentify : bool
        Keyed pseudonyms instead of subject ids; no files or dates.
    key : str or bytes, optional
        Pseudonym key (default: ``$MUSCLETHICK_PSEUDONYM_KEY``, else a random key kept in the
        store so pseudonyms stay stable between exports; the first de-identified export of a
        store without a key therefore writes it to the store).
    include_dicom_names : bool
        Add DICOM ``patient_id`` and ``patient_name`` to the long table.
    overwrite : bool
        Replace existing output files.

    Returns
    -------
    list of Path
        Files written.
    """
    from musclethick.study.store import StudyStore

    if key is None:
        key = os.environ.get("MUSCLETHICK_PSEUDONYM_KEY")
    with StudyStore(store, readonly=True) as db:
        proto = protocol_for_store(db, protocol)
        if method is None:
            method = db.latest_method()
        results = db.results_dataframe(method=method)
        excluded = db.excluded_scans(method=method)
        study = db.get_meta("study_name") or Path(store).stem
        stored_key = db.get_meta("pseudonym_key")
    if results.empty:
        raise MusclethickError(f"{store}: no results to export (method {method})")
    deidentify_key = None
    if deidentify:
        deidentify_key = pseudonym_key(store, key if key is not None else stored_key)
    tables = build_tables(
        results,
        proto,
        study=study,
        cm=cm,
        deidentify_key=deidentify_key,
        metadata_columns=("patient_id", "patient_name") if include_dicom_names else (),
        excluded=excluded,
    )
    return write_tables(tables, out, format=format, overwrite=overwrite, inputs=[store])
