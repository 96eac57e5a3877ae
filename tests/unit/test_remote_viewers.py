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

    def send_multipart(self, frames, flags=0, copy=True):
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
