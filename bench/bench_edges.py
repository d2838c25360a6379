"""Accuracy of the classical edge path on the DL_Track aponeurosis masks.

For every image of a split of ``../shared/data/dltrack_apo/split.csv`` (default ``val``):
crop the imaging region (``musclethick.region.find_imaging_region`` when available), run
``musclethick.refine.find_boundaries_edges``, shift the boundaries back to image
coordinates and compare with the inner edges of the hand-drawn mask
(``musclethick.masks.inner_edges_from_mask``):

* superficial / deep boundary MAE, px: mean ``|y_pred - y_mask|`` over the columns where
  both the prediction and the mask edge exist;
* ``refine_boundary`` started from the mask edges moved 3 px into the muscle: MAE and
  signed error after refinement (how well refinement recovers the annotated edge);
* thickness error at the mask's mid column (middle of the columns where both mask edges
  exist): ``|t_pred - t_mask|`` in px and in % of ``t_mask``.

Reports median / mean / 90th percentile overall and per image size, and the number of
images with a result and failures. Usage::

    python bench/bench_edges.py [--split val] [--limit N] [--json OUT]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from musclethick.errors import BoundaryNotFound
from musclethick.masks import boundary_from_edges, inner_edges_from_mask
from musclethick.refine import find_boundaries_edges, refine_boundary

try:  # another module of the package; fall back to the full image when absent
    from musclethick.region import find_imaging_region
except ImportError:  # pragma: no cover - depends on the checkout
    find_imaging_region = None

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dltrack_apo"


def get_arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="dltrack_apo folder")
    parser.add_argument("--split", default="val", help="split to evaluate (val / train / all)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    parser.add_argument("--json", type=Path, default=None, help="write per-image results here")
    parser.add_argument("--no-crop", action="store_true", help="do not crop the imaging region")
    return parser


def evaluate_image(image: np.ndarray, mask: np.ndarray, *, crop: bool) -> dict:
    """Run the edge path on one image and compare with its mask."""
    sup_m, deep_m = inner_edges_from_mask(mask)
    refined = _refine_from_mask(image, sup_m, deep_m)
    x0 = y0 = 0
    pixels = image
    if crop and find_imaging_region is not None:
        box = find_imaging_region(image)
        x0, y0 = box.x0, box.y0
        pixels = image[box.y0 : box.y1, box.x0 : box.x1]
    t = time.perf_counter()
    try:
        sup, deep = find_boundaries_edges(pixels)
    except BoundaryNotFound as error:
        return {"ok": False, "error": str(error), "ms": 1e3 * (time.perf_counter() - t), **refined}
    ms = 1e3 * (time.perf_counter() - t)
    cols = np.arange(mask.shape[1], dtype=np.float64)
    sup_p = sup.shifted(x0, y0).y_at(cols)
    deep_p = deep.shifted(x0, y0).y_at(cols)
    row: dict = {
        "ok": True,
        "ms": ms,
        "confidence": min(sup.confidence, deep.confidence),
        **refined,
    }
    for name, pred, ref in (("sup", sup_p, sup_m), ("deep", deep_p, deep_m)):
        both = np.isfinite(pred) & np.isfinite(ref)
        row[f"{name}_mae_px"] = (
            float(np.mean(np.abs(pred[both] - ref[both]))) if both.any() else None
        )
        row[f"{name}_bias_px"] = float(np.mean(pred[both] - ref[both])) if both.any() else None
    both_m = np.flatnonzero(np.isfinite(sup_m) & np.isfinite(deep_m))
    if both_m.size:
        mid = int(both_m[both_m.size // 2])
        t_ref = float(deep_m[mid] - sup_m[mid])
        t_pred = float(deep_p[mid] - sup_p[mid])
        row["thickness_ref_px"] = t_ref
        if np.isfinite(t_pred):
            row["thickness_err_px"] = abs(t_pred - t_ref)
            row["thickness_err_pct"] = 100.0 * abs(t_pred - t_ref) / t_ref
    return row


def _refine_from_mask(image: np.ndarray, sup_m: np.ndarray, deep_m: np.ndarray) -> dict:
    """``refine_boundary`` started from the mask edges moved 3 px into the muscle."""
    out: dict = {}
    for name, ref, side, offset in (
        ("sup", sup_m, "superficial", 3.0),
        ("deep", deep_m, "deep", -3.0),
    ):
        guess = boundary_from_edges(ref + offset, source="model")
        if guess is None:
            continue
        t = time.perf_counter()
        fit = refine_boundary(image, guess, side=side)
        out["refine_ms"] = out.get("refine_ms", 0.0) + 1e3 * (time.perf_counter() - t)
        both = np.isfinite(ref)
        pred = fit.y_at(np.arange(ref.size, dtype=np.float64))
        both &= np.isfinite(pred)
        out[f"refine_{name}_mae_px"] = float(np.mean(np.abs(pred[both] - ref[both])))
        out[f"refine_{name}_bias_px"] = float(np.mean(pred[both] - ref[both]))
    return out


def _stats(values: list[float]) -> str:
    if not values:
        return "       -        -        -"
    v = np.asarray(values)
    return f"{np.median(v):8.2f} {np.mean(v):8.2f} {np.percentile(v, 90):8.2f}"


def main(argv: list[str] | None = None) -> int:
    args = get_arg_parser().parse_args(argv)
    with open(args.data / "split.csv", newline="") as f:
        entries = [r for r in csv.DictReader(f) if args.split == "all" or r["split"] == args.split]
    if args.limit:
        entries = entries[: args.limit]
    crop = not args.no_crop and find_imaging_region is not None
    print(
        f"{len(entries)} images ({args.split}); imaging-region crop: "
        f"{'yes' if crop else 'NO (full image)'}"
    )
    results = []
    for entry in entries:
        image = cv2.imread(str(args.data / "images" / entry["image"]), cv2.IMREAD_GRAYSCALE)
        mask = cv2.imread(str(args.data / "masks" / entry["image"]), cv2.IMREAD_GRAYSCALE)
        row = evaluate_image(image, mask, crop=crop)
        row["image"] = entry["image"]
        row["size"] = f"{entry['width']}x{entry['height']}"
        results.append(row)
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in results:
        groups[row["size"]].append(row)
    groups = {"all": results, **dict(sorted(groups.items()))}
    keys = [
        ("sup_mae_px", "superficial MAE px"),
        ("deep_mae_px", "deep MAE px"),
        ("thickness_err_px", "thickness |err| px"),
        ("thickness_err_pct", "thickness |err| %"),
    ]
    for gname, rows in groups.items():
        ok = [r for r in rows if r["ok"]]
        print(
            f"\n[{gname}] images {len(rows)}, with a result {len(ok)}, "
            f"failures {len(rows) - len(ok)}"
        )
        print(f"  {'metric':22s} {'median':>8s} {'mean':>8s} {'p90':>8s}")
        for key, label in keys:
            vals = [r[key] for r in ok if r.get(key) is not None]
            print(f"  {label:22s} {_stats(vals)}   (n={len(vals)})")
        if gname == "all":
            ms = [r["ms"] for r in rows]
            print(f"  time per image: median {np.median(ms):.1f} ms, max {np.max(ms):.1f} ms")
            print("  refine_boundary from the mask edges moved 3 px into the muscle:")
            for name in ("sup", "deep"):
                mae = [r[f"refine_{name}_mae_px"] for r in rows if f"refine_{name}_mae_px" in r]
                bias = [r[f"refine_{name}_bias_px"] for r in rows if f"refine_{name}_bias_px" in r]
                print(
                    f"    {name}: MAE px median {np.median(mae):.2f}, p90 "
                    f"{np.percentile(mae, 90):.2f}; median signed error {np.median(bias):+.2f} px"
                )
            rms = [r["refine_ms"] for r in rows if "refine_ms" in r]
            print(f"    time for both boundaries: median {np.median(rms):.1f} ms")
            for name in ("sup", "deep"):
                b = [r[f"{name}_bias_px"] for r in ok if r.get(f"{name}_bias_px") is not None]
                if b:
                    print(f"  {name} median signed error (pred - mask): {np.median(b):+.2f} px")
            within = [
                r
                for r in ok
                if r.get("thickness_err_pct") is not None and r["thickness_err_pct"] <= 10
            ]
            print(f"  thickness within 10%: {len(within)}/{len(rows)} images")
            good = [r["confidence"] for r in within]
            bad = [r["confidence"] for r in ok if r not in within]
            if good and bad:
                print(
                    f"  confidence (min of the two) median: within 10% {np.median(good):.2f},"
                    f" others {np.median(bad):.2f}; flagged (< 0.5): "
                    f"{sum(c < 0.5 for c in good)}/{len(good)} vs "
                    f"{sum(c < 0.5 for c in bad)}/{len(bad)}"
                )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
