"""Physical pixel size from DICOM regions, PixelSpacing, depth, two points or an on-screen ruler.

All functions are pure: arrays and small frozen dataclasses in, :class:`Calibration` out.
They raise :class:`~musclethick.errors.CalibrationError` when no trustworthy calibration can
be derived; they never invent a pixel size.

Trust
-----
Every function either returns a pixel size it can stand behind or says why not: an invalid
DICOM delta raises :class:`~musclethick.errors.CalibrationError`; an on-screen ruler that two
independent sources do not confirm (:mod:`musclethick.ruler`) gives a calibration flagged
``calibration_unconfirmed``; a pixel size outside the plausible range
(:mod:`musclethick.plausible`) is flagged ``implausible_calibration``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import CalibrationError
from .ocr import TextReader
from .plausible import DEFAULT_RANGES
from .ruler import ASSUMED_MAJOR_TICK_MM, RulerReading, RulerTicks, find_ruler_ticks, read_ruler
from .types import Calibration, PixelBox

__all__ = [
    "FIX_HINT",
    "IMPLAUSIBLE",
    "PROFILE_MISMATCH",
    "RULER_DISAGREEMENT",
    "RULER_MAJOR_TICK_MM",
    "UNCONFIRMED",
    "UNCONFIRMED_RULER_DISAGREEMENT",
    "RulerTicks",
    "UltrasoundRegion",
    "find_ruler_ticks",
    "from_depth",
    "from_pixel_spacing",
    "from_reading",
    "from_ruler",
    "from_two_points",
    "from_ultrasound_regions",
    "ruler_disagreement",
    "user_checked",
]

#: The flags a calibration can carry (the QC flags that doubt the millimetres, not the
#: boundaries: :data:`musclethick.qc.CALIBRATION_FLAGS`): a pixel size read but not confirmed
#: (a ruler's tick step assumed, a file's pixel size its own ruler contradicts) ...
UNCONFIRMED = "calibration_unconfirmed"
#: ... a pixel size outside the plausible range or a file's calibration that is invalid ...
IMPLAUSIBLE = "implausible_calibration"
#: ... a calibration profile that does not match the capture or that its own ruler contradicts.
PROFILE_MISMATCH = "profile_mismatch"

#: Distance between two major ticks of an on-screen depth ruler when nothing else is known.
RULER_MAJOR_TICK_MM = ASSUMED_MAJOR_TICK_MM

#: A pixel size from a file's tags or a calibration profile and a confirmed reading of the
#: capture's own depth ruler that differ by more than this (relative) contradict each other:
#: the result is flagged (:mod:`musclethick.io.dicom`,
#: :func:`musclethick.io.image.calibrate_capture`).
RULER_DISAGREEMENT = 0.05
#: The same for a reading of the ruler that is not confirmed (e.g. 10 mm per major tick
#: assumed): only a gross disagreement counts (a pixel size off by a factor, as a converter's
#: placeholder or a unit slip gives), since such a reading may itself be off by a tick step.
UNCONFIRMED_RULER_DISAGREEMENT = 0.25


def ruler_disagreement(mm_per_px: float, ruler: Calibration, *, unconfirmed: bool = True) -> str:
    """Why ``mm_per_px`` (from a file's tags or a profile) is contradicted by ``ruler``, the
    reading of the capture's own depth ruler, or ``""``: off by more than
    :data:`RULER_DISAGREEMENT` from a confirmed reading, or (with ``unconfirmed``) more than
    :data:`UNCONFIRMED_RULER_DISAGREEMENT` from an unconfirmed one. A value a person stated
    (a profile from ``--tick-mm``) or a scanner wrote (ultrasound regions) is not doubted for
    an unconfirmed reading: such readings assume a tick step, and are what profiles fix."""
    if not ruler.is_calibrated or ruler.mm_per_px is None:
        return ""
    confirmed = ruler.is_confirmed
    if not confirmed and not unconfirmed:
        return ""
    limit = RULER_DISAGREEMENT if confirmed else UNCONFIRMED_RULER_DISAGREEMENT
    if abs(mm_per_px / ruler.mm_per_px - 1.0) <= limit:
        return ""
    how = "confirmed" if confirmed else "not confirmed, but off by more than a tick step"
    return f"the depth ruler on the image reads {ruler.mm_per_px:.5g} mm/px ({how})"


#: What each source of a file's own pixel size is called in a note.
_OWN_SOURCES = {
    "dicom_region": "the file's ultrasound region",
    "pixel_spacing": "the file's PixelSpacing",
    "ruler": "the depth ruler on the image",
}


def user_checked(
    user: Calibration, own: Calibration | None, *, depth_mm: float | None = None
) -> Calibration:
    """The pixel size a person gave (``--mm-per-px`` / ``--depth-mm``, source ``"user"`` /
    ``"depth"``), flagged ``calibration_unconfirmed`` with both values in the note when the
    file's own calibration contradicts it by more than :data:`RULER_DISAGREEMENT`: a confirmed
    pixel size from its DICOM ultrasound regions, its ``PixelSpacing`` (not the 1 x 1 mm of
    converters) or its on-screen depth ruler (screen captures and videos, and DICOM files
    without a pixel size of their own, which fall back to their ruler), along the beam and,
    where the file's pixels are not square, across it. The given value is still the one used
    (it comes first in the precedence); the flag keeps a value typed for another scanner, or a
    depth misread, from passing as ``ok`` when the file says otherwise. ``own`` ``None`` or
    without a confirmed pixel size: ``user`` as it is. ``depth_mm``: the depth given
    (``--depth-mm``), so that the note also says what depth the file's pixel size means."""
    if own is None or not own.is_confirmed or user.mm_per_px is None:
        return user
    what = _OWN_SOURCES.get(str(own.source))
    if what is None or (own.source == "pixel_spacing" and own.mm_per_px == 1.0):
        return user
    option = "--depth-mm" if user.source == "depth" else "--mm-per-px"
    # both axes: thickness across a sloping muscle and pennation use the width too
    pairs = [("", user.mm_per_px_y, own.mm_per_px_y)]
    if own.mm_per_px_x is not None and own.mm_per_px_x != own.mm_per_px_y:
        pairs.append((" across the beam", user.mm_per_px_x, own.mm_per_px_x))
    for axis, given, file_value in pairs:
        if given is not None and abs(given / file_value - 1.0) > RULER_DISAGREEMENT:
            depth = ""
            if depth_mm is not None and not axis:  # the depth the file's pixel size means
                depth = f" (a depth of {depth_mm * file_value / given:.3g} mm)"
            return user.with_flags(
                UNCONFIRMED,
                note=f"{option} gives {given:.5g} mm/px{axis} but {what} gives "
                f"{file_value:.5g} mm/px{depth}: check which is right (the given value is used)",
            )
    return user


#: DICOM PhysicalUnits{X,Y}Direction code for centimetres.
_UNITS_CM = 3
#: A region box that overruns the pixel data by at most this many pixels is clipped
#: (DICOM writers disagree whether RegionLocationMax is inclusive); more is not trusted.
_MAX_OVERRUN_PX = 2


@dataclass(frozen=True)
class UltrasoundRegion:
    """One item of the DICOM Sequence of Ultrasound Regions (0018,6011).

    Attributes
    ----------
    min_x0, min_y0, max_x1, max_y1 : int
        RegionLocationMinX0 / MinY0 / MaxX1 / MaxY1 (the max corner is *inclusive*).
    spatial_format : int
        RegionSpatialFormat: 1 = 2D (tissue or flow), 2 = M-mode, 3 = spectral, ...
    data_type : int
        RegionDataType: 1 = tissue, 2 = colour flow, ...
    units_x, units_y : int
        PhysicalUnitsX/YDirection: 3 = cm, 0 = none, ...
    delta_x, delta_y : float
        PhysicalDeltaX/Y: physical size of one pixel in ``units_x`` / ``units_y``.
    """

    min_x0: int
    min_y0: int
    max_x1: int
    max_y1: int
    spatial_format: int = 1
    data_type: int = 1
    units_x: int = _UNITS_CM
    units_y: int = _UNITS_CM
    delta_x: float = 0.0
    delta_y: float = 0.0

    @property
    def is_tissue_2d(self) -> bool:
        """A 2D B-mode tissue region (whatever its physical units)."""
        return self.spatial_format == 1 and self.data_type == 1

    def describe(self) -> str:
        return f"({self.min_x0},{self.min_y0})-({self.max_x1},{self.max_y1})"

    def pixel_size_problem(self) -> str:
        """Why the region's pixel size cannot be trusted (``""`` when it can)."""
        low, high = DEFAULT_RANGES.mm_per_px
        axes = (("Y", self.units_y, self.delta_y), ("X", self.units_x, self.delta_x))
        for axis, units, delta in axes:
            if axis == "X" and units == 0 and delta == 0:
                continue  # no horizontal size given: square pixels are assumed
            if units != _UNITS_CM:
                return f"PhysicalUnits{axis}Direction {units} is not 3 (cm)" + (
                    " but none" if units == 0 else ""
                )
            if not _positive(delta):
                return f"PhysicalDelta{axis} {delta!r} cm is not a positive number"
            if not low <= 10.0 * float(delta) <= high:
                return (
                    f"PhysicalDelta{axis} {delta!r} cm ({10.0 * float(delta):g} mm per px) is "
                    f"outside the plausible {low:g}-{high:g} mm for ultrasound"
                )
        return ""


def from_ultrasound_regions(
    regions: Sequence[UltrasoundRegion], *, image_shape: tuple[int, ...]
) -> list[tuple[PixelBox, Calibration]]:
    """Boxes and calibrations of the 2D tissue regions of a DICOM ultrasound image.

    Parameters
    ----------
    regions : sequence of UltrasoundRegion
        Items of the Sequence of Ultrasound Regions, in file order.
    image_shape : tuple of int
        ``(rows, cols, ...)`` of the pixel data the regions should describe.

    Returns
    -------
    list of (PixelBox, Calibration)
        One entry per usable tissue region, left to right as in the file (several regions
        with different spacings each keep their own); empty when the file has no 2D tissue
        region. Source ``"dicom_region"``.

    Raises
    ------
    CalibrationError
        If tissue regions exist but none is usable. A region is usable when its units are cm
        (code 3), its deltas positive, finite and plausible (0.005-2 mm per px), and its
        box fits the pixel data: a box overrunning it by at most 2 px (an
        inclusive/exclusive off-by-one) is clipped and the clipping noted; a box overrunning
        by more (it refers to other pixels, e.g. the image was rescaled or cropped after the
        regions were written) is not trusted. Unusable regions beside usable ones are noted.
    """
    rows, cols = int(image_shape[0]), int(image_shape[1])
    tissue = [r for r in regions if r.is_tissue_2d]
    out: list[tuple[PixelBox, Calibration]] = []
    rejected: list[str] = []
    for region in tissue:
        problem = region.pixel_size_problem()
        if problem:
            rejected.append(f"region {region.describe()}: {problem}")
            continue
        x0, y0 = int(region.min_x0), int(region.min_y0)
        x1, y1 = int(region.max_x1) + 1, int(region.max_y1) + 1  # inclusive -> half-open
        over_x, over_y = max(0, x1 - cols), max(0, y1 - rows)
        if x0 < 0 or y0 < 0 or x0 >= cols or y0 >= rows or x1 <= x0 or y1 <= y0:
            rejected.append(f"region {region.describe()} lies outside the {rows}x{cols} pixels")
            continue
        if over_x > _MAX_OVERRUN_PX or over_y > _MAX_OVERRUN_PX:
            rejected.append(
                f"region {region.describe()} overruns the {rows}x{cols} pixels by "
                f"{over_x} px in x and {over_y} px in y"
            )
            continue
        box = PixelBox(x0, y0, min(x1, cols), min(y1, rows))
        mm_y = float(region.delta_y) * 10.0
        mm_x = float(region.delta_x) * 10.0 if region.units_x == _UNITS_CM else None
        note = f"DICOM ultrasound region {region.describe()}"
        if over_x or over_y:
            note += f" clipped by {over_x} px in x and {over_y} px in y to fit the pixel data"
        out.append((box, Calibration(mm_x, mm_y, "dicom_region", note)))
    if tissue and not out:
        raise CalibrationError("ultrasound region calibration not trusted: " + "; ".join(rejected))
    if rejected and out:
        extra = "; ignored " + "; ".join(rejected)
        out = [
            (box, Calibration(c.mm_per_px_x, c.mm_per_px_y, c.source, c.note + extra))
            for box, c in out
        ]
    return out


def from_pixel_spacing(row_mm: float, col_mm: float, *, note: str = "") -> Calibration:
    """Calibration from DICOM PixelSpacing / ImagerPixelSpacing ``[row, col]`` in mm
    (:class:`CalibrationError` unless both are positive and plausible)."""
    ok = all(
        _positive(v) and DEFAULT_RANGES.contains(DEFAULT_RANGES.mm_per_px, v)
        for v in (row_mm, col_mm)
    )
    if not ok:
        raise CalibrationError(f"invalid or implausible pixel spacing {row_mm!r} x {col_mm!r} mm")
    return Calibration(float(col_mm), float(row_mm), "pixel_spacing", note)


def from_depth(depth_mm: float, *, region_height_px: int) -> Calibration:
    """Square pixels from the depth shown by the imaging region.

    Parameters
    ----------
    depth_mm : float
        Depth from the top to the bottom of the imaging region in mm.
    region_height_px : int
        Height of the imaging region in px.
    """
    if not _positive(depth_mm) or region_height_px <= 0:
        raise CalibrationError(
            f"invalid depth {depth_mm!r} mm over a region of {region_height_px!r} px"
        )
    return Calibration.isotropic(
        depth_mm / region_height_px,
        "depth",
        f"depth {depth_mm:g} mm over {region_height_px} px, square pixels assumed",
    )


def from_two_points(
    p0_xy: tuple[float, float], p1_xy: tuple[float, float], *, distance_mm: float
) -> Calibration:
    """Square pixels from two points ``(x, y)`` ``distance_mm`` apart (source ``"clicked"``)."""
    dist_px = math.hypot(p1_xy[0] - p0_xy[0], p1_xy[1] - p0_xy[1])
    if not _positive(distance_mm) or not dist_px > 0:
        raise CalibrationError(
            f"cannot calibrate from points {p0_xy} and {p1_xy} {distance_mm!r} mm apart"
        )
    return Calibration.isotropic(
        distance_mm / dist_px,
        "clicked",
        f"{distance_mm:g} mm between ({p0_xy[0]:.1f}, {p0_xy[1]:.1f}) and "
        f"({p1_xy[0]:.1f}, {p1_xy[1]:.1f})",
    )


def _positive(value: float) -> bool:
    try:
        return math.isfinite(float(value)) and float(value) > 0
    except (TypeError, ValueError):
        return False


# ----------------------------------------------------------------------------------------
# On-screen ruler (the reader itself is :mod:`musclethick.ruler`)
# ----------------------------------------------------------------------------------------

#: The fix offered with every doubtful pixel size.
FIX_HINT = (
    "give --mm-per-px or --depth-mm, a calibration profile (musclethick calibrate), "
    "or two clicks on the ruler in napari"
)


def from_reading(reading: RulerReading) -> Calibration:
    """Square pixels from a :class:`~musclethick.ruler.RulerReading` (source ``"ruler"``);
    an unconfirmed reading carries the flag ``calibration_unconfirmed`` and the fix."""
    note = reading.describe() + "; square pixels assumed"
    if reading.confirmed:
        return Calibration.isotropic(reading.mm_per_px, "ruler", note)
    return Calibration.isotropic(reading.mm_per_px, "ruler", f"{note}; {FIX_HINT}", (UNCONFIRMED,))


def from_ruler(
    image: np.ndarray, *, region: PixelBox | None = None, reader: TextReader | None = None
) -> Calibration:
    """Square pixels from the on-screen depth ruler of a scanner screen capture.

    Parameters
    ----------
    image : ndarray, shape (rows, cols) or (rows, cols, 3)
        The whole screen capture (not cropped to the imaging region).
    region : PixelBox, optional
        The imaging region; ticks inside it are ignored. Found with
        :func:`musclethick.region.find_imaging_region` when not given.
    reader : TextReader, optional
        OCR engine for the printed numbers (:func:`musclethick.ocr.default_reader`).

    Returns
    -------
    Calibration
        Source ``"ruler"``; flagged ``calibration_unconfirmed`` unless two independent
        sources on screen agree (see :func:`musclethick.ruler.read_ruler`).

    Raises
    ------
    CalibrationError
        If no ruler is found.
    """
    return from_reading(read_ruler(image, region=region, reader=reader))
