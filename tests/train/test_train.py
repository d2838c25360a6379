"""Training on a handful of real images: targets, data loading, augmentation, loss, loop."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from musclethick.segment.unet import OUT_CHANNELS, UNet, count_parameters
from musclethick.train.augment import (
    LOOKS,
    AugmentOptions,
    above_strip,
    augment_pair,
    draw_annotations,
    layer_contrast,
    scanner_look,
)
from musclethick.train.dataset import load_samples, load_split
from musclethick.train.loop import TrainConfig, fascicle_training_names, main, train
from musclethick.train.losses import column_change, layer_loss, soft_dice
from musclethick.train.targets import (
    GROUP,
    MUSCLE,
    N_CHANNELS,
    V_GROUP,
    V_LAYER,
    V_MUSCLE,
    fascicle_targets,
    grouped_targets,
    layer_targets,
)

SHAPE = (64, 48)


@pytest.fixture(scope="module")
def tiny(test_data):
    root = test_data / "train_tiny"
    split = load_split(root / "split.csv")
    names = [n for n, _, _ in split["train"]]
    return root, load_samples(root, names, input_shape=SHAPE)


def _three_band_mask() -> np.ndarray:
    m = np.zeros((60, 40), np.uint8)
    m[5:9] = 255  # superficial band: rows 5-8
    m[30:33] = 255  # deep band: rows 30-32
    m[45:48] = 255  # a third band: a second muscle lies in rows 33-44
    return m


def test_layer_targets_of_a_hand_made_mask():
    t = layer_targets(_three_band_mask())
    assert t.shape == (60, 40, N_CHANNELS)
    cls = np.argmax(t[..., :5], axis=-1)[:, 7]
    expected = [0] * 5 + [1] * 4 + [2] * 21 + [3] * 3 + [4] * 27
    assert cls.tolist() == expected
    assert (t[..., V_LAYER] == 1).all()
    # grouped: above the belly (rows 0-8), belly (9-29), below (30-59)
    g = np.argmax(t[..., GROUP], axis=-1)[:, 0]
    assert g.tolist() == [0] * 9 + [1] * 21 + [2] * 30
    # muscle: the target belly and the second muscle; bands and above are not; below unknown
    col = t[:, 3]
    assert col[9:30, MUSCLE].min() == 1 and col[33:45, MUSCLE].min() == 1
    assert col[:9, MUSCLE].max() == 0 and col[30:33, MUSCLE].max() == 0
    assert col[:48, V_MUSCLE].min() == 1 and col[48:, V_MUSCLE].max() == 0


def test_columns_with_one_band_know_only_their_side():
    m = np.zeros((50, 30), np.uint8)
    m[5:9] = 255
    m[30:33, :20] = 255  # the deep band stops at column 20
    t = layer_targets(m)
    assert (t[:, 25, V_LAYER][:9] == 1).all() and (t[:, 25, V_LAYER][9:] == 0).all()
    assert (t[:, 5, V_LAYER] == 1).all()


def test_fascicle_targets_know_only_muscle_on_the_snippets():
    f = np.zeros((40, 40), np.uint8)
    f[20, 10:30] = 255
    t = fascicle_targets(f, grow_px=1)
    assert t[19:22, 10:30, MUSCLE].min() == 1 and t[19:22, 10:30, V_MUSCLE].min() == 1
    assert t[..., V_LAYER].max() == 0 and t[..., V_GROUP].max() == 0
    assert t[5, 5, V_MUSCLE] == 0


def test_grouped_targets_from_two_inner_edges_are_area_fractions():
    t = grouped_targets(np.full(10, 4.25), np.full(10, 15.5), (20, 10))
    above, belly, below = (t[:, 0, 6 + k] for k in range(3))
    # pixel 4 covers rows 3.5-4.5: 0.75 above the edge at 4.25
    assert above[4] == pytest.approx(0.75) and belly[4] == pytest.approx(0.25)
    assert above[:4].min() == 1 and belly[5:15].min() == 1 and below[16:].min() == 1
    assert belly[15] == pytest.approx(1.0) and below[15] == pytest.approx(0.0)
    # pixel 16 covers 15.5-16.5: all below the edge at 15.5
    assert below[16] == pytest.approx(1.0)
    assert t[..., V_LAYER].max() == 0 and t[..., V_GROUP].min() == 1


def test_samples_are_cropped_resized_and_layered(tiny):
    _, s = tiny
    assert s.images.shape == (5, 96, 72) and s.images.dtype == np.uint8
    assert s.targets.shape == (5, 96, 72, N_CHANNELS) and s.targets.dtype == np.uint8
    for i in range(len(s)):
        t = s.target(i)
        sup_rows = np.nonzero(t[..., 1] > 0.5)[0]
        deep_rows = np.nonzero(t[..., 3] > 0.5)[0]
        belly_rows = np.nonzero(t[..., 2] > 0.5)[0]
        assert sup_rows.mean() < belly_rows.mean() < deep_rows.mean()


def test_augmentation_is_seeded_keeps_shapes_and_layers(tiny):
    _, s = tiny
    tgt = s.target(0)
    a1, t1 = augment_pair(s.images[0], tgt, np.random.default_rng(3), shape=SHAPE)
    a2, t2 = augment_pair(s.images[0], tgt, np.random.default_rng(3), shape=SHAPE)
    a3, _ = augment_pair(s.images[0], tgt, np.random.default_rng(4), shape=SHAPE)
    assert a1.shape == SHAPE and t1.shape == (*SHAPE, N_CHANNELS)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(t1, t2)
    assert not np.array_equal(a1, a3)
    assert 0.0 <= t1.min() and t1.max() <= 1.0


def test_inserted_layers_push_the_muscle_down_and_are_not_muscle(tiny):
    _, s = tiny
    opts = AugmentOptions(
        p_insert=1.0, superficial_depth_range=(0.45, 0.5), p_zoom=0.0, p_width_crop=0.0,
        p_border=0.0, p_flip=0.0, p_text=0.0,
    )  # fmt: skip
    tgt = s.target(0)
    before = np.argmax(tgt[..., 2].max(axis=1) > 0.5) / tgt.shape[0]
    _a, t = augment_pair(s.images[0], tgt, np.random.default_rng(0), shape=SHAPE, options=opts)
    belly_start = np.argmax((t[..., 2] > 0.5).any(axis=1)) / SHAPE[0]
    assert before < 0.3 and 0.4 <= belly_start <= 0.55
    top = t[: int(0.3 * SHAPE[0])]
    assert (top[..., V_MUSCLE] > 0.5).all() and top[..., MUSCLE].max() < 0.5


def test_layer_contrast_gives_each_layer_its_own_gain():
    mask = np.zeros((120, 80), np.uint8)
    mask[10:18] = 255  # superficial band
    mask[60:66] = 255  # deep band
    tgt = layer_targets(mask)
    tgt[:, 50:, :] = 0.0  # columns 50-79: nothing known, their brightness must stay
    img = np.full(mask.shape, 100.0, np.float32)
    out = layer_contrast(np.random.default_rng(3), img, tgt, (0.5, 2.0))
    out2 = layer_contrast(np.random.default_rng(3), img, tgt, (0.5, 2.0))
    np.testing.assert_array_equal(out, out2)
    # the five gains it draws first (above, superficial, belly, deep, below), log-uniform
    g = np.exp(np.random.default_rng(3).uniform(np.log(0.5), np.log(2.0), size=5))
    # this draw tells belly (x 1.5) and below (x 0.6) apart and from no gain at all
    assert g[2] > 1.4 and g[4] < 0.7
    # far (>= 13 px; the blur's sigma is at most 6 px) from any edge, each layer has its gain
    np.testing.assert_allclose(out[32:40, 0:20] / 100.0, g[2], rtol=0.03)  # belly
    np.testing.assert_allclose(out[100:, 0:20] / 100.0, g[4], rtol=0.03)  # below
    np.testing.assert_allclose(out[:, 79], 100.0, rtol=1e-3)  # unknown columns
    assert out.min() >= 0 and out.max() <= 255


@pytest.mark.parametrize(
    "option", ["p_layer_contrast", "p_annotation", "p_top_cut", "p_look", "p_bottom_cut"]
)
def test_optional_augmentations_are_off_by_default_and_keep_the_random_stream(tiny, option):
    _, s = tiny
    tgt = s.target(0)
    base = augment_pair(s.images[0], tgt, np.random.default_rng(7), shape=SHAPE)
    off = AugmentOptions(**{option: 0.0})
    again = augment_pair(s.images[0], tgt, np.random.default_rng(7), shape=SHAPE, options=off)
    np.testing.assert_array_equal(base[0], again[0])
    on = AugmentOptions(**{option: 1.0})
    changed = augment_pair(s.images[0], tgt, np.random.default_rng(7), shape=SHAPE, options=on)
    assert not np.array_equal(base[0], changed[0])
    np.testing.assert_array_equal(base[1].shape, changed[1].shape)


def _banded_sample():
    """A 160 x 200 sample whose row index is its grey level: superficial band rows 20-27 (belly
    from row 28), deep band rows 110-117 (deep inner edge at row 110); and the targets of one
    whose belly is thinner than 12 rows (bands at 20-27 and 36-43)."""
    mask = np.zeros((160, 200), np.uint8)
    mask[20:28] = 255
    mask[110:118] = 255
    thin = np.zeros((160, 200), np.uint8)
    thin[20:28] = 255
    thin[36:44] = 255
    img = np.tile(np.arange(160, dtype=np.float32)[:, None], (1, 200))
    return img, layer_targets(mask), layer_targets(thin)


def test_a_top_cut_starts_inside_the_belly_and_labels_it_up_to_the_top():
    from musclethick.train.augment import cut_top
    from musclethick.train.targets import GROUP

    img, tgt, thin = _banded_sample()
    cuts = set()
    for seed in range(20):
        out, t = cut_top(np.random.default_rng(seed), img, tgt)
        y0 = int(out[0, 0])  # the first row kept
        cuts.add(y0)
        assert 30 <= y0 <= 30 + 0.5 * (110 - 30)  # inside the belly, in its upper half
        np.testing.assert_array_equal(t, tgt[y0:])  # labels move with the image
        assert (t[0, :, GROUP][:, 1] > 0.99).all()  # the top row is belly
    assert len(cuts) > 5
    # a belly thinner than 12 rows is left as it is
    same, _ = cut_top(np.random.default_rng(0), img, thin)
    assert same.shape == img.shape


def test_a_tilt_turns_image_and_labels_together_without_filled_corners():
    """``tilt`` turns a sample by up to 12 degrees either way and keeps the largest upright
    rectangle inside it: the bands slope by the angle's tangent, the labels stay on the image's
    band, every pixel keeps its known layer (no filled corners), and an untilted recipe draws
    the same random numbers as before the option existed."""
    from musclethick.train.augment import AugmentOptions, augment_pair, tilt
    from musclethick.train.targets import LAYERS, V_LAYER

    deep = LAYERS.index("deep")
    img, tgt, _thin = _banded_sample()
    img = np.where((img >= 110) & (img < 118), 255.0, 60.0).astype(np.float32)  # deep band bright
    angles = []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        angle = np.random.default_rng(seed).uniform(-12.0, 12.0)  # tilt's one draw
        out, t = tilt(rng, img, tgt)
        rows, cols = out.shape
        assert t.shape == (rows, cols, tgt.shape[2])
        assert (rows < 160 and cols < 200) or abs(angle) < 0.5
        assert out.min() >= 60.0 - 1e-3  # no black (filled) corners
        known = t[..., V_LAYER]  # the share of each pixel whose layer is known: all of it
        assert known.min() > 0.999
        # the deep band's middle row at two columns: the slope is -tan(angle)
        a, b = 5, cols - 6
        mid = [np.average(np.arange(rows), weights=t[:, c, deep]) for c in (a, b)]
        assert abs((mid[1] - mid[0]) / (b - a) + np.tan(np.deg2rad(angle))) < 0.02
        bright = [np.average(np.arange(rows), weights=out[:, c] - 60.0) for c in (a, b)]
        assert np.allclose(bright, mid, atol=0.6)  # the labels lie on the image's band
        angles.append(angle)
    assert min(angles) < -5 and max(angles) > 5
    # off by default, and off leaves every other random choice as it was: the sums are those
    # the code before the option gave for this sample and seed (commit af35691)
    assert AugmentOptions().p_tilt == 0.0
    x, t = augment_pair(img, tgt, np.random.default_rng(3), shape=(64, 48))
    assert float(x.sum()) == pytest.approx(103548.08, rel=1e-3)
    assert float(t.sum()) == pytest.approx(16128.0, rel=1e-3)


def test_a_bottom_cut_ends_inside_the_belly_and_labels_it_down_to_the_bottom():
    from musclethick.train.augment import cut_bottom
    from musclethick.train.targets import GROUP

    img, tgt, thin = _banded_sample()
    ends = set()
    for seed in range(20):
        out, t = cut_bottom(np.random.default_rng(seed), img, tgt)
        y1 = out.shape[0]  # rows kept: 0 .. y1 - 1
        ends.add(y1)
        assert 108 - 0.5 * (108 - 28) <= y1 <= 108  # inside the belly, in its lower half
        np.testing.assert_array_equal(out, img[:y1])
        np.testing.assert_array_equal(t, tgt[:y1])  # labels move with the image
        assert (t[-1, :, GROUP][:, 1] > 0.99).all()  # the bottom row is belly
    assert len(ends) > 5
    # a belly thinner than 12 rows is left as it is
    same, _ = cut_bottom(np.random.default_rng(0), img, thin)
    assert same.shape == img.shape
    # a sample that starts inside the belly (after a top cut: 132 rows, the deep inner edge at
    # row 82) keeps at least a third of its rows: cut between rows 44 and 80, in the lower half
    short = [
        cut_bottom(np.random.default_rng(seed), img[28:], tgt[28:])[0].shape[0]
        for seed in range(20)
    ]
    assert 80 - 0.5 * (80 - 44) <= min(short) and max(short) <= 80


def _speckled_step(seed: int = 0) -> np.ndarray:
    """A dark layer over a bright one (step at row 40) under multiplicative speckle."""
    rng = np.random.default_rng(seed)
    clean = np.full((80, 96), 50.0, np.float32)
    clean[40:] = 150.0
    return np.clip(clean * rng.gamma(4.0, 0.25, size=clean.shape), 0, 255).astype(np.float32)


def _look(kind: str, img: np.ndarray, seed: int) -> np.ndarray:
    out = scanner_look(np.random.default_rng(seed), img, [kind])
    assert out.dtype == np.float32 and out.shape == img.shape
    assert out.min() >= 0 and out.max() <= 255
    return out


def test_speckle_reduction_smooths_each_layer_and_keeps_the_step():
    img = _speckled_step()
    for seed in range(8):
        out = _look("speckle_reduction", img, seed)
        dark, bright = (out[r].std() / img[r].std() for r in (slice(5, 35), slice(45, 75)))
        assert dark < 0.7 and bright < 0.95  # inside each layer, away from the step
        step = out[45:75].mean() - out[5:35].mean()
        assert step > 0.8 * (img[45:75].mean() - img[5:35].mean())


def test_edge_enhancement_steepens_the_step():
    clean = np.full((80, 96), 50.0, np.float32)
    clean[40:] = 150.0
    soft = cv2.GaussianBlur(clean, (0, 0), 2.0)
    for seed in range(8):
        out = _look("edge_enhancement", soft, seed)
        assert np.abs(np.diff(out[:, 48])).max() > 1.05 * np.abs(np.diff(soft[:, 48])).max()


def test_a_grey_map_keeps_the_order_of_grey_levels_and_changes_the_levels():
    ramp = np.tile(np.linspace(0, 255, 96, dtype=np.float32), (16, 1))
    lifted = 0
    for seed in range(12):
        out = _look("grey_map", ramp, seed)
        assert (np.diff(out[0]) >= -1e-3).all()  # monotonic: a brighter pixel stays brighter
        assert np.abs(out - ramp).mean() > 3.0
        lifted += out[0, 0] > 10
    assert lifted >= 3  # some draws lift the blacks (a washed-out display)


def test_local_contrast_spreads_a_flat_grey_map():
    img = 100.0 + 0.2 * (_speckled_step() - 100.0)  # a low-contrast capture
    for seed in range(8):
        assert _look("local_contrast", img, seed).std() > 1.5 * img.std()


def test_scanner_look_is_seeded_draws_one_or_two_looks_and_names_a_wrong_one():
    img = _speckled_step()
    a = scanner_look(np.random.default_rng(3), img)
    np.testing.assert_array_equal(a, scanner_look(np.random.default_rng(3), img))
    outs = {scanner_look(np.random.default_rng(s), img).tobytes() for s in range(10)}
    assert len(outs) == 10
    assert set(LOOKS) == {"speckle_reduction", "edge_enhancement", "grey_map", "local_contrast"}
    with pytest.raises(ValueError, match="unknown look 'blur'"):
        scanner_look(np.random.default_rng(0), img, ["blur"])


def test_drawn_annotations_change_pixels_not_labels_and_often_lie_beside_an_aponeurosis():
    mask = np.zeros((160, 200), np.uint8)
    mask[20:28] = 255  # superficial band: inner edge at row 28
    mask[110:118] = 255  # deep band: inner edge at row 110
    tgt = layer_targets(mask)
    img = np.full(mask.shape, 60.0, np.float32)
    near = drawn = 0
    for seed in range(40):
        before = tgt.copy()
        out = draw_annotations(np.random.default_rng(seed), img.copy(), tgt)
        np.testing.assert_array_equal(tgt, before)  # the tissue under a line keeps its label
        changed = np.abs(out - img) > 20
        assert changed.any() and out.min() >= 0 and out.max() <= 255
        rows = np.flatnonzero(changed.sum(axis=1) > 20)  # rows a long line runs through
        drawn += rows.size > 0
        near += any(abs(r - e) <= 25 for r in rows for e in (28, 110))
    assert drawn >= 25 and near >= drawn // 2  # six in ten lines beside an aponeurosis


def test_borders_are_labelled_outside_the_muscle(tiny):
    _, s = tiny
    opts = AugmentOptions(
        p_insert=0.0, p_zoom=0.0, p_width_crop=0.0, p_border=1.0, p_flip=0.0, p_text=0.0,
        p_jpeg=0.0,
    )  # fmt: skip
    hits = 0
    for seed in range(12):
        a, t = augment_pair(
            s.images[1], s.target(1), np.random.default_rng(seed), shape=SHAPE, options=opts
        )
        dark_cols = np.flatnonzero(a.max(axis=0) < 1.0)
        if dark_cols.size:
            hits += 1
            # a black column holds no belly and no muscle
            assert t[:, dark_cols, 2].max() < 0.5 and t[:, dark_cols, MUSCLE].max() < 0.5
    assert hits > 0


def test_above_strip_takes_the_rows_above_the_superficial_band(tiny):
    _, s = tiny
    strips = [above_strip(s.images[i], s.target(i), min_rows=1) for i in range(len(s))]
    for i, st in enumerate(strips):
        if st is None:
            continue
        band_top = np.argmax((s.target(i)[..., 1] > 0.5).any(axis=1))
        assert st.shape[0] <= band_top and st.shape[1] == s.images.shape[2]


def test_loss_is_lower_for_the_right_answer():
    t = np.zeros((1, 20, 16, N_CHANNELS), np.float32)
    t[..., :4, :, 0] = 1
    t[..., 4:6, :, 1] = 1
    t[..., 6:14, :, 2] = 1
    t[..., 14:16, :, 3] = 1
    t[..., 16:, :, 4] = 1
    t[..., V_LAYER] = 1
    t[..., 6] = t[..., 0] + t[..., 1]
    t[..., 7] = t[..., 2]
    t[..., 8] = t[..., 3] + t[..., 4]
    t[..., V_GROUP] = 1
    t[..., MUSCLE] = t[..., 2]
    t[..., V_MUSCLE] = 1
    y = torch.from_numpy(np.moveaxis(t, -1, 1))
    right = torch.cat([y[:, :5] * 16 - 8, y[:, MUSCLE : MUSCLE + 1] * 16 - 8], dim=1)
    wrong = torch.cat([right[:, :5].flip(1), -right[:, 5:]], dim=1)
    assert layer_loss(right, y) < 0.05 < layer_loss(wrong, y)
    # unknown pixels do not count
    y_unknown = y.clone()
    y_unknown[:, V_LAYER] = 0
    y_unknown[:, V_GROUP] = 0
    y_unknown[:, V_MUSCLE] = 0
    assert layer_loss(wrong, y_unknown) == pytest.approx(0.0, abs=1e-6)
    assert soft_dice(y[:, 2:3], y[:, 2:3]) == pytest.approx(0.0, abs=1e-6)


def test_column_change_counts_a_target_that_changes_across_the_image():
    rows, cols = 20, 16
    level = torch.zeros(1, 3, rows, cols)
    level[:, 0, :6] = 1  # above
    level[:, 1, 6:14] = 1  # belly
    level[:, 2, 14:] = 1  # below
    assert float(column_change(level)) == 0.0
    # the belly one row lower from column 8 on: 2 rows change (each by 1 in 2 groups) at one
    # column step of the 15
    sloped = level.clone()
    sloped[:, :, 6, 8:] = torch.tensor([1.0, 0.0, 0.0])[:, None]  # row 6: above
    sloped[:, :, 14, 8:] = torch.tensor([0.0, 1.0, 0.0])[:, None]  # row 14: belly
    assert float(column_change(sloped)) == pytest.approx(2 * 2 / (rows * (cols - 1)))
    # another muscle on the right half (belly rows 0-5 there): 14 rows change
    split = level.clone()
    split[:, :, :, 8:] = 0
    split[:, 1, :6, 8:] = 1
    split[:, 2, 6:, 8:] = 1
    assert float(column_change(split)) == pytest.approx(2 * 14 / (rows * (cols - 1)))


def test_consistency_weight_adds_the_column_change_of_the_groups():
    x = torch.randn(2, 6, 24, 16, generator=torch.Generator().manual_seed(0))
    y = torch.rand(2, N_CHANNELS, 24, 16, generator=torch.Generator().manual_seed(1))
    base = float(layer_loss(x, y))
    assert float(layer_loss(x, y, consistency_weight=0.0)) == base
    p = torch.softmax(x[:, :5], dim=1)
    groups = torch.stack([p[:, 0] + p[:, 1], p[:, 2], p[:, 3] + p[:, 4]], dim=1)
    expected = base + 2.0 * float(column_change(groups))
    assert float(layer_loss(x, y, consistency_weight=2.0)) == pytest.approx(expected, rel=1e-5)


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
    assert model.out_channels == OUT_CHANNELS
    assert count_parameters(model) == summary["parameters"]


def test_training_is_reproducible(tiny, tmp_path):
    _, s = tiny
    config = TrainConfig(input_shape=SHAPE, base_channels=4, depth=2, epochs=2, batch_size=5)
    a = train(s, None, tmp_path / "a", config, log=lambda _: None)
    b = train(s, None, tmp_path / "b", config, log=lambda _: None)
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]


def test_weak_samples_join_each_epoch(tiny, tmp_path):
    _, s = tiny
    weak = s.subset(s.names[:2])
    weak = type(weak)(
        weak.names,
        weak.images,
        np.stack([np.rint(fascicle_targets(np.eye(96, 72)) * 255).astype(np.uint8)] * 2),
        weak.sizes,
        weak.boxes,
    )
    config = TrainConfig(
        input_shape=SHAPE, base_channels=4, depth=2, epochs=2, batch_size=2, weak_fraction=0.5
    )
    summary = train(s, None, tmp_path, config, weak_set=weak, log=lambda _: None)
    assert summary["n_weak_per_epoch"] == 1
    assert summary["steps"] == 2 * 3  # (5 labelled + 1 weak) / batch 2 per epoch


def test_fascicle_names_leave_out_val_duplicates_and_excluded_sizes(tmp_path):
    index = tmp_path / "index.csv"
    index.write_text(
        "image,width,height,nearest_apo_image,nearest_apo_split,similarity\n"
        "a.png,512,512,img_1.png,train,0.99\n"
        "b.png,512,512,img_2.png,val,0.99\n"
        "c.png,800,652,,,0.3\n"
        "d.png,800,600,,,0.2\n"
    )
    assert fascicle_training_names(index) == ["a.png", "c.png", "d.png"]
    assert fascicle_training_names(index, excluded_sizes={(800, 652)}) == ["a.png", "d.png"]


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
    assert summary["layer_contrast"] == 0.0  # the shipped recipe: the augmentation off
    assert summary["annotations"] == 0.0
    assert summary["looks"] == 0.0
    assert summary["bottom_cut"] == 0.0
    assert summary["swa_start"] is None  # the shipped recipe: no weight averaging
    assert summary["n_val"] == 1 and summary["n_train"] == 5
    assert summary["excluded_sizes"] == ["157x200"]
    card = json.loads((out / "model.json").read_text())
    assert card["sha256"] and card["input"]["shape"] == [64, 48]
    assert card["output"]["channels"] == OUT_CHANNELS


def test_init_weights_start_from_a_previous_run(tiny, tmp_path):
    _, s = tiny
    still = AugmentOptions.none()
    config = TrainConfig(
        input_shape=SHAPE, base_channels=4, depth=2, epochs=12, batch_size=5, lr=2e-2, seed=0,
        augment=still,
    )  # fmt: skip
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
        augment=still,
    )
    fresh = TrainConfig(
        input_shape=SHAPE, base_channels=4, depth=2, epochs=1, batch_size=5, lr=1e-4, seed=1,
        augment=still,
    )  # fmt: skip
    b = train(s, None, tmp_path / "b", tuned, log=lambda _: None)
    c = train(s, None, tmp_path / "c", fresh, log=lambda _: None)
    end_of_first = first["history"][-1]["train_loss"]
    assert b["history"][0]["train_loss"] < 0.8 * c["history"][0]["train_loss"]
    assert b["history"][0]["train_loss"] < 1.3 * end_of_first


def test_belly_jumps_leave_a_slope_alone_and_count_a_switch_of_muscle():
    from musclethick.train.losses import JUMP_TOLERANCE_ROWS, belly_jumps

    rows, cols = 40, 16
    belly = torch.zeros(1, rows, cols)
    for c in range(cols):  # a belly 10 rows thick sloping down one row per column
        belly[0, 5 + c : 15 + c, c] = 1.0
    assert float(belly_jumps(belly)) == 0.0  # 1 row per column: within the tolerance
    # the muscle below (rows 26-35) on the right half: the centre jumps by 30.5 - 9.5 = 21 rows
    # once, at the step from column 7 to 8; both columns hold 10 rows of belly
    split = torch.zeros(1, rows, cols)
    split[0, 5:15, :8] = 1.0
    split[0, 26:36, 8:] = 1.0
    expected = (21 - JUMP_TOLERANCE_ROWS) / rows * (10 / rows) / (cols - 1)
    assert float(belly_jumps(split)) == pytest.approx(expected)
    # a column without belly weighs nothing
    empty = split.clone()
    empty[0, :, 8] = 0.0
    assert float(belly_jumps(empty)) == 0.0


def test_jump_weight_adds_the_belly_jumps():
    from musclethick.train.losses import belly_jumps

    x = torch.randn(2, 6, 24, 16, generator=torch.Generator().manual_seed(0))
    y = torch.rand(2, N_CHANNELS, 24, 16, generator=torch.Generator().manual_seed(1))
    base = float(layer_loss(x, y))
    belly = torch.softmax(x[:, :5], dim=1)[:, 2]
    with_term = float(layer_loss(x, y, jump_weight=3.0))
    assert with_term == pytest.approx(base + 3.0 * float(belly_jumps(belly)), rel=1e-5)


def test_weight_averaging_leaves_the_training_alone_and_saves_the_average(tiny, tmp_path):
    """``swa_start``: the same steps are taken (``last_raw.pt`` is the plain run's ``last.pt``);
    ``last.pt`` holds weights averaged over the steps after the start, with batch-norm
    statistics of their own, and loads like any other weights."""
    from musclethick.segment.weights import load_weights

    _, s = tiny
    base = dict(input_shape=SHAPE, base_channels=4, depth=2, epochs=4, batch_size=2, lr=2e-2)
    train(s, None, tmp_path / "plain", TrainConfig(**base), log=lambda _: None)
    lines = []
    summary = train(s, None, tmp_path / "swa", TrainConfig(**base, swa_start=0.5), log=lines.append)
    plain = torch.load(tmp_path / "plain" / "last.pt", weights_only=True)["state_dict"]
    raw = torch.load(tmp_path / "swa" / "last_raw.pt", weights_only=True)["state_dict"]
    averaged = torch.load(tmp_path / "swa" / "last.pt", weights_only=True)
    assert plain.keys() == raw.keys() == averaged["state_dict"].keys()
    for k in plain:
        torch.testing.assert_close(raw[k], plain[k])
    weights = [k for k in plain if k.endswith("conv.0.weight") or k.endswith(".0.weight")]
    assert weights and any(
        not torch.allclose(averaged["state_dict"][k], raw[k], atol=1e-6) for k in weights
    )
    means = [k for k in plain if k.endswith("running_mean")]
    assert any(not torch.allclose(averaged["state_dict"][k], raw[k]) for k in means)
    steps = summary["steps"]  # 3 batches of 2 per epoch
    assert averaged["meta"]["swa_steps"] == steps - steps // 2
    assert json.loads(lines[-1])["swa_steps"] == steps - steps // 2
    assert load_weights(tmp_path / "swa" / "last.pt", verify=False).config["base_channels"] == 4


def test_a_display_border_around_a_very_short_sample_draws_no_text_where_none_fits():
    """Cuts at both ends can leave a sample a few rows high: the display border around it
    still works (its side-bar text needed more than 10 rows of canvas)."""
    from musclethick.train.augment import _border

    mask = np.zeros((8, 40), np.uint8)
    mask[1:3] = 255
    tgt = layer_targets(mask)
    img = np.full((8, 40), 100.0, np.float32)
    for seed in range(300):
        canvas, t = _border(np.random.default_rng(seed), img.copy(), tgt)
        assert canvas.shape[:2] == t.shape[:2] and canvas.shape[0] >= 8


def test_the_display_beside_a_cut_belly_holds_no_layer():
    """Above an image that starts inside the belly (a top cut) and below one that ends inside
    it (a bottom cut) the display border is not labelled "above" / "below" (that would put an
    aponeurosis on the image's edge) nor belly or muscle: its layers are unknown. Beside an
    uncut image the border stays "above" over it and "below" under it."""
    from musclethick.train.augment import _border

    mask = np.zeros((160, 60), np.uint8)
    mask[20:28] = 255
    mask[110:118] = 255
    full = layer_targets(mask)
    img = np.full((160, 60), 100.0, np.float32)
    cases = {"top cut": (img[40:], full[40:]), "bottom cut": (img[:90], full[:90])}
    cases["uncut"] = (img, full)
    seen = set()
    for seed in range(200):
        for name, (im, t) in cases.items():
            canvas, tc = _border(np.random.default_rng(seed), im.copy(), t)
            extra_rows = canvas.shape[0] - im.shape[0]
            if extra_rows == 0 or (canvas.shape[1] - im.shape[1]) != 0:
                continue  # a border above or below only (no side bars in these columns)
            top = int(np.argmax((canvas == 100.0).all(axis=1)))  # the image's first row
            above, below = tc[:top], tc[top + im.shape[0] :]
            for part, where in ((above, "above"), (below, "below")):
                if part.size == 0:
                    continue
                seen.add((name, where))
                cut = (name, where) in {("top cut", "above"), ("bottom cut", "below")}
                if cut:
                    assert (part[..., V_LAYER] == 0).all() and (part[..., V_GROUP] == 0).all()
                    assert (part[..., MUSCLE] == 0).all() and (part[..., V_MUSCLE] == 1).all()
                else:
                    group = 0 if where == "above" else 2
                    assert (part[..., V_GROUP] == 1).all(), (name, where)
                    assert (part[..., GROUP][..., group] == 1).all(), (name, where)
    assert {("top cut", "above"), ("bottom cut", "below"), ("uncut", "above")} <= seen
    assert ("uncut", "below") in seen
