"""The readers' one-line messages for a file that cannot be read: the problem and the fix.

One home for the wording shared by the image, DICOM and video readers.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["COPY_AGAIN", "decoder_error", "empty_file", "no_frame_selected", "not_a_file"]

#: what to do with a damaged or incomplete scan file
COPY_AGAIN = "copy or export the scan again from the scanner"


def not_a_file(path: str | Path) -> str:
    """Why ``path`` (which is not a readable file) cannot be read, and the fix."""
    p = Path(path)
    if p.is_symlink() and not p.exists():
        return f"{p}: broken link (it points to {os.readlink(p)}, which does not exist)"
    if p.is_dir():
        return f"{p}: is a folder; give a file (or the folder as an input of its own)"
    return f"{p}: file not found; check the path"


def empty_file(path: str | Path) -> str | None:
    """The message for an empty file, or ``None``."""
    try:
        size = Path(path).stat().st_size
    except OSError:
        return None
    return f"{path}: empty file (0 bytes): {COPY_AGAIN}" if size == 0 else None


def decoder_error(error: BaseException) -> str:
    """A decoder's error as a short phrase (FFmpeg's ``[Errno N]`` prefix removed)."""
    text = " ".join(str(error).split())
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", text)
    text = re.sub(r":\s*'[^']*'$", "", text)  # FFmpeg repeats the file name at the end
    return text[:1].lower() + text[1:] if text else type(error).__name__


def no_frame_selected(path: str | Path, selection: str, n_frames: int) -> str:
    """The message for a frame selection (``--frames``, described) that selects none of a
    file's ``n_frames`` frames, with the frames it has and the fix."""
    have = "frame 0" if n_frames == 1 else f"frames 0-{n_frames - 1}"
    return (
        f"{path}: {selection} selects none of its {n_frames} frames ({have}); "
        "use --frames all, or a selection within them"
    )
