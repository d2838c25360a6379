"""A two-column table of a result's values (thickness per line, confidence, QC flags)."""

from __future__ import annotations

from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from musclethick._napari._layers import result_summary
from musclethick.types import FrameResult

__all__ = ["SummaryTable"]


class SummaryTable(QTableWidget):
    """Read-only table of :func:`~musclethick._napari._layers.result_summary` rows."""

    def __init__(self) -> None:
        super().__init__(0, 2)
        self.setHorizontalHeaderLabels(["", "value"])
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)

    def show_result(self, result: FrameResult) -> None:
        """Fill the table with ``result``."""
        rows = result_summary(result)
        self.setRowCount(len(rows))
        for i, (name, value) in enumerate(rows):
            self.setItem(i, 0, QTableWidgetItem(name))
            self.setItem(i, 1, QTableWidgetItem(value))

    def values(self) -> dict[str, str]:
        """Rows as ``{name: value}`` (for tests and screenshots)."""
        return {self.item(i, 0).text(): self.item(i, 1).text() for i in range(self.rowCount())}
