"""A producer's read-write mappings of hub segments, kept across saves and reused by inode.

Why: on this kind of machine (a virtual machine, 4 KiB pages) building the page tables of a
new 8 MiB mapping and tearing them down costs more CPU than copying the plane into it
(measured: map with MAP_POPULATE 0.7-0.9 ms, unmap 0.4 ms, copy 0.7 ms). The hub recycles a
segment by *renaming* it (``hub.pool``): the memory behind a lease is often a segment this
producer has filled before, the same inode under a new name. So a producer keeps the mapping
of every segment it filled, keyed by (``st_dev``, ``st_ino``), and when a new lease opens to a
known inode it copies into the mapping it already has.

Rules that keep this safe:

- **Writes only under a lease.** A kept mapping is written only after a lease (or a segment
  this producer just created) was opened *by name* and its ``fstat`` showed that inode:
  :meth:`KeptMappings.open_lease` hands it out as ``busy``; :meth:`KeptMappings.give_back`
  ends that. Between the two the hub cannot give the segment to anyone (it is leased to us),
  and once the save is accepted nothing writes through it again until the hub leases that
  inode to us once more. A kept mapping of a segment that is in the scene is never written.
- **Bounded, and released promptly.** A mapping pins its pages even after the hub unlinks the
  segment. Each entry keeps its descriptor open, and :meth:`KeptMappings.sweep` (run by the
  lease stock's thread every ``SWEEP_S`` while it holds mappings) closes every idle entry
  whose ``st_nlink`` is 0: memory the hub dropped is given back within ``SWEEP_S``. Kept
  mappings of segments the hub still holds cost no memory (the hub counts those pages in its
  budget); the count and the mapped bytes are capped (least recently used goes first). They
  do show in the producer's RSS (as ``RssShmem``): the same pages, counted once in ``free``.
- **Not across fork.** A forked child closes every kept mapping and descriptor it inherited
  (``os.register_at_fork``): the leases are its parent's, and the child must not pin them.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import mmap
import os
import resource
import threading
import weakref
from dataclasses import dataclass, field

from contract import shm

log = logging.getLogger(__name__)

#: Idle kept mappings are checked for removed segments at least this often (seconds).
SWEEP_S = 0.5
#: At most this many kept mappings (and a quarter of the descriptor limit) ...
MAX_KEPT = 1024
#: ... and at most this many bytes mapped (page tables: 1/512 of it once populated).
MAX_KEPT_BYTES = 8 * 1024**3


@dataclass(eq=False)
class Kept:
    """One segment inode, mapped read-write, with the descriptor that tells if it still lives."""

    key: tuple[int, int]
    fd: int
    mapping: mmap.mmap
    size: int
    busy: bool = True
    hits: int = field(default=0)

    def close(self) -> None:
        with contextlib.suppress(BufferError, ValueError):  # a view escaped: it closes with it
            self.mapping.close()
        with contextlib.suppress(OSError):
            os.close(self.fd)


_ALL: weakref.WeakSet[KeptMappings] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for kept in list(_ALL):
        kept.forget_inherited()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _descriptor_cap() -> int:
    try:
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (OSError, ValueError):
        return 64
    if soft == resource.RLIM_INFINITY:
        return MAX_KEPT
    return max(8, min(MAX_KEPT, soft // 4))


class KeptMappings:
    """Mappings by inode, least recently used first; thread-safe (one short lock)."""

    def __init__(self, max_count: int | None = None, max_bytes: int = MAX_KEPT_BYTES) -> None:
        self.max_count = max_count if max_count is not None else _descriptor_cap()
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: collections.OrderedDict[tuple[int, int], Kept] = collections.OrderedDict()
        self._bytes = 0
        self.stats: collections.Counter[str] = collections.Counter()
        _ALL.add(self)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def mapped_bytes(self) -> int:
        return self._bytes

    def open_lease(self, name: str, size: int) -> Kept:
        """A busy read-write mapping of leased segment ``name``: a kept one if we mapped its
        inode before, else a new one whose page tables are built now (GIL released)."""
        fd, info = shm.open_lease(name, size)
        key = (info.st_dev, info.st_ino)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and not entry.busy and entry.size == size:
                entry.busy = True
                entry.hits += 1
                self._entries.move_to_end(key)
                self.stats["reused"] += 1
                os.close(fd)
                return entry
        try:
            mapping = mmap.mmap(fd, max(size, 1), flags=mmap.MAP_SHARED)
            shm.populate_writable(mapping)  # page tables now, GIL released (not MAP_POPULATE)
        except BaseException:
            os.close(fd)
            raise
        self.stats["mapped"] += 1
        return self._insert(Kept(key, fd, mapping, size))

    def create(self, name: str, size: int) -> Kept:
        """A new segment of our own (no lease yet), mapped and kept like a lease."""
        fd, mapping = shm.create_with_fd(name, size)
        info = os.fstat(fd)
        self.stats["created"] += 1
        return self._insert(Kept((info.st_dev, info.st_ino), fd, mapping, size))

    def _insert(self, entry: Kept) -> Kept:
        with self._lock:
            old = self._entries.pop(entry.key, None)
            if old is not None:  # the same inode mapped twice (busy meanwhile): keep the new
                self._bytes -= old.size
                if not old.busy:
                    old.close()
            self._entries[entry.key] = entry
            self._bytes += entry.size
            evicted = self._over_caps()
        for old in evicted:
            old.close()
        return entry

    def _over_caps(self) -> list[Kept]:
        """Idle entries beyond the caps, least recently used first (under the lock)."""
        out = []
        for key in list(self._entries):
            if len(self._entries) <= self.max_count and self._bytes <= self.max_bytes:
                break
            entry = self._entries[key]
            if not entry.busy:
                del self._entries[key]
                self._bytes -= entry.size
                out.append(entry)
                self.stats["evicted"] += 1
        return out

    def give_back(self, entry: Kept) -> None:
        """The save that wrote ``entry`` is over (accepted or not): nothing writes to it now."""
        with self._lock:
            entry.busy = False
            if self._entries.get(entry.key) is not entry:  # replaced or forgotten meanwhile
                entry.close()

    def sweep(self) -> int:
        """Close idle mappings of segments nobody names any more (the hub removed them)."""
        with self._lock:
            idle = [e for e in self._entries.values() if not e.busy]
        gone = []
        for entry in idle:
            try:
                removed = os.fstat(entry.fd).st_nlink == 0
            except OSError:
                removed = True
            if removed:
                gone.append(entry)
        if not gone:
            return 0
        with self._lock:
            closed = 0
            for entry in gone:
                if self._entries.get(entry.key) is entry and not entry.busy:
                    del self._entries[entry.key]
                    self._bytes -= entry.size
                    entry.close()
                    closed += 1
            self.stats["released"] += closed
        return closed

    def close(self) -> None:
        """Close every idle mapping; a busy one closes when it is given back."""
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
            self._bytes = 0
        for entry in entries:
            if not entry.busy:
                entry.close()

    def forget_inherited(self) -> None:
        """In a forked child: close the parent's mappings and descriptors, busy or not."""
        self._lock = threading.Lock()  # the parent's lock may have been held at fork
        for entry in self._entries.values():
            entry.close()
        self._entries.clear()
        self._bytes = 0
