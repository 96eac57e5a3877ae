"""A plate larger than RAM through the hub: spill to the scene store, memory bound, recovery.

    python -m benchmarks.run --only store                  # merged into docs/benchmarks.md
    python -m benchmarks.bench_store [--quick] [--viewers napari,fiji] [--parts ingest]
    BENCH_STORE_PARTS=ingest python -m benchmarks.run --only store   # one part, the rest kept

Parts, each beside this machine's own limit measured in the same run:

1. the disk's own write rate (``dd ... conv=fdatasync`` into the store's directory);
2. ingest of 2048² uint16 planes on the shm transport in the steady state (recycled, leased
   segments), by ``save()`` and by pipelined batches, with the CPU time of producer and hub,
   beside memcpy into distinct warm planes and same-buffer memcpy (``bench_ingest``);
3. the plate: 3,600 planes of 2048² uint16 (100 wells x 9 sites x 4 channels, 30 GB) through
   a hub with the default memory budget (4 GiB) on this 24 GB machine: producer errors, hub RSS
   and shared memory sampled every 0.5 s, producer throughput beside the disk rate, CPU;
4. recovery: a 10 GB scene, the hub killed with SIGKILL right after the last accepted plane,
   a new hub on the same store: time until the scene is back, and until every plane is on disk.

``--viewers napari,fiji`` (or ``BENCH_STORE_VIEWERS``) attaches those viewers to the plate run
(under Xvfb). Every store is deleted afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from backends import StreamingBackend
from benchmarks import bench_ingest
from benchmarks.bench_store_report import headlines, section  # noqa: F401  (registry API)
from benchmarks.common import slope
from contract import defaults, shm
from hub.launcher import launch

GB = 1e9
MB = 1e6
ROWS = "ABCDE"


def _plate_components(n: int, sites: int = 9, channels: int = 4) -> list[dict[str, Any]]:
    """Wells A01..E20 (100), then sites, then channels: a plate in acquisition order."""
    out = []
    per_well = sites * channels
    for i in range(n):
        well = i // per_well
        rest = i % per_well
        name = f"{ROWS[well // 20 % len(ROWS)]}{well % 20 + 1:02d}"
        out.append({"well": name, "site": rest // channels + 1, "channel": rest % channels + 1})
    return out


def _planes(k: int = 8) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(0, 4000, (2048, 2048)).astype(np.uint16) for _ in range(k)]


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def disk_rate(directory: Path, nbytes: int) -> dict[str, Any]:
    """The disk's own sequential write rate, flushed (``dd conv=fdatasync``), in GB/s."""
    target = directory / "dd.bench"
    count = max(1, nbytes // (8 * 1024**2))
    start = time.perf_counter()
    out = subprocess.run(
        ["dd", "if=/dev/zero", f"of={target}", "bs=8M", f"count={count}", "conv=fdatasync"],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    target.unlink(missing_ok=True)
    written = count * 8 * 1024**2
    return {
        "bytes": written,
        "seconds": seconds,
        "gb_per_s": written / seconds / GB,
        "dd": out.stderr.strip().splitlines()[-1] if out.stderr else "",
    }


def _hub_shm_bytes(pid: int) -> int:
    """Memory the hub's segments really occupy (pool, leases and scene)."""
    total = 0
    for entry in os.scandir(shm.SHM_DIR):
        parsed = shm.parse_name(entry.name)
        if parsed is not None and parsed.hub_pid == pid:
            try:
                total += entry.stat(follow_symlinks=False).st_blocks * 512
            except FileNotFoundError:
                continue
    return total


class Sampler(threading.Thread):
    """Hub RSS, hub shared memory and accepted planes, every ``interval_s``; and each attached
    viewer's RSS against planes accepted, so a viewer's memory is judged flat (or not) over a
    plate three times the napari and Fiji plate parts' own."""

    def __init__(
        self,
        hub_pid: int,
        progress: list[int],
        viewer_pids: dict[str, int] | None = None,
        interval_s: float = 0.5,
    ) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(hub_pid)
        self.pid, self.progress, self.interval_s = hub_pid, progress, interval_s
        self.samples: list[tuple[float, float, float, int]] = []  # t, rss, shm, accepted
        self.viewers = {name: psutil.Process(pid) for name, pid in (viewer_pids or {}).items()}
        self.viewer_rss: dict[str, list[tuple[int, int]]] = {n: [] for n in self.viewers}
        self.stop = threading.Event()
        self.started = time.perf_counter()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                rss = self.process.memory_info().rss
            except psutil.Error:
                return
            shm_bytes = _hub_shm_bytes(self.pid)
            now = time.perf_counter() - self.started
            self.samples.append((now, rss, shm_bytes, self.progress[0]))
            for name, process in self.viewers.items():
                with contextlib.suppress(psutil.Error):
                    self.viewer_rss[name].append((self.progress[0], process.memory_info().rss))
            self.stop.wait(self.interval_s)

    def viewer_memory(self) -> dict[str, dict[str, float]]:
        """Per viewer: peak RSS and its growth per plane over the second half of the run."""
        out = {}
        for name, points in self.viewer_rss.items():
            if points:
                accepted, rss = [p[0] for p in points], [p[1] / MB for p in points]
                out[name] = {"peak_rss": max(rss) * MB, "mb_per_plane": slope(accepted, rss)}
        return out


def _wait_written(hub: Any, n: int, timeout_s: float) -> float:
    start = time.perf_counter()
    deadline = start + timeout_s
    while time.perf_counter() < deadline:
        store = hub.status()["store"]
        if store["written_items"] >= n and store["write_queue"] == 0:
            break
        time.sleep(0.2)
    return time.perf_counter() - start


def ingest_steady(quick: bool) -> dict[str, Any]:
    """2048² uint16 on the shm transport, warm: ``save()`` and pipelined batches (see
    :mod:`benchmarks.bench_ingest`), beside memcpy measured in the same run."""
    return bench_ingest.steady(quick)


def plate(n: int, budget: int, directory: Path, viewers: list[str]) -> dict[str, Any]:
    """Stream ``n`` planes through a hub with ``budget``; sample its memory all along."""
    store = directory / "plate-store"
    options = {}
    if "napari" in viewers:
        options["napari"] = {}
    hub = launch(
        viewers, memory_budget=budget, extra_args=["--store", str(store)], viewer_options=options
    )
    planes = _planes()
    components = _plate_components(n)
    progress = [0]
    errors: list[str] = []
    try:
        if viewers:
            hub.wait_viewers(timeout_s=120)
        baseline_rss = psutil.Process(hub.pid).memory_info().rss
        viewer_pids = {
            name: v["pid"] for name, v in hub.status()["viewers"].items() if v.get("pid")
        }
        sampler = Sampler(hub.pid, progress, viewer_pids)
        hub_process, me = psutil.Process(hub.pid), psutil.Process()
        cpu0 = (_cpu(hub_process), _cpu(me))
        sampler.start()
        start = time.perf_counter()
        with StreamingBackend(hub=hub, transport="shm", timeout_s=300) as backend:
            for i, comps in enumerate(components):
                try:
                    backend.save(planes[i % len(planes)], "", **comps)
                except Exception as exc:  # counted: the benchmark's first result
                    errors.append(f"plane {i}: {type(exc).__name__}: {exc}")
                progress[0] = i + 1
        produce_s = time.perf_counter() - start
        drain_s = _wait_written(hub, n, timeout_s=1800)
        sampler.stop.set()
        sampler.join()
        cpu = (_cpu(hub_process) - cpu0[0], _cpu(me) - cpu0[1])
        status = hub.status()
        shown = {}
        if viewers:
            final = hub.wait_viewers(n_items=n - len(errors), timeout_s=600)
            shown = {k: v.get("shown") for k, v in final["viewers"].items()}
            status = final
    finally:
        hub.stop()
        shutil.rmtree(store, ignore_errors=True)
    rss = [s[1] for s in sampler.samples]
    shm_bytes = [s[2] for s in sampler.samples]
    both = [s[1] + s[2] for s in sampler.samples]
    nbytes = n * planes[0].nbytes
    return {
        "planes": n,
        "bytes": nbytes,
        "budget": budget,
        "viewers": viewers,
        "shown": shown,
        "errors": len(errors),
        "first_errors": errors[:3],
        "produce_s": produce_s,
        "drain_s": drain_s,
        "producer_gb_per_s": nbytes / produce_s / GB,
        "end_to_disk_gb_per_s": nbytes / (produce_s + drain_s) / GB,
        "hub_cpu_ms_per_plane": cpu[0] / n * 1000,
        "producer_cpu_ms_per_plane": cpu[1] / n * 1000,
        "baseline_rss": baseline_rss,
        "peak_rss": max(rss, default=0),
        "peak_shm": max(shm_bytes, default=0),
        "peak_rss_plus_shm": max(both, default=0),
        "evicted": status["hub"].get("evicted"),
        "pool": status["hub"].get("pool", {}),
        "hub_errors": status["hub"].get("errors", {}),
        "samples": sampler.samples[:: max(1, len(sampler.samples) // 400)],
        "viewer_memory": sampler.viewer_memory(),
    }


def recovery(n: int, budget: int, directory: Path) -> dict[str, Any]:
    """SIGKILL a hub right after its last accepted plane; time a new hub to bring it back."""
    store = directory / "recovery-store"
    port = _free_port()
    args = ["--store", str(store)]
    planes = _planes()
    first = launch([], port=port, memory_budget=budget, extra_args=args)
    try:
        with StreamingBackend(hub=first, transport="shm", timeout_s=300) as backend:
            for i, comps in enumerate(_plate_components(n)):
                backend.save(planes[i % len(planes)], "", **comps)
            written_at_kill = first.status()["store"]["written_items"]
            os.kill(first.pid, signal.SIGKILL)
        first.process.wait(timeout=30)
        start = time.perf_counter()
        second = launch([], port=port, memory_budget=budget, extra_args=args, timeout_s=600)
        ready_s = time.perf_counter() - start
        try:
            items = second.status()["hub"]["items"]
            rest_s = _wait_written(second, n - written_at_kill, timeout_s=1800)
        finally:
            second.stop()
    finally:
        if first.process.poll() is None:
            first.process.kill()
        shutil.rmtree(store, ignore_errors=True)
    return {
        "planes": n,
        "bytes": n * planes[0].nbytes,
        "on_disk_at_kill": written_at_kill,
        "recovered_items": items,
        "ready_s": ready_s,
        "all_on_disk_s": ready_s + rest_s,
    }


def _free_port() -> int:
    """A loopback port free now: the second hub takes the first one's port, as after a crash."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _viewers_from_env() -> list[str]:
    value = os.environ.get("BENCH_STORE_VIEWERS", "")
    return [v for v in value.split(",") if v]


def run(quick: bool) -> dict[str, Any]:
    viewers = _viewers_from_env()
    xvfb = None
    if viewers and not os.environ.get("DISPLAY"):
        from hub.demo import start_xvfb

        xvfb = start_xvfb()
        if xvfb:
            os.environ["DISPLAY"] = xvfb[1]
    base = Path(os.environ.get("BENCH_STORE_DIR") or Path.home() / ".cache" / "viewerhub")
    base.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="bench-store-", dir=base))
    parts = _parts_from_env()
    result = _previous() if parts != set(PARTS) else {}
    budget = 128 * 1024**2 if quick else defaults.MEMORY_BUDGET
    try:
        runs = {
            "disk": lambda: disk_rate(directory, (64 if quick else 2048) * 1024**2),
            "ingest": lambda: ingest_steady(quick),
            "plate": lambda: plate(24 if quick else 3600, budget, directory, viewers),
            "recovery": lambda: recovery(8 if quick else 1200, budget, directory),
        }
        for part in PARTS:
            if part in parts:
                result[part] = runs[part]()
                result[part]["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        if xvfb:
            xvfb[0].terminate()
    missing = [part for part in PARTS if part not in result]
    if missing:
        raise RuntimeError(f"no earlier results for {missing}: run all parts once")
    result["machine_note"] = (
        "2 cores shared with other jobs while measured: wall-clock is pessimistic"
    )
    return result


#: The parts, in the order they run; ``BENCH_STORE_PARTS=ingest`` runs only those named and
#: keeps the others' last results from docs/benchmarks.json (the plate takes many minutes).
PARTS = ("disk", "ingest", "plate", "recovery")


def _parts_from_env() -> set[str]:
    value = os.environ.get("BENCH_STORE_PARTS", "")
    parts = {p.strip() for p in value.split(",") if p.strip()} or set(PARTS)
    unknown = parts - set(PARTS)
    if unknown:
        raise ValueError(f"BENCH_STORE_PARTS: unknown part(s) {sorted(unknown)}; parts: {PARTS}")
    return parts


def _previous() -> dict[str, Any]:
    """The store part's last results (docs/benchmarks.json), for the parts not run now."""
    path = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.json"
    try:
        previous = json.loads(path.read_text()).get("store", {})
    except (OSError, ValueError):
        return {}
    kept = {k: v for k, v in previous.items() if k in PARTS}
    for part in kept.values():  # each keeps the date it was measured on
        if isinstance(part, dict) and "measured" in previous:
            part.setdefault("measured", previous["measured"])
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_store")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--viewers", default="", help="comma-separated, e.g. napari,fiji")
    parser.add_argument("--parts", default="", help=f"comma-separated, of {', '.join(PARTS)}")
    args = parser.parse_args(argv)
    if args.viewers:
        os.environ["BENCH_STORE_VIEWERS"] = args.viewers
    if args.parts:
        os.environ["BENCH_STORE_PARTS"] = args.parts
    result = run(args.quick)
    print(json.dumps(result, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
