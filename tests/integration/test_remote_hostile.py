"""Hostile clients on the viewer port, as a remote viewer would reach it (pixels as frames).

A client with the hub's keys is trusted to connect, not to behave: it may say hello and never
read, ack items it never got, say hello again to restart its replay, or send garbage and
oversized frames. The hub's memory for it stays bounded and everybody else carries on. One hub
(with a recorder) serves the module; the tests run on loopback, which is the same socket the
hub opens to other hosts with ``--viewer-host`` (the cross-host runs are in test_multihost).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from backends import StreamingBackend
from hub.remote_viewers import QUEUE_BYTES
from tests.conftest import wait_for
from tests.helpers.raw import dealer

PLANE = (1024, 1024)  # 2 MiB of uint16
PLANES = 48  # 96 MiB: more than the queue cap, each replay of it


@pytest.fixture(scope="module")
def hub(start_module_hub):
    handle = start_module_hub(viewers=("recorder",))
    handle.wait_viewers(timeout_s=60)
    return handle


def _anon_bytes(pid: int) -> int:
    """The process's anonymous memory (heap, ZeroMQ buffers), not its shared-memory segments."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no RssAnon in /proc status")


def _hello(sock: zmq.Socket, name: str) -> None:
    body = {"kind": "hello", "name": name, "pid": os.getpid(), "pixels": "frames"}
    sock.send(json.dumps({**body, "credits": 1024}).encode())


def _ack_everything(sock: zmq.Socket, scene: int, upto: int) -> None:
    sock.send(json.dumps({"kind": "ack", "scene": scene, "acks": list(range(upto))}).encode())


def test_a_remote_viewer_that_never_reads_holds_only_its_queue_cap_of_hub_memory(hub):
    """It says hello with the largest window, acks every index, says hello again (each a full
    replay) and never reads: the hub queues at most QUEUE_BYTES for it, the producer and the
    recorder do not notice."""
    hub.clear()
    scene = hub.status()["hub"]["scene"]
    hog = dealer(hub.viewer_endpoint)
    try:
        _hello(hog, "hog")
        wait_for(lambda: "hog" in hub.status()["viewers"], 10, "the hog's session")
        before = _anon_bytes(hub.pid)
        start = time.monotonic()
        with StreamingBackend(hub=hub) as backend:
            for t in range(PLANES):
                backend.save(np.full(PLANE, t, np.uint16), "", well="A01", timepoint=t)
                if t % 8 == 7:  # acks for what it never read, and a replay from the start
                    _ack_everything(hog, scene, PLANES)
                    _hello(hog, "hog")
        produced_s = time.monotonic() - start
        for _ in range(3):
            _ack_everything(hog, scene, PLANES)
            _hello(hog, "hog")
            time.sleep(0.2)
        hub.wait_viewers(n_items=PLANES, timeout_s=60, names=["recorder"])
        status = hub.status()["viewers"]["hog"]
        grown = _anon_bytes(hub.pid) - before
    finally:
        hog.close(0)
    assert status["queued_bytes"] <= QUEUE_BYTES + PLANE[0] * PLANE[1] * 2, status
    # without the cap, each of the 9 replays queued up to all 96 MiB again
    assert grown < QUEUE_BYTES + (48 << 20), f"hub memory grew {grown >> 20} MiB"
    assert produced_s < 30, f"the producer was held back ({produced_s:.1f} s)"
    assert hub.ping()["pong"]


def test_garbage_huge_frames_and_acks_for_unsent_items_leave_the_hub_serving(hub):
    hub.clear()
    scene = hub.status()["hub"]["scene"]
    junk = dealer(hub.viewer_endpoint)
    try:
        junk.send(os.urandom(4096))
        junk.send(b"[" * 100_000 + b"]" * 100_000)  # nesting far beyond the cap
        junk.send(b'{"kind":"hello","name":"junk","credits":1e400,"pixels":"frames"}')
        _hello(junk, "junk")
        wait_for(lambda: "junk" in hub.status()["viewers"], 10, "the junk session")
        junk.send(
            json.dumps(
                {"kind": "ack", "scene": scene, "acks": [-1, 2**62, "x", [None, 1], *range(10_000)]}
            ).encode()
        )
        junk.send(json.dumps({"kind": "ack", "scene": scene + 7, "acks": [0, 1]}).encode())
        junk.send_multipart([b"{}", b"x" * 1000])  # frames a viewer never sends
        with StreamingBackend(hub=hub) as backend:
            backend.save(np.full((64, 64), 3, np.uint16), "", well="B02", timepoint=1)
        hub.wait_viewers(n_items=1, timeout_s=30, names=["recorder"])
        junk_status = hub.status()["viewers"]["junk"]
        assert junk_status["shown"] == 0, "acks for items never sent counted as shown"

        monitor = junk.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        junk.send(bytes(16 << 20))  # one frame above the header cap: not read, cut off
        assert monitor.poll(5000), "the hub read a 16 MiB frame from a viewer client"
        assert recv_monitor_message(monitor)["event"] == zmq.EVENT_DISCONNECTED
        junk.disable_monitor()
        monitor.close(0)
    finally:
        junk.close(0)
    assert hub.ping()["pong"]
    assert hub.status()["viewers"]["recorder"]["errors"] == 0


def test_a_second_remote_viewer_under_a_live_ones_name_is_refused_not_swapped_in(hub, tmp_path):
    """Two `hub attach` with one name used to take the session from each other at every
    heartbeat, each time replaying the scene to both; now the second is told to pick a name,
    and gets in once the first has left."""
    from viewers.recorder import RecorderViewer
    from viewers.remote import RemoteViewerClient, wait_welcome

    def attach(folder: str) -> RemoteViewerClient:
        viewer = RecorderViewer(outdir=str(tmp_path / folder))
        viewer.start()
        return RemoteViewerClient(
            hub.viewer_endpoint, "desk", viewer, spill_dir=tmp_path / f"spill-{folder}"
        )

    first = attach("first")
    second = None
    try:
        assert wait_welcome(first, 10)
        second = attach("second")
        deadline = time.monotonic() + 2.5  # several heartbeats of both
        while time.monotonic() < deadline:
            first.poll_once(20)
            second.poll_once(20)
        assert second.scene is None and "in use" in (second.refused or ""), second.refused
        assert first.welcomes == 1, "the first viewer's session was taken over"
        first.close()  # bye: the name is free
        assert wait_welcome(second, 10) and second.refused is None
        wait_for(lambda: hub.status()["viewers"]["desk"]["state"] == "running", 10, "running")
    finally:
        first.close()
        if second is not None:
            second.close()
