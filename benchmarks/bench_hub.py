"""Hub benchmarks: ingest vs memcpy, latency, scale. Real hub and viewer processes.

Fan-out (N viewers, what each costs) is benchmarks/bench_fanout.py.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from backends import StreamingBackend
from benchmarks.bench_ingest import one_pass, warm_ring_gbps
from benchmarks.common import fresh_shm_gbps, memcpy_gbps, percentile
from hub.launcher import launch


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _planes(shape: tuple[int, int], dtype: str, n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 4000, shape).astype(dtype) for _ in range(n)]


def ingest_pass(hub: Any, backend: StreamingBackend, planes: list[np.ndarray], n: int) -> dict:
    """``n`` saves of distinct planes; wall time and the CPU of producer and hub per plane."""
    me, hub_process = psutil.Process(), psutil.Process(hub.pid)
    cpu0 = (_cpu(me), _cpu(hub_process))
    start = time.perf_counter()
    for i in range(n):
        backend.save(planes[i % len(planes)], "", channel=1, z_index=i)
    seconds = time.perf_counter() - start
    return {
        "gb_per_s": n * planes[0].nbytes / seconds / 1e9,
        "planes_per_s": n / seconds,
        "producer_cpu_ms": (_cpu(me) - cpu0[0]) / n * 1000,
        "hub_cpu_ms": (_cpu(hub_process) - cpu0[1]) / n * 1000,
    }


def ingest(quick: bool) -> list[dict[str, Any]]:
    """Producer -> hub (accepted) throughput, shm and frame transports, against memcpy.

    Each case streams ``n`` planes twice: the first pass finds no warm memory (the pool is
    empty: the filler and the producer fault pages in), then ``clear`` hands the scene's
    segments to the hub's pool and the second pass runs on recycled, warm segments (leases
    for shm, pooled copies for frames): the steady state of a long stream, where the hub
    evicts written planes and recycles their memory. ``shm, pipelined`` (2048² only) is the
    throughput path: ``save_batch`` of a few planes, requests in flight while the next batch is
    copied (``benchmarks.bench_ingest``).
    """
    cases = [((512, 512), "uint16"), ((2048, 2048), "uint16"), ((2048, 2048), "float32")]
    n = 20 if quick else 200
    rows = []
    hub = launch([], memory_budget=64 * 1024**3)
    try:
        for shape, dtype in cases:
            planes = _planes(shape, dtype, 4)
            fresh_shm_gbps(shape, dtype, n)  # a first pass warms the VM's memory ...
            fresh = fresh_shm_gbps(shape, dtype, n)  # ... the second is the reference
            for transport in ("shm", "frames", "shm, pipelined"):
                if transport == "shm, pipelined" and shape[0] < 2048:
                    continue  # small planes: bound by the round trip either way
                with StreamingBackend(hub=hub, transport=transport.split(",")[0]) as backend:
                    hub.clear()
                    if transport == "shm, pipelined":  # the first pass fills the lease stock
                        first = one_pass(hub, backend, planes, n, "pipelined")
                        hub.clear()  # the scene's segments go to the pool
                        warm = one_pass(hub, backend, planes, n, "pipelined")
                    else:
                        first = ingest_pass(hub, backend, planes, n)
                        hub.clear()
                        warm = ingest_pass(hub, backend, planes, n)
                    pool = hub.status()["hub"].get("pool", {})
                    hub.clear()
                row = {
                    "shape": f"{shape[0]}x{shape[1]}",
                    "dtype": dtype,
                    "transport": transport,
                    **warm,
                    "first_pass_gb_per_s": first["gb_per_s"],
                    "memcpy_gb_per_s": memcpy_gbps(shape, dtype),
                    "warm_ring_gb_per_s": warm_ring_gbps(shape, dtype),
                    "fresh_pages_gb_per_s": fresh,
                    "pool": pool,
                }
                row["ratio"] = row["gb_per_s"] / row["memcpy_gb_per_s"]
                row["ratio_ring"] = row["gb_per_s"] / row["warm_ring_gb_per_s"]
                row["ratio_fresh"] = row["gb_per_s"] / row["fresh_pages_gb_per_s"]
                rows.append(row)
    finally:
        hub.stop()
    return rows


def _recorder_hub(n_viewers: int, slow: int = 0, delay_s: float = 0.05, trace: str | None = None):
    options = {
        "recorder": {
            "outdir": tempfile.mkdtemp(prefix="vh-bench-"),
            "tiff": False,
            "checksum": False,
        }
    }
    viewers = ["recorder"] * n_viewers
    env = {"VIEWERHUB_TRACE_DIR": trace} if trace else None
    hub = launch(viewers, viewer_options=options, memory_budget=64 * 1024**3, env=env)
    hub.wait_viewers(timeout_s=60)
    return hub


def latency(quick: bool) -> dict[str, Any]:
    """save() -> the recorder has the pixels, for 512x512 uint16, one item at a time."""
    n = 100 if quick else 1000
    trace = tempfile.mkdtemp(prefix="vh-trace-")
    hub = _recorder_hub(1, trace=trace)
    planes = _planes((512, 512), "uint16", 4)
    sent: dict[int, float] = {}
    try:
        with StreamingBackend(hub=hub) as backend:
            for i in range(n):
                t0 = time.time()
                reply = backend.save(planes[i % 4], "", channel=1, z_index=i)
                sent[reply["indices"][0]] = t0
                time.sleep(0.002)  # a pipeline's pace, so queueing does not dominate
            hub.wait_viewers(n_items=n, timeout_s=120)
    finally:
        hub.stop()
    shown = {}
    for line in Path(trace, "recorder.jsonl").read_text().splitlines():
        record = json.loads(line)
        shown[record["index"]] = record["shown"]
    ms = [(shown[i] - sent[i]) * 1000 for i in sent if i in shown]
    return {
        "items": len(ms),
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms),
        "samples_ms": ms,
    }


def scale(quick: bool) -> dict[str, Any]:
    """Per-plane ingest cost as the scene grows, and hub RSS over a long stream."""
    n = 1000 if quick else 10_000
    checkpoints = [10, 100, 1000] + ([] if quick else [10_000])
    planes = _planes((256, 256), "uint16", 4)
    hub = launch(
        ["recorder"],
        viewer_options={
            "recorder": {"outdir": tempfile.mkdtemp(prefix="vh-bench-"), "tiff": False}
        },
        memory_budget=4 * 1024**3,
    )
    hub.wait_viewers(timeout_s=60)
    hub_process = psutil.Process(hub.pid)
    per_plane: dict[int, float] = {}
    rss: list[tuple[int, float]] = []
    window: list[float] = []
    try:
        with StreamingBackend(hub=hub) as backend:
            for i in range(1, n + 1):
                start = time.perf_counter()
                backend.save(planes[i % 4], "", channel=1, z_index=i % 50, timepoint=i // 50)
                window.append(time.perf_counter() - start)
                if i in checkpoints:
                    per_plane[i] = float(np.median(window[-10:])) * 1000
                if i % max(1, n // 50) == 0:
                    rss.append((i, hub_process.memory_info().rss / 1e6))
            hub.wait_viewers(n_items=n, timeout_s=600)
    finally:
        hub.stop()
    return {
        "planes": n,
        "per_plane_ms": per_plane,
        "rss_mb": rss,
        "scene_mb": n * planes[0].nbytes / 1e6,
    }


def run(quick: bool) -> dict[str, Any]:
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    out = {}
    for name, fn in (
        ("ingest", ingest),
        ("latency", latency),
        ("scale", scale),
    ):
        started = time.perf_counter()
        out[name] = fn(quick)
        out[name + "_seconds"] = time.perf_counter() - started
    return out


if __name__ == "__main__":
    print(json.dumps(run(quick=True), indent=1, default=str)[:3000])
