"""File suffixes (lower case) of each reader: plain data, so that listing a study's files
imports no reader library (PyAV alone costs ~0.1 s of start-up per process)."""

from __future__ import annotations

__all__ = ["DICOM_SUFFIXES", "IMAGE_SUFFIXES", "VIDEO_SUFFIXES"]

DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic"})
IMAGE_SUFFIXES = frozenset({".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".wmv", ".mpg", ".mpeg"})
