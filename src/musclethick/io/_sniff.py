"""File-type sniffing without the readers' heavy imports (pydicom, PyAV)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["is_dicom"]


def is_dicom(path: str | Path) -> bool:
    """True when the file starts with the 128-byte preamble and the ``DICM`` marker."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"
