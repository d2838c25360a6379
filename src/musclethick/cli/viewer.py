"""``musclethick review`` and ``musclethick view``: the napari viewer (``musclethick[napari]``)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from musclethick.cli._args import add_store_argument, depth_mm_arg, existing_file, mm_per_px_arg

__all__ = ["cmd_review", "cmd_view", "display_problem", "register", "x_server_answers"]


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


def display_problem(environ: dict[str, str] | None = None, platform: str = sys.platform) -> str:
    """Why a window cannot open here, or ``""``: on Linux, no X or Wayland display named in the
    environment, or an X display that no server answers at (:func:`x_server_answers`); Qt
    would otherwise abort the process (exit 134) with a page of plugin messages. A Wayland
    display, or ``QT_QPA_PLATFORM`` set, is taken as the user's choice."""
    env = os.environ if environ is None else environ
    if not platform.startswith("linux") or env.get("QT_QPA_PLATFORM") or env.get("WAYLAND_DISPLAY"):
        return ""
    display = env.get("DISPLAY", "")
    if not display:
        return "no display to open a window on (DISPLAY is not set)"
    if not x_server_answers(display):
        return f"no X server answers at DISPLAY={display} (a stale setting, or ssh without -X)"
    return ""


def x_server_answers(display: str, timeout_s: float = 1.0) -> bool:
    """Whether an X server accepts a connection at ``display`` (``[host]:N[.S]``): the local
    socket (abstract or in ``/tmp/.X11-unix``) for ``:N`` and ``unix:N``, TCP port 6000 + N
    otherwise (ssh's X forwarding: ``localhost:10``). A display it cannot parse counts as
    answering (Qt decides)."""
    import socket

    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return True
    if host in ("", "unix"):
        for address in (f"\0/tmp/.X11-unix/X{number}", f"/tmp/.X11-unix/X{number}"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout_s)
                try:
                    sock.connect(address)
                    return True
                except OSError:
                    continue
        return False
    try:
        with socket.create_connection((host, 6000 + int(number)), timeout=timeout_s):
            return True
    except OSError:
        return False


def _viewer_app(command: str):
    """The napari adapter's ``_app`` module, or ``None`` (with a one-line message) without the
    extra or without a display."""
    app = _napari_app(command)
    if app is None:
        return None
    problem = display_problem()
    if problem:
        print(
            f"musclethick {command}: {problem}: run it on a desktop, through X forwarding "
            "(ssh -X), or under a virtual display (xvfb-run -a musclethick ...)",
            file=sys.stderr,
        )
        return None
    return app


def cmd_review(args: argparse.Namespace) -> int:
    app = _viewer_app("review")
    if app is None:
        return 2
    return int(app.open_review(args.store, reviewer=args.reviewer, blind=args.blind) or 0)


def cmd_view(args: argparse.Namespace) -> int:
    app = _viewer_app("view")
    if app is None:
        return 2
    from musclethick.io.options import CalibrationOptions

    calibration = CalibrationOptions(mm_per_px=args.mm_per_px, depth_mm=args.depth_mm)
    return int(app.open_view(args.file, calibration=calibration) or 0)


def register(sub: Any) -> None:
    """Add the ``review`` and ``view`` subcommands to an argparse ``subparsers`` object."""
    review = sub.add_parser(
        "review",
        help="review a study store in napari",
        description="Review a study store in napari: flagged and failed results first, then "
        "the repeats of sessions whose images disagree (repeats_disagree); accept, "
        "reject or correct each, with your name and the time kept beside the model's result "
        "(needs the napari extra: pip install 'musclethick[napari]').",
    )
    add_store_argument(review, "study store (SQLite) written by 'musclethick batch'")
    review.add_argument("--reviewer", required=True, help="your name or initials (provenance)")
    review.add_argument(
        "--blind", action="store_true", help="hide subject, week and condition while reviewing"
    )
    review.set_defaults(func=cmd_review)

    view = sub.add_parser(
        "view",
        help="open one scan and its results in napari",
        description="Open one scan in napari with its boundaries, thickness lines and flags "
        "(needs the napari extra: pip install 'musclethick[napari]').",
    )
    view.add_argument("file", type=existing_file, help="DICOM, video or image")
    view_scale = view.add_mutually_exclusive_group()
    view_scale.add_argument("--mm-per-px", type=mm_per_px_arg, help="pixel size in mm, 0.005-2")
    view_scale.add_argument(
        "--depth-mm", type=depth_mm_arg, help="depth of the imaging region in mm, 5-400"
    )
    view.set_defaults(func=cmd_view)
