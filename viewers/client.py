"""The viewer's side of the hub connection: hello, items, acks, credits, heartbeats.

An adapter never sees a socket. :class:`ViewerClient` receives items, maps their pixels
read-only from the hub's shared memory, builds an :class:`~viewers.base.Item`, calls
``viewer.show`` and acks it (with the error text if ``show`` raised). Every poll also sends a
heartbeat when one is due, so a viewer whose event loop hangs stops heartbeating and the hub
notices. The client is single-threaded on purpose: GUI viewers call :meth:`poll_once` from
their own event loop.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import math
import os
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import zmq

from contract import defaults, shm
from contract.defaults import TOKEN_ENV
from contract.keys import client_curve, keys_dir_for
from contract.planes import read_cold, refs_for_header
from contract.protocol import ProtocolError, decode_from_hub, encode_header
from contract.shapes import ShapeError, parse_shapes
from viewers.base import DisplayConfig, Item, Viewer
from viewers.client_controls import ViewerControls
from viewers.client_planes import ClientPlanes
from viewers.client_trace import ItemTrace

log = logging.getLogger(__name__)

#: Seconds a viewer may hold the acks of shown items: one ack for a few rounds. They also go
#: at half the credits, at a heartbeat, at a new scene, and at once when messages come further
#: apart than this (a fast stream's 20 ms rounds): a hold cannot then join two messages' acks,
#: it only costs a wake-up per message. Not longer: the hub evicts on-disk items no viewer has
#: in flight, so a longer hold makes it evict newer items that viewers then read from disk
#: (25 ms did, with an 8 MiB budget: tests/integration/test_plane_refs.py).
ACK_DELAY_S = 0.015
#: Seconds: held acks due within this go with the poll that handled a message (rounds come
#: about this often), so acks ride on wake-ups the items cause.
ACK_EARLY_S = 0.005
#: Items after which a poll reads no further message (a message is taken whole): a GUI's
#: event loop gets its turn, whatever the credit window.
ITEMS_PER_POLL = 16

#: How the hub's ``cold`` messages begin (keys in order): a viewer with no refs to re-point
#: skips them undecoded (~100 bytes per stored item); another spelling is simply decoded.
_COLD_PREFIX = b'{"kind":"cold",'


class _GoneError(Exception):
    """The item's segment was evicted or replaced after the hub sent it; no cold copy known."""


@functools.lru_cache(maxsize=64)
def _format(name: str, shape: tuple[int, ...]) -> tuple[np.dtype, np.ndarray]:
    """``np.dtype(name)`` (numpy parses a name anew in every call) and a read-only array of
    that shape holding no pixels (one zero, broadcast) for viewers that read none: once per
    dtype and shape, which a stream repeats."""
    dtype = np.dtype(name)
    return dtype, np.broadcast_to(np.zeros((), dtype), shape)


class ViewerClient:
    """Connects one viewer to a hub's viewer endpoint."""

    def __init__(
        self,
        endpoint: str,
        name: str,
        viewer: Viewer,
        *,
        plugin: str | None = None,
        hub_pid: int | None = None,
        credits: int = defaults.CREDITS,
        heartbeat_s: float = defaults.HEARTBEAT_INTERVAL_S,
        keys_dir: str | Path | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.name = name
        self.viewer = viewer
        self.plugin = plugin or name
        self.hub_pid = hub_pid
        self.credits = credits
        self.heartbeat_s = heartbeat_s
        self.closed = False
        self.scene: int | None = None
        self.shown = self.errors = 0
        self.last_error: str | None = None
        self.last_update: float | None = None
        self._configs: dict[str, DisplayConfig] = {}
        self._last_config: tuple[Any, Any] = (object(), None)  # (wire, config) seen last
        self._planes = ClientPlanes()  # refs handed out, items waiting for a cold location
        self._pin: tuple[str, int] | None = None  # (segment, inode) the item being shown maps
        self._next_heartbeat = 0.0
        self._acks: list[Any] = []  # shown since the last flush: index, or [index, error]
        self._ack_scene: int | None = None
        self._ack_due = 0.0  # monotonic time by which the held acks go out
        self._last_message = 0.0  # monotonic time of the last wake-up that brought messages
        self._ack_batch = max(1, credits // 2)
        self.controls = ViewerControls(viewer, name, self.plugin)
        self._keeps_refs = getattr(viewer, "keeps_refs", True)  # see Viewer.keeps_refs
        #: ``cold`` messages are of use: refs to re-point, or an item held for its cold planes
        self._wants_cold = self._keeps_refs or getattr(viewer, "needs_pixels", True)
        self._trace = ItemTrace.from_env(name)  # off unless VIEWERHUB_TRACE_DIR is set
        self._ctx = zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.DEALER)
        # The hub knows us by the name and token in hello, never by a routing id anybody
        # could choose: a hub-started viewer proves itself with the token it was given.
        self._token = os.environ.get(TOKEN_ENV, "")
        self._sock.setsockopt(zmq.LINGER, 1000)
        client_curve(self._sock, keys_dir_for(keys_dir))  # the hub admits only its user's keys
        self._prepare_socket(self._sock)
        self._sock.connect(endpoint)
        self._wait_ms = -1  # the socket's receive timeout (RCVTIMEO) as last set (-1: none)
        if viewer.freeze_gc:  # see Viewer.freeze_gc
            gc.freeze()
        self._send({"kind": "hello", **self._stats()})

    def _prepare_socket(self, sock: zmq.Socket) -> None:
        """Options before connecting (a client across a network adds link heartbeats)."""

    # ------------------------------------------------------------------ loop

    def poll_once(self, timeout_ms: int = 100) -> None:
        """Handle what arrived (waiting up to ``timeout_ms``) and heartbeat if due."""
        if self.closed:
            return
        if self._acks:  # wake in time to send held acks
            wait_ms = math.ceil((self._ack_due - time.monotonic()) * 1000)
            timeout_ms = max(0, min(timeout_ms, wait_ms))
        sparse, frames = False, self._receive(timeout_ms)
        if frames is not None:
            now = time.monotonic()  # messages further apart than the hold: acks go now
            sparse, self._last_message = now - self._last_message >= ACK_DELAY_S, now
            done, sock = self.shown + self.errors, self._sock
            for _ in range(64):
                self._handle(frames)
                if self.closed:
                    return
                if self.shown + self.errors - done >= ITEMS_PER_POLL:
                    break  # the rest waits for the next poll: a GUI's loop gets its turn
                if not sock.get(zmq.EVENTS) & zmq.POLLIN:
                    break  # asked, not tried: a failed receive raises, which costs more
                frames = sock.recv_multipart(zmq.NOBLOCK)
        if self._planes.held:
            self._expire_held()
        if self._acks and (sparse or time.monotonic() >= self._ack_due - ACK_EARLY_S):
            self._flush_acks()  # now, awake anyway, rather than waking again in a moment
        self._heartbeat_if_due()

    def _receive(self, timeout_ms: int) -> list[bytes] | None:
        """The next message, waiting up to ``timeout_ms``, or None: a receive that waits
        (RCVTIMEO), one call into ZeroMQ per wake-up, not a poll's several (each checks the
        command mailbox with a system call of its own) and then a receive."""
        sock, timeout_ms = self._sock, max(int(timeout_ms), -1)  # -1: wait for one
        if timeout_ms and timeout_ms != self._wait_ms:
            sock.setsockopt(zmq.RCVTIMEO, timeout_ms)
            self._wait_ms = timeout_ms
        try:
            return sock.recv_multipart(zmq.NOBLOCK if timeout_ms == 0 else 0)
        except zmq.Again:
            return None

    def _expire_held(self) -> None:
        """Ack, unshown, the held items whose cold message never came: the hub replaced them
        with a newer item of the same identity (which follows) or cleared them; no error."""
        for held in self._planes.expired():
            log.debug("%s: item %s was replaced before it could be shown", self.name, held.index)
            if self._acks and held.scene != self._ack_scene:
                self._flush_acks()
            self._ack_scene = held.scene
            self._acks.append(held.index)

    def _heartbeat_if_due(self) -> None:
        """Heartbeat when due, also between items of a long burst (busy showing items is alive,
        not hung); a frozen event loop shows no items and sends nothing: the hub notices."""
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + self.heartbeat_s
            if self.hub_pid is not None and not psutil.pid_exists(self.hub_pid):
                log.warning("hub %d is gone: %s closes", self.hub_pid, self.name)
                self.closed = True
                return
            self._flush_acks()  # credits back early too
            self._send({"kind": "heartbeat", **self._stats()})

    def close(self, clean: bool = True) -> None:
        """Disconnect. ``clean`` tells the hub this viewer stops on purpose (no restart)."""
        if not self._sock.closed:
            if clean:
                self._flush_acks()
                self._send({"kind": "bye"})
            self._sock.close()
        if self._trace is not None:
            self._trace.close()
            self._trace = None
        self.controls.close()
        self.closed = True

    # ------------------------------------------------------------------ messages

    def _send(self, body: dict[str, Any]) -> None:
        try:
            self._sock.send(encode_header(body), zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            log.debug("send to hub failed: %s", exc)

    def _stats(self) -> dict[str, Any]:
        try:
            viewer_status = self.viewer.status()
        except Exception as exc:  # a status bug must not stop heartbeats
            viewer_status = {"status_error": str(exc)}
        return {
            "name": self.name,
            "token": self._token,
            "pid": os.getpid(),
            "plugin": self.plugin,
            "credits": self.credits,
            "cold": self._wants_cold,
            "shown": self.shown,
            "errors": self.errors,
            "last_error": self.last_error,
            "last_update": self.last_update,
            "viewer": viewer_status,
        }

    def _handle(self, frames: list[bytes]) -> None:
        if frames[0].startswith(_COLD_PREFIX) and not self._planes.waiting():
            return  # where planes went, and none here to re-point: not worth decoding
        try:
            body = decode_from_hub(frames[0])
        except ProtocolError as exc:
            log.error("bad message from hub: %s", exc)
            return
        kind = body.get("kind")
        if kind == "items":
            scene, on_item = body.get("scene"), self._on_item
            for entry in body.get("items", []):
                on_item(scene, entry.get("index"), entry.get("item", {}))
        elif kind == "cold":
            self._on_cold(body)
        elif kind == "welcome":
            if self.scene is not None and body.get("scene") is not None:
                self.viewer.clear()  # the hub replays the whole scene from the start
                self._planes.clear()
            self.scene = body.get("scene")
        elif kind == "clear":
            self.scene = body.get("scene")
            self._planes.clear()
            self.viewer.clear()
        elif kind == "control":
            self._send(self.controls.answer(body))
        elif kind == "shutdown":
            log.info("%s: shutdown requested by the hub", self.name)
            self.closed = True
        else:
            log.warning("unknown message kind from hub: %r", kind)

    def _on_cold(self, body: dict[str, Any]) -> None:
        """Planes the hub wrote to its store: point their refs there, tell the viewer, and
        show the items that were waiting to learn where their planes went."""
        if body.get("scene") != self.scene:
            return
        moved, ready = self._planes.apply_cold(body.get("refs"))
        for held in ready:
            self._on_item(held.scene, held.index, held.header)
        if moved:
            try:
                self.viewer.relocated(moved)
            except Exception as exc:  # the viewer's bug must not stop the connection
                log.error("%s could not take relocated planes: %s", self.name, exc)

    def _flush_acks(self) -> None:
        """One ack message for everything shown since the last one (credits come back together).
        The viewer finishes its batched work first (``Viewer.flush``), so the hub never hears
        of an item the viewer has not fully taken."""
        if self._acks:
            try:
                self.viewer.flush()
            except Exception as exc:  # its bug must not hold back the acks
                log.error("%s could not flush: %s", self.name, exc)
            self._send({"kind": "ack", "scene": self._ack_scene, "acks": self._acks})
            self._acks = []

    def _on_item(self, scene: int | None, index: int, item: dict[str, Any]) -> None:
        if self._acks and scene != self._ack_scene:
            self._flush_acks()
        received = time.time() if self._trace is not None else 0.0
        error = None
        try:
            self._show(index, item)
            self.shown += 1
        except _GoneError:
            self._planes.hold(scene, index, item)
            return
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            self.errors += 1
            self.last_error = error
            log.error("%s could not show item %s: %s", self.name, index, error)
            log.debug("%s", traceback.format_exc())
        self.last_update = time.time()
        if self._trace is not None:
            self._trace.write(index, item, received, self.last_update, error)
        self._ack_scene = scene
        now = time.monotonic()
        if not self._acks:
            self._ack_due = now + ACK_DELAY_S
        # An index acks a shown item, [index, error] one that failed: cheap to send and read.
        self._acks.append(index if error is None else [index, error])
        if len(self._acks) >= self._ack_batch:
            self._flush_acks()  # half the credit window: the hub must never run dry
        if now >= self._next_heartbeat:
            self._heartbeat_if_due()

    def _config(self, wire: dict[str, Any] | None) -> DisplayConfig:
        if wire == self._last_config[0]:  # a stream repeats one config: no re-encoding
            return self._last_config[1]
        key = json.dumps(wire, sort_keys=True) if wire else ""
        if key not in self._configs:
            self._configs[key] = self.viewer.config_class.from_wire(wire)
        config = self._configs[key]
        self._last_config = (wire, config)
        return config

    def _show(self, index: int, header: dict[str, Any]) -> None:
        item = Item(
            index=index,
            kind=header["kind"],
            components=header.get("components", {}),
            config=self._config(header.get("display_config")),
            path=header.get("path"),
            meta=header.get("meta") or {},
            stack_component=header.get("stack_component"),
            stack_values=header.get("stack_values") or [],
        )
        if item.kind == "shapes":
            try:
                item.shapes = parse_shapes(header.get("shapes", []))
            except ShapeError as exc:
                raise ValueError(f"bad shapes: {exc}") from None
            self.viewer.show(item)
            return
        self._pin = None
        mapping = self._land(index, header, item)
        try:
            self.viewer.show(item)
            if self._pin is not None and not shm.still_named(*self._pin):
                # The hub recycled the segment while the viewer read it: what it copied may
                # be part of a later plane. Show the item again from the store.
                if "cold" not in header:
                    raise _GoneError
                item.array = read_cold(header["cold"], item.array.shape, item.array.dtype)
                self.viewer.show(item)
        finally:
            item.array = None
            if mapping is not None:
                try:
                    mapping.close()
                except BufferError:
                    log.debug("viewer kept a view of item %s; the mapping closes with it", index)

    def _land(self, index: int, header: dict[str, Any], item: Item) -> Any:
        """Set ``item.refs`` and ``item.array``; returns a mapping to close after ``show``. Here:
        the hub's segment, or its store once evicted. A viewer on another host gets the pixels
        as frames instead (``viewers.remote`` overrides this)."""
        shape = tuple(header["shape"])
        dtype, placeholder = _format(header["dtype"], shape)
        if self._keeps_refs:
            item.refs = refs_for_header(header)
            self._planes.keep(index, item.refs)
        if not getattr(self.viewer, "needs_pixels", True):
            item.array = placeholder
            return None
        count, mapping = math.prod(shape), None
        try:
            mapping, inode = shm.open_pinned(header.get("segment") or "", count * dtype.itemsize)
            self._pin = (header["segment"], inode)
            item.array = np.frombuffer(mapping, dtype=dtype, count=count).reshape(shape)
        except shm.SegmentError:
            if getattr(self.viewer, "reads_refs", False):
                # A lazy viewer reads item.refs when it needs pixels; a segment evicted while
                # this message waited is re-pointed by the cold message behind it (relocated).
                item.array = placeholder
                return None
            if "cold" not in header:
                raise _GoneError from None
            # The hub keeps this plane on disk only (its budget is full): read it from there.
            item.array = read_cold(header["cold"], shape, dtype)
        return mapping
