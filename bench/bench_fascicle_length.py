"""Fascicle length on rendered scans of known geometry (issue 14: within 1 %).

Renders the speckled scans of ``tests/architecture_scans.py`` (fascicles at 15-40 deg, flat,
tilted and curved deep aponeuroses) for several seeds, detects the fascicles, measures the
architecture and compares fascicle length and pennation with the closed-form line of each
render. Prints one line per geometry, the mean and largest length error and the share of
renders within 1 %.

    python bench/bench_fascicle_length.py --seeds 12
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from architecture_scans import GEOMETRIES, measure_render


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=12, help="renders per geometry (seeds 0..N-1)")
    ap.add_argument("--json", type=Path, help="write the per-render figures here")
    args = ap.parse_args(argv)
    rows = []
    for angle, tilt, curvature in GEOMETRIES:
        errs, pa_errs = [], []
        for seed in range(args.seeds):
            arch, _, (length_px, pennation, _) = measure_render(angle, tilt, curvature, seed=seed)
            if arch.fascicle_length_mm is None:
                err = pa_err = float("nan")
            else:
                err = arch.fascicle_length_mm / (0.1 * length_px) - 1.0
                pa_err = arch.pennation_deg - pennation
            errs.append(err)
            pa_errs.append(pa_err)
            rows.append(
                dict(
                    angle=angle,
                    tilt=tilt,
                    curvature=curvature,
                    seed=seed,
                    fl_error=err,
                    pa_error_deg=pa_err,
                    flags=list(arch.flags),
                )
            )
        e = 100 * np.asarray(errs)
        print(
            f"{angle:4.0f} deg, tilt {tilt:+.0f} deg, curvature {curvature:+.4f}: FL error "
            f"mean {np.nanmean(e):+.2f} %, largest {np.nanmax(np.abs(e)):.2f} %, "
            f"PA error mean {np.nanmean(pa_errs):+.3f} deg"
        )
    e = 100 * np.abs([r["fl_error"] for r in rows])
    missing = int(np.isnan(e).sum())
    e_ok = e[~np.isnan(e)]
    print(
        f"{len(rows)} renders: FL error mean {e_ok.mean():.2f} %, median {np.median(e_ok):.2f} %,"
        f" largest {e_ok.max():.2f} %; within 1 %: {int((e_ok <= 1.0).sum())} of {len(rows)}"
        f"; without a length: {missing}"
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
