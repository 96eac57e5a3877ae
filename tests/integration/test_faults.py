"""Faults survived with real processes: hung viewers, killed producers, a killed hub."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from backends import StreamingBackend
from contract import shm
from hub import HubTimeoutError
from tests.conftest import hub_segments, wait_for

FAST_SUPERVISION = ["--heartbeat-timeout", "1", "--hang-restart", "4"]


def _plane(i: int) -> np.ndarray:
    return np.full((32, 32), i, np.uint16)


def _state(hub, name):
    return hub.status()["viewers"][name]["state"]


@pytest.fixture
def two_recorders(start_hub, tmp_path):
    hub = start_hub(
        ("recorder", "recorder"),
        extra_args=FAST_SUPERVISION,
        viewer_options={"recorder": {"outdir": str(tmp_path / "rec"), "tiff": False}},
    )
    hub.wait_viewers(timeout_s=60)
    return hub


def test_stopped_viewer_is_reported_hung_nobody_waits_and_it_catches_up(two_recorders):
    hub = two_recorders
    stopped = hub.status()["viewers"]["recorder-2"]["pid"]
    os.kill(stopped, signal.SIGSTOP)
    try:
        with StreamingBackend(hub=hub) as backend:
            start = time.monotonic()
            for i in range(100):
                backend.save(_plane(i), "", channel=1, z_index=i)
            producer_s = time.monotonic() - start
        hub.wait_viewers(n_items=100, timeout_s=30, names=["recorder"])  # the other one: all
        wait_for(lambda: _state(hub, "recorder-2") == "hung", 10, "hung state")
        assert producer_s < 5  # the producer never waited for the stopped viewer
    finally:
        os.kill(stopped, signal.SIGCONT)
    status = hub.wait_viewers(n_items=100, timeout_s=30)  # recovered, caught up
    assert status["viewers"]["recorder-2"]["pid"] == stopped  # not restarted
    assert status["viewers"]["recorder-2"]["restarts"] == 0


def test_viewer_hung_too_long_is_restarted_and_gets_the_whole_scene(two_recorders, tmp_path):
    hub = two_recorders
    stopped = hub.status()["viewers"]["recorder-2"]["pid"]
    with StreamingBackend(hub=hub) as backend:
        for i in range(20):
            backend.save(_plane(i), "", channel=1, z_index=i)
        os.kill(stopped, signal.SIGSTOP)
        for i in range(20, 40):
            backend.save(_plane(i), "", channel=1, z_index=i)
    wait_for(lambda: hub.status()["viewers"]["recorder-2"]["restarts"] == 1, 20, "a restart")
    status = hub.wait_viewers(n_items=40, timeout_s=60)
    assert status["viewers"]["recorder-2"]["pid"] != stopped
    with pytest.raises(ProcessLookupError):
        os.kill(stopped, 0)  # the hung process was killed, not left behind


PRODUCER = textwrap.dedent("""
    import sys, numpy as np
    from backends import StreamingBackend
    backend = StreamingBackend(sys.argv[1])
    print("ready", flush=True)
    n = 0
    while True:
        planes = [np.full((64, 64), n + k, np.uint16) for k in range(10)]
        backend.save_batch(planes, [""] * 10, components=[{"channel": 1, "z_index": n + k}
                                                          for k in range(10)])
        n += 10
""")


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.5])
def test_producer_killed_mid_batch_leaves_whole_batches_and_no_segment(start_hub, delay):
    hub = start_hub(viewers=())
    producer = subprocess.Popen(
        [sys.executable, "-c", PRODUCER, hub.ingest], stdout=subprocess.PIPE, text=True
    )
    assert producer.stdout.readline().strip() == "ready"
    time.sleep(delay)
    producer.kill()
    producer.wait()
    items = hub.status()["hub"]["items"]
    assert items % 10 == 0  # whole batches only
    marker = f"-p{producer.pid}-"
    wait_for(
        lambda: not [n for n in shm.list_ours() if marker in n],
        10,
        "the dead producer's segments to be swept",
    )


def test_killed_hub_gives_the_producer_a_clear_error_and_the_next_hub_sweeps(start_hub):
    hub = start_hub(viewers=())
    backend = StreamingBackend(hub=hub, timeout_s=3)
    for i in range(5):
        backend.save(_plane(i), "", channel=1, z_index=i)
    hub.process.kill()
    hub.process.wait()
    start = time.monotonic()
    with pytest.raises(HubTimeoutError, match="did not answer"):
        backend.save(_plane(9), "", channel=1, z_index=9)
    assert time.monotonic() - start < 5
    backend.close()
    start_hub(viewers=())  # (any running hub sweeps a dead hub's segments; a new one at start)
    assert hub_segments(hub.pid) == []


def test_crash_looping_viewer_is_given_up_after_the_restart_limit(start_hub, tmp_path):
    hub = start_hub(
        viewers=("recorder",), viewer_options={"recorder": {"outdir": "/proc/not-writable"}}
    )  # start() fails every time
    wait_for(lambda: _state(hub, "recorder") == "failed", 60, "failed state")
    status = hub.status()
    assert status["viewers"]["recorder"]["restarts"] == 5
    assert hub.ping()["pong"] is True
