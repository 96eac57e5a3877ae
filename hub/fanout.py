"""Fan-out: the viewer socket's sessions, what each viewer may receive, and its acks.

A viewer connects with a random ZeroMQ routing id and says ``hello`` with its name. The hub
maps routing ids to names only through a hello it accepted: a supervised viewer (one the hub
started) must present the token the supervisor gave its process, so no other client can take
its name, read its items or say ``bye`` for it; an unsupervised viewer (a napari dock widget)
registers its own name. Every other message from an unknown routing id is ignored.

Items go out as one ``items`` message per viewer per pump, built from each item's JSON
encoded once (``SceneItem.wire``) however many viewers there are.

This module holds the viewer side only: the scene log decides what is due, the supervisor
owns processes and liveness, and control replies go back through ``on_reply``.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable
from typing import Any

import zmq

from contract.protocol import ProtocolError, decode_header, encode_header
from hub.remote_viewers import FrameSender
from hub.scene import SceneLog
from hub.supervisor import Supervisor, ViewerState

log = logging.getLogger(__name__)

_VIEWER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_CREDITS = 1024


class FanOut:
    """Viewer sessions on one ROUTER socket."""

    def __init__(
        self,
        sock: zmq.Socket,
        scene: SceneLog,
        supervisor: Supervisor,
        hub_pid: int,
        default_credits: int,
        on_reply: Callable[[dict[str, Any]], None],
    ) -> None:
        self.sock = sock
        self.scene = scene
        self.supervisor = supervisor
        self.hub_pid = hub_pid
        self.default_credits = default_credits
        self.on_reply = on_reply
        self._routes: dict[str, bytes] = {}  # viewer name -> routing id of its session
        self._names: dict[bytes, str] = {}  # routing id -> viewer name
        self.frames = FrameSender(sock)  # viewers on other hosts: pixels as frames

    # ------------------------------------------------------------------ sending

    def send(self, name: str, body: dict[str, Any]) -> None:
        self._send_raw(name, encode_header(body))

    def _send_raw(self, name: str, payload: bytes) -> None:
        route = self._routes.get(name)
        if route is None:
            return
        try:
            self.sock.send_multipart([route, payload], zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            log.warning("could not send to viewer %s: %s", name, exc)

    def broadcast(self, body: dict[str, Any]) -> None:
        payload = encode_header(body)
        for name in list(self.scene.cursors):
            self._send_raw(name, payload)

    def pump(self) -> None:
        """Send every viewer what its credits allow, in one message per viewer."""
        prefix = b'{"kind":"items","scene":%d,"items":[' % self.scene.scene_id
        for name in list(self.scene.cursors):
            if name in self.frames.viewers:
                self.frames.send(
                    self._routes.get(name), self.scene.scene_id, [*self.scene.due(name)]
                )
                continue
            due = [item.wire for item in self.scene.due(name)]
            if due:
                self._send_raw(name, prefix + b",".join(due) + b"]}")

    def forget(self, name: str) -> None:
        """Drop a viewer's session (it died, was restarted or left)."""
        route = self._routes.pop(name, None)
        if route is not None:
            self._names.pop(route, None)
        self.frames.forget(name)
        self.scene.detach(name)

    # ------------------------------------------------------------------ receiving

    def on_message(self, frames: list[zmq.Frame]) -> None:
        """Handle one message; a misbehaving client costs its message, never the hub."""
        try:
            self._handle(frames)
        except Exception:
            log.exception("bad message from a viewer client")

    def _handle(self, frames: list[zmq.Frame]) -> None:
        route = frames[0].bytes
        try:
            body = decode_header(frames[1].buffer) if len(frames) > 1 else {}
        except ProtocolError as exc:
            log.warning("bad message from a viewer client: %s", exc)
            return
        kind = body.get("kind")
        name = self._names.get(route)
        if name is None:
            # A viewer's first words, or a heartbeat after the hub restarted under it.
            if kind in ("hello", "heartbeat"):
                self._on_hello(route, body)
            else:
                log.debug("ignored %r from an unknown viewer session", kind)
            return
        if kind == "heartbeat":
            self.supervisor.heartbeat(name, body)
        elif kind == "ack":
            self._on_acks(name, body)
        elif kind == "reply":
            self.on_reply(body)
        elif kind == "bye":
            log.info("viewer %s said goodbye", name)
            self.forget(name)
            viewer = self.supervisor.viewers.get(name)
            if viewer:
                viewer.state = ViewerState.STOPPED  # closed on purpose: not restarted
        elif kind == "hello":
            self._on_hello(route, body)
        else:
            log.warning("viewer %s sent unknown kind %r", name, kind)

    def _on_acks(self, name: str, body: dict[str, Any]) -> None:
        scene, acks = body.get("scene", -1), body.get("acks", [])
        if not isinstance(acks, list):
            return
        for entry in acks:
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int)):
                continue
            index, error = entry
            error = str(error)[:1000] if error else None
            self.scene.ack(name, scene, index, error)
            if error:
                log.warning("viewer %s could not show item %s: %s", name, index, error)
        self.supervisor.heartbeat(name)

    def _on_hello(self, route: bytes, body: dict[str, Any]) -> None:
        name = body.get("name")
        if not isinstance(name, str) or not _VIEWER_NAME.match(name):
            log.warning("viewer hello without a valid name refused: %r", str(name)[:80])
            return
        viewer = self.supervisor.viewers.get(name)
        if viewer is not None and viewer.supervised:
            token = body.get("token")
            if not isinstance(token, str) or not hmac.compare_digest(token, viewer.token):
                log.warning("hello as %s with a wrong token refused (not the hub's process)", name)
                return
        elif viewer is None:
            viewer = self.supervisor.adopt_unsupervised(name, body)
        old = self._routes.get(name)
        if old is not None and old != route:
            self._names.pop(old, None)
        self._routes[name], self._names[route] = route, name
        self.frames.hello(name, body)
        self.supervisor.heartbeat(name, body)
        credits = body.get("credits")
        window = credits if isinstance(credits, int) and not isinstance(credits, bool) else 0
        self.scene.attach(name, max(1, min(window or self.default_credits, MAX_CREDITS)))
        log.info(
            "viewer %s connected (pid %s); replaying %d item(s)",
            name,
            body.get("pid"),
            len(self.scene),
        )
        self.send(name, {"kind": "welcome", "scene": self.scene.scene_id, "hub_pid": self.hub_pid})
