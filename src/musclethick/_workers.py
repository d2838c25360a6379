"""Worker processes: their thread limits and start-up, for ``measure`` and study batches."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

__all__ = [
    "PROCESSES_MIN_FILES",
    "init_worker",
    "limit_threads",
    "new_processes_ignore_ctrl_c",
    "opencv_on_one_thread",
    "progress_bar",
    "uses_worker_processes",
    "worker_context",
]

#: Fewest files for which ``measure`` starts worker processes: below it their start-up
#: (about a second of a core each: Python, NumPy, OpenCV, the model) saves nothing.
PROCESSES_MIN_FILES = 16


def uses_worker_processes(n_files: int, processes: int) -> bool:
    """Whether ``measure`` runs ``processes`` processes for ``n_files`` files (the one rule:
    more than one process asked for, and at least :data:`PROCESSES_MIN_FILES` files)."""
    return processes > 1 and n_files >= PROCESSES_MIN_FILES


def limit_threads(threads: int) -> None:
    """Keep this process to ``threads`` BLAS/OpenMP/OpenCV/torch threads (one per worker)."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    try:
        import cv2

        cv2.setNumThreads(threads)
    except ImportError:  # pragma: no cover - opencv is a dependency
        pass


def worker_context() -> BaseContext:
    """How worker processes start: forked from this one where that is safe, else spawned.

    A forked worker starts with what this process has loaded (the pipeline's modules, the
    model, the OCR engine): on the speed bench's 300 captures that saved ~1.2 s of CPU
    (~0.6 s of a core per worker) and 0.5-0.9 s of wall time on 2 cores, with a results
    table identical byte for byte. Forking is safe only
    - on Linux (macOS's system libraries are not fork-safe);
    - where no other Python thread runs (its locks would stay locked in the copy);
    - with OpenCV on one thread (:func:`limit_threads`, as a coordinator of workers is):
      the copy of a running OpenCV thread pool hangs the worker when it sets its threads;
    - without PyTorch loaded (its OpenMP thread pool does not survive a fork).
    Otherwise the workers are spawned.
    """
    import multiprocessing

    if (
        sys.platform.startswith("linux")
        and "fork" in multiprocessing.get_all_start_methods()
        and "torch" not in sys.modules
        and threading.active_count() == 1
        and _opencv_threads() == 1
    ):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _opencv_threads() -> int:
    try:
        import cv2
    except ImportError:  # pragma: no cover - opencv is a dependency
        return 1
    return int(cv2.getNumThreads())


@contextmanager
def opencv_on_one_thread() -> Iterator[None]:
    """OpenCV on one thread inside the block, as it was after: workers started inside can be
    forked (:func:`worker_context`) by a process that does not measure itself (a batch's
    coordinator), without changing its own threads for good."""
    try:
        import cv2
    except ImportError:  # pragma: no cover - opencv is a dependency
        yield
        return
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def progress_bar(**kwargs: Any) -> Any:
    """A tqdm progress bar (``kwargs`` as tqdm's) without tqdm's monitor thread, which only
    shortens the updates of a bar that stalls: with it running, the workers could not be
    forked (:func:`worker_context`)."""
    return _quiet_tqdm()(**kwargs)


@cache
def _quiet_tqdm() -> type:
    from tqdm import tqdm

    class QuietTqdm(tqdm):  # type: ignore[misc]
        monitor_interval = 0

    return QuietTqdm


def _exit_with_parent(parent_pid: int, interval_s: float = 1.0) -> None:
    """Exit this worker when the coordinator died (e.g. ``kill -9``): no orphaned workers."""
    while True:
        time.sleep(interval_s)
        if os.getppid() != parent_pid:
            os._exit(1)


def init_worker(threads: int) -> None:
    """Process-pool initializer: limit threads, leave Ctrl-C to the coordinator, and exit
    when the coordinator dies.

    Ctrl-C reaches every process of the terminal's process group; the coordinator alone
    handles it (it stops handing out work and keeps what is measured), so a worker ignores
    it instead of printing a traceback of its own.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(
        target=_exit_with_parent, args=(os.getppid(),), name="musclethick-watchdog", daemon=True
    ).start()
    limit_threads(threads)


@contextmanager
def new_processes_ignore_ctrl_c() -> Iterator[None]:
    """Processes started inside this block ignore Ctrl-C from their first instruction.

    :func:`init_worker` makes a worker ignore it too, but only once the worker has imported
    what it needs; a Ctrl-C while it is still starting would print its traceback. A process
    inherits an ignored signal, so this block ignores SIGINT while workers are started (a
    few milliseconds per process; a Ctrl-C then is lost, the next one counts). Outside the
    main thread (where signals cannot be set) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
