"""Where one 2-D plane of a scene item lives, so a viewer can read it when it needs it.

A lazy viewer (napari's layers, Fiji's virtual stacks) keeps a :class:`PlaneRef` per plane
instead of a private copy of its pixels, and reads only the planes in view. A plane is *hot*
while it sits in a hub shared-memory segment and *cold* once the hub has written it to the
scene store's OME-Zarr plate and evicted the segment to stay inside its budget. The hub tells
viewers when planes go cold (a ``cold`` message, applied with :meth:`PlaneRef.make_cold`), so
a reference is updated in place and every holder of it sees the new location.

Both places hold the plane as raw little-endian bytes (a hub segment is the array itself; a
store chunk is one uncompressed plane, see ``hub.store.plate``), which is why :meth:`file`
can hand ImageJ a path and an offset it reads without any zarr machinery.
"""

from __future__ import annotations

import contextlib
import functools
import math
import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from contract import shm

#: (store root, array path inside it, t, c, z): an uncompressed one-plane chunk
ColdPlane = tuple[str, str, int, int, int]


class PlaneGoneError(LookupError):
    """The plane is neither in shared memory nor (yet) known to be on disk."""


def chunk_file(cold: ColdPlane) -> Path:
    """The chunk file of a cold plane: zarr v3's default chunk key ``c/t/c/z/0/0``."""
    root, path, t, c, z = cold
    return Path(root) / path / "c" / str(t) / str(c) / str(z) / "0" / "0"


#: From this stride on, a sampled read of a hot plane reads its rows with ``pread`` instead
#: of mapping the segment: for 64 rows of a 2048² plane (a lazy viewer's contrast and
#: overview sample of every arriving plane) mapping and unmapping 8 MiB cost ~3x the CPU
#: (0.5 vs 0.18 ms) and ~3.5x the wall time while the process's other threads run (GL, Qt).
PREAD_STEP = 8


@dataclass(eq=False)
class PlaneRef:
    """One plane: its shape and type, and where its bytes are (hot segment and/or cold chunk)."""

    shape: tuple[int, int]
    dtype: np.dtype
    segment: str | None = None
    offset: int = 0
    cold: ColdPlane | None = None

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def hot(self) -> bool:
        return self.segment is not None

    def make_cold(self, cold: ColdPlane) -> None:
        """The hub wrote this plane to its store and may now drop the segment."""
        self.cold = cold
        self.segment = None

    def file(self) -> tuple[str, int] | None:
        """Path and byte offset of the raw little-endian plane, or None if it has none.

        Little-endian holds for both tiers on every machine viewerhub runs on (x86-64,
        aarch64); a hub segment is the producer's array in native order.
        """
        if self.segment is not None:
            return str(shm.SHM_DIR / self.segment), self.offset
        if self.cold is not None:
            return str(chunk_file(self.cold)), 0
        return None

    def read(self) -> np.ndarray:
        """A private copy of the plane: from shared memory if hot, else from the store."""
        return self._read(None)

    def read_sampled(self, step: int) -> np.ndarray:
        """Every ``step``-th row and column: touches about rows/step pages, for overviews and
        running contrast, where reading the whole plane would cost as much as drawing it."""
        return self._read(max(1, int(step)))

    def _read(self, step: int | None) -> np.ndarray:
        if self.segment is not None:
            try:
                return self._read_segment(self.segment, step)
            except shm.SegmentError:
                if self.cold is None:
                    raise PlaneGoneError(
                        f"plane in segment {self.segment!r} is gone and not on disk yet"
                    ) from None
        if self.cold is not None:
            return self._read_chunk(step)
        raise PlaneGoneError("plane has no segment and no store location")

    def _read_segment(self, name: str, step: int | None) -> np.ndarray:
        if step is not None and step >= PREAD_STEP:
            return self._read_segment_rows(name, step)
        mapping, inode = shm.open_pinned(name, self.offset + self.nbytes)
        try:
            plane = np.frombuffer(
                mapping, dtype=self.dtype, count=math.prod(self.shape), offset=self.offset
            ).reshape(self.shape)
            sampled = plane if step is None else plane[::step, ::step]
            copy = np.array(sampled, copy=True)
            del plane, sampled  # no view may outlive the mapping
            if not shm.still_named(name, inode):  # recycled while we copied: maybe torn
                raise shm.SegmentError(f"segment {name!r} was recycled during the read")
            return copy
        finally:
            with contextlib.suppress(BufferError):  # a view escaped: it closes with it
                mapping.close()

    def _read_segment_rows(self, name: str, step: int) -> np.ndarray:
        """Every ``step``-th row and column read with ``pread``, the segment never mapped."""
        fd, size = shm.open_fd(name)
        try:
            if size < self.offset + self.nbytes:
                raise shm.SegmentError(f"segment {name!r} is shorter than its plane")
            inode = os.fstat(fd).st_ino
            height, width = self.shape
            row_bytes = width * self.dtype.itemsize
            rows = range(0, height, step)
            out = np.empty((len(rows), len(range(0, width, step))), self.dtype)
            for i, r in enumerate(rows):
                line = os.pread(fd, row_bytes, self.offset + r * row_bytes)
                out[i] = np.frombuffer(line, self.dtype)[::step]
        finally:
            os.close(fd)
        if not shm.still_named(name, inode):  # recycled while we read: maybe torn
            raise shm.SegmentError(f"segment {name!r} was recycled during the read")
        return out

    def _read_chunk(self, step: int | None) -> np.ndarray:
        assert self.cold is not None
        path = chunk_file(self.cold)
        dtype = self.dtype.newbyteorder("<")
        try:
            if step is None:
                data = np.fromfile(path, dtype=dtype, count=math.prod(self.shape))
                if data.size != math.prod(self.shape):
                    raise PlaneGoneError(f"store chunk {path} is short")
                return data.reshape(self.shape).astype(self.dtype, copy=False)
            with (
                open(path, "rb") as handle,
                mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ) as mapping,
            ):
                if len(mapping) < self.nbytes:
                    raise PlaneGoneError(f"store chunk {path} is short")
                plane = np.frombuffer(mapping, dtype=dtype, count=math.prod(self.shape))
                sampled = np.array(plane.reshape(self.shape)[::step, ::step], dtype=self.dtype)
                del plane
                return sampled
        except FileNotFoundError:
            # Not written: the store's arrays are filled with zeros until a plane arrives.
            raise PlaneGoneError(f"store chunk {path} does not exist") from None


def refs_for_header(header: dict[str, Any]) -> list[PlaneRef]:
    """One reference per 2-D plane of an image item's header, in C order of leading axes."""
    dtype, plane_shape, count, plane_bytes = _plane_layout(header["dtype"], tuple(header["shape"]))
    segment = header.get("segment") or None
    cold = header.get("cold")
    if cold is None and count == 1:  # the usual item: one plane, still in shared memory
        return [PlaneRef(plane_shape, dtype, segment)]
    colds = cold_planes(cold)
    return [
        PlaneRef(
            plane_shape,
            dtype,
            segment,
            i * plane_bytes,
            colds[i] if colds is not None and i < len(colds) else None,
        )
        for i in range(count)
    ]


@functools.lru_cache(maxsize=64)
def _plane_layout(
    dtype_name: str, shape: tuple[int, ...]
) -> tuple[np.dtype, tuple[int, int], int, int]:
    """(dtype, plane shape, planes, bytes per plane) of an item, once per dtype and shape: a
    stream repeats a few, and numpy parses a dtype name anew on every call."""
    dtype = np.dtype(dtype_name)
    plane_shape = (int(shape[-2]), int(shape[-1])) if len(shape) >= 2 else (1, int(shape[0]))
    count = math.prod(shape[:-2]) if len(shape) > 2 else 1
    return dtype, plane_shape, count, math.prod(plane_shape) * dtype.itemsize


def read_cold(cold: dict[str, Any], shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An item's whole array from its store chunks (raw files: no zarr, no metadata race).

    ``cold`` is a header's reference ``{"root": plate, "planes": [[array path, t, c, z],
    ...]}``, one entry per 2-D plane in C order of the leading axes.
    """
    planes = cold_planes(cold)
    count = math.prod(shape[:-2]) if len(shape) > 2 else 1
    if planes is None or len(planes) != count:
        raise PlaneGoneError(f"cold reference does not match an item of shape {shape}")
    plane_shape = (int(shape[-2]), int(shape[-1]))
    dtype = np.dtype(dtype)
    array = np.empty((count, *plane_shape), dtype)
    for i, cold_plane in enumerate(planes):
        array[i] = PlaneRef(plane_shape, dtype, cold=cold_plane).read()
    return array.reshape(shape)


@functools.lru_cache(maxsize=256)
def _inside_store(path: str) -> bool:
    """A chunk path stays inside the store: relative, no ``..``. Once per path (the planes
    of a plate share a few array paths; every viewer checks every plane's)."""
    return ".." not in Path(path).parts and not Path(path).is_absolute()


def cold_planes(cold: Any) -> list[ColdPlane] | None:
    """The per-plane chunk locations of a header's ``cold`` reference, None if malformed."""
    if not isinstance(cold, dict):
        return None
    root = cold.get("root")
    planes = cold.get("planes")
    if not isinstance(root, str) or not isinstance(planes, list):
        return None
    result: list[ColdPlane] = []
    for entry in planes:
        if not (isinstance(entry, list) and len(entry) == 4 and isinstance(entry[0], str)):
            return None
        _, t, c, z = entry
        if not (isinstance(t, int) and isinstance(c, int) and isinstance(z, int)):
            return None
        if t < 0 or c < 0 or z < 0:
            return None
        if not _inside_store(entry[0]):
            return None
        result.append((root, entry[0], entry[1], entry[2], entry[3]))
    return result
