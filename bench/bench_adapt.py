"""A new scanner without review: learn from the study's own results the model had no doubt about.

Usage::

    python bench/bench_adapt.py --lofo runs/l19_lofo_660x556_tc20 [...] [--val] [--steps 400]
                                [--threads 2] [--json OUT]

For a leave-one-format-out run (a model trained without every capture of one size), every
capture of the left-out size is measured with that run's final weights into a study store as
``musclethick batch`` would (``measure_path``: model, post-processing, QC, the on-screen ruler),
nobody reviews anything, and ``musclethick train --from-store STORE --learn-from-ok``
(:func:`fine_tune_from_store` with ``include_ok``) fine-tunes the model on the results it had
no doubt about. When the store holds too few of them (``FineTuneConfig.min_ok_share``) the
command refuses; the bench then also fine-tunes with the limit off, to show what the refusal
prevents. Every capture of the format is measured before and after (as ``musclethick measure``
does) and compared with its hand-drawn mask: the masks are never learnt from. ``--val`` does the
same for the shipped model on the ``val`` split (scanners it was trained on).

Printed: how many results had no doubt, before / after thickness MAE (% of thickness), ICC,
``ok`` frames and ``ok`` frames off by more than 10 %, frames without a result, wall time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from musclethick.errors import StoreError  # noqa: E402
from musclethick.pipeline import MeasureSettings, measure_path  # noqa: E402
from musclethick.segment import load_model  # noqa: E402
from musclethick.segment.weights import write_card  # noqa: E402
from musclethick.study.store import StudyStore  # noqa: E402
from musclethick.train.dataset import left_out_images, load_split  # noqa: E402
from musclethick.train.evaluate import evaluate_model, summarise  # noqa: E402
from musclethick.train.from_store import (  # noqa: E402
    FineTuneConfig,
    fine_tune_from_store,
    undoubted_share,
)

KEYS = ("thickness_mae_percent", "icc_2_1", "n_without_result", "n_ok", "n_ok_off_10")


def _line(title: str, s: dict) -> str:
    return (
        f"  {title:<7} MAE {s['thickness_mae_percent']:6.2f} %  ICC {s['icc_2_1']:.3f}  "
        f"without {s['n_without_result']:3d}  ok {s['n_ok']:3d}  ok off > 10 % {s['n_ok_off_10']}"
    )


def run_weights(run: Path, folder: Path) -> Path:
    """A copy of a leave-one-format-out run's final weights (``last.pt``) with a model card
    made from the run's ``model.json``: its training recipe, e.g. the top-cut share, which
    ``FineTuneConfig.base_recipe`` reads
    (:func:`musclethick.train.from_store.recipe_augmentation`)."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "last.pt"
    shutil.copyfile(run / "last.pt", weights)
    card = json.loads((run / "model.json").read_text())
    write_card(weights, {k: v for k, v in card.items() if k not in ("sha256", "size_bytes")})
    return weights


def measured_store(path: Path, data: Path, names: list[str], model) -> dict[str, list[int]]:
    """A store with ``names`` measured by ``model``, as a batch run leaves it (no reviews);
    returns each name's result ids."""
    ids = {}
    with StudyStore(path) as store:
        run = store.start_run(method="model", model_version=model.version)
        for name in names:
            image = data / "images" / name
            scan_id = store.record_scan(image, subject=name)
            results = measure_path(image, MeasureSettings(), model=model)
            ids[name] = store.record_results(scan_id, results, run)
    return ids


def adapt(name: str, data: Path, names: list[str], run: Path | None, args) -> dict:
    key = "val" if run is None else run.name
    entry: dict = {"n": len(names)}
    with tempfile.TemporaryDirectory() as tmp:
        weights = None if run is None else run_weights(run, Path(tmp) / "base")
        base = load_model(weights)
        before = summarise(evaluate_model(base, data, names))
        entry["before"] = {k: before[k] for k in KEYS}
        store = Path(tmp) / "study.sqlite"
        measured_store(store, data, names, base)
        sure, total = undoubted_share(store)
        entry.update(n_without_doubt=sure, n_results=total)
        config = FineTuneConfig(
            steps=args.steps,
            seed=args.seed,
            threads=args.threads,
            include_ok=True,
            base_recipe=args.base_recipe,
        )
        kwargs = {"base_weights": weights, "log": lambda _: None}
        t0 = time.perf_counter()
        try:
            fine_tune_from_store(store, Path(tmp) / "ft", config=config, **kwargs)
            entry["refused"] = None
        except StoreError as refusal:
            entry["refused"] = str(refusal).split(": ", 1)[1]
            # what the refusal prevents: the same fine-tune with the limit off
            forced = replace(config, min_ok_share=0.0)
            fine_tune_from_store(store, Path(tmp) / "ft", config=forced, **kwargs)
        entry["wall_s"] = round(time.perf_counter() - t0, 1)
        tuned = load_model(Path(tmp) / "ft" / "model.pt")
        if args.keep:  # the adapted model, e.g. for bench_variants.py --weights
            shutil.copytree(Path(tmp) / "ft", Path(args.keep) / key, dirs_exist_ok=True)
        after = summarise(evaluate_model(tuned, data, names))
    entry["after"] = {k: after[k] for k in KEYS}
    print(
        f"== {name}: {len(names)} captures, {sure} of {total} results without a doubt "
        f"({100 * sure / max(total, 1):.0f} %); fine-tune {entry['wall_s']:.0f} s on "
        f"{args.threads} threads"
        + ("" if entry["refused"] is None else "; REFUSED by --learn-from-ok (after: limit off)")
    )
    print(_line("before", before))
    print(_line("after", after))
    return entry


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data",
        default=str(REPO.parent / "shared" / "data" / "dltrack_apo"),
        help="dltrack_apo folder: split.csv, images/, masks/ (default: %(default)s)",
    )
    p.add_argument("--lofo", nargs="*", default=[], help="leave-one-format-out run folders")
    p.add_argument("--val", action="store_true", help="also the shipped model on val")
    p.add_argument("--steps", type=int, default=FineTuneConfig.steps)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None, help="write the figures as JSON to this path")
    p.add_argument("--keep", default=None, help="copy each adapted model into this folder")
    p.add_argument(
        "--base-recipe",
        action="store_true",
        help="augment with the base model's recipe shares too (FineTuneConfig.base_recipe)",
    )
    args = p.parse_args(argv)
    data = Path(args.data)
    split = load_split(data / "split.csv")
    report = {}
    if args.val:
        names = sorted(n for n, _w, _h in split["val"])
        report["val"] = adapt("val (shipped model)", data, names, None, args)
    for run in map(Path, args.lofo):
        info, names = left_out_images(run, split)
        label = f"{run.name} (left out {', '.join(info['excluded_sizes'])})"
        report[run.name] = adapt(label, data, names, run, args)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
