"""``musclethick review`` and ``musclethick view``: the napari viewer (``musclethick[napari]``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from musclethick.cli._args import add_store_argument, depth_mm_arg, existing_file, mm_per_px_arg

__all__ = ["cmd_review", "cmd_view", "register"]


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


def cmd_review(args: argparse.Namespace) -> int:
    app = _napari_app("review")
    if app is None:
        return 2
    return int(app.open_review(args.store, reviewer=args.reviewer, blind=args.blind) or 0)


def cmd_view(args: argparse.Namespace) -> int:
    app = _napari_app("view")
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
