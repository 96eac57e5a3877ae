"""A producer's stock of leased hub segments, mapped ahead of use and unmapped after.

Why a thread: on this kind of machine the cost of writing a plane into shared memory is not
the copy but the mapping. A fresh segment costs page allocation and a page fault per 4 KiB; a
warm (recycled) segment still costs building the page tables of a new mapping and tearing
them down (a few microseconds per page on a virtual machine, more than the copy itself). So
the stock maps each leased segment (``MAP_POPULATE``: page tables filled in one call) on a
helper thread as soon as the hub grants it, while the pipeline computes its next plane, and
unmaps a filled segment on that thread after the save. ``save`` itself only copies.

The mapping of a segment the hub accepted lives on for the moment the helper needs to drop
it; nothing writes through it after the save (the copy is done before the request is sent).
A forked child drops the stock without touching it: the leases are its parent's.
"""

from __future__ import annotations

import collections
import logging
import mmap
import os
import queue
import threading
from concurrent.futures import Future

from contract import shm

log = logging.getLogger(__name__)


class LeaseStock:
    """Leased segments by size, each with a read-write mapping made in the background."""

    def __init__(self) -> None:
        self._stock: dict[int, collections.deque[tuple[str, Future[mmap.mmap]]]] = {}
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def __bool__(self) -> bool:
        self._check_fork()
        return any(self._stock.values())

    def _check_fork(self) -> None:
        if os.getpid() != self._pid:  # the parent's leases and thread are not ours
            self._stock, self._thread = {}, None
            self._jobs = queue.SimpleQueue()
            self._pid = os.getpid()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lease-mapper", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            kind, payload = job
            if kind == "map":
                name, size, future = payload
                try:
                    future.set_result(shm.open_readwrite(name, size, populate=True))
                except BaseException as exc:
                    future.set_exception(exc)
            else:
                try:
                    payload.close()
                except (BufferError, ValueError):
                    log.debug("a lease mapping was still exported; it closes with its view")

    def add(self, name: str, size: int) -> None:
        """A lease granted by the hub: map it in the background."""
        self._check_fork()
        future: Future[mmap.mmap] = Future()
        self._stock.setdefault(size, collections.deque()).append((name, future))
        self._start()
        self._jobs.put(("map", (name, size, future)))

    def take(self, size: int) -> tuple[str, mmap.mmap] | None:
        """A mapped lease of ``size`` bytes (waits for its mapping); None if none is left."""
        self._check_fork()
        stock = self._stock.get(size)
        while stock:
            name, future = stock.popleft()
            try:
                return name, future.result()
            except (shm.SegmentError, OSError):
                continue  # reclaimed by the hub meanwhile: try the next one
        return None

    def retire(self, mapping: mmap.mmap) -> None:
        """Unmap a filled segment in the background (the hub owns it now)."""
        self._start()
        self._jobs.put(("unmap", mapping))

    def clear(self, unlink: bool) -> None:
        """Forget every lease; ``unlink`` tells the hub at once that we will not fill them."""
        self._check_fork()
        for stock in self._stock.values():
            for name, future in stock:
                if unlink:
                    shm.unlink(name)
                future.add_done_callback(_close_result)
        self._stock = {}

    def close(self) -> None:
        self.clear(unlink=True)
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout=5)
            self._thread = None


def _close_result(future: Future[mmap.mmap]) -> None:
    if future.exception() is None:
        future.result().close()
