"""Learning from reviews: fine-tune the segmentation model on a study store's decisions.

Only results a person **promoted** count as ground truth: a ``correct`` review contributes its
corrected boundaries, an ``accept`` review the model boundaries it accepted (can be switched
off). Rejected and unreviewed results are never used. Each frame is re-read from its file; its
two inner edges say which rows lie above the belly, in it and below it
(:func:`musclethick.train.targets.grouped_targets`: a review gives the edges, not the band
thicknesses, so only those groups are learnt), and the base model is fine-tuned with the
training pieces of :mod:`musclethick.train` (augmentation, layer loss, U-Net).

This is the lab's fallback for a scanner the model never saw: review and correct about ten of
its scans, fine-tune, re-measure (``bench/bench_finetune.py`` measures it on each left-out
format).

Writes into ``out_dir``: ``model.pt`` (same payload as ``musclethick train``), its model card
``model.json`` (:func:`musclethick.segment.weights.write_card`: new version, changelog, training
data = the store and its reviewers, metrics before/after, intended use, sha256) and
``train.json`` (the summary). Load it with ``--model OUT/model.pt``.

Command line: ``musclethick train --from-store STORE --out DIR [--base MODEL.pt] [--steps N]``
(:mod:`musclethick.cli.train`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from musclethick.errors import ModelError, MusclethickError, StoreError
from musclethick.qc import SELF_TRAINING_MIN_OK_SHARE, doubts_boundaries
from musclethick.segment.preprocess import normalise
from musclethick.segment.unet import UNet, probabilities
from musclethick.segment.weights import LoadedWeights, load_weights, read_card, write_card
from musclethick.train.augment import RECIPE_SHARES, AugmentOptions, augment_pair, resize_pair
from musclethick.train.losses import layer_loss
from musclethick.train.targets import GROUP, V_GROUP, grouped_targets
from musclethick.types import Boundary, FrameResult

__all__ = [
    "FineTuneConfig",
    "ReviewedSample",
    "fine_tune",
    "fine_tune_from_store",
    "held_out_figures",
    "recipe_augmentation",
    "samples_from_store",
    "undoubted_share",
]

_logger = logging.getLogger(__name__)

#: Working size = this factor x the network input size (as in :mod:`musclethick.train.dataset`).
WORK_FACTOR = 1.5


@dataclass(frozen=True)
class FineTuneConfig:
    """Options of a fine-tune from reviews.

    Attributes
    ----------
    steps : int
        Optimiser steps.
    batch_size : int
        Frames per step.
    lr : float
        Learning rate (constant; small, as the model is already trained).
    include_accepted : bool
        Also learn from accepted (unedited) model boundaries, not only corrections.
    augment : bool
        Use the training augmentation.
    seed : int
        Seed of every random choice.
    threads : int
        Torch CPU threads.
    holdout : int
        Reviewed frames kept out of the fine-tune (chosen with ``seed``): both models measure
        them as ``musclethick measure`` does and the summary and the new model card report
        their thickness error against the reviews (:func:`held_out_figures`), an estimate on
        the lab's own scanner that the Dice on the frames learnt from is not.
    freeze_batchnorm : bool
        Keep the base model's batch-norm statistics (the layers in evaluation mode; their
        scales and shifts still learn). Re-estimated from batches of four augmented captures
        of one scanner, they drifted from what the network was trained with: on the 800x652
        format left out, fine-tuned on three different sets of ten captures, the thickness
        MAE after the fine-tune was 20.3 / 31.3 / 12.1 % with them re-estimated and
        9.9 / 24.1 / 11.6 % with them kept (200 steps; ``bench/bench_finetune.py``; model
        card).

    anchor_weight : float
        Weight of a penalty on the distance of the weights from the base model's (L2-SP:
        ``anchor_weight / 2 x`` the sum of squared differences over every parameter): it keeps
        what the base model learnt from thousands of scans while ten are learnt. 0: none.
    train_part : str
        ``"all"`` parameters learn; ``"decoder"``: the encoder (stem and down path) stays as it
        was, the decoder and head learn.

    include_ok : bool
        Also learn from the store's unreviewed results whose boundaries the model had no doubt
        about (not ``failed``, no flag but the calibration's; :func:`samples_from_store`):
        self-training on the study's own scans, which adapts the model to the scanner's look
        without a person's review. It makes the model surer of what it already measures: on
        a format it never saw whose frames it mostly doubts (800x652 left out, 8-12 of 70
        results without a doubt) frames it measured wrong and had flagged became ``ok``
        (model card, "Learning from the study's own results").
    base_recipe : bool
        Augment with the base model's optional training shares too
        (:func:`recipe_augmentation`: 2.1.0's top cuts). Measured on learning from the study's
        own results and not the default: 660x556 left out 3.61 / 2.81 / 3.36 % with 1 / 2 / 0
        frames ``ok`` and off by more than 10 %, against 2.92 / 2.83 / 2.71 % with 0 / 0 / 1
        without; ``val`` 2.88 % with 1 such frame against 2.97 % with 0; the cut-off copies
        of 660x556 seed 2 (``top_cut``) ``ok`` 0 against 1 of 212 (model card).
    min_ok_share : float
        With ``include_ok``, the share of the store's results the model must have had no doubt
        about (:func:`undoubted_share`); below it the fine-tune is refused
        (:data:`musclethick.qc.SELF_TRAINING_MIN_OK_SHARE`, where the measurement is).

    400 steps (~1.5 min on one thread): with the statistics kept, 8.6 / 18.2 / 9.3 % on those
    sets against 9.9 / 24.1 / 11.6 % after 200 steps, and 2.0 % against 2.8 % on the 660x556
    format left out (512x512: 1.55 % against 1.40 %).
    """

    steps: int = 400
    batch_size: int = 4
    lr: float = 3e-4
    include_accepted: bool = True
    augment: bool = True
    seed: int = 0
    threads: int = 2
    freeze_batchnorm: bool = True
    holdout: int = 0
    anchor_weight: float = 0.0
    train_part: str = "all"
    include_ok: bool = False
    min_ok_share: float = SELF_TRAINING_MIN_OK_SHARE
    base_recipe: bool = False

    def __post_init__(self) -> None:
        if self.anchor_weight < 0:
            raise ValueError(f"anchor_weight must be 0 or more, got {self.anchor_weight}")
        if self.train_part not in ("all", "decoder"):
            raise ValueError(f"train_part must be 'all' or 'decoder', got {self.train_part!r}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be at least 1")
        if self.holdout < 0:
            raise ValueError(f"holdout must be 0 or more, got {self.holdout}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")


@dataclass(frozen=True, eq=False)
class ReviewedSample:
    """One promoted frame: grey pixels, its two inner edges and where it came from.

    ``superficial_y_px`` / ``deep_y_px`` are the inner edges per column of ``pixels`` (frame
    coordinates, NaN where a boundary does not reach).
    """

    pixels: np.ndarray
    superficial_y_px: np.ndarray
    deep_y_px: np.ndarray
    path: str
    frame_index: int
    result_id: int
    decision: str
    reviewer: str

    @property
    def reviewed(self) -> bool:
        """A person accepted or corrected it (not a result learnt as ``"ok"``, unreviewed)."""
        return self.decision != "ok"


def _edges(boundary: Boundary, cols: int) -> np.ndarray:
    y = boundary.y_at(np.arange(cols, dtype=np.float64))
    return np.asarray(y, dtype=np.float64)


def samples_from_store(
    store_path: str | Path, *, include_accepted: bool = True, include_ok: bool = False
) -> list[ReviewedSample]:
    """Frames and band masks of every promoted (accepted or corrected) result of a store.

    Parameters
    ----------
    store_path : str or path-like
        The study store.
    include_accepted : bool
        Include accepted model boundaries (else corrections only).
    include_ok : bool
        Also include the model's boundaries of every current result that nobody reviewed
        and that the model did not doubt (status not ``failed`` and no flag but the
        calibration's, :func:`musclethick.qc.doubts_boundaries`), with decision ``"ok"``
        and no reviewer. A rejected result is never included.

    Returns
    -------
    list of ReviewedSample

    Raises
    ------
    StoreError
        If the store has no usable reviewed result.
    """
    from musclethick.study.frames import load_frame
    from musclethick.study.store import StudyStore

    decisions = ("accept", "correct") if include_accepted else ("correct",)
    samples = []
    skipped = []
    with StudyStore(store_path) as store:
        reviews = store.latest_reviews()
        # (result id, its latest review, the result when already read)
        chosen = [(result_id, review, None) for result_id, review in sorted(reviews.items())]
        if include_ok:
            chosen += [
                (stored.id, None, stored)
                for stored in store.iter_results()
                if stored.id not in reviews and _without_doubt(stored)
            ]
        for result_id, review, known in chosen:
            if review is not None and review.decision not in decisions:
                continue
            stored = known or store.get_result(result_id)
            if stored.superseded:
                continue
            if review is not None and review.decision == "correct":
                sup, deep = review.superficial, review.deep
            else:
                sup, deep = stored.superficial, stored.deep
            if sup is None or deep is None:
                skipped.append(f"result {result_id}: no boundaries")
                continue
            try:
                frame = load_frame(stored)
            except MusclethickError as error:
                skipped.append(str(error))
                continue
            dx, dy = -float(frame.region.x0), -float(frame.region.y0)
            cols = frame.shape[1]
            samples.append(
                ReviewedSample(
                    frame.pixels,
                    _edges(sup.shifted(dx, dy), cols),
                    _edges(deep.shifted(dx, dy), cols),
                    stored.scan.path,
                    stored.frame_index,
                    result_id,
                    "ok" if review is None else review.decision,
                    "" if review is None else review.reviewer,
                )
            )
    if not samples:
        detail = f" ({'; '.join(skipped[:3])})" if skipped else ""
        what = "accepted or corrected results"
        if include_ok:
            what += ", nor results without a doubt,"
        raise StoreError(f"{store_path}: no {what} to learn from{detail}")
    return samples


def recipe_augmentation(card: dict | None) -> AugmentOptions:
    """The augmentation a model's card says it was trained with: the default augmentation
    with the recipe's optional shares (:data:`~musclethick.train.augment.RECIPE_SHARES`:
    ``--top-cut``, ``--bottom-cut``, ...) of its training, or of the first model it was
    fine-tuned from (``FineTuneConfig.base_recipe``)."""
    training = (card or {}).get("training") or {}
    while isinstance(training, dict) and "base_model" in training:
        training = training["base_model"] or {}
    if not isinstance(training, dict):
        training = {}

    def share(key: str) -> float:
        return float(training.get(key) or 0.0)

    return AugmentOptions(**{f: share(key) for key, f in RECIPE_SHARES.items()})


def undoubted_share(store_path: str | Path) -> tuple[int, int]:
    """``(n_sure, n_results)``: how many of a store's current results the model had no doubt
    about (not ``failed``, no flag but the calibration's, not rejected in review), and how
    many there are."""
    from musclethick.study.store import StudyStore

    with StudyStore(store_path) as store:
        results = list(store.iter_results())
        rejected = {i for i, r in store.latest_reviews().items() if r.decision == "reject"}
    sure = sum(_without_doubt(r) and r.id not in rejected for r in results)
    return sure, len(results)


def _without_doubt(result) -> bool:
    """A stored result whose boundaries the model had no doubt about (not failed, no flag but
    the calibration's: :func:`musclethick.qc.doubts_boundaries`)."""
    return not doubts_boundaries(result.status, result.flags)


def _targets(sample: ReviewedSample) -> np.ndarray:
    """Grouped layer targets ``(rows, cols, N_CHANNELS)`` of a reviewed frame."""
    return grouped_targets(sample.superficial_y_px, sample.deep_y_px, sample.pixels.shape[:2])


def _split_holdout(
    samples: Sequence[ReviewedSample], holdout: int, seed: int
) -> tuple[list[ReviewedSample], list[ReviewedSample]]:
    """``(learn, held_out)``: ``holdout`` reviewed samples chosen with ``seed``, in store
    order (unreviewed ``"ok"`` samples are never held out: a person's review is the check)."""
    if holdout == 0:
        return list(samples), []
    reviewed = [i for i, s in enumerate(samples) if s.reviewed]
    if not reviewed:
        raise StoreError(
            "no reviewed frames to hold out (the results without a doubt are the model's own, "
            "no check on it): review and correct a few scans, or leave out --holdout"
        )
    if holdout >= len(reviewed):
        raise StoreError(
            f"{len(reviewed)} reviewed frames: cannot hold {holdout} out and learn from the "
            f"rest; review more scans or use --holdout {max(0, len(reviewed) - 1)} or less"
        )
    rng = np.random.default_rng(seed)
    held = {reviewed[i] for i in rng.choice(len(reviewed), size=holdout, replace=False)}
    return (
        [s for i, s in enumerate(samples) if i not in held],
        [s for i, s in enumerate(samples) if i in held],
    )


def held_out_figures(
    results: Sequence[FrameResult], samples: Sequence[ReviewedSample]
) -> dict[str, Any]:
    """Thickness of ``results`` (one per reviewed sample, measured on its frame) against the
    sample's reviewed inner edges, at the results' own measurement lines.

    Returns
    -------
    dict
        ``n``; ``n_without_result`` (failed, no lines, or the review has no edges there);
        ``thickness_mae_percent`` (mean over the frames with a result of the mean relative
        error of their lines; ``None`` without any); ``ok_thickness_mae_percent`` (the same
        over the ``ok`` frames); ``n_ok`` and ``n_ok_off_10`` (``ok`` frames off by more than
        10 %); ``per_frame``: each sample's ``status`` and
        ``thickness_error_percent`` (``None`` without a result).
    """
    errors: list[float] = []
    ok_errors: list[float] = []
    per_frame: list[dict[str, Any]] = []
    n_ok = n_ok_off = n_without = 0
    for result, sample in zip(results, samples, strict=True):
        cols = sample.superficial_y_px.size
        line_errors = []
        for line in result.lines if result.status != "failed" else ():
            col = min(max(round(line.x_px), 0), cols - 1)
            ref = float(sample.deep_y_px[col] - sample.superficial_y_px[col])
            if np.isfinite(ref) and ref > 0:
                line_errors.append(abs(line.thickness_px - ref) / ref)
        if not line_errors:
            n_without += 1
            per_frame.append({"status": result.status, "thickness_error_percent": None})
            continue
        error = float(np.mean(line_errors))
        errors.append(error)
        per_frame.append(
            {"status": result.status, "thickness_error_percent": round(100 * error, 2)}
        )
        if result.status == "ok":
            ok_errors.append(error)
            n_ok += 1
            n_ok_off += error > 0.1
    return {
        "n": len(samples),
        "n_without_result": n_without,
        "thickness_mae_percent": round(100 * float(np.mean(errors)), 2) if errors else None,
        "ok_thickness_mae_percent": (
            round(100 * float(np.mean(ok_errors)), 2) if ok_errors else None
        ),
        "n_ok": n_ok,
        "n_ok_off_10": n_ok_off,
        "per_frame": per_frame,
    }


#: Sections of the base model's card that describe the base weights only (measurements,
#: their ONNX export): a fine-tuned card leaves them out.
_BASE_ONLY = (
    "sha256",
    "size_bytes",
    "weights_file",
    "metrics",
    "training",
    "speed",
    "capture_variants",
    "fine_tune_ten_scans",
    "telemed_unlabelled",
    "onnx",
)

#: Reviewed frames a fine-tune should learn from at least (a new scanner's: the model card's
#: figures for ten, twenty and thirty).
RECOMMENDED_FRAMES = 10


def _held_out_verdict(base: dict[str, Any], tuned: dict[str, Any]) -> str:
    """A sentence when the fine-tuned model did worse than the base on the held-out reviews
    (fewer frames measured, more ``ok`` frames off, or a larger error over the same number of
    frames measured), else ``""``."""
    worse = []
    if tuned["n_without_result"] > base["n_without_result"]:
        worse.append("measured fewer of them")
    if tuned["n_ok_off_10"] > base["n_ok_off_10"]:
        worse.append("has more frames without a doubt that are off by more than 10 %")
    b, t = base["thickness_mae_percent"], tuned["thickness_mae_percent"]
    same_n = tuned["n_without_result"] == base["n_without_result"]
    if same_n and b is not None and t is not None and t > b:
        worse.append(f"is further off ({t:.1f} % against {b:.1f} %)")
    if not worse:
        return ""
    return (
        "on the held-out reviews the fine-tuned model " + " and ".join(worse) + " than the "
        "base model: keep the base model, or review more scans and fine-tune again"
    )


def _measure_held_out(weights: Path | None, samples: Sequence[ReviewedSample], verify: bool):
    """:func:`held_out_figures` of the model ``weights`` (``None``: the shipped one)."""
    from musclethick.pipeline import MeasureSettings, measure_frames
    from musclethick.segment import load_model
    from musclethick.types import Frame

    model = load_model(weights, verify=verify)
    frames = [Frame(np.ascontiguousarray(s.pixels), s.path, s.frame_index) for s in samples]
    results = list(measure_frames(frames, MeasureSettings(), model=model))
    return held_out_figures(results, samples)


def _train_mode(model: UNet, *, freeze_batchnorm: bool) -> None:
    """``model`` in training mode, its batch-norm layers in evaluation mode when
    ``freeze_batchnorm`` (running statistics kept; weights and biases still learn)."""
    model.train()
    if freeze_batchnorm:
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()


def _belly_dice(model: UNet, images, targets, input_shape, normalisation: str) -> float:
    """Dice of the belly (grouped argmax) against the reviewed belly, no augmentation."""
    model.eval()
    inter = total = 0.0
    with torch.inference_mode():
        for img, tgt in zip(images, targets, strict=True):
            a, t = resize_pair(img.astype(np.float32), tgt, input_shape)
            x = normalise(a, normalisation)
            p = probabilities(model(torch.from_numpy(x[None, None]))).numpy()[0]
            valid = t[..., V_GROUP] > 0.5
            pred = (p[2] > 0.5) & valid
            true = (t[..., GROUP][..., 1] > 0.5) & valid
            inter += float((pred & true).sum())
            total += float(pred.sum() + true.sum())
    model.train()
    return 2 * inter / max(total, 1e-9)


def fine_tune(
    samples: Sequence[ReviewedSample],
    base: LoadedWeights,
    *,
    config: FineTuneConfig = FineTuneConfig(),
    log: Callable[[str], None] = _logger.info,
) -> tuple[UNet, dict[str, Any]]:
    """Fine-tune the verified weights ``base`` on ``samples``.

    Returns
    -------
    model : UNet
        The fine-tuned network.
    summary : dict
        Steps, losses, belly Dice on the samples before and after (no augmentation), wall time.
    """
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    model = UNet.from_config(dict(base.config))
    try:
        model.load_state_dict(base.state_dict)
    except RuntimeError as error:
        raise ModelError(f"weights do not match their config: {error}") from None
    model.train()
    input_shape = tuple(int(v) for v in base.input_shape)
    work = (int(input_shape[0] * WORK_FACTOR), int(input_shape[1] * WORK_FACTOR))
    images, targets = [], []
    for s in samples:
        img, tgt = resize_pair(s.pixels.astype(np.float32), _targets(s), work)
        images.append(np.clip(img, 0, 255).astype(np.uint8))
        targets.append(tgt.astype(np.float32))
    dice_before = _belly_dice(model, images, targets, input_shape, base.normalisation)
    _train_mode(model, freeze_batchnorm=config.freeze_batchnorm)
    if config.train_part == "decoder":
        for part in (model.stem, model.down):
            for param in part.parameters():
                param.requires_grad_(False)
    params = [q for q in model.parameters() if q.requires_grad]
    anchors = [q.detach().clone() for q in params]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=1e-4)
    losses = []
    recipe = recipe_augmentation(base.card) if config.base_recipe else None
    t0 = time.perf_counter()
    n = len(images)
    for step in range(config.steps):
        idx = rng.choice(n, size=min(config.batch_size, n), replace=n < config.batch_size)
        xs, ys = [], []
        for i in idx:
            if config.augment:
                a, t = augment_pair(images[i], targets[i], rng, shape=input_shape, options=recipe)
            else:
                a, t = resize_pair(images[i].astype(np.float32), targets[i], input_shape)
            xs.append(normalise(a, base.normalisation))
            ys.append(np.moveaxis(t, -1, 0))
        x = torch.from_numpy(np.stack(xs)[:, None])
        y = torch.from_numpy(np.ascontiguousarray(np.stack(ys), dtype=np.float32))
        loss = layer_loss(model(x), y)
        if config.anchor_weight > 0:
            drift = sum(((q - a) ** 2).sum() for q, a in zip(params, anchors, strict=True))
            loss = loss + 0.5 * config.anchor_weight * drift
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
        if step % 50 == 0 or step == config.steps - 1:
            log(json.dumps({"step": step, "loss": round(losses[-1], 5)}))
    dice_after = _belly_dice(model, images, targets, input_shape, base.normalisation)
    summary = {
        "steps": config.steps,
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "belly_dice_reviewed_before": round(dice_before, 4),
        "belly_dice_reviewed_after": round(dice_after, 4),
        "wall_s": round(time.perf_counter() - t0, 2),
    }
    return model.eval(), summary


def fine_tune_from_store(
    store_path: str | Path,
    out_dir: str | Path,
    *,
    base_weights: str | Path | None = None,
    config: FineTuneConfig = FineTuneConfig(),
    verify: bool = True,
    log: Callable[[str], None] = _logger.info,
) -> dict[str, Any]:
    """Fine-tune a model on a store's promoted results and write a new model version.

    Parameters
    ----------
    store_path : str or path-like
        Study store with reviews.
    out_dir : str or path-like
        Output folder: ``model.pt``, its card ``model.json`` and ``train.json``.
    base_weights : str or path-like, optional
        Weights to start from (default: the shipped model), checked against their card.
    config : FineTuneConfig
        Steps, learning rate, which decisions count.
    verify : bool
        Require the base weights' model card and sha256 (as :func:`load_weights`).

    Returns
    -------
    dict
        The summary written to ``train.json`` (includes the new ``version``).

    Raises
    ------
    StoreError
        No promoted results in the store.
    ModelError
        Base weights missing, invalid or not matching their card.
    """
    if not Path(store_path).is_file():
        raise StoreError(f"{store_path}: file not found; check the path")
    base = load_weights(base_weights, verify=verify)
    if config.include_ok:
        sure, total = undoubted_share(store_path)
        if not total:
            raise StoreError(
                f"{store_path}: the store holds no results; measure the study into it first "
                "('musclethick batch STUDY --store STORE')"
            )
        share = sure / total
        log(f"the model had no doubt about {sure} of the {total} results of {store_path}")
        if share < config.min_ok_share:
            raise StoreError(
                f"{store_path}: the model had no doubt about only {sure} of its {total} results "
                f"({share:.0%}); learning from its own results needs at least "
                f"{config.min_ok_share:.0%} (on a scanner this unlike its training data it "
                "learns its mistakes too): review and correct 10-30 scans and fine-tune on "
                "them without --learn-from-ok"
            )
    reviewed = samples_from_store(
        store_path, include_accepted=config.include_accepted, include_ok=config.include_ok
    )
    samples, held_out = _split_holdout(reviewed, config.holdout, config.seed)
    n_ok = sum(not s.reviewed for s in samples)
    n_reviewed = len(samples) - n_ok
    log(
        f"learning from {n_reviewed} reviewed frames of {store_path}"
        + (f" and {n_ok} results without a doubt that nobody reviewed" if n_ok else "")
    )
    if n_reviewed < RECOMMENDED_FRAMES and not n_ok:
        log(
            f"warning: {n_reviewed} reviewed frames to learn from; {RECOMMENDED_FRAMES}-30 "
            "are recommended (fewer fit the model to these scans rather than the scanner)"
        )
    if held_out:
        log(f"{len(held_out)} reviewed frames held out to check the fine-tune")
    model, summary = fine_tune(samples, base, config=config, log=log)
    base_card = base.card
    base_version = base.version
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    # "+adapted" when no person reviewed any frame learnt (the model's own results only)
    version = f"{base_version}+{'reviews' if n_reviewed else 'adapted'}.{stamp}"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights_path = out / "model.pt"
    payload = {
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "config": model.config(),
        "input_shape": [int(v) for v in base.input_shape],
        "normalisation": base.normalisation,
        "meta": {"version": version, "base_version": base_version, "steps": config.steps},
    }
    tmp = weights_path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(weights_path)
    reviewers = sorted({s.reviewer for s in samples if s.reviewed})
    n_corrected = sum(s.decision == "correct" for s in samples)
    n_accepted = n_reviewed - n_corrected
    card = {
        # what describes the network and its use carries over; what was measured of the base
        # weights (accuracy, speed, its ONNX export) does not describe these weights
        **{k: v for k, v in base_card.items() if k not in _BASE_ONLY},
        "training": {
            "base_model": base_card.get("training"),
            "note": "the base model's training; this version was fine-tuned on reviews "
            "(fine_tune, training_data.reviews)",
        },
        "name": base_card.get("name", base.path.stem),
        "version": version,
        "base_version": base_version,
        "base_sha256": base.sha256,
        "changelog": [
            *base_card.get("changelog", []),
            f"{version}: fine-tuned {config.steps} steps on {n_reviewed} reviewed frames "
            f"({n_corrected} corrected, {n_accepted} accepted) of "
            f"{Path(store_path).name}, reviewed by {', '.join(reviewers) or 'nobody'}"
            + (f", and {n_ok} unreviewed results without a doubt" if n_ok else ""),
        ],
        "training_data": {
            "base": base_card.get("training_data", "see the base model card"),
            "reviews": {
                "store": str(store_path),
                "n_frames": len(samples),
                "n_corrected": n_corrected,
                "n_accepted": n_accepted,
                "n_unreviewed_ok": n_ok,
                "reviewers": reviewers,
                "result_ids": [s.result_id for s in samples],
            },
        },
        "fine_tune": asdict(config),
        "metrics": {
            "belly_dice_reviewed_before": summary["belly_dice_reviewed_before"],
            "belly_dice_reviewed_after": summary["belly_dice_reviewed_after"],
            "note": "Dice on the reviewed frames themselves (not held out): a sanity check, "
            "not an accuracy estimate; re-run the validation benchmark before use",
        },
        "intended_use": base_card.get("intended_use", "research, not diagnosis"),
    }
    if held_out:
        # both models measure the held-out frames as `musclethick measure` would
        checked = {
            "base": _measure_held_out(
                None if base_weights is None else base.path, held_out, verify
            ),
            "fine_tuned": _measure_held_out(weights_path, held_out, verify=False),
            "frames": [f"{s.path}#{s.frame_index}" for s in held_out],
        }
        summary["held_out"] = checked
        for name in ("base", "fine_tuned"):
            f = checked[name]
            mae = (
                "no result"
                if f["thickness_mae_percent"] is None
                else (f"thickness error {f['thickness_mae_percent']:.1f} %")
            )
            ok_mae = f["ok_thickness_mae_percent"]
            ok_part = "" if ok_mae is None else f" (error {ok_mae:.1f} %)"
            log(
                f"held-out reviews, {name.replace('_', '-')} model: {mae} over "
                f"{f['n'] - f['n_without_result']} of {f['n']} frames measured; "
                f"{f['n_ok']} without a doubt about their boundaries{ok_part}, "
                f"{f['n_ok_off_10']} of them off by more than 10 %"
            )
        verdict = _held_out_verdict(checked["base"], checked["fine_tuned"])
        if verdict:
            log(f"warning: {verdict}")
            summary["held_out"]["warning"] = verdict
        card["metrics"]["held_out_reviews"] = {
            **checked,
            "note": "thickness against reviewed frames the fine-tune did not learn from "
            "(measured as musclethick measure does; few frames: a rough estimate)",
        }
    card_file = write_card(weights_path, card)
    summary.update(
        {
            "version": version,
            "weights": str(weights_path),
            "card": str(card_file),
            "sha256": read_card(card_file)["sha256"],
            "n_samples": len(samples),
        }
    )
    (out / "train.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """``musclethick train --from-store ...`` with these arguments (see :mod:`musclethick.cli`)."""
    import sys

    from musclethick.cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])
