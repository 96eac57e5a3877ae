"""Fan-out benchmark: one producer, N recorder viewers, what each added viewer costs.

The recorders receive every item but do not touch its pixels (``checksum`` and ``tiff``
off), so the CPU they spend is the viewer side of the protocol: receive, decode, build the
item, ack. The hub's CPU per item grows with the number of viewers; the slope of that growth
(a least-squares fit over 1, 2, 4, 8 viewers) is what one more viewer costs the hub.

CPU time, not wall-clock, is the measure: it does not depend on how many cores the viewers
and the producer share. The machine's own limit, measured in the same run, is the CPU cost
of one ZeroMQ CURVE message each way over loopback (the floor of sending one item to one
viewer and getting one ack back, with no Python work at all): a per-item, per-viewer cost
below it is only possible by batching items into fewer messages.

    python -m benchmarks.bench_fanout [--quick]     # prints the result as JSON
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from backends import StreamingBackend
from benchmarks.message_floor import message_floor
from hub.launcher import HubHandle, launch

#: Targets of issue #16.
HUB_US_PER_VIEWER_TARGET = 10.0
VIEWER_US_PER_ITEM_TARGET = 60.0
#: Items per scene (the scene is cleared between rounds so memory stays flat).
SCENE_ITEMS = 200
SLOW_DELAY_S = 0.05
#: Scenes of SCENE_ITEMS planes each case streams in a full run.
SCENES = 20


def _task_ns(task: Path) -> int:
    """Nanoseconds a thread ran on a CPU (the scheduler's count: exact, not in ticks)."""
    try:
        return int((task / "schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0  # the thread ended


def _process_cpu(pid: int) -> float:
    """CPU seconds of every thread of a process."""
    return sum(_task_ns(t) for t in Path(f"/proc/{pid}/task").iterdir()) / 1e9


def _hub_cpu(pid: int) -> float:
    """CPU seconds of the hub's poll loop (main thread) and ZeroMQ's I/O threads.

    The store's writer thread is left out: it writes each item to disk once, whatever the
    number of viewers, and its cost (about a millisecond per 512² plane) would bury the
    microseconds measured here.
    """
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = (task / "comm").read_text().strip()
        except OSError:
            continue  # the thread ended
        if task.name == str(pid) or comm.startswith("ZMQbg"):
            total += _task_ns(task)
    return total / 1e9


def _planes(n: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 4000, (512, 512)).astype("uint16") for _ in range(n)]


def _recorder_hub(n_viewers: int) -> HubHandle:
    options = {
        "recorder": {
            "outdir": tempfile.mkdtemp(prefix="vh-bench-"),
            "tiff": False,
            "checksum": False,
        }
    }
    hub = launch(["recorder"] * n_viewers, viewer_options=options, memory_budget=8 * 1024**3)
    hub.wait_viewers(timeout_s=60)
    return hub


class _Case:
    """One hub with ``n_viewers`` recorders and its producer; CPU and rates it accumulates."""

    def __init__(self, n_viewers: int) -> None:
        self.n_viewers = n_viewers
        self.hub = _recorder_hub(n_viewers)
        self.viewers = [v["pid"] for v in self.hub.status()["viewers"].values()]
        self.backend = StreamingBackend(hub=self.hub)
        self.items, self.batches, self.hub_cpu, self.viewers_cpu = 0, 0, 0.0, 0.0
        self.acks = 0
        self.produce: list[float] = []
        self.shown: list[float] = []

    def warm_up(self, plane: np.ndarray) -> None:
        self.backend.save(plane, "", channel=1)  # connect and warm up outside the count
        self.hub.wait_viewers(n_items=1, timeout_s=60)
        self.hub.clear()

    def scene(self, planes: list[np.ndarray], n: int) -> None:
        """Stream one scene of ``n`` planes, wait until every viewer showed it, clear it."""
        cpu_hub, cpu_viewers = _hub_cpu(self.hub.pid), self._viewers_cpu()
        produce_s, start = 0.0, time.perf_counter()
        for i in range(n):
            t0 = time.perf_counter()
            self.backend.save(planes[i % len(planes)], "", channel=1, z_index=i)
            produce_s += time.perf_counter() - t0
        status = self.hub.wait_viewers(n_items=n, timeout_s=300)
        self.batches += sum(v.get("batches", 0) for v in status["viewers"].values())
        self.acks += sum(v.get("ack_messages", 0) for v in status["viewers"].values())
        self.shown.append(n / (time.perf_counter() - start))
        self.produce.append(n / produce_s)
        self.hub_cpu += _hub_cpu(self.hub.pid) - cpu_hub
        self.viewers_cpu += self._viewers_cpu() - cpu_viewers
        self.items += n
        self.hub.clear()

    def _viewers_cpu(self) -> float:
        return sum(_process_cpu(p) for p in self.viewers)

    def row(self) -> dict[str, Any]:
        return {
            "viewers": self.n_viewers,
            "items": self.items,
            "producer_planes_per_s": float(np.median(self.produce)),
            "all_shown_planes_per_s": float(np.median(self.shown)),
            "hub_cpu_us_per_item": self.hub_cpu / self.items * 1e6,
            "viewer_cpu_us_per_item": self.viewers_cpu / (self.items * self.n_viewers) * 1e6,
            "items_per_message": self.items * self.n_viewers / max(self.batches, 1),
            "items_per_ack": self.items * self.n_viewers / max(self.acks, 1),
        }

    def stop(self) -> None:
        self.backend.close()
        self.hub.stop()


def _cases(counts: tuple[int, ...], scenes: int) -> list[dict[str, Any]]:
    """Every case's hub runs at once and they take turns, one scene each, in a new random
    order every round: a shared machine's load drifts over minutes, and taking turns spreads
    it over every case alike instead of loading whichever case ran at a bad moment."""
    planes = _planes()
    cases: list[_Case] = []
    try:
        for count in counts:
            cases.append(_Case(count))
        for case in cases:
            case.warm_up(planes[0])
        rng = np.random.default_rng(1)
        for _ in range(scenes):
            for k in rng.permutation(len(cases)):
                cases[k].scene(planes, SCENE_ITEMS)
    finally:
        for case in cases:
            case.stop()
    return [case.row() for case in cases]


def slow_viewer(quick: bool) -> dict[str, Any]:
    """One recorder sleeps 50 ms per item: the producer and the fast viewer do not wait."""
    n = 20 if quick else 200
    planes = _planes()
    options = {"recorder": {"outdir": tempfile.mkdtemp(prefix="vh-bench-"), "tiff": False}}
    hub = launch(["recorder"], viewer_options=options, memory_budget=8 * 1024**3)
    slow_options = {"outdir": tempfile.mkdtemp(prefix="vh-slow-"), "tiff": False}
    slow_options["delay_s"] = SLOW_DELAY_S
    slow = subprocess.Popen(
        [sys.executable, "-m", "viewers.runner", "recorder", "--hub", hub.viewer_endpoint]
        + ["--name", "slow", "--options", json.dumps(slow_options)]
    )
    try:
        hub.wait_viewers(timeout_s=60)
        with StreamingBackend(hub=hub) as backend:
            start = time.perf_counter()
            for i in range(n):
                backend.save(planes[i % 4], "", channel=1, z_index=i)
            produce_s = time.perf_counter() - start
            hub.wait_viewers(n_items=n, timeout_s=120, names=["recorder"])
            fast_s = time.perf_counter() - start
            hub.wait_viewers(n_items=n, timeout_s=600, names=["slow"])
            slow_s = time.perf_counter() - start
    finally:
        hub.stop()
        slow.wait(30)
    return {
        "items": n,
        "producer_s": produce_s,
        "fast_viewer_done_s": fast_s,
        "slow_viewer_done_s": slow_s,
        "slow_viewer_floor_s": n * SLOW_DELAY_S,
    }


def _fit_slope(xs: list[float], ys: list[float]) -> float:
    if len(xs) < 2:
        return float("nan")
    return float(np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)[0])


def run(quick: bool) -> dict[str, Any]:
    counts = (2,) if quick else (1, 2, 4, 8)  # quick: that it runs, in a few seconds
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    floor = message_floor(500 if quick else 5000)
    rows = _cases(counts, 1 if quick else SCENES)
    base = rows[0]["producer_planes_per_s"]
    for row in rows:
        row["vs_1_viewer"] = row["producer_planes_per_s"] / base
    slope = _fit_slope([r["viewers"] for r in rows], [r["hub_cpu_us_per_item"] for r in rows])
    return {
        "rows": rows,
        "hub_us_per_added_viewer": slope,
        "viewer_us_per_item": max(r["viewer_cpu_us_per_item"] for r in rows),
        "floor": floor,
        "slow_viewer": slow_viewer(quick),
        "quick": quick,
        "seconds": time.perf_counter() - started,
        "load": [load_before, os.getloadavg()[0]],  # 1-minute load average: other work
    }


# ---------------------------------------------------------------------- report


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _plot(result: dict[str, Any], out: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    xs = [r["viewers"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    axes[0].plot(xs, [r["producer_planes_per_s"] for r in rows], "o-", label="producer")
    axes[0].plot(xs, [r["all_shown_planes_per_s"] for r in rows], "s--", label="all shown")
    axes[0].set_xlabel("viewers")
    axes[0].set_ylabel("512x512 planes/s")
    axes[0].set_ylim(bottom=0)
    axes[0].legend(fontsize=7)
    axes[0].set_title("Fan-out throughput")
    axes[1].plot(xs, [r["hub_cpu_us_per_item"] for r in rows], "o-", label="hub")
    axes[1].plot(xs, [r["viewer_cpu_us_per_item"] for r in rows], "s--", label="one viewer")
    floor = result["floor"]["curve_message_pair_us"]
    axes[1].axhline(floor, color="grey", lw=0.8, ls=":", label="one message pair (floor)")
    axes[1].set_xlabel("viewers")
    axes[1].set_ylabel("CPU µs per item")
    axes[1].set_ylim(bottom=0)
    axes[1].legend(fontsize=7)
    axes[1].set_title("Fan-out CPU cost")
    fig.tight_layout()
    fig.savefig(out / "bench_fanout.png", dpi=110)
    plt.close(fig)
    return "bench_fanout.png"


def headlines(result: dict[str, Any]) -> list[list[Any]]:
    """Rows for the headline table: what, result, target, met."""
    slope, viewer = result["hub_us_per_added_viewer"], result["viewer_us_per_item"]
    floor = result["floor"]["curve_message_pair_us"]
    rows = [
        [
            "fan-out: hub CPU per item per added viewer",
            f"{slope:.1f} µs (one message pair: {floor:.0f} µs)",
            f"≤ {HUB_US_PER_VIEWER_TARGET:.0f} µs",
            _met(slope <= HUB_US_PER_VIEWER_TARGET),
        ],
        [
            "fan-out: one viewer's CPU per item, pixels untouched",
            f"{viewer:.0f} µs",
            f"≤ {VIEWER_US_PER_ITEM_TARGET:.0f} µs",
            _met(viewer <= VIEWER_US_PER_ITEM_TARGET),
        ],
    ]
    by_count = {r["viewers"]: r for r in result["rows"]}
    if 8 in by_count:
        ratio = by_count[8]["vs_1_viewer"]
        rows.append(
            [
                "fan-out: 8 viewers vs 1 (producer planes/s)",
                f"{ratio:.0%}",
                "≥ 90 %",
                _met(ratio >= 0.9),
            ]
        )
    return rows


def section(result: dict[str, Any], out: Path) -> str:
    """The fan-out section of docs/benchmarks.md (writes bench_fanout.png into ``out``)."""
    from contract.defaults import CREDITS
    from hub import fanout
    from viewers.client import ACK_DELAY_S

    ms = {  # noqa: N806 (units, in the text)
        "batch": fanout.BATCH_S * 1000,
        "max": fanout.BATCH_MAX_S * 1000,
        "ack": ACK_DELAY_S * 1000,
    }
    plot = _plot(result, out)
    rows = result["rows"]
    slope, viewer = result["hub_us_per_added_viewer"], result["viewer_us_per_item"]
    floor = result["floor"]
    slow = result["slow_viewer"]
    table = [
        "| viewers | producer planes/s | all shown planes/s | vs 1 viewer "
        "| hub CPU µs/item | one viewer's CPU µs/item | items per message | items per ack |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        table.append(
            f"| {r['viewers']} | {r['producer_planes_per_s']:.0f} "
            f"| {r['all_shown_planes_per_s']:.0f} | {r['vs_1_viewer']:.0%} "
            f"| {r['hub_cpu_us_per_item']:.0f} | {r['viewer_cpu_us_per_item']:.0f} "
            f"| {r.get('items_per_message', float('nan')):.1f} "
            f"| {r.get('items_per_ack', float('nan')):.1f} |"
        )
    quick = " (quick mode: small sizes, not representative)" if result.get("quick") else ""
    load = result.get("load")
    shared = (
        f"\nThe 1-minute load average was {load[0]:.1f} at the start and {load[1]:.1f} at the "
        "end: other work\nshared the cores, which slows every process alike (see the message "
        "pair's cost beside it)."
        if load
        else ""
    )
    return f"""## Fan-out{quick}

One producer, N recorder viewers that receive every item but do not touch its pixels, 512²
uint16 planes, {rows[0]["items"]} items per case in scenes of {SCENE_ITEMS} (cleared after each).
The cases' hubs run side by side and take turns scene by scene, in a new random order each
round, so that the shared machine's changing load falls on every case alike.
The hub never copies pixels per viewer: each item's header is encoded once for every viewer,
viewers at the same place in the scene get one message built once, and a viewer acks
several messages' items in one ack.
CPU time is counted in the hub and viewer processes (not wall-clock: the producer, the hub
and up to 8 viewers share this machine's {psutil.cpu_count()} cores).{shared}

| measure | value | target | machine limit, same run | |
|---|---|---|---|---|
| hub CPU per item per added viewer | {slope:.1f} µs | ≤ {HUB_US_PER_VIEWER_TARGET:.0f} µs \
| {floor["curve_message_pair_us"]:.1f} µs per CURVE message pair | \
{_met(slope <= HUB_US_PER_VIEWER_TARGET)} |
| one viewer's CPU per item (worst case) | {viewer:.0f} µs | ≤ {VIEWER_US_PER_ITEM_TARGET:.0f} µs \
| {floor["json_decode_us"]:.1f} µs to decode one item header | \
{_met(viewer <= VIEWER_US_PER_ITEM_TARGET)} |

{chr(10).join(table)}

The message pair is one item message to a viewer and one ack back through ZeroMQ with
CURVE over loopback, both ends in one process (so both sides' CPU counts): sending every
item in a message of its own and acking it alone would cost at least that per item and
viewer. Batching is what brings the cost per item below it. The hub sends items in rounds,
one message per viewer per round (`hub/fanout.py: BatchWindow`): rounds are at least
{ms["batch"]:.0f} ms apart at a pipeline's pace (up to {fanout.BATCH_RATE:.0f} items/s and
{fanout.BATCH_VIEWERS} viewers: an item of a steady stream waits {ms["batch"] / 2:.1f} ms on
average, and an item after a pause goes at once); the interval grows with the rate and with
the number of viewers, up to {ms["max"]:.0f} ms. While a round's interval runs, the hub reads
no ack (they wait in ZeroMQ's queue and are read together when it ends: one wake-up of its
loop for every viewer). A viewer acks at most every {ms["ack"]:.0f} ms or at half its
{CREDITS} credits, so one ack covers several messages ("items per ack"); when messages come
further apart than that hold (a fast stream's long rounds), it acks in the wake-up that
brought the message rather than waking again for the ack alone. The per-message
costs (a wake-up, a receive, a decode and an ack on each side) are shared by the items of a
message; a machine busy with other work gives the producer fewer planes per second and so
fewer items per message, on top of slower cores.

A deliberately slow viewer ({SLOW_DELAY_S * 1000:.0f} ms per item) beside a normal one,
{slow["items"]} items of 512²: the producer finished in {slow["producer_s"]:.2f} s, the
normal viewer had everything after {slow["fast_viewer_done_s"]:.2f} s, the slow one after
{slow["slow_viewer_done_s"]:.2f} s (its own floor: {slow["slow_viewer_floor_s"]:.1f} s).
Nobody waited for it.

![fan-out]({plot})
"""


def main(argv: list[str] | None = None) -> int:
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    result = run(quick)
    sys.stdout.write(json.dumps(result, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
