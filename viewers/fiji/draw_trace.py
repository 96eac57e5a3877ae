"""When planes that arrived in view were drawn by ImageJ: the benchmark's hook (off by default).

With ``VIEWERHUB_TRACE_DIR`` set, the viewer client writes one line per item it received
(``<name>.jsonl``); that says when Fiji *had* a plane. :class:`DrawTrace` says when a person
could see it: after the adapter drew items that changed what is on screen, it waits until
each window's ``ImageCanvas`` has painted on AWT's event thread (ImageJ's own
``paintPending`` flag, cleared at the end of ``paint``; an ``invokeAndWait`` would not do, as
AWT runs paint events only after every other pending event), then writes
``<name>-draws.jsonl`` lines ``{"index": item index, "drawn": wall time}``. The wait makes the
viewer draw synchronously, so it is only done when tracing.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, TextIO


class DrawTrace:
    """Draw times of in-view items, written once their windows have painted them."""

    def __init__(self, path: Path) -> None:
        self._file: TextIO | None = open(path, "a", buffering=1)  # noqa: SIM115

    @classmethod
    def from_env(cls, name: str) -> DrawTrace | None:
        folder = os.environ.get("VIEWERHUB_TRACE_DIR")
        return cls(Path(folder) / f"{name}-draws.jsonl") if folder else None

    def drawn(self, indices: list[int], images: list[Any]) -> None:
        """Items ``indices`` changed the screen and ``images`` were just redrawn: wait until
        each window's canvas has painted (at most 5 s), then record the items."""
        if self._file is None:
            return
        canvases = [c for c in (imp.getCanvas() for imp in images) if c is not None]
        for canvas in canvases:
            canvas.setPaintPending(True)  # ImageCanvas.paint clears it when it has painted
            canvas.repaint()  # coalesced with the repaint ImageJ already asked for
        deadline = time.monotonic() + 5.0
        while any(c.getPaintPending() for c in canvases) and time.monotonic() < deadline:
            time.sleep(0.002)
        now = time.time()
        for index in indices:
            self._file.write(json.dumps({"index": index, "drawn": now}) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
