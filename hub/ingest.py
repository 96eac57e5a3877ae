"""Ingest: admission, the memory budget, and accepting a request all or nothing.

A :class:`Request` is one producer message, already decoded, wherever it came from (the native
ingest socket or the OpenHCS adapter): its validated items, its raw frames and a ``reply``
callable that answers in the sender's own form. :class:`Ingest` admits it now or holds it while
the budget is full, moves every item's pixels into hub-owned segments (adopting a producer's
segment by rename, or copying a frame or a foreign segment), logs the items in the scene and
replies. A failure anywhere rolls the whole request back; it never reaches the scene half-done.

This module knows nothing of sockets, viewers or OpenHCS: the adapter that created a request
decides how it is answered (``reply``), how long it may wait (``deadline_s``), whether foreign
segment names are allowed (``foreign_segments``) and what happens once it is accepted
(``on_accepted``).
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from contract import shm
from contract.items import array_nbytes, declared_components, item_key, item_nbytes, items_of
from contract.protocol import (
    ErrorCode,
    Limits,
    ProtocolError,
    encode_header,
    reply_error,
    reply_ok,
)
from hub.scene import SceneLog
from hub.store import SceneStore

#: Disk space the store keeps free beyond a request (the journal, metadata, other programs).
DISK_MARGIN = 256 * 1024**2

log = logging.getLogger(__name__)

#: Item fields viewers receive; anything else a producer sent stays in the hub.
VIEWER_FIELDS = (
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
    "name",
    "shapes",
)


@dataclass
class Request:
    """One producer message on its way into the scene."""

    req: Any
    reply: Callable[[dict[str, Any]], None]
    items: list[dict[str, Any]] = field(default_factory=list)
    frames: list[Any] = field(default_factory=list)  # frame 0 is the header
    received: float = field(default_factory=time.monotonic)
    header_bytes: int = 0  # the JSON header, charged to the budget with the items
    nbytes: int = 0  # what accepting it costs the budget
    held_bytes: int = 0  # what the hub holds for it while it waits (its frames)
    deadline_s: float | None = None  # longest wait for memory (default: the hub's)
    foreign_segments: bool = False  # OpenHCS sender names allowed (its own port only)
    on_accepted: Callable[[list[int], list[str]], None] | None = None  # indices, copied names


class Ingest:
    """Admits requests into the scene within the memory budget."""

    def __init__(
        self,
        scene: SceneLog,
        hub_pid: int,
        limits: Limits,
        known_components: set[str],
        budget: int,
        max_pending: int,
        backpressure_timeout_s: float,
        store: SceneStore | None = None,
    ) -> None:
        self.scene = scene
        self.store = store
        self.hub_pid = hub_pid
        self.limits = limits
        self.known_components = known_components
        self.budget = budget
        self.max_pending = max_pending
        self.backpressure_timeout_s = backpressure_timeout_s
        self.pending: collections.deque[Request] = collections.deque()
        self.errors: collections.Counter[str] = collections.Counter()
        self.last_errors: collections.deque[dict] = collections.deque(maxlen=20)
        self.accepted_items = 0
        self.accepted_bytes = 0
        self._segment_counter = 0

    # ------------------------------------------------------------------ entry points

    def submit(self, request: Request, header: dict[str, Any], n_frames: int) -> None:
        """Validate a data message (image, shapes or batch) and admit it; always answers."""
        try:
            request.items = items_of(header, self.known_components, self.limits, n_frames)
            request.nbytes = sum(item_nbytes(i) for i in request.items) + request.header_bytes
            self._admit(request)
        except ProtocolError as exc:
            self.refuse(request, exc)
        except Exception as exc:  # a bug must cost one request, never the hub
            self.internal_error(request, exc)

    def refuse(self, request: Request, exc: ProtocolError) -> None:
        self.errors[exc.code.value] += 1
        self.last_errors.append({"time": time.time(), "code": exc.code.value, "error": str(exc)})
        log.warning("refused request %r: %s", request.req, exc)
        request.reply(reply_error(request.req, exc))

    def internal_error(self, request: Request, exc: Exception) -> None:
        log.exception("internal error on request %r", request.req)
        self.refuse(
            request,
            ProtocolError(ErrorCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}"),
        )

    def retry_pending(self) -> None:
        """Accept waiting requests that now fit; refuse those that waited too long."""
        now = time.monotonic()
        while self.pending:
            request = self.pending[0]
            if self.scene.make_room(request.nbytes):
                self.pending.popleft()
                try:
                    self._accept(request)
                except Exception as exc:
                    self.internal_error(request, exc)
            elif now - request.received > self._deadline(request):
                self.pending.popleft()
                self.refuse(
                    request,
                    ProtocolError(
                        ErrorCode.BUDGET_FULL,
                        f"memory budget of {self.budget} bytes stayed full for "
                        f"{self._deadline(request):.0f} s ({self.scene.bytes_used} used); "
                        f"clear the scene or raise --memory-budget",
                    ),
                )
            else:
                return

    def refuse_pending(self, why: str) -> None:
        while self.pending:
            request = self.pending.popleft()
            request.reply(reply_error(request.req, why))

    # ------------------------------------------------------------------ admission

    def _deadline(self, request: Request) -> float:
        if request.deadline_s is None:
            return self.backpressure_timeout_s
        return min(request.deadline_s, self.backpressure_timeout_s)

    def _admit(self, request: Request) -> None:
        """Accept a validated request now, or hold its reply while the budget is full."""
        if request.nbytes > self.budget:
            raise ProtocolError(
                ErrorCode.TOO_LARGE,
                f"message needs {request.nbytes} bytes, more than the whole memory budget "
                f"of {self.budget}",
            )
        if self.store is not None:
            free = self.store.free_bytes()
            if free < request.nbytes + DISK_MARGIN:
                raise ProtocolError(
                    ErrorCode.DISK_FULL,
                    f"the scene store at {self.store.directory} is full: {free} bytes free, "
                    f"{request.nbytes} needed (+{DISK_MARGIN} kept free); free space there or "
                    f"start the hub with --store on a larger disk",
                )
        if not self.pending and self.scene.make_room(request.nbytes):
            self._accept(request)
            return
        # A waiting request holds its frames in hub memory (shared-memory pixels stay the
        # producer's until accepted): both the count and those bytes are capped.
        waiting = sum(r.held_bytes for r in self.pending)
        if len(self.pending) >= self.max_pending or waiting + request.held_bytes > self.budget // 2:
            raise ProtocolError(
                ErrorCode.BUDGET_FULL,
                f"memory budget of {self.budget} bytes is full and {len(self.pending)} "
                f"request(s) of {waiting} bytes already wait for it; retry later, clear the "
                f"scene or raise --memory-budget",
            )
        log.info("memory budget full: delaying ack of request %r", request.req)
        self.pending.append(request)

    def _accept(self, request: Request) -> None:
        """Move every item's pixels into hub segments and log them, all or nothing."""
        placed: list[tuple[str, str | None]] = []  # (hub segment, producer name if adopted)
        copied_foreign: list[str] = []
        try:
            prepared = []
            for item in request.items:
                segment = None
                if item["kind"] == "image":
                    segment, adopted_from = self._ingest_pixels(item, request, copied_foreign)
                    placed.append((segment, adopted_from))
                prepared.append((item, segment))
        except ProtocolError as exc:
            _roll_back(placed)
            self.refuse(request, exc)
            return
        except shm.SegmentError as exc:
            _roll_back(placed)
            self.refuse(request, ProtocolError(ErrorCode.MISSING_SEGMENT, str(exc), "shm"))
            return
        except OSError as exc:
            _roll_back(placed)
            self.refuse(request, ProtocolError(ErrorCode.INTERNAL, f"shared memory: {exc}"))
            return
        indices = []
        for item, segment in prepared:
            config = item.get("display_config")
            if config:
                self.known_components |= declared_components(config)
            header = {k: item[k] for k in VIEWER_FIELDS if item.get(k) is not None}
            header.setdefault("components", {})
            if segment:
                header["segment"] = segment
            cost = item_nbytes(item)
            pixels = cost if segment else 0
            nbytes = cost + len(encode_header(header))
            key = item_key(item)
            logged = self.scene.append(header, segment, nbytes, key, pixels)
            if self.store is not None:  # journaled before the reply: a crash loses nothing
                self.store.record(logged.index, header, key, nbytes)
                if segment:
                    self.store.write(logged.index, header)
            indices.append(logged.index)
        self.accepted_items += len(indices)
        self.accepted_bytes += request.nbytes
        if request.on_accepted is not None:
            request.on_accepted(indices, copied_foreign)
        request.reply(reply_ok(request.req, scene=self.scene.scene_id, indices=indices))

    # ------------------------------------------------------------------ pixels

    def _ingest_pixels(
        self, item: dict, request: Request, copied_foreign: list[str]
    ) -> tuple[str, str | None]:
        nbytes = array_nbytes(tuple(item["shape"]), np.dtype(item["dtype"]))
        hub_name = self._new_segment_name()
        if "frame" in item:
            frame = request.frames[item["frame"]]
            if len(frame) != nbytes:
                raise ProtocolError(
                    ErrorCode.SIZE_MISMATCH,
                    f"frame {item['frame']} holds {len(frame)} bytes but shape "
                    f"{item['shape']} x {item['dtype']} needs {nbytes}",
                    "frame",
                )
            _copy_into(hub_name, frame.buffer, nbytes)
            return hub_name, None
        name = item["shm"]
        parsed = shm.parse_name(name)
        own = parsed is not None and parsed.hub_pid == self.hub_pid and parsed.producer_pid
        foreign = request.foreign_segments and shm.is_openhcs_name(name)
        if parsed is not None and parsed.producer_pid and parsed.hub_pid != self.hub_pid:
            raise ProtocolError(
                ErrorCode.WRONG_HUB,
                f"shared-memory name {name!r:.80} was made for hub {parsed.hub_pid}, this is "
                f"hub {self.hub_pid}: ping again for the 'shm_prefix'",
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
            _copy_into(hub_name, memoryview(source)[:nbytes], nbytes)
        finally:
            source.close()
        if not own:
            copied_foreign.append(name)
        return hub_name, None

    def adopt_orphan(self, name: str) -> str | None:
        """Take over a dead hub's segment (its pixels never reached the disk); new name or None."""
        try:
            shm.segment_size(name)  # a regular file of ours, or refused
            hub_name = self._new_segment_name()
            shm.adopt(name, hub_name)
            return hub_name
        except (shm.SegmentError, OSError):
            return None

    def _new_segment_name(self) -> str:
        self._segment_counter += 1
        keep = self.store is not None and self.store.persistent
        return shm.hub_segment_name(self.hub_pid, self._segment_counter, keep=keep)

    def status(self) -> dict[str, Any]:
        return {
            "pending_requests": len(self.pending),
            "accepted_items": self.accepted_items,
            "accepted_bytes": self.accepted_bytes,
            "errors": dict(self.errors),
            "errors_total": sum(self.errors.values()),
            "last_errors": list(self.last_errors)[-5:],
        }


def _copy_into(hub_name: str, source: memoryview, nbytes: int) -> None:
    target = shm.create(hub_name, nbytes)
    try:
        dst = np.frombuffer(target, dtype=np.uint8, count=nbytes)
        np.copyto(dst, np.frombuffer(source, dtype=np.uint8, count=nbytes))
        del dst
    finally:
        target.close()


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
