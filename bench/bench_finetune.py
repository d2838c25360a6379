"""A new scanner in ten scans: review ten captures of an unseen format, fine-tune, re-measure.

Usage::

    python bench/bench_finetune.py --lofo runs/lofo_800x652 [--n 10] [--steps 400] [--seed 0]
                                   [--threads 2] [--learn-from-ok] [--json OUT]

For a leave-one-format-out run (a model trained without every capture of one size): ``--n``
captures of the left-out size are chosen (seeded) and go through the lab's workflow for real:
measured with that model into a study store (``musclethick.study.store``), each "reviewed" with
a correction whose boundaries are the hand-drawn mask's inner edges (what a careful reviewer
would draw), then ``musclethick train --from-store`` (:func:`fine_tune_from_store`, with
``--threads`` torch threads) fine-tunes the model on them. The other captures of that size are
measured before and after (as ``musclethick measure`` does: model, post-processing, QC) and
compared with their masks. With ``--learn-from-ok`` those other captures are also measured
into the store, unreviewed, and the fine-tune learns from the ones without a doubt too (the
lab's ten reviews plus the study's own results); a refusal (too few without a doubt) is
reported as such.

Printed: before / after thickness MAE (px, % of thickness), ICC, ``ok`` frames off by more than
10 %, frames without a result, and the fine-tune's wall time. Target (issue 9): MAE <= 3 % on the
rest of the format after fine-tuning on 10 of its scans.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from bench_adapt import measured_store, run_weights  # noqa: E402

from musclethick.errors import StoreError  # noqa: E402
from musclethick.masks import boundaries_from_mask  # noqa: E402
from musclethick.measure import measure_lines  # noqa: E402
from musclethick.segment import load_model  # noqa: E402
from musclethick.study.store import StudyStore  # noqa: E402
from musclethick.train.dataset import left_out_images, load_split, read_grey  # noqa: E402
from musclethick.train.evaluate import evaluate_model, summarise  # noqa: E402
from musclethick.train.from_store import FineTuneConfig, fine_tune_from_store  # noqa: E402
from musclethick.types import Calibration  # noqa: E402


def _line(title: str, s: dict) -> str:
    return (
        f"{title:>7}: thickness MAE {s['thickness_mae_px']:6.2f} px "
        f"({s['thickness_mae_percent']:5.2f} %), ICC {s['icc_2_1']:.3f}, "
        f"ok off > 10 %: {s['n_ok_off_10']} "
        f"({s['ok_off_10_percent']:.1f} %), no result {s['n_without_result']}, "
        f"ok {s['n_ok']} / flagged {s['n_flagged']} / failed {s['n_failed']}"
    )


def reviewed_store(path: Path, data: Path, names: list[str], model) -> int:
    """A store with ``names`` measured by ``model`` and corrected to their masks' edges."""
    measured = measured_store(path, data, names, model)
    n = 0
    with StudyStore(path) as store:
        for name, ids in measured.items():
            mask = read_grey(data / "masks" / name) > 127
            sup, deep = boundaries_from_mask(mask, source="manual")
            if sup is None or deep is None:
                continue
            lines = measure_lines(sup, deep, calibration=Calibration.uncalibrated())
            store.record_review(
                ids[0],
                "correct",
                reviewer="bench",
                expected_revision=0,
                reason="drawn on the aponeuroses",
                superficial=sup,
                deep=deep,
                lines=lines,
                thickness_mm=0.0,
            )
            n += 1
    return n


def _fine_tune(store: Path, out: Path, weights: Path, args) -> dict:
    """``musclethick train --from-store STORE`` on ``weights`` with the bench's options."""
    return fine_tune_from_store(
        store,
        out,
        base_weights=weights,
        config=FineTuneConfig(
            steps=args.steps,
            lr=args.lr,
            seed=args.seed,
            threads=args.threads,
            anchor_weight=args.anchor_weight,
            train_part=args.train_part,
            include_ok=args.learn_from_ok,
        ),
        log=lambda _: None,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data",
        default=str(REPO.parent / "shared" / "data" / "dltrack_apo"),
        help="dltrack_apo folder: split.csv, images/, masks/ (default: %(default)s)",
    )
    p.add_argument("--lofo", nargs="+", required=True, help="leave-one-format-out run folders")
    p.add_argument("--n", type=int, default=10, help="captures reviewed and learnt from")
    p.add_argument(
        "--steps",
        type=int,
        default=FineTuneConfig.steps,
        help="fine-tune optimiser steps (default: %(default)s)",
    )
    p.add_argument(
        "--lr",
        type=float,
        default=FineTuneConfig.lr,
        help="fine-tune learning rate (constant) (default: %(default)s)",
    )
    p.add_argument(
        "--anchor-weight",
        type=float,
        default=FineTuneConfig.anchor_weight,
        help="L2-SP penalty towards the base weights (default: %(default)s)",
    )
    p.add_argument(
        "--train-part",
        choices=("all", "decoder"),
        default=FineTuneConfig.train_part,
        help="parameters that learn (default: %(default)s)",
    )
    p.add_argument(
        "--learn-from-ok",
        action="store_true",
        help="also measure the other captures of the format into the store, unreviewed, and "
        "learn from those without a doubt (train --from-store --learn-from-ok)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the captures chosen and of the fine-tune (default: %(default)s)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=2,
        help="torch CPU threads of the fine-tune (default: %(default)s)",
    )
    p.add_argument(
        "--json", default=None, help="write each run's before / after figures as JSON to this path"
    )
    args = p.parse_args(argv)
    data = Path(args.data)
    split = load_split(data / "split.csv")
    report = {}
    for run in map(Path, args.lofo):
        info, names = left_out_images(run, split)
        rng = np.random.default_rng(args.seed)
        chosen = sorted(rng.choice(names, size=args.n, replace=False).tolist())
        rest = [n for n in names if n not in chosen]
        with tempfile.TemporaryDirectory() as tmp:
            # the run's final weights with its card (its recipe: FineTuneConfig.base_recipe)
            weights = run_weights(run, Path(tmp) / "base")
            base = load_model(weights)
            before = summarise(evaluate_model(base, data, rest))
            store = Path(tmp) / "study.sqlite"
            n_reviewed = reviewed_store(store, data, chosen, base)
            if args.learn_from_ok:
                measured_store(store, data, rest, base)
            t0 = time.perf_counter()
            try:
                summary = _fine_tune(store, Path(tmp) / "ft", weights, args)
            except StoreError as refusal:
                print(f"== {run.name}: refused: {refusal}")
                report[run.name] = {"refused": str(refusal)}
                continue
            wall = time.perf_counter() - t0
            tuned = load_model(Path(tmp) / "ft" / "model.pt")
            after = summarise(evaluate_model(tuned, data, rest))
        report[run.name] = {
            "left_out": info["excluded_sizes"],
            "reviewed": chosen,
            "n_reviewed": n_reviewed,
            "n_test": len(rest),
            "before": before,
            "after": after,
            "fine_tune_wall_s": round(wall, 1),
            "fine_tune_steps": summary["steps"],
            "threads": args.threads,
        }
        print(
            f"== {run.name}: {n_reviewed} reviewed captures of {info['excluded_sizes']}, "
            f"tested on the other {len(rest)}; fine-tune {summary['steps']} steps in "
            f"{wall:.0f} s on {args.threads} threads"
        )
        print(_line("before", before))
        print(_line("after", after))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
