"""A display's ruler read once per process: how many reads it saves, and what it changes.

Every capture of ``../shared/data`` (DL_Track aponeurosis and fascicle images, Telemed
captures) is calibrated twice, in file order, as ``musclethick measure`` does it
(:func:`musclethick.io.image.plan_capture`, OCR on): once with every ruler read afresh, once
reusing the reading of an earlier capture of the same display (``ruler.same_display``, the
shipped rule). It prints the ruler reads and time of each, and every capture whose
calibration (mm per px, source, flags) differs between the two. A difference is either a
capture that OCR cannot confirm alone taking the confirmed reading of its display (the same
pixel size; expected), or a reading reused where a fresh read would give another (a bug).

Usage: ``python bench/bench_ruler_reuse.py [--json OUT]`` (needs ``../shared`` and the OCR
engine).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import musclethick.io.image as image_io  # noqa: E402
from musclethick.io.options import CalibrationOptions  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def _captures() -> list[Path]:
    found = sorted((SHARED / "dltrack_apo" / "images").glob("*.png"))
    found += sorted((SHARED / "dltrack_fasc" / "images").glob("*.png"))
    found += sorted(p for p in (SHARED / "unlabeled_gm_telemed").rglob("*.jp*g"))
    return found


def _calibrate_all(paths: list[Path], *, reuse: bool) -> tuple[list[tuple], int, float]:
    """Calibration of every capture, ruler reads and seconds (one fresh cache)."""
    image_io.SEEN_DISPLAYS.clear()
    reads = 0
    read = image_io.read_ruler
    recall = image_io.SEEN_DISPLAYS.recall

    def counted(*args, **kwargs):
        nonlocal reads
        reads += 1
        return read(*args, **kwargs)

    image_io.read_ruler = counted
    if not reuse:
        image_io.SEEN_DISPLAYS.recall = lambda *args: None
    out = []
    start = time.perf_counter()
    try:
        for path in paths:
            grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            _, calibration = image_io.plan_capture(grey, CalibrationOptions())
            out.append(
                (calibration.mm_per_px, calibration.source, tuple(sorted(calibration.flags)))
            )
    finally:
        image_io.read_ruler = read
        image_io.SEEN_DISPLAYS.recall = recall
        image_io.SEEN_DISPLAYS.clear()
    return out, reads, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    paths = _captures()
    if not paths:
        print(f"no captures under {SHARED}", file=sys.stderr)
        return 1
    fresh, n_fresh, s_fresh = _calibrate_all(paths, reuse=False)
    reused, n_reused, s_reused = _calibrate_all(paths, reuse=True)
    differ = [(path, a, b) for path, a, b in zip(paths, fresh, reused, strict=True) if a != b]
    confirmed_by_display = [
        d
        for d in differ
        if d[1][0] == d[2][0]
        and "calibration_unconfirmed" in d[1][2]
        and "calibration_unconfirmed" not in d[2][2]
    ]
    print(f"{len(paths)} captures, in file order")
    print(f"every ruler read afresh   {n_fresh} reads, {s_fresh:.1f} s")
    print(f"a display read once       {n_reused} reads, {s_reused:.1f} s")
    print(
        f"calibrations that differ  {len(differ)}: {len(confirmed_by_display)} unconfirmed "
        "alone, confirmed by their display at the same mm per px; "
        f"{len(differ) - len(confirmed_by_display)} other"
    )
    for path, a, b in differ:
        if (path, a, b) not in confirmed_by_display:
            print(f"  {path.relative_to(SHARED)}: fresh {a}, reused {b}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "captures": len(paths),
                    "reads_fresh": n_fresh,
                    "reads_reused": n_reused,
                    "seconds_fresh": s_fresh,
                    "seconds_reused": s_reused,
                    "differ": len(differ),
                    "confirmed_by_display": len(confirmed_by_display),
                    "other": [
                        [str(p), list(a), list(b)]
                        for p, a, b in differ
                        if (p, a, b) not in confirmed_by_display
                    ],
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
