"""The Python API: measure an array or a file in one call.

>>> import musclethick
>>> results = musclethick.measure_file("sample_images/dltrack_512x512_img_00053.png", 0.1)
>>> len(results)  # a still image has one frame
1

Both functions are thin wiring over :mod:`musclethick.pipeline` (the same settings, readers,
model and quality checks as the ``musclethick measure`` command); they import the pipeline on
first call, so ``import musclethick`` stays light.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from musclethick.types import FrameResult

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike

    from musclethick.io.options import FrameSelection
    from musclethick.pipeline import MeasureSettings

__all__ = ["measure_file", "measure_image", "results_table"]


def _settings(
    settings: MeasureSettings | None,
    *,
    mm_per_px: float | None,
    depth_mm: float | None,
    method: str | None,
    frames: str | FrameSelection | None = None,
) -> MeasureSettings:
    """Return ``settings`` (default :class:`MeasureSettings`) with the call's overrides."""
    from dataclasses import replace

    from musclethick.io.options import FrameSelection
    from musclethick.pipeline import MeasureSettings

    s = MeasureSettings() if settings is None else settings
    if mm_per_px is not None or depth_mm is not None:
        calibration = replace(
            s.calibration,
            mm_per_px=s.calibration.mm_per_px if mm_per_px is None else float(mm_per_px),
            depth_mm=s.calibration.depth_mm if depth_mm is None else float(depth_mm),
        )
        s = replace(s, calibration=calibration)
    if method is not None:
        s = replace(s, method=method)
    if frames is not None:
        selection = frames if isinstance(frames, FrameSelection) else FrameSelection.parse(frames)
        s = replace(s, frames=selection)
    return s


def measure_image(
    image: ArrayLike,
    mm_per_px: float | None = None,
    *,
    depth_mm: float | None = None,
    max_value: float | None = None,
    crop: bool = True,
    method: str | None = None,
    settings: MeasureSettings | None = None,
    name: str = "<array>",
) -> FrameResult:
    """Measure muscle thickness on one image held in memory.

    The image is handled as ``musclethick measure`` handles an image file: converted to grey
    ``uint8`` (:func:`musclethick.io.to_grey_uint8`), cropped to its imaging region when it
    is a screen capture, calibrated, turned upright when ``settings.upside_down``, a convex
    probe's fan laid out as its beams
    (:func:`musclethick.fan.as_beam_view`; the result's ``fan`` says where it lies), then
    measured by the shipped model (or the classical edge path) with the same quality checks.

    Parameters
    ----------
    image : array_like, shape (rows, cols) or (rows, cols, 3|4)
        Grey or RGB(A) B-mode image or screen capture: ``uint8``; ``bool``; other integers
        (0-255 kept; ``uint16`` up to 4095 scaled by 255 / 4095, otherwise by 255 / 65535);
        float in [0, 1] (x 255) or [0, 255]. Anything else raises
        :class:`~musclethick.errors.InputError`.
    mm_per_px : float, optional
        Pixel size in mm (square pixels, calibration source ``"user"``).
    depth_mm : float, optional
        Depth of the imaging region in mm (pixel size = depth / region height in px); used
        when ``mm_per_px`` is not given. Without either, the on-screen ruler of a screen
        capture is read, else the result is in px only (``thickness_mm`` is ``None``).
    max_value : float, optional
        The pixel value that means white (e.g. 4095 for 12-bit data); default by dtype.
    crop : bool
        Find the imaging region of a screen capture and measure inside it (default). False
        measures the whole array as the imaging region (no ruler reading).
    method : {"model", "edges"}, optional
        Overrides ``settings.method`` (default ``"model"``).
    settings : MeasureSettings, optional
        Measurement lines, QC thresholds, model and calibration options
        (:class:`musclethick.pipeline.MeasureSettings`); ``mm_per_px``, ``depth_mm`` and
        ``method`` override it.
    name : str
        Recorded as the result's ``path``.

    Returns
    -------
    FrameResult
        Thickness per measurement line (``lines``: ``thickness_px``, ``thickness_mm``,
        ``perpendicular_mm``), boundaries in frame (cropped) pixels, ``region`` (where the
        frame lies in ``image``), ``calibration``, ``status`` (``"ok"``, ``"flagged"``,
        ``"failed"``), ``flags``, ``message`` and ``method``. A frame that cannot be measured
        comes back ``failed`` with the reason, not as an exception.

    Raises
    ------
    InputError
        Pixel values that fit none of the conversion rules (the message names the fix).
    ValueError
        An image that is not 2-D grey or colour; ``mm_per_px`` / ``depth_mm`` outside the
        plausible range; invalid settings.
    TypeError
        A path instead of an array (use :func:`measure_file`).

    Examples
    --------
    >>> import numpy as np, musclethick
    >>> from PIL import Image
    >>> scan = np.asarray(Image.open("sample_images/dltrack_512x512_img_00053.png"))
    >>> result = musclethick.measure_image(scan, mm_per_px=0.1)
    >>> [line.line for line in result.lines]
    ['25%', '50%', '75%', 'mean']
    """
    import numpy as np

    from musclethick.fan import as_beam_view
    from musclethick.io import upright
    from musclethick.io._pixels import to_grey_uint8
    from musclethick.io.image import capture_frame, plan_capture
    from musclethick.io.options import from_options
    from musclethick.pipeline import measure_frames
    from musclethick.types import Calibration, PixelBox

    if isinstance(image, str | Path):
        raise TypeError(f"measure_image takes an array; for the file {image} use measure_file")
    s = _settings(settings, mm_per_px=mm_per_px, depth_mm=depth_mm, method=method)
    arr = np.asarray(image)
    grey = to_grey_uint8(arr, max_value=max_value)
    colour = arr if arr.ndim == 3 and arr.dtype == np.uint8 else None
    if crop:
        box, calibration = plan_capture(grey, s.calibration)
    else:
        box = PixelBox.full(grey.shape)
        calibration = from_options(
            s.calibration, region_height_px=box.height
        ) or Calibration.uncalibrated("no mm_per_px or depth_mm given: thickness in px only")
    (frame,) = upright(
        [capture_frame(grey, box, calibration, path=name, colour=colour)], s.upside_down
    )
    frame = as_beam_view(frame)
    return next(iter(measure_frames([frame], s)))


def measure_file(
    path: str | Path,
    mm_per_px: float | None = None,
    *,
    depth_mm: float | None = None,
    frames: str | FrameSelection | None = None,
    method: str | None = None,
    settings: MeasureSettings | None = None,
) -> list[FrameResult]:
    """Measure muscle thickness on every selected frame of one scan file.

    The same readers, settings and checks as ``musclethick measure PATH``: its rows of
    ``results.csv`` are :func:`results_table` of the returned list.

    Parameters
    ----------
    path : str or Path
        DICOM (single or multi-frame, one result per tissue region when it holds several),
        video (cine loop) or image file (PNG, TIFF, JPEG, BMP; screen captures are cropped
        to their imaging region).
    mm_per_px : float, optional
        Pixel size in mm; overrides the file's own calibration (DICOM regions, ruler).
    depth_mm : float, optional
        Depth of the imaging region in mm; used when ``mm_per_px`` is not given.
    frames : str or FrameSelection, optional
        Frames of a cine loop / multi-frame file, e.g. ``"every:5"``, ``"0-9"``
        (:meth:`musclethick.io.FrameSelection.parse`); default all.
    method : {"model", "edges"}, optional
        Overrides ``settings.method`` (default ``"model"``).
    settings : MeasureSettings, optional
        As for :func:`measure_image`; the arguments above override it.

    Returns
    -------
    list of FrameResult
        One per measured frame (and tissue region), in file order. A frame that cannot be
        measured is a ``failed`` result with the reason.

    Raises
    ------
    InputError
        The file is missing, unreadable, corrupt or of an unsupported type (the message
        names it); other :class:`~musclethick.errors.MusclethickError` subclasses when its
        reading stops for another reason (e.g. an unusable calibration).
    ValueError
        ``mm_per_px`` / ``depth_mm`` outside the plausible range; invalid ``frames`` or
        settings.

    Examples
    --------
    >>> import musclethick
    >>> results = musclethick.measure_file("sample_images/cine.mp4", frames="0-1")
    >>> len(results)
    2
    """
    from musclethick.pipeline import measure_paths

    s = _settings(settings, mm_per_px=mm_per_px, depth_mm=depth_mm, method=method, frames=frames)
    stream = measure_paths([path], s, prefetch=0)
    try:
        measured = next(stream)
    finally:
        stream.close()
    if measured.error is not None:
        raise measured.error
    return list(measured.results)


def results_table(results: FrameResult | Iterable[FrameResult]) -> pd.DataFrame:
    """Tabulate ``results`` as the rows ``results.csv`` holds, in a pandas DataFrame.

    Parameters
    ----------
    results : FrameResult or iterable of FrameResult
        E.g. what :func:`measure_image` or :func:`measure_file` returned.

    Returns
    -------
    pandas.DataFrame
        One row per measurement line (a failed frame: one row with the message), columns
        :data:`musclethick.report.RESULT_COLUMNS` (plus the architecture columns when any
        result has architecture). ``x_px`` is in original image pixels; lengths carry their
        unit in the column name.

    Examples
    --------
    >>> import numpy as np, musclethick
    >>> flat = np.zeros((40, 40), np.uint8)
    >>> musclethick.results_table(musclethick.measure_image(flat, method="edges"))["status"][0]
    'failed'
    """
    import pandas as pd

    from musclethick.report import iter_rows, result_columns

    items = [results] if isinstance(results, FrameResult) else list(results)
    architecture = any(r.architecture is not None for r in items)
    columns = list(result_columns(architecture=architecture))
    return pd.DataFrame(list(iter_rows(items, architecture=architecture)), columns=columns)
