"""A convex probe's fan laid out as a rectangle of beams (pure).

A curvilinear probe's image is a fan: beams spread from an apex above the image, the
aponeuroses are arcs about it, and thickness is measured along the beam. The layer model
knows rectangular images, so a fan is measured on its *beam view*: the beams laid side by
side as columns, depth along the beam as rows, 1 px of depth per row
(:class:`~musclethick.types.FanGeometry`). There the aponeuroses are straight again, a
vertical thickness is the thickness along the beam, and everything downstream (the model,
the measurement, QC, overlays, review) works as for a linear probe. Where the fan lies
is :func:`musclethick.region.fan_geometry`'s; this module only resamples.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from functools import lru_cache

import cv2
import numpy as np

from .region import fan_geometry
from .types import Calibration, FanGeometry, Frame

__all__ = ["as_beam_view", "beam_view", "beam_views"]


def beam_view(pixels: np.ndarray, geometry: FanGeometry) -> np.ndarray:
    """The fan of ``pixels`` resampled into its beam view (bilinear; ``uint8``, shape
    ``(geometry.rows, geometry.beams)``)."""
    map_x, map_y = _maps(geometry)
    return cv2.remap(
        np.ascontiguousarray(pixels),
        map_x,
        map_y,
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


@lru_cache(maxsize=4)
def _maps(geometry: FanGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Where each beam-view pixel lies in the fan (``float32`` maps for ``cv2.remap``): the
    radius depends on the row only and the angle on the column only, so
    :meth:`~musclethick.types.FanGeometry.to_frame` is an outer product here; kept for the
    next frames of a cine loop."""
    angle = geometry.angle_rad(np.arange(geometry.beams))
    radius = geometry.face_px + np.arange(geometry.rows, dtype=np.float64)
    map_x = geometry.apex_x_px + np.outer(radius, np.sin(angle))
    map_y = geometry.apex_y_px + np.outer(radius, np.cos(angle))
    return map_x.astype(np.float32), map_y.astype(np.float32)


def _beam_calibration(calibration: Calibration, geometry: FanGeometry) -> Calibration:
    """The beam view's pixel size: rows keep the frame's (1 px of depth per row along the
    beam), columns are ``geometry.column_px`` frame pixels apart (at the middle depth)."""
    note = "; ".join(part for part in (calibration.note, geometry.describe()) if part)
    if not calibration.is_calibrated:
        return replace(calibration, note=note)
    mm_x = calibration.mm_per_px_x
    return replace(
        calibration,
        mm_per_px_x=None if mm_x is None else mm_x * geometry.column_px,
        note=note,
    )


def as_beam_view(frame: Frame, geometry: FanGeometry | None = None) -> Frame:
    """``frame`` as its beam view when it is a convex probe's fan
    (:func:`musclethick.region.fan_geometry`, or the ``geometry`` given: that of an earlier
    frame of the same cine loop), else ``frame`` itself.

    The new frame's ``pixels`` are the beam view, ``fan`` its geometry in the fan frame
    (``region`` stays the fan's box in the capture), and the calibration's note says that
    thickness is along the beam.
    """
    if frame.fan is not None:
        return frame
    if geometry is None:
        geometry = fan_geometry(frame.pixels)
    if geometry is None:
        return frame
    return replace(
        frame,
        pixels=beam_view(frame.pixels, geometry),
        fan=geometry,
        calibration=_beam_calibration(frame.calibration, geometry),
    )


def beam_views(frames: Iterable[Frame]) -> Iterator[Frame]:
    """``frames`` with every convex probe's fan as its beam view (:func:`as_beam_view`).

    The frames of one cine loop share their fan: a geometry found once is used again for the
    next frames of the same file, tissue region and imaging region (found again where it is
    not, e.g. after the display changed), so that every frame of a loop has the same beam view
    and a moving muscle does not move the beams.
    """
    known: dict[tuple, FanGeometry] = {}
    for frame in frames:
        key = (frame.path, frame.region_index, frame.region, frame.shape)
        out = as_beam_view(frame, known.get(key))
        if out.fan is not None:
            known[key] = out.fan
        yield out
