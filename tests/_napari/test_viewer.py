"""The plugin in a real napari viewer (headless under Xvfb): reader, measure widget, editing."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.napari

from musclethick._napari._layers import vertices_to_boundary  # noqa: E402
from musclethick._napari._reader import napari_get_reader, read_layers  # noqa: E402
from musclethick.io.options import CalibrationOptions  # noqa: E402
from musclethick.measure import assemble_result  # noqa: E402


def test_manifest_validates_and_imports():
    from npe2 import PluginManifest

    manifest = PluginManifest.from_distribution("musclethick")
    manifest.validate_imports()
    kinds = manifest.contributions
    assert kinds.readers and kinds.sample_data and len(kinds.widgets) == 3


def test_get_reader_accepts_scans_only(scan_png, tmp_path):
    assert napari_get_reader(str(scan_png)) is read_layers
    other = tmp_path / "notes.txt"
    other.write_text("x")
    assert napari_get_reader(str(other)) is None


def test_reader_png_with_given_calibration_in_mm(viewer, scan_png):
    ((data, kwargs, _),) = read_layers(str(scan_png), calibration=CalibrationOptions(mm_per_px=0.1))
    layer = viewer.add_image(data, **kwargs)
    frame = layer.metadata["musclethick_frames"][0]
    assert layer.scale.tolist() == pytest.approx([0.1, 0.1])
    assert [str(u) for u in layer.units] == ["millimeter", "millimeter"]
    # the crop (dark rows above the imaging region) is placed where it was in the image
    assert layer.translate.tolist() == pytest.approx([frame.region.y0 * 0.1, 0.0])
    assert layer.data.shape == frame.shape


def test_viewer_open_uses_plugin_and_time_axis_for_video(viewer, scan_mp4):
    layers = viewer.open(str(scan_mp4), plugin="musclethick")
    assert len(layers) == 1
    layer = layers[0]
    assert layer.data.shape[0] == 5  # frames on a leading axis
    assert layer.ndim == 3
    assert layer.axis_labels[0] == "frame"
    assert viewer.dims.nsteps[0] == 5


def test_reader_dicom_region_calibration(viewer, shared_data):
    path = shared_data / "dicom" / "OBXXXX1A.dcm"
    layers = viewer.open(str(path), plugin="musclethick")
    layer = layers[0]
    assert layer.scale[-1] == pytest.approx(0.26229, rel=1e-4)  # 0.026229 cm/px
    assert layer.scale[-2] == pytest.approx(0.26229, rel=1e-4)
    frame = layer.metadata["musclethick_frames"][0]
    assert frame.calibration.source == "dicom_region"
    assert layer.translate[-1] == pytest.approx(frame.region.x0 * layer.scale[-1])


def _measured_widget(viewer, wait, path, mm_per_px=0.1):
    from musclethick._napari._qt._measure_widget import MeasureWidget

    ((data, kwargs, _),) = read_layers(
        str(path), calibration=CalibrationOptions(mm_per_px=mm_per_px)
    )
    viewer.add_image(data, **kwargs)
    widget = MeasureWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.method_combo.setCurrentText("edges")
    worker = widget.measure()
    assert worker is not None
    wait(lambda: widget.result is not None and widget.run_button.isEnabled())
    return widget


def test_measure_widget_layers_values_and_live_edit(viewer, wait, scan_png):
    widget = _measured_widget(viewer, wait, scan_png)
    names = [layer.name for layer in viewer.layers]
    assert {"superficial boundary", "deep boundary", "measurement lines"} <= set(names)
    before = widget.result
    assert before.status in ("ok", "flagged")
    assert before.mean_thickness_px == pytest.approx(100.0, abs=2.0)  # bands 100 rows apart
    table = widget.table.values()
    assert table["line mean"].startswith(f"{before.mean_thickness_mm:.2f} mm")
    assert viewer.layers["measurement lines"].features["label"][0].endswith(" mm")

    # the displayed (resampled) boundaries measure what the model's measured, to 0.05 px
    deep_layer = viewer.layers["deep boundary"]
    deep_shown = vertices_to_boundary(deep_layer.data[0])
    shown = assemble_result(widget.editor.frame, before.superficial, deep_shown, method="manual")
    assert shown.mean_thickness_px == pytest.approx(before.mean_thickness_px, abs=0.05)

    # move the deep boundary's vertices down by 10 px, as a drag would (layer data event)
    moved = np.array(deep_layer.data[0]) + np.array([10.0, 0.0])
    deep_layer.data = [(moved, "path")]
    after = widget.result
    assert after.deep.source == "manual"
    assert after.superficial.source == before.superficial.source
    assert after.method == "manual"
    assert after.mean_thickness_mm == pytest.approx(shown.mean_thickness_mm + 10 * 0.1, abs=1e-9)
    assert after.mean_thickness_px == pytest.approx(shown.mean_thickness_px + 10, abs=1e-9)
    assert widget.table.values()["deep"].startswith("manual")

    # delete a vertex: still measured, still manual
    deep_layer.data = [(moved[1:], "path")]
    assert widget.result.deep.x_px.size == moved.shape[0] - 1

    # undo twice: back to the model's boundaries and values
    assert widget.undo()
    assert widget.result.deep.x_px.size == moved.shape[0]
    assert widget.undo()
    assert widget.result is before
    assert not widget.undo()


def test_thickness_follows_a_vertex_drag_live(viewer, wait, scan_png):
    widget = _measured_widget(viewer, wait, scan_png)
    editor = widget.editor
    before = widget.result
    deep = viewer.layers["deep boundary"]
    vertices = np.array(deep.data[0])
    # what napari's direct-select drag does on each mouse move (no data event until release)
    for dy in (2.0, 4.0, 6.0):
        moved = vertices.copy()
        moved[:, 0] += dy
        deep._data_view.edit(0, moved)
        deep.refresh()
        assert widget.result.deep.source == "manual"
        assert widget.result.mean_thickness_px == pytest.approx(
            before.mean_thickness_px + dy, abs=0.1
        )
    assert len(editor.history) == 0  # nothing committed during the drag
    deep.events.data(value=deep.data, action="changed", data_indices=(0,), vertex_indices=((),))
    assert len(editor.history) == 1  # release: one undo step for the whole drag
    assert widget.undo()
    assert widget.result is before


def test_measure_widget_on_a_video_frame(viewer, wait, scan_mp4):
    from musclethick._napari._qt._measure_widget import MeasureWidget

    ((data, kwargs, _),) = read_layers(str(scan_mp4), calibration=CalibrationOptions(mm_per_px=0.2))
    viewer.add_image(data, **kwargs)
    viewer.dims.set_current_step(0, 4)
    widget = MeasureWidget(viewer)
    widget.method_combo.setCurrentText("edges")
    widget.measure()
    wait(lambda: widget.result is not None and widget.run_button.isEnabled())
    assert widget.result.frame_index == 4
    deep = viewer.layers["deep boundary"]
    assert deep.ndim == 3
    assert np.all(np.asarray(deep.data[0])[:, 0] == 4.0)  # shown on frame 4 only
    # deep band of frame 4 starts 8 rows lower than frame 0's: thickness ~ (148 - 50) px
    assert widget.result.mean_thickness_px == pytest.approx(98.0, abs=2.5)


def test_reader_multiframe_dicom_regions_scale_translate_and_time(viewer, sample_images):
    layer = viewer.open(str(sample_images / "multiframe.dcm"), plugin="musclethick")[0]
    assert layer.data.shape == (8, 256, 256)  # 8 frames on the time axis, tissue region only
    assert layer.scale.tolist() == pytest.approx([1.0, 0.15, 0.15])  # 0.015 cm per px
    assert layer.translate.tolist() == pytest.approx([0.0, 16 * 0.15, 40 * 0.15])
    frames = layer.metadata["musclethick_frames"]
    assert [f.frame_index for f in frames] == list(range(8))
    assert frames[0].calibration.source == "dicom_region"


def test_reader_real_cine_calibrated_from_ruler(viewer, sample_images):
    layer = viewer.open(str(sample_images / "cine.mp4"), plugin="musclethick")[0]
    assert layer.data.shape[0] == 6
    frame = layer.metadata["musclethick_frames"][0]
    assert frame.calibration.source == "ruler"
    assert layer.scale[-1] == pytest.approx(frame.calibration.mm_per_px)
    assert layer.translate[-1] == pytest.approx(frame.region.x0 * frame.calibration.mm_per_px)


def test_sample_data_is_a_real_calibrated_scan(viewer):
    layers = viewer.open_sample("musclethick", "scan")
    layer = layers[0]
    assert layer.ndim == 2
    assert str(layer.units[-1]) == "millimeter"
    assert 0.05 < layer.scale[-1] < 0.3


def test_app_view_and_review_set_up_the_viewer(viewer, sample_images, study_store):
    from musclethick._napari._app import make_review_viewer, make_view_viewer
    from musclethick.errors import InputError, StoreError

    _, measure = make_view_viewer(sample_images / "multiframe.dcm", viewer=viewer)
    assert measure.image_layer() is not None
    assert viewer.canvas.overlays.scale_bar.visible
    viewer.layers.clear()
    _, review = make_review_viewer(study_store, reviewer="AB", viewer=viewer)
    assert review.session.progress() == (0, 3)
    review.close()
    with pytest.raises(InputError, match=r"missing\.png"):
        make_view_viewer("missing.png", viewer=viewer)
    with pytest.raises(StoreError, match="reviewer"):
        make_review_viewer(study_store, reviewer=" ", viewer=viewer)


def test_measure_widget_reports_a_missing_model_without_crashing(viewer, wait, scan_png, tmp_path):
    from musclethick._napari._qt._measure_widget import MeasureWidget
    from musclethick.pipeline import MeasureSettings

    ((data, kwargs, _),) = read_layers(str(scan_png))
    viewer.add_image(data, **kwargs)
    missing = tmp_path / "none.pt"
    widget = MeasureWidget(viewer, settings=MeasureSettings(model_path=str(missing)))
    assert widget.method_combo.currentText() == "model"
    widget.measure()
    wait(lambda: widget.run_button.isEnabled())
    assert "none.pt" in widget.error
    assert widget.result is None
    assert "deep boundary" not in [layer.name for layer in viewer.layers]


def test_measure_widget_says_why_it_refuses_a_float_layer(viewer):
    from musclethick._napari._qt._measure_widget import MeasureWidget

    viewer.add_image(np.linspace(-1.0, 1.0, 64 * 64).reshape(64, 64), name="normalised")
    widget = MeasureWidget(viewer)
    assert widget.measure() is None
    assert "rescale it to 0-255" in widget.error
    assert widget.result is None


def test_pixel_size_typed_in_the_widget_puts_the_scale_bar_in_mm(viewer, wait, scan_png):
    from musclethick._napari._qt._measure_widget import MeasureWidget

    ((data, kwargs, _),) = read_layers(str(scan_png))  # no ruler, no DICOM: pixels
    layer = viewer.add_image(data, **kwargs)
    assert [str(u) for u in layer.units] == ["pixel", "pixel"]
    frame = layer.metadata["musclethick_frames"][0]
    widget = MeasureWidget(viewer)
    widget.method_combo.setCurrentText("edges")
    widget.mm_per_px.setValue(0.1)
    widget.measure()
    wait(lambda: widget.result is not None and widget.run_button.isEnabled())
    assert layer.scale.tolist() == pytest.approx([0.1, 0.1])
    assert layer.translate.tolist() == pytest.approx([frame.region.y0 * 0.1, frame.region.x0 * 0.1])
    # every layer in mm: the scale bar takes its unit from the layers (napari >= 0.6)
    assert {str(u) for u in viewer.layers.units} == {"millimeter"}
    deep = viewer.layers["deep boundary"]
    v = np.asarray(deep.data[0])[0]
    np.testing.assert_allclose(deep.data_to_world(v), layer.data_to_world(v))
    result = widget.result
    assert result.calibration.source == "user"
    # the fixture's known geometry: superficial band ending at row 50, deep band starting at
    # row 150 (synthetic_scan's defaults), so 100 px = 10.0 mm at 0.1 mm/px; each edge lies
    # within half a pixel of the step between band and speckle: 1 px = 0.1 mm in all
    assert result.mean_thickness_mm == pytest.approx((150 - 50) * 0.1, abs=0.1)
    assert result.lines and all(
        line.thickness_mm == pytest.approx(10.0, abs=0.1) for line in result.lines
    )
    assert widget.table.values()["line mean"].startswith(f"{result.mean_thickness_mm:.2f} mm")
    widget.mm_per_px.setValue(0.0)  # "from file" again: back to pixels
    widget.measure()
    wait(lambda: widget.run_button.isEnabled() and widget.result.calibration.source != "user")
    assert [str(u) for u in layer.units] == ["pixel", "pixel"]
    assert widget.table.values()["line mean"].endswith(" px")


def test_view_command_takes_a_pixel_size(viewer, wait, scan_png):
    from musclethick._napari._app import make_view_viewer
    from musclethick.cli import get_arg_parser

    args = get_arg_parser().parse_args(["view", str(scan_png), "--mm-per-px", "0.1"])
    assert (args.mm_per_px, args.depth_mm) == (0.1, None)
    calibration = CalibrationOptions(mm_per_px=args.mm_per_px, depth_mm=args.depth_mm)
    _, widget = make_view_viewer(scan_png, viewer=viewer, calibration=calibration, measure=True)
    wait(lambda: widget.result is not None and widget.run_button.isEnabled())
    assert widget.image_layer().scale.tolist() == pytest.approx([0.1, 0.1])
    assert widget.result.calibration.mm_per_px == 0.1
    store = str(scan_png)  # any existing file: only the parsing is tested here
    assert get_arg_parser().parse_args(["review", store, "--reviewer", "A", "--blind"]).blind
    with pytest.raises(SystemExit):
        get_arg_parser().parse_args(
            ["view", str(scan_png), "--mm-per-px", "0.1", "--depth-mm", "40"]
        )


def test_measure_widget_names_the_frame_its_table_shows(viewer, wait, scan_mp4):
    from musclethick._napari._qt._measure_widget import MeasureWidget

    ((data, kwargs, _),) = read_layers(str(scan_mp4), calibration=CalibrationOptions(mm_per_px=0.2))
    viewer.add_image(data, **kwargs)
    viewer.dims.set_current_step(0, 2)
    widget = MeasureWidget(viewer)
    widget.method_combo.setCurrentText("edges")
    widget.measure()
    wait(lambda: widget.result is not None and widget.run_button.isEnabled())
    assert widget.table.values()["frame"] == "2"
    assert widget.status.text().startswith("Frame 2: mean thickness")
    viewer.dims.set_current_step(0, 4)
    assert widget.status.text().startswith("Frame 4 is not measured: the table shows frame 2")
    assert widget.table.values()["frame"] == "2"
    viewer.dims.set_current_step(0, 2)
    assert widget.status.text().startswith("Frame 2: mean thickness")


def test_without_a_display_the_viewer_commands_say_so_in_one_line(scan_png, monkeypatch, capsys):
    """On a machine without a display Qt aborts the process with a page of plugin messages;
    the commands check first and give one line with the way out (exit 2)."""
    from musclethick.cli import main
    from musclethick.cli.viewer import display_problem, x_server_answers

    shown = os.environ["DISPLAY"]  # pytest-xvfb's
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    assert main(["view", str(scan_png)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no display" in err[0] and "xvfb-run" in err[0]
    assert main(["review", str(scan_png), "--reviewer", "A"]) == 2
    assert "musclethick review: no display" in capsys.readouterr().err
    # the display this test runs on (Xvfb) answers; a stale one does not
    assert display_problem({"DISPLAY": shown}, "linux") == ""
    assert "no X server answers at DISPLAY=:987" in display_problem({"DISPLAY": ":987"}, "linux")
    assert not x_server_answers("127.0.0.1:987", timeout_s=0.5)  # TCP port 6987: nothing there
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") == ""
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") == ""
    assert display_problem({}, "darwin") == ""
