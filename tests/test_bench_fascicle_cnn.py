"""Smoke test of bench/bench_fascicle_cnn.py: labels, one training step, pooling."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
BENCH = Path(__file__).resolve().parents[1] / "bench"


def _bench():
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(
        "bench_fascicle_cnn", BENCH / "bench_fascicle_cnn.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_labels_train_step_and_direction():
    import torch

    from musclethick.types import Boundary

    torch.set_num_threads(1)
    b = _bench()
    mask = np.zeros((60, 80), np.uint8)
    for k in range(20):  # a snippet rising to the right at 45 deg (image-up)
        mask[40 - k, 20 + k] = 255
    pixels = np.random.default_rng(0).integers(0, 255, (60, 80)).astype(np.uint8)
    canvas, scale = b.letterbox(pixels, 32)
    assert canvas.shape == (32, 32) and scale == pytest.approx(0.4)
    target = b.orientation_target(mask, scale, 32)
    labelled = target[2] > 0
    assert labelled.any()
    assert np.allclose(target[0][labelled], 0.0, atol=1e-6)  # cos 90 deg
    assert np.allclose(target[1][labelled], 1.0)  # sin 90 deg

    images, targets = np.stack([canvas, canvas]), np.stack([target, target])
    model = b.train(images, targets, epochs=1, batch=2, log=None)
    assert 20_000 < sum(p.numel() for p in model.parameters()) < 60_000

    sup = Boundary(np.arange(80.0), np.full(80, 5.0), "edges")
    deep = Boundary(np.arange(80.0), np.full(80, 55.0), "edges")

    def oracle(x):  # the field of a 45 deg direction everywhere
        field = torch.zeros((1, 2, 8, 8))
        field[:, 1] = 1.0
        return field

    assert b.cnn_direction(oracle, pixels, sup, deep, 32) == pytest.approx(45.0)
