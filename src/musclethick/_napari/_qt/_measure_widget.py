"""Measure widget: run the pipeline on the current image / frame, edit, see thickness live."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from musclethick._napari._editor import BoundaryEditor
from musclethick._napari._layers import (
    DEFAULTS,
    _file_name,
    frame_of_layer,
    layer_geometry,
    mean_thickness_text,
)
from musclethick._napari._qt._table import SummaryTable
from musclethick.errors import MusclethickError
from musclethick.pipeline import METHODS, MeasureSettings, measure_frames
from musclethick.types import Frame, FrameResult

if TYPE_CHECKING:
    import napari

__all__ = ["MeasureWidget", "current_frame"]


def current_frame(viewer: napari.Viewer, layer: Any) -> tuple[Frame, tuple[float, ...]]:
    """The frame ``layer`` shows at the viewer's current position and its leading coordinates."""
    n_leading = layer.ndim - 2
    index = 0
    leading: tuple[float, ...] = ()
    if n_leading:
        data_point = layer.world_to_data(viewer.dims.point)
        index = round(float(data_point[0]))
        index = min(max(index, 0), layer.data.shape[0] - 1)
        leading = (float(index), *tuple(float(round(p)) for p in data_point[1:n_leading]))
    frame = frame_of_layer(
        layer.data,
        index=index,
        scale=tuple(layer.scale),
        translate=tuple(layer.translate),
        units=tuple(str(u) for u in layer.units),
        metadata=layer.metadata,
        name=layer.name,
    )
    return frame, leading


class MeasureWidget(QWidget):
    """Measure muscle thickness on the selected image layer's current frame.

    The pipeline runs in a background thread (:func:`napari.qt.threading.thread_worker`); the
    boundaries appear as editable path layers and every edit re-measures at once. The table
    lists each line's thickness in mm, the confidence, QC flags and boundary sources.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer (injected by napari).
    settings : MeasureSettings
        Initial settings (:data:`~musclethick._napari._layers.DEFAULTS`).
    """

    measured = Signal(object)  # FrameResult after each measurement or edit

    def __init__(self, napari_viewer: napari.Viewer, *, settings: MeasureSettings = DEFAULTS):
        super().__init__()
        self.viewer = napari_viewer
        self.settings = settings
        self.editor: BoundaryEditor | None = None
        self.worker: Any = None
        self.error: str = ""

        self.layer_combo = QComboBox()
        self.method_combo = QComboBox()
        self.method_combo.addItems(list(METHODS))
        self.method_combo.setCurrentText(settings.method)
        self.mm_per_px = QDoubleSpinBox()
        self.mm_per_px.setDecimals(4)
        self.mm_per_px.setRange(0.0, 10.0)
        self.mm_per_px.setSingleStep(0.01)
        self.mm_per_px.setSpecialValueText("from file")
        self.mm_per_px.setToolTip("Pixel size in mm; 'from file' uses the layer's calibration")
        self.architecture_box = QCheckBox("pennation angle and fascicle length")
        self.architecture_box.setChecked(settings.architecture)
        self.architecture_box.setToolTip(
            "Also find the fascicles between the aponeuroses: an editable 'fascicles' layer, "
            "the pennation angle and fascicle length measured again at every edit"
        )
        self.run_button = QPushButton("Measure current frame")
        self.undo_button = QPushButton("Undo edit (Ctrl+Z)")
        self.undo_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy indicator
        self.progress.setVisible(False)
        self.status = QLabel("Select an image layer and press Measure.")
        self.status.setWordWrap(True)
        self.table = SummaryTable()

        form = QFormLayout()
        form.addRow("image", self.layer_combo)
        form.addRow("method", self.method_combo)
        form.addRow("mm per px", self.mm_per_px)
        form.addRow("architecture", self.architecture_box)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.undo_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.table)

        self.run_button.clicked.connect(self.measure)
        self.undo_button.clicked.connect(self.undo)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self.viewer.dims.events.current_step.connect(self._on_step)
        self._refresh_layers()

    # ------------------------------------------------------------------ layers
    def _image_layers(self) -> list[Any]:
        from napari.layers import Image

        return [layer for layer in self.viewer.layers if isinstance(layer, Image)]

    def _refresh_layers(self, event: Any = None) -> None:
        current = self.layer_combo.currentText()
        names = [layer.name for layer in self._image_layers()]
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItems(names)
        if current in names:
            self.layer_combo.setCurrentText(current)
        self.layer_combo.blockSignals(False)

    def image_layer(self) -> Any:
        """The selected image layer (``None`` if there is none)."""
        name = self.layer_combo.currentText()
        for layer in self._image_layers():
            if layer.name == name:
                return layer
        return None

    def current_settings(self) -> MeasureSettings:
        """Settings from the widget's controls."""
        return replace(
            self.settings,
            method=self.method_combo.currentText(),
            architecture=self.architecture_box.isChecked(),
        )

    # ------------------------------------------------------------------ measuring
    def measure(self) -> Any:
        """Start measuring the current frame in a background thread; returns the worker."""
        from napari.qt.threading import create_worker

        layer = self.image_layer()
        if layer is None:
            self._show_error("no image layer to measure")
            return None
        try:
            frame, leading = current_frame(self.viewer, layer)
        except MusclethickError as error:  # pixel values the conversion refuses: say why
            self._show_error(str(error))
            return None
        frame = self._apply_pixel_size(layer, frame)
        settings = self.current_settings()
        geometry = {
            "scale": tuple(layer.scale),
            "translate": tuple(layer.translate),
            "units": tuple(str(u) for u in layer.units),
        }
        self.run_button.setEnabled(False)
        self.progress.setVisible(True)
        name = _file_name(frame.path)
        self.status.setText(f"Measuring {name} frame {frame.frame_index} ({settings.method})…")
        # errors are shown in the widget (an "errored" handler stops napari from re-raising)
        worker = create_worker(
            _measure_one,
            frame,
            settings,
            _progress={"desc": "musclethick"},
            _connect={
                "yielded": self.status.setText,
                "returned": lambda result: self._on_result(frame, result, geometry, leading),
                "errored": lambda error: self._show_error(str(error)),
                "finished": self._on_finished,
            },
            _start_thread=False,
        )
        self.worker = worker
        worker.start()
        return worker

    def _apply_pixel_size(self, layer: Any, frame: Frame) -> Frame:
        """The pixel size typed in the widget (or the file's, for "from file") applied to
        ``frame`` *and* to the image layer, so the scale bar and napari's coordinates show
        the same mm as the table."""
        from musclethick.types import Calibration

        read = layer.metadata.get("musclethick_frames_read")
        if self.mm_per_px.value() <= 0:
            if read is None:
                return frame
            calibration = next(f for f in read if f.frame_index == frame.frame_index).calibration
        else:
            calibration = Calibration.isotropic(self.mm_per_px.value(), "user", "set in the widget")
        if frame.calibration == calibration:
            return frame
        frames = layer.metadata.get("musclethick_frames")
        if frames and read is None:
            layer.metadata["musclethick_frames_read"] = tuple(frames)
        if frames:
            originals = layer.metadata["musclethick_frames_read"]
            layer.metadata["musclethick_frames"] = tuple(
                f if self.mm_per_px.value() <= 0 else replace(f, calibration=calibration)
                for f in originals
            )
        geometry = layer_geometry(calibration, frame.region, n_leading=layer.ndim - 2)
        layer.scale = geometry["scale"]
        layer.translate = geometry["translate"]
        layer.units = geometry["units"]
        self.viewer.reset_view()
        return replace_frame_calibration(frame, calibration)

    def _on_step(self, event: Any = None) -> None:
        """Say which frame the table belongs to when the slider shows another one."""
        if self.editor is None or self.error:
            return
        layer = self.image_layer()
        if layer is None or layer.ndim < 3:
            return
        shown, _ = current_frame(self.viewer, layer)
        measured = self.editor.frame.frame_index
        if shown.frame_index != measured:
            self.status.setText(
                f"Frame {shown.frame_index} is not measured: the table shows frame {measured}"
                " — press Measure for this frame"
            )
        else:
            self._on_change(self.editor.result)

    def _on_finished(self) -> None:
        self.run_button.setEnabled(True)
        self.progress.setVisible(False)

    def _on_result(
        self, frame: Frame, result: FrameResult, geometry: dict, leading: tuple[float, ...]
    ) -> None:
        try:
            self.show_result(frame, result, geometry=geometry, leading=leading)
        except (MusclethickError, ValueError) as error:  # never let a Qt slot raise
            self._show_error(str(error))

    def show_result(
        self,
        frame: Frame,
        result: FrameResult,
        *,
        geometry: dict,
        leading: tuple[float, ...] = (),
    ) -> BoundaryEditor:
        """Show ``result`` as editable layers (replacing earlier ones)."""
        editor = self.editor
        reuse = (
            editor is not None
            and len(editor.leading) == len(leading)
            and all(layer in self.viewer.layers for layer in editor.layers.values())
        )
        if reuse:
            editor.settings = self.current_settings()
            editor.load(frame, result, geometry=geometry, leading=leading)
        else:
            if editor is not None:
                editor.close()
            self.editor = BoundaryEditor(
                self.viewer,
                frame,
                result,
                geometry=geometry,
                leading=leading,
                settings=self.current_settings(),
                on_change=self._on_change,
            )
        self._on_change(result)
        if result.status == "failed":
            self._show_error(result.message or "measurement failed: draw the boundaries")
        return self.editor

    def _on_change(self, result: FrameResult | MusclethickError) -> None:
        self.undo_button.setEnabled(self.editor is not None and len(self.editor.history) > 0)
        if isinstance(result, MusclethickError):
            if self.editor is not None:  # the failed result: no stale values in the table
                self.table.show_result(self.editor.result)
            self._show_error(str(result))
            return
        self.error = ""
        self.table.show_result(result)
        what = mean_thickness_text(result)
        frame = f"Frame {result.frame_index}: m" if self.editor and self.editor.leading else "M"
        self.status.setText(f"{frame}ean thickness {what} — {result.status} ({result.method})")
        self.measured.emit(result)

    def _show_error(self, message: str) -> None:
        self.error = message
        self.status.setText(f"⚠ {message}")

    @property
    def result(self) -> FrameResult | None:
        """The current (possibly edited) result."""
        return None if self.editor is None else self.editor.result

    def undo(self) -> bool:
        """Undo the last boundary edit."""
        done = self.editor is not None and self.editor.undo()
        self.undo_button.setEnabled(self.editor is not None and len(self.editor.history) > 0)
        return done


def replace_frame_calibration(frame: Frame, calibration: Any) -> Frame:
    """Copy of ``frame`` with another calibration."""
    return replace(frame, calibration=calibration)


def _measure_one(frame: Frame, settings: MeasureSettings):
    """Worker body: yields progress text, returns the :class:`FrameResult`."""
    if settings.method == "model":
        yield "Loading the segmentation model…"
        from musclethick.pipeline import get_model

        model = get_model(settings.model_path, settings.refine)
        yield "Finding the aponeuroses…"
        return next(iter(measure_frames([frame], settings, model=model)))
    yield "Finding the aponeuroses (edge detection)…"
    return next(iter(measure_frames([frame], settings)))
