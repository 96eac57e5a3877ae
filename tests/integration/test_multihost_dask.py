"""Producers on a Dask cluster: worker processes stream a small plate into one hub.

Each task carries only the hub's address; the worker connects on first use (no pickled
sockets, see backends.workers). The cluster's workers are real processes here; the same recipe
across real hosts runs in test_multihost.py (network namespaces).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from backends import workers
from tests.helpers import netns

distributed = pytest.importorskip("distributed", reason="dask distributed is a test extra")
pytestmark = pytest.mark.skipif(
    netns.unavailable() is None,
    reason="Dask workers stream from another (namespaced) host in test_multihost.py; "
    "this same-host variant runs where namespaces cannot be made",
)

WELLS, SITES, CHANNELS = ("A01", "B02"), (1, 2), (1, 2, 3)


def _task(well: str, site: int, channel: int, endpoint: str) -> tuple[int, int]:
    """What a pipeline's task does: compute a plane, stream it, return something small."""
    seed = hash((well, site, channel)) % 2**32
    plane = np.random.default_rng(seed).integers(0, 4000, (64, 64), dtype=np.uint16)
    workers.save(plane, endpoint=endpoint, well=well, site=site, channel=channel, z_index=1)
    return os.getpid(), id(workers.backend(endpoint))


def test_dask_workers_stream_a_plate_into_one_hub(start_hub):
    hub = start_hub(())
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        futures = [
            client.submit(_task, w, s, c, hub.ingest, pure=False)
            for w in WELLS
            for s in SITES
            for c in CHANNELS
        ]
        results = client.gather(futures)
    planes = len(WELLS) * len(SITES) * len(CHANNELS)
    assert len({pid for pid, _ in results}) == 2, "both worker processes streamed"
    # one connection per worker thread, reused by its later tasks (not one per task)
    assert len(set(results)) <= 4 < planes
    status = hub.status()["hub"]
    assert status["items"] == planes
