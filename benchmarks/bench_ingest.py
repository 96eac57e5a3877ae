"""Ingest of 2048² uint16 planes, warm: ``save()`` and the pipelined throughput path, with the
CPU time of each side, beside memcpy measured in the same run.

    python -m benchmarks.bench_ingest [--quick]        # prints the result as JSON
    BENCH_STORE_PARTS=ingest python -m benchmarks.run --only store   # merged into the docs

Why CPU time as well as GB/s: the machine has two cores, shared with other jobs while
measured, so wall-clock throughput is pessimistic and noisy. Per plane, the producer's CPU
time and the hub's (its loop, and its other threads: the store writer, ZeroMQ's I/O thread,
the pool filler, counted until every plane is on disk) say what the same code does on two
idle cores: ``save()`` alternates producer and hub (their sum), the pipelined path overlaps
them (their maximum). The best of ``REPEATS`` passes is reported, each after a ``clear`` that
hands the scene's segments back to the pool (the steady state of a long stream), after one
unmeasured pass by the same path (a pipeline's first batches go out before the hub has leased
it enough segments for the batches in flight, and fill fresh memory of their own).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import numpy as np

from backends import StreamingBackend
from benchmarks.common import memcpy_gbps
from hub.launcher import launch

SHAPE = (2048, 2048)
PLANE_BYTES = SHAPE[0] * SHAPE[1] * 2
REPEATS = 3
#: The throughput path: batches of BATCH planes, at most DEPTH requests awaiting the hub.
BATCH, DEPTH = 4, 2
#: Distinct source planes a pass cycles through (32 MiB of 2048² uint16: beyond the caches).
SOURCES = 4


def warm_ring_gbps(
    shape: tuple[int, int], dtype: str, ring_bytes: int = 512 * 1024**2, sources: int = 1
) -> float:
    """numpy.copyto of planes into *distinct* destinations already faulted in (a ring larger
    than the CPU caches): the bound for ingest, whose every plane lands somewhere new. The
    same-buffer memcpy (``memcpy_gbps``) stays in the caches for small planes.

    ``sources``: how many distinct source planes the copies cycle through. One source stays
    partly in the CPU caches; a stream's planes are new data each time, so the stream's own
    copy pattern is many sources (the benchmark cycles through ``SOURCES``, 32 MiB).
    """
    rng = np.random.default_rng(0)
    srcs = [rng.integers(0, 1000, shape).astype(dtype) for _ in range(sources)]
    count = max(4, ring_bytes // srcs[0].nbytes)
    ring = [np.ones_like(srcs[0]) for _ in range(count)]  # faulted in before the clock starts
    start = time.perf_counter()
    for i, dst in enumerate(ring):
        np.copyto(dst, srcs[i % sources])
    seconds = time.perf_counter() - start
    return count * srcs[0].nbytes / seconds / 1e9


def _hub_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of the hub's loop (its main thread), its store writer and all the others.

    From ``/proc/<pid>/task/*/schedstat`` (nanoseconds): psutil's thread times count 10 ms
    clock ticks, too coarse for a millisecond per plane. The writer is found by the name the
    hub gives its thread (``hub.threads``).
    """
    out = {"loop": 0.0, "writer": 0.0, "other": 0.0}
    for task in os.scandir(f"/proc/{pid}/task"):
        try:
            with open(f"{task.path}/schedstat") as handle:
                seconds = int(handle.read().split()[0]) / 1e9
            with open(f"{task.path}/comm") as handle:
                name = handle.read().strip()
        except (OSError, ValueError, IndexError):
            continue
        part = "loop" if task.name == str(pid) else "writer" if name == "store-writer" else "other"
        out[part] += seconds
    return out


def _wait_stored(hub: Any, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        store = hub.status()["store"]
        if store["write_queue"] == 0:
            return
        time.sleep(0.05)


def _send(backend: StreamingBackend, planes: list[np.ndarray], n: int, path: str) -> None:
    if path == "save":
        for i in range(n):
            backend.save(planes[i % len(planes)], "", channel=1, z_index=i)
        return
    with backend.pipelined(depth=DEPTH) as pipe:
        for first in range(0, n, BATCH):
            idx = range(first, min(n, first + BATCH))
            pipe.save_batch(
                [planes[i % len(planes)] for i in idx],
                [""] * len(idx),
                components=[{"channel": 1, "z_index": i} for i in idx],
            )


def one_pass(hub: Any, backend: StreamingBackend, planes: list[np.ndarray], n: int, path: str):
    """``n`` planes by ``path`` ("save" or "pipelined"): GB/s and CPU ms per plane."""
    _wait_stored(hub)
    cpu0, hub0 = time.process_time(), _hub_cpu(hub.pid)
    start = time.perf_counter()
    _send(backend, planes, n, path)
    seconds = time.perf_counter() - start
    cpu1 = time.process_time()
    _wait_stored(hub)  # the store writer's share of these planes, counted once it is done
    hub1 = _hub_cpu(hub.pid)

    def ms(part: str) -> float:
        return (hub1[part] - hub0[part]) / n * 1000

    return {
        "gb_per_s": n * planes[0].nbytes / seconds / 1e9,
        "planes_per_s": n / seconds,
        "producer_cpu_ms": (cpu1 - cpu0) / n * 1000,
        "hub_loop_cpu_ms": ms("loop"),
        "hub_other_cpu_ms": ms("other"),
        "store_writer_cpu_ms": ms("writer"),
        "hub_cpu_ms": ms("loop") + ms("other"),  # ingest: everything but the disk tier
        "hub_cpu_with_store_ms": ms("loop") + ms("other") + ms("writer"),
    }


def cpu_bound_gbps(row: dict[str, Any], overlapped: bool, store: bool = False) -> float:
    """What the CPU time per plane allows on two otherwise idle cores.

    Two cores do at most twice one core's work. ``save()`` also waits, per plane, for the
    producer's part and then the hub loop's (their sum); the pipelined path overlaps them.
    ``store``: the store writer's share counts too (a stream sustained for longer than the
    budget lets the scene run ahead of the disk tier); else ingest alone (a burst).
    """
    producer, loop = row["producer_cpu_ms"], row["hub_loop_cpu_ms"]
    hub = row["hub_cpu_with_store_ms"] if store else row["hub_cpu_ms"]
    floor = max(producer, loop) if overlapped else producer + loop
    ms = max(floor, (producer + hub) / 2)
    return PLANE_BYTES / (ms / 1000) / 1e9 if ms > 0 else float("nan")


def steady(quick: bool) -> dict[str, Any]:
    """The first pass (fresh memory), then the best of REPEATS warm passes per path."""
    n = 12 if quick else 96
    repeats = 1 if quick else REPEATS
    rng = np.random.default_rng(7)
    planes = [rng.integers(0, 4000, SHAPE).astype(np.uint16) for _ in range(SOURCES)]
    # The machine's limits, measured around the passes (best of three: other jobs on the
    # shared cores only ever lower them).
    rings, streams, copies = [], [], []

    def limits() -> None:
        rings.append(warm_ring_gbps(SHAPE, "uint16"))
        streams.append(warm_ring_gbps(SHAPE, "uint16", sources=SOURCES))
        copies.append(memcpy_gbps(SHAPE, "uint16"))

    limits()
    hub = launch([], memory_budget=16 * 1024**3)
    out: dict[str, Any] = {"planes": n, "repeats": repeats, "batch": BATCH, "depth": DEPTH}
    out["sources"] = SOURCES
    try:
        with StreamingBackend(hub=hub, transport="shm") as backend:
            out["first_pass_gb_per_s"] = one_pass(hub, backend, planes, n, "save")["gb_per_s"]
            for path in ("save", "pipelined"):
                hub.clear()
                one_pass(hub, backend, planes, n, path)  # warm-up: its lease wish, its stock
                best: dict[str, Any] | None = None
                for _ in range(repeats):
                    hub.clear()  # the scene's segments go to the pool, leased back
                    row = one_pass(hub, backend, planes, n, path)
                    if best is None or row["gb_per_s"] > best["gb_per_s"]:
                        best = row
                assert best is not None
                limits()
                best["cpu_bound_gb_per_s"] = cpu_bound_gbps(best, path == "pipelined")
                best["cpu_bound_with_store_gb_per_s"] = cpu_bound_gbps(
                    best, path == "pipelined", store=True
                )
                out[path] = best
            out["kept_mappings"] = dict(backend._leases.kept.stats)
            out["pool"] = hub.status()["hub"].get("pool", {})
    finally:
        hub.stop()
    out["warm_ring_gb_per_s"], out["memcpy_gb_per_s"] = max(rings), max(copies)
    out["stream_copy_gb_per_s"] = max(streams)
    out.update({k: out["save"][k] for k in ("gb_per_s", "producer_cpu_ms", "hub_cpu_ms")})
    for path in ("save", "pipelined"):
        out[path]["ratio_ring"] = out[path]["gb_per_s"] / out["warm_ring_gb_per_s"]
        out[path]["ratio"] = out[path]["gb_per_s"] / out["memcpy_gb_per_s"]
        out[path]["ratio_stream"] = out[path]["gb_per_s"] / out["stream_copy_gb_per_s"]
    out["ratio_ring"], out["ratio"] = out["save"]["ratio_ring"], out["save"]["ratio"]
    return out


if __name__ == "__main__":
    print(json.dumps(steady(quick="--quick" in sys.argv), default=float))
