"""musclethick: skeletal-muscle thickness on B-mode ultrasound.

>>> import musclethick
>>> results = musclethick.measure_file("sample_images/dltrack_512x512_img_00053.png", 0.1)

:func:`measure_image` measures an array, :func:`measure_file` a DICOM, video or image file,
:func:`results_table` turns results into the rows of ``results.csv``. Importing the package
loads numpy only; the pipeline (OpenCV, the model runtime) is imported on the first call.
"""

from musclethick.api import measure_file, measure_image, results_table
from musclethick.errors import (
    BoundaryNotFound,
    CalibrationError,
    InputError,
    InvalidValueError,
    ModelError,
    MusclethickError,
    ProtocolError,
    StoreError,
)
from musclethick.types import (
    Boundary,
    Calibration,
    Frame,
    FrameResult,
    LineMeasurement,
    PixelBox,
    ScanMetadata,
)

__version__ = "0.1.0"

__all__ = [
    "Boundary",
    "BoundaryNotFound",
    "Calibration",
    "CalibrationError",
    "Frame",
    "FrameResult",
    "InputError",
    "InvalidValueError",
    "LineMeasurement",
    "ModelError",
    "MusclethickError",
    "PixelBox",
    "ProtocolError",
    "ScanMetadata",
    "StoreError",
    "__version__",
    "measure_file",
    "measure_image",
    "results_table",
]
