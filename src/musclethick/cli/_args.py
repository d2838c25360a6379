"""Argument types and the parser class shared by the subcommands (argparse only here)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from musclethick.cli._errors import EXIT_USAGE

__all__ = [
    "Parser",
    "add_store_argument",
    "depth_mm_arg",
    "existing_dir",
    "existing_file",
    "fractions_arg",
    "mm_per_px_arg",
    "non_negative_int",
    "positive_float",
    "positive_int",
]


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line naming the option and the help to read."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")

    def parse_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def]
        """As argparse's, but arguments no command knows are named by the subcommand's parser
        (``musclethick export: error: ... (see 'musclethick export --help')``), not the top
        one's."""
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            self._parser_of(parsed).error(f"unrecognized arguments: {' '.join(unknown)}")
        if hasattr(parsed, "store_option"):  # add_store_argument: STORE or --store STORE
            store, option = parsed.store, parsed.store_option
            del parsed.store_option
            if store and option and Path(store).resolve() != Path(option).resolve():
                self._parser_of(parsed).error(
                    f"two study stores given ({store} and --store {option}); give one"
                )
            if not (store or option):
                self._parser_of(parsed).error(
                    "the following arguments are required: store (or --store STORE)"
                )
            parsed.store = store or option
        return parsed

    def _parser_of(self, parsed: argparse.Namespace) -> argparse.ArgumentParser:
        command = getattr(parsed, "command", None)
        for action in self._subparsers._group_actions if self._subparsers else ():
            choices = getattr(action, "choices", None) or {}
            if command in choices:
                return choices[command]
        return self


def add_store_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """The study store of a command that reads one: ``STORE``, or ``--store STORE`` as
    ``musclethick batch`` names it (:meth:`Parser.parse_args` takes either into
    ``args.store``)."""
    parser.add_argument("store", nargs="?", type=existing_file, help=help)
    parser.add_argument(
        "--store",
        dest="store_option",
        type=existing_file,
        metavar="STORE",
        help="the same, as 'musclethick batch' names it",
    )


def existing_file(text: str) -> str:
    """argparse type: the path of an existing file (a typo is refused before any work)."""
    path = Path(text)
    if path.is_file():
        return text
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; give a file")
    raise argparse.ArgumentTypeError(f"{text}: file not found; check the path")


def existing_dir(text: str) -> str:
    """argparse type: the path of an existing folder (a typo is refused before any work)."""
    path = Path(text)
    if path.is_dir():
        return text
    if path.exists():
        raise argparse.ArgumentTypeError(f"{text} is a file; give a folder")
    raise argparse.ArgumentTypeError(f"{text}: folder not found; check the path")


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _int_at_least(text: str, minimum: int, wanted: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {wanted}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    return _int_at_least(text, 1, "at least 1")


def non_negative_int(text: str) -> int:
    """argparse type: a whole number >= 0."""
    return _int_at_least(text, 0, "0 or more")


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


def fractions_arg(text: str) -> tuple[float, ...]:
    """argparse type: comma-separated fractions in [0, 1], each once."""
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of fractions: {text!r}") from None
    if not values or any(not 0 <= v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"fractions must lie in [0, 1]: {text!r}")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"repeated fraction in {text!r}: give each line once")
    return values
