"""Still-image reader (Pillow): PNG, TIFF (incl. multi-page), JPEG, BMP; grey or colour.

A screen capture is cropped to its imaging region (:func:`musclethick.region.find_imaging_region`)
and calibrated by the user's ``mm_per_px`` / ``depth_mm``, else a matching calibration profile,
else the on-screen depth ruler (:func:`musclethick.calibration.from_ruler`, its printed numbers
read by the OCR engine when installed); without any it is uncalibrated (pixels only).

A display is read once per process: the captures of one study come from a few displays, and a
capture whose ruler area is the same as one already read (:func:`musclethick.ruler.same_display`)
takes that reading instead of being read again (:data:`SEEN_DISPLAYS`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .. import calibration as cal
from ..colour_marks import colour_marks, paint_out
from ..errors import CalibrationError, InputError
from ..region import find_imaging_region
from ..ruler import RulerReading, read_ruler, same_display
from ..types import Calibration, Frame, PixelBox, ScanMetadata
from ._pixels import to_grey_uint8
from ._problems import COPY_AGAIN, no_frame_selected, not_a_file
from ._suffixes import IMAGE_SUFFIXES
from .options import (
    ALL_FRAMES,
    DEFAULT_CALIBRATION,
    CalibrationOptions,
    FrameSelection,
    from_options,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "calibrate_capture",
    "capture_frame",
    "plan_capture",
    "read_image",
    "region_pixels",
]


def plan_capture(grey: np.ndarray, options: CalibrationOptions) -> tuple[PixelBox, Calibration]:
    """Imaging region and calibration of one screen capture.

    Precedence: ``options.mm_per_px`` > ``options.depth_mm`` (over the region height) >
    calibration profile (when the layout matches) > on-screen ruler (when
    ``options.use_ruler``) > uncalibrated with a note saying why. A given pixel size that a
    confirmed reading of the capture's own ruler contradicts is flagged
    (:func:`musclethick.calibration.user_checked`).
    """
    box = find_imaging_region(grey)
    user = from_options(options, region_height_px=box.height)
    if user is not None:
        # the capture's own depth ruler, when it has one, may contradict the given value
        own = _ruler(grey, box, options) if options.use_ruler else None
        return box, cal.user_checked(user, own, depth_mm=options.depth_mm)
    return box, calibrate_capture(grey, box, options)


def calibrate_capture(grey: np.ndarray, box: PixelBox, options: CalibrationOptions) -> Calibration:
    """Calibration of a screen capture from its profile or its on-screen ruler.

    A profile whose layout does not match the capture is not applied: the capture gets the
    automatic reading (or none) and the flag ``profile_mismatch`` with what differs.
    """
    if options.profile is not None:
        from ..calibration_profile import apply_profile, layout_of

        applied = apply_profile(options.profile, layout_of(grey, box=box))
        if isinstance(applied, Calibration):
            return _profile_checked_against_ruler(applied, grey, box, options)
        auto = _ruler(grey, box, options)
        return auto.with_flags(
            cal.PROFILE_MISMATCH,
            note=f"calibration profile {options.profile.source or options.profile.name} not "
            f"applied: {applied}",
        )
    return _ruler(grey, box, options)


def _profile_checked_against_ruler(
    applied: Calibration, grey: np.ndarray, box: PixelBox, options: CalibrationOptions
) -> Calibration:
    """A profile's pixel size, flagged ``profile_mismatch`` when the capture's own depth ruler
    reads another one (:func:`musclethick.calibration.ruler_disagreement`): a profile made
    from a misread capture, or applied to a display whose depth setting changed without its
    layout changing (read once per display: :data:`SEEN_DISPLAYS`)."""
    if not options.use_ruler or applied.mm_per_px is None:
        return applied
    # a profile read automatically is doubted by any gross disagreement; one a person
    # calibrated (--tick-mm, two clicked points) only by a confirmed reading
    automatic = options.profile is not None and options.profile.is_automatic
    own = _ruler(grey, box, options)
    why = cal.ruler_disagreement(applied.mm_per_px, own, unconfirmed=automatic)
    if not why:
        return applied
    return applied.with_flags(
        cal.PROFILE_MISMATCH,
        note=f"the profile gives {applied.mm_per_px:.5g} mm/px but {why}: check the profile",
    )


def _ruler(grey: np.ndarray, box: PixelBox, options: CalibrationOptions) -> Calibration:
    if not options.use_ruler:
        return Calibration.uncalibrated("ruler reading disabled: thickness in px only")
    if box == PixelBox.full(grey.shape):
        return Calibration.uncalibrated(
            "no display around the imaging region (no on-screen ruler): thickness in px only"
        )
    from ..ocr import default_reader

    reader = default_reader() if options.ocr else None
    reading = SEEN_DISPLAYS.recall(grey, box, reader)
    if reading is None:
        try:
            reading = read_ruler(grey, region=box, reader=reader)
        except CalibrationError as exc:
            return Calibration.uncalibrated(f"{exc}: thickness in px only")
        SEEN_DISPLAYS.remember(grey, reading, reader)
    return cal.from_reading(reading)


class SeenDisplays:
    """The last few rulers read in this process, with the captures they were read from.

    :meth:`recall` returns the reading of an earlier capture whose ruler area is the same
    (:func:`musclethick.ruler.same_display`), read with the same OCR engine; thread-safe.
    """

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._seen: list[tuple[np.ndarray, RulerReading, object]] = []
        self._lock = threading.Lock()

    def recall(self, grey: np.ndarray, region: PixelBox, reader: object) -> RulerReading | None:
        """The reading that holds for ``grey`` (imaging region ``region``), or ``None``."""
        with self._lock:
            seen = list(self._seen)
        for i in range(len(seen) - 1, -1, -1):
            pixels, reading, by = seen[i]
            if by is reader and same_display(reading, pixels, grey, region):
                if reading.region != region:
                    reading = replace(reading, region=region)
                return reading
        return None

    def remember(self, grey: np.ndarray, reading: RulerReading, reader: object) -> None:
        """Keep ``reading`` (read from ``grey``) for later captures of the same display."""
        if reading.looked_at is None or grey.dtype != np.uint8 or grey.ndim != 2:
            return
        with self._lock:
            self._seen.append((grey.copy(), reading, reader))
            del self._seen[: -self._size]

    def clear(self) -> None:
        """Forget every reading."""
        with self._lock:
            self._seen.clear()


#: The process's rulers already read (:class:`SeenDisplays`).
SEEN_DISPLAYS = SeenDisplays()


#: EXIF tag of the orientation in which a viewer shows the pixels (1: as stored).
_EXIF_ORIENTATION = 0x0112


def _orientation(img: Image.Image) -> int:
    """The image's EXIF orientation (1 when absent or unreadable)."""
    if img.format == "PNG" and "exif" not in img.info:
        # a PNG's eXIf chunk before the pixels is in ``info`` at open; asking Pillow for one
        # after them decodes the whole image, which the fast path then decodes again
        return 1
    try:
        return int(img.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except (OSError, ValueError, TypeError, SyntaxError):
        return 1


def _png_significant_bits(img: Image.Image) -> int | None:
    """The grey depth a 16-bit PNG states in its ``sBIT`` chunk (``None`` without one, or for
    another format). Pillow does not read ``sBIT``: the chunks before the pixels are walked."""
    if img.format != "PNG" or not getattr(img, "filename", ""):
        return None
    try:
        with open(img.filename, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return None
    at = 8  # after the signature
    while at + 8 <= len(head):
        length = int.from_bytes(head[at : at + 4], "big")
        kind = head[at + 4 : at + 8]
        if kind in (b"IDAT", b"IEND"):
            return None
        if kind == b"sBIT" and length >= 1 and at + 9 <= len(head):
            bits = head[at + 8]
            return int(bits) if 1 <= bits <= 16 else None
        at += 12 + length
    return None


#: Pillow's modes of 16-bit grey pages.
_GREY_16 = ("I;16", "I;16B", "I;16L", "I;16N")


def _page_to_grey(page: Image.Image, orientation: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
    """A page's grey pixels, and its 8-bit colour ones (``None`` for a grey page): coloured
    marks in the imaging region are painted out from them (:func:`capture_frame`)."""
    # read from the file, so before turning the page (a turned copy has no file)
    bits = _png_significant_bits(page) if page.mode in _GREY_16 else None
    if orientation != 1:
        # shown turned by every viewer (a phone's or an exporter's JPEG): measured as shown
        page = ImageOps.exif_transpose(page)
    mode = page.mode
    if mode in ("LA", "La"):  # grey and alpha: the grey
        page = page.convert("L")
    if mode in ("P", "PA"):
        page = page.convert("RGBA" if "transparency" in page.info or mode == "PA" else "RGB")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        page = page.convert("RGB")
    elif mode == "1":
        page = page.convert("L")
    arr = np.asarray(page)
    if mode in _GREY_16:
        # the depth the file states (a PNG's sBIT), else the rule for 16-bit arrays (12-bit
        # data when every value fits in 12 bits): the echo intensity depends on it
        return to_grey_uint8(
            arr.astype(np.uint16), max_value=None if bits is None else 2.0**bits - 1
        ), None
    if mode in ("I", "F"):
        return to_grey_uint8(arr.astype(np.float64), stretch=True), None
    colour = arr if arr.ndim == 3 and arr.dtype == np.uint8 else None
    return to_grey_uint8(arr), colour


def _fast_grey(path: Path, img: Image.Image) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Grey pixels of a complete 8-bit PNG decoded by OpenCV (about 30 % faster than Pillow,
    same values: BT.601 in fixed point either way), and its colour pixels (BGR; ``None`` for
    a grey PNG); ``None`` for anything else, and for files OpenCV cannot decode (Pillow then
    decodes them, or names the problem)."""
    if img.format != "PNG" or img.mode not in ("L", "RGB", "RGBA"):
        return None
    if img.mode == "L" and "transparency" in img.info:
        return None
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if b"IEND" not in data[-12:].tobytes():  # truncated: Pillow reports it
        return None
    flags = cv2.IMREAD_IGNORE_ORIENTATION
    colour = None
    if img.mode == "L":
        grey = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE | flags)
    else:
        colour = cv2.imdecode(data, cv2.IMREAD_COLOR | flags)
        grey = None if colour is None else cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY)
    if grey is None or grey.shape != (img.height, img.width):
        return None
    return grey, colour


def read_image(
    path: str | Path,
    *,
    calibration: CalibrationOptions = DEFAULT_CALIBRATION,
    frames: FrameSelection = ALL_FRAMES,
) -> Iterator[Frame]:
    """Read a still image (each page of a multi-page TIFF is a frame).

    Parameters
    ----------
    path : str or Path
        Image file.
    calibration : CalibrationOptions
        User calibration and whether to read the on-screen ruler.
    frames : FrameSelection
        Pages to read (a single image has one frame, index 0).

    Yields
    ------
    Frame
        Grey pixels cropped to the imaging region.

    Raises
    ------
    InputError
        Missing file, not an image, truncated or corrupt image.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(not_a_file(path))
    try:
        img = Image.open(path)
        n_frames = int(getattr(img, "n_frames", 1) or 1)
    except UnidentifiedImageError as exc:
        raise InputError(
            f"{path}: not an image file (cannot identify the image format): export the scan "
            "as PNG, JPEG, TIFF, BMP, DICOM or video"
        ) from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot open image ({exc})") from exc
    selected = frames.indices(n_frames)
    if len(selected) == 0:
        img.close()
        raise InputError(no_frame_selected(path, frames.describe(), n_frames))
    # Decode the first selected page now so that a corrupt file fails on read().
    try:
        orientation = _orientation(img)
        first = _fast_grey(path, img) if n_frames == 1 and orientation == 1 else None
        if first is None:
            img.seek(selected[0])
            first = _page_to_grey(img, orientation)
    except (OSError, ValueError, SyntaxError) as exc:
        img.close()
        raise InputError(f"{path}: corrupt or truncated image ({exc}): {COPY_AGAIN}") from exc
    return _iter(img, path, first, selected, n_frames, calibration, orientation)


def _iter(
    img: Image.Image,
    path: Path,
    first: tuple[np.ndarray, np.ndarray | None],
    selected: range,
    n_frames: int,
    options: CalibrationOptions,
    orientation: int = 1,
) -> Iterator[Frame]:
    meta = ScanMetadata(n_frames=n_frames)
    with img:
        plan = plan_capture(first[0], options)
        for index in selected:
            if index == selected[0]:
                grey, colour = first
            else:
                try:
                    img.seek(index)
                    grey, colour = _page_to_grey(img, orientation)
                except (OSError, ValueError, EOFError) as exc:
                    raise InputError(f"{path}: cannot read page {index} ({exc})") from exc
            # pages of another size (rare in a TIFF stack) get their own region
            box, calib = plan if grey.shape == first[0].shape else plan_capture(grey, options)
            yield capture_frame(
                grey, box, calib, path=str(path), frame_index=index, metadata=meta, colour=colour
            )


def region_pixels(
    grey: np.ndarray, box: PixelBox, colour: np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """``grey`` cropped to ``box``, with the coloured marks drawn in it painted out when the
    capture's 8-bit ``colour`` pixels are given (:mod:`musclethick.colour_marks`), and how
    many pixels were painted (0 when none)."""
    pixels = np.ascontiguousarray(grey[box.slices()])
    if colour is None:
        return pixels, 0
    marks = colour_marks(colour[box.slices()])
    if marks is None:
        return pixels, 0
    return paint_out(pixels, marks), int(np.count_nonzero(marks))


def capture_frame(
    grey: np.ndarray,
    box: PixelBox,
    calibration: Calibration,
    *,
    path: str,
    frame_index: int = 0,
    metadata: ScanMetadata | None = None,
    colour: np.ndarray | None = None,
) -> Frame:
    """The :class:`Frame` of a whole capture ``grey`` cropped to ``box`` (see
    :func:`plan_capture`), with the original shape recorded; with the capture's 8-bit
    ``colour`` pixels, coloured marks drawn in the box are painted out
    (:func:`region_pixels`)."""
    pixels, marks_px = region_pixels(grey, box, colour)
    return Frame(
        pixels=pixels,
        marks_px=marks_px,
        path=path,
        frame_index=frame_index,
        region=box,
        calibration=calibration,
        metadata=ScanMetadata() if metadata is None else metadata,
        original_shape=(int(grey.shape[0]), int(grey.shape[1])),
    )
