"""Command-line interface: thin — parse, call, print.

Subcommands
-----------
measure      measure files, folders or globs and write results.csv (+ boundaries, overlays)
calibrate    calibrate a scanner display once: a calibration profile (TOML) + overlay PNG
train        train the segmentation model
batch        measure a whole study into a SQLite store (resumable)
export       thickness tables from a store (CSV / Excel / Parquet)
reliability  ICC, CV %, typical error, Bland-Altman
review       review a study store in napari (needs ``musclethick[napari]``)
view         open one scan with its results in napari (needs ``musclethick[napari]``)
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from musclethick import __version__

__all__ = ["get_arg_parser", "main"]

#: Above this many inputs the measure command shows a progress bar.
PROGRESS_MIN_INPUTS = 3


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return value


def _mm_per_px(text: str) -> float:
    from musclethick.plausible import check_mm_per_px

    try:
        return check_mm_per_px(_positive_float(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _depth_mm(text: str) -> float:
    from musclethick.plausible import check_depth_mm

    try:
        return check_depth_mm(_positive_float(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _fractions(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of fractions: {text!r}") from None
    if not values or any(not 0 <= v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"fractions must lie in [0, 1]: {text!r}")
    return values


def add_measure_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``musclethick measure`` (shared with commands that measure)."""
    calibration = parser.add_mutually_exclusive_group()
    calibration.add_argument(
        "--mm-per-px",
        type=_mm_per_px,
        help="pixel size in mm, 0.005-2 (overrides all other sources)",
    )
    calibration.add_argument(
        "--depth-mm",
        type=_depth_mm,
        help="depth of the imaging region in mm, 5-400 (mm per px = depth / region height)",
    )
    calibration.add_argument(
        "--calibration",
        metavar="PROFILE",
        help="calibration profile of the display (from 'musclethick calibrate'): applied to the "
        "captures whose layout matches it, others flagged profile_mismatch",
    )
    parser.add_argument(
        "--no-ruler", action="store_true", help="do not read the on-screen depth ruler"
    )
    parser.add_argument(
        "--frames",
        default="all",
        help="frames of cine loops: 'all', 'every:N', 'A-B' (inclusive) or 'A:B:S' (default all)",
    )
    parser.add_argument(
        "--best-frames", type=int, metavar="K", help="keep the K most confident frames per file"
    )
    parser.add_argument(
        "--method",
        choices=("model", "edges"),
        default="model",
        help="model + edge refinement (default) or classical edge detection only",
    )
    parser.add_argument("--model", help="model weights (default: the shipped model)")
    parser.add_argument(
        "--backend",
        choices=("auto", "opencv", "torch"),
        default="auto",
        help="model runtime: OpenCV runs the shipped ONNX export without torch (fast start-up); "
        "auto (default) uses it when the model card records one, else torch",
    )
    parser.add_argument(
        "--refine",
        action="store_true",
        help="snap the model's boundaries to the image gradient (sub-pixel edge refinement)",
    )
    parser.add_argument(
        "--lines",
        type=_fractions,
        default=(0.25, 0.5, 0.75),
        help="measurement lines as fractions of the width (default 0.25,0.5,0.75)",
    )
    parser.add_argument(
        "--no-perpendicular",
        action="store_true",
        help="skip thickness perpendicular to the deep aponeurosis",
    )


def settings_from_args(args: argparse.Namespace):
    """:class:`~musclethick.pipeline.MeasureSettings` from parsed measure arguments."""
    from musclethick.io.options import CalibrationOptions, FrameSelection
    from musclethick.pipeline import MeasureSettings

    profile = None
    if getattr(args, "calibration", None):
        from musclethick.calibration_profile import load_profile

        profile = load_profile(args.calibration)
    return MeasureSettings(
        method=args.method,
        line_fractions=tuple(args.lines),
        perpendicular=not args.no_perpendicular,
        calibration=CalibrationOptions(
            mm_per_px=args.mm_per_px,
            depth_mm=args.depth_mm,
            use_ruler=not args.no_ruler,
            profile=profile,
        ),
        frames=FrameSelection.parse(args.frames),
        best_frames=args.best_frames,
        model_path=args.model,
        refine=args.refine,
        backend=args.backend,
    )


def _cmd_measure(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from musclethick.errors import MusclethickError
    from musclethick.io import find_inputs
    from musclethick.overlay import write_overlay
    from musclethick.pipeline import measure_paths, share_cores_with_decoding
    from musclethick.report import RESULT_COLUMNS, boundary_record, result_rows

    try:
        settings = settings_from_args(args)
        paths = find_inputs(args.inputs)
    except (MusclethickError, ValueError) as error:
        print(f"musclethick measure: error: {error}", file=sys.stderr)
        return 2
    if not paths:
        print(
            f"musclethick measure: error: no input files in {' '.join(args.inputs)}",
            file=sys.stderr,
        )
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    overlays = Path(args.overlays) if args.overlays else None
    if overlays:
        overlays.mkdir(parents=True, exist_ok=True)
    records = []
    n_ok = n_flagged = n_failed = 0
    progress = tqdm(
        total=len(paths),
        unit="file",
        disable=args.quiet or len(paths) <= PROGRESS_MIN_INPUTS,
        file=sys.stderr,
    )
    try:
        share_cores_with_decoding()
        measured_iter = measure_paths(paths, settings)
        with out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS)
            writer.writeheader()
            for measured in measured_iter:
                for result in measured.results:
                    writer.writerows(result_rows(result))
                    if args.boundaries:
                        records.append(boundary_record(result))
                    if result.status == "failed":
                        n_failed += 1
                        progress.write(f"musclethick: {result.message}", file=sys.stderr)
                    else:
                        n_ok += result.status == "ok"
                        n_flagged += result.status == "flagged"
                if overlays is not None and measured.frames:
                    for frame, result in zip(measured.frames, measured.results, strict=True):
                        stem = Path(str(measured.path)).stem
                        name = f"{stem}_f{frame.frame_index:04d}_r{frame.region_index}.png"
                        write_overlay(overlays / name, frame, result)
                handle.flush()
                progress.update(1)
    except MusclethickError as error:  # e.g. the model cannot be loaded
        progress.close()
        print(f"musclethick measure: error: {error}", file=sys.stderr)
        return 2
    progress.close()
    if args.boundaries:
        Path(args.boundaries).parent.mkdir(parents=True, exist_ok=True)
        Path(args.boundaries).write_text(json.dumps({"frames": records}, indent=1))
    if not args.quiet:
        print(
            f"musclethick: {len(paths)} file(s): {n_ok} frame(s) ok, {n_flagged} flagged, "
            f"{n_failed} failed -> {out}",
            file=sys.stderr,
        )
    return 0 if (n_ok + n_flagged) > 0 else 1


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from datetime import datetime

    from musclethick.calibration_profile import profile_from_capture, save_profile
    from musclethick.errors import MusclethickError
    from musclethick.io import read_capture
    from musclethick.ocr import default_reader
    from musclethick.overlay import render_calibration_overlay, write_png

    prog = "musclethick calibrate"
    out = Path(args.out)
    overlay = Path(args.overlay) if args.overlay else out.with_suffix(".png")
    try:
        grey = read_capture(args.scan, frame=args.frame)
        reader = default_reader()
        profile, reading, box, message = profile_from_capture(
            grey,
            name=args.name or out.stem,
            scan=str(args.scan),
            reader=reader,
            tick_mm=args.tick_mm,
            mm_per_px=args.mm_per_px,
            depth_mm=args.depth_mm,
            confirmed_by=args.confirmed_by or "",
            created=datetime.now().isoformat(timespec="seconds"),
        )
        lines = [
            f"{args.scan}: {profile.mm_per_px:.6g} mm/px"
            if profile
            else f"{args.scan}: NO PROFILE",
            message[:150],
        ]
        if reader is None and profile is None:
            lines.append("no OCR engine: install tesseract-ocr and tesserocr (see README)")
        write_png(
            overlay,
            render_calibration_overlay(
                grey,
                box=box,
                mm_per_px=profile.mm_per_px
                if profile
                else (reading.mm_per_px if reading else None),
                lines=lines,
                reading=reading,
                ok=profile is not None,
            ),
        )
        if profile is None:
            print(f"{prog}: {args.scan}: {message} (overlay: {overlay})", file=sys.stderr)
            return 1
        save_profile(profile, out)
    except MusclethickError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    print(f"{prog}: {args.scan}: {message} -> {out} (check the overlay: {overlay})")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    if any(arg == "--from-store" or arg.startswith("--from-store=") for arg in args.train_args):
        from musclethick.train.from_store import main as train_main
    else:
        from musclethick.train import main as train_main

    return int(train_main(args.train_args) or 0)


def _napari_app(command: str):
    """The napari adapter's ``_app`` module, or ``None`` (with a message) without the extra."""
    import importlib.util

    try:
        if importlib.util.find_spec("napari") is None:
            raise ImportError("napari is not installed")
        from musclethick._napari import _app
    except ImportError as error:
        print(
            f"musclethick {command}: needs the napari extra: pip install 'musclethick[napari]' "
            f"({error})",
            file=sys.stderr,
        )
        return None
    return _app


def _cmd_review(args: argparse.Namespace) -> int:
    app = _napari_app("review")
    if app is None:
        return 2
    return int(app.open_review(args.store, reviewer=args.reviewer) or 0)


def _cmd_view(args: argparse.Namespace) -> int:
    app = _napari_app("view")
    if app is None:
        return 2
    return int(app.open_view(args.file) or 0)


def get_arg_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``musclethick`` argument parser with all subcommands.

    ``only="measure"`` leaves out the study commands (``batch``, ``export``, ``reliability``),
    whose modules take about 0.1 s to import: ``musclethick measure`` starts faster.
    """
    parser = argparse.ArgumentParser(
        prog="musclethick",
        description="Skeletal-muscle thickness on B-mode ultrasound.",
    )
    parser.add_argument("--version", action="version", version=f"musclethick {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    measure = sub.add_parser(
        "measure",
        help="measure files, folders or globs",
        description="Measure muscle thickness in DICOM files, videos and images.",
    )
    measure.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    measure.add_argument("--out", required=True, help="results table (CSV)")
    measure.add_argument("--boundaries", help="write boundary polylines (JSON)")
    measure.add_argument("--overlays", help="folder for one overlay PNG per frame")
    measure.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    add_measure_arguments(measure)
    measure.set_defaults(func=_cmd_measure)

    calibrate = sub.add_parser(
        "calibrate",
        help="calibrate a scanner display once: write a calibration profile",
        description="Read the on-screen ruler of one capture (printed numbers, ticks, depth "
        "read-out) and write a calibration profile (TOML) for 'measure/batch --calibration', "
        "with an overlay PNG to check it. When the ruler cannot be confirmed automatically, "
        "state the scale: --tick-mm, --depth-mm or --mm-per-px.",
    )
    calibrate.add_argument("scan", metavar="SCAN", help="one screen capture (image/video/DICOM)")
    calibrate.add_argument("--out", required=True, help="calibration profile to write (TOML)")
    calibrate.add_argument("--overlay", help="confirmation overlay PNG (default: OUT with .png)")
    calibrate.add_argument("--name", help="profile name (default: the file name of OUT)")
    calibrate.add_argument("--frame", type=int, default=0, help="frame of a cine loop (0)")
    calibrate.add_argument(
        "--confirmed-by", help="who checked the calibration (recorded in the profile)"
    )
    stated = calibrate.add_mutually_exclusive_group()
    stated.add_argument("--mm-per-px", type=_mm_per_px, help="pixel size in mm")
    stated.add_argument("--depth-mm", type=_depth_mm, help="depth of the imaging area in mm")
    stated.add_argument(
        "--tick-mm", type=_positive_float, help="mm between neighbouring ticks of the ruler"
    )
    calibrate.set_defaults(func=_cmd_calibrate)

    train = sub.add_parser(
        "train",
        help="train the segmentation model (see 'musclethick train --help')",
        add_help=False,
    )
    train.add_argument("train_args", nargs=argparse.REMAINDER)
    train.set_defaults(func=_cmd_train)

    if only != "measure":
        from musclethick.export import register_cli as register_export
        from musclethick.stats import register_cli as register_reliability
        from musclethick.study.batch import register_cli as register_batch

        register_batch(sub)
        register_export(sub)
        register_reliability(sub)

    review = sub.add_parser("review", help="review a study store in napari")
    review.add_argument("store", help="study store (SQLite) written by 'musclethick batch'")
    review.add_argument("--reviewer", required=True, help="your name or initials (provenance)")
    review.set_defaults(func=_cmd_review)

    view = sub.add_parser("view", help="open one scan and its results in napari")
    view.add_argument("file", help="DICOM, video or image")
    view.set_defaults(func=_cmd_view)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``musclethick`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        # the training command parses its own options (argparse.REMAINDER cannot pass on
        # arguments that start with "-")
        return _cmd_train(argparse.Namespace(train_args=argv[1:]))
    parser = get_arg_parser(only="measure" if argv[:1] == ["measure"] else None)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
