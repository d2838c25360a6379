"""Frames of stored results: re-read a scan's frame as the batch measured it.

The store keeps paths and results, never pixels; review and fine-tuning from corrections
re-read the frame from its file with the calibration and crop the batch used.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from musclethick.errors import InputError
from musclethick.qc import CALIBRATION_FLAGS
from musclethick.study.store import StoredResult
from musclethick.types import Calibration, Frame, PixelBox

__all__ = ["load_frame", "stored_calibration"]


def stored_calibration(stored: StoredResult) -> Calibration:
    """The calibration a stored result was measured with: its pixel size and source, and the
    flags the batch raised about it (``calibration_unconfirmed``, ...), whose reason is in the
    stored message. Uncalibrated (px) when the result has no pixel size."""
    if stored.mm_per_px is None:
        return Calibration.uncalibrated()
    flags = tuple(f for f in stored.flags if f in CALIBRATION_FLAGS)
    note = "from store"
    if flags:
        note = "the pixel size the batch used was doubted when measured (from store)"
    return Calibration.isotropic(stored.mm_per_px, stored.calibration_source, note, flags)


def load_frame(stored: StoredResult) -> Frame:
    """Read the frame of a stored result from its file (the store keeps paths, not pixels).

    The stored calibration (``mm_per_px`` and its source) is applied, so the reviewer sees
    the same scale the batch measured with; a frame measured turned upright
    (``StoredResult.turned``) is turned again. The on-screen ruler is not read again (the store
    has its result; reading it takes ~0.1 s a capture): DICOM regions and pixel spacing
    that agree with the stored value are kept as read (both pixel sizes), any other
    calibration is the stored one, with the stored result's doubts about it
    (:data:`musclethick.qc.CALIBRATION_FLAGS`), so a result measured again in review (an
    edit, a swapped pair) keeps them.

    Raises
    ------
    InputError
        If the file is missing, unreadable or lacks that frame / region.
    """
    from musclethick.io import read
    from musclethick.io.options import CalibrationOptions, FrameSelection

    path = stored.scan.path
    if not Path(path).is_file():
        raise InputError(f"{path}: scan file not found (moved or deleted since the batch?)")
    selection = FrameSelection(start=stored.frame_index, stop=stored.frame_index + 1)
    options = CalibrationOptions(use_ruler=False)
    frames = [
        f
        for f in read(path, calibration=options, frames=selection, upside_down=stored.turned)
        if f.region_index == stored.region_index
    ]
    if not frames:
        raise InputError(
            f"{path}: no frame {stored.frame_index} / region {stored.region_index} to review"
        )
    frame = frames[0]
    if stored.region is not None and _is_a_crop(stored.region):
        x0, y0, x1, y1 = stored.region
        if (frame.region.x0, frame.region.y0, frame.region.x1, frame.region.y1) != (x0, y0, x1, y1):
            frame = _recrop(frame, PixelBox(x0, y0, x1, y1))
    if stored.mm_per_px is not None:
        cal = frame.calibration
        if cal.mm_per_px != stored.mm_per_px:
            cal = stored_calibration(stored)
        frame = replace(frame, calibration=cal)
    return frame


def _recrop(frame: Frame, box: PixelBox) -> Frame:
    """Crop ``frame`` to ``box`` (original coordinates) where the box lies inside it (the rows
    of a frame turned upright counted from its region's bottom)."""
    r = frame.region
    if box.x0 < r.x0 or box.y0 < r.y0 or box.x1 > r.x1 or box.y1 > r.y1:
        return frame  # cannot grow a crop; boundaries are shifted by the frame's own region
    rows = (
        slice(r.y1 - box.y1, r.y1 - box.y0) if frame.turned else slice(box.y0 - r.y0, box.y1 - r.y0)
    )
    pixels = frame.pixels[rows, box.x0 - r.x0 : box.x1 - r.x0]
    return replace(frame, pixels=pixels, region=box)


def _is_a_crop(region: tuple[int, int, int, int]) -> bool:
    """Whether a stored region is a real crop: a result that failed before the file was read
    stores a 1 x 1 placeholder (:func:`musclethick.measure.failed_result`)."""
    x0, y0, x1, y1 = region
    return x1 - x0 > 1 or y1 - y0 > 1
