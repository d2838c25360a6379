"""Video reader (PyAV): MP4/AVI/MOV/MKV with H.264, MPEG-4 part 2, MJPEG, ...

Frames are decoded sequentially (no seeking) as the iterator is consumed; frames outside the
:class:`~musclethick.io.options.FrameSelection` are decoded by the codec (inter-frame codecs
need them) but never converted to arrays. The imaging region and calibration are found on the
first selected frame and reused for the whole clip (a cine loop has a fixed layout).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from ..errors import InputError
from ..types import Frame, ScanMetadata
from ._pixels import to_grey_uint8
from ._problems import COPY_AGAIN, decoder_error, no_frame_selected, not_a_file
from ._suffixes import VIDEO_SUFFIXES
from .image import plan_capture
from .options import ALL_FRAMES, DEFAULT_CALIBRATION, CalibrationOptions, FrameSelection

__all__ = ["VIDEO_SUFFIXES", "read_video"]


def read_video(
    path: str | Path,
    *,
    calibration: CalibrationOptions = DEFAULT_CALIBRATION,
    frames: FrameSelection = ALL_FRAMES,
) -> Iterator[Frame]:
    """Read the frames of a video file, lazily.

    Parameters
    ----------
    path : str or Path
        Video file.
    calibration : CalibrationOptions
        User calibration; otherwise the on-screen ruler is tried (``use_ruler``), else the
        frames are uncalibrated.
    frames : FrameSelection
        Frames to read.

    Yields
    ------
    Frame
        Grey frames cropped to the imaging region, ``time_s`` from the stream's timestamps.

    Raises
    ------
    InputError
        The file is missing, not a readable video, has no video stream, or no frame
        (empty or corrupt). Raised when iteration starts or when decoding fails.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(not_a_file(path))
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InputError(
            f"{path}: not a readable video ({decoder_error(exc)}): {COPY_AGAIN}"
        ) from exc
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: has no video stream (empty or not a video)")
    return _iter(container, path, calibration, frames)


def _iter(
    container: av.container.InputContainer,
    path: Path,
    options: CalibrationOptions,
    selection: FrameSelection,
) -> Iterator[Frame]:
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        n_frames = int(stream.frames or 0)
        rate = stream.average_rate or stream.guessed_rate
        frame_time_ms = 1000.0 / float(rate) if rate else None
        meta = ScanMetadata(
            frame_time_ms=frame_time_ms,
            n_frames=n_frames if n_frames > 0 else 1,
        )
        plan = None
        index = -1
        yielded = 0
        t0: float | None = None
        try:
            for vframe in container.decode(stream):
                index += 1
                if vframe.pts is not None and vframe.time_base is not None:
                    t = float(vframe.pts * vframe.time_base)
                elif frame_time_ms is not None:
                    t = index * frame_time_ms / 1000.0
                else:
                    t = None
                if t0 is None and t is not None:
                    t0 = t
                if selection.is_past(index):
                    break
                if not selection.contains(index):
                    continue
                rgb = vframe.to_ndarray(format="rgb24")
                grey = to_grey_uint8(rgb)
                if plan is None:
                    plan = plan_capture(grey, options)
                box, calib = plan
                yielded += 1
                yield Frame(
                    pixels=np.ascontiguousarray(grey[box.slices()]),
                    path=str(path),
                    frame_index=index,
                    region=box,
                    calibration=calib,
                    metadata=meta,
                    time_s=None if t is None or t0 is None else t - t0,
                    original_shape=(int(grey.shape[0]), int(grey.shape[1])),
                )
        except (av.error.FFmpegError, ValueError) as exc:
            raise InputError(
                f"{path}: corrupt video, decoding stopped at frame {index + 1} ({exc})"
            ) from exc
        if index < 0:
            raise InputError(f"{path}: video has no decodable frames (empty or corrupt)")
        if not selection.is_past(index + 1) and n_frames > 0 and index + 2 < n_frames:
            # (one frame of slack: some containers round their frame count)
            raise InputError(f"{path}: truncated video, decoded {index + 1} of {n_frames} frames")
        if yielded == 0:
            raise InputError(no_frame_selected(path, selection.describe(), index + 1))
