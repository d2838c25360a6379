"""Export verified weights to ONNX for the torch-free OpenCV runtime (build time only).

Usage::

    python -m musclethick.segment.export src/musclethick/models/muscle_layers_v2.pt

writes ``muscle_layers_v2.onnx`` beside the weights (batch-norm folded, opset 17, dynamic batch) and
adds an ``onnx`` section to the model card: file, sha256, opset and the largest difference
between the OpenCV and torch probabilities on the images given (or on seeded noise). Needs
``torch`` and the ``onnx`` package (``pip install onnx``); running the export needs neither.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from musclethick._files import file_sha256
from musclethick.errors import ModelError
from musclethick.segment.weights import card_path, load_weights, read_card, write_card

__all__ = ["ONNX_OPSET", "export_onnx", "onnx_path_for"]

#: ONNX operator set of the exports.
ONNX_OPSET = 17


def onnx_path_for(weights_path: str | Path) -> Path:
    """ONNX export that belongs to ``weights_path``: same stem, ``.onnx``."""
    return Path(weights_path).with_suffix(".onnx")


def export_onnx(
    weights_path: str | Path,
    *,
    check_images: Sequence[np.ndarray] = (),
    tolerance: float = 1e-3,
) -> dict:
    """Export the weights to ONNX beside them, check the OpenCV runtime against torch and
    record the export in the model card.

    Parameters
    ----------
    weights_path : path
        Verified weights (``.pt`` with its card).
    check_images : sequence of ndarray
        Grey frames to compare the runtimes on (default: 8 frames of seeded noise).
    tolerance : float
        Largest allowed probability difference between the runtimes.

    Returns
    -------
    dict
        The card's ``onnx`` section.

    Raises
    ------
    ModelError
        When the runtimes disagree by more than ``tolerance``.
    """
    import torch

    from musclethick.segment.predict import Predictor
    from musclethick.segment.runtime import OpenCVPredictor

    weights = load_weights(weights_path)
    reference = Predictor(
        weights.state_dict, weights.config, weights.input_shape, normalisation=weights.normalisation
    )
    # exported in the default layout; the reference still runs (channels-last input works
    # with either weight layout)
    from musclethick.segment.unet import Probabilities

    net = Probabilities(reference.model.to(memory_format=torch.contiguous_format)).eval()
    out = onnx_path_for(weights.path)
    example = torch.zeros(2, 1, *weights.input_shape)
    tmp = out.with_suffix(".onnx.tmp")
    with torch.inference_mode():
        torch.onnx.export(
            net,
            (example,),
            str(tmp),
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=["image"],
            output_names=["probabilities"],
            dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}},
        )
    tmp.replace(out)
    frames = list(check_images)
    if not frames:
        rng = np.random.default_rng(0)
        frames = [rng.integers(0, 256, (300 + 20 * i, 240), dtype=np.uint8) for i in range(8)]
    runtime = OpenCVPredictor(
        out, weights.input_shape, reference.out_channels, normalisation=weights.normalisation
    )
    diff = float(np.abs(runtime.predict_small(frames) - reference.predict_small(frames)).max())
    if diff > tolerance:
        out.unlink()
        raise ModelError(
            f"{out}: OpenCV and torch outputs differ by {diff:.2e} (> {tolerance:g}); "
            "export removed"
        )
    section = {
        "file": out.name,
        "sha256": file_sha256(out),
        "size_bytes": out.stat().st_size,
        "opset": ONNX_OPSET,
        "exported_with": f"torch {torch.__version__}",
        "runtime": "OpenCV cv2.dnn (no torch needed to measure)",
        "check_frames": len(frames),
        "max_abs_probability_diff_vs_torch": diff,
    }
    card = read_card(card_path(weights.path))
    card["onnx"] = section
    write_card(weights.path, card)
    return section


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m musclethick.segment.export WEIGHTS.pt [IMAGES...]`` (see
    :func:`musclethick.cli.train.export_onnx_main`)."""
    from musclethick.cli.train import export_onnx_main

    return export_onnx_main(argv)


if __name__ == "__main__":
    sys.exit(main())
