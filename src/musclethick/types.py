"""Frozen dataclasses that flow through musclethick's pure core.

Conventions
-----------
* Images are ``(rows, cols)`` arrays; ``x`` is a column index, ``y`` a row index.
* Every length carries its unit in its name (``thickness_px``, ``thickness_mm``,
  ``mm_per_px``).
* A :class:`Frame` holds the pixels of the *imaging region* only (cropped); ``Frame.region``
  says where that crop lies in the original image, so coordinates are converted with
  ``x_original = x + region.x0`` and ``y_original = y + region.y0``.
* Boundaries are the muscle-side (inner) edge of each aponeurosis: the lower edge of the
  superficial one and the upper edge of the deep one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

import numpy as np

from musclethick.errors import InvalidValueError

__all__ = [
    "BOUNDARY_SOURCES",
    "CALIBRATION_SOURCES",
    "PAIR_KINDS",
    "STATUSES",
    "Architecture",
    "Boundary",
    "BoundarySource",
    "Calibration",
    "CalibrationSource",
    "FanGeometry",
    "Fascicle",
    "Frame",
    "FrameResult",
    "LayerPair",
    "LineMeasurement",
    "PairKind",
    "PixelBox",
    "ScanMetadata",
    "Status",
    "offered_pairs",
]

BoundarySource = Literal["edges", "model", "refined", "manual", "runner_up"]
CalibrationSource = Literal[
    "dicom_region",  # Sequence of Ultrasound Regions, PhysicalDeltaX/Y
    "pixel_spacing",  # DICOM PixelSpacing / ImagerPixelSpacing
    "user",  # --mm-per-px
    "depth",  # --depth-mm: depth of the imaging region / its height in px
    "ruler",  # on-screen depth ruler, read automatically
    "clicked",  # two points of known distance clicked by a person
    "profile",  # a calibration profile of the display (written as "profile:NAME")
    "none",  # uncalibrated: report pixels only
]
Status = Literal["ok", "flagged", "failed"]

#: The values of each ``Literal`` above, for validation.
BOUNDARY_SOURCES: tuple[str, ...] = get_args(BoundarySource)
CALIBRATION_SOURCES: tuple[str, ...] = get_args(CalibrationSource)
STATUSES: tuple[str, ...] = get_args(Status)


def _check_choice(owner: str, name: str, value: object, allowed: tuple[str, ...]) -> None:
    """Raise :class:`InvalidValueError` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise InvalidValueError(
            f"{owner}.{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}"
        )


def _check_calibration_source(value: object) -> None:
    """Check a :data:`CalibrationSource`, or ``"profile:NAME"`` (a calibration profile)."""
    if isinstance(value, str) and value.startswith("profile:") and len(value) > len("profile:"):
        return
    allowed = tuple(s for s in CALIBRATION_SOURCES if s != "profile")
    if value not in allowed:
        raise InvalidValueError(
            f"Calibration.source must be one of {', '.join(map(repr, allowed))} or "
            f"'profile:NAME', got {value!r}"
        )


@dataclass(frozen=True)
class Calibration:
    """Physical size of one pixel.

    Attributes
    ----------
    mm_per_px_x, mm_per_px_y : float or None
        Pixel size across (x, columns) and along (y, rows, the beam) the image in mm.
        ``None`` when uncalibrated.
    source : CalibrationSource
        Where the calibration came from, one of :data:`CalibrationSource`, with a profile
        written as ``"profile:NAME"``; anything else raises
        :class:`~musclethick.errors.InvalidValueError`.
    note : str
        Human-readable detail (e.g. which ruler ticks were used), may be empty.
    flags : tuple of str
        Doubts about this pixel size, carried into every result measured with it:
        ``calibration_unconfirmed`` (e.g. a ruler read from unlabelled ticks only),
        ``implausible_calibration`` (a pixel size outside the plausible range, or a file's
        own calibration that was rejected), ``profile_mismatch`` (a capture whose layout
        differs from the calibration profile's). The ``note`` says why and how to fix it.
    """

    mm_per_px_x: float | None = None
    mm_per_px_y: float | None = None
    source: CalibrationSource | str = "none"
    note: str = ""
    flags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Check the source and that pixel sizes are positive and finite (``ValueError``)."""
        _check_calibration_source(self.source)
        for name in ("mm_per_px_x", "mm_per_px_y"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        object.__setattr__(self, "flags", tuple(dict.fromkeys(self.flags)))

    @classmethod
    def uncalibrated(cls, note: str = "", flags: tuple[str, ...] = ()) -> Calibration:
        """Return a calibration that says "pixels only"."""
        return cls(None, None, "none", note, flags)

    @classmethod
    def isotropic(
        cls,
        mm_per_px: float,
        source: CalibrationSource | str,
        note: str = "",
        flags: tuple[str, ...] = (),
    ) -> Calibration:
        """Return a calibration with square pixels of ``mm_per_px``."""
        return cls(float(mm_per_px), float(mm_per_px), source, note, flags)

    @property
    def is_confirmed(self) -> bool:
        """True when calibrated and nothing casts doubt on the pixel size."""
        return self.is_calibrated and not self.flags

    def with_flags(self, *flags: str, note: str = "") -> Calibration:
        """Copy with ``flags`` added and ``note`` appended (``"; "``)."""
        joined = "; ".join(part for part in (self.note, note) if part)
        return replace(self, flags=(*self.flags, *flags), note=joined)

    @property
    def is_calibrated(self) -> bool:
        """True when the vertical (beam) pixel size is known."""
        return self.mm_per_px_y is not None

    @property
    def mm_per_px(self) -> float | None:
        """Pixel size along the beam (rows) in mm: the one thickness uses."""
        return self.mm_per_px_y

    def cropped(self) -> Calibration:
        """Calibration is unchanged by cropping; returned for symmetry with scaling."""
        return self

    def scaled(self, factor_x: float, factor_y: float) -> Calibration:
        """Calibration of the image resized by ``factor_x`` / ``factor_y`` (new px per old px)."""
        if not self.is_calibrated:
            return self
        mx = None if self.mm_per_px_x is None else self.mm_per_px_x / factor_x
        my = None if self.mm_per_px_y is None else self.mm_per_px_y / factor_y
        return Calibration(mx, my, self.source, self.note, self.flags)


@dataclass(frozen=True)
class FanGeometry:
    """Where a convex probe's fan lies in its frame, and its beams laid out as a rectangle.

    The *beam view* is what a fan is measured on (:func:`musclethick.fan.as_beam_view`).

    The beams are straight lines from the apex; in the beam view, row ``i`` is the depth
    ``face_px + i`` from the apex along every beam (1 px of depth per row, so a vertical
    thickness in the beam view is the thickness along the beam) and column ``j`` is the beam
    at angle ``left_rad + j * (right_rad - left_rad) / (beams - 1)`` from the vertical
    (positive to the right). Columns are as far apart as the beams are at the middle depth.

    Attributes
    ----------
    apex_x_px, apex_y_px : float
        The apex in the frame's pixels (``apex_y_px`` is usually negative: above the frame).
    left_rad, right_rad : float
        Angles of the first and last beam measured, from the vertical.
    face_px : float
        Distance from the apex of the beam view's first row (the probe face, a little below).
    depth_px : float
        Depth of the beam view (rows - 1).
    """

    apex_x_px: float
    apex_y_px: float
    left_rad: float
    right_rad: float
    face_px: float
    depth_px: float

    def __post_init__(self) -> None:
        """Check the angles increase and the radii are positive (``ValueError``)."""
        if not self.right_rad > self.left_rad:
            raise ValueError("FanGeometry: right_rad must be larger than left_rad")
        if not (self.face_px > 0 and self.depth_px > 0):
            raise ValueError("FanGeometry: face_px and depth_px must be positive")

    @property
    def rows(self) -> int:
        """Rows of the beam view."""
        return math.floor(self.depth_px) + 1

    @property
    def beams(self) -> int:
        """Columns (beams) of the beam view: about 1 px apart at the middle depth."""
        return max(2, round((self.right_rad - self.left_rad) * self.middle_px) + 1)

    @property
    def middle_px(self) -> float:
        """Distance from the apex of the beam view's middle row."""
        return self.face_px + 0.5 * self.depth_px

    @property
    def column_px(self) -> float:
        """Frame pixels between neighbouring beams at the middle depth (close to 1)."""
        return (self.right_rad - self.left_rad) * self.middle_px / (self.beams - 1)

    def angle_rad(self, x: np.ndarray) -> np.ndarray:
        """Angle from the vertical of the beam at beam-view column ``x``."""
        step = (self.right_rad - self.left_rad) / (self.beams - 1)
        return self.left_rad + np.asarray(x, dtype=np.float64) * step

    def to_frame(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Beam-view points ``(x = column, y = row)`` in the frame's pixels."""
        angle = self.angle_rad(x)
        radius = self.face_px + np.asarray(y, dtype=np.float64)
        return (
            self.apex_x_px + radius * np.sin(angle),
            self.apex_y_px + radius * np.cos(angle),
        )

    def describe(self) -> str:
        """One line for notes: the fan's angle, where its apex is, the beam view's size."""
        return (
            f"a convex probe's fan of {math.degrees(self.right_rad - self.left_rad):.1f} degrees "
            f"(apex {-self.apex_y_px:.0f} px above the imaging region), measured on its "
            f"{self.beams} beams laid side by side: thickness along the beam"
        )


@dataclass(frozen=True)
class PixelBox:
    """Half-open pixel box ``[x0, x1) x [y0, y1)`` in original image coordinates."""

    x0: int
    y0: int
    x1: int
    y1: int

    def __post_init__(self) -> None:
        """Refuse an empty box (``ValueError``)."""
        if self.x1 <= self.x0 or self.y1 <= self.y0:
            raise ValueError(f"empty PixelBox {self!r}")

    @property
    def width(self) -> int:
        """Width in px (``x1 - x0``)."""
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        """Height in px (``y1 - y0``)."""
        return self.y1 - self.y0

    @classmethod
    def full(cls, shape: tuple[int, ...]) -> PixelBox:
        """Box covering a whole image of ``shape`` ``(rows, cols, ...)``."""
        return cls(0, 0, int(shape[1]), int(shape[0]))

    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices that crop an image to this box."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


@dataclass(frozen=True)
class ScanMetadata:
    """Metadata a study needs, read from DICOM where available (empty strings otherwise)."""

    patient_id: str = ""
    patient_name: str = ""
    study_date: str = ""  # YYYYMMDD
    study_time: str = ""  # HHMMSS(.ffffff)
    series_description: str = ""
    laterality: str = ""  # "L", "R" or ""
    manufacturer: str = ""
    model_name: str = ""
    transducer: str = ""
    modality: str = ""
    frame_time_ms: float | None = None
    n_frames: int = 1


@dataclass(frozen=True, eq=False)
class Frame:
    """One 2-D ultrasound image, cropped to its imaging region.

    Attributes
    ----------
    pixels : ndarray of uint8, shape (rows, cols)
        Grey levels of the imaging region. Other dtypes (bool, 16-bit, float) are converted
        on construction by the package's one pixel conversion,
        :func:`musclethick.io.to_grey_uint8` (e.g. float in [0, 1] -> x 255, uint16
        up to 4095 -> x 255 / 4095, above -> x 255 / 65535); values that fit none of its rules raise
        :class:`~musclethick.errors.InputError`.
    path : str
        File the frame came from.
    frame_index : int
        Index of the frame in a multi-frame file (0 for single images).
    region : PixelBox
        Where ``pixels`` lie in the original image.
    calibration : Calibration
        Physical pixel size of ``pixels``.
    metadata : ScanMetadata
        Scan metadata.
    time_s : float or None
        Time of the frame from the start of a cine loop.
    region_index : int
        Index of the tissue region when one file holds several side by side.
    original_shape : tuple of int
        ``(rows, cols)`` of the original, uncropped image.
    fan : FanGeometry or None
        For a convex probe's fan: ``pixels`` are its beam view (the fan laid out as a
        rectangle of beams, :class:`FanGeometry`) and this is where the fan lies in
        ``region``; ``None`` for a rectangular image.
    turned : bool
        ``pixels`` are the imaging region turned upside down (its rows in reverse order), as
        asked for a study captured with the skin at the bottom (``--upside-down``): the frame
        is measured upright, and :func:`musclethick.report.capture_placer` places its points
        back in the capture.
    marks_px : int
        Pixels of coloured marks drawn in the image (calipers, cursors, boxes) painted out of
        ``pixels`` before measuring (:mod:`musclethick.colour_marks`); 0 when none.
    """

    pixels: np.ndarray
    path: str
    frame_index: int = 0
    region: PixelBox | None = None
    calibration: Calibration = field(default_factory=Calibration.uncalibrated)
    metadata: ScanMetadata = field(default_factory=ScanMetadata)
    time_s: float | None = None
    region_index: int = 0
    original_shape: tuple[int, int] | None = None
    fan: FanGeometry | None = None
    turned: bool = False
    marks_px: int = 0

    def __post_init__(self) -> None:
        """Check the pixels are 2-D (``ValueError``), convert them to uint8, fill in the region."""
        if self.pixels.ndim != 2:
            raise ValueError(
                f"Frame.pixels must be 2-D (rows, cols), got shape {self.pixels.shape}"
            )
        if self.pixels.dtype != np.uint8:
            from musclethick.io._pixels import to_grey_uint8

            object.__setattr__(self, "pixels", to_grey_uint8(self.pixels))
        if self.region is None:
            object.__setattr__(self, "region", PixelBox.full(self.pixels.shape))
        if self.original_shape is None:
            object.__setattr__(self, "original_shape", (int(self.region.y1), int(self.region.x1)))

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the pixels."""
        return (int(self.pixels.shape[0]), int(self.pixels.shape[1]))


@dataclass(frozen=True, eq=False)
class Boundary:
    """Muscle-side edge of one aponeurosis as a polyline in frame (cropped) coordinates.

    Attributes
    ----------
    x_px : ndarray of float, shape (n,)
        Columns, strictly increasing.
    y_px : ndarray of float, shape (n,)
        Rows of the inner edge at ``x_px`` (sub-pixel).
    source : BoundarySource
        Where the polyline came from: ``"edges"`` (classical edge path), ``"model"``,
        ``"refined"`` (a model boundary refined on the image's edges), ``"manual"`` (drawn
        or moved by a person) or ``"runner_up"`` (the model's next most plausible pair).
        Required: there is no default provenance. Any other value raises
        :class:`~musclethick.errors.InvalidValueError`.
    confidence : float
        0 (no evidence) to 1 (certain).
    """

    x_px: np.ndarray
    y_px: np.ndarray
    source: BoundarySource
    confidence: float = 1.0

    def __post_init__(self) -> None:
        """Check the source and the polyline (``ValueError``); store them as float64 arrays."""
        _check_choice("Boundary", "source", self.source, BOUNDARY_SOURCES)
        x = np.asarray(self.x_px, dtype=np.float64).reshape(-1)
        y = np.asarray(self.y_px, dtype=np.float64).reshape(-1)
        if x.shape != y.shape:
            raise ValueError("Boundary x_px and y_px must have the same length")
        if x.size < 2:
            raise ValueError("Boundary needs at least two points")
        if np.any(np.diff(x) <= 0):
            raise ValueError("Boundary x_px must be strictly increasing")
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise ValueError("Boundary coordinates must be finite")
        if not 0.0 <= float(self.confidence) <= 1.0:
            raise ValueError(f"Boundary confidence must be in [0, 1], got {self.confidence}")
        object.__setattr__(self, "x_px", x)
        object.__setattr__(self, "y_px", y)
        object.__setattr__(self, "confidence", float(self.confidence))

    @property
    def x_min(self) -> float:
        """First x (column) of the polyline, px."""
        return float(self.x_px[0])

    @property
    def x_max(self) -> float:
        """Last x (column) of the polyline, px."""
        return float(self.x_px[-1])

    def y_at(self, x_px: np.ndarray | float) -> np.ndarray:
        """Row of the boundary at columns ``x_px`` (linear interpolation, NaN outside)."""
        x = np.asarray(x_px, dtype=np.float64)
        y = np.interp(x, self.x_px, self.y_px)
        return np.where((x >= self.x_min) & (x <= self.x_max), y, np.nan)

    def with_source(self, source: BoundarySource, confidence: float | None = None) -> Boundary:
        """Copy with another source (and optionally confidence)."""
        return Boundary(
            self.x_px, self.y_px, source, self.confidence if confidence is None else confidence
        )

    def shifted(self, dx_px: float, dy_px: float) -> Boundary:
        """Copy translated by ``(dx_px, dy_px)`` (e.g. frame -> original coordinates)."""
        return Boundary(self.x_px + dx_px, self.y_px + dy_px, self.source, self.confidence)

    def to_points(self) -> list[list[float]]:
        """``[[x, y], ...]`` as plain floats (for JSON)."""
        return [[float(a), float(b)] for a, b in zip(self.x_px, self.y_px, strict=True)]


#: Where a layer pair offered in review comes from: ``"layers"`` the layer map's own
#: runner-up (:mod:`musclethick.segment.postprocess`), ``"bands"`` a pair of the frame's bright
#: bands ranked by the layer map (:mod:`musclethick.segment.band_pairs`), ``"upside_down"``
#: the pair measured on the frame turned upside down (a frame flagged ``upside_down``); in
#: review, after a swap, ``"model"`` the model's own pair and ``"shown"`` a reviewer's edit
#: shown before.
PairKind = Literal["layers", "bands", "model", "shown", "upside_down"]
PAIR_KINDS: tuple[str, ...] = get_args(PairKind)


@dataclass(frozen=True, eq=False)
class LayerPair:
    """A pair of inner edges the model found nearly as plausible as the one measured.

    The runner-up layer pair a reviewer can swap to with one key.

    Attributes
    ----------
    superficial, deep : Boundary
        Inner edges in frame coordinates (source ``"runner_up"``).
    margin_nats : float
        How much less likely the model found this pair than the measured one (median over
        columns of the log-likelihood difference; small = nearly as plausible). Finite.
    kind : {"layers", "bands", "model", "shown"}
        Where the pair comes from (:data:`PAIR_KINDS`).
    """

    superficial: Boundary
    deep: Boundary
    margin_nats: float = 0.0
    kind: PairKind = "layers"

    def __post_init__(self) -> None:
        """Check the kind and the margin (:class:`~musclethick.errors.InvalidValueError`)."""
        _check_choice("LayerPair", "kind", self.kind, PAIR_KINDS)
        if not math.isfinite(float(self.margin_nats)):
            raise InvalidValueError(f"LayerPair margin_nats must be finite, got {self.margin_nats}")


def offered_pairs(
    runner_up: LayerPair | None, other_pairs: Sequence[LayerPair]
) -> tuple[LayerPair, ...]:
    """Every pair review's runner-up key shows, in order: the runner-up, then the others."""
    return (*([runner_up] if runner_up is not None else []), *other_pairs)


@dataclass(frozen=True)
class LineMeasurement:
    """Thickness along one measurement line (a column of the frame).

    ``thickness_px`` is the vertical (beam) distance between the two inner edges;
    ``perpendicular_px`` is the distance measured perpendicular to the deep aponeurosis.
    The ``_mm`` values are ``None`` when the frame is uncalibrated.
    """

    line: str
    x_px: float
    y_superficial_px: float
    y_deep_px: float
    thickness_px: float
    thickness_mm: float | None
    perpendicular_px: float | None = None
    perpendicular_mm: float | None = None


@dataclass(frozen=True, eq=False)
class FrameResult:
    """Everything measured on one frame.

    ``status`` (a :data:`Status`) is ``"ok"``, ``"flagged"`` (written, but a QC check failed:
    see ``flags`` and ``message``) or ``"failed"`` (nothing measured: ``message`` says why);
    any other value raises :class:`~musclethick.errors.InvalidValueError`. ``method`` (how the
    boundaries were found: ``"model"``, ``"edges"``, ``"manual"``, ``"runner_up"``, or ``""``
    when nothing was measured) is required and keyword-only: there is no default provenance.
    ``runner_up`` is the layer pair the model found next most plausible (``None`` when there
    is none, e.g. for the classical edge path); ``other_pairs`` are the pairs after it that
    review's runner-up key cycles through (a result whose boundaries are doubted: the frame's
    band pairs). ``architecture`` holds pennation angle and fascicle length when they were
    asked for (:mod:`musclethick.architecture`), else ``None``. ``model_version`` names what
    measured it: the model's version (a fine-tuned model has its own), or the classical edge
    path's ``edges-<release>+edge-classifier-v<N>``; ``""`` when unknown. ``fan`` is the
    frame's :attr:`Frame.fan`: the boundaries, lines and fascicles of a convex probe's fan are
    in its beam view's pixels (:meth:`FanGeometry.to_frame` places them in the fan).
    ``turned`` is the frame's :attr:`Frame.turned`: its points are in the frame turned
    upright, rows counted from the capture's bottom.
    """

    path: str
    frame_index: int
    region: PixelBox
    calibration: Calibration
    superficial: Boundary | None
    deep: Boundary | None
    lines: tuple[LineMeasurement, ...]
    echo_intensity: float | None
    confidence: float
    status: Status
    flags: tuple[str, ...] = ()
    message: str = ""
    method: str = field(kw_only=True)
    region_index: int = 0
    time_s: float | None = None
    metadata: ScanMetadata = field(default_factory=ScanMetadata)
    runner_up: LayerPair | None = None
    architecture: Architecture | None = None
    model_version: str = ""
    other_pairs: tuple[LayerPair, ...] = ()
    fan: FanGeometry | None = None
    turned: bool = False

    def __post_init__(self) -> None:
        """Check the status (:class:`~musclethick.errors.InvalidValueError`)."""
        _check_choice("FrameResult", "status", self.status, STATUSES)

    @property
    def offered_pairs(self) -> tuple[LayerPair, ...]:
        """:attr:`runner_up`, then :attr:`other_pairs` (:func:`offered_pairs`)."""
        return offered_pairs(self.runner_up, self.other_pairs)

    @property
    def measured_pair(self) -> tuple[Boundary, Boundary] | None:
        """``(superficial, deep)``, or ``None`` when a boundary is missing.

        The pair that other layer pairs are offered beside (and must differ from).
        """
        if self.superficial is None or self.deep is None:
            return None
        return self.superficial, self.deep

    @property
    def mean_thickness_mm(self) -> float | None:
        """Thickness of the ``"mean"`` line in mm (``None`` if absent or uncalibrated)."""
        for line in self.lines:
            if line.line == "mean":
                return line.thickness_mm
        return None

    @property
    def mean_thickness_px(self) -> float | None:
        """Thickness of the ``"mean"`` line in px (``None`` if absent)."""
        for line in self.lines:
            if line.line == "mean":
                return line.thickness_px
        return None


@dataclass(frozen=True)
class Fascicle:
    """One fascicle as a straight segment in frame (cropped) coordinates.

    The segment is the part of the fascicle that was seen (detected in the image or traced by
    a person); its line, extended to both aponeuroses, is what architecture measures.

    Attributes
    ----------
    x0_px, y0_px, x1_px, y1_px : float
        End points (column, row) of the segment; they must differ.
    source : str
        ``"detected"`` (found in the image) or ``"manual"`` (drawn or moved by a person).
    weight : float
        Evidence of this fascicle, > 0 (1 for a manual one): the weight of its direction in
        the dominant direction of the frame.
    """

    x0_px: float
    y0_px: float
    x1_px: float
    y1_px: float
    source: str = "detected"
    weight: float = 1.0

    def __post_init__(self) -> None:
        """Refuse non-finite or coincident end points and a weight <= 0 (``ValueError``)."""
        values = (self.x0_px, self.y0_px, self.x1_px, self.y1_px, self.weight)
        if not all(math.isfinite(float(v)) for v in values):
            raise ValueError("Fascicle coordinates and weight must be finite")
        if self.x0_px == self.x1_px and self.y0_px == self.y1_px:
            raise ValueError("a Fascicle needs two different end points")
        if not float(self.weight) > 0:
            raise ValueError(f"Fascicle weight must be > 0, got {self.weight}")
        for name in ("x0_px", "y0_px", "x1_px", "y1_px", "weight"):
            object.__setattr__(self, name, float(getattr(self, name)))

    def shifted(self, dx_px: float, dy_px: float) -> Fascicle:
        """Copy translated by ``(dx_px, dy_px)`` (e.g. frame -> original coordinates)."""
        return replace(
            self,
            x0_px=self.x0_px + dx_px,
            y0_px=self.y0_px + dy_px,
            x1_px=self.x1_px + dx_px,
            y1_px=self.y1_px + dy_px,
        )

    def to_points(self) -> list[list[float]]:
        """``[[x0, y0], [x1, y1]]`` as plain floats (for JSON)."""
        return [[self.x0_px, self.y0_px], [self.x1_px, self.y1_px]]


@dataclass(frozen=True)
class Architecture:
    """Muscle architecture of one frame: pennation angle and fascicle length.

    Angles are in degrees and lengths in mm (or px), measured in physical space when the
    frame is calibrated (anisotropic pixels handled), in pixels otherwise.

    Attributes
    ----------
    pennation_deg : float or None
        Angle between the dominant fascicle direction and the deep aponeurosis where the
        fascicle line through the belly's centre meets it (``None``: no fascicles seen).
    pennation_superficial_deg : float or None
        The same against the superficial aponeurosis.
    fascicle_length_px, fascicle_length_mm : float or None
        Length of that line between the two aponeuroses (extrapolated outside the image);
        mm ``None`` when uncalibrated.
    extrapolated_fraction : float or None
        Share (0-1) of that length lying outside the image.
    n_fascicles : int
        Fascicles the dominant direction was taken from.
    spread_deg : float or None
        Weighted standard deviation of their directions.
    confidence : float
        0 (no fascicle evidence) to 1.
    fascicles : tuple of Fascicle
        The fascicles used (frame coordinates).
    line : tuple of float or None
        ``(x_superficial, y_superficial, x_deep, y_deep)``: the fascicle-length line from
        its superficial to its deep end, in frame pixels (outside the frame when
        extrapolated).
    flags : tuple of str
        ``no_fascicles``, ``low_fascicle_confidence``, ``long_extrapolation``,
        ``no_insertion`` (see :data:`musclethick.architecture.ARCHITECTURE_FLAGS`).
    method : str
        ``"ridges"`` (found in the image) or ``"manual"`` (fascicles edited by a person).
    """

    pennation_deg: float | None
    pennation_superficial_deg: float | None
    fascicle_length_px: float | None
    fascicle_length_mm: float | None
    extrapolated_fraction: float | None
    n_fascicles: int
    spread_deg: float | None
    confidence: float
    fascicles: tuple[Fascicle, ...] = ()
    line: tuple[float, float, float, float] | None = None
    flags: tuple[str, ...] = ()
    method: str = "ridges"

    def shifted(self, dx_px: float, dy_px: float) -> Architecture:
        """Copy with fascicles and line translated by ``(dx_px, dy_px)``."""
        line = self.line
        if line is not None:
            line = (line[0] + dx_px, line[1] + dy_px, line[2] + dx_px, line[3] + dy_px)
        return replace(
            self, fascicles=tuple(f.shifted(dx_px, dy_px) for f in self.fascicles), line=line
        )
