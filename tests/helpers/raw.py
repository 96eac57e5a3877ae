"""A raw DEALER with the user's own CURVE keys: a hostile but authenticated local producer."""

from __future__ import annotations

import json

import numpy as np
import zmq

from contract.keys import client_curve, keys_dir_for


def dealer(endpoint: str, identity: bytes | None = None) -> zmq.Socket:
    """A DEALER connected to a hub socket with this user's keys (the hub requires them)."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if identity is not None:
        sock.setsockopt(zmq.IDENTITY, identity)
    client_curve(sock, keys_dir_for())
    sock.connect(endpoint)
    return sock


class RawClient:
    """Sends arbitrary frames and returns the decoded reply."""

    def __init__(self, endpoint: str) -> None:
        self.sock = dealer(endpoint)

    def send(self, *frames: bytes, timeout_ms: int = 10_000) -> dict:
        self.sock.send_multipart(list(frames))
        assert self.sock.poll(timeout_ms), "hub did not reply"
        return json.loads(self.sock.recv())

    def close(self) -> None:
        self.sock.close()


def image_header(**overrides: object) -> dict:
    """A valid 4x4 uint16 image header carried in frame 1; ``None`` drops a field."""
    item = {
        "kind": "image",
        "req": 1,
        "components": {"channel": 1},
        "dtype": "uint16",
        "shape": [4, 4],
        "frame": 1,
    }
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not None}


#: The pixels ``image_header()`` describes.
PIXELS = np.zeros((4, 4), np.uint16).tobytes()
