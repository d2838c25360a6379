"""File suffixes (lower case) of each reader: plain data, so that listing a study's files
imports no reader library (PyAV alone costs ~0.1 s of start-up per process)."""

from __future__ import annotations

import re

__all__ = ["DICOM_SUFFIXES", "IMAGE_SUFFIXES", "OVERLAY_FILE", "VIDEO_SUFFIXES"]

DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic"})
IMAGE_SUFFIXES = frozenset({".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".wmv", ".mpg", ".mpeg"})

#: The name :func:`musclethick.overlay.overlay_name` gives an overlay: the input's own name (with
#: its suffix), frame and region, ``scan.png_f0003_r0.png``. Folders of inputs skip such files
#: (:func:`musclethick.io.find_inputs`): an overlay is not a scan, and measuring one would take
#: its drawn lines for aponeuroses.
OVERLAY_FILE = re.compile(r".+\.[A-Za-z0-9]+_f\d{4}_r\d+\.png")
