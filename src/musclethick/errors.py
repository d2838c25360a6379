"""Typed errors of musclethick.

Every error raised on purpose by the package derives from :class:`MusclethickError`.
Messages are one line and, where a file is involved, name it, so a batch can record
``str(error)`` as the reason a scan failed.
"""

from __future__ import annotations

__all__ = [
    "BoundaryNotFound",
    "CalibrationError",
    "InputError",
    "InvalidValueError",
    "ModelError",
    "MusclethickError",
    "ProtocolError",
    "ProtocolNotFoundError",
    "StoreError",
    "UsageError",
]


class MusclethickError(Exception):
    """Base class of all errors raised by musclethick."""


class UsageError(MusclethickError):
    """A command-line option or argument cannot be used as given (exit code 2).

    The message names the option and says how to fix it, e.g. an output path that is one of
    the inputs, or an existing output without ``--overwrite``.
    """


class InputError(MusclethickError):
    """A scan file cannot be read: missing, corrupt, unsupported or not an image."""


class InvalidValueError(MusclethickError, ValueError):
    """A field of one of musclethick's data types holds a value outside its allowed set.

    E.g. a :class:`~musclethick.types.Boundary` whose ``source`` is not one of
    :data:`~musclethick.types.BoundarySource`. The message names the field, the value and
    the allowed values. It is also a :class:`ValueError`.
    """


class CalibrationError(MusclethickError):
    """No trustworthy physical calibration could be found or derived."""


class BoundaryNotFound(MusclethickError):
    """An aponeurosis (muscle boundary) could not be found in a frame."""


class ProtocolError(MusclethickError):
    """A protocol, manifest or settings file is invalid."""


class ProtocolNotFoundError(ProtocolError, UsageError):
    """A protocol named (a file or a shipped name) does not exist.

    A usage error (exit code 2 on the command line) and a :class:`ProtocolError`.
    """


class ModelError(MusclethickError):
    """Model weights are missing, corrupt or do not match their model card."""


class StoreError(MusclethickError):
    """The study store (SQLite) is unusable or inconsistent."""
