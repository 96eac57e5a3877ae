"""The OME-Zarr side of the scene store: planes into a growing HCS plate (NGFF 0.5, zarr v3).

:class:`PlateWriter` writes planes as they are persisted, grows each field's ``t, c, z, y, x``
array when a new timepoint, channel or z appears, and keeps the NGFF metadata (plate, well,
multiscales, omero channel labels) current, so ``ome-zarr`` and napari-ome-zarr read the store
while it streams. Chunks are one plane, uncompressed: the write costs what the disk costs and
a viewer reads a cold plane with one file read (``contract.planes.chunk_file``).

Cheap by construction, because it shares the hub's process: a plane goes from the hub's
segment to its chunk file without a Python copy (``hub.store.sources``), and metadata
documents are written directly (:mod:`hub.store.ngff`), one small file per change,
shapes always truthful (an array grows by exactly the position that arrived).

It runs on the store's writer thread only; the hub loop never touches it.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from hub.store import ngff
from hub.store.layout import ImageGroup, PlateLayout
from hub.store.sources import ArrayPlanes, SegmentPlanes

log = logging.getLogger(__name__)

AXES = ["t", "c", "z", "y", "x"]


@dataclass
class ArrayInfo:
    """What the writer needs of a field's array: its plane and type, its current shape."""

    plane: tuple[int, int]
    dtype: np.dtype
    shape: tuple[int, ...]


class PlateWriter:
    """Writes planes into ``root`` (a ``.zarr`` directory) and keeps its metadata current."""

    def __init__(self, root: Path) -> None:
        self.root_path = root
        self.root = str(root)
        self.meta = ngff.MetaFiles(root)
        self.layout = PlateLayout()
        self._arrays: dict[str, ArrayInfo] = {}
        self._chunk_dirs: set[str] = set()
        self._plate_key: tuple[Any, ...] = ()
        existed = (root / "zarr.json").exists()
        self.meta.ensure_group("")
        self.meta.flush()
        if existed:
            self._reopen()

    def flush(self) -> None:
        """Write the metadata the last planes changed; call before reporting them persisted."""
        self.meta.flush()

    def _reopen(self) -> None:
        """Continue a plate a previous hub wrote: its groups, positions and fields come back."""
        for path, image in zarr.open_group(str(self.root_path), mode="r").groups():
            self._reopen_group(path, image)

    def _reopen_group(self, path: str, group: zarr.Group) -> None:
        info = group.attrs.get("viewerhub")
        if isinstance(info, dict) and "item" in info:
            return  # a group of one item's own: nothing to continue
        if isinstance(info, dict) and "axes" in info and "0" in group:
            parts = path.split("/")
            well = (parts[0], parts[1]) if len(parts) == 3 and parts[0] != "images" else None
            image = ImageGroup(path, well, {a: list(v) for a, v in info["axes"].items()})
            image.site = info.get("site")
            self.layout.groups[path] = image
            data = group["0"]
            self._arrays[path] = ArrayInfo(tuple(data.shape[-2:]), data.dtype, data.shape)
            if well is not None:
                sites = self.layout.fields.setdefault(well, [])
                field = int(parts[2])
                sites.extend([None] * (field + 1 - len(sites)))
                sites[field] = image.site
            return
        for name, child in group.groups():
            self._reopen_group(f"{path}/{name}", child)

    def write_item(
        self, index: int, header: dict[str, Any], planes: np.ndarray | ArrayPlanes | SegmentPlanes
    ) -> dict[str, Any]:
        """Write every plane of an item; returns its cold reference (what viewers read back).

        The reference lists, per plane in C order of the leading axes, the array path and the
        (t, c, z) position. An item whose planes would land on one another, or that does not
        match its group's plane size or type, is written into a group of its own.
        """
        if isinstance(planes, np.ndarray):
            planes = ArrayPlanes(planes)
        slots = [self.layout.slot(c) for c in _plane_components(header, planes.count)]
        keys = {(s.group.path, s.t, s.c, s.z) for s in slots}
        fits = len(keys) == len(slots) and all(self._fits(s.group, planes) for s in slots)
        if not fits:
            return self._write_alone(index, header, planes)
        refs = []
        for i, slot in enumerate(slots):
            self._array(slot.group, planes, grow=slot.grew)
            self._write_chunk(f"{slot.group.path}/0", (slot.t, slot.c, slot.z), planes, i)
            refs.append([f"{slot.group.path}/0", slot.t, slot.c, slot.z])
        return {"root": str(self.root_path), "planes": refs}

    def _write_chunk(
        self, path: str, tcz: tuple[int, int, int], planes: ArrayPlanes | SegmentPlanes, i: int
    ) -> None:
        """One plane is one uncompressed chunk file, replaced whole: a reader never sees half."""
        folder = os.path.join(self.root, path, ngff.chunk_key(*tcz)[:-2])
        chunk = folder + "/0"
        if folder not in self._chunk_dirs:
            os.makedirs(folder, exist_ok=True)
            self._chunk_dirs.add(folder)
        if not os.path.exists(chunk):  # a new position: nobody reads it before it is reported
            planes.write_to(i, chunk)
            return
        tmp = chunk + ".tmp"  # a replaced plane: readers see the old one or the new one, whole
        planes.write_to(i, tmp)
        os.replace(tmp, chunk)

    def _fits(self, group: ImageGroup, planes: ArrayPlanes | SegmentPlanes) -> bool:
        existing = self._arrays.get(group.path)
        return existing is None or (
            existing.plane == planes.shape and existing.dtype == planes.dtype
        )

    def _write_alone(
        self, index: int, header: dict[str, Any], planes: ArrayPlanes | SegmentPlanes
    ) -> dict:
        path = f"items/{index}-{secrets.token_hex(4)}"  # unique across hubs on one store
        self.meta.ensure_group("items")
        viewerhub = {"item": index, "components": header.get("components", {})}
        self.meta.put(path, ngff.group(ngff.image_attributes(path, [], viewerhub)))
        shape = (1, 1, planes.count, *planes.shape)
        self.meta.put(f"{path}/0", ngff.array(shape, planes.shape, planes.dtype.name))
        self.meta.flush()
        for z in range(planes.count):
            self._write_chunk(f"{path}/0", (0, 0, z), planes, z)
        return {
            "root": str(self.root_path),
            "planes": [[f"{path}/0", 0, 0, z] for z in range(planes.count)],
        }

    def _array(self, group: ImageGroup, planes: ArrayPlanes | SegmentPlanes, grow: bool) -> None:
        info = self._arrays.get(group.path)
        shape = (*group.size(), *planes.shape)
        if info is None:
            parent = group.path.rsplit("/", 1)[0]
            self.meta.ensure_group(parent)
            info = ArrayInfo(planes.shape, planes.dtype, shape)
            self._arrays[group.path] = info
            self._label(group)
            self.meta.put(f"{group.path}/0", ngff.array(shape, planes.shape, planes.dtype.name))
            if group.well is not None:
                self._register_field(group)
            self.meta.flush()  # a new group is listed with its metadata before any chunk
            return
        if grow and info.shape != shape:
            info.shape = shape
            self.meta.put(f"{group.path}/0", ngff.array(shape, info.plane, info.dtype.name))
        if grow:
            self._label(group)

    def _register_field(self, group: ImageGroup) -> None:
        assert group.well is not None
        row, column = group.well
        fields = len(self.layout.fields[group.well])
        self.meta.put(f"{row}/{column}", ngff.group(ngff.well_attributes(fields)))
        plate = self.layout.plate_metadata()
        key = (tuple(plate["wells"]), plate["field_count"])
        if key != self._plate_key:
            attributes = ngff.plate_attributes(
                plate["rows"], plate["columns"], plate["wells"], plate["field_count"]
            )
            self.meta.put("", ngff.group(attributes))
            self._plate_key = key

    def _label(self, group: ImageGroup) -> None:
        """Component values behind each position, and channel labels napari shows."""
        labels = [f"channel {c}" for c in group.axes["c"]]
        viewerhub = {"axes": group.axes, "site": group.site}
        self.meta.put(group.path, ngff.group(ngff.image_attributes(group.path, labels, viewerhub)))


def _plane_components(header: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """Components of each plane of an item, in C order of its leading axes.

    The first axis of a stack item is spread over its ``stack_component``; any remaining
    leading axes are an implicit z-stack, as the viewers show them (``viewers.base.Item``).
    """
    base = dict(header.get("components", {}))
    stack = header.get("stack_component")
    values = header.get("stack_values") or []
    per_value = count // len(values) if stack and values else count
    out = []
    for i in range(count):
        components = dict(base)
        if stack and values:
            components[stack] = values[i // per_value]
        rest = i % per_value
        if per_value > 1 and "z_index" not in components:
            components["z_index"] = rest
        out.append(components)
    return out
