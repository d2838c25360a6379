"""Review widget: walk a study store's queue, accept / reject / correct, written at once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QEvent, QObject, Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
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

from musclethick._napari._editor import BoundaryEditor, _camera
from musclethick._napari._layers import (
    _file_name,
    frames_to_image_layers,
    mean_thickness_text,
)
from musclethick._napari._qt._table import SummaryTable
from musclethick._napari._review import (
    BLIND_FILTERS,
    DECISION_LABELS,
    ReviewFilters,
    ReviewSession,
    blind_text,
    frame_result_of,
    item_text,
)
from musclethick.architecture import architecture_text
from musclethick.errors import MusclethickError, StoreError
from musclethick.types import FrameResult, LayerPair

if TYPE_CHECKING:
    import napari

    from musclethick.study.store import StoredResult

__all__ = ["SHORTCUTS", "ReviewWidget"]

#: Viewer key bindings (chosen not to clash with the Shapes / Image layer keys).
SHORTCUTS = {
    "next": "n",
    "previous": "Shift-N",
    "accept": "Shift-A",
    "reject": "Shift-R",
    "correct": "Shift-C",
    "runner_up": "w",
    "band_down": "Shift-Down",
    "band_up": "Shift-Up",
}

_ANY = "(any)"
#: Delay before the next scans are read ahead (ms): after the current one is drawn.
PREFETCH_AFTER_MS = 100
_QT_KEYS = {"Down": "Key_Down", "Up": "Key_Up"}


class ReviewWidget(QWidget):
    """Review the results of a study store in the viewer.

    The queue lists flagged and low-confidence results first. Each decision is written to the
    store at once with the reviewer's name and time; the model's result is kept beside it.
    Editing a boundary (drag, insert or delete vertices, redraw the path, swap to the
    runner-up pair, move a boundary to the next band) re-measures live; *Correct* stores the
    edited boundaries and lines. Moving on with an unsaved edit needs a second press. When
    another reviewer decided on the same result first, the decision is refused, the conflict
    is shown and the queue reloads.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer (injected by napari).
    store_path : str, optional
        Study store to open (else use the *Open store* button).
    reviewer : str
        Reviewer name written with each decision.
    blind : bool
        Hide subject, week and condition in the queue and on screen; locked on for the
        session (``musclethick review --blind``).
    """

    changed = Signal()

    def __init__(
        self,
        napari_viewer: napari.Viewer,
        store_path: str | None = None,
        reviewer: str = "",
        *,
        blind: bool = False,
    ) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.session: ReviewSession | None = None
        self.editor: BoundaryEditor | None = None
        self.image_layer: Any = None
        self.error = ""
        self._store = None
        self._stored: StoredResult | None = None
        self._leave_armed = False
        self._action: str | None = None
        self._fitted: tuple[float, tuple[float, ...]] | None = None
        self._filter_values: dict[str, str] = {}
        self._image_geometry: dict[str, Any] | None = None

        self.store_label = QLabel("no store")
        self.open_button = QPushButton("Open store…")
        self.reviewer_edit = QLineEdit(reviewer)
        self.reviewer_edit.setPlaceholderText("your name or initials")
        self.blind_check = QCheckBox("blind: hide subject, week and condition")
        self.blind_check.setChecked(blind)
        self.blind_check.setEnabled(not blind)  # asked for at start-up: stays on
        self.filters: dict[str, QComboBox] = {}
        filter_grid = QGridLayout()
        names = ("subject", "leg", "week", "site", "status", "review", "method")
        self.filter_labels: dict[str, QLabel] = {}
        for k, name in enumerate(names):
            combo = QComboBox()
            combo.addItem(_ANY)
            self.filters[name] = combo
            self.filter_labels[name] = QLabel(name)
            filter_grid.addWidget(self.filter_labels[name], k // 4 * 2, k % 4)
            filter_grid.addWidget(combo, k // 4 * 2 + 1, k % 4)
            combo.currentTextChanged.connect(self._apply_filters)
        self.queue_list = QListWidget()
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m reviewed")
        self.reason_edit = QLineEdit()
        self.reason_edit.setPlaceholderText("reason (required to reject)")
        self._reason_keys = _ReasonKeys(self)
        self.reason_edit.installEventFilter(self._reason_keys)
        self.buttons = {
            "previous": QPushButton(f"◀ Previous ({SHORTCUTS['previous']})"),
            "next": QPushButton(f"Next ({SHORTCUTS['next']}) ▶"),
            "accept": QPushButton(f"Accept ({SHORTCUTS['accept']})"),
            "reject": QPushButton(f"Reject ({SHORTCUTS['reject']})"),
            "correct": QPushButton(f"Save correction ({SHORTCUTS['correct']})"),
            "runner_up": QPushButton(f"Runner-up pair ({SHORTCUTS['runner_up']})"),
            "band_up": QPushButton("Next band up (Shift-↑)"),
            "band_down": QPushButton("Next band down (Shift-↓)"),
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
        top.addRow("", self.blind_check)
        nav = QHBoxLayout()
        nav.addWidget(self.buttons["previous"])
        nav.addWidget(self.buttons["next"])
        decide = QHBoxLayout()
        for name in ("accept", "reject", "correct"):
            decide.addWidget(self.buttons[name])
        fix = QHBoxLayout()
        for name in ("runner_up", "band_up", "band_down", "undo"):
            fix.addWidget(self.buttons[name])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(filter_grid)
        layout.addWidget(self.queue_list, 1)
        layout.addWidget(self.progress)
        layout.addLayout(nav)
        layout.addWidget(self.reason_edit)
        layout.addLayout(decide)
        layout.addLayout(fix)
        layout.addWidget(self.status)
        layout.addWidget(self.model_label)
        layout.addWidget(self.table, 1)

        self.open_button.clicked.connect(self._choose_store)
        self.blind_check.toggled.connect(self._on_blind)
        for name, action in self._actions().items():
            self.buttons[name].clicked.connect(lambda _=False, action=action: action())
        self.buttons["undo"].clicked.connect(self.undo)
        self.queue_list.currentRowChanged.connect(self._on_row)
        canvas = getattr(self.viewer, "canvas", None)  # napari >= 0.9
        if canvas is not None:
            canvas.events.size.connect(self._on_canvas_size)
        self._bind_keys()
        self._show_blind_filters()
        if store_path is not None:
            self.open_store(store_path)

    def _actions(self) -> dict[str, Any]:
        return {
            "next": self.next,
            "previous": self.previous,
            "accept": self.accept,
            "reject": self.reject,
            "correct": self.correct,
            "runner_up": self.swap_runner_up,
            "band_down": lambda: self.next_band(+1),
            "band_up": lambda: self.next_band(-1),
        }

    @property
    def blind(self) -> bool:
        """Whether subject, week and condition are hidden."""
        return self.blind_check.isChecked()

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
        self._close_store()
        self._store = StudyStore(path)
        self.session = ReviewSession(self._store, reviewer)
        self.store_label.setText(_file_name(str(path)))
        choices = self.session.choices()
        for name, combo in self.filters.items():
            combo.blockSignals(True)
            combo.clear()
            combo.addItems([_ANY, *choices[name]])
            combo.blockSignals(False)
        self._filter_values = {name: _ANY for name in self.filters}
        self._fill_queue()
        self.show_current()

    def _close_store(self) -> None:
        if self.session is not None:
            self.session.close()
        if self._store is not None:
            self._store.close()
        self._store = None

    def current_filters(self) -> ReviewFilters:
        """Filters from the combo boxes (subject and week are ignored in a blind review)."""
        values = {
            name: (None if c.currentText() == _ANY else c.currentText())
            for name, c in self.filters.items()
        }
        if self.blind:
            for name in BLIND_FILTERS:
                values[name] = None
        week = values.pop("week")
        return ReviewFilters(week=None if week is None else int(week), **values)

    def _apply_filters(self, _: str = "") -> None:
        if self.session is None:
            return
        if not self._may_leave():  # put the combo boxes back as they were
            for name, combo in self.filters.items():
                combo.blockSignals(True)
                combo.setCurrentText(self._filter_values.get(name, _ANY))
                combo.blockSignals(False)
            return
        self._filter_values = {name: c.currentText() for name, c in self.filters.items()}
        self.session.refresh(self.current_filters())
        self._fill_queue()
        self.show_current()

    def _on_blind(self, blind: bool) -> None:
        self._show_blind_filters()
        if self.session is None:
            return
        self._fill_queue()
        if self.editor is not None and not self.error:
            self._show_status()
        self._show_table()

    def _show_blind_filters(self) -> None:
        for name in BLIND_FILTERS:
            self.filters[name].setVisible(not self.blind)
            self.filter_labels[name].setVisible(not self.blind)

    def _fill_queue(self) -> None:
        assert self.session is not None
        self.queue_list.blockSignals(True)
        self.queue_list.clear()
        for item in self.session.items:
            self.queue_list.addItem(item_text(item, blind=self.blind))
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
        if self.session is None or row < 0 or row == self.session.index:
            return
        if not self._may_leave():
            self.queue_list.blockSignals(True)
            self.queue_list.setCurrentRow(self.session.index)
            self.queue_list.blockSignals(False)
            return
        self.session.index = row
        self.show_current()

    def _may_leave(self) -> bool:
        """Whether the current scan may be left: no unsaved edit, or asked a second time."""
        if self.editor is None or not self.editor.edited or self._leave_armed:
            self._leave_armed = False
            return True
        self._leave_armed = True
        self._show_error(
            "unsaved edit: Shift-C saves it, Ctrl-Z undoes it; move again to discard it"
        )
        return False

    # ------------------------------------------------------------------ current item
    def show_current(self) -> None:
        """Show the current item's frame and (reviewed or model) boundaries."""
        if self.session is None:
            return
        self._leave_armed = False
        self._action = None
        self._stored = None
        if not self.session.items:
            self._clear_layers()
            self.status.setText("Nothing to review with these filters.")
            self.model_label.setText("")
            self.table.setRowCount(0)
            return
        try:
            stored = self.session.stored()
        except MusclethickError as error:
            self._clear_layers()
            self.model_label.setText("")
            self.table.setRowCount(0)
            self._show_error(str(error))
            return
        self._stored = stored
        self._show_model_label(stored)
        try:
            frame = self.session.frame(stored)
        except MusclethickError as error:
            # nothing of the previous scan may stay on screen: this scan's stored values only
            self._clear_layers()
            self._show_table(frame_result_of(stored, None))
            self._show_error(f"cannot show this scan: {error}")
            self.changed.emit()
            return
        result = frame_result_of(stored, frame)
        data, kwargs, _ = frames_to_image_layers([frame])[0]
        kwargs["name"] = "review scan"
        geometry = {k: kwargs[k] for k in ("scale", "translate", "units")}
        if self.image_layer is not None and self.image_layer in self.viewer.layers:
            layer = self.image_layer
            layer.data = data
            layer.metadata = kwargs["metadata"]
            if geometry != self._image_geometry:  # each set refreshes the layer
                for key, value in geometry.items():
                    setattr(layer, key, value)
        else:
            self.image_layer = self.viewer.add_image(data, **kwargs)
            self.viewer.layers.move(self.viewer.layers.index(self.image_layer), 0)
        self._image_geometry = geometry
        self.error = ""
        self._fit_view()
        if self.editor is not None:
            self.editor.load(frame, result, geometry=geometry)
        else:
            self.editor = BoundaryEditor(
                self.viewer, frame, result, geometry=geometry, on_change=self._on_change
            )
            self.editor.on_nothing_to_undo = self._nothing_to_undo
        self._show_status()
        self._show_table()
        self._update_undo()
        self.changed.emit()
        # read the next scans once this one is drawn (not competing with the drawing)
        QTimer.singleShot(PREFETCH_AFTER_MS, self._prefetch)

    def _prefetch(self) -> None:
        if self.session is not None and self.session.items:
            self.session.prefetch()

    def _show_model_label(self, stored: StoredResult) -> None:
        who = ""
        if stored.review is not None:
            r = stored.review
            who = f" — {DECISION_LABELS[r.decision]} by {r.reviewer} at {r.reviewed_at[:19]}"
            if r.reason:
                who += f" ({r.reason})"
        model = stored.thickness_mm
        pair = stored.runner_up
        n_pairs = len(stored.offered_pairs)
        if pair is None:
            runner = "; no runner-up pair (w looks for pairs of the image's bands)"
        elif pair.kind == "bands":
            runner = f"; {n_pairs} other layer pairs of the image's bands offered (press w)"
        elif pair.kind == "upside_down":
            runner = "; runner-up: the pair measured with the image turned upside down (press w)"
        else:
            runner = f"; runner-up pair {pair.margin_nats:.2f} nats less plausible (press w)"
            if stored.other_pairs:
                runner = runner[:-1] + f", {len(stored.other_pairs)} more pairs after it)"
        how = " ".join(v for v in (stored.method, stored.model_version) if v)
        self.model_label.setText(
            (f"model result ({how}): " if how else "model result: ")
            + (f"{model:.2f} mm" if model is not None else "none")
            + f", confidence {stored.confidence or 0:.2f}{runner}{who}"
        )

    def _show_table(self, result: FrameResult | None = None) -> None:
        if result is None:
            if self.editor is None:
                return
            result = self.editor.result
        if self.blind and self._stored is not None:
            from dataclasses import replace

            result = replace(result, message=blind_text(result.message, self._stored.scan.path))
        self.table.show_result(result)

    def _show_status(self) -> None:
        """The status line of the scan shown, without edits: position, labels, hints."""
        assert self.session is not None
        item = self.session.current
        text = f"{self.session.index + 1}/{len(self.session.items)}: "
        text += item_text(item, blind=self.blind)
        if self.editor is not None and self.editor.result.superficial is None:
            text += " — draw the missing boundary (click its points, Esc to finish) or reject"
        self.status.setText(text)

    def _fit_view(self) -> None:
        """Fit the scan to the canvas (again when the canvas is resized before any zoom)."""
        self.viewer.reset_view(layers=[self.image_layer])
        camera = _camera(self.viewer)
        self._fitted = (float(camera.zoom), tuple(float(c) for c in camera.center))

    def _on_canvas_size(self, event: Any = None) -> None:
        if self._fitted is None or self.image_layer is None:
            return
        camera = _camera(self.viewer)
        now = (float(camera.zoom), tuple(float(c) for c in camera.center))
        if now == self._fitted:  # the reviewer has not zoomed or panned: keep it fitted
            self._fit_view()

    def _on_change(self, result: FrameResult | MusclethickError) -> None:
        self._leave_armed = False
        self._show_table()
        self._update_undo()
        action, self._action = self._action, None
        if isinstance(result, MusclethickError):
            self._show_error(str(result))
            return
        self.error = ""
        if self.editor is None or not self.editor.edited:
            self._show_status()  # back to the stored result: nothing to save
            if action:  # e.g. the runner-up key's ring came round again
                self.status.setText(f"{action}: the stored result, nothing to save")
            return
        value = mean_thickness_text(result)
        what = action or "Edited"
        note = f" ({self.editor.note})" if self.editor.note else ""
        if result.architecture is not None:
            value += ", " + architecture_text(result.architecture)
        self.status.setText(f"{what}: mean thickness {value}{note} — Shift-C saves, Ctrl-Z undoes")

    def _update_undo(self) -> None:
        self.buttons["undo"].setEnabled(self.editor is not None and len(self.editor.history) > 0)

    def _clear_layers(self) -> None:
        with self.viewer.layers.batched_update():
            if self.editor is not None:
                self.editor.close()
                self.editor = None
            if self.image_layer is not None and self.image_layer in self.viewer.layers:
                self.viewer.layers.remove(self.image_layer)
            self.image_layer = None
        self._fitted = None

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
        if not self._may_leave():
            return
        self.session.move(step)
        self._select_row()

    def _select_row(self) -> None:
        """Select the session's current row and show it (no unsaved-edit check)."""
        assert self.session is not None
        self.queue_list.blockSignals(True)
        self.queue_list.setCurrentRow(self.session.index)
        self.queue_list.blockSignals(False)
        self.show_current()

    def accept(self) -> bool:
        """Accept the current result (with edits, this saves a correction instead)."""
        if self.editor is not None and self.editor.edited:
            return self.correct()
        if self.editor is None:
            self._show_error("no scan is shown: nothing to accept (reject it with a reason)")
            return False
        shown = self.editor.result
        if shown.superficial is None or shown.deep is None:
            self._show_error(
                "nothing to accept: no boundaries were found; draw both (click their points, "
                "Esc to finish) and press Shift-C, or reject with a reason"
            )
            return False
        return self._decide("accept")

    def reject(self) -> bool:
        """Reject the current result with the reason typed in the reason box."""
        return self._decide("reject")

    def correct(self) -> bool:
        """Store the edited boundaries and their measurements as a correction."""
        if self.editor is None or not self.editor.edited:
            self._show_error("edit a boundary first (drag or delete vertices, w, Shift-↑/↓)")
            return False
        if self.editor.error is not None:
            self._show_error(f"cannot save: {self.editor.error}")
            return False
        return self._decide("correct", corrected=self.editor.result)

    def swap_runner_up(self) -> bool:
        """Show the runner-up layer pair instead of the current boundaries (the key again
        swaps back); saving it stores a correction whose boundaries say ``runner_up``."""
        if self.editor is None:
            return False
        note = ""
        if self.editor.runner_up is None:  # stored without pairs (ok, or an older store)
            pairs, note = self._pairs_now()
            self.editor.offer_pairs(pairs)
        note = f" — {note}" if note else ""
        pair = self.editor.runner_up
        if pair is None:
            self.status.setText(
                "No other layer pair for this result: neither the model nor the image's bands "
                f"offer one. Edit a boundary, or move it to the next band (Shift-↑/↓).{note}"
            )
            return False
        measured_by = self.session.stored().method  # how the stored result was measured
        shown = self.editor.result
        ends = shown.superficial is None or shown.deep is None  # nothing shown to come back to
        # the pairs offered, not the measured or shown pair the ring also returns to
        offered = [p for p in self.editor.offered if p.kind not in ("model", "shown")]
        place = next((i + 1 for i, p in enumerate(offered) if p is pair), 0), len(offered)
        self._action = _swap_text(pair, self.editor.other_pairs, measured_by, place, ends=ends)
        self._action += note
        try:
            self.editor.swap_runner_up()
        except MusclethickError as error:
            self._action = None
            self._show_error(str(error))
            return False
        return True

    def _pairs_now(self) -> tuple[tuple[LayerPair, ...], str]:
        """The frame's band pairs, ranked by the layer map of the model the result was measured
        with (:meth:`~musclethick._napari._review.ReviewSession.measuring_model`; the shipped
        one when that file is gone or changed, which the note returned says), for a
        result stored without pairs: an ``ok`` result the reviewer doubts, or one from an
        older store (:meth:`musclethick.segment.SegmentationModel.other_pairs`; the model is
        loaded on the first such press, ~0.3 s). Empty when no model can be loaded or none is
        found, with the note."""
        from musclethick.errors import BoundaryNotFound, ModelError
        from musclethick.pipeline import OFFERED_PAIRS, get_model

        measured = self.editor.result.measured_pair
        path, note = self.session.measuring_model(self.session.stored())
        try:
            model = get_model(path)
            pixels = self.editor.frame.pixels
            return model.other_pairs(pixels, measured=measured, k=OFFERED_PAIRS), note
        except (ModelError, BoundaryNotFound, ValueError):
            return (), note

    def next_band(self, direction: int) -> bool:
        """Move the selected boundary (deep unless the superficial layer is selected) to the
        next band down (``+1``) or up (``-1``)."""
        if self.editor is None:
            return False
        active = self.viewer.layers.selection.active
        side = "deep"
        if active is not None and active.metadata.get("musclethick_side") == "superficial":
            side = "superficial"
        where = "down" if direction > 0 else "up"
        self._action = f"{side.capitalize()} boundary moved to the next band {where}"
        try:
            self.editor.move_to_next_band(side, direction)
        except MusclethickError as error:
            self._action = None
            self._show_error(str(error))
            return False
        return True

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
        self.queue_list.item(row).setText(item_text(self.session.items[row], blind=self.blind))
        self.reason_edit.clear()
        _focus_canvas(self.viewer)  # the keys work on the canvas, also after a button
        self._update_progress()
        verb = DECISION_LABELS[review.decision]
        if decision == "accept" and review.decision == "correct":
            verb = "correction confirmed"
        saved = f"Saved: {verb} by {review.reviewer}"
        if any(i.decision is None for i in self.session.items):
            self.session.next_pending()
            self._select_row()
        else:
            self.show_current()  # all done: show the decision just made
        self.status.setText(saved + (f" — {self.status.text()}" if not self.error else ""))
        return True

    def undo(self) -> bool:
        """Undo the last boundary edit (the status line says when there is none)."""
        done = self.editor is not None and self.editor.undo()
        self._update_undo()
        if not done and self.editor is not None:
            self._nothing_to_undo()
        return done

    def _nothing_to_undo(self) -> None:
        self.status.setText("Nothing to undo: the boundaries shown are the stored ones.")

    # ------------------------------------------------------------------ keys
    def _bind_keys(self) -> None:
        actions = self._actions()
        for name, key in SHORTCUTS.items():
            action = actions[name]
            self.viewer.bind_key(key, lambda viewer, action=action: action(), overwrite=True)

    def unbind_keys(self) -> None:
        """Remove the viewer key bindings (when the widget is closed)."""
        for key in SHORTCUTS.values():
            self.viewer.bind_key(key, None)

    def closeEvent(self, event: Any) -> None:
        self.unbind_keys()
        canvas = getattr(self.viewer, "canvas", None)
        if canvas is not None:
            canvas.events.size.disconnect(self._on_canvas_size)
        self._clear_layers()
        self._close_store()
        self.session = None
        super().closeEvent(event)


class _ReasonKeys(QObject):
    """Event filter of the reason box: the Shift- shortcuts decide there too (typing a
    reason and pressing Shift-R rejects with it), instead of typing a capital letter.
    Capitals are typed with Caps Lock; plain keys (``n``, ``w``) type as usual."""

    def __init__(self, widget: ReviewWidget) -> None:
        super().__init__(widget)
        self.widget = widget
        self.keys: dict[int, str] = {}
        for name, key in SHORTCUTS.items():
            if key.startswith("Shift-"):
                base = key.split("-", 1)[1]
                qt_key = getattr(Qt.Key, _QT_KEYS.get(base, f"Key_{base}"))
                self.keys[int(qt_key.value if hasattr(qt_key, "value") else qt_key)] = name

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride):
            return False
        modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if modifiers != Qt.KeyboardModifier.ShiftModifier:
            return False
        name = self.keys.get(int(event.key()))
        if name is None:
            return False
        if kind == QEvent.Type.ShortcutOverride:
            event.accept()  # ours: no application shortcut, and the key press comes next
            return True
        self.widget._actions()[name]()
        return True


def _focus_canvas(viewer: Any) -> None:
    """Give the keyboard back to the canvas, where the viewer's keys work."""
    try:
        viewer.window._qt_viewer.canvas.native.setFocus()
    except AttributeError:  # pragma: no cover - a napari without that attribute
        pass


def _pair_text(pair: LayerPair, measured_by: str) -> str:
    """What a pair of the runner-up key's ring is, in words (``measured_by``: the stored
    result's method, which found the measured pair)."""
    if pair.kind == "model":
        how = "edge detection" if measured_by == "edges" else "the model's first choice"
        return f"the measured pair ({how})"
    if pair.kind == "shown":
        return "the boundaries shown before"
    if pair.kind == "bands":
        return "a pair of the image's bands, ranked by the model"
    if pair.kind == "upside_down":
        return "the pair the model finds with the image turned upside down"
    return f"{float(pair.margin_nats):.2f} nats less plausible to the model"


def _swap_text(
    pair: LayerPair,
    others: tuple[LayerPair, ...],
    measured_by: str,
    place: tuple[int, int] = (0, 0),
    *,
    ends: bool = False,
) -> str:
    """The status text of a swap to ``pair`` (the runner-up key's ring: ``pair``, then
    ``others``; ``place``: its number among the pairs offered, and how many; ``ends``: no
    pair was shown before, so none comes back): which pair it is and what the next press
    shows."""
    if not others:
        after = "no other pair offered" if ends else "w swaps back"
    elif others[0].kind in ("model", "shown"):
        after = f"w: back to {_pair_text(others[0], measured_by)}"
    else:
        after = "w: next pair"
    what = _pair_text(pair, measured_by)
    if pair.kind in ("model", "shown"):
        return f"Back to {what} ({after})"
    k, n = place
    if pair.kind == "bands" and k:
        return f"Swapped to pair {k} of {n} offered ({what}; {after})"
    return f"Swapped to the runner-up pair ({what}; {after})"
