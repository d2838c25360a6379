"""Editable boundary layers of one frame in a napari viewer (no Qt widgets).

:class:`BoundaryEditor` shows the superficial and deep boundaries of a
:class:`~musclethick.types.FrameResult` as path ``Shapes`` layers and the measurement lines
with their values, and re-measures at every completed edit (move, add or delete a vertex, or
redraw a path) through the headless :func:`~musclethick._napari._layers.remeasure`. Edits are
undone with Ctrl+Z on a boundary layer or :meth:`BoundaryEditor.undo` (napari's Shapes layer
has no undo of its own).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from musclethick._napari._layers import (
    BOUNDARY_COLORS,
    DEFAULTS,
    N_DISPLAY_VERTICES,
    History,
    boundary_to_vertices,
    line_shapes,
    remeasure,
)
from musclethick.errors import MusclethickError
from musclethick.pipeline import MeasureSettings
from musclethick.types import Frame, FrameResult

if TYPE_CHECKING:
    import napari

__all__ = ["SIDES", "BoundaryEditor"]

SIDES = ("superficial", "deep")
_DONE_ACTIONS = {"changed", "added", "removed"}


class BoundaryEditor:
    """Boundary and measurement-line layers of one frame, re-measured live on every edit.

    Parameters
    ----------
    viewer : napari.Viewer
        Viewer to add the layers to.
    frame : Frame
        The frame the result belongs to.
    result : FrameResult
        The result to show (its boundaries may be ``None``: draw them with the path tool).
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
        measured.
    prefix : str
        Prefix of the layer names.
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
        self.n_vertices = n_vertices
        self.history = History()
        self.error: MusclethickError | None = None
        self._restoring = False
        self._loading = False
        self._closed = False
        self.leading = tuple(float(v) for v in leading)
        ndim = len(self.leading) + 2
        geo = {k: tuple(v) for k, v in geometry.items() if k in ("scale", "translate", "units")}
        self.layers: dict[str, Any] = {}
        # one scene-graph update (napari collects garbage at each) for the three layers
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
            self.lines_layer = viewer.add_shapes(
                [],
                shape_type="line",
                edge_color="#ff4dd2",
                edge_width=1.5,
                features={"label": np.array([], dtype=str)},
                text={"string": "{label}", "color": "white", "size": 10, "anchor": "upper_left"},
                name=f"{prefix}measurement lines",
                ndim=ndim,
                **geo,
            )
        self.lines_layer.editable = False
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
        self.history.clear()
        geo = {k: tuple(v) for k, v in geometry.items() if k in ("scale", "translate", "units")}
        self._loading = True
        try:
            for side in SIDES:
                layer = self.layers[side]
                for key, value in geo.items():
                    setattr(layer, key, value)
                boundary = getattr(result, side)
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
                layer.edge_width = [2.0] * layer.nshapes
                layer.edge_color = BOUNDARY_COLORS[side]
                if boundary is None:  # not found: ready to draw it
                    layer.mode = "add_path"
                elif layer.mode == "add_path":
                    layer.mode = "direct"
            for key, value in geo.items():
                setattr(self.lines_layer, key, value)
            self._show_lines(result)
        finally:
            self._loading = False
        self._state = self.vertices()  # committed state: what undo goes back to
        self._live = self._state  # what was last measured (also during a drag)

    def _show_lines(self, result: FrameResult) -> None:
        data, kwargs = line_shapes(result.lines, leading=self.leading)
        layer = self.lines_layer
        layer.data = [(d, "line") for d in data]
        layer.features = kwargs["features"]
        layer.edge_color = "#ff4dd2"
        layer.edge_width = [1.5] * layer.nshapes
        layer.refresh_text()

    # ------------------------------------------------------------------ state
    def vertices(self) -> tuple[np.ndarray, np.ndarray]:
        """Current ``(superficial, deep)`` vertices (the last shape of each layer, or empty)."""
        out = []
        for side in SIDES:
            shapes = self.layers[side].data
            out.append(np.array(shapes[-1], dtype=float) if shapes else np.empty((0, 2)))
        return out[0], out[1]

    @property
    def edited(self) -> bool:
        """True when a boundary of the current result was edited by hand."""
        r = self.result
        return any(b is not None and b.source == "manual" for b in (r.superficial, r.deep))

    def set_vertices(self, side: str, vertices: np.ndarray) -> None:
        """Replace the boundary on ``side`` by a path through ``vertices`` (as an edit)."""
        layer = self.layers[side]
        vertices = np.asarray(vertices, dtype=float)
        if vertices.shape[1] == 2 and self.leading:
            lead = np.broadcast_to(self.leading, (vertices.shape[0], len(self.leading)))
            vertices = np.column_stack([lead, vertices])
        layer.data = [(vertices, "path")]

    # ------------------------------------------------------------------ editing
    def _on_data(self, event: Any) -> None:
        action = str(getattr(event, "action", "changed")).lower()
        if self._closed or self._loading or action not in _DONE_ACTIONS:
            return
        if not self._restoring:
            self.history.push(*self._state)
        self.remeasure()

    def _on_set_data(self, event: Any = None) -> None:
        # Fired on every redraw, including each mouse move of a vertex drag: measure live
        # when the vertices changed, without committing an undo step (that happens once,
        # on the "changed" data event when the drag ends).
        if self._closed or self._loading or self._restoring:
            return
        if _same_state(self.vertices(), self._live):
            return
        self.remeasure(commit=False)

    def remeasure(self, *, commit: bool = True) -> FrameResult | None:
        """Measure again from the layers' vertices; updates lines, result and callback.

        ``commit=False`` (live update during a drag) does not change the state undo restores.
        """
        sup, deep = self.vertices()
        self._live = (sup, deep)
        if commit:
            self._state = (sup, deep)
        if len(sup) == 0 or len(deep) == 0:
            missing = " and ".join(s for s, v in zip(SIDES, (sup, deep), strict=True) if not len(v))
            self._fail(MusclethickError(f"draw the {missing} boundary (path tool)"))
            return None
        try:
            result = remeasure(
                self.frame,
                sup,
                deep,
                previous=self.original,
                settings=self.settings,
                n_vertices=self.n_vertices,
            )
        except (MusclethickError, ValueError) as error:
            self._fail(error if isinstance(error, MusclethickError) else MusclethickError(error))
            return None
        self.result = result
        self.error = None
        self._show_lines(result)
        if self.on_change is not None:
            self.on_change(result)
        return result

    def _fail(self, error: MusclethickError) -> None:
        self.error = error
        if self.on_change is not None:
            self.on_change(error)

    def undo(self) -> bool:
        """Restore the boundaries before the last edit; ``False`` when there is nothing to undo."""
        state = self.history.pop()
        if state is None:
            return False
        self._restoring = True
        try:
            for side, vertices in zip(SIDES, state, strict=True):
                layer = self.layers[side]
                layer.data = [(vertices, "path")] if len(vertices) else []
        finally:
            self._restoring = False
        self.remeasure()
        return True

    def _undo_key(self, layer: Any = None) -> None:
        self.undo()

    def close(self) -> None:
        """Disconnect and remove the layers from the viewer."""
        self._closed = True
        with self.viewer.layers.batched_update():
            for layer in (*self.layers.values(), self.lines_layer):
                for emitter, callback in (
                    (layer.events.data, self._on_data),
                    (layer.events.set_data, self._on_set_data),
                ):
                    try:
                        emitter.disconnect(callback)
                    except (TypeError, ValueError, RuntimeError):
                        pass
                if layer in self.viewer.layers:
                    self.viewer.layers.remove(layer)


def _same_state(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> bool:
    return all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b, strict=True))
