"""Beyond one machine: a remote viewer over a network link, and producers on Dask workers.

1. **Remote viewer vs the link.** Hub on host A, ``hub attach recorder`` on host B (network
   namespaces joined by a veth link, see tests.helpers.netns), a producer on A. Throughput
   of 2048x2048 uint16 planes reaching the viewer, beside raw ZeroMQ on the same link in the
   same run: plain (the link's own limit) and with CURVE (the encryption every hub socket
   uses). A veth link is memory-speed, so these are CPU limits, not a network's.
2. **Dask workers into one hub.** A LocalCluster's worker processes (1, 2, 4) streaming
   2048x2048 planes through ``backends.workers`` into one hub, against a single process
   with one StreamingBackend; beside memcpy of the same plane measured in the same run.

Needs root for part 1 (skipped with the reason otherwise). CPU seconds of the hub are
reported beside wall time: the benchmark machine may be shared.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import zmq
import zmq.auth

from benchmarks.common import memcpy_gbps

SIDE = 2048
PORT = 7700
RAW_PORT = 7800


# ---------------------------------------------------------------- the processes on each host


def _source(endpoint: str, n: int, side: int, keys: str | None) -> None:
    """Host A: push ``n`` planes (after one small start message) to the sink."""
    sock = zmq.Context.instance().socket(zmq.PUSH)
    if keys:
        public, secret = zmq.auth.load_certificate(str(Path(keys) / "server.key_secret"))
        sock.curve_secretkey, sock.curve_publickey, sock.curve_server = secret, public, True
    sock.bind(endpoint)
    plane = np.ones((side, side), np.uint16)
    sock.send(b"start")
    for _ in range(n):
        sock.send(plane)  # copied: the buffer must outlive the send, whatever exits first
    sock.setsockopt(zmq.LINGER, 60000)
    sock.close()
    zmq.Context.instance().term()  # returns once everything queued was sent


def _sink(endpoint: str, n: int, keys: str | None) -> None:
    """Host B: receive the start message and ``n`` planes; print bytes and seconds."""
    from contract.keys import client_curve

    sock = zmq.Context.instance().socket(zmq.PULL)
    if keys:
        client_curve(sock, Path(keys))
    sock.setsockopt(zmq.RCVTIMEO, 120000)  # a source that died must not hang the benchmark
    sock.connect(endpoint)
    sock.recv()
    start, nbytes = time.perf_counter(), 0
    for _ in range(n):
        nbytes += len(sock.recv(copy=False))
    print(json.dumps({"bytes": nbytes, "s": time.perf_counter() - start}), flush=True)


def _produce(endpoint: str, keys: str, n: int, side: int) -> None:
    """Host A: stream ``n`` planes with one StreamingBackend; print when it started."""
    from backends import StreamingBackend

    with StreamingBackend(endpoint, keys_dir=keys) as backend:
        plane = np.ones((side, side), np.uint16)
        print(json.dumps({"start": time.time()}), flush=True)
        for t in range(n):
            backend.save(plane, well="A01", site=1, channel=1, timepoint=t)


# ---------------------------------------------------------------- part 1: over the link


def _run_on(hosts: Any, host: str, args: list[str], log: Path, timeout_s: float = 600) -> str:
    code = hosts.run(host, ["python", "-m", "benchmarks.bench_remote", *args], log, timeout_s)
    if code != 0:
        raise RuntimeError(f"{args[0]} on {host} failed:\n{log.read_text()[-2000:]}")
    return log.read_text().strip().splitlines()[-1]


def _raw(hosts: Any, tmp: Path, n: int, side: int, keys: str | None) -> float:
    """MB/s of plain (or CURVE) ZeroMQ from A to B on the veth link."""
    tag = "curve" if keys else "plain"
    source = hosts.start(
        "a",
        ["python", "-m", "benchmarks.bench_remote", "source", f"tcp://0.0.0.0:{RAW_PORT}"]
        + [str(n), str(side), keys or ""],
        tmp / f"source-{tag}.log",
    )
    endpoint = f"tcp://{hosts.hub_address('b')}:{RAW_PORT}"
    result = json.loads(_run_on(hosts, "b", ["sink", endpoint, str(n), keys or ""], tmp / tag))
    source.wait(60)
    return result["bytes"] / result["s"] / 1e6


def _remote_viewer(hosts: Any, tmp: Path, n: int, side: int) -> dict[str, Any]:
    from contract.connection import HubConnection
    from contract.keys import make_keys
    from tests.conftest import read_received, wait_for

    keys = tmp / "keys"
    make_keys(keys)
    ready = tmp / "ready.json"
    hub = hosts.start(
        "a",
        ["python", "-m", "hub", "serve", "--host", "0.0.0.0", "--viewer-host", "0.0.0.0"]
        + ["--port", str(PORT), "--keys", str(keys), "--ready-file", str(ready)]
        + ["--store", str(tmp / "store")],
        tmp / "hub.log",
    )
    wait_for(lambda: ready.exists() or hub.poll() is not None, 60, "hub")
    conn = HubConnection(f"tcp://{hosts.hub_address('root')}:{PORT}", keys_dir=keys)
    outdir = tmp / "recorder"
    hosts.start(
        "b",
        ["python", "-m", "hub", "attach", "recorder", "--name", "remote", "--keys", str(keys)]
        + ["--hub", f"tcp://{hosts.hub_address('b')}:{PORT}"]
        + ["--options", json.dumps({"outdir": str(outdir), "checksum": False, "tiff": False})],
        tmp / "viewer.log",
    )
    try:
        wait_for(
            lambda: conn.control("status")["status"]["viewers"].get("remote", {}).get("connected"),
            60,
            "the remote viewer",
        )
        hub_cpu = psutil.Process(json.loads(ready.read_text())["pid"]).cpu_times()
        line = _run_on(
            hosts,
            "a",
            ["produce", f"tcp://127.0.0.1:{PORT}", str(keys), str(n), str(side)],
            tmp / "produce.log",
        )
        start = json.loads(line)["start"]
        wait_for(lambda: len(read_received(outdir)) >= n, 600, "every plane on the remote viewer")
        end = max(r["time"] for r in read_received(outdir))
        hub_after = psutil.Process(json.loads(ready.read_text())["pid"]).cpu_times()
    finally:
        conn.close()
    cpu = (hub_after.user + hub_after.system) - (hub_cpu.user + hub_cpu.system)
    seconds = end - start
    return {
        "planes": n,
        "mb_per_s": n * side * side * 2 / seconds / 1e6,
        "planes_per_s": n / seconds,
        "hub_cpu_s": round(cpu, 2),
        "seconds": round(seconds, 2),
    }


def run_link(quick: bool) -> dict[str, Any]:
    from tests.helpers import netns

    why = netns.unavailable()
    if why:
        return {"skipped": why}
    n, side = (4, 256) if quick else (32, SIDE)
    tmp = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    hosts = netns.Hosts()
    try:
        viewer = _remote_viewer(hosts, tmp, n, side)
        keys = str(tmp / "keys")
        return {
            "side": side,
            "viewer": viewer,
            "raw_mb_per_s": _raw(hosts, tmp, n, side, None),
            "raw_curve_mb_per_s": _raw(hosts, tmp, n, side, keys),
        }
    finally:
        hosts.close()
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- part 2: Dask workers


def _dask_save(t: int, endpoint: str, side: int) -> int:
    from backends import workers

    plane = np.full((side, side), t, np.uint16)
    workers.save(plane, endpoint=endpoint, well="A01", site=1, channel=1, timepoint=t)
    return t


def _dask_make(t: int, side: int) -> int:
    """The same task without streaming: what the workers manage on their own."""
    plane = np.full((side, side), t, np.uint16)
    return int(plane[0, 0])


def run_dask(quick: bool) -> dict[str, Any]:
    try:
        import distributed
    except ImportError:
        return {"skipped": "dask distributed is not installed (pip install viewerhub[test])"}
    from backends import StreamingBackend
    from hub.launcher import launch

    n, side, counts = (4, 256, (1, 2)) if quick else (64, SIDE, (1, 2, 4))
    plane_mb = side * side * 2 / 1e6
    rows = []
    hub = launch([], memory_budget=4 * 1024**3)
    hub_process = psutil.Process(hub.pid)
    try:
        with StreamingBackend(hub=hub) as backend:  # one process: the reference
            for t in range(n):  # a pass unmeasured: the hub's memory as warm as for the others
                backend.save(np.full((side, side), t, np.uint16), timepoint=t)
            hub.clear()
            cpu0, start = sum(hub_process.cpu_times()[:2]), time.perf_counter()
            for t in range(n):
                backend.save(np.full((side, side), t, np.uint16), timepoint=t)
            seconds = time.perf_counter() - start
            rows.append(_row("single process", n, plane_mb, seconds, hub_process, cpu0))
        with (
            distributed.LocalCluster(
                n_workers=max(counts), threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            addresses = sorted(client.scheduler_info()["workers"])
            for count in counts:
                chosen = addresses[:count]
                # an unmeasured pass, as for the single process: connected workers, warm memory
                client.gather(
                    [
                        client.submit(_dask_save, 0, hub.ingest, side, workers=[w], pure=False)
                        for w in chosen
                    ]
                    + [
                        client.submit(_dask_save, t, hub.ingest, side, workers=chosen, pure=False)
                        for t in range(1, n + 1)
                    ]
                )
                hub.clear()
                start = time.perf_counter()
                client.gather(
                    [
                        client.submit(_dask_make, t, side, workers=chosen, pure=False)
                        for t in range(1, n + 1)
                    ]
                )
                alone = n / (time.perf_counter() - start)
                cpu0, start = sum(hub_process.cpu_times()[:2]), time.perf_counter()
                futures = [
                    client.submit(_dask_save, t, hub.ingest, side, workers=chosen, pure=False)
                    for t in range(1, n + 1)
                ]
                client.gather(futures)
                seconds = time.perf_counter() - start
                row = _row(f"{count} Dask worker(s)", n, plane_mb, seconds, hub_process, cpu0)
                rows.append({**row, "tasks_alone_per_s": round(alone, 1)})
    finally:
        hub.stop()
    return {
        "side": side,
        "planes": n,
        "rows": rows,
        "memcpy_gb_per_s": memcpy_gbps((side, side), "uint16"),
        "cores": os.cpu_count(),
    }


def _row(
    what: str, n: int, plane_mb: float, seconds: float, hub: psutil.Process, cpu0: float
) -> dict:
    return {
        "what": what,
        "planes_per_s": round(n / seconds, 1),
        "mb_per_s": round(n * plane_mb / seconds, 1),
        "hub_cpu_s": round(sum(hub.cpu_times()[:2]) - cpu0, 2),
    }


def run(quick: bool) -> dict[str, Any]:
    return {"link": run_link(quick), "dask": run_dask(quick)}


# ---------------------------------------------------------------- report


def section(result: dict[str, Any], out: Path) -> str:
    lines = ["## Beyond one machine: remote viewers and Dask producers", ""]
    link = result.get("link", {})
    if "skipped" in link:
        lines += [f"Remote viewer over a link: skipped ({link['skipped']}).", ""]
    else:
        v, side = link["viewer"], link["side"]
        lines += [
            f"Hub on host A, `hub attach recorder` on host B (network namespaces joined by a "
            f"veth link), {v['planes']} planes of {side}x{side} uint16 from a producer on A. "
            "The veth link runs at memory speed, so every row is a CPU limit of this machine.",
            "",
            "| path over the same link, same run | MB/s |",
            "|---|---|",
            f"| raw ZeroMQ, no encryption (the link's limit) | {link['raw_mb_per_s']:.0f} |",
            f"| raw ZeroMQ with CURVE (what every hub socket uses) | {link['raw_curve_mb_per_s']:.0f} |",
            f"| producer -> hub -> remote viewer (CURVE, credits, kept in the viewer's memory) | "
            f"{v['mb_per_s']:.0f} ({v['planes_per_s']:.1f} planes/s; hub CPU {v['hub_cpu_s']} s) |",
            "",
        ]
    dask = result.get("dask", {})
    if "skipped" in dask:
        lines += [f"Dask producers: skipped ({dask['skipped']}).", ""]
    else:
        lines += [
            f"Producers streaming {dask['planes']} planes of {dask['side']}x{dask['side']} "
            f"uint16 into one hub on this host (shared memory), each plane made in the task "
            f"(`np.full`); memcpy of one plane in the same run: "
            f"{dask['memcpy_gb_per_s']:.1f} GB/s. The workers, the hub and the benchmark share "
            f"the machine's {dask.get('cores', '?')} cores, so more workers than cores cannot "
            "scale here. The last column runs the same tasks without streaming: Dask's own cost "
            "per task (scheduling, a round trip per task) on this machine, the limit the "
            "workers' rate is to be read against; the single process has no such cost.",
            "",
            "| producer | planes/s | MB/s | hub CPU s | the same tasks without streaming, /s |",
            "|---|---|---|---|---|",
        ]
        for row in dask["rows"]:
            lines.append(
                f"| {row['what']} | {row['planes_per_s']} | {row['mb_per_s']} | "
                f"{row['hub_cpu_s']} | {row.get('tasks_alone_per_s', '-')} |"
            )
        lines.append("")
    lines.append(
        "Measured on a machine shared with other work: wall-clock rates are pessimistic; "
        "the hub's CPU seconds are its own."
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """The processes part 1 starts on each host (``python -m benchmarks.bench_remote ...``)."""
    mode, rest = (argv[0] if argv else ""), argv[1:]
    if mode == "source":
        _source(rest[0], int(rest[1]), int(rest[2]), rest[3] or None)
    elif mode == "sink":
        _sink(rest[0], int(rest[1]), rest[2] or None)
    elif mode == "produce":
        _produce(rest[0], rest[1], int(rest[2]), int(rest[3]))
    else:
        print(json.dumps(run("--quick" in argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
