"""Review you can trust: what the review widget shows and stores, item by item (issue 12).

Each test drives the widget in a real viewer under Xvfb and checks both the screen (layers,
labels, table, status line, scale bar) and the real SQLite store.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.napari

import warnings  # noqa: E402

from musclethick.study.store import StudyStore  # noqa: E402

MM_PER_PX = 0.1  # the calibration build_store (conftest) measures with


def _press(viewer, key: str) -> None:
    assert viewer.window._qt_viewer._key_map_handler.press_key(key), f"{key} is not bound"


def _review(viewer, store_path, **kwargs):
    from musclethick._napari._qt._review_widget import ReviewWidget

    widget = ReviewWidget(viewer, str(store_path), reviewer="AB", **kwargs)
    viewer.window.add_dock_widget(widget)
    return widget


@pytest.fixture
def widget(viewer, study_store):
    w = _review(viewer, study_store)
    yield w
    w.close()


def _go_to(widget, result_id: int) -> None:
    ids = [i.result_id for i in widget.session.items]
    widget.queue_list.setCurrentRow(ids.index(result_id))
    assert widget.session.current.result_id == result_id


def _layer_names(viewer) -> set[str]:
    return {layer.name for layer in viewer.layers}


@pytest.fixture
def failed_study(tmp_path):
    """A store with a scan where nothing is found (S09, flat grey) and an ok scan (S10)."""
    import cv2

    from musclethick.io.options import CalibrationOptions
    from musclethick.pipeline import MeasureSettings, measure_path

    flat = tmp_path / "S09_flat.png"
    cv2.imwrite(str(flat), np.full((120, 160), 40, np.uint8))
    ok = tmp_path / "S10_ok.png"
    rng = np.random.default_rng(3)
    image = rng.normal(45, 12, (200, 240))
    image[38:50] = 210
    image[150:162] = 210
    cv2.imwrite(str(ok), image.clip(0, 255).astype(np.uint8))
    path = tmp_path / "failed.sqlite"
    settings = MeasureSettings(method="edges", calibration=CalibrationOptions(mm_per_px=0.2))
    ids = {}
    with StudyStore(path) as store:
        for subject, scan in (("S09", flat), ("S10", ok)):
            results = measure_path(scan, settings)
            (ids[subject],) = store.record_results(
                store.record_scan(scan, subject=subject, week=2), results, None
            )
    return path, ids


# -- 1. a scan that cannot be shown shows its own values only ---------------------------------
def test_scan_that_cannot_be_shown_shows_only_its_own_values(viewer, study_store, tmp_path):
    from pathlib import Path

    from musclethick.io.options import CalibrationOptions
    from musclethick.pipeline import MeasureSettings, measure_path

    store_path = study_store  # S01, S02, S03 measured
    broken = tmp_path / "S04_broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a truncated capture
    settings = MeasureSettings(method="edges", calibration=CalibrationOptions(mm_per_px=0.1))
    with StudyStore(store_path) as store:
        (failed_id,) = store.record_results(
            store.record_scan(broken, subject="S04"), measure_path(broken, settings), None
        )
        stored = {r.scan.subject: r for r in store.iter_results()}
    Path(stored["S02"].scan.path).unlink()  # measured, then deleted
    widget = _review(viewer, store_path)
    try:
        _go_to(widget, stored["S01"].id)
        s01 = widget.table.values()
        assert s01["status"] == "ok" and "line mean" in s01
        assert "deep boundary" in _layer_names(viewer)

        _go_to(widget, failed_id)  # unreadable: nothing of S01 may stay on screen
        table = widget.table.values()
        assert table["status"] == "failed" and "line mean" not in table
        assert "S04_broken.png" in table["message"]
        assert table["flags"] == "none"
        assert widget.model_label.text().startswith("model result: none")
        assert widget.status.text().startswith("⚠ cannot show this scan")
        assert not {"review scan", "deep boundary", "measurement lines"} & _layer_names(viewer)

        _go_to(widget, stored["S02"].id)  # measured, then its file was deleted
        table = widget.table.values()
        assert table["line mean"].startswith(f"{stored['S02'].thickness_mm:.2f} mm")
        assert table["line mean"] != s01["line mean"]
        assert "scan file not found" in widget.status.text()
        assert not widget.accept()  # nothing shown: nothing to accept
        with StudyStore(store_path) as store:
            assert store.latest_reviews() == {}
    finally:
        widget.close()


# -- 2. a failed scan cannot be accepted -------------------------------------------------------
def test_failed_scan_cannot_be_accepted(viewer, failed_study):
    from musclethick._napari._qt._review_widget import SHORTCUTS

    store_path, ids = failed_study
    widget = _review(viewer, store_path)
    try:
        assert widget.session.current.result_id == ids["S09"]  # failed before ok
        _press(viewer, SHORTCUTS["accept"])
        assert "nothing to accept" in widget.error
        assert widget.session.current.result_id == ids["S09"]
        assert widget.table.values()["status"] == "failed"
        with StudyStore(store_path) as store:
            assert store.reviews(ids["S09"]) == []
            table = store.results_dataframe()
        assert set(table[table.result_id == ids["S09"]].qc_status) == {"failed"}
    finally:
        widget.close()


# -- 3. Shift-R in the reason box rejects --------------------------------------------------------
def test_shift_r_in_the_reason_box_rejects_with_the_reason(viewer, widget, study_store):
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    first = widget.session.current.result_id
    widget.reason_edit.setFocus()
    QTest.keyClicks(widget.reason_edit, "probe tilted, new wall")  # n and w type as usual
    assert widget.reason_edit.text() == "probe tilted, new wall"
    assert widget.session.current.result_id == first
    QTest.keyClick(widget.reason_edit, Qt.Key.Key_R, Qt.KeyboardModifier.ShiftModifier)
    assert widget.reason_edit.text() == ""  # not "…wallR": the reason was used and cleared
    assert widget.session.current.result_id != first  # on to the next scan
    with StudyStore(study_store) as store:
        review = store.latest_reviews()[first]
    assert (review.decision, review.reason) == ("reject", "probe tilted, new wall")
    assert "rejected" in widget.queue_list.item(0).text()


# -- 4. unsaved edits are not dropped without a warning -------------------------------------------
def test_moving_on_with_an_unsaved_edit_needs_a_second_press(viewer, widget, study_store):
    from musclethick._napari._qt._review_widget import SHORTCUTS

    first = widget.session.current.result_id
    deep = viewer.layers["deep boundary"]
    deep.data = [(np.asarray(deep.data[0]) + np.array([10.0, 0.0]), "path")]
    edited_mm = widget.editor.result.mean_thickness_mm
    _press(viewer, SHORTCUTS["next"])
    assert widget.session.current.result_id == first  # not moved
    assert "unsaved edit" in widget.status.text()
    assert widget.editor.result.mean_thickness_mm == edited_mm  # the edit is still there
    assert widget.queue_list.currentRow() == 0
    deep.data = [(np.asarray(deep.data[0]) + np.array([1.0, 0.0]), "path")]  # edits on
    widget.queue_list.setCurrentRow(2)  # a click in the queue is held back too
    assert widget.session.current.result_id == first and widget.queue_list.currentRow() == 0
    assert "unsaved edit" in widget.status.text()
    _press(viewer, SHORTCUTS["next"])  # asked again: discard and move
    assert widget.session.current.result_id != first
    assert not widget.editor.edited
    with StudyStore(study_store) as store:
        assert store.latest_reviews() == {}


# -- 5. an untouched boundary keeps its source after a saved correction ---------------------------
def test_untouched_boundary_keeps_its_source_after_reopening(viewer, widget, study_store):
    from musclethick._napari._qt._review_widget import SHORTCUTS

    first = widget.session.current.result_id
    model_sup = widget.table.values()["superficial"]
    assert model_sup.startswith("edges (")
    deep = viewer.layers["deep boundary"]
    deep.data = [(np.asarray(deep.data[0]) + np.array([6.0, 0.0]), "path")]
    _press(viewer, SHORTCUTS["correct"])
    _press(viewer, SHORTCUTS["previous"])
    assert widget.session.current.result_id == first
    table = widget.table.values()
    assert table["superficial"] == model_sup  # not "manual (1.00)"
    assert table["deep"] == "manual (1.00)" and table["method"] == "manual"


# -- 6. the status line follows undo back to the model ------------------------------------------
def test_undo_back_to_the_model_clears_the_edited_status(viewer, widget):
    deep = viewer.layers["deep boundary"]
    viewer.layers.selection.active = deep
    deep.data = [(np.asarray(deep.data[0]) + np.array([4.0, 0.0]), "path")]
    assert widget.status.text().startswith("Edited: mean thickness")
    _press(viewer, "Control-Z")
    assert not widget.editor.edited
    assert "Edited" not in widget.status.text()
    assert widget.status.text().startswith("1/3: ")
    _press(viewer, "Control-Z")  # nothing left: said so, nothing changes
    assert widget.status.text().startswith("Nothing to undo")
    assert not widget.editor.edited


# -- 7. a deleted boundary leaves no measurement on screen ---------------------------------------
def test_deleted_boundary_leaves_no_lines_labels_or_values(viewer, widget):
    from musclethick._napari._editor import DRAW_MODE

    deep = viewer.layers["deep boundary"]
    assert len(viewer.layers["measurement lines"].data) == 3
    deep.selected_data = {0}
    deep.remove_selected()
    assert len(viewer.layers["measurement lines"].data) == 0
    assert len(viewer.layers["thickness labels"].data) == 0
    table = widget.table.values()
    assert not any(name.startswith("line ") for name in table)
    assert table["status"] == "failed" and table["deep"] == "missing"
    assert "draw the deep boundary" in widget.status.text()
    assert deep.mode == DRAW_MODE
    assert not widget.correct() and "cannot save" in widget.error
    assert widget.undo()
    assert len(viewer.layers["measurement lines"].data) == 3
    assert "line mean" in widget.table.values()


# -- 8. a boundary drawn by clicks is one polyline ------------------------------------------------
def _click(layer, points_data) -> None:
    """Mouse clicks at ``points_data`` (frame px) as napari delivers them, then Esc."""
    from napari.utils._test_utils import read_only_mouse_event
    from napari.utils.interactions import (
        mouse_move_callbacks,
        mouse_press_callbacks,
        mouse_release_callbacks,
    )

    for point in points_data:
        world = layer.data_to_world(np.asarray(point, dtype=float))
        for kind, callbacks in (
            ("mouse_move", mouse_move_callbacks),
            ("mouse_press", mouse_press_callbacks),
            ("mouse_release", mouse_release_callbacks),
        ):
            event = read_only_mouse_event(type=kind, position=world, pos=np.asarray(point) * 4)
            callbacks(layer, event)


def test_boundaries_drawn_by_clicks_are_one_polyline_each(viewer, failed_study):
    from musclethick._napari._editor import DRAW_MODE

    store_path, ids = failed_study
    widget = _review(viewer, store_path)
    try:
        sup = viewer.layers["superficial boundary"]
        deep = viewer.layers["deep boundary"]
        assert sup.mode == DRAW_MODE and deep.mode == DRAW_MODE
        for layer, row in ((sup, 30.0), (deep, 80.0)):
            viewer.layers.selection.active = layer
            _click(layer, [[row, 10.0], [row + 1, 60.0], [row, 110.0], [row, 150.0]])
            _press(viewer, "Escape")  # napari's "finish drawing"
            assert layer.nshapes == 1 and len(layer.data[0]) == 4
        result = widget.editor.result
        # both drawn with the same bump at x = 60: 50 rows apart everywhere (0.2 mm/px)
        assert [m.thickness_px for m in result.lines] == pytest.approx([50.0] * 4)
        assert result.mean_thickness_mm == pytest.approx(10.0)
        # a boundary drawn in two pieces is joined, and the status says so
        deep.add_paths([np.array([[82.0, 152.0], [82.0, 158.0]])])
        assert deep.nshapes == 2
        assert widget.editor.result.deep.x_max == 158.0
        assert "2 pieces of the deep boundary joined into one" in widget.status.text()
        assert widget.correct()
        with StudyStore(store_path) as store:
            review = store.latest_reviews()[ids["S09"]]
        assert review.deep.x_px.max() - review.deep.x_px.min() == pytest.approx(148.0)
    finally:
        widget.close()


# -- 10. fit, labels, warnings -------------------------------------------------------------------
def _fits(viewer, layer) -> bool:
    """The image fills 95 % of the canvas along one axis and fits along the other."""
    extent = layer.extent.world[1] - layer.extent.world[0]
    height, width = viewer.canvas.size
    filled = float(viewer.scene.camera.zoom) * np.array(extent[-2:]) / np.array([height, width])
    return bool(np.all(filled <= 0.951) and np.isclose(filled.max(), 0.95, atol=0.01))


def test_the_canvas_fits_each_scan_also_after_the_window_is_resized(viewer, widget):
    image = viewer.layers["review scan"]
    assert _fits(viewer, image)
    viewer.canvas.size = (900, 1500)  # the window is shown and laid out after start-up
    assert _fits(viewer, image)
    _press(viewer, "n")
    assert _fits(viewer, image)
    viewer.scene.camera.zoom = (
        viewer.scene.camera.zoom * 2
    )  # the reviewer zoomed in: a resize keeps it
    zoom = viewer.scene.camera.zoom
    viewer.canvas.size = (800, 1400)
    assert viewer.scene.camera.zoom == zoom


def test_labels_are_outlined_inside_the_muscle_and_never_overlap(viewer, widget):
    labels = viewer.layers["thickness labels"]
    result = widget.editor.result
    drawn = sorted((m for m in result.lines if m.line != "mean"), key=lambda m: m.x_px)
    colors = list(labels.features["color"])
    assert colors == ["black"] * 8 * len(drawn) + ["white"] * len(drawn)  # outline below
    assert list(labels.features["label"][-3:]) == [f"{m.thickness_mm:.2f} mm" for m in drawn]
    assert labels.text.size == 10

    def no_overlap_and_off_the_lines():
        boxes = widget.editor.label_boxes
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
        for box, line in zip(boxes, drawn, strict=True):
            for row in (line.y_superficial_px, line.y_deep_px):
                assert not box[0] < row < box[2]  # no label sits on a boundary
        return boxes

    boxes = no_overlap_and_off_the_lines()  # fitted: each label in the dark muscle
    white = np.asarray(labels.data)[-len(drawn) :]
    for (y, x), line, box in zip(white, drawn, boxes, strict=True):
        assert x == pytest.approx(line.x_px)
        assert line.y_superficial_px < box[0] and box[2] < line.y_deep_px
        assert y == pytest.approx(0.5 * (box[0] + box[2]))
    viewer.scene.camera.zoom = viewer.scene.camera.zoom / 6  # zoomed far out: laid out again
    assert not np.array_equal(widget.editor.label_boxes, boxes)
    no_overlap_and_off_the_lines()


def test_normal_use_raises_no_napari_warning(viewer, failed_study):
    from napari.utils.notifications import notification_manager

    from musclethick._napari._qt._review_widget import SHORTCUTS

    store_path, _ = failed_study
    # Python warnings fail any test (pyproject: filterwarnings = error); napari's own
    # notifications (the pop-ups over the canvas) are collected here
    shown = []
    notification_manager.notification_ready.connect(shown.append)
    caught = warnings.catch_warnings(record=True)
    recorded = caught.__enter__()
    warnings.simplefilter("always")  # deprecations too: none may come from musclethick's code
    try:
        widget = _review(viewer, store_path)
        sup = viewer.layers["superficial boundary"]
        deep = viewer.layers["deep boundary"]
        for layer, row in ((sup, 30.0), (deep, 80.0)):  # a correction from scratch
            viewer.layers.selection.active = layer
            _click(layer, [[row, 10.0], [row, 80.0], [row, 150.0]])
            _press(viewer, "Escape")
        _press(viewer, SHORTCUTS["correct"])  # then the next scan opens
        moved = viewer.layers["deep boundary"]
        moved.data = [(np.asarray(moved.data[0]) + np.array([3.0, 0.0]), "path")]
        _press(viewer, "Control-Z")
        _press(viewer, SHORTCUTS["accept"])
        widget.close()
    finally:
        caught.__exit__(None, None, None)
        notification_manager.notification_ready.disconnect(shown.append)
    assert [str(n.message) for n in shown] == []
    ours = [
        f"{w.filename}:{w.lineno}: {w.message}" for w in recorded if "musclethick" in w.filename
    ]
    assert ours == []


# -- 12. a one-vertex move keeps the model's points ----------------------------------------------
def test_saving_a_one_vertex_move_keeps_the_rest_of_the_model_boundary(viewer, widget, study_store):
    from musclethick._napari._qt._review_widget import SHORTCUTS

    first = widget.session.current.result_id
    model = widget.editor.result
    deep = viewer.layers["deep boundary"]
    vertices = np.asarray(deep.data[0]).copy()
    vertices[1, 0] += 5.0  # the second of 12 vertices, near the left end
    deep.data = [(vertices, "path")]
    _press(viewer, SHORTCUTS["correct"])
    with StudyStore(study_store) as store:
        stored = store.get_result(first)
    review = stored.review
    # the model's points, less those between vertices 0 and 2 (now two straight segments
    # through the moved vertex 1), plus vertices 1 and 2: not the 12 vertices shown
    x0 = stored.region[0]
    between = (stored.deep.x_px > vertices[0, 1] + x0) & (stored.deep.x_px < vertices[2, 1] + x0)
    assert review.deep.x_px.size == stored.deep.x_px.size - np.count_nonzero(between) + 2
    # right of the third vertex nothing moved: the model's own points, to the last decimal
    keep = stored.deep.x_px > vertices[2, 1] + stored.region[0]
    np.testing.assert_array_equal(review.deep.y_at(stored.deep.x_px[keep]), stored.deep.y_px[keep])
    by_line = {m.line: m for m in review.lines}
    for line in model.lines:
        if line.line != "mean" and line.x_px > vertices[2, 1]:
            assert by_line[line.line].thickness_px == line.thickness_px  # not shifted by 0.1 px


# -- blind review ---------------------------------------------------------------------------------
def test_blind_review_hides_subject_week_and_file(viewer, failed_study):
    store_path, ids = failed_study
    widget = _review(viewer, store_path, blind=True)
    try:
        texts = [widget.queue_list.item(i).text() for i in range(widget.queue_list.count())]
        assert texts[0].startswith(f"✗ scan {ids['S09']}")
        for text in [*texts, widget.status.text()]:
            assert "S09" not in text and "S10" not in text and "w2" not in text
        assert "S09_flat" not in widget.table.values()["message"]
        assert widget.filters["subject"].isHidden() and widget.filters["week"].isHidden()
        assert not widget.blind_check.isEnabled()  # asked for at start-up: stays on
        assert widget.current_filters().subject is None
    finally:
        widget.close()
    open_widget = _review(viewer, store_path)
    try:
        assert "S09" in open_widget.queue_list.item(0).text()
        assert not open_widget.filters["subject"].isHidden()
    finally:
        open_widget.close()
