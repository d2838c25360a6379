"""Network input preparation and probability resizing (pure numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from musclethick.segment.preprocess import normalise, prepare_batch, resize_probability


def test_normalise_standardises_and_clips():
    x = np.arange(100, dtype=np.uint8).reshape(10, 10)
    z = normalise(x)
    assert z.dtype == np.float32
    assert z.mean() == pytest.approx(0.0, abs=1e-5)
    assert z.std() == pytest.approx(1.0, abs=1e-4)
    flat = normalise(np.full((4, 4), 7, np.uint8))  # no division by zero
    np.testing.assert_array_equal(flat, 0.0)
    spike = np.zeros((50, 50))
    spike[0, 0] = 1e6
    assert normalise(spike).max() == pytest.approx(5.0)


def test_prepare_batch_shapes_and_gain_invariance():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 200, size=(90, 70)).astype(np.uint8)
    rgb = np.stack([a, a, a], axis=-1)
    batch = prepare_batch([a, rgb, a * 0.5], (32, 24))
    assert batch.shape == (3, 1, 32, 24) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[0], batch[1], atol=1e-5)
    np.testing.assert_allclose(batch[0], batch[2], atol=1e-4)  # gain does not matter


def test_prepare_batch_rejects_bad_frames():
    with pytest.raises(ValueError, match="2-D"):
        prepare_batch([np.zeros(5)], (8, 8))


def test_resize_probability_keeps_edge_position():
    small = np.zeros((20, 10), np.float32)
    small[10:] = 1.0  # edge between rows 9 and 10 -> at 9.5 of 20, i.e. half-way
    big = resize_probability(small, (80, 40))
    col = big[:, 20]
    crossing = np.flatnonzero(col >= 0.5)[0]
    assert 39 <= crossing <= 40  # half-way of 80 rows
    two = resize_probability(np.stack([small, 1 - small]), (80, 40))
    assert two.shape == (2, 80, 40)
