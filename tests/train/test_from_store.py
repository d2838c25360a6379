"""Fine-tuning from reviewed results of a real SQLite store (tiny model, a few steps)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from musclethick.errors import StoreError
from musclethick.io.options import CalibrationOptions
from musclethick.pipeline import MeasureSettings, measure_path
from musclethick.segment.unet import UNet
from musclethick.segment.weights import load_weights, write_card
from musclethick.study.store import StudyStore
from musclethick.train.from_store import FineTuneConfig, fine_tune_from_store, samples_from_store


def _scan(deep_row: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.normal(45, 12, size=(120, 96)).clip(0, 255)
    img[18:30] = 210  # superficial band: inner edge at row 29.5
    img[deep_row : deep_row + 12] = 210
    return img.astype(np.uint8)


@pytest.fixture
def reviewed_store(tmp_path):
    """Three measured scans: one accepted, one corrected (deep edge 6 px lower), one rejected."""
    settings = MeasureSettings(method="edges", calibration=CalibrationOptions(mm_per_px=0.2))
    path = tmp_path / "study.sqlite"
    with StudyStore(path) as store:
        run = store.start_run(method="edges")
        ids = []
        for k in range(3):
            scan = tmp_path / f"scan{k}.png"
            cv2.imwrite(str(scan), _scan(80 + 4 * k, k))
            scan_id = store.record_scan(scan, subject=f"S{k}")
            ids += store.record_results(scan_id, measure_path(scan, settings), run)
        store.record_review(ids[0], "accept", reviewer="AB", expected_revision=0)
        model = store.get_result(ids[1])
        deep = model.deep.shifted(0.0, 6.0)
        store.record_review(
            ids[1],
            "correct",
            reviewer="CD",
            expected_revision=0,
            superficial=model.superficial,
            deep=deep,
            thickness_mm=1.0,
        )
        store.record_review(ids[2], "reject", reviewer="AB", expected_revision=0, reason="x")
    return path, ids, model, deep


def _tiny_base(tmp_path, card: dict):
    """A tiny random U-Net saved with ``card`` as its model card."""
    torch.manual_seed(0)
    net = UNet(base_channels=4, depth=2)
    path = tmp_path / "base" / "tiny.pt"
    path.parent.mkdir()
    torch.save(
        {"state_dict": net.state_dict(), "config": net.config(), "input_shape": [32, 32]}, path
    )
    write_card(path, card)
    return path


@pytest.fixture
def base_model(tmp_path):
    return _tiny_base(tmp_path, {"name": "tiny", "version": "0.1", "intended_use": "tests only"})


def test_samples_are_promoted_results_only(reviewed_store):
    path, ids, model, deep = reviewed_store
    samples = samples_from_store(path)
    assert [(s.result_id, s.decision) for s in samples] == [(ids[0], "accept"), (ids[1], "correct")]
    corrected = samples[1]
    region = model.region  # boundaries in the store are in original image coordinates
    column = round(deep.x_px[len(deep.x_px) // 2]) - region[0]
    # the corrected deep edge, moved into frame coordinates
    expected = deep.y_at(column + region[0]) - region[1]
    assert corrected.deep_y_px[column] == pytest.approx(expected, abs=1e-6)
    assert corrected.superficial_y_px[column] < corrected.deep_y_px[column]
    only = samples_from_store(path, include_accepted=False)
    assert [s.decision for s in only] == ["correct"]


def test_fine_tune_writes_a_new_verified_model_version(reviewed_store, base_model, tmp_path):
    path, _, _, _ = reviewed_store
    out = tmp_path / "ft"
    summary = fine_tune_from_store(
        path,
        out,
        base_weights=base_model,
        config=FineTuneConfig(steps=3, batch_size=2),
        log=lambda _: None,
    )
    loaded = load_weights(out / "model.pt")  # verifies sha256 against the new card
    assert loaded.version == summary["version"]
    assert loaded.version.startswith("0.1+reviews.")
    card = json.loads((out / "model.json").read_text())
    assert card["base_version"] == "0.1"
    assert card["training_data"]["reviews"]["n_corrected"] == 1
    assert card["training_data"]["reviews"]["reviewers"] == ["AB", "CD"]
    assert card["intended_use"] == "tests only"
    assert "fine-tuned 3 steps on 2 reviewed frames" in card["changelog"][-1]
    base = load_weights(base_model)
    changed = [not torch.equal(base.state_dict[k], loaded.state_dict[k]) for k in base.state_dict]
    assert any(changed)
    assert np.isfinite(summary["last_loss"])


def test_store_without_reviews_is_refused(tmp_path, base_model):
    path = tmp_path / "empty.sqlite"
    StudyStore(path).close()
    with pytest.raises(StoreError, match="no accepted or corrected results"):
        fine_tune_from_store(path, tmp_path / "out", base_weights=base_model)


def _running_stats(state: dict) -> dict:
    return {k: v for k, v in state.items() if k.endswith(("running_mean", "running_var"))}


@pytest.mark.parametrize("freeze", [True, False])
def test_batchnorm_statistics_are_kept_unless_asked(reviewed_store, base_model, tmp_path, freeze):
    """By default a fine-tune keeps the base model's batch-norm statistics (re-estimated from
    a few augmented captures they drift); its weights learn either way."""
    path, _, _, _ = reviewed_store
    out = tmp_path / f"ft_{freeze}"
    fine_tune_from_store(
        path,
        out,
        base_weights=base_model,
        config=FineTuneConfig(steps=3, batch_size=2, freeze_batchnorm=freeze),
        log=lambda _: None,
    )
    base, tuned = load_weights(base_model).state_dict, load_weights(out / "model.pt").state_dict
    stats = _running_stats(base)
    assert stats
    same = [torch.equal(v, tuned[k]) for k, v in stats.items()]
    assert all(same) if freeze else not any(same)
    conv = [k for k in base if k.endswith("weight") and base[k].ndim == 4]
    assert any(not torch.equal(base[k], tuned[k]) for k in conv)
    assert FineTuneConfig().freeze_batchnorm


def _drift(base: dict, tuned: dict, prefix: str = "") -> float:
    return float(
        sum(
            ((tuned[k].float() - v.float()) ** 2).sum()
            for k, v in base.items()
            if k.startswith(prefix) and v.is_floating_point() and "running" not in k
        )
    )


def test_decoder_only_and_anchored_fine_tunes(reviewed_store, base_model, tmp_path):
    """``train_part="decoder"`` leaves the encoder as it was; ``anchor_weight`` pulls the
    weights towards the base model's (L2-SP), so they drift less than without it."""
    path, _, _, _ = reviewed_store
    tuned = {}
    for name, extra in (
        ("plain", {}),
        ("decoder", {"train_part": "decoder"}),
        ("anchored", {"anchor_weight": 1e4}),
    ):
        fine_tune_from_store(
            path,
            tmp_path / name,
            base_weights=base_model,
            config=FineTuneConfig(steps=4, batch_size=2, lr=1e-3, **extra),
            log=lambda _: None,
        )
        tuned[name] = load_weights(tmp_path / name / "model.pt").state_dict
    base = load_weights(base_model).state_dict
    assert _drift(base, tuned["decoder"], "stem.") == 0.0
    assert _drift(base, tuned["decoder"], "down.") == 0.0
    assert _drift(base, tuned["decoder"], "up.") > 0.0
    assert _drift(base, tuned["plain"], "stem.") > 0.0
    assert 0.0 < _drift(base, tuned["anchored"]) < 0.5 * _drift(base, tuned["plain"])
    with pytest.raises(ValueError, match="train_part"):
        FineTuneConfig(train_part="encoder")
    with pytest.raises(ValueError, match="anchor_weight"):
        FineTuneConfig(anchor_weight=-1.0)


def test_command_line_switch_updates_batchnorm(reviewed_store, base_model, tmp_path, capsys):
    """``musclethick train --from-store ... --update-batchnorm`` re-estimates the statistics
    and says so in the new card; without it they are kept."""
    from musclethick.cli import main

    path, _, _, _ = reviewed_store
    common = ["train", "--from-store", str(path), "--base", str(base_model)]
    common += ["--steps", "2", "--batch-size", "2", "--threads", "1"]
    assert main([*common, "--out", str(tmp_path / "kept")]) == 0
    assert main([*common, "--out", str(tmp_path / "new"), "--update-batchnorm"]) == 0
    capsys.readouterr()
    base = _running_stats(load_weights(base_model).state_dict)
    for name, freeze in (("kept", True), ("new", False)):
        card = json.loads((tmp_path / name / "model.json").read_text())
        assert card["fine_tune"]["freeze_batchnorm"] is freeze
        tuned = load_weights(tmp_path / name / "model.pt").state_dict
        assert all(torch.equal(v, tuned[k]) for k, v in base.items()) is freeze


def _reviewed(deep_row: float, cols: int = 100):
    from musclethick.train.from_store import ReviewedSample

    sup = np.full(cols, 20.0)
    deep = np.full(cols, deep_row)
    deep[:10] = np.nan  # the reviewer's deep line stops short of the left edge
    return ReviewedSample(
        np.zeros((120, cols), np.uint8), sup, deep, "scan.png", 0, 1, "correct", "AB"
    )


def _result(deep_row: float, confidence: float, cols: int = 100):
    from musclethick.measure import assemble_result
    from musclethick.types import Boundary, Frame

    xs = np.arange(cols, dtype=float)
    sup = Boundary(xs, np.full(cols, 20.0), "model", confidence)
    deep = Boundary(xs, np.full(cols, deep_row), "model", confidence)
    frame = Frame(np.full((120, cols), 60, np.uint8), "scan.png")
    return assemble_result(frame, sup, deep, method="model")


def test_held_out_figures_compare_with_the_reviews_at_the_measurement_lines():
    """Reviewed edges 60 px apart: a result measuring 60 px is right, 72 px is 20 % off (and
    `ok`: counted as wrong), 63 px flagged is 5 % off; a failed result has no thickness."""
    from musclethick.pipeline import failed_result
    from musclethick.train.from_store import held_out_figures

    results = [
        _result(80.0, 0.9),
        _result(92.0, 0.9),
        _result(83.0, 0.3),
        failed_result("scan.png", "scan.png: no muscle"),
    ]
    assert [r.status for r in results] == ["ok", "ok", "flagged", "failed"]
    samples = [_reviewed(80.0) for _ in results]
    figures = held_out_figures(results, samples)
    assert figures == {
        "n": 4,
        "n_without_result": 1,
        "thickness_mae_percent": round(100 * (0.0 + 0.2 + 0.05) / 3, 2),
        "ok_thickness_mae_percent": 10.0,
        "n_ok": 2,
        "n_ok_off_10": 1,
        "per_frame": [
            {"status": "ok", "thickness_error_percent": 0.0},
            {"status": "ok", "thickness_error_percent": 20.0},
            {"status": "flagged", "thickness_error_percent": 5.0},
            {"status": "failed", "thickness_error_percent": None},
        ],
    }
    # a review without edges at any measurement line gives no comparison
    blank = _reviewed(80.0)
    blank.deep_y_px[:] = np.nan
    assert held_out_figures([results[0]], [blank])["n_without_result"] == 1


def test_held_out_frames_are_not_learnt_and_both_models_are_checked(
    reviewed_store, base_model, tmp_path
):
    path, ids, _, _ = reviewed_store
    out = tmp_path / "ft"
    lines: list[str] = []
    summary = fine_tune_from_store(
        path,
        out,
        base_weights=base_model,
        config=FineTuneConfig(steps=2, batch_size=2, holdout=1, threads=1),
        log=lines.append,
    )
    card = json.loads((out / "model.json").read_text())
    held = summary["held_out"]
    said = [line for line in lines if line.startswith("held-out reviews")]
    assert len(said) == 2 and "base model" in said[0] and "fine-tuned model" in said[1]
    assert said[1].endswith(f"{held['fine_tuned']['n_ok_off_10']} of them off by more than 10 %")
    assert f"; {held['fine_tuned']['n_ok']} without a doubt about their boundaries" in said[1]
    # two reviewed frames, one held out: too few to learn a scanner from, and it says so
    assert any(line.startswith("warning: 1 reviewed frames to learn from") for line in lines)
    assert len(held["frames"]) == 1 and held["base"]["n"] == held["fine_tuned"]["n"] == 1
    assert card["metrics"]["held_out_reviews"]["frames"] == held["frames"]
    # one frame learnt from: the changelog and the reviews the card lists say so
    assert card["training_data"]["reviews"]["n_frames"] == 1
    learnt = card["training_data"]["reviews"]["result_ids"]
    assert len(learnt) == 1 and learnt[0] in ids[:2]
    with pytest.raises(StoreError, match="cannot hold 2 out"):
        fine_tune_from_store(
            path, tmp_path / "x", base_weights=base_model, config=FineTuneConfig(holdout=2)
        )


def test_negative_holdout_is_a_usage_error(reviewed_store, tmp_path, capsys):
    from musclethick.cli import main

    path, _, _, _ = reviewed_store
    args = ["train", "--from-store", str(path), "--out", str(tmp_path / "o"), "--holdout", "-1"]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert "--holdout: must be 0 or more" in capsys.readouterr().err


def test_held_out_verdict_says_when_the_fine_tune_is_worse():
    from musclethick.train.from_store import _held_out_verdict

    def figures(mae, without=0, off=0):
        return {"thickness_mae_percent": mae, "n_without_result": without, "n_ok_off_10": off}

    assert _held_out_verdict(figures(3.0), figures(2.0)) == ""
    worse = _held_out_verdict(figures(1.6), figures(2.3))
    assert "is further off (2.3 % against 1.6 %)" in worse and "keep the base model" in worse
    assert "measured fewer" in _held_out_verdict(figures(3.0), figures(1.0, without=1))
    assert "more frames without a doubt" in _held_out_verdict(figures(3.0), figures(2.0, off=1))
    # more frames measured by the fine-tuned model: their errors are not compared
    assert _held_out_verdict(figures(1.0, without=2), figures(5.0)) == ""


def test_fine_tuned_card_does_not_claim_the_base_weights_measurements(reviewed_store, tmp_path):
    """The base card's measurements and ONNX export describe the base weights: the new card
    keeps the network's description and intended use, and the base's training as provenance."""
    base = _tiny_base(
        tmp_path,
        {
            "name": "tiny",
            "version": "0.1",
            "intended_use": "tests only",
            "task": "layers",
            "training": {"seed": 0, "epochs": 40},
            "capture_variants": {"flip": 0.3},
            "speed": {"ms": 30},
            "onnx": {"file": "tiny.onnx", "sha256": "0" * 64},
        },
    )
    path, _, _, _ = reviewed_store
    fine_tune_from_store(
        path,
        tmp_path / "ft",
        base_weights=base,
        config=FineTuneConfig(steps=1, batch_size=2),
        log=lambda _: None,
    )
    card = json.loads((tmp_path / "ft" / "model.json").read_text())
    assert card["task"] == "layers" and card["intended_use"] == "tests only"
    for measured in ("capture_variants", "speed", "onnx"):
        assert measured not in card
    assert card["training"]["base_model"] == {"seed": 0, "epochs": 40}


def _add_scans(store_path, tmp_path, images: dict) -> dict:
    """Measure ``{name: image}`` (edges, 0.2 mm per px) into the store, unreviewed; returns
    ``{name: result id}``."""
    settings = MeasureSettings(method="edges", calibration=CalibrationOptions(mm_per_px=0.2))
    out = {}
    with StudyStore(store_path) as store:
        run = store.start_run(method="edges")
        for name, image in images.items():
            scan = tmp_path / f"{name}.png"
            cv2.imwrite(str(scan), image)
            scan_id = store.record_scan(scan, subject=name)
            [out[name]] = store.record_results(scan_id, measure_path(scan, settings), run)
    return out


def _blank(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(45, 12, size=(120, 96)).clip(0, 255).astype(np.uint8)


def test_learning_from_ok_adds_unreviewed_results_without_a_doubt(reviewed_store, tmp_path):
    """With ``include_ok`` the unreviewed results the model had no doubt about are learnt too
    (their own boundaries, decision "ok", no reviewer); unreviewed failed or flagged results,
    and a rejected result whatever its status, are not."""
    path, ids, _, _ = reviewed_store
    images = {
        "clear": _scan(84, 1),
        "blank": np.full((120, 96), 45, np.uint8),
        "noise": _blank(8),
        "rejected": _scan(80, 6),
    }
    added = _add_scans(path, tmp_path, images)
    with StudyStore(path) as store:
        store.record_review(added["rejected"], "reject", reviewer="AB", expected_revision=0)
        got = {name: store.get_result(i) for name, i in added.items()}
    clear = got["clear"]
    # preconditions: the edge path is sure of the clear scans, finds nothing in the blank one
    # and doubts what it finds in the noise
    assert [got[n].status for n in images] == ["ok", "failed", "flagged", "ok"]
    samples = samples_from_store(path, include_ok=True)
    assert [(s.result_id, s.decision, s.reviewer) for s in samples] == [
        (ids[0], "accept", "AB"),
        (ids[1], "correct", "CD"),
        (added["clear"], "ok", ""),
    ]
    column = 48
    assert samples[2].deep_y_px[column] == pytest.approx(
        clear.deep.y_at(column + clear.region[0]) - clear.region[1], abs=1e-6
    )
    assert [s.decision for s in samples_from_store(path)] == ["accept", "correct"]
    # the share counts the rejected result as doubted: sure are the accepted, corrected and
    # clear scans' results (the edge path's, whatever a person said of the first two)
    from musclethick.qc import doubts_boundaries
    from musclethick.train.from_store import undoubted_share

    with StudyStore(path) as store:
        own = [r for r in store.iter_results() if r.id not in (ids[2], added["rejected"])]
    sure = sum(r.status != "failed" and not doubts_boundaries(r.status, r.flags) for r in own)
    assert undoubted_share(path) == (sure, len(own) + 2)


def test_learning_from_ok_needs_enough_results_without_a_doubt(tmp_path, base_model):
    """Self-training is refused, saying what to do, when the model doubted most of the study
    (below ``min_ok_share``); the fine-tuned card counts the unreviewed results learnt."""
    from musclethick.train.from_store import undoubted_share

    path = tmp_path / "study.sqlite"
    images = {"clear": _scan(84, 1), **{f"blank{k}": _blank(10 + k) for k in range(5)}}
    _add_scans(path, tmp_path, images)
    assert undoubted_share(path) == (1, 6)
    with pytest.raises(StoreError, match=r"no doubt about only 1 of its 6 results \(17%\)"):
        fine_tune_from_store(
            path,
            tmp_path / "refused",
            base_weights=base_model,
            config=FineTuneConfig(steps=2, include_ok=True),
            log=lambda _: None,
        )
    fine_tune_from_store(
        path,
        tmp_path / "ft",
        base_weights=base_model,
        config=FineTuneConfig(steps=2, batch_size=1, include_ok=True, min_ok_share=0.1),
        log=lambda _: None,
    )
    card = json.loads((tmp_path / "ft" / "model.json").read_text())
    assert card["version"].startswith("0.1+adapted.")  # nobody reviewed anything
    assert card["training_data"]["reviews"]["n_unreviewed_ok"] == 1
    assert card["training_data"]["reviews"]["n_frames"] == 1
    assert "1 unreviewed results without a doubt" in card["changelog"][-1]


def test_command_line_learns_from_ok_results(reviewed_store, base_model, tmp_path, capsys):
    """``musclethick train --from-store STORE --learn-from-ok`` learns the reviewed frames and
    the unreviewed ones without a doubt."""
    from musclethick.cli import main

    path, _, _, _ = reviewed_store
    _add_scans(path, tmp_path, {"clear": _scan(84, 1)})
    args = ["train", "--from-store", str(path), "--base", str(base_model), "--learn-from-ok"]
    args += ["--steps", "2", "--batch-size", "2", "--threads", "1", "--out", str(tmp_path / "o")]
    assert main(args) == 0
    assert "and 1 results without a doubt that nobody reviewed" in capsys.readouterr().out
    card = json.loads((tmp_path / "o" / "model.json").read_text())
    assert card["fine_tune"]["include_ok"] is True
    assert card["training_data"]["reviews"]["n_unreviewed_ok"] == 1


def test_learning_from_ok_refusals_say_what_to_do(reviewed_store, base_model, tmp_path, capsys):
    """A store path that does not exist is a usage error and no store is created; an empty
    store, --holdout with no reviewed frame, and --corrections-only with --learn-from-ok say
    what to do."""
    from musclethick.cli import main

    missing = tmp_path / "missing.sqlite"
    args = ["train", "--from-store", str(missing), "--out", str(tmp_path / "o"), "--learn-from-ok"]
    assert main(args) == 2
    assert "missing.sqlite: file not found; check the path" in capsys.readouterr().err
    assert not missing.exists()
    with pytest.raises(StoreError, match="file not found"):
        fine_tune_from_store(missing, tmp_path / "o", base_weights=base_model)
    assert not missing.exists()
    empty = tmp_path / "empty.sqlite"
    StudyStore(empty).close()
    with pytest.raises(StoreError, match="holds no results; measure the study into it first"):
        fine_tune_from_store(
            empty, tmp_path / "o", base_weights=base_model, config=FineTuneConfig(include_ok=True)
        )
    only_ok = tmp_path / "only_ok.sqlite"
    _add_scans(only_ok, tmp_path, {"a": _scan(84, 1), "b": _scan(80, 6)})
    config = FineTuneConfig(steps=1, include_ok=True, holdout=1)
    with pytest.raises(StoreError, match="no reviewed frames to hold out"):
        fine_tune_from_store(only_ok, tmp_path / "o", base_weights=base_model, config=config)
    path, _, _, _ = reviewed_store
    both = ["train", "--from-store", str(path), "--out", str(tmp_path / "o")]
    assert main([*both, "--learn-from-ok", "--corrections-only"]) == 2
    assert "use one of them" in capsys.readouterr().err


def test_a_fine_tune_keeps_the_base_recipe_augmentation():
    """The fine-tune augments as the base model was trained: the shipped model's card gives
    its top-cut share, a fine-tuned model's card its first base's, a card without a recipe
    the defaults (optional shares off)."""
    from musclethick.segment.weights import load_weights
    from musclethick.train.augment import AugmentOptions
    from musclethick.train.from_store import recipe_augmentation

    shipped = load_weights(None).card
    assert recipe_augmentation(shipped).p_top_cut == shipped["training"]["top_cut"] > 0
    tuned = {
        "training": {
            "base_model": {"top_cut": 0.2, "annotations": 0.3, "looks": 0.4, "bottom_cut": 0.1},
            "note": "x",
        }
    }
    options = recipe_augmentation(tuned)
    assert (options.p_top_cut, options.p_annotation, options.p_layer_contrast) == (0.2, 0.3, 0.0)
    assert (options.p_look, options.p_bottom_cut) == (0.4, 0.1)
    assert recipe_augmentation({}) == AugmentOptions() == recipe_augmentation(None)
