"""Reviewing architecture: the editable fascicles layer, live re-measurement and provenance.

A real viewer under Xvfb and a real SQLite store. The scan is rendered with fascicles at a
known angle between horizontal aponeuroses (inner edges at rows 90 and 320, 0.1 mm per px),
so every re-measured value has a closed-form answer.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.napari

from musclethick.study.store import StudyStore  # noqa: E402
from musclethick.types import Boundary, Fascicle  # noqa: E402

MM_PER_PX = 0.1
SUP, DEEP = 90.0, 320.0


def _press(viewer, key: str) -> None:
    assert viewer.window._qt_viewer._key_map_handler.press_key(key), f"{key} is not bound"


@pytest.fixture
def architecture_store(tmp_path):
    """A store with one result measured with architecture on a rendered scan."""
    import cv2

    from architecture_scans import render_scan
    from musclethick.architecture import add_architecture
    from musclethick.io import read
    from musclethick.io.options import CalibrationOptions
    from musclethick.measure import assemble_result

    image, _, _ = render_scan(25.0, seed=2)
    scan = tmp_path / "S01_L_w0_mid.png"
    cv2.imwrite(str(scan), image)
    frame = next(iter(read(scan, calibration=CalibrationOptions(mm_per_px=MM_PER_PX))))
    x = np.arange(float(frame.shape[1]))
    sup, deep = (
        Boundary(x, np.full(x.size, SUP), "model"),
        Boundary(x, np.full(x.size, DEEP), "model"),
    )
    result = add_architecture(frame, assemble_result(frame, sup, deep, method="model"))
    assert result.architecture.pennation_deg == pytest.approx(25.0, abs=0.5)
    path = tmp_path / "arch.sqlite"
    with StudyStore(path) as store:
        scan_id = store.record_scan(scan, subject="S01", leg="L", week=0, site="mid", rep=1)
        store.record_results(scan_id, [result], None)
    return path


@pytest.fixture
def widget(viewer, architecture_store):
    from musclethick._napari._qt._review_widget import ReviewWidget

    w = ReviewWidget(viewer, str(architecture_store), reviewer="AB")
    viewer.window.add_dock_widget(w)
    yield w
    w.close()


def _line(angle_deg: float, x: float = 300.0, y: float = 205.0, half: float = 40.0) -> np.ndarray:
    """A fascicle shape (rows ``(y, x)``) through ``(x, y)`` at ``angle_deg`` (image-up)."""
    dx, dy = half * math.cos(math.radians(angle_deg)), -half * math.sin(math.radians(angle_deg))
    return np.array([[y - dy, x - dx], [y + dy, x + dx]])


def test_fascicles_are_shown_edited_remeasured_undone_and_stored(
    viewer, widget, architecture_store
):
    from musclethick._napari._qt._review_widget import SHORTCUTS
    from musclethick.export import build_tables
    from musclethick.protocol import load_protocol

    editor = widget.editor
    layer = editor.fascicle_layer
    detected = widget.editor.result.architecture
    assert layer is not None and layer.nshapes == detected.n_fascicles >= 10
    assert editor.fascicle_line_layer.data.shape == (1, 2, 2)
    table = widget.table.values()
    assert table["pennation angle"] == f"{detected.pennation_deg:.1f} deg"
    assert table["fascicles"].startswith(f"{detected.n_fascicles} (ridges)")

    # replace every fascicle by one drawn at 30 deg: PA and FL re-measured at once
    layer.data = [(_line(30.0), "line")]
    arch = editor.result.architecture
    thickness_mm = (DEEP - SUP) * MM_PER_PX
    assert arch.pennation_deg == pytest.approx(30.0, abs=1e-4)
    assert arch.fascicle_length_mm == pytest.approx(
        thickness_mm / math.sin(math.radians(30.0)), rel=1e-5
    )
    assert arch.method == "manual" and arch.confidence == 1.0 and arch.n_fascicles == 1
    assert arch.fascicles[0].source == "manual" and editor.edited
    assert widget.table.values()["pennation angle"] == "30.0 deg"
    # 23 mm / sin(30 deg) = 46 mm, inside the image
    assert "PA 30.0 deg  FL 46.0 mm  n 1" in widget.status.text()
    # the boundaries are untouched: the thickness stays the model's
    assert editor.result.mean_thickness_mm == pytest.approx(thickness_mm)

    # Ctrl-Z on the fascicles layer: the detected fascicles and the stored result again
    viewer.layers.selection.active = layer
    _press(viewer, "Control-Z")
    assert editor.result is editor.original and layer.nshapes == detected.n_fascicles

    # add a line to the detected ones: kept as detected + one manual
    layer.data = [*(np.asarray(d) for d in layer.data), _line(40.0, x=200.0)]
    arch = editor.result.architecture
    assert arch.n_fascicles == detected.n_fascicles + 1 and arch.method == "manual"
    assert sum(f.source == "manual" for f in arch.fascicles) == 1
    undone = editor.undo_fascicles()
    assert undone and editor.result is editor.original

    # a boundary edit re-measures the architecture with the fascicles shown
    layer.data = [(_line(30.0), "line")]
    deep = editor.layers["deep"]
    deep.data = [(np.asarray(deep.data[0]) + np.array([20.0, 0.0]), "path")]
    arch = editor.result.architecture
    assert arch.fascicle_length_mm == pytest.approx(
        (DEEP + 20.0 - SUP) * MM_PER_PX / math.sin(math.radians(30.0)), rel=1e-5
    )

    _press(viewer, SHORTCUTS["correct"])
    with StudyStore(architecture_store) as store:
        (stored,) = list(store.iter_results())
        review = stored.review
        results = store.results_dataframe()
    assert review.decision == "correct" and review.reviewer == "AB"
    assert review.architecture.method == "manual"
    # napari keeps vertices in float32
    assert review.architecture.pennation_deg == pytest.approx(30.0, abs=1e-4)
    (fascicle,) = review.architecture.fascicles  # original image coordinates (no crop here)
    expected = [v for p in _line(30.0) for v in (p[1], p[0])]
    assert fascicle.source == "manual"
    assert np.ravel(fascicle.to_points()) == pytest.approx(expected, abs=1e-3)
    assert stored.architecture.pennation_deg == pytest.approx(detected.pennation_deg)
    long = build_tables(results, load_protocol("default").adapted(weeks=[0], sites=["mid"]))["long"]
    assert long.pennation_deg.tolist() == pytest.approx([30.0] * len(long), abs=1e-4)
    assert long.pennation_deg_model.tolist() == pytest.approx([detected.pennation_deg] * len(long))
    assert set(long.qc_status) == {"corrected"}

    # opened again, the correction's fascicles are shown
    widget.show_current()
    assert widget.editor.fascicle_layer.nshapes == 1
    assert widget.editor.result.architecture.pennation_deg == pytest.approx(30.0, abs=1e-4)


def test_measure_widget_finds_fascicles_when_asked(viewer, tmp_path, wait):
    import cv2

    from architecture_scans import render_scan
    from musclethick._napari._qt._measure_widget import MeasureWidget

    image, _, _ = render_scan(20.0, seed=4)
    layer = viewer.add_image(image, name="rendered")
    widget = MeasureWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.layer_combo.setCurrentText(layer.name)
    widget.method_combo.setCurrentText("edges")
    widget.mm_per_px.setValue(MM_PER_PX)
    widget.architecture_box.setChecked(True)
    worker = widget.measure()
    wait(lambda: widget.editor is not None and not worker.is_running)
    arch = widget.editor.result.architecture
    assert arch is not None and arch.pennation_deg == pytest.approx(20.0, abs=1.0)
    assert "fascicles" in {l.name for l in viewer.layers}
    assert widget.table.values()["pennation angle"].endswith("deg")
    del cv2


def test_unmoved_fascicles_keep_their_source():
    from musclethick._napari._layers import fascicles_to_shapes, shapes_to_fascicles

    detected = (
        Fascicle(10.0, 20.0, 50.0, 5.0, "detected", 2.5),
        Fascicle(0.0, 0.0, 9.0, 9.0, "detected", 0.7),
    )
    shapes = fascicles_to_shapes(detected, leading=(3.0,))
    assert shapes[0].tolist() == [[3.0, 20.0, 10.0], [3.0, 5.0, 50.0]]
    assert shapes_to_fascicles(shapes, like=detected) == detected
    moved = [
        shapes[0],
        shapes[1] + np.array([0.0, 1.0, 0.0]),
        np.array([[3.0, 1.0, 1.0], [3.0, 1.0, 1.0]]),
    ]
    out = shapes_to_fascicles(moved, like=detected)
    assert out[0] is detected[0] and len(out) == 2  # the zero-length "line" is left out
    assert out[1] == Fascicle(0.0, 1.0, 9.0, 10.0, "manual", 1.0)
