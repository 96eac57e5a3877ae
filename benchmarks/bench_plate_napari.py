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
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import count_lines, machine, memcpy_gbps, percentile, read_jsonl, slope

ROWS = "ABCDEFGH"
FULL = {"wells": 96, "sites": 3, "channels": 4, "size": 2048}
QUICK = {"wells": 4, "sites": 2, "channels": 2, "size": 256}
SAMPLE_S = 0.25  # monitor period
TARGET = {"rss_gb": 1.5, "draw_p99_s": 0.5, "catch_up_s": 1.0}
PREVIOUS = {"planes_per_s": 3.6, "mb_per_plane": 4.0}


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


class Monitor(threading.Thread):
    """Samples napari's memory and CPU, and the hub's view of it (hung or not)."""

    def __init__(self, hub: Any, pid: int) -> None:
        super().__init__(daemon=True)
        import psutil

        self.hub = hub
        self.process = psutil.Process(pid)
        self.samples: list[dict[str, Any]] = []
        self.hung: list[float] = []
        self.max_heartbeat_age = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            now = time.time()
            with contextlib.suppress(Exception):  # a sample lost is not a failed run
                status = self.hub.status()["viewers"]["napari"]
                if status["state"] == "hung":
                    self.hung.append(now)
                self.max_heartbeat_age = max(self.max_heartbeat_age, status["heartbeat_age_s"] or 0)
                info = self.process.memory_full_info()
                self.samples.append(
                    {
                        "t": now,
                        "shown": int(status["viewer"].get("items", 0)),
                        "rss": info.rss,
                        "pss": getattr(info, "pss", 0),
                        "load": os.getloadavg()[0],
                    }
                )
            self.stop.wait(SAMPLE_S)


def run(quick: bool, wells: int | None = None, budget: int | None = None) -> dict[str, Any]:
    """The plate (``wells`` fewer for a trial; ``budget``: the hub's memory budget)."""
    from backends import StreamingBackend
    from hub.launcher import launch

    shape = dict(QUICK if quick else FULL)
    if wells:
        shape["wells"] = wells
    size, n_c = shape["size"], shape["channels"]
    wells = [f"{ROWS[i // 12]}{i % 12 + 1:02d}" for i in range(shape["wells"])]
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
        accepted: list[float] = []
        started = time.time()
        with StreamingBackend(hub=hub) as backend:
            for well in wells:
                for site in range(1, shape["sites"] + 1):
                    for c in range(n_c):
                        backend.save(planes[c], "", well=well, site=site, channel=c + 1)
                        accepted.append(time.time())
        n = len(accepted)
        (trace / "accepted.json").write_text(json.dumps(accepted))  # for a closer look
        hub_wait = time.time()
        while time.time() - hub_wait < 600 and count_lines(trace / "napari.jsonl") < n:
            time.sleep(0.05)
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
        "draws": len(latencies),
        "draw_p50_s": percentile(latencies, 50),
        "draw_p99_s": percentile(latencies, 99),
        "draw_max_s": max(latencies, default=float("nan")),
        "receive_p50_s": percentile(receive, 50),
        "receive_p99_s": percentile(receive, 99),
        "steady_draws": len(steady),
        "steady_draw_p50_s": percentile(steady, 50),
        "steady_draw_p99_s": percentile(steady, 99),
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
            {"t": s["t"] - started, "shown": s["shown"], "rss": s["rss"], "pss": s["pss"]}
            for s in samples
        ],
        "target": TARGET,
        "previous": PREVIOUS,
    }


def section(result: dict[str, Any], out: Path) -> str:
    """The markdown section for docs/benchmarks.md (and a memory plot in ``out``)."""
    r = result
    shape = r["shape"]
    plot = _plot(r, out)
    verdict = {
        "rss": "yes" if r["rss_max_gb"] <= TARGET["rss_gb"] else "no",
        "draw": "yes" if r["draw_p99_s"] <= TARGET["draw_p99_s"] else "no",
        "catch": "yes" if _catch_up(r) <= TARGET["catch_up_s"] else "no",
        "hung": "yes" if r["hung_samples"] == 0 else "no",
    }
    lines = [
        "## napari on a 96-well plate (2048², lazy layers)",
        "",
        f"{shape['wells']} wells x {shape['sites']} sites x {shape['channels']} channels of "
        f"{shape['size']}² uint16: {r['planes']} planes, {r['gigabytes']:.1f} GB, streamed at "
        "full speed by one producer through a real hub (default budget: planes spill to its "
        "store and go cold) with napari attached under Xvfb in live mode (``follow``: the "
        "sliders jump to the newest plane at each refresh, so the newest plane is the one in "
        "view; planes overtaken before a refresh are never drawn, as on a microscope's screen). "
        "The machine's own limits in the same run: napari draws one "
        f"{shape['size']}² plane in {r['napari_draw_ms']['p50_ms']:.0f} ms (p50; p99 "
        f"{r['napari_draw_ms']['p99_ms']:.0f} ms), memcpy of one plane takes "
        f"{r['memcpy_plane_ms']:.1f} ms.",
        "",
        "| measure | result | target | met | before (issue #12) |",
        "|---|---|---|---|---|",
        f"| napari RSS, max (PSS max) | {r['rss_max_gb']:.2f} GB ({r['pss_max_gb']:.2f} GB) "
        f"| <= {TARGET['rss_gb']} GB | {verdict['rss']} | 2.2 GB after 500 planes |",
        f"| memory per plane received (RSS slope, 2nd half) | {r['mb_per_plane']:+.2f} MB "
        f"| flat | | +{PREVIOUS['mb_per_plane']:.0f} MB |",
        f"| plane in view: accepted -> drawn, p50 / p99 ({r['draws']} planes) "
        f"| {r['draw_p50_s']:.2f} / {r['draw_p99_s']:.2f} s | <= {TARGET['draw_p99_s']} s "
        f"| {verdict['draw']} | |",
        f"| the same after the first well, p50 / p99 ({r.get('steady_draws', 0)} planes) "
        f"| {r.get('steady_draw_p50_s', float('nan')):.2f} / "
        f"{r.get('steady_draw_p99_s', float('nan')):.2f} s | | | |",
        f"| first plane accepted -> shown (napari creates its first layer) "
        f"| {r.get('first_shown_s', float('nan')):.2f} s | | | |",
        f"| last plane accepted -> all shown / newest drawn | {r['catch_up_shown_s']:.2f} / "
        f"{r['catch_up_drawn_s']:.2f} s | <= {TARGET['catch_up_s']} s | {verdict['catch']} | |",
        f"| planes/s accepted / shown by napari | {r['accept_planes_per_s']:.1f} / "
        f"{r['shown_planes_per_s']:.1f} | | | {PREVIOUS['planes_per_s']} shown |",
        f"| hung reports (max heartbeat age) | {r['hung_samples']} "
        f"({r['max_heartbeat_age_s']:.1f} s) | 0 | {verdict['hung']} | 2 |",
        f"| hub accepted -> napari received, p50 / p99 | {r['receive_p50_s']:.2f} / "
        f"{r['receive_p99_s']:.2f} s | | | |",
        f"| napari CPU time for the run (per in-view draw, at most) | {r['napari_cpu_s']:.1f} s "
        f"({r['napari_cpu_s'] / max(r['draws'], 1) * 1e3:.0f} ms) | | | |",
        "",
        f"napari held {r['data'].get('planes', '?')} plane references and "
        f"{r['data'].get('cache', {}).get('bytes', 0) / 1e6:.0f} MB of cached pixels at the "
        f"end. The machine was shared (2 cores, load average {r.get('load_avg', float('nan')):.1f} "
        "during the run from other benchmarks and tests): the wall-clock latencies are "
        "pessimistic; napari's CPU time is the figure to compare. napari pays a first layer's "
        "one-time costs (pint's units, first widgets, shaders, glyphs) at start "
        "(viewers/napari/warmup.py); the first well's planes still include napari creating "
        "one layer per channel (~0.2 s of CPU each in-process, its Qt controls, vispy visual "
        "and first texture).",
    ]
    if plot:
        lines += ["", f"![napari memory against planes received]({plot})"]
    return "\n".join(lines) + "\n"


def headlines(result: dict[str, Any]) -> list[list[str]]:
    """Rows for the headline table: what, result, target, met."""
    r = result
    return [
        [
            "napari RSS on a 96-well 2048² plate (max)",
            f"{r['rss_max_gb']:.2f} GB",
            f"<= {TARGET['rss_gb']} GB",
            "yes" if r["rss_max_gb"] <= TARGET["rss_gb"] else "no",
        ],
        [
            "napari: plane in view, accepted -> drawn (p50 / p99)",
            f"{r['draw_p50_s']:.2f} / {r['draw_p99_s']:.2f} s",
            f"<= {TARGET['draw_p99_s']} s",
            "yes" if r["draw_p99_s"] <= TARGET["draw_p99_s"] else "no",
        ],
        [
            "napari: last plane accepted -> all shown and drawn",
            f"{_catch_up(r):.2f} s",
            f"<= {TARGET['catch_up_s']} s",
            "yes" if _catch_up(r) <= TARGET["catch_up_s"] else "no",
        ],
    ]


def _catch_up(r: dict[str, Any]) -> float:
    """Last plane accepted -> napari has every plane and has drawn the newest one."""
    return max(r["catch_up_shown_s"], r["catch_up_drawn_s"])


def _plot(result: dict[str, Any], out: Path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    memory = result["memory"]
    if not memory:
        return None
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot([m["shown"] for m in memory], [m["rss"] / 1e9 for m in memory], label="RSS")
    ax.plot([m["shown"] for m in memory], [m["pss"] / 1e9 for m in memory], label="PSS")
    ax.axhline(TARGET["rss_gb"], color="grey", linestyle="--", label="target")
    ax.set_xlabel("planes shown by napari")
    ax.set_ylabel("GB")
    ax.legend()
    fig.tight_layout()
    name = "plate_napari_memory.png"
    fig.savefig(out / name, dpi=100)
    plt.close(fig)
    return name


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
