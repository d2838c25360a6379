"""npe2 reader: DICOM, video and image files -> image layers in mm.

Each file becomes one image layer per tissue region (several frames as a leading ``frame``
axis), showing the imaging region only, translated to where it lay in the original image and
scaled by the calibration so napari's scale bar and measurements are in mm. The frames
themselves travel in ``layer.metadata["musclethick_frames"]`` so the measure widget measures
exactly what was read (same crop, same calibration).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from musclethick._napari._layers import frames_to_image_layers

__all__ = ["napari_get_reader", "read_layers"]

LayerData = tuple[Any, dict[str, Any], str]


def _supported(path: str | Path) -> bool:
    from musclethick.io import SUPPORTED_SUFFIXES

    suffix = Path(path).suffix.lower()
    return suffix in {s.lower() for s in SUPPORTED_SUFFIXES}


def napari_get_reader(path: str | list[str]) -> Callable[[Any], list[LayerData]] | None:
    """Return :func:`read_layers` when every path is a scan musclethick reads, else ``None``."""
    paths = [path] if isinstance(path, str | Path) else list(path)
    if not paths or not all(_supported(p) for p in paths):
        return None
    return read_layers


def read_layers(path: str | list[str], *, calibration=None, frames=None) -> list[LayerData]:
    """Read scan files into napari ``LayerData`` tuples.

    Parameters
    ----------
    path : str or list of str
        One or more DICOM, video or image files.
    calibration : CalibrationOptions, optional
        User calibration (``mm_per_px`` / ``depth_mm``); default: from the file (DICOM
        regions, on-screen ruler) or uncalibrated.
    frames : FrameSelection, optional
        Frames of cine loops to read (default: all).

    Returns
    -------
    list of (data, kwargs, "image")

    Raises
    ------
    InputError, CalibrationError
        With a one-line message naming the file.
    """
    from musclethick.io import read
    from musclethick.io.options import CalibrationOptions, FrameSelection

    calibration = CalibrationOptions() if calibration is None else calibration
    frames = FrameSelection() if frames is None else frames
    paths = [path] if isinstance(path, str | Path) else list(path)
    layers: list[LayerData] = []
    for p in paths:
        layers.extend(frames_to_image_layers(read(p, calibration=calibration, frames=frames)))
    return layers
