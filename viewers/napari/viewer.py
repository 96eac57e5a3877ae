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
import time
from pathlib import Path
from typing import Any

from viewers.base import Item, Viewer
from viewers.napari.config import NapariDisplayConfig
from viewers.napari.draw_trace import DrawTrace
from viewers.napari.report import listed_layers
from viewers.napari.scene import NapariScene
from viewers.napari.spares import SpareLayers
from viewers.napari.warmup import warm_up

log = logging.getLogger(__name__)

POLL_INTERVAL_MS = 5
#: Layers are handed their grown data at most this often while items stream in (each hand-over
#: costs napari ~15 ms per layer); a person sees ten updates a second, and controls
#: (goto, inspect, screenshot, status) always see everything that arrived.
FLUSH_INTERVAL_S = 0.1
#: A plane that arrived in view is handed over at the next poll, at most once a frame: the
#: person is looking at it, and a burst in one poll is still one refresh.
FRAME_S = 1 / 60
#: Longest a poll keeps taking items from the hub before napari gets to draw.
DRAIN_S = 0.05
#: Behind the stream (items still coming when a drain ends), napari keeps taking items
#: rather than drawing planes already overtaken, for up to this long since the last draw.
CATCH_UP_S = 0.25
#: Spare layers (``viewers.napari.spares``) used by a stream are made again, one per check,
#: once no item has arrived for this long: a stream that resumes waits for one at most.
SPARES_IDLE_S = 1.0

#: Qt bindings in the order napari prefers them (PyQt6 is its default; PyQt5 is deprecated
#: and makes napari show a deprecation notice in every window).
PREFERRED_QT_APIS = (("pyqt6", "PyQt6"), ("pyside6", "PySide6"), ("pyqt5", "PyQt5"))
_QT_MODULES = ("PyQt5", "PyQt6", "PySide2", "PySide6")
#: ``hub screenshot napari --window`` names: the whole main window, or the canvas (default).
MAIN_WINDOW_NAMES = ("main", "window", "full")
CANVAS_NAMES = ("canvas", "")


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
    """Options: ``title`` (window title), ``show`` (default true), ``overview`` (the plate
    overview dock, default true), ``cache_mb`` (pixels kept for re-display, default 256),
    ``follow`` (live mode: the sliders jump to the newest plane, default false)."""

    config_class = NapariDisplayConfig
    #: layers keep ``item.refs`` and read planes on demand: the client maps no segment for
    #: an item (``item.array`` is a placeholder of the right shape, for its components)
    reads_refs = True
    needs_pixels = False
    needs_display = True  # Qt aborts the process without a display; the runner says so first

    def __init__(
        self,
        title: str = "viewerhub - napari",
        show: bool = True,
        overview: bool = True,
        cache_mb: float | None = None,
        follow: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.title = title
        self.show_window = show
        self.show_overview = overview
        self.cache_bytes = None if cache_mb is None else int(float(cache_mb) * 1024**2)
        self.follow = bool(follow)
        self.overview_widget: Any = None
        self.viewer: Any = None
        self.scene: NapariScene | None = None
        self.closed_by_user = False
        self._window_deleted = False
        self._flushed = 0.0
        self._spares_checked = 0.0
        self.draw_trace: DrawTrace | None = None

    def start(self) -> None:
        log.info("Qt binding: %s", prefer_qt_binding())
        import napari

        self.viewer = napari.Viewer(title=self.title, show=self.show_window)
        # napari imports scipy.ndimage for its first layer thumbnail: 1-3 s that would
        # otherwise delay the first plane of a stream; paid here, before the hub says ready
        import scipy.ndimage  # noqa: F401

        if self.show_window:  # the first layer's one-time costs (~0.4 s), before the scene
            warm_up(self.viewer)
        self.scene = NapariScene(self.viewer)
        if self.show_window:  # a window's layer costs ~0.15 s: made now, filled later
            self.scene.spares = SpareLayers(self.viewer)
            self.scene.spares.top_up()
            from qtpy.QtWidgets import QApplication

            # the layer list's and controls' own updates for them (~0.15 s), before the
            # hub hears the viewer is ready: paid later, they delayed the first items
            QApplication.processEvents()
        if self.cache_bytes is not None:
            self.scene.cache.limit = self.cache_bytes
        self.scene.follow.enabled = self.follow
        self.scene.deferred = True  # layers updated once per poll (see NapariScene.flush)
        self.draw_trace = DrawTrace.from_env(self.options.get("trace_name", "napari"))
        if self.draw_trace is not None:
            self.draw_trace.attach(self.viewer)
            self.scene.on_flush = self.draw_trace.flushed
        if self.show_overview:
            from viewers.napari.overview_widget import PlateOverviewWidget

            self.overview_widget = PlateOverviewWidget(self.scene)
            self.viewer.window.add_dock_widget(self.overview_widget, name="plate", area="left")
        self._watch_window()

    def show(self, item: Item) -> None:
        assert self.scene is not None
        self.scene.show(item)

    def clear(self) -> None:
        if self.scene is not None:
            self.scene.clear()

    def relocated(self, refs: list[Any]) -> None:
        """Planes moved to the disk tier: the layers re-read only what failed meanwhile."""
        if self.scene is not None:
            self.scene.relocated(refs)

    def goto(self, components: dict[str, Any]) -> dict[str, Any]:
        assert self.scene is not None
        return self.scene.goto(components)

    def inspect(self, query: dict[str, Any]) -> dict[str, Any]:
        """Sliders, label and layers as napari holds them; ``window_png``: grab the window.

        The grab is the whole main window (canvas, dims sliders with their labels, layer
        list), i.e. what a person sees, as ``screenshot(window="main")`` is;
        the default screenshot is the canvas alone.
        """
        assert self.scene is not None
        result = self.scene.inspect()
        result["canvas_rect"] = self._canvas_rect()
        result["layer_list"] = listed_layers(self.viewer)  # the rows a person sees
        if self.scene.spares is not None:
            result["spares"] = len(self.scene.spares.spares())
        if self.overview_widget is not None:
            overview = self.scene.overview
            self.overview_widget.refresh()
            result["overview"] = {
                "wells": {w: list(p) for w, p in overview.wells.items()},
                "cell": overview.cell,
                "plate": [overview.rows, overview.cols],
                "rect": self.overview_widget.screen_rect(),
            }
        if query.get("window_png"):
            from qtpy.QtWidgets import QApplication

            QApplication.processEvents()
            self.viewer.screenshot(path=str(query["window_png"]), canvas_only=False, flash=False)
            result["window_png"] = str(query["window_png"])
        return result

    def _canvas_rect(self) -> list[int] | None:
        """The canvas on the screen as [x, y, width, height] (to read full-screen grabs)."""
        try:
            from qtpy.QtCore import QPoint

            canvas = self.viewer.window._qt_viewer.canvas.native  # no public accessor
            corner = canvas.mapToGlobal(QPoint(0, 0))
            return [corner.x(), corner.y(), canvas.width(), canvas.height()]
        except AttributeError:
            return None

    def screenshot(self, path: Path, window: str | None = None) -> Path:
        """The canvas by default; ``window="main"`` (or the window's title) grabs it whole.

        The canvas alone is what pixel checks and figures want; the whole main window (dims
        sliders with their labels, layer list, plate dock) is what a person sees, for a bug
        report or a how-to. napari has one window, so ``hub screenshot --window`` picks
        between these two views of it rather than between windows, as it does for Fiji.
        """
        from qtpy.QtWidgets import QApplication

        canvas_only = self._canvas_only(window)
        if self.scene is not None:
            self.scene.flush()
        QApplication.processEvents()  # let pending layer refreshes reach the canvas
        self.viewer.screenshot(path=str(path), canvas_only=canvas_only, flash=False)
        return Path(path)

    def _canvas_only(self, window: str | None) -> bool:
        """Whether ``--window`` asks for the canvas (the default) rather than the whole window."""
        if window is None or window.strip().lower() in CANVAS_NAMES:
            return True
        if window.strip().lower() in MAIN_WINDOW_NAMES or (window and window in self.title):
            return False
        raise KeyError(
            f"no napari window {window!r}: --window main (the whole window, "
            f"titled {self.title!r}) or --window canvas (the default)"
        )

    def status(self) -> dict[str, Any]:
        from qtpy import API_NAME

        # "headless" fills the display column of `hub status` (as Fiji's does)
        return {
            **(self.scene.status() if self.scene else {}),
            "qt": API_NAME,
            "headless": not self.show_window,
        }

    def run(self, client: Any) -> None:
        """Poll the hub from napari's event loop until the hub or the user ends it.

        Qt must not quit on its own when the window closes: the loop has to stay alive
        while napari tears its layers down (vispy still draws into the canvas then; after
        the loop is gone that prints "wrapped C/C++ object ... deleted" tracebacks). So the
        tick notices a closed window, tears napari down, says goodbye to the hub (which then
        shows the viewer as stopped rather than crashed), and only then quits the loop.
        """
        from qtpy.QtCore import QTimer
        from qtpy.QtWidgets import QApplication

        app = QApplication.instance()
        app.setQuitOnLastWindowClosed(False)

        def tick() -> None:
            try:
                if self._window_closed_by_user():
                    log.info("napari window closed by the user; leaving the hub")
                    self.closed_by_user = True
                    client.close(clean=True)
                else:
                    behind = self._drain(client)
                    since = time.monotonic() - self._flushed
                    if not behind or since >= CATCH_UP_S:  # behind: draw the newest, later
                        self._refresh(since)
                    if not behind:
                        self._top_up_spares()
            except Exception:  # an exception escaping a Qt slot aborts the process
                log.exception("napari viewer tick failed")
            if client.closed:
                timer.stop()
                self.close()  # while the event loop still runs
                app.quit()

        timer = QTimer()
        timer.timeout.connect(tick)
        timer.start(POLL_INTERVAL_MS)
        app.exec()

    def _refresh(self, since: float) -> None:
        """Hand napari what arrived and paint, when due (``since``: the last refresh)."""
        scene = self.scene
        if scene is None:
            return
        in_view = scene.view_changed
        if since >= FLUSH_INTERVAL_S or (in_view and since >= FRAME_S):
            scene.flush(force=False)
            if in_view:
                self._paint_now()
            self._flushed = time.monotonic()  # after the paint: then drain again

    def _top_up_spares(self) -> None:
        """Make one spare layer again if the stream has been idle (checked once a second)."""
        scene = self.scene
        now = time.time()
        if scene is None or scene.spares is None or now - self._spares_checked < SPARES_IDLE_S:
            return
        if scene.last_update is None or now - scene.last_update >= SPARES_IDLE_S:
            self._spares_checked = now
            scene.spares.top_up(most=1)

    @staticmethod
    def _drain(client: Any) -> bool:
        """Take what the hub sent before drawing, for up to ``DRAIN_S``; True if items were
        still coming at the deadline (napari is behind the stream).

        Showing an item costs a millisecond or two, drawing a 2048² composite 100 ms or
        more: a viewer that drew after every poll would take at most a credit window of
        items per draw, and after a stall (a well's new layers, a loaded machine) draw one
        overtaken plane after another while the stream's newest waited behind them
        (profiled on the plate benchmark: seconds after napari made its first layers).
        """
        deadline = time.monotonic() + DRAIN_S
        while not client.closed:
            before = client.shown + client.errors
            client.poll_once(timeout_ms=0)
            if client.shown + client.errors == before:
                return False
            if time.monotonic() >= deadline:
                return True
        return False

    def _paint_now(self) -> None:
        """Draw the canvas now: with items arriving every few ms the poll timer keeps Qt's
        loop busy and the canvas' own repaint can wait for seconds (measured at 2048²).

        napari runs its per-draw updates (overlay positions after the slice label's text
        changed, each multiscale layer's level for the view) *after* drawing, and asks for
        another draw when they changed something: with the label changing on every refresh
        that was a second full paint each time (~55 ms of CPU at 2048², as much as the first;
        profiled in-process). Running them before the paint leaves nothing for the second.
        """
        # no window (show=False), or it is closing: nothing to paint
        with contextlib.suppress(AttributeError, RuntimeError):
            canvas = self.viewer.window._qt_viewer.canvas  # no public accessor
            canvas.on_draw(None)
            canvas.native.repaint()

    def _window_closed_by_user(self) -> bool:
        """Whether the main window was closed (napari deletes it on close, or hides it)."""
        if not self.show_window or self.viewer is None:
            return False
        qt_window = getattr(self.viewer.window, "_qt_window", None)
        if qt_window is None or self._window_deleted:
            return True
        try:
            return not qt_window.isVisible()
        except RuntimeError:  # "wrapped C/C++ object ... has been deleted"
            self._window_deleted = True
            return True

    def _watch_window(self) -> None:
        qt_window = getattr(self.viewer.window, "_qt_window", None)
        if qt_window is not None:
            qt_window.destroyed.connect(self._on_window_destroyed)

    def _on_window_destroyed(self, *args: Any) -> None:
        self._window_deleted = True

    def close(self) -> None:
        """Tear napari down once; later calls (the runner's) find nothing left to close.

        If Qt already deleted the window, napari's own teardown would clear layers into a
        deleted vispy canvas (a traceback per layer); the process is ending, so the layers
        are simply left to go with it.
        """
        if self.draw_trace is not None:
            self.draw_trace.close()
        viewer, self.viewer = self.viewer, None
        if viewer is None or self._window_deleted:
            return
        with contextlib.suppress(RuntimeError):  # Qt objects may already be gone
            viewer.close()
