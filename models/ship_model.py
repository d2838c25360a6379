"""Ship a trained model: copy its weights into the package and write its machine-readable card.

Usage::

    python models/ship_model.py runs/layers_main --name muscle_layers_v2 --version 2.0.0 \
        --metrics runs/bench_model.json [--speed runs/bench_speed.json] [--extra runs/extra.json]

Copies ``RUN/last.pt`` (``--checkpoint``) to ``src/musclethick/models/NAME.pt`` and writes
``NAME.json`` beside it: the card of the run (architecture, input/output spec, training options)
plus the training command, wall time and machine from ``RUN/train.json``, the measured metrics,
the version, changelog and the sha256 of the weights. Then exports ``NAME.onnx`` for the
torch-free OpenCV runtime (:mod:`musclethick.segment.export`), checks it against torch on the
sample scans and records it in the card.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from musclethick.segment.preprocess import DEFAULT_NORMALISATION  # noqa: E402
from musclethick.segment.weights import package_models_dir, write_card  # noqa: E402

CHANGELOG = [
    {
        "version": "apo_unet_v1 1.0.0",
        "changes": "first build: one-class aponeurosis-band U-Net (8-128 channels, depth 4), "
        "160x112 input, 30 epochs on the DL_Track train split, seed 0; val thickness MAE "
        "6.43 px (3.44 %), ICC 0.62",
    },
    {
        "version": "apo_unet_v1 1.1.0",
        "changes": "retrained with the 800x652 captures shown twice per epoch, seed 1; "
        "superficial/deep assigned by position rules; val 2.77 px (2.24 %), ICC 0.958; "
        "leave-one-format-out 512x512 1.50 %, 660x556 4.94 %, 800x652 14.4 %",
    },
    {
        "version": "muscle_layers_v2 2.0.0",
        "changes": "layer model: per pixel above / superficial aponeurosis / belly / deep "
        "aponeurosis / below (softmax) and muscle tissue (sigmoid); the pair of boundaries "
        "that encloses the belly is the answer (no position rules); runner-up pair and doubts "
        "(ambiguous_layers, no_muscle_texture, edge_of_image, unstable); trained 40 epochs, "
        "seed 0, per-image standardised input, with layer insertion (real strips of the "
        "training scans, stretched to the inserted height in this build, and synthetic fat), "
        "depth zoom, attenuation, borders, mirrored captures, JPEG and low resolution, and "
        "fascicle snippets as weak muscle labels; no synthetic scans (they made the "
        "left-out formats worse); val 3.33 px (2.65 %), ICC 0.955; leave-one-format-out "
        "512x512 1.52 %, 660x556 3.88 %, 800x652 22.5 % (ok frames off by > 10 %: 0 / 0.5 / "
        "0 %)",
    },
    {
        "version": "muscle_layers_v2 2.1.0",
        "changes": "the same recipe and seed with top cuts (train --top-cut 0.2): a fifth of "
        "the training samples start inside the belly, labelled belly up to the top row, so that "
        "muscle at the top of an image is taken for belly rather than for the tissue above it; "
        "captures whose superficial aponeurosis is above the image (capture variant top_cut) "
        "left ok on val 1 of 70 (2.0.0: 13); val 3.28 px (2.63 %), ICC 0.956, no ok frame off "
        "by > 10 %; leave-one-format-out 512x512 1.53 %, 660x556 5.59 %, 800x652 16.9 % (ok "
        "frames off by > 10 %: 0 / 0 / 0 %); post-processing since 2.0.0: second_deep_band "
        "doubt, deep edge near the bottom counts for edge_of_image",
    },
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="training output folder (model.pt, train.json)")
    p.add_argument(
        "--checkpoint",
        default="last.pt",
        help="checkpoint in RUN to ship (default last.pt: the final epoch, not chosen on val)",
    )
    p.add_argument("--name", default="muscle_layers_v2")
    p.add_argument("--version", default="2.0.0")
    p.add_argument("--metrics", default=None, help="bench/bench_model.py --json output")
    p.add_argument("--speed", default=None, help="bench/bench_speed.py --json output")
    p.add_argument(
        "--extra",
        default=None,
        help="JSON object of further figures to record in the card (e.g. capture variants, "
        "fine-tuning, Telemed stability), keyed by section",
    )
    args = p.parse_args(argv)

    run = Path(args.run)
    info = json.loads((run / "train.json").read_text())
    weights = run / args.checkpoint
    dest = package_models_dir() / f"{args.name}.pt"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, dest)

    import torch

    from musclethick.segment.unet import UNet
    from musclethick.train.loop import TrainConfig, make_card

    payload = torch.load(dest, weights_only=True)
    model = UNet(**payload["config"])
    config = TrainConfig(
        input_shape=tuple(payload["input_shape"]),
        base_channels=int(payload["config"]["base_channels"]),
        depth=int(payload["config"]["depth"]),
        epochs=int(info["history"][-1]["epoch"]) + 1 if info.get("history") else 0,
        seed=int(info.get("seed", 0)),
        weak_fraction=float(info.get("weak_fraction", 0.0)),
        synthetic_fraction=float(info.get("synthetic_fraction", 0.0)),
        normalisation=str(payload.get("normalisation", DEFAULT_NORMALISATION)),
    )
    card = make_card(model, config, name=args.name, version=args.version)
    card["training"].update(
        {
            "command": info.get("command"),
            "wall_s": info.get("wall_s"),
            "load_s": info.get("load_s"),
            "machine": info.get("machine"),
            "machine_note": "2-core AMD EPYC VM shared with other jobs, CPU only, 1 torch thread",
            "n_train": info.get("n_train"),
            "n_val": info.get("n_val"),
            "epochs_run": info.get("epochs_run"),
            "shipped_checkpoint": args.checkpoint,
            "shipped_epoch": int(payload.get("meta", {}).get("epoch", -1)),
            "val_belly_dice_at_shipped_epoch": payload.get("meta", {}).get("val_belly_dice"),
            "fascicles": info.get("fascicles"),
            "n_fascicle_scans": info.get("n_fascicle_scans"),
            "synthetic_fraction": info.get("synthetic_fraction"),
            "layer_contrast": info.get("layer_contrast", 0.0),
            "annotations": info.get("annotations", 0.0),
            "top_cut": info.get("top_cut", 0.0),
            "split": "dltrack_apo/split.csv (train / val, stratified by image size)",
        }
    )
    if args.metrics:
        m = json.loads(Path(args.metrics).read_text())
        card["metrics"] = {
            "val": m.get("val"),
            "val_by_size": m.get("val_by_size"),
            "leave_one_format_out": m.get("lofo"),
            "targets": m.get("targets"),
            "how": "bench/bench_model.py: capture -> imaging-region crop -> "
            "pipeline.measure_frames (model, post-processing, QC, edge fallback), as "
            "`musclethick measure`; compared with the mask inner edges",
        }
    if args.speed:
        card["speed"] = json.loads(Path(args.speed).read_text())
    if args.extra:
        card.update(json.loads(Path(args.extra).read_text()))
    card["changelog"] = CHANGELOG
    out = write_card(dest, card)
    print(f"wrote {dest} ({dest.stat().st_size} bytes) and {out}")
    # the torch-free runtime: ONNX export beside the weights, checked against torch on the
    # sample scans and recorded in the card (needs the `onnx` package of the dev extra)
    from musclethick.io import read
    from musclethick.segment.export import export_onnx

    frames = [f.pixels for p in sorted((REPO / "sample_images").glob("*.png")) for f in read(p)]
    section = export_onnx(dest, check_images=frames)
    print(
        f"wrote {section['file']} (max |OpenCV - torch| probability "
        f"{section['max_abs_probability_diff_vs_torch']:.1e} on {len(frames)} frames)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
