"""musclethick: skeletal-muscle thickness on B-mode ultrasound."""

from musclethick.errors import (
    BoundaryNotFound,
    CalibrationError,
    InputError,
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
    "LineMeasurement",
    "ModelError",
    "MusclethickError",
    "PixelBox",
    "ProtocolError",
    "ScanMetadata",
    "StoreError",
    "__version__",
]
