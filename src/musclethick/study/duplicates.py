"""Duplicate captures: the one rule that the batch and the exports share (pure).

A capture duplicates another when it has the **same content** (sha256 of the file) or the
**same labels** (subject, leg, week, site and rep); duplicates are never counted. Which one
counts:

1. of files with the same content, the first in name order (relative path);
2. of the remaining captures with the same labels, the one whose content the folder holds most
   often (the capture its copies agree on), then the first in name order;

and in both, a capture the study store has measured already first (a trial's
copy ``R_VL50_01.png`` of a measured ``R_VL50_1.png`` sorted first and took its place: the
measured scan, with any review of it, dropped out of the tables and the copy was measured
again).

Examples: ``L_VL50_1.DCM`` and a copy under ``wk0/`` of ``L_VL50_1.dcm`` (same content),
``L_VL50_01.dcm`` beside ``L_VL50_1.dcm`` (same rep), a scan saved twice under two rep
numbers (same content).
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
    measured : bool
        The study store holds results of this capture already.
    """

    path: str
    name: str
    sha256: str = ""
    labels: tuple | None = None
    measured: bool = False


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
    """The captures that are not counted, each with the one counted instead (see the module
    docstring for the rule), in name order.

    Examples
    --------
    >>> a = Capture("/s/S1/week0/L_VL50_1.png", "S1/week0/L_VL50_1.png", "ab", ("S1", "L", 0, "VL50", 1))
    >>> b = Capture("/s/S1/wk0/L_VL50_1.png", "S1/wk0/L_VL50_1.png", "ab", ("S1", "L", 0, "VL50", 1))
    >>> [d.name for d in find_duplicates([b, a])]
    ['S1/wk0/L_VL50_1.png']
    """  # noqa: E501
    ordered = sorted(captures, key=lambda c: (not c.measured, c.name, c.path))
    duplicates = []
    copies: dict[str, int] = {}
    first_with_content: dict[str, Capture] = {}
    distinct = []
    for capture in ordered:
        if capture.sha256:
            copies[capture.sha256] = copies.get(capture.sha256, 0) + 1
            kept = first_with_content.setdefault(capture.sha256, capture)
            if kept is not capture:
                duplicates.append(
                    Duplicate(capture.path, capture.name, kept.name, "same content (sha256) as")
                )
                continue
        distinct.append(capture)
    groups: dict[tuple, list[Capture]] = {}
    for capture in distinct:
        if capture.labels is not None:
            groups.setdefault(capture.labels, []).append(capture)
    for group in groups.values():
        # a measured one, else the first by name of the most copied
        kept = max(group, key=lambda c: (c.measured, copies.get(c.sha256, 1)))
        for capture in group:
            if capture is not kept:
                reason = "same subject, leg, week, site and rep as"
                duplicates.append(Duplicate(capture.path, capture.name, kept.name, reason))
    return tuple(sorted(duplicates, key=lambda d: (d.name, d.path)))
