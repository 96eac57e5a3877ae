"""Run the real OpenHCS sender (whichever polystore this Python has) and count its acks.

``python tests/helpers/openhcs_acks.py --targets napari=PORT[,fiji=PORT] ...`` streams
``--batches`` batches of ``--planes`` planes to every target, as an OpenHCS pipeline with
those streaming targets enabled does, then waits for the acks the sender's own ack listener
accepts (polystore 0.2.x: its fixed ack port; 0.6: the return route of each item, checked
against the listener's incarnation). Prints one JSON line: version, sent, acks, send_s.
Run in a separate venv for polystore 0.6 (tests/integration/test_openhcs_senders.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.helpers import openhcs_sender as sender  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", required=True, help="napari=PORT,fiji=PORT")
    parser.add_argument("--transport", default="ipc")
    parser.add_argument("--batches", type=int, default=1)
    parser.add_argument("--planes", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--wait", type=float, default=20.0)
    args = parser.parse_args()
    from zmqruntime.ack_listener import GlobalAckListener

    acks: list[str] = []
    lock = threading.Lock()

    def on_ack(ack) -> None:
        with lock:
            acks.append(ack.image_id)

    GlobalAckListener().register_callback(on_ack)
    targets = [(name, int(port)) for name, port in (t.split("=") for t in args.targets.split(","))]
    backends = {name: sender.backend(name) for name, _ in targets}
    sent = 0
    start = time.perf_counter()
    for b in range(args.batches):
        planes = [sender.plane(b * args.planes + i, args.size) for i in range(args.planes)]
        comps = [
            {"well": "A01", "site": 1, "channel": 1, "z_index": b * args.planes + i + 1}
            for i in range(args.planes)
        ]
        paths = [f"A01_z{c['z_index']}.tif" for c in comps]
        for name, port in targets:  # the pipeline streams to each enabled target in turn
            sender.send(
                backends[name], name, planes, paths, comps, port=port, transport=args.transport
            )
            sent += len(planes)
    send_s = time.perf_counter() - start
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        with lock:
            if len(acks) >= sent:
                break
        time.sleep(0.05)
    print(
        json.dumps(
            {
                "polystore": version("polystore"),
                "zmqruntime": version("zmqruntime"),
                "sent": sent,
                "acks": len(acks),
                "unique_acks": len(set(acks)),
                "send_s": round(send_s, 3),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
