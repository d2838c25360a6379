"""One-key fixes in the review widget: the runner-up layer pair, the ring of pairs offered for
a doubted result (the runner-up key shows them one after the other, then the model's own pair
again) and the next band down / up.

A real viewer, real SQLite stores whose results carry a runner-up pair (as the layer model
records one) or three band pairs (as the pipeline offers them), and real synthetic scans with a
fascia inside the muscle.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.napari

from musclethick.study.store import StudyStore  # noqa: E402

MM_PER_PX = 0.1  # the calibration build_runner_up_store (conftest) measures with
SHIFT_PX = 40.0  # how much higher its runner-up deep edge lies
# ring_study's ring (conftest), as (superficial shift, deep shift) in px from the measured pair
RING = ((0.0, -40.0), (0.0, -20.0), (10.0, 0.0))


def _press(viewer, key: str) -> None:
    assert viewer.window._qt_viewer._key_map_handler.press_key(key), f"{key} is not bound"


@pytest.fixture
def flagged(runner_up_study):
    assert (runner_up_study["mm_per_px"], runner_up_study["shift_px"]) == (MM_PER_PX, SHIFT_PX)
    return runner_up_study["path"], runner_up_study["ids"]


def _docked(viewer, store_path):
    """A review widget on ``store_path`` docked in the viewer (closed after the test)."""
    from musclethick._napari._qt._review_widget import ReviewWidget

    w = ReviewWidget(viewer, str(store_path), reviewer="AB")
    viewer.window.add_dock_widget(w)
    try:
        yield w
    finally:  # also when the generator is closed early
        w.close()


@pytest.fixture
def widget(viewer, flagged):
    yield from _docked(viewer, flagged[0])


def _deep_rows(viewer) -> np.ndarray:
    return np.asarray(viewer.layers["deep boundary"].data[0])[:, 0]


def test_runner_up_swap_remeasures_swaps_back_and_saves_with_provenance(viewer, widget, flagged):
    from musclethick._napari._qt._review_widget import SHORTCUTS

    store_path, ids = flagged
    assert widget.session.current.result_id == ids["S01"]  # flagged first
    assert "runner-up pair 0.20 nats" in widget.model_label.text()
    model = widget.editor.result
    model_mm = model.mean_thickness_mm
    rows = _deep_rows(viewer)
    lines = np.array([d[0, 0] + d[1, 0] for d in viewer.layers["measurement lines"].data])

    _press(viewer, SHORTCUTS["runner_up"])
    swapped = widget.editor.result
    # the runner-up deep edge lies 40 px higher: every line is 40 px x 0.1 mm/px shorter
    assert swapped.mean_thickness_mm == pytest.approx(model_mm - SHIFT_PX * MM_PER_PX)
    np.testing.assert_allclose(_deep_rows(viewer), rows - SHIFT_PX)
    shown = np.array([d[0, 0] + d[1, 0] for d in viewer.layers["measurement lines"].data])
    np.testing.assert_allclose(shown, lines - SHIFT_PX)
    table = widget.table.values()
    assert table["line mean"].startswith(f"{model_mm - 4.0:.2f} mm")
    assert (table["deep"], table["superficial"]) == ("runner_up (0.50)", "runner_up (0.60)")
    assert table["method"] == "runner_up"
    assert "Swapped to the runner-up pair (0.20 nats less plausible" in widget.status.text()
    labels = viewer.layers["thickness labels"]
    assert list(labels.features["label"][-3:]) == [
        f"{m.thickness_mm:.2f} mm" for m in swapped.lines if m.line != "mean"
    ]

    _press(viewer, SHORTCUTS["runner_up"])  # the pair shown before is the runner-up now
    assert widget.editor.result is model and not widget.editor.edited
    np.testing.assert_allclose(_deep_rows(viewer), rows)
    assert "Edited" not in widget.status.text() and "Swapped" not in widget.status.text()
    assert widget.table.values()["line mean"].startswith(f"{model_mm:.2f} mm")

    _press(viewer, SHORTCUTS["runner_up"])
    _press(viewer, SHORTCUTS["correct"])
    with StudyStore(store_path) as store:
        review = store.latest_reviews()[ids["S01"]]
        assert review.decision == "correct" and review.method == "runner_up"
        assert (review.superficial.source, review.deep.source) == ("runner_up", "runner_up")
        assert review.thickness_mm == pytest.approx(model_mm - 4.0)
        table = store.results_dataframe()
        mean = table[(table.result_id == ids["S01"]) & (table.line == "mean")].iloc[0]
        assert (mean.method, mean.qc_status, mean.reviewed_by) == ("runner_up", "corrected", "AB")
        assert mean.thickness_mm == pytest.approx(model_mm - 4.0)
        assert mean.thickness_mm_model == pytest.approx(model_mm)

    # reopened: the saved runner-up pair is shown, and the key swaps back to the model's pair
    assert widget.session.current.result_id == ids["S02"]
    _press(viewer, SHORTCUTS["previous"])
    assert widget.session.current.result_id == ids["S01"]
    assert widget.table.values()["deep"] == "runner_up (0.50)"
    np.testing.assert_allclose(_deep_rows(viewer), rows - SHIFT_PX)
    _press(viewer, SHORTCUTS["runner_up"])
    assert widget.editor.result.mean_thickness_mm == pytest.approx(model_mm)
    # the stored pair was measured by the edge method (build_runner_up_store), and says so
    assert "Back to the measured pair (edge detection)" in widget.status.text()


def test_a_result_stored_without_pairs_gets_the_images_band_pairs_on_the_first_press(
    viewer, widget, flagged
):
    """A result stored without any pair (an ok one the reviewer doubts, or an older store):
    the first press of the runner-up key finds the frame's band pairs, ranked by the shipped
    model, and shows the first; the image's bands are the superficial band (ending at row
    50), a fascia (rows 105-110) and the deep band (from row 150)."""
    from musclethick._napari._qt._review_widget import SHORTCUTS

    _, ids = flagged
    _press(viewer, SHORTCUTS["next"])
    assert widget.session.current.result_id == ids["S02"]
    assert "no runner-up pair (w looks for pairs of the image's bands)" in (
        widget.model_label.text()
    )
    before = widget.editor.result
    _press(viewer, SHORTCUTS["runner_up"])
    assert widget.status.text().startswith("Swapped to pair 1 of ")
    assert "a pair of the image's bands" in widget.status.text()
    shown = widget.editor.result
    assert widget.editor.edited and shown.method == "runner_up"
    y0 = widget.editor.frame.region.y0
    edges = np.array([50.0, 105.0, 111.0, 150.0]) - 0.5 - y0  # inner edges, frame rows
    rows = [float(np.median(b.y_px)) for b in (shown.superficial, shown.deep)]
    assert all(np.min(np.abs(edges - r)) <= 3.0 for r in rows), rows
    assert shown.mean_thickness_mm != pytest.approx(before.mean_thickness_mm, abs=0.5)
    n = len(widget.editor.offered)
    for _ in range(n):  # round the ring: back to the stored result
        _press(viewer, SHORTCUTS["runner_up"])
    assert widget.editor.result is before and not widget.editor.edited


def test_a_frame_without_bands_says_no_pair_is_offered(viewer, tmp_path):
    """A blank frame (no bands): the key finds nothing, says so, and changes nothing."""
    import cv2

    from musclethick._napari._qt._review_widget import SHORTCUTS
    from musclethick.io.options import CalibrationOptions
    from musclethick.pipeline import MeasureSettings, measure_path

    scan = tmp_path / "S09_L_w0_mid.png"
    cv2.imwrite(str(scan), np.full((200, 240), 40, np.uint8))
    settings = MeasureSettings(calibration=CalibrationOptions(mm_per_px=MM_PER_PX))
    path = tmp_path / "blank.sqlite"
    with StudyStore(path) as store:
        scan_id = store.record_scan(scan, subject="S09", leg="L", week=0, site="mid")
        store.record_results(scan_id, measure_path(scan, settings), None)
    docked = _docked(viewer, path)
    w = next(docked)
    before = w.editor.result
    _press(viewer, SHORTCUTS["runner_up"])
    assert w.status.text().startswith("No other layer pair for this result")
    assert w.editor.result is before and not w.editor.edited
    docked.close()  # closes the widget


def test_next_band_up_and_down_moves_the_selected_boundary(viewer, widget, flagged):
    from musclethick._napari._qt._review_widget import SHORTCUTS

    store_path, ids = flagged
    _press(viewer, SHORTCUTS["next"])
    model = widget.editor.result
    y0 = widget.editor.frame.region.y0  # frame rows = image rows - y0

    def flat_at(boundary, row):  # a step between rows r and r + 1 lies at r + 0.5
        return boundary.y_px == pytest.approx(np.full(boundary.y_px.size, row - y0), abs=0.6)

    # in the image: superficial band rows 38-49, fascia 105-110, deep band from row 150; the
    # edge method took the fascia's upper edge (row 104.5) for the deep aponeurosis
    assert flat_at(model.deep, 104.5)

    _press(viewer, SHORTCUTS["band_down"])  # the deep boundary is selected: one key fixes it
    moved = widget.editor.result
    assert flat_at(moved.deep, 149.5)
    assert moved.superficial is model.superficial
    expected_mm = (np.median(moved.deep.y_px) - np.median(model.superficial.y_px)) * MM_PER_PX
    assert moved.mean_thickness_mm == pytest.approx(expected_mm, abs=0.05)
    assert widget.table.values()["deep"] == "manual (1.00)"
    assert widget.status.text().startswith("Deep boundary moved to the next band down")

    viewer.layers.selection.active = viewer.layers["superficial boundary"]
    _press(viewer, SHORTCUTS["band_down"])  # the superficial one, to the fascia's lower edge
    assert flat_at(widget.editor.result.superficial, 110.5)
    _press(viewer, SHORTCUTS["band_down"])  # nothing between the fascia and the deep edge
    assert "no band below the superficial boundary" in widget.status.text()

    viewer.layers.selection.active = viewer.layers["deep boundary"]
    _press(viewer, SHORTCUTS["band_up"])  # the fascia's upper edge lies above it now
    assert "no band above the deep boundary" in widget.status.text()
    _press(viewer, SHORTCUTS["band_up"].replace("Up", "Down"))
    assert "no band below the deep boundary" in widget.status.text()

    for _ in range(2):
        assert widget.undo()
    assert widget.editor.result is model
    with StudyStore(store_path) as store:
        assert store.reviews(ids["S02"]) == []  # nothing saved without Shift-C


@pytest.fixture
def ring_store(ring_study):
    assert (ring_study["mm_per_px"], ring_study["ring"]) == (MM_PER_PX, RING)
    return ring_study["path"], ring_study["id"]


@pytest.fixture
def ring_widget(viewer, ring_store):
    yield from _docked(viewer, ring_store[0])


def _rows(viewer, side: str) -> np.ndarray:
    return np.asarray(viewer.layers[f"{side} boundary"].data[0])[:, 0]


def test_the_runner_up_key_cycles_through_the_offered_pairs_and_back(
    viewer, ring_widget, ring_store
):
    from musclethick._napari._qt._review_widget import SHORTCUTS

    store_path, rid = ring_store
    assert ring_widget.session.current.result_id == rid
    assert (
        "3 other layer pairs of the image's bands offered (press w)"
        in ring_widget.model_label.text()
    )
    model = ring_widget.editor.result
    model_mm = model.mean_thickness_mm
    sup0, deep0 = _rows(viewer, "superficial"), _rows(viewer, "deep")

    for k, (ds, dd) in enumerate(RING):
        _press(viewer, SHORTCUTS["runner_up"])
        # each pair in turn, re-measured: thickness changes by (dd - ds) px x 0.1 mm/px
        assert ring_widget.editor.result.mean_thickness_mm == pytest.approx(
            model_mm + (dd - ds) * MM_PER_PX
        )
        np.testing.assert_allclose(_rows(viewer, "superficial"), sup0 + ds)
        np.testing.assert_allclose(_rows(viewer, "deep"), deep0 + dd)
        assert "a pair of the image's bands, ranked by the model" in ring_widget.status.text()
        last = k == len(RING) - 1
        after = "w: back to the measured pair (edge detection)" if last else "w: next pair"
        assert after in ring_widget.status.text()
        assert f"Swapped to pair {k + 1} of {len(RING)} offered" in ring_widget.status.text()
        assert ring_widget.table.values()["method"] == "runner_up"

    _press(viewer, SHORTCUTS["runner_up"])  # after the last: the model's own pair again
    assert ring_widget.editor.result is model and not ring_widget.editor.edited
    assert ring_widget.status.text().startswith("Back to the measured pair (edge detection)")
    assert ring_widget.status.text().endswith("the stored result, nothing to save")
    np.testing.assert_allclose(_rows(viewer, "deep"), deep0)

    _press(viewer, SHORTCUTS["runner_up"])  # the ring starts over
    _press(viewer, SHORTCUTS["runner_up"])
    assert ring_widget.editor.result.mean_thickness_mm == pytest.approx(model_mm - 2.0)
    echo = ring_widget.editor.result.echo_intensity  # between the pair's boundaries
    assert echo is not None and echo != pytest.approx(model.echo_intensity)
    _press(viewer, SHORTCUTS["correct"])  # saved: the second pair, with its provenance
    with StudyStore(store_path) as store:
        review = store.latest_reviews()[rid]
        assert review.decision == "correct" and review.method == "runner_up"
        assert review.thickness_mm == pytest.approx(model_mm - 2.0)
        # the export's echo intensity is the corrected one, not the model's
        assert review.echo_intensity == pytest.approx(echo)
        table = store.results_dataframe()
        assert (table.loc[table.result_id == rid, "echo_intensity"] == review.echo_intensity).all()

    # reopened: the saved pair is shown; the key shows the model's pair first, then the others
    if ring_widget.session.current.result_id != rid:
        _press(viewer, SHORTCUTS["previous"])
    assert ring_widget.session.current.result_id == rid
    np.testing.assert_allclose(_rows(viewer, "deep"), deep0 - 20.0)
    _press(viewer, SHORTCUTS["runner_up"])
    assert ring_widget.editor.result.mean_thickness_mm == pytest.approx(model_mm)
    assert "Back to the measured pair (edge detection)" in ring_widget.status.text()
    seen = []
    for _ in range(2):
        _press(viewer, SHORTCUTS["runner_up"])
        seen.append(round(ring_widget.editor.result.mean_thickness_mm - model_mm, 2))
    assert seen == [-4.0, -1.0]  # the other two pairs; the saved one is not offered twice


def test_an_upside_down_capture_is_fixed_with_one_key(viewer, tmp_path, test_data):
    """A real capture turned upside down (a display's up/down setting), measured by the
    shipped model into a real store: flagged ``upside_down``, its runner-up the pair measured
    turned over. In review one press of ``w`` shows that pair, re-measured: the upright
    capture's own thickness (within 3 %), and the status line says what the pair is."""
    import cv2

    from musclethick._napari._qt._review_widget import SHORTCUTS
    from musclethick.io.options import CalibrationOptions
    from musclethick.pipeline import MeasureSettings, measure_path

    upright = cv2.imread(str(test_data / "images" / "upright_00440.png"), cv2.IMREAD_GRAYSCALE)
    files = {"upright": tmp_path / "upright.png", "turned": tmp_path / "S01_L_w0_mid.png"}
    cv2.imwrite(str(files["upright"]), upright)
    cv2.imwrite(str(files["turned"]), np.ascontiguousarray(upright[::-1, ::-1]))
    settings = MeasureSettings(calibration=CalibrationOptions(mm_per_px=MM_PER_PX))
    (own,) = measure_path(files["upright"], settings)
    (turned,) = measure_path(files["turned"], settings)
    assert turned.status == "flagged" and "upside_down" in turned.flags
    assert turned.runner_up is not None and turned.runner_up.kind == "upside_down"
    path = tmp_path / "turned.sqlite"
    with StudyStore(path) as store:
        scan_id = store.record_scan(files["turned"], subject="S01", leg="L", week=0, site="mid")
        store.record_results(scan_id, [turned], None)
    for w in _docked(viewer, path):
        assert "turned upside down (press w)" in w.model_label.text()
        _press(viewer, SHORTCUTS["runner_up"])
        fixed = w.editor.result
        assert fixed.mean_thickness_mm == pytest.approx(own.mean_thickness_mm, rel=0.03)
        assert "turned upside down" in w.status.text()
        assert w.table.values()["method"] == "runner_up"
