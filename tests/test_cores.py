"""The one core counter."""

from __future__ import annotations

import os

from musclethick import _cores, pipeline
from musclethick._cores import available_cores
from musclethick.study import batch


def test_counts_the_cores_this_process_may_use(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    assert available_cores() == 3


def test_without_affinity_counts_the_machine(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert available_cores() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert available_cores() == 1


def test_pipeline_and_batches_share_it():
    assert pipeline.available_cores is batch.available_cores is _cores.available_cores
