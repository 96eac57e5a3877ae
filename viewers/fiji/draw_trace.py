"""When planes that arrived in view were drawn by ImageJ: the benchmark's hook (off by default).

With ``VIEWERHUB_TRACE_DIR`` set, the viewer client writes one line per item it received
(``<name>.jsonl``); that says when Fiji *had* a plane. :class:`DrawTrace` says when a person
could see it: after the adapter drew items that changed what is on screen, a watcher thread
waits until each window's ``ImageCanvas`` has painted on AWT's event thread (ImageJ's own
``paintPending`` flag, cleared at the end of ``paint``; an ``invokeAndWait`` would not do, as
AWT runs paint events only after every other pending event), then writes
``<name>-draws.jsonl`` lines ``{"index": item index, "drawn": wall time}``. The watcher looks
every 2 ms; the viewer's loop never waits for it. Planes a ``goto`` brought on screen (they
arrived out of view) are written with ``"via": "goto"``: when the user could see them, not
how long Fiji took.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any, TextIO

#: How long a paint is waited for before the items are written anyway (marked late).
PAINT_TIMEOUT_S = 10.0


class DrawTrace:
    """Draw times of in-view items, written once their windows have painted them."""

    def __init__(self, path: Path) -> None:
        self._file: TextIO | None = open(path, "a", buffering=1)  # noqa: SIM115
        self._pending: queue.Queue[tuple[list[int], list[Any], str | None] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._watch, name="fiji-draw-trace", daemon=True)
        self._thread.start()

    @classmethod
    def from_env(cls, name: str) -> DrawTrace | None:
        folder = os.environ.get("VIEWERHUB_TRACE_DIR")
        return cls(Path(folder) / f"{name}-draws.jsonl") if folder else None

    def drawn(self, indices: list[int], images: list[Any], via: str | None = None) -> None:
        """Items ``indices`` changed the screen and ``images`` were just redrawn: their
        lines are written when each window's canvas has painted (``via``: what showed them,
        if not their own arrival)."""
        canvases = [c for c in (imp.getCanvas() for imp in images) if c is not None]
        for canvas in canvases:
            canvas.setPaintPending(True)  # ImageCanvas.paint clears it when it has painted
            canvas.repaint()  # coalesced with the repaint ImageJ already asked for
        self._pending.put((list(indices), canvases, via))

    def _watch(self) -> None:
        while (entry := self._pending.get()) is not None:
            indices, canvases, via = entry
            deadline = time.monotonic() + PAINT_TIMEOUT_S
            late = False
            while any(c.getPaintPending() for c in canvases):
                if time.monotonic() > deadline:
                    late = True
                    break
                time.sleep(0.002)
            now = time.time()
            if self._file is not None:
                for index in indices:
                    line: dict[str, Any] = {"index": index, "drawn": now}
                    line.update({"late": True} if late else {}, **({"via": via} if via else {}))
                    self._file.write(json.dumps(line) + "\n")

    def close(self) -> None:
        self._pending.put(None)
        self._thread.join(timeout=PAINT_TIMEOUT_S + 1)
        if self._file is not None:
            self._file.close()
            self._file = None
