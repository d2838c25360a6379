"""Worker processes: Ctrl-C is the coordinator's alone, from a worker's first instruction."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

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
