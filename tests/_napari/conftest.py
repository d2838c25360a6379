"""Fixtures for the napari plugin tests: one real viewer per session, under Xvfb.

napari's ``make_napari_viewer`` fixture needs pytest-qt, which is not a dependency; a real
``napari.Viewer`` is made here instead (pytest-xvfb gives it an X display with OpenGL) and
shared by all napari tests of the session to keep the suite fast. Layers and dock widgets are
removed after each test.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


@pytest.fixture(scope="session")
def _session_viewer():
    import gc

    napari = pytest.importorskip("napari")
    import torch  # noqa: F401  (imported by the pipeline anyway: before the freeze below)

    viewer = napari.Viewer(show=False)
    # napari runs gc.collect() at every layer insertion and removal; with torch, pandas and
    # napari loaded each full collection takes ~0.3 s. Freezing the objects that live for
    # the whole session keeps those collections (and the suite) short.
    gc.collect()
    gc.freeze()
    yield viewer
    viewer.close()
    gc.unfreeze()


@pytest.fixture
def viewer(_session_viewer):
    """A real napari viewer, emptied after the test."""
    yield _session_viewer
    _session_viewer.window.remove_dock_widget("all")
    _session_viewer.layers.clear()
    _session_viewer.dims.ndim = 2
    _process_events()


def _process_events() -> None:
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()


def wait_until(condition: Callable[[], bool], *, timeout_s: float = 60.0) -> None:
    """Process Qt events until ``condition()`` is true (fails the test after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s} s")
        _process_events()
        time.sleep(0.01)


@pytest.fixture
def wait() -> Callable[..., None]:
    """:func:`wait_until` as a fixture."""
    return wait_until


def synthetic_scan(
    *,
    rows: int = 200,
    cols: int = 240,
    sup_row: int = 50,
    deep_row: int = 150,
    seed: int = 0,
    fascia_row: int | None = None,
):
    """A B-mode-like grey image: speckle, a bright superficial band ending at ``sup_row``
    and a bright deep band starting at ``deep_row`` (muscle between them); with
    ``fascia_row``, a thinner bright band (6 rows) starting there."""
    import numpy as np

    rng = np.random.default_rng(seed)
    img = rng.normal(45, 12, size=(rows, cols)).clip(0, 255)
    img[sup_row - 12 : sup_row] = rng.normal(210, 15, size=(12, cols)).clip(0, 255)
    img[deep_row : deep_row + 12] = rng.normal(210, 15, size=(12, cols)).clip(0, 255)
    if fascia_row is not None:
        img[fascia_row : fascia_row + 6] = rng.normal(210, 15, size=(6, cols)).clip(0, 255)
    img[:10] = 20
    return img.astype(np.uint8)


@pytest.fixture
def scan_png(tmp_path):
    """A synthetic scan written as PNG (no ruler: calibrate it with ``mm_per_px``)."""
    import cv2

    path = tmp_path / "scan.png"
    cv2.imwrite(str(path), synthetic_scan())
    return path


@pytest.fixture
def scan_mp4(tmp_path):
    """A 5-frame mp4 cine loop (MPEG-4 part 2) of a synthetic scan whose deep band moves."""
    import av

    path = tmp_path / "cine.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 240, 200, "yuv420p"
        for k in range(5):
            image = synthetic_scan(deep_row=140 + 2 * k, seed=k)
            frame = av.VideoFrame.from_ndarray(image, format="gray")
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


MM_PER_PX = 0.1


def build_store(folder, *, n: int = 3):
    """A real SQLite study store with ``n`` measured synthetic scans (edge method, 0.1 mm/px).

    Scan ``k`` has its deep band ``5 k`` rows lower, subject ``S0{k+1}``, leg L/R alternating.
    Returns the store path.
    """
    import cv2

    from musclethick.io.options import CalibrationOptions
    from musclethick.pipeline import MeasureSettings, measure_path
    from musclethick.study.store import StudyStore

    settings = MeasureSettings(method="edges", calibration=CalibrationOptions(mm_per_px=MM_PER_PX))
    path = folder / "study.sqlite"
    with StudyStore(path) as store:
        run = store.start_run(method="edges")
        for k in range(n):
            scan = folder / f"S0{k + 1}_{'LR'[k % 2]}_w0_mid.png"
            cv2.imwrite(str(scan), synthetic_scan(deep_row=140 + 5 * k, seed=k))
            scan_id = store.record_scan(
                scan, subject=f"S0{k + 1}", leg="LR"[k % 2], week=0, site="mid"
            )
            store.record_results(scan_id, measure_path(scan, settings), run)
        store.finish_run(run, n_measured=n, n_failed=0, n_skipped=0)
    return path


@pytest.fixture
def study_store(tmp_path):
    """Path of a real study store with three measured scans."""
    return build_store(tmp_path)


#: Rows the runner-up deep edge lies above the measured one in :func:`build_runner_up_store`.
RUNNER_UP_SHIFT_PX = 40.0


def build_runner_up_store(folder):
    """A real store with two measured scans (edge method, 0.1 mm/px) of a scan with a fascia
    (rows 105-110) inside the muscle; the first result is flagged ``ambiguous_layers`` with
    a runner-up pair (the measured superficial edge and the deep edge 40 px higher, margin
    0.2 nats), as the layer model records one; the second has no runner-up.

    Returns ``(store path, {subject: result id})``.
    """
    from dataclasses import replace

    import cv2

    from musclethick.io.options import CalibrationOptions
    from musclethick.pipeline import MeasureSettings, measure_path
    from musclethick.study.store import StudyStore
    from musclethick.types import LayerPair

    settings = MeasureSettings(method="edges", calibration=CalibrationOptions(mm_per_px=MM_PER_PX))
    path = folder / "flagged.sqlite"
    ids = {}
    with StudyStore(path) as store:
        for k, subject in enumerate(("S01", "S02")):
            scan = folder / f"{subject}_L_w0_mid.png"
            cv2.imwrite(str(scan), synthetic_scan(seed=k, fascia_row=105))
            (result,) = measure_path(scan, settings)
            assert result.status == "ok", result.message
            if k == 0:
                pair = LayerPair(
                    result.superficial.with_source("runner_up", 0.6),
                    result.deep.shifted(0.0, -RUNNER_UP_SHIFT_PX).with_source("runner_up", 0.5),
                    0.2,
                )
                result = replace(
                    result,
                    runner_up=pair,
                    status="flagged",
                    flags=("ambiguous_layers",),
                    message="another layer pair is nearly as plausible",
                )
            scan_id = store.record_scan(scan, subject=subject, leg="L", week=0, site="mid")
            (ids[subject],) = store.record_results(scan_id, [result], None)
    return path, ids


@pytest.fixture
def runner_up_study(tmp_path):
    """:func:`build_runner_up_store` in ``tmp_path``, with its constants:
    ``{"path", "ids", "shift_px", "mm_per_px"}``."""
    path, ids = build_runner_up_store(tmp_path)
    return {"path": path, "ids": ids, "shift_px": RUNNER_UP_SHIFT_PX, "mm_per_px": MM_PER_PX}


#: The pairs of :func:`ring_study`'s ring, as (superficial, deep) shifts in px from the measured
#: pair.
RING = ((0.0, -40.0), (0.0, -20.0), (10.0, 0.0))


@pytest.fixture
def ring_study(tmp_path):
    """A real store with one scan (synthetic, edge method, 0.1 mm/px) whose result is flagged
    ``low_confidence`` and offered three band pairs (:data:`RING`), as the pipeline offers
    them: ``{"path", "id", "ring", "mm_per_px"}``."""
    from dataclasses import replace

    import cv2

    from musclethick.io.options import CalibrationOptions
    from musclethick.pipeline import MeasureSettings, measure_path
    from musclethick.study.store import StudyStore
    from musclethick.types import LayerPair

    scan = tmp_path / "S01_L_w0_mid.png"
    cv2.imwrite(str(scan), synthetic_scan(seed=3, fascia_row=105))
    settings = MeasureSettings(method="edges", calibration=CalibrationOptions(mm_per_px=MM_PER_PX))
    (result,) = measure_path(scan, settings)
    assert result.status == "ok", result.message
    pairs = [
        LayerPair(
            result.superficial.shifted(0.0, ds).with_source("runner_up", 0.5),
            result.deep.shifted(0.0, dd).with_source("runner_up", 0.5),
            1.0 + k,
            "bands",
        )
        for k, (ds, dd) in enumerate(RING)
    ]
    result = replace(
        result,
        runner_up=pairs[0],
        other_pairs=tuple(pairs[1:]),
        status="flagged",
        flags=("low_confidence",),
        message="a boundary below the confidence threshold",
    )
    path = tmp_path / "ring.sqlite"
    with StudyStore(path) as store:
        scan_id = store.record_scan(scan, subject="S01", leg="L", week=0, site="mid")
        (rid,) = store.record_results(scan_id, [result], None)
    return {"path": path, "id": rid, "ring": RING, "mm_per_px": MM_PER_PX}
