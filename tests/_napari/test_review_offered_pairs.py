"""The runner-up key's ring in the review widget: a result whose boundaries are doubted is
offered several layer pairs (the frame's band pairs), and ``w`` shows them one after the other,
then the model's own pair again.

A real viewer and a real SQLite store of a real synthetic scan (measured by the edge path at
0.1 mm/px), whose result carries three band pairs as the pipeline offers them
(``ring_study`` in conftest).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.napari

from musclethick.study.store import StudyStore  # noqa: E402

MM_PER_PX = 0.1
# the ring, as (superficial shift, deep shift) in px from the measured pair
RING = ((0.0, -40.0), (0.0, -20.0), (10.0, 0.0))


def _press(viewer, key: str) -> None:
    assert viewer.window._qt_viewer._key_map_handler.press_key(key), f"{key} is not bound"


@pytest.fixture
def ring_store(ring_study):
    assert (ring_study["mm_per_px"], ring_study["ring"]) == (MM_PER_PX, RING)
    return ring_study["path"], ring_study["id"]


@pytest.fixture
def widget(viewer, ring_store):
    from musclethick._napari._qt._review_widget import ReviewWidget

    w = ReviewWidget(viewer, str(ring_store[0]), reviewer="AB")
    viewer.window.add_dock_widget(w)
    yield w
    w.close()


def _rows(viewer, side: str) -> np.ndarray:
    return np.asarray(viewer.layers[f"{side} boundary"].data[0])[:, 0]


def test_the_runner_up_key_cycles_through_the_offered_pairs_and_back(viewer, widget, ring_store):
    from musclethick._napari._qt._review_widget import SHORTCUTS

    store_path, rid = ring_store
    assert widget.session.current.result_id == rid
    assert "3 other layer pairs of the image's bands offered (press w)" in widget.model_label.text()
    model = widget.editor.result
    model_mm = model.mean_thickness_mm
    sup0, deep0 = _rows(viewer, "superficial"), _rows(viewer, "deep")

    for k, (ds, dd) in enumerate(RING):
        _press(viewer, SHORTCUTS["runner_up"])
        # each pair in turn, re-measured: thickness changes by (dd - ds) px x 0.1 mm/px
        assert widget.editor.result.mean_thickness_mm == pytest.approx(
            model_mm + (dd - ds) * MM_PER_PX
        )
        np.testing.assert_allclose(_rows(viewer, "superficial"), sup0 + ds)
        np.testing.assert_allclose(_rows(viewer, "deep"), deep0 + dd)
        assert "a pair of the image's bands, ranked by the model" in widget.status.text()
        last = k == len(RING) - 1
        after = "w: back to the model's first choice" if last else "w: next pair"
        assert after in widget.status.text()
        assert widget.table.values()["method"] == "runner_up"

    _press(viewer, SHORTCUTS["runner_up"])  # after the last: the model's own pair again
    assert widget.editor.result is model and not widget.editor.edited
    np.testing.assert_allclose(_rows(viewer, "deep"), deep0)

    _press(viewer, SHORTCUTS["runner_up"])  # the ring starts over
    _press(viewer, SHORTCUTS["runner_up"])
    assert widget.editor.result.mean_thickness_mm == pytest.approx(model_mm - 2.0)
    _press(viewer, SHORTCUTS["correct"])  # saved: the second pair, with its provenance
    with StudyStore(store_path) as store:
        review = store.latest_reviews()[rid]
        assert review.decision == "correct" and review.method == "runner_up"
        assert review.thickness_mm == pytest.approx(model_mm - 2.0)

    # reopened: the saved pair is shown; the key shows the model's pair first, then the others
    if widget.session.current.result_id != rid:
        _press(viewer, SHORTCUTS["previous"])
    assert widget.session.current.result_id == rid
    np.testing.assert_allclose(_rows(viewer, "deep"), deep0 - 20.0)
    _press(viewer, SHORTCUTS["runner_up"])
    assert widget.editor.result.mean_thickness_mm == pytest.approx(model_mm)
    assert "the model's first choice" in widget.status.text()
    seen = []
    for _ in range(2):
        _press(viewer, SHORTCUTS["runner_up"])
        seen.append(round(widget.editor.result.mean_thickness_mm - model_mm, 2))
    assert seen == [-4.0, -1.0]  # the other two pairs; the saved one is not offered twice
