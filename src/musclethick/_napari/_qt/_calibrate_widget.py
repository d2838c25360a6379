"""Calibrate widget: two clicks on the on-screen ruler of a whole capture -> a profile (TOML).

The reader shows only the imaging region; this widget opens the *whole* capture (ruler and
text kept) with a points layer for the clicks. Click two ticks of the ruler, type their
distance as printed (e.g. "0" and "50" -> 50 mm), say who you are, and save the profile for
``musclethick measure/batch --calibration PROFILE``. All logic is in
:func:`musclethick.calibration_profile.profile_from_points`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from qtpy.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from musclethick.calibration_profile import (
    CalibrationProfile,
    profile_from_points,
    save_profile,
)
from musclethick.errors import MusclethickError

if TYPE_CHECKING:
    import napari

__all__ = ["CalibrateWidget"]

CAPTURE_LAYER = "capture (whole)"
CLICKS_LAYER = "ruler clicks"


class CalibrateWidget(QWidget):
    """Open a whole capture, click two ruler ticks, save a calibration profile."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.path: Path | None = None
        self.open_button = QPushButton("Open whole capture…")
        self.distance = QDoubleSpinBox()
        self.distance.setRange(0.1, 400.0)
        self.distance.setDecimals(1)
        self.distance.setValue(10.0)
        self.distance.setSuffix(" mm")
        self.who = QLineEdit()
        self.who.setPlaceholderText("your name or initials")
        self.save_button = QPushButton("Save profile…")
        self.status = QLabel("Open a capture, then click two ticks of its depth ruler.")
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("distance between the clicks", self.distance)
        form.addRow("confirmed by", self.who)
        layout = QVBoxLayout(self)
        layout.addWidget(self.open_button)
        layout.addLayout(form)
        layout.addWidget(self.save_button)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.open_button.clicked.connect(self._ask_open)
        self.save_button.clicked.connect(self._ask_save)

    def load_capture(self, path: str | Path) -> None:
        """Show the whole capture and an empty points layer in add mode."""
        from musclethick.io import read_capture

        grey = read_capture(path)
        self.path = Path(path)
        for name in (CAPTURE_LAYER, CLICKS_LAYER):
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
        self.viewer.add_image(grey, name=CAPTURE_LAYER, metadata={"path": str(path)})
        points = self.viewer.add_points(
            name=CLICKS_LAYER, ndim=2, size=max(4, grey.shape[0] // 80), face_color="red"
        )
        points.mode = "add"
        self.status.setText(f"{self.path.name}: click two ticks of the ruler.")

    def profile(self, *, name: str = "") -> CalibrationProfile:
        """The profile from the last two clicks (:class:`MusclethickError` when not ready)."""
        if self.path is None or CLICKS_LAYER not in self.viewer.layers:
            raise MusclethickError("open a capture first")
        clicks = self.viewer.layers[CLICKS_LAYER].data
        if len(clicks) < 2:
            raise MusclethickError("click two ticks of the ruler")
        (y0, x0), (y1, x1) = clicks[-2], clicks[-1]
        grey = self.viewer.layers[CAPTURE_LAYER].data
        return profile_from_points(
            grey,
            (float(x0), float(y0)),
            (float(x1), float(y1)),
            distance_mm=self.distance.value(),
            name=name or self.path.stem,
            confirmed_by=self.who.text(),
            scan=str(self.path),
            created=datetime.now().isoformat(timespec="seconds"),
        )

    def save(self, path: str | Path) -> CalibrationProfile:
        """Write the profile of the clicks to ``path`` and report it."""
        profile = save_profile(self.profile(name=Path(path).stem), path)
        self.status.setText(
            f"{profile.mm_per_px:.5f} mm/px saved to {path}: use it with "
            f"'musclethick measure/batch --calibration {path}'"
        )
        return profile

    def _ask_open(self) -> None:  # pragma: no cover - file dialog
        path, _ = QFileDialog.getOpenFileName(self, "Whole screen capture")
        if path:
            try:
                self.load_capture(path)
            except MusclethickError as error:
                self.status.setText(str(error))

    def _ask_save(self) -> None:  # pragma: no cover - file dialog
        path, _ = QFileDialog.getSaveFileName(self, "Calibration profile", filter="*.toml")
        if path:
            try:
                self.save(path)
            except MusclethickError as error:
                self.status.setText(str(error))
