"""Pixel sizes of the committed real captures read from their rulers by hand (test helper).

An answer independent of :mod:`musclethick.ruler`: the rows of the ruler's ticks were read
from the pixels (a column that crosses only the ticks; 2-px ticks at their centre, ``.5``)
and the numbers printed beside the first and last tick were read by eye from the images
(``tests/data/NOTICE.md``). The DL_Track 800x600 and 800x652 displays print no numbers: for
them the 10 mm per major tick of :data:`musclethick.ruler.ASSUMED_MAJOR_TICK_MM` is a
convention, not a reading (their values are flagged ``calibration_unconfirmed``). Imported by
the tests as ``ruler_reference`` (``tests/`` is on ``sys.path`` through its ``conftest.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RulerReference:
    """Tick rows (px) in ``column`` and the mm printed at the first and last of them."""

    column: int
    tick_rows: tuple[float, ...]
    printed_mm: tuple[float, float] | None  # None: unlabelled, 10 mm per tick assumed

    @property
    def span_mm(self) -> float:
        if self.printed_mm is None:
            return 10.0 * (len(self.tick_rows) - 1)
        return self.printed_mm[1] - self.printed_mm[0]

    @property
    def mm_per_px(self) -> float:
        return self.span_mm / (self.tick_rows[-1] - self.tick_rows[0])

    @property
    def rel_tolerance(self) -> float:
        """Each end tick's row is known to half a pixel: 1 px over the span."""
        return 1.0 / (self.tick_rows[-1] - self.tick_rows[0])

    def ticks_present(self, grey: np.ndarray, *, threshold: int = 100) -> bool:
        """Whether every listed tick is bright in ``column`` (the reading can be checked)."""
        col = np.asarray(grey)[:, self.column] > threshold
        return all(col[int(np.floor(r))] or col[int(np.ceil(r))] for r in self.tick_rows)


RULERS = {
    # "0" beside the top tick, "60" (mirrored) beside the bottom one: 10 mm per tick
    "dltrack_telemed_660x556_img_00309.png": RulerReference(
        584, (43.0, 119.5, 197.5, 274.5, 352.5, 429.5, 507.5), (0.0, 60.0)
    ),
    # "0" beside the top tick, "50" (mirrored) beside the bottom one: 10 mm per tick
    "dltrack_telemed_1234x688_img_00005.png": RulerReference(
        1157, (43.0, 168.5, 294.5, 420.5, 547.5, 673.5), (0.0, 50.0)
    ),
    "dltrack_800x600_img_00002.png": RulerReference(3, (70.5, 182.5, 296.5, 409.5, 522.5), None),
    "dltrack_800x652_img_00037.png": RulerReference(
        2, (129.0, 223.0, 317.0, 412.0, 506.0, 601.0), None
    ),
}
