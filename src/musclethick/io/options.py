"""Options of the readers: calibration overrides and frame selection (pure, frozen)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..plausible import check_depth_mm, check_mm_per_px

if TYPE_CHECKING:
    from ..calibration_profile import CalibrationProfile
    from ..types import Calibration

__all__ = [
    "ALL_FRAMES",
    "DEFAULT_CALIBRATION",
    "CalibrationOptions",
    "FrameSelection",
    "from_options",
]


@dataclass(frozen=True)
class CalibrationOptions:
    """How the readers calibrate frames.

    Precedence (most trusted first): ``mm_per_px`` (source ``"user"``) > ``depth_mm``
    (source ``"depth"``) > DICOM ultrasound regions / PixelSpacing > calibration ``profile``
    (screen captures of its display) > on-screen ruler (``use_ruler``) > uncalibrated.

    Attributes
    ----------
    mm_per_px : float or None
        Pixel size in mm given by the user (square pixels).
    depth_mm : float or None
        Depth shown by the imaging region (top to bottom) in mm; the pixel size is
        ``depth_mm / region height in px``.
    use_ruler : bool
        Try to read the on-screen depth ruler of screen captures and videos.
    profile : CalibrationProfile or None
        A calibrated display (:mod:`musclethick.calibration_profile`), applied to the
        screen captures whose layout matches it; others are flagged ``profile_mismatch``.
    ocr : bool
        Read the ruler's printed numbers with the OCR engine when it is installed.

    Raises
    ------
    ValueError
        ``mm_per_px`` or ``depth_mm`` outside the plausible range
        (:mod:`musclethick.plausible`).
    """

    mm_per_px: float | None = None
    depth_mm: float | None = None
    use_ruler: bool = True
    profile: CalibrationProfile | None = None
    ocr: bool = True

    def __post_init__(self) -> None:
        if self.mm_per_px is not None:
            check_mm_per_px(self.mm_per_px)
        if self.depth_mm is not None:
            check_depth_mm(self.depth_mm)


_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")
_EVERY = re.compile(r"^\s*every\s*:\s*(\d+)\s*$", re.IGNORECASE)
_SINGLE = re.compile(r"^\s*(\d+)\s*$")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@dataclass(frozen=True)
class FrameSelection:
    """Which frames of a multi-frame file to read, like ``range(start, stop, step)``.

    Attributes
    ----------
    start : int
        First frame (0-based).
    stop : int or None
        One past the last frame; ``None`` for "to the end".
    step : int
        Take every ``step``-th frame (>= 1).
    """

    start: int = 0
    stop: int | None = None
    step: int = 1

    def __post_init__(self) -> None:
        if self.start < 0:
            raise ValueError(f"FrameSelection.start must be >= 0, got {self.start}")
        if self.stop is not None and self.stop < self.start:
            raise ValueError(f"FrameSelection.stop ({self.stop}) is before start ({self.start})")
        if self.step < 1:
            raise ValueError(f"FrameSelection.step must be >= 1, got {self.step}")

    def describe(self) -> str:
        """The selection as a person writes it: ``"all frames"``, ``"every 2nd frame"``,
        ``"frames 10-20"``, ``"frame 3"``, ``"frames 10:40:2"``."""
        if self.stop is None:
            if self.step == 1:
                return "all frames" if self.start == 0 else f"frames {self.start}-end"
            if self.start == 0:
                return f"every {_ordinal(self.step)} frame"
            return f"frames {self.start}::{self.step}"
        if self.step == 1:
            if self.stop == self.start + 1:
                return f"frame {self.start}"
            return f"frames {self.start}-{self.stop - 1}"
        return f"frames {self.start}:{self.stop}:{self.step}"

    @classmethod
    def parse(cls, text: str) -> FrameSelection:
        """Parse a frame selection.

        Parameters
        ----------
        text : str
            ``"all"`` (also ``""`` and ``":"``); ``"every:N"`` (every N-th frame); ``"A-B"``
            (frames A to B *inclusive*); ``"N"`` (frame N only); ``"A:B"`` or ``"A:B:S"``
            (Python slice syntax, B exclusive, either bound may be empty).

        Returns
        -------
        FrameSelection

        Raises
        ------
        ValueError
            If ``text`` is not one of these forms.
        """
        s = text.strip()
        if s.lower() in ("all", "", ":"):
            return cls()
        if m := _EVERY.match(s):
            if int(m.group(1)) < 1:
                raise ValueError(f"frame selection {text!r}: every N-th frame needs N >= 1")
            return cls(step=int(m.group(1)))
        if m := _RANGE.match(s):
            a, b = int(m.group(1)), int(m.group(2))
            if b < a:
                raise ValueError(f"frame range {text!r} ends before it starts")
            return cls(a, b + 1, 1)
        if m := _SINGLE.match(s):
            return cls(int(m.group(1)), int(m.group(1)) + 1, 1)
        parts = s.split(":")
        if 2 <= len(parts) <= 3:
            try:
                nums = [int(p) if p.strip() else None for p in parts]
            except ValueError:
                nums = None
            if nums is not None:
                start = 0 if nums[0] is None else nums[0]
                step = 1 if len(nums) < 3 or nums[2] is None else nums[2]
                if step < 1:
                    raise ValueError(
                        f"frame selection {text!r}: the step (the third number) must be at "
                        "least 1, e.g. '0:10:2' for every other frame of 0 to 9"
                    )
                if nums[1] is not None and nums[1] <= start:
                    raise ValueError(
                        f"frame selection {text!r} selects no frame (the end, exclusive, must "
                        "come after the start), e.g. '0:10' for frames 0 to 9"
                    )
                return cls(start, nums[1], step)
        raise ValueError(
            f"cannot parse frame selection {text!r}: use 'all', 'every:N', 'A-B', 'N' or 'A:B:S'"
        )

    def indices(self, n_frames: int) -> range:
        """Selected frame indices of a file of ``n_frames`` frames."""
        stop = n_frames if self.stop is None else min(self.stop, n_frames)
        return range(min(self.start, stop), stop, self.step)

    def contains(self, index: int) -> bool:
        """True when frame ``index`` is selected (for streams of unknown length)."""
        if index < self.start or (self.stop is not None and index >= self.stop):
            return False
        return (index - self.start) % self.step == 0

    def is_past(self, index: int) -> bool:
        """True when no frame at or after ``index`` is selected."""
        return self.stop is not None and index >= self.stop


def from_options(options: CalibrationOptions, *, region_height_px: int) -> Calibration | None:
    """The user's calibration (``mm_per_px`` first, then ``depth_mm``), or ``None``."""
    from ..calibration import from_depth
    from ..types import Calibration

    if options.mm_per_px is not None:
        return Calibration.isotropic(options.mm_per_px, "user", "given by the user")
    if options.depth_mm is not None:
        return from_depth(options.depth_mm, region_height_px=region_height_px)
    return None


#: ``CalibrationOptions()``: no user calibration, read the ruler (default of the readers).
DEFAULT_CALIBRATION = CalibrationOptions()
#: ``FrameSelection()``: every frame (default of the readers).
ALL_FRAMES = FrameSelection()
