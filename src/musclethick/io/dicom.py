"""DICOM reader (pydicom >= 3 with the pylibjpeg decoders).

The header is read with large values deferred; frames are then read from the file and decoded
one at a time with :func:`pydicom.pixels.pixel_array` (``index=``), so a cine loop is read and
decoded only as far as it is iterated and is never held in memory whole.

Pixel policy
------------
* ``YBR_*`` colour is converted to RGB by pydicom, ``PALETTE COLOR`` through its lookup table,
  then colour becomes luminance (BT.601).
* Data deeper than 8 bits is scaled to 0-255 by its *nominal* depth (``BitsStored``, or the
  palette's entry depth), not by each frame's data range, so all frames of a loop share one
  grey scale and the mapping is reproducible. ``MONOCHROME1`` is inverted; signed data is
  shifted to unsigned first.

Calibration policy (see :mod:`musclethick.calibration`)
-------------------------------------------------------
User ``mm_per_px`` > user ``depth_mm`` > the 2D tissue regions of the Sequence of Ultrasound
Regions (each region becomes its own frame, cropped to the region box; a box that does not fit
the pixel data is not trusted and the reason is kept in ``Calibration.note``) > PixelSpacing /
ImagerPixelSpacing > on-screen ruler (ultrasound screen captures only) > uncalibrated.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, pixel_array
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from .. import calibration as cal
from ..errors import CalibrationError, InputError
from ..qc import ULTRASOUND_MODALITIES
from ..region import find_imaging_region
from ..types import Calibration, Frame, PixelBox, ScanMetadata
from ._pixels import to_grey_uint8
from ._problems import COPY_AGAIN, no_frame_selected, not_a_file
from ._sniff import is_dicom
from .image import calibrate_capture, region_pixels
from .options import (
    ALL_FRAMES,
    DEFAULT_CALIBRATION,
    CalibrationOptions,
    FrameSelection,
    from_options,
)

__all__ = [
    "is_dicom",
    "read_dicom",
    "read_dicom_metadata",
    "set_grey8_pixels",
    "ultrasound_regions",
]


#: Element values larger than this are read from the file only when needed.
_DEFER_BYTES = 64 * 1024


def _one_line(exc: BaseException | Warning, path: Path | None = None) -> str:
    """A library's message on one line, without the file's path (the message names it once)."""
    text = " ".join(str(exc).split())
    if path is not None:  # only where it stands as a path: " in file PATH" or quoted
        text = text.replace(f" in file {path}", "")
        for quote in ("'", '"'):
            text = text.replace(f"{quote}{path}{quote}", "the file")
    return text


def _open(path: Path) -> Dataset:
    """Read the dataset; truncation and non-DICOM content become :class:`InputError`."""
    has_marker = is_dicom(path)
    size = path.stat().st_size
    if size < 132 and path.suffix.lower() in (".dcm", ".dicom", ".dic"):
        raise InputError(f"{path}: truncated or empty DICOM file ({size} bytes): {COPY_AGAIN}")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # large values (the pixel data) are deferred: read from the file when decoded
            ds = pydicom.dcmread(path, force=not has_marker, defer_size=_DEFER_BYTES)
    except InvalidDicomError as exc:
        raise InputError(f"{path}: not a valid DICOM file ({_one_line(exc)})") from exc
    except FileNotFoundError as exc:
        raise InputError(f"{path}: file not found") from exc
    except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(
            f"{path}: corrupt or truncated DICOM file ({_one_line(exc, path)}): {COPY_AGAIN}"
        ) from exc
    for w in caught:
        text = str(w.message)
        if "End of file" in text or "truncat" in text.lower():
            detail = _one_line(w.message, path)
            raise InputError(f"{path}: truncated DICOM file ({detail}): {COPY_AGAIN}")
    known = [t for t in ds.keys() if t.group in (0x0008, 0x0010, 0x0018, 0x0020, 0x0028, 0x7FE0)]
    if not known:
        what = (
            f"truncated DICOM file (no data set after the header): {COPY_AGAIN}"
            if has_marker
            else ("not a DICOM file")
        )
        raise InputError(f"{path}: {what}")
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
        # a bare data set (no preamble / file meta): its encoding tells the transfer syntax
        implicit, little = ds.original_encoding
        ds.file_meta = getattr(ds, "file_meta", None) or FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian
            if implicit
            else (ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
        )
    return ds


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, pydicom.multival.MultiValue):
        return "\\".join(str(v) for v in value if str(v)).strip()
    return str(value).strip()


def _frame_times_s(ds: Dataset, n_frames: int) -> tuple[float | None, list[float] | None]:
    """``(frame_time_ms, [time_s per frame])`` from FrameTime or FrameTimeVector."""
    ft = ds.get("FrameTime")
    try:
        if ft is not None and float(ft) > 0:
            ms = float(ft)
            return ms, [i * ms / 1000.0 for i in range(n_frames)]
    except (TypeError, ValueError):
        pass
    vec = ds.get("FrameTimeVector")
    if vec is not None:
        try:
            inc = [float(v) for v in (vec if isinstance(vec, list | tuple) else list(vec))]
        except TypeError:
            inc = [float(vec)]
        if len(inc) == n_frames:
            t = np.cumsum(inc) / 1000.0
            t -= t[0]
            mean_ms = float(np.mean(inc[1:])) if n_frames > 1 else None
            return mean_ms, [float(v) for v in t]
    return None, None


def read_dicom_metadata(ds: Dataset) -> ScanMetadata:
    """:class:`ScanMetadata` of a pydicom dataset (empty strings where absent)."""
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    frame_time_ms, _ = _frame_times_s(ds, n_frames)
    laterality = _text(ds, "ImageLaterality") or _text(ds, "Laterality")
    transducer = _text(ds, "TransducerData") or _text(ds, "TransducerType")
    return ScanMetadata(
        patient_id=_text(ds, "PatientID"),
        patient_name=_text(ds, "PatientName"),
        study_date=_text(ds, "StudyDate"),
        study_time=_text(ds, "StudyTime"),
        series_description=_text(ds, "SeriesDescription"),
        laterality=laterality.upper()[:1] if laterality.upper()[:1] in ("L", "R") else "",
        manufacturer=_text(ds, "Manufacturer"),
        model_name=_text(ds, "ManufacturerModelName"),
        transducer=transducer,
        modality=_text(ds, "Modality"),
        frame_time_ms=frame_time_ms,
        n_frames=n_frames,
    )


def ultrasound_regions(ds: Dataset) -> list[cal.UltrasoundRegion]:
    """The Sequence of Ultrasound Regions as :class:`~musclethick.calibration.UltrasoundRegion`."""
    out = []
    for item in ds.get("SequenceOfUltrasoundRegions", []) or []:
        try:
            out.append(
                cal.UltrasoundRegion(
                    min_x0=int(item.RegionLocationMinX0),
                    min_y0=int(item.RegionLocationMinY0),
                    max_x1=int(item.RegionLocationMaxX1),
                    max_y1=int(item.RegionLocationMaxY1),
                    spatial_format=int(item.get("RegionSpatialFormat", 0) or 0),
                    data_type=int(item.get("RegionDataType", 0) or 0),
                    units_x=int(item.get("PhysicalUnitsXDirection", 0) or 0),
                    units_y=int(item.get("PhysicalUnitsYDirection", 0) or 0),
                    delta_x=float(item.get("PhysicalDeltaX", 0.0) or 0.0),
                    delta_y=float(item.get("PhysicalDeltaY", 0.0) or 0.0),
                )
            )
        except (AttributeError, TypeError, ValueError):
            continue  # an incomplete region item is ignored
    return out


def _to_grey(ds: Dataset, raw: np.ndarray) -> np.ndarray:
    """One decoded frame (as pydicom returns it) to grey uint8."""
    photometric = _text(ds, "PhotometricInterpretation").upper()
    a = raw
    if photometric == "PALETTE COLOR":
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
        return to_grey_uint8(_apply_palette(ds, a), max_value=float(2**bits - 1))
    if a.dtype.kind == "f":
        return to_grey_uint8(a, stretch=True)
    bits = int(ds.get("BitsStored", a.dtype.itemsize * 8) or 8)
    if a.dtype.kind == "i":
        a = a.astype(np.int64) + 2 ** (bits - 1)
    grey = to_grey_uint8(
        a.astype(np.uint32) if a.dtype.kind != "u" else a, max_value=float(2**bits - 1)
    )
    if photometric == "MONOCHROME1":
        grey = 255 - grey
    return grey


def _apply_palette(ds: Dataset, index: np.ndarray) -> np.ndarray:
    """Palette indices to RGB through the dataset's lookup tables.

    Own implementation for the common (non-segmented) tables because pydicom 3.0's
    ``apply_color_lut`` reads the table bytes as little endian even in big-endian files.
    """
    if "RedPaletteColorLookupTableData" not in ds:
        return apply_color_lut(index, ds)  # segmented tables
    big = ds.original_encoding[1] is False
    channels = []
    for colour in ("Red", "Green", "Blue"):
        n, first, _ = (int(v) for v in ds[f"{colour}PaletteColorLookupTableDescriptor"].value)
        n = n or 65536
        raw = ds[f"{colour}PaletteColorLookupTableData"].value
        dtype = np.dtype(">u2" if big else "<u2") if len(raw) >= 2 * n else np.dtype("u1")
        lut = np.frombuffer(raw, dtype=dtype)[:n]
        channels.append(lut[np.clip(index.astype(np.int64) - first, 0, len(lut) - 1)])
    return np.stack(channels, axis=-1)


def _decode(ds: Dataset, path: Path, index: int, n_frames: int) -> np.ndarray:
    """One frame's grey pixels (:func:`_decode_colour`'s grey)."""
    return _decode_colour(ds, path, index, n_frames)[0]


def _decode_colour(
    ds: Dataset, path: Path, index: int, n_frames: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """One frame's grey pixels, and its 8-bit colour ones (RGB as pydicom gives a colour
    frame; ``None`` for a grey or palette frame): coloured marks burned into the imaging
    region are painted out from them (:func:`musclethick.io.image.region_pixels`)."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # from the file: only this frame's bytes are read and decoded (a file without
            # the DICM preamble is decoded from the data set instead)
            src = str(path) if is_dicom(path) else ds
            raw = pixel_array(src, index=index if n_frames > 1 else None)
        for w in caught:
            if "End of file" in str(w.message) or "truncat" in str(w.message).lower():
                raise ValueError(str(w.message))
    except Exception as exc:  # decoders raise many types; all mean "cannot decode"
        raise InputError(
            f"{path}: cannot decode frame {index} "
            f"(truncated or corrupt pixel data: {_one_line(exc)})"
        ) from exc
    if raw.ndim == 3 and n_frames > 1 and raw.shape[-1] not in (3, 4):
        raw = raw[0]
    colour = raw if raw.ndim == 3 and raw.shape[-1] == 3 and raw.dtype == np.uint8 else None
    return _to_grey(ds, raw), colour


def read_dicom(
    path: str | Path,
    *,
    calibration: CalibrationOptions = DEFAULT_CALIBRATION,
    frames: FrameSelection = ALL_FRAMES,
) -> Iterator[Frame]:
    """Read the frames of a DICOM file, lazily.

    Parameters
    ----------
    path : str or Path
        A DICOM file (with or without the ``DICM`` preamble).
    calibration : CalibrationOptions
        User overrides and whether to read an on-screen ruler.
    frames : FrameSelection
        Frames to read from a multi-frame file.

    Yields
    ------
    Frame
        One per selected frame and tissue region (``region_index``), cropped to the region.

    Raises
    ------
    InputError
        Missing, corrupt or truncated file, or a DICOM file without pixel data.
    CalibrationError
        Only for an invalid user calibration.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(not_a_file(path))
    ds = _open(path)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        if "Rows" in ds and "BitsAllocated" in ds:
            raise InputError(
                f"{path}: DICOM image attributes but no pixel data (truncated or corrupt file)"
            )
        raise InputError(
            f"{path}: is a DICOM file without pixel data (a report or other non-image object): "
            "export the image series itself"
        )
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
    except (AttributeError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: DICOM image without Rows/Columns") from exc
    meta = read_dicom_metadata(ds)
    n_frames = meta.n_frames
    _check_pixel_length(ds, path, rows, cols, n_frames)
    _, times = _frame_times_s(ds, n_frames)
    selected = frames.indices(n_frames)
    if len(selected) == 0:
        raise InputError(no_frame_selected(path, frames.describe(), n_frames))
    return _iter(ds, path, rows, cols, meta, selected, times, calibration, n_frames)


def _iter(
    ds: Dataset,
    path: Path,
    rows: int,
    cols: int,
    meta: ScanMetadata,
    selected: range,
    times: list[float] | None,
    options: CalibrationOptions,
    n_frames: int,
) -> Iterator[Frame]:
    plans: list[tuple[PixelBox, Calibration]] | None = None
    for index in selected:
        grey, colour = _decode_colour(ds, path, index, n_frames)
        if grey.shape != (rows, cols):
            raise InputError(f"{path}: frame {index} has shape {grey.shape}, not {rows}x{cols}")
        if plans is None:  # decided once, on the first selected frame
            plans = _plan(ds, path, grey, meta, options)
        for region_index, (box, calib) in enumerate(plans):
            pixels, marks_px = region_pixels(grey, box, colour)
            yield Frame(
                pixels=pixels,
                marks_px=marks_px,
                path=str(path),
                frame_index=index,
                region=box,
                calibration=calib,
                metadata=meta,
                time_s=None if times is None else times[index],
                region_index=region_index,
                original_shape=(rows, cols),
            )


def _plan(
    ds: Dataset, path: Path, grey: np.ndarray, meta: ScanMetadata, options: CalibrationOptions
) -> list[tuple[PixelBox, Calibration]]:
    """Region boxes and their calibrations, following the documented precedence.

    A file whose own calibration is rejected (invalid or implausible region deltas, units
    other than cm, boxes that do not fit, pixel spacing that varies between frames) keeps
    the reason in the note and the flag ``implausible_calibration`` on whatever calibration
    follows, unless the user gave one.
    """
    notes: list[str] = []
    flags: tuple[str, ...] = ()
    try:
        regions = cal.from_ultrasound_regions(ultrasound_regions(ds), image_shape=grey.shape)
    except CalibrationError as exc:
        regions = []
        notes.append(f"{path}: {exc}")
        flags = (cal.IMPLAUSIBLE,)
    if regions:
        boxes = [box for box, _ in regions]
        calibs = [c for _, c in regions]
    else:
        if _may_be_ultrasound(meta):
            try:
                boxes = [find_imaging_region(grey)]
            except ValueError:
                boxes = [PixelBox.full(grey.shape)]
        else:
            boxes = [PixelBox.full(grey.shape)]
        calibs = [_fallback(ds, path, grey, boxes[0], meta, options, notes, flags)]
    out = []
    for box, calib in zip(boxes, calibs, strict=True):
        user = from_options(options, region_height_px=box.height)
        if user is not None:  # used, but flagged when the file's own pixel size contradicts it
            calib = cal.user_checked(user, calib, depth_mm=options.depth_mm)
        elif _may_be_ultrasound(meta):
            calib = _checked_against_ruler(calib, grey, box, options)
        out.append((box, calib))
    return out


def _may_be_ultrasound(meta: ScanMetadata) -> bool:
    """Ultrasound, or a capture that may be one (secondary capture, other, no modality:
    :data:`musclethick.qc.ULTRASOUND_MODALITIES`): its imaging region is looked for, its
    ruler read, and its tags checked against it."""
    return meta.modality.strip().upper() in ULTRASOUND_MODALITIES


#: ``PixelSpacing`` ``1\1``: what converters write when they know no pixel size.
_PLACEHOLDER_SPACING_MM = 1.0


def _checked_against_ruler(
    calib: Calibration, grey: np.ndarray, box: PixelBox, options: CalibrationOptions
) -> Calibration:
    """A file's own pixel size (ultrasound regions, ``PixelSpacing``) checked against the
    depth ruler burnt into the pixels (:func:`musclethick.calibration.ruler_disagreement`).

    A file whose tags contradict its own ruler (a converter's ``PixelSpacing`` ``1\\1``, a
    region delta in the wrong unit) is ``calibration_unconfirmed``, the note naming both
    values: the tags' value is kept, a person decides. ``PixelSpacing`` of exactly 1 x 1 mm
    with no ruler to confirm it is a converter's placeholder, also unconfirmed. Files
    without a display around the image (no ruler) are left as they are.
    """
    if not calib.is_calibrated or calib.source == "ruler" or not calib.is_confirmed:
        return calib
    ours = float(calib.mm_per_px_y or calib.mm_per_px)
    what = "ultrasound region" if calib.source == "dicom_region" else "PixelSpacing"
    full = PixelBox.full(grey.shape)
    if box == full:  # a region over the whole capture: the image within it, if any
        try:
            box = find_imaging_region(grey)
        except ValueError:
            pass
    ruler = None
    if options.use_ruler and box != full:
        ruler = calibrate_capture(grey, box, replace(options, profile=None))
    # PixelSpacing is often a converter's; regions are written by the scanner itself
    unconfirmed = calib.source == "pixel_spacing"
    why = "" if ruler is None else cal.ruler_disagreement(ours, ruler, unconfirmed=unconfirmed)
    placeholder = calib.source == "pixel_spacing" and (
        calib.mm_per_px_y == calib.mm_per_px_x == _PLACEHOLDER_SPACING_MM
    )
    if why:
        note = f"the file's {what} gives {ours:.5g} mm/px along the beam but {why}: check "
        note += "which is right"
    elif placeholder and (ruler is None or not ruler.is_confirmed):
        note = (
            "PixelSpacing 1 x 1 mm is what converters write when they know no pixel size, "
            "and no depth ruler on the image confirms it"
        )
    else:
        return calib
    return replace(calib, flags=(*calib.flags, cal.UNCONFIRMED), note=note)


def _fallback(
    ds: Dataset,
    path: Path,
    grey: np.ndarray,
    box: PixelBox,
    meta: ScanMetadata,
    options: CalibrationOptions,
    notes: list[str],
    flags: tuple[str, ...],
) -> Calibration:
    try:
        spacings = _pixel_spacings(ds)
    except CalibrationError as exc:
        notes.append(f"{path}: {exc}")
        spacings, flags = [], (cal.IMPLAUSIBLE,)
    for keyword, (row_mm, col_mm) in spacings:
        try:
            found = cal.from_pixel_spacing(row_mm, col_mm, note=f"DICOM {keyword}")
        except CalibrationError as exc:
            notes.append(f"{path}: {exc}")
            flags = (cal.IMPLAUSIBLE,)
            continue
        return found.with_flags(*flags, note="; ".join(notes)) if flags else found
    if _may_be_ultrasound(meta) and box != PixelBox.full(grey.shape):
        capture = calibrate_capture(grey, box, options)
        if capture.is_calibrated or options.profile is not None:
            return capture.with_flags(*flags, note="; ".join(notes)) if flags else capture
        notes.append(capture.note.removesuffix(": thickness in px only"))  # said once, below
    notes.append("no ultrasound region, pixel spacing or ruler: thickness in px only")
    return Calibration.uncalibrated("; ".join(notes), flags)


def _pixel_spacings(ds: Dataset) -> list[tuple[str, tuple[float, float]]]:
    """``(keyword, (row_mm, col_mm))`` of PixelSpacing, ImagerPixelSpacing and the functional
    groups' pixel measures (one spacing for every frame, else :class:`CalibrationError`)."""
    out = []
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        spacing = ds.get(keyword)
        if spacing is not None and len(spacing) == 2:
            out.append((keyword, (float(spacing[0]), float(spacing[1]))))
    per_frame = set()
    for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        for item in ds.get(group, []) or []:
            for measures in item.get("PixelMeasuresSequence", []) or []:
                spacing = measures.get("PixelSpacing")
                if spacing is not None and len(spacing) == 2:
                    per_frame.add((float(spacing[0]), float(spacing[1])))
    if len(per_frame) > 1:
        shown = ", ".join(f"{r:g}x{c:g}" for r, c in sorted(per_frame)[:4])
        raise CalibrationError(
            f"pixel spacing differs between frames ({shown} mm): not supported, give "
            "--mm-per-px or measure the frames separately"
        )
    out += [("PixelMeasuresSequence PixelSpacing", s) for s in per_frame]
    return out


def _check_pixel_length(ds: Dataset, path: Path, rows: int, cols: int, n_frames: int) -> None:
    """Native (uncompressed) pixel data must hold exactly Rows x Columns x SamplesPerPixel x
    frames samples (plus one byte of padding): otherwise the image decodes sheared."""
    if ds.file_meta.TransferSyntaxUID.is_compressed or "PixelData" not in ds:
        return
    try:
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.BitsAllocated)
        item = ds.get_item("PixelData")
        # a deferred element (RawDataElement) knows its length without reading the value
        length = getattr(item, "length", None)
        if length is None:
            length = len(item.value)
        length = int(length)
    except (AttributeError, TypeError, ValueError):
        return
    if length in (0, 0xFFFFFFFF):
        return
    expected_bits = rows * cols * samples * n_frames * bits
    expected = (expected_bits + 7) // 8
    if length < expected:
        raise InputError(
            f"{path}: truncated or corrupt pixel data ({length} of the {expected} bytes that "
            f"Rows x Columns x SamplesPerPixel x frames = {rows} x {cols} x {samples} x "
            f"{n_frames} need)"
        )
    if length not in (expected, expected + 1):
        raise InputError(
            f"{path}: pixel data holds {length} bytes but Rows x Columns x SamplesPerPixel x "
            f"frames ({rows} x {cols} x {samples} x {n_frames}, {bits} bit) needs {expected}: "
            "the image would decode sheared (wrong Rows/Columns?)"
        )


def set_grey8_pixels(ds: Dataset, frames: Sequence[np.ndarray]) -> Dataset:
    """Set the image-pixel module of ``ds`` for 8-bit grey ``frames`` (uncompressed).

    One frame gives a single-frame image; several give ``NumberOfFrames`` (the caller adds
    ``FrameTime`` and the like). Used by the demo study and the test-fixture generator.

    Raises
    ------
    ValueError
        No frames, frames of different shapes, or frames that are not 2-D ``uint8``.
    """
    arrays = [np.asarray(f) for f in frames]
    if not arrays:
        raise ValueError("no frames")
    shape = arrays[0].shape
    if any(a.dtype != np.uint8 or a.ndim != 2 or a.shape != shape for a in arrays):
        raise ValueError("frames must be 2-D uint8 arrays of one shape")
    ds.Rows, ds.Columns = (int(v) for v in shape)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    if len(arrays) > 1:
        ds.NumberOfFrames = len(arrays)
    ds.PixelData = np.ascontiguousarray(
        np.stack(arrays) if len(arrays) > 1 else arrays[0]
    ).tobytes()
    return ds
