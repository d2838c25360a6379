"""Study protocols: which sites are scanned, how images are measured and aggregated.

A protocol is a TOML data file (see ``musclethick/data/protocols/*.toml``) validated on
load; every problem raises a one-line :class:`~musclethick.errors.ProtocolError` naming the
file and the key. Protocols are frozen dataclasses and carry no behaviour beyond small
look-ups, so the batch, the export and the statistics share one source of truth.

Example
-------
>>> from musclethick.protocol import load_protocol
>>> protocol = load_protocol("rt_failure_2024")
>>> [site.name for site in protocol.sites]
['RF50', 'VL50']
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from musclethick.errors import ProtocolError, ProtocolNotFoundError
from musclethick.plausible import DEFAULT_RANGES

__all__ = [
    "DEFAULT_REPEAT_TOLERANCE_PCT",
    "Aggregation",
    "Composite",
    "Protocol",
    "Site",
    "available_protocols",
    "load_protocol",
    "parse_protocol",
]

VIEWS = ("longitudinal", "transverse")
IMAGE_AGGREGATES = ("mean", "median")


@dataclass(frozen=True)
class Site:
    """One scanning site.

    Attributes
    ----------
    name : str
        Code used in file names and tables, e.g. ``"VL50"``.
    muscle : str
        Muscle code, e.g. ``"VL"``.
    muscle_name : str
        Full muscle name, e.g. ``"vastus lateralis"``.
    percent_femur : float or None
        Position along the femur in % of its length (0 = proximal landmark).
    view : str
        ``"longitudinal"`` or ``"transverse"``.
    images : int
        Images expected per session at this site.
    architecture : bool
        Also measure pennation angle and fascicle length at this site (``[acquisition]
        architecture`` for every site, or ``architecture`` in a ``[[site]]`` table).
    plausible_thickness_mm : (float, float) or None
        Thickness this site's muscle can have, in mm (``plausible_thickness_mm`` in a
        ``[[site]]`` table); results outside it are flagged ``implausible_thickness``.
        ``None``: the protocol's ``[calibration] plausible_thickness_mm``. Narrower than the
        any-muscle default (2-120 mm), it catches a pixel size ten times off (a ruler read in
        the wrong unit, a ``--mm-per-px`` typed wrong), which the default lets through for
        thick muscles.
    """

    name: str
    muscle: str
    muscle_name: str = ""
    percent_femur: float | None = None
    view: str = "longitudinal"
    images: int = 3
    architecture: bool = False
    plausible_thickness_mm: tuple[float, float] | None = None


@dataclass(frozen=True)
class Composite:
    """A derived value: the mean of several sites' session means (e.g. quadriceps)."""

    name: str
    sites: tuple[str, ...]
    description: str = ""


#: Repeated images of one site in one session whose thicknesses spread by more than this (% of
#: their median) disagree (:func:`musclethick.qc.repeats_disagree`): repeats minutes apart differ
#: by about a careful human's typical error, 2-3 % (0.4-0.6 mm of a 20 mm muscle), and training
#: effects are 5-12 %, so a larger spread means that a repeat measured another line. On the
#: DL_Track fascicle scans' 25 groups of repeated captures, 2 groups spread by more (12.6 and
#: 16.9 %; in one, 2 of 9 captures took a line ~20 px deeper), the others by at most 5.4 %.
DEFAULT_REPEAT_TOLERANCE_PCT = 10.0


@dataclass(frozen=True)
class Aggregation:
    """How line values become an image value and image values a session value.

    Attributes
    ----------
    lines : str
        ``"mean"``: an image's thickness is the mean of its measurement lines.
    images : str
        ``"mean"`` or ``"median"`` of the images of a session.
    drop_worst_image : bool
        With at least three images, drop the one farthest from the session median first.
    repeat_tolerance_pct : float
        Spread of a session's images (% of their median) above which they disagree and go to
        review first (:data:`DEFAULT_REPEAT_TOLERANCE_PCT`).
    """

    lines: str = "mean"
    images: str = "mean"
    drop_worst_image: bool = False
    repeat_tolerance_pct: float = DEFAULT_REPEAT_TOLERANCE_PCT


@dataclass(frozen=True)
class Protocol:
    """A study protocol (see module docstring).

    Attributes
    ----------
    name, description : str
        Identification.
    version : str
        ``[protocol] version`` (an integer or a string in the file, e.g. ``1`` or
        ``"2024-03"``), ``""`` when the file gives none. Stored with every batch run
        (``runs.protocol_version`` of the study store).
    sites : tuple of Site
        Scanning sites, in display order.
    line_fractions : tuple of float
        Measurement lines per image, as fractions of the width with both boundaries.
    perpendicular : bool
        Also measure perpendicular to the deep aponeurosis.
    aggregation : Aggregation
        Line and image aggregation.
    composites : tuple of Composite
        Derived multi-site values.
    weeks : tuple of int
        Expected measurement weeks; the first is the baseline.
    legs : tuple of str
        Expected legs (``"L"``, ``"R"``).
    conditions : tuple of str
        Allowed conditions (e.g. ``"FAIL"``, ``"RIR"``); empty = any.
    subjects : int or None
        Planned number of subjects (informative).
    pattern : str or None
        Default folder pattern for discovery.
    mm_per_px : float or None
        Study-wide calibration override (square pixels), e.g. for screen captures.
    depth_mm : float or None
        Study-wide imaging depth, used when ``mm_per_px`` is not given.
    method : str or None
        Default measurement method (``"model"`` or ``"edges"``).
    plausible_thickness_mm : tuple of float
        Range of plausible muscle thickness in mm; results outside it are flagged
        ``implausible_thickness`` (``[calibration] plausible_thickness_mm``).
    adapt_to_study : bool
        A generic protocol (``default``): the weeks and sites of a study are those found in
        it (:meth:`adapted`) instead of being checked against the protocol's lists.
    smallest_worthwhile_change_mm : float or None
        The smallest change in thickness that matters for the study (``[analysis]
        smallest_worthwhile_change_mm``); the report compares effects with it (default there:
        0.2 x the between-subject SD at baseline).
    architecture : bool
        ``[acquisition] architecture``: measure pennation angle and fascicle length at every
        site unless a site says otherwise (:meth:`wants_architecture`).
    source : str
        File the protocol was read from.
    """

    name: str
    sites: tuple[Site, ...]
    description: str = ""
    line_fractions: tuple[float, ...] = (0.25, 0.5, 0.75)
    perpendicular: bool = True
    aggregation: Aggregation = Aggregation()
    composites: tuple[Composite, ...] = ()
    weeks: tuple[int, ...] = (0,)
    legs: tuple[str, ...] = ("L", "R")
    conditions: tuple[str, ...] = ()
    subjects: int | None = None
    pattern: str | None = None
    mm_per_px: float | None = None
    depth_mm: float | None = None
    method: str | None = None
    plausible_thickness_mm: tuple[float, float] = DEFAULT_RANGES.thickness_mm
    adapt_to_study: bool = False
    smallest_worthwhile_change_mm: float | None = None
    architecture: bool = False
    source: str = ""
    version: str = ""

    @property
    def baseline_week(self) -> int:
        """The first expected week."""
        return self.weeks[0]

    def site(self, name: str) -> Site:
        """Return the site called ``name`` (case-insensitive); ProtocolError if unknown."""
        listed = self._listed(name)
        if listed is not None:
            return listed
        raise ProtocolError(
            f"{self.source or self.name}: unknown site {name!r} "
            f"(protocol sites: {', '.join(s.name for s in self.sites)})"
        )

    def site_names(self) -> tuple[str, ...]:
        """Names of all sites."""
        return tuple(site.name for site in self.sites)

    def _listed(self, site: str) -> Site | None:
        """The site called ``site`` (case-insensitive), or ``None`` when not listed."""
        return next((s for s in self.sites if s.name.lower() == str(site).lower()), None)

    def plausible_thickness_for(self, site: str) -> tuple[float, float]:
        """The plausible thickness range of ``site`` (case-insensitive) in mm: the site's own
        when it gives one, else ``[calibration] plausible_thickness_mm``."""
        listed = self._listed(site)
        if listed is not None and listed.plausible_thickness_mm:
            return listed.plausible_thickness_mm
        return self.plausible_thickness_mm

    def wants_architecture(self, site: str) -> bool:
        """Whether scans of ``site`` (case-insensitive) get architecture measured; a site the
        protocol does not list follows ``[acquisition] architecture``."""
        listed = self._listed(site)
        return self.architecture if listed is None else listed.architecture

    def adapted(self, *, weeks: Iterable[int | None], sites: Iterable[str]) -> Protocol:
        """This protocol fitted to what a study holds, when :attr:`adapt_to_study` is set.

        The weeks and sites become those found (when any are found). A site the protocol
        lists keeps its definition; another gets as many images as the protocol's first site
        and the letters of its name as muscle code (``RF50`` -> ``RF``). A protocol without
        ``adapt_to_study`` is returned unchanged.
        """
        if not self.adapt_to_study:
            return self
        found_weeks = tuple(sorted({int(w) for w in weeks if w is not None}))
        listed = {site.name.lower(): site for site in self.sites}
        found_sites: dict[str, Site] = {}
        for name in sorted(set(sites)):
            if name.lower() in found_sites or not re.fullmatch(r"[A-Za-z0-9-]+", name):
                continue
            muscle = re.match(r"[A-Za-z]*", name).group(0) or name
            site = listed.get(name.lower()) or Site(
                name, muscle, images=self.sites[0].images, architecture=self.architecture
            )
            found_sites[name.lower()] = site
        return replace(
            self,
            weeks=found_weeks or self.weeks,
            sites=tuple(found_sites.values()) or self.sites,
            composites=tuple(
                c for c in self.composites if all(s.lower() in found_sites for s in c.sites)
            )
            if found_sites
            else self.composites,
        )


_TOP_KEYS = {
    "protocol",
    "design",
    "acquisition",
    "calibration",
    "aggregation",
    "analysis",
    "site",
    "composite",
}
_SECTION_KEYS = {
    "protocol": {"name", "description", "version"},
    "design": {"subjects", "legs", "conditions", "weeks", "pattern", "adapt_to_study"},
    "acquisition": {
        "images_per_site",
        "line_fractions",
        "perpendicular",
        "method",
        "architecture",
    },
    "calibration": {"mm_per_px", "depth_mm", "plausible_thickness_mm"},
    "aggregation": {"lines", "images", "drop_worst_image", "repeat_tolerance_pct"},
    "analysis": {"smallest_worthwhile_change_mm"},
}
_SITE_KEYS = {
    "name",
    "muscle",
    "muscle_name",
    "percent_femur",
    "view",
    "images",
    "architecture",
    "plausible_thickness_mm",
}
_COMPOSITE_KEYS = {"name", "sites", "description"}


class _Checker:
    """Small helpers that raise one-line ProtocolErrors naming the file and key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> ProtocolError:
        return ProtocolError(f"{self.source}: key '{key}' {problem}")

    def table(self, data: Any, key: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(key, f"must be a table, got {type(data).__name__}")
        return data

    def unknown(self, data: dict[str, Any], allowed: set[str], prefix: str) -> None:
        extra = sorted(set(data) - allowed)
        if extra:
            name = f"{prefix}.{extra[0]}" if prefix else extra[0]
            raise self.fail(name, f"is not a known key (allowed: {', '.join(sorted(allowed))})")

    def text(self, value: Any, key: str, *, required: bool = False, default: str = "") -> str:
        if value is None:
            if required:
                raise self.fail(key, "is required")
            return default
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(key, f"must be a non-empty string, got {value!r}")
        return value.strip()

    def number(
        self,
        value: Any,
        key: str,
        *,
        low: float | None = None,
        high: float | None = None,
        positive: bool = False,
    ) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number, got {value!r}")
        number = float(value)
        bad = not math.isfinite(number)
        bad = bad or (positive and number <= 0)
        bad = bad or (low is not None and number < low) or (high is not None and number > high)
        if bad:
            span = "positive" if positive else f"between {low:g} and {high:g}"
            raise self.fail(key, f"must be {span}, got {value!r}")
        return number

    def integer(self, value: Any, key: str, *, minimum: int = 0) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"must be an integer >= {minimum}, got {value!r}")
        return int(value)

    def boolean(self, value: Any, key: str, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def string_list(self, value: Any, key: str) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, f"must be a list of strings, got {value!r}")
        return tuple(value)

    def choice(self, value: Any, key: str, choices: tuple[str, ...], default: str) -> str:
        if value is None:
            return default
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return str(value)


def _thickness_range(c: _Checker, raw: object, key: str) -> tuple[float, float]:
    """``[min, max]`` of a plausible thickness in mm, checked (one-line ProtocolError)."""
    if not isinstance(raw, list) or len(raw) != 2:
        raise c.fail(key, f"must be [min, max], got {raw!r}")
    low = c.number(raw[0], f"{key}[0]", positive=True)
    high = c.number(raw[1], f"{key}[1]", positive=True)
    if not low < high:
        raise c.fail(key, f"must rise, got {raw!r}")
    return float(low), float(high)


def parse_protocol(data: dict[str, Any], *, source: str = "<protocol>") -> Protocol:
    """Validate a parsed TOML document and build a :class:`Protocol`.

    Parameters
    ----------
    data : dict
        The document as returned by :func:`tomllib.loads`.
    source : str
        Name used in error messages (usually the file path).

    Raises
    ------
    ProtocolError
        On the first invalid or unknown key, naming ``source`` and the key.
    """
    c = _Checker(source)
    c.unknown(data, _TOP_KEYS, "")
    sections = {}
    for name, allowed in _SECTION_KEYS.items():
        section = c.table(data.get(name, {}), name)
        c.unknown(section, allowed, name)
        sections[name] = section
    head, design = sections["protocol"], sections["design"]
    acq, cal, agg = sections["acquisition"], sections["calibration"], sections["aggregation"]

    name = c.text(head.get("name"), "protocol.name", required=True)
    description = c.text(head.get("description"), "protocol.description")
    version = head.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version >= 0:
        version = str(version)
    elif version is not None and not (isinstance(version, str) and version.strip()):
        raise c.fail(
            "protocol.version", f"must be an integer >= 0 or a non-empty string, got {version!r}"
        )
    version = c.text(version, "protocol.version")

    images_default = c.integer(acq.get("images_per_site"), "acquisition.images_per_site", minimum=1)
    images_default = 3 if images_default is None else images_default
    fractions_raw = acq.get("line_fractions", [0.25, 0.5, 0.75])
    if not isinstance(fractions_raw, list) or not fractions_raw:
        raise c.fail(
            "acquisition.line_fractions", f"must be a non-empty list, got {fractions_raw!r}"
        )
    fractions = tuple(
        c.number(f, f"acquisition.line_fractions[{i}]", low=0.0, high=1.0)
        for i, f in enumerate(fractions_raw)
    )
    if len(set(fractions)) != len(fractions):
        raise c.fail("acquisition.line_fractions", f"has repeated values {fractions_raw!r}")
    perpendicular = c.boolean(acq.get("perpendicular"), "acquisition.perpendicular", True)
    architecture = c.boolean(acq.get("architecture"), "acquisition.architecture", False)
    method = acq.get("method")
    if method is not None:
        method = c.choice(method, "acquisition.method", ("model", "edges"), "model")

    sites_raw = data.get("site")
    if not isinstance(sites_raw, list) or not sites_raw:
        raise c.fail("site", "must be a non-empty array of tables ([[site]])")
    sites = []
    for i, raw in enumerate(sites_raw):
        key = f"site[{i}]"
        raw = c.table(raw, key)
        c.unknown(raw, _SITE_KEYS, key)
        site_name = c.text(raw.get("name"), f"{key}.name", required=True)
        if not site_name.replace("-", "").isalnum():
            raise c.fail(f"{key}.name", f"must be letters and digits only, got {site_name!r}")
        muscle = c.text(raw.get("muscle"), f"{key}.muscle", required=True)
        images = c.integer(raw.get("images"), f"{key}.images", minimum=1)
        sites.append(
            Site(
                name=site_name,
                muscle=muscle,
                muscle_name=c.text(raw.get("muscle_name"), f"{key}.muscle_name"),
                percent_femur=c.number(
                    raw.get("percent_femur"), f"{key}.percent_femur", low=0.0, high=100.0
                ),
                view=c.choice(raw.get("view"), f"{key}.view", VIEWS, "longitudinal"),
                images=images_default if images is None else images,
                architecture=c.boolean(
                    raw.get("architecture"), f"{key}.architecture", architecture
                ),
                plausible_thickness_mm=None
                if raw.get("plausible_thickness_mm") is None
                else _thickness_range(
                    c, raw["plausible_thickness_mm"], f"{key}.plausible_thickness_mm"
                ),
            )
        )
    names = [s.name.lower() for s in sites]
    for i, site_name in enumerate(names):
        if site_name in names[:i]:
            raise c.fail(f"site[{i}].name", f"repeats site {sites[i].name!r}")

    composites = []
    for i, raw in enumerate(data.get("composite", []) or []):
        key = f"composite[{i}]"
        raw = c.table(raw, key)
        c.unknown(raw, _COMPOSITE_KEYS, key)
        comp_name = c.text(raw.get("name"), f"{key}.name", required=True)
        comp_sites = c.string_list(raw.get("sites"), f"{key}.sites")
        if not comp_sites or len(comp_sites) < 2:
            raise c.fail(f"{key}.sites", "must list at least two sites")
        for s in comp_sites:
            if s.lower() not in names:
                raise c.fail(f"{key}.sites", f"names unknown site {s!r}")
        if comp_name.lower() in names:
            raise c.fail(f"{key}.name", f"clashes with site {comp_name!r}")
        composites.append(
            Composite(comp_name, comp_sites, c.text(raw.get("description"), f"{key}.description"))
        )

    weeks_raw = design.get("weeks", [0])
    if (
        not isinstance(weeks_raw, list)
        or not weeks_raw
        or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 0 for w in weeks_raw)
    ):
        raise c.fail(
            "design.weeks", f"must be a non-empty list of integers >= 0, got {weeks_raw!r}"
        )
    if sorted(set(weeks_raw)) != list(weeks_raw):
        raise c.fail("design.weeks", f"must be increasing without repeats, got {weeks_raw!r}")
    legs = c.string_list(design.get("legs"), "design.legs") or ("L", "R")
    for leg in legs:
        if leg not in ("L", "R"):
            raise c.fail("design.legs", f"entries must be 'L' or 'R', got {leg!r}")
    conditions = c.string_list(design.get("conditions"), "design.conditions") or ()
    pattern = design.get("pattern")
    if pattern is not None:
        pattern = c.text(pattern, "design.pattern", required=True)

    aggregation = Aggregation(
        lines=c.choice(agg.get("lines"), "aggregation.lines", ("mean",), "mean"),
        images=c.choice(agg.get("images"), "aggregation.images", IMAGE_AGGREGATES, "mean"),
        drop_worst_image=c.boolean(
            agg.get("drop_worst_image"), "aggregation.drop_worst_image", False
        ),
        repeat_tolerance_pct=c.number(
            agg.get("repeat_tolerance_pct"), "aggregation.repeat_tolerance_pct", low=1, high=100
        )
        or DEFAULT_REPEAT_TOLERANCE_PCT,
    )
    mm_per_px = c.number(
        cal.get("mm_per_px"),
        "calibration.mm_per_px",
        low=DEFAULT_RANGES.mm_per_px[0],
        high=DEFAULT_RANGES.mm_per_px[1],
    )
    depth_mm = c.number(
        cal.get("depth_mm"),
        "calibration.depth_mm",
        low=DEFAULT_RANGES.depth_mm[0],
        high=DEFAULT_RANGES.depth_mm[1],
    )
    low, high = _thickness_range(
        c,
        cal.get("plausible_thickness_mm", list(DEFAULT_RANGES.thickness_mm)),
        "calibration.plausible_thickness_mm",
    )
    return Protocol(
        name=name,
        description=description,
        sites=tuple(sites),
        line_fractions=fractions,
        perpendicular=perpendicular,
        aggregation=aggregation,
        composites=tuple(composites),
        weeks=tuple(weeks_raw),
        legs=legs,
        conditions=conditions,
        subjects=c.integer(design.get("subjects"), "design.subjects", minimum=1),
        pattern=pattern,
        mm_per_px=mm_per_px,
        depth_mm=depth_mm,
        method=method,
        plausible_thickness_mm=(float(low), float(high)),
        adapt_to_study=c.boolean(design.get("adapt_to_study"), "design.adapt_to_study", False),
        smallest_worthwhile_change_mm=c.number(
            sections["analysis"].get("smallest_worthwhile_change_mm"),
            "analysis.smallest_worthwhile_change_mm",
            positive=True,
        ),
        architecture=architecture,
        source=source,
        version=version,
    )


def available_protocols() -> tuple[str, ...]:
    """Names of the protocols shipped with musclethick."""
    folder = resources.files("musclethick") / "data" / "protocols"
    return tuple(
        sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))
    )


def load_protocol(name_or_path: str | Path) -> Protocol:
    """Load and validate a protocol.

    Parameters
    ----------
    name_or_path : str or path-like
        A shipped protocol's name (``"default"``, ``"rt_failure_2024"``) or a TOML file.

    Returns
    -------
    Protocol

    Raises
    ------
    ProtocolError
        When the file is missing, is not valid TOML, or has an invalid key.
    """
    text_name = str(name_or_path)
    path = Path(text_name)
    if not path.suffix and not path.exists():
        shipped = resources.files("musclethick") / "data" / "protocols" / f"{text_name}.toml"
        if not shipped.is_file():
            raise ProtocolNotFoundError(
                f"{text_name}: no such protocol file or shipped protocol "
                f"(shipped: {', '.join(available_protocols())})"
            )
        source, raw = f"{text_name}.toml", shipped.read_bytes()
    else:
        if not path.is_file():
            raise ProtocolNotFoundError(
                f"{path}: protocol file not found; check the path, or name a shipped protocol "
                f"({', '.join(available_protocols())})"
            )
        source, raw = str(path), path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ProtocolError(f"{source}: not valid TOML ({error})") from None
    return parse_protocol(data, source=source)
