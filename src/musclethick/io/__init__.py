"""Reading scans: DICOM, video and still images -> lazy iterators of frames.

This package is the only place that opens scan files. :func:`read` dispatches on the file
suffix and, for files without a known suffix, on the content (the ``DICM`` marker of DICOM).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..types import Frame
from ._problems import COPY_AGAIN, decoder_error, empty_file, not_a_file
from ._suffixes import DICOM_SUFFIXES, IMAGE_SUFFIXES, OVERLAY_FILE, VIDEO_SUFFIXES
from .options import ALL_FRAMES, DEFAULT_CALIBRATION, CalibrationOptions, FrameSelection

if TYPE_CHECKING:
    from ._pixels import to_grey_uint8
    from .dicom import read_dicom
    from .image import read_image
    from .video import read_video

__all__ = [
    "DICOM_SUFFIXES",
    "IMAGE_SUFFIXES",
    "SUPPORTED_SUFFIXES",
    "VIDEO_SUFFIXES",
    "CalibrationOptions",
    "FrameSelection",
    "find_inputs",
    "read",
    "read_capture",
    "read_dicom",
    "read_image",
    "read_video",
    "to_grey_uint8",
    "upright",
]

# The readers (pydicom, PyAV, Pillow, OpenCV) are imported on first use, so that importing
# this package (e.g. for its options, or to build the CLI parser) stays light.
_LAZY = {
    "is_dicom": "._sniff",
    "read_dicom": ".dicom",
    "read_image": ".image",
    "read_video": ".video",
    "to_grey_uint8": "._pixels",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    if name == "SUPPORTED_SUFFIXES":
        return _supported_suffixes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def _supported_suffixes() -> frozenset[str]:
    """Suffixes (lower case) :func:`read` and :func:`find_inputs` accept."""
    return frozenset(DICOM_SUFFIXES | IMAGE_SUFFIXES | VIDEO_SUFFIXES)


def read(
    path: str | Path,
    *,
    calibration: CalibrationOptions = DEFAULT_CALIBRATION,
    frames: FrameSelection = ALL_FRAMES,
    upside_down: bool = False,
) -> Iterator[Frame]:
    """Read the frames of a scan file, lazily.

    Parameters
    ----------
    path : str or Path
        DICOM (``.dcm``, or any file with the ``DICM`` marker), video (``.mp4``, ``.avi``,
        ...) or image (``.png``, ``.tif``, ``.jpg``, ``.bmp``) file. Never modified.
    calibration : CalibrationOptions
        Calibration overrides. Precedence: ``mm_per_px`` > ``depth_mm`` > DICOM ultrasound
        regions > DICOM PixelSpacing > on-screen ruler > uncalibrated (pixels only).
    frames : FrameSelection
        Frames of a multi-frame file to read.
    upside_down : bool
        The scan shows the skin at the bottom (a display's up/down setting): give each
        imaging region turned upright, its rows in reverse order, with ``Frame.turned`` set
        (:func:`upright`). The calibration is read from the capture as it is.

    Returns
    -------
    iterator of Frame
        Frames are decoded as the iterator is consumed. A convex probe's fan is given as its
        beam view (:func:`musclethick.fan.as_beam_view`: the beams side by side, depth along
        the beam as rows), with ``Frame.fan`` saying where the fan lies.

    Raises
    ------
    InputError
        Missing, unsupported, corrupt or truncated file, not an image, DICOM without pixel
        data, empty video. The one-line message names the file. Problems found while
        decoding later frames are raised during iteration.
    CalibrationError
        An invalid user calibration.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(not_a_file(path))
    if path.is_file() and (empty := empty_file(path)):
        raise InputError(empty)
    if path.is_dir():
        try:
            os.listdir(path)
        except OSError as error:
            raise InputError(
                f"{path}: folder cannot be read ({error.strerror}); fix its permissions"
            ) from None
        raise InputError(f"{path}: is a folder, not a file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        raise InputError(
            f"{path}: cannot be opened ({error.strerror}); fix its permissions"
        ) from None
    from ._sniff import is_dicom

    # each reader's library (pydicom, Pillow/OpenCV, PyAV) is imported only when needed
    suffix = path.suffix.lower()
    if suffix in DICOM_SUFFIXES or is_dicom(path):
        from .dicom import read_dicom as reader
    elif suffix in IMAGE_SUFFIXES:
        from .image import read_image as reader
    elif suffix in VIDEO_SUFFIXES:
        from .video import read_video as reader
    else:
        raise InputError(
            f"{path}: unsupported file type {suffix or '(no suffix)'!r}; supported: "
            + ", ".join(sorted(_supported_suffixes()))
        )
    return _beam_views(upright(reader(path, calibration=calibration, frames=frames), upside_down))


def upright(frames: Iterator[Frame], upside_down: bool = True) -> Iterator[Frame]:
    """``frames``, each turned upright when ``upside_down`` (rows in reverse order, x kept,
    ``Frame.turned`` set): a study whose display showed the skin at the bottom is measured
    as the model knows muscle, skin at the top. A frame already turned is left as it is."""
    if not upside_down:
        yield from frames
        return
    from dataclasses import replace

    import numpy as np

    for frame in frames:
        if frame.turned:
            yield frame
        else:
            yield replace(frame, pixels=np.ascontiguousarray(frame.pixels[::-1]), turned=True)


def _beam_views(frames: Iterator[Frame]) -> Iterator[Frame]:
    """``frames``, a convex probe's fan as its beam view (:func:`musclethick.fan.beam_views`)."""
    from ..fan import beam_views

    yield from beam_views(frames)


def read_capture(path: str | Path, *, frame: int = 0):
    """One whole (uncropped) frame of a scan as grey ``uint8`` ``(rows, cols)``.

    For calibrating a display (``musclethick calibrate``): the ruler and text around the
    imaging region are kept.

    Raises
    ------
    InputError
        As :func:`read`, or when the file has no frame ``frame``.
    """
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise InputError(not_a_file(path))
    from ._sniff import is_dicom

    suffix = path.suffix.lower()
    if suffix in DICOM_SUFFIXES or is_dicom(path):
        from .dicom import _decode, _open, read_dicom_metadata

        ds = _open(path)
        n_frames = read_dicom_metadata(ds).n_frames
        if not 0 <= frame < n_frames:
            raise InputError(f"{path}: has no frame {frame} ({n_frames} frames)")
        return _decode(ds, path, frame, n_frames)
    if suffix in IMAGE_SUFFIXES:
        from PIL import Image, UnidentifiedImageError

        from .image import _page_to_grey

        try:
            with Image.open(path) as img:
                img.seek(frame)
                return np.ascontiguousarray(_page_to_grey(img)[0])
        except EOFError as exc:
            raise InputError(f"{path}: has no frame {frame}") from exc
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot read image ({exc})") from exc
    if suffix in VIDEO_SUFFIXES:
        import av

        from ._pixels import to_grey_uint8

        try:
            with av.open(str(path), mode="r") as container:
                for index, vframe in enumerate(container.decode(video=0)):
                    if index == frame:
                        return to_grey_uint8(vframe.to_ndarray(format="rgb24"))
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise InputError(
                f"{path}: not a readable video ({decoder_error(exc)}): {COPY_AGAIN}"
            ) from exc
        raise InputError(f"{path}: has no frame {frame}")
    raise InputError(f"{path}: unsupported file type {suffix or '(no suffix)'!r}")


def _is_supported(path: Path) -> bool:
    """A suffix a reader takes, and not one of this tool's own overlays (which a folder holding
    both would otherwise measure as scans: :data:`._suffixes.OVERLAY_FILE`)."""
    return path.suffix.lower() in _supported_suffixes() and not OVERLAY_FILE.fullmatch(path.name)


def _walk(folder: Path) -> list[Path]:
    """Supported, non-hidden files below ``folder``, plus the sub-folders that cannot be
    listed (reading those fails with a message naming them: nothing is skipped silently)."""
    found: list[Path] = []

    def unreadable(error: OSError) -> None:
        if error.filename is not None:
            found.append(Path(error.filename))

    for here, dirs, files in os.walk(folder, onerror=unreadable):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(
            Path(here) / name
            for name in files
            if not name.startswith(".") and _is_supported(Path(name))
        )
    return found


def find_inputs(specs: Sequence[str | Path]) -> list[Path]:
    """Expand files, folders (recursively) and glob patterns into a sorted list of files.

    Parameters
    ----------
    specs : sequence of str or Path
        Each a file (returned as is, even with an unsupported suffix, so that reading it
        fails loudly), a folder (searched recursively for supported suffixes; hidden files
        and folders skipped) or a glob pattern (``*``, ``?``, ``[...]``, ``**``; supported
        suffixes only).

    Returns
    -------
    list of Path
        Unique, sorted. Folders that cannot be listed (permissions) are returned as well, so
        that :func:`read` reports them instead of their files being skipped silently.

    Raises
    ------
    InputError
        If a spec is neither an existing file or folder nor a pattern matching something.
    """
    found: set[Path] = set()
    for spec in specs:
        p = Path(spec)
        if p.is_file():
            found.add(p)
        elif p.is_dir():
            found.update(_walk(p))
        elif glob.has_magic(str(spec)):
            matches = [Path(m) for m in glob.glob(str(spec), recursive=True)]
            files = [m for m in matches if m.is_file() and _is_supported(m)]
            for d in (m for m in matches if m.is_dir()):
                files.extend(find_inputs([d]))
            if not files:
                raise InputError(f"{spec}: pattern matches no supported file")
            found.update(files)
        else:
            raise InputError(f"{spec}: no such file or folder")
    return sorted(found)
