"""A napari dock widget that connects the user's own napari window to a running hub.

Contributed through the npe2 manifest (``napari.yaml``): Plugins > viewerhub > Connect to hub.
The widget polls the hub from a Qt timer, like the standalone viewer, and shows what arrives
in the window it is docked in.
"""

from __future__ import annotations

import logging
from typing import Any

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QFormLayout, QLabel, QLineEdit, QPushButton, QWidget

from viewers.base import Item, Viewer
from viewers.client import ViewerClient
from viewers.napari.config import NapariDisplayConfig
from viewers.napari.scene import NapariScene

log = logging.getLogger(__name__)


class _DockedViewer(Viewer):
    """The Viewer contract on top of a napari window someone else opened."""

    config_class = NapariDisplayConfig

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.scene = NapariScene(napari_viewer)
        self.scene.deferred = True  # the widget flushes once per poll

    def start(self) -> None:
        pass

    def show(self, item: Item) -> None:
        self.scene.show(item)

    def clear(self) -> None:
        self.scene.clear()

    def goto(self, components: dict[str, Any]) -> dict[str, Any]:
        return self.scene.goto(components)

    def screenshot(self, path: Any) -> Any:
        self.scene.viewer.screenshot(path=str(path), canvas_only=True, flash=False)
        return path

    def status(self) -> dict[str, Any]:
        return self.scene.status()

    def close(self) -> None:
        pass


class HubConnectWidget(QWidget):
    """Endpoint field, connect/disconnect button and a status line."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.napari_viewer = napari_viewer
        self.client: ViewerClient | None = None
        self.endpoint = QLineEdit("tcp://127.0.0.1:7701")
        self.name = QLineEdit("napari-docked")
        self.button = QPushButton("Connect")
        self.state = QLabel("not connected")
        layout = QFormLayout(self)
        layout.addRow("hub viewer endpoint", self.endpoint)
        layout.addRow("viewer name", self.name)
        layout.addRow(self.button)
        layout.addRow(self.state)
        self.button.clicked.connect(self.toggle)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)

    def toggle(self) -> None:
        if self.client is None:
            viewer = _DockedViewer(self.napari_viewer)
            self.client = ViewerClient(
                self.endpoint.text(), self.name.text(), viewer, plugin="napari"
            )
            self.timer.start(5)
            self.button.setText("Disconnect")
        else:
            self.disconnect_hub()

    def disconnect_hub(self) -> None:
        self.timer.stop()
        if self.client is not None:
            self.client.close()
            self.client = None
        self.button.setText("Connect")
        self.state.setText("not connected")

    def _tick(self) -> None:
        client = self.client
        if client is None:
            return
        client.poll_once(timeout_ms=0)
        viewer = client.viewer
        if isinstance(viewer, _DockedViewer):
            viewer.scene.flush(force=False)
        if client.closed:
            self.disconnect_hub()
            return
        self.state.setText(f"scene {client.scene}: {client.shown} shown, {client.errors} errors")
