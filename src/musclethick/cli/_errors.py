"""The one error handler of the command line: typed errors -> one line on stderr + exit code.

Every subcommand runs through :func:`run_command` (``musclethick.cli.main`` calls it), so the
conventions live here once: :class:`~musclethick.errors.UsageError` -> exit code 2; other
:class:`~musclethick.errors.MusclethickError`, :class:`OSError` and unexpected exceptions -> 1;
Ctrl-C (or SIGTERM) -> 130. Each prints ``musclethick COMMAND: error: MESSAGE`` (the message
names the file or option and the fix); with ``--debug`` the error is raised again, with its
traceback.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_USAGE", "one_line", "run_command"]

#: Exit codes: 1 = the command failed, 2 = an option or argument cannot be used as given,
#: 130 = interrupted (Ctrl-C).
EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


#: What to do after an interrupted command, for the commands that resume.
RESUME_HINTS = {"batch": " (what was measured is kept: run the same command again to resume)"}


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a cluster's time limit) stops the command as Ctrl-C does: the
    results written so far are kept, workers are stopped, the run is marked interrupted."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave the signal alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def one_line(text: object) -> str:
    """``text`` on one line: its lines stripped and joined by spaces."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def run_command(command: str, func: Callable[[], int | None], *, debug: bool = False) -> int:
    """Run one command and turn every error into one line on stderr and an exit code.

    The one error handler of the command line: :class:`~musclethick.errors.UsageError` ->
    exit code 2; other :class:`~musclethick.errors.MusclethickError`, :class:`OSError` and
    unexpected exceptions -> 1; Ctrl-C (or SIGTERM) -> 130. Each prints ``musclethick
    COMMAND: error: MESSAGE`` (the message names the file or option and the fix);
    ``debug=True`` re-raises instead, with the traceback.
    """
    from musclethick.errors import MusclethickError, UsageError

    prefix = f"musclethick {command}: error:"
    try:
        with _terminate_as_interrupt():
            return int(func() or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"musclethick {command}: interrupted{RESUME_HINTS.get(command, '')}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UsageError as error:
        if debug:
            raise
        print(f"{prefix} {one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except MusclethickError as error:
        if debug:
            raise
        print(f"{prefix} {one_line(error)}", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as error:
        if debug:
            raise
        where = f"{error.filename}: " if error.filename else ""
        what = error.strerror or one_line(error)
        print(f"{prefix} {where}{what}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as error:
        if debug:
            raise
        print(
            f"{prefix} unexpected {type(error).__name__}: {one_line(error)} (a bug: please "
            "report it with the output of the same command run with --debug)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
