"""The review widget in a real viewer: queue, keys, decisions in the store, conflicts."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.napari

from musclethick.study.store import StudyStore  # noqa: E402

MM_PER_PX = 0.1  # the calibration build_store (conftest) measures with


def _press(viewer, key: str) -> None:
    assert viewer.window._qt_viewer._key_map_handler.press_key(key), f"{key} is not bound"


@pytest.fixture
def widget(viewer, study_store):
    from musclethick._napari._qt._review_widget import ReviewWidget

    w = ReviewWidget(viewer, str(study_store), reviewer="AB")
    viewer.window.add_dock_widget(w)
    yield w
    w.close()


def test_review_widget_keys_decisions_and_correction(viewer, widget, study_store):
    from musclethick._napari._qt._review_widget import SHORTCUTS

    assert widget.queue_list.count() == 3
    assert widget.progress.value() == 0 and widget.progress.maximum() == 3
    assert {"superficial boundary", "deep boundary", "measurement lines"} <= {
        layer.name for layer in viewer.layers
    }
    first = widget.session.current.result_id

    _press(viewer, SHORTCUTS["next"])
    assert widget.session.index == 1
    _press(viewer, SHORTCUTS["previous"])
    assert widget.session.index == 0

    _press(viewer, SHORTCUTS["accept"])  # saved at once, moves to the next pending scan
    assert widget.progress.value() == 1
    assert widget.session.index == 1

    _press(viewer, SHORTCUTS["reject"])  # no reason: refused
    assert "reason" in widget.error
    widget.reason_edit.setText("probe tilted")
    _press(viewer, SHORTCUTS["reject"])
    assert widget.progress.value() == 2
    rejected = widget.session.items[1].result_id

    # correct the third: move the deep boundary down 10 px and save with the shortcut
    model_mm = widget.editor.result.mean_thickness_mm
    deep = viewer.layers["deep boundary"]
    deep.data = [(np.asarray(deep.data[0]) + np.array([10.0, 0.0]), "path")]
    edited_mm = widget.editor.result.mean_thickness_mm
    assert edited_mm == pytest.approx(model_mm + 10 * MM_PER_PX, abs=0.02)
    corrected = widget.session.current.result_id
    viewer.layers.selection.active = deep
    deep.data = [(np.asarray(deep.data[0]) + np.array([5.0, 0.0]), "path")]
    _press(viewer, "Control-Z")  # undo on the active boundary layer
    assert widget.editor.result.mean_thickness_mm == pytest.approx(edited_mm)
    _press(viewer, SHORTCUTS["correct"])
    assert widget.progress.value() == 3
    assert "3 of 3" in widget.progress.text()

    with StudyStore(study_store) as store:
        reviews = store.latest_reviews()
        assert reviews[first].decision == "accept"
        assert reviews[rejected].decision == "reject"
        assert reviews[rejected].reason == "probe tilted"
        assert reviews[corrected].decision == "correct"
        assert {r.reviewer for r in reviews.values()} == {"AB"}
        table = store.results_dataframe()
        row = table[(table.result_id == corrected) & (table.line == "mean")].iloc[0]
        assert row.thickness_mm == pytest.approx(edited_mm)
        assert row.thickness_mm_model == pytest.approx(model_mm, abs=1e-6)
        assert (row.qc_status, row.reviewed_by) == ("corrected", "AB")


def test_review_widget_shows_conflict_and_does_not_overwrite(widget, study_store):
    current = widget.session.current.result_id
    with StudyStore(study_store) as other:  # a second reviewer decides first
        other.record_review(current, "reject", reviewer="CD", expected_revision=0, reason="x")
    assert not widget.accept()
    assert "someone else reviewed it" in widget.error
    assert "not saved" in widget.status.text()
    with StudyStore(study_store) as store:
        assert [(r.reviewer, r.decision) for r in store.reviews(current)] == [("CD", "reject")]
    # the queue was reloaded: the other decision is listed
    row = [i.result_id for i in widget.session.items].index(current)
    assert "rejected" in widget.queue_list.item(row).text()


def test_review_widget_filters(widget):
    widget.filters["leg"].setCurrentText("R")
    assert widget.queue_list.count() == 1
    assert widget.session.current.subject == "S02"
    widget.filters["leg"].setCurrentText("(any)")
    widget.filters["subject"].setCurrentText("S03")
    assert [i.subject for i in widget.session.items] == ["S03"]
    assert [widget.filters["method"].itemText(i) for i in range(2)] == ["(any)", "edges"]


def test_failed_scan_is_corrected_by_drawing_both_boundaries(viewer, tmp_path):
    import cv2

    from musclethick._napari._editor import DRAW_MODE
    from musclethick._napari._qt._review_widget import ReviewWidget
    from musclethick.io.options import CalibrationOptions
    from musclethick.pipeline import MeasureSettings, measure_path

    scan = tmp_path / "noise.png"
    cv2.imwrite(str(scan), np.full((120, 160), 40, np.uint8))  # nothing to find
    store_path = tmp_path / "failed.sqlite"
    settings = MeasureSettings(method="edges", calibration=CalibrationOptions(mm_per_px=0.2))
    with StudyStore(store_path) as store:
        results = measure_path(scan, settings)
        assert results[0].status == "failed"
        store.record_results(store.record_scan(scan, subject="S09"), results, None)
    widget = ReviewWidget(viewer, str(store_path), reviewer="EF")
    try:
        sup = viewer.layers["superficial boundary"]
        deep = viewer.layers["deep boundary"]
        assert sup.nshapes == 0 and sup.mode == DRAW_MODE
        sup.add_paths([np.array([[30.0, 10.0], [30.0, 150.0]])])
        assert "draw the deep boundary" in widget.error
        deep.add_paths([np.array([[80.0, 10.0], [80.0, 150.0]])])
        assert widget.editor.result.mean_thickness_mm == pytest.approx(50 * 0.2)
        assert widget.correct()
        with StudyStore(store_path) as store:
            table = store.results_dataframe()
        mean = table[table.line == "mean"].iloc[0]
        assert (mean.qc_status, mean.reviewed_by) == ("corrected", "EF")
        assert mean.thickness_mm == pytest.approx(10.0)
    finally:
        widget.close()
