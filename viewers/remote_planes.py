"""Planes a remote viewer received as frames, kept by that viewer within a memory budget.

A viewer on another host than the hub cannot map the hub's segments. Its client keeps each
received plane in the very buffer ZeroMQ received it into (no copy) while the planes fit
:data:`contract.defaults.REMOTE_VIEWER_MEMORY`; beyond it the oldest planes are written to a
private spill folder on disk and their buffers dropped (least recently landed first). The
adapters see the same :class:`~contract.planes.PlaneRef` interface as on the hub's host:
``read``/``read_sampled`` for lazy viewers, and ``file()`` for ImageJ's ``FileInfo``, which
writes the plane out as one raw little-endian file on first use (like a hub segment or a store
chunk). A spilled plane's ref changes in place and the viewer hears it through
``Viewer.relocated``, as when the hub moves planes to disk.

Why not files from the start: writing every plane to tmpfs cost as much as receiving it
(fresh pages), for adapters that mostly never ask for a file. The spill folder carries the
owner's pid, so a crashed viewer's files are removed by the next one.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import math
import mmap
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

from contract.planes import PlaneGoneError, PlaneRef

log = logging.getLogger(__name__)

#: Spill folder name prefix (``<prefix><pid>-<hex>``).
FOLDER_PREFIX = "viewerhub_remote-"


@dataclass(eq=False)
class OwnedPlaneRef(PlaneRef):
    """A plane the remote viewer owns: in memory (``data``) and/or in a raw file (``path``)."""

    data: np.ndarray | None = None
    path: str = ""
    spill_dir: str = ""

    @property
    def hot(self) -> bool:
        return self.data is not None

    def file(self) -> tuple[str, int] | None:
        """The plane's raw file, written on first use (ImageJ reads it with a FileInfo)."""
        if not self.path and self.data is not None and self.spill_dir:
            self.path = _write(self.data, Path(self.spill_dir))
        return (self.path, 0) if self.path else None

    def _read(self, step: int | None) -> np.ndarray:
        data = self.data
        if data is not None:
            return np.array(data if step is None else data[::step, ::step])
        count = math.prod(self.shape)
        try:
            if step is None:
                plane = np.fromfile(self.path, dtype=self.dtype, count=count)
                if plane.size != count:
                    raise PlaneGoneError(f"plane file {self.path} is short")
                return plane.reshape(self.shape)
            with (
                open(self.path, "rb") as handle,
                mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ) as mapping,
            ):
                plane = np.frombuffer(mapping, dtype=self.dtype, count=count).reshape(self.shape)
                sampled = np.array(plane[::step, ::step])
                del plane
                return sampled
        except (FileNotFoundError, ValueError):
            raise PlaneGoneError(f"plane {self.path or '(dropped)'} is gone") from None


_numbers = itertools.count(1)


def _write(plane: np.ndarray, folder: Path) -> str:
    path = folder / f"{next(_numbers)}.raw"
    with open(path, "wb") as handle:
        handle.write(np.ascontiguousarray(plane, plane.dtype.newbyteorder("<")).data)
    return str(path)


class PlaneStore:
    """Received planes in memory; the oldest go to the spill folder beyond the budget."""

    def __init__(self, budget_bytes: int, spill_root: Path | None = None) -> None:
        self.budget_bytes = budget_bytes
        spill_root = spill_root or Path.home() / ".cache" / "viewerhub"
        sweep_dead(spill_root)
        spill_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.spill_dir = spill_root / f"{FOLDER_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        self.spill_dir.mkdir(mode=0o700)
        self._in_memory: collections.OrderedDict[int, OwnedPlaneRef] = collections.OrderedDict()
        self.memory_bytes = 0
        self.spilled = 0

    def land(self, array: np.ndarray) -> tuple[list[OwnedPlaneRef], list[OwnedPlaneRef]]:
        """Keep every 2-D plane of ``array`` (views, no copy); returns (refs, refs spilled)."""
        shape = array.shape
        plane_shape = (int(shape[-2]), int(shape[-1])) if array.ndim >= 2 else (1, int(shape[0]))
        planes = array.reshape((-1, *plane_shape))
        refs = []
        for plane in planes:
            ref = OwnedPlaneRef(
                plane_shape, planes.dtype, data=plane, spill_dir=str(self.spill_dir)
            )
            self._in_memory[id(ref)] = ref
            self.memory_bytes += ref.nbytes
            refs.append(ref)
        return refs, self._spill()

    def _spill(self) -> list[OwnedPlaneRef]:
        moved = []
        while self.memory_bytes > self.budget_bytes and self._in_memory:
            _, ref = self._in_memory.popitem(last=False)
            if ref.data is not None:
                if not ref.path:
                    ref.path = _write(ref.data, self.spill_dir)
                ref.data = None
            self.memory_bytes -= ref.nbytes
            self.spilled += 1
            moved.append(ref)
        if moved:
            log.debug("spilled %d plane(s) to %s", len(moved), self.spill_dir)
        return moved

    def clear(self) -> None:
        """A new scene (or a replay): every plane goes, in memory and on disk."""
        for ref in self._in_memory.values():
            ref.data = None
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.spill_dir):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
        self._in_memory.clear()
        self.memory_bytes = 0

    def close(self) -> None:
        self.clear()
        shutil.rmtree(self.spill_dir, ignore_errors=True)

    def status(self) -> dict[str, int]:
        return {
            "memory_bytes": self.memory_bytes,
            "memory_budget": self.budget_bytes,
            "spilled_planes": self.spilled,
        }


def sweep_dead(root: Path) -> None:
    """Remove plane folders of remote viewers that died without cleaning up (ours only)."""
    if not root.is_dir():
        return
    for entry in os.scandir(root):
        if not entry.name.startswith(FOLDER_PREFIX):
            continue
        try:
            pid = int(entry.name[len(FOLDER_PREFIX) :].split("-")[0])
            if entry.stat(follow_symlinks=False).st_uid != os.geteuid():
                continue
        except (ValueError, OSError):
            continue
        if not psutil.pid_exists(pid):
            shutil.rmtree(entry.path, ignore_errors=True)
