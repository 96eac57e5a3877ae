"""The hub's pool of warm shared-memory segments: recycling, leases to producers, pre-faulting.

Why: a plane copied into freshly created shared memory runs at the kernel's page-fault rate
(3-10 % of memcpy on this machine), not at memcpy speed. Pages already faulted in run at
memcpy speed. So the hub keeps the segments of items it lets go (superseded by compaction,
evicted once on disk, cleared) instead of unlinking them, and hands them back out:

- to producers on the shm transport as **leases**: a producer asks for ``count`` segments of
  ``size`` bytes in a save's header, the reply names them, the producer fills one per plane
  on its next save and names it in that save's item (``shm``). The hub then adopts it into
  the scene by rename, as it adopts a producer's own segment;
- to the frames transport and foreign-segment copies (``take``): the hub copies into a warm
  segment instead of a new one.

Safety. Every pooled or leased segment is the hub's: its name carries the hub's pid, it is
opened only through ``contract.shm``'s checked opens, and it is renamed on every change of
hands, so a reader holding an old name (a viewer's lazy plane reference, the store writer)
can never open the new contents by that name: it gets "gone" and reads the disk tier. A lease
names its producer; it is accepted once (consuming it renames it into the scene) and a second
save naming it is refused, so a lease cannot overwrite a plane in the scene. A producer that
dies holding leases leaks nothing: housekeeping finds it dead and recycles them (its mappings
died with it). A lease kept unused longer than ``LEASE_TTL_S`` by a living producer is
unlinked, not recycled: that producer may still hold a mapping, so no one else may get the
pages.

Budget. Everything here counts against the hub's memory budget with the scene: free segments,
leased segments and segments being pre-faulted (``held_bytes``). ``Ingest`` keeps
``scene.bytes_used + pool.held_bytes`` within the budget; free segments are the first thing
given back when room is needed, and an idle pool empties itself after ``IDLE_S``.

This module does the bookkeeping; the segment operations are injected (``SegmentOps``) so the
accounting is unit-tested without shared memory. It never blocks the hub loop on page
faults: new segments are created and pre-faulted by one filler thread.
"""

from __future__ import annotations

import collections
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from contract import shm
from hub.threads import name_this_thread

log = logging.getLogger(__name__)

#: A producer holding a lease this long without using it loses it (the segment is unlinked).
LEASE_TTL_S = 120.0
#: With no lease asked for this long, free segments are given back to the system.
IDLE_S = 30.0
#: Sizes asked for in the last WANTED_S seconds are worth recycling.
WANTED_S = 60.0
#: Most segments one producer may hold leased, and their share of the budget.
MAX_LEASES_PER_PRODUCER = 64
LEASE_BUDGET_SHARE = 8  # one producer holds at most budget // 8 bytes of leases
#: Free segments kept at most: this share of the budget.
FREE_BUDGET_SHARE = 4
MIN_LEASE_BYTES = shm.LEASE_MIN_BYTES


class SegmentOps:
    """What the pool does to segments; the real one uses ``contract.shm``."""

    def size(self, name: str) -> int | None:
        try:
            return shm.segment_size(name)
        except shm.SegmentError:
            return None

    def rename(self, old: str, new: str) -> bool:
        try:
            shm.rename(old, new)
            return True
        except OSError:
            return False

    def unlink(self, name: str) -> None:
        shm.unlink(name)

    def alive(self, pid: int) -> bool:
        return shm.process_alive(pid)

    def create(self, name: str, size: int) -> None:
        """A new segment with every page allocated now (the filler thread calls this; the
        allocation releases the GIL, so the hub loop runs on meanwhile)."""
        shm.create_allocated(name, size)


@dataclass
class Lease:
    name: str
    size: int
    pid: int
    granted: float


class SegmentPool:
    """Free warm segments by size, leases by name, and the filler that pre-faults new ones."""

    def __init__(
        self,
        hub_pid: int,
        budget: int,
        ops: SegmentOps | None = None,
        clock: Callable[[], float] = time.monotonic,
        filler: bool = True,
    ) -> None:
        self.hub_pid = hub_pid
        self.budget = budget
        self.ops = ops or SegmentOps()
        self.clock = clock
        self.free: dict[int, collections.deque[str]] = {}
        self.free_bytes = 0
        self.leases: dict[str, Lease] = {}
        self.leased_bytes = 0
        self.filling: dict[int, int] = {}  # size -> segments the filler is making
        self.filling_bytes = 0
        self.wanted: dict[int, float] = {}  # size -> when a lease of it was last asked
        self.recycling = True
        self.stats: collections.Counter[str] = collections.Counter()
        self._numbers = itertools.count(1)
        self._use_filler = filler
        self._jobs: queue.Queue[tuple[str, int] | None] = queue.Queue()
        self._made: queue.Queue[tuple[str, int, bool]] = queue.Queue()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ accounting

    @property
    def held_bytes(self) -> int:
        """Bytes of shared memory the pool holds or is creating (all within the budget)."""
        return self.free_bytes + self.leased_bytes + self.filling_bytes

    def available(self, size: int) -> int:
        return len(self.free.get(size, ()))

    def _name(self) -> str:
        return shm.hub_segment_name(self.hub_pid, 1_000_000_000 + next(self._numbers))

    def _push_free(self, name: str, size: int) -> None:
        self.free.setdefault(size, collections.deque()).append(name)
        self.free_bytes += size

    def _pop_free(self, size: int, newest: bool = False) -> str | None:
        names = self.free.get(size)
        if not names:
            return None
        name = names.pop() if newest else names.popleft()  # FIFO: the longest free goes first
        self.free_bytes -= size
        return name

    # ------------------------------------------------------------------ the scene's side

    def release(self, name: str) -> None:
        """The scene lets a segment go: keep it warm under a new name if it is worth it."""
        if not self.recycling:
            self.ops.unlink(name)
            return
        size = self.ops.size(name)
        now = self.clock()
        worth = (
            size is not None
            and now - self.wanted.get(size, -1e18) < WANTED_S
            and self.free_bytes + size <= self.budget // FREE_BUDGET_SHARE
        )
        if not worth:
            self.ops.unlink(name)
            return
        assert size is not None
        pooled = self._name()
        if not self.ops.rename(name, pooled):  # already gone (a dead hub's, swept)
            self.ops.unlink(name)
            return
        self._push_free(pooled, size)
        self.stats["recycled"] += 1

    @contextmanager
    def dropping(self) -> Iterator[None]:
        """Segments released meanwhile are unlinked: the scene is making room for real."""
        before, self.recycling = self.recycling, False
        try:
            yield
        finally:
            self.recycling = before

    def drop(self, nbytes: int, keep: dict[int, int] | None = None) -> int:
        """Unlink free segments (newest first) until ``nbytes`` are given back; returns bytes.

        ``keep`` holds back that many segments of a size (a request about to use them).
        """
        freed = 0
        for size in sorted(self.free, reverse=True):
            spare = self.available(size) - (keep or {}).get(size, 0)
            while freed < nbytes and spare > 0:
                name = self._pop_free(size, newest=True)
                assert name is not None
                self.ops.unlink(name)
                freed += size
                spare -= 1
                self.stats["dropped"] += 1
            if freed >= nbytes:
                break
        return freed

    def take(self, size: int) -> str | None:
        """A free warm segment of exactly ``size`` bytes for the hub to fill; None if none."""
        name = self._pop_free(size)
        if name is not None:
            self.stats["reused"] += 1
        return name

    # ------------------------------------------------------------------ leases

    def want(self, size: int) -> None:
        self.wanted[size] = self.clock()

    def leased_to(self, pid: int) -> list[Lease]:
        return [lease for lease in self.leases.values() if lease.pid == pid]

    def grant(self, pid: int, size: int, count: int) -> list[str]:
        """Lease free segments of ``size`` to producer ``pid`` until it holds ``count`` of
        that size (within the per-producer caps); the new names.

        Grants only what is free and warm now: the caller asks the filler (:meth:`fill`) or
        evicts for the rest.
        """
        n = self.wanted_more(pid, size, count)
        if n:
            self.want(size)
        names = []
        for _ in range(n):
            pooled = self._pop_free(size)
            if pooled is None:
                break
            name = shm.lease_segment_name(self.hub_pid, pid, next(self._numbers))
            if not self.ops.rename(pooled, name):
                self.ops.unlink(pooled)
                continue
            self.leases[name] = Lease(name, size, pid, self.clock())
            self.leased_bytes += size
            names.append(name)
            self.stats["leased"] += 1
        return names

    def wanted_more(self, pid: int, size: int, count: int) -> int:
        """How many more segments of ``size`` producer ``pid`` may get to hold ``count``."""
        if size < MIN_LEASE_BYTES or count <= 0:
            return 0
        held = self.leased_to(pid)
        same = sum(1 for lease in held if lease.size == size)
        room = (self.budget // LEASE_BUDGET_SHARE - sum(x.size for x in held)) // size
        return max(0, min(count - same, MAX_LEASES_PER_PRODUCER - len(held), room))

    def is_lease(self, name: str) -> bool:
        return name in self.leases

    def consume(self, name: str) -> Lease | None:
        """A save names a lease: it leaves the pool (the caller adopts it into the scene)."""
        lease = self._unlease(name)
        if lease is not None:
            self.stats["lease_used"] += 1
        return lease

    def _unlease(self, name: str) -> Lease | None:
        lease = self.leases.pop(name, None)
        if lease is not None:
            self.leased_bytes -= lease.size
        return lease

    def restore(self, lease: Lease) -> None:
        """Undo :meth:`consume` (the request was rolled back): the producer keeps its lease."""
        self.leases[lease.name] = lease
        self.leased_bytes += lease.size
        self.stats["lease_used"] -= 1

    # ------------------------------------------------------------------ the filler

    def fill(self, size: int, count: int, headroom: int) -> int:
        """Ask the filler for up to ``count`` new pre-faulted segments within ``headroom``."""
        if not self._use_filler or size < MIN_LEASE_BYTES:
            return 0
        count = min(count, max(0, headroom) // size)
        for _ in range(count):
            self.filling[size] = self.filling.get(size, 0) + 1
            self.filling_bytes += size
            self._jobs.put((self._name(), size))
        if count and self._thread is None:
            self._thread = threading.Thread(target=self._fill_loop, name="shm-filler", daemon=True)
            self._thread.start()
        return count

    def _fill_loop(self) -> None:
        name_this_thread("shm-filler")
        while (job := self._jobs.get()) is not None:
            name, size = job
            try:
                self.ops.create(name, size)  # the page faults happen here, off the hub loop
                self._made.put((name, size, True))
            except Exception as exc:  # no memory left in /dev/shm: the reservation goes
                log.warning("could not pre-fault a %d-byte segment: %s", size, exc)
                self._made.put((name, size, False))

    def collect(self) -> None:
        """Move what the filler made into the free segments (on the hub loop's thread)."""
        while True:
            try:
                name, size, ok = self._made.get_nowait()
            except queue.Empty:
                return
            self.filling[size] -= 1
            self.filling_bytes -= size
            if ok:
                self._push_free(name, size)
                self.stats["prefaulted"] += 1

    # ------------------------------------------------------------------ housekeeping

    def housekeeping(self) -> None:
        """Reclaim dead producers' leases, expire forgotten ones, empty an idle pool."""
        self.collect()
        now = self.clock()
        alive: dict[int, bool] = {}
        for name, lease in list(self.leases.items()):
            if lease.pid not in alive:
                alive[lease.pid] = self.ops.alive(lease.pid)
            if self.ops.size(name) is None:  # its producer removed it (closed) or a sweep
                self._unlease(name)
                self.stats["returned"] += 1
            elif not alive[lease.pid]:  # its mappings died with it: the pages are safe to reuse
                self._unlease(name)
                self.stats["reclaimed"] += 1
                pooled = self._name()
                if self.ops.rename(name, pooled):
                    self._push_free(pooled, lease.size)
                    self.drop(max(0, self.free_bytes - self.budget // FREE_BUDGET_SHARE))
            elif now - lease.granted > LEASE_TTL_S:  # it may still write there: never reuse
                self._unlease(name)
                self.stats["expired"] += 1
                self.ops.unlink(name)
        last = max(self.wanted.values(), default=-1e18)
        if self.free_bytes and now - last > IDLE_S:
            self.drop(self.free_bytes)

    def close(self) -> None:
        """Stop the filler and unlink every segment the pool holds (the hub is stopping)."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout=10)
            self._thread = None
        self.collect()
        self.drop(self.free_bytes)
        for name in list(self.leases):
            self._unlease(name)
            self.ops.unlink(name)

    def status(self) -> dict[str, Any]:
        return {
            "held_bytes": self.held_bytes,
            "free_segments": sum(len(v) for v in self.free.values()),
            "free_bytes": self.free_bytes,
            "leased_segments": len(self.leases),
            "leased_bytes": self.leased_bytes,
            "filling_bytes": self.filling_bytes,
            **{k: v for k, v in self.stats.items()},
        }
