"""A remote viewer attached late gets every plane as frames: hot ones from the hub's memory,
evicted ones read back from the scene store (no namespaces needed: frames are chosen by the
viewer's hello, not by its address)."""

from __future__ import annotations

import zlib

import numpy as np

from backends import StreamingBackend
from tests.conftest import read_received, wait_for
from viewers.recorder import RecorderViewer
from viewers.remote import RemoteViewerClient, wait_welcome


def _plane(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 4000, (512, 512), dtype=np.uint16)


def test_a_late_remote_viewer_gets_hot_and_evicted_planes_as_frames(start_hub, tmp_path):
    budget = 2 * 1024 * 1024  # four planes: the rest must come back from disk
    hub = start_hub((), memory_budget=budget, extra_args=["--store", str(tmp_path / "s")])
    n = 12
    with StreamingBackend(hub=hub, timeout_s=60) as backend:
        for i in range(n):
            backend.save(_plane(i), well="A01", site=1, channel=1, timepoint=i)
    assert hub.status()["hub"]["evicted"] > 0
    viewer = RecorderViewer(outdir=str(tmp_path / "rec"), tiff=False)
    viewer.start()
    client = RemoteViewerClient(
        hub.viewer_endpoint, "late", viewer, spill_dir=tmp_path / "spill", memory_budget=budget
    )
    try:
        assert wait_welcome(client, 10)
        wait_for(lambda: client.poll_once(50) or client.shown >= n, 30, "every plane")
        assert client.errors == 0 and client.planes.spilled > 0  # its own budget held too
    finally:
        client.close()
        viewer.close()
    got = {r["index"]: r["crc32"] for r in read_received(tmp_path / "rec") if r["kind"] == "image"}
    assert got == {i: zlib.crc32(_plane(i)) for i in range(n)}


def test_a_remote_viewer_reconnects_to_a_hub_restarted_after_a_crash(tmp_path):
    from hub.launcher import launch
    from tests.conftest import free_port

    port = free_port()
    args = ["--store", str(tmp_path / "store")]  # the restarted hub recovers the scene
    hub = launch([], port=port, extra_args=args, log_file=tmp_path / "hub.log")
    viewer = RecorderViewer(outdir=str(tmp_path / "rec"), tiff=False)
    viewer.start()
    client = RemoteViewerClient(hub.viewer_endpoint, "desk", viewer, spill_dir=tmp_path / "sp")
    again = None
    try:
        assert wait_welcome(client, 10)
        with StreamingBackend(hub=hub) as backend:
            for i in range(3):
                backend.save(_plane(i), well="A01", site=1, channel=1, timepoint=i)
        wait_for(lambda: client.poll_once(50) or client.shown >= 3, 20, "the first hub's items")
        hub.process.kill()  # no goodbye to the viewer
        hub.process.wait()
        again = launch([], port=port, extra_args=args, log_file=tmp_path / "hub.log")
        wait_for(lambda: client.poll_once(50) or client.shown >= 6, 30, "the scene replayed")
        assert client.welcomes == 2 and not client.closed
    finally:
        client.close()
        viewer.close()
        if again is not None:
            again.stop()
