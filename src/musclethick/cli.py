"""Command-line interface: thin — parse, call, print.

Subcommands
-----------
measure      measure files, folders or globs and write results.csv (+ boundaries, overlays)
calibrate    calibrate a scanner display once: a calibration profile (TOML) + overlay PNG
train        train the segmentation model
batch        measure a whole study into a SQLite store (resumable)
export       thickness tables from a store (CSV / Excel / Parquet)
reliability  ICC, CV %, typical error, Bland-Altman
report       the study's report: HTML with plots and the condition comparison
review       review a study store in napari (needs ``musclethick[napari]``)
view         open one scan with its results in napari (needs ``musclethick[napari]``)
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from musclethick import __version__

__all__ = [
    "depth_mm_arg",
    "get_arg_parser",
    "main",
    "mm_per_px_arg",
    "positive_float",
    "positive_int",
    "run_command",
]

#: Above this many inputs the measure command shows a progress bar.
PROGRESS_MIN_INPUTS = 3

#: Exit codes: 1 = the command failed, 2 = an option or argument cannot be used as given,
#: 130 = interrupted (Ctrl-C).
EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line naming the option and the help to read."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def run_command(command: str, func: Callable[[], int | None], *, debug: bool = False) -> int:
    """Run one command and turn every error into one line on stderr and an exit code.

    The one error handler of the command line: :class:`~musclethick.errors.UsageError` ->
    exit code 2; other :class:`~musclethick.errors.MusclethickError`, :class:`OSError` and
    unexpected exceptions -> 1; Ctrl-C -> 130. Each prints ``musclethick COMMAND: error:
    MESSAGE`` (the message names the file or option and the fix); ``debug=True`` re-raises
    instead, with the traceback.
    """
    from musclethick.errors import MusclethickError, UsageError

    prefix = f"musclethick {command}: error:"
    try:
        return int(func() or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"musclethick {command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UsageError as error:
        if debug:
            raise
        print(f"{prefix} {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except MusclethickError as error:
        if debug:
            raise
        print(f"{prefix} {_one_line(error)}", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as error:
        if debug:
            raise
        where = f"{error.filename}: " if error.filename else ""
        what = error.strerror or _one_line(error)
        print(f"{prefix} {where}{what}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as error:
        if debug:
            raise
        print(
            f"{prefix} unexpected {type(error).__name__}: {_one_line(error)} (a bug: please "
            "report it with the output of the same command run with --debug)",
            file=sys.stderr,
        )
        return EXIT_FAILURE


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def mm_per_px_arg(text: str) -> float:
    """argparse type: a plausible pixel size in mm (``plausible.check_mm_per_px``)."""
    from musclethick.plausible import check_mm_per_px

    try:
        return check_mm_per_px(positive_float(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def depth_mm_arg(text: str) -> float:
    """argparse type: a plausible imaging depth in mm."""
    from musclethick.plausible import check_depth_mm

    try:
        return check_depth_mm(positive_float(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _fractions(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of fractions: {text!r}") from None
    if not values or any(not 0 <= v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"fractions must lie in [0, 1]: {text!r}")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"repeated fraction in {text!r}: give each line once")
    return values


def add_measure_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``musclethick measure`` (shared with commands that measure)."""
    calibration = parser.add_mutually_exclusive_group()
    calibration.add_argument(
        "--mm-per-px",
        type=mm_per_px_arg,
        help="pixel size in mm, 0.005-2 (overrides all other sources)",
    )
    calibration.add_argument(
        "--depth-mm",
        type=depth_mm_arg,
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
        "--best-frames",
        type=positive_int,
        metavar="K",
        help="keep the K most confident frames per file",
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
    parser.add_argument(
        "--architecture",
        action="store_true",
        help="also measure pennation angle and fascicle length (fascicles found between the "
        "aponeuroses; results.csv gets their columns, boundaries.json the fascicle lines)",
    )


def settings_from_args(args: argparse.Namespace):
    """:class:`~musclethick.pipeline.MeasureSettings` from parsed measure arguments.

    Raises
    ------
    UsageError
        A frame selection that cannot be parsed or selects no frame.
    """
    from musclethick.errors import UsageError
    from musclethick.io.options import CalibrationOptions, FrameSelection
    from musclethick.pipeline import MeasureSettings

    try:
        frames = FrameSelection.parse(args.frames)
    except ValueError as error:
        raise UsageError(f"--frames {args.frames}: {error}") from None
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
        frames=frames,
        best_frames=args.best_frames,
        model_path=args.model,
        refine=args.refine,
        backend=args.backend,
        architecture=bool(getattr(args, "architecture", False)),
    )


class _MeasureOutputs:
    """The output files of one ``measure`` run, written as the results come.

    Rows go to ``OUT.partial`` (and ``BOUNDARIES.partial``) file by file, flushed after each
    input, and are renamed to their names when the run ends, also when it ends early (an
    error, Ctrl-C): rows already written are never lost. After ``kill -9`` they are in the
    ``.partial`` files.
    """

    def __init__(self, args: argparse.Namespace, paths: Sequence[Path]) -> None:
        import csv

        from musclethick.errors import UsageError
        from musclethick.outputs import (
            PartialFile,
            check_output_file,
            check_output_folder,
            relative_names,
        )
        from musclethick.report import result_columns

        out = check_output_file(args.out, option="--out", inputs=paths, overwrite=args.overwrite)
        boundaries = None
        if args.boundaries:
            boundaries = check_output_file(
                args.boundaries, option="--boundaries", inputs=paths, overwrite=args.overwrite
            )
            if boundaries.resolve() == out.resolve():
                raise UsageError(
                    f"--boundaries {args.boundaries}: is the same file as --out; give another name"
                )
        self.overlays = None
        if args.overlays:
            self.overlays = check_output_folder(
                args.overlays, option="--overlays", inputs=paths, overwrite=args.overwrite
            )
        self.names = relative_names(paths) if self.overlays is not None else {}
        self.out = out
        self.table = PartialFile(out, newline="")
        self.architecture = bool(getattr(args, "architecture", False))
        self.writer = csv.DictWriter(
            self.table.handle, fieldnames=result_columns(architecture=self.architecture)
        )
        self.writer.writeheader()
        self.boundaries = None if boundaries is None else PartialFile(boundaries)
        if self.boundaries is not None:
            self.boundaries.write('{"frames": [')
        self._first_record = True

    def add(self, measured) -> None:
        """Write the rows, boundaries and overlays of one measured input."""
        import json

        from musclethick.overlay import overlay_name, write_overlay
        from musclethick.report import boundary_record, result_rows

        for result in measured.results:
            self.writer.writerows(result_rows(result, architecture=self.architecture))
            if self.boundaries is not None:
                separator = "\n" if self._first_record else ",\n"
                self.boundaries.write(separator + json.dumps(boundary_record(result)))
                self._first_record = False
        if self.overlays is not None and measured.frames:
            relative = self.names[Path(measured.path)]
            for frame, result in zip(measured.frames, measured.results, strict=True):
                name = overlay_name(relative, frame.frame_index, frame.region_index)
                write_overlay(self.overlays / name, frame, result)
        self.table.flush()
        if self.boundaries is not None:
            self.boundaries.flush()

    def close(self) -> None:
        """Finish the files and give them their names."""
        self.table.commit()
        if self.boundaries is not None:
            self.boundaries.write("\n]}\n")
            self.boundaries.commit()


def _cmd_measure(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from musclethick.errors import InputError, UsageError
    from musclethick.io import find_inputs
    from musclethick.pipeline import measure_paths, share_cores_with_decoding

    settings = settings_from_args(args)
    try:
        paths = find_inputs(args.inputs)
    except InputError as error:
        raise UsageError(f"{error}; give existing files, folders or globs") from None
    if not paths:
        raise UsageError(
            f"no DICOM, video or image files in {' '.join(args.inputs)}; give files, folders "
            "or globs of scans"
        )
    outputs = _MeasureOutputs(args, paths)
    n_ok = n_flagged = n_failed = n_done = 0
    progress = tqdm(
        total=len(paths),
        unit="file",
        disable=args.quiet or len(paths) <= PROGRESS_MIN_INPUTS,
        file=sys.stderr,
    )
    interrupted = False
    try:
        share_cores_with_decoding()
        for measured in measure_paths(paths, settings):
            outputs.add(measured)
            n_done += 1
            for result in measured.results:
                if result.status == "failed":
                    n_failed += 1
                    progress.write(f"musclethick: {result.message}", file=sys.stderr)
                else:
                    n_ok += result.status == "ok"
                    n_flagged += result.status == "flagged"
            progress.update(1)
    except KeyboardInterrupt:
        interrupted = True
    finally:  # also on an error: the rows of the files done are kept
        progress.close()
        outputs.close()
    if interrupted:
        print(
            f"musclethick measure: interrupted after {n_done} of {len(paths)} file(s); their "
            f"rows are in {outputs.out}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if not args.quiet:
        print(
            f"musclethick: {len(paths)} file(s): {n_ok} frame(s) ok, {n_flagged} flagged, "
            f"{n_failed} failed -> {outputs.out}",
            file=sys.stderr,
        )
    return 0 if (n_ok + n_flagged) > 0 else EXIT_FAILURE


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from datetime import datetime

    from musclethick.calibration_profile import profile_from_capture, save_profile
    from musclethick.io import read_capture
    from musclethick.ocr import default_reader
    from musclethick.outputs import check_output_file
    from musclethick.overlay import render_calibration_overlay, write_png

    prog = "musclethick calibrate"
    # the profile and its overlay are replaced on each run; the scan is never written
    out = check_output_file(args.out, option="--out", inputs=[args.scan], overwrite=True)
    overlay = check_output_file(
        args.overlay or out.with_suffix(".png"),
        option="--overlay",
        inputs=[args.scan],
        overwrite=True,
    )
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
        f"{args.scan}: {profile.mm_per_px:.6g} mm/px" if profile else f"{args.scan}: NO PROFILE",
        message[:150],
    ]
    if reader is None and profile is None:
        lines.append("no OCR engine: install tesseract-ocr and tesserocr (see README)")
    write_png(
        overlay,
        render_calibration_overlay(
            grey,
            box=box,
            mm_per_px=profile.mm_per_px if profile else (reading.mm_per_px if reading else None),
            lines=lines,
            reading=reading,
            ok=profile is not None,
        ),
    )
    if profile is None:
        print(f"{prog}: {args.scan}: {message} (overlay: {overlay})", file=sys.stderr)
        return EXIT_FAILURE
    save_profile(profile, out)
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
    return int(app.open_review(args.store, reviewer=args.reviewer, blind=args.blind) or 0)


def _cmd_view(args: argparse.Namespace) -> int:
    app = _napari_app("view")
    if app is None:
        return 2
    from musclethick.io.options import CalibrationOptions

    calibration = CalibrationOptions(mm_per_px=args.mm_per_px, depth_mm=args.depth_mm)
    return int(app.open_view(args.file, calibration=calibration) or 0)


def get_arg_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``musclethick`` argument parser with all subcommands.

    ``only="measure"`` leaves out the study commands (``batch``, ``export``, ``reliability``),
    whose modules take about 0.1 s to import: ``musclethick measure`` starts faster.
    """
    parser = _Parser(
        prog="musclethick",
        description="Skeletal-muscle thickness on B-mode ultrasound.",
    )
    parser.add_argument("--version", action="version", version=f"musclethick {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (for bug reports)"
    )
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
    measure.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing output files (by default an existing --out, --boundaries or "
        "non-empty --overlays folder is an error)",
    )
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
    stated.add_argument("--mm-per-px", type=mm_per_px_arg, help="pixel size in mm")
    stated.add_argument("--depth-mm", type=depth_mm_arg, help="depth of the imaging area in mm")
    stated.add_argument(
        "--tick-mm", type=positive_float, help="mm between neighbouring ticks of the ruler"
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
        from musclethick.reporting import register_cli as register_report
        from musclethick.study.batch import register_cli as register_batch
        from musclethick.study.reliability import register_cli as register_reliability

        register_batch(sub)
        register_export(sub)
        register_reliability(sub)
        register_report(sub)

    review = sub.add_parser("review", help="review a study store in napari")
    review.add_argument("store", help="study store (SQLite) written by 'musclethick batch'")
    review.add_argument("--reviewer", required=True, help="your name or initials (provenance)")
    review.add_argument(
        "--blind", action="store_true", help="hide subject, week and condition while reviewing"
    )
    review.set_defaults(func=_cmd_review)

    view = sub.add_parser("view", help="open one scan and its results in napari")
    view.add_argument("file", help="DICOM, video or image")
    view_scale = view.add_mutually_exclusive_group()
    view_scale.add_argument("--mm-per-px", type=mm_per_px_arg, help="pixel size in mm, 0.005-2")
    view_scale.add_argument(
        "--depth-mm", type=depth_mm_arg, help="depth of the imaging region in mm, 5-400"
    )
    view.set_defaults(func=_cmd_view)
    for command in sub.choices.values():
        if "--debug" not in command._option_string_actions:
            command.add_argument(
                "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
            )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``musclethick`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        # the training command parses its own options (argparse.REMAINDER cannot pass on
        # arguments that start with "-")
        namespace = argparse.Namespace(train_args=argv[1:])
        return run_command("train", lambda: _cmd_train(namespace))
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = get_arg_parser(only="measure" if command == "measure" else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error already printed
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    return run_command(args.command, lambda: args.func(args), debug=args.debug)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
