"""Real hub, real producer, real recorder and third-party viewer processes over real sockets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zlib

import numpy as np
import pytest

from backends import StreamingBackend
from tests.conftest import hub_segments, read_received, thirdparty_env, wait_for


def _plane(value: int, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(value)
    return rng.integers(0, 4000, (size, size), dtype=np.uint16)


def _items(received: list[dict]) -> list[dict]:
    """The items of the current scene: what the recorder logged after its last clear."""
    clears = [i for i, r in enumerate(received) if r["kind"] == "clear"]
    return received[clears[-1] + 1 :] if clears else received


@pytest.fixture(scope="module")
def _module_tally_hub(start_module_hub, tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream")
    hub = start_module_hub(
        ("recorder", "tally"),
        env=thirdparty_env(),
        viewer_options={
            "tally": {"out": str(folder / "tally.json")},
            "recorder": {"outdir": str(folder / "recorder")},
        },
    )
    hub.wait_viewers(timeout_s=60)
    hub.folder = folder
    return hub


@pytest.fixture
def tally_hub(_module_tally_hub):
    """A recorder and the third-party tally plugin, shared by the module: a new scene per test."""
    _module_tally_hub.clear()
    return _module_tally_hub


@pytest.mark.parametrize("transport", ["shm", "frames"])
def test_every_item_arrives_once_in_order_with_components(tally_hub, transport):
    hub, tally = tally_hub, tally_hub.folder / "tally.json"
    sent = []
    with StreamingBackend(hub=hub, transport=transport) as backend:
        for t in range(1, 3):
            for c in range(1, 4):
                plane = _plane(10 * t + c)
                backend.save(
                    plane,
                    f"A01_s001_w{c}_z001_t{t:03d}.tif",
                    well="A01",
                    site=1,
                    channel=c,
                    z_index=1,
                    timepoint=t,
                )
                sent.append(
                    (
                        {"well": "A01", "site": 1, "channel": c, "z_index": 1, "timepoint": t},
                        zlib.crc32(plane),
                    )
                )
        outline = [{"kind": "polygon", "coords": [[5, 5], [5, 20], [20, 20]], "name": "cell"}]
        backend.save(outline, "rois", well="A01", site=1, channel=1, z_index=1, timepoint=1)
    hub.wait_viewers(n_items=len(sent) + 1, timeout_s=30)
    got = _items(read_received(hub.folder / "recorder"))
    assert [r["index"] for r in got] == list(range(len(sent) + 1))
    images = [r for r in got if r["kind"] == "image"]
    assert [(r["components"], r["crc32"]) for r in images] == sent
    assert got[-1]["kind"] == "shapes" and got[-1]["n_shapes"] == 1
    tallied = json.loads(tally.read_text())
    assert tallied == {"counts": {"image": 6, "shapes": 1}, "indices": list(range(7))}


def test_components_parsed_from_openhcs_style_filenames(tally_hub):
    hub = tally_hub
    with StreamingBackend(hub=hub) as backend:
        backend.save_batch(
            [_plane(1), _plane(2)], ["B03_s002_w1_z004_t005.tif", "B03_s002_w2_z004_t005.tif"]
        )
    hub.wait_viewers(n_items=2)
    got = _items(read_received(hub.folder / "recorder"))
    assert got[1]["components"] == {
        "well": "B03",
        "site": 2,
        "channel": 2,
        "z_index": 4,
        "timepoint": 5,
    }


def test_late_viewer_receives_the_whole_scene(start_hub, tmp_path):
    hub = start_hub(viewers=())
    with StreamingBackend(hub=hub) as backend:
        for i in range(5):
            backend.save(_plane(i), "", channel=1, z_index=i + 1)
    outdir = tmp_path / "late"
    late = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "viewers.runner",
            "recorder",
            "--hub",
            hub.viewer_endpoint,
            "--name",
            "late",
            "--options",
            json.dumps({"outdir": str(outdir)}),
        ]
    )
    try:
        hub.wait_viewers(n_items=5, timeout_s=60, names=["late"])
        got = _items(read_received(outdir))
        assert [r["components"]["z_index"] for r in got] == [1, 2, 3, 4, 5]
        assert hub.status()["viewers"]["late"]["supervised"] is False
    finally:
        late.terminate()
        late.wait(10)


def test_killed_viewer_is_restarted_and_gets_the_whole_scene_again(start_hub, tmp_path):
    hub = start_hub()
    hub.wait_viewers(timeout_s=60)
    with StreamingBackend(hub=hub) as backend:
        for i in range(8):
            backend.save(_plane(i), "", channel=1, z_index=i + 1)
        hub.wait_viewers(n_items=8)
        old_pid = hub.status()["viewers"]["recorder"]["pid"]
        os.kill(old_pid, signal.SIGKILL)
        wait_for(
            lambda: hub.status()["viewers"]["recorder"]["pid"] != old_pid,
            30,
            "a new recorder process",
        )
        backend.save(_plane(99), "", channel=1, z_index=9)
    status = hub.wait_viewers(n_items=9, timeout_s=60)
    assert status["viewers"]["recorder"]["restarts"] == 1
    lines = read_received(tmp_path / "recorder")
    # The first process logged 0..7; the restarted one replays 0..7 then shows 8.
    after_restart = [r["index"] for r in lines][8:]
    assert after_restart == list(range(9))


def test_no_segment_remains_after_the_hub_stops(start_hub):
    hub = start_hub()
    hub.wait_viewers(timeout_s=60)
    with StreamingBackend(hub=hub) as backend:
        for i in range(4):
            backend.save(_plane(i), "", channel=1, z_index=i + 1)
    assert len(hub_segments(hub.pid)) == 4
    hub.stop()
    assert hub_segments(hub.pid) == []


def test_next_hub_sweeps_segments_of_a_killed_hub(start_hub):
    hub = start_hub()
    hub.wait_viewers(timeout_s=60)
    with StreamingBackend(hub=hub) as backend:
        for i in range(3):
            backend.save(_plane(i), "", channel=1, z_index=i + 1)
    hub.process.kill()
    hub.process.wait()
    assert len(hub_segments(hub.pid)) == 3  # leaked by kill -9 ...
    start_hub(viewers=())
    assert hub_segments(hub.pid) == []  # ... and swept by the next hub's start


def test_a_plugin_adds_a_display_mode_without_touching_the_hub(tally_hub):
    hub, tally = tally_hub, tally_hub.folder / "tally.json"
    config = {"component_modes": {"site": "grid"}}  # a mode only the tally plugin knows
    with StreamingBackend(hub=hub, display_config=config) as backend:
        backend.save(_plane(1), "", well="A01", site=2, channel=1)
    hub.wait_viewers(n_items=1, timeout_s=30)
    assert json.loads(tally.read_text())["modes"] == {"site": "grid"}
    assert len(_items(read_received(hub.folder / "recorder"))) == 1  # others translate it
