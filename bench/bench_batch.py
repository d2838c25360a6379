"""Batch throughput on the demo study: scans per second at 1 worker and at all cores.

    python bench/bench_batch.py [--method edges|model] [--workers N] [--subjects 4]

Makes the demo study from ``sample_images/`` in a temporary folder, measures it into a fresh
store once with 1 worker (in-process) and once with N worker processes (default: all cores),
and prints scans/s, the speed-up ratio and peak resident memory (coordinator and the largest
worker process). Worker start-up (spawn + imports, model loading) is included in the times,
as a user would see it.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
from pathlib import Path

from musclethick.study.batch import run_batch
from musclethick.study.demo import make_demo_study


def _peak_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux reports KiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--method",
        default="edges",
        choices=("edges", "model"),
        help="boundaries by the classical edge path or the shipped model (default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes of the second run (default: all cores)",
    )
    parser.add_argument(
        "--subjects",
        type=int,
        default=4,
        help="subjects of the demo study (2 legs x 3 weeks x 2 sites x 3 images each) "
        "(default: %(default)s)",
    )
    parser.add_argument("--source", help="source images (default: sample_images/)")
    parser.add_argument(
        "--dask", action="store_true", help="also time a dask LocalCluster with --workers workers"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="musclethick-bench-") as tmp:
        demo = make_demo_study(Path(tmp) / "demo", source=args.source, subjects=args.subjects)
        options = {
            "protocol": demo.protocol,
            "allocation": demo.allocation,
            "method": args.method,
            "progress": False,
        }
        rates = {}
        for workers in sorted({1, args.workers}):
            summary = run_batch(
                demo.root, store=Path(tmp) / f"w{workers}.sqlite", workers=workers, **options
            )
            rates[workers] = summary.scans_per_s
            print(
                f"workers={workers:>2}: {summary.n_measured} scans ({summary.n_failed} failed) "
                f"in {summary.elapsed_s:6.1f} s = {summary.scans_per_s:6.2f} scans/s"
            )
        if args.dask:
            import dask
            from distributed import Client, LocalCluster

            # the statistical profiler samples worker threads every 10 ms: off for timing
            dask.config.set({"distributed.worker.profile.enabled": False})
            with (
                LocalCluster(
                    n_workers=args.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                ) as cluster,
                Client(cluster) as client,
            ):
                summary = run_batch(
                    demo.root, store=Path(tmp) / "dask.sqlite", scheduler=client, **options
                )
            print(
                f"dask {args.workers} workers: {summary.n_measured} scans in "
                f"{summary.elapsed_s:6.1f} s = {summary.scans_per_s:6.2f} scans/s"
            )
        print(f"method={args.method}, cpu_count={os.cpu_count()}")
        if len(rates) == 2:
            print(
                f"speed-up {args.workers} workers / 1 worker: {rates[args.workers] / rates[1]:.2f}x"
            )
        print(
            f"peak RSS: coordinator {_peak_mib(resource.RUSAGE_SELF):.0f} MiB, "
            f"largest worker {_peak_mib(resource.RUSAGE_CHILDREN):.0f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
