"""Worker processes: Ctrl-C is the coordinator's alone, from a worker's first instruction."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from musclethick._workers import new_processes_ignore_ctrl_c


def _sigint_ignored(pid: int) -> bool:
    """Whether process ``pid`` ignores SIGINT (Linux: the SigIgn mask in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
    raise AssertionError("no SigIgn line")


def _start_sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])


def test_processes_started_in_the_block_ignore_ctrl_c_and_the_handler_comes_back():
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        outside = _start_sleeper()
        with new_processes_ignore_ctrl_c():
            inside = _start_sleeper()
        try:
            assert _sigint_ignored(inside.pid)
            assert not _sigint_ignored(outside.pid)
        finally:
            for p in (inside, outside):
                p.kill()
                p.wait()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)


def test_outside_the_main_thread_it_changes_nothing():
    seen = []

    def run() -> None:
        with new_processes_ignore_ctrl_c():
            seen.append(signal.getsignal(signal.SIGINT))

    before = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [before]


def _start_method(prelude: str) -> str:
    """The start method :func:`worker_context` picks in a fresh process after ``prelude``."""
    code = f"{prelude}\nfrom musclethick._workers import worker_context\n"
    code += "print(worker_context().get_start_method())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forking is used on Linux only")
def test_workers_are_forked_where_this_thread_runs_alone_and_spawned_otherwise():
    one_thread = "from musclethick._workers import limit_threads\nlimit_threads(1)\n"
    assert _start_method(one_thread) == "fork"
    # another thread's locks would stay locked in the forked copy
    waiting = "import threading\nstop = threading.Event()\n"
    waiting += "threading.Thread(target=stop.wait, daemon=True).start()"
    assert _start_method(one_thread + waiting) == "spawn"
    # a copy of OpenCV's running thread pool hangs the worker
    assert _start_method(one_thread + "import cv2\ncv2.setNumThreads(2)") == "spawn"
    # PyTorch's OpenMP threads do not survive a fork
    assert _start_method(one_thread + "import torch") == "spawn"


def test_the_progress_bar_starts_no_thread():
    from musclethick._workers import progress_bar

    before = threading.active_count()
    bar = progress_bar(total=3, disable=False, file=sys.stderr)
    bar.update(3)
    assert threading.active_count() == before
    bar.close()
