"""Regenerate the derived test fixtures and sample files from real scans.

Usage::

    python scripts/make_fixtures.py [--shared ../shared/data]

Deterministic: the same inputs give byte-identical PNG/DICOM outputs (videos depend on the
encoder build). Sources are real B-mode images of the DL_Track data set (Apache-2.0) and
DICOM files from pydicom's test data (MIT); see ``tests/data/NOTICE.md`` and
``sample_images/NOTICE.md``.

Writes
------
sample_images/
    dltrack_*.png (copies of real val-split captures), cine.mp4, multiframe.dcm
tests/data/dicom/
    copies of small pydicom files + us_single.dcm, us_multiframe.dcm, us_jpeg_baseline.dcm,
    us_rle.dcm, us_two_regions.dcm, us_pixel_spacing.dcm, ct_no_regions.dcm, no_pixels.dcm
tests/data/video/
    muscle_h264.mp4, muscle_mpeg4.avi, truncated.mp4, truncated.avi, empty.mp4
tests/data/images/
    muscle.tif, muscle.jpg, muscle.bmp, muscle_rgb.png, muscle_16bit.tif, not_an_image.png
"""

from __future__ import annotations

import argparse
import io
import shutil
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    RLELossless,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
)

from musclethick.io.dicom import set_grey8_pixels

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_images"
TESTS = REPO / "tests" / "data"

#: Real captures copied to sample_images (val split; one per size group / scanner layout).
SAMPLE_CAPTURES = {
    "img_00053.png": "dltrack_512x512_img_00053.png",  # image only, no display
    "img_00309.png": "dltrack_telemed_660x556_img_00309.png",  # Telemed display, right ruler
    "img_00002.png": "dltrack_800x600_img_00002.png",  # black display, left ruler
    "img_00037.png": "dltrack_800x652_img_00037.png",  # left ruler, major + minor ticks
    "img_00005.png": "dltrack_telemed_1234x688_img_00005.png",  # Telemed wide display
}
#: Small pydicom test files copied to tests/data/dicom (MIT).
DICOM_COPIES = ("OBXXXX1A_rle.dcm", "examples_ybr_color.dcm", "US1_J2KI.dcm", "ExplVR_BigEnd.dcm")

#: Synthetic ultrasound DICOM geometry: 256x256 image (the 512x512 capture halved) inside a
#: 288x320 display; the tissue region box and its pixel size (0.015 cm = 0.15 mm per px).
CANVAS = (288, 320)
REGION_XY = (40, 16)  # top-left corner of the tissue region
DELTA_CM = 0.015
STUDY_UID = "1.2.826.0.1.3680043.10.1496.1"


def _muscle(shared: Path) -> np.ndarray:
    """The real 512x512 B-mode image img_00053 halved to 256x256 (uint8)."""
    img = Image.open(shared / "dltrack_apo" / "images" / "img_00053.png").convert("L")
    return np.asarray(img.resize((256, 256), Image.Resampling.LANCZOS))


def _shifted(img: np.ndarray, n: int, *, dy: int = 1, dx: int = 2) -> list[np.ndarray]:
    """``n`` frames of ``img`` shifted by ``(i*dy, i*dx)`` px (edges replicated)."""
    frames = []
    for i in range(n):
        a = np.pad(img, ((i * dy, 0), (i * dx, 0)), mode="edge")[: img.shape[0], : img.shape[1]]
        frames.append(np.ascontiguousarray(a))
    return frames


def _canvas(img: np.ndarray) -> np.ndarray:
    c = np.full(CANVAS, 12, dtype=np.uint8)
    x, y = REGION_XY
    c[y : y + img.shape[0], x : x + img.shape[1]] = img
    return c


def _region(x0: int, y0: int, x1: int, y1: int, delta_cm: float = DELTA_CM) -> Dataset:
    r = Dataset()
    r.RegionSpatialFormat = 1
    r.RegionDataType = 1
    r.RegionFlags = 2
    r.RegionLocationMinX0 = x0
    r.RegionLocationMinY0 = y0
    r.RegionLocationMaxX1 = x1  # inclusive
    r.RegionLocationMaxY1 = y1
    r.PhysicalUnitsXDirection = 3
    r.PhysicalUnitsYDirection = 3
    r.PhysicalDeltaX = delta_cm
    r.PhysicalDeltaY = delta_cm
    return r


def _dataset(
    frames: list[np.ndarray], *, name: str, modality: str = "US", series: str = "GM longitudinal"
) -> FileDataset:
    multi = len(frames) > 1
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = (
        UltrasoundMultiFrameImageStorage if multi else UltrasoundImageStorage
    )
    meta.MediaStorageSOPInstanceUID = f"{STUDY_UID}.{zlib.crc32(name.encode())}"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(name, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = STUDY_UID + ".2"
    ds.PatientID = "SUBJ01"
    ds.PatientName = "Synthetic^Subject"
    ds.StudyDate = "20240131"
    ds.StudyTime = "101500"
    ds.SeriesDescription = series
    ds.Modality = modality
    ds.ImageLaterality = "R"
    ds.Manufacturer = "musclethick fixtures"
    ds.ManufacturerModelName = "synthetic from DL_Track img_00053"
    ds.TransducerData = ["L12-5", "", ""]
    set_grey8_pixels(ds, frames)
    if multi:
        ds.FrameTime = 50.0  # ms
        ds.FrameIncrementPointer = pydicom.tag.Tag("FrameTime")
    return ds


def _save(ds: FileDataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    print(f"wrote {path.relative_to(REPO)} ({path.stat().st_size // 1024} KiB)")


def _jpeg_baseline(ds: FileDataset, frames: list[np.ndarray]) -> None:
    """Replace the pixel data with JPEG baseline (Pillow encoder, quality 90)."""
    encoded = []
    for f in frames:
        buf = io.BytesIO()
        Image.fromarray(f).save(buf, format="JPEG", quality=90)
        encoded.append(buf.getvalue())
    ds.PixelData = encapsulate(encoded)
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.LossyImageCompression = "01"


def make_dicom(shared: Path) -> None:
    out = TESTS / "dicom"
    img = _muscle(shared)
    x, y = REGION_XY
    box = (x, y, x + img.shape[1] - 1, y + img.shape[0] - 1)

    ds = _dataset([_canvas(img)], name="us_single")
    ds.SequenceOfUltrasoundRegions = Sequence([_region(*box)])
    _save(ds, out / "us_single.dcm")

    frames = [_canvas(f) for f in _shifted(img, 4)]
    ds = _dataset(frames, name="us_multiframe")
    ds.SequenceOfUltrasoundRegions = Sequence([_region(*box)])
    _save(ds, out / "us_multiframe.dcm")

    ds = _dataset(frames[:2], name="us_jpeg_baseline")
    ds.SequenceOfUltrasoundRegions = Sequence([_region(*box)])
    _jpeg_baseline(ds, frames[:2])
    _save(ds, out / "us_jpeg_baseline.dcm")

    ds = _dataset([_canvas(img)], name="us_rle")
    ds.SequenceOfUltrasoundRegions = Sequence([_region(*box)])
    ds.compress(RLELossless, encoding_plugin="pydicom")
    _save(ds, out / "us_rle.dcm")

    # Two side-by-side tissue regions (dual view): left and right halves, different sizes.
    ds = _dataset([_canvas(img)], name="us_two_regions")
    half = x + img.shape[1] // 2
    ds.SequenceOfUltrasoundRegions = Sequence(
        [_region(x, y, half - 1, box[3]), _region(half, y, box[2], box[3], delta_cm=0.02)]
    )
    _save(ds, out / "us_two_regions.dcm")

    ds = _dataset([img], name="us_pixel_spacing")
    ds.PixelSpacing = [0.15, 0.2]  # row, column spacing in mm
    _save(ds, out / "us_pixel_spacing.dcm")

    ds = _dataset([img], name="ct_no_regions", modality="CT", series="CT-like, no calibration")
    _save(ds, out / "ct_no_regions.dcm")

    # A non-image DICOM object (a text report): no pixel data, no image attributes.
    ds = _dataset([img], name="no_pixels", modality="SR", series="report without pixels")
    for keyword in (
        "PixelData",
        "Rows",
        "Columns",
        "SamplesPerPixel",
        "PhotometricInterpretation",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
    ):
        delattr(ds, keyword)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    _save(ds, out / "no_pixels.dcm")

    for name in DICOM_COPIES:
        shutil.copyfile(shared / "dicom" / name, out / name)
    for name in ("LICENSE_pydicom", "LICENSE_pydicom-data_MIT"):
        shutil.copyfile(shared / "dicom" / name, out / name)

    # sample_images/multiframe.dcm: 8 RLE frames of the same muscle, drifting slowly.
    frames = [_canvas(f) for f in _shifted(img, 8, dy=1, dx=1)]
    ds = _dataset(frames, name="sample_multiframe")
    ds.SequenceOfUltrasoundRegions = Sequence([_region(*box)])
    ds.compress(RLELossless, encoding_plugin="pydicom")
    _save(ds, SAMPLES / "multiframe.dcm")


def _write_video(path: Path, frames: list[np.ndarray], *, codec: str, fps: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width = frames[0].shape[1]
        stream.height = frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "18", "preset": "medium", "threads": "1"}
        else:
            stream.bit_rate = 2_000_000
        stream.time_base = Fraction(1, fps)
        for f in frames:
            rgb = np.repeat(f[..., None], 3, axis=2) if f.ndim == 2 else f
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    print(f"wrote {path.relative_to(REPO)} ({path.stat().st_size // 1024} KiB)")


def make_video(shared: Path) -> None:
    out = TESTS / "video"
    img = _muscle(shared)
    frames = _shifted(img, 6)
    _write_video(out / "muscle_h264.mp4", frames, codec="libx264", fps=10)
    _write_video(out / "muscle_mpeg4.avi", frames, codec="mpeg4", fps=10)
    data = (out / "muscle_h264.mp4").read_bytes()
    (out / "truncated.mp4").write_bytes(data[: len(data) // 3])
    print("wrote tests/data/video/truncated.mp4")
    data = (out / "muscle_mpeg4.avi").read_bytes()
    (out / "truncated.avi").write_bytes(data[: len(data) * 2 // 3])
    print("wrote tests/data/video/truncated.avi")
    container = av.open(str(out / "empty.mp4"), mode="w")
    stream = container.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
    container.start_encoding()
    for packet in stream.encode():  # flush: no frame was ever sent
        container.mux(packet)
    container.close()
    print("wrote tests/data/video/empty.mp4")

    # sample_images/cine.mp4: the Telemed capture (on-screen ruler) with the image drifting.
    cap = np.asarray(
        Image.open(shared / "dltrack_apo" / "images" / "img_00309.png").convert("RGB")
    ).copy()
    y0, y1, x0, x1 = 43, 552, 99, 563  # the imaging region of this layout
    cine = []
    for i in range(6):
        f = cap.copy()
        part = cap[y0:y1, x0:x1]
        f[y0:y1, x0:x1] = np.pad(part, ((i, 0), (0, 0), (0, 0)), mode="edge")[: y1 - y0]
        cine.append(f)
    _write_video(SAMPLES / "cine.mp4", cine, codec="libx264", fps=10)


def make_images(shared: Path) -> None:
    out = TESTS / "images"
    out.mkdir(parents=True, exist_ok=True)
    img = _muscle(shared)
    Image.fromarray(img).save(out / "muscle.tif")
    Image.fromarray(img).save(out / "muscle.jpg", quality=92)
    Image.fromarray(img).save(out / "muscle.bmp")
    rgb = np.stack([img, img, (img * 0.8).astype(np.uint8)], axis=2)
    Image.fromarray(rgb).save(out / "muscle_rgb.png")
    Image.fromarray(img.astype(np.uint16) * 257).save(out / "muscle_16bit.tif")
    (out / "not_an_image.png").write_text("this is a text file, not a PNG\n")
    print("wrote tests/data/images/*")
    SAMPLES.mkdir(exist_ok=True)
    for src, dst in SAMPLE_CAPTURES.items():
        shutil.copyfile(shared / "dltrack_apo" / "images" / src, SAMPLES / dst)
    shutil.copyfile(shared / "dltrack_apo" / "LICENSE", SAMPLES / "LICENSE_DL_Track_Apache-2.0")
    print("copied sample_images/dltrack_*.png")


#: Rescaled, recompressed captures whose ruler numbers the OCR misread (a new-user trial,
#: 2026-11-30): ``(source, width, height, interpolation, JPEG quality, name)``. With "1"
#: and "7" read from an icon and a tick's fragment, and a "60" read as "3", both once gave a
#: confirmed scale 2-5x off.
MISREAD_RULERS = (
    ("img_00450.png", 657, 554, "cubic", 70, "misread_00450_657x554.jpg"),
    ("img_00481.png", 596, 502, "linear", 70, "misread_00481_596x502.jpg"),
)


def make_misread_rulers(shared: Path) -> None:
    import cv2

    out = TESTS / "rulers"
    modes = {"cubic": cv2.INTER_CUBIC, "linear": cv2.INTER_LINEAR}
    for src, width, height, mode, quality, name in MISREAD_RULERS:
        image = cv2.imread(str(shared / "dltrack_apo" / "images" / src), cv2.IMREAD_COLOR)
        small = cv2.resize(image, (width, height), interpolation=modes[mode])
        cv2.imwrite(str(out / name), small, [cv2.IMWRITE_JPEG_QUALITY, quality])
        print(f"wrote tests/data/rulers/{name}")


#: A real capture that the shipped model measured ``ok`` on the wrong muscle when turned upside
#: down (before the orientation look, 2026-12-01): its imaging region, unchanged, for
#: ``tests/segment/test_second_look.py`` (``img_00440.png``, a ``val`` capture, 660x556).
UPRIGHT_CAPTURE = ("img_00440.png", "upright_00440.png")


def make_upright_capture(shared: Path) -> None:
    import cv2

    from musclethick.region import find_imaging_region

    src, name = UPRIGHT_CAPTURE
    grey = cv2.imread(str(shared / "dltrack_apo" / "images" / src), cv2.IMREAD_GRAYSCALE)
    box = find_imaging_region(grey)
    cv2.imwrite(str(TESTS / "images" / name), grey[box.slices()])
    print(f"wrote tests/data/images/{name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    make_images(args.shared)
    make_dicom(args.shared)
    make_video(args.shared)
    make_misread_rulers(args.shared)
    make_upright_capture(args.shared)


if __name__ == "__main__":
    main()
