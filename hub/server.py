"""The hub process: its sockets and the one poll loop that wires its parts together.

One thread owns every ZeroMQ socket (pyzmq's rule: one socket per thread) and runs a
``zmq.Poller`` loop. The parts, each with one job:

- :mod:`hub.ingest`: admission, the memory budget, accept or roll back (producers),
- :mod:`hub.fanout`: viewer sessions, credits, sending items, acks (viewers),
- :mod:`hub.controls`: control verbs (producers, CLI, panel),
- :mod:`hub.supervisor`: viewer processes, liveness, restarts,
- :mod:`hub.openhcs_port`: the OpenHCS sender's ports, an adapter on top of ingest,
- :mod:`hub.scene`: the scene log with a cursor per viewer (no sockets).

Ingest never waits for a viewer: an item is accepted once its pixels sit in a hub-owned
segment and it is in the scene log; then the producer gets its reply.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from contract import defaults, shm
from contract.items import item_nbytes
from contract.keys import SecurityError, ensure_keys, keys_dir_for
from contract.protocol import (
    DEFAULT_LIMITS,
    PROTOCOL_VERSION,
    STANDARD_COMPONENTS,
    ErrorCode,
    Limits,
    ProtocolError,
    check_req,
    decode_header,
    encode_header,
)
from hub.controls import Controls
from hub.endpoints import bind_tcp, bind_viewers
from hub.fanout import FanOut
from hub.ingest import Ingest, Request
from hub.openhcs import CompatConfig
from hub.pool import SegmentPool
from hub.scene import SceneLog
from hub.security import ServerCurve, is_loopback
from hub.store import SceneStore, default_directory, sweep_dead_caches
from hub.supervisor import Supervisor

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 2.0
HOUSEKEEPING_S = 0.25


@dataclass
class HubConfig:
    """Everything a hub is started with. ``port=0`` picks free ports (tests)."""

    host: str = defaults.LOOPBACK
    port: int = defaults.INGEST_PORT
    viewer_port: int | None = None  # default: port + 1
    viewer_host: str | None = None  # also accept viewers from other hosts here (needs keys_dir)
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
    store_dir: Path | None = None  # the scene store; default: the user's cache, per port
    keep_scenes: bool = False  # `clear` leaves the old scene's plate on disk


class Hub:
    """One hub: sockets, parts and the poll loop."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.pid = os.getpid()
        self.ctx = zmq.Context.instance()
        self.started = time.time()
        self.running = False
        self._next_sweep = 0.0
        exposed = [h for h in (config.host, config.viewer_host) if h and not is_loopback(h)]
        if exposed and config.keys_dir is None:
            raise SecurityError(
                f"refusing to listen on {exposed[0]} without authentication: give --keys DIR "
                f"(create it with `hub keys`), or stay on 127.0.0.1"
            )
        # Loopback is shared by every user of the machine: CURVE on every socket, always.
        self.keys_dir = ensure_keys(keys_dir_for(config.keys_dir))
        self.curve = ServerCurve(self.keys_dir)
        self.ingest_sock = self._router()
        self.viewer_sock = self._router()
        self.ingest_endpoint = bind_tcp(self.ingest_sock, config.host, config.port)
        viewer_port = config.viewer_port
        if viewer_port is None:
            viewer_port = config.port + 1 if config.port else 0
        # Beyond loopback only when asked (viewers on other hosts: `hub attach`), CURVE always.
        self.viewer_endpoint, self.remote_viewer_endpoint = bind_viewers(
            self.viewer_sock, config.viewer_host, viewer_port
        )

        self.pool = SegmentPool(self.pid, config.memory_budget)  # warm segments, recycled
        self.scene = SceneLog(config.memory_budget, self.pool.release)
        store_dir = config.store_dir or default_directory(config.port, self.pid)
        if config.store_dir is None:
            sweep_dead_caches(store_dir.parent)
        self.store = SceneStore(store_dir, persistent=config.store_dir is not None)
        self.ingest = Ingest(
            self.scene,
            self.pid,
            config.limits,
            set(STANDARD_COMPONENTS),
            config.memory_budget,
            config.max_pending_requests,
            config.backpressure_timeout_s,
            self.store,
            self.pool,
        )
        self.supervisor = Supervisor(
            self.viewer_endpoint,
            keys_dir=self.keys_dir,
            heartbeat_timeout_s=config.heartbeat_timeout_s,
            hang_restart_s=config.hang_restart_s,
        )
        self.controls = Controls(self, config.control_timeout_s)
        self.fanout = FanOut(
            self.viewer_sock,
            self.scene,
            self.supervisor,
            self.pid,
            config.credits,
            self.controls.on_viewer_reply,
        )
        self.openhcs = None
        if config.openhcs is not None:
            from hub.openhcs_port import OpenHCSPorts

            self.openhcs = OpenHCSPorts(self, config.openhcs)

    def _router(self) -> zmq.Socket:
        sock = self.ctx.socket(zmq.ROUTER)
        self.curve.apply(self.ctx, sock)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 64)  # unread messages are memory too; TCP pushes back
        return sock

    # ------------------------------------------------------------------ lifecycle

    def serve(self) -> None:
        """Run until ``shutdown`` or SIGTERM/SIGINT; always releases every segment."""
        self._recover()  # before the sweep: a dead hub's unwritten segments are adopted
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
        handlers = {self.viewer_sock: self.fanout.on_message, self.ingest_sock: self._on_ingest}
        if self.openhcs is not None:
            for sock in self.openhcs.ports:
                handlers[sock] = lambda frames, s=sock: self.openhcs.on_message(s, frames)
        poller, producers_only = zmq.Poller(), zmq.Poller()
        for sock in handlers:
            poller.register(sock, zmq.POLLIN)
            if sock is not self.viewer_sock:
                producers_only.register(sock, zmq.POLLIN)
        next_housekeeping = 0.0
        try:
            while self.running:
                # Within a round's interval viewers' acks wait and are read together when it
                # ends (one wake-up for all of them, not one per ack); producers never wait.
                timeout, quiet = self.fanout.timeout_ms(50), self.fanout.quiet_ms()
                if quiet:
                    events = producers_only.poll(timeout=min(timeout, quiet))
                else:
                    events = poller.poll(timeout=timeout)
                for sock, _ in events:
                    _drain(sock, handlers[sock])
                self._on_persisted()
                self.fanout.pump()
                if self.openhcs is not None:
                    self.openhcs.send_acks()
                now = time.monotonic()
                if now >= next_housekeeping:
                    self._housekeeping(now)
                    next_housekeeping = now + HOUSEKEEPING_S
        finally:
            self._shutdown()

    def _on_persisted(self) -> None:
        """Items the store wrote: mark them evictable and tell viewers where they now live.

        Viewers that keep plane references instead of pixels (napari, Fiji) re-point them at
        the store before the hub drops the segment (the fan-out sends them in batches).
        """
        moved = []
        for done in self.store.persisted():
            if done.cold is None or done.scene != self.scene.scene_id:
                continue
            if self.scene.mark_persisted(done.index, done.cold):
                moved.append([done.index, done.cold])
        if moved:
            self.fanout.relocated(moved)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        log.info("hub %d: signal %d, shutting down", self.pid, signum)
        self.running = False

    def _shutdown(self) -> None:
        for name in self.supervisor.viewers:
            self.fanout.send(name, {"kind": "shutdown"})
        self.supervisor.stop_all()
        self.ingest.refuse_pending("hub is shutting down")
        self.store.close()  # after its queued writes: a named store keeps the whole scene
        self.scene.clear()
        self.pool.close()
        if self.openhcs is not None:
            self.openhcs.close()
        shm.sweep(current_hub_pid=None)
        for segment in shm.list_ours():
            parsed = shm.parse_name(segment)
            if parsed and parsed.hub_pid == self.pid:
                shm.unlink(segment)
        self.ingest_sock.close()
        self.viewer_sock.close()
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

    def _housekeeping(self, now: float) -> None:
        for name, reason in self.supervisor.check():
            for index in self.scene.viewer_failed(name, reason):
                log.error("viewer %s: skipping item %d from now on (%s)", name, index, reason)
            self.fanout.forget(name)
        if now >= self._next_sweep:  # segments of producers that died before sending
            shm.sweep(current_hub_pid=self.pid)
            self.curve.refresh()  # keys added to or removed from authorized/ count now
            self._next_sweep = now + SWEEP_INTERVAL_S
        self.ingest.retry_pending()
        self.controls.expire()
        if self.openhcs is not None:
            self.openhcs.unlink_orphans()

    def _recover(self) -> None:
        """Bring back the scene a previous hub left in the store (after a crash or a stop)."""
        scene_id, recovered = self.store.recover()
        if scene_id:
            self.scene.scene_id = scene_id
        self.store.start(self.scene.scene_id)
        lost = 0
        for item in recovered:
            header, segment, pixels = dict(item.header), None, 0
            if item.segment is not None:  # still in memory: hot again, no disk read
                segment = self.ingest.adopt_orphan(item.segment)
            if segment is None and item.cold is None and header["kind"] == "image":
                lost += 1
                log.error("item %s: pixels neither on disk nor in memory", header.get("components"))
                continue
            if segment is not None:
                header["segment"] = segment
                pixels = item_nbytes(header)
            logged = self.scene.append(header, segment, item.nbytes, item.key, pixels)
            self.store.record(logged.index, header, item.key, item.nbytes, cold=item.cold)
            if item.cold is not None:
                self.scene.mark_persisted(logged.index, item.cold)
            elif segment is not None:
                self.store.write(logged.index, header)
        self.store.finish_recovery()
        if recovered:
            log.info(
                "recovered %d item(s) of scene %d from %s (%d lost)",
                len(recovered) - lost,
                self.scene.scene_id,
                self.store.directory,
                lost,
            )

    # ------------------------------------------------------------------ producers

    def _on_ingest(self, frames: list[zmq.Frame]) -> None:
        """One message on the ingest socket: a control verb or data for ingest."""
        identity = frames[0].bytes
        # REQ clients put an empty delimiter frame before the body; DEALER clients do not.
        envelope = [identity, b""] if len(frames) > 1 and len(frames[1]) == 0 else [identity]
        body = frames[len(envelope) :]

        def reply(answer: dict[str, Any]) -> None:
            try:
                self.ingest_sock.send_multipart([*envelope, encode_header(answer)], zmq.NOBLOCK)
            except zmq.ZMQError as exc:
                log.warning("could not reply to a producer: %s", exc)

        request = Request(None, reply)
        try:
            if not body:
                raise ProtocolError(ErrorCode.MALFORMED, "empty message")
            total = sum(len(f) for f in body)
            limit = self.config.limits.max_message_bytes
            if total > limit:
                raise ProtocolError(
                    ErrorCode.TOO_LARGE, f"message of {total} bytes is above the cap of {limit}"
                )
            header = decode_header(body[0].buffer, self.config.limits)
            request.req = check_req(header.get("req"))
            if header.get("kind") == "control":
                self.controls.handle(request.req, header, reply)
                return
            request.frames = body
            request.held_bytes, request.header_bytes = total, len(body[0])
            self.ingest.submit(request, header, len(body))
        except ProtocolError as exc:
            self.ingest.refuse(request, exc)
        except Exception as exc:  # a bug must cost one request, never the hub
            self.ingest.internal_error(request, exc)

    # ------------------------------------------------------------------ what verbs drive

    def clear(self) -> None:
        self.scene.clear()
        self.store.clear(self.scene.scene_id, keep_old=self.config.keep_scenes)
        self.fanout.broadcast({"kind": "clear", "scene": self.scene.scene_id})
        self.ingest.retry_pending()

    def restart_viewer(self, name: str) -> None:
        """Start a viewer process again (closed, failed or running): it gets the whole scene."""
        try:
            self.supervisor.restart(name)  # the supervisor owns who may be restarted
        except ValueError as exc:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"restart: {exc}", "args.viewer") from None
        self.fanout.send(name, {"kind": "shutdown"})
        self.fanout.forget(name)

    def status(self) -> dict[str, Any]:
        viewers = {}
        for name in self.supervisor.viewers:
            viewers[name] = {
                **self.supervisor.status(name),
                **self.scene.viewer_status(name),
                **self.fanout.frames.status(name),  # a remote viewer: bytes queued to it
            }
        return {
            "hub": {
                "pid": self.pid,
                "version": PROTOCOL_VERSION,
                "uptime_s": round(time.time() - self.started, 1),
                "ingest": self.ingest_endpoint,
                "viewer_endpoint": self.viewer_endpoint,
                "remote_viewer_endpoint": self.remote_viewer_endpoint,
                "scene": self.scene.scene_id,
                "items": len(self.scene),
                "bytes": self.scene.bytes_used,
                "memory_budget": self.config.memory_budget,
                "evicted": self.scene.evicted,
                **self.ingest.status(),
            },
            "store": self.store.status(),
            "viewers": viewers,
        }


def _drain(sock: zmq.Socket, handler: Any, limit: int = 256) -> None:
    """Handle what a socket holds, at most ``limit`` messages so no socket starves others."""
    for _ in range(limit):
        try:
            frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return
        handler(frames)
