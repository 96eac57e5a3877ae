"""The OME-Zarr (NGFF 0.5, zarr v3) metadata documents of the scene store, written directly.

Why not through zarr and ome-zarr's writers: every attribute update there is a read-modify-
write of a ``zarr.json`` through zarr's async machinery, about 3 ms of CPU each, and the store
updates metadata whenever an axis grows (a new channel, z or timepoint) or a field or well
appears: that cost, on the hub's writer thread, was most of the 1.8 ms per 512² item the
store cost the hub. These documents are small and fixed in form, so :class:`MetaFiles` keeps
each one in memory and rewrites only the file that changed (one small write and a rename:
readers never see half a document). The shapes written are always the truthful ones (no
over-allocation), so no reader sees a plane that does not exist. The forms are the ones
``ome_zarr.writer`` and ``zarr`` write (see tests/integration/test_store.py, which opens the
store with ome-zarr's reader while it streams).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

AXES = [
    {"name": "t", "type": "time"},
    {"name": "c", "type": "channel"},
    {"name": "z", "type": "space"},
    {"name": "y", "type": "space"},
    {"name": "x", "type": "space"},
]


def group(attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"attributes": attributes or {}, "zarr_format": 3, "node_type": "group"}


def array(shape: tuple[int, ...], plane: tuple[int, int], dtype: str) -> dict[str, Any]:
    """A t, c, z, y, x array of one uncompressed little-endian plane per chunk."""
    return {
        "shape": list(shape),
        "data_type": dtype,
        "chunk_grid": {
            "name": "regular",
            "configuration": {"chunk_shape": [1] * (len(shape) - 2) + list(plane)},
        },
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0,
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
        "attributes": {},
        "zarr_format": 3,
        "node_type": "array",
        "storage_transformers": [],
    }


def image_attributes(path: str, labels: list[str], viewerhub: dict[str, Any]) -> dict[str, Any]:
    """An image group's ``ome`` (multiscales, omero channel labels) and ``viewerhub`` attrs."""
    scale = [{"type": "scale", "scale": [1.0] * 5}]
    ome: dict[str, Any] = {
        "version": "0.5",
        "multiscales": [
            {
                "datasets": [{"path": "0", "coordinateTransformations": scale}],
                "name": "/" + path,
                "axes": AXES,
            }
        ],
    }
    if labels:
        ome["omero"] = {"channels": [{"label": label} for label in labels]}
    return {"ome": ome, "viewerhub": viewerhub}


def well_attributes(fields: int) -> dict[str, Any]:
    return {
        "ome": {"version": "0.5", "well": {"images": [{"path": str(i)} for i in range(fields)]}}
    }


def plate_attributes(rows: list[str], columns: list[str], wells: list[str], fields: int) -> dict:
    row_index = {r: i for i, r in enumerate(rows)}
    column_index = {c: i for i, c in enumerate(columns)}
    return {
        "ome": {
            "version": "0.5",
            "plate": {
                "columns": [{"name": c} for c in columns],
                "rows": [{"name": r} for r in rows],
                "wells": [
                    {
                        "path": w,
                        "rowIndex": row_index[w.split("/")[0]],
                        "columnIndex": column_index[w.split("/")[1]],
                    }
                    for w in wells
                ],
                "name": "viewerhub",
                "field_count": fields,
                "version": "0.5",
            },
        }
    }


def chunk_key(t: int, c: int, z: int) -> str:
    """Zarr v3's default chunk key of plane (t, c, z) in a t, c, z, y, x array."""
    return f"c/{t}/{c}/{z}/0/0"


class MetaFiles:
    """The store's ``zarr.json`` documents, cached; changed ones are written by :meth:`flush`.

    The writer flushes once per batch of planes, before it reports any of them persisted, so a
    burst of growth (a new z per plane) costs one rewrite per document, not one per plane, and
    no plane is ever reported cold (readable through zarr) before its shape covers it.
    """

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self._docs: dict[str, dict[str, Any]] = {}
        self._dirty: dict[str, None] = {}  # insertion order: parents before children
        self._made: set[str] = set()

    def _folder(self, path: str) -> str:
        return os.path.join(self.root, path) if path else self.root

    def get(self, path: str) -> dict[str, Any] | None:
        """A document this writer wrote or read (``path`` relative to the root)."""
        doc = self._docs.get(path)
        if doc is None:
            file = os.path.join(self._folder(path), "zarr.json")
            if os.path.exists(file):
                with open(file, encoding="utf-8") as handle:
                    doc = json.load(handle)
                self._docs[path] = doc
        return doc

    def put(self, path: str, doc: dict[str, Any]) -> None:
        self._docs[path] = doc
        self._dirty[path] = None

    def flush(self) -> int:
        """Write every changed document (each replaced whole); returns how many."""
        written = 0
        for path in self._dirty:
            folder = self._folder(path)
            if path not in self._made:
                os.makedirs(folder, exist_ok=True)
                self._made.add(path)
            tmp = os.path.join(folder, "zarr.json.tmp")
            with open(tmp, "w", encoding="utf-8") as out:
                out.write(json.dumps(self._docs[path]))
            os.replace(tmp, os.path.join(folder, "zarr.json"))
            written += 1
        self._dirty.clear()
        return written

    def ensure_group(self, path: str) -> None:
        """A plain group at ``path`` and at every parent (zarr v3 needs them to list)."""
        parts = path.split("/") if path else []
        for i in range(len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub not in self._docs and self.get(sub) is None:
                self.put(sub, group())
