"""Network input preparation and probability resizing (pure numpy)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from musclethick.segment.preprocess import (
    NARROW_ASPECT,
    WIDENED_ASPECT,
    narrowed,
    normalise,
    prepare_batch,
    resize_probability,
    widened,
)


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


def test_a_narrow_frame_is_continued_by_its_mirror_image():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 255, size=(300, 60)).astype(np.uint8)  # aspect 0.2
    wide, span = widened(frame)
    assert wide.shape == (300, int(np.ceil(WIDENED_ASPECT * 300)))
    assert (span.left, span.cols, span.widened_cols) == ((240 - 60) // 2, 60, 240)
    np.testing.assert_array_equal(wide[:, span.left : span.left + 60], frame)
    # mirrored about the edge columns, which are not repeated
    np.testing.assert_array_equal(wide[:, span.left - 1], frame[:, 1])
    np.testing.assert_array_equal(wide[:, span.left + 60], frame[:, -2])
    # frames at least NARROW_ASPECT wide are left alone, colour ones widened alike
    same, none = widened(frame[:, :60][:100])
    assert none is None and same.shape == (100, 60) and 60 >= NARROW_ASPECT * 100
    rgb, span3 = widened(np.dstack([frame] * 3))
    assert rgb.shape == (300, 240, 3) and span3 == span


def test_the_map_of_a_widened_frame_reads_as_the_frame_s_own_map():
    """Resizing the widened frame to the network size and taking the part over the frame gives
    what resizing the frame itself would, for content the coarser map can hold (a sloping
    ramp, as an aponeurosis is): the columns line up. The frame then spans fewer columns of
    the network's map, so sharp sideways detail is blurred."""
    rows, cols = 300, 75
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    frame = 2.0 * x + 0.5 * y
    wide, span = widened(frame)
    shape = (160, 112)  # the network's (rows, cols)
    direct = resize_probability(frame[None], shape)
    back = narrowed(resize_probability(wide[None], shape), span)
    assert back.shape == direct.shape
    # away from the frame's sides, where the coarse map blends the frame with its mirror
    inner = slice(2, -2)
    np.testing.assert_allclose(back[..., inner], direct[..., inner], atol=0.1)
    shifted = narrowed(resize_probability(wide[None], shape), replace(span, left=span.left + 8))
    assert np.abs(shifted[..., inner] - direct[..., inner]).mean() > 10.0  # misplaced: fails
    assert np.array_equal(narrowed(direct, None), direct)


def test_widening_leaves_unreadable_frames_to_prepare_batch_and_takes_any_dtype():
    empty = np.zeros((100, 0), np.uint8)  # cv2 would loop for ever padding it
    same, span = widened(empty)
    assert span is None and same.shape == (100, 0)
    with pytest.raises(ValueError, match="2-D image"):
        prepare_batch([same], (32, 24))
    wide, span = widened(np.ones((100, 30), bool))  # a mask-like frame: padded as float
    assert span is not None and wide.shape == (100, 80) and wide.dtype == np.float32
