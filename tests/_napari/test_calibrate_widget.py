"""Two clicks on the ruler of a whole capture in napari -> a calibration profile."""

from __future__ import annotations

import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.napari

from musclethick._napari._qt._calibrate_widget import (  # noqa: E402
    CAPTURE_LAYER,
    CLICKS_LAYER,
    CalibrateWidget,
)
from musclethick.calibration_profile import load_profile  # noqa: E402
from musclethick.errors import MusclethickError  # noqa: E402

TELEMED = "dltrack_telemed_660x556_img_00309.png"


def test_two_clicks_on_the_printed_ticks_make_a_profile(viewer, sample_images, tmp_path):
    widget = CalibrateWidget(viewer)
    widget.load_capture(sample_images / TELEMED)
    assert viewer.layers[CAPTURE_LAYER].data.shape == (556, 660)  # whole, ruler included
    with pytest.raises(MusclethickError, match="click two ticks"):
        widget.profile()
    # the ticks printed "0" and "60" (rows 43 and 508, column 580; tests/data/NOTICE.md)
    viewer.layers[CLICKS_LAYER].add([[43.0, 580.0], [508.0, 580.0]])
    widget.distance.setValue(60.0)
    with pytest.raises(MusclethickError, match="who clicked"):
        widget.profile()
    widget.who.setText("JD")
    profile = widget.save(tmp_path / "telemed.toml")
    assert profile.mm_per_px == pytest.approx(60.0 / 465.0)
    again = load_profile(tmp_path / "telemed.toml")
    assert again.confirmed_by == "JD" and again.method.startswith("two clicks on the ruler")
    assert (again.layout.width_px, again.layout.height_px) == (660, 556)
    assert "0.12903 mm/px saved" in widget.status.text()
