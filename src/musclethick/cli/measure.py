"""``musclethick measure`` and ``musclethick calibrate``: options, output files, messages."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musclethick.cli._args import (
    depth_mm_arg,
    existing_file,
    fractions_arg,
    mm_per_px_arg,
    positive_float,
    positive_int,
)
from musclethick.cli._errors import EXIT_FAILURE, EXIT_INTERRUPTED

if TYPE_CHECKING:
    from musclethick.types import FrameResult

__all__ = [
    "add_measure_arguments",
    "cmd_calibrate",
    "cmd_measure",
    "register",
    "settings_from_args",
]

#: Above this many inputs the measure command shows a progress bar.
PROGRESS_MIN_INPUTS = 3


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
        type=existing_file,
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
        help="model: the layer model, with classical edge detection where it finds no pair "
        "(default); edges: classical edge detection only",
    )
    parser.add_argument(
        "--model", type=existing_file, help="model weights (default: the shipped model)"
    )
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
        help="also snap the model's boundaries to the image gradient (sub-pixel edge "
        "refinement; off by default: it measured no better on val)",
    )
    parser.add_argument(
        "--lines",
        type=fractions_arg,
        default=(0.25, 0.5, 0.75),
        help="measurement lines as fractions of the width (default 0.25,0.5,0.75)",
    )
    parser.add_argument(
        "--no-perpendicular",
        action="store_true",
        help="skip thickness perpendicular to the deep aponeurosis",
    )
    parser.add_argument(
        "--upside-down",
        action="store_true",
        help="the scans show the skin at the bottom (a display's up/down setting): turn every "
        "frame upright before measuring (the points in boundaries.json stay on the capture)",
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
        upside_down=bool(getattr(args, "upside_down", False)),
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
                args.overlays,
                option="--overlays",
                inputs=paths,
                overwrite=args.overwrite,
                folders=[p for p in args.inputs if Path(p).is_dir()],
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


def cmd_measure(args: argparse.Namespace) -> int:
    from musclethick._cores import available_cores
    from musclethick._workers import limit_threads, progress_bar, uses_worker_processes
    from musclethick.errors import InputError, UsageError
    from musclethick.io import find_inputs
    from musclethick.pipeline import measure_paths, share_cores_with_decoding
    from musclethick.qc import doubts_boundaries, unfamiliar_scanner, upside_down_study

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
    n_ok = n_flagged = n_failed = n_done = n_doubtful = n_px_only = n_fans = n_upside_down = 0
    px_only_files: dict[str, None] = {}  # in order, once each
    why_flagged: Counter[str] = Counter()  # flags of the flagged frames
    progress = progress_bar(
        total=len(paths),
        unit="file",
        disable=args.quiet or len(paths) <= PROGRESS_MIN_INPUTS,
        file=sys.stderr,
    )
    interrupted = False
    try:
        processes = args.workers or available_cores()
        if uses_worker_processes(len(paths), processes):
            limit_threads(1)  # one thread per process: the worker processes take the others
        else:
            share_cores_with_decoding()
        measured_files = measure_paths(
            paths, settings, processes=processes, keep_frames=outputs.overlays is not None
        )
        for measured in measured_files:
            outputs.add(measured)
            n_done += 1
            several = len(measured.results) > 1
            for result in measured.results:
                n_doubtful += doubts_boundaries(result.status, result.flags)
                if result.status == "failed":
                    n_failed += 1
                    progress.write(failure_line(result, several=several), file=sys.stderr)
                else:
                    n_ok += result.status == "ok"
                    n_flagged += result.status == "flagged"
                    if result.status == "flagged":
                        why_flagged.update(result.flags)
                    n_fans += result.fan is not None
                    n_upside_down += "upside_down" in result.flags
                    if result.mean_thickness_mm is None:  # no pixel size: px only
                        n_px_only += 1
                        px_only_files[result.path] = None
            progress.update(1)
    except KeyboardInterrupt:
        interrupted = True
    finally:  # also on an error: the rows of the files done are kept
        progress.close()
        outputs.close()
    if interrupted:
        print(
            f"musclethick measure: interrupted after {n_done} of {len(paths)} file(s); their "
            f"rows are in {outputs.out}"
            if n_done
            else f"musclethick measure: interrupted before the first of {len(paths)} file(s) "
            "was measured",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if not args.quiet:
        why = ", ".join(f"{flag} {n}" for flag, n in why_flagged.most_common())
        print(
            f"musclethick: {len(paths)} file(s): {n_ok} frame(s) ok, {n_flagged} flagged"
            + (f" ({why})" if why else "")
            + f", {n_failed} failed -> {outputs.out}",
            file=sys.stderr,
        )
        if n_px_only:
            files = list(px_only_files)
            more = f"; and {len(files) - 5} more" if len(files) > 5 else ""
            listed = "; ".join(files[:5]) + more
            print(
                f"musclethick: note: {n_px_only} of the {n_ok + n_flagged} frames measured have "
                f"no pixel size (thickness in px only; the message column says why): {listed}. "
                "Give their display a calibration profile ('musclethick calibrate SCAN --out "
                "display.toml', then --calibration display.toml); --mm-per-px sets one pixel size "
                "for EVERY file, replacing the ones read from rulers and files",
                file=sys.stderr,
            )
        if n_fans:
            print(
                f"musclethick: note: {n_fans} frame(s) are a convex probe's fan, measured along "
                "their beams laid side by side (thickness along the beam; the overlays show the "
                "beams, boundaries.json places the lines back in the fan)",
                file=sys.stderr,
            )
        turn = upside_down_study(n_ok + n_flagged, n_upside_down, turned=settings.upside_down)
        if turn:
            print(f"musclethick: note: {turn}", file=sys.stderr)
        unfamiliar = unfamiliar_scanner(
            n_ok + n_flagged + n_failed, n_doubtful, model_path=settings.model_path
        )
        if unfamiliar:
            print(
                f"musclethick: note: {unfamiliar}. To teach it: measure the scans into "
                "a study store ('musclethick batch'), review and correct 10-30 of them "
                "(docs/review.md), then 'musclethick train --from-store STORE --out "
                "models/mine --holdout 5' and measure again with '--model models/mine/model.pt'",
                file=sys.stderr,
            )
    return 0 if (n_ok + n_flagged) > 0 else EXIT_FAILURE


def cmd_calibrate(args: argparse.Namespace) -> int:
    from datetime import datetime

    from musclethick.calibration_profile import profile_from_capture, save_profile
    from musclethick.io import read_capture
    from musclethick.ocr import default_reader
    from musclethick.outputs import check_output_file
    from musclethick.overlay import render_calibration_overlay, write_png

    prog = "musclethick calibrate"
    # the profile and its overlay are replaced on each run; the scan is never written
    out = check_output_file(args.out, option="--out", inputs=[args.scan], overwrite=True)
    default = out.with_suffix(".png")
    if default.resolve() == Path(args.scan).resolve():  # a profile named after its scan
        default = out.with_name(f"{out.stem}_overlay.png")
    overlay = check_output_file(
        args.overlay or default,
        option="--overlay",
        inputs=[args.scan],
        overwrite=True,
        image=True,
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


def register(sub: Any) -> None:
    """Add the ``measure`` and ``calibrate`` subcommands to an argparse ``subparsers`` object."""
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
    from musclethick._workers import PROCESSES_MIN_FILES

    measure.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="processes measuring at once (default: one per core; fewer than "
        f"{PROCESSES_MIN_FILES} files are always measured in this process alone)",
    )
    add_measure_arguments(measure)
    measure.set_defaults(func=cmd_measure)

    calibrate = sub.add_parser(
        "calibrate",
        help="calibrate a scanner display once: write a calibration profile",
        description="Read the on-screen ruler of one capture (printed numbers, ticks, depth "
        "read-out) and write a calibration profile (TOML) for 'measure/batch --calibration', "
        "with an overlay PNG to check it. When the ruler cannot be confirmed automatically, "
        "state the scale: --tick-mm, --depth-mm or --mm-per-px.",
    )
    calibrate.add_argument(
        "scan",
        metavar="SCAN",
        type=existing_file,
        help="one screen capture (image/video/DICOM)",
    )
    calibrate.add_argument("--out", required=True, help="calibration profile to write (TOML)")
    calibrate.add_argument(
        "--overlay",
        help="confirmation overlay PNG (default: OUT with .png; OUT_overlay.png when that is "
        "the scan)",
    )
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
    calibrate.set_defaults(func=cmd_calibrate)


def failure_line(result: FrameResult, *, several: bool = False) -> str:
    """The one line printed for a ``failed`` result: the file (and frame, when the file has
    several), then what went wrong (the message without its own copy of the file name)."""
    where = f"{result.path} frame {result.frame_index}" if several else f"{result.path}"
    message = result.message.replace(f"{result.path}: ", "")
    return f"musclethick: {where}: {message}"
