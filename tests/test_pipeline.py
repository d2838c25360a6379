"""Wiring of the measurement pipeline: model path, fallback to edges, frame ranking, bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mask_reference import mask_thickness_px  # tests/mask_reference.py: plain numpy
from musclethick.errors import MusclethickError
from musclethick.io import read
from musclethick.io.options import CalibrationOptions, FrameSelection
from musclethick.pipeline import (
    PROCESSES_MIN_FILES,
    MeasureSettings,
    get_model,
    measure_frames,
    measure_path,
    measure_paths,
    select_best_frames,
)
from musclethick.segment import ModelBoundaries
from musclethick.types import Frame

SAMPLE = "dltrack_800x600_img_00002.png"


def test_settings_validate():
    with pytest.raises(ValueError, match="method"):
        MeasureSettings(method="magic")
    with pytest.raises(ValueError, match="fractions"):
        MeasureSettings(line_fractions=(0.5, 1.5))
    with pytest.raises(ValueError, match="best_frames"):
        MeasureSettings(best_frames=0)


def test_model_path_is_default_and_deterministic(sample_images: Path, test_data: Path):
    settings = MeasureSettings(calibration=CalibrationOptions(mm_per_px=0.1))
    first = measure_path(sample_images / SAMPLE, settings)
    second = measure_path(sample_images / SAMPLE, settings)
    assert len(first) == 1
    result = first[0]
    assert result.method == "model"
    assert result.status == "ok", result.message
    assert result.superficial.source == "model"
    assert [line.line for line in result.lines] == ["25%", "50%", "75%", "mean"]
    # the user's pixel size against the hand-drawn mask of the same capture (tests/data/
    # train_tiny/masks/img_00002.png: the imaging region, 616 x 440 px here, resized to 280 x
    # 200, so 2.2 capture px per mask row): mean of the three lines 96.67 rows = 21.27 mm.
    # Tolerance 0.5 mm: the resized mask's edges are within half a row each (2 x 1.1 px =
    # 0.22 mm) plus the model's median error on val (1.65 px, models/MODEL_CARD.md, 0.17 mm).
    mask = np.asarray(Image.open(test_data / "train_tiny" / "masks" / "img_00002.png"))
    rows, cols = result.region.y1 - result.region.y0, result.region.x1 - result.region.x0
    assert (rows, cols) == (440, 616) and mask.shape == (200, 280)
    lines = [line for line in result.lines if line.line != "mean"]
    mask_px = np.mean([mask_thickness_px(mask, line.x_px * 200 / rows) for line in lines])
    assert mask_px * (rows / 200) * 0.1 == pytest.approx(21.27, abs=0.01)
    assert result.mean_thickness_mm == pytest.approx(mask_px * (rows / 200) * 0.1, abs=0.5)
    np.testing.assert_array_equal(result.deep.y_px, second[0].deep.y_px)


def test_model_and_edges_agree_on_a_clear_scan(sample_images: Path):
    path = sample_images / SAMPLE
    model = measure_path(path, MeasureSettings())[0]
    edges = measure_path(path, MeasureSettings(method="edges"))[0]
    assert edges.method == "edges"
    # the same muscle: within 5 % of each other on this clear scan
    assert model.mean_thickness_px == pytest.approx(edges.mean_thickness_px, rel=0.05)


class _BlindModel:
    """A model that finds no deep aponeurosis (stands in for weak, contradictory maps)."""

    def __init__(self, real):
        self.real = real

    def find_boundaries(self, batch, *, keep_probability=True):
        found = self.real.find_boundaries(batch)
        return [ModelBoundaries(b.superficial, None, None, "deep band too weak") for b in found]


def test_weak_model_maps_fall_back_to_edges_and_flag(sample_images: Path):
    frames = list(read(sample_images / SAMPLE))
    model = _BlindModel(get_model(None))
    (result,) = list(measure_frames(frames, MeasureSettings(), model=model))
    assert result.method == "edges"
    assert "fallback_edges" in result.flags
    assert result.status == "flagged"
    assert "used edge detection" in result.message
    assert "deep band too weak" in result.message


class _SplitEdgeModel:
    """A model whose deep edge's points disagree (no deep boundary), with the pair the real
    model found in ``source`` as its last resort (stands in for a map whose deep edge breaks
    into two pieces)."""

    def __init__(self, real, source: np.ndarray):
        (self.found,) = real.find_boundaries([source])

    def find_boundaries(self, batch, *, keep_probability=True):
        note = "deep: edge points disagree (inliers 0.52)"
        pair = (self.found.superficial, self.found.deep)
        return [
            ModelBoundaries(self.found.superficial, None, None, note, last_resort=pair)
            for _ in batch
        ]


def test_the_last_resort_pair_is_measured_and_flagged_only_when_edges_find_nothing(
    sample_images: Path,
):
    (frame,) = read(sample_images / SAMPLE)
    real = get_model(None)
    (plain,) = measure_frames([frame], MeasureSettings(), model=real)
    model = _SplitEdgeModel(real, frame.pixels)
    # the edge path measures the capture: its result, as before
    (edges,) = measure_frames([frame], MeasureSettings(), model=model)
    assert edges.method == "edges" and "fallback_edges" in edges.flags
    # a frame the edge path finds no muscle in: the last resort, flagged and said why
    blank = Frame(np.zeros_like(frame.pixels), "blank.png")
    (found,) = measure_frames([blank], MeasureSettings(), model=model)
    assert found.method == "model" and found.status == "flagged"
    assert "low_confidence" in found.flags
    assert "edge points disagree" in found.message and "larger consistent part" in found.message
    assert found.mean_thickness_px == pytest.approx(plain.mean_thickness_px, rel=1e-6)
    # without a last resort the same frame fails, as before
    (failed,) = measure_frames([blank], MeasureSettings(), model=_BlindModel(real))
    assert failed.status == "failed"


@pytest.mark.parametrize("method", ["model", "edges"])
@pytest.mark.parametrize("kind", ["noise", "speckle", "blank"])
def test_image_without_muscle_fails_with_reason(method, kind):
    rng = np.random.default_rng(0)
    pixels = {
        "noise": rng.integers(0, 30, (300, 400)),
        "speckle": rng.rayleigh(40, (300, 400)).clip(0, 255),
        "blank": np.zeros((300, 400)),
    }[kind].astype(np.uint8)
    frame = Frame(pixels, f"{kind}.png")
    (result,) = list(measure_frames([frame], MeasureSettings(method=method)))
    assert result.status == "failed"
    assert f"{kind}.png" in result.message
    assert "not found" in result.message or "no muscle" in result.message
    assert result.lines == ()
    assert result.mean_thickness_mm is None


def test_best_frames_keeps_most_confident_in_order(sample_images: Path):
    settings = MeasureSettings(best_frames=3, calibration=CalibrationOptions(mm_per_px=0.1))
    results = measure_path(sample_images / "multiframe.dcm", settings)
    assert len(results) == 3
    indices = [r.frame_index for r in results]
    assert indices == sorted(indices)
    everything = measure_path(sample_images / "multiframe.dcm", MeasureSettings())
    kept = select_best_frames(everything, 3)
    assert [everything[i].frame_index for i in kept] == indices
    assert min(r.confidence for r in results) >= max(
        r.confidence for i, r in enumerate(everything) if i not in kept
    )


def test_measure_paths_streams_in_order_with_failures(sample_images: Path, tmp_path: Path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00garbage")
    paths = [sample_images / SAMPLE, bad, sample_images / "cine.mp4"]
    measured = list(measure_paths(paths, MeasureSettings(method="edges", batch_size=2)))
    assert [m.path for m in measured] == paths
    assert measured[1].results[0].status == "failed"
    assert "bad.tif" in measured[1].results[0].message
    assert measured[1].frames == []
    assert len(measured[2].results) == len(measured[2].frames) == 6


@pytest.mark.parametrize(("prefetch", "threads"), [(0, 1), (2, 1), (3, 3)])
def test_decoding_ahead_keeps_input_order_and_results(
    sample_images: Path, tmp_path: Path, prefetch: int, threads: int
):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    images = sorted(sample_images.glob("*.png"))
    paths = [*images, bad, *reversed(images)]
    settings = MeasureSettings(calibration=CalibrationOptions(mm_per_px=0.1), batch_size=3)
    measured = list(measure_paths(paths, settings, prefetch=prefetch, decode_threads=threads))
    assert [m.path for m in measured] == paths
    assert [m.results[0].status == "failed" for m in measured] == [p == bad for p in paths]
    # the same file gives the same thickness wherever it sits in the stream (to float
    # rounding: a batch of other frames may take another convolution kernel)
    first = {m.path: m.results[0].mean_thickness_mm for m in measured[: len(images)]}
    for m in measured[len(images) + 1 :]:
        assert m.results[0].mean_thickness_mm == pytest.approx(first[m.path], rel=1e-6)


def test_stopping_early_leaves_no_decoding_behind(sample_images: Path):
    import threading

    images = sorted(sample_images.glob("*.png")) * 6
    settings = MeasureSettings(calibration=CalibrationOptions(mm_per_px=0.1), batch_size=1)
    stream = measure_paths(images, settings, prefetch=8, decode_threads=2)
    assert next(stream).results[0].status != "failed"
    stream.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("musclethick-decode")]


def test_core_and_batch_path_never_import_napari_or_qt(sample_images: Path, tmp_path: Path):
    code = (
        "import sys, musclethick.cli as c;"
        f"rc = c.main(['measure', r'{sample_images / SAMPLE}', '--out', r'{tmp_path / 'r.csv'}',"
        " '-q']);"
        "bad = [m for m in sys.modules if m.split('.')[0] in {'napari', 'PyQt6', 'qtpy', 'vispy'}];"
        "print(rc, bad); sys.exit(1 if bad or rc else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_refine_option_snaps_boundaries_to_edges(sample_images: Path):
    path = sample_images / SAMPLE
    plain = measure_path(path, MeasureSettings())[0]
    refined = measure_path(path, MeasureSettings(refine=True))[0]
    assert plain.superficial.source == "model"
    assert refined.superficial.source == "refined"
    # refinement moves boundaries by at most its search window, thickness stays close
    assert refined.mean_thickness_px == pytest.approx(plain.mean_thickness_px, abs=8.0)


def test_repeated_line_fractions_are_refused():
    with pytest.raises(ValueError, match="repeat"):
        MeasureSettings(line_fractions=(0.5, 0.5))


@pytest.mark.parametrize("method", ["model", "edges"])
def test_frames_too_small_fail_alone_in_order(sample_images: Path, method: str):
    (good,) = read(sample_images / SAMPLE)
    tiny = [
        Frame(np.full(shape, 100, np.uint8), f"tiny_{shape[0]}x{shape[1]}.png")
        for shape in ((1, 1), (1, 40), (7, 300))
    ]
    frames = [tiny[0], good, tiny[1], good, tiny[2]]
    settings = MeasureSettings(method=method, batch_size=2)
    results = list(measure_frames(frames, settings))
    assert [r.path for r in results] == [f.path for f in frames]
    assert [r.status == "failed" for r in results] == [True, False, True, False, True]
    assert results[0].message == (
        "tiny_1x1.png: image of 1 x 1 px is too small to find aponeuroses (at least 8 x 8 px)"
    )
    assert results[1].mean_thickness_px == pytest.approx(results[3].mean_thickness_px)


class _BrokenOnModel:
    """Stands in for a runtime error of the model on one frame (the real model otherwise)."""

    def __init__(self, real):
        self.real = real

    def find_boundaries(self, batch, *, keep_probability=True):
        if any(pixels.shape == (64, 64) for pixels in batch):
            raise RuntimeError("the runtime cannot take this frame")
        return self.real.find_boundaries(batch, keep_probability=keep_probability)


def test_a_model_error_on_one_frame_fails_that_frame_only(sample_images: Path):
    (good,) = read(sample_images / SAMPLE)
    odd = Frame(np.full((64, 64), 100, np.uint8), "odd.png", frame_index=2)
    model = _BrokenOnModel(get_model(None))
    results = list(measure_frames([good, odd, good], MeasureSettings(), model=model))
    assert [r.status == "failed" for r in results] == [False, True, False]
    assert results[1].message == (
        "odd.png: unexpected RuntimeError: the runtime cannot take this frame"
    )
    assert results[1].frame_index == 2


def test_a_frame_selection_does_not_apply_to_still_images(sample_images: Path, tmp_path: Path):
    settings = MeasureSettings(method="edges", frames=FrameSelection.parse("5"))
    (still,) = measure_path(sample_images / SAMPLE, settings)
    assert still.status != "failed" and still.frame_index == 0 and still.lines
    (cine,) = measure_path(sample_images / "cine.mp4", settings)
    assert cine.frame_index == 5
    late = MeasureSettings(method="edges", frames=FrameSelection.parse("50"))
    (failed,) = measure_path(sample_images / "multiframe.dcm", late)
    assert failed.status == "failed" and "selects none" in failed.message
    assert "(frames 0-" in failed.message and "use --frames all" in failed.message


def _stream_with_a_bad_file_and_a_cine(sample_images: Path, tmp_path: Path) -> list[Path]:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    images = sorted(sample_images.glob("*.png"))
    paths = [*images, bad, sample_images / "cine.mp4", *images, *reversed(images), *images]
    assert len(paths) >= PROCESSES_MIN_FILES
    return paths


@pytest.fixture
def _opencv_on_one_thread():
    """OpenCV limited to one thread, as a coordinator of workers is (a forked worker hangs
    on a copy of a running OpenCV thread pool); restored afterwards."""
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    yield
    cv2.setNumThreads(before)


def _workers_start_by(monkeypatch, method: str) -> None:
    """Worker processes are started by ``method`` (fork or spawn), whatever the rule."""
    import multiprocessing

    import musclethick._workers as workers

    monkeypatch.setattr(workers, "worker_context", lambda: multiprocessing.get_context(method))


@pytest.mark.parametrize(
    ("keep_frames", "start"),
    [
        (True, "spawn"),
        pytest.param(
            False,
            "fork",
            marks=pytest.mark.skipif(
                not sys.platform.startswith("linux"), reason="forking is used on Linux only"
            ),
        ),
    ],
)
@pytest.mark.usefixtures("_opencv_on_one_thread")
def test_worker_processes_measure_like_one_process_in_input_order(
    sample_images: Path, tmp_path: Path, keep_frames: bool, start: str, monkeypatch
):
    _workers_start_by(monkeypatch, start)
    paths = _stream_with_a_bad_file_and_a_cine(sample_images, tmp_path)
    settings = MeasureSettings(calibration=CalibrationOptions(mm_per_px=0.1))
    alone = list(measure_paths(paths, settings, prefetch=0))
    shared = list(measure_paths(paths, settings, processes=2, keep_frames=keep_frames))
    assert [m.path for m in shared] == paths
    for one, other in zip(alone, shared, strict=True):
        assert [r.status for r in other.results] == [r.status for r in one.results]
        assert [r.frame_index for r in other.results] == [r.frame_index for r in one.results]
        for a, b in zip(one.results, other.results, strict=True):
            assert b.message == a.message
            if a.status != "failed":
                assert b.mean_thickness_mm == pytest.approx(a.mean_thickness_mm, rel=1e-6)
        assert len(other.frames) == (len(one.frames) if keep_frames else 0)
    bad = paths.index(tmp_path / "bad.png")
    assert shared[bad].results[0].status == "failed"
    assert "bad.png" in shared[bad].results[0].message
    assert isinstance(shared[bad].error, MusclethickError)
    assert len(shared[bad + 1].results) == 6  # the cine's frames, in a worker or here


def test_few_files_are_measured_without_worker_processes(sample_images: Path, monkeypatch):
    import musclethick.pipeline as pipeline

    def no_pool(*args, **kwargs):
        raise AssertionError("worker processes started for a few files")

    monkeypatch.setattr(pipeline, "_measure_in_processes", no_pool)
    images = sorted(sample_images.glob("*.png"))[: PROCESSES_MIN_FILES - 1]
    measured = list(measure_paths(images, MeasureSettings(method="edges"), processes=4))
    assert [m.path for m in measured] == images


_COORDINATOR_PID = os.getpid()


def _die_in_a_worker(settings: MeasureSettings) -> None:
    """A worker's warm-up that kills the worker (run here, it does nothing)."""
    if os.getpid() != _COORDINATOR_PID:
        os._exit(3)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forking is used on Linux only")
@pytest.mark.usefixtures("_opencv_on_one_thread")
def test_a_worker_that_cannot_start_leaves_every_file_to_this_process(
    sample_images: Path, tmp_path: Path, monkeypatch
):
    import musclethick.pipeline as pipeline

    # forked, the worker runs this test module's warm-up, which kills it
    _workers_start_by(monkeypatch, "fork")
    monkeypatch.setattr(pipeline, "_warm_up", _die_in_a_worker)
    paths = _stream_with_a_bad_file_and_a_cine(sample_images, tmp_path)
    settings = MeasureSettings(calibration=CalibrationOptions(mm_per_px=0.1))
    alone = list(measure_paths(paths, settings, prefetch=0))
    measured = list(measure_paths(paths, settings, processes=2, keep_frames=False))
    assert [m.path for m in measured] == paths
    for one, other in zip(alone, measured, strict=True):  # none lost to the dead worker
        assert [r.message for r in other.results] == [r.message for r in one.results]
        assert [r.mean_thickness_px for r in other.results] == [
            r.mean_thickness_px for r in one.results
        ]
    assert "bad.png" in measured[paths.index(tmp_path / "bad.png")].results[0].message


def test_a_worker_that_died_fails_its_file_by_name():
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from musclethick.pipeline import _from_worker

    future: Future = Future()
    future.set_exception(BrokenProcessPool("a child process terminated abruptly"))
    measured = _from_worker(future, "scans/s01.png")
    assert measured.path == "scans/s01.png"
    assert [r.status for r in measured.results] == ["failed"]
    assert measured.results[0].message.startswith("scans/s01.png: a worker process died")
    assert "measure this file alone" in measured.results[0].message


def test_without_worker_processes_this_process_measures_everything(
    sample_images: Path, tmp_path: Path, monkeypatch
):
    import concurrent.futures

    def unavailable(*args, **kwargs):
        raise OSError(38, "Function not implemented")  # e.g. no /dev/shm for semaphores

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", unavailable)
    paths = _stream_with_a_bad_file_and_a_cine(sample_images, tmp_path)
    settings = MeasureSettings(calibration=CalibrationOptions(mm_per_px=0.1))
    measured = list(measure_paths(paths, settings, processes=2, keep_frames=False))
    assert [m.path for m in measured] == paths
    assert [m.results[0].status == "failed" for m in measured] == [
        p.name == "bad.png" for p in paths
    ]
    assert all(m.frames == [] for m in measured)


@pytest.mark.parametrize("method", ["model", "edges"])
def test_a_line_drawn_beside_the_deep_aponeurosis_is_flagged(
    sample_images: Path, tmp_path: Path, method: str
):
    """A caliper / annotation line burned into a real capture 5 px above the deep boundary:
    whatever measured it, the result is flagged ``drawn_line``; the capture as it is carries
    no such flag."""
    import cv2

    path = sample_images / "dltrack_telemed_660x556_img_00309.png"
    settings = MeasureSettings(method=method)
    (plain,) = measure_path(path, settings)
    # the capture as it is: measured, and not on a drawn line (whether it is ok depends on the
    # model: it has a second faint deep line on the right, which some models rightly doubt)
    assert "drawn_line" not in plain.flags and plain.status != "failed"
    frame = next(read(path))
    row = round(float(np.mean(plain.deep.y_px))) - 5 + frame.region.y0
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    x0, x1 = frame.region.x0, frame.region.x1 - 1
    cv2.line(image, (x0, row), (x1, row), (255, 255, 255), 2)
    drawn = tmp_path / "with_line.png"
    cv2.imwrite(str(drawn), image)
    (result,) = measure_path(drawn, settings)
    assert "drawn_line" in result.flags and result.status == "flagged"
    assert "drawn straight line" in result.message
    if method == "model":
        # measured again with the line painted out: the plain capture's thickness, and the
        # pair found on the line one key away as the runner-up
        assert "painted out" in result.message
        assert result.mean_thickness_px == pytest.approx(plain.mean_thickness_px, rel=0.03)
        assert result.runner_up is not None
        on_line = float(np.mean(result.runner_up.deep.y_px)) + frame.region.y0
        assert abs(on_line - row) <= 4  # the runner-up's deep boundary is the drawn line


def test_a_dual_view_capture_is_not_ok(sample_images: Path, tmp_path: Path):
    """Two scans side by side in one capture (a scanner's dual view) give lines that span
    both images: the result is flagged ``two_images`` with what to do, never ``ok``; each
    scan alone carries no such flag."""
    from capture_layouts import dual_view, image_of  # tests/capture_layouts.py

    left = image_of(sample_images, "dltrack_512x512_img_00053.png")
    right = image_of(sample_images, "dltrack_800x652_img_00037.png")
    for gap, bar in ((10, None), (40, 70)):
        cap, _seam = dual_view(left, right, gap, bar)
        Image.fromarray(cap).save(tmp_path / f"dual_{gap}.png")
    files = list(measure_paths(sorted(tmp_path.glob("dual_*.png")), MeasureSettings()))
    results = [r for m in files for r in m.results]
    assert len(results) == 2
    for r in results:
        assert r.status != "ok" and "two_images" in r.flags, (r.path, r.status, r.flags)
        assert "dual view" in r.message
    [single] = list(measure_paths([sample_images / "dltrack_512x512_img_00053.png"]))
    assert single.results and "two_images" not in single.results[0].flags


def test_a_result_to_review_gets_the_images_next_band_pair_as_runner_up(sample_images: Path):
    """A real capture the shipped model doubts (img_00309: two candidate deep lines on the
    right) and whose decoding has no runner-up gets the most plausible other pair of its
    bands, one key away in review; without ``other_pairs`` it has none, and nothing else
    about the result changes. A capture the model is sure of gets none (no band search)."""
    from musclethick.qc import doubts_boundaries

    path = sample_images / "dltrack_telemed_660x556_img_00309.png"
    (plain,) = measure_path(path, MeasureSettings(other_pairs=False))
    (offered,) = measure_path(path, MeasureSettings())
    assert doubts_boundaries(offered.status, offered.flags)
    assert plain.runner_up is None and offered.runner_up is not None
    assert (offered.status, offered.flags) == (plain.status, plain.flags)
    assert offered.mean_thickness_px == plain.mean_thickness_px
    pair = offered.runner_up
    assert pair.superficial.source == pair.deep.source == "runner_up"
    moved = [
        float(np.nanmedian(np.abs(getattr(pair, side).y_at(x) - getattr(offered, side).y_at(x))))
        for side in ("superficial", "deep")
        for x in [getattr(offered, side).x_px]
    ]
    assert max(moved) > 5  # another pair, not the measured one again
    (sure,) = measure_path(sample_images / "dltrack_512x512_img_00053.png", MeasureSettings())
    assert sure.status == "ok" and sure.runner_up is None


class _BrokenOffers:
    """The real model whose band-pair search raises (a bug there)."""

    def __init__(self, real):
        self.real = real
        self.version = real.version

    def find_boundaries(self, batch, *, keep_probability=True):
        return self.real.find_boundaries(batch, keep_probability=keep_probability)

    def other_pairs(self, pixels, *, measured=None, exclude=(), k=1, layer_map=None):
        raise RuntimeError("band search broke")


def test_a_failing_offer_of_another_pair_keeps_the_measurement(sample_images: Path, caplog):
    frames = list(read(sample_images / "dltrack_telemed_660x556_img_00309.png"))
    (plain,) = measure_frames(frames, MeasureSettings(other_pairs=False), model=get_model(None))
    with caplog.at_level("WARNING", logger="musclethick.pipeline"):
        (result,) = measure_frames(frames, MeasureSettings(), model=_BrokenOffers(get_model(None)))
    assert (result.status, result.flags, result.method) == (plain.status, plain.flags, "model")
    assert result.mean_thickness_px == plain.mean_thickness_px and result.runner_up is None
    assert "no other layer pair offered (RuntimeError: band search broke)" in caplog.text


def test_a_failed_fallback_names_its_file_once_and_first(tmp_path: Path):
    """The model finds no belly in noise and the edge fallback finds no muscle: the message
    starts with the file and does not repeat it in the middle."""
    import cv2

    path = tmp_path / "noise.png"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (400, 500), dtype=np.uint8))
    (result,) = measure_path(path, MeasureSettings())
    assert result.status == "failed" and "fallback_edges" in result.flags
    assert result.message.startswith(f"{path}: model found no")
    assert result.message.count(str(path)) == 1
    assert "two_images" not in result.flags


def _measured(image: np.ndarray):
    from musclethick.api import measure_image

    return measure_image(image, mm_per_px=0.1)


@pytest.mark.slow
@pytest.mark.parametrize("tint", ["sepia", "blue"])
def test_a_scan_shown_through_a_colour_map_measures_as_the_grey_one(sample_images: Path, tint):
    """Scanners that display B-mode through a tint (sepia, blue) give the same result as the
    grey display: the colour is a look, not the tissue."""
    from capture_layouts import CAPTURES, image_of, tinted  # tests/capture_layouts.py

    for name in CAPTURES:
        grey = image_of(sample_images, name)
        ref, res = _measured(grey), _measured(tinted(grey, tint))
        assert res.status == ref.status, (name, res.flags, ref.flags)
        if ref.mean_thickness_px is not None:
            assert res.mean_thickness_px == pytest.approx(ref.mean_thickness_px, rel=0.02), name


@pytest.mark.slow
def test_a_handheld_app_screenshot_is_cropped_to_its_scan(sample_images: Path):
    """A portrait phone screenshot (status bar, buttons, text bars around the scan, the scan
    enlarged to the screen's width): the imaging region is the scan, and its thickness scaled
    back is the capture's own, with the same status."""
    from capture_layouts import CAPTURES, image_of, phone_screenshot

    for name in CAPTURES:
        grey = image_of(sample_images, name)
        shot, scale, (x0, y0, x1, y1) = phone_screenshot(grey)
        ref, res = _measured(grey), _measured(shot)
        box = res.region
        assert abs(box.y0 - y0) <= 0.03 * (y1 - y0) and abs(box.y1 - y1) <= 0.03 * (y1 - y0), (
            name,
            box,
        )
        assert box.x0 <= x0 + 0.03 * (x1 - x0) and box.x1 >= x1 - 0.03 * (x1 - x0), (name, box)
        assert res.status == ref.status, (name, res.flags, ref.flags)
        if ref.mean_thickness_px is not None:
            t = res.mean_thickness_px / scale
            assert t == pytest.approx(ref.mean_thickness_px, rel=0.03), name


@pytest.mark.slow
@pytest.mark.parametrize("share", [0.25])
def test_a_narrow_footprint_measures_as_the_whole_capture(sample_images: Path, share):
    """The central quarter of a capture's width (a short probe footprint, a narrowed sector:
    3-4x deeper than wide; the third is a capture variant, ``narrow_35``) goes through the
    network widened by its mirror image, so the muscle is not stretched sideways: a result,
    within 5 % of the whole capture's thickness (3 % when ``ok``). Resized as it was, the
    1234x688 capture's narrow crops were ``ok`` and 52 % off, a septum taken for the deep
    aponeurosis."""
    from capture_layouts import CAPTURES, image_of

    for name in CAPTURES:
        grey = image_of(sample_images, name)
        cols = grey.shape[1]
        keep = int(share * cols)
        narrow = np.ascontiguousarray(grey[:, (cols - keep) // 2 :][:, :keep])
        ref, res = _measured(grey), _measured(narrow)
        assert res.status != "failed", (name, res.message)
        t, t_ref = res.mean_thickness_px, ref.mean_thickness_px
        assert t == pytest.approx(t_ref, rel=0.03 if res.status == "ok" else 0.05), (name, t, t_ref)


def test_a_failure_names_its_file_once(tmp_path: Path):
    """A picture with no muscle in it fails with one message that names the file once (a
    trial's non-ultrasound image had its path twice: the edge path's reason carried it too)."""
    yy, xx = np.mgrid[:300, :400]
    picture = (127 + 120 * np.sin(xx / 9.0) * np.cos(yy / 13.0)).astype(np.uint8)  # no layers
    path = tmp_path / "holiday.png"
    Image.fromarray(picture).save(path)
    [measured] = list(measure_paths([path], MeasureSettings()))
    [r] = measured.results
    assert r.status == "failed", (r.status, r.message)
    assert r.message.count(str(path)) == 1, r.message
