"""The napari viewer plugin: a napari window in its own process, fed by the hub.

The hub client is polled from a Qt timer on napari's own event loop, so every layer update
happens on the GUI thread and a frozen GUI stops the heartbeat (the hub then reports the
viewer as hung instead of waiting on it).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
from pathlib import Path
from typing import Any

from viewers.base import Item, Viewer
from viewers.napari.config import NapariDisplayConfig
from viewers.napari.scene import NapariScene

log = logging.getLogger(__name__)

POLL_INTERVAL_MS = 5

#: Qt bindings in the order napari prefers them (PyQt6 is its default; PyQt5 is deprecated
#: and makes napari show a deprecation notice in every window).
PREFERRED_QT_APIS = (("pyqt6", "PyQt6"), ("pyside6", "PySide6"), ("pyqt5", "PyQt5"))
_QT_MODULES = ("PyQt5", "PyQt6", "PySide2", "PySide6")


def prefer_qt_binding() -> str | None:
    """Point qtpy at napari's preferred binding unless the user or the process already chose.

    qtpy falls back to PyQt5 when ``QT_API`` is unset, so without this a machine that still
    has PyQt5 installed would start napari on its deprecated binding. An explicit ``QT_API``
    and a binding already imported in this process (a host application) both win.
    """
    if os.environ.get("QT_API") or any(m in sys.modules for m in _QT_MODULES):
        return os.environ.get("QT_API")
    for api, module in PREFERRED_QT_APIS:
        if importlib.util.find_spec(module) is not None:
            os.environ["QT_API"] = api
            return api
    return None


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
        log.info("Qt binding: %s", prefer_qt_binding())
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
        from qtpy import API_NAME

        return {**(self.scene.status() if self.scene else {}), "qt": API_NAME}

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
        app.exec()

    def close(self) -> None:
        if self.viewer is not None:
            with contextlib.suppress(RuntimeError):  # the window may already be gone
                self.viewer.close()
            self.viewer = None
