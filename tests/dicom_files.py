"""Ultrasound DICOM files written for the tests (pydicom), from pixels the test gives."""

from __future__ import annotations

import numpy as np
import pydicom


def us_dataset(**tags) -> pydicom.Dataset:
    """An ultrasound image data set (explicit VR little endian, new UIDs) with ``tags`` set and
    no pixels yet."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    for key, value in tags.items():
        setattr(ds, key, value)
    return ds


def rgb_us_dicom(path, rgb: np.ndarray, **tags):
    """Write one 8-bit RGB frame ``(rows, cols, 3)`` as an ultrasound DICOM."""
    ds = us_dataset(**tags)
    ds.Rows, ds.Columns = rgb.shape[:2]
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.ascontiguousarray(rgb, np.uint8).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path
