"""Upside-down studies: how often the ``upside_down`` flag is raised, and ``--upside-down``.

Usage::

    python bench/bench_upside_down.py [--data ../shared/data/dltrack_apo] [--split val|train|all]
                                      [--telemed ../shared/data/unlabeled_gm_telemed] [--json OUT]

Each labelled capture of the split is measured three times, as ``musclethick measure`` does
(imaging-region crop, ruler, model, QC): as it is; turned upside down as a display's up/down
setting shows it (its rows in reverse order); and that turned capture again with
``MeasureSettings(upside_down=True)`` (``--upside-down``), which turns it upright before
measuring. Printed: how many frames of each are flagged ``upside_down`` (the share the study
note of :func:`musclethick.qc.upside_down_study` is set from) and ``ok``; how far the thickness
measured with ``--upside-down`` lies from the capture's own, and on how many frames its doubts
about the boundaries differ (:func:`musclethick.qc.doubts_boundaries`; a ruler's printed
numbers turned upside down are not read, so the pixel size alone may be doubted); and whether
the boundaries placed back in the turned capture (``boundaries.json``) are the capture's own
turned over. Then the same captures turned by 90 degrees (a portrait export): how many fail,
and how many of those are flagged ``rotated``, against the captures as they are. With
``--telemed`` the 100 Telemed captures (a scanner absent from the training
data) are counted too, as they are.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from musclethick.api import measure_image  # noqa: E402
from musclethick.pipeline import MeasureSettings, measure_paths  # noqa: E402
from musclethick.qc import CALIBRATION_FLAGS, doubts_boundaries, upside_down_study  # noqa: E402
from musclethick.report import boundary_record  # noqa: E402


def _points(record: dict, side: str) -> np.ndarray | None:
    entry = record[side]
    return None if entry is None else np.asarray(entry["points"], dtype=np.float64)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "dltrack_apo"))
    p.add_argument("--split", choices=("val", "train", "all"), default="val")
    p.add_argument("--telemed", default=None, help="also count the Telemed captures as they are")
    p.add_argument("--json", default=None, help="write the figures as JSON")
    args = p.parse_args(argv)

    import cv2

    root = Path(args.data)
    rows = list(csv.DictReader(open(root / "split.csv")))
    if args.split != "all":
        rows = [r for r in rows if r["split"] == args.split]
    upright_settings = MeasureSettings()
    turned_settings = replace(upright_settings, upside_down=True)
    count = {k: 0 for k in ("as_is", "turned", "turned_back")}
    ok = dict(count)
    diffs: list[float] = []
    status_changed: list[str] = []
    pixel_size_only = 0  # frames whose added flags are about the pixel size alone
    worst_point_px = 0.0
    for r in rows:
        grey = cv2.imread(str(root / "images" / r["image"]), cv2.IMREAD_GRAYSCALE)
        turned = np.ascontiguousarray(grey[::-1])
        own = measure_image(grey, settings=upright_settings, name=r["image"])
        flipped = measure_image(turned, settings=upright_settings, name=r["image"])
        back = measure_image(turned, settings=turned_settings, name=r["image"])
        for key, result in (("as_is", own), ("turned", flipped), ("turned_back", back)):
            count[key] += "upside_down" in result.flags
            ok[key] += result.status == "ok"
        # the boundaries' doubts: a ruler's printed numbers turned upside down are not read, so
        # the pixel size of a turned capture may be unconfirmed where the capture's was not
        added = set(back.flags) - set(own.flags)
        pixel_size_only += bool(added) and added <= set(CALIBRATION_FLAGS)
        if doubts_boundaries(own.status, own.flags) != doubts_boundaries(back.status, back.flags):
            status_changed.append(f"{r['image']}: {own.flags} -> {back.flags}")
        if own.mean_thickness_px and back.mean_thickness_px:
            diffs.append(
                abs(back.mean_thickness_px - own.mean_thickness_px) / own.mean_thickness_px
            )
        a, b = boundary_record(own), boundary_record(back)
        for side in ("superficial", "deep"):
            pa, pb = _points(a, side), _points(b, side)
            if pa is None or pb is None or pa.shape != pb.shape:
                continue
            # the capture's rows turned over: y in the turned capture is (rows - 1) - y
            expected = np.column_stack([pa[:, 0], (grey.shape[0] - 1) - pa[:, 1]])
            worst_point_px = max(worst_point_px, float(np.max(np.abs(pb - expected))))
    n = len(rows)
    out = {
        "split": args.split,
        "n": n,
        "flagged_upside_down": count,
        "ok": ok,
        "turned_back_vs_own_mean_pct": 100 * float(np.mean(diffs)) if diffs else None,
        "turned_back_vs_own_max_pct": 100 * float(np.max(diffs)) if diffs else None,
        "status_changed": status_changed,
        "pixel_size_flags_added": pixel_size_only,
        "worst_point_px": worst_point_px,
        "study_note_as_is": bool(upside_down_study(n, count["as_is"])),
        "study_note_turned": bool(upside_down_study(n, count["turned"])),
        "study_note_turned_back": bool(upside_down_study(n, count["turned_back"], turned=True)),
    }
    print(f"{args.split}: {n} labelled captures")
    for key, what in (
        ("as_is", "as captured"),
        ("turned", "turned upside down (rows reversed)"),
        ("turned_back", "turned upside down, measured with --upside-down"),
    ):
        print(
            f"  {what}: flagged upside_down {count[key]} ({100 * count[key] / n:.1f} %), "
            f"ok {ok[key]}"
        )
    if diffs:
        print(
            "  --upside-down vs the capture as it is: thickness "
            f"{out['turned_back_vs_own_mean_pct']:.3f} % mean, "
            f"{out['turned_back_vs_own_max_pct']:.3f} % max over {len(diffs)} frames; "
            f"doubts about the boundaries changed on {len(status_changed)}; boundaries.json points "
            f"{worst_point_px:.3f} px at most from the capture's own turned over; "
            f"{pixel_size_only} frames gain a flag about their pixel size alone (a ruler's "
            "printed numbers turned upside down are not read)"
        )
    print(
        "  study note (qc.upside_down_study): as captured "
        f"{out['study_note_as_is']}, turned {out['study_note_turned']}, turned with "
        f"--upside-down {out['study_note_turned_back']}"
    )
    for line in status_changed[:10]:
        print(f"    doubts changed: {line}")
    rotated = {"failed": 0, "flagged_rotated": 0, "as_is_flagged_rotated": 0, "ok": 0}
    for r in rows:
        grey = cv2.imread(str(root / "images" / r["image"]), cv2.IMREAD_GRAYSCALE)
        portrait = measure_image(np.ascontiguousarray(np.rot90(grey)), name=r["image"])
        own = measure_image(grey, settings=upright_settings, name=r["image"])
        rotated["failed"] += portrait.status == "failed"
        rotated["ok"] += portrait.status == "ok"
        rotated["flagged_rotated"] += "rotated" in portrait.flags
        rotated["as_is_flagged_rotated"] += "rotated" in own.flags
    out["turned_by_90"] = rotated
    print(
        f"  turned by 90 degrees: failed {rotated['failed']}, of them flagged rotated "
        f"{rotated['flagged_rotated']}, ok {rotated['ok']}; as captured, flagged rotated "
        f"{rotated['as_is_flagged_rotated']}"
    )
    if args.telemed:
        paths = sorted(Path(args.telemed).rglob("*.jpg"))
        flagged = n_ok = 0
        for measured in measure_paths(paths, upright_settings, keep_frames=False):
            for result in measured.results:
                flagged += "upside_down" in result.flags
                n_ok += result.status == "ok"
        out["telemed"] = {"n": len(paths), "flagged_upside_down": flagged, "ok": n_ok}
        print(
            f"  Telemed, as captured: {len(paths)} captures, flagged upside_down {flagged}, "
            f"ok {n_ok}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
