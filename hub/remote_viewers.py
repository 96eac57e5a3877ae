"""Items for viewers on other hosts: the header plus its pixels as ZeroMQ frames.

A viewer on the hub's host maps the pixels from shared memory by segment name; a viewer on
another host cannot, so it says ``"pixels": "frames"`` in its hello (and every heartbeat, so a
session re-established after a dropped link asks again) and receives each item as one message
``[header, pixels]``. The pixels come from the item's hot segment or, once the hub evicted
it, from the scene store's plate on disk.

The scene log's credits decide what is due exactly as for a local viewer: at most a window
of items is in flight per viewer, so a slow link holds back that viewer's cursor and nobody
else (the producer's reply never waits for a viewer). Credits alone do not bound the hub's
memory, though: an ack says nothing about what the client read, so a client that acks what
it never received (or says hello again and again, each time restarting the replay) would
have the hub queue copies of pixels without end. The bytes each viewer's messages hold in
ZeroMQ's queue are therefore counted with message trackers, and nothing more goes to a viewer
with :data:`QUEUE_BYTES` still unsent (one item always may: a plane larger than the cap).
"""

from __future__ import annotations

import collections
import json
import logging
import math
from typing import Any

import numpy as np
import zmq

from contract import shm
from contract.planes import read_cold
from hub.scene import SceneItem, SceneLog

log = logging.getLogger(__name__)

#: What a viewer puts in its hello to receive pixels as frames.
FRAMES = "frames"
#: Header fields that mean something only on the hub's host.
_LOCAL_FIELDS = ("segment", "cold")
#: Seconds a remote viewer's session counts as alive after the hub last heard from it: another
#: process asking for the same name within it is refused (it heartbeats every 0.5 s).
SESSION_ALIVE_S = 3.0
#: Remote viewers one hub serves at once: with :data:`QUEUE_BYTES` each, what the hub may
#: hold for all of them is bounded too (a client with keys could otherwise open sessions
#: under new names without end).
MAX_REMOTE_VIEWERS = 16
#: Bytes of pixels the hub may hold in one remote viewer's send queue (what ZeroMQ has not
#: yet written to its connection). Eight 2048x2048 uint16 planes: far above what the default
#: credit window keeps in flight, so it binds only on a client that does not read.
QUEUE_BYTES = 64 << 20


class FrameSender:
    """Which viewers take frames, and sending them their due items."""

    def __init__(self, sock: zmq.Socket, queue_bytes: int = QUEUE_BYTES) -> None:
        self.sock = sock
        self.queue_bytes = queue_bytes
        self.viewers: set[str] = set()
        self.sent_bytes = 0
        #: per viewer: (tracker, bytes) of messages ZeroMQ may still hold
        self._queues: dict[str, collections.deque[tuple[Any, int]]] = {}
        self._sessions: dict[str, str] = {}  # viewer name -> the session id its process sent

    def hello(self, name: str, body: dict[str, Any]) -> None:
        """A viewer (re)connected: remember whether it asked for frames, and its session."""
        if body.get("pixels") == FRAMES:
            self.viewers.add(name)
        else:
            self.viewers.discard(name)
        session = body.get("session")
        if isinstance(session, str):
            self._sessions[name] = session[:64]
        else:
            self._sessions.pop(name, None)

    def refusal(self, name: str, body: dict[str, Any], heard_s: float | None) -> str | None:
        """Why a hello for a new session must be refused: the hub serves
        :data:`MAX_REMOTE_VIEWERS` already, or ``name`` belongs to another live remote viewer.

        Two ``hub attach`` with one name (the same workstation twice) would otherwise take the
        session from each other at every heartbeat, each time replaying the whole scene. A
        process that reconnects (a dropped link) sends its own session id again and is let
        in; so is anybody once the other has been silent for :data:`SESSION_ALIVE_S`.
        ``heard_s``: seconds since the hub last heard from ``name`` (None: never).
        """
        if (
            body.get("pixels") == FRAMES
            and name not in self.viewers
            and len(self.viewers) >= MAX_REMOTE_VIEWERS
        ):
            return (
                f"the hub serves {MAX_REMOTE_VIEWERS} remote viewers already: detach one "
                f"(one that vanished is forgotten after the hub's hang timeout)"
            )
        known, session = self._sessions.get(name), body.get("session")
        if known is None or (isinstance(session, str) and session[:64] == known):
            return None  # not a remote viewer's name, or its own process reconnecting
        if heard_s is None or heard_s > SESSION_ALIVE_S:
            return None
        return f"the name {name!r} is in use by another viewer: give this one --name"

    def forget(self, name: str) -> None:
        self.viewers.discard(name)
        self._queues.pop(name, None)
        self._sessions.pop(name, None)

    def queued(self, name: str) -> int:
        """Bytes of pixels sent to ``name`` that ZeroMQ still holds (not yet on the wire)."""
        queue = self._queues.get(name)
        if not queue:
            return 0
        while queue and queue[0][0].done:
            queue.popleft()
        return sum(nbytes for _, nbytes in queue)

    def status(self, name: str) -> dict[str, int]:
        return {"queued_bytes": self.queued(name)} if name in self.viewers else {}

    def pump(self, name: str, route: bytes | None, scene: SceneLog) -> None:
        """Send ``name`` its due items while its queue is under :data:`QUEUE_BYTES`.

        Items are taken from the scene one at a time, so those not sent stay due (the
        cursor does not pass them) until the queue drains.
        """
        if route is None or self.queued(name) >= self.queue_bytes:
            return
        queued = self.queued(name)
        for item in scene.due(name):
            queued += self.send(route, scene.scene_id, [item], name)
            if queued >= self.queue_bytes:
                return

    def send(
        self, route: bytes | None, scene_id: int, items: list[SceneItem], name: str = ""
    ) -> int:
        """One message per item, so a viewer shows the first while the next is on the wire.

        Returns the bytes of pixels handed to ZeroMQ; with ``name``, they count in its queue.
        """
        if route is None:
            return 0
        handed = 0
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
            nbytes = sum(len(f) for f in frames)
            try:
                tracker = self.sock.send_multipart(
                    [route, head, *frames], zmq.NOBLOCK, copy=False, track=bool(name)
                )
            except zmq.ZMQError as exc:
                log.warning("could not send item %d to a remote viewer: %s", item.index, exc)
                continue
            self.sent_bytes += nbytes
            handed += nbytes
            if name and nbytes and tracker is not None:
                self._queues.setdefault(name, collections.deque()).append((tracker, nbytes))
        return handed


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
