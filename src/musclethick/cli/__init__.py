"""Command-line interface: thin — parse, call, print.

Every argparse parser and every message of the command line lives in this package; the domain
modules it calls take values and return results. Every subcommand runs through the one error
handler, :func:`run_command` (:mod:`musclethick.cli._errors`).

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

Modules: :mod:`.measure` (``measure``, ``calibrate``), :mod:`.train` (``train``),
:mod:`.study` (``batch``, ``export``, ``reliability``, ``report``), :mod:`.viewer`
(``review``, ``view``), :mod:`._args` (argument types), :mod:`._errors` (the error handler).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from musclethick import __version__
from musclethick.cli._args import (
    Parser,
    depth_mm_arg,
    mm_per_px_arg,
    positive_float,
    positive_int,
)
from musclethick.cli._errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, run_command

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "depth_mm_arg",
    "get_arg_parser",
    "main",
    "mm_per_px_arg",
    "positive_float",
    "positive_int",
    "run_command",
]


def get_arg_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``musclethick`` argument parser with all subcommands.

    ``only="measure"`` leaves out the study commands (``batch``, ``export``, ``reliability``,
    ``report``), whose modules take about 0.1 s to import: ``musclethick measure`` starts
    faster.
    """
    from musclethick.cli import measure, train, viewer

    parser = Parser(
        prog="musclethick",
        description="Skeletal-muscle thickness on B-mode ultrasound.",
    )
    parser.add_argument("--version", action="version", version=f"musclethick {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (for bug reports)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    measure.register(sub)
    train.register(sub)
    if only != "measure":
        from musclethick.cli import study

        study.register(sub)
    viewer.register(sub)
    for command in sub.choices.values():
        if "--debug" not in command._option_string_actions:
            command.add_argument(
                "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
            )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``musclethick`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    bare = [a for a in argv if a != "--debug"]
    if bare[:1] == ["train"]:
        # the training command parses its own options (argparse.REMAINDER cannot pass on
        # arguments that start with "-"); --debug, before or after "train", is this one's
        from musclethick.cli.train import train_command

        debug = len(bare) < len(argv)
        return run_command("train", lambda: train_command(bare[1:]), debug=debug)
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        parser = get_arg_parser(only="measure" if command == "measure" else None)
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error already printed
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C while the parser is built (its imports)
        if "--debug" in argv:
            raise
        print(
            f"musclethick {command}: interrupted" if command else "musclethick: interrupted",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return run_command(args.command, lambda: args.func(args), debug=args.debug)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
