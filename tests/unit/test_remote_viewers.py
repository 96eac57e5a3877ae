"""The hub's frame sender: which viewers take frames, and what one item message holds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from contract import shm
from hub.remote_viewers import FrameSender
from hub.scene import SceneItem


class _Socket:
    def __init__(self) -> None:
        self.sent: list[list] = []

    def send_multipart(self, frames, flags=0, copy=True, track=False):
        self.sent.append([bytes(f) for f in frames])


def test_only_viewers_that_ask_get_frames_and_a_later_hello_can_change_it():
    sender = FrameSender(_Socket())
    sender.hello("napari-desk", {"pixels": "frames"})
    sender.hello("napari", {})
    assert sender.viewers == {"napari-desk"}
    sender.hello("napari-desk", {})
    assert sender.viewers == set()
    sender.hello("fiji-desk", {"pixels": "frames"})
    sender.forget("fiji-desk")
    assert sender.viewers == set()


def test_an_item_goes_as_header_and_pixels_without_host_local_fields(tmp_path):
    sock = _Socket()
    sender = FrameSender(sock)
    array = np.arange(12, dtype=np.uint16).reshape(3, 4)
    name = f"{shm.PREFIX}test-{np.random.default_rng().integers(1 << 30)}"
    mapping = shm.create(name, array.nbytes)
    try:
        mapping[:] = array.tobytes()
        mapping.close()
        header = {"kind": "image", "dtype": "uint16", "shape": [3, 4], "segment": name}
        header["cold"] = {"root": str(tmp_path), "planes": [["A/1/0/0", 0, 0, 0]]}
        shapes = {"kind": "shapes", "shapes": []}
        sender.send(b"route", 5, [SceneItem(0, header, name, 24), SceneItem(1, shapes, None, 0)])
    finally:
        shm.unlink(name)
    (route, head, pixels), (_, shapes_head) = sock.sent
    body = json.loads(head)
    assert route == b"route" and body["scene"] == 5
    item = body["items"][0]["item"]
    assert "segment" not in item and "cold" not in item and item["frame"] == 1
    assert np.frombuffer(pixels, np.uint16).reshape(3, 4).tolist() == array.tolist()
    assert "frame" not in json.loads(shapes_head)["items"][0]["item"]


def test_an_item_whose_pixels_are_gone_is_sent_as_missing_so_the_viewer_acks_an_error():
    sock = _Socket()
    header = {"kind": "image", "dtype": "uint8", "shape": [2, 2], "segment": "viewerhub-gone"}
    FrameSender(sock).send(b"r", 1, [SceneItem(3, header, None, 4)])
    (_, head) = sock.sent[0]
    assert "missing" in json.loads(head)["items"][0]["item"]


def test_a_hub_refuses_viewers_from_other_hosts_without_an_explicit_key_directory():
    from contract.keys import SecurityError
    from hub.server import Hub, HubConfig

    with pytest.raises(SecurityError, match="without authentication"):
        Hub(HubConfig(port=0, viewer_host="0.0.0.0"))


class _Scene:
    """The part of SceneLog the frame sender uses: due items (cursor advanced as taken)."""

    scene_id = 1

    def __init__(self, count: int) -> None:
        header = {"kind": "image", "dtype": "uint8", "shape": [1024, 1024], "segment": "x"}
        self.items = [SceneItem(i, header, None, 1 << 20) for i in range(count)]
        self.next_index = 0

    def due(self, name):
        while self.next_index < len(self.items):
            self.next_index += 1
            yield self.items[self.next_index - 1]


def test_a_viewer_that_does_not_read_holds_at_most_the_queue_cap_of_pixels(monkeypatch):
    """Acks prove nothing: what bounds the hub's memory is the bytes ZeroMQ still holds."""
    import time

    import zmq

    import hub.remote_viewers as remote

    monkeypatch.setattr(remote, "_pixels", lambda header: bytes(1 << 20))
    ctx = zmq.Context()
    router, dealer = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    try:
        router.bind("inproc://frames")
        dealer.connect("inproc://frames")
        dealer.send(b"hello")
        route, _ = router.recv_multipart()
        sender, scene = FrameSender(router, queue_bytes=4 << 20), _Scene(20)
        sender.hello("hog", {"pixels": "frames"})
        sender.pump("hog", route, scene)
        sender.pump("hog", route, scene)  # the queue is full: nothing more is taken
        assert scene.next_index == 4 and sender.queued("hog") == 4 << 20
        assert sender.status("hog") == {"queued_bytes": 4 << 20}
        for _ in range(4):
            dealer.recv_multipart()  # the viewer reads: ZeroMQ lets the buffers go
        deadline = time.monotonic() + 5
        while sender.queued("hog") and time.monotonic() < deadline:
            time.sleep(0.01)
        sender.pump("hog", route, scene)
        assert scene.next_index == 8, "a drained queue takes the next items"
        sender.forget("hog")
        assert sender.status("hog") == {}
    finally:
        router.close(0)
        dealer.close(0)
        ctx.term()


def test_a_name_is_refused_only_to_another_process_while_its_owner_is_alive():
    sender = FrameSender(_Socket())
    sender.hello("desk", {"pixels": "frames", "session": "aaa"})
    assert sender.refusal("desk", {"session": "bbb"}, heard_s=0.5), "another live process"
    assert sender.refusal("desk", {"session": "aaa"}, heard_s=0.5) is None, "a reconnection"
    assert sender.refusal("desk", {"session": "bbb"}, heard_s=30.0) is None, "the owner is gone"
    assert sender.refusal("desk", {}, heard_s=0.5), "leaving the session out does not help"
    sender.hello("dock", {})  # a local viewer (napari's dock widget) sends no session
    assert sender.refusal("dock", {"session": "ccc"}, heard_s=0.5) is None
    sender.forget("desk")
    assert sender.refusal("desk", {"session": "bbb"}, heard_s=0.5) is None


def test_new_remote_viewers_beyond_the_cap_are_refused_and_known_ones_reconnect(monkeypatch):
    import hub.remote_viewers as remote

    monkeypatch.setattr(remote, "MAX_REMOTE_VIEWERS", 2)
    sender = FrameSender(_Socket())
    for name in ("a", "b"):
        assert sender.refusal(name, {"pixels": "frames"}, None) is None
        sender.hello(name, {"pixels": "frames", "session": name})
    assert "2 remote viewers already" in sender.refusal("c", {"pixels": "frames"}, None)
    assert sender.refusal("a", {"pixels": "frames", "session": "a"}, 5.0) is None, "reconnects"
    assert sender.refusal("local", {}, None) is None, "the cap is for remote viewers only"
    sender.forget("b")
    assert sender.refusal("c", {"pixels": "frames"}, None) is None
