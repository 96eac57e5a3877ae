"""When planes that arrived in view were drawn by ImageJ: the benchmark's hook (off by default).

With ``VIEWERHUB_TRACE_DIR`` set, the viewer client writes one line per item it received
(``<name>.jsonl``); that says when Fiji *had* a plane. :class:`DrawTrace` says when a person
could see it: after an item that changed what is on screen, it waits until AWT's event queue
has run the repaint ImageJ posted (``EventQueue.invokeAndWait`` of a no-op that is pure Java,
so no Python callback needs the GIL on the event thread), then writes
``<name>-draws.jsonl`` lines ``{"index": item index, "drawn": wall time}``. The wait makes the
viewer draw synchronously, so it is only done when tracing.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TextIO

from viewers.fiji.jvm import ImageJ


class DrawTrace:
    """Draw times of in-view items, written once the event queue has painted them."""

    def __init__(self, ij: ImageJ, path: Path) -> None:
        self._file: TextIO | None = open(path, "a", buffering=1)  # noqa: SIM115
        self._queue = ij.jpype.JClass("java.awt.EventQueue")
        self._noop = ij.jpype.JClass("java.lang.Thread")  # run() without a target does nothing

    @classmethod
    def from_env(cls, ij: ImageJ, name: str) -> DrawTrace | None:
        folder = os.environ.get("VIEWERHUB_TRACE_DIR")
        return cls(ij, Path(folder) / f"{name}-draws.jsonl") if folder else None

    def drawn(self, index: int) -> None:
        """Item ``index`` changed the screen: wait for the paint, then record it."""
        if self._file is None:
            return
        if not self._queue.isDispatchThread():
            self._queue.invokeAndWait(self._noop())
        self._file.write(json.dumps({"index": index, "drawn": time.time()}) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
