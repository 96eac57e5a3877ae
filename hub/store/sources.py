"""Where the plate writer takes a plane's bytes from: an array, or a hub segment's descriptor.

A hub segment holds the producer's array in native byte order; on a little-endian host that is
the chunk's byte order already, so its planes go to their chunk files without a Python copy:

- by **direct I/O** (``O_DIRECT``) when a plane is a whole number of 4 KiB pages: the disk reads
  the segment's pages itself, the page cache is neither filled nor written back, so a plate
  larger than RAM does not push everything else out of memory and the flusher threads have
  nothing to do (measured: 2.0 ms of CPU per 8 MiB plane, against 3.2 ms for ``sendfile``
  and its later writeback);
- by ``sendfile`` (kernel to kernel) otherwise, or where the filesystem refuses direct I/O.

Elsewhere (a big-endian host, tests) :class:`ArrayPlanes` writes from a numpy array.
"""

from __future__ import annotations

import mmap
import os
import sys

import numpy as np

PAGE = 4096


class ArrayPlanes:
    """The planes of an in-memory array (tests, a host that is not little-endian)."""

    def __init__(self, array: np.ndarray) -> None:
        self.planes = array.reshape((-1, *array.shape[-2:]))
        self.count = len(self.planes)
        self.shape: tuple[int, int] = tuple(array.shape[-2:])  # type: ignore[assignment]
        self.dtype = array.dtype

    def write_to(self, i: int, path: str) -> None:
        data = np.ascontiguousarray(self.planes[i], dtype=self.dtype.newbyteorder("<"))
        with open(path, "wb") as out:
            out.write(memoryview(data).cast("B"))

    def close(self) -> None:
        pass


class SegmentPlanes:
    """The planes of a hub segment (an open read-only descriptor the caller closes)."""

    #: False once a filesystem refused O_DIRECT: this process stops trying.
    direct_ok = hasattr(os, "O_DIRECT")

    def __init__(self, fd: int, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.fd = fd
        self.shape: tuple[int, int] = (int(shape[-2]), int(shape[-1]))
        self.count = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        self.dtype = dtype
        self.plane_bytes = self.shape[0] * self.shape[1] * dtype.itemsize
        self._mapping: mmap.mmap | None = None

    @staticmethod
    def usable() -> bool:
        return sys.byteorder == "little" and hasattr(os, "sendfile")

    def write_to(self, i: int, path: str) -> None:
        if SegmentPlanes.direct_ok and self.plane_bytes % PAGE == 0 and self._direct(i, path):
            return
        with open(path, "wb") as out:
            offset, left = i * self.plane_bytes, self.plane_bytes
            while left > 0:
                sent = os.sendfile(out.fileno(), self.fd, offset, left)
                if sent == 0:
                    raise OSError(f"segment ended {left} bytes short of plane {i}")
                offset, left = offset + sent, left - sent

    def _direct(self, i: int, path: str) -> bool:
        """Write plane ``i`` with O_DIRECT; False if this filesystem does not take it."""
        try:
            out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o600)
        except OSError:  # EINVAL: no direct I/O here (tmpfs, some network filesystems)
            SegmentPlanes.direct_ok = False
            return False
        try:
            if self._mapping is None:
                # No MAP_POPULATE: mmap holds the GIL while it builds page tables (0.9 ms per
                # 8 MiB, the hub loop stalled meanwhile); the direct write below maps the
                # pages itself in the kernel, with the GIL released, and costs less in all.
                size = self.count * self.plane_bytes
                self._mapping = mmap.mmap(self.fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
            start = i * self.plane_bytes
            with memoryview(self._mapping) as view:
                done = 0
                while done < self.plane_bytes:
                    done += os.write(out, view[start + done : start + self.plane_bytes])
            return True
        finally:
            os.close(out)

    def close(self) -> None:
        if self._mapping is not None:
            self._mapping.close()
            self._mapping = None
