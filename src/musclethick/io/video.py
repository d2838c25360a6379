"""Video reader (PyAV): MP4/AVI/MOV/MKV with H.264, MPEG-4 part 2, MJPEG, ...

Frames are decoded sequentially (no seeking) as the iterator is consumed; frames outside the
:class:`~musclethick.io.options.FrameSelection` are decoded by the codec (inter-frame codecs
need them) but never converted to arrays. The imaging region and calibration are found on the
first selected frame and reused while the display around the image stays the same (a cine
loop has a fixed layout); when it changes (a screen recording in which the depth, and with it
the ruler, was changed) they are found again (:func:`display_changed`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np

from ..errors import InputError
from ..types import Frame, ScanMetadata
from ._pixels import to_grey_uint8
from ._problems import COPY_AGAIN, decoder_error, no_frame_selected, not_a_file
from ._suffixes import VIDEO_SUFFIXES
from .image import plan_capture, region_pixels
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
        plan = planned = None
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
                if plan is None or display_changed(planned, grey, plan[0]):
                    plan, planned = plan_capture(grey, options), grey
                box, calib = plan
                yielded += 1
                pixels, marks_px = region_pixels(grey, box, rgb)
                yield Frame(
                    pixels=pixels,
                    marks_px=marks_px,
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


#: Grey levels by which a display pixel may differ between frames (compression) and count as
#: unchanged, and how many (every other column looked at) may differ by more: a frame counter
#: or clock; a depth change moves every tick and number of the ruler (hundreds of pixels).
DISPLAY_LEVELS = 48
DISPLAY_MAX_CHANGED_PX = 40
#: Pixels around the imaging region not compared (image rows where the region was found a few
#: rows inside the image's edge).
DISPLAY_EDGE_PX = 8
#: Mean grey-level change (frames reduced 8x) of a frame whose plan covers it whole that plans
#: it again.
WHOLE_FRAME_LEVELS = 20.0


def display_changed(seen: np.ndarray | None, grey: np.ndarray, region) -> bool:
    """True when the display around the imaging ``region`` of ``seen`` differs in ``grey``:
    another size, the whole frame changed by more than :data:`WHOLE_FRAME_LEVELS` on average
    when the region covers it (no display to compare), or more than
    :data:`DISPLAY_MAX_CHANGED_PX` pixels (every other column) outside the region changed by
    more than :data:`DISPLAY_LEVELS` grey levels. Under 1 ms for a 800 x 600 frame; the
    imaging region and calibration are then found again (a ruler that did not change is not
    read again: :func:`musclethick.ruler.same_display`)."""
    if seen is None or seen.shape != grey.shape:
        return True
    rows, cols = grey.shape[:2]
    e = DISPLAY_EDGE_PX
    if region.x0 <= e and region.y0 <= e and region.x1 >= cols - e and region.y1 >= rows - e:
        # no display around the region to compare: the frame the plan was made on may have
        # had no image (a black screen, the probe in air, a form before the scan; a new-user
        # trial: the plan stayed on the whole frame for the rest of the clip, so --depth-mm
        # was divided by the frame's height, ok at 7.7 % off). Planned again when the whole
        # frame changes a lot (a cine without a display changes far less frame to frame).
        small = (max(cols // 8, 1), max(rows // 8, 1))
        a = cv2.resize(seen, small, interpolation=cv2.INTER_AREA).astype(np.int16)
        b = cv2.resize(grey, small, interpolation=cv2.INTER_AREA).astype(np.int16)
        return float(np.abs(a - b).mean()) > WHOLE_FRAME_LEVELS
    a = np.ascontiguousarray(seen[:, ::2])
    changed = cv2.absdiff(a, np.ascontiguousarray(grey[:, ::2])) > DISPLAY_LEVELS
    y0, y1 = max(int(region.y0) - e, 0), int(region.y1) + e
    x0, x1 = max(int(region.x0) - e, 0) // 2, (int(region.x1) + e + 1) // 2
    changed[y0:y1, x0:x1] = False
    return int(np.count_nonzero(changed)) > DISPLAY_MAX_CHANGED_PX
