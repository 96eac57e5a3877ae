"""Streaming from the workers of a distributed engine (Dask, Ray, multiprocessing pools).

A task is pickled and shipped to a worker process, possibly on another host; a ZeroMQ socket
cannot travel that way (it belongs to one process and, in pyzmq, to one thread at a time).
So tasks carry only the hub's *address* and key directory (plain strings), and each worker
thread opens its own :class:`~backends.streaming.StreamingBackend` the first time a task
streams, then keeps it for the next tasks: one CURVE handshake per worker thread, not per
task. The cache is keyed by hub address, key directory and transport, and is dropped in a
forked child (a fork copies the cache but must not share the parent's sockets).

The recipe (see docs/remote.md)::

    from dask.distributed import Client
    from backends.workers import save

    def process(well, site):
        plane = segment_cells(load(well, site))        # the pipeline's own work
        return save(plane, endpoint="tcp://gpu-server:7700", keys_dir="/shared/keys",
                    well=well, site=site, channel=1)   # returns once the hub accepted it

    client = Client("tcp://scheduler:8786")
    client.gather([client.submit(process, w, s) for w in wells for s in sites])

Nothing here imports Dask: the same functions work from any engine that runs Python
callables in worker processes.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backends.streaming import StreamingBackend

log = logging.getLogger(__name__)

__all__ = ["backend", "close_all", "save", "save_batch"]

_Key = tuple[str, str, str]
_local = threading.local()
_all: list[StreamingBackend] = []  # every backend of this process, for close_all
_all_lock = threading.Lock()
_pid = os.getpid()
_generation = 0  # bumped by close_all: every thread's cache is stale after it


def _cache() -> dict[_Key, StreamingBackend]:
    global _pid, _generation
    if os.getpid() != _pid:  # a forked child: the parent's sockets are not ours
        _pid = os.getpid()
        with _all_lock:
            _all.clear()
            _generation += 1
    if getattr(_local, "generation", None) != _generation:
        _local.backends, _local.generation = {}, _generation
    return _local.backends


def backend(
    endpoint: str,
    *,
    keys_dir: str | Path | None = None,
    transport: str = "auto",
    timeout_s: float = 120.0,
) -> StreamingBackend:
    """This worker thread's backend for the hub at ``endpoint``, connected on first use."""
    key = (endpoint, str(keys_dir or ""), transport)
    cache = _cache()
    found = cache.get(key)
    if found is None:
        found = StreamingBackend(
            endpoint, keys_dir=keys_dir, transport=transport, timeout_s=timeout_s
        )
        cache[key] = found
        with _all_lock:
            _all.append(found)
        log.info(
            "worker %d connected to the hub at %s (%s)", os.getpid(), endpoint, found.transport
        )
    return found


def save(
    data: Any,
    path: str | Path = "",
    *,
    endpoint: str,
    keys_dir: str | Path | None = None,
    transport: str = "auto",
    **components: Any,
) -> dict[str, Any]:
    """``StreamingBackend.save`` from a task: returns the hub's (small, picklable) reply."""
    return backend(endpoint, keys_dir=keys_dir, transport=transport).save(data, path, **components)


def save_batch(
    data_list: Sequence[Any],
    file_paths: Sequence[str | Path],
    *,
    endpoint: str,
    keys_dir: str | Path | None = None,
    transport: str = "auto",
    **kwargs: Any,
) -> dict[str, Any]:
    """``StreamingBackend.save_batch`` from a task (all items accepted, or none)."""
    conn = backend(endpoint, keys_dir=keys_dir, transport=transport)
    return conn.save_batch(data_list, file_paths, **kwargs)


@atexit.register
def close_all() -> None:
    """Close every backend this process opened (a worker that retires closes its sockets)."""
    global _generation
    with _all_lock:
        backends, _all[:] = list(_all), []
        _generation += 1
    for each in backends:
        try:
            each.close()
        except Exception:  # closing must never turn a clean worker exit into an error
            log.debug("closing a worker backend failed", exc_info=True)
