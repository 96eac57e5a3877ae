"""bench_store's part of docs/benchmarks.md: its headline rows, its section and its plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

GB = 1e9


def _plot(result: dict[str, Any], out: Path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    samples = result["plate"]["samples"]
    if not samples:
        return None
    t = [s[0] for s in samples]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(t, [s[1] / GB for s in samples], label="hub RSS")
    ax.plot(t, [s[2] / GB for s in samples], label="hub shared memory")
    ax.plot(t, [(s[1] + s[2]) / GB for s in samples], label="RSS + shared memory")
    ax.axhline(result["plate"]["budget"] / GB, color="k", ls="--", lw=1, label="memory budget")
    ax.set_xlabel("s")
    ax.set_ylabel("GB")
    ax2 = ax.twinx()
    ax2.plot(t, [s[3] for s in samples], color="grey", lw=1, label="planes accepted")
    ax2.set_ylabel("planes accepted")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(f"{result['plate']['planes']} planes of 2048² uint16 through the hub")
    fig.tight_layout()
    fig.savefig(out / "bench_store.png", dpi=110)
    plt.close(fig)
    return "bench_store.png"


def _cpu_bound_gbps(ingest: dict[str, Any]) -> float:
    """What the measured CPU time per plane allows on two otherwise idle cores."""
    per_plane = 2048 * 2048 * 2
    producer, hub = ingest["producer_cpu_ms"], ingest["hub_cpu_ms"]
    seconds = max(producer, hub, (producer + hub) / 2) / 1000
    return per_plane / seconds / GB if seconds > 0 else float("nan")


def _ingest_headlines(i: dict[str, Any]) -> list[list[Any]]:
    if "pipelined" not in i:  # a result from before the pipelined path was measured
        return [
            [
                "ingest 2048² (warm pool) vs memcpy into distinct warm planes",
                f"{i['ratio_ring']:.0%} (CPU time allows "
                f"{_cpu_bound_gbps(i) / i['warm_ring_gb_per_s']:.0%})",
                "≥ 50 %",
                _yes(i["ratio_ring"] >= 0.5),
            ]
        ]
    rows = []
    for path, label in (("save", "save(), one plane per call"), ("pipelined", _PIPE)):
        row = i[path]
        if "ratio_stream" not in row:  # before the stream's own copy was measured
            rows.append(
                [
                    f"ingest 2048² warm, {label}: vs memcpy into distinct warm planes "
                    "(vs same-buffer memcpy)",
                    f"{row['ratio_ring']:.0%} ({row['ratio']:.0%})",
                    "≥ 50 %",
                    _yes(row["ratio_ring"] >= 0.5),
                ]
            )
            continue
        rows.append(
            [
                f"ingest 2048² warm, {label}: vs the same copy alone (distinct planes into "
                "distinct warm planes; vs one cached source; vs same-buffer memcpy)",
                f"{row['ratio_stream']:.0%} ({row['ratio_ring']:.0%}; {row['ratio']:.0%})",
                "≥ 50 %",
                _yes(row["ratio_stream"] >= 0.5),
            ]
        )
    return rows


_PIPE = "pipelined batches"


def _ingest_part(i: dict[str, Any]) -> str:
    """The ingest table and why it stands where it does (pipelined results only)."""
    if "pipelined" not in i:
        return ""
    rows = []
    stream = i.get("stream_copy_gb_per_s", i["warm_ring_gb_per_s"])
    for path, label in (
        ("save", "`save()`: one plane per call, returns once accepted"),
        (
            "pipelined",
            f"pipelined: `save_batch` of {i['batch']} planes, {i['depth']} requests in flight",
        ),
    ):
        r = i[path]
        rows.append(
            f"| {label} | {r['gb_per_s']:.2f} | {r.get('ratio_stream', float('nan')):.0%} | "
            f"{r['ratio_ring']:.0%} | {r['ratio']:.0%} | "
            f"{r['producer_cpu_ms']:.2f} | {r['hub_loop_cpu_ms']:.2f} | "
            f"{r.get('hub_other_cpu_ms', float('nan')):.2f} | "
            f"{r.get('store_writer_cpu_ms', float('nan')):.2f} | "
            f"{r['cpu_bound_gb_per_s']:.2f} ({r['cpu_bound_gb_per_s'] / stream:.0%}) | "
            f"{r.get('cpu_bound_with_store_gb_per_s', float('nan')):.2f} |"
        )
    sources = i.get("sources", 4)
    kept = i.get("kept_mappings", {})
    reused, mapped = kept.get("reused", 0), kept.get("mapped", 0) + kept.get("created", 0)
    table = "\n".join(rows)
    return f"""### Ingest into warm memory

{i["planes"]} planes of 2048² uint16 per pass, best of {i["repeats"]} passes, each after a
`clear` (the scene's segments go back to the pool and are leased out again: the steady state
of a long stream). Measured {i.get("measured", "")}; this machine's limits in the same run
(best of three, taken before, between and after the passes), each a plain `numpy.copyto` of
2048² uint16 planes: **the same copy alone**, {stream:.2f} GB/s (the pass's {sources}
distinct source planes into distinct warm planes: the copy every save must do); from one
source plane, which stays partly in the CPU caches, into distinct warm planes
({i["warm_ring_gb_per_s"]:.2f} GB/s); and same-buffer memcpy ({i["memcpy_gb_per_s"]:.2f} GB/s,
source and destination both cache-friendly). The first pass, into memory nobody had touched,
ran at {i["first_pass_gb_per_s"]:.2f} GB/s.
CPU is per plane, from the kernel's per-thread counters, until the last plane is on disk:
the hub's loop, its other threads but the store writer (ZeroMQ I/O, pool filler), and the
store writer (the disk tier: each plane written to the OME-Zarr plate). The last two columns
are what that CPU time allows on two idle cores (`save()`: producer, then hub loop, in turn;
pipelined: the two overlap), for ingest alone (a burst into the hot tier, the writer catching
up later) and with the store writer's share (a stream sustained longer than the budget).

| path | GB/s | vs the same copy alone | vs one cached source | vs same-buffer memcpy | CPU ms producer | CPU ms hub loop | CPU ms hub, other threads | CPU ms store writer | GB/s the CPU allows: ingest (vs the same copy alone) | … with the disk tier |
|---|---|---|---|---|---|---|---|---|---|---|
{table}

Leases opened onto memory the producer had mapped before: {reused} reused, {mapped} mapped
or created (over all passes, the first one included).

Where the time went before, and what changed (profiled with per-thread CPU counters and
py-spy; 2048² uint16, warm). The producer spent 3.2 ms of CPU per plane: ~1.1 ms building and
tearing down the page tables of a new mapping of each leased segment, ~0.7 ms copying, the
rest request/reply. `mmap(MAP_POPULATE)` holds Python's GIL for the whole populate, so the
helper thread that mapped leases ahead stalled the thread that saves, and in the hub the
pool's filler (7 ms per fresh segment) and the store writer (0.9 ms per plane) stalled the
loop that answers producers. The store writer, at 2-4 ms of CPU per plane (a direct write of
the plane to the plate), took one of the two cores during a burst. Now:

- a producer keeps the mapping of every segment it filled and reuses it when the hub leases
  the same memory back (the hub recycles by renaming, so the inode is the same;
  `backends/mappings.py` says why that is safe, how memory the hub removed is released within
  0.5 s, and why a forked child closes them), so a warm save only copies;
- page tables for memory new to a producer are built by `madvise(MADV_POPULATE_WRITE)`, the
  filler allocates with `posix_fallocate`, the store writer maps without populating: all
  with the GIL released;
- the hub topped leases up only for a producer holding none (a bug): now to the wish, which
  covers the requests a pipelined producer has in flight;
- the store writer yields to a burst (it waits up to 50 ms per plane while items keep coming,
  never once the budget is three quarters full or a request waits for memory), so ingest gets
  the cores and the disk tier catches up in the pauses; the planes are in shared memory
  meanwhile;
- `backend.pipelined()` overlaps the copy of the next batch with the hub's accept of the
  last; `save()` still returns only once its plane is accepted.

The hub loop's work per accepted plane is renames and bookkeeping
({i["save"]["hub_loop_cpu_ms"]:.2f} ms by `save()`, {i["pipelined"]["hub_loop_cpu_ms"]:.2f} ms
in batches; no page touched). What remains between the pipelined path and the same copy
alone is the producer's request/reply work beside its copy (about a quarter of its CPU per
plane), and two cores shared by producer, hub loop and (later) the store writer. Same-buffer memcpy keeps much of an 8 MiB
plane in the CPU caches, and a single source plane stays partly cached, which no stream of
new planes can; the same copy alone is the bound for a stream.
"""


def _yes(ok: bool) -> str:
    return "yes" if ok else "no"


def headlines(result: dict[str, Any]) -> list[list[Any]]:
    p, r, i, d = result["plate"], result["recovery"], result["ingest"], result["disk"]
    return [
        [
            f"plate of {p['planes']} × 2048² ({p['bytes'] / GB:.0f} GB) through the default "
            f"budget, viewers: {', '.join(p['viewers']) or 'none'}: producer errors",
            p["errors"],
            "0",
            _yes(p["errors"] == 0),
        ],
        [
            "hub shared memory, peak, vs budget",
            f"{p['peak_shm'] / GB:.2f} of {p['budget'] / GB:.2f} GB",
            "≤ budget",
            _yes(p["peak_shm"] <= p["budget"]),
        ],
        [
            "plate: producer throughput vs the disk's write rate (dd)",
            f"{p['producer_gb_per_s']:.2f} vs {d['gb_per_s']:.2f} GB/s",
            "disk-bound",
            _yes(p["end_to_disk_gb_per_s"] >= 0.5 * d["gb_per_s"]),
        ],
        *_ingest_headlines(i),
        [
            f"recover a {r['bytes'] / GB:.0f} GB scene after SIGKILL (every item back)",
            f"{r['ready_s']:.1f} s",
            "",
            _yes(r["recovered_items"] == r["planes"]),
        ],
    ]


def _old_ingest_rows(i: dict[str, Any]) -> str:
    if "pipelined" in i:
        return ""
    return f"""| ingest 2048², warm pool (first touch) | {i["gb_per_s"]:.2f} GB/s ({i["first_pass_gb_per_s"]:.2f} GB/s) | memcpy into distinct warm planes {i["warm_ring_gb_per_s"]:.2f} GB/s ({i["ratio_ring"]:.0%}); same-buffer memcpy {i["memcpy_gb_per_s"]:.2f} GB/s ({i["ratio"]:.0%}) |
| ingest CPU per 2048² plane: producer, hub | {i["producer_cpu_ms"]:.1f} ms, {i["hub_cpu_ms"]:.1f} ms: {_cpu_bound_gbps(i):.2f} GB/s on two idle cores | {i["warm_ring_gb_per_s"]:.2f} GB/s |
"""


def _viewer_rows(p: dict[str, Any]) -> str:
    """Each viewer's memory over the whole plate: a longer run than its own plate part."""
    rows = ""
    for name, m in sorted(p.get("viewer_memory", {}).items()):
        rows += (
            f"| {name} RSS, peak; growth per plane over the 2nd half | "
            f"{m['peak_rss'] / GB:.2f} GB; {m['mb_per_plane']:+.3f} MB | ≤ 1.5 GB; flat |\n"
        )
    return rows


def section(result: dict[str, Any], out: Path) -> str:
    p, r, i, d = result["plate"], result["recovery"], result["ingest"], result["disk"]
    plot = _plot(result, out)
    if p["viewers"]:
        shown = ", ".join(f"{k} {v}" for k, v in sorted(p["shown"].items()))
        viewers = f"{', '.join(p['viewers'])} attached (planes shown: {shown})"
    else:
        viewers = "no viewers attached"
    table = f"""| | measured | this machine's limit, same run |
|---|---|---|
| producer errors | {p["errors"]} | |
| producer throughput | {p["producer_gb_per_s"]:.2f} GB/s ({p["produce_s"]:.0f} s) | disk write, dd conv=fdatasync: {d["gb_per_s"]:.2f} GB/s |
| accepted → all on disk | {p["end_to_disk_gb_per_s"]:.2f} GB/s (drain after the last plane: {p["drain_s"]:.1f} s) | {d["gb_per_s"]:.2f} GB/s |
| hub shared memory, peak | {p["peak_shm"] / GB:.2f} GB | budget {p["budget"] / GB:.2f} GB |
| hub RSS, peak (at start) | {p["peak_rss"] / GB:.2f} GB ({p["baseline_rss"] / GB:.2f} GB) | |
| hub RSS + shared memory, peak | {p["peak_rss_plus_shm"] / GB:.2f} GB | budget + the interpreter's own RSS |
| CPU per plane: hub (loop, store writer, fan-out), producer | {p["hub_cpu_ms_per_plane"]:.1f} ms, {p["producer_cpu_ms_per_plane"]:.1f} ms | |
{_viewer_rows(p)}| segments evicted once written (recycled into leases) | {p["evicted"]} ({p["pool"].get("recycled", 0)}) | |
{_old_ingest_rows(i)}| recover a {r["bytes"] / GB:.1f} GB scene after SIGKILL: hub ready, every item back | {r["ready_s"]:.1f} s ({r["recovered_items"]} of {r["planes"]} items) | |
| … and every plane on disk | {r["all_on_disk_s"]:.1f} s ({r["on_disk_at_kill"]} were on disk at the kill) | |"""
    return f"""## The scene store: a plate larger than RAM

{p["planes"]} planes of 2048² uint16 ({p["bytes"] / GB:.1f} GB; 100 wells × 9 sites × 4 channels)
streamed by one producer on the shm transport through a hub with a memory budget of
{p["budget"] / GB:.2f} GB, {viewers}. Every plane is written to the scene store (OME-Zarr
plate); written planes' segments are evicted, recycled and leased back to the producer.
Measured {p.get("measured", result.get("measured", ""))}; {result["machine_note"]}.

{table}

{f"![store]({plot})" if plot else ""}

Until the budget is full, every plane needs memory the machine has not touched yet (the
filler thread faults it in; on this virtual machine first-touch memory is several times
slower than memcpy), which is the slow first part of the plot. From then on the hub evicts
written planes and leases their warm segments back, and the stream runs at the disk's pace.

{_ingest_part(i)}"""
