"""A scanner's display on a whole screen, small or enlarged: found, read and measured alike?

Usage::

    python bench/bench_screen_window.py [--src OTHER_CHECKOUT/src]
                                        [--data ../shared/data/dltrack_apo]

Each committed capture in ``sample_images/`` (the five screen captures and crops of the four
training displays) is shrunk to 0.3-0.8 of its size and put in the middle of a plain 1920 x 1080
and a 1000 x 800 screen, black and grey (40): a screen recording of the whole desktop, or a
viewer's window. Printed per background: how many imaging regions are the shrunk capture's own
(within 6 px), how many frames failed, how many thicknesses lie within 3 % of the shrunk
capture measured alone, and on how many the doubts about the boundaries are the same
(:func:`musclethick.qc.doubts_boundaries`).

Then every ``val`` capture of ``--data`` (when it exists) enlarged to fill the height of a black
3840 x 2160 screen (a display shown full screen on a 4K monitor, pillarboxed): of those whose
ruler is read as they are, on how many it is read on the 4K screen, and with a pixel size off
by more than 2 % (must be none); and how the statuses pair up. ``--src`` measures with another
checkout's code (e.g. a worktree of the commit before a change) instead of this one's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

NAMES = (
    "dltrack_telemed_660x556_img_00309.png",
    "dltrack_512x512_img_00053.png",
    "dltrack_800x652_img_00037.png",
    "dltrack_telemed_1234x688_img_00005.png",
    "dltrack_800x600_img_00002.png",
)
SCALES = (0.3, 0.4, 0.5, 0.6, 0.8)
SCREENS = ((1080, 1920), (800, 1000))


def main(argv: list[str] | None = None) -> int:
    import argparse

    import cv2

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--src", default=str(REPO / "src"), help="the musclethick code to measure with")
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "dltrack_apo"))
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(args.src).resolve()))

    import musclethick
    from musclethick.qc import doubts_boundaries
    from musclethick.region import find_imaging_region

    print(f"musclethick from {Path(musclethick.__file__).parent}")
    for background in (0, 40):
        n = box_ok = failed = thick_ok = same_doubt = 0
        for name in NAMES:
            grey = cv2.imread(str(REPO / "sample_images" / name), cv2.IMREAD_GRAYSCALE)
            for scale in SCALES:
                small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                own_box = find_imaging_region(small)
                alone = musclethick.measure_image(small)
                for rows, cols in SCREENS:
                    screen = np.full((rows, cols), background, np.uint8)
                    y, x = (rows - small.shape[0]) // 2, (cols - small.shape[1]) // 2
                    screen[y : y + small.shape[0], x : x + small.shape[1]] = small
                    box = find_imaging_region(screen)
                    shown = musclethick.measure_image(screen)
                    off = max(
                        abs(box.x0 - x - own_box.x0),
                        abs(box.y0 - y - own_box.y0),
                        abs(box.x1 - x - own_box.x1),
                        abs(box.y1 - y - own_box.y1),
                    )
                    n += 1
                    box_ok += off <= 6
                    failed += shown.status == "failed"
                    a, b = alone.mean_thickness_px, shown.mean_thickness_px
                    thick_ok += a is not None and b is not None and abs(b - a) <= 0.03 * a
                    same_doubt += doubts_boundaries(shown.status, shown.flags) == doubts_boundaries(
                        alone.status, alone.flags
                    )
        print(
            f"background {background}: {n} screens, region right {box_ok}, failed {failed}, "
            f"thickness within 3 % {thick_ok}, same doubts {same_doubt}"
        )
    split = Path(args.data) / "split.csv"
    if split.exists():
        _on_a_4k_screen(Path(args.data))
    return 0


def _on_a_4k_screen(data: Path) -> None:
    import csv
    from collections import Counter

    import cv2

    import musclethick

    names = [r["image"] for r in csv.DictReader(open(data / "split.csv")) if r["split"] == "val"]
    with_ruler = read = wrong = 0
    pairs: Counter[tuple[str, str]] = Counter()
    for name in names:
        grey = cv2.imread(str(data / "images" / name), cv2.IMREAD_GRAYSCALE)
        own = musclethick.measure_image(grey, name=name)
        f = min(3840 / grey.shape[1], 2160 / grey.shape[0])
        big = cv2.resize(
            grey, (round(grey.shape[1] * f), round(grey.shape[0] * f)), cv2.INTER_LINEAR
        )
        screen = np.zeros((2160, 3840), np.uint8)
        y, x = (2160 - big.shape[0]) // 2, (3840 - big.shape[1]) // 2
        screen[y : y + big.shape[0], x : x + big.shape[1]] = big
        shown = musclethick.measure_image(screen, name=name)
        pairs[(own.status, shown.status)] += 1
        if own.calibration.source != "ruler":
            continue
        with_ruler += 1
        if shown.calibration.source == "ruler":
            read += 1
            truth = own.calibration.mm_per_px / (big.shape[0] / grey.shape[0])
            wrong += abs(shown.calibration.mm_per_px - truth) > 0.02 * truth
    print(
        f"val enlarged onto a 4K screen: {len(names)} captures; ruler read on {read} of the "
        f"{with_ruler} read as they are, pixel size off by > 2 % on {wrong}; statuses (as they "
        f"are -> on the screen): {dict(sorted(pairs.items()))}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
