"""Study discovery: folder patterns, manifests, allocation and the dry-run report.

A folder pattern such as ``{subject}/{week}/{leg}_{site}_{rep}.{ext}`` is turned into a regular
expression matched against each file's path relative to the study root. Tokens:

``{subject}``  anything without ``/``       ``{week}``  ``week4`` / ``wk4`` / ``w4`` / ``4``
``{leg}``      ``L``/``R``/``left``/``right``  ``{site}``  letters, digits and ``-``
``{rep}``      an integer                    ``{ext}``   the file extension
``{condition}`` a word without ``_`` or ``/``  ``{date}``  ``YYYYMMDD`` or ``YYYY-MM-DD``
``{*}``        anything without ``/`` (ignored)

Without ``{week}`` the week is counted from DICOM study dates relative to each subject's first
visit; without ``{leg}`` the leg comes from DICOM (image) laterality.
:func:`discover_study` returns a :class:`StudyDiscovery`, whose :meth:`~StudyDiscovery.render`
is the dry-run report: what was found, what is missing against the protocol, what did not match.
"""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date as Date
from pathlib import Path

from musclethick import io as scan_io
from musclethick.errors import ProtocolError
from musclethick.protocol import Protocol
from musclethick.study.duplicates import Capture, find_duplicates
from musclethick.study.manifest import (
    ScanEntry,
    normalise_leg,
    parse_date,
    parse_week,
    read_allocation,
    read_manifest_entries,
)
from musclethick.study.store import ScanState, file_sha256

__all__ = [
    "DEFAULT_PATTERN",
    "MissingImages",
    "StudyDiscovery",
    "apply_allocation",
    "discover_study",
    "match_pattern",
    "pattern_to_regex",
    "scan_folder",
    "why_unmatched",
]

DEFAULT_PATTERN = "{subject}/{week}/{leg}_{site}_{rep}.{ext}"

_TOKENS = {
    "subject": r"[^/]+?",
    "week": r"(?:weeks?|wk|w)?[_-]?\d+",
    "leg": r"left|right|[LR]",
    "site": r"[A-Za-z0-9-]+?",
    "rep": r"\d+",
    "ext": r"[A-Za-z0-9]+",
    "condition": r"[^/_]+?",
    "date": r"\d{8}|\d{4}-\d{2}-\d{2}",
}
_TOKEN = re.compile(r"\{([^{}]*)\}")


def _regex_of(pattern: str, seen: set[str]) -> str:
    """The regular expression of ``pattern``'s text and tokens (each token's name added to
    ``seen``; a token already there raises)."""
    parts: list[str] = []
    position = 0
    for match in _TOKEN.finditer(pattern):
        parts.append(re.escape(pattern[position : match.start()]))
        name = match.group(1)
        if name == "*":
            parts.append(r"[^/]*?")
        elif name in _TOKENS:
            if name in seen:
                raise ProtocolError(f"pattern {pattern!r}: token {{{name}}} appears twice")
            seen.add(name)
            parts.append(f"(?P<{name}>{_TOKENS[name]})")
        else:
            raise ProtocolError(
                f"pattern {pattern!r}: unknown token {{{name}}} "
                f"(known: {', '.join('{' + t + '}' for t in (*_TOKENS, '*'))})"
            )
        position = match.end()
    rest = pattern[position:]
    if "{" in rest or "}" in rest:
        raise ProtocolError(f"pattern {pattern!r}: unbalanced braces")
    parts.append(re.escape(rest))
    return "".join(parts)


def pattern_to_regex(pattern: str) -> re.Pattern[str]:
    """Compile a folder pattern into a case-insensitive regular expression.

    Raises
    ------
    ProtocolError
        Unknown or repeated tokens, or a pattern without ``{subject}`` and ``{site}``.
    """
    seen: set[str] = set()
    regex = _regex_of(pattern, seen)
    for required in ("subject", "site"):
        if required not in seen:
            raise ProtocolError(f"pattern {pattern!r}: needs a {{{required}}} token")
    return re.compile(regex, re.IGNORECASE)


#: What a token takes, for the reason a path does not fit (:func:`why_unmatched`).
_TOKEN_EXAMPLES = {
    "week": "a week such as week4, wk4, w4 or 4",
    "leg": "L, R, left or right",
    "rep": "a number",
    "date": "a date such as 20240108 or 2024-01-08",
    "ext": "a file suffix",
}


def why_unmatched(pattern: str, relpath: str) -> str:
    """Which part of ``relpath`` does not fit ``pattern``, in words (``""`` when it fits or
    no single part can be named): the number of folder levels, or the first folder or file
    name that differs, with what its tokens take (e.g. ``'wk_4' is not '{week}' (a week such as
    week4, wk4, w4 or 4)``)."""
    want, have = pattern.split("/"), relpath.split("/")
    if len(want) != len(have):
        return (
            f"it has {len(have)} part(s) (folders and file name), the pattern {pattern!r} has "
            f"{len(want)}"
        )
    for part, name in zip(want, have, strict=True):
        try:
            regex = re.compile(_regex_of(part, set()), re.IGNORECASE)
        except ProtocolError:
            return ""
        if regex.fullmatch(name) is None:
            hints = [_TOKEN_EXAMPLES[t] for t in _TOKEN.findall(part) if t in _TOKEN_EXAMPLES]
            return f"{name!r} is not {part!r}" + (f" ({'; '.join(hints)})" if hints else "")
    return ""


def match_pattern(regex: re.Pattern[str], relpath: str, *, root: Path) -> ScanEntry | None:
    """Match one relative POSIX path; ``None`` when it does not fit the pattern."""
    match = regex.fullmatch(relpath)
    if match is None:
        return None
    groups = match.groupdict()
    try:
        week = parse_week(groups["week"]) if groups.get("week") else None
        leg = normalise_leg(groups["leg"]) if groups.get("leg") else ""
        date = parse_date(groups["date"]).isoformat() if groups.get("date") else ""
    except ValueError:
        return None
    return ScanEntry(
        path=str((root / relpath).resolve()),
        relpath=relpath,
        subject=groups["subject"],
        leg=leg,
        week=week,
        site=groups["site"],
        rep=int(groups["rep"]) if groups.get("rep") else None,
        condition=groups.get("condition") or "",
        date=date,
        source=relpath,
    )


def scan_folder(
    root: str | Path, *, pattern: str = DEFAULT_PATTERN
) -> tuple[list[ScanEntry], list[str], int, list[str]]:
    """Walk ``root`` and match every supported file against ``pattern``.

    Returns
    -------
    entries : list of ScanEntry
        Matched files, sorted by relative path.
    unmatched : list of str
        Supported files that do not fit the pattern (relative paths).
    n_ignored : int
        Files skipped because of their extension (CSV, TOML, hidden files, ...).
    unreadable : list of str
        ``"FOLDER: problem"`` for sub-folders that cannot be listed (their scans are not
        found: a batch records them as failures).
    """
    root = Path(root)
    if not root.is_dir():
        raise ProtocolError(f"{root}: study folder not found")
    regex = pattern_to_regex(pattern)
    suffixes = scan_io.SUPPORTED_SUFFIXES  # the one list: what musclethick.io reads
    entries, unmatched, ignored, unreadable = [], [], 0, []

    def cannot_list(error: OSError) -> None:
        unreadable.append(f"{error.filename}: folder cannot be read ({error.strerror})")

    for folder, dirs, files in os.walk(root, onerror=cannot_list):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            full = Path(folder) / name
            rel = full.relative_to(root).as_posix()
            if name.startswith(".") or full.suffix.lower() not in suffixes:
                ignored += 1
                continue
            entry = match_pattern(regex, rel, root=root)
            if entry is None:
                unmatched.append(rel)
            else:
                entries.append(entry)
    entries.sort(key=lambda e: e.relpath)
    return entries, sorted(unmatched), ignored, sorted(unreadable)


def _dicom_fields(path: str) -> tuple[str, str]:
    """``(study date YYYY-MM-DD or "", laterality "L"/"R"/"")`` of a DICOM file."""
    try:
        import pydicom

        from musclethick.io.dicom import read_dicom_metadata

        metadata = read_dicom_metadata(pydicom.dcmread(path, stop_before_pixels=True))
    except Exception:  # not DICOM, or unreadable: the batch reports the file later
        return "", ""
    try:
        date = parse_date(metadata.study_date).isoformat() if metadata.study_date else ""
    except ValueError:
        date = ""
    return date, metadata.laterality


def _fill_from_dates(entries: Sequence[ScanEntry]) -> tuple[list[ScanEntry], list[str]]:
    """Fill missing legs from DICOM laterality and missing weeks from visit dates."""
    problems: list[str] = []
    filled: list[ScanEntry] = []
    for entry in entries:
        is_dicom = Path(entry.path).suffix.lower() in scan_io.DICOM_SUFFIXES
        if entry.week is None or not entry.leg or (is_dicom and not entry.date):
            date, laterality = entry.date, ""
            if not date or not entry.leg:
                dicom_date, laterality = _dicom_fields(entry.path)
                date = date or dicom_date
            entry = replace(entry, date=date, leg=entry.leg or laterality)
        filled.append(entry)
    first: dict[str, Date] = {}
    for entry in filled:
        if entry.date:
            day = Date.fromisoformat(entry.date)
            first[entry.subject] = min(first.get(entry.subject, day), day)
    result = []
    for entry in filled:
        if entry.week is None:
            if entry.date:
                days = (Date.fromisoformat(entry.date) - first[entry.subject]).days
                entry = replace(entry, week=round(days / 7))
            else:
                problems.append(f"{entry.source}: no week in the path and no study date")
                continue
        if not entry.leg:
            problems.append(f"{entry.source}: no leg in the path and no DICOM laterality")
            continue
        result.append(entry)
    return result, problems


def apply_allocation(
    entries: Iterable[ScanEntry], allocation: dict[tuple[str, str], str]
) -> tuple[list[ScanEntry], list[str]]:
    """Set each entry's condition from ``{(subject, leg): condition}``.

    Returns the updated entries and problems (legs without allocation, conflicts with a
    condition already given by the manifest or the path).
    """
    out, problems, reported = [], [], set()
    for entry in entries:
        condition = allocation.get((entry.subject, entry.leg))
        key = (entry.subject, entry.leg)
        if condition is None:
            if key not in reported:
                problems.append(f"no allocation for subject {entry.subject!r} leg {entry.leg}")
                reported.add(key)
        elif entry.condition and entry.condition != condition:
            problems.append(
                f"{entry.source}: condition {entry.condition!r} conflicts with the "
                f"allocation ({condition!r}); using the allocation"
            )
            entry = replace(entry, condition=condition)
        else:
            entry = replace(entry, condition=condition)
        out.append(entry)
    return out, problems


@dataclass(frozen=True)
class MissingImages:
    """A session with fewer images than the protocol expects."""

    subject: str
    leg: str
    week: int
    site: str
    expected: int
    found: int


def _count(n: int, noun: str) -> str:
    """``"1 scan"``, ``"2 scans"``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class StudyDiscovery:
    """What a study folder or manifest holds, checked against a protocol (the dry run).

    Attributes
    ----------
    root : str
        Study folder (or the manifest's folder).
    source : str
        ``"pattern: ..."`` or ``"manifest: ..."``.
    protocol : Protocol
        The protocol checked against (a generic protocol fitted to the weeks and sites found;
        see :meth:`Protocol.adapted`).
    scans : tuple of ScanEntry
        Scans to measure (site names normalised to the protocol; unknown sites and duplicates
        excluded).
    unmatched : tuple of str
        Supported files that do not fit the pattern.
    n_ignored : int
        Files ignored for their extension.
    missing : tuple of MissingImages
        Sessions with fewer images than expected.
    unexpected : tuple of str
        Scans of sites or weeks the protocol does not list (not measured for unknown sites).
    left_out : tuple of ScanState
        Scans that are not measured, and why: ``duplicate`` (same content or labels as a scan
        that is measured; :mod:`musclethick.study.duplicates`), ``not_found`` (manifest rows
        without a file), ``unreadable`` (files or folders that cannot be read).
    not_measured : tuple of ScanState
        Supported files not measured for their name or labels: ``unmatched`` (the name does
        not fit the pattern) and ``off_protocol`` (a site the protocol does not list); batch
        records them with the scans left out, so that the exports and the report name them.
    problems : tuple of str
        Other findings: allocation gaps, missing dates.
    """

    root: str
    source: str
    protocol: Protocol
    scans: tuple[ScanEntry, ...]
    unmatched: tuple[str, ...] = ()
    n_ignored: int = 0
    missing: tuple[MissingImages, ...] = ()
    unexpected: tuple[str, ...] = ()
    left_out: tuple[ScanState, ...] = ()
    problems: tuple[str, ...] = ()
    not_measured: tuple[ScanState, ...] = ()

    @property
    def duplicates(self) -> tuple[str, ...]:
        """One line per duplicate left out: which scan counts instead."""
        return tuple(s.detail for s in self.left_out if s.state == "duplicate")

    def left_out_lines(self) -> list[str]:
        """One line per scan left out (duplicates, files not found, unreadable)."""
        return [s.detail for s in self.left_out]

    @property
    def subjects(self) -> tuple[str, ...]:
        """Subjects found, sorted."""
        return tuple(sorted({s.subject for s in self.scans}))

    @property
    def n_expected(self) -> int:
        """Images the protocol expects for the subjects found."""
        per_session = sum(site.images for site in self.protocol.sites)
        return len(self.subjects) * len(self.protocol.legs) * len(self.protocol.weeks) * per_session

    def render(self, *, max_items: int = 20) -> str:
        """The dry-run report as text."""

        def listing(title: str, items: Sequence[str]) -> list[str]:
            if not items:
                return []
            lines = [f"{title} ({len(items)}):"]
            lines += [f"  {item}" for item in items[:max_items]]
            if len(items) > max_items:
                lines.append(f"  ... and {len(items) - max_items} more")
            return lines

        p = self.protocol
        counts = Counter((s.site, s.week) for s in self.scans)
        lines = [
            f"Study {self.root} ({self.source}); protocol {p.name}",
            f"Found {_count(len(self.scans), 'scan')} of {_count(len(self.subjects), 'subject')} "
            f"(expected {self.n_expected} for these subjects: {_count(len(p.legs), 'leg')} x "
            f"{_count(len(p.weeks), 'week')} x "
            f"{', '.join(f'{s.name} x{s.images}' for s in p.sites)})",
        ]
        conditions = Counter(s.condition or "-" for s in self.scans)
        lines.append(
            "Conditions: " + ", ".join(f"{c}: {n} scans" for c, n in sorted(conditions.items()))
        )
        header = "  site      " + " ".join(f"week {w:>3}" for w in p.weeks)
        lines += ["Scans per site and week:", header]
        for site in p.sites:
            row = " ".join(f"{counts.get((site.name, w), 0):>8}" for w in p.weeks)
            lines.append(f"  {site.name:<9} {row}")
        missing = [
            f"{m.subject} {m.leg} week {m.week} {m.site}: {m.found} of {m.expected} images"
            for m in self.missing
        ]
        lines += listing("Sessions missing images", missing)
        lines += listing("Not matching the pattern", self.unmatched)
        lines += listing("Unexpected site or week", self.unexpected)
        lines += listing("Duplicates, not measured", self.duplicates)
        lines += listing(
            "Not found or unreadable, recorded as failures",
            [s.detail for s in self.left_out if s.state != "duplicate"],
        )
        lines += listing("Problems", self.problems)
        if self.n_ignored:
            lines.append(f"Ignored {self.n_ignored} files with other extensions")
        if not self.scans and not self.left_out:
            lines.append(f"No scans found: {self.why_empty()}")
        elif not (missing or self.unmatched or self.unexpected or self.left_out or self.problems):
            lines.append("Complete: every expected image is present.")
        return "\n".join(lines)

    def why_empty(self) -> str:
        """Why no scan was found, and the fix (for a study without scans)."""
        if self.unmatched:
            example = self.unmatched[0]
            flat = all("/" not in rel for rel in self.unmatched)  # POSIX relative paths
            layout = (
                "the files lie in one folder: name them e.g. 'S01_wk0_L_VL50_1.png' and give "
                "--pattern '{subject}_{week}_{leg}_{site}_{rep}.{ext}'"
                if flat
                else "give --pattern for the folder layout (e.g. "
                "'{subject}/{week}/{leg}_{site}_{rep}.{ext}')"
            )
            return (
                f"{len(self.unmatched)} files do not match {self.source} (e.g. {example}); "
                f"{layout}, or list them in a --manifest CSV (file, subject, leg, week, site, "
                "rep)"
            )
        if self.problems:
            return (
                f"{len(self.problems)} files match but cannot be used (listed under Problems): "
                "fix what they say (e.g. a week in the path, {week} in --pattern) or give a "
                "--manifest CSV"
            )
        ignored = f" ({self.n_ignored} files with other extensions)" if self.n_ignored else ""
        return (
            f"the folder holds no scan files{ignored}; give the folder with the study's images, "
            "DICOMs or videos, or a --manifest CSV"
        )


def discover_study(
    root: str | Path | None,
    *,
    protocol: Protocol,
    pattern: str | None = None,
    manifest: str | Path | None = None,
    allocation: str | Path | None = None,
    measured: frozenset[str] = frozenset(),
    known_conditions: dict[tuple[str, str], str] | None = None,
) -> StudyDiscovery:
    """Find a study's scans and check them against ``protocol`` (nothing is measured).

    Parameters
    ----------
    root : str or path-like or None
        Study folder (ignored when ``manifest`` is given; may then be ``None``).
    protocol : Protocol
        Expected sites, weeks, legs and images per session.
    pattern : str, optional
        Folder pattern; default: the protocol's pattern or :data:`DEFAULT_PATTERN`.
    manifest : str or path-like, optional
        Manifest CSV to use instead of a folder pattern.
    allocation : str or path-like, optional
        Allocation CSV (``subject, leg, condition``).
    measured : frozenset of str
        Absolute paths the study store has measured already: of duplicates, these count
        (:func:`musclethick.study.duplicates.find_duplicates`).
    known_conditions : dict, optional
        ``{(subject, leg): condition}`` the study store holds from an earlier run's
        allocation: without ``allocation``, a scan without a condition of its own takes it
        (a later run without ``--allocation`` must not record new or changed scans of an
        allocated leg under no condition, which splits its sessions and its change).

    Returns
    -------
    StudyDiscovery

    Raises
    ------
    ProtocolError
        Bad pattern, missing study folder, invalid manifest or allocation.
    """
    problems: list[str] = []
    unmatched: list[str] = []
    left_out: list[ScanState] = []
    n_ignored = 0
    if manifest is not None:
        entries, not_found = read_manifest_entries(manifest)
        left_out += [
            _state(e, "not_found", f"{e.source}: file {e.relpath!r} not found") for e in not_found
        ]
        base, source = str(Path(manifest).resolve().parent), f"manifest: {manifest}"
    else:
        if root is None:
            raise ProtocolError("discover_study needs a study folder or a manifest")
        pattern = pattern or protocol.pattern or DEFAULT_PATTERN
        entries, unmatched, n_ignored, unreadable = scan_folder(root, pattern=pattern)
        left_out += [
            ScanState(path=line.split(": ", 1)[0], state="unreadable", detail=line)
            for line in unreadable
        ]
        base, source = str(Path(root).resolve()), f"pattern: {pattern}"

    entries, date_problems = _fill_from_dates(entries)
    problems += date_problems
    if allocation is not None:
        entries, allocation_problems = apply_allocation(entries, read_allocation(allocation))
        problems += allocation_problems
    elif known_conditions:
        entries = [
            e
            if e.condition or (e.subject, e.leg) not in known_conditions
            else replace(e, condition=known_conditions[(e.subject, e.leg)])
            for e in entries
        ]
    if protocol.conditions:
        bad = sorted({e.condition for e in entries if e.condition} - set(protocol.conditions))
        problems += [f"condition {c!r} is not in the protocol" for c in bad]

    protocol = protocol.adapted(weeks=(e.week for e in entries), sites=(e.site for e in entries))
    site_names = {s.name.lower(): s.name for s in protocol.sites}
    scans, unexpected = [], []
    not_measured = []
    for rel in unmatched:
        why = why_unmatched(pattern, rel) if manifest is None and pattern else ""
        detail = f"{rel}: the file name does not fit the study's {source}"
        not_measured.append(
            ScanState(
                path=str(Path(base) / rel),
                state="unmatched",
                detail=f"{detail}: {why}" if why else detail,
                relpath=rel,
            )
        )
    for entry in entries:
        site = site_names.get(entry.site.lower())
        if site is None:
            unexpected.append(f"{entry.source}: site {entry.site!r} is not in the protocol")
            not_measured.append(_state(entry, "off_protocol", unexpected[-1]))
            continue
        entry = replace(entry, site=site)
        if entry.week not in protocol.weeks:
            unexpected.append(f"{entry.source}: week {entry.week} is not in the protocol")
        scans.append(entry)

    scans, unreadable_files = _hash_equal_sizes(scans)
    left_out += unreadable_files
    by_path = {entry.path: entry for entry in scans}
    duplicates = find_duplicates(
        Capture(
            path=entry.path,
            name=entry.relpath,
            sha256=entry.sha256,
            labels=None if entry.rep is None else (*entry.session_key, entry.rep),
            measured=entry.path in measured,
        )
        for entry in scans
    )
    for duplicate in duplicates:
        left_out.append(_state(by_path[duplicate.path], "duplicate", duplicate.describe()))
    dropped = {d.path for d in duplicates}
    scans = [entry for entry in scans if entry.path not in dropped]

    found: dict[tuple, int] = defaultdict(int)
    for entry in scans:
        found[entry.session_key] += 1
    missing = []
    for subject in sorted({s.subject for s in scans}):
        for leg in protocol.legs:
            for week in protocol.weeks:
                for site in protocol.sites:
                    n = found.get((subject, leg, week, site.name), 0)
                    if n < site.images:
                        missing.append(MissingImages(subject, leg, week, site.name, site.images, n))
    return StudyDiscovery(
        root=base,
        source=source,
        protocol=protocol,
        scans=tuple(scans),
        unmatched=tuple(unmatched),
        n_ignored=n_ignored,
        missing=tuple(missing),
        unexpected=tuple(unexpected),
        left_out=tuple(left_out),
        problems=tuple(problems),
        not_measured=tuple(not_measured),
    )


def _state(entry: ScanEntry, state: str, detail: str) -> ScanState:
    """A :class:`ScanState` with the labels of ``entry``."""
    return ScanState(
        path=entry.path,
        state=state,
        detail=detail,
        subject=entry.subject,
        leg=entry.leg,
        week=entry.week,
        site=entry.site,
        rep=entry.rep,
        relpath=entry.relpath,
    )


def _hash_equal_sizes(entries: Sequence[ScanEntry]) -> tuple[list[ScanEntry], list[ScanState]]:
    """Hash the files that share their size with another (only those can be identical);
    files that cannot be read are returned as ``unreadable`` states instead."""
    sizes: dict[int, int] = defaultdict(int)
    size_of: dict[str, int] = {}
    unreadable: list[ScanState] = []
    readable = []
    for entry in entries:
        try:
            size_of[entry.path] = os.stat(entry.path).st_size
        except OSError as error:
            detail = f"{entry.relpath}: cannot be read ({error.strerror})"
            unreadable.append(_state(entry, "unreadable", detail))
            continue
        sizes[size_of[entry.path]] += 1
        readable.append(entry)
    hashed = []
    for entry in readable:
        if sizes[size_of[entry.path]] > 1 and not entry.sha256:
            try:
                entry = replace(entry, sha256=file_sha256(entry.path))
            except OSError as error:
                detail = f"{entry.relpath}: cannot be read ({error.strerror})"
                unreadable.append(_state(entry, "unreadable", detail))
                continue
        hashed.append(entry)
    return hashed, unreadable
