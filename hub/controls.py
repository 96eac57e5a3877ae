"""Control verbs: what a producer, the CLI or the panel may ask the hub to do.

Verbs the hub answers itself (``ping``, ``status``, ``clear``, ``shutdown``, ``restart``) and
verbs it forwards to one viewer and answers when that viewer replies (``screenshot``,
``goto``, ``inspect``), within ``control_timeout_s``. Every verb travels on the CURVE-protected
ingest socket, so only the hub's own user reaches this module.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from contract import shm
from contract.protocol import (
    CONTROL_VERBS,
    PROTOCOL_VERSION,
    ErrorCode,
    ProtocolError,
    reply_error,
    reply_ok,
)
from hub.ingest import Request

if TYPE_CHECKING:
    from hub.server import Hub

log = logging.getLogger(__name__)

#: Verbs a viewer answers; the hub forwards them to the viewer named in ``args.viewer``.
FORWARDED_VERBS = frozenset({"screenshot", "goto", "inspect"})

Reply = Callable[[dict[str, Any]], None]


class Controls:
    """Answers control verbs for one hub."""

    def __init__(self, hub: Hub, timeout_s: float) -> None:
        self.hub = hub
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)
        self._waiting: dict[str, tuple[Any, Reply, float]] = {}  # id -> (req, reply, sent)

    def handle(self, req: Any, header: dict[str, Any], reply: Reply) -> None:
        """Answer one control message; a bad verb or argument is a named error reply."""
        try:
            self._handle(req, header, reply)
        except ProtocolError as exc:
            self.hub.ingest.refuse(Request(req, reply), exc)  # counted with every refusal

    def _handle(self, req: Any, header: dict[str, Any], reply: Reply) -> None:
        hub = self.hub
        verb = header.get("verb")
        args = header.get("args") or {}
        if not isinstance(args, dict):
            raise ProtocolError(ErrorCode.BAD_FIELD, "control: 'args' must be an object", "args")
        if verb == "ping":
            reply(
                reply_ok(
                    req,
                    pong=True,
                    hub_pid=hub.pid,
                    version=PROTOCOL_VERSION,
                    shm_prefix=f"{shm.PREFIX}{hub.pid}-p",
                    viewer_endpoint=hub.viewer_endpoint,
                    scene=hub.scene.scene_id,
                )
            )
        elif verb == "status":
            reply(reply_ok(req, status=hub.status()))
        elif verb == "clear":
            hub.clear()
            reply(reply_ok(req, scene=hub.scene.scene_id))
        elif verb == "shutdown":
            reply(reply_ok(req))
            hub.running = False
        elif verb == "restart":
            name = self._viewer_name(verb, args, connected=False)
            hub.restart_viewer(name)
            reply(reply_ok(req, viewer=name, state=hub.supervisor.viewers[name].state.value))
        elif verb in FORWARDED_VERBS:
            self._forward(req, reply, verb, args)
        else:
            raise ProtocolError(
                ErrorCode.UNKNOWN_KIND,
                f"unknown control verb {verb!r:.40}; expected one of {sorted(CONTROL_VERBS)}",
                "verb",
            )

    def _viewer_name(self, verb: str, args: dict[str, Any], connected: bool) -> str:
        name = args.get("viewer")
        known = self.hub.supervisor.viewers
        ok = isinstance(name, str) and name in known
        if ok and connected:
            ok = name in self.hub.scene.cursors
        if not ok:
            choices = sorted(self.hub.scene.cursors if connected else known)
            raise ProtocolError(
                ErrorCode.NOT_FOUND,
                f"{verb}: no {'connected ' if connected else ''}viewer {name!r:.40}; "
                f"{'connected' if connected else 'known'}: {choices}",
                "args.viewer",
            )
        return name

    def _forward(self, req: Any, reply: Reply, verb: str, args: dict[str, Any]) -> None:
        name = self._viewer_name(verb, args, connected=True)
        control_id = f"c{next(self._ids)}"
        self._waiting[control_id] = (req, reply, time.monotonic())
        self.hub.fanout.send(
            name, {"kind": "control", "id": control_id, "verb": verb, "args": args}
        )

    def on_viewer_reply(self, body: dict[str, Any]) -> None:
        """A viewer answered a forwarded verb: pass the answer to whoever asked."""
        waiting = self._waiting.pop(str(body.get("id")), None)
        if waiting is None:
            return
        req, reply, _ = waiting
        result = body.get("result") if isinstance(body.get("result"), dict) else {}
        if body.get("ok"):
            reply(reply_ok(req, **result))
        else:
            reply(reply_error(req, str(body.get("error"))[:2000]))

    def expire(self) -> None:
        """Answer verbs whose viewer did not reply in time."""
        now = time.monotonic()
        for control_id, (req, reply, sent) in list(self._waiting.items()):
            if now - sent > self.timeout_s:
                del self._waiting[control_id]
                reply(reply_error(req, "viewer did not answer in time"))
