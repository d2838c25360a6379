"""Screenshot of the review widget on a tiny study store made from real sample scans.

Usage (needs the ``napari`` extra and a display; headless: ``xvfb-run -a``)::

    xvfb-run -a python scripts/screenshot_review.py [--out docs/images/review.png]

Builds a study store in a temporary folder from three DL_Track captures in ``sample_images/``
(measured with the shipped model, or the edge method when no model is installed), opens the
review widget as reviewer "demo", rejects the first (flagged) scan with a reason, moves the
deep boundary of the second by 6 px (an unsaved edit, so the live re-measurement shows) and
saves the whole window.
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


def build_store(folder: Path) -> tuple[Path, str]:
    """Measure the sample scans into a new study store; returns its path and the method."""
    from musclethick.errors import ModelError
    from musclethick.pipeline import MeasureSettings, get_model, measure_path
    from musclethick.study.store import StudyStore

    try:
        get_model(None)
        settings = MeasureSettings(method="model")
    except ModelError:
        settings = MeasureSettings(method="edges")
    path = folder / "demo_study.sqlite"
    with StudyStore(path) as store:
        run = store.start_run(method=settings.method)
        for name, subject, leg, week in SCANS:
            scan = REPO / "sample_images" / name
            scan_id = store.record_scan(scan, subject=subject, leg=leg, week=week, site="VL50")
            store.record_results(scan_id, measure_path(scan, settings), run)
        store.finish_run(run, n_measured=len(SCANS), n_failed=0, n_skipped=0)
    return path, settings.method


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "images" / "review.png"))
    parser.add_argument("--max-kb", type=int, default=500, help="shrink the PNG below this")
    args = parser.parse_args(argv)

    import numpy as np
    from PIL import Image
    from qtpy.QtWidgets import QApplication

    from musclethick._napari._app import make_review_viewer

    with tempfile.TemporaryDirectory() as tmp:
        store_path, method = build_store(Path(tmp))
        viewer, widget = make_review_viewer(store_path, reviewer="demo", show=True)
        viewer.window.resize(1500, 900)
        widget.reason_edit.setText("deep boundary on a fascicle")
        widget.reject()  # first (flagged) scan rejected with a reason; the next one opens
        deep = viewer.layers["deep boundary"]
        deep.data = [(np.asarray(deep.data[0]) + np.array([6.0, 0.0]), "path")]
        deep.selected_data = {0}
        viewer.layers.selection.active = deep
        deep.mode = "direct"
        viewer.reset_view()
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
