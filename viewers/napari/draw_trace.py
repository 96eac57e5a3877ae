"""When planes that arrived in view were drawn: the benchmark's draw hook (off by default).

With ``VIEWERHUB_TRACE_DIR`` set, the viewer client writes one line per item it received
(``<name>.jsonl``: received and shown times); that says when napari *had* a plane, not when a
person could see it. :class:`DrawTrace` closes the gap: the scene reports, at each flush, the
items that changed what is in view, and the next paint of the canvas after that writes
``<name>-draws.jsonl`` lines ``{"index": item index, "drawn": wall time}``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, TextIO


class DrawTrace:
    """Draw times of in-view items, written after the canvas paints them."""

    def __init__(self, path: Path) -> None:
        self._file: TextIO | None = open(path, "a", buffering=1)  # noqa: SIM115
        self._flushed: list[int] = []

    @classmethod
    def from_env(cls, name: str) -> DrawTrace | None:
        folder = os.environ.get("VIEWERHUB_TRACE_DIR")
        return cls(Path(folder) / f"{name}-draws.jsonl") if folder else None

    def attach(self, viewer: Any) -> None:
        """Listen to the canvas' draw event (napari has no public hook for it)."""
        canvas = viewer.window._qt_viewer.canvas._scene_canvas
        canvas.events.draw.connect(self.on_draw, position="last")

    def flushed(self, indices: list[int]) -> None:
        """Items whose planes napari was just handed; they are on screen at the next paint."""
        self._flushed.extend(indices)

    def on_draw(self, event: Any = None) -> None:
        if not self._flushed or self._file is None:
            return
        now = time.time()
        for index in self._flushed:
            self._file.write(json.dumps({"index": index, "drawn": now}) + "\n")
        self._flushed = []

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
