"""A bounded soak: 20,000 items, two viewers, one killed and restarted midway.

Hub RSS, open file descriptors and shared-memory segments are sampled at every scene
boundary; at the end all are flat, every item of the last scene reached both viewers, and
nothing accepted was lost.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import psutil
import pytest

from backends import StreamingBackend
from tests.conftest import hub_segments, wait_for

TOTAL, SCENE, BATCH = 20_000, 2_000, 50


@pytest.mark.timeout(600)
def test_soak_twenty_thousand_items_with_a_restart(start_hub, tmp_path):
    hub = start_hub(
        ("recorder", "recorder"),
        viewer_options={
            "recorder": {"outdir": str(tmp_path / "rec"), "tiff": False, "checksum": False}
        },
    )
    hub.wait_viewers(timeout_s=60)
    process = psutil.Process(hub.pid)
    planes = [np.full((64, 64), i, np.uint16) for i in range(BATCH)]
    samples = []
    killed = False
    with StreamingBackend(hub=hub) as backend:
        for sent in range(0, TOTAL, BATCH):
            backend.save_batch(
                planes,
                [""] * BATCH,
                components=[
                    {"channel": 1, "z_index": k, "timepoint": sent // BATCH} for k in range(BATCH)
                ],
            )
            done = sent + BATCH
            if done == TOTAL // 2 and not killed:
                os.kill(hub.status()["viewers"]["recorder-2"]["pid"], signal.SIGKILL)
                killed = True
            if done % SCENE == 0 and done < TOTAL:
                hub.wait_viewers(n_items=SCENE, timeout_s=120)
                hub.clear()
                # the store's writer opens files while it works: sample when it is idle
                wait_for(lambda: hub.status()["store"]["write_queue"] == 0, 60)
                samples.append(
                    {
                        "items": done,
                        "rss_mb": process.memory_info().rss / 1e6,
                        "fds": process.num_fds(),
                        "segments": len(hub_segments(hub.pid)),
                    }
                )
    status = hub.wait_viewers(n_items=SCENE, timeout_s=120)
    assert status["hub"]["accepted_items"] == TOTAL
    assert status["hub"]["errors_total"] == 0
    assert status["viewers"]["recorder-2"]["restarts"] == 1
    for name in ("recorder", "recorder-2"):
        assert status["viewers"][name]["shown"] == SCENE and status["viewers"][name]["queued"] == 0
    assert all(s["segments"] == 0 for s in samples)  # a clear releases every segment
    settled = samples[2:]  # after start-up allocations
    assert max(s["fds"] for s in settled) - min(s["fds"] for s in settled) <= 4, samples
    assert settled[-1]["rss_mb"] < settled[0]["rss_mb"] * 1.25 + 10, samples
    wait_for(lambda: len(hub_segments(hub.pid)) == SCENE, 5)  # the live scene, nothing more
    (tmp_path / "soak_samples.txt").write_text(repr(samples))
