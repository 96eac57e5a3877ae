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

from contract import defaults, shm
from contract.items import declared_components, item_key, item_nbytes, items_of
from contract.protocol import (
    ErrorCode,
    Limits,
    ProtocolError,
    encode_header,
    reply_error,
    reply_ok,
)
from hub.pixels import Pixels, Placed
from hub.pool import SegmentPool
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
    lease: tuple[int, list[tuple[int, int]]] | None = None  # (producer pid, [(size, count)])


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
        pool: SegmentPool | None = None,
    ) -> None:
        self.scene = scene
        self.store = store
        self.pool = pool or SegmentPool(hub_pid, budget, filler=False)
        keep = store is not None and store.persistent
        self.pixels = Pixels(hub_pid, self.pool, keep)
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

    # ------------------------------------------------------------------ entry points

    def submit(self, request: Request, header: dict[str, Any], n_frames: int) -> None:
        """Validate a data message (image, shapes or batch) and admit it; always answers."""
        try:
            request.items = items_of(header, self.known_components, self.limits, n_frames)
            request.lease = _lease_wish(header.get("lease"))
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
        self.pool.housekeeping()
        now = time.monotonic()
        while self.pending:
            request = self.pending[0]
            if self._fit(request):
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
                        f"{self._deadline(request):.0f} s "
                        f"({self.scene.bytes_used + self.pool.held_bytes} held); "
                        f"clear the scene or raise --memory-budget",
                    ),
                )
            else:
                break
        self._hurry_store()

    def refuse_pending(self, why: str) -> None:
        while self.pending:
            request = self.pending.popleft()
            request.reply(reply_error(request.req, why))
        self._hurry_store()

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
        if not self.pending and self._fit(request):
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
        self._hurry_store()

    def _hurry_store(self) -> None:
        """The store writer stops yielding to ingest (``SceneStore._defer``) while requests
        wait for memory or the budget is nearly full (``defaults.NEAR_FULL``): written planes
        make room."""
        if self.store is not None:
            held = self.scene.bytes_used + self.pool.held_bytes
            self.store.hurry = bool(self.pending) or held > defaults.NEAR_FULL * self.budget

    def _fit(self, request: Request) -> bool:
        """Make room for a request: scene + pool within the budget, free segments go first.

        Pixels already in the pool (a lease, a warm segment a copy will reuse) cost nothing
        more. Segments the scene evicts here are unlinked, not recycled: this is for real room.
        """
        credit, keep = self.pixels.credit(request.items)
        extra = request.nbytes - credit
        over = self.scene.bytes_used + self.pool.held_bytes + extra - self.budget
        if over > 0:
            over -= self.pool.drop(over, keep)
        if over <= 0:
            return True
        with self.pool.dropping():
            return self.scene.make_room(extra + self.pool.held_bytes)

    def _accept(self, request: Request) -> None:
        """Move every item's pixels into hub segments and log them, all or nothing."""
        placed: list[Placed] = []
        copied_foreign: list[str] = []
        try:
            prepared = []
            for item in request.items:
                segment = None
                if item["kind"] == "image":
                    one = self.pixels.place(
                        item, request.frames, request.foreign_segments, copied_foreign
                    )
                    placed.append(one)
                    segment = one.segment
                prepared.append((item, segment))
        except ProtocolError as exc:
            self.pixels.roll_back(placed)
            self.refuse(request, exc)
            return
        except shm.SegmentError as exc:
            self.pixels.roll_back(placed)
            self.refuse(request, ProtocolError(ErrorCode.MISSING_SEGMENT, str(exc), "shm"))
            return
        except OSError as exc:
            self.pixels.roll_back(placed)
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
        extra = {"leases": self._grant(*request.lease)} if request.lease else {}
        self._hurry_store()
        request.reply(reply_ok(request.req, scene=self.scene.scene_id, indices=indices, **extra))

    def _grant(self, pid: int, wishes: list[tuple[int, int]]) -> list[list[Any]]:
        """Warm segments for the producer's next saves: ``[[name, size], ...]``.

        Free pooled segments first. Below the budget, the filler pre-faults more for next
        time (never in this loop). At the budget, on-disk items' segments are evicted into
        the pool: their pages, already warm, become the producer's next planes.
        """
        self.pool.collect()
        out: list[list[Any]] = []
        for size, count in wishes:
            n = self.pool.wanted_more(pid, size, count)
            if not n:
                continue
            self.pool.want(size)
            missing = n - self.pool.available(size) - self.pool.filling.get(size, 0)
            if missing > 0:
                headroom = self.budget - self.scene.bytes_used - self.pool.held_bytes
                if headroom >= size:
                    self.pool.fill(size, missing, headroom)
                else:
                    self.scene.make_room(self.budget - self.scene.bytes_used + missing * size)
            out.extend([name, size] for name in self.pool.grant(pid, size, count))
        return out

    def adopt_orphan(self, name: str) -> str | None:
        """Take over a dead hub's segment (its pixels never reached the disk); new name or None."""
        return self.pixels.adopt_orphan(name)

    def status(self) -> dict[str, Any]:
        return {
            "pending_requests": len(self.pending),
            "accepted_items": self.accepted_items,
            "accepted_bytes": self.accepted_bytes,
            "errors": dict(self.errors),
            "errors_total": sum(self.errors.values()),
            "last_errors": list(self.last_errors)[-5:],
            "pool": self.pool.status(),
        }


def _lease_wish(value: Any) -> tuple[int, list[tuple[int, int]]] | None:
    """``{"pid": P, "want": [[size, count], ...]}`` from a save header, checked; None if absent."""
    if value is None:
        return None
    try:
        pid = value["pid"]
        wishes = [(int(size), int(count)) for size, count in value["want"]][:8]
        if not isinstance(pid, int) or pid <= 0 or any(s < 0 or c < 0 for s, c in wishes):
            raise ValueError
    except (TypeError, KeyError, ValueError):
        raise ProtocolError(
            ErrorCode.BAD_FIELD, 'lease: expected {"pid": int, "want": [[size, count]]}', "lease"
        ) from None
    return pid, [(size, min(count, 256)) for size, count in wishes]
