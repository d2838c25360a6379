"""Editable boundary layers of one frame in a napari viewer (no Qt widgets).

:class:`BoundaryEditor` shows the superficial and deep boundaries of a
:class:`~musclethick.types.FrameResult` as path ``Shapes`` layers, the measurement lines, and
their thickness as outlined labels inside the muscle, and re-measures at every completed edit
(move, add or delete a vertex, redraw a path, swap to the runner-up pair, move a boundary to
the next band) through the headless :func:`~musclethick._napari._layers.remeasure`. Edits are
undone with Ctrl+Z on a boundary layer or :meth:`BoundaryEditor.undo` (napari's Shapes layer
has no undo of its own).

When the result carries architecture (:attr:`FrameResult.architecture`), a ``fascicles``
Shapes layer holds its fascicles as lines (move an end, add a line with the line tool, delete
one) and a ``fascicle length`` line shows the line through the belly's centre: the pennation
angle and fascicle length are measured again at every edit, of the fascicles or of the
boundaries (:func:`~musclethick._napari._layers.remeasure_architecture`); Ctrl+Z on the
fascicles layer undoes fascicle edits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from musclethick._napari._layers import (
    BOUNDARY_COLORS,
    DEFAULTS,
    FASCICLE_COLOR,
    FASCICLE_LINE_COLOR,
    LABEL_SIZE,
    N_DISPLAY_VERTICES,
    History,
    boundary_to_vertices,
    fascicle_line_vector,
    fascicles_to_shapes,
    join_paths,
    label_layout,
    line_shapes,
    remeasure,
    remeasure_architecture,
    shapes_to_fascicles,
)
from musclethick.errors import BoundaryNotFound, MusclethickError
from musclethick.measure import assemble_result
from musclethick.pipeline import MeasureSettings
from musclethick.types import Boundary, Fascicle, Frame, FrameResult, LayerPair

if TYPE_CHECKING:
    import napari

__all__ = ["DRAW_MODE", "SIDES", "BoundaryEditor"]

SIDES = ("superficial", "deep")
#: Shapes mode for drawing a missing boundary: click the vertices, finish with Esc.
DRAW_MODE = "add_polyline"
_DONE_ACTIONS = {"changed", "added", "removed"}
_LINE_COLOR = "#ff4dd2"
_LABEL_DEFAULTS = {"label": "", "color": "white"}


@dataclass(frozen=True)
class _Context:
    """What an undo step restores besides the vertices: the full-resolution boundaries the
    vertices were shown from, the runner-up pair, the pairs after it (the runner-up key's
    ring) and the pair shown, when one of the ring's is."""

    base: tuple[Boundary | None, Boundary | None]
    runner_up: LayerPair | None
    others: tuple[LayerPair, ...] = ()
    shown: LayerPair | None = None


class BoundaryEditor:
    """Boundary, measurement-line and label layers of one frame, re-measured on every edit.

    Parameters
    ----------
    viewer : napari.Viewer
        Viewer to add the layers to.
    frame : Frame
        The frame the result belongs to.
    result : FrameResult
        The result to show (its boundaries may be ``None``: draw them with the polyline tool).
    geometry : dict
        ``scale`` / ``translate`` / ``units`` of the image layer (see
        :func:`~musclethick._napari._layers.layer_geometry`).
    leading : tuple of float
        Leading coordinates of the frame (its index on a time axis), ``()`` for 2-D images.
    settings : MeasureSettings
        Measurement lines and options (:data:`~musclethick._napari._layers.DEFAULTS`).
    on_change : callable, optional
        Called with the new :class:`FrameResult` after each re-measurement, or with a
        :class:`~musclethick.errors.MusclethickError` when the edited boundaries cannot be
        measured (:attr:`result` is then a ``failed`` result without lines).
    prefix : str
        Prefix of the layer names.
    n_vertices : int or None
        Vertices per boundary shown for editing (``None``: every point).
    """

    def __init__(
        self,
        viewer: napari.Viewer,
        frame: Frame,
        result: FrameResult,
        *,
        geometry: dict[str, Any],
        leading: tuple[float, ...] = (),
        settings: MeasureSettings = DEFAULTS,
        on_change: Callable[[FrameResult | MusclethickError], None] | None = None,
        prefix: str = "",
        n_vertices: int | None = N_DISPLAY_VERTICES,
    ) -> None:
        self.viewer = viewer
        self.settings = settings
        self.on_change = on_change
        #: called when the undo key finds nothing to undo (e.g. to say so in a status line)
        self.on_nothing_to_undo: Callable[[], None] | None = None
        self.n_vertices = n_vertices
        self.history = History()
        self.error: MusclethickError | None = None
        self.note = ""
        self._loading = False
        self._closed = False
        self.leading = tuple(float(v) for v in leading)
        ndim = len(self.leading) + 2
        geo = {k: tuple(v) for k, v in geometry.items() if k in ("scale", "translate", "units")}
        self.layers: dict[str, Any] = {}
        self._prefix = prefix
        self.fascicle_layer: Any = None  # created for the first result with architecture
        self.fascicle_line_layer: Any = None
        self._fascicle_history: list[tuple[Fascicle, ...]] = []
        self._fascicles_like: tuple[Fascicle, ...] = ()
        # one scene-graph update (napari collects garbage at each) for the four layers
        with viewer.layers.batched_update():
            for side in SIDES:
                layer = viewer.add_shapes(
                    [],
                    shape_type="path",
                    edge_color=BOUNDARY_COLORS[side],
                    edge_width=2.0,
                    name=f"{prefix}{side} boundary",
                    ndim=ndim,
                    **geo,
                )
                layer.current_edge_color = BOUNDARY_COLORS[side]
                layer.current_edge_width = 2.0
                layer.metadata["musclethick_side"] = side
                layer.events.data.connect(self._on_data)
                layer.events.set_data.connect(self._on_set_data)
                layer.bind_key("Control-z", self._undo_key, overwrite=True)
                self.layers[side] = layer
            # a Vectors layer (start point + the line to the deep edge): the lines are not
            # edited, and setting its data is far cheaper than a Shapes layer's
            self.lines_layer = viewer.add_vectors(
                np.empty((0, 2, ndim)),
                edge_color=_LINE_COLOR,
                edge_width=1.5,
                vector_style="line",
                features={"label": np.array([], dtype=str)},
                name=f"{prefix}measurement lines",
                ndim=ndim,
                **geo,
            )
            self.labels_layer = viewer.add_points(
                np.empty((0, ndim)),
                size=0.0,
                border_width=0.0,
                face_color="transparent",
                features={"label": np.array([], dtype=str), "color": np.array([], dtype=str)},
                text={
                    "string": "{label}",
                    "color": {"feature": "color"},
                    "size": LABEL_SIZE,
                    "anchor": "center",
                },
                name=f"{prefix}thickness labels",
                ndim=ndim,
                **geo,
            )
        self.lines_layer.editable = False
        self.labels_layer.editable = False
        self.labels_layer.feature_defaults = _LABEL_DEFAULTS
        _camera(viewer).events.zoom.connect(self._layout_labels)
        self.load(frame, result, geometry=geometry, leading=leading)
        # ready to edit: the deep boundary selected, its vertices draggable
        viewer.layers.selection.active = self.layers["deep"]
        if self.layers["deep"].nshapes:
            self.layers["deep"].mode = "direct"

    def load(
        self,
        frame: Frame,
        result: FrameResult,
        *,
        geometry: dict[str, Any],
        leading: tuple[float, ...] = (),
    ) -> None:
        """Show another frame and result in the same layers (clears the undo history).

        Reusing the layers is much faster than removing and adding them (napari collects
        garbage on every layer removal). ``leading`` must have the length it had.
        """
        leading = tuple(float(v) for v in leading)
        if len(leading) != len(self.leading):
            raise ValueError("BoundaryEditor.load cannot change the number of leading axes")
        self.leading = leading
        self.frame = frame
        self.original = result
        self.result = result
        self.error = None
        self.note = ""
        self.history.clear()
        #: the pairs the runner-up key offers, in their order (:meth:`offer_pairs` adds some)
        self.offered = result.offered_pairs
        self._context = _Context(
            (result.superficial, result.deep), result.runner_up, tuple(result.other_pairs)
        )
        geo = {k: tuple(v) for k, v in geometry.items() if k in ("scale", "translate", "units")}
        self._loading = True
        try:
            with self._one_dims_update():
                if geo != getattr(self, "_geometry", None):  # each set refreshes every layer
                    for layer in self._all_layers():
                        for key, value in geo.items():
                            setattr(layer, key, value)
                    self._geometry = geo
                for side in SIDES:
                    self._show_boundary(side, getattr(result, side))
                self._show_lines(result)
                self._show_fascicles(result)
        finally:
            self._loading = False
        self._state = self.vertices()  # committed state: what undo goes back to
        self._live = self._state  # what was last measured (also during a drag)
        self._loaded = (self._state, self._context)

    def _all_layers(self) -> tuple[Any, ...]:
        extra = tuple(
            layer for layer in (self.fascicle_layer, self.fascicle_line_layer) if layer is not None
        )
        return (*self.layers.values(), self.lines_layer, self.labels_layer, *extra)

    # ------------------------------------------------------------------ fascicles
    def _ensure_fascicle_layers(self) -> None:
        """Add the fascicles and fascicle-length layers (once)."""
        if self.fascicle_layer is not None:
            return
        ndim = len(self.leading) + 2
        geo = getattr(self, "_geometry", None) or {}
        self.fascicle_layer = self.viewer.add_shapes(
            [],
            shape_type="line",
            edge_color=FASCICLE_COLOR,
            edge_width=1.5,
            name=f"{self._prefix}fascicles",
            ndim=ndim,
            **geo,
        )
        self.fascicle_layer.current_edge_color = FASCICLE_COLOR
        self.fascicle_layer.current_edge_width = 1.5
        self.fascicle_layer.events.data.connect(self._on_fascicle_data)
        self.fascicle_layer.events.set_data.connect(self._on_fascicle_set_data)
        self.fascicle_layer.bind_key("Control-z", self._undo_fascicles_key, overwrite=True)
        self.fascicle_line_layer = self.viewer.add_vectors(
            np.empty((0, 2, ndim)),
            edge_color=FASCICLE_LINE_COLOR,
            edge_width=2.0,
            vector_style="line",
            name=f"{self._prefix}fascicle length",
            ndim=ndim,
            **geo,
        )
        self.fascicle_line_layer.editable = False

    def _show_fascicles(self, result: FrameResult) -> None:
        """Put ``result``'s fascicles on the fascicles layer (what undo and "unchanged"
        compare with), or clear it; the layers are made for the first result with
        architecture."""
        architecture = result.architecture
        if architecture is None and self.fascicle_layer is None:
            return
        self._ensure_fascicle_layers()
        fascicles = () if architecture is None else architecture.fascicles
        self._fascicles_like = tuple(fascicles)
        self._fascicle_history = []
        layer = self.fascicle_layer
        shapes = fascicles_to_shapes(fascicles, leading=self.leading)
        before = layer.nshapes
        layer.data = [(shape, "line") for shape in shapes]
        if layer.nshapes > before:
            layer.edge_width = [1.5] * layer.nshapes
            layer.edge_color = FASCICLE_COLOR
        self._fascicle_state = self.fascicles()
        self._show_fascicle_line(result)

    def _show_fascicle_line(self, result: FrameResult) -> None:
        if self.fascicle_line_layer is not None:
            self.fascicle_line_layer.data = fascicle_line_vector(
                result.architecture, leading=self.leading
            )

    def fascicles(self) -> tuple[Fascicle, ...]:
        """The fascicles on the fascicles layer (those left as shown keep their source)."""
        if self.fascicle_layer is None:
            return ()
        return shapes_to_fascicles(self.fascicle_layer.data, like=self._fascicles_like)

    @property
    def architecture_shown(self) -> bool:
        """Whether the fascicles are shown (the result had architecture)."""
        return self.fascicle_layer is not None and self.original.architecture is not None

    def _with_fascicles(self, result: FrameResult) -> FrameResult:
        """``result`` with the architecture of the fascicles on the layer (unchanged when
        neither they nor the boundaries changed)."""
        if not self.architecture_shown:
            return result
        fascicles = self.fascicles()
        loaded = self.original.architecture.fascicles
        same = len(fascicles) == len(loaded) and all(
            a is b for a, b in zip(fascicles, loaded, strict=True)
        )
        if same and result is self.original:
            return result
        return remeasure_architecture(
            self.frame, result, fascicles, previous=self.original.architecture
        )

    def _on_fascicle_data(self, event: Any) -> None:
        action = str(getattr(event, "action", "changed")).lower()
        if self._closed or self._loading or action not in _DONE_ACTIONS:
            return
        self._fascicle_history.append(self._fascicle_state)
        self._fascicle_state = self.fascicles()
        self.remeasure()

    def _on_fascicle_set_data(self, event: Any = None) -> None:
        # live, during a drag of a fascicle's end: measured, not an undo step
        if self._closed or self._loading or self.fascicle_layer is None:
            return
        if self.fascicles() == self._fascicle_state:
            return
        self.remeasure(commit=False)

    def undo_fascicles(self) -> bool:
        """Put back the fascicles before the last fascicle edit; ``False`` when none."""
        if not self._fascicle_history or self.fascicle_layer is None:
            return False
        previous = self._fascicle_history.pop()
        self._loading = True
        try:
            self.fascicle_layer.data = [
                (shape, "line") for shape in fascicles_to_shapes(previous, leading=self.leading)
            ]
        finally:
            self._loading = False
        self._fascicles_like = tuple(
            dict.fromkeys((*self._fascicles_like, *previous))
        )  # restored fascicles are themselves again
        self._fascicle_state = self.fascicles()
        self.remeasure()
        return True

    def _undo_fascicles_key(self, layer: Any = None) -> None:
        self.undo_fascicles()

    @contextmanager
    def _one_dims_update(self) -> Iterator[None]:
        """Update the viewer's dims once for changes to several of these layers.

        napari recomputes the dims of all layers at every layer data event (twice per data
        set); the boundaries, lines and labels change together and lie within the image, so
        one update at the end does (a fifth of the time of a scan change).
        """
        update = getattr(self.viewer, "_on_layers_change", None)
        if update is None:  # pragma: no cover - a napari without it
            yield
            return
        with ExitStack() as stack:
            for layer in self._all_layers():
                stack.enter_context(layer.events.data.blocker(update))
            yield
        update()

    def _show_boundary(self, side: str, boundary: Boundary | None) -> None:
        layer = self.layers[side]
        before = layer.nshapes
        layer.data = (
            []
            if boundary is None
            else [
                (
                    boundary_to_vertices(
                        boundary, n_vertices=self.n_vertices, leading=self.leading
                    ),
                    "path",
                )
            ]
        )
        if layer.nshapes > before:  # new shapes get napari's default width (each set redraws)
            layer.edge_width = [2.0] * layer.nshapes
            layer.edge_color = BOUNDARY_COLORS[side]
        if boundary is None:  # not found: ready to draw it, vertex by vertex
            layer.mode = DRAW_MODE
        elif layer.mode in (DRAW_MODE, "add_path"):
            layer.mode = "direct"

    def _show_lines(self, result: FrameResult) -> None:
        data, kwargs = line_shapes(result.lines, leading=self.leading)
        layer = self.lines_layer
        vectors = np.array([[d[0], d[1] - d[0]] for d in data], dtype=float)
        layer.data = vectors.reshape(-1, 2, len(self.leading) + 2)
        layer.features = kwargs["features"]
        self._lines = result.lines
        self._layout_labels()

    def _layout_labels(self, event: Any = None) -> None:
        """Place the thickness labels for the current zoom (outlined, never overlapping)."""
        if self._closed:
            return
        zoom = float(_camera(self.viewer).zoom)
        scale = self.lines_layer.scale
        layout = label_layout(
            self._lines,
            px_per_data=(zoom * float(scale[-2]), zoom * float(scale[-1])),
            leading=self.leading,
        )
        self.label_boxes = layout.boxes
        layer = self.labels_layer
        layer.data = layout.positions
        layer.features = {
            "label": np.array(layout.strings, dtype=str),
            "color": np.array(layout.colors, dtype=str),
        }
        if not layout.strings:
            # features without rows reset the defaults to NaN: points added before their
            # features are set must still get a valid colour
            layer.feature_defaults = _LABEL_DEFAULTS

    # ------------------------------------------------------------------ state
    def vertices(self) -> tuple[np.ndarray, np.ndarray]:
        """Current ``(superficial, deep)`` vertices (all shapes of each layer joined)."""
        out = []
        for side in SIDES:
            out.append(join_paths(self.layers[side].data))
        return out[0], out[1]

    @property
    def edited(self) -> bool:
        """True when the boundaries shown differ from those loaded (an edit, a swap to the
        runner-up pair, a boundary moved to another band or deleted)."""
        return self.result is not self.original

    @property
    def runner_up(self) -> LayerPair | None:
        """The pair the runner-up key swaps to next (after the last of the ring: the pair
        shown first)."""
        return self._context.runner_up

    @property
    def other_pairs(self) -> tuple[LayerPair, ...]:
        """The pairs the runner-up key shows after :attr:`runner_up`, in order."""
        return self._context.others

    def set_vertices(self, side: str, vertices: np.ndarray) -> None:
        """Replace the boundary on ``side`` by a path through ``vertices`` (as an edit)."""
        layer = self.layers[side]
        vertices = np.asarray(vertices, dtype=float)
        if vertices.shape[1] == 2 and self.leading:
            lead = np.broadcast_to(self.leading, (vertices.shape[0], len(self.leading)))
            vertices = np.column_stack([lead, vertices])
        layer.data = [(vertices, "path")]

    def set_boundaries(
        self,
        boundaries: dict[str, Boundary | None],
        *,
        runner_up: LayerPair | str | None = "keep",
        others: tuple[LayerPair, ...] | str = "keep",
        shown: LayerPair | None = None,
    ) -> FrameResult | None:
        """Show full-resolution ``boundaries`` (by side) as one edit, and re-measure.

        The boundaries themselves are measured (not the vertices shown for editing), so a
        runner-up pair or a boundary moved to the next band keeps every point; later vertex
        edits keep their points where the edit does not reach. ``runner_up`` and ``others``
        replace the pairs the runner-up key shows next (``"keep"``: unchanged); ``shown`` is
        the ring's pair these boundaries are (``None``: not one of them).
        """
        self.history.push(*self._state, self._context)
        base = list(self._context.base)
        for k, side in enumerate(SIDES):
            if side in boundaries:
                base[k] = boundaries[side]
        context = self._context
        pair = context.runner_up if runner_up == "keep" else runner_up
        ring = context.others if others == "keep" else others
        self._context = _Context((base[0], base[1]), pair, tuple(ring), shown)  # type: ignore[arg-type]
        self._loading = True  # one re-measurement below, not one per layer
        try:
            with self._one_dims_update():
                for side in SIDES:
                    if side in boundaries:
                        self._show_boundary(side, boundaries[side])
        finally:
            self._loading = False
        return self.remeasure()

    def offer_pairs(self, pairs: tuple[LayerPair, ...]) -> None:
        """Offer ``pairs`` (best first) to the runner-up key when it has none: e.g. the frame's
        band pairs computed in review for a result stored without them. No edit: the
        boundaries shown stay."""
        if not pairs or self._context.runner_up is not None:
            return
        context = self._context
        self._context = _Context(context.base, pairs[0], tuple(pairs[1:]), context.shown)
        self.offered = tuple(pairs)

    def swap_runner_up(self) -> FrameResult | None:
        """Show the runner-up pair instead of the current boundaries, re-measured.

        The pairs offered form a ring: the next press shows the next pair (:attr:`other_pairs`),
        and after the last the pair shown first comes back (with two pairs, the key swaps
        back and forth). Raises :class:`MusclethickError` when there is no runner-up.
        """
        context = self._context
        pair = context.runner_up
        if pair is None:
            raise MusclethickError("no runner-up layer pair for this result")
        previous = self._shown_pair(pair)
        ring = [*context.others, *([previous] if previous is not None else [])]
        return self.set_boundaries(
            {"superficial": pair.superficial, "deep": pair.deep},
            runner_up=ring[0] if ring else None,
            others=tuple(ring[1:]),
            shown=pair,
        )

    def _shown_pair(self, incoming: LayerPair) -> LayerPair | None:
        """The boundaries shown now as a pair of the ring: the ring's own pair when one is
        shown unedited, else the model's pair (``"model"``) or the reviewer's."""
        sup, deep = self.result.superficial, self.result.deep
        if sup is None or deep is None:
            return None
        shown = self._context.shown
        if shown is not None and self.result.method == "runner_up":
            return shown
        if self.result.method in ("model", "edges"):
            return LayerPair(sup, deep, -float(incoming.margin_nats), "model")
        return LayerPair(sup, deep, 0.0, "shown")

    def move_to_next_band(self, side: str, direction: int) -> FrameResult | None:
        """Move the ``side`` boundary to the next band down (``+1``) or up (``-1``).

        The band is found by :func:`musclethick.bands.next_band` (the other boundary is not
        crossed); the moved boundary is the reviewer's choice (source ``manual``).

        Raises
        ------
        MusclethickError
            No boundary on that side, or no band stands out in that direction.
        """
        from musclethick.bands import next_band

        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {side!r}")
        current = getattr(self.result, side)
        if current is None:
            raise MusclethickError(f"draw the {side} boundary first")
        other = self.result.deep if side == "superficial" else self.result.superficial
        try:
            found = next_band(
                self.frame.pixels, current, side=side, direction=direction, other=other
            )
        except BoundaryNotFound as error:
            raise MusclethickError(str(error)) from None
        return self.set_boundaries({side: found.with_source("manual", 1.0)})

    # ------------------------------------------------------------------ editing
    def _on_data(self, event: Any) -> None:
        action = str(getattr(event, "action", "changed")).lower()
        if self._closed or self._loading or action not in _DONE_ACTIONS:
            return
        self.history.push(*self._state, self._context)
        self.remeasure()

    def _on_set_data(self, event: Any = None) -> None:
        # Fired on every redraw, including each mouse move of a vertex drag: measure live
        # when the vertices changed, without committing an undo step (that happens once,
        # on the "changed" data event when the drag ends).
        if self._closed or self._loading:
            return
        if _same_state(self.vertices(), self._live):
            return
        self.remeasure(commit=False)

    def remeasure(self, *, commit: bool = True) -> FrameResult | None:
        """Measure again from the layers' vertices; updates lines, labels, result, callback.

        ``commit=False`` (live update during a drag) does not change the state undo restores.
        Returns ``None`` (and shows no lines) when a boundary is missing or unusable.
        """
        sup, deep = self.vertices()
        self._live = (sup, deep)
        if commit:
            self._state = (sup, deep)
        pieces = {s: self.layers[s].nshapes for s in SIDES}
        self.note = "; ".join(
            f"{n} pieces of the {s} boundary joined into one" for s, n in pieces.items() if n > 1
        )
        loaded_state, loaded_context = self._loaded
        same_base = all(
            a is b for a, b in zip(self._context.base, loaded_context.base, strict=True)
        )
        if same_base and _same_state((sup, deep), loaded_state):
            # back where it started (undo, swap back); the fascicles may still be edited
            return self._accept(self._with_fascicles(self.original))
        missing = [s for s, v in zip(SIDES, (sup, deep), strict=True) if not len(v)]
        try:
            result = remeasure(
                self.frame,
                sup,
                deep,
                previous=self.original,
                like=self._context.base,
                settings=self.settings,
                n_vertices=self.n_vertices,
            )
        except (MusclethickError, ValueError) as error:
            message = error if isinstance(error, MusclethickError) else MusclethickError(error)
            self._fail(message, missing)
            return None
        if missing:
            what = " and ".join(missing)
            self._fail(
                MusclethickError(f"draw the {what} boundary: click its points, Esc to finish"),
                missing,
                result,
            )
            return None
        if result is not self.original:
            result = replace(
                result, runner_up=self._context.runner_up, other_pairs=self._context.others
            )
        return self._accept(self._with_fascicles(result))

    def _accept(self, result: FrameResult) -> FrameResult:
        self.result = result
        self.error = None
        self._show_lines(result)
        self._show_fascicle_line(result)
        if self.on_change is not None:
            self.on_change(result)
        return result

    def _fail(
        self,
        error: MusclethickError,
        missing: list[str],
        result: FrameResult | None = None,
    ) -> None:
        """Nothing can be measured: no lines or labels stay on screen, :attr:`result` is a
        ``failed`` result naming what is wrong."""
        if result is None:
            result = assemble_result(self.frame, None, None, method="manual")
            result = replace(result, message=str(error))
        for side in missing:  # deleted: ready to draw it again
            if self.layers[side].mode != DRAW_MODE:
                self.layers[side].mode = DRAW_MODE
        self.result = result
        self.error = error
        self._show_lines(result)
        self._show_fascicle_line(result)
        if self.on_change is not None:
            self.on_change(error)

    def undo(self) -> bool:
        """Restore the boundaries before the last edit; ``False`` when there is nothing to undo."""
        state = self.history.pop()
        if state is None:
            return False
        *vertices, context = state
        if context is not None:
            self._context = context
        self._loading = True  # one re-measurement below, not one per layer
        try:
            for side, v in zip(SIDES, vertices, strict=True):
                layer = self.layers[side]
                layer.data = [(v, "path")] if len(v) else []
                if not len(v):
                    layer.mode = DRAW_MODE
                elif layer.mode == DRAW_MODE:
                    layer.mode = "direct"
        finally:
            self._loading = False
        self.remeasure()
        return True

    def _undo_key(self, layer: Any = None) -> None:
        if not self.undo() and self.on_nothing_to_undo is not None:
            self.on_nothing_to_undo()

    def close(self) -> None:
        """Disconnect and remove the layers from the viewer."""
        self._closed = True
        try:
            _camera(self.viewer).events.zoom.disconnect(self._layout_labels)
        except (TypeError, ValueError, RuntimeError):
            pass
        with self.viewer.layers.batched_update():
            for layer in self._all_layers():
                for emitter, callback in (
                    (layer.events.data, self._on_data),
                    (layer.events.set_data, self._on_set_data),
                    (layer.events.data, self._on_fascicle_data),
                    (layer.events.set_data, self._on_fascicle_set_data),
                ):
                    try:
                        emitter.disconnect(callback)
                    except (TypeError, ValueError, RuntimeError):
                        pass
                if layer in self.viewer.layers:
                    self.viewer.layers.remove(layer)


def _camera(viewer: Any) -> Any:
    """The viewer's camera (``viewer.scene.camera`` from napari 0.9 on)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


def _same_state(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> bool:
    return all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b, strict=True))
