"""npe2 sample data: a real B-mode scan from ``sample_images/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from musclethick.errors import InputError

__all__ = ["SAMPLE_SCAN", "sample_images_dir", "sample_scan"]

#: The sample scan: a Telemed capture from DL_Track (Apache-2.0, see sample_images/NOTICE.md).
SAMPLE_SCAN = "dltrack_telemed_660x556_img_00309.png"


def sample_images_dir() -> Path:
    """``sample_images/`` of the source checkout (it is not part of the installed package)."""
    return Path(__file__).resolve().parents[3] / "sample_images"


def sample_scan() -> list[tuple[Any, dict[str, Any], str]]:
    """The sample scan as napari ``LayerData`` (calibrated from its on-screen ruler).

    Raises
    ------
    InputError
        If ``sample_images/`` is not beside the installed source (e.g. a wheel install).
    """
    from musclethick._napari._reader import read_layers

    path = sample_images_dir() / SAMPLE_SCAN
    if not path.is_file():
        raise InputError(f"{path}: sample scan not found (run from a source checkout)")
    return read_layers(str(path))
