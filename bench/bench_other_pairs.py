"""One key in review: how often the runner-up pair fixes a frame that needs fixing.

Usage::

    python bench/bench_other_pairs.py [--val] [--lofo runs/l19_lofo_800x652_tc20 ...] [--json OUT]

For the shipped model on ``val`` and for each leave-one-format-out run on its left-out format,
every capture is measured as ``musclethick measure`` does, twice in the same process: with the
decoding's runner-up only (``MeasureSettings(other_pairs=False)``) and with the image's band
pairs offered where a result is not ``ok`` and has none (the default). Of the frames that are
not ``ok`` and off by more than 10 % against their mask (what a reviewer must fix), printed:
how many have a runner-up pair and how many that pair puts within 10 % (one key, ``w``,
fixes them). Statuses, thicknesses and MAEs do not change (the runner-up is only offered);
the bench checks that. Also printed: the wall time of the two passes and the added time per
frame that got a band pair.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from bench_adapt import run_weights  # noqa: E402

from musclethick.pipeline import MeasureSettings  # noqa: E402
from musclethick.segment import load_model  # noqa: E402
from musclethick.train.dataset import left_out_images, load_split  # noqa: E402
from musclethick.train.evaluate import evaluate_model, summarise  # noqa: E402

KEYS = (
    "thickness_mae_percent",
    "n_ok",
    "n_ok_off_10",
    "n_not_ok_off_10",
    "n_not_ok_off_10_with_runner_up",
    "n_fixed_by_runner_up",
    "n_fixed_by_offered_pairs",
)


def compare(title: str, model, data: Path, names: list[str]) -> dict:
    entry: dict = {"n": len(names)}
    timings = {}
    results = {}
    for key, other_pairs in (("decoding_only", False), ("with_band_pairs", True)):
        t0 = time.perf_counter()
        results[key] = evaluate_model(
            model, data, names, settings=MeasureSettings(other_pairs=other_pairs)
        )
        timings[key] = time.perf_counter() - t0
        s = summarise(results[key])
        entry[key] = {k: s[k] for k in KEYS}
    before, after = results["decoding_only"], results["with_band_pairs"]
    changed = [
        a.name
        for a, b in zip(before, after, strict=True)
        if a.status != b.status or (a.thickness_pred_px != b.thickness_pred_px and a.found)
    ]
    added = sum(
        a.runner_up_error_fraction != a.runner_up_error_fraction  # NaN: none before
        and b.runner_up_error_fraction == b.runner_up_error_fraction
        for a, b in zip(before, after, strict=True)
    )
    entry["n_band_pairs_added"] = added
    entry["results_changed"] = changed
    entry["seconds"] = {k: round(v, 1) for k, v in timings.items()}
    extra_ms = 1000 * (timings["with_band_pairs"] - timings["decoding_only"]) / max(added, 1)
    entry["ms_per_band_pair"] = round(extra_ms, 1)
    print(f"== {title}: {len(names)} captures")
    for key, label in (("decoding_only", "decoding only"), ("with_band_pairs", "+ band pairs")):
        e = entry[key]
        print(
            f"  {label:<14} not ok and off > 10 %: {e['n_not_ok_off_10']:3d}; with a runner-up "
            f"{e['n_not_ok_off_10_with_runner_up']:3d}; fixed by one press "
            f"{e['n_fixed_by_runner_up']:3d}, within the pairs offered "
            f"{e['n_fixed_by_offered_pairs']:3d}   (MAE {e['thickness_mae_percent']:.2f} %, ok "
            f"{e['n_ok']}, ok off > 10 % {e['n_ok_off_10']})"
        )
    print(
        f"  band pairs offered on {added} frames, ~{extra_ms:.0f} ms each "
        f"({timings['decoding_only']:.1f} s -> {timings['with_band_pairs']:.1f} s); "
        f"results changed: {len(changed)}"
    )
    return entry


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data",
        default=str(REPO.parent / "shared" / "data" / "dltrack_apo"),
        help="dltrack_apo folder: split.csv, images/, masks/ (default: %(default)s)",
    )
    p.add_argument("--lofo", nargs="*", default=[], help="leave-one-format-out run folders")
    p.add_argument("--val", action="store_true", help="the shipped model on val")
    p.add_argument("--json", default=None, help="write the figures as JSON to this path")
    args = p.parse_args(argv)
    data = Path(args.data)
    split = load_split(data / "split.csv")
    report = {}
    if args.val:
        names = sorted(n for n, _w, _h in split["val"])
        report["val"] = compare("val (shipped model)", load_model(), data, names)
    for run in map(Path, args.lofo):
        info, names = left_out_images(run, split)
        with tempfile.TemporaryDirectory() as tmp:
            model = load_model(run_weights(run, Path(tmp)), backend="torch")
            label = f"{run.name} (left out {', '.join(info['excluded_sizes'])})"
            report[run.name] = compare(label, model, data, names)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
