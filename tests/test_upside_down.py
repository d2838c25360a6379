"""A study captured upside down (a display's up/down setting): ``--upside-down`` turns every
frame upright before measuring and places the points back in the capture; without it, a run
whose frames look upside down says so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from musclethick.io import read

FIXTURE = "upright_00440.png"  # a real capture (DL_Track, 660x556 display; tests/data/NOTICE.md)


def _upright(test_data: Path) -> np.ndarray:
    return np.asarray(Image.open(test_data / "images" / FIXTURE).convert("L"))


def _write(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(pixels)).save(path)
    return path


def test_read_turns_each_frame_upright_and_keeps_the_region_and_calibration(
    test_data: Path, sample_images: Path
):
    """Every reader's frames come turned (rows reversed, columns kept), marked ``turned``,
    with the imaging region and the pixel size read from the capture as it is."""
    for path in (
        sample_images / "dltrack_telemed_1234x688_img_00005.png",  # a screen capture, ruler
        sample_images / "multiframe.dcm",
        sample_images / "cine.mp4",
    ):
        plain = list(read(path))
        turned = list(read(path, upside_down=True))
        assert len(plain) == len(turned) > 0
        for a, b in zip(plain, turned, strict=True):
            assert not a.turned and b.turned, path
            assert np.array_equal(b.pixels, a.pixels[::-1]), path
            assert (b.region, b.calibration, b.frame_index) == (
                a.region,
                a.calibration,
                a.frame_index,
            )


def test_a_convex_fan_shown_upside_down_is_found_once_turned(tmp_path: Path):
    """A fan whose apex is at the bottom (the display turned upside down) is no fan as it is;
    turned upright first, it is laid out as its beams."""
    from test_fan import _drawn_fan

    fan = _drawn_fan(480, 560, 25.0, 300.0, 279.5, -300.0 * np.cos(np.deg2rad(25.0)) + 2)
    path = _write(tmp_path / "fan_upside_down.png", fan[::-1])
    [plain] = list(read(path))
    [turned] = list(read(path, upside_down=True))
    assert plain.fan is None
    assert turned.turned and turned.fan is not None


def _points(record: dict, side: str) -> np.ndarray:
    return np.asarray(record[side]["points"], dtype=np.float64)


def test_measure_upside_down_gives_the_upright_capture_its_own_numbers_and_points(
    test_data: Path, tmp_path: Path, capsys
):
    """The capture turned upside down and measured with ``--upside-down`` has the upright
    capture's status and thickness, and its boundaries.json points are the upright capture's
    turned over (the points lie on the capture as it was given); the overlay says it was
    turned. Without the option the same file is flagged ``upside_down``."""
    from musclethick.cli import main

    upright = _upright(test_data)
    rows = upright.shape[0]
    _write(tmp_path / "upright.png", upright)
    _write(tmp_path / "turned.png", upright[::-1])
    out = tmp_path / "out"
    common = ["--mm-per-px", "0.1", "-q"]
    upright_run = ["measure", str(tmp_path / "upright.png"), "--out", str(out / "u.csv")]
    assert main([*upright_run, "--boundaries", str(out / "u.json"), *common]) == 0
    turned_run = ["measure", str(tmp_path / "turned.png"), "--out", str(out / "t.csv")]
    turned_run += ["--boundaries", str(out / "t.json"), "--overlays", str(out / "ov")]
    assert main([*turned_run, "--upside-down", *common]) == 0
    as_it_is = ["measure", str(tmp_path / "turned.png"), "--out", str(out / "x.csv")]
    assert main([*as_it_is, *common]) == 0
    [own] = json.loads((out / "u.json").read_text())["frames"]
    [back] = json.loads((out / "t.json").read_text())["frames"]
    assert own["turned"] is False and back["turned"] is True
    assert own["status"] == back["status"] == "ok" and back["flags"] == []
    for side in ("superficial", "deep"):
        a, b = _points(own, side), _points(back, side)
        assert a.shape == b.shape
        assert np.allclose(b[:, 0], a[:, 0], atol=0.01)
        assert np.allclose(b[:, 1], (rows - 1) - a[:, 1], atol=0.01), side
    # on the capture as given, the superficial aponeurosis is now below the deep one
    assert np.median(_points(back, "superficial")[:, 1]) > np.median(_points(back, "deep")[:, 1])

    import csv

    def mean_mm(name: str) -> tuple[str, float]:
        rows_csv = list(csv.DictReader((out / name).open()))
        (mean,) = [r for r in rows_csv if r["line"] == "mean"]
        return mean["status"], float(mean["thickness_mm"])

    assert mean_mm("t.csv")[1] == pytest.approx(mean_mm("u.csv")[1], rel=1e-6)
    status, _ = mean_mm("x.csv")
    x_flags = next(csv.DictReader((out / "x.csv").open()))["flags"]
    assert status == "flagged" and "upside_down" in x_flags
    assert len(list((out / "ov").rglob("*.png"))) == 1


def test_a_run_that_looks_upside_down_says_what_to_do(test_data: Path, tmp_path: Path, capsys):
    """Three upside-down captures measured as they are: each flagged ``upside_down`` and the
    summary suggests ``--upside-down``; three upright ones measured with ``--upside-down``:
    the summary suggests measuring without it. One such frame alone says nothing."""
    from musclethick.cli import main

    upright = _upright(test_data)
    turned = [_write(tmp_path / "t" / f"t{i}.png", upright[::-1]) for i in range(3)]
    plain = [_write(tmp_path / "u" / f"u{i}.png", upright) for i in range(3)]
    common = ["--mm-per-px", "0.1"]
    assert main(["measure", *map(str, turned), "--out", str(tmp_path / "t.csv"), *common]) == 0
    err = capsys.readouterr().err
    assert "3 of the 3 frames measured look upside down" in err
    assert "measure them again with --upside-down" in err
    assert main(["measure", *map(str, plain), "--out", str(tmp_path / "u.csv"), *common]) == 0
    assert "look upside down" not in capsys.readouterr().err
    args = ["measure", *map(str, plain), "--out", str(tmp_path / "v.csv"), "--upside-down"]
    assert main([*args, *common]) == 0
    err = capsys.readouterr().err
    assert "after they were turned upright" in err and "without --upside-down" in err
    args = ["measure", str(turned[0]), "--out", str(tmp_path / "one.csv"), *common]
    assert main(args) == 0
    assert "look upside down" not in capsys.readouterr().err


def test_a_study_batch_upside_down_is_stored_turned_and_reviewed_turned(
    test_data: Path, tmp_path: Path
):
    """A study of upside-down captures: measured as they are, every frame is flagged and the
    batch says so; run again with ``upside_down`` every scan is measured again (none skipped),
    stored ``turned`` and ``ok``; the frame review loads is the capture turned upright, and its
    stored points placed on the capture are the upright capture's turned over."""
    from musclethick._napari._review import frame_result_of
    from musclethick.pipeline import MeasureSettings, measure_path
    from musclethick.report import boundary_record
    from musclethick.study.batch import run_batch
    from musclethick.study.frames import load_frame
    from musclethick.study.store import StudyStore

    upright = _upright(test_data)
    rows = upright.shape[0]
    study = tmp_path / "study"
    for rep in (1, 2, 3):
        turned = upright[::-1].copy()
        turned[-1, -1] = rep  # three different files (the store skips duplicates)
        _write(study / "S01" / "week0" / f"L_VL50_{rep}.png", turned)
    store = tmp_path / "s.sqlite"
    options = {"protocol": "default", "mm_per_px": 0.1, "progress": False, "workers": 1}
    first = run_batch(study, store=store, **options)
    assert first.n_frames_upside_down == 3 and "--upside-down" in first.orientation_note()
    second = run_batch(study, store=store, upside_down=True, **options)
    assert (second.n_measured, second.n_skipped) == (3, 0)
    assert second.n_frames_ok == 3 and second.orientation_note() == ""
    third = run_batch(study, store=store, upside_down=True, **options)
    assert (third.n_measured, third.n_skipped) == (0, 3)
    with StudyStore(store, readonly=True) as db:
        stored = list(db.iter_results())
    assert len(stored) == 3 and all(s.turned for s in stored)
    (reference,) = measure_path(_write(tmp_path / "upright.png", upright), MeasureSettings())
    own = boundary_record(reference)
    for s in stored:
        frame = load_frame(s)
        box = frame.region
        expected_pixels = upright[rows - box.y1 : rows - box.y0, box.x0 : box.x1]
        assert frame.turned and frame.pixels.shape == expected_pixels.shape
        # the capture turned upright, but for the one pixel that makes each file its own
        assert np.count_nonzero(frame.pixels != expected_pixels) <= 1
        record = boundary_record(frame_result_of(s, frame, use_review=False))
        assert record["turned"] is True
        for side in ("superficial", "deep"):
            a, b = _points(own, side), _points(record, side)
            assert a.shape == b.shape
            assert np.allclose(b[:, 0], a[:, 0], atol=0.01)
            assert np.allclose(b[:, 1], (rows - 1) - a[:, 1], atol=0.01), side


def test_a_turned_frame_shown_in_napari_is_named_so(test_data: Path, tmp_path: Path):
    """Review shows the frame it measured: turned upright, and the layer's name says so."""
    from musclethick._napari._layers import frames_to_image_layers

    path = _write(tmp_path / "turned.png", _upright(test_data)[::-1])
    [(data, kwargs, _)] = frames_to_image_layers(read(path, upside_down=True))
    assert kwargs["name"] == "turned.png (turned upright)"
    [frame] = kwargs["metadata"]["musclethick_frames"]
    assert frame.turned and np.array_equal(data, frame.pixels)
    [(_, plain, _)] = frames_to_image_layers(read(path))
    assert plain["name"] == "turned.png"


def test_measure_image_turns_an_array_upright_when_asked(test_data: Path):
    """The Python API as the command: an array turned upside down, with
    ``MeasureSettings(upside_down=True)``, gives the upright array's thickness and is marked
    ``turned``; as it is, it is flagged."""
    import musclethick
    from musclethick.pipeline import MeasureSettings

    upright = _upright(test_data)
    own = musclethick.measure_image(upright, 0.1)
    turned = np.ascontiguousarray(upright[::-1])
    back = musclethick.measure_image(turned, 0.1, settings=MeasureSettings(upside_down=True))
    as_it_is = musclethick.measure_image(turned, 0.1)
    assert back.turned and not own.turned and not as_it_is.turned
    assert back.status == own.status == "ok"
    assert back.mean_thickness_mm == pytest.approx(own.mean_thickness_mm, rel=1e-6)
    assert "upside_down" in as_it_is.flags


def test_a_turned_frame_is_cropped_to_a_stored_region_by_its_own_rows():
    """Review crops a re-read frame to the region stored with its result: a frame turned
    upright has its rows counted from the region's bottom, so the crop is the same part of
    the capture, turned."""
    from musclethick.study.frames import _recrop
    from musclethick.types import Frame, PixelBox

    capture = (np.arange(40 * 30).reshape(40, 30) % 251).astype(np.uint8)
    region = PixelBox(0, 0, 30, 40)
    box = PixelBox(2, 10, 28, 35)
    plain = _recrop(Frame(capture, "c.png", region=region), box)
    turned = _recrop(Frame(capture[::-1].copy(), "c.png", region=region, turned=True), box)
    assert np.array_equal(plain.pixels, capture[10:35, 2:28])
    assert np.array_equal(turned.pixels, capture[10:35, 2:28][::-1])
    assert turned.turned and turned.region == box
