"""The Fiji viewer plugin: ImageJ hyperstack windows and ROI Managers fed by the hub.

Options: ``fiji`` (path of a Fiji installation; default ``FIJI_HOME`` or Debian's ij.jar),
``headless`` (no windows; default: headless when there is no DISPLAY), ``heap`` and
``pretouch`` (JVM memory, see ``viewers.fiji.jvm``), ``ui`` (show the ImageJ bar with its
menus, toolbar and shortcuts; default: whenever there are windows).

A window the user closes is noticed (``status`` lists it under ``closed_windows``); its image
keeps receiving planes, and ``goto`` to anything in it shows it again as it was.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from contract.planes import PlaneRef
from viewers.base import Item, Viewer
from viewers.fiji import jvm, readback, screen, warmup
from viewers.fiji.config import FijiDisplayConfig
from viewers.fiji.draw_trace import DrawTrace
from viewers.fiji.rois import reset_manager
from viewers.fiji.virtual import Position, sweep_dead_folders
from viewers.fiji.window import HyperstackWindow
from viewers.hyperstack import goto_target
from viewers.placement import WindowKey, place, window_label
from viewers.png import write_png

log = logging.getLogger(__name__)


class FijiViewer(Viewer):
    config_class = FijiDisplayConfig

    def __init__(
        self,
        fiji: str | None = None,
        headless: bool | None = None,
        heap: str | None = None,
        pretouch: bool = False,
        ui: bool | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.fiji = fiji
        self.headless = (not os.environ.get("DISPLAY")) if headless is None else headless
        if headless is None and self.headless:
            log.warning(
                "no display (DISPLAY is not set): Fiji runs headless, without windows "
                "(screenshots and inspect still work); run the hub under `xvfb-run -a` "
                "or on a desktop to see them"
            )
        self.heap, self.pretouch = heap, pretouch
        self.ui = (not self.headless) if ui is None else (ui and not self.headless)
        self.imagej_bar: Any = None
        self.ij: jvm.ImageJ | None = None
        self.windows: dict[WindowKey, HyperstackWindow] = {}
        self.current: HyperstackWindow | None = None
        self.items = 0
        self.last_update: float | None = None
        self._last_config: FijiDisplayConfig | None = None
        self.draw_trace: DrawTrace | None = None
        self._in_view: list[int] = []  # items that changed what is on screen, not drawn yet
        self._traced: dict[tuple[WindowKey, Position], int] = {}  # with draw_trace: item at
        self.trace_name = str(options.get("name", "fiji"))  # <name>-draws.jsonl

    def start(self) -> None:
        self.ij = jvm.start(
            self.fiji, headless=self.headless, heap=self.heap, pretouch=self.pretouch
        )
        fiji_home = self.fiji or os.environ.get("FIJI_HOME")
        self.fiji_luts = Path(fiji_home) / "luts" if fiji_home else None
        if self.ui:
            self.imagej_bar = screen.start_user_interface(self.ij)
        sweep_dead_folders()  # now, not on the first plane
        if not self.headless:
            warmup.warm_up(self.ij)
            self.draw_trace = DrawTrace.from_env(self.trace_name)

    def _window(self, key: WindowKey) -> HyperstackWindow:
        window = self.windows.get(key)
        if window is None:
            title = window_label(key, "viewerhub")
            assert self.ij is not None
            window = HyperstackWindow(
                self.ij, title, show=not self.headless, fiji_luts=self.fiji_luts
            )
            self.windows[key] = window
        return window

    def show(self, item: Item) -> None:
        config = item.config
        assert isinstance(config, FijiDisplayConfig)
        self._last_config = config
        if item.kind == "image":
            planes = list(item.planes())
            refs: list[PlaneRef | None] = list(item.refs)
            if len(refs) != len(planes):  # an item without references: copied to a file
                refs = [None] * len(planes)
            in_view = False
            for (components, plane), ref in zip(planes, refs):
                placement = place(components, config)
                window = self._window(placement.window)
                position = window.put_plane(placement, plane, config, ref)
                if self.draw_trace is not None:
                    self._traced[(placement.window, position)] = item.index
                in_view |= window.in_view(position) and not window.closed
                self.current = window
            if in_view:
                self._in_view.append(item.index)
        else:
            placement = place(item.components, config)
            window = self._window(placement.window)
            window.add_shapes(placement, item.shapes)
        self.items += 1
        self.last_update = time.time()

    def draw(self, patient: bool = False) -> None:
        """Draw every window that changed, once: after each poll, not after each plane (a
        site's four channels arriving together cost one composite draw, not four).
        ``patient``: a new window may wait a moment for the rest of its first site."""
        drawn = [w for w in self.windows.values() if w.draw(patient)]
        waiting = any(w.dirty or w.pending or w.deferred for w in self.windows.values())
        if self._in_view and self.draw_trace is not None and drawn:
            self.draw_trace.drawn(self._in_view, [w.imp for w in drawn if not w.closed])
        if drawn or not waiting:
            self._in_view = []

    def relocated(self, refs: list[PlaneRef]) -> None:
        """Planes the hub moved to its store: their slices now read the store's chunks."""
        for window in self.windows.values():
            window.relocated(refs)

    def clear(self) -> None:
        for window in self.windows.values():
            window.close()
        self.windows.clear()
        self.current = None
        if self.ij is not None:
            reset_manager(self.ij)

    def goto(self, components: dict[str, Any]) -> dict[str, Any]:
        """Show the plane these components name; a window the user closed opens again."""
        self.draw(patient=True)
        window, target = goto_target(self.windows, components, self._any_config())
        was_closed = window.check_closed()  # a closed window comes back at once
        if not was_closed and window.holds(target):  # its frame still arriving: once whole
            self.current = window
            position = window.goto_later(target)
            return {"window": window.title, "position": list(position), "reopened": False}
        position = window.goto(target)
        self.current = window
        self._trace_goto(window)
        return {"window": window.title, "position": list(position), "reopened": was_closed}

    def _trace_goto(self, window: HyperstackWindow) -> None:
        """With the draw trace on (benchmarks): the planes a goto brought on screen."""
        if self.draw_trace is None or window.imp is None:
            return
        key = next(k for k, w in self.windows.items() if w is window)
        indices = [self._traced[(key, p)] for p in window.view() if (key, p) in self._traced]
        if indices:
            self.draw_trace.drawn(indices, [window.imp], via="goto")

    def _any_config(self) -> FijiDisplayConfig:
        return self._last_config or FijiDisplayConfig()

    def screenshot(self, path: Path, window: str | None = None) -> Path:
        """The current window (the one last shown or gone to), or ``window`` by its title.

        ``window`` matches a whole title or, if only one title contains it, part of one
        (``B03`` for "viewerhub: B03").
        """
        self.draw()  # a window still waiting for its site's other channels is made now
        chosen = self.current if window is None else self._window_titled(window)
        if chosen is None or chosen.imp is None:
            raise RuntimeError("nothing to screenshot: no image received yet")
        return write_png(path, readback.window_rgb(chosen))

    def _window_titled(self, name: str) -> HyperstackWindow:
        windows = list(self.windows.values())
        exact = [w for w in windows if w.title == name]
        partial = [w for w in windows if name in w.title]
        found = exact or (partial if len(partial) == 1 else [])
        if not found:
            raise KeyError(
                f"no{' single' if partial else ''} window titled like {name!r}; "
                f"windows: {[w.title for w in windows]}"
            )
        return found[0]

    def inspect(self, query: dict[str, Any]) -> dict[str, Any]:
        """What ImageJ holds, read back from it: for tests, support and the curious.

        ``planes``: (c, z, t) of the current window to read back; ``gc``: also the Java heap
        after a full collection (``java_heap_live_mb``)."""
        self.draw()  # read back what the user would see now, not the state before a draw
        planes = [tuple(p) for p in query.get("planes", [])]
        out: dict[str, Any] = {
            "windows": [
                readback.describe(w, planes if w is self.current else None)
                for w in self.windows.values()
            ]
        }
        if not self.headless and self.ij is not None:
            out["ui"] = screen.user_interface(self.ij)
        if query.get("gc") and self.ij is not None:  # what the heap keeps, for support
            out["java_heap_live_mb"] = jvm.live_heap_mb(self.ij)
        return out

    def status(self) -> dict[str, Any]:
        """Counts, windows and the windows the user closed (``goto`` reopens them)."""
        windows = [
            {
                "title": w.title,
                "dims": list(w.dims),
                "rois": len(w.rois),
                "open": not w.check_closed(remember=True)
                and w.imp is not None
                and not self.headless,
            }
            for w in self.windows.values()
        ]
        return {
            "imagej": self.ij.version if self.ij else None,
            "headless": self.headless,
            "source": self.ij.source if self.ij else None,
            "items": self.items,
            "last_update": self.last_update,
            "imagej_bar": bool(self.imagej_bar is not None and self.imagej_bar.isShowing()),
            "windows": windows,
            "closed_windows": [w.title for w in self.windows.values() if w.closed],
            "java_heap_used_mb": jvm.heap_used_mb(self.ij) if self.ij else None,
            "java_heap_after_gc_mb": jvm.heap_after_gc_mb(self.ij) if self.ij else None,
        }

    def run(self, client: Any) -> None:
        """Poll the hub; between polls, check hot planes are still there (``PlaneFiles.sweep``)
        and window titles follow the well the user scrolled to."""
        while not client.closed:
            client.poll_once(timeout_ms=100)
            self.draw(patient=True)
            for window in self.windows.values():
                window.sweep()
                if not self.headless:
                    window.refresh_title()
            if self.ij is not None and not self.headless:
                screen.close_read_error_log(self.ij)

    def close(self) -> None:
        """Close the windows, then every other AWT window (the ImageJ bar, Brightness/Contrast,
        the Channels Tool...): while one is displayable, AWT keeps the JVM, and so the viewer
        process, from exiting (the hub then waited 10 s and killed it)."""
        self.clear()
        if self.draw_trace is not None:
            self.draw_trace.close()
        if self.ij is not None and not self.headless:
            screen.dispose_all(self.ij)
