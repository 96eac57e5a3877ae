"""napari on a 96-well plate of 2048² planes through a real hub: memory, latency, keeping up.

96 wells x 3 sites x 4 channels of 2048² uint16 (1,152 planes, 9.7 GB) are streamed at full
speed by one producer through a real hub (default budget: it spills to its store and evicts
segments, so planes go cold under napari) with napari attached in its own process under
Xvfb, in live mode (``follow``: at each refresh the sliders jump to the newest plane, as a
screener watching the acquisition wants), so the latest plane is always the one in view. A
monitor samples napari's RSS and PSS, the hub's view of it (hung or not) and how many planes
it has shown.

Beside it, in the same run: napari's own time to draw one 2048² plane (hand a layer new data,
wait for the canvas to paint) and memcpy of one plane: the floor any viewer pays.

- **memory**: napari's RSS/PSS against planes received (flat: the layers hold references);
- **draw latency**: producer's ``save`` returned (the hub accepted) -> the canvas painted a
  plane that arrived in view (napari's ``<name>-draws.jsonl`` trace), p50/p99;
- **catch-up**: last plane accepted -> napari has shown every plane, and drawn the last;
- **hung**: any hub status that saw napari hung during the run.

Run alone: ``xvfb-run -a python -m benchmarks.bench_plate_napari [--quick]`` (prints JSON).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_plate_napari_report import (  # noqa: F401  (headlines, section: registry API)
    PREVIOUS,
    TARGET,
    headlines,
    section,
)
from benchmarks.common import count_lines, machine, memcpy_gbps, percentile, read_jsonl, slope

ROWS = "ABCDEFGH"
FULL = {"wells": 96, "sites": 3, "channels": 4, "size": 2048}
QUICK = {"wells": 4, "sites": 2, "channels": 2, "size": 256}
SAMPLE_S = 0.25  # monitor period


def plate_wells(count: int) -> list[str]:
    """The first ``count`` wells of a 96-well plate, row by row (A01..A12, B01..)."""
    return [f"{ROWS[i // 12]}{i % 12 + 1:02d}" for i in range(count)]


def stream_plate(
    hub: Any,
    shape: dict[str, int],
    planes: list[np.ndarray],
    on_site: Callable[[str, int], None] | None = None,
) -> tuple[list[float], float]:
    """Stream the plate as an acquisition does (well by well, site by site, every channel),
    at full speed from one producer; ``on_site(well, site)`` runs before a site's planes.
    Returns when the hub accepted each plane, and when the stream started."""
    from backends import StreamingBackend

    accepted: list[float] = []
    started = time.time()
    with StreamingBackend(hub=hub) as backend:
        for well in plate_wells(shape["wells"]):
            for site in range(1, shape["sites"] + 1):
                if on_site is not None:
                    on_site(well, site)
                for c in range(shape["channels"]):
                    backend.save(planes[c], "", well=well, site=site, channel=c + 1)
                    accepted.append(time.time())
    return accepted, started


def wait_for_lines(path: Path, n: int, timeout_s: float = 600.0) -> None:
    """Until the trace ``path`` has ``n`` lines (the viewer took every plane), at most
    ``timeout_s``: a viewer that falls behind shows in the result, it does not hang the run."""
    waited = time.time()
    while time.time() - waited < timeout_s and count_lines(path) < n:
        time.sleep(0.05)


def plate_planes(size: int, channels: int) -> list[np.ndarray]:
    """A few distinct planes per channel (content differs, so nothing compresses away)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    planes = []
    for c in range(channels):
        base = rng.integers(90, 130, (size, size), dtype=np.uint16)
        cy, cx = size * (0.3 + 0.1 * c), size * (0.6 - 0.1 * c)
        base[(yy - cy) ** 2 + (xx - cx) ** 2 < (size / 8) ** 2] += np.uint16(1000 * (c + 1))
        planes.append(base)
    return planes


def draw_floor(size: int, repeats: int) -> dict[str, float]:
    """napari in this process: hand a 2048² layer new data, time until the canvas paints."""
    from viewers.napari.viewer import prefer_qt_binding

    prefer_qt_binding()  # the binding the hub's napari uses
    import napari
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    viewer = napari.Viewer(show=True)
    planes = plate_planes(size, 2)
    layer = viewer.add_image(planes[0], contrast_limits=(0, 5000))
    painted: list[float] = []
    canvas = viewer.window._qt_viewer.canvas._scene_canvas
    canvas.events.draw.connect(lambda event: painted.append(time.perf_counter()), position="last")
    for _ in range(5):
        app.processEvents()
    costs = []
    for k in range(repeats):
        painted.clear()
        start = time.perf_counter()
        layer.data = planes[(k + 1) % 2]
        deadline = start + 5
        while not painted and time.perf_counter() < deadline:
            app.processEvents()
        if painted:
            costs.append(painted[0] - start)
    viewer.close()
    app.processEvents()
    return {"p50_ms": percentile(costs, 50) * 1e3, "p99_ms": percentile(costs, 99) * 1e3}


class ViewerMonitor(threading.Thread):
    """A thread that samples a viewer's process and the hub's view of it while a plate streams:
    ``samples`` (a subclass's), the times the hub saw it hung, its oldest heartbeat."""

    def __init__(self, hub: Any, pid: int, name: str) -> None:
        super().__init__(daemon=True)
        import psutil

        self.hub, self.name = hub, name
        self.process = psutil.Process(pid)
        self.samples: list[dict[str, Any]] = []
        self.hung: list[float] = []
        self.max_heartbeat_age = 0.0
        self.stop = threading.Event()

    def viewer_status(self) -> dict[str, Any]:
        """The hub's status of the viewer; notes whether it was hung, and its heartbeat age."""
        status = self.hub.status()["viewers"][self.name]
        if status["state"] == "hung":
            self.hung.append(time.time())
        self.max_heartbeat_age = max(self.max_heartbeat_age, status["heartbeat_age_s"] or 0)
        return status


class Monitor(ViewerMonitor):
    """Samples napari's memory and CPU, and the hub's view of it (hung or not)."""

    def __init__(self, hub: Any, pid: int) -> None:
        super().__init__(hub, pid, "napari")

    def run(self) -> None:
        while not self.stop.is_set():
            now = time.time()
            with contextlib.suppress(Exception):  # a sample lost is not a failed run
                status = self.viewer_status()
                info = self.process.memory_full_info()
                self.samples.append(
                    {
                        "t": now,
                        "shown": int(status["viewer"].get("items", 0)),
                        "cache": int(status["viewer"].get("cache_bytes", 0)),
                        "rss": info.rss,
                        "pss": getattr(info, "pss", 0),
                        "load": os.getloadavg()[0],
                    }
                )
            self.stop.wait(SAMPLE_S)


def run(quick: bool, wells: int | None = None, budget: int | None = None) -> dict[str, Any]:
    """The plate (``wells`` fewer for a trial; ``budget``: the hub's memory budget)."""
    from hub.launcher import launch

    shape = dict(QUICK if quick else FULL)
    if wells:
        shape["wells"] = wells
    size, n_c = shape["size"], shape["channels"]
    floor = draw_floor(size, 5 if quick else 20)
    copy_gbps = memcpy_gbps((size, size), "uint16")
    planes = plate_planes(size, n_c)
    trace = Path(tempfile.mkdtemp(prefix="viewerhub-bench-plate-"))
    hub = launch(
        ["napari"],
        memory_budget=budget,
        viewer_options={"napari": {"follow": True}},
        env={"VIEWERHUB_TRACE_DIR": str(trace)},
        log_file=trace / "hub.log",
    )
    try:
        status = hub.wait_viewers(timeout_s=120)
        pid = status["viewers"]["napari"]["pid"]
        monitor = Monitor(hub, pid)
        cpu_start = sum(monitor.process.cpu_times()[:2])
        monitor.start()
        accepted, started = stream_plate(hub, shape, planes)
        (trace / "accepted.json").write_text(json.dumps(accepted))  # for a closer look
        wait_for_lines(trace / "napari.jsonl", len(accepted))
        time.sleep(1.0)  # the last flush and paint, and a few more memory samples
        monitor.stop.set()
        monitor.join(timeout=30)
        cpu_s = sum(monitor.process.cpu_times()[:2]) - cpu_start
        data = hub.inspect("napari").get("data", {})
        final = hub.status()["viewers"]["napari"]
    finally:
        hub.stop()
    return _summarise(
        shape, floor, copy_gbps, accepted, started, trace, monitor, cpu_s, data, final
    )


def _summarise(
    shape: dict,
    floor: dict,
    copy_gbps: float,
    accepted: list[float],
    started: float,
    trace: Path,
    monitor: Monitor,
    cpu_s: float,
    data: dict,
    final: dict,
) -> dict[str, Any]:
    shown = read_jsonl(trace / "napari.jsonl")
    draws = read_jsonl(trace / "napari-draws.jsonl")
    first = min((line["index"] for line in shown), default=0)
    accept_of = {first + i: t for i, t in enumerate(accepted)}
    latencies = [d["drawn"] - accept_of[d["index"]] for d in draws if d["index"] in accept_of]
    # napari creates its layers on the first well's planes (~0.2 s of CPU per channel after
    # the warm-up at start): reported apart, so the steady figures say what a long plate costs
    per_well = shape["sites"] * shape["channels"]
    steady = [
        d["drawn"] - accept_of[d["index"]]
        for d in draws
        if d["index"] in accept_of and d["index"] - first >= per_well
    ]
    # planes accepted after napari's first draw: it has made its layers and caught up since
    first_draw = min((d["drawn"] for d in draws), default=float("inf"))
    settled = [
        d["drawn"] - accept_of[d["index"]]
        for d in draws
        if d["index"] in accept_of and accept_of[d["index"]] > first_draw
    ]
    first_shown = min((line["shown"] for line in shown), default=float("nan"))
    # hub -> napari: accepted -> the viewer client received it (napari's loop busy drawing
    # delays this too: a GUI thread polls the hub between paints)
    receive = [
        line["received"] - accept_of[line["index"]] for line in shown if line["index"] in accept_of
    ]
    last_accept = accepted[-1] if accepted else started
    all_shown = max((line["shown"] for line in shown), default=last_accept)
    last_drawn = max((d["drawn"] for d in draws), default=float("nan"))
    samples = monitor.samples
    n = len(accepted)
    plane_mb = shape["size"] ** 2 * 2 / 1e6
    rss = [s["rss"] for s in samples]
    pss = [s["pss"] for s in samples]
    bytes_per_plane = slope([s["shown"] for s in samples], rss)
    # napari's plane cache fills up to its limit as planes are drawn, then stays there: RSS
    # grows with it at first. Judged flat once the cache is full, and RSS less the cache.
    limit = int(data.get("cache", {}).get("limit", 0))
    full = [s for s in samples if limit and s.get("cache", 0) >= 0.98 * limit]
    full_slope = _slope_all([s["shown"] for s in full], [s["rss"] for s in full])
    no_cache_slope = slope(
        [s["shown"] for s in samples], [s["rss"] - s.get("cache", 0) for s in samples]
    )
    errors = sum(1 for line in shown if line.get("error"))
    return {
        "machine": machine(),
        "shape": shape,
        "planes": n,
        "gigabytes": n * plane_mb / 1e3,
        "napari_draw_ms": floor,
        "memcpy_plane_ms": plane_mb / 1e3 / copy_gbps * 1e3,
        "accept_planes_per_s": n / max(last_accept - started, 1e-9),
        "shown_planes_per_s": len(shown) / max(all_shown - started, 1e-9),
        "shown": len(shown),
        "errors": errors,
        "rss_max_gb": max(rss, default=0) / 1e9,
        "pss_max_gb": max(pss, default=0) / 1e9,
        "rss_first_gb": rss[0] / 1e9 if rss else 0.0,
        "mb_per_plane": bytes_per_plane / 1e6,
        "mb_per_plane_cache_full": full_slope / 1e6,
        "mb_per_plane_less_cache": no_cache_slope / 1e6,
        "cache_full_after": min((s["shown"] for s in full), default=None),
        "draws": len(latencies),
        "draw_p50_s": percentile(latencies, 50),
        "draw_p99_s": percentile(latencies, 99),
        "draw_max_s": max(latencies, default=float("nan")),
        "receive_p50_s": percentile(receive, 50),
        "receive_p99_s": percentile(receive, 99),
        "steady_draws": len(steady),
        "steady_draw_p50_s": percentile(steady, 50),
        "steady_draw_p99_s": percentile(steady, 99),
        "settled_draws": len(settled),
        "settled_draw_p50_s": percentile(settled, 50),
        "settled_draw_p99_s": percentile(settled, 99),
        "first_drawn_s": first_draw - accepted[0] if accepted else float("nan"),
        "first_shown_s": first_shown - accepted[0] if accepted else float("nan"),
        "catch_up_shown_s": all_shown - last_accept,
        "catch_up_drawn_s": last_drawn - last_accept,
        "hung_samples": len(monitor.hung),
        "max_heartbeat_age_s": monitor.max_heartbeat_age,
        "napari_cpu_s": cpu_s,
        "load_avg": float(np.mean([s["load"] for s in samples])) if samples else float("nan"),
        "restarts": final.get("restarts", 0),
        "data": data,
        "memory": [
            {
                "t": s["t"] - started,
                "shown": s["shown"],
                "rss": s["rss"],
                "pss": s["pss"],
                "cache": s.get("cache", 0),
            }
            for s in samples
        ],
        "target": TARGET,
        "previous": PREVIOUS,
    }


def _slope_all(x: list[int], y: list[float]) -> float:
    """Least-squares growth per plane over all of ``x`` (0 with too few distinct points)."""
    if len(x) < 3 or len(set(x)) < 2:
        return 0.0
    return float(np.polyfit(np.array(x, float), np.array(y, float), 1)[0])


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_plate_napari")
    parser.add_argument("--quick", action="store_true", help="a tiny plate (seconds)")
    parser.add_argument("--wells", type=int, help="fewer wells (a trial run)")
    parser.add_argument("--budget", type=int, help="the hub's memory budget in bytes")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.quick, args.wells, args.budget), default=float))


if __name__ == "__main__":
    main(sys.argv[1:])
