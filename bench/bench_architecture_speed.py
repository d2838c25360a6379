"""Speed of the architecture step (pennation angle and fascicle length) per image.

Usage::

    python bench/bench_architecture_speed.py [--data ../shared/data] [-n 60] [--repeat 3]
                                             [--step DEG] [--json OUT]

On ``n`` scans of ``dltrack_fasc`` (decoded and cropped first, as ``musclethick measure``
does; boundaries by the shipped model): the time :func:`musclethick.architecture.add_architecture`
adds per image (wall and CPU time, median of ``--repeat`` passes; the filter spectra of a new
working size are computed on first use and cached, as in a batch of one scanner's captures),
and ``measure_frames`` end to end per image without and with ``architecture=True`` (run in
turn, ``--repeat`` pairs; the time added is the median of the pairs' differences).

Target (issue #14): architecture adds <= 10 ms per image on 2 cores; end to end <= 35 ms with it
on, thickness-only runs unchanged. Timings depend on the machine and its load: say which.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from musclethick.architecture import FascicleSettings, add_architecture  # noqa: E402
from musclethick.io import read  # noqa: E402
from musclethick.pipeline import MeasureSettings, get_model, measure_frames  # noqa: E402


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data",
        default=str(REPO.parent / "shared" / "data"),
        help="data folder holding dltrack_fasc/ (default: %(default)s)",
    )
    p.add_argument(
        "-n",
        type=int,
        default=60,
        help="scans timed, evenly spaced over dltrack_fasc's index (default: %(default)s)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="timed passes (and end-to-end pairs); the median is printed (default: %(default)s)",
    )
    p.add_argument("--step", type=float, default=None, help="direction step (deg) to try")
    p.add_argument("--json", help="write the printed figures as JSON to this path")
    args = p.parse_args(argv)

    root = Path(args.data) / "dltrack_fasc"
    names = [r["image"] for r in csv.DictReader(open(root / "index.csv", newline=""))]
    names = names[:: max(1, len(names) // args.n)][: args.n]
    frames = [next(iter(read(root / "images" / n))) for n in names]
    settings = MeasureSettings()
    model = get_model()
    results = list(measure_frames(frames, settings, model=model))  # warm-up, boundaries
    fascicle_settings = FascicleSettings()
    if args.step:
        fascicle_settings = replace(fascicle_settings, step_deg=args.step)

    def architecture_pass() -> tuple[float, float]:
        wall = cpu = 0.0
        for frame, result in zip(frames, results, strict=True):
            w, c = _timed(
                lambda f=frame, r=result: add_architecture(f, r, settings=fascicle_settings)
            )
            wall, cpu = wall + w, cpu + c
        return wall / len(frames), cpu / len(frames)

    first = architecture_pass()  # spectra computed for each new working size here
    passes = [architecture_pass() for _ in range(args.repeat)]
    arch_wall = statistics.median(p[0] for p in passes)
    arch_cpu = statistics.median(p[1] for p in passes)

    def end_to_end(architecture: bool) -> float:
        s = replace(settings, architecture=architecture)
        t0 = time.perf_counter()
        list(measure_frames(frames, s, model=model))
        return (time.perf_counter() - t0) / len(frames)

    # without and with in turn, so that a change of the machine's load hits both alike
    runs = [(end_to_end(False), end_to_end(True)) for _ in range(args.repeat)]
    plain = statistics.median(r[0] for r in runs)
    with_arch = statistics.median(r[1] for r in runs)
    added = statistics.median(r[1] - r[0] for r in runs)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{len(frames)} scans, {os.cpu_count()} cores, load average {load:.1f}")
    print(
        f"  architecture per image      {1000 * arch_wall:.1f} ms wall, "
        f"{1000 * arch_cpu:.1f} ms CPU (first pass, new working sizes: {1000 * first[0]:.1f} ms)"
    )
    print(
        f"  measure_frames per image    {1000 * plain:.1f} ms without, "
        f"{1000 * with_arch:.1f} ms with"
    )
    print(f"  added end to end            {1000 * added:.1f} ms per image (median of the pairs)")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "n": len(frames),
                    "load": load,
                    "architecture_ms": 1000 * arch_wall,
                    "architecture_cpu_ms": 1000 * arch_cpu,
                    "first_pass_ms": 1000 * first[0],
                    "measure_ms": 1000 * plain,
                    "measure_architecture_ms": 1000 * with_arch,
                    "added_ms": 1000 * added,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
