"""Coloured marks drawn into a scan: measured with them painted out, and without.

Usage::

    python bench/bench_colour_marks.py [--data ../shared/data/dltrack_apo] [--split val]

Each capture of the split gets a 2-px region-of-interest box drawn inside its belly (between
the inner edges of its hand-drawn mask, the middle 60 % of its width and 50 % of its
thickness), in yellow, in green, and as a yellow caliper cross at each inner edge of the
middle column. Each is measured as ``musclethick.measure_image`` does with the colour (the
marks painted out, :mod:`musclethick.colour_marks`) and as the grey the marks leave when the
colour is dropped (what was measured before). Printed per mark: ``ok`` / flagged / failed, and
``ok`` frames whose thickness is off by more than 10 % of the clean capture's own.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from musclethick.api import measure_image  # noqa: E402
from musclethick.masks import mask_layers  # noqa: E402


def _draw(rgb: np.ndarray, mask: np.ndarray, kind: str) -> np.ndarray | None:
    import cv2

    lay = mask_layers(mask > 0)
    cols = np.flatnonzero(np.isfinite(lay.sup_bottom) & np.isfinite(lay.deep_top))
    if cols.size < 10:
        return None
    x0, x1 = int(cols[0]), int(cols[-1])
    mid = (x0 + x1) // 2
    top, bottom = float(lay.sup_bottom[mid]), float(lay.deep_top[mid])
    out = rgb.copy()
    if kind in ("yellow_box", "green_box"):
        colour = (255, 255, 0) if kind == "yellow_box" else (0, 255, 0)
        w = x1 - x0
        ya, yb = int(top + 0.25 * (bottom - top)), int(bottom - 0.25 * (bottom - top))
        cv2.rectangle(out, (x0 + int(0.2 * w), ya), (x0 + int(0.8 * w), yb), colour, 2)
    else:  # yellow caliper crosses at both inner edges, joined by a dotted line
        for y in (round(top), round(bottom)):
            cv2.line(out, (mid - 12, y), (mid + 12, y), (255, 255, 0), 2)
            cv2.line(out, (mid, y - 12), (mid, y + 12), (255, 255, 0), 2)
        for y in range(int(top) + 16, int(bottom) - 12, 8):
            cv2.line(out, (mid, y), (mid, y + 3), (255, 255, 0), 2)
    return out


def main(argv: list[str] | None = None) -> int:
    import cv2

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "dltrack_apo"))
    p.add_argument("--split", default="val")
    args = p.parse_args(argv)
    root = Path(args.data)
    names = [
        r["image"] for r in csv.DictReader(open(root / "split.csv")) if r["split"] == args.split
    ]
    kinds = ("yellow_box", "green_box", "calipers")
    counts = {(k, how): Counter() for k in kinds for how in ("painted", "as grey")}
    wrong = Counter()
    clean_counts: Counter[str] = Counter()
    for name in names:
        grey = cv2.imread(str(root / "images" / name), cv2.IMREAD_GRAYSCALE)
        mask = cv2.imread(str(root / "masks" / name), cv2.IMREAD_GRAYSCALE)
        clean = measure_image(grey, name=name)
        clean_counts[clean.status] += 1
        rgb = np.stack([grey] * 3, axis=-1)
        for kind in kinds:
            marked = _draw(rgb, mask, kind)
            if marked is None:
                continue
            for how, arr in (
                ("painted", marked),
                ("as grey", cv2.cvtColor(marked, cv2.COLOR_RGB2GRAY)),
            ):
                r = measure_image(arr, name=name)
                counts[(kind, how)][r.status] += 1
                t, u = clean.mean_thickness_px, r.mean_thickness_px
                if r.status == "ok" and t and u and abs(u - t) > 0.1 * t:
                    wrong[(kind, how)] += 1
    print(f"{args.split}: {len(names)} captures; clean: {dict(clean_counts)}")
    for kind in kinds:
        for how in ("as grey", "painted"):
            c = counts[(kind, how)]
            print(
                f"  {kind:>10} {how:>8}: ok {c['ok']}, flagged {c['flagged']}, failed "
                f"{c['failed']}; ok off by > 10 % of the clean capture: {wrong[(kind, how)]}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
