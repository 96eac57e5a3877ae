"""The napari viewer plugin: a napari window in its own process, fed by the hub.

The hub client is polled from a Qt timer on napari's own event loop, so every layer update
happens on the GUI thread and a frozen GUI stops the heartbeat (the hub then reports the
viewer as hung instead of waiting on it).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

from viewers.base import Item, Viewer
from viewers.napari.config import NapariDisplayConfig
from viewers.napari.scene import NapariScene

log = logging.getLogger(__name__)

POLL_INTERVAL_MS = 5


class NapariViewer(Viewer):
    """Options: ``title`` (window title), ``show`` (default true)."""

    config_class = NapariDisplayConfig

    def __init__(
        self, title: str = "viewerhub - napari", show: bool = True, **options: Any
    ) -> None:
        super().__init__(**options)
        self.title = title
        self.show_window = show
        self.viewer: Any = None
        self.scene: NapariScene | None = None

    def start(self) -> None:
        import napari

        self.viewer = napari.Viewer(title=self.title, show=self.show_window)
        self.scene = NapariScene(self.viewer)

    def show(self, item: Item) -> None:
        assert self.scene is not None
        self.scene.show(item)

    def clear(self) -> None:
        if self.scene is not None:
            self.scene.clear()

    def goto(self, components: dict[str, Any]) -> dict[str, Any]:
        assert self.scene is not None
        return self.scene.goto(components)

    def screenshot(self, path: Path) -> Path:
        from qtpy.QtWidgets import QApplication

        QApplication.processEvents()  # let pending layer refreshes reach the canvas
        self.viewer.screenshot(path=str(path), canvas_only=True, flash=False)
        return Path(path)

    def status(self) -> dict[str, Any]:
        return self.scene.status() if self.scene else {}

    def run(self, client: Any) -> None:
        from qtpy.QtCore import QTimer
        from qtpy.QtWidgets import QApplication

        app = QApplication.instance()

        def tick() -> None:
            client.poll_once(timeout_ms=0)
            if client.closed:
                timer.stop()
                app.quit()

        timer = QTimer()
        timer.timeout.connect(tick)
        timer.start(POLL_INTERVAL_MS)
        app.exec_()

    def close(self) -> None:
        if self.viewer is not None:
            with contextlib.suppress(RuntimeError):  # the window may already be gone
                self.viewer.close()
            self.viewer = None
