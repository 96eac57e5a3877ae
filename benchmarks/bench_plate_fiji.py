"""Fiji on a 96-well plate of 2048² planes through a real hub: memory, latency, keeping up.

The plate of ``bench_plate_napari`` (96 wells x 3 sites x 4 channels of 2048² uint16, 1,152
planes, 9.7 GB) is streamed at full speed by one producer through a real hub (default budget:
it spills to its store and evicts segments, so planes go cold under Fiji) with Fiji (Debian's
ImageJ 1.53t in a JVM) attached in its own process under Xvfb. A monitor follows the stream
as a screener would (``goto`` the well and site being acquired, the plate window's frame, at
most twice a second, and to the last site at once), so planes arrive in view, and samples
Fiji's RSS, its Java heap (in use, and just after the last collection: what ImageJ keeps),
the hub's view of it (hung or not) and how many planes it has shown.

Beside it, in the same run: ImageJ's own time to draw a new 2048² plane already in Java
memory until its canvas has painted (alone, and into a composite of the plate's channels, as
the plate window is), to read one from a file under /dev/shm (what a virtual stack pays per
plane), and memcpy of one plane.

- **memory**: Fiji's RSS and Java heap against planes received (flat: the stack is virtual;
  the heap in use swings with the garbage of planes read, the heap after a collection not);
- **draw latency**: producer's ``save`` returned (the hub accepted) -> ImageJ painted a plane
  that arrived in view (``fiji-draws.jsonl``, see ``viewers.fiji.draw_trace``), p50/p99;
- **catch-up**: last plane accepted -> Fiji has shown every plane, and painted the last site
  (planes arriving in view, or brought on screen by the last goto: ``"via": "goto"``);
- **hung**: any hub status that saw Fiji hung during the run.

Run alone: ``xvfb-run -a python -m benchmarks.bench_plate_fiji [--quick]`` (prints JSON).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_plate_fiji_report import (  # noqa: F401  (headlines, section: registry API)
    GOTO_EVERY_S,
    TARGET,
    headlines,
    section,
)
from benchmarks.bench_plate_napari import (
    FULL,
    QUICK,
    ViewerMonitor,
    plate_planes,
    plate_wells,
    stream_plate,
    wait_for_lines,
)
from benchmarks.common import machine, memcpy_gbps, percentile, read_jsonl, slope

SAMPLE_S = 0.25  # monitor period
GOTO_RETRY_S = 0.02  # a goto to a frame Fiji has not received yet is retried this soon


def _painted(imp: Any) -> None:
    """Ask for a repaint and wait until ImageJ's canvas has painted (its paintPending flag)."""
    canvas = imp.getCanvas()
    canvas.setPaintPending(True)
    canvas.repaint()
    deadline = time.monotonic() + 5
    while canvas.getPaintPending() and time.monotonic() < deadline:
        time.sleep(0.001)


def draw_floor(size: int, channels: int, repeats: int) -> dict[str, float]:
    """ImageJ in this process, as the Fiji viewer draws: opening a 2048² window (one channel,
    then a composite of ``channels``) and a new plane into it, until painted; and one plane
    read from a file under /dev/shm, as a virtual stack reads it."""
    from viewers.fiji import jvm
    from viewers.fiji.pixels import to_java_pixels
    from viewers.fiji.virtual import PlaneFiles

    ij = jvm.start(headless=False)
    planes = plate_planes(size, channels)
    pixels = [to_java_pixels(ij, p)[0] for p in planes]
    out: dict[str, float] = {}
    # the composite window twice: the first pays ImageJ's one-time costs, as a viewer without
    # a warm-up would (the Fiji viewer warms up at start: viewers.fiji.warmup)
    for name, n_c in (("draw", 1), ("composite", channels), ("composite_again", channels)):
        stack = ij.ImageStack(size, size)
        for c in range(n_c):
            stack.addSlice(f"c{c}", pixels[c])
        opened = time.perf_counter()
        imp = ij.ImagePlus("floor", stack)
        imp.setDimensions(n_c, 1, 1)
        if n_c > 1:
            imp = ij.CompositeImage(imp, 1)
        imp.setDisplayRange(0, 5000)
        imp.show()
        _painted(imp)
        out[f"open_{name}_ms"] = (time.perf_counter() - opened) * 1e3
        costs = []
        for k in range(repeats):
            start = time.perf_counter()
            new = pixels[(k + 1) % len(pixels)]
            imp.getProcessor().setPixels(new)
            if n_c > 1:
                imp.getProcessor(1).setPixels(new)
            imp.updateAndDraw()
            _painted(imp)
            costs.append(time.perf_counter() - start)
        imp.changes = False
        imp.close()
        out[f"{name}_p50_ms"] = percentile(costs, 50) * 1e3
        out[f"{name}_p99_ms"] = percentile(costs, 99) * 1e3
    path = Path("/dev/shm") / f"viewerhub-bench-floor-{os.getpid()}"
    planes[0].astype("<u2").tofile(path)
    files = PlaneFiles(ij, size, size, np.dtype(np.uint16))
    try:
        files.put((0, 0, 0), planes[0], None)
        info = files.info((0, 0, 0))
        directory, name = os.path.split(path)
        info.directory, info.fileName = directory + "/", name
        opener = ij.jpype.JClass("ij.io.FileOpener")
        reads = []
        for _ in range(repeats):
            start = time.perf_counter()
            opener(info).openProcessor()
            reads.append(time.perf_counter() - start)
        out["read_p50_ms"] = percentile(reads, 50) * 1e3
    finally:
        files.close()
        path.unlink(missing_ok=True)
    return out


def bookkeeping_kb(planes: int) -> dict[str, float]:
    """What one more plate position costs the Fiji viewer's Java heap, alone: ``planes`` 64²
    planes of a plate window (positions, FileInfos), heap after a full collection per plane,
    in this process (the ImageJ of ``draw_floor``). Python's side is not measured here:
    tracemalloc crashed the process (JPype frees Python objects from a Java thread)."""
    from contract.planes import PlaneRef
    from viewers.base import Item
    from viewers.fiji import FijiViewer, jvm
    from viewers.fiji.config import FijiDisplayConfig

    viewer = FijiViewer(headless=True)
    viewer.ij, viewer.fiji_luts = jvm.start(), None
    segment = Path("/dev/shm") / f"viewerhub-bench-positions-{os.getpid()}"
    np.zeros((64, 64), np.uint16).tofile(segment)
    config, plane = FijiDisplayConfig(), np.zeros((64, 64), np.uint16)

    def feed(first: int, last: int) -> None:
        for i in range(first, last):
            components = {"well": f"W{i // 12:04d}", "site": i % 12 // 4, "channel": i % 4}
            ref = PlaneRef((64, 64), plane.dtype, segment=segment.name)
            viewer.show(Item(i, "image", components, config, array=plane, refs=[ref]))
            viewer.draw()

    try:
        feed(0, 48)  # the window and its first frames: not per plane
        before = jvm.live_heap_mb(viewer.ij)
        feed(48, 48 + planes)
        java = (jvm.live_heap_mb(viewer.ij) - before) * 1e3 / planes
    finally:
        viewer.close()
        segment.unlink(missing_ok=True)
    return {"java_kb_per_plane": java}


class Monitor(ViewerMonitor):
    """Follows the stream (goto the site being acquired, retried until Fiji has its frame, at
    most every GOTO_EVERY_S) and samples Fiji's memory and the hub's view of it."""

    def __init__(self, hub: Any, pid: int, follow: list[dict[str, Any]]) -> None:
        super().__init__(hub, pid, "fiji")
        self.follow = follow
        self.gotos = 0
        self.final = False  # the last site: gone to at once, whatever GOTO_EVERY_S says

    def run(self) -> None:
        shown_at: dict[str, Any] | None = None
        next_sample = next_goto = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= next_sample:
                next_sample = now + SAMPLE_S
                self._sample()
            target = self.follow[-1] if self.follow else None
            if target is not None and target != shown_at and (now >= next_goto or self.final):
                try:  # the frame exists once its first plane reached Fiji: retry until then
                    self.hub.goto("fiji", **target)
                except Exception:
                    next_goto = time.monotonic() + GOTO_RETRY_S
                else:
                    shown_at, self.gotos = target, self.gotos + 1
                    next_goto = time.monotonic() + GOTO_EVERY_S
            self.stop.wait(GOTO_RETRY_S / 2)

    def _sample(self) -> None:
        with contextlib.suppress(Exception):
            status = self.viewer_status()
            self.samples.append(
                {
                    "t": time.time(),
                    "shown": int(status["viewer"].get("items", 0)),
                    "rss": self.process.memory_info().rss,
                    "heap_mb": status["viewer"].get("java_heap_used_mb") or 0.0,
                    "live_mb": status["viewer"].get("java_heap_after_gc_mb") or 0.0,
                }
            )


def run(quick: bool) -> dict[str, Any]:
    from hub.launcher import launch

    shape = QUICK if quick else FULL
    size, n_c = shape["size"], shape["channels"]
    last_site = (plate_wells(shape["wells"])[-1], shape["sites"])
    load_before = os.getloadavg()[0]
    floor = draw_floor(size, n_c, 5 if quick else 20)
    copy_gbps = memcpy_gbps((size, size), "uint16")
    planes = plate_planes(size, n_c)
    trace = Path(tempfile.mkdtemp(prefix="viewerhub-bench-plate-fiji-"))
    hub = launch(["fiji"], env={"VIEWERHUB_TRACE_DIR": str(trace)}, log_file=trace / "hub.log")
    try:
        status = hub.wait_viewers(timeout_s=120)
        pid = status["viewers"]["fiji"]["pid"]
        follow: list[dict[str, Any]] = []
        monitor = Monitor(hub, pid, follow)
        cpu_start = sum(monitor.process.cpu_times()[:2])
        monitor.start()

        def on_site(well: str, site: int) -> None:  # the monitor follows the acquisition
            monitor.final = (well, site) == last_site
            follow.append({"well": well, "site": site})

        accepted, started = stream_plate(hub, shape, planes, on_site)
        wait_for_lines(trace / "fiji.jsonl", len(accepted))
        time.sleep(1.0)  # the last draw, and a few more memory samples
        monitor.stop.set()
        monitor.join(timeout=30)
        cpu_s = sum(monitor.process.cpu_times()[:2]) - cpu_start
        live = hub.inspect("fiji", gc=True)["java_heap_live_mb"]  # what ImageJ keeps
        final = hub.status()["viewers"]["fiji"]
    finally:
        hub.stop()
    result = _summarise(shape, floor, copy_gbps, accepted, started, trace, monitor, cpu_s, final)
    result["load_average"] = [load_before, os.getloadavg()[0]]
    result["live_heap_end_mb"] = live  # after a full collection (not before the plate: a full
    # collection just before the stream made Fiji's first window 0.5-1.5 s slower)
    result["bookkeeping"] = bookkeeping_kb(100 if quick else 1152)  # after: nothing competes
    return result


def _summarise(
    shape: dict,
    floor: dict,
    copy_gbps: float,
    accepted: list[float],
    started: float,
    trace: Path,
    monitor: Monitor,
    cpu_s: float,
    final: dict,
) -> dict[str, Any]:
    shown = read_jsonl(trace / "fiji.jsonl")
    lines = read_jsonl(trace / "fiji-draws.jsonl")
    draws = [d for d in lines if d.get("via") != "goto"]  # planes that arrived in view
    first = min((line["index"] for line in shown), default=0)
    accept_of = {first + i: t for i, t in enumerate(accepted)}
    latency_of = {
        d["index"]: d["drawn"] - accept_of[d["index"]] for d in draws if d["index"] in accept_of
    }
    latencies = list(latency_of.values())
    first_site = set(range(first, first + shape["channels"]))  # the window is made for these
    steady = [v for i, v in latency_of.items() if i not in first_site]
    received_at = {line["index"]: line["received"] for line in shown}
    delivery = [received_at[i] - accept_of[i] for i in latency_of if i in received_at]
    in_fiji = [d["drawn"] - received_at[d["index"]] for d in draws if d["index"] in received_at]
    last_accept = accepted[-1] if accepted else started
    all_shown = max((line["shown"] for line in shown), default=last_accept)
    last_site = set(range(first + len(accepted) - shape["channels"], first + len(accepted)))
    drawn_at: dict[int, float] = {}  # the first paint of each plane, in view or by a goto
    for d in lines:
        drawn_at[d["index"]] = min(d["drawn"], drawn_at.get(d["index"], d["drawn"]))
    last_drawn = max((drawn_at[i] for i in last_site if i in drawn_at), default=None)
    samples = monitor.samples
    plane_mb = shape["size"] ** 2 * 2 / 1e6
    rss = [s["rss"] for s in samples]
    heap = [s["heap_mb"] for s in samples]
    live = [s.get("live_mb", 0.0) for s in samples]
    received = [s["shown"] for s in samples]
    return {
        "machine": machine(),
        "shape": shape,
        "planes": len(accepted),
        "gigabytes": len(accepted) * plane_mb / 1e3,
        "imagej_floor_ms": floor,
        "memcpy_plane_ms": plane_mb / 1e3 / copy_gbps * 1e3,
        "accept_planes_per_s": len(accepted) / max(last_accept - started, 1e-9),
        "shown_planes_per_s": len(shown) / max(all_shown - started, 1e-9),
        "shown": len(shown),
        "errors": sum(1 for line in shown if line.get("error")),
        "rss_max_gb": max(rss, default=0) / 1e9,
        "rss_first_gb": rss[0] / 1e9 if rss else 0.0,
        "heap_max_mb": max(heap, default=0.0),
        "mb_per_plane": slope(received, rss) / 1e6,
        "heap_mb_per_plane": slope(received, heap),
        "live_mb_per_plane": slope(received, live),
        "live_first_last_mb": [live[len(live) // 2] if live else 0.0, live[-1] if live else 0.0],
        "draws": len(latencies),
        "draw_p50_s": percentile(latencies, 50),
        "draw_p99_s": percentile(latencies, 99),
        "draw_max_s": max(latencies, default=float("nan")),
        "delivery_p50_s": percentile(delivery, 50),
        "delivery_p99_s": percentile(delivery, 99),
        "in_fiji_p50_s": percentile(in_fiji, 50),
        "in_fiji_p99_s": percentile(in_fiji, 99),
        "first_accepted_s": [t - started for t in accepted[: 2 * shape["channels"]]],
        "first_received_s": [
            received_at[i] - started for i in range(first, first + 8) if i in received_at
        ],
        "first_window_s": max((latency_of.get(i, 0.0) for i in first_site), default=0.0),
        "steady_draws": len(steady),
        "steady_draw_p50_s": percentile(steady, 50),
        "steady_draw_p99_s": percentile(steady, 99),
        "catch_up_shown_s": all_shown - last_accept,
        "catch_up_drawn_s": None if last_drawn is None else last_drawn - last_accept,
        "hung_samples": len(monitor.hung),
        "max_heartbeat_age_s": monitor.max_heartbeat_age,
        "gotos": monitor.gotos,
        "fiji_cpu_s": cpu_s,
        "restarts": final.get("restarts", 0),
        "memory": [{**s, "t": s["t"] - started} for s in samples],
        "target": TARGET,
    }


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), default=float), flush=True)
    os._exit(0)  # do not wait on AWT threads at JVM shutdown: the results are out
