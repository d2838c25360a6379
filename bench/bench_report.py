"""Time to build the study report (``musclethick report``) of a 2,000-scan store.

The store is a simulated within-subject study (:mod:`musclethick.study.simulate`): 56 subjects
x 2 legs x weeks 0/4/8 x 2 sites x 3 images = 2,016 scans, each a small PNG with one model
result; 5 % flagged, 1 % failed, 30 flagged scans reviewed. It is written once into
``--work`` and reused. Each run is a fresh ``musclethick report`` process (start-up and
imports included), timed from outside, then one in-process profile of where the time goes.

    python bench/bench_report.py --runs 3
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from musclethick.study.simulate import SimulatedStudy, simulate_images, write_store


def make_store(work: Path, subjects: int) -> Path:
    """The simulated store under ``work`` (written when absent)."""
    store = work / f"study_{subjects}.sqlite"
    if not store.is_file():
        start = time.perf_counter()
        images = simulate_images(SimulatedStudy(n_subjects=subjects), seed=1)
        write_store(images, work / f"scans_{subjects}", store, reviewed=30, seed=1)
        print(f"wrote {len(images)} scans into {store} in {time.perf_counter() - start:.0f} s")
    return store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=56, help="56 -> 2,016 scans")
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="timed 'musclethick report' processes; the median is printed (default: %(default)s)",
    )
    parser.add_argument(
        "--work",
        default=str(Path(tempfile.gettempdir()) / "bench_report"),
        help="folder for the simulated store (reused) and the report (default: %(default)s)",
    )
    parser.add_argument("--profile", action="store_true", help="also profile one build")
    args = parser.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    store = make_store(work, args.subjects)
    out = work / "report.html"
    command = [sys.executable, "-m", "musclethick", "report", str(store), "--out", str(out)]
    command += ["--protocol", "rt_failure_2024", "--overwrite"]
    times, cpu = [], []
    for _ in range(args.runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    load = os.getloadavg()[0]
    print(
        f"musclethick report, {args.subjects * 36} scans: wall median "
        f"{sorted(times)[len(times) // 2]:.1f} s ({', '.join(f'{t:.1f}' for t in times)}); CPU "
        f"median {sorted(cpu)[len(cpu) // 2]:.1f} s ({', '.join(f'{t:.1f}' for t in cpu)}); "
        f"load average {load:.1f} on {os.cpu_count()} cores; "
        f"report {out.stat().st_size / 1e6:.1f} MB"
    )
    if args.profile:
        from musclethick.reporting import build_report

        profile = cProfile.Profile()
        profile.enable()
        build_report(store, out, protocol="rt_failure_2024", overwrite=True)
        profile.disable()
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(30)
        print(text.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
