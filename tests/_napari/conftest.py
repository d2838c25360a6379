"""Fixtures for the napari plugin tests: one real viewer per module, under Xvfb.

napari's ``make_napari_viewer`` fixture needs pytest-qt, which is not a dependency; a real
``napari.Viewer`` is made here instead (pytest-xvfb gives it an X display with OpenGL) and
shared by the tests of one module to keep the suite fast. Layers and dock widgets are
removed after each test.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


@pytest.fixture(scope="module")
def _module_viewer():
    napari = pytest.importorskip("napari")
    viewer = napari.Viewer(show=False)
    yield viewer
    viewer.close()


@pytest.fixture
def viewer(_module_viewer):
    """A real napari viewer, emptied after the test."""
    yield _module_viewer
    _module_viewer.window.remove_dock_widget("all")
    _module_viewer.layers.clear()
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
