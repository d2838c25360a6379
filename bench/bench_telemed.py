"""Another scanner, consecutive frames: the 100 Telemed gastrocnemius captures.

Usage::

    python bench/bench_telemed.py [--data ../shared/data/unlabeled_gm_telemed] [--weights PATH
                                  --no-verify] [--overlays DIR] [--json OUT]

The captures (Telemed SmartUs, a scanner and display absent from the training data; no labels)
are measured as ``musclethick measure`` does. They come as short sequences of one contraction
each (file names ``..._<frame>.jpg``, frames in order within a sequence): the muscle's thickness
changes smoothly from frame to frame, so a jump between consecutive frames is a measurement
error. Printed: how many were measured and with which status, the thickness range, and per
sequence the frame-to-frame changes (the largest jump in mm and % of the thickness).
``--overlays`` writes one overlay PNG per capture to look at.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from musclethick.pipeline import MeasureSettings, measure_paths  # noqa: E402
from musclethick.segment import load_model  # noqa: E402


def sequences(root: Path) -> dict[str, list[Path]]:
    """Captures grouped by sequence (file name without its frame number), in frame order."""
    groups: dict[str, list[tuple[int, Path]]] = defaultdict(list)
    for path in sorted(root.rglob("*.jpg")):
        m = re.match(r"(.*)_(\d+)$", path.stem)
        if m is None:
            groups[path.stem].append((0, path))
        else:
            groups[str(path.parent / m.group(1))].append((int(m.group(2)), path))
    return {k: [p for _, p in sorted(v)] for k, v in sorted(groups.items())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data",
        default=str(REPO.parent / "shared" / "data" / "unlabeled_gm_telemed"),
        help="folder of the Telemed captures, *.jpg searched recursively (default: %(default)s)",
    )
    p.add_argument("--weights", default=None, help="model weights (default: the shipped model)")
    p.add_argument(
        "--no-verify",
        action="store_true",
        help="allow --weights without a model card (a card beside them is still checked)",
    )
    p.add_argument("--overlays", default=None, help="folder for overlay PNGs")
    p.add_argument(
        "--json",
        default=None,
        help="write the figures and each sequence's thicknesses as JSON to this path",
    )
    args = p.parse_args(argv)
    model = load_model(args.weights, verify=not args.no_verify)
    groups = sequences(Path(args.data))
    paths = [p for ps in groups.values() for p in ps]
    measured = {m.path: m for m in measure_paths(paths, MeasureSettings(), model=model)}
    status: dict[str, int] = defaultdict(int)
    flags: dict[str, int] = defaultdict(int)
    report: dict = {"model": model.version, "n": len(paths), "sequences": {}}
    all_jumps = []
    for name, ps in groups.items():
        values = []
        for path in ps:
            res = measured[path].results[0]
            status[res.status] += 1
            for f in res.flags:
                flags[f] += 1
            mm = res.mean_thickness_mm
            values.append(np.nan if mm is None or res.status == "failed" else mm)
            if args.overlays:
                from musclethick.overlay import write_overlay

                out = Path(args.overlays) / f"{Path(name).name}_{path.stem.split('_')[-1]}.png"
                if measured[path].frames:
                    out.parent.mkdir(parents=True, exist_ok=True)
                    write_overlay(out, measured[path].frames[0], res)
        v = np.array(values)
        jumps = np.abs(np.diff(v))
        rel = jumps / v[:-1]
        ok = np.isfinite(jumps)
        all_jumps += list(zip(jumps[ok], rel[ok], strict=True))
        report["sequences"][Path(name).name] = {
            "frames": len(ps),
            "thickness_mm": [None if not np.isfinite(x) else round(float(x), 3) for x in v],
            "largest_jump_mm": float(np.max(jumps[ok])) if ok.any() else None,
            "largest_jump_percent": float(100 * np.max(rel[ok])) if ok.any() else None,
        }
        print(
            f"{Path(name).name:>36}: {len(ps)} frames, thickness "
            f"{np.nanmin(v):.2f}-{np.nanmax(v):.2f} mm, largest frame-to-frame change "
            f"{np.max(jumps[ok]) if ok.any() else float('nan'):.2f} mm "
            f"({100 * np.max(rel[ok]) if ok.any() else float('nan'):.1f} %)"
        )
    j = np.array(all_jumps)
    report["status"] = dict(status)
    report["flags"] = dict(flags)
    report["largest_jump_mm"] = float(j[:, 0].max()) if j.size else None
    report["largest_jump_percent"] = float(100 * j[:, 1].max()) if j.size else None
    report["median_jump_percent"] = float(100 * np.median(j[:, 1])) if j.size else None
    print(f"status: {dict(status)}; flags: {dict(flags)}")
    if j.size:
        print(
            f"frame-to-frame change over {len(j)} pairs: median {report['median_jump_percent']:.1f}"
            f" %, largest {report['largest_jump_mm']:.2f} mm ({report['largest_jump_percent']:.1f}"
            " %)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
