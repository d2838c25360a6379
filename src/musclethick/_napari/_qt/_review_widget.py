"""Review widget: walk a study store's queue, accept / reject / correct, written at once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from musclethick._napari._editor import BoundaryEditor
from musclethick._napari._layers import (
    _file_name,
    frames_to_image_layers,
    mean_thickness_text,
)
from musclethick._napari._qt._table import SummaryTable
from musclethick._napari._review import DECISION_LABELS, ReviewFilters, ReviewSession
from musclethick.errors import MusclethickError, StoreError
from musclethick.types import FrameResult

if TYPE_CHECKING:
    import napari

    from musclethick.study.store import QueueItem

__all__ = ["SHORTCUTS", "ReviewWidget"]

#: Viewer key bindings (chosen not to clash with the Shapes / Image layer keys).
SHORTCUTS = {
    "next": "n",
    "previous": "Shift-N",
    "accept": "Shift-A",
    "reject": "Shift-R",
    "correct": "Shift-C",
}

_ANY = "(any)"


class ReviewWidget(QWidget):
    """Review the results of a study store in the viewer.

    The queue lists flagged and low-confidence results first. Each decision is written to the
    store at once with the reviewer's name and time; the model's result is kept beside it.
    Editing a boundary (drag, insert or delete vertices, or redraw the path) re-measures live;
    *Correct* stores the edited boundaries and lines. When another reviewer decided on the
    same result first, the decision is refused, the conflict is shown and the queue reloads.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer (injected by napari).
    store_path : str, optional
        Study store to open (else use the *Open store* button).
    reviewer : str
        Reviewer name written with each decision.
    """

    changed = Signal()

    def __init__(
        self, napari_viewer: napari.Viewer, store_path: str | None = None, reviewer: str = ""
    ) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.session: ReviewSession | None = None
        self.editor: BoundaryEditor | None = None
        self.image_layer: Any = None
        self.error = ""
        self._store = None

        self.store_label = QLabel("no store")
        self.open_button = QPushButton("Open store…")
        self.reviewer_edit = QLineEdit(reviewer)
        self.reviewer_edit.setPlaceholderText("your name or initials")
        self.filters: dict[str, QComboBox] = {}
        filter_grid = QGridLayout()
        names = ("subject", "leg", "week", "site", "status", "review", "method")
        for k, name in enumerate(names):
            combo = QComboBox()
            combo.addItem(_ANY)
            self.filters[name] = combo
            filter_grid.addWidget(QLabel(name), k // 4 * 2, k % 4)
            filter_grid.addWidget(combo, k // 4 * 2 + 1, k % 4)
            combo.currentTextChanged.connect(self._apply_filters)
        self.queue_list = QListWidget()
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m reviewed")
        self.reason_edit = QLineEdit()
        self.reason_edit.setPlaceholderText("reason (required to reject)")
        self.buttons = {
            "previous": QPushButton(f"◀ Previous ({SHORTCUTS['previous']})"),
            "next": QPushButton(f"Next ({SHORTCUTS['next']}) ▶"),
            "accept": QPushButton(f"Accept ({SHORTCUTS['accept']})"),
            "reject": QPushButton(f"Reject ({SHORTCUTS['reject']})"),
            "correct": QPushButton(f"Save correction ({SHORTCUTS['correct']})"),
            "undo": QPushButton("Undo edit (Ctrl+Z)"),
        }
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.table = SummaryTable()
        self.model_label = QLabel("")
        self.model_label.setWordWrap(True)

        top = QFormLayout()
        store_row = QHBoxLayout()
        store_row.addWidget(self.store_label, 1)
        store_row.addWidget(self.open_button)
        top.addRow("store", store_row)
        top.addRow("reviewer", self.reviewer_edit)
        nav = QHBoxLayout()
        nav.addWidget(self.buttons["previous"])
        nav.addWidget(self.buttons["next"])
        decide = QHBoxLayout()
        for name in ("accept", "reject", "correct"):
            decide.addWidget(self.buttons[name])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(filter_grid)
        layout.addWidget(self.queue_list, 1)
        layout.addWidget(self.progress)
        layout.addLayout(nav)
        layout.addWidget(self.reason_edit)
        layout.addLayout(decide)
        layout.addWidget(self.buttons["undo"])
        layout.addWidget(self.status)
        layout.addWidget(self.model_label)
        layout.addWidget(self.table, 1)

        self.open_button.clicked.connect(self._choose_store)
        self.buttons["previous"].clicked.connect(self.previous)
        self.buttons["next"].clicked.connect(self.next)
        self.buttons["accept"].clicked.connect(self.accept)
        self.buttons["reject"].clicked.connect(self.reject)
        self.buttons["correct"].clicked.connect(self.correct)
        self.buttons["undo"].clicked.connect(self.undo)
        self.queue_list.currentRowChanged.connect(self._on_row)
        self._bind_keys()
        if store_path is not None:
            self.open_store(store_path)

    # ------------------------------------------------------------------ store
    def _choose_store(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open study store", "", "SQLite (*.sqlite *.db);;All files (*)"
        )
        if path:
            self.open_store(path)

    def open_store(self, path: str | Path) -> None:
        """Open the study store at ``path`` and show its first queue item."""
        from musclethick.study.store import StudyStore

        reviewer = self.reviewer_edit.text().strip()
        if not reviewer:
            self._show_error("enter your name as reviewer first")
            return
        if self._store is not None:
            self._store.close()
        self._store = StudyStore(path)
        self.session = ReviewSession(self._store, reviewer)
        self.store_label.setText(_file_name(str(path)))
        choices = self.session.choices()
        for name, combo in self.filters.items():
            combo.blockSignals(True)
            combo.clear()
            combo.addItems([_ANY, *choices[name]])
            combo.blockSignals(False)
        self._fill_queue()
        self.show_current()

    def current_filters(self) -> ReviewFilters:
        """Filters from the combo boxes."""
        values = {
            name: (None if c.currentText() == _ANY else c.currentText())
            for name, c in self.filters.items()
        }
        week = values.pop("week")
        return ReviewFilters(week=None if week is None else int(week), **values)

    def _apply_filters(self, _: str = "") -> None:
        if self.session is None:
            return
        self.session.refresh(self.current_filters())
        self._fill_queue()
        self.show_current()

    def _fill_queue(self) -> None:
        assert self.session is not None
        self.queue_list.blockSignals(True)
        self.queue_list.clear()
        for item in self.session.items:
            self.queue_list.addItem(_item_text(item))
        if self.session.items:
            self.queue_list.setCurrentRow(self.session.index)
        self.queue_list.blockSignals(False)
        self._update_progress()

    def _update_progress(self) -> None:
        assert self.session is not None
        done, total = self.session.progress()
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
        if total == 0:
            self.progress.setFormat("nothing to review")
        else:
            self.progress.setFormat("%v of %m reviewed")

    def _on_row(self, row: int) -> None:
        if self.session is None or row < 0:
            return
        self.session.index = row
        self.show_current()

    # ------------------------------------------------------------------ current item
    def show_current(self) -> None:
        """Show the current item's frame and (reviewed or model) boundaries."""
        if self.session is None:
            return
        if not self.session.items:
            self._clear_layers()
            self.status.setText("Nothing to review with these filters.")
            self.table.setRowCount(0)
            return
        try:
            stored = self.session.stored()
            frame = self.session.frame(stored)
        except MusclethickError as error:
            self._clear_layers()
            self._show_error(str(error))
            return
        from musclethick._napari._review import frame_result_of

        result = frame_result_of(stored, frame)
        data, kwargs, _ = frames_to_image_layers([frame])[0]
        kwargs["name"] = "review scan"
        geometry = {k: kwargs[k] for k in ("scale", "translate", "units")}
        if self.image_layer is not None and self.image_layer in self.viewer.layers:
            layer = self.image_layer
            layer.data = data
            for key in ("scale", "translate", "units", "metadata"):
                setattr(layer, key, kwargs[key])
        else:
            self.image_layer = self.viewer.add_image(data, **kwargs)
            self.viewer.layers.move(self.viewer.layers.index(self.image_layer), 0)
        if self.editor is not None:
            self.editor.load(frame, result, geometry=geometry)
        else:
            self.editor = BoundaryEditor(
                self.viewer, frame, result, geometry=geometry, on_change=self._on_change
            )
        item = self.session.current
        who = ""
        if stored.review is not None:
            r = stored.review
            who = f" — {DECISION_LABELS[r.decision]} by {r.reviewer} at {r.reviewed_at[:19]}"
            if r.reason:
                who += f" ({r.reason})"
        model = stored.thickness_mm
        self.model_label.setText(
            f"model result ({' '.join(v for v in (stored.method, stored.model_version) if v)}): "
            + (f"{model:.2f} mm" if model is not None else "none")
            + f", confidence {stored.confidence or 0:.2f}{who}"
        )
        self.error = ""
        self.status.setText(
            f"{self.session.index + 1}/{len(self.session.items)}: {_item_text(item)}"
        )
        self.table.show_result(result)
        self.viewer.reset_view()
        self.changed.emit()

    def _on_change(self, result: FrameResult | MusclethickError) -> None:
        if isinstance(result, MusclethickError):
            self._show_error(str(result))
            return
        self.error = ""
        self.table.show_result(result)
        self.buttons["undo"].setEnabled(self.editor is not None and len(self.editor.history) > 0)
        if self.editor is not None and self.editor.edited:
            value = mean_thickness_text(result)
            self.status.setText(f"Edited: mean thickness {value} — press Save correction")

    def _clear_layers(self) -> None:
        with self.viewer.layers.batched_update():
            if self.editor is not None:
                self.editor.close()
                self.editor = None
            if self.image_layer is not None and self.image_layer in self.viewer.layers:
                self.viewer.layers.remove(self.image_layer)
            self.image_layer = None

    def _show_error(self, message: str) -> None:
        self.error = message
        self.status.setText(f"⚠ {message}")

    # ------------------------------------------------------------------ actions
    def next(self) -> None:
        """Go to the next item."""
        self._move(1)

    def previous(self) -> None:
        """Go to the previous item."""
        self._move(-1)

    def _move(self, step: int) -> None:
        if self.session is None or not self.session.items:
            return
        self.session.move(step)
        self.queue_list.setCurrentRow(self.session.index)  # shows it via _on_row

    def accept(self) -> bool:
        """Accept the current result (with edits, this saves a correction instead)."""
        if self.editor is not None and self.editor.edited:
            return self.correct()
        return self._decide("accept")

    def reject(self) -> bool:
        """Reject the current result with the reason typed in the reason box."""
        return self._decide("reject")

    def correct(self) -> bool:
        """Store the edited boundaries and their measurements as a correction."""
        if self.editor is None or not self.editor.edited:
            self._show_error("edit a boundary first (drag, insert or delete vertices)")
            return False
        if self.editor.error is not None:
            self._show_error(f"cannot save: {self.editor.error}")
            return False
        return self._decide("correct", corrected=self.editor.result)

    def _decide(self, decision: str, *, corrected: FrameResult | None = None) -> bool:
        if self.session is None or not self.session.items:
            return False
        reviewer = self.reviewer_edit.text().strip()
        if not reviewer:
            self._show_error("enter your name as reviewer first")
            return False
        self.session.reviewer = reviewer
        try:
            review = self.session.decide(
                decision, reason=self.reason_edit.text(), corrected=corrected
            )
        except StoreError as error:
            self._fill_queue()
            self._show_error(f"not saved: {error}")
            return False
        row = self.session.index
        self.queue_list.item(row).setText(_item_text(self.session.items[row]))
        self.reason_edit.clear()
        self._update_progress()
        saved = f"Saved: {DECISION_LABELS[review.decision]} by {review.reviewer}"
        if self.session.items and any(i.decision is None for i in self.session.items):
            self.session.next_pending()
            self.queue_list.setCurrentRow(self.session.index)
        self.status.setText(saved + (f" — {self.status.text()}" if not self.error else ""))
        return True

    def undo(self) -> bool:
        """Undo the last boundary edit."""
        return self.editor is not None and self.editor.undo()

    # ------------------------------------------------------------------ keys
    def _bind_keys(self) -> None:
        actions = {
            "next": self.next,
            "previous": self.previous,
            "accept": self.accept,
            "reject": self.reject,
            "correct": self.correct,
        }
        for name, key in SHORTCUTS.items():
            action = actions[name]
            self.viewer.bind_key(key, lambda viewer, action=action: action(), overwrite=True)

    def unbind_keys(self) -> None:
        """Remove the viewer key bindings (when the widget is closed)."""
        for key in SHORTCUTS.values():
            self.viewer.bind_key(key, None)

    def closeEvent(self, event: Any) -> None:
        self.unbind_keys()
        self._clear_layers()
        if self._store is not None:
            self._store.close()
            self._store = None
        super().closeEvent(event)


def _item_text(item: QueueItem) -> str:
    week = f"w{item.week}" if item.week is not None else ""
    labels = " ".join(str(v) for v in (item.subject, item.leg, week, item.site) if v)
    conf = "—" if item.confidence is None else f"{item.confidence:.2f}"
    mark = {"flagged": "⚑", "failed": "✗"}.get(item.status, " ")
    name = _file_name(item.path)
    frame = f"#{item.frame_index}" if item.frame_index else ""
    return f"{mark} {labels or name}{frame} · conf {conf} · {DECISION_LABELS[item.decision]}"
