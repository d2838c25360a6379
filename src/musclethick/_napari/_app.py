"""Functions the command line calls: ``musclethick view FILE`` and ``musclethick review STORE``.

``open_*`` start napari's event loop and return an exit status; ``make_*`` set up a viewer
without running the loop (for scripts, screenshots and tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from musclethick.errors import InputError, StoreError

if TYPE_CHECKING:
    import napari

    from musclethick._napari._qt._measure_widget import MeasureWidget
    from musclethick._napari._qt._review_widget import ReviewWidget

__all__ = ["make_review_viewer", "make_view_viewer", "open_review", "open_view"]


def make_view_viewer(
    path: str | Path,
    *,
    viewer: napari.Viewer | None = None,
    show: bool = True,
    calibration=None,
    measure: bool = False,
) -> tuple[napari.Viewer, MeasureWidget]:
    """A viewer showing the scan at ``path`` (mm scale) with the measure widget docked.

    With ``measure``, the first frame is measured at once (in the background) with the
    widget's default settings.

    Raises
    ------
    InputError, CalibrationError
        If the file cannot be read (one line naming the file).
    """
    import napari

    from musclethick._napari._qt._measure_widget import MeasureWidget
    from musclethick._napari._reader import read_layers

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    layers = read_layers(str(path), calibration=calibration)
    viewer = viewer or napari.Viewer(title=f"musclethick — {path.name}", show=show)
    for data, kwargs, _ in layers:
        viewer.add_image(data, **kwargs)
    _show_scale_bar(viewer)
    widget = MeasureWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Measure thickness", area="right")
    if measure:
        widget.measure()
    return viewer, widget


def make_review_viewer(
    store_path: str | Path,
    *,
    reviewer: str,
    viewer: napari.Viewer | None = None,
    show: bool = True,
    blind: bool = False,
) -> tuple[napari.Viewer, ReviewWidget]:
    """A viewer with the review widget docked on the study store at ``store_path``.

    ``blind`` hides subject, week and condition in the queue and on screen (locked on).

    Raises
    ------
    StoreError
        If the store does not exist or no reviewer name is given.
    """
    import napari

    from musclethick._napari._qt._review_widget import ReviewWidget

    store_path = Path(store_path)
    if not store_path.is_file():
        raise StoreError(f"{store_path}: study store not found")
    if not reviewer.strip():
        raise StoreError(f"{store_path}: a reviewer name is needed (--reviewer)")
    viewer = viewer or napari.Viewer(title=f"musclethick review — {store_path.name}", show=show)
    _show_scale_bar(viewer)
    widget = ReviewWidget(viewer, str(store_path), reviewer=reviewer, blind=blind)
    viewer.window.add_dock_widget(widget, name="Review study", area="right")
    return viewer, widget


def _show_scale_bar(viewer: napari.Viewer) -> None:
    canvas = getattr(viewer, "canvas", None)  # napari >= 0.9
    bar = canvas.overlays.scale_bar if canvas is not None else viewer.scale_bar
    bar.visible = True


def open_view(path: str | Path, *, calibration=None) -> int:
    """Open a scan in napari, measure it and show the editable result; 0 when closed.

    ``calibration`` (:class:`~musclethick.io.options.CalibrationOptions`): a pixel size or
    depth given on the command line, as for ``musclethick measure``.
    """
    import napari

    make_view_viewer(path, measure=True, calibration=calibration)
    napari.run()
    return 0


def open_review(store_path: str | Path, *, reviewer: str, blind: bool = False) -> int:
    """Review a study store in napari as ``reviewer``; returns 0 when the window is closed.

    ``blind`` hides subject, week and condition in the queue and on screen.
    """
    import napari

    make_review_viewer(store_path, reviewer=reviewer, blind=blind)
    napari.run()
    return 0
