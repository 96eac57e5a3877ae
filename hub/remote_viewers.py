"""Items for viewers on other hosts: the header plus its pixels as ZeroMQ frames.

A viewer on the hub's host maps the pixels from shared memory by segment name; a viewer on
another host cannot, so it says ``"pixels": "frames"`` in its hello (and every heartbeat, so a
session re-established after a dropped link asks again) and receives each item as one message
``[header, pixels]``. The pixels come from the item's hot segment or, once the hub evicted
it, from the scene store's plate on disk.

The scene log's credits decide what is due exactly as for a local viewer: at most a window
of items is in flight per viewer, so a slow link holds back that viewer's cursor and nobody
else (the producer's reply never waits for a viewer). Per-viewer memory in the hub is bounded
by the same window: one copy of the pixels per item in flight.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import numpy as np
import zmq

from contract import shm
from contract.cold import read_cold
from hub.scene import SceneItem

log = logging.getLogger(__name__)

#: What a viewer puts in its hello to receive pixels as frames.
FRAMES = "frames"
#: Header fields that mean something only on the hub's host.
_LOCAL_FIELDS = ("segment", "cold")


class FrameSender:
    """Which viewers take frames, and sending them their due items."""

    def __init__(self, sock: zmq.Socket) -> None:
        self.sock = sock
        self.viewers: set[str] = set()
        self.sent_bytes = 0

    def hello(self, name: str, body: dict[str, Any]) -> None:
        """A viewer (re)connected: remember whether it asked for frames."""
        if body.get("pixels") == FRAMES:
            self.viewers.add(name)
        else:
            self.viewers.discard(name)

    def forget(self, name: str) -> None:
        self.viewers.discard(name)

    def send(self, route: bytes | None, scene_id: int, items: list[SceneItem]) -> None:
        """One message per item, so a viewer shows the first while the next is on the wire."""
        if route is None:
            return
        for item in items:
            header = {k: v for k, v in item.header.items() if k not in _LOCAL_FIELDS}
            frames: list[Any] = []
            if header.get("kind") == "image":
                try:
                    frames.append(_pixels(item.header))
                    header["frame"] = 1
                except Exception as exc:  # gone from memory and disk: the viewer acks an error
                    header["missing"] = f"{type(exc).__name__}: {exc}"
                    log.warning("item %d has no readable pixels: %s", item.index, exc)
            body = {
                "kind": "items",
                "scene": scene_id,
                "items": [{"index": item.index, "item": header}],
            }
            head = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
            try:
                self.sock.send_multipart([route, head, *frames], zmq.NOBLOCK, copy=False)
                self.sent_bytes += sum(len(f) for f in frames)
            except zmq.ZMQError as exc:
                log.warning("could not send item %d to a remote viewer: %s", item.index, exc)


def _pixels(header: dict[str, Any]) -> bytes:
    """The item's pixels, C order: from the hot segment while it is there, else the plate.

    A copy, not a view of the segment: a segment goes back to the hub's pool when its scene
    is cleared and may hold the next item's pixels before ZeroMQ has sent this one.
    """
    dtype, shape = np.dtype(header["dtype"]), tuple(header["shape"])
    nbytes = math.prod(shape) * dtype.itemsize
    segment = header.get("segment")
    if segment:
        try:
            mapping = shm.open_readonly(segment, nbytes)
        except shm.SegmentError:
            if "cold" not in header:
                raise
        else:
            try:
                return mapping[:nbytes]
            finally:
                mapping.close()
    if "cold" not in header:
        raise LookupError("neither in memory nor on disk")
    return np.ascontiguousarray(read_cold(header["cold"], shape, dtype)).tobytes()
