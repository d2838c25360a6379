"""Layers <-> dataclasses: the headless half of the napari plugin.

Nothing here imports napari or Qt. Layer data are plain arrays and keyword dicts, exactly as
napari's ``LayerData`` tuples carry them, so the widgets stay thin and everything they compute
is tested without a window.

Coordinates
-----------
Layers show the **imaging region only** (the cropped :class:`~musclethick.types.Frame`), placed
where it lay in the original image: ``translate = region origin x mm_per_px`` and
``scale = mm_per_px`` so that napari's world coordinates, scale bar and rulers are in mm.
Boundary and measurement shapes use the same ``scale`` / ``translate``, so their *data*
coordinates are frame pixels ``(..., y_px, x_px)`` (a leading frame index on a time axis).
Uncalibrated frames use ``scale = 1`` and the unit ``"pixel"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from musclethick.errors import BoundaryNotFound, InputError
from musclethick.io import to_grey_uint8
from musclethick.pipeline import MeasureSettings
from musclethick.types import (
    Architecture,
    Boundary,
    Calibration,
    Fascicle,
    Frame,
    FrameResult,
    LineMeasurement,
    PixelBox,
)

__all__ = [
    "BOUNDARY_COLORS",
    "DEFAULTS",
    "FASCICLE_COLOR",
    "FASCICLE_LINE_COLOR",
    "LABEL_SIZE",
    "N_DISPLAY_VERTICES",
    "History",
    "LabelLayout",
    "architecture_rows",
    "boundary_to_vertices",
    "fascicle_line_vector",
    "fascicles_to_shapes",
    "frame_of_layer",
    "frames_to_image_layers",
    "join_paths",
    "label_layout",
    "layer_geometry",
    "line_shapes",
    "remeasure",
    "remeasure_architecture",
    "result_summary",
    "shapes_to_fascicles",
    "vertices_to_boundary",
]

BOUNDARY_COLORS = {"superficial": "#ffd400", "deep": "#00e5ff"}
#: Fascicles (editable lines) and the fascicle-length line through the belly's centre.
FASCICLE_COLOR = "#7dff7d"
FASCICLE_LINE_COLOR = "#ff3cff"


#: Defaults shared by the measure widget and the headless :func:`remeasure` (one source).
DEFAULTS = MeasureSettings()

#: Vertices per boundary shown for editing (the polyline is resampled to this many).
N_DISPLAY_VERTICES = 12


# --------------------------------------------------------------------------------------------
# geometry of layers
# --------------------------------------------------------------------------------------------
def layer_geometry(
    calibration: Calibration, region: PixelBox | None = None, *, n_leading: int = 0
) -> dict[str, Any]:
    """``scale``, ``translate`` and ``units`` keyword arguments for layers of one frame.

    Parameters
    ----------
    calibration : Calibration
        Pixel size of the frame.
    region : PixelBox, optional
        Where the frame lies in the original image (``None``: at the origin).
    n_leading : int
        Number of leading non-spatial axes (1 for a time axis), which get scale 1.

    Returns
    -------
    dict
        ``{"scale": (...), "translate": (...), "units": (...)}`` with one entry per axis,
        spatial axes last as ``(y, x)``.
    """
    if calibration.is_calibrated:
        my = float(calibration.mm_per_px_y)
        mx = float(calibration.mm_per_px_x) if calibration.mm_per_px_x is not None else my
        unit = "mm"
    else:
        my = mx = 1.0
        unit = "pixel"
    y0 = 0 if region is None else region.y0
    x0 = 0 if region is None else region.x0
    lead = (1.0,) * n_leading
    return {
        "scale": (*lead, my, mx),
        "translate": (*(0.0,) * n_leading, y0 * my, x0 * mx),
        "units": (*("pixel",) * n_leading, unit, unit),
    }


def frames_to_image_layers(
    frames: Iterable[Frame], *, name: str | None = None
) -> list[tuple[np.ndarray, dict[str, Any], str]]:
    """Stack frames into napari image ``LayerData`` tuples, one per tissue region.

    Frames of one file that share a ``region_index`` become one layer; several frames become
    a leading time (frame) axis. Layers carry the calibration in mm as ``scale``, the crop's
    position as ``translate`` and the frames' provenance in ``metadata``.

    Parameters
    ----------
    frames : iterable of Frame
        Frames as :func:`musclethick.io.read` yields them.
    name : str, optional
        Layer name (default: the file name).

    Returns
    -------
    list of (data, kwargs, "image")
        ``data`` is ``(rows, cols)`` or ``(n_frames, rows, cols)`` uint8.

    Raises
    ------
    InputError
        If ``frames`` is empty or the frames of one region differ in shape.
    """
    groups: dict[int, list[Frame]] = {}
    for frame in frames:
        groups.setdefault(frame.region_index, []).append(frame)
    if not groups:
        raise InputError("no frames to show")
    layers = []
    for region_index, group in sorted(groups.items()):
        first = group[0]
        shapes = {f.shape for f in group}
        if len(shapes) != 1:
            raise InputError(f"{first.path}: frames of region {region_index} differ in shape")
        base = name or _file_name(first.path)
        layer_name = base if len(groups) == 1 else f"{base} [region {region_index}]"
        if first.fan is not None:  # not the picture the scanner showed: say what it is
            layer_name += " (convex fan as beams)"
        if first.turned:
            layer_name += " (turned upright)"
        if len(group) == 1:
            data = first.pixels
            n_leading = 0
            axis_labels = ("y", "x")
        else:
            data = np.stack([f.pixels for f in group])
            n_leading = 1
            axis_labels = ("frame", "y", "x")
        kwargs = {
            "name": layer_name,
            **layer_geometry(first.calibration, first.region, n_leading=n_leading),
            "axis_labels": axis_labels,
            "colormap": "gray",
            "contrast_limits": (0, 255),
            "metadata": {"musclethick_frames": tuple(group)},
        }
        layers.append((data, kwargs, "image"))
    return layers


def _file_name(path: str) -> str:
    return str(path).replace("\\", "/").rsplit("/", 1)[-1] or str(path)


# --------------------------------------------------------------------------------------------
# boundaries <-> shape vertices
# --------------------------------------------------------------------------------------------
def boundary_to_vertices(
    boundary: Boundary, *, n_vertices: int | None = N_DISPLAY_VERTICES, leading=()
) -> np.ndarray:
    """Vertices ``(n, k + 2)`` of a path shape, ``(*leading, y_px, x_px)`` per row.

    Parameters
    ----------
    boundary : Boundary
        Boundary in frame pixels.
    n_vertices : int or None
        Resample the polyline to this many vertices evenly spaced in x (easier to edit than
        one vertex per column); ``None`` keeps every vertex.
    leading : sequence of float
        Leading coordinates (e.g. the frame index on a time axis).

    Returns
    -------
    ndarray of float, shape (n, len(leading) + 2)
    """
    if n_vertices is None or n_vertices >= boundary.x_px.size:
        x = boundary.x_px
        y = boundary.y_px
    else:
        if n_vertices < 2:
            raise ValueError(f"n_vertices must be at least 2, got {n_vertices}")
        x = np.linspace(boundary.x_min, boundary.x_max, n_vertices)
        y = np.interp(x, boundary.x_px, boundary.y_px)
    lead = np.broadcast_to(np.asarray(leading, dtype=float), (x.size, len(leading)))
    return np.column_stack([lead, y, x]).astype(float)


def vertices_to_boundary(
    vertices: np.ndarray | Sequence[Sequence[float]],
    *,
    like: Boundary | None = None,
    n_vertices: int | None = N_DISPLAY_VERTICES,
) -> Boundary:
    """Boundary from the vertices of a path shape (last two columns are ``y``, ``x``).

    Vertices are sorted by ``x``; vertices sharing a column are merged (mean ``y``). When the
    vertices are those :func:`boundary_to_vertices` made from ``like`` (nothing was edited),
    ``like`` itself is returned, keeping its source and confidence. Any edit gives a boundary
    with source ``"manual"`` and confidence 1 that keeps ``like``'s own points wherever the
    edit did not reach: between two neighbouring shown vertices that were left in place the
    boundary is ``like``'s full-resolution polyline, elsewhere the straight segments between
    the edited vertices. Moving one vertex therefore changes the boundary between its two
    neighbours only, to the last decimal.

    Parameters
    ----------
    vertices : array-like, shape (n, k + 2)
        Shape vertices in layer data coordinates (frame pixels).
    like : Boundary, optional
        The boundary the vertices were made from.
    n_vertices : int or None
        ``n_vertices`` used when ``like`` was displayed.

    Returns
    -------
    Boundary

    Raises
    ------
    BoundaryNotFound
        If fewer than two distinct columns remain.
    """
    v = np.asarray(vertices, dtype=float)
    if v.ndim != 2 or v.shape[1] < 2:
        raise BoundaryNotFound(f"boundary vertices must be (n, 2+) array, got shape {v.shape}")
    shown = None
    if like is not None:
        shown = boundary_to_vertices(like, n_vertices=n_vertices)[:, -2:]
        if shown.shape[0] == v.shape[0] and np.allclose(shown, v[:, -2:], atol=1e-6):
            return like
    y = v[:, -2]
    x = v[:, -1]
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    ux, inverse = np.unique(x, return_inverse=True)
    if ux.size < 2:
        raise BoundaryNotFound("a boundary needs vertices in at least two different columns")
    uy = np.bincount(inverse, weights=y) / np.bincount(inverse)
    if like is None or shown is None:
        return Boundary(ux, uy, "manual", 1.0)
    return Boundary(*_keep_untouched(ux, uy, shown, like), "manual", 1.0)


#: Vertices closer than this (px) to where they were shown count as not moved (napari keeps
#: shape vertices in float32).
_MOVED_PX = 1e-3


def _keep_untouched(
    x: np.ndarray, y: np.ndarray, shown: np.ndarray, like: Boundary
) -> tuple[np.ndarray, np.ndarray]:
    """Edited vertices ``(x, y)`` (sorted, distinct x) with ``like``'s own points put back
    between neighbouring vertices that are still where :func:`boundary_to_vertices` put them
    (``shown``: rows ``(y, x)``). Within such untouched runs the result *is* ``like``'s
    point list; the vertices shown there (which lie on it) are left out."""
    close = (np.abs(x[:, None] - shown[None, :, 1]) <= _MOVED_PX) & (
        np.abs(y[:, None] - shown[None, :, 0]) <= _MOVED_PX
    )
    match = np.where(close.any(axis=1), close.argmax(axis=1), -1)
    n = x.size
    untouched = [bool(match[k] >= 0 and match[k + 1] == match[k] + 1) for k in range(n - 1)]
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for k in range(n):
        vx, vy = (shown[match[k], 1], shown[match[k], 0]) if match[k] >= 0 else (x[k], y[k])
        left = k > 0 and untouched[k - 1]
        right = k < n - 1 and untouched[k]
        if not (left and right):
            xs.append(np.array([vx]))
            ys.append(np.array([vy]))
        if right:
            x1 = shown[match[k + 1], 1]
            inner = (like.x_px > vx) & (like.x_px < x1)
            if left:  # the run goes on through this vertex: keep the model's point there
                inner |= like.x_px == vx
            xs.append(like.x_px[inner])
            ys.append(like.y_px[inner])
    out_x, out_y = np.concatenate(xs), np.concatenate(ys)
    keep = np.concatenate([[True], np.diff(out_x) > 0])  # a shown vertex on a model point
    return out_x[keep], out_y[keep]


def join_paths(shapes: Sequence[np.ndarray]) -> np.ndarray:
    """The vertices of all path shapes of a boundary layer as one array.

    A boundary drawn in several pieces (the path tool started anew, or a piece added later)
    is one boundary: :func:`vertices_to_boundary` sorts the joined vertices by ``x``.

    Returns
    -------
    ndarray, shape (n, k + 2)
        Empty ``(0, 2)`` when there are no shapes.
    """
    arrays = [np.asarray(s, dtype=float) for s in shapes if len(s)]
    if not arrays:
        return np.empty((0, 2))
    return np.concatenate(arrays, axis=0)


# --------------------------------------------------------------------------------------------
# measurement
# --------------------------------------------------------------------------------------------
def remeasure(
    frame: Frame,
    superficial: np.ndarray | Boundary | None,
    deep: np.ndarray | Boundary | None,
    *,
    previous: FrameResult | None = None,
    like: tuple[Boundary | None, Boundary | None] | None = None,
    settings: MeasureSettings = DEFAULTS,
    n_vertices: int | None = N_DISPLAY_VERTICES,
) -> FrameResult:
    """Measure a frame again from (edited) boundary vertices: the headless edit path.

    Parameters
    ----------
    frame : Frame
        The frame the boundaries belong to.
    superficial, deep : ndarray (n, k + 2) or Boundary or None
        Shape vertices from the boundary layers, or boundaries; ``None`` (or no vertices)
        for a boundary that was deleted: the result is then ``failed`` and says which.
    previous : FrameResult, optional
        The result the vertices were shown from: returned as it is when nothing was edited.
    like : (Boundary or None, Boundary or None), optional
        The full-resolution boundaries the vertices were shown from (default: those of
        ``previous``); unedited ones keep their source and confidence, edited ones keep their
        points where the edit did not reach (see :func:`vertices_to_boundary`).
    settings : MeasureSettings
        Measurement lines, perpendicular option and QC threshold (:data:`DEFAULTS`).
    n_vertices : int or None
        Vertices per boundary the layers were made with (see :func:`boundary_to_vertices`).

    Returns
    -------
    FrameResult
        With ``method`` ``"manual"`` when a boundary was edited, ``"runner_up"`` when both are
        the model's runner-up pair (:func:`musclethick.measure.correction_method`).

    Raises
    ------
    BoundaryNotFound
        Edited vertices that span fewer than two columns.
    """
    from musclethick import measure

    if like is None:
        like = (
            previous.superficial if previous is not None else None,
            previous.deep if previous is not None else None,
        )
    found = []
    for given, base in zip((superficial, deep), like, strict=True):
        if given is None or isinstance(given, Boundary):
            found.append(given)
        elif len(given) == 0:
            found.append(None)
        else:
            found.append(vertices_to_boundary(given, like=base, n_vertices=n_vertices))
    sup, dp = found
    if previous is not None and sup is previous.superficial and dp is previous.deep:
        # Nothing was edited: keep the model's own result (confidence, flags) as it was.
        return previous
    return measure.assemble_result(
        frame,
        sup,
        dp,
        method=measure.correction_method(sup, dp),
        line_fractions=settings.line_fractions,
        perpendicular=settings.perpendicular,
        min_confidence=settings.min_confidence,
    )


# --------------------------------------------------------------------------------------------
# fascicles <-> line shapes, architecture re-measured
# --------------------------------------------------------------------------------------------
def fascicles_to_shapes(fascicles: Sequence[Fascicle], *, leading=()) -> list[np.ndarray]:
    """Line shapes ``(2, k + 2)`` (rows ``(*leading, y_px, x_px)``) of fascicles."""
    lead = [float(v) for v in leading]
    return [
        np.array([[*lead, f.y0_px, f.x0_px], [*lead, f.y1_px, f.x1_px]], dtype=float)
        for f in fascicles
    ]


#: Vertices closer than this (px) to the shown end points count as not moved.
_FASCICLE_MOVED_PX = 1e-3


def shapes_to_fascicles(
    shapes: Sequence[np.ndarray], *, like: Sequence[Fascicle] = ()
) -> tuple[Fascicle, ...]:
    """Fascicles from the line shapes of the fascicle layer.

    A shape still where :func:`fascicles_to_shapes` put one of ``like`` *is* that fascicle
    (its source and weight kept); any other (moved, or drawn by a person) is ``manual`` with
    weight 1. Shapes with fewer than two distinct points are left out (a click, not a line).
    """
    unused = [(f, np.array([[f.y0_px, f.x0_px], [f.y1_px, f.x1_px]], dtype=float)) for f in like]
    out = []
    for shape in shapes:
        v = np.asarray(shape, dtype=float)
        if v.ndim != 2 or v.shape[0] < 2 or v.shape[1] < 2:
            continue
        ends = v[[0, -1], -2:]
        if not np.all(np.isfinite(ends)) or np.allclose(ends[0], ends[1]):
            continue
        # each shown fascicle matches one shape (two patches may give the same fascicle)
        k = next(
            (
                i
                for i, (_, pts) in enumerate(unused)
                if np.allclose(pts, ends, atol=_FASCICLE_MOVED_PX)
                or np.allclose(pts[::-1], ends, atol=_FASCICLE_MOVED_PX)
            ),
            None,
        )
        if k is not None:
            out.append(unused.pop(k)[0])
            continue
        (y0, x0), (y1, x1) = ends
        out.append(Fascicle(x0, y0, x1, y1, "manual", 1.0))
    return tuple(out)


def remeasure_architecture(
    frame: Frame,
    result: FrameResult,
    fascicles: Sequence[Fascicle],
    *,
    previous: Architecture | None = None,
) -> FrameResult:
    """``result`` with its architecture measured again from ``fascicles`` (headless).

    The boundaries are ``result``'s (the edited ones when they were edited). Fascicles that
    are all ``previous``'s keep its confidence and method; with a fascicle a person drew or
    moved the architecture is ``manual`` with confidence 1 (the person saw them). Without
    both boundaries the architecture is left out.
    """
    from musclethick.architecture import measure_architecture, with_architecture

    if result.superficial is None or result.deep is None:
        return with_architecture(result, None)
    manual = any(f.source == "manual" for f in fascicles)
    confidence = 1.0 if manual or previous is None else previous.confidence
    method = "manual" if manual or previous is None else previous.method
    architecture = measure_architecture(
        result.superficial,
        result.deep,
        tuple(fascicles),
        shape=frame.shape,
        calibration=frame.calibration,
        confidence=confidence,
        method=method,
    )
    return with_architecture(result, architecture)


def fascicle_line_vector(architecture: Architecture | None, *, leading=()) -> np.ndarray:
    """The fascicle-length line as one napari vector ``(1, 2, k + 2)`` (start, direction),
    from its superficial to its deep end; empty ``(0, 2, k + 2)`` without one."""
    lead = [float(v) for v in leading]
    if architecture is None or architecture.line is None:
        return np.empty((0, 2, len(lead) + 2))
    xs, ys, xd, yd = architecture.line
    return np.array([[[*lead, ys, xs], [*[0.0] * len(lead), yd - ys, xd - xs]]], dtype=float)


def architecture_rows(architecture: Architecture | None) -> list[tuple[str, str]]:
    """Table rows ``(name, value)`` of an architecture (none without one)."""
    if architecture is None:
        return []
    a = architecture
    rows = [
        (
            "pennation angle",
            "none (no fascicles)" if a.pennation_deg is None else f"{a.pennation_deg:.1f} deg",
        )
    ]
    if a.pennation_superficial_deg is not None:
        rows.append(("pennation (superficial)", f"{a.pennation_superficial_deg:.1f} deg"))
    if a.fascicle_length_mm is not None:
        length = f"{a.fascicle_length_mm:.1f} mm ({a.fascicle_length_px:.0f} px)"
    elif a.fascicle_length_px is not None:
        length = f"{a.fascicle_length_px:.0f} px"
    else:
        length = "none"
    if a.extrapolated_fraction:
        length += f", {100 * a.extrapolated_fraction:.0f} % extrapolated"
    rows.append(("fascicle length", length))
    spread = "" if a.spread_deg is None else f", spread {a.spread_deg:.1f} deg"
    rows.append(("fascicles", f"{a.n_fascicles} ({a.method}){spread}"))
    rows.append(("fascicle confidence", f"{a.confidence:.2f}"))
    return rows


def line_shapes(
    lines: Sequence[LineMeasurement], *, leading=()
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Line shapes (superficial to deep edge) and text features for measurement lines.

    The ``"mean"`` line is not drawn (it is not a single column); its value is in the table.

    Returns
    -------
    data : list of ndarray (2, k + 2)
    kwargs : dict
        ``features`` (``label``: e.g. ``"0.50: 18.42 mm"``) and ``shape_type`` for
        ``Shapes``.
    """
    data = []
    labels = []
    for line in lines:
        if line.line == "mean" or not np.isfinite(line.x_px):
            continue
        lead = [float(v) for v in leading]
        data.append(
            np.array(
                [
                    [*lead, line.y_superficial_px, line.x_px],
                    [*lead, line.y_deep_px, line.x_px],
                ],
                dtype=float,
            )
        )
        labels.append(_line_label(line))
    return data, {"features": {"label": labels}, "shape_type": "line"}


def _line_label(line: LineMeasurement) -> str:
    if line.thickness_mm is not None:
        return f"{line.thickness_mm:.2f} mm"
    return f"{line.thickness_px:.1f} px"


#: Font size (points) of the thickness labels on the canvas.
LABEL_SIZE = 10.0
#: Width of a label character and height of a label line, in font sizes (a conservative
#: estimate for napari's default sans-serif font, so that boxes never underestimate).
_CHAR_EM, _LINE_EM = 0.62, 1.45
#: Screen pixels per point (napari draws text at 96 dpi).
_PX_PER_PT = 96.0 / 72.0


@dataclass(frozen=True)
class LabelLayout:
    """Where the thickness labels go: one outlined label per drawn measurement line.

    Attributes
    ----------
    positions : ndarray, shape (m, k + 2)
        Text centres in layer data coordinates: for each label, 8 black copies shifted by
        ``outline_px`` screen pixels around it (the outline), then the label itself.
    strings : list of str
        Text of each position.
    colors : list of str
        ``"black"`` for the outline copies, ``"white"`` for the labels.
    boxes : ndarray, shape (n, 4)
        ``(y0, x0, y1, x1)`` of each label's text box in frame pixels (for checks).
    """

    positions: np.ndarray
    strings: list[str]
    colors: list[str]
    boxes: np.ndarray


def label_layout(
    lines: Sequence[LineMeasurement],
    *,
    px_per_data: tuple[float, float],
    leading: Sequence[float] = (),
    size: float = LABEL_SIZE,
    outline_px: float = 1.0,
) -> LabelLayout:
    """Place thickness labels inside the muscle, off the boundary lines, never overlapping.

    Each label starts at the middle of its measurement line (half-way between the two
    aponeuroses, where the muscle is dark); a label whose box would overlap one placed before
    it, or come closer than a quarter of its height to either boundary, moves along its line
    in steps of its own height, alternately down and up, to the first free place (outside
    the muscle only when the muscle is too thin on screen to hold it). Boxes are estimated
    from the text length and font size at the current zoom, so call again after zooming.

    Parameters
    ----------
    lines : sequence of LineMeasurement
        As in :func:`line_shapes` (the ``"mean"`` line and non-finite lines are skipped).
    px_per_data : (float, float)
        Screen pixels per frame pixel along y and x (camera zoom times layer scale).
    leading : sequence of float
        Leading coordinates of the frame (its index on a time axis).
    size : float
        Font size in points.
    outline_px : float
        Width of the black outline in screen pixels.

    Returns
    -------
    LabelLayout
    """
    py, px = (max(float(v), 1e-9) for v in px_per_data)
    em = size * _PX_PER_PT
    height = _LINE_EM * em / py  # frame px
    placed: list[tuple[float, float, float, float]] = []
    centres: list[tuple[float, float]] = []
    strings: list[str] = []
    drawn = [m for m in lines if m.line != "mean" and np.isfinite(m.x_px)]
    for line in sorted(drawn, key=lambda m: m.x_px):
        text = _line_label(line)
        half_w = 0.5 * (_CHAR_EM * em * len(text) + 4.0) / px
        top, bottom = sorted((float(line.y_superficial_px), float(line.y_deep_px)))
        choice = _free_box(
            0.5 * (top + bottom), float(line.x_px), half_w, height, top, bottom, placed
        )
        placed.append(choice)
        centres.append((0.5 * (choice[0] + choice[2]), float(line.x_px)))
        strings.append(text)
    lead = [float(v) for v in leading]
    offsets = [
        (dy * outline_px / py, dx * outline_px / px)
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if dy or dx
    ]
    positions: list[list[float]] = []
    texts: list[str] = []
    colors: list[str] = []
    for (cy, cx), text in zip(centres, strings, strict=True):
        for dy, dx in offsets:
            positions.append([*lead, cy + dy, cx + dx])
            texts.append(text)
            colors.append("black")
    for (cy, cx), text in zip(centres, strings, strict=True):
        positions.append([*lead, cy, cx])
        texts.append(text)
        colors.append("white")
    return LabelLayout(
        positions=np.array(positions, dtype=float).reshape(-1, len(lead) + 2),
        strings=texts,
        colors=colors,
        boxes=np.array(placed, dtype=float).reshape(-1, 4),
    )


def _free_box(
    mid: float,
    x: float,
    half_w: float,
    height: float,
    top: float,
    bottom: float,
    placed: list[tuple[float, float, float, float]],
) -> tuple[float, float, float, float]:
    """The first box along the line at ``x`` (centred at ``mid``, then one height further
    down, up, two down, ...) that overlaps no placed box and keeps a quarter height off both
    boundary rows ``top`` and ``bottom``: inside the muscle if anywhere, else outside it."""
    margin = 0.25 * height
    boxes = []
    for step in range(2 * int((bottom - top) / height + 3) + 400):
        k = (step + 1) // 2 * (1 if step % 2 else -1)  # 0, +1, -1, +2, -2, ...
        y = mid + k * height
        boxes.append((y - height / 2, x - half_w, y + height / 2, x + half_w))
    inside = [b for b in boxes if b[0] >= top + margin and b[2] <= bottom - margin]
    outside = [b for b in boxes if b[2] <= top - margin or b[0] >= bottom + margin]
    for box in (*inside, *outside):
        if not any(_overlap(box, other) for other in placed):
            return box
    return boxes[0]  # pragma: no cover - hundreds of heights always leave room


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def mean_thickness_text(result: FrameResult) -> str:
    """The mean thickness as the widgets show it: ``"18.42 mm"``, or ``"153.2 px"`` when the
    frame is uncalibrated, or ``"none"`` when nothing was measured."""
    if result.mean_thickness_mm is not None:
        return f"{result.mean_thickness_mm:.2f} mm"
    if result.mean_thickness_px is not None:
        return f"{result.mean_thickness_px:.1f} px"
    return "none"


def result_summary(result: FrameResult) -> list[tuple[str, str]]:
    """Rows ``(name, value)`` describing a result for the widget's table.

    Includes each line's thickness (mm and px, perpendicular where measured), the frame
    index, confidence, status, QC flags, method, boundary sources and, when measured, the
    architecture (:func:`architecture_rows`).
    """
    rows: list[tuple[str, str]] = []
    for line in result.lines:
        value = (
            f"{line.thickness_mm:.2f} mm ({line.thickness_px:.1f} px)"
            if line.thickness_mm is not None
            else f"{line.thickness_px:.1f} px"
        )
        if line.perpendicular_mm is not None:
            value += f", perp. {line.perpendicular_mm:.2f} mm"
        elif line.perpendicular_px is not None:
            value += f", perp. {line.perpendicular_px:.1f} px"
        rows.append((f"line {line.line}", value))
    rows.append(("frame", str(result.frame_index)))
    rows.append(("confidence", f"{result.confidence:.2f}"))
    rows.append(("status", result.status))
    rows.append(("flags", ", ".join(result.flags) if result.flags else "none"))
    rows.append(("method", result.method))
    for side, b in (("superficial", result.superficial), ("deep", result.deep)):
        rows.append((side, "missing" if b is None else f"{b.source} ({b.confidence:.2f})"))
    cal = result.calibration
    rows.append(
        (
            "calibration",
            f"{cal.mm_per_px:.4f} mm/px ({cal.source})" if cal.is_calibrated else "none (pixels)",
        )
    )
    rows.extend(architecture_rows(result.architecture))
    if result.message:
        rows.append(("message", result.message))
    return rows


@dataclass
class History:
    """Undo stack of boundary vertices, one entry per completed edit.

    Napari's Shapes layer has no undo of its own; the editor pushes the vertices of both
    boundaries before each edit and restores them on undo. ``context`` travels with a state
    (the editor keeps the full-resolution boundaries and the runner-up pair there, so that a
    swap is undone too); states are compared by their vertices and context identity.
    """

    limit: int = 100
    _items: list[tuple[np.ndarray, np.ndarray, Any]] = field(default_factory=list)

    def push(self, superficial: np.ndarray, deep: np.ndarray, context: Any = None) -> None:
        """Remember a state (copies the arrays)."""
        state = (np.array(superficial, dtype=float), np.array(deep, dtype=float), context)
        if (
            self._items
            and _same(self._items[-1][:2], state[:2])
            and (self._items[-1][2] is context)
        ):
            return
        self._items.append(state)
        del self._items[: -self.limit]

    def pop(self) -> tuple[np.ndarray, np.ndarray, Any] | None:
        """Latest state ``(superficial, deep, context)``, removed (``None`` when empty)."""
        return self._items.pop() if self._items else None

    def peek(self) -> tuple[np.ndarray, np.ndarray, Any] | None:
        """Latest state without removing it."""
        return self._items[-1] if self._items else None

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


def _same(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> bool:
    return all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def frame_of_layer(
    data: np.ndarray,
    *,
    index: int = 0,
    scale: Sequence[float] = (1.0, 1.0),
    translate: Sequence[float] = (0.0, 0.0),
    units: Sequence[str] = ("pixel", "pixel"),
    metadata: dict[str, Any] | None = None,
    name: str = "layer",
) -> Frame:
    """The :class:`Frame` an image layer shows at frame ``index``.

    Layers made by the reader carry their frames in ``metadata["musclethick_frames"]``; those
    are returned as they were read. Any other layer is turned into a frame here: the last two
    axes are ``(y, x)``, RGB(A) is converted to luminance and values to uint8
    (:func:`musclethick.io.to_grey_uint8`: refused when they fit none of its rules), and
    the calibration is taken from ``scale`` when the layer's units are mm.

    Parameters
    ----------
    data : ndarray
        Layer data, ``(..., rows, cols)`` or ``(..., rows, cols, 3|4)`` for RGB(A).
    index : int
        Index along the leading (frame) axis.
    scale, translate, units : sequence
        The layer's ``scale``, ``translate`` and ``units`` (as strings).
    metadata : dict, optional
        The layer's metadata.
    name : str
        Used as the frame's ``path`` for layers not made by the reader.

    Returns
    -------
    Frame
    """
    frames = (metadata or {}).get("musclethick_frames")
    if frames:
        return frames[min(max(int(index), 0), len(frames) - 1)]
    arr = np.asarray(data)
    rgb = arr.ndim >= 3 and arr.shape[-1] in (3, 4) and arr.ndim == len(scale) + 1
    while arr.ndim > (3 if rgb else 2):
        arr = arr[min(max(int(index), 0), arr.shape[0] - 1)]
    arr = to_grey_uint8(arr)  # the package's one pixel conversion (rules there)
    my, mx = float(scale[-2]), float(scale[-1])
    unit = str(units[-1]).lower() if units else "pixel"
    if unit in ("mm", "millimeter", "millimetre"):
        calibration = Calibration(mx, my, "user", f"from the scale of layer {name!r}")
    else:
        calibration = Calibration.uncalibrated()
    y0 = round(float(translate[-2]) / my) if my else 0
    x0 = round(float(translate[-1]) / mx) if mx else 0
    region = PixelBox(max(x0, 0), max(y0, 0), max(x0, 0) + arr.shape[1], max(y0, 0) + arr.shape[0])
    return Frame(arr, name, frame_index=int(index), region=region, calibration=calibration)
