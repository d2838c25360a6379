"""Overlay thumbnails of flagged and reviewed scans for the report's gallery.

The store keeps paths, not pixels: each scan is read again (:func:`musclethick.study.frames.
load_frame`), its stored (or reviewed) boundaries drawn on it (:func:`musclethick.overlay.
render_overlay`) and the picture encoded as JPEG, small and full size. A scan that cannot be
read any more gets a tile that says why instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from musclethick.study.store import StoredResult

__all__ = ["Tile", "caption", "render_tile"]

THUMB_WIDTH_PX = 220
FULL_WIDTH_PX = 900


@dataclass(frozen=True)
class Tile:
    """One gallery tile: JPEG bytes (``None`` when the scan cannot be read) and text."""

    result_id: int
    caption: str
    thumbnail: bytes | None
    full: bytes | None
    problem: str = ""


def caption(stored: StoredResult) -> str:
    """What a tile says: labels, status, flags, confidence and the review (never the
    condition)."""
    scan = stored.scan
    week = f"week {scan.week}" if scan.week is not None else ""
    labels = " ".join(str(v) for v in (scan.subject, scan.leg, week, scan.site) if v)
    labels = labels or scan.relpath or scan.path
    image = f" rep {scan.rep}" if scan.rep is not None else ""
    frame = f" frame {stored.frame_index}" if stored.frame_index else ""
    parts = [f"{labels}{image}{frame}", stored.status]
    if stored.flags:
        parts.append(", ".join(stored.flags))
    if stored.confidence is not None:
        parts.append(f"conf {stored.confidence:.2f}")
    review = stored.review
    if review is not None:
        decision = {"accept": "accepted", "reject": "rejected", "correct": "corrected"}
        text = f"{decision[review.decision]} by {review.reviewer}"
        if review.decision == "correct" and review.thickness_mm is not None:
            if stored.thickness_mm is not None:
                text += f" ({review.thickness_mm - stored.thickness_mm:+.2f} mm)"
        if review.reason:
            text += f": {review.reason}"
        parts.append(text)
    return " · ".join(parts)


def _jpeg(rgb: np.ndarray, width: int) -> bytes:
    import cv2

    rows, cols = rgb.shape[:2]
    if cols > width:
        rgb = cv2.resize(
            rgb, (width, max(1, round(rows * width / cols))), interpolation=cv2.INTER_AREA
        )
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 82]
    )
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB array
        raise ValueError("cannot encode JPEG")
    return data.tobytes()


def render_tile(stored: StoredResult) -> Tile:
    """The tile of one stored result: its overlay (reviewed boundaries when corrected)."""
    from musclethick._napari._review import frame_result_of
    from musclethick.errors import MusclethickError
    from musclethick.overlay import render_overlay
    from musclethick.study.frames import load_frame

    text = caption(stored)
    try:
        frame = load_frame(stored)
    except (MusclethickError, OSError) as error:
        return Tile(stored.id, text, None, None, str(error))
    rgb = render_overlay(frame, frame_result_of(stored, frame))
    return Tile(stored.id, text, _jpeg(rgb, THUMB_WIDTH_PX), _jpeg(rgb, FULL_WIDTH_PX))
