"""Training on a handful of real images: data loading, augmentation, loss, loop."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from musclethick.segment.unet import UNet, count_parameters
from musclethick.train.augment import augment_pair
from musclethick.train.dataset import load_samples, load_split, number_bands
from musclethick.train.loop import TrainConfig, main, make_targets, train
from musclethick.train.losses import band_loss, soft_dice

SHAPE = (64, 48)


@pytest.fixture(scope="module")
def tiny(test_data):
    root = test_data / "train_tiny"
    split = load_split(root / "split.csv")
    names = [n for n, _, _ in split["train"]]
    return root, load_samples(root, names, input_shape=SHAPE)


def test_samples_are_cropped_resized_and_banded(tiny):
    _, s = tiny
    assert s.images.shape == (5, 96, 72) and s.images.dtype == np.uint8
    assert s.masks.shape == s.images.shape
    # every training mask has a superficial (1) and a deep (2) band, superficial above
    for lab in s.labels:
        r1 = np.nonzero(lab == 1)[0].mean()
        r2 = np.nonzero(lab == 2)[0].mean()
        assert r1 < r2


def test_number_bands_orders_from_the_top():
    m = np.zeros((50, 40), np.uint8)
    m[40:45] = 255
    m[5:9] = 255
    m[20:24, 5:35] = 255
    lab = number_bands(m)
    assert lab[6, 0] == 1 and lab[21, 10] == 2 and lab[42, 0] == 3 and lab[0, 0] == 0


def test_augmentation_is_seeded_and_keeps_shapes(tiny):
    _, s = tiny
    tgt = s.masks[0].astype(np.float32) / 255
    a1, t1 = augment_pair(s.images[0], tgt, np.random.default_rng(3), shape=SHAPE)
    a2, t2 = augment_pair(s.images[0], tgt, np.random.default_rng(3), shape=SHAPE)
    a3, _ = augment_pair(s.images[0], tgt, np.random.default_rng(4), shape=SHAPE)
    assert a1.shape == SHAPE and t1.shape == SHAPE
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(t1, t2)
    assert not np.array_equal(a1, a3)
    assert 0.0 <= t1.min() and t1.max() <= 1.0 and t1.max() > 0.5


def test_loss_is_lower_for_the_right_answer():
    y = torch.zeros(1, 1, 16, 16)
    y[..., 4:7, :] = 1
    good = band_loss((y * 2 - 1) * 8, y)
    bad = band_loss(-(y * 2 - 1) * 8, y)
    assert good < 0.1 < bad
    assert soft_dice(y, y) == pytest.approx(0.0, abs=1e-6)


def test_two_channel_targets(tiny):
    _, s = tiny
    t = make_targets(s, 2)
    assert t.shape == (*s.masks.shape, 2)
    # superficial channel lies above the deep one
    r0 = np.nonzero(t[0, ..., 0] > 0.5)[0].mean()
    r1 = np.nonzero(t[0, ..., 1] > 0.5)[0].mean()
    assert r0 < r1


def test_tiny_model_loss_drops(tiny, tmp_path):
    _, s = tiny
    config = TrainConfig(
        input_shape=SHAPE, base_channels=4, depth=2, epochs=20, batch_size=5, lr=2e-2, seed=0
    )
    summary = train(s, s, tmp_path, config, log=lambda _: None)
    losses = [h["train_loss"] for h in summary["history"]]
    assert summary["steps"] == 20
    assert np.mean(losses[-3:]) < 0.9 * np.mean(losses[:3])
    assert (tmp_path / "model.pt").is_file() and (tmp_path / "last.pt").is_file()
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 20
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    model = UNet(**payload["config"])
    model.load_state_dict(payload["state_dict"])
    assert count_parameters(model) == summary["parameters"]


def test_training_is_reproducible(tiny, tmp_path):
    _, s = tiny
    config = TrainConfig(input_shape=SHAPE, base_channels=4, depth=2, epochs=2, batch_size=5)
    a = train(s, None, tmp_path / "a", config, log=lambda _: None)
    b = train(s, None, tmp_path / "b", config, log=lambda _: None)
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]


def test_main_cli_writes_card_and_summary(test_data, tmp_path):
    out = tmp_path / "run"
    rc = main(
        [
            "--data", str(test_data / "train_tiny"),
            "--out", str(out),
            "--epochs", "1",
            "--input-size", "64x48",
            "--base-channels", "4",
            "--exclude-size", "157x200",
        ]
    )  # fmt: skip
    assert rc == 0
    summary = json.loads((out / "train.json").read_text())
    assert summary["n_val"] == 1 and summary["n_train"] == 5
    assert summary["excluded_sizes"] == ["157x200"]
    card = json.loads((out / "model.json").read_text())
    assert card["sha256"] and card["input"]["shape"] == [64, 48]


def test_init_weights_start_from_a_previous_run(tiny, tmp_path):
    _, s = tiny
    config = TrainConfig(
        input_shape=SHAPE, base_channels=4, depth=2, epochs=12, batch_size=5, lr=2e-2, seed=0
    )
    first = train(s, None, tmp_path / "a", config, log=lambda _: None)
    # fine-tuning from the first run's weights at a low rate starts where that run ended,
    # far below a fresh start with the same seed and settings
    tuned = TrainConfig(
        input_shape=SHAPE,
        base_channels=4,
        depth=2,
        epochs=1,
        batch_size=5,
        lr=1e-4,
        seed=1,
        init_weights=str(tmp_path / "a" / "last.pt"),
    )
    fresh = TrainConfig(
        input_shape=SHAPE, base_channels=4, depth=2, epochs=1, batch_size=5, lr=1e-4, seed=1
    )
    b = train(s, None, tmp_path / "b", tuned, log=lambda _: None)
    c = train(s, None, tmp_path / "c", fresh, log=lambda _: None)
    end_of_first = first["history"][-1]["train_loss"]
    assert b["history"][0]["train_loss"] < 0.8 * c["history"][0]["train_loss"]
    assert b["history"][0]["train_loss"] < 1.2 * end_of_first


def test_init_weights_of_another_architecture_are_refused(tiny, tmp_path):
    from musclethick.errors import ModelError

    _, s = tiny
    small = TrainConfig(input_shape=SHAPE, base_channels=4, depth=2, epochs=1, batch_size=5)
    train(s, None, tmp_path / "a", small, log=lambda _: None)
    wider = TrainConfig(
        input_shape=SHAPE,
        base_channels=8,
        depth=2,
        epochs=1,
        batch_size=5,
        init_weights=str(tmp_path / "a" / "last.pt"),
    )
    with pytest.raises(ModelError, match="architecture"):
        train(s, None, tmp_path / "b", wider, log=lambda _: None)
    with pytest.raises(ModelError, match="not found"):
        train(
            s,
            None,
            tmp_path / "c",
            TrainConfig(input_shape=SHAPE, init_weights=str(tmp_path / "missing.pt")),
            log=lambda _: None,
        )
