"""The torch-free OpenCV runtime: same outputs as torch, verified export, no torch import."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from musclethick.errors import ModelError
from musclethick.io import read
from musclethick.segment import default_weights_path, load_model
from musclethick.segment.weights import card_path


def _sample_frames(sample_images: Path) -> list[np.ndarray]:
    return [f.pixels for p in sorted(sample_images.glob("*.png")) for f in read(p)]


@pytest.fixture()
def shipped_copy(tmp_path: Path) -> Path:
    """The shipped weights, card and ONNX export copied to a scratch folder."""
    src = default_weights_path()
    card = json.loads(card_path(src).read_text())
    for name in (src.name, card_path(src).name, card["onnx"]["file"]):
        shutil.copy(src.parent / name, tmp_path / name)
    return tmp_path / src.name


def test_shipped_model_runs_on_opencv_by_default():
    model = load_model()
    assert model.backend == "opencv"
    assert load_model(backend="torch").backend == "torch"
    with pytest.raises(ValueError, match="backend"):
        load_model(backend="tensorflow")


def test_opencv_and_torch_agree_on_real_scans(sample_images: Path):
    frames = _sample_frames(sample_images)
    fast = load_model(backend="opencv")
    ref = load_model(backend="torch")
    p_fast = fast._predictor.predict_small(frames)
    p_ref = ref._predictor.predict_small(frames)
    assert p_fast.shape == p_ref.shape
    assert np.abs(p_fast - p_ref).max() < 1e-4
    for a, b in zip(fast.find_boundaries(frames), ref.find_boundaries(frames), strict=True):
        for x, y in ((a.superficial, b.superficial), (a.deep, b.deep)):
            assert (x is None) == (y is None)
            if x is not None:
                np.testing.assert_allclose(x.y_px, y.y_px, atol=0.01)
                assert x.confidence == pytest.approx(y.confidence, abs=1e-4)


def test_tampered_export_raises(shipped_copy: Path):
    card = json.loads(card_path(shipped_copy).read_text())
    onnx = shipped_copy.parent / card["onnx"]["file"]
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="ONNX export"):
        load_model(shipped_copy)
    # the torch runtime does not read the export
    assert load_model(shipped_copy, backend="torch").backend == "torch"


def test_weights_without_export_use_torch_unless_opencv_is_asked_for(shipped_copy: Path):
    card = json.loads(card_path(shipped_copy).read_text())
    (shipped_copy.parent / card["onnx"]["file"]).unlink()
    assert load_model(shipped_copy).backend == "torch"
    with pytest.raises(ModelError, match="not found"):
        load_model(shipped_copy, backend="opencv")
    del card["onnx"]
    card_path(shipped_copy).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="no ONNX export"):
        load_model(shipped_copy, backend="opencv")


def test_tampered_weights_raise_on_the_opencv_path_too(shipped_copy: Path):
    data = bytearray(shipped_copy.read_bytes())
    data[-100] ^= 0xFF
    shipped_copy.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_model(shipped_copy)


def test_measure_command_never_imports_torch(sample_images: Path, tmp_path: Path):
    code = (
        "import sys\n"
        "from musclethick.cli import main\n"
        f"rc = main(['measure', {str(sample_images)!r}, '--out', {str(tmp_path / 'r.csv')!r},"
        " '-q'])\n"
        "assert rc == 0, rc\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert (tmp_path / "r.csv").read_text().count("\n") > 10


@pytest.mark.parametrize("row_context", [False, True])
def test_export_of_new_weights_round_trips(
    tmp_path: Path, sample_images: Path, tiny_unet, row_context
):
    pytest.importorskip("onnx")
    import torch

    from musclethick.segment.export import export_onnx
    from musclethick.segment.unet import UNet
    from musclethick.segment.weights import write_card
    from musclethick.train.loop import TrainConfig, make_card

    net = tiny_unet
    if row_context:  # the row means and their broadcast back run the same in OpenCV
        net = UNet(base_channels=4, depth=2, row_context=True).eval()
        net.load_state_dict(tiny_unet.state_dict(), strict=False)
        torch.manual_seed(1)
        for c in net.context:
            torch.nn.init.normal_(c.mix.weight, std=0.3)
    path = tmp_path / "tiny.pt"
    torch.save(
        {"state_dict": net.state_dict(), "config": net.config(), "input_shape": [32, 24]}, path
    )
    config = TrainConfig(input_shape=(32, 24), base_channels=4, depth=2, row_context=row_context)
    write_card(path, make_card(net, config, name="tiny", version="0.0.1"))
    frames = _sample_frames(sample_images)
    section = export_onnx(path, check_images=frames)
    assert section["max_abs_probability_diff_vs_torch"] < 1e-4
    fast = load_model(path)
    assert fast.backend == "opencv" and fast.input_shape == (32, 24)
    ref = load_model(path, backend="torch")
    diff = np.abs(fast._predictor.predict_small(frames) - ref._predictor.predict_small(frames))
    assert diff.max() < 1e-4
