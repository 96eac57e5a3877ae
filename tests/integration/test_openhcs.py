"""The real OpenHCS sender (polystore 0.2.x save_batch) streams into the hub unchanged."""

from __future__ import annotations

import base64
import json
import random
import time
import zlib

import numpy as np
import pytest
import zmq

from contract import shm
from tests.conftest import read_received, wait_for
from tests.helpers import openhcs_sender as sender

polystore = pytest.importorskip("polystore")


def _ports():
    base = random.randrange(20000, 29000, 20)
    return {"napari": base, "fiji": base + 10}


def _compat_hub(start, outdir):
    ports = _ports()
    hub = start(
        extra_args=[
            "--openhcs",
            "--openhcs-ports",
            f"napari={ports['napari']},fiji={ports['fiji']}",
        ],
        viewer_options={"recorder": {"outdir": str(outdir)}},
    )
    hub.wait_viewers(timeout_s=60)
    hub.compat_ports, hub.outdir = ports, outdir
    return hub


@pytest.fixture(scope="module")
def _module_compat_hub(start_module_hub, tmp_path_factory):
    return _compat_hub(start_module_hub, tmp_path_factory.mktemp("openhcs-recorder"))


@pytest.fixture
def compat_hub(_module_compat_hub):
    """One hub with the OpenHCS ports for the module, a new scene per test."""
    _module_compat_hub.clear()
    return _module_compat_hub


@pytest.fixture
def fresh_compat_hub(start_hub, tmp_path):
    """A hub of its own (new ports: the sender's ack tracker starts from nothing)."""
    return _compat_hub(start_hub, tmp_path / "recorder")


def _items(hub):
    """What the recorder logged in the current scene (after the last clear)."""
    lines = read_received(hub.outdir)
    clears = [i for i, r in enumerate(lines) if r["kind"] == "clear"]
    return lines[clears[-1] + 1 :] if clears else lines


def _openhcs_segments():
    return [p.name for p in shm.SHM_DIR.iterdir() if shm.is_openhcs_name(p.name)]


@pytest.mark.parametrize("transport", ["ipc", "tcp"])
@pytest.mark.parametrize("viewer", ["napari", "fiji"])
def test_image_batches_arrive_with_components(compat_hub, viewer, transport):
    port = compat_hub.compat_ports[viewer]
    backend = sender.backend(viewer)
    planes, comps = [], []
    for c in (1, 2):
        for z in (1, 2, 3):
            planes.append(
                np.random.default_rng(10 * c + z).integers(0, 4000, (48, 40), dtype=np.uint16)
            )
            comps.append({"well": "A01", "site": 1, "channel": c, "z_index": z, "timepoint": 1})
    paths = [f"A01_s1_w{c['channel']}_z{c['z_index']}.tif" for c in comps]
    sender.send(backend, viewer, planes, paths, comps, port=port, transport=transport)
    compat_hub.wait_viewers(n_items=6, timeout_s=30)
    got = _items(compat_hub)
    assert [(r["components"], r["crc32"]) for r in got] == [
        (c, zlib.crc32(p)) for c, p in zip(comps, planes)
    ]
    assert _openhcs_segments() == []  # the sender unlinked its own; we left none


def test_rois_from_both_senders_reach_every_viewer_as_shapes(compat_hub):
    from polystore.roi import ROI, EllipseShape, PointShape, PolygonShape

    before = compat_hub.status()["hub"]  # hub-wide counters: they outlive a scene
    rois = [
        ROI(
            shapes=[PolygonShape(np.array([[10.0, 10.0], [10.0, 30.0], [25.0, 30.0]]))],
            metadata={"label": 1, "area": 150.0},
        ),
        ROI(shapes=[EllipseShape(20.0, 20.0, 5.0, 8.0)], metadata={"label": 2}),
        ROI(shapes=[PointShape(5.0, 6.0)], metadata={"label": 3}),
    ]
    comps = [{"well": "A01", "site": 1, "channel": 1, "z_index": 1, "timepoint": 1}]
    for viewer in ("fiji", "napari"):
        backend = sender.backend(viewer)
        sender.send(
            backend,
            viewer,
            [np.zeros((40, 40), np.uint16), rois],
            ["A01.tif", "A01_rois.roi.zip"],
            comps * 2,
            port=compat_hub.compat_ports[viewer],
        )
    # Both senders sent the same plane and ROI file: the scene keeps one of each (compaction).
    accepted = before["accepted_items"] + 4
    status = wait_for(
        lambda: (s := compat_hub.status())["hub"]["accepted_items"] >= accepted and s, 30
    )
    assert status["hub"]["items"] == 2
    compat_hub.wait_viewers(n_items=2, timeout_s=30)
    shapes = [r for r in _items(compat_hub) if r["kind"] == "shapes"]
    assert len(shapes) >= 1
    kinds = set().union(*(r["shape_kinds"] for r in shapes))
    assert {"polygon", "ellipse", "points"} <= kinds
    assert compat_hub.status()["hub"]["errors_total"] == before["errors_total"]


def test_acks_reach_the_senders_ack_port(fresh_compat_hub):
    from zmqruntime.queue_tracker import GlobalQueueTrackerRegistry

    port = fresh_compat_hub.compat_ports["napari"]
    backend = sender.backend("napari")
    sender.send(
        backend,
        "napari",
        [sender.plane(1), sender.plane(2)],
        ["a.tif", "b.tif"],
        [{"channel": 1}, {"channel": 2}],
        port=port,
        transport="ipc",
    )
    tracker = GlobalQueueTrackerRegistry().get_tracker(port)
    wait_for(lambda: tracker.get_progress()[0] >= 2, 20, "two acks from the hub")


def _req(endpoint: str, frame: bytes) -> dict:
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    sock.send(frame)
    assert sock.poll(10_000), "no reply: the sender would hang until its timeout"
    reply = json.loads(sock.recv())
    sock.close()
    return reply


def _batch(**item):
    entry = {
        "path": "x.tif",
        "shape": [8, 8],
        "dtype": "uint16",
        "data_type": "image",
        "metadata": {"channel": 1},
        "image_id": "id-1",
    }
    entry.update(item)
    return json.dumps(
        {
            "type": "batch",
            "images": [entry],
            "display_config": {"component_modes": {"channel": "stack"}},
        }
    ).encode()


def test_bad_batches_get_an_error_reply_the_sender_understands(compat_hub):
    port = compat_hub.compat_ports["fiji"]
    endpoint = f"tcp://127.0.0.1:{port}"
    small = "fiji_" + "ab" * 6
    shm.create(small, 10).close()
    try:
        cases = {
            "missing segment": _batch(shm_name="fiji_0123456789ab"),
            "segment too small": _batch(shm_name=small),
            "object dtype": _batch(shm_name=small, dtype="object", shape=[1]),
            "bad base64": _batch(data_type="rois", rois=["%%%not base64"]),
            "corrupt roi": _batch(data_type="rois", rois=[base64.b64encode(b"Iout").decode()]),
            "unknown mode": json.dumps(
                {
                    "type": "batch",
                    "images": [json.loads(_batch(shm_name=small))["images"][0]],
                    "display_config": {"component_modes": {"channel": "Side ways"}},
                }
            ).encode(),
            "not json": b"\x00\x01garbage",
        }
        for name, frame in cases.items():
            reply = _req(endpoint, frame)
            assert reply["status"] == "error", name
            assert reply["message"], name
    finally:
        shm.unlink(small)
    # pickle on the control port is refused in JSON; a JSON ping is answered
    control = f"tcp://127.0.0.1:{port + 1000}"
    import pickle

    refused = _req(control, pickle.dumps({"type": "ping"}))
    assert refused["status"] == "error" and "pickle" in refused["message"]
    pong = _req(control, json.dumps({"type": "ping"}).encode())
    assert pong["type"] == "pong" and pong["ready"] is True
    # and the hub still serves the real sender
    sender.send(
        sender.backend("fiji"),
        "fiji",
        [sender.plane(5)],
        ["ok.tif"],
        [{"channel": 1}],
        port=port,
        transport="tcp",
    )
    assert compat_hub.status()["hub"]["items"] == 1
    assert compat_hub.status()["hub"]["errors_total"] >= len(cases)


def test_sender_sees_a_clear_error_not_a_hang_when_the_budget_stays_full(start_hub):
    ports = _ports()
    start_hub(
        viewers=(),
        memory_budget=3000,
        extra_args=[
            "--openhcs",
            "--openhcs-ports",
            f"napari={ports['napari']}",
            "--backpressure-timeout",
            "1",
        ],
    )
    backend = sender.backend("napari")
    sender.send(
        backend,
        "napari",
        [sender.plane(1)],
        ["a.tif"],
        [{"channel": 1}],
        port=ports["napari"],
        transport="tcp",
    )
    start = time.monotonic()
    with pytest.raises(Exception, match="memory budget"):
        sender.send(
            backend,
            "napari",
            [sender.plane(2)],
            ["b.tif"],
            [{"channel": 2}],
            port=ports["napari"],
            transport="tcp",
        )
    assert time.monotonic() - start < 10


def test_segments_an_older_sender_leaves_behind_are_removed_after_a_grace(start_hub):
    ports = _ports()
    hub = start_hub(
        viewers=(),
        extra_args=[
            "--openhcs",
            "--openhcs-ports",
            f"napari={ports['napari']}",
            "--openhcs-orphan-grace",
            "1",
        ],
    )
    name = "napari_" + "c0ffee" * 2
    mapping = shm.create(name, 8 * 8 * 2)
    mapping.close()
    reply = _req(f"tcp://127.0.0.1:{ports['napari']}", _batch(shm_name=name))
    assert reply["status"] == "success"
    assert name in _openhcs_segments()  # copied, not unlinked before the reply
    wait_for(lambda: name not in _openhcs_segments(), 10, "the orphan to be removed")
    assert hub.status()["hub"]["items"] == 1
