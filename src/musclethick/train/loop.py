"""Training loop and the ``musclethick train`` entry point.

Example
-------
::

    musclethick train --data ../shared/data/dltrack_apo --out runs/apo_v1 --epochs 40 --seed 0

writes into ``--out``: ``model.pt`` (best epoch by validation Dice), ``last.pt`` (checkpoint of
the latest epoch, written every epoch so that a cut run still leaves weights), ``log.jsonl`` (one
line per epoch) and ``train.json`` (command, data, timing, final metrics).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from musclethick.segment.preprocess import normalise, prepare_batch
from musclethick.segment.unet import UNet, count_parameters
from musclethick.segment.weights import read_card, write_card
from musclethick.train.augment import AugmentOptions, augment_pair, resize_pair
from musclethick.train.dataset import SampleSet, load_samples, load_split
from musclethick.train.losses import band_loss

__all__ = ["TrainConfig", "get_arg_parser", "main", "make_targets", "train"]


@dataclass(frozen=True)
class TrainConfig:
    """Options of one training run (all have the defaults of the shipped model)."""

    input_shape: tuple[int, int] = (160, 112)
    out_channels: int = 1
    base_channels: int = 8
    depth: int = 4
    epochs: int = 40
    batch_size: int = 8
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 1
    max_steps: int | None = None
    init_weights: str | None = None
    augment: AugmentOptions = field(default_factory=AugmentOptions)


def make_targets(samples: SampleSet, out_channels: int) -> np.ndarray:
    """Targets ``(n, rows, cols, channels)`` float32 in [0, 1] from a :class:`SampleSet`.

    One channel: the band mask (soft edges). Two channels: the top band and the second band.
    """
    soft = samples.masks.astype(np.float32) / 255.0
    if out_channels == 1:
        return soft[..., None]
    chans = []
    for k in (1, 2):
        sel = samples.labels == k
        # nearest labels are grown by one pixel so that soft band edges keep their channel
        grown = np.zeros_like(sel)
        for i in range(sel.shape[0]):
            import cv2

            grown[i] = cv2.dilate(sel[i].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        chans.append(soft * grown)
    return np.stack(chans, axis=-1)


def _batch_tensors(images, targets, input_shape, rng, augment, options):
    xs = []
    ys = []
    for img, tgt in zip(images, targets, strict=True):
        if augment:
            a, t = augment_pair(img, tgt, rng, shape=input_shape, options=options)
        else:
            a, t = resize_pair(img.astype(np.float32), tgt, input_shape)
        if t.ndim == 2:
            t = t[..., None]
        xs.append(normalise(a))
        ys.append(np.moveaxis(t, -1, 0))
    x = torch.from_numpy(np.stack(xs)[:, None])
    y = torch.from_numpy(np.ascontiguousarray(np.stack(ys), dtype=np.float32))
    return x, y


def _evaluate(model, samples, targets, config) -> dict[str, float]:
    model.eval()
    losses = []
    inter = 0.0
    total = 0.0
    with torch.inference_mode():
        for start in range(0, len(samples), 16):
            imgs = samples.images[start : start + 16]
            x = torch.from_numpy(prepare_batch(list(imgs), config.input_shape))
            ys = [
                np.moveaxis(
                    resize_pair(imgs[0].astype(np.float32), t, config.input_shape)[1].reshape(
                        *config.input_shape, -1
                    ),
                    -1,
                    0,
                )
                for t in targets[start : start + 16]
            ]
            y = torch.from_numpy(np.stack(ys).astype(np.float32))
            logits = model(x)
            losses.append(float(band_loss(logits, y)) * len(imgs))
            p = (torch.sigmoid(logits) > 0.5).float()
            t = (y > 0.5).float()
            inter += float((p * t).sum())
            total += float(p.sum() + t.sum())
    model.train()
    return {
        "val_loss": sum(losses) / max(len(samples), 1),
        "val_dice": 2 * inter / max(total, 1e-9),
    }


def make_card(
    model: UNet,
    config: TrainConfig,
    *,
    name: str = "",
    version: str = "",
    extra: dict | None = None,
) -> dict:
    """Machine-readable model card (the sha256 is added by
    :func:`musclethick.segment.weights.write_card`)."""
    card = {
        "name": name or "apo_unet",
        "version": version or "0.0.0-dev",
        "task": "aponeurosis band segmentation (one class) in B-mode ultrasound of skeletal muscle"
        if config.out_channels == 1
        else "superficial / deep aponeurosis band segmentation (two classes)",
        "architecture": {"type": "UNet", **model.config(), "parameters": count_parameters(model)},
        "input": {
            "channels": 1,
            "shape": [int(config.input_shape[0]), int(config.input_shape[1])],
            "layout": "batch, channel, rows, cols",
            "dtype": "float32",
            "value_range": "grey frame cropped to the imaging region, resized (area) to shape, "
            "standardised per image: (x - mean) / max(std, 1), clipped to [-5, 5]",
        },
        "output": {
            "channels": config.out_channels,
            "meaning": "logits of 'aponeurosis band' (sigmoid -> probability)"
            if config.out_channels == 1
            else "logits of superficial band, deep band",
            "shape": "same as input; resized (bilinear) back to the frame",
        },
        "training": {
            "seed": config.seed,
            "epochs": config.epochs,
            "batch_size": config.batch_size,
            "optimizer": f"AdamW lr {config.lr} one-cycle, weight decay {config.weight_decay}",
            "loss": "edge-weighted BCE + soft Dice",
        },
        "license": "weights: BSD-3-Clause (musclethick); training data: Apache-2.0",
        "data": "DL_Track aponeurosis images and masks, Cronin, Finni & Seynnes 2020 "
        "(arXiv 2009.04790), Apache-2.0",
        "intended_use": "research, not diagnosis",
    }
    if extra:
        card.update(extra)
    return card


def _save(path: Path, model: UNet, config: TrainConfig, extra: dict) -> None:
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    payload = {
        "state_dict": state,
        "config": model.config(),
        "input_shape": [int(config.input_shape[0]), int(config.input_shape[1])],
        "meta": {k: v for k, v in extra.items() if isinstance(v, int | float | str)},
    }
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def _load_init_weights(model: UNet, path: str | Path) -> None:
    """Start from the weights in ``path`` (verified against their model card when it has one).

    Raises
    ------
    ModelError
        When the file cannot be read, its hash does not match, or its architecture differs from
        the one being trained.
    """
    from musclethick.errors import ModelError
    from musclethick.segment.weights import load_weights

    loaded = load_weights(path, verify=False)  # the card, when present, is still checked
    if dict(loaded.config) != model.config():
        raise ModelError(
            f"{path}: architecture {dict(loaded.config)} differs from the one trained "
            f"{model.config()}"
        )
    model.load_state_dict(loaded.state_dict)


def train(
    train_set: SampleSet,
    val_set: SampleSet | None,
    out_dir: str | Path,
    config: TrainConfig,
    *,
    log=print,
) -> dict:
    """Train a :class:`UNet` on ``train_set`` and write checkpoints into ``out_dir``.

    Returns
    -------
    dict
        Summary: epochs run, steps, best epoch and its validation metrics, losses per epoch,
        wall time in seconds.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    model = UNet(
        1, config.out_channels, base_channels=config.base_channels, depth=config.depth
    ).train()
    if config.init_weights:
        _load_init_weights(model, config.init_weights)
    targets = make_targets(train_set, config.out_channels)
    val_targets = make_targets(val_set, config.out_channels) if val_set is not None else None
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n = len(train_set)
    steps_per_epoch = max(1, math.ceil(n / config.batch_size))
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=config.lr, total_steps=max(total_steps, 1), pct_start=0.15
    )
    t0 = time.perf_counter()
    step = 0
    history = []
    best = {"val_dice": -1.0, "epoch": -1}
    log_path = out / "log.jsonl"
    log_path.write_text("")
    for epoch in range(config.epochs):
        order = rng.permutation(n)
        losses = []
        for b in range(steps_per_epoch):
            if step >= total_steps:
                break
            idx = order[b * config.batch_size : (b + 1) * config.batch_size]
            x, y = _batch_tensors(
                train_set.images[idx], targets[idx], config.input_shape, rng, True, config.augment
            )
            loss = band_loss(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            losses.append(loss.item())
        record = {
            "epoch": epoch,
            "step": step,
            "train_loss": float(np.mean(losses)) if losses else float("nan"),
            "lr": float(sched.get_last_lr()[0]),
            "wall_s": round(time.perf_counter() - t0, 1),
        }
        if val_set is not None and len(val_set):
            record.update(_evaluate(model, val_set, val_targets, config))
        history.append(record)
        with log_path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        log(json.dumps(record))
        _save(out / "last.pt", model, config, record)
        score = record.get("val_dice", -record["train_loss"])
        if score > best["val_dice"]:
            best = {**record, "val_dice": score}
            _save(out / "model.pt", model, config, record)
            write_card(
                out / "model.pt",
                make_card(
                    model,
                    config,
                    extra={
                        "best_epoch": record["epoch"],
                        "val": {k: record[k] for k in ("val_loss", "val_dice") if k in record},
                    },
                ),
            )
        if step >= total_steps:
            break
    return {
        "epochs_run": len(history),
        "steps": step,
        "best": best,
        "history": history,
        "wall_s": round(time.perf_counter() - t0, 1),
        "parameters": count_parameters(model),
    }


def _parse_shape(text: str) -> tuple[int, int]:
    a, b = text.lower().split("x")
    return int(a), int(b)


def get_arg_parser() -> argparse.ArgumentParser:
    """Argument parser of ``musclethick train``."""
    p = argparse.ArgumentParser(
        prog="musclethick train", description="Train the aponeurosis segmentation U-Net."
    )
    p.add_argument("--data", required=True, help="folder with images/, masks/ (and split.csv)")
    p.add_argument("--split", default=None, help="split CSV (default: DATA/split.csv)")
    p.add_argument("--out", required=True, help="output folder for weights and logs")
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument(
        "--input-size", default="160x112", help="network input ROWSxCOLS (default 160x112)"
    )
    p.add_argument(
        "--exclude-size",
        action="append",
        default=[],
        metavar="WxH",
        help="leave out captures of this original WIDTHxHEIGHT from training and validate on "
        "them (leave-one-format-out); repeatable",
    )
    p.add_argument(
        "--repeat-size",
        action="append",
        default=[],
        metavar="WxH:N",
        help="show training captures of this original size N times per epoch; repeatable",
    )
    p.add_argument("--channels", type=int, choices=(1, 2), default=1)
    p.add_argument("--base-channels", type=int, default=TrainConfig.base_channels)
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--threads", type=int, default=TrainConfig.threads)
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    p.add_argument(
        "--init-weights",
        default=None,
        metavar="MODEL.pt",
        help="start from these weights (same architecture) instead of random ones: fine-tuning",
    )
    p.add_argument("--cache", default=None, help="folder to cache the loaded images in")
    p.add_argument("--limit", type=int, default=None, help="use only the first N train images")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``musclethick train``; returns the exit status."""
    args = get_arg_parser().parse_args(argv)
    data = Path(args.data)
    split_csv = Path(args.split) if args.split else data / "split.csv"
    config = TrainConfig(
        input_shape=_parse_shape(args.input_size),
        out_channels=args.channels,
        base_channels=args.base_channels,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        threads=args.threads,
        max_steps=args.max_steps,
        init_weights=args.init_weights,
    )
    split = load_split(split_csv)
    excluded = {tuple(int(v) for v in s.lower().split("x")) for s in args.exclude_size}
    train_names = [n for n, w, h in split.get("train", []) if (w, h) not in excluded]
    if excluded:
        val_names = [n for rows in split.values() for n, w, h in rows if (w, h) in excluded]
    else:
        val_names = [n for n, _, _ in split.get("val", [])]
    repeats = {}
    for spec in args.repeat_size:
        size, times = spec.split(":")
        repeats[tuple(int(v) for v in size.lower().split("x"))] = int(times)
    if repeats:
        sizes = {n: (w, h) for n, w, h in split.get("train", [])}
        train_names = [n for n in train_names for _ in range(repeats.get(sizes[n], 1))]
    if args.limit:
        train_names = train_names[: args.limit]
        val_names = val_names[: max(1, args.limit // 4)]
    t0 = time.perf_counter()
    all_names = sorted(set(train_names) | set(val_names))  # cache key: the distinct images
    everything = load_samples(data, all_names, input_shape=config.input_shape, cache_dir=args.cache)
    train_set = everything.subset(train_names)
    val_set = everything.subset(val_names)
    load_s = time.perf_counter() - t0
    print(
        f"loaded {len(train_set)} train / {len(val_set)} val images in {load_s:.1f} s", flush=True
    )
    summary = train(train_set, val_set, args.out, config, log=lambda s: print(s, flush=True))
    summary.update(
        {
            "command": "musclethick train " + " ".join(argv if argv is not None else sys.argv[1:]),
            "data": str(data),
            "n_train": len(train_set),
            "n_val": len(val_set),
            "excluded_sizes": [f"{w}x{h}" for w, h in sorted(excluded)],
            "load_s": round(load_s, 1),
            "machine": f"{platform.machine()} {platform.processor() or ''} "
            f"torch {torch.__version__}, {config.threads} threads".strip(),
            "input_shape": list(config.input_shape),
            "out_channels": config.out_channels,
            "init_weights": args.init_weights,
        }
    )
    Path(args.out, "train.json").write_text(json.dumps(summary, indent=2))
    card_file = Path(args.out, "model.json")
    if card_file.is_file():
        card = read_card(card_file)
        card["training"].update(
            {
                "command": summary["command"],
                "wall_s": summary["wall_s"],
                "machine": summary["machine"],
                "n_train": summary["n_train"],
                "n_val": summary["n_val"],
                "excluded_sizes": summary["excluded_sizes"],
                "epochs_run": summary["epochs_run"],
                "init_weights": summary["init_weights"],
            }
        )
        write_card(Path(args.out, "model.pt"), card)
    print(json.dumps({k: summary[k] for k in ("epochs_run", "steps", "wall_s", "best")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
