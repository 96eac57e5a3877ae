"""Producer seconds per 100 planes of 2048x2048 uint16: the OpenHCS sender, one blocking
connection per viewer (to stand-in viewer servers that copy the pixels), against our
StreamingBackend sending once to the hub, which serves every viewer. 1 and 2 viewers;
one plane per call and ten planes per call."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time

import numpy as np
import zmq

# The sender binds an ack listener on its ack port; keep ours off a real OpenHCS's 7555.
os.environ.setdefault("POLYSTORE_ZMQ_ACK_PORT", "7999")

from backends import StreamingBackend  # noqa: E402
from hub.launcher import launch  # noqa: E402
from hub.openhcs import IPC_FLAVOURS, ipc_path  # noqa: E402


def _openhcs(planes, n_viewers: int, per_call: int) -> float:
    sys.path.insert(0, ".")
    from tests.helpers import openhcs_sender as sender

    base = random.randrange(40000, 49000, 20)
    viewers = [("napari", base), ("fiji", base + 10)][:n_viewers]
    servers = [
        subprocess.Popen([sys.executable, "-m", "benchmarks.openhcs_standin", str(p)])
        for _, p in viewers
    ]
    time.sleep(1.0)
    backends = {name: sender.backend(name) for name, _ in viewers}
    comps = [{"channel": 1, "z_index": i} for i in range(len(planes))]
    try:
        start = time.perf_counter()
        for first in range(0, len(planes), per_call):
            chunk = planes[first : first + per_call]
            for name, port in viewers:  # OpenHCS streams to each viewer in turn
                sender.send(
                    backends[name],
                    name,
                    chunk,
                    [f"p{first + k}.tif" for k in range(len(chunk))],
                    comps[first : first + per_call],
                    port=port,
                    transport="ipc",
                )
        return time.perf_counter() - start
    finally:
        for (_, port), server in zip(viewers, servers):
            sock = zmq.Context.instance().socket(zmq.REQ)
            sock.connect(f"ipc://{ipc_path(port, *IPC_FLAVOURS[0])}")
            sock.send_json({"type": "stop"})
            sock.poll(5000)
            sock.close(linger=0)
            server.wait(10)


def _hub(planes, n_viewers: int, per_call: int) -> float:
    options = {"recorder": {"outdir": tempfile.mkdtemp(prefix="vh-bench-"), "tiff": False}}
    hub = launch(["recorder"] * n_viewers, viewer_options=options, memory_budget=16 * 1024**3)
    try:
        hub.wait_viewers(timeout_s=60)
        with StreamingBackend(hub=hub) as backend:
            start = time.perf_counter()
            for first in range(0, len(planes), per_call):
                chunk = planes[first : first + per_call]
                backend.save_batch(
                    chunk,
                    [""] * len(chunk),
                    components=[{"channel": 1, "z_index": first + k} for k in range(len(chunk))],
                )
            return time.perf_counter() - start
    finally:
        hub.stop()


def run(quick: bool) -> dict:
    n = 20 if quick else 100
    rng = np.random.default_rng(0)
    base = [rng.integers(0, 4000, (2048, 2048), dtype=np.uint16) for _ in range(4)]
    planes = [base[i % 4] for i in range(n)]
    rows = []
    for n_viewers in (1, 2):
        for per_call in (1, 10):
            today = _openhcs(planes, n_viewers, per_call)
            ours = _hub(planes, n_viewers, per_call)
            rows.append(
                {
                    "viewers": n_viewers,
                    "planes_per_call": per_call,
                    "openhcs_s_per_100": today * 100 / n,
                    "hub_s_per_100": ours * 100 / n,
                    "speedup": today / ours,
                }
            )
    return {"planes": n, "rows": rows}


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv)))
