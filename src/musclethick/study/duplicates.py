"""Duplicate captures: the one rule that the batch and the exports share (pure).

A capture duplicates another when it has the **same content** (sha256 of the file) or the
**same labels** (subject, leg, week, site and rep). Of each group the first capture in name
order (relative path) counts; the others are listed as duplicates of it and never counted.
Examples: ``L_VL50_1.dcm`` and ``L_VL50_01.dcm`` (same rep), ``L_VL50_1.DCM`` beside
``L_VL50_1.dcm``, a copy under ``wk0/`` of a scan under ``week0/``, or a scan saved twice under
two rep numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Capture", "Duplicate", "find_duplicates"]


@dataclass(frozen=True)
class Capture:
    """One scan file as the duplicate rule sees it.

    Attributes
    ----------
    path : str
        Identifies the capture (absolute path).
    name : str
        Name shown and sorted by (path relative to the study).
    sha256 : str
        Content hash; ``""`` when unknown (then only the labels count).
    labels : tuple or None
        ``(subject, leg, week, site, rep)``; ``None`` when the rep is unknown.
    """

    path: str
    name: str
    sha256: str = ""
    labels: tuple | None = None


@dataclass(frozen=True)
class Duplicate:
    """A capture that is not counted because another one is."""

    path: str
    name: str
    kept: str
    reason: str

    def describe(self) -> str:
        """``"NAME: REASON KEPT (not counted)"``."""
        return f"{self.name}: {self.reason} {self.kept} (not counted)"


def find_duplicates(captures: Iterable[Capture]) -> tuple[Duplicate, ...]:
    """The captures that duplicate an earlier one (in name order), each with the one kept.

    Examples
    --------
    >>> a = Capture("/s/S1/week0/L_VL50_1.png", "S1/week0/L_VL50_1.png", "ab", ("S1", "L", 0, "VL50", 1))
    >>> b = Capture("/s/S1/wk0/L_VL50_1.png", "S1/wk0/L_VL50_1.png", "ab", ("S1", "L", 0, "VL50", 1))
    >>> [d.name for d in find_duplicates([b, a])]
    ['S1/wk0/L_VL50_1.png']
    """  # noqa: E501
    by_content: dict[str, str] = {}
    by_labels: dict[tuple, str] = {}
    duplicates = []
    for capture in sorted(captures, key=lambda c: (c.name, c.path)):
        kept = by_content.get(capture.sha256) if capture.sha256 else None
        reason = "same content (sha256) as"
        if kept is None and capture.labels is not None:
            kept = by_labels.get(capture.labels)
            reason = "same subject, leg, week, site and rep as"
        if kept is not None:
            duplicates.append(Duplicate(capture.path, capture.name, kept, reason))
            continue
        if capture.sha256:
            by_content[capture.sha256] = capture.name
        if capture.labels is not None:
            by_labels[capture.labels] = capture.name
    return tuple(duplicates)
