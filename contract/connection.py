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
        req = next(self._ids)
        self._sock.send_multipart([encode_header({**header, "req": req}), *frames], copy=False)
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._sock.poll(int(remaining * 1000) + 1, zmq.POLLIN):
                raise HubTimeoutError(
                    f"hub at {self.endpoint} did not answer {header.get('kind')} request "
                    f"within {self.timeout_s if timeout_s is None else timeout_s:.1f} s "
                    f"(is it running? `hub status --port ...`)"
                )
            reply = decode_header(self._sock.recv())
            if reply.get("req") != req:
                continue  # a late reply to an earlier, timed-out request
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
