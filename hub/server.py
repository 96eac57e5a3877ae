"""The hub process: ingest socket, viewer socket, scene log, supervision, one poll loop.

One thread owns both ZeroMQ sockets (pyzmq's rule: one socket per thread) and runs a
``zmq.Poller`` loop. Producers and the CLI talk to the *ingest* ROUTER (DEALER or REQ
clients); viewers to the *viewer* ROUTER (DEALER clients whose identity is their name).

Ingest never waits for a viewer. An item is accepted once its pixels sit in a hub-owned
segment and it is in the scene log; then the producer gets its ack. When the memory budget
is full the request waits in ``_pending`` (its ack delayed) until a ``clear`` frees memory or
``backpressure_timeout_s`` passes, then gets an error reply: never silent loss.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from contract import defaults, shm
from contract.keys import SecurityError, ensure_keys, keys_dir_for
from contract.protocol import (
    CONTROL_VERBS,
    DEFAULT_LIMITS,
    PROTOCOL_VERSION,
    STANDARD_COMPONENTS,
    ErrorCode,
    Limits,
    ProtocolError,
    array_nbytes,
    check_req,
    declared_components,
    decode_header,
    encode_header,
    item_nbytes,
    items_of,
    reply_error,
    reply_ok,
)
from hub import openhcs
from hub.fanout import FanOut
from hub.openhcs import CompatConfig
from hub.scene import SceneLog
from hub.security import ServerCurve, is_loopback
from hub.supervisor import Supervisor

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 2.0


@dataclass
class HubConfig:
    """Everything a hub is started with. ``port=0`` picks free ports (tests)."""

    host: str = "127.0.0.1"
    port: int = defaults.INGEST_PORT
    viewer_port: int | None = None  # default: port + 1
    memory_budget: int = defaults.MEMORY_BUDGET
    limits: Limits = DEFAULT_LIMITS
    viewers: list[str] = field(default_factory=list)
    viewer_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    credits: int = defaults.CREDITS
    max_pending_requests: int = defaults.MAX_PENDING_REQUESTS
    backpressure_timeout_s: float = defaults.BACKPRESSURE_TIMEOUT_S
    heartbeat_timeout_s: float = defaults.HEARTBEAT_TIMEOUT_S
    hang_restart_s: float = defaults.HANG_RESTART_S
    control_timeout_s: float = defaults.CONTROL_TIMEOUT_S
    ready_file: Path | None = None
    openhcs: CompatConfig | None = None  # serve the OpenHCS/polystore sender's endpoints
    keys_dir: Path | None = None  # CURVE keys; required to bind anything but loopback


@dataclass
class _Request:
    """A producer request kept until it can be answered (backpressure or forwarded control)."""

    identity: bytes
    envelope: list[bytes]
    req: Any
    received: float
    header: dict[str, Any] | None = None
    items: list[dict[str, Any]] | None = None
    frames: list[Any] | None = None
    nbytes: int = 0  # what accepting it will cost the budget
    held_bytes: int = 0  # what the hub holds for it while it waits (its frames)
    socket: zmq.Socket | None = None  # where the reply goes (default: the ingest socket)
    openhcs: _CompatSource | None = None  # set for batches from the OpenHCS sender


@dataclass
class _CompatSource:
    """Where an OpenHCS batch came from, to answer and ack it the way that sender expects."""

    viewer_type: str
    port: int
    transport: str
    image_ids: list[str] = field(default_factory=list)


def _request_bytes(items: list[dict[str, Any]], header_bytes: int) -> int:
    """What accepting a request costs the budget: pixels, expanded shapes and the header."""
    return sum(item_nbytes(i) for i in items) + header_bytes


class BindError(RuntimeError):
    """An endpoint is taken (another hub?) or not an address of this machine."""


def _remove_stale_socket(path: Path) -> None:
    """Remove an IPC socket file left by a dead hub; never one a live process listens on."""
    if not path.exists():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink(missing_ok=True)  # nobody listens: stale
        return
    finally:
        probe.close()
    raise BindError(f"{path} is in use by a running process (another hub --openhcs?)")


class Hub:
    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.pid = os.getpid()
        self.ctx = zmq.Context.instance()
        self.scene = SceneLog(config.memory_budget, shm.unlink)
        self._segment_counter = 0
        self._pending: collections.deque[_Request] = collections.deque()
        self._controls: dict[str, tuple[_Request, float]] = {}
        self._control_counter = 0
        self.errors: collections.Counter[str] = collections.Counter()
        self.last_errors: collections.deque[dict] = collections.deque(maxlen=20)
        self.accepted_items = 0
        self.accepted_bytes = 0
        self.started = time.time()
        self.running = False
        self._known_components = set(STANDARD_COMPONENTS)
        self._next_sweep = 0.0
        self._foreign_segments: collections.deque[tuple[float, str]] = collections.deque()

        if not is_loopback(config.host) and config.keys_dir is None:
            raise SecurityError(
                f"refusing to listen on {config.host} without authentication: give --keys DIR "
                f"(create it with `hub keys`), or stay on 127.0.0.1"
            )
        # Loopback is shared by every user of the machine: CURVE on every socket, always.
        self.keys_dir = ensure_keys(keys_dir_for(config.keys_dir))
        self.curve = ServerCurve(self.keys_dir)
        self.ingest = self.ctx.socket(zmq.ROUTER)
        self.curve.apply(self.ctx, self.ingest)
        self.viewer_sock = self.ctx.socket(zmq.ROUTER)
        self.curve.apply(self.ctx, self.viewer_sock)
        self.viewer_sock.setsockopt(zmq.ROUTER_HANDOVER, 1)
        for sock in (self.ingest, self.viewer_sock):
            sock.setsockopt(zmq.LINGER, 0)
            # Unread messages are memory too: a short queue per peer (TCP pushes back).
            sock.setsockopt(zmq.RCVHWM, 64)
        self.ingest_endpoint = self._bind(self.ingest, config.port)
        viewer_port = config.viewer_port
        if viewer_port is None:
            viewer_port = config.port + 1 if config.port else 0
        self.viewer_endpoint = self._bind(self.viewer_sock, viewer_port, host="127.0.0.1")
        self._compat_sockets: dict[zmq.Socket, tuple[str, str, int, str]] = {}
        self._compat_acks: collections.deque[tuple[int, int, str, int, str, str]] = (
            collections.deque()
        )  # (scene, index, image id, port, viewer type, transport), in index order
        self._ack_sockets: dict[str, zmq.Socket] = {}
        if config.openhcs is not None:
            self._bind_openhcs(config.openhcs)
        self.supervisor = Supervisor(
            self.viewer_endpoint,
            keys_dir=self.keys_dir,
            heartbeat_timeout_s=config.heartbeat_timeout_s,
            hang_restart_s=config.hang_restart_s,
        )
        self.fanout = FanOut(
            self.viewer_sock,
            self.scene,
            self.supervisor,
            self.pid,
            config.credits,
            self._on_viewer_reply,
        )

    def _bind(self, sock: zmq.Socket, port: int, host: str | None = None) -> str:
        host = host or self.config.host
        if ":" in host:  # an IPv6 address: bracketed in the endpoint, IPv6 on the socket
            sock.setsockopt(zmq.IPV6, 1)
            host = f"[{host.strip('[]')}]"
        base = f"tcp://{host}"
        try:
            if port == 0:
                port = sock.bind_to_random_port(base)
            else:
                sock.bind(f"{base}:{port}")
        except zmq.ZMQError as exc:
            raise BindError(f"cannot listen on {base}:{port}: {exc.strerror}") from None
        return f"{base}:{port}"

    def _bind_openhcs(self, compat: CompatConfig) -> None:
        """Data and control sockets on every address the OpenHCS sender may use."""
        for viewer_type, port in compat.ports.items():
            for role, bound_port in (("data", port), ("control", port + openhcs.CONTROL_OFFSET)):
                for transport in compat.transports:
                    sock = self.ctx.socket(zmq.ROUTER)
                    sock.setsockopt(zmq.LINGER, 0)
                    for endpoint in openhcs.endpoints(
                        bound_port, replace(compat, transports=(transport,))
                    ):
                        if endpoint.startswith("ipc://"):
                            _remove_stale_socket(Path(endpoint[6:]))
                        try:
                            sock.bind(endpoint)
                        except zmq.ZMQError as exc:
                            raise BindError(
                                f"cannot listen on {endpoint}: {exc.strerror}"
                            ) from None
                    self._compat_sockets[sock] = (role, viewer_type, port, transport)
        log.info(
            "OpenHCS compatibility on ports %s (%s)", compat.ports, "/".join(compat.transports)
        )

    # ------------------------------------------------------------------ lifecycle

    def serve(self) -> None:
        """Run until ``shutdown`` or SIGTERM/SIGINT; always releases every segment."""
        shm.sweep(current_hub_pid=self.pid)
        self.running = True
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        for plugin in self.config.viewers:
            self.supervisor.add(plugin, self.config.viewer_options.get(plugin, {}))
        self._write_ready_file()
        log.info(
            "hub %d: ingest %s, viewers %s", self.pid, self.ingest_endpoint, self.viewer_endpoint
        )
        poller = zmq.Poller()
        poller.register(self.ingest, zmq.POLLIN)
        poller.register(self.viewer_sock, zmq.POLLIN)
        for sock in self._compat_sockets:
            poller.register(sock, zmq.POLLIN)
        next_housekeeping = 0.0
        try:
            while self.running:
                events = dict(poller.poll(timeout=50))
                if self.viewer_sock in events:
                    self._drain(self.viewer_sock, self.fanout.on_message)
                if self.ingest in events:
                    self._drain(self.ingest, self._on_ingest_message)
                for sock in self._compat_sockets:
                    if sock in events:
                        self._drain(
                            sock, lambda frames, s=sock: self._on_openhcs_message(s, frames)
                        )
                self.fanout.pump()
                self._send_compat_acks()
                now = time.monotonic()
                if now >= next_housekeeping:
                    self._housekeeping()
                    next_housekeeping = now + 0.25
        finally:
            self._shutdown()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        log.info("hub %d: signal %d, shutting down", self.pid, signum)
        self.running = False

    def _shutdown(self) -> None:
        for name in self.supervisor.viewers:
            self.fanout.send(name, {"kind": "shutdown"})
        self.supervisor.stop_all()
        for request in self._pending:
            self._reply(request, reply_error(request.req, "hub is shutting down"))
        self.scene.clear()
        self._unlink_orphans(everything=True)
        shm.sweep(current_hub_pid=None)
        for segment in shm.list_ours():
            parsed = shm.parse_name(segment)
            if parsed and parsed.hub_pid == self.pid:
                shm.unlink(segment)
        self.ingest.close()
        self.viewer_sock.close()
        for sock in [*self._compat_sockets, *self._ack_sockets.values()]:
            sock.close()
        self.curve.stop()
        if self.config.ready_file:
            self.config.ready_file.unlink(missing_ok=True)
        log.info("hub %d stopped", self.pid)

    def _write_ready_file(self) -> None:
        if not self.config.ready_file:
            return
        info = {"pid": self.pid, "ingest": self.ingest_endpoint, "viewers": self.viewer_endpoint}
        tmp = self.config.ready_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(info))
        tmp.replace(self.config.ready_file)

    def _housekeeping(self) -> None:
        for name, reason in self.supervisor.check():
            for index in self.scene.viewer_failed(name, reason):
                log.error("viewer %s: skipping item %d from now on (%s)", name, index, reason)
            self.fanout.forget(name)
        now = time.monotonic()
        if now >= self._next_sweep:  # segments of producers that died before sending
            shm.sweep(current_hub_pid=self.pid)
            self._next_sweep = now + SWEEP_INTERVAL_S
        self._retry_pending()
        self._expire_controls()
        self._unlink_orphans()

    @staticmethod
    def _drain(sock: zmq.Socket, handler: Any, limit: int = 256) -> None:
        for _ in range(limit):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            handler(frames)

    # ------------------------------------------------------------------ ingest side

    def _on_ingest_message(self, frames: list[zmq.Frame]) -> None:
        identity = frames[0].bytes
        # REQ clients put an empty delimiter frame before the body; DEALER clients do not.
        envelope = [identity, b""] if len(frames) > 1 and len(frames[1]) == 0 else [identity]
        body = frames[len(envelope) :]
        request = _Request(identity, envelope, None, time.monotonic())
        try:
            if not body:
                raise ProtocolError(ErrorCode.MALFORMED, "empty message")
            total = sum(len(f) for f in body)
            if total > self.config.limits.max_message_bytes:
                raise ProtocolError(
                    ErrorCode.TOO_LARGE,
                    f"message of {total} bytes is above the cap of "
                    f"{self.config.limits.max_message_bytes}",
                )
            header = decode_header(body[0].buffer, self.config.limits)
            request.req = check_req(header.get("req"))
            request.header = header
            if header.get("kind") == "control":
                self._on_control(request, header)
                return
            request.items = items_of(header, self._known_components, self.config.limits, len(body))
            request.frames = body
            request.held_bytes = total
            request.nbytes = _request_bytes(request.items, len(body[0]))
            self._admit(request)
        except ProtocolError as exc:
            self._refuse(request, exc)
        except Exception as exc:  # a bug must cost one request, never the hub
            self._internal_error(request, exc)

    def _internal_error(self, request: _Request, exc: Exception) -> None:
        log.exception("internal error on request %r", request.req)
        self._refuse(
            request,
            ProtocolError(ErrorCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}"),
        )

    def _admit(self, request: _Request) -> None:
        """Accept a validated request now, or hold its reply while the budget is full."""
        if request.nbytes > self.config.memory_budget:
            self._refuse(
                request,
                ProtocolError(
                    ErrorCode.TOO_LARGE,
                    f"message needs {request.nbytes} bytes, more than the whole memory budget "
                    f"of {self.config.memory_budget}",
                ),
            )
            return
        if self._pending or not self.scene.fits(request.nbytes):
            # A waiting request holds its frames in hub memory (shared-memory pixels stay the
            # producer's until accepted): both the count and those bytes are capped.
            waiting = sum(r.held_bytes for r in self._pending)
            if (
                len(self._pending) >= self.config.max_pending_requests
                or waiting + request.held_bytes > self.config.memory_budget // 2
            ):
                self._refuse(
                    request,
                    ProtocolError(
                        ErrorCode.BUDGET_FULL,
                        f"memory budget of {self.config.memory_budget} bytes is full and "
                        f"{len(self._pending)} request(s) of {waiting} bytes already wait for "
                        f"it; retry later, clear the scene or raise --memory-budget",
                    ),
                )
                return
            log.info("memory budget full: delaying ack of request %r", request.req)
            self._pending.append(request)
            return
        self._accept(request)

    def _refuse(self, request: _Request, exc: ProtocolError) -> None:
        self.errors[exc.code.value] += 1
        self.last_errors.append({"time": time.time(), "code": exc.code.value, "error": str(exc)})
        log.warning("refused request %r: %s", request.req, exc)
        self._reply(request, reply_error(request.req, exc))

    def _reply(self, request: _Request, body: dict[str, Any]) -> None:
        if request.openhcs is not None:
            ok = bool(body.get("ok"))
            message = (
                f"accepted {len(body.get('indices', []))} item(s) into the viewerhub scene"
                if ok
                else str(body.get("error"))
            )
            body = openhcs.reply(ok, message)
        try:
            sock = request.socket or self.ingest
            sock.send_multipart([*request.envelope, encode_header(body)], zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            log.warning("could not reply to a producer: %s", exc)

    def _accept(self, request: _Request) -> None:
        """Move every item's pixels into hub segments and log them, all or nothing."""
        assert request.items is not None and request.frames is not None
        placed: list[tuple[str, str | None]] = []  # (hub segment, producer name if adopted)
        try:
            prepared = []
            for item in request.items:
                segment = None
                if item["kind"] == "image":
                    segment, adopted_from = self._ingest_pixels(
                        item, request.frames, request.openhcs is not None
                    )
                    placed.append((segment, adopted_from))
                prepared.append((item, segment))
        except ProtocolError as exc:
            self._roll_back(placed)
            self._refuse(request, exc)
            return
        except shm.SegmentError as exc:
            self._roll_back(placed)
            self._refuse(request, ProtocolError(ErrorCode.MISSING_SEGMENT, str(exc), "shm"))
            return
        except OSError as exc:
            self._roll_back(placed)
            self._refuse(request, ProtocolError(ErrorCode.INTERNAL, f"shared memory: {exc}"))
            return
        indices = []
        for item, segment in prepared:
            config = item.get("display_config")
            if config:
                self._known_components |= declared_components(config)
            header = self._viewer_header(item, segment)
            nbytes = item_nbytes(item) + len(encode_header(header))
            logged = self.scene.append(header, segment, nbytes)
            indices.append(logged.index)
        if request.openhcs is not None:
            source = request.openhcs
            for index, image_id in zip(indices, source.image_ids):
                if image_id:
                    self._compat_acks.append(
                        (
                            self.scene.scene_id,
                            index,
                            image_id,
                            source.port,
                            source.viewer_type,
                            source.transport,
                        )
                    )
        self.accepted_items += len(indices)
        self.accepted_bytes += request.nbytes
        self._reply(request, reply_ok(request.req, scene=self.scene.scene_id, indices=indices))

    def _ingest_pixels(
        self, item: dict, frames: list[zmq.Frame], compat: bool
    ) -> tuple[str, str | None]:
        nbytes = array_nbytes(tuple(item["shape"]), np.dtype(item["dtype"]))
        hub_name = self._new_segment_name()
        if "frame" in item:
            frame = frames[item["frame"]]
            if len(frame) != nbytes:
                raise ProtocolError(
                    ErrorCode.SIZE_MISMATCH,
                    f"frame {item['frame']} holds {len(frame)} bytes but shape "
                    f"{item['shape']} x {item['dtype']} needs {nbytes}",
                    "frame",
                )
            self._copy_into(hub_name, frame.buffer, nbytes)
            return hub_name, None
        name = item["shm"]
        parsed = shm.parse_name(name)
        own = parsed is not None and parsed.hub_pid == self.pid and parsed.producer_pid
        foreign = compat and shm.is_openhcs_name(name)  # only on the OpenHCS ports
        if parsed is not None and parsed.producer_pid and parsed.hub_pid != self.pid:
            raise ProtocolError(
                ErrorCode.WRONG_HUB,
                f"shared-memory name {name!r:.80} was made for hub {parsed.hub_pid}, this is "
                f"hub {self.pid}: ping again for the 'shm_prefix'",
                "shm",
            )
        if not own and not foreign:
            raise ProtocolError(
                ErrorCode.BAD_FIELD,
                f"shared-memory name {name!r:.80} is not allowed: use a name from the hub's "
                f"'shm_prefix' (see ping)",
                "shm",
            )
        try:
            size = shm.segment_size(name)
        except shm.SegmentError as exc:
            raise ProtocolError(ErrorCode.MISSING_SEGMENT, str(exc), "shm") from None
        if size < nbytes or (own and size > max(nbytes, 1)):
            raise ProtocolError(
                ErrorCode.SIZE_MISMATCH,
                f"shared-memory segment {name!r} holds {size} bytes but shape {item['shape']} "
                f"x {item['dtype']} needs {nbytes}",
                "shm",
            )
        if own and shm.can_adopt():
            shm.adopt(name, hub_name)
            return hub_name, name
        source = shm.open_readonly(name, nbytes)
        try:
            self._copy_into(hub_name, memoryview(source)[:nbytes], nbytes)
        finally:
            source.close()
        if not own:  # the OpenHCS sender's: see _unlink_orphans
            self._foreign_segments.append((time.monotonic() + self._orphan_grace_s(), name))
        return hub_name, None

    def _orphan_grace_s(self) -> float:
        return self.config.openhcs.orphan_grace_s if self.config.openhcs else 10.0

    def _unlink_orphans(self, everything: bool = False) -> None:
        """Senders' segments we copied and they did not unlink: remove them after a grace.

        polystore 0.2.x unlinks its segments right after our reply; the older OpenHCS sender
        leaves that to the receiver. Waiting a grace period serves both and leaks nothing.
        """
        now = time.monotonic()
        while self._foreign_segments and (everything or self._foreign_segments[0][0] <= now):
            _, name = self._foreign_segments.popleft()
            if shm.unlink(name):
                log.info("removed sender segment %s that nobody unlinked", name)

    @staticmethod
    def _copy_into(hub_name: str, source: memoryview, nbytes: int) -> None:
        target = shm.create(hub_name, nbytes)
        try:
            dst = np.frombuffer(target, dtype=np.uint8, count=nbytes)
            np.copyto(dst, np.frombuffer(source, dtype=np.uint8, count=nbytes))
            del dst
        finally:
            target.close()

    @staticmethod
    def _roll_back(placed: list[tuple[str, str | None]]) -> None:
        """Undo a half-accepted batch: give adopted segments back, delete copies."""
        for segment, adopted_from in placed:
            if adopted_from:
                try:
                    shm.adopt(segment, adopted_from)
                    continue
                except OSError:
                    pass
            shm.unlink(segment)

    def _new_segment_name(self) -> str:
        self._segment_counter += 1
        return shm.hub_segment_name(self.pid, self._segment_counter)

    @staticmethod
    def _viewer_header(item: dict, segment: str | None) -> dict[str, Any]:
        keep = (
            "kind",
            "components",
            "dtype",
            "shape",
            "path",
            "display_config",
            "meta",
            "stack_component",
            "stack_values",
            "id",
            "shapes",
        )
        header = {k: item[k] for k in keep if k in item and item[k] is not None}
        header.setdefault("components", {})
        if segment:
            header["segment"] = segment
        return header

    def _retry_pending(self) -> None:
        now = time.monotonic()
        while self._pending:
            request = self._pending[0]
            if self.scene.fits(request.nbytes):
                self._pending.popleft()
                try:
                    self._accept(request)
                except Exception as exc:
                    self._internal_error(request, exc)
            elif now - request.received > self._reply_deadline(request):
                self._pending.popleft()
                self._refuse(
                    request,
                    ProtocolError(
                        ErrorCode.BUDGET_FULL,
                        f"memory budget of {self.config.memory_budget} bytes stayed full for "
                        f"{self.config.backpressure_timeout_s:.0f} s ({self.scene.bytes_used} used); "
                        f"clear the scene or raise --memory-budget",
                    ),
                )
            else:
                return

    def _reply_deadline(self, request: _Request) -> float:
        """The OpenHCS sender gives up after 30 s: answer it before, with our reason."""
        limit = self.config.backpressure_timeout_s
        if request.openhcs is not None and self.config.openhcs is not None:
            limit = min(limit, self.config.openhcs.reply_timeout_s)
        return limit

    # ------------------------------------------------------------------ OpenHCS sender

    def _on_openhcs_message(self, sock: zmq.Socket, frames: list[zmq.Frame]) -> None:
        role, viewer_type, port, transport = self._compat_sockets[sock]
        identity = frames[0].bytes
        envelope = [identity, b""] if len(frames) > 1 and len(frames[1]) == 0 else [identity]
        body = frames[len(envelope)].bytes if len(frames) > len(envelope) else b""
        source = _CompatSource(viewer_type, port, transport)
        request = _Request(identity, envelope, None, time.monotonic(), socket=sock, openhcs=source)
        try:
            if body[:1] == b"\x80":
                raise ProtocolError(
                    ErrorCode.MALFORMED,
                    "pickle is refused: viewerhub speaks JSON only (use polystore >= 0.2)",
                )
            message = decode_header(body, self.config.limits)
            if role == "control":
                self._on_openhcs_control(request, message, port)
                return
            items, source.image_ids = openhcs.translate_batch(message)
            header = {"kind": "batch", "items": items}
            request.items = items_of(header, self._known_components, self.config.limits, 1)
            request.frames = []
            request.held_bytes = len(body)
            request.nbytes = _request_bytes(request.items, len(body))
            self._admit(request)
        except ProtocolError as exc:
            self._refuse(request, exc)
        except Exception as exc:
            self._internal_error(request, exc)

    def _on_openhcs_control(self, request: _Request, message: dict, port: int) -> None:
        kind = message.get("type")
        if kind == "ping":
            pong = {
                "type": "pong",
                "status": "success",
                "port": port,
                "control_port": port + openhcs.CONTROL_OFFSET,
                "ready": True,
                "server": "viewerhub",
                "hub_pid": self.pid,
            }
            request.openhcs = None  # a pong is not a batch reply
            self._reply(request, pong)
        elif kind == "status":
            request.openhcs = None
            self._reply(request, {"status": "success", "payload": self.status()})
        else:
            raise ProtocolError(
                ErrorCode.UNKNOWN_KIND,
                f"control type {kind!r:.40}: only ping and status are served",
                "type",
            )

    def _send_compat_acks(self) -> None:
        """Ack OpenHCS items once every connected viewer has shown them."""
        while self._compat_acks:
            scene, index, image_id, port, viewer_type, transport = self._compat_acks[0]
            if scene == self.scene.scene_id and not self.scene.shown_by_all(
                index, self.config.hang_restart_s
            ):
                return
            self._compat_acks.popleft()
            if scene != self.scene.scene_id:
                continue  # cleared before it was shown
            sock = self._ack_socket(transport)
            try:
                sock.send(
                    encode_header(openhcs.image_ack(image_id, port, viewer_type, None)), zmq.NOBLOCK
                )
            except zmq.ZMQError:
                log.debug("OpenHCS ack for %s not delivered (nobody listening)", image_id)

    def _ack_socket(self, transport: str) -> zmq.Socket:
        sock = self._ack_sockets.get(transport)
        if sock is None:
            assert self.config.openhcs is not None
            sock = self.ctx.socket(zmq.PUSH)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, 10_000)
            targets = openhcs.ack_endpoint(transport, self.config.openhcs)
            sock.connect(
                targets[0]
                if targets
                else f"ipc://{openhcs.ipc_path(self.config.openhcs.ack_port, *openhcs.IPC_FLAVOURS[0])}"
            )
            self._ack_sockets[transport] = sock
        return sock

    # ------------------------------------------------------------------ control verbs

    def _on_control(self, request: _Request, header: dict[str, Any]) -> None:
        verb = header.get("verb")
        args = header.get("args") or {}
        if not isinstance(args, dict):
            raise ProtocolError(ErrorCode.BAD_FIELD, "control: 'args' must be an object", "args")
        if verb == "ping":
            self._reply(
                request,
                reply_ok(
                    request.req,
                    pong=True,
                    hub_pid=self.pid,
                    version=PROTOCOL_VERSION,
                    shm_prefix=f"{shm.PREFIX}{self.pid}-p",
                    viewer_endpoint=self.viewer_endpoint,
                    scene=self.scene.scene_id,
                ),
            )
        elif verb == "status":
            self._reply(request, reply_ok(request.req, status=self.status()))
        elif verb == "clear":
            self.clear()
            self._reply(request, reply_ok(request.req, scene=self.scene.scene_id))
        elif verb == "shutdown":
            self._reply(request, reply_ok(request.req))
            self.running = False
        elif verb in ("screenshot", "goto", "inspect"):
            self._forward_control(request, verb, args)
        else:
            raise ProtocolError(
                ErrorCode.UNKNOWN_KIND,
                f"unknown control verb {verb!r:.40}; expected one of {sorted(CONTROL_VERBS)}",
                "verb",
            )

    def _forward_control(self, request: _Request, verb: str, args: dict[str, Any]) -> None:
        name = args.get("viewer")
        viewer = self.supervisor.viewers.get(name) if isinstance(name, str) else None
        if viewer is None or name not in self.scene.cursors:
            raise ProtocolError(
                ErrorCode.NOT_FOUND,
                f"{verb}: no connected viewer {name!r:.40}; connected: "
                f"{sorted(self.scene.cursors)}",
                "args.viewer",
            )
        self._control_counter += 1
        control_id = f"c{self._control_counter}"
        self._controls[control_id] = (request, time.monotonic())
        self.fanout.send(name, {"kind": "control", "id": control_id, "verb": verb, "args": args})

    def _expire_controls(self) -> None:
        now = time.monotonic()
        for control_id, (request, sent) in list(self._controls.items()):
            if now - sent > self.config.control_timeout_s:
                del self._controls[control_id]
                self._reply(request, reply_error(request.req, "viewer did not answer in time"))

    def clear(self) -> None:
        self.scene.clear()
        self.fanout.broadcast({"kind": "clear", "scene": self.scene.scene_id})
        self._retry_pending()

    def status(self) -> dict[str, Any]:
        viewers = {}
        for name in self.supervisor.viewers:
            viewers[name] = {**self.supervisor.status(name), **self.scene.viewer_status(name)}
        return {
            "hub": {
                "pid": self.pid,
                "version": PROTOCOL_VERSION,
                "uptime_s": round(time.time() - self.started, 1),
                "ingest": self.ingest_endpoint,
                "viewer_endpoint": self.viewer_endpoint,
                "scene": self.scene.scene_id,
                "items": len(self.scene),
                "bytes": self.scene.bytes_used,
                "memory_budget": self.config.memory_budget,
                "pending_requests": len(self._pending),
                "accepted_items": self.accepted_items,
                "accepted_bytes": self.accepted_bytes,
                "errors": dict(self.errors),
                "errors_total": sum(self.errors.values()),
                "last_errors": list(self.last_errors)[-5:],
            },
            "viewers": viewers,
        }

    def _on_viewer_reply(self, body: dict[str, Any]) -> None:
        """A viewer answered a forwarded control verb: pass it to whoever asked."""
        pending = self._controls.pop(str(body.get("id")), None)
        if pending:
            request, _ = pending
            result = body.get("result") if isinstance(body.get("result"), dict) else {}
            if body.get("ok"):
                self._reply(request, reply_ok(request.req, **result))
            else:
                self._reply(request, reply_error(request.req, str(body.get("error"))[:2000]))
