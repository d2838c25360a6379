"""Stack the key figures of a study report into one PNG (the README's picture).

bash scripts/demo.sh   # writes out/demo/figures/ (musclethick report --figures)
python scripts/screenshot_report.py out/demo/figures docs/images/report_figures.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

KEY_FIGURES = ("trajectories_thickness_mm.png", "forest_thickness_mm.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("figures", help="folder written by 'musclethick report --figures'")
    parser.add_argument("out", help="PNG to write")
    args = parser.parse_args(argv)
    images = [Image.open(Path(args.figures) / name).convert("RGB") for name in KEY_FIGURES]
    width = max(image.width for image in images)
    sheet = Image.new("RGB", (width, sum(image.height for image in images)), "white")
    y = 0
    for image in images:
        sheet.paste(image, ((width - image.width) // 2, y))
        y += image.height
    sheet.save(args.out, optimize=True)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
