"""A producer's or controller's connection to a hub's ingest endpoint (request/reply).

One DEALER socket, always a CURVE client (keys from ``keys_dir``, ``$VIEWERHUB_KEYS_DIR`` or the
user's own key directory, see ``hub.security``);
every request carries a ``req`` number and waits for the reply with that
number, so a reply that arrives after its request timed out is recognised and dropped. A hub
that does not answer within ``timeout_s`` raises :class:`HubTimeoutError` instead of hanging.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import zmq

from contract.keys import client_curve, keys_dir_for
from contract.protocol import decode_header, encode_header


class HubError(RuntimeError):
    """The hub refused a request; ``code`` and ``field`` say why (see contract.protocol)."""

    def __init__(self, message: str, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


class HubTimeoutError(HubError, TimeoutError):
    """The hub did not answer in time (it is not running, hung, or its budget stayed full)."""


class HubConnection:
    def __init__(
        self, endpoint: str, timeout_s: float = 60.0, keys_dir: str | Path | None = None
    ) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)
        self._waiting: set[int] = set()  # requests sent and not yet answered
        self._early: dict[int, dict[str, Any]] = {}  # their replies, if they came first
        self._sock = zmq.Context.instance().socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        try:
            client_curve(self._sock, keys_dir_for(keys_dir))
        except BaseException:
            self._sock.close()
            raise
        if "[" in endpoint:  # tcp://[::1]:7700: an IPv6 peer
            self._sock.setsockopt(zmq.IPV6, 1)
        self._sock.connect(endpoint)

    def request(
        self,
        header: dict[str, Any],
        frames: Sequence[Any] = (),
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """Send header (+ raw frames, zero-copy) and return the reply; raise on refusal."""
        return self.receive(self.send(header, frames), timeout_s, str(header.get("kind")))

    def send(self, header: dict[str, Any], frames: Sequence[Any] = ()) -> int:
        """Send a request without waiting; its number, for :meth:`receive` (pipelining)."""
        req = next(self._ids)
        self._sock.send_multipart([encode_header({**header, "req": req}), *frames], copy=False)
        self._waiting.add(req)
        return req

    def receive(self, req: int, timeout_s: float | None = None, what: str = "") -> dict[str, Any]:
        """The reply to request ``req``; replies to other requests still awaited are kept."""
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        try:
            while (reply := self._early.pop(req, None)) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._sock.poll(int(remaining * 1000) + 1, zmq.POLLIN):
                    raise HubTimeoutError(
                        f"hub at {self.endpoint} did not answer {what or 'a'} request "
                        f"within {self.timeout_s if timeout_s is None else timeout_s:.1f} s "
                        f"(is it running? `hub status --port ...`)"
                    )
                got = decode_header(self._sock.recv())
                if got.get("req") in self._waiting and got.get("req") != req:
                    self._early[got["req"]] = got  # a pipelined request answered first
                elif got.get("req") == req:
                    reply = got
                    break
                # else: a late reply to an earlier, timed-out request
        finally:
            self._waiting.discard(req)
        if not reply.get("ok"):
            raise HubError(
                f"hub refused the request: {reply.get('error')}",
                reply.get("code"),
                reply.get("field"),
            )
        return reply

    def control(self, verb: str, timeout_s: float | None = None, **args: Any) -> dict[str, Any]:
        return self.request({"kind": "control", "verb": verb, "args": args}, timeout_s=timeout_s)

    def close(self) -> None:
        self._sock.close()
