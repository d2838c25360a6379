"""``musclethick train`` (and ``train --from-store``), and the ONNX export's developer command.

The training commands parse their own options (``musclethick train`` passes everything after
``train`` on, since :data:`argparse.REMAINDER` cannot pass on arguments that start with ``-``);
the work is done by :func:`musclethick.train.loop.train_from_folder` and
:func:`musclethick.train.from_store.fine_tune_from_store`. Importing this module does not
import torch.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from musclethick.cli._args import non_negative_int

__all__ = [
    "cmd_train",
    "export_onnx_main",
    "from_store_main",
    "get_from_store_parser",
    "get_train_parser",
    "register",
    "train_command",
    "train_main",
]


def _parse_shape(text: str) -> tuple[int, int]:
    a, b = text.lower().split("x")
    return int(a), int(b)


def get_train_parser() -> argparse.ArgumentParser:
    """Argument parser of ``musclethick train``."""
    from musclethick.segment.preprocess import NORMALISATIONS
    from musclethick.train.augment import AugmentOptions
    from musclethick.train.loop import TrainConfig

    p = argparse.ArgumentParser(
        prog="musclethick train",
        description="Train the aponeurosis segmentation U-Net on labelled scans. To fine-tune "
        "the model on reviewed results of a study store instead (a new scanner in ten scans), "
        "use 'musclethick train --from-store STORE --out FOLDER' (options: 'musclethick train "
        "--from-store STORE --help').",
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
    p.add_argument(
        "--fascicles",
        default=None,
        metavar="DIR",
        help="fascicle data set (images/, masks/, index.csv): traced fascicles as weak muscle "
        "labels; its scans that are the same capture as a val image, or of an excluded size, "
        "are left out",
    )
    p.add_argument(
        "--synthetic-fraction",
        type=float,
        default=TrainConfig.synthetic_fraction,
        help="synthetic scans per labelled scan in each epoch (domain randomization; default "
        "%(default)s)",
    )
    p.add_argument(
        "--consistency-weight",
        type=float,
        default=TrainConfig.consistency_weight,
        help="weight of the loss term that keeps the target muscle the same across the "
        "columns (default %(default)s: off)",
    )
    p.add_argument(
        "--jump-weight",
        type=float,
        default=TrainConfig.jump_weight,
        help="weight of the loss term against the belly's centre jumping between neighbouring "
        "columns (default %(default)s: off)",
    )
    p.add_argument(
        "--layer-contrast",
        type=float,
        default=AugmentOptions.p_layer_contrast,
        metavar="P",
        help="share of training samples whose layers (above, bands, belly, below) each get "
        "their own brightness (augmentation; default %(default)s: off)",
    )
    p.add_argument(
        "--annotations",
        type=float,
        default=AugmentOptions.p_annotation,
        metavar="P",
        help="share of training samples with lines and caliper marks drawn into them, labelled "
        "as the tissue under them (augmentation; default %(default)s: off)",
    )
    p.add_argument(
        "--top-cut",
        type=float,
        default=AugmentOptions.p_top_cut,
        metavar="P",
        help="share of training samples that start inside the belly (superficial aponeurosis "
        "above the image), labelled belly up to the top (augmentation; default %(default)s: off)",
    )
    p.add_argument(
        "--bottom-cut",
        type=float,
        default=AugmentOptions.p_bottom_cut,
        metavar="P",
        help="share of training samples that end inside the belly (deep aponeurosis below the "
        "image), labelled belly down to the bottom (augmentation; default %(default)s: off)",
    )
    p.add_argument(
        "--tilt",
        type=float,
        default=AugmentOptions.p_tilt,
        metavar="P",
        help="share of training samples turned by up to 12 degrees either way (aponeuroses at "
        "other angles; augmentation; default %(default)s: off)",
    )
    p.add_argument(
        "--looks",
        type=float,
        default=AugmentOptions.p_look,
        metavar="P",
        help="share of training samples shown with another scanner's image processing: speckle "
        "reduction, edge enhancement, another grey map, local contrast (augmentation; default "
        "%(default)s: off)",
    )
    p.add_argument(
        "--swa-start",
        type=float,
        default=TrainConfig.swa_start,
        metavar="F",
        help="average the weights of every step after this fraction of the training (e.g. "
        "0.5; stochastic weight averaging) and save the average as last.pt (default: off)",
    )
    p.add_argument(
        "--weak-fraction",
        type=float,
        default=TrainConfig.weak_fraction,
        help="share of the fascicle scans drawn into each epoch (default %(default)s)",
    )
    p.add_argument("--base-channels", type=int, default=TrainConfig.base_channels)
    p.add_argument(
        "--row-context",
        action="store_true",
        help="give every pixel what its row holds across the whole width (architecture option; "
        "default: off)",
    )
    p.add_argument(
        "--normalisation",
        choices=NORMALISATIONS,
        default=TrainConfig.normalisation,
        help="per-image input normalisation (default %(default)s)",
    )
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


def _log(line: str) -> None:
    print(line, flush=True)


def train_main(argv: Sequence[str] | None = None) -> int:
    """Run ``musclethick train`` with the arguments after ``train``; returns the exit status."""
    from musclethick.train.augment import AugmentOptions
    from musclethick.train.loop import TrainConfig, train_from_folder

    args = get_train_parser().parse_args(argv)
    config = TrainConfig(
        input_shape=_parse_shape(args.input_size),
        weak_fraction=args.weak_fraction,
        synthetic_fraction=args.synthetic_fraction,
        consistency_weight=args.consistency_weight,
        jump_weight=args.jump_weight,
        augment=AugmentOptions(
            p_layer_contrast=args.layer_contrast,
            p_annotation=args.annotations,
            p_top_cut=args.top_cut,
            p_look=args.looks,
            p_bottom_cut=args.bottom_cut,
            p_tilt=args.tilt,
        ),
        normalisation=args.normalisation,
        swa_start=args.swa_start,
        base_channels=args.base_channels,
        row_context=args.row_context,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        threads=args.threads,
        max_steps=args.max_steps,
        init_weights=args.init_weights,
    )
    excluded = {tuple(int(v) for v in s.lower().split("x")) for s in args.exclude_size}
    repeats = {}
    for spec in args.repeat_size:
        size, times = spec.split(":")
        repeats[tuple(int(v) for v in size.lower().split("x"))] = int(times)
    summary = train_from_folder(
        args.data,
        args.out,
        config,
        split=args.split,
        exclude_sizes=excluded,
        repeat_sizes=repeats,
        fascicles=args.fascicles,
        cache=args.cache,
        limit=args.limit,
        command="musclethick train " + " ".join(argv if argv is not None else sys.argv[1:]),
        log=_log,
    )
    print(json.dumps({k: summary[k] for k in ("epochs_run", "steps", "wall_s", "best")}))
    return 0


def get_from_store_parser() -> argparse.ArgumentParser:
    """Argument parser of ``musclethick train --from-store``."""
    from musclethick.train.from_store import FineTuneConfig

    p = argparse.ArgumentParser(
        prog="musclethick train --from-store",
        description="Fine-tune the segmentation model on accepted and corrected reviews.",
    )
    p.add_argument("--from-store", required=True, metavar="STORE", help="study store (SQLite)")
    p.add_argument("--base", default=None, help="weights to start from (default: shipped model)")
    p.add_argument("--out", required=True, help="output folder for the new model version")
    p.add_argument("--steps", type=int, default=FineTuneConfig.steps)
    p.add_argument("--batch-size", type=int, default=FineTuneConfig.batch_size)
    p.add_argument("--lr", type=float, default=FineTuneConfig.lr)
    p.add_argument("--corrections-only", action="store_true", help="ignore accepted results")
    p.add_argument(
        "--learn-from-ok",
        action="store_true",
        help="also learn from unreviewed results the model had no doubt about (self-training "
        "on the study's own scans; see the model card before trusting its ok results on a "
        "scanner unlike the training data)",
    )
    p.add_argument("--no-augment", action="store_true")
    p.add_argument(
        "--update-batchnorm",
        action="store_true",
        help="re-estimate the batch-norm statistics from the reviewed frames (by default the "
        "base model's are kept: measured better on scanners the model never saw)",
    )
    p.add_argument(
        "--holdout",
        type=non_negative_int,
        default=FineTuneConfig.holdout,
        metavar="K",
        help="keep K reviewed frames out of the fine-tune; the base and the fine-tuned model "
        "measure them and their thickness error against your reviews is reported (a check on "
        "your own scanner)",
    )
    p.add_argument("--seed", type=int, default=FineTuneConfig.seed)
    p.add_argument("--threads", type=int, default=FineTuneConfig.threads)
    return p


def from_store_main(argv: Sequence[str] | None = None) -> int:
    """Run ``musclethick train --from-store``; returns the exit status (errors are raised for
    :func:`musclethick.cli.run_command`)."""
    from musclethick.errors import UsageError
    from musclethick.train.from_store import FineTuneConfig, fine_tune_from_store

    args = get_from_store_parser().parse_args(argv)
    for option, path in (("--from-store", args.from_store), ("--base", args.base)):
        if path is not None and not Path(path).is_file():
            # checked here, not by an argparse type, so that '--from-store X --help' helps
            raise UsageError(f"{option} {path}: file not found; check the path")
    if args.learn_from_ok and args.corrections_only:
        raise UsageError(
            "--learn-from-ok learns from results nobody reviewed, --corrections-only leaves "
            "out even the results a person accepted: use one of them"
        )
    config = FineTuneConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        include_accepted=not args.corrections_only,
        include_ok=args.learn_from_ok,
        augment=not args.no_augment,
        freeze_batchnorm=not args.update_batchnorm,
        holdout=args.holdout,
        seed=args.seed,
        threads=args.threads,
    )
    summary = fine_tune_from_store(
        args.from_store, args.out, base_weights=args.base, config=config, log=print
    )
    print(json.dumps(summary))
    return 0


def train_command(train_args: Sequence[str]) -> int:
    """``musclethick train TRAIN_ARGS``: fine-tuning with ``--from-store``, else training."""
    train_args = list(train_args)
    if any(arg == "--from-store" or arg.startswith("--from-store=") for arg in train_args):
        return int(from_store_main(train_args) or 0)
    return int(train_main(train_args) or 0)


def cmd_train(args: argparse.Namespace) -> int:
    """``musclethick train`` from the parsed (unparsed) arguments of the main parser."""
    return train_command(args.train_args)


def register(sub: Any) -> None:
    """Add the ``train`` subcommand to an argparse ``subparsers`` object (its options are
    parsed by :func:`get_train_parser` / :func:`get_from_store_parser`)."""
    train = sub.add_parser(
        "train",
        help="train the segmentation model (see 'musclethick train --help')",
        add_help=False,
    )
    train.add_argument("train_args", nargs=argparse.REMAINDER)
    train.set_defaults(func=cmd_train)


def export_onnx_main(argv: Sequence[str] | None = None) -> int:
    """``python -m musclethick.segment.export WEIGHTS.pt [IMAGES...]``."""
    from musclethick.segment import export

    p = argparse.ArgumentParser(description=export.__doc__.splitlines()[0])
    p.add_argument("weights", help="verified weights (.pt with its model card)")
    p.add_argument("images", nargs="*", help="scans to compare the runtimes on")
    args = p.parse_args(argv)
    frames = []
    if args.images:
        from musclethick.io import read

        frames = [f.pixels for path in args.images for f in read(path)]
    section = export.export_onnx(args.weights, check_images=frames)
    print(
        f"wrote {section['file']} ({section['size_bytes']} bytes, sha256 "
        f"{section['sha256'][:12]}...), max |OpenCV - torch| probability "
        f"{section['max_abs_probability_diff_vs_torch']:.2e} on {section['check_frames']} frames"
    )
    return 0
