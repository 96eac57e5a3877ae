"""Across hosts on one machine: hub on host A, a remote viewer on B, producers on C.

The hosts are network namespaces joined by veth links that this module makes and removes
(tests.helpers.netns); every process is real: the hub (``hub serve --host 0.0.0.0
--viewer-host 0.0.0.0 --keys``), the viewer (``hub attach recorder``), the producers (a
StreamingBackend, a Dask LocalCluster). One hub and one viewer serve the whole module; each
test starts from a cleared scene. Skipped, saying why, without root or iproute2.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract.connection import HubConnection, HubTimeoutError
from contract.keys import make_keys
from tests.conftest import read_received, wait_for
from tests.helpers import netns
from tests.helpers.multihost_tasks import plane
from viewers.recorder import RecorderViewer
from viewers.remote import RemoteViewerClient, wait_welcome

pytestmark = pytest.mark.skipif(bool(netns.unavailable()), reason=str(netns.unavailable()))

PORT = 7700
TASKS = ["python", "-m", "tests.helpers.multihost_tasks"]


class Site:
    """The module's hosts, hub and remote viewer, and a connection to the hub from the test."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.keys = tmp / "keys"
        make_keys(self.keys)
        self.recorder = tmp / "recorder"
        self.hosts = netns.Hosts()
        self.hub = self.hosts.start(
            "a",
            ["python", "-m", "hub", "serve", "--host", "0.0.0.0", "--viewer-host", "0.0.0.0"]
            + ["--port", str(PORT), "--keys", str(self.keys), "--store", str(tmp / "store")]
            + ["--ready-file", str(tmp / "ready.json")],
            tmp / "hub.log",
        )
        wait_for(lambda: (tmp / "ready.json").exists() or self.hub.poll() is not None, 30, "hub")
        assert self.hub.poll() is None, (tmp / "hub.log").read_text()
        self.conn = HubConnection(self.endpoint("root"), timeout_s=10, keys_dir=self.keys)
        self.viewer = self.hosts.start(
            "b",
            ["python", "-m", "hub", "attach", "recorder", "--hub", self.endpoint("b")]
            + ["--keys", str(self.keys), "--name", "recorder-b"]
            + ["--options", json.dumps({"outdir": str(self.recorder)})],
            tmp / "viewer.log",
        )
        wait_for(lambda: self.viewer_status().get("connected"), 30, "the remote viewer")

    def endpoint(self, seen_from: str) -> str:
        return f"tcp://{self.hosts.hub_address(seen_from)}:{PORT}"

    def status(self) -> dict:
        return self.conn.control("status")["status"]

    def viewer_status(self) -> dict:
        return self.status()["viewers"].get("recorder-b", {})

    def clear(self) -> None:
        """A new scene; returns once the remote viewer has cleared too."""
        before = len(read_received(self.recorder))
        self.conn.control("clear")
        wait_for(
            lambda: any(r["kind"] == "clear" for r in read_received(self.recorder)[before:]),
            10,
            "the viewer to clear",
        )

    def scene_on_viewer(self) -> dict[int, int]:
        """timepoint -> crc32 of what the viewer shows now (the items after its last clear)."""
        received = read_received(self.recorder)
        last_clear = max((i for i, r in enumerate(received) if r["kind"] == "clear"), default=-1)
        return {
            r["components"]["timepoint"]: r["crc32"]
            for r in received[last_clear + 1 :]
            if r["kind"] == "image"
        }

    def close(self) -> None:
        self.conn.close()
        self.hosts.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    made = Site(tmp_path_factory.mktemp("multihost"))
    try:
        yield made
    finally:
        made.close()


def _expected(timepoints: range) -> dict[int, int]:
    return {t: zlib.crc32(plane(t)) for t in timepoints}


def test_remote_producer_to_remote_viewer_over_curve(site):
    site.clear()
    code = site.hosts.run(
        "c",
        [*TASKS, "produce", site.endpoint("c"), str(site.keys), "8", "1"],
        site.tmp / "c.log",
        60,
    )
    assert code == 0, (site.tmp / "c.log").read_text()
    wait_for(lambda: site.scene_on_viewer() == _expected(range(1, 9)), 20, "every item on B")
    assert site.viewer_status()["errors"] == 0


def test_client_with_other_keys_is_refused(site, tmp_path):
    other = tmp_path / "other"
    make_keys(other)
    shutil.copy(site.keys / "server.key", other / "server.key")  # knows the hub, not admitted
    conn = HubConnection(site.endpoint("root"), timeout_s=2, keys_dir=other)
    with pytest.raises(HubTimeoutError):
        conn.control("ping")
    conn.close()
    intruder = RemoteViewerClient(
        f"tcp://{site.hosts.hub_address('root')}:{PORT + 1}",
        "intruder",
        RecorderViewer(outdir=str(tmp_path / "rec")),
        keys_dir=other,
        spill_dir=tmp_path / "spill",
    )
    try:
        assert not wait_welcome(intruder, 2.0), "a viewer with unknown keys got a session"
    finally:
        intruder.close()
    assert set(site.status()["viewers"]) == {"recorder-b"}


def test_link_cut_and_restored_viewer_gets_every_item(site):
    """The link flaps (down for less than the link timeout, twice, then around it), then is
    cut for longer than it: the viewer ends with every item, the producer never failed."""
    site.clear()
    producer = site.hosts.start(
        "c",
        [*TASKS, "produce", site.endpoint("c"), str(site.keys), "40", "1", "0.15"],
        site.tmp / "c-cut.log",
    )
    wait_for(lambda: len(site.scene_on_viewer()) >= 3, 30, "items on B before the cut")
    before_cut = len(read_received(site.recorder))
    try:
        for down_s in (0.5, 0.5, 2.8):  # flapping: the last one about the link timeout
            site.hosts.set_link("b", up=False)
            time.sleep(down_s)
            site.hosts.set_link("b", up=True)
            time.sleep(0.5)
        site.hosts.set_link("b", up=False)
        time.sleep(5.0)  # longer than the link timeout: both ends drop the session
    finally:
        site.hosts.set_link("b", up=True)
    assert producer.wait(60) == 0, (site.tmp / "c-cut.log").read_text()
    wait_for(lambda: site.scene_on_viewer() == _expected(range(1, 41)), 30, "every item on B")
    after = read_received(site.recorder)[before_cut:]
    assert any(r["kind"] == "clear" for r in after), "no new session: the cut went unnoticed"
    log = (site.tmp / "viewer.log").read_text()
    assert "Traceback" not in log, log


def test_a_slow_link_holds_back_only_its_viewer(site):
    site.clear()
    site.hosts.limit_rate("b", "2mbit")  # about 8 planes of 256x256 uint16 a second
    try:
        start = time.monotonic()
        code = site.hosts.run(
            "c",
            [*TASKS, "produce", site.endpoint("c"), str(site.keys), "40", "1", "0", "256"],
            site.tmp / "slow.log",
            60,
        )
        produced_s = time.monotonic() - start
        assert code == 0, (site.tmp / "slow.log").read_text()
        behind = site.viewer_status()
        assert behind["queued"] + behind["in_flight"] > 10, behind  # the viewer is behind...
        assert behind["in_flight"] <= 4  # ...holding no more than its credits
    finally:
        site.hosts.limit_rate("b", None)
    wait_for(lambda: len(site.scene_on_viewer()) == 40, 30, "the viewer to catch up")
    assert produced_s < 10, f"the producer waited for the slow viewer ({produced_s:.1f} s)"


def test_dask_workers_on_another_host_stream_into_the_hub(site):
    pytest.importorskip("distributed", reason="dask distributed is a test extra")
    site.clear()
    code = site.hosts.run(
        "c", [*TASKS, "dask", site.endpoint("c"), str(site.keys), "12", "1"], site.tmp / "d.log", 90
    )
    assert code == 0, (site.tmp / "d.log").read_text()
    wait_for(lambda: site.scene_on_viewer() == _expected(range(1, 13)), 20, "every plane on B")


def test_viewer_socket_stays_on_loopback_unless_asked(site, tmp_path):
    """A hub without --viewer-host: its viewer port is not reachable from another host."""
    port = PORT + 10
    hub = site.hosts.start(
        "a",
        ["python", "-m", "hub", "serve", "--host", "0.0.0.0", "--port", str(port)]
        + ["--keys", str(site.keys), "--ready-file", str(tmp_path / "ready.json")],
        tmp_path / "hub.log",
    )
    try:
        wait_for(lambda: (tmp_path / "ready.json").exists() or hub.poll() is not None, 30, "hub")
        assert hub.poll() is None, (tmp_path / "hub.log").read_text()
        address = site.hosts.hub_address("b")
        reach = "bash -c 'echo > /dev/tcp/{}/{}'"
        for open_port, reachable in ((port, True), (port + 1, False)):
            probe = subprocess.run(
                ["ip", "netns", "exec", site.hosts.ns["b"], "sh", "-c"]
                + [reach.format(address, open_port)],
                capture_output=True,
                timeout=10,
            )
            assert (probe.returncode == 0) == reachable, (open_port, probe.stderr)
        start = time.monotonic()  # and `hub attach` from there says so at once, and what to do
        code = site.hosts.run(
            "b",
            ["python", "-m", "hub", "attach", "recorder", "--hub", f"{address}:{port}"]
            + ["--keys", str(site.keys)],
            tmp_path / "attach.log",
            30,
        )
        said = (tmp_path / "attach.log").read_text()
        assert code == 2 and "start it with --viewer-host" in said and "Traceback" not in said
        assert time.monotonic() - start < 10, "it waited for a session that could not come"
    finally:
        site.hosts.stop(hub)
