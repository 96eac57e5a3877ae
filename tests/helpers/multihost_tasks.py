"""What the producer host runs in the multi-host tests: ``python -m tests.helpers.multihost_tasks``.

``produce ENDPOINT KEYS N FIRST [PAUSE_S [SIZE]]``: N planes from one StreamingBackend (frames over
TCP), timepoints FIRST.., a pause between saves; exits 1 on any error. ``dask ENDPOINT KEYS N
FIRST``: the same N planes from the workers of a LocalCluster started here (the recipe of
``backends.workers``). Both print one JSON line: what was sent, with a checksum per plane.
"""

from __future__ import annotations

import json
import os
import sys
import time
import zlib

import numpy as np


def plane(timepoint: int, size: int = 64) -> np.ndarray:
    return np.random.default_rng(timepoint).integers(0, 4000, (size, size), dtype=np.uint16)


def components(timepoint: int) -> dict:
    return {"well": "A01", "site": 1, "channel": 1, "z_index": 1, "timepoint": timepoint}


def _dask_task(timepoint: int, endpoint: str, keys: str) -> tuple[int, int, int]:
    from backends import workers

    workers.save(plane(timepoint), endpoint=endpoint, keys_dir=keys, **components(timepoint))
    return timepoint, os.getpid(), id(workers.backend(endpoint, keys_dir=keys))


def produce(
    endpoint: str, keys: str, n: int, first: int, pause_s: float, size: int = 64
) -> list[int]:
    from backends import StreamingBackend

    with StreamingBackend(endpoint, keys_dir=keys, timeout_s=30.0) as backend:
        assert backend.transport == "frames", backend.transport
        for t in range(first, first + n):
            backend.save(plane(t, size), **components(t))
            time.sleep(pause_s)
    return list(range(first, first + n))


def dask(endpoint: str, keys: str, n: int, first: int) -> list[int]:
    import distributed

    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        futures = [
            client.submit(_dask_task, t, endpoint, keys, pure=False)
            for t in range(first, first + n)
        ]
        results = client.gather(futures)
    assert len({pid for _, pid, _ in results}) == 2, "both worker processes streamed"
    # one connection per worker thread, reused by its later tasks (not one per task)
    assert len({(pid, conn) for _, pid, conn in results}) == 2 < n
    return sorted(t for t, _, _ in results)


def main(argv: list[str]) -> int:
    mode, endpoint, keys, n, first = argv[0], argv[1], argv[2], int(argv[3]), int(argv[4])
    if mode == "produce":
        pause_s = float(argv[5]) if len(argv) > 5 else 0.0
        sent = produce(endpoint, keys, n, first, pause_s, int(argv[6]) if len(argv) > 6 else 64)
    else:
        sent = dask(endpoint, keys, n, first)
    print(json.dumps({t: zlib.crc32(plane(t)) for t in sent}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
