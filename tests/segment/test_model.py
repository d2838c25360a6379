"""Weights loading (sha256, tampering), batched deterministic inference, the shipped model."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from musclethick.errors import ModelError
from musclethick.segment import (
    ModelBoundaries,
    default_weights_path,
    load_model,
    rank_frames_by_confidence,
)
from musclethick.segment.predict import Predictor
from musclethick.segment.unet import OUT_CHANNELS, UNet, count_parameters, probabilities
from musclethick.segment.weights import card_path, load_weights, write_card
from musclethick.types import Boundary


@pytest.fixture()
def tiny_weights(tmp_path, tiny_unet):
    model = tiny_unet
    path = tmp_path / "tiny.pt"
    torch.save(
        {"state_dict": model.state_dict(), "config": model.config(), "input_shape": [32, 24]},
        path,
    )
    write_card(path, {"name": "tiny", "version": "0.0.1"})
    return path, model


def _frames(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, size=s, dtype=np.uint8) for s in [(60, 50), (45, 70), (32, 24)]]


def test_unet_shapes_and_size():
    m = UNet(base_channels=8, depth=4)
    assert m(torch.zeros(2, 1, 32, 48)).shape == (2, OUT_CHANNELS, 32, 48)
    assert count_parameters(m) < 2_000_000
    with torch.no_grad():
        p = m.probabilities(torch.randn(2, 1, 32, 48))
    # five layers sum to one; the muscle channel is a probability of its own
    np.testing.assert_allclose(p[:, :5].sum(1).numpy(), 1.0, atol=1e-5)
    assert float(p[:, 5].min()) >= 0.0 and float(p[:, 5].max()) <= 1.0


def test_up_step_reduces_channels_before_upsampling_and_computes_the_same_function():
    """The decoder's 1x1 convolution runs before the bilinear upsampling (a quarter of the
    pixels); both are linear, so the result is what upsampling first gives, computed here
    with the upsampling first on an odd-sized skip (the sizes the network meets)."""
    from torch.nn import functional as F

    torch.manual_seed(0)
    m = UNet(base_channels=4, depth=2).eval()
    up = m.up[0]
    x, skip = torch.randn(2, 16, 5, 7), torch.randn(2, 8, 11, 15)
    with torch.no_grad():
        upsampled_first = F.interpolate(x, size=(11, 15), mode="bilinear", align_corners=False)
        expected = up.conv(torch.cat([up.reduce(upsampled_first), skip], dim=1))
        got = up(x, skip)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_row_context_starts_as_the_plain_network():
    """Zero-initialised, the row context adds nothing: with the plain network's weights the
    row-context network computes the same function (training starts where the plain one does)."""
    torch.manual_seed(0)
    plain = UNet(base_channels=4, depth=2).eval()
    rows = UNet(base_channels=4, depth=2, row_context=True).eval()
    missing, unexpected = rows.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("context.") for k in missing)
    x = torch.randn(2, 1, 32, 24)
    with torch.no_grad():
        torch.testing.assert_close(rows(x), plain(x))


def test_row_context_carries_a_row_across_the_whole_width():
    """A pixel at the left edge changes the output at the right edge of its row only through
    the row context: the plain one-level network sees 9 columns at most."""
    torch.manual_seed(0)
    plain = UNet(base_channels=4, depth=1).eval()
    rows = UNet(base_channels=4, depth=1, row_context=True).eval()
    rows.load_state_dict(plain.state_dict(), strict=False)
    for c in rows.context:
        torch.nn.init.normal_(c.mix.weight, std=0.5)
    x = torch.randn(1, 1, 16, 40)
    poked = x.clone()
    poked[0, 0, 8, 0] += 10.0
    with torch.no_grad():
        for net, changes in ((plain, False), (rows, True)):
            right_edge = (net(poked) - net(x))[0, :, 8, -1].abs().max().item()
            assert (right_edge > 1e-4) is changes, (net.row_context, right_edge)


def test_row_context_is_part_of_the_config():
    net = UNet(base_channels=4, depth=2, row_context=True)
    assert net.config()["row_context"] is True
    again = UNet.from_config(net.config())
    again.load_state_dict(net.state_dict())  # strict: same modules
    # earlier cards have no such key: the plain network
    assert "row_context" not in UNet(base_channels=4, depth=2).config()
    assert UNet.from_config({"base_channels": 4, "depth": 2}).row_context is False


def test_load_verified_weights(tiny_weights):
    path, _ = tiny_weights
    model = load_model(path)
    assert model.name == "tiny" and model.version == "0.0.1"
    assert model.input_shape == (32, 24)
    assert len(model.sha256) == 64


def test_tampered_weights_raise(tiny_weights, tmp_path):
    path, _ = tiny_weights
    bad = tmp_path / "bad.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    shutil.copy(card_path(path), card_path(bad))
    with pytest.raises(ModelError, match="sha256"):
        load_model(bad)


def test_missing_weights_or_card_raise(tiny_weights, tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "nothing.pt")
    path, _ = tiny_weights
    bare = tmp_path / "bare.pt"
    shutil.copy(path, bare)
    with pytest.raises(ModelError, match="card"):
        load_model(bare)
    assert load_model(bare, verify=False).version == "unversioned"


def test_not_a_checkpoint_raises(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    write_card(path, {"name": "x"})
    with pytest.raises(ModelError, match="checkpoint"):
        load_model(path)


def test_folded_predictor_matches_the_network(tiny_weights):
    path, model = tiny_weights
    w = load_weights(path)
    pred = Predictor(w.state_dict, w.config, w.input_shape)
    x = torch.randn(3, 1, 32, 24)
    with torch.no_grad():
        ref = probabilities(model(x)).numpy()
    np.testing.assert_allclose(pred.forward(x.numpy()), ref, atol=1e-5)


def test_inference_is_deterministic_and_batched(tiny_weights):
    path, _ = tiny_weights
    model = load_model(path, batch_size=2)
    frames = _frames()
    a = model.find_boundaries(frames)
    b = model.find_boundaries(frames)
    assert len(a) == 3 and all(isinstance(r, ModelBoundaries) for r in a)
    for ra, rb, f in zip(a, b, frames, strict=True):
        assert ra.probability.shape == (OUT_CHANNELS, *f.shape)
        np.testing.assert_array_equal(ra.probability, rb.probability)
    single = model.find_boundaries(frames[1:2])[0]
    np.testing.assert_allclose(single.probability, a[1].probability, atol=1e-5)


def test_rank_frames_by_confidence():
    def b(c):
        return Boundary(np.array([0.0, 1.0]), np.array([1.0, 1.0]), "model", c)

    results = [
        ModelBoundaries(b(0.9), b(0.5), None),
        ModelBoundaries(b(0.9), None, None),
        ModelBoundaries(b(0.8), b(0.7), None),
    ]
    assert rank_frames_by_confidence(results) == [2, 0, 1]
    assert results[1].confidence == 0.0


def test_shipped_model_loads_with_its_card(tmp_path):
    path = default_weights_path()
    assert path.is_file(), f"shipped weights missing: {path}"
    assert path.stat().st_size <= 10 * 1024 * 1024
    model = load_model()
    # the hashes recomputed here from the files' bytes (not the loader's own value)
    card = model.card
    assert hashlib.sha256(path.read_bytes()).hexdigest() == card["sha256"] == model.sha256
    assert path.stat().st_size == card["size_bytes"]
    onnx = path.with_name(card["onnx"]["file"])
    assert hashlib.sha256(onnx.read_bytes()).hexdigest() == card["onnx"]["sha256"]
    # and the check can fail: one flipped byte of the shipped weights is refused
    bad = tmp_path / path.name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    shutil.copy(card_path(path), card_path(bad))
    with pytest.raises(ModelError, match="sha256"):
        load_model(bad)
    assert model.card["intended_use"].startswith("research")
    assert model.card["architecture"]["parameters"] <= 2_000_000


def test_shipped_model_measures_the_committed_val_scan_like_its_mask(test_data):
    from mask_reference import mask_thickness_px  # tests/mask_reference.py: plain numpy
    from musclethick.pipeline import MeasureSettings, measure_path

    # img_00085 is the val-split pair of tests/data/train_tiny (split.csv), a DL_Track capture
    # cropped to its imaging region and resized to 200 rows (157 x 200)
    name = "img_00085.png"
    (result,) = measure_path(test_data / "train_tiny" / "images" / name, MeasureSettings())
    assert result.method == "model"  # the shipped model's answer, not the edge fallback
    mask = np.asarray(Image.open(test_data / "train_tiny" / "masks" / name))
    lines = [line for line in result.lines if line.line != "mean"]
    assert [line.line for line in lines] == ["25%", "50%", "75%"]
    for line in lines:
        expected = mask_thickness_px(mask, line.x_px)  # 52, 47, 42 px
        # tolerance: the resized mask was thresholded at 50 %, so each of its two edges is
        # within half a row (1 px on the thickness); the model's thickness MAE on val is
        # 2.65 % (models/MODEL_CARD.md), allowed twice over: 5 % of the thickness
        assert line.thickness_px == pytest.approx(expected, abs=1.0 + 0.05 * expected), line


@pytest.mark.shared_data
def test_shipped_model_measures_a_validation_image(shared_data):
    from musclethick.region import find_imaging_region
    from musclethick.train.dataset import read_grey
    from musclethick.train.evaluate import compare_to_mask

    root = shared_data / "dltrack_apo"
    name = "img_00002.png"  # a val-split capture (800 x 600, Philips display)
    grey = read_grey(root / "images" / name)
    mask = read_grey(root / "masks" / name) > 127
    box = find_imaging_region(grey)
    res = load_model().find_boundaries([grey[box.slices()]])[0]
    acc = compare_to_mask(name, res.superficial, res.deep, mask[box.slices()])
    assert acc.found
    assert abs(acc.thickness_error_px) <= 5.0
    assert acc.superficial_mae_px <= 4.0 and acc.deep_mae_px <= 4.0
