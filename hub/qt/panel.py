"""HubPanel: the hub inside a pipeline's GUI. Pick viewers, start/stop, watch each viewer.

A QWidget over :class:`hub.launcher.HubLauncher`: one checkbox per installed viewer plugin,
Start/Stop and Clear buttons, the hub's endpoint (what ``hub status --endpoint`` takes; the
launcher prefers the standard port so plain ``hub status`` finds it), a table with a row per
viewer (state, items shown and queued, items per second, restarts, last error, a Restart
button), refreshed from ``hub status`` by a timer, and the tail of the hub's log file (hub and
viewer output go there, never to the host application's stdout).

While the hub runs, a viewer's checkbox follows its state: checked and locked while it runs,
unchecked and free once it stopped (its window was closed) or failed; checking it again
restarts that viewer with the whole scene. Works with PyQt5, PyQt6 and PySide6 through qtpy.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from contract.connection import HubError
from hub.launcher import HubLauncher

log = logging.getLogger(__name__)

COLUMNS = ("viewer", "state", "shown", "queued", "items/s", "restarts", "last error", "")
#: Viewer states in which a viewer process exists (or is on its way).
ALIVE_STATES = frozenset({"starting", "running", "hung", "restarting"})
#: Lines of the log file the panel keeps on screen.
LOG_LINES = 500


class HubPanel(QWidget):
    """Start, stop and watch a hub. Emits ``status_changed(dict)`` on every refresh."""

    status_changed = Signal(dict)
    started = Signal()
    stopped = Signal()

    def __init__(
        self,
        launcher: HubLauncher | None = None,
        refresh_ms: int = 500,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.launcher = launcher or HubLauncher()
        self.checkboxes: dict[str, QCheckBox] = {}
        self.restart_buttons: dict[str, QPushButton] = {}
        self._states: dict[str, str] = {}
        self._log_offset = 0
        group = QGroupBox("Viewers")
        boxes = QHBoxLayout(group)
        for name in self.launcher.available_viewers():
            box = QCheckBox(name)
            box.setChecked(name in ("napari", "fiji"))
            box.toggled.connect(lambda on, n=name: self._box_toggled(n, on))
            boxes.addWidget(box)
            self.checkboxes[name] = box
        self.start_button = QPushButton("Start hub")
        self.clear_button = QPushButton("Clear scene")
        self.clear_button.setEnabled(False)
        self.endpoint_label = QLabel("")
        self.endpoint_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.summary = QLabel("hub not running")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(LOG_LINES)
        self.log_view.setPlaceholderText("hub and viewer log")
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(group)
        layout.addLayout(buttons)
        layout.addWidget(self.endpoint_label)
        layout.addWidget(self.summary)
        layout.addWidget(self.table)
        layout.addWidget(self.log_view)
        self.start_button.clicked.connect(self.toggle)
        self.clear_button.clicked.connect(self.clear)
        self.timer = QTimer(self)
        self.timer.setInterval(refresh_ms)
        self.timer.timeout.connect(self.refresh)

    @property
    def log_path(self) -> Path | None:
        """The file the hub and its viewers write to."""
        return self.launcher.log_path

    def selected_viewers(self) -> list[str]:
        return [name for name, box in self.checkboxes.items() if box.isChecked()]

    def toggle(self) -> None:
        if self.launcher.running:
            self.stop()
        else:
            self.start()

    def start(self) -> None:
        try:
            self.launcher.start(self.selected_viewers())
        except HubError as exc:
            self.summary.setText(f"could not start the hub: {exc}")
            return
        self._states = {}
        self._log_offset = 0
        self.log_view.clear()
        self.start_button.setText("Stop hub")
        self.clear_button.setEnabled(True)
        self.endpoint_label.setText(self._endpoint_text())
        for box in self.checkboxes.values():
            box.setEnabled(False)
        self.timer.start()
        self.refresh()
        self.started.emit()

    def _endpoint_text(self) -> str:
        endpoint = self.launcher.endpoint_text or "?"
        return f"hub at {endpoint}  (hub status --endpoint {endpoint})   log: {self.log_path}"

    def stop(self) -> None:
        self.timer.stop()
        self.launcher.stop()
        self.start_button.setText("Start hub")
        self.clear_button.setEnabled(False)
        self.endpoint_label.setText("")
        for box in self.checkboxes.values():
            box.setEnabled(True)
        self.summary.setText("hub not running")
        self.table.setRowCount(0)
        self.restart_buttons.clear()
        self.stopped.emit()

    def clear(self) -> None:
        try:
            self.launcher.clear()
        except HubError as exc:
            self.summary.setText(f"clear failed: {exc}")

    def restart_viewer(self, name: str) -> None:
        """A fresh process for one viewer; it is given the whole scene again."""
        try:
            self.launcher.restart(name)
        except HubError as exc:
            self.summary.setText(f"restart of {name} failed: {exc}")
            return
        self._states[name] = "restarting"
        self._follow_states()

    def _box_toggled(self, name: str, on: bool) -> None:
        """While the hub runs, checking a stopped viewer's box starts it again."""
        if on and self.launcher.running and self._states.get(name) not in (None, *ALIVE_STATES):
            self.restart_viewer(name)

    def refresh(self) -> None:
        self._tail_log()
        status = self.launcher.status()
        if status is None:
            self.summary.setText("hub not answering")
            return
        self.show_status(status)
        self.status_changed.emit(status)

    def _tail_log(self) -> None:
        path = self.log_path
        if path is None or not path.exists():
            return
        with open(path, "rb") as stream:
            stream.seek(self._log_offset)
            new = stream.read(256 * 1024)
        if new:
            self._log_offset += len(new)
            self.log_view.appendPlainText(new.decode("utf-8", "replace").rstrip("\n"))

    def show_status(self, status: dict[str, Any]) -> None:
        hub = status["hub"]
        self.summary.setText(
            f"scene {hub['scene']}: {hub['items']} items, {hub['bytes'] / 1e6:.0f} of "
            f"{hub['memory_budget'] / 1e6:.0f} MB, errors {hub['errors_total']}"
        )
        viewers = status["viewers"]
        self._states = {name: v["state"] for name, v in viewers.items()}
        self.table.setRowCount(len(viewers))
        for row, (name, v) in enumerate(viewers.items()):
            values = (
                name,
                v["state"],
                v.get("shown", 0),
                v.get("queued", 0),
                v.get("items_per_s", 0),
                v["restarts"],
                v.get("last_error") or "",
            )
            for column, value in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(str(value)))
            button = self.restart_buttons.get(name)
            if button is None or self.table.cellWidget(row, len(values)) is not button:
                button = QPushButton("Restart")
                button.setToolTip(f"start {name} again, with the whole scene")
                button.clicked.connect(lambda _=False, n=name: self.restart_viewer(n))
                self.restart_buttons[name] = button
                self.table.setCellWidget(row, len(values), button)
            button.setEnabled(v.get("supervised", True))
        self.table.resizeColumnsToContents()
        self._follow_states()

    def _follow_states(self) -> None:
        """Checked and locked while a viewer runs; free to check again once it stopped."""
        for name, box in self.checkboxes.items():
            state = self._states.get(name)
            alive = state in ALIVE_STATES
            box.blockSignals(True)  # following the hub is not a user's request
            box.setChecked(alive)
            box.setEnabled(state is not None and not alive)
            if state is None:
                box.setToolTip("not started with this hub: stop and start the hub to add it")
            else:
                box.setToolTip(f"{name}: {state}")
            box.blockSignals(False)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        self.stop()
        super().closeEvent(event)
