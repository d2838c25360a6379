"""The second look of the layer model: changed copies of a frame close to a doubt (mirrored,
brighter, darker) are measured too, and a frame whose answer changes is flagged ``unstable``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from layer_maps import COLS, ROWS, layer_map  # tests/segment/layer_maps.py

from musclethick.qc import describe_flags
from musclethick.segment import SegmentationModel
from musclethick.segment.postprocess import (
    PostprocessOptions,
    boundaries_from_layers,
    needs_brightness_look,
    with_gamma,
)


class BrightnessReader:
    """A predictor whose layer map follows the frame: the deep edge at row 60, at
    ``bright_deep`` when the frame's mean grey level is above 110 and at ``dark_deep`` when it
    is below 90 (``None``: no muscle belly at all, so no layer pair); map certainty
    ``certainty``. Records the frames it is given."""

    input_shape = (ROWS, COLS)
    backend = "test"

    def __init__(self, *, bright_deep=60.0, dark_deep=60.0, certainty=0.7) -> None:
        self.bright_deep = bright_deep
        self.dark_deep = dark_deep
        self.certainty = certainty
        self.seen: list[np.ndarray] = []

    def _map(self, frame):
        mean = frame.mean()
        deep = self.bright_deep if mean > 110 else self.dark_deep if mean < 90 else 60.0
        if deep is None:
            return np.full((6, ROWS, COLS), 0.2, np.float32)  # no belly anywhere
        return layer_map(20.0, deep, certainty=self.certainty)

    def predict_small(self, frames):
        self.seen.extend(frames)
        return [self._map(f) for f in frames]


def _model(predictor, **kwargs) -> SegmentationModel:
    """A model around a stand-in predictor; the orientation look off unless ``postprocess`` is
    given (the tests of the other looks count the frames the predictor sees)."""
    kwargs.setdefault("postprocess", PostprocessOptions(orientation_look=False))
    return SegmentationModel(
        predictor, name="t", version="0", sha256="", card={}, path=Path("t.pt"), **kwargs
    )


FRAME = np.full((ROWS, COLS), 100, dtype=np.uint8)  # gamma 0.7: 132; gamma 1.4: 69


def test_with_gamma_brightens_and_darkens_grey_levels():
    np.testing.assert_array_equal(with_gamma(np.array([0, 255], np.uint8), 0.7), [0, 255])
    assert with_gamma(FRAME, 0.7)[0, 0] == round(255 * (100 / 255) ** 0.7)  # 132
    assert with_gamma(FRAME, 1.4)[0, 0] == round(255 * (100 / 255) ** 1.4)  # 69
    out = with_gamma(np.full((2, 2), 100.0, np.float32), 0.7)
    assert out.dtype == np.float32 and out[0, 0] == pytest.approx(255 * (100 / 255) ** 0.7)
    assert FRAME[0, 0] == 100  # the input is not written


def test_the_brightness_look_rule_takes_confident_frames_and_doubted_ones_out():
    # confidence 0.79 (in [0.7, 0.8)): looked at; 0.86: confident; 0.65: low_confidence anyway
    assert needs_brightness_look(boundaries_from_layers(layer_map(20.0, 60.0, certainty=0.7)))
    assert not needs_brightness_look(boundaries_from_layers(layer_map(20.0, 60.0, certainty=0.8)))
    assert not needs_brightness_look(boundaries_from_layers(layer_map(20.0, 60.0, certainty=0.5)))
    off = PostprocessOptions(brightness_look_confidence=(0.0, 0.0))
    assert not needs_brightness_look(
        boundaries_from_layers(layer_map(20.0, 60.0, certainty=0.7)), off
    )


def test_a_frame_whose_answer_changes_when_brightened_is_unstable():
    reader = BrightnessReader(bright_deep=70.0)  # brighter: the deep edge moves 10 of 40 rows
    (res,) = _model(reader).find_boundaries([FRAME], keep_probability=False)
    assert "unstable" in res.doubts
    assert "brighter frame (gamma 0.7) differs by 25 %" in res.note
    assert "brighter or darker" in describe_flags(("unstable",))
    # the frame, then (a confidence below 0.8) its mirrored copy and one brighter and one
    # darker copy, in one batch
    assert [int(f[0, 0]) for f in reader.seen] == [100, 100, 132, 69]
    # the answer itself is the unchanged frame's
    assert res.deep.y_at(50.0) == pytest.approx(60.0, abs=0.05)


def test_a_frame_whose_answer_holds_is_not_flagged():
    reader = BrightnessReader(bright_deep=61.0)  # 2.5 %: within the 5 % allowed
    (res,) = _model(reader).find_boundaries([FRAME], keep_probability=False)
    assert res.doubts == () and len(reader.seen) == 4  # the frame, mirrored, brighter, darker


def test_confident_frames_get_no_second_look():
    reader = BrightnessReader(bright_deep=70.0, certainty=0.9)
    (res,) = _model(reader).find_boundaries([FRAME], keep_probability=False)
    assert res.doubts == () and len(reader.seen) == 1


def test_the_second_look_can_be_switched_off():
    reader = BrightnessReader(bright_deep=70.0)
    (res,) = _model(reader, second_look=False).find_boundaries([FRAME], keep_probability=False)
    assert res.doubts == () and len(reader.seen) == 1


def test_the_results_message_says_which_copy_differed_and_by_how_much():
    from musclethick.pipeline import MeasureSettings, measure_frames
    from musclethick.types import Calibration, Frame, PixelBox

    frame = Frame(
        FRAME,
        "scan.png",
        region=PixelBox(0, 0, COLS, ROWS),
        calibration=Calibration.isotropic(0.1, "user"),
    )
    model = _model(BrightnessReader(bright_deep=70.0))
    (result,) = list(measure_frames([frame], MeasureSettings(), model=model))
    assert result.status == "flagged" and "unstable" in result.flags
    assert "brighter or darker" in result.message
    assert "brighter frame (gamma 0.7) differs by 25 %" in result.message


def test_a_copy_without_a_layer_pair_is_a_disagreement():
    # the brighter copy finds no pair, the darker one agrees: unstable all the same (a weak
    # sign, but wrong `ok` frames are rarer still)
    reader = BrightnessReader(bright_deep=None)
    (res,) = _model(reader).find_boundaries([FRAME], keep_probability=False)
    assert "unstable" in res.doubts
    assert res.note == "brighter frame (gamma 0.7) gives another answer"
    # neither copy finds a pair
    reader = BrightnessReader(bright_deep=None, dark_deep=None)
    (res,) = _model(reader).find_boundaries([FRAME], keep_probability=False)
    assert res.note == "brighter frame (gamma 0.7) and darker frame (gamma 1.4) give another answer"
    # both find a pair, the darker one 25 % off, the brighter one 2.5 %: the larger is named
    reader = BrightnessReader(bright_deep=61.0, dark_deep=70.0)
    (res,) = _model(reader).find_boundaries([FRAME], keep_probability=False)
    assert res.note == "darker frame (gamma 1.4) differs by 25 %"


def test_a_capture_turned_upside_down_is_flagged_not_measured_ok(test_data: Path):
    """A real capture (tests/data/images/upright_00440.png) turned upside down, as a display's
    up/down setting shows it: the shipped model alone measures another muscle with confidence
    (``ok``); the orientation look finds the upright copy more muscle-like and flags it
    ``upside_down``, saying why. The capture as it is keeps its result and no such flag."""
    import cv2

    from musclethick.pipeline import MeasureSettings, measure_frames
    from musclethick.segment import load_model
    from musclethick.types import Frame

    upright = cv2.imread(str(test_data / "images" / "upright_00440.png"), cv2.IMREAD_GRAYSCALE)
    turned = np.ascontiguousarray(upright[::-1, ::-1])
    settings = MeasureSettings(other_pairs=False)
    without = load_model(postprocess=PostprocessOptions(orientation_look=False))
    model = load_model()
    (blind,) = measure_frames([Frame(turned, "turned.png")], settings, model=without)
    assert blind.status == "ok"  # what the look is for
    (plain,), (found,) = (
        measure_frames([Frame(f, n)], settings, model=model)
        for f, n in ((upright, "upright.png"), (turned, "turned.png"))
    )
    assert "upside_down" not in plain.flags and plain.status != "failed"
    assert found.status == "flagged" and "upside_down" in found.flags
    assert "may be upside down" in found.message and "turn it upright" in found.message
    assert found.message.count("looks more like muscle") == 1  # the reason once, then figures
    # the fix is one key away: the runner-up pair is the one measured turned upright, in the
    # capture as it is: the upper line is the turned deep edge, and its thickness is the
    # upright capture's own (its 25 / 50 / 75 % lines lie at 75 / 50 / 25 % here, turned 180 deg)
    pair = found.runner_up
    assert pair is not None and pair.kind == "upside_down"
    assert pair.superficial.source == pair.deep.source == "runner_up"
    cols = turned.shape[1]
    xs = np.array([line.x_px for line in plain.lines])
    swapped = pair.deep.y_at((cols - 1) - xs) - pair.superficial.y_at((cols - 1) - xs)
    own = np.array([line.thickness_px for line in plain.lines])
    assert np.all(swapped > 0)
    assert np.max(np.abs(swapped - own) / own) < 0.03, (swapped, own)
    # and it is what the swap measures: the upright capture's mean within 3 %
    from musclethick.measure import assemble_result

    fixed = assemble_result(
        Frame(turned, "turned.png"), pair.superficial, pair.deep, method="runner_up"
    )
    assert fixed.mean_thickness_px == pytest.approx(plain.mean_thickness_px, rel=0.03)


class OrientationReader:
    """A predictor whose map is as sure as ``upright`` for a frame brighter at the top than at
    the bottom (as a scan is: skin and fat above, attenuation below) and ``turned`` for one
    darker at the top; records the frames it is given."""

    input_shape = (ROWS, COLS)
    backend = "test"

    def __init__(self, upright: float, turned: float) -> None:
        self.upright, self.turned = upright, turned
        self.seen: list[np.ndarray] = []

    def predict_small(self, frames):
        self.seen.extend(frames)
        sure = [self.upright if f[:10].mean() > f[-10:].mean() else self.turned for f in frames]
        return [layer_map(30.0, 100.0, certainty=c) for c in sure]


#: brighter at the top, as a scan is
SCAN = np.linspace(160, 60, ROWS, dtype=np.float32)[:, None].repeat(COLS, axis=1).astype(np.uint8)


@pytest.mark.parametrize(
    ("upright", "turned", "looked", "flagged"),
    [
        (0.75, 0.99, True, True),  # more muscle-like upside down: flagged
        (0.75, 0.75, True, False),  # no more muscle-like: no flag
        (0.99, 0.75, False, False),  # clearly muscle-like as it is: no look at all
    ],
)
def test_the_orientation_look_flags_a_frame_more_muscle_like_upside_down(
    upright, turned, looked, flagged
):
    opts = PostprocessOptions(second_look_margin_nats=0.0, second_look_min_muscle=0.0)
    opts = replace(opts, second_look_min_confidence=0.0, brightness_look_confidence=(0.0, 0.0))
    reader = OrientationReader(upright, turned)
    (res,) = _model(reader, postprocess=opts).find_boundaries([SCAN], keep_probability=False)
    turned_seen = [f for f in reader.seen if f[:10].mean() < f[-10:].mean()]
    assert len(turned_seen) == int(looked) and len(reader.seen) == 1 + int(looked)
    assert ("upside_down" in res.doubts) == flagged
    if flagged:
        assert "as captured" in res.note and "upside down" in res.note
        assert "may be upside down" in describe_flags(res.doubts)
        assert "turn it upright" in describe_flags(res.doubts)
    # switched off: never looked at
    reader = OrientationReader(upright, turned)
    off = replace(opts, orientation_look=False)
    (res,) = _model(reader, postprocess=off).find_boundaries([SCAN], keep_probability=False)
    assert len(reader.seen) == 1 and "upside_down" not in res.doubts


@pytest.mark.parametrize("doubted", [True, False])
def test_a_doubted_frame_gets_the_orientation_look_for_its_one_key_fix(doubted):
    """A frame flagged already (here ``no_muscle_texture``, forced) is looked at upside down
    too when ``orientation_look_doubted``: flagged ``upside_down`` by the larger margin, and
    the pair measured turned over is its runner-up, in the frame's own rows (the turned deep
    edge at row 100 of 160 is the frame's upper line, at 160 - 1 - 100)."""
    opts = PostprocessOptions(min_muscle_probability=1.01, orientation_look_doubted=doubted)
    opts = replace(opts, brightness_look_confidence=(0.0, 0.0))
    reader = OrientationReader(0.6, 0.99)
    (res,) = _model(reader, postprocess=opts).find_boundaries([SCAN], keep_probability=False)
    assert "no_muscle_texture" in res.doubts
    turned_seen = [f for f in reader.seen if f[:10].mean() < f[-10:].mean()]
    assert len(turned_seen) == int(doubted)
    assert ("upside_down" in res.doubts) == doubted
    if doubted:
        pair = res.runner_up
        assert pair is not None and pair.kind == "upside_down"
        upper, lower = np.median(pair.superficial.y_px), np.median(pair.deep.y_px)
        own = np.median(res.deep.y_px) - np.median(res.superficial.y_px)
        assert upper < lower and lower - upper == pytest.approx(own, abs=1.5)
        assert upper == pytest.approx(ROWS - 1 - np.median(res.deep.y_px), abs=1.5)
    else:
        assert res.runner_up is None or res.runner_up.kind != "upside_down"


def test_a_capture_turned_by_90_degrees_fails_and_says_it_looks_rotated(test_data: Path):
    """A real capture exported in portrait (turned by 90 degrees either way) cannot be
    measured; its failed result is flagged ``rotated`` and says to turn it, since turned back
    it looks like muscle. The capture as it is has no such flag, and the look is not run on a
    measured frame (nor with ``rotation_look`` off)."""
    import cv2

    from musclethick.pipeline import MeasureSettings, measure_frames
    from musclethick.qc import FLAG_DESCRIPTIONS
    from musclethick.segment import load_model
    from musclethick.types import Frame

    upright = cv2.imread(str(test_data / "images" / "upright_00440.png"), cv2.IMREAD_GRAYSCALE)
    model = load_model()
    settings = MeasureSettings(other_pairs=False)
    (plain,) = measure_frames([Frame(upright, "upright.png")], settings, model=model)
    assert plain.status != "failed" and "rotated" not in plain.flags
    assert model.rotation_look(upright) is None  # upright: nothing muscle-like turned by 90
    for k in (1, -1):
        portrait = np.ascontiguousarray(np.rot90(upright, k))
        (found,) = measure_frames([Frame(portrait, "portrait.png")], settings, model=model)
        assert found.status == "failed" and "rotated" in found.flags, found.flags
        assert "turned by 90 degrees the image looks like muscle" in found.message
        assert "rotated" in FLAG_DESCRIPTIONS
    off = load_model(postprocess=PostprocessOptions(rotation_look=False))
    (blind,) = measure_frames([Frame(portrait, "portrait.png")], settings, model=off)
    assert blind.status == "failed" and "rotated" not in blind.flags
