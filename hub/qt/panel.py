"""HubPanel: the hub inside a pipeline's GUI. Pick viewers, start/stop, watch each viewer.

A QWidget over :class:`hub.launcher.HubLauncher`: one checkbox per installed viewer plugin,
Start/Stop and Clear buttons, and a table with a row per viewer (state, items shown and
queued, items per second, restarts, last error), refreshed from ``hub status`` by a timer.
Works with PyQt5, PyQt6 and PySide6 through qtpy.
"""

from __future__ import annotations

import logging
from typing import Any

from qtpy.QtCore import QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from contract.connection import HubError
from hub.launcher import HubLauncher

log = logging.getLogger(__name__)

COLUMNS = ("viewer", "state", "shown", "queued", "items/s", "restarts", "last error")


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
        group = QGroupBox("Viewers")
        boxes = QHBoxLayout(group)
        for name in self.launcher.available_viewers():
            box = QCheckBox(name)
            box.setChecked(name in ("napari", "fiji"))
            boxes.addWidget(box)
            self.checkboxes[name] = box
        self.start_button = QPushButton("Start hub")
        self.clear_button = QPushButton("Clear scene")
        self.clear_button.setEnabled(False)
        self.summary = QLabel("hub not running")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(group)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)
        layout.addWidget(self.table)
        self.start_button.clicked.connect(self.toggle)
        self.clear_button.clicked.connect(self.clear)
        self.timer = QTimer(self)
        self.timer.setInterval(refresh_ms)
        self.timer.timeout.connect(self.refresh)

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
        self.start_button.setText("Stop hub")
        self.clear_button.setEnabled(True)
        for box in self.checkboxes.values():
            box.setEnabled(False)
        self.timer.start()
        self.refresh()
        self.started.emit()

    def stop(self) -> None:
        self.timer.stop()
        self.launcher.stop()
        self.start_button.setText("Start hub")
        self.clear_button.setEnabled(False)
        for box in self.checkboxes.values():
            box.setEnabled(True)
        self.summary.setText("hub not running")
        self.table.setRowCount(0)
        self.stopped.emit()

    def clear(self) -> None:
        try:
            self.launcher.clear()
        except HubError as exc:
            self.summary.setText(f"clear failed: {exc}")

    def refresh(self) -> None:
        status = self.launcher.status()
        if status is None:
            self.summary.setText("hub not answering")
            return
        self.show_status(status)
        self.status_changed.emit(status)

    def show_status(self, status: dict[str, Any]) -> None:
        hub = status["hub"]
        self.summary.setText(
            f"scene {hub['scene']}: {hub['items']} items, {hub['bytes'] / 1e6:.0f} of "
            f"{hub['memory_budget'] / 1e6:.0f} MB, errors {hub['errors_total']}"
        )
        viewers = status["viewers"]
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
        self.table.resizeColumnsToContents()

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        self.stop()
        super().closeEvent(event)
