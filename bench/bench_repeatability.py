"""Thickness repeatability on repeated captures: near-identical scans of one trial.

Usage::

    python bench/bench_repeatability.py [--data ../shared/data] [--json OUT]

The DL_Track fascicle scans hold groups of repeated captures (thumbnails correlating > 0.9, as
``bench_fascicles.py`` groups them): the muscle is the same, so the spread of its thickness
within a group is measurement noise (plus any small real change between the frames). Every scan
is measured as ``musclethick measure`` does; printed: the typical error (pooled within-group SD,
px) and the RMS of the groups' CV %, over all results with a thickness and over ``ok`` ones;
and how many groups the batch's repeat check (``musclethick.qc.repeats_disagree``) would name.

The brief's bar: at least as precise as a careful human (same-day typical error ~0.4-0.6 mm,
i.e. ~2-3 % of a 20 mm muscle).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from bench_fascicles import REPEATED_CAPTURE, groups, repeatability  # noqa: E402

from musclethick.io import read  # noqa: E402
from musclethick.pipeline import MeasureSettings, measure_frames  # noqa: E402
from musclethick.qc import REPEAT_TOLERANCE_PCT, repeat_spread_pct, repeats_disagree  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data",
        default=str(REPO.parent / "shared" / "data"),
        help="data folder holding dltrack_fasc/ (default: %(default)s)",
    )
    p.add_argument("--json", help="write the figures")
    args = p.parse_args(argv)
    root = Path(args.data) / "dltrack_fasc"
    index = list(csv.DictReader(open(root / "index.csv", newline="")))
    frames = {r["image"]: next(iter(read(root / "images" / r["image"]))) for r in index}
    labels = groups({k: f.pixels for k, f in frames.items()}, REPEATED_CAPTURE)
    names = sorted(frames)
    results = list(measure_frames([frames[n] for n in names], MeasureSettings()))
    rows = [
        {"image": n, "t": r.mean_thickness_px, "ok": r.status == "ok"}
        for n, r in zip(names, results, strict=True)
    ]
    report = {
        "all": repeatability(rows, labels, "t"),
        "ok": repeatability([r for r in rows if r["ok"]], labels, "t"),
        "status": {s: sum(r.status == s for r in results) for s in ("ok", "flagged", "failed")},
    }
    for key, title in (("all", "every result with a thickness"), ("ok", "ok results only")):
        rep = report[key]
        print(
            f"{title:>30}: {rep['groups']} groups, {rep['captures']} captures, typical error "
            f"{rep['typical_error']:.2f} px, CV {rep['cv_pct_rms']:.2f} %"
        )
    print(f"median CV of the groups: {report['all']['cv_pct_median']:.2f} %")
    # the batch's repeat check (musclethick.qc.repeats_disagree) on these groups as sessions
    by_group: dict[int, list[float]] = {}
    for r in rows:
        if r["t"] is not None:
            by_group.setdefault(labels[r["image"]], []).append(r["t"])
    repeated = [v for v in by_group.values() if len(v) >= 2]
    spreads = sorted((repeat_spread_pct(v) for v in repeated), reverse=True)
    over = sorted((repeat_spread_pct(v) for v in repeated if repeats_disagree(v)), reverse=True)
    others = [repeat_spread_pct(v) for v in repeated if not repeats_disagree(v)]
    report["repeats_disagree"] = {"groups": len(spreads), "over": over, "spreads": spreads}
    print(
        f"groups whose repeats spread by more than {REPEAT_TOLERANCE_PCT:g} % of their median "
        f"(the batch's repeats_disagree): {len(over)} of {len(spreads)} "
        f"({', '.join(f'{s:.1f} %' for s in over) or 'none'}; the others at most "
        f"{max(others, default=0):.1f} %)"
    )
    print(f"status of the {len(results)} scans: {report['status']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
