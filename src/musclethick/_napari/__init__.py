"""napari plugin of musclethick (npe2): reader, sample data, measure and review widgets.

Only this sub-package imports napari and Qt, and only inside its private modules, so importing
``musclethick._napari`` itself is cheap and works without the ``napari`` extra.
The manifest is ``napari.yaml``; :mod:`musclethick._napari._app` holds the functions the
command line calls (``musclethick view`` / ``musclethick review``).
"""

__all__: list[str] = []
