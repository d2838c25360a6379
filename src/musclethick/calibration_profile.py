"""Calibration profiles: a display calibrated once, reused for every capture of a study.

A profile is a small TOML file written by ``musclethick calibrate`` (or the napari ruler
widget) and read by ``measure`` / ``batch`` (``--calibration PROFILE``)::

    [profile]
    name = "logiq_msk_4cm"
    version = 1
    created = "2025-01-31T10:12:00"

    [layout]                      # the display's fingerprint
    image_size = [800, 652]       # width, height in px
    imaging_box = [136, 129, 511, 600]   # x0, y0, x1, y1 (half-open)
    tick_spacing_px = 39.31       # distance between neighbouring ruler ticks (optional)

    [calibration]
    mm_per_px = 0.12721
    method = "ruler: 13 ticks every 39.31 px, 5 mm per tick stated by the user"
    confirmed_by = "JD"
    scan = "S01/week0/L_VL50_1.png"

A capture *matches* the profile when it has the same size, its imaging box lies within 3 %
of the profile's (box detection moves with the image content), and, when the profile
records a tick spacing, its ruler ticks are within 1 % of it (a different depth setting
changes the ticks but not the box). Matching captures get the profile's pixel size (source
``profile:NAME``); others are flagged ``profile_mismatch`` with what differs.

Parsing, matching and writing are pure; :func:`load_profile` / :func:`save_profile` do the IO.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CalibrationError
from .plausible import DEFAULT_RANGES
from .types import Calibration, PixelBox

__all__ = [
    "AUTOMATIC_METHOD",
    "BOX_TOLERANCE",
    "TICK_TOLERANCE",
    "CalibrationProfile",
    "Layout",
    "apply_profile",
    "dump_profile",
    "layout_of",
    "load_profile",
    "mismatch",
    "parse_profile",
    "profile_from_capture",
    "profile_from_points",
    "save_profile",
]

PROFILE_VERSION = 1
#: Largest shift of an imaging-box edge, as a fraction of the image size, that still matches.
BOX_TOLERANCE = 0.03
#: Largest relative difference of the tick spacing that still matches.
TICK_TOLERANCE = 0.01
#: How a profile read from the ruler with no person's scale begins its ``method``.
AUTOMATIC_METHOD = "ruler read automatically"


@dataclass(frozen=True)
class Layout:
    """Fingerprint of a scanner display.

    Attributes
    ----------
    width_px, height_px : int
        Size of the capture.
    box : PixelBox
        Imaging region.
    tick_spacing_px : float or None
        Distance between neighbouring ruler ticks (minor included), when a ruler was found.
    """

    width_px: int
    height_px: int
    box: PixelBox
    tick_spacing_px: float | None = None


@dataclass(frozen=True)
class CalibrationProfile:
    """A calibrated display.

    Attributes
    ----------
    name : str
        Short name, recorded as ``calibration_source = "profile:NAME"``.
    layout : Layout
        The display's fingerprint.
    mm_per_px : float
        Pixel size (square pixels).
    method : str
        How it was obtained.
    confirmed_by : str
        Who confirmed it (a person, or ``"automatic"`` when two sources on screen agreed).
    scan : str
        The capture it was made from.
    created : str
        ISO time of creation.
    source : str
        File it was read from (empty for a new profile).
    """

    name: str
    layout: Layout
    mm_per_px: float
    method: str
    confirmed_by: str
    scan: str = ""
    created: str = ""
    source: str = ""

    @property
    def is_automatic(self) -> bool:
        """Whether the pixel size was read from the ruler with no person's scale (a misread
        then has nothing but the capture's own ruler to contradict it)."""
        return self.method.startswith(AUTOMATIC_METHOD)


def layout_of(image: np.ndarray, *, box: PixelBox | None = None) -> Layout:
    """Fingerprint of a capture (imaging region found when ``box`` is not given)."""
    from .region import find_imaging_region
    from .ruler import find_ruler_ticks

    a = np.asarray(image)
    if box is None:
        box = find_imaging_region(a)
    try:
        spacing: float | None = find_ruler_ticks(a, region=box).fine_spacing_px
    except CalibrationError:
        spacing = None
    return Layout(int(a.shape[1]), int(a.shape[0]), box, spacing)


def mismatch(profile: CalibrationProfile, layout: Layout) -> str:
    """What differs between the profile's display and ``layout`` (``""`` when they match)."""
    ref = profile.layout
    if (ref.width_px, ref.height_px) != (layout.width_px, layout.height_px):
        return (
            f"capture is {layout.width_px}x{layout.height_px} px, the profile's display "
            f"{ref.width_px}x{ref.height_px}"
        )
    a, b = ref.box, layout.box
    tol_x, tol_y = BOX_TOLERANCE * ref.width_px, BOX_TOLERANCE * ref.height_px
    if (
        abs(a.x0 - b.x0) > tol_x
        or abs(a.x1 - b.x1) > tol_x
        or abs(a.y0 - b.y0) > tol_y
        or abs(a.y1 - b.y1) > tol_y
    ):
        return (
            f"imaging area ({b.x0},{b.y0})-({b.x1},{b.y1}) differs from the profile's "
            f"({a.x0},{a.y0})-({a.x1},{a.y1})"
        )
    if ref.tick_spacing_px is not None:
        if layout.tick_spacing_px is None:
            return "no ruler ticks found where the profile's display has them"
        if abs(layout.tick_spacing_px / ref.tick_spacing_px - 1.0) > TICK_TOLERANCE:
            return (
                f"ruler ticks every {layout.tick_spacing_px:.2f} px, the profile's every "
                f"{ref.tick_spacing_px:.2f} px (another depth setting?)"
            )
    return ""


def apply_profile(profile: CalibrationProfile, layout: Layout) -> Calibration | str:
    """The profile's calibration for a capture of ``layout``, or why it does not apply."""
    why = mismatch(profile, layout)
    if why:
        return why
    note = f"profile {profile.source or profile.name}: {profile.method}; confirmed by " + (
        profile.confirmed_by or "nobody"
    )
    return Calibration.isotropic(profile.mm_per_px, f"profile:{profile.name}", note)


def profile_from_capture(
    grey: np.ndarray,
    *,
    name: str,
    scan: str = "",
    reader: Any = None,
    tick_mm: float | None = None,
    mm_per_px: float | None = None,
    depth_mm: float | None = None,
    confirmed_by: str = "",
    created: str = "",
) -> tuple[CalibrationProfile | None, Any, PixelBox, str]:
    """Calibrate a display from one capture.

    Automatic unless the person states the scale: ``mm_per_px``, ``depth_mm`` (of the
    imaging area) or ``tick_mm`` (mm between neighbouring ticks of the on-screen ruler).
    An automatic calibration needs a confirmed ruler reading
    (:func:`musclethick.ruler.read_ruler`).

    Returns
    -------
    (CalibrationProfile or None, RulerReading or None, PixelBox, str)
        The profile (``None`` when none can be trusted), the ruler reading, the imaging
        area, and a one-line message (what was done, or why not and how to fix it).
    """
    from .region import find_imaging_region
    from .ruler import AGREEMENT_TOLERANCE, read_ruler

    a = np.asarray(grey)
    box = find_imaging_region(a)
    try:
        reading = read_ruler(a, region=box, reader=reader)
        ruler_error = ""
    except CalibrationError as error:
        reading, ruler_error = None, str(error)
    spacing = reading.ticks.fine_spacing_px if reading is not None else None
    layout = Layout(int(a.shape[1]), int(a.shape[0]), box, spacing)
    who = confirmed_by.strip()
    if mm_per_px is not None:
        value, method, who = mm_per_px, "mm per px given by the user", who or "user"
    elif depth_mm is not None:
        value = depth_mm / box.height
        method = f"depth {depth_mm:g} mm over the {box.height} px imaging area, given by the user"
        who = who or "user"
    elif tick_mm is not None:
        if reading is None:
            return None, None, box, f"--tick-mm needs ruler ticks: {ruler_error}"
        value = tick_mm / reading.ticks.fine_spacing_px
        method = (
            f"ruler: {len(reading.ticks.tick_y_px)} ticks every "
            f"{reading.ticks.fine_spacing_px:.2f} px, {tick_mm:g} mm per tick given by the user"
        )
        who = who or "user"
    elif reading is None:
        return (
            None,
            None,
            box,
            (f"no on-screen ruler ({ruler_error}): give --mm-per-px or --depth-mm"),
        )
    elif not reading.confirmed:
        return (
            None,
            reading,
            box,
            (
                f"ruler reading unconfirmed ({reading.reason}): check the overlay and give "
                "--tick-mm (mm between neighbouring ticks), --depth-mm or --mm-per-px"
            ),
        )
    else:
        value = reading.mm_per_px
        labels = ", ".join(lab.text for lab in reading.labels)
        method = f"{AUTOMATIC_METHOD}: {reading.reason}" + (
            f" (numbers {labels})" if labels else ""
        )
        who = who or "automatic (two sources on screen agree)"
    if not DEFAULT_RANGES.contains(DEFAULT_RANGES.mm_per_px, value):
        low, high = DEFAULT_RANGES.mm_per_px
        return (
            None,
            reading,
            box,
            (f"{value:g} mm per px is outside the plausible {low:g}-{high:g} mm"),
        )
    message = f"{value:.6g} mm/px ({method})"
    if (
        reading is not None
        and reading.confirmed
        and abs(value / reading.mm_per_px - 1.0) > AGREEMENT_TOLERANCE
    ):
        message += (
            f"; warning: the ruler on screen reads {reading.mm_per_px:.6g} mm/px ({reading.reason})"
        )
    profile = CalibrationProfile(
        name=name,
        layout=layout,
        mm_per_px=float(value),
        method=method,
        confirmed_by=who,
        scan=scan,
        created=created,
    )
    return profile, reading, box, message


def profile_from_points(
    grey: np.ndarray,
    p0_xy: tuple[float, float],
    p1_xy: tuple[float, float],
    *,
    distance_mm: float,
    name: str,
    confirmed_by: str,
    scan: str = "",
    created: str = "",
) -> CalibrationProfile:
    """A profile from two points clicked on the display's ruler ``distance_mm`` apart.

    Parameters
    ----------
    grey : ndarray, shape (rows, cols)
        The whole capture the points were clicked on.
    p0_xy, p1_xy : tuple of float
        The points ``(x, y)`` in capture pixels (e.g. two labelled ticks).
    distance_mm : float
        Their distance as printed on the ruler.
    name, confirmed_by, scan, created : str
        Provenance (``confirmed_by`` is the person who clicked).

    Raises
    ------
    CalibrationError
        Coincident points, a non-positive distance, an implausible pixel size, or no name
        of who confirmed it.
    """
    from .calibration import from_two_points

    if not confirmed_by.strip():
        raise CalibrationError("two-click calibration: say who clicked (confirmed by)")
    cal = from_two_points(p0_xy, p1_xy, distance_mm=distance_mm)
    if not DEFAULT_RANGES.contains(DEFAULT_RANGES.mm_per_px, cal.mm_per_px):
        low, high = DEFAULT_RANGES.mm_per_px
        raise CalibrationError(
            f"two-click calibration: {cal.mm_per_px:g} mm per px is outside the plausible "
            f"{low:g}-{high:g} mm (points too close, or the wrong distance?)"
        )
    return CalibrationProfile(
        name=name,
        layout=layout_of(grey),
        mm_per_px=float(cal.mm_per_px),
        method=f"two clicks on the ruler: {cal.note}",
        confirmed_by=confirmed_by.strip(),
        scan=scan,
        created=created,
    )


# ---------------------------------------------------------------------------------------
# TOML
# ---------------------------------------------------------------------------------------


def _fail(source: str, key: str, problem: str) -> CalibrationError:
    return CalibrationError(f"{source}: calibration profile key '{key}' {problem}")


def _number(data: dict[str, Any], key: str, source: str, *, required: bool = True) -> Any:
    value = data.get(key.split(".")[-1])
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(source, key, f"must be a number, got {value!r}")
    return value


def _ints(data: dict[str, Any], key: str, n: int, source: str) -> list[int]:
    value = data.get(key.split(".")[-1])
    if (
        not isinstance(value, list)
        or len(value) != n
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise _fail(source, key, f"must be a list of {n} integers, got {value!r}")
    return value


def _text(data: dict[str, Any], key: str, source: str, *, required: bool = False) -> str:
    value = data.get(key.split(".")[-1], "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise _fail(source, key, f"must be a non-empty string, got {value!r}")
    return value.strip()


def parse_profile(data: dict[str, Any], *, source: str = "<profile>") -> CalibrationProfile:
    """Validate a parsed TOML document (:func:`tomllib.loads`) and build the profile.

    Raises
    ------
    CalibrationError
        One line naming ``source`` and the first invalid key.
    """
    for section in ("profile", "layout", "calibration"):
        if not isinstance(data.get(section), dict):
            raise _fail(source, section, "is missing (a [" + section + "] table)")
    head, lay, cal = data["profile"], data["layout"], data["calibration"]
    version = _number(head, "profile.version", source)
    if version != PROFILE_VERSION:
        raise _fail(source, "profile.version", f"must be {PROFILE_VERSION}, got {version!r}")
    width, height = _ints(lay, "layout.image_size", 2, source)
    x0, y0, x1, y1 = _ints(lay, "layout.imaging_box", 4, source)
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise _fail(source, "layout.imaging_box", f"does not fit a {width}x{height} image")
    spacing = _number(lay, "layout.tick_spacing_px", source, required=False)
    if spacing is not None and spacing <= 0:
        raise _fail(source, "layout.tick_spacing_px", f"must be positive, got {spacing!r}")
    mm_per_px = float(_number(cal, "calibration.mm_per_px", source))
    if not DEFAULT_RANGES.contains(DEFAULT_RANGES.mm_per_px, mm_per_px):
        low, high = DEFAULT_RANGES.mm_per_px
        raise _fail(
            source, "calibration.mm_per_px", f"{mm_per_px!r} is outside {low:g}-{high:g} mm"
        )
    return CalibrationProfile(
        name=_text(head, "profile.name", source, required=True),
        layout=Layout(width, height, PixelBox(x0, y0, x1, y1), spacing),
        mm_per_px=mm_per_px,
        method=_text(cal, "calibration.method", source, required=True),
        confirmed_by=_text(cal, "calibration.confirmed_by", source, required=True),
        scan=_text(cal, "calibration.scan", source),
        created=_text(head, "profile.created", source),
        source=source,
    )


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dump_profile(profile: CalibrationProfile) -> str:
    """TOML text of ``profile`` (read back by :func:`parse_profile`)."""
    lay = profile.layout
    b = lay.box
    lines = [
        "# musclethick calibration profile: one scanner display, one depth setting.",
        "[profile]",
        f"name = {_quote(profile.name)}",
        f"version = {PROFILE_VERSION}",
        f"created = {_quote(profile.created)}",
        "",
        "[layout]",
        f"image_size = [{lay.width_px}, {lay.height_px}]",
        f"imaging_box = [{b.x0}, {b.y0}, {b.x1}, {b.y1}]",
    ]
    if lay.tick_spacing_px is not None:
        lines.append(f"tick_spacing_px = {lay.tick_spacing_px:.3f}")
    lines += [
        "",
        "[calibration]",
        f"mm_per_px = {profile.mm_per_px:.7g}",
        f"method = {_quote(profile.method)}",
        f"confirmed_by = {_quote(profile.confirmed_by)}",
        f"scan = {_quote(profile.scan)}",
        "",
    ]
    return "\n".join(lines)


def load_profile(path: str | Path) -> CalibrationProfile:
    """Read and validate a profile file (:class:`CalibrationError` naming the file)."""
    path = Path(path)
    if not path.is_file():
        raise CalibrationError(f"{path}: calibration profile not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CalibrationError(f"{path}: not a valid TOML calibration profile ({error})") from None
    return parse_profile(data, source=str(path))


def save_profile(profile: CalibrationProfile, path: str | Path) -> CalibrationProfile:
    """Write ``profile`` to ``path``; returns it with ``source`` set."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_profile(profile), encoding="utf-8")
    return replace(profile, source=str(path))
