"""Make the demo study from the real scans in sample_images/ (see musclethick.study.demo).

    python scripts/make_demo_study.py demo
    musclethick batch demo/study --protocol demo/protocol.toml --allocation demo/allocation.csv \
        --store demo/study.sqlite
    musclethick export demo/study.sqlite --format xlsx --out demo/tables.xlsx
    musclethick reliability demo/study.sqlite --between 0 4
"""

from __future__ import annotations

import argparse
import sys

from musclethick.study.demo import make_demo_study


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="output folder (the study goes to OUT/study)")
    parser.add_argument("--source", help="folder of real images (default: sample_images/)")
    parser.add_argument("--subjects", type=int, default=4, help="number of subjects")
    parser.add_argument("--reps", type=int, default=3, help="images per site and session")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    args = parser.parse_args(argv)
    demo = make_demo_study(
        args.out, source=args.source, subjects=args.subjects, reps=args.reps, seed=args.seed
    )
    print(f"Wrote {len(demo.files)} scans to {demo.root} from {len(demo.sources)} real images")
    print(f"  missing on purpose: {', '.join(demo.missing) or '-'}")
    print(f"  corrupt on purpose: {', '.join(demo.corrupt) or '-'}")
    print(f"  DICOM: {', '.join(demo.dicom) or '-'}")
    print(f"  protocol: {demo.protocol}\n  allocation: {demo.allocation}")
    print(
        f"Next: musclethick batch {demo.root} --protocol {demo.protocol} "
        f"--allocation {demo.allocation} --store {demo.root.parent / 'study.sqlite'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
