"""Qt widgets of the napari plugin (the only Qt code of musclethick)."""
