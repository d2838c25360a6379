"""Headless review session on a real SQLite store (no napari, no Qt)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from musclethick._napari._layers import remeasure
from musclethick._napari._review import ReviewFilters, ReviewSession, frame_result_of
from musclethick.errors import StoreError
from musclethick.study.store import StudyStore

MM_PER_PX = 0.1  # the calibration build_store (conftest) measures with


def test_queue_filters_progress_and_frames(study_store):
    with StudyStore(study_store) as store:
        session = ReviewSession(store, "AB")
        assert session.progress() == (0, 3)
        confidences = [i.confidence for i in session.items]
        assert confidences == sorted(confidences)  # all ok: lowest confidence first
        session.refresh(ReviewFilters(leg="R"))
        assert [i.subject for i in session.items] == ["S02"]
        session.refresh(ReviewFilters())
        stored = session.stored()
        frame = session.frame(stored)
        assert frame.calibration.mm_per_px == MM_PER_PX  # the batch's calibration is kept
        result = frame_result_of(stored, frame)
        assert result.mean_thickness_mm == pytest.approx(stored.thickness_mm)
        assert session.choices()["subject"] == ["S01", "S02", "S03"]


def test_decisions_persist_keep_model_result_and_show_in_export(study_store):
    with StudyStore(study_store) as store:
        session = ReviewSession(store, "AB")
        first = session.current
        session.decide("accept")
        with pytest.raises(StoreError, match="reason"):
            session.move(1)
            session.decide("reject")
        session.decide("reject", reason="probe tilted")
        session.move(1)
        stored = session.stored()
        frame = session.frame(stored)
        shown = frame_result_of(stored, frame)
        deep = np.column_stack([shown.deep.y_px + 10.0, shown.deep.x_px])
        sup = np.column_stack([shown.superficial.y_px, shown.superficial.x_px])
        corrected = remeasure(frame, sup, deep, previous=None)
        session.decide("correct", corrected=corrected)
        assert session.progress() == (3, 3)

    with StudyStore(study_store) as store:  # a fresh connection: written at once
        reviews = store.latest_reviews()
        assert {r.decision for r in reviews.values()} == {"accept", "reject", "correct"}
        assert all(r.reviewer == "AB" and r.reviewed_at for r in reviews.values())
        review = reviews[stored.id]
        assert review.deep.source == "manual"
        # corrected boundaries are stored in original image coordinates
        np.testing.assert_allclose(review.deep.y_px, shown.deep.y_px + 10.0 + frame.region.y0)
        kept = store.get_result(stored.id)
        assert kept.thickness_mm == pytest.approx(stored.thickness_mm)  # model value kept
        table = store.results_dataframe()
        mean = table[(table.result_id == stored.id) & (table.line == "mean")].iloc[0]
        assert mean.qc_status == "corrected"
        assert mean.reviewed_by == "AB"
        assert mean.thickness_mm == pytest.approx(corrected.mean_thickness_mm)
        assert mean.thickness_mm_model == pytest.approx(stored.thickness_mm)
        assert mean.thickness_mm - mean.thickness_mm_model == pytest.approx(
            10 * MM_PER_PX, abs=0.02
        )
        rejected = table[table.result_id == session.items[1].result_id]
        assert not rejected.included.any()
        assert first.result_id in set(table[table.qc_status == "accepted"].result_id)


def test_two_reviewers_conflict_is_refused(study_store):
    with StudyStore(study_store) as a_store, StudyStore(study_store) as b_store:
        a = ReviewSession(a_store, "AB")
        b = ReviewSession(b_store, "CD")
        assert a.current.result_id == b.current.result_id
        a.decide("accept")
        with pytest.raises(StoreError, match="someone else reviewed it"):
            b.decide("reject", reason="blurred")
        # b's queue was reloaded and shows a's decision; nothing was overwritten
        assert b.current.decision == "accept"
        reviews = a_store.reviews(a.current.result_id)
        assert [(r.reviewer, r.decision) for r in reviews] == [("AB", "accept")]
        # b may now decide on the new revision explicitly
        b.decide("reject", reason="blurred")
        assert [r.reviewer for r in a_store.reviews(a.current.result_id)] == ["AB", "CD"]


def test_session_needs_a_reviewer(study_store):
    with StudyStore(study_store) as store, pytest.raises(StoreError, match="reviewer"):
        ReviewSession(store, "  ")


def test_export_uses_reviewed_values(study_store, tmp_path):
    import pandas as pd

    from musclethick.export import export_store

    with StudyStore(study_store) as store:
        session = ReviewSession(store, "AB")
        stored = session.stored()
        frame = session.frame(stored)
        shown = frame_result_of(stored, frame)
        deep = np.column_stack([shown.deep.y_px + 10.0, shown.deep.x_px])
        sup = np.column_stack([shown.superficial.y_px, shown.superficial.x_px])
        corrected = remeasure(frame, sup, deep, previous=None)
        session.decide("correct", corrected=corrected)
        session.move(1)
        session.decide("reject", reason="blurred")
        rejected = session.current.path
    written = export_store(study_store, tmp_path / "export", format="csv")
    long = pd.read_csv(next(p for p in written if p.name.startswith("long")))
    mine = long[long.file.str.endswith(stored.scan.path.rsplit("/", 1)[-1])]
    assert set(mine.qc_status) == {"corrected"}
    assert set(mine.reviewed_by) == {"AB"}
    by_line = {line.line: line.thickness_mm for line in corrected.lines}
    for row in mine.itertuples():
        assert row.thickness_mm == pytest.approx(by_line[row.line], abs=1e-3)
    other = long[long.file.str.endswith(rejected.rsplit("/", 1)[-1])]
    assert set(other.qc_status) == {"rejected"}


def test_frames_of_the_next_items_are_read_ahead(study_store):
    from concurrent.futures import Future
    from pathlib import Path

    from musclethick.errors import InputError

    with StudyStore(study_store) as store:
        session = ReviewSession(store, "AB")
        nxt = store.get_result(session.items[1].result_id)
        last = store.get_result(session.items[2].result_id)
        assert session.upcoming() == [1]  # the next item is also the next pending one
        session.prefetch()
        assert isinstance(session._frames[nxt.id], Future)  # reading in the background
        Path(last.scan.path).unlink()  # gone before it was read
        session.move(1)
        frame = session.frame(session.stored())
        assert frame.path == nxt.scan.path and frame.shape == session.frame(nxt).shape
        assert session.upcoming() == [2]
        session.prefetch()
        session.move(1)
        with pytest.raises(InputError, match="not found"):
            session.frame(session.stored())
        assert last.id not in session._frames  # a failed read is not kept
        session.close()
        assert session._frames == {} and session._pool is None


def test_accepting_a_shown_correction_confirms_it(study_store):
    with StudyStore(study_store) as store:
        session = ReviewSession(store, "AB")
        stored = session.stored()
        frame = session.frame(stored)
        shown = frame_result_of(stored, frame)
        deep = np.column_stack([shown.deep.y_px + 8.0, shown.deep.x_px])
        sup = np.column_stack([shown.superficial.y_px, shown.superficial.x_px])
        corrected = remeasure(frame, sup, deep, previous=shown)
        session.decide("correct", corrected=corrected)
        session.reviewer = "CD"
        review = session.decide("accept")  # CD accepts what is shown: the correction
        assert (review.decision, review.reviewer, review.revision) == ("correct", "CD", 2)
        assert review.thickness_mm == pytest.approx(corrected.mean_thickness_mm)
        np.testing.assert_allclose(review.deep.y_px, shown.deep.y_px + 8.0 + frame.region.y0)
        table = store.results_dataframe()
        mean = table[(table.result_id == stored.id) & (table.line == "mean")].iloc[0]
        assert (mean.qc_status, mean.reviewed_by) == ("corrected", "CD")
        assert mean.thickness_mm == pytest.approx(corrected.mean_thickness_mm)


def test_queue_line_marks_the_repeats_of_a_disagreeing_session():
    from musclethick._napari._review import item_text
    from musclethick.study.store import QueueItem

    item = QueueItem(
        result_id=7,
        scan_id=3,
        path="/s/S01/week0/L_VL50_2.png",
        frame_index=0,
        region_index=0,
        subject="S01",
        leg="L",
        condition="FAIL",
        week=0,
        site="VL50",
        rep=2,
        status="ok",
        flags=("repeats_disagree",),
        message="",
        confidence=0.91,
        thickness_mm=23.0,
        method="model",
        model_version="v",
        revision=0,
        decision=None,
    )
    assert item_text(item).startswith("≠ S01 L w0 VL50 rep 2 · conf 0.91")
    from dataclasses import replace

    assert item_text(replace(item, flags=())).startswith("  S01 L w0 VL50 rep 2")
    # the repeats of a session are told apart; a scan without a repeat number shows none
    assert item_text(replace(item, rep=None)).startswith("≠ S01 L w0 VL50 · conf")
    # a flagged repeat keeps the flagged mark
    assert item_text(replace(item, status="flagged")).startswith("⚑ S01")


def test_pairs_looked_for_in_review_are_ranked_by_the_model_the_study_was_measured_with(
    tmp_path,
):
    """A study measured with a fine-tuned model (``batch --model``): the layer pairs review
    looks for on demand are ranked by that model, not the shipped one; when its file is gone
    or holds other weights, the shipped one ranks them and the note says why."""
    import shutil

    import musclethick
    from musclethick.measure import failed_result
    from musclethick.pipeline import get_model

    shipped = get_model(None)
    models = Path(musclethick.__file__).parent / "models"
    own = tmp_path / "finetuned"
    own.mkdir()
    for f in models.glob("muscle_layers_v2.*"):
        shutil.copy(f, own / f.name)
    weights = own / "muscle_layers_v2.pt"
    scan = tmp_path / "S01_L_w0_VL50.png"
    scan.write_bytes(b"x")
    with StudyStore(tmp_path / "s.sqlite") as store:
        scan_id = store.record_scan(scan, subject="S01", leg="L", week=0, site="VL50")
        runs = {
            "shipped": store.start_run(method="model", settings={"model_path": None}),
            "own": store.start_run(
                method="model",
                model_sha256=str(shipped.sha256),
                settings={"model_path": str(weights)},
            ),
            "changed": store.start_run(
                method="model", model_sha256="0" * 64, settings={"model_path": str(weights)}
            ),
        }
        ids = {
            name: store.record_results(scan_id, [failed_result(str(scan), "x")], run)[0]
            for name, run in runs.items()
        }
        session = ReviewSession(store, "AB")
        stored = {name: store.get_result(rid) for name, rid in ids.items()}
        assert session.measuring_model(stored["shipped"]) == (None, "")
        assert session.measuring_model(stored["own"]) == (str(weights), "")
        path, note = session.measuring_model(stored["changed"])
        assert path is None and note.endswith(f"the study's model {weights} has changed")
        shutil.rmtree(own)
        path, note = session.measuring_model(stored["own"])
        assert path is None and note.endswith(f"the study's model {weights} is not found")


def test_a_convex_fan_is_reviewed_on_its_beam_view(tmp_path: Path, sample_images: Path):
    """A fan measured into a store comes back in review as the beam view it was measured on,
    with its boundaries where they were (the store keeps them as the frame is read again),
    and a correction there is measured along the beams."""
    from PIL import Image

    from capture_layouts import image_of  # tests/capture_layouts.py
    from musclethick.io.options import CalibrationOptions
    from musclethick.pipeline import MeasureSettings, measure_path
    from musclethick.train.variants import apply_variant

    fan, _ = apply_variant("sector", image_of(sample_images, "dltrack_512x512_img_00053.png"))
    scan = tmp_path / "S01_L_w0_mid.png"
    Image.fromarray(fan).save(scan)
    settings = MeasureSettings(calibration=CalibrationOptions(mm_per_px=MM_PER_PX))
    (measured,) = measure_path(scan, settings)
    assert measured.fan is not None and measured.status == "ok"
    with StudyStore(tmp_path / "fan.sqlite") as store:
        run = store.start_run(method="model")
        scan_id = store.record_scan(scan, subject="S01", leg="L", week=0, site="mid")
        store.record_results(scan_id, [measured], run)
        store.finish_run(run, n_measured=1, n_failed=0, n_skipped=0)
        session = ReviewSession(store, "AB")
        stored = session.stored()
        frame = session.frame(stored)
        assert frame.fan == measured.fan and frame.pixels.shape == (
            measured.fan.rows,
            measured.fan.beams,
        )
        shown = frame_result_of(stored, frame)
        np.testing.assert_allclose(shown.deep.y_px, measured.deep.y_px, atol=1e-6)
        assert shown.mean_thickness_mm == pytest.approx(measured.mean_thickness_mm)
        deep = np.column_stack([shown.deep.y_px + 10.0, shown.deep.x_px])
        sup = np.column_stack([shown.superficial.y_px, shown.superficial.x_px])
        corrected = remeasure(frame, sup, deep, previous=None)
        # 10 rows of the beam view are 10 px of depth along the beam
        assert corrected.mean_thickness_mm - measured.mean_thickness_mm == pytest.approx(
            10 * MM_PER_PX, abs=0.02
        )
