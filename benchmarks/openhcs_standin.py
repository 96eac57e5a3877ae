"""A stand-in for today's OpenHCS viewer server, receiving side only: REP on the data port,
attach each shared-memory segment, copy it out, reply ``success``. No display, so the
comparison with the hub measures transport and protocol, not drawing.

    python -m benchmarks.openhcs_standin PORT
"""

from __future__ import annotations

import sys
from multiprocessing import resource_tracker, shared_memory

import numpy as np
import zmq

from hub.openhcs import IPC_FLAVOURS, ipc_path


def serve(port: int) -> None:
    sock = zmq.Context.instance().socket(zmq.REP)
    path = ipc_path(port, *IPC_FLAVOURS[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    sock.bind(f"ipc://{path}")
    kept = []
    while True:
        message = sock.recv_json()
        if message.get("type") == "stop":
            sock.send_json({"status": "success"})
            return
        for item in message.get("images", []):
            if item.get("data_type") != "image":
                continue
            segment = shared_memory.SharedMemory(name=item["shm_name"])
            resource_tracker.unregister(segment._name, "shared_memory")
            array = np.ndarray(item["shape"], dtype=item["dtype"], buffer=segment.buf).copy()
            segment.close()
            kept.append(array)
            if len(kept) > 16:
                kept.pop(0)
        sock.send_json({"status": "success", "message": "copied"})


if __name__ == "__main__":
    serve(int(sys.argv[1]))
