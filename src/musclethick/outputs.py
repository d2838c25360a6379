"""Output files of the commands: checked before any work starts, then written atomically.

One home for the rules that the README's "bad input" section promises:

* **inputs are never written**: an output file that is one of the inputs, or a folder of
  outputs that holds inputs, is refused;
* **an existing output is replaced only with** ``--overwrite`` (a folder of outputs counts as
  existing when it already holds files of the names to be written, or, when those names are not
  known in advance, any file);
* the folder of an output must be, or become, a writable folder.

Each problem is a one-line :class:`~musclethick.errors.UsageError` naming the option, the path
and the fix. Files are written as ``NAME.partial`` beside their target and renamed over it
when complete (:class:`PartialFile`, :func:`write_atomically`), so the target name never holds
half a file; a run killed with ``kill -9`` leaves its finished rows in ``NAME.partial``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import IO

from musclethick.errors import UsageError
from musclethick.io._suffixes import DICOM_SUFFIXES, IMAGE_SUFFIXES, VIDEO_SUFFIXES

#: What DICOM files and videos are named: no output file of the tool is one (images are: plots,
#: overlays).
_SCAN_SUFFIXES = DICOM_SUFFIXES | VIDEO_SUFFIXES

__all__ = [
    "PARTIAL_SUFFIX",
    "PartialFile",
    "check_output_file",
    "check_output_folder",
    "files_cannot_be_written",
    "relative_names",
    "write_atomically",
]

#: Suffix of a file being written (renamed to its target name when complete).
PARTIAL_SUFFIX = ".partial"


def _file_ids(paths: Iterable[str | Path]) -> dict[tuple[int, int], Path]:
    """``{(device, inode): path}`` of the existing files among ``paths``."""
    ids = {}
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            continue
        ids[(stat.st_dev, stat.st_ino)] = Path(path)
    return ids


def _input_named(path: Path, inputs: Iterable[str | Path]) -> Path | None:
    """The input that ``path`` is (same file, also through links), or ``None``."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _file_ids(inputs).get((stat.st_dev, stat.st_ino))


def files_cannot_be_written(folder: str | Path) -> str | None:
    """Why no file can be created in the existing ``folder`` (the system's words), or ``None``.

    A file is created and removed: permission bits do not tell (``root`` passes
    :func:`os.access` in ``/proc`` or on a read-only mount, where writing fails)."""
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".musclethick-write-check-")
    except OSError as error:
        return error.strerror or str(error)
    os.close(handle)
    os.unlink(probe)
    return None


def _writable_folder(folder: Path, *, option: str, path: Path) -> None:
    """Create ``folder`` (and its parents) and check that files can be written in it."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(
            f"{option} {path}: {existing} is a file, not a folder; choose another path"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(
            f"{option} {path}: folder {existing} is not writable; choose another place or "
            "fix its permissions"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(
            f"{option} {path}: cannot create folder {folder} ({error.strerror}); "
            "choose another place"
        ) from None
    why = files_cannot_be_written(folder)
    if why is not None:
        raise UsageError(
            f"{option} {path}: files cannot be written in {folder} ({why}); choose another place"
        )


def check_output_file(
    path: str | Path,
    *,
    option: str,
    inputs: Iterable[str | Path] = (),
    overwrite: bool = False,
    image: bool = False,
) -> Path:
    """Check that ``path`` may be written as an output file; create its folder.

    Parameters
    ----------
    path : str or path-like
        The output file.
    option : str
        The command-line option that named it (for messages), e.g. ``"--out"``.
    inputs : iterable of path-like
        Input files of the command: ``path`` must not be one of them.
    overwrite : bool
        Whether an existing file may be replaced.
    image : bool
        The output is an image (a plot, an overlay); otherwise an image's suffix is refused too
        (a table named ``results.png`` would be read as a broken scan by the next run).

    Returns
    -------
    Path

    Raises
    ------
    UsageError
        ``path`` is a folder, one of the inputs, named like a DICOM file or a video, an
        existing file (without ``overwrite``), or lies in a folder that cannot be written.
    """
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a folder; give a file name (e.g. {path / 'out'})")
    same = _input_named(path, inputs)
    if same is not None:
        raise UsageError(
            f"{option} {path}: is the input {same}, and inputs are never written; choose "
            "another file"
        )
    if not image and path.suffix.lower() in IMAGE_SUFFIXES:
        raise UsageError(
            f"{option} {path}: has an image's suffix ({path.suffix}) but is not an image; "
            "choose a name with the output's own suffix (e.g. .csv, .json)"
        )
    if path.suffix.lower() in _SCAN_SUFFIXES:
        raise UsageError(
            f"{option} {path}: has a scan's suffix ({path.suffix}), and no output of this tool "
            "is a DICOM file or a video: choose another name (a scan of that name would be "
            "replaced, or the output measured later)"
        )
    if path.exists() and not overwrite:
        raise UsageError(
            f"{option} {path}: exists; add --overwrite to replace it, or choose another file"
        )
    _writable_folder(path.parent, option=option, path=path)
    return path


def check_output_folder(
    path: str | Path,
    *,
    option: str,
    inputs: Iterable[str | Path] = (),
    overwrite: bool = False,
    names: Sequence[str] | None = None,
    folders: Iterable[str | Path] = (),
) -> Path:
    """Check that ``path`` may receive output files; create it.

    Parameters
    ----------
    path : str or path-like
        The output folder.
    option : str
        The command-line option that named it (for messages).
    inputs : iterable of path-like
        Input files: none of them may lie inside ``path``.
    overwrite : bool
        Whether existing files may be replaced.
    names : sequence of str, optional
        Names of the files to be written, when known: only these must not exist yet.
        ``None``: the folder must be empty (or absent) unless ``overwrite``.
    folders : iterable of path-like
        Input folders (searched for inputs, sub-folders included): ``path`` may not lie inside
        one, or what is written there (images) is measured as a scan the next time.

    Raises
    ------
    UsageError
        ``path`` is a file, holds inputs, lies inside an input folder, holds files that would
        be replaced (without ``overwrite``) or cannot be written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path}: is a file, not a folder; choose a folder name")
    inside = path.resolve()
    for item in inputs:
        resolved = Path(item).resolve()
        if inside == resolved or inside in resolved.parents:
            raise UsageError(
                f"{option} {path}: holds the input {item}, and inputs are never written; "
                "choose a folder outside the inputs"
            )
    for folder in folders:
        resolved = Path(folder).resolve()
        if resolved in inside.parents:
            raise UsageError(
                f"{option} {path}: lies inside the input folder {folder}, so its images would "
                "be measured as scans next time; choose a folder outside the inputs"
            )
    if path.is_dir() and not overwrite:
        if names is None:
            clash = next(iter(sorted(path.iterdir())), None)
        else:
            clash = next((path / n for n in names if (path / n).exists()), None)
        if clash is not None:
            raise UsageError(
                f"{option} {path}: already holds {clash.name}; add --overwrite to replace "
                "files in it, or choose a new folder"
            )
    _writable_folder(path, option=option, path=path)
    return path


class PartialFile:
    """A text file written as ``NAME.partial`` and renamed to ``NAME`` by :meth:`commit`.

    Parameters
    ----------
    path : str or path-like
        The target file.
    newline : str, optional
        As in :func:`open` (``""`` for CSV writers).
    """

    def __init__(self, path: str | Path, *, newline: str | None = None) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + PARTIAL_SUFFIX)
        self.handle: IO[str] = self.partial.open("w", newline=newline, encoding="utf-8")

    def write(self, text: str) -> None:
        """Write ``text``."""
        self.handle.write(text)

    def flush(self) -> None:
        """Hand what was written to the operating system (it survives a crash of this
        process)."""
        self.handle.flush()

    def commit(self) -> Path:
        """Close the file and rename it to its target name; returns the target."""
        if not self.handle.closed:
            self.handle.close()
            os.replace(self.partial, self.path)
        return self.path


def write_atomically(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(partial_path)``, then rename the partial file to ``path``.

    On an error the partial file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    try:
        write(partial)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def relative_names(paths: Sequence[str | Path]) -> dict[Path, PurePosixPath]:
    """A unique relative name for each path: its path below the inputs' common folder.

    ``a/scan.png`` and ``b/scan.png`` give ``a/scan.png`` and ``b/scan.png``; a single file
    gives its own name.
    """
    resolved = [Path(p).resolve() for p in paths]
    if not resolved:
        return {}
    try:
        root = Path(os.path.commonpath([str(p.parent) for p in resolved]))
    except ValueError:  # different drives (Windows)
        root = None
    names = {}
    for original, full in zip(paths, resolved, strict=True):
        if root is not None:
            names[Path(original)] = PurePosixPath(full.relative_to(root).as_posix())
        else:
            names[Path(original)] = PurePosixPath(full.as_posix().replace(":", "").lstrip("/"))
    return names
