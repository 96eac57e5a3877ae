"""The OpenHCS/polystore sender's ports, as an adapter on top of ingest.

That sender talks to a viewer's data port (REQ, a JSON ``batch``), its control port (data port
+ 1000: ``ping``, ``status``) and expects an ack pushed per displayed image: to its fixed ack
port (polystore 0.2.x), or to the ``return_route`` each item names (polystore 0.6).
This adapter binds those ports (IPC and TCP), turns each batch into viewerhub items
(``hub.openhcs.translate_batch``) and hands them to :class:`~hub.ingest.Ingest` as a
:class:`~hub.ingest.Request` that answers in the sender's form, may name the sender's own
segments, and waits for memory no longer than the sender does. It acks an item once every
acking viewer has shown it, and unlinks the sender's segments it copied after a grace (older
senders leave that to the receiver). The hub core knows nothing of any of this.
"""

from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import zmq

from contract import shm
from contract.protocol import ErrorCode, ProtocolError, decode_header, encode_header
from hub import openhcs
from hub.endpoints import bind
from hub.ingest import Request
from hub.openhcs import AckRoute, CompatConfig

if TYPE_CHECKING:
    from hub.server import Hub

log = logging.getLogger(__name__)

#: Routed-ack sockets kept open (one per sender process and transport); the oldest goes first.
MAX_ROUTE_SOCKETS = 32


@dataclass(frozen=True)
class _Port:
    role: str  # "data" or "control"
    viewer_type: str  # "napari" or "fiji": the sender's target
    port: int  # the data port (acks name it)
    transport: str  # "ipc" or "tcp"


@dataclass(frozen=True)
class _PendingAck:
    scene: int
    index: int
    image_id: str
    source: _Port
    route: AckRoute | None = None  # polystore 0.6: where this item's ack goes


class OpenHCSPorts:
    """Serves the OpenHCS sender unchanged for one hub."""

    def __init__(self, hub: Hub, config: CompatConfig) -> None:
        self.hub = hub
        self.config = config
        self.ports: dict[zmq.Socket, _Port] = {}
        self._acks: collections.deque[_PendingAck] = collections.deque()  # in index order
        self._ack_sockets: dict[str, zmq.Socket] = {}
        self._route_sockets: collections.OrderedDict[str, zmq.Socket] = collections.OrderedDict()
        self._orphans: collections.deque[tuple[float, str]] = collections.deque()
        for viewer_type, port in config.ports.items():
            for role, bound in (("data", port), ("control", port + openhcs.CONTROL_OFFSET)):
                for transport in config.transports:
                    sock = hub.ctx.socket(zmq.ROUTER)
                    sock.setsockopt(zmq.LINGER, 0)
                    self.ports[sock] = _Port(role, viewer_type, port, transport)
                    for endpoint in openhcs.endpoints(
                        bound, replace(config, transports=(transport,))
                    ):
                        bind(sock, endpoint)
        log.info(
            "OpenHCS compatibility on ports %s (%s)", config.ports, "/".join(config.transports)
        )

    # ------------------------------------------------------------------ requests

    def on_message(self, sock: zmq.Socket, frames: list[zmq.Frame]) -> None:
        source = self.ports[sock]
        identity = frames[0].bytes
        envelope = [identity, b""] if len(frames) > 1 and len(frames[1]) == 0 else [identity]
        body = frames[len(envelope)].bytes if len(frames) > len(envelope) else b""

        def answer(reply: dict[str, Any], raw: bool = False) -> None:
            if not raw:  # a batch reply in the sender's form
                ok = bool(reply.get("ok"))
                n = len(reply.get("indices", []))
                message = f"accepted {n} item(s) into the viewerhub scene" if ok else reply["error"]
                reply = openhcs.reply(ok, str(message))
            try:
                sock.send_multipart([*envelope, encode_header(reply)], zmq.NOBLOCK)
            except zmq.ZMQError as exc:
                log.warning("could not reply to the OpenHCS sender: %s", exc)

        request = Request(None, answer, deadline_s=self.config.reply_timeout_s)
        ingest = self.hub.ingest
        try:
            if body[:1] == b"\x80":
                raise ProtocolError(
                    ErrorCode.MALFORMED,
                    "pickle is refused: viewerhub speaks JSON only (use polystore >= 0.2)",
                )
            message = decode_header(body, self.hub.config.limits)
            if source.role == "control":
                self._on_control(message, source, lambda r: answer(r, raw=True))
                return
            items, image_ids = openhcs.translate_batch(message)
            routes = openhcs.ack_routes(message)
            request.foreign_segments = True
            request.held_bytes = request.header_bytes = len(body)
            request.on_accepted = lambda indices, copied: self._accepted(
                indices, copied, image_ids, source, routes
            )
            ingest.submit(request, {"kind": "batch", "items": items}, 1)
        except ProtocolError as exc:
            ingest.refuse(request, exc)
        except Exception as exc:
            ingest.internal_error(request, exc)

    def _on_control(self, message: dict, source: _Port, answer: Any) -> None:
        kind = message.get("type")
        if kind == "ping":
            answer(
                {
                    "type": "pong",
                    "status": "success",
                    "port": source.port,
                    "control_port": source.port + openhcs.CONTROL_OFFSET,
                    "ready": True,
                    "server": "viewerhub",
                    "hub_pid": self.hub.pid,
                }
            )
        elif kind == "status":
            answer({"status": "success", "payload": self.hub.status()})
        else:
            raise ProtocolError(
                ErrorCode.UNKNOWN_KIND,
                f"control type {kind!r:.40}: only ping and status are served",
                "type",
            )

    def _accepted(
        self,
        indices: list[int],
        copied: list[str],
        image_ids: list[str],
        source: _Port,
        routes: list[AckRoute | None],
    ) -> None:
        scene = self.hub.scene.scene_id
        for index, image_id, route in zip(indices, image_ids, routes):
            if image_id:
                self._acks.append(_PendingAck(scene, index, image_id, source, route))
        grace = time.monotonic() + self.config.orphan_grace_s
        self._orphans.extend((grace, name) for name in copied)

    # ------------------------------------------------------------------ acks and clean-up

    def send_acks(self) -> None:
        """Ack items once every connected, acking viewer has shown them."""
        scene = self.hub.scene
        while self._acks:
            ack = self._acks[0]
            if ack.scene == scene.scene_id and not scene.shown_by_all(
                ack.index, self.hub.config.hang_restart_s
            ):
                return
            self._acks.popleft()
            if ack.scene != scene.scene_id:
                continue  # cleared before it was shown
            wire = openhcs.image_ack(
                ack.image_id, ack.source.port, ack.source.viewer_type, None, ack.route
            )
            sock = (
                self._route_socket(ack.route.url)
                if ack.route is not None
                else self._ack_socket(ack.source.transport)
            )
            try:
                sock.send(encode_header(wire), zmq.NOBLOCK)
            except zmq.ZMQError:
                log.debug("OpenHCS ack for %s not delivered (nobody listening)", ack.image_id)

    def _route_socket(self, url: str) -> zmq.Socket:
        """A PUSH socket to one sender's own ack listener (checked local by ack_routes)."""
        sock = self._route_sockets.get(url)
        if sock is not None:
            self._route_sockets.move_to_end(url)
            return sock
        if len(self._route_sockets) >= MAX_ROUTE_SOCKETS:
            _, oldest = self._route_sockets.popitem(last=False)
            oldest.close()
        sock = self.hub.ctx.socket(zmq.PUSH)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 10_000)
        sock.connect(url)
        self._route_sockets[url] = sock
        return sock

    def _ack_socket(self, transport: str) -> zmq.Socket:
        sock = self._ack_sockets.get(transport)
        if sock is None:
            sock = self.hub.ctx.socket(zmq.PUSH)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, 10_000)
            targets = openhcs.ack_endpoint(transport, self.config)
            fallback = openhcs.ipc_path(self.config.ack_port, *openhcs.IPC_FLAVOURS[0])
            sock.connect(targets[0] if targets else f"ipc://{fallback}")
            self._ack_sockets[transport] = sock
        return sock

    def unlink_orphans(self, everything: bool = False) -> None:
        """Sender segments we copied and it did not unlink: remove them after a grace.

        polystore 0.2.x unlinks its segments right after our reply; the older OpenHCS sender
        leaves that to the receiver. Waiting a grace period serves both and leaks nothing.
        """
        now = time.monotonic()
        while self._orphans and (everything or self._orphans[0][0] <= now):
            _, name = self._orphans.popleft()
            if shm.unlink(name):
                log.info("removed sender segment %s that nobody unlinked", name)

    def close(self) -> None:
        self.unlink_orphans(everything=True)
        for sock in [*self.ports, *self._ack_sockets.values(), *self._route_sockets.values()]:
            sock.close()
