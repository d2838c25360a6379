"""Screenshots of the review widget on a tiny study store made from real sample scans.

Usage (needs the ``napari`` extra and a display; headless: ``xvfb-run -a``)::

    xvfb-run -a python scripts/screenshot_review.py [--scene edit|runner-up|pairs|fascicles]
                                                    [--out PNG]

Builds a study store in a temporary folder from three DL_Track captures in ``sample_images/``
(measured with the shipped model, or the edge method when no model is installed) and opens
the review widget as reviewer "demo" in a shown window (a hidden one gives black canvases).

``--scene edit`` (``docs/images/review.png``): rejects the first scan with a reason and moves
the deep boundary of the next by 6 px (an unsaved edit, so the live re-measurement shows).

``--scene runner-up`` (``docs/images/review_runner_up.png``): a flagged scan as the layer
model will record one. Until that model ships, nothing produces a runner-up pair, so the
script makes the case it is built for: the scan's deep boundary is put on the next band up
(:func:`musclethick.bands.next_band`, a wrong layer), the pair measured on the scan becomes
the runner-up (margin 0.4 nats) and the result is flagged ``ambiguous_layers``; the shot is
taken after one press of ``w``, the runner-up pair swapped in and re-measured.

``--scene pairs`` (``docs/images/review_pairs.png``): the store also holds the 660x556 capture
img_00309, which the shipped model doubts (``low_confidence``) and for which the measurement
offers pairs of the image's bands; the shot is taken after one press of ``w`` (the first pair
swapped in and re-measured; the status line says what the next press shows).

``--scene fascicles`` (``docs/images/review_fascicles.png``): the scans measured with
architecture; on the 800x600 capture the fascicle found nearest the left edge is deleted and
one is drawn by hand across the belly's centre (an unsaved edit: pennation angle and fascicle
length re-measured in the table).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCANS = (
    ("dltrack_800x652_img_00037.png", "S01", "L", 0),
    ("dltrack_800x600_img_00002.png", "S01", "R", 0),
    ("dltrack_telemed_1234x688_img_00005.png", "S02", "L", 4),
)
#: A capture the shipped model doubts, offered band pairs (``--scene pairs``).
DOUBTED = ("dltrack_telemed_660x556_img_00309.png", "S03", "L", 0)


def flag_with_runner_up(result):
    """``result`` as the layer model would record an ambiguous scan whose measured pair is the
    runner-up: its deep boundary on the next band up, the measured pair as runner-up."""
    from dataclasses import replace

    from musclethick.bands import next_band
    from musclethick.io import read
    from musclethick.measure import assemble_result
    from musclethick.types import LayerPair

    frame = next(
        f
        for f in read(result.path)
        if f.frame_index == result.frame_index and f.region_index == result.region_index
    )
    frame = replace(frame, calibration=result.calibration)
    wrong = next_band(
        frame.pixels, result.deep, side="deep", direction=-1, other=result.superficial
    ).with_source("model", result.deep.confidence)
    flagged = assemble_result(frame, result.superficial, wrong, method=result.method)
    pair = LayerPair(
        result.superficial.with_source("runner_up", result.superficial.confidence),
        result.deep.with_source("runner_up", result.deep.confidence),
        0.4,
    )
    return replace(
        flagged,
        status="flagged",
        flags=(*flagged.flags, "ambiguous_layers"),
        message="another layer pair is nearly as plausible (runner-up 0.40 nats less)",
        runner_up=pair,
    )


def build_store(
    folder: Path, *, runner_up: bool = False, architecture: bool = False, doubted: bool = False
) -> tuple[Path, str]:
    """Measure the sample scans into a new study store; returns its path and the method.

    With ``runner_up`` the first scan is flagged with a runner-up pair
    (:func:`flag_with_runner_up`); with ``architecture`` they are measured with it; with
    ``doubted`` :data:`DOUBTED` is measured too."""
    from dataclasses import replace

    from musclethick.errors import ModelError
    from musclethick.pipeline import MeasureSettings, get_model, measure_path
    from musclethick.study.store import StudyStore

    try:
        get_model(None)
        settings = MeasureSettings(method="model")
    except ModelError:
        settings = MeasureSettings(method="edges")
    settings = replace(settings, architecture=architecture)
    path = folder / "demo_study.sqlite"
    with StudyStore(path) as store:
        run = store.start_run(method=settings.method)
        scans = (*SCANS, DOUBTED) if doubted else SCANS
        for k, (name, subject, leg, week) in enumerate(scans):
            scan = REPO / "sample_images" / name
            scan_id = store.record_scan(scan, subject=subject, leg=leg, week=week, site="VL50")
            results = measure_path(scan, settings)
            if runner_up and k == 0:
                results = [flag_with_runner_up(results[0])]
            store.record_results(scan_id, results, run)
        store.finish_run(run, n_measured=len(scans), n_failed=0, n_skipped=0)
    return path, settings.method


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scene", choices=("edit", "runner-up", "pairs", "fascicles"), default="edit"
    )
    parser.add_argument("--out", help="PNG (default: docs/images/review[_runner_up].png)")
    parser.add_argument("--max-kb", type=int, default=500, help="shrink the PNG below this")
    args = parser.parse_args(argv)

    import numpy as np
    from PIL import Image
    from qtpy.QtWidgets import QApplication

    from musclethick._napari._app import make_review_viewer

    name = {
        "edit": "review.png",
        "runner-up": "review_runner_up.png",
        "pairs": "review_pairs.png",
        "fascicles": "review_fascicles.png",
    }[args.scene]
    args.out = args.out or str(REPO / "docs" / "images" / name)
    with tempfile.TemporaryDirectory() as tmp:
        store_path, method = build_store(
            Path(tmp),
            runner_up=args.scene == "runner-up",
            architecture=args.scene == "fascicles",
            doubted=args.scene == "pairs",
        )
        viewer, widget = make_review_viewer(store_path, reviewer="demo", show=True)
        viewer.window.resize(1500, 900)
        for _ in range(20):
            QApplication.processEvents()
        if args.scene == "edit":
            widget.reason_edit.setText("deep boundary on a fascicle")
            widget.reject()  # first scan rejected with a reason; the next one opens
            deep = viewer.layers["deep boundary"]
            deep.data = [(np.asarray(deep.data[0]) + np.array([6.0, 0.0]), "path")]
            deep.selected_data = {0}
            viewer.layers.selection.active = deep
            deep.mode = "direct"
        elif args.scene == "fascicles":
            rows = [i for i, it in enumerate(widget.session.items) if it.path.endswith(SCANS[1][0])]
            widget.queue_list.setCurrentRow(rows[0])
            editor = widget.editor
            layer = editor.fascicle_layer
            shapes = [np.asarray(d) for d in layer.data]
            leftmost = int(np.argmin([s[:, -1].min() for s in shapes]))
            before = editor.result.architecture.pennation_deg
            line = editor.result.architecture.line  # (x_sup, y_sup, x_deep, y_deep)
            cx, cy = 0.5 * (line[0] + line[2]), 0.5 * (line[1] + line[3])
            drawn = np.array([[cy + 25.0, cx - 70.0], [cy - 25.0, cx + 70.0]])
            layer.data = [*(s for i, s in enumerate(shapes) if i != leftmost), drawn]
            viewer.layers.selection.active = layer
            layer.mode = "direct"
            after = editor.result.architecture.pennation_deg
            print(f"pennation angle {before:.1f} deg; after the edit {after:.1f} deg")
        elif args.scene == "pairs":
            rows = [i for i, it in enumerate(widget.session.items) if it.path.endswith(DOUBTED[0])]
            widget.queue_list.setCurrentRow(rows[0])
            before = widget.editor.result.mean_thickness_mm
            print(f"doubted scan: {widget.model_label.text()}")
            viewer.window._qt_viewer._key_map_handler.press_key("w")  # the first pair offered
            after = widget.editor.result.mean_thickness_mm
            print(f"doubted scan: {before:.2f} mm; after w (first pair offered): {after:.2f} mm")
        else:
            flagged = [
                i for i, item in enumerate(widget.session.items) if item.path.endswith(SCANS[0][0])
            ]
            widget.queue_list.setCurrentRow(flagged[0])  # the scan with a runner-up pair
            press = viewer.window._qt_viewer._key_map_handler.press_key
            before = widget.editor.result.mean_thickness_mm
            press("w")  # the runner-up pair, re-measured
            after = widget.editor.result.mean_thickness_mm
            print(f"flagged scan: {before:.2f} mm; after w (runner-up pair): {after:.2f} mm")
        for _ in range(20):
            QApplication.processEvents()
        shot = viewer.screenshot(canvas_only=False, flash=False)
        print(f"store measured with method {method!r}; status: {widget.status.text()}")
        viewer.close()

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(shot[..., :3])
    image.save(out, optimize=True)
    while out.stat().st_size > args.max_kb * 1024:
        image = image.resize((int(image.width * 0.85), int(image.height * 0.85)), Image.LANCZOS)
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    print(f"wrote {out} ({image.width}x{image.height}, {out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
