"""Reading short printed words (ruler numbers, depth read-outs) with Tesseract (optional).

The engine is Tesseract 5 through ``tesserocr`` (its wheel carries the library; the English
model comes from the Debian package ``tesseract-ocr-eng``, pulled in by ``tesseract-ocr``).
It runs in-process: a word crop reads in about 3 ms, against about 200 ms for a call of the
``tesseract`` program. It is optional: :func:`default_reader` returns ``None`` when the
package or the model is missing, and the ruler reader then flags its calibration as
unconfirmed instead of guessing.

Readings are cached by the crops' pixels, so the identical numbers of one display are read
once per process. The engine is not thread-safe: a lock serialises the reads.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np

__all__ = ["TesseractReader", "TextReader", "Word", "default_reader", "find_tessdata"]

#: Characters the ruler reader needs: digits, decimal point and the depth units.
WHITELIST = "0123456789.cmDeptCM"
#: Height the crops are scaled to (screen digits are 7-12 px tall; Tesseract reads best
#: at about this size).
_HEIGHT_PX = 24
_PAD_PX = 12
_CACHE_MAX = 4096
#: Where Debian (5.x, 4.x) and other systems put the models.
_TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/opt/homebrew/share/tessdata",
)


@dataclass(frozen=True)
class Word:
    """Text read from one crop.

    Attributes
    ----------
    text : str
        The characters read, ``""`` when nothing was read.
    confidence : float
        Tesseract's mean confidence, 0 to 100 (0 when nothing was read).
    """

    text: str
    confidence: float


class TextReader(Protocol):
    """Anything that reads grey word crops (dark text on a white background)."""

    name: str

    def read_words(self, crops: Sequence[np.ndarray]) -> list[Word]:
        """One :class:`Word` per crop, in order."""
        ...


def find_tessdata() -> Path | None:
    """Folder holding ``eng.traineddata`` (``TESSDATA_PREFIX`` first), or ``None``."""
    env = os.environ.get("TESSDATA_PREFIX")
    for folder in ([env] if env else []) + list(_TESSDATA_DIRS):
        if (Path(folder) / "eng.traineddata").is_file():
            return Path(folder)
    return None


class TesseractReader:
    """:class:`TextReader` on Tesseract's single-line mode, one crop at a time."""

    def __init__(self, tessdata: str | Path, *, whitelist: str = WHITELIST) -> None:
        import tesserocr

        self._api = tesserocr.PyTessBaseAPI(
            path=str(tessdata).rstrip("/") + "/", lang="eng", psm=tesserocr.PSM.SINGLE_LINE
        )
        self._api.SetVariable("tessedit_char_whitelist", whitelist)
        self.name = f"tesseract {self._api.Version()}"
        self._lock = threading.Lock()
        self._cache: dict[bytes, Word] = {}

    def read_words(self, crops: Sequence[np.ndarray]) -> list[Word]:
        from PIL import Image

        out = []
        with self._lock:
            for crop in crops:
                key = _key(crop)
                word = self._cache.get(key)
                if word is None:
                    self._api.SetImage(Image.fromarray(_prepare(crop)))
                    text = self._api.GetUTF8Text().strip()
                    word = Word(text, float(self._api.MeanTextConf()) if text else 0.0)
                    if len(self._cache) >= _CACHE_MAX:
                        self._cache.clear()
                    self._cache[key] = word
                out.append(word)
        return out


def _key(crop: np.ndarray) -> bytes:
    a = np.ascontiguousarray(crop, dtype=np.uint8)
    return hashlib.blake2b(a.tobytes() + repr(a.shape).encode(), digest_size=16).digest()


def _prepare(crop: np.ndarray) -> np.ndarray:
    """The crop scaled to :data:`_HEIGHT_PX` rows, on a white margin."""
    import cv2

    c = np.asarray(crop, dtype=np.uint8)
    f = _HEIGHT_PX / c.shape[0]
    up = cv2.resize(c, (max(1, round(c.shape[1] * f)), _HEIGHT_PX), interpolation=cv2.INTER_CUBIC)
    return np.pad(up, _PAD_PX, constant_values=255)


@cache
def default_reader() -> TextReader | None:
    """The Tesseract reader, or ``None`` when ``tesserocr`` or the English model is missing."""
    tessdata = find_tessdata()
    if tessdata is None:
        return None
    try:
        return TesseractReader(tessdata)
    except (ImportError, RuntimeError):  # not installed, or the engine does not start
        return None
