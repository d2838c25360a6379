"""Training loop: :func:`train`, and :func:`train_from_folder` behind ``musclethick train``.

Example
-------
::

    musclethick train --data ../shared/data/dltrack_apo --out runs/apo_v1 --epochs 40 --seed 0

writes into ``--out``: ``model.pt`` (best epoch by validation Dice), ``last.pt`` (checkpoint of
the latest epoch, written every epoch so that a cut run still leaves weights), ``log.jsonl`` (one
line per epoch) and ``train.json`` (command, data, timing, final metrics).
"""

from __future__ import annotations

import json
import logging
import math
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from musclethick.segment.preprocess import (
    DEFAULT_NORMALISATION,
    normalise,
    prepare_batch,
)
from musclethick.segment.unet import OUT_CHANNELS, UNet, count_parameters, probabilities
from musclethick.segment.weights import read_card, write_card
from musclethick.train.augment import (
    RECIPE_SHARES,
    AugmentOptions,
    above_strip,
    augment_pair,
    resize_pair,
)
from musclethick.train.dataset import SampleSet, load_fascicle_index, load_samples, load_split
from musclethick.train.losses import layer_loss
from musclethick.train.targets import GROUP, V_GROUP

__all__ = ["TrainConfig", "fascicle_training_names", "train", "train_from_folder"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Options of one training run (all have the defaults of the shipped model).

    ``weak_fraction`` is the share of the weakly labelled samples (fascicle snippets, passed to
    :func:`train` as ``weak_set``) drawn into each epoch, on top of every labelled sample.
    ``synthetic_fraction`` adds that many synthetic scans (:mod:`musclethick.train.synthetic`)
    per labelled sample to each epoch, drawn from a pool of ``synthetic_pool`` made at the start.
    ``consistency_weight`` weighs the loss's column-consistency term
    (:func:`musclethick.train.losses.column_change`; 0: off, as shipped), ``jump_weight``
    its belly-centre jump term (:func:`musclethick.train.losses.belly_jumps`; 0: off).
    ``swa_start`` (a fraction of the training's steps; ``None``: off, as shipped) averages the
    weights of every step from that point on (stochastic weight averaging, a flatter optimum
    that tends to carry better to unseen data); the average, its batch-norm statistics
    re-estimated on one epoch of training batches, becomes ``last.pt`` (the final step's
    weights: ``last_raw.pt``).
    """

    input_shape: tuple[int, int] = (160, 112)
    base_channels: int = 8
    depth: int = 4
    row_context: bool = False
    epochs: int = 40
    batch_size: int = 8
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 1
    max_steps: int | None = None
    init_weights: str | None = None
    weak_fraction: float = 0.35
    synthetic_fraction: float = 0.0
    synthetic_pool: int = 600
    consistency_weight: float = 0.0
    jump_weight: float = 0.0
    normalisation: str = DEFAULT_NORMALISATION
    augment: AugmentOptions = field(default_factory=AugmentOptions)
    swa_start: float | None = None


def _batch_tensors(samples, idx, input_shape, rng, augment, options, strips, normalisation):
    xs = []
    ys = []
    for i in idx:
        img, tgt = samples.images[i], samples.target(i)
        if augment:
            a, t = augment_pair(img, tgt, rng, shape=input_shape, options=options, strips=strips)
        else:
            a, t = resize_pair(img.astype(np.float32), tgt, input_shape)
        xs.append(normalise(a, normalisation))
        ys.append(np.moveaxis(t, -1, 0))
    x = torch.from_numpy(np.stack(xs)[:, None])
    y = torch.from_numpy(np.ascontiguousarray(np.stack(ys), dtype=np.float32))
    return x, y


def _evaluate(model, samples, config) -> dict[str, float]:
    """Loss and belly Dice (argmax of the grouped layers) on ``samples`` without augmentation."""
    model.eval()
    losses = []
    inter = 0.0
    total = 0.0
    with torch.inference_mode():
        for start in range(0, len(samples), 16):
            idx = range(start, min(start + 16, len(samples)))
            imgs = [samples.images[i] for i in idx]
            x = torch.from_numpy(prepare_batch(imgs, config.input_shape, config.normalisation))
            ys = [
                np.moveaxis(
                    resize_pair(
                        samples.images[i].astype(np.float32), samples.target(i), config.input_shape
                    )[1],
                    -1,
                    0,
                )
                for i in idx
            ]
            y = torch.from_numpy(np.stack(ys).astype(np.float32))
            logits = model(x)
            losses.append(float(layer_loss(logits, y)) * len(imgs))
            p = probabilities(logits)
            belly_p = p[:, 2] > 0.5
            valid = y[:, V_GROUP] > 0.5
            t = (y[:, GROUP][:, 1] / y[:, V_GROUP].clamp_min(1e-6)) > 0.5
            inter += float((belly_p & t & valid).sum())
            total += float((belly_p & valid).sum() + (t & valid).sum())
    model.train()
    return {
        "val_loss": sum(losses) / max(len(samples), 1),
        "val_belly_dice": 2 * inter / max(total, 1e-9),
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
        "name": name or "muscle_layers",
        "version": version or "0.0.0-dev",
        "task": "layers of a B-mode ultrasound scan of skeletal muscle: above the target "
        "muscle, superficial aponeurosis, muscle belly, deep aponeurosis, below; and muscle "
        "tissue",
        "architecture": {"type": "UNet", **model.config(), "parameters": count_parameters(model)},
        "input": {
            "channels": 1,
            "shape": [int(config.input_shape[0]), int(config.input_shape[1])],
            "layout": "batch, channel, rows, cols",
            "dtype": "float32",
            "normalisation": config.normalisation,
            "value_range": "grey frame cropped to the imaging region, resized (area) to shape, "
            + (
                "histogram-equalised per image, then (x - 127.5) / 73.6"
                if config.normalisation == "equalise"
                else "standardised per image: (x - mean) / max(std, 1), clipped to [-5, 5]"
            ),
        },
        "output": {
            "channels": OUT_CHANNELS,
            "meaning": "probabilities: channels 0-4 the layers above / superficial aponeurosis "
            "/ belly / deep aponeurosis / below (softmax), channel 5 muscle tissue (sigmoid); "
            "the ONNX export outputs probabilities, the torch weights logits",
            "layers": ["above", "superficial", "belly", "deep", "below"],
            "shape": "same as input",
        },
        "training": {
            "seed": config.seed,
            "epochs": config.epochs,
            "batch_size": config.batch_size,
            "optimizer": f"AdamW lr {config.lr} one-cycle, weight decay {config.weight_decay}",
            "loss": "layer cross-entropy + belly-edge-weighted grouped cross-entropy + belly "
            "soft Dice + muscle BCE, each over the pixels whose labels are known",
        },
        "license": "weights: BSD-3-Clause (musclethick); training data: Apache-2.0",
        "data": "DL_Track aponeurosis images and masks (and fascicle snippets as weak muscle "
        "labels), Cronin, Finni & Seynnes 2020 (arXiv 2009.04790), Apache-2.0",
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
        "normalisation": config.normalisation,
        "meta": {k: v for k, v in extra.items() if isinstance(v, int | float | str)},
    }
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def _load_init_weights(model: UNet, path: str | Path, normalisation: str) -> None:
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
    if loaded.normalisation != normalisation:
        raise ModelError(
            f"{path}: trained with {loaded.normalisation!r} input normalisation, this run uses "
            f"{normalisation!r} (--normalisation)"
        )
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
    weak_set: SampleSet | None = None,
    log: Callable[[str], None] = _logger.info,
) -> dict:
    """Train a :class:`UNet` on ``train_set`` and write checkpoints into ``out_dir``.

    Parameters
    ----------
    train_set : SampleSet
        Labelled training samples (every one is shown once per epoch).
    val_set : SampleSet or None
        Samples to report the loss and belly Dice on after each epoch (not used to choose
        anything: ``last.pt`` is the final epoch).
    weak_set : SampleSet, optional
        Weakly labelled samples (fascicle snippets); ``config.weak_fraction`` of them join
        each epoch, drawn at random.

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
        1,
        OUT_CHANNELS,
        base_channels=config.base_channels,
        depth=config.depth,
        row_context=config.row_context,
    ).train()
    if config.init_weights:
        _load_init_weights(model, config.init_weights, config.normalisation)
    samples = train_set
    n_labelled = len(train_set)
    n_weak = 0
    if weak_set is not None and len(weak_set) and config.weak_fraction > 0:
        samples = train_set.concat(weak_set)
        n_weak = max(1, round(config.weak_fraction * len(weak_set)))
    n_synthetic = round(config.synthetic_fraction * n_labelled)
    synthetic_start = len(samples)
    if n_synthetic:
        from musclethick.train.synthetic import synthetic_samples

        pool = synthetic_samples(
            max(config.synthetic_pool, n_synthetic), train_set.images.shape[1:], seed=config.seed
        )
        samples = samples.concat(pool)
    # real "above" tissue strips of the labelled training scans, for layer insertion
    strips = [
        st
        for i in range(n_labelled)
        if (st := above_strip(train_set.images[i], train_set.target(i))) is not None
    ]
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    per_epoch = n_labelled + n_weak + n_synthetic
    steps_per_epoch = max(1, math.ceil(per_epoch / config.batch_size))
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=config.lr, total_steps=max(total_steps, 1), pct_start=0.15
    )

    def augmented(idx):
        return _batch_tensors(
            samples, idx, config.input_shape, rng, True, config.augment, strips,
            config.normalisation,
        )  # fmt: skip

    swa = None
    swa_from = None if config.swa_start is None else math.floor(config.swa_start * total_steps)
    t0 = time.perf_counter()
    step = 0
    history = []
    best = {"val_belly_dice": -1.0, "epoch": -1}
    log_path = out / "log.jsonl"
    log_path.write_text("")
    for epoch in range(config.epochs):
        chosen = np.arange(n_labelled)
        if n_weak:
            weak = n_labelled + rng.choice(synthetic_start - n_labelled, n_weak, replace=False)
            chosen = np.concatenate([chosen, weak])
        if n_synthetic:
            synth = synthetic_start + rng.choice(
                len(samples) - synthetic_start, n_synthetic, replace=False
            )
            chosen = np.concatenate([chosen, synth])
        order = rng.permutation(chosen)
        losses = []
        for b in range(steps_per_epoch):
            if step >= total_steps:
                break
            idx = order[b * config.batch_size : (b + 1) * config.batch_size]
            if idx.size == 0:
                break
            x, y = augmented(idx)
            loss = layer_loss(
                model(x),
                y,
                consistency_weight=config.consistency_weight,
                jump_weight=config.jump_weight,
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            losses.append(loss.item())
            if swa_from is not None and step > swa_from:
                if swa is None:
                    swa = torch.optim.swa_utils.AveragedModel(model)
                swa.update_parameters(model)
        record = {
            "epoch": epoch,
            "step": step,
            "train_loss": float(np.mean(losses)) if losses else float("nan"),
            "lr": float(sched.get_last_lr()[0]),
            "wall_s": round(time.perf_counter() - t0, 1),
        }
        if val_set is not None and len(val_set):
            record.update(_evaluate(model, val_set, config))
        history.append(record)
        with log_path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        log(json.dumps(record))
        _save(out / "last.pt", model, config, record)
        score = record.get("val_belly_dice", -record["train_loss"])
        if score > best["val_belly_dice"]:
            best = {**record, "val_belly_dice": score}
            _save(out / "model.pt", model, config, record)
            write_card(
                out / "model.pt",
                make_card(
                    model,
                    config,
                    extra={
                        "best_epoch": record["epoch"],
                        "val": {
                            k: record[k] for k in ("val_loss", "val_belly_dice") if k in record
                        },
                    },
                ),
            )
        if step >= total_steps:
            break
    if swa is not None:
        _save(out / "last_raw.pt", model, config, history[-1] if history else {})
        order = rng.permutation(n_labelled)
        batches = [
            augmented(order[b : b + config.batch_size])[0]
            for b in range(0, n_labelled, config.batch_size)
        ]
        averaged = _with_batch_statistics(swa.module, batches)
        record = {"swa_steps": int(swa.n_averaged), "swa_from_step": swa_from}
        if val_set is not None and len(val_set):
            record.update(_evaluate(averaged, val_set, config))
        log(json.dumps(record))
        _save(out / "last.pt", averaged, config, record)
        model = averaged
    return {
        "epochs_run": len(history),
        "steps": step,
        "best": best,
        "history": history,
        "wall_s": round(time.perf_counter() - t0, 1),
        "parameters": count_parameters(model),
        "n_weak_per_epoch": n_weak,
        "n_synthetic_per_epoch": n_synthetic,
        "n_strips": len(strips),
    }


#: What a run's model card keeps of its ``train.json`` summary (the recipe and provenance).
_CARD_TRAINING = (
    "command", "wall_s", "machine", "n_train", "n_val", "excluded_sizes", "fascicles",
    "n_fascicle_scans", "weak_fraction", "synthetic_fraction", "consistency_weight",
    "jump_weight", *RECIPE_SHARES, "swa_start", "epochs_run", "init_weights",
)  # fmt: skip


def _with_batch_statistics(model, batches):
    """``model`` (averaged weights) with its batch-norm statistics estimated afresh from
    ``batches`` (one epoch of augmented labelled training inputs: the running means of the
    weights it averaged do not belong to the averaged weights)."""
    with torch.no_grad():
        torch.optim.swa_utils.update_bn(batches, model)
    return model.eval()


def fascicle_training_names(
    index_csv: str | Path,
    *,
    excluded_sizes: set[tuple[int, int]] = frozenset(),
    limit: int | None = None,
) -> list[str]:
    """Fascicle scans that may join training: never the same capture as a ``val`` aponeurosis
    image (their near-duplicates would leak into the val figures), never of an excluded
    (left-out) size."""
    names = []
    for row in load_fascicle_index(index_csv):
        if row.get("nearest_apo_split", "") == "val":
            continue
        if (int(row["width"]), int(row["height"])) in excluded_sizes:
            continue
        names.append(row["image"])
    return names[:limit] if limit else names


def train_from_folder(
    data: str | Path,
    out_dir: str | Path,
    config: TrainConfig,
    *,
    split: str | Path | None = None,
    exclude_sizes: set[tuple[int, int]] = frozenset(),
    repeat_sizes: dict[tuple[int, int], int] | None = None,
    fascicles: str | Path | None = None,
    cache: str | Path | None = None,
    limit: int | None = None,
    command: str = "",
    log: Callable[[str], None] = _logger.info,
) -> dict:
    """Train on a labelled data folder and write the run into ``out_dir`` (``musclethick train``).

    Parameters
    ----------
    data : str or path-like
        Folder with ``images/``, ``masks/`` (and ``split.csv``).
    out_dir : str or path-like
        Output folder: ``model.pt``, ``last.pt``, ``log.jsonl``, ``train.json`` and the model
        card ``model.json`` (updated with the run's provenance).
    config : TrainConfig
        Options of the run.
    split : str or path-like, optional
        Split CSV (default ``DATA/split.csv``).
    exclude_sizes : set of (width, height)
        Original capture sizes left out of training and validated on (leave-one-format-out).
    repeat_sizes : dict, optional
        ``{(width, height): N}``: training captures of that size shown N times per epoch.
    fascicles : str or path-like, optional
        Fascicle data set (weak muscle labels; see :func:`fascicle_training_names`).
    cache : str or path-like, optional
        Folder to cache the loaded images in.
    limit : int, optional
        Use only the first ``limit`` train images (and a quarter as many val images).
    command : str
        The command line, recorded in ``train.json`` and the card.
    log : callable
        Receives one line per step of progress (default: this module's logger, level INFO).

    Returns
    -------
    dict
        The summary written to ``train.json``.
    """
    data = Path(data)
    split_csv = Path(split) if split else data / "split.csv"
    split_rows = load_split(split_csv)
    excluded = set(exclude_sizes)
    train_names = [n for n, w, h in split_rows.get("train", []) if (w, h) not in excluded]
    if excluded:
        val_names = [n for rows in split_rows.values() for n, w, h in rows if (w, h) in excluded]
    else:
        val_names = [n for n, _, _ in split_rows.get("val", [])]
    repeats = dict(repeat_sizes or {})
    if repeats:
        sizes = {n: (w, h) for n, w, h in split_rows.get("train", [])}
        train_names = [n for n in train_names for _ in range(repeats.get(sizes[n], 1))]
    if limit:
        train_names = train_names[:limit]
        val_names = val_names[: max(1, limit // 4)]
    t0 = time.perf_counter()
    all_names = sorted(set(train_names) | set(val_names))  # cache key: the distinct images
    everything = load_samples(data, all_names, input_shape=config.input_shape, cache_dir=cache)
    train_set = everything.subset(train_names)
    val_set = everything.subset(val_names)
    weak_set = None
    weak_names: list[str] = []
    if fascicles:
        weak_names = fascicle_training_names(
            Path(fascicles) / "index.csv", excluded_sizes=excluded, limit=limit
        )
        weak_set = load_samples(
            fascicles,
            weak_names,
            input_shape=config.input_shape,
            cache_dir=cache,
            kind="fascicles",
        )
    load_s = time.perf_counter() - t0
    log(
        f"loaded {len(train_set)} train / {len(val_set)} val images"
        f"{f' / {len(weak_names)} fascicle scans' if weak_names else ''} in {load_s:.1f} s"
    )
    summary = train(train_set, val_set, out_dir, config, weak_set=weak_set, log=log)
    summary.update(
        {
            "command": command,
            "data": str(data),
            "n_train": len(train_set),
            "n_val": len(val_set),
            "excluded_sizes": [f"{w}x{h}" for w, h in sorted(excluded)],
            "seed": config.seed,
            "load_s": round(load_s, 1),
            "machine": f"{platform.machine()} {platform.processor() or ''} "
            f"torch {torch.__version__}, {config.threads} threads".strip(),
            "input_shape": list(config.input_shape),
            "fascicles": str(fascicles) if fascicles else None,
            "n_fascicle_scans": len(weak_names),
            "weak_fraction": config.weak_fraction if weak_names else 0.0,
            "synthetic_fraction": config.synthetic_fraction,
            "consistency_weight": config.consistency_weight,
            "jump_weight": config.jump_weight,
            **{key: getattr(config.augment, f) for key, f in RECIPE_SHARES.items()},
            "swa_start": config.swa_start,
            "init_weights": config.init_weights,
        }
    )
    Path(out_dir, "train.json").write_text(json.dumps(summary, indent=2))
    card_file = Path(out_dir, "model.json")
    if card_file.is_file():
        card = read_card(card_file)
        card["training"].update({key: summary[key] for key in _CARD_TRAINING})
        write_card(Path(out_dir, "model.pt"), card)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m musclethick.train.loop`` (= ``musclethick train``)."""
    from musclethick.cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
