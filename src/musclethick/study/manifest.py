"""Study description files: the manifest CSV and the allocation CSV.

Manifest
    One row per scan: ``file, subject, leg, week, site, rep`` and optionally ``date`` and
    ``condition``. ``file`` is relative to the manifest's folder (or absolute). ``week`` may be
    left empty when ``date`` is given: it is then counted from the subject's first visit.
Allocation
    ``subject, leg, condition``: which condition each leg of each subject received
    (e.g. ``FAIL`` / ``RIR``).

Errors are one-line :class:`~musclethick.errors.ProtocolError` messages of the form
``file:line: problem``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date as Date
from pathlib import Path

from musclethick.errors import ProtocolError

__all__ = [
    "MANIFEST_COLUMNS",
    "ScanEntry",
    "normalise_leg",
    "parse_date",
    "parse_week",
    "read_allocation",
    "read_manifest",
    "read_manifest_entries",
]

MANIFEST_COLUMNS = ("file", "subject", "leg", "week", "site", "rep")
OPTIONAL_COLUMNS = ("date", "condition")


@dataclass(frozen=True)
class ScanEntry:
    """One scan file of a study with its design labels.

    Attributes
    ----------
    path : str
        Absolute path of the file.
    relpath : str
        Path relative to the study root (or the manifest folder), POSIX separators.
    subject : str
        Subject identifier.
    leg : str
        ``"L"``, ``"R"`` or ``""`` when unknown.
    week : int or None
        Week of the session (``None`` when unknown).
    site : str
        Site code (normalised to the protocol's spelling when it is known).
    rep : int or None
        Image number within the session.
    condition : str
        Condition of the leg (from the allocation or the manifest), may be empty.
    date : str
        Session date ``YYYY-MM-DD``, may be empty.
    source : str
        Where the entry came from (``manifest.csv:12`` or the relative path).
    sha256 : str
        Content hash when already computed (discovery hashes files of equal size to find
        duplicates), else ``""``.
    """

    path: str
    relpath: str
    subject: str
    leg: str
    week: int | None
    site: str
    rep: int | None
    condition: str = ""
    date: str = ""
    source: str = ""
    sha256: str = ""

    @property
    def session_key(self) -> tuple[str, str, int | None, str]:
        """``(subject, leg, week, site)``."""
        return (self.subject, self.leg, self.week, self.site)


_WEEK = re.compile(r"^\s*(?:weeks?|wk|w)?[\s_-]*(\d+)\s*$", re.IGNORECASE)
_LEGS = {"l": "L", "left": "L", "r": "R", "right": "R"}


def parse_week(text: str) -> int:
    """``"week4"``, ``"w4"``, ``"wk4"`` or ``"4"`` -> ``4``; ValueError otherwise."""
    match = _WEEK.match(str(text))
    if not match:
        raise ValueError(f"week {text!r} is not like 'week4', 'w4' or '4'")
    return int(match.group(1))


def normalise_leg(text: str) -> str:
    """``"L"``/``"left"`` -> ``"L"``, ``"R"``/``"right"`` -> ``"R"``; ValueError otherwise."""
    leg = _LEGS.get(str(text).strip().lower())
    if leg is None:
        raise ValueError(f"leg {text!r} is not L, R, left or right")
    return leg


def parse_date(text: str) -> Date:
    """``YYYY-MM-DD`` or ``YYYYMMDD`` -> :class:`datetime.date`; ValueError otherwise."""
    text = str(text).strip()
    if re.fullmatch(r"\d{8}", text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        return Date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"date {text!r} is not YYYY-MM-DD or YYYYMMDD") from None


def _open_csv(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    if not path.is_file():
        raise ProtocolError(f"{path}: file not found")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip().lower() for h in (reader.fieldnames or [])]
            rows = []
            for row in reader:
                clean = {
                    str(k).strip().lower(): (v or "").strip()
                    for k, v in row.items()
                    if k is not None
                }
                if not any(clean.values()):
                    continue
                rows.append((reader.line_num, clean))
    except (UnicodeDecodeError, csv.Error) as error:
        raise ProtocolError(f"{path}: not a readable CSV file ({error})") from None
    return header, rows


def _require_columns(path: Path, header: list[str], columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in header]
    if missing:
        raise ProtocolError(
            f"{path}: missing column(s) {', '.join(repr(c) for c in missing)} "
            f"(found: {', '.join(header) or 'none'})"
        )


def read_manifest_entries(path: str | Path) -> tuple[list[ScanEntry], list[ScanEntry]]:
    """Read a manifest CSV into the entries whose file exists and those whose file does not.

    Parameters
    ----------
    path : str or path-like
        The manifest; ``file`` entries are relative to its folder.

    Returns
    -------
    found : list of ScanEntry
        Rows whose file exists.
    not_found : list of ScanEntry
        Rows whose file does not exist (``path`` is where it should be; ``source`` is
        ``manifest.csv:LINE``).

    Raises
    ------
    ProtocolError
        Missing columns, empty required fields, or unreadable week/leg/rep/date values,
        naming the file and line.
    """
    path = Path(path)
    header, rows = _open_csv(path)
    _require_columns(path, header, MANIFEST_COLUMNS)
    base = path.resolve().parent
    found: list[ScanEntry] = []
    not_found: list[ScanEntry] = []
    for line, row in rows:
        where = f"{path}:{line}"
        for column in ("file", "subject", "leg", "site", "rep"):
            if not row.get(column):
                raise ProtocolError(f"{where}: empty {column!r}")
        try:
            leg = normalise_leg(row["leg"])
            date = parse_date(row["date"]).isoformat() if row.get("date") else ""
            if row.get("week"):
                week: int | None = parse_week(row["week"])
            elif date:
                week = None
            else:
                raise ValueError("empty 'week' (and no 'date' to count weeks from)")
            rep = int(row["rep"])
        except ValueError as error:
            raise ProtocolError(f"{where}: {error}") from None
        file = Path(row["file"])
        full = file if file.is_absolute() else base / file
        entry = ScanEntry(
            path=str(full.resolve()),
            relpath=file.as_posix(),
            subject=row["subject"],
            leg=leg,
            week=week,
            site=row["site"],
            rep=rep,
            condition=row.get("condition", ""),
            date=date,
            source=f"{path.name}:{line}",
        )
        (found if full.is_file() else not_found).append(entry)
    if not rows:
        raise ProtocolError(f"{path}: no rows")
    return found, not_found


def read_manifest(path: str | Path) -> tuple[list[ScanEntry], list[str]]:
    """Read a manifest CSV (see :func:`read_manifest_entries`).

    Returns
    -------
    entries : list of ScanEntry
        One per row whose file exists.
    problems : list of str
        ``manifest:line: file '...' not found`` for rows whose file is missing.
    """
    found, not_found = read_manifest_entries(path)
    problems = [
        f"{path}:{e.source.rsplit(':', 1)[1]}: file {e.relpath!r} not found" for e in not_found
    ]
    return found, problems


def read_allocation(path: str | Path) -> dict[tuple[str, str], str]:
    """Read an allocation CSV ``subject, leg, condition``.

    Returns
    -------
    dict
        ``{(subject, leg): condition}`` with legs normalised to ``"L"`` / ``"R"``.

    Raises
    ------
    ProtocolError
        Missing columns, empty fields, bad legs or a subject's leg allocated twice.
    """
    path = Path(path)
    header, rows = _open_csv(path)
    _require_columns(path, header, ("subject", "leg", "condition"))
    allocation: dict[tuple[str, str], str] = {}
    for line, row in rows:
        where = f"{path}:{line}"
        for column in ("subject", "leg", "condition"):
            if not row.get(column):
                raise ProtocolError(f"{where}: empty {column!r}")
        try:
            leg = normalise_leg(row["leg"])
        except ValueError as error:
            raise ProtocolError(f"{where}: {error}") from None
        key = (row["subject"], leg)
        if key in allocation:
            raise ProtocolError(f"{where}: subject {key[0]!r} leg {leg} is allocated twice")
        allocation[key] = row["condition"]
    if not allocation:
        raise ProtocolError(f"{path}: no rows")
    return allocation
