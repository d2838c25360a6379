"""How many cores this process may use: the one core counter (pipeline, study batches)."""

from __future__ import annotations

import os

__all__ = ["available_cores"]


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity where the OS reports it, else all.

    On Linux a container or ``taskset`` can limit a process to fewer cores than the machine
    has (``os.cpu_count()``); threads and worker processes are sized to what it may use.
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1
