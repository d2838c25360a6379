"""Review throughput: time from a key press to the next scan drawn on the canvas.

    xvfb-run -a python bench/bench_review.py [--scans 12] [--image sample_images/...png]

Makes a study store of ``--scans`` copies of an 800x600 capture (DL_Track sample; each copy
its own file, measured with the edge method at 0.1 mm/px; every result gets a runner-up pair,
the deep edge 30 px higher, as the layer model records one), opens the review widget in a
shown napari window (1500 x 900) and presses the review keys as a reviewer would, timing
from the key press to the end of the next canvas draw (vispy's ``draw`` event):

* ``n`` (next scan), with the next scans' frames read ahead (as shipped) and without;
* ``w`` (swap to the runner-up pair, re-measured) and ``Shift-Down`` (deep boundary to the
  next band down) on the scan shown.

Prints the median and worst wall-clock times and the median CPU time of this process (all its
threads: napari draws with software OpenGL under Xvfb) in ms, and the load average: on a busy
machine the wall-clock time grows with the load, the CPU time much less. The aim for ``n`` is
< 150 ms on 2 cores for an 800x600 capture.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGE = REPO / "sample_images" / "dltrack_800x600_img_00002.png"


def build_store(folder: Path, image: Path, n: int) -> Path:
    """A store with ``n`` copies of ``image`` measured by the edge method, with runner-ups."""
    from musclethick.io.options import CalibrationOptions
    from musclethick.pipeline import MeasureSettings, measure_path
    from musclethick.study.store import StudyStore
    from musclethick.types import LayerPair

    settings = MeasureSettings(method="edges", calibration=CalibrationOptions(mm_per_px=0.1))
    (template,) = measure_path(image, settings)
    if template.status == "failed":
        raise SystemExit(f"{image}: the edge method found no boundaries ({template.message})")
    path = folder / "bench.sqlite"
    with StudyStore(path) as store:
        for k in range(n):
            copy = folder / f"S{k:02d}_L_w0_VL50.png"
            shutil.copyfile(image, copy)
            result = replace(
                template,
                path=str(copy),
                runner_up=LayerPair(
                    template.superficial.with_source("runner_up", 0.5),
                    template.deep.shifted(0.0, -30.0).with_source("runner_up", 0.5),
                    0.3,
                ),
            )
            scan_id = store.record_scan(copy, subject=f"S{k:02d}", leg="L", week=0, site="VL50")
            store.record_results(scan_id, [result], None)
    return path


def time_key(viewer, key: str, drawn: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Milliseconds from pressing ``key`` to the end of the next canvas draw (wall-clock and
    the CPU time of this process, all its threads, software OpenGL included), and until the
    key's Python work returned (layers updated, before napari draws)."""
    from qtpy.QtWidgets import QApplication

    handler = viewer.window._qt_viewer._key_map_handler
    before = len(drawn)
    t0, c0 = time.perf_counter(), time.process_time()
    if not handler.press_key(key):
        raise SystemExit(f"{key} is not bound")
    handler.release_key(key)
    handled = time.perf_counter()
    deadline = t0 + 10.0
    while len(drawn) == before or drawn[-1][0] < t0:
        QApplication.processEvents()
        if time.perf_counter() > deadline:
            raise SystemExit(f"no draw within 10 s of pressing {key}")
    time.sleep(0.3)  # a reviewer looks before pressing again (lets the read-ahead run)
    QApplication.processEvents()
    return (
        (drawn[-1][0] - t0) * 1000.0,
        (drawn[-1][1] - c0) * 1000.0,
        (handled - t0) * 1000.0,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scans",
        type=int,
        default=12,
        help="scans in the study store, each a copy of --image (default: %(default)s)",
    )
    parser.add_argument(
        "--image",
        type=Path,
        default=IMAGE,
        help="capture copied into the store (default: sample_images/dltrack_800x600_img_00002.png)",
    )
    args = parser.parse_args(argv)

    from qtpy.QtWidgets import QApplication

    from musclethick._napari._app import make_review_viewer

    with tempfile.TemporaryDirectory(prefix="musclethick-bench-review-") as tmp:
        store = build_store(Path(tmp), args.image, args.scans)
        viewer, widget = make_review_viewer(store, reviewer="bench", show=True)
        viewer.window.resize(1500, 900)
        scene = viewer.window._qt_viewer.canvas._scene_canvas
        drawn: list[tuple[float, float]] = []
        scene.events.draw.connect(
            lambda event: drawn.append((time.perf_counter(), time.process_time())),
            position="last",
        )
        for _ in range(30):  # let the window settle and draw the first scan
            QApplication.processEvents()
            time.sleep(0.02)
        shape = widget.editor.frame.shape
        print(f"{args.scans} scans of {args.image.name}: frames of {shape[1]}x{shape[0]} px")

        half = max(args.scans // 2 - 1, 1)
        ahead = [time_key(viewer, "n", drawn) for _ in range(half)]
        prefetch = widget.session.prefetch
        widget.session.prefetch = lambda: None  # type: ignore[method-assign]
        widget.session._frames.clear()
        cold = [time_key(viewer, "n", drawn) for _ in range(half)]
        widget.session.prefetch = prefetch  # type: ignore[method-assign]
        swaps = [time_key(viewer, "w", drawn) for _ in range(6)]
        band = []
        for key in ("Shift-Down", "Shift-Up") * 3:
            before = widget.editor.result
            try:
                band.append(time_key(viewer, key, drawn))
            except SystemExit:
                print(f"{key}: {widget.status.text()}")
            if widget.editor.result is not before:
                widget.undo()
        viewer.close()

    def line(name: str, values: list[tuple[float, float, float]]) -> str:
        wall, cpu, handled = (statistics.median(v[i] for v in values) for i in range(3))
        worst = max(v[0] for v in values)
        return (
            f"{name:<42} drawn: median {wall:5.0f} ms (worst {worst:4.0f}, CPU {cpu:4.0f})"
            f"; key handled: {handled:4.0f} ms   (n={len(values)})"
        )

    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} cores while timing")

    print(line("n -> next scan drawn (frames read ahead)", ahead))
    print(line("n -> next scan drawn (no read-ahead)", cold))
    print(line("w -> runner-up pair re-measured and drawn", swaps))
    if band:
        print(line("Shift-Down/Up -> next band found and drawn", band))
    return 0


if __name__ == "__main__":
    sys.exit(main())
