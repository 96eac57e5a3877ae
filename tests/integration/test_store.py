"""The scene store: spill beyond the memory budget, OME-Zarr on disk, recovery after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import zlib

import numpy as np
import pytest

from backends import StreamingBackend
from contract import shm
from tests.conftest import free_port, hub_segments, read_received, wait_for

PLANE = (512, 1024)  # 1 MiB of uint16


def _plane(i: int) -> np.ndarray:
    rng = np.random.default_rng(i)
    return rng.integers(0, 4000, PLANE, dtype=np.uint16)


def _hub_shm_bytes(pid: int) -> int:
    return sum((shm.SHM_DIR / n).stat().st_size for n in hub_segments(pid))


def _components(i: int) -> dict:
    wells = ["A01", "B03", "H12"]
    return {
        "well": wells[i % 3],
        "site": 1 + i // 3 % 2,
        "channel": 1 + i // 6 % 2,
        "z_index": i // 12,
    }


def test_a_stream_larger_than_the_budget_spills_to_disk_and_every_plane_stays_viewable(
    start_hub, tmp_path
):
    budget = 16 * 1024 * 1024
    hub = start_hub(
        ("recorder",), memory_budget=budget, extra_args=["--store", str(tmp_path / "s")]
    )
    hub.wait_viewers(timeout_s=60)
    n = 96  # 96 MiB through a 16 MiB budget
    peak = 0
    with StreamingBackend(hub=hub, timeout_s=60) as backend:
        for i in range(n):
            backend.save(_plane(i), "", **_components(i))
            peak = max(peak, _hub_shm_bytes(hub.pid))
    status = hub.wait_viewers(n_items=n, timeout_s=120)
    assert status["hub"]["errors_total"] == 0 and status["hub"]["items"] == n
    assert status["hub"]["evicted"] > 0 and peak <= budget
    assert status["hub"]["bytes"] <= budget
    got = {
        r["index"]: r["crc32"] for r in read_received(tmp_path / "recorder") if r["kind"] == "image"
    }
    assert got == {i: zlib.crc32(_plane(i)) for i in range(n)}  # every plane, right pixels
    # a viewer started now reads the evicted planes from disk
    out = subprocess.run(
        ["hub", "restart", "recorder", "--port", hub.ingest.rsplit(":", 1)[1]],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    status = hub.wait_viewers(n_items=n, timeout_s=120)
    assert status["viewers"]["recorder"]["errors"] == 0


def test_an_ome_zarr_reader_opens_the_store_while_it_streams(start_hub, tmp_path):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    store = tmp_path / "s"
    hub = start_hub((), extra_args=["--store", str(store)])
    with StreamingBackend(hub=hub) as backend:
        for i in range(24):
            backend.save(_plane(i), "", **_components(i))
        wait_for(lambda: hub.status()["store"]["written_items"] == 24, 60, "the plate")
        plate = hub.status()["store"]["plate"]
        nodes = list(Reader(parse_url(plate))())
        assert type(nodes[0].specs[0]).__name__ == "Plate"
        import zarr

        root = zarr.open_group(plate, mode="r")
        wells = root.attrs["ome"]["plate"]["wells"]
        assert sorted(w["path"] for w in wells) == ["A/1", "B/3", "H/12"]
        for i in (0, 7, 23):
            c = _components(i)
            row, col = {"A01": ("A", "1"), "B03": ("B", "3"), "H12": ("H", "12")}[c["well"]]
            field = root[f"{row}/{col}"]
            image = field[str(c["site"] - 1)]
            axes = image.attrs["viewerhub"]["axes"]
            t, ch, z = 0, axes["c"].index(c["channel"]), axes["z"].index(c["z_index"])
            np.testing.assert_array_equal(image["0"][t, ch, z], _plane(i))
        backend.save(_plane(99), "", channel=1)  # no well: a plain image group
        wait_for(lambda: hub.status()["store"]["written_items"] == 25, 60, "the plain image")
        assert "images" in zarr.open_group(plate, mode="r")


def test_a_hub_killed_mid_stream_comes_back_with_every_accepted_item(start_hub, tmp_path):
    store = tmp_path / "s"
    port = free_port()
    first = start_hub((), port=port, extra_args=["--store", str(store)])
    accepted = []
    with StreamingBackend(hub=first, timeout_s=30) as backend:
        for i in range(40):
            backend.save(_plane(i), "", **_components(i))
            accepted.append(i)
        outline = [{"kind": "polygon", "coords": [[1, 1], [1, 9], [9, 9]]}]
        backend.save(outline, "cells", well="A01", channel=1)
    os.kill(first.pid, signal.SIGKILL)  # some planes are on disk, some only in memory
    first.process.wait(timeout=10)
    second = start_hub(("recorder",), port=port, extra_args=["--store", str(store)])
    status = second.wait_viewers(n_items=41, timeout_s=120)
    assert status["hub"]["items"] == 41
    got = read_received(tmp_path / "recorder")
    crcs = sorted(r["crc32"] for r in got if r["kind"] == "image")
    assert crcs == sorted(zlib.crc32(_plane(i)) for i in accepted)
    assert [r["n_shapes"] for r in got if r["kind"] == "shapes"] == [1]
    wait_for(lambda: second.status()["store"]["written_items"] >= 0, 5)
    assert not [n for n in shm.list_ours() if f"viewerhub-{first.pid}-" in n]  # adopted or swept


def test_a_full_disk_is_a_clear_refusal_naming_the_store(start_hub, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300m", "tmpfs", str(small)], check=True)
    try:
        hub = start_hub((), extra_args=["--store", str(small / "s")])
        with StreamingBackend(hub=hub, timeout_s=30) as backend:
            from hub import HubError

            with pytest.raises(HubError) as info:
                for i in range(400):
                    backend.save(_plane(i), "", z_index=i)
            assert info.value.code == "disk_full"
            assert str(small / "s") in str(info.value) and "bytes free" in str(info.value)
        assert hub.ping()["pong"]
        hub.stop()
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


