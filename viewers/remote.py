"""A viewer on another host than the hub: pixels arrive as ZeroMQ frames over CURVE.

``hub attach napari --hub tcp://server:7700 --keys DIR`` runs this on a workstation. The
client says ``"pixels": "frames"`` in its hello and every heartbeat; the hub then sends each
item as ``[header, pixels]`` (``hub.remote_viewers``) under the same credit window as a local
viewer, so a slow link holds back only this viewer. Received planes stay in the buffers this
process keeps, within a memory budget (``viewers.remote_planes``), and the adapter gets the
same :class:`~viewers.base.Item` as on the hub's host (``array`` during ``show``, ``refs``
after it): napari, Fiji and the recorder run unchanged.

A dropped link is noticed by ZeroMQ heartbeats within ``LINK_TIMEOUT_S``; the socket
reconnects by itself, the next heartbeat says hello again, and the hub replays the whole
scene (the viewer is cleared first), so the viewer ends with every item of the scene.
"""

from __future__ import annotations

import logging
import math
import secrets
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import zmq

from contract import defaults
from contract.connection import HubConnection
from contract.planes import PlaneGoneError
from contract.protocol import ALLOWED_DTYPES, ProtocolError, decode_header
from viewers.base import Item, Viewer
from viewers.client import ViewerClient
from viewers.remote_planes import PlaneStore

log = logging.getLogger(__name__)

#: Seconds between reconnection attempts after a dropped link (first, and at most).
RECONNECT_S = (0.2, 2.0)


class RemoteViewerClient(ViewerClient):
    """A :class:`ViewerClient` that receives pixels as frames and keeps them itself."""

    def __init__(
        self,
        endpoint: str,
        name: str,
        viewer: Viewer,
        *,
        memory_budget: int = defaults.REMOTE_VIEWER_MEMORY,
        spill_dir: Path | None = None,
        **options: Any,
    ) -> None:
        """``options`` are :class:`ViewerClient`'s (``plugin``, ``credits``, ``keys_dir``);
        credits default to :data:`~contract.defaults.REMOTE_CREDITS` (each a whole image on
        the wire)."""
        options.setdefault("credits", defaults.REMOTE_CREDITS)
        self.planes = PlaneStore(memory_budget, spill_dir)
        self._frames: list[bytes] = []
        self.welcomes = 0  # sessions the hub opened for us (1 + reconnections)
        # Which process we are, in every hello: a reconnection is let back into its session,
        # a second viewer under our name is refused (hub.remote_viewers).
        self._session = secrets.token_hex(8)
        self.refused: str | None = None  # why the hub refused our last hello
        self.refused_since = 0.0  # monotonic time of the first refusal for that reason
        super().__init__(endpoint, name, viewer, **options)

    def _prepare_socket(self, sock: zmq.Socket) -> None:
        """Link heartbeats and quick reconnection: a dropped network is noticed in seconds."""
        sock.setsockopt(zmq.HEARTBEAT_IVL, int(defaults.LINK_HEARTBEAT_S * 1000))
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, int(defaults.LINK_TIMEOUT_S * 1000))
        sock.setsockopt(zmq.HEARTBEAT_TTL, int(defaults.LINK_TIMEOUT_S * 1000))
        sock.setsockopt(zmq.RECONNECT_IVL, int(RECONNECT_S[0] * 1000))
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, int(RECONNECT_S[1] * 1000))
        if "[" in self.endpoint:
            sock.setsockopt(zmq.IPV6, 1)

    def _stats(self) -> dict[str, Any]:
        stats = {**super()._stats(), "pixels": "frames", "planes": self.planes.status()}
        return {**stats, "session": self._session}

    def _handle(self, frames: list[bytes]) -> None:
        self._frames = frames[1:]
        try:
            kind = decode_header(frames[0]).get("kind")
        except ProtocolError:
            kind = None
        # the base client clears the viewer on a clear, and on a welcome after the first one
        # (a reconnection: the hub replays the scene); the planes kept for it go too
        cleared = kind == "clear" or (kind == "welcome" and self.scene is not None)
        if kind == "refused":  # our hellos (every heartbeat) ask again until it lets us in
            reason = str(decode_header(frames[0]).get("reason"))[:300]
            if reason != self.refused:
                log.info("%s: the hub refused this viewer: %s", self.name, reason)
                self.refused_since = time.monotonic()
            self.refused = reason
            return
        if kind == "welcome":
            self.refused = None
        try:
            super()._handle(frames)
        finally:
            self._frames = []
        if kind == "welcome":
            self.welcomes += 1
            if self.welcomes > 1:
                log.info("%s: reconnected to the hub; the scene is replayed", self.name)
        if cleared:
            self.planes.clear()

    def _on_cold(self, body: dict[str, Any]) -> None:
        """The hub's disk is not ours: our planes stay where we put them."""

    def _land(self, index: int, header: dict[str, Any], item: Item) -> Any:
        if "missing" in header:
            raise PlaneGoneError(f"the hub could not read item {index}: {header['missing']}")
        number = header.get("frame")
        if type(number) is not int or not 1 <= number <= len(self._frames):
            raise ValueError(f"item {index} arrived without its pixels")
        dtype, shape = _plane_format(header)
        count = math.prod(shape)
        data = self._frames[number - 1]
        if len(data) != count * dtype.itemsize:  # never read past (or short of) the frame
            raise ValueError(
                f"item {index}: {len(data)} bytes of pixels, but its header says "
                f"{'x'.join(map(str, shape))} {dtype} ({count * dtype.itemsize} bytes)"
            )
        item.array = np.frombuffer(data, dtype=dtype, count=count).reshape(shape)
        item.refs, spilled = self.planes.land(item.array)
        if spilled:
            try:
                self.viewer.relocated(spilled)
            except Exception as exc:  # the viewer's bug must not stop the connection
                log.error("%s could not take relocated planes: %s", self.name, exc)
        return None

    def close(self, clean: bool = True) -> None:
        super().close(clean)
        self.planes.close()


def _plane_format(header: dict[str, Any]) -> tuple[np.dtype, tuple[int, ...]]:
    """The header's dtype and shape, under the protocol's rules (the hub checked them too)."""
    name, shape = header.get("dtype"), header.get("shape")
    if not isinstance(name, str) or name not in ALLOWED_DTYPES:
        raise ValueError(f"dtype {str(name)[:40]!r} is not one of {sorted(ALLOWED_DTYPES)}")
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= 5
        or not all(type(n) is int and n >= 0 for n in shape)
    ):
        raise ValueError(f"shape {str(shape)[:80]} is not a list of 1 to 5 sizes")
    return np.dtype(name), tuple(shape)


def viewer_endpoint(hub: str, keys_dir: str | Path | None, timeout_s: float = 10.0) -> str:
    """The hub's viewer endpoint as seen from here: its host from ``hub``, its port from ping."""
    conn = HubConnection(hub, timeout_s=timeout_s, keys_dir=keys_dir)
    try:
        info = conn.control("ping", timeout_s=timeout_s)
    finally:
        conn.close()
    port = urlparse(info["viewer_endpoint"]).port
    host = urlparse(hub).hostname or defaults.LOOPBACK
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


def default_name(plugin: str) -> str:
    """``napari-workstation``: a viewer's name at the hub says which host it runs on."""
    host = "".join(c if c.isalnum() or c in "_.-" else "-" for c in socket.gethostname())
    return f"{plugin}-{host}"[:64]


#: Seconds a refused viewer keeps asking before it gives up: longer than the hub waits for a
#: silent owner of the name (hub.remote_viewers.SESSION_ALIVE_S), so a viewer restarted after
#: a crash gets its name back.
REFUSED_WAIT_S = 5.0


def wait_welcome(client: RemoteViewerClient, timeout_s: float) -> bool:
    """Poll until the hub opened our session; False if it never did (not reachable for us, or
    refused: then ``client.refused`` says why)."""
    deadline = time.monotonic() + timeout_s
    while client.scene is None and time.monotonic() < deadline and not client.closed:
        client.poll_once(timeout_ms=100)
        if client.refused and time.monotonic() > client.refused_since + REFUSED_WAIT_S:
            break
    return client.scene is not None
