"""Helpers shared by the benchmarks: machine facts, timing, memcpy reference."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil


def machine() -> dict[str, Any]:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def memcpy_gbps(shape: tuple[int, ...], dtype: str, repeats: int = 20) -> float:
    """numpy.copyto bandwidth for one buffer of this size (warm buffers, median)."""
    src = np.random.default_rng(0).integers(0, 1000, shape).astype(dtype)
    dst = np.empty_like(src)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - start)
    return src.nbytes / statistics.median(times) / 1e9


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def fresh_shm_gbps(shape: tuple[int, ...], dtype: str, count: int) -> float:
    """Copy ``count`` planes into as many *new* shared-memory segments, kept until the end:
    the memory pattern of a scene that grows, without the hub. The kernel must hand out and
    zero fresh pages; on a virtual machine, memory the guest has not touched before is slower
    still, so the benchmark runs this twice (the first pass only warms memory) before the
    hub, which then finds memory as warm as the reference did."""
    from contract import shm

    src = np.random.default_rng(0).integers(0, 1000, shape).astype(dtype)
    names = [f"vh-bench-{os.getpid()}-{i}" for i in range(count)]
    start = time.perf_counter()
    try:
        for name in names:
            mapping = shm.create(name, src.nbytes)
            np.copyto(np.frombuffer(mapping, dtype=src.dtype).reshape(src.shape), src)
            mapping.close()
        return count * src.nbytes / (time.perf_counter() - start) / 1e9
    finally:
        for name in names:
            shm.unlink(name)


def count_lines(path: Path) -> int:
    """Lines in a trace file so far (0 before the viewer wrote any)."""
    try:
        with open(path, "rb") as handle:
            return sum(1 for _ in handle)
    except FileNotFoundError:
        return 0


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """A viewer's trace (VIEWERHUB_TRACE_DIR), one JSON object per line."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def slope(x: list[int], y: list[float]) -> float:
    """Least-squares growth per plane over the second half of the run (after warm-up):
    what "flat in the number of planes" is judged by."""
    pairs = list(zip(x, y))[len(x) // 2 :]
    if len(pairs) < 3 or len({p[0] for p in pairs}) < 2:
        return 0.0
    xs, ys = np.array([p[0] for p in pairs], float), np.array([p[1] for p in pairs], float)
    return float(np.polyfit(xs, ys, 1)[0])


def memory_plot(
    out: Path,
    name: str,
    shown: list[int],
    series: dict[str, list[float]],
    target_gb: float,
    who: str,
) -> str | None:
    """A viewer's memory (GB, one line per series) against planes shown, beside the target;
    written to ``out / name``; None without matplotlib or samples. For the plate parts."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    if not shown:
        return None
    fig, ax = plt.subplots(figsize=(6, 3))
    for label, values in series.items():
        ax.plot(shown, values, label=label)
    ax.axhline(target_gb, color="grey", linestyle="--", label="target")
    ax.set_xlabel(f"planes shown by {who}")
    ax.set_ylabel("GB")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / name, dpi=100)
    plt.close(fig)
    return name
