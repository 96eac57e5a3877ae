"""A remote viewer's client refuses items whose frame disagrees with their header.

The pixels of a remote item come as a raw frame beside its JSON header. A frame shorter or
longer than the header's shape and dtype, a dtype outside the protocol, a missing frame: each
is that item's error (acked as such, counted, named), never a crash or a read past the frame.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from contract.keys import make_keys
from viewers.base import Item, Viewer
from viewers.recorder import RecorderDisplayConfig
from viewers.remote import RemoteViewerClient


class _Shown(Viewer):
    config_class = RecorderDisplayConfig

    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple[int, np.ndarray]] = []

    def start(self) -> None: ...

    def show(self, item: Item) -> None:
        self.items.append((item.index, np.array(item.array)))

    def clear(self) -> None: ...

    def screenshot(self, path: Path) -> Path:
        return path

    def close(self) -> None: ...


@pytest.fixture
def client(tmp_path):
    make_keys(tmp_path / "keys")
    made = RemoteViewerClient(
        "tcp://127.0.0.1:9",  # nothing listens: messages are handed in directly
        "remote-test",
        _Shown(),
        keys_dir=tmp_path / "keys",
        spill_dir=tmp_path / "spill",
    )
    yield made
    made.close(clean=False)


def _message(index: int, header: dict, *frames: bytes) -> list[bytes]:
    item = {"kind": "image", "components": {"timepoint": index}, **header}
    body = {"kind": "items", "scene": 1, "items": [{"index": index, "item": item}]}
    return [json.dumps(body).encode(), *frames]


GOOD = {"dtype": "uint16", "shape": [4, 8], "frame": 1}


@pytest.mark.parametrize(
    ("header", "frames", "says"),
    [
        (GOOD, [bytes(63)], "63 bytes of pixels, but its header says 4x8 uint16 (64 bytes)"),
        (GOOD, [bytes(1 << 16)], "65536 bytes of pixels"),
        ({**GOOD, "shape": [1 << 40, 1 << 40]}, [bytes(64)], "64 bytes of pixels"),
        ({**GOOD, "shape": [4, -8]}, [bytes(64)], "not a list of 1 to 5 sizes"),
        ({**GOOD, "shape": "4x8"}, [bytes(64)], "not a list of 1 to 5 sizes"),
        ({**GOOD, "dtype": "object"}, [bytes(64)], "is not one of"),
        ({**GOOD, "dtype": ">u2"}, [bytes(64)], "is not one of"),
        ({**GOOD, "frame": 2}, [bytes(64)], "arrived without its pixels"),
        ({**GOOD, "frame": True}, [bytes(64)], "arrived without its pixels"),
        (GOOD, [], "arrived without its pixels"),
    ],
)
def test_an_item_whose_frame_disagrees_with_its_header_is_refused_with_a_clear_error(
    client, header, frames, says
):
    sent: list[dict] = []
    client._send = sent.append  # what would go to the hub
    client._handle(_message(3, header, *frames))
    client._flush_acks()
    assert client.viewer.items == []
    assert client.errors == 1 and says in client.last_error
    acks = [a for body in sent if body["kind"] == "ack" for a in body["acks"]]
    assert acks == [[3, client.last_error]], "the hub hears which item failed and why"
    pixels = np.arange(32, dtype=np.uint16).reshape(4, 8)
    client._handle(_message(4, GOOD, pixels.tobytes()))  # the next good item is shown
    ((index, shown),) = client.viewer.items
    assert index == 4 and shown.tolist() == pixels.tolist()
