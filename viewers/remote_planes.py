"""Planes a remote viewer received as frames, kept in files it owns, within a memory budget.

A viewer on another host than the hub cannot map the hub's segments, so its client lands each
received plane in a file of its own: in a private folder on tmpfs (``/dev/shm``, memory) while
the planes fit :data:`contract.defaults.REMOTE_VIEWER_MEMORY`, and the oldest planes move to a
private spill folder on disk beyond it (least recently landed first). Each plane is one raw
little-endian file, exactly like a hub segment or a store chunk, so the adapters see the same
:class:`~contract.planes.PlaneRef` interface: ``read``/``read_sampled`` for lazy viewers,
``file()`` for ImageJ's ``FileInfo``. A spilled plane's ref is re-pointed in place and the
viewer hears it through ``Viewer.relocated``, as when the hub moves planes to disk.

Why files and not private arrays: the budget then bounds memory the same way for every
adapter (an eager viewer copies what it shows, a lazy one reads on demand), and a crashed
viewer's files are found and removed by the next one (the folders carry the owner's pid).
"""

from __future__ import annotations

import collections
import contextlib
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

from contract import shm
from contract.planes import PlaneGoneError, PlaneRef

log = logging.getLogger(__name__)

#: Folder name prefix in /dev/shm and in the spill root (``<prefix><pid>-<hex>``).
FOLDER_PREFIX = "viewerhub_remote-"


@dataclass(eq=False)
class OwnedPlaneRef(PlaneRef):
    """A plane in a file the remote viewer owns (tmpfs while in budget, disk once spilled)."""

    path: str = ""
    in_memory: bool = True

    @property
    def hot(self) -> bool:
        return self.in_memory

    def file(self) -> tuple[str, int] | None:
        return (self.path, 0) if self.path else None

    def _read(self, step: int | None) -> np.ndarray:
        count = math.prod(self.shape)
        try:
            if step is None:
                data = np.fromfile(self.path, dtype=self.dtype, count=count)
                if data.size != count:
                    raise PlaneGoneError(f"plane file {self.path} is short")
                return data.reshape(self.shape)
            with (
                open(self.path, "rb") as handle,
                mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ) as mapping,
            ):
                plane = np.frombuffer(mapping, dtype=self.dtype, count=count).reshape(self.shape)
                sampled = np.array(plane[::step, ::step])
                del plane
                return sampled
        except (FileNotFoundError, ValueError):
            raise PlaneGoneError(f"plane file {self.path} is gone") from None


class PlaneStore:
    """Landing received planes in files; the oldest spill to disk beyond the budget."""

    def __init__(self, budget_bytes: int, spill_root: Path | None = None) -> None:
        self.budget_bytes = budget_bytes
        tag = f"{FOLDER_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        memory_root = shm.SHM_DIR if shm.SHM_DIR.is_dir() else Path("/tmp")
        spill_root = spill_root or Path.home() / ".cache" / "viewerhub"
        for root in (memory_root, spill_root):
            sweep_dead(root)
        self.memory_dir = memory_root / tag
        self.spill_dir = spill_root / tag
        self.memory_dir.mkdir(mode=0o700)
        spill_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.spill_dir.mkdir(mode=0o700)
        self._in_memory: collections.OrderedDict[int, OwnedPlaneRef] = collections.OrderedDict()
        self.memory_bytes = 0
        self.spilled = 0
        self._count = 0

    def land(self, array: np.ndarray) -> tuple[list[OwnedPlaneRef], list[OwnedPlaneRef]]:
        """Write every 2-D plane of ``array`` to a file; returns (its refs, refs that spilled)."""
        array = np.ascontiguousarray(array)
        shape = array.shape
        plane_shape = (int(shape[-2]), int(shape[-1])) if array.ndim >= 2 else (1, int(shape[0]))
        planes = array.reshape((-1, *plane_shape))
        refs = []
        for plane in planes:
            self._count += 1
            path = self.memory_dir / f"{self._count}.raw"
            with open(path, "wb") as handle:
                handle.write(plane.astype(plane.dtype.newbyteorder("<"), copy=False).data)
            ref = OwnedPlaneRef(plane_shape, planes.dtype, path=str(path))
            self._in_memory[id(ref)] = ref
            self.memory_bytes += ref.nbytes
            refs.append(ref)
        return refs, self._spill()

    def _spill(self) -> list[OwnedPlaneRef]:
        moved = []
        while self.memory_bytes > self.budget_bytes and self._in_memory:
            _, ref = self._in_memory.popitem(last=False)
            target = self.spill_dir / Path(ref.path).name
            with contextlib.suppress(FileNotFoundError):  # cleared meanwhile
                shutil.move(ref.path, target)
            ref.path, ref.in_memory = str(target), False
            self.memory_bytes -= ref.nbytes
            self.spilled += 1
            moved.append(ref)
        if moved:
            log.debug("spilled %d plane(s) to %s", len(moved), self.spill_dir)
        return moved

    def clear(self) -> None:
        """A new scene (or a replay): every plane file goes."""
        for folder in (self.memory_dir, self.spill_dir):
            for entry in os.scandir(folder):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
        self._in_memory.clear()
        self.memory_bytes = 0

    def close(self) -> None:
        for folder in (self.memory_dir, self.spill_dir):
            shutil.rmtree(folder, ignore_errors=True)
        self._in_memory.clear()
        self.memory_bytes = 0

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
