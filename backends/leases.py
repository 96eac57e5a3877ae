"""A producer's stock of leased hub segments, opened ahead of use, mappings kept for reuse.

Why a thread: on this kind of machine the cost of writing a plane into shared memory is not
the copy but the mapping (page tables built and torn down per 4 KiB page, more than the copy
itself on a virtual machine). Two things hide it:

- the hub recycles segments by renaming them, so most leases open onto memory this producer
  has filled before: :class:`backends.mappings.KeptMappings` keeps those mappings and reuses
  them by inode, and a save only copies;
- a lease onto memory new to us is mapped (``MAP_POPULATE``) on a helper thread as soon as the
  hub grants it, while the pipeline computes its next plane.

The same thread sweeps the kept mappings every ``SWEEP_S`` so that memory the hub removed is
given back promptly. A forked child drops the stock without touching it (the leases are its
parent's) and closes the kept mappings it inherited.
"""

from __future__ import annotations

import collections
import logging
import os
import queue
import threading
import time
from concurrent.futures import Future

from backends.mappings import SWEEP_S, Kept, KeptMappings
from contract import shm

log = logging.getLogger(__name__)


class LeaseStock:
    """Leased segments by size, each opened (and mapped or found mapped) in the background."""

    def __init__(self) -> None:
        self._stock: dict[int, collections.deque[tuple[str, Future[Kept]]]] = {}
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.kept = KeptMappings()

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
        last_sweep = time.monotonic()
        while True:
            wait = max(0.0, last_sweep + SWEEP_S - time.monotonic())
            try:
                job = self._jobs.get(timeout=wait)
            except queue.Empty:
                job = ()
            if time.monotonic() - last_sweep >= SWEEP_S:
                self.kept.sweep()
                last_sweep = time.monotonic()
            if job is None:
                return
            if job:
                name, size, future = job
                try:
                    future.set_result(self.kept.open_lease(name, size))
                except BaseException as exc:
                    future.set_exception(exc)

    def add(self, name: str, size: int) -> None:
        """A lease granted by the hub: open it in the background."""
        self._check_fork()
        future: Future[Kept] = Future()
        self._stock.setdefault(size, collections.deque()).append((name, future))
        self._start()
        self._jobs.put((name, size, future))

    def take(self, size: int) -> tuple[str, Kept] | None:
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

    def create(self, name: str, size: int) -> Kept:
        """A segment of our own (no lease left), kept mapped for when the hub leases it back."""
        self._check_fork()
        self._start()  # its sweeps release it once the hub removes the segment
        return self.kept.create(name, size)

    def retire(self, entry: Kept) -> None:
        """The save that filled ``entry`` is over: its mapping stays, unused, for reuse."""
        self.kept.give_back(entry)

    def clear(self, unlink: bool) -> None:
        """Forget every lease; ``unlink`` tells the hub at once that we will not fill them."""
        self._check_fork()
        for stock in self._stock.values():
            for name, future in stock:
                if unlink:
                    shm.unlink(name)
                future.add_done_callback(self._give_back_result)
        self._stock = {}

    def _give_back_result(self, future: Future[Kept]) -> None:
        if future.exception() is None:
            self.kept.give_back(future.result())

    def close(self) -> None:
        self.clear(unlink=True)
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout=5)
            self._thread = None
        self.kept.close()
