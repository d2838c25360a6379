"""Ruler calibration figures: the synthetic ruler corpus and the real capture layouts.

For every capture with a known scale it prints how the reader did: calibrated within 2 % of
the truth (confirmed), flagged ``calibration_unconfirmed``, and confirmed but off by more
than 2 % (must be zero: those would be ``ok`` results with wrong millimetres). "Before" is
the previous reader (10 mm between major ticks assumed, every result ``ok``).

Truth: ``tests/data/rulers/truth.csv`` (rendering parameters) and, for the real layouts in
``../shared/data``, the printed numbers read by hand (``tests/data/NOTICE.md``). The two
DL_Track layouts without printed numbers (800x600, 800x652) have no reference: they count
as flagged when unconfirmed, as wrong when confirmed.

``--rescaled N`` (default 300) adds N seeded copies of the real Telemed captures as screen
grabbers and viewers make them: scaled 0.4-3x (a third of them by up to 15 % more or less in
height), by one of five interpolations, a quarter each kept lossless or re-compressed as JPEG
quality 95, 70 or 40; their truth is the layout's hand-read scale over the height factor.

Usage: ``python bench/bench_calibration.py [--no-shared] [--rescaled N]`` (needs the OCR
engine, see README).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from musclethick.errors import CalibrationError  # noqa: E402
from musclethick.ocr import default_reader  # noqa: E402
from musclethick.ruler import ASSUMED_MAJOR_TICK_MM, read_ruler  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
#: mm per px read by hand from the printed numbers: (first, last number in mm) over the
#: rows of their ticks, per layout (see tests/data/NOTICE.md).
REAL_REFERENCES = {
    (660, 556): 60.0 / (508 - 43),  # Telemed Echo Blaster: "0" at row 43, "60" at row 508
    (1234, 688): 50.0 / (674 - 43),  # Telemed ArtUs: "0" at row 43, "50" at row 674
    (1234, 687): 50.0 / (674 - 43),
    (1074, 688): 50.0 / (674 - 43),
    (1665, 921): 50.0 / (804 - 94),  # Telemed SmartUs: "0" at row 94, "50" at row 804
}
#: Captures of those layouts at another depth setting.
REAL_EXCEPTIONS = {"img_00022.png": 60.0 / (676 - 43)}  # ArtUs at 6 cm: "0" 43, "60" 676


def _grey(path: Path | np.ndarray) -> np.ndarray:
    if isinstance(path, np.ndarray):
        return path
    return np.asarray(Image.open(path).convert("L"))


def rescaled(
    real: list[tuple[str, Path, float | None]], n: int, seed: int = 0
) -> list[tuple[str, np.ndarray, float | None]]:
    """``n`` seeded rescaled, re-compressed copies of ``real`` captures (module docstring)."""
    import cv2

    rng = np.random.default_rng(seed)
    modes = [cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_NEAREST]
    modes.append(cv2.INTER_LANCZOS4)
    out = []
    for k in range(n):
        name, path, truth = real[int(rng.integers(len(real)))]
        colour = cv2.imread(str(path), cv2.IMREAD_COLOR)
        sx = float(np.exp(rng.uniform(np.log(0.4), np.log(3.0))))
        sy = sx * float(rng.uniform(0.85, 1.15)) if rng.random() < 1 / 3 else sx
        rows, cols = colour.shape[:2]
        size = (max(8, round(cols * sx)), max(8, round(rows * sy)))
        small = cv2.resize(colour, size, interpolation=modes[int(rng.integers(len(modes)))])
        quality = int(rng.choice([0, 95, 70, 40]))
        if quality:
            _, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
            small = cv2.imdecode(data, cv2.IMREAD_COLOR)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        height = size[1] / rows
        out.append((f"{name}@{k}", grey, None if truth is None else truth / height))
    return out


def evaluate(items: list[tuple[str, Path | np.ndarray, float | None]], reader) -> dict[str, float]:
    n = len(items)
    within = flagged = wrong_ok = none = 0
    before_within = before_wrong = 0
    start = time.perf_counter()
    for _, path, truth in items:
        try:
            reading = read_ruler(_grey(path), reader=reader)
        except CalibrationError:
            none += 1
            continue
        old = ASSUMED_MAJOR_TICK_MM / reading.ticks.spacing_px
        if truth is not None:
            before_within += abs(old / truth - 1) <= 0.02
            before_wrong += abs(old / truth - 1) > 0.02
        else:
            before_wrong += 1  # an ok result without any reference: unknown, counted wrong
        if not reading.confirmed:
            flagged += 1
        elif truth is not None and abs(reading.mm_per_px / truth - 1) <= 0.02:
            within += 1
        else:
            wrong_ok += 1
    ms = 1000 * (time.perf_counter() - start) / max(n, 1)
    return {
        "n": n,
        "within": within,
        "flagged": flagged,
        "wrong_ok": wrong_ok,
        "none": none,
        "before_within": before_within,
        "before_wrong": before_wrong,
        "ms": ms,
    }


def report(title: str, r: dict[str, float]) -> None:
    n = r["n"]
    print(
        f"{title}: {n} captures | confirmed within 2 %: {r['within']} ({r['within'] / n:.0%}) | "
        f"flagged unconfirmed: {r['flagged']} ({r['flagged'] / n:.0%}) | confirmed but off "
        f"> 2 %: {r['wrong_ok']} | no ruler: {r['none']} | before: {r['before_within']} "
        f"within 2 %, {r['before_wrong']} ok results off or unchecked | {r['ms']:.0f} ms/capture"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-shared", action="store_true", help="synthetic corpus only")
    parser.add_argument(
        "--rescaled",
        type=int,
        default=300,
        metavar="N",
        help="seeded rescaled, re-compressed copies of the real Telemed captures (default 300)",
    )
    args = parser.parse_args(argv)
    reader = default_reader()
    if reader is None:
        print("no OCR engine: install tesseract-ocr and tesserocr (README)", file=sys.stderr)
    print(f"OCR: {reader.name if reader else 'none'}")
    corpus = ROOT / "tests" / "data" / "rulers"
    with (corpus / "truth.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    items = [(r["file"], corpus / r["file"], float(r["mm_per_px"])) for r in rows]
    report("synthetic corpus", evaluate(items, reader))
    labelled = [item for item, r in zip(items, rows, strict=True) if float(r["label_every_mm"])]
    report("  with printed numbers", evaluate(labelled, reader))
    if args.no_shared or not (SHARED / "dltrack_apo").is_dir():
        return 0
    real: list[tuple[str, Path, float | None]] = []
    unlabelled: list[tuple[str, Path, float | None]] = []
    for path in sorted((SHARED / "dltrack_apo" / "images").glob("*.png")):
        with Image.open(path) as img:
            size = img.size
        if size == (512, 512):
            continue  # no display, no ruler
        ref = REAL_EXCEPTIONS.get(path.name, REAL_REFERENCES.get(size))
        (real if ref is not None else unlabelled).append((path.name, path, ref))
    for path in sorted((SHARED / "unlabeled_gm_telemed").glob("*/*.jpg")):
        real.append((path.name, path, REAL_REFERENCES[(1665, 921)]))
    report("real Telemed captures (printed 0 and 50/60 mm)", evaluate(real, reader))
    report("real 800x600 / 800x652 captures (unlabelled ticks)", evaluate(unlabelled, reader))
    if args.rescaled:
        copies = rescaled(real, args.rescaled)
        report("  rescaled 0.4-3x and re-compressed copies of them", evaluate(copies, reader))
    return 0


if __name__ == "__main__":
    sys.exit(main())
