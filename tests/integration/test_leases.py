"""Leases of warm hub segments, end to end: real hub, real producers, real /dev/shm."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import zlib

import numpy as np
import pytest

from backends import StreamingBackend
from contract import shm
from contract.connection import HubError
from tests.conftest import read_received, wait_for

PLANE = (512, 512)  # 512 KiB of uint16: above the lease minimum


def _plane(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 4000, PLANE, dtype=np.uint16)


def _checksums_by_z(hub, channel: int) -> dict[int, int]:
    """The recorder's checksum of each plane of ``channel``, by its z_index."""
    return {
        r["components"]["z_index"]: r["crc32"]
        for r in read_received(hub.outdir)
        if r["kind"] == "image" and r["components"].get("channel") == channel
    }


def _leases_of(pid: int) -> list[str]:
    return [n for n in shm.list_ours() if (p := shm.parse_name(n)) and p.lessee_pid == pid]


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """One hub with a recorder for the module (a hub costs seconds to start)."""
    from hub.launcher import launch

    out = tmp_path_factory.mktemp("recorder")
    handle = launch(["recorder"], viewer_options={"recorder": {"outdir": str(out)}})
    handle.outdir = out
    handle.wait_viewers(timeout_s=60)
    yield handle
    handle.stop()


def test_saves_fill_leased_segments_and_every_plane_arrives_intact(hub) -> None:
    hub.clear()
    n = 12
    with StreamingBackend(hub=hub, transport="shm") as backend:
        for i in range(n):
            reply = backend.save(_plane(i), "", channel=1, z_index=i)
            assert "leases" not in reply  # the backend keeps them; callers see what they did
        used = hub.status()["hub"]["pool"].get("lease_used", 0)
        # Saves went through leases; how many depends on how fast the hub's filler thread
        # pre-faults new segments on a loaded machine (the ingest benchmark measures that).
        assert used >= 1
        held = _leases_of(os.getpid())
        assert held  # leases for the next save, mapped ahead
    wait_for(lambda: not _leases_of(os.getpid()), 5, "unfilled leases given back at close")
    status = hub.wait_viewers(n_items=n, timeout_s=60)
    assert status["hub"]["errors_total"] == 0
    got = _checksums_by_z(hub, channel=1)
    assert got == {i: zlib.crc32(_plane(i)) for i in range(n)}


def test_recycled_segments_are_filled_through_the_mappings_the_producer_kept(hub) -> None:
    """The second pass gets the first pass's segments back (clear recycles them, renamed);
    the producer copies into the mappings it kept, and every plane still arrives intact."""
    hub.clear()
    n = 8
    with StreamingBackend(hub=hub, transport="shm") as backend:
        for i in range(n):
            backend.save(_plane(i), "", channel=1, z_index=i)
        hub.clear()  # the scene's segments go to the pool, then back to us as leases
        for i in range(n):
            backend.save(_plane(100 + i), "", channel=2, z_index=i)
        stats = backend._leases.kept.stats
        assert stats["reused"] >= 1, stats
        assert len(backend._leases.kept) <= stats["mapped"] + stats["created"]
    status = hub.wait_viewers(n_items=n, timeout_s=60)
    assert status["hub"]["errors_total"] == 0
    got = _checksums_by_z(hub, channel=2)
    assert got == {i: zlib.crc32(_plane(100 + i)) for i in range(n)}


def test_pipelined_saves_arrive_intact_in_order_and_a_refusal_surfaces_at_flush(hub) -> None:
    hub.clear()
    n = 10
    with (
        StreamingBackend(hub=hub, transport="shm") as backend,
        backend.pipelined(depth=2) as pipe,
    ):
        for i in range(n):
            pipe.save(_plane(200 + i), "", channel=3, z_index=i)
        replies = pipe.flush()
        assert [r["indices"] for r in replies] == sorted(r["indices"] for r in replies)
        assert len(replies) == n
        pipe.save(_plane(0), "", channel=3, z_index=99, bogus_component=1)
        with pytest.raises(HubError):
            pipe.flush()
        pipe.save(_plane(300), "", channel=3, z_index=n)  # the pipeline goes on
    status = hub.wait_viewers(n_items=n + 1, timeout_s=60)
    assert status["hub"]["items"] == n + 1
    got = _checksums_by_z(hub, channel=3)
    want = {i: zlib.crc32(_plane(200 + i)) for i in range(n)} | {n: zlib.crc32(_plane(300))}
    assert got == want


def test_pipelined_frames_are_the_pixels_at_save_time_not_later(hub) -> None:
    """Across hosts pixels travel as frames: a pipelined save returns before they are sent,
    so the caller may already reuse its array for the next plane."""
    hub.clear()
    buffer = _plane(400)
    with (
        StreamingBackend(hub=hub, transport="frames") as backend,
        backend.pipelined(depth=2) as pipe,
    ):
        for i in range(4):
            buffer[:] = _plane(400 + i)
            pipe.save(buffer, "", channel=4, z_index=i)
        buffer[:] = 0
    hub.wait_viewers(n_items=4, timeout_s=60)
    got = _checksums_by_z(hub, channel=4)
    assert got == {i: zlib.crc32(_plane(400 + i)) for i in range(4)}


def test_a_lease_is_good_for_one_save_only(hub) -> None:
    hub.clear()
    with StreamingBackend(hub=hub, transport="shm") as backend:
        backend.save(_plane(0), "", channel=1, z_index=0)
        name, kept = backend._leases.take(_plane(0).nbytes)
        backend._leases.retire(kept)
        item = {"kind": "image", "components": {"channel": 1, "z_index": 1}, "dtype": "uint16"}
        item |= {"shape": list(PLANE), "shm": name}
        backend._conn.request({"kind": "batch", "items": [item]})
        with pytest.raises(HubError) as refused:  # the same lease again: now a scene plane
            backend._conn.request({"kind": "batch", "items": [{**item, "components": {}}]})
        assert refused.value.code == "missing_segment"
    assert hub.status()["hub"]["items"] == 2


def test_a_producer_killed_holding_leases_leaks_nothing(hub) -> None:
    hub.clear()
    script = (
        "import sys, time, numpy as np\n"
        "from backends import StreamingBackend\n"
        f"b = StreamingBackend({hub.ingest!r}, transport='shm')\n"
        "b.save_batch([np.ones((512, 512), np.uint16)] * 3, ['', '', ''],"
        " components=[{'z_index': i} for i in range(3)])\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    producer = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=os.environ
    )
    try:
        assert producer.stdout.readline().strip() == "ready"
        wait_for(lambda: len(_leases_of(producer.pid)) == 3, 10, "three leases held")
        os.kill(producer.pid, signal.SIGKILL)
        producer.wait(10)
    finally:
        producer.kill()
    pool = wait_for(
        lambda: (p := hub.status()["hub"]["pool"])["leased_segments"] == 0 and p, 10, "reclaim"
    )
    assert pool["reclaimed"] >= 3 and not _leases_of(producer.pid)
    assert hub.status()["hub"]["items"] == 3


def test_a_lease_the_hub_no_longer_holds_costs_a_retry_not_an_error(hub) -> None:
    hub.clear()
    with StreamingBackend(hub=hub, transport="shm") as backend:
        backend.save(_plane(0), "", channel=1, z_index=0)
        held = _leases_of(os.getpid())
        assert held
        for name in held:  # as if they expired: the hub forgets them
            shm.unlink(name)
        wait_for(lambda: hub.status()["hub"]["pool"]["leased_segments"] == 0, 5, "forgotten")
        backend.save(_plane(1), "", channel=1, z_index=1)  # a stale lease, then its own segment
        assert _leases_of(os.getpid())  # and fresh leases again
    assert hub.status()["hub"]["items"] == 2
