"""The viewer client's optional per-item trace: receive and shown times, one JSON line each.

``VIEWERHUB_TRACE_DIR=/some/dir`` turns it on (benchmarks and debugging; off by default):
each viewer appends to ``<dir>/<name>.jsonl``. Kept apart so the client's per-item path pays
one ``is None`` check when it is off.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

TRACE_ENV = "VIEWERHUB_TRACE_DIR"


class ItemTrace:
    """One line per item a viewer took: index, the producer's id and meta, times, error."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "a", buffering=1)  # noqa: SIM115 - closed by close()

    @classmethod
    def from_env(cls, name: str) -> ItemTrace | None:
        """The trace of viewer ``name`` if :data:`TRACE_ENV` names a folder, else None."""
        folder = os.environ.get(TRACE_ENV)
        return cls(Path(folder) / f"{name}.jsonl") if folder else None

    def write(
        self, index: int, header: dict[str, Any], received: float, shown: float, error: str | None
    ) -> None:
        line = {"index": index, "id": header.get("id"), "meta": header.get("meta")}
        line.update(received=received, shown=shown, error=error)
        self._file.write(json.dumps(line) + "\n")

    def close(self) -> None:
        self._file.close()
