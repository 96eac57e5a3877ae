"""The scene log: every accepted item, in order, plus one cursor and credit window per viewer.

The log is append-only within a scene; ``clear`` starts a new scene (a new ``scene_id``) and
releases the old scene's segments. A viewer's cursor is the index of the next item to send
it; its credits are how many more items it may have in flight. A slow viewer simply keeps a
low cursor: nothing here ever waits for a viewer, so the producer and the other viewers go
on. A viewer that (re)connects starts at cursor 0 and receives the whole scene again.

A viewer process that dies or hangs with items in flight must not be fed the same item again
forever. :meth:`SceneLog.viewer_failed` marks what was in flight as *suspect*; on replay,
suspects go out one at a time, so the next failure names the culprit exactly. That item is
then *skipped* for that viewer (reported in its status with the reason) and never sent to it
again in this scene: one bad item costs at most two restarts, never a crash loop.

This module holds no sockets: the server asks it what to send and tells it what was acked.
"""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: Seconds over which a viewer's items_per_s is measured.
RATE_WINDOW_S = 5.0


@dataclass
class SceneItem:
    """An accepted item. ``header`` is what viewers receive; ``segment`` holds its pixels."""

    index: int
    header: dict[str, Any]
    segment: str | None
    nbytes: int
    key: str | None = None  # identity: a later item with the same key replaces this one
    pixel_bytes: int = 0  # what evicting its segment gives back
    accepted_at: float = field(default_factory=time.time)
    superseded: bool = False
    _wire: bytes | None = None

    @property
    def wire(self) -> bytes:
        """``{"index": i, "item": header}`` as JSON, encoded once however many viewers."""
        if self._wire is None:
            self._wire = json.dumps(
                {"index": self.index, "item": self.header}, separators=(",", ":"), allow_nan=False
            ).encode()
        return self._wire


@dataclass
class Cursor:
    """Where one viewer stands in the scene."""

    next_index: int = 0
    credits: int = 0
    window: int = 0
    acked: int = 0
    batches: int = 0  # items messages sent (items per message: how well the fan-out batches)
    acks: int = 0  # ack messages that counted (items per ack: how well the viewer batches)
    errors: int = 0
    last_error: str | None = None
    in_flight: dict[int, float] = field(default_factory=dict)  # index -> monotonic send time
    #: (time, items) of each ack message within the last RATE_WINDOW_S: items_per_s
    shown_times: collections.deque[tuple[float, int]] = field(default_factory=collections.deque)

    def reset(self, window: int) -> None:
        self.next_index, self.credits, self.window = 0, window, window
        self.acked, self.batches, self.acks, self.in_flight = 0, 0, 0, {}

    def stalled(self, now: float, ack_timeout_s: float) -> bool:
        """True if its oldest item in flight waits longer than ``ack_timeout_s`` for an ack."""
        return bool(self.in_flight) and now - min(self.in_flight.values()) > ack_timeout_s


@dataclass
class Faults:
    """Items that were in flight when a viewer died or hung, per viewer, for one scene."""

    suspects: set[int] = field(default_factory=set)
    skipped: dict[int, str] = field(default_factory=dict)  # index -> why


class SceneLog:
    """The items of the current scene, compacted by identity, and the viewers' cursors.

    Indices only grow. An item whose identity (``key``) was seen before supersedes the earlier
    item: replay skips superseded items (a new viewer gets the current state, not the
    history), and a superseded item's segment is released once no viewer has it in flight.
    """

    def __init__(self, budget_bytes: int, release: Callable[[str], None]) -> None:
        self.budget_bytes = budget_bytes
        self._release = release
        #: called before segments are evicted (fan-out sends the held ``cold`` refs first)
        self.before_evict: Callable[[], None] | None = None
        self.scene_id = 1
        self.items: list[SceneItem] = []
        self.by_key: dict[str, int] = {}  # identity -> index of the current item
        self.live = 0  # items not superseded
        self._retired: list[SceneItem] = []  # superseded, segment not yet released
        self._evictable: collections.deque[int] = collections.deque()  # on disk, still hot
        self.evicted = 0  # segments given back because their items are on disk
        self.bytes_used = 0
        self.cursors: dict[str, Cursor] = {}
        self.faults: dict[str, Faults] = {}  # kept across a viewer's restarts, not scenes
        self.display_config: dict[str, Any] | None = None

    def __len__(self) -> int:
        """Items in the scene now (superseded ones do not count)."""
        return self.live

    def fits(self, nbytes: int) -> bool:
        """True if ``nbytes`` more fit the budget. An empty scene takes anything under budget."""
        return self.bytes_used + nbytes <= self.budget_bytes

    def append(
        self,
        header: dict[str, Any],
        segment: str | None,
        nbytes: int,
        key: str | None = None,
        pixel_bytes: int = 0,
    ) -> SceneItem:
        """Log an accepted item; returns it. An item with a known key supersedes the old one."""
        item = SceneItem(len(self.items), header, segment, nbytes, key, pixel_bytes)
        if key is not None:
            previous = self.by_key.get(key)
            if previous is not None:
                self._supersede(self.items[previous])
            self.by_key[key] = item.index
        self.items.append(item)
        self.live += 1
        self.bytes_used += nbytes
        if header.get("display_config"):
            self.display_config = header["display_config"]
        return item

    def mark_persisted(self, index: int, cold: dict[str, Any]) -> bool:
        """Item ``index`` is on disk: viewers may read it from there, and it may be evicted.

        False for an item already replaced or cleared (nobody needs to hear where it went).
        """
        item = self.items[index] if index < len(self.items) else None
        if item is None or item.superseded:
            return False
        item.header = {**item.header, "cold": cold}
        item._wire = None
        if item.segment:
            self._evictable.append(index)
        return True

    def make_room(self, nbytes: int) -> bool:
        """Evict on-disk items' segments, oldest first, until ``nbytes`` more fit; True if so.

        An item a viewer has in flight keeps its segment (that viewer may be reading it); the
        eviction moves on to the next one.
        """
        if self.fits(nbytes):
            return True
        if self._evictable and self.before_evict is not None:
            self.before_evict()  # viewers hear where planes went before their segments go
        busy = {i for cursor in self.cursors.values() for i in cursor.in_flight}
        kept: list[int] = []
        while self._evictable and not self.fits(nbytes):
            index = self._evictable.popleft()
            item = self.items[index]
            if item.superseded or not item.segment:
                continue
            if index in busy:
                kept.append(index)
                continue
            self._release(item.segment)
            item.segment = None
            item.header = {k: v for k, v in item.header.items() if k != "segment"}
            item._wire = None
            item.nbytes -= item.pixel_bytes
            self.bytes_used -= item.pixel_bytes
            self.evicted += 1
        self._evictable.extendleft(reversed(kept))
        return self.fits(nbytes)

    def _supersede(self, item: SceneItem) -> None:
        item.superseded = True
        self.live -= 1
        self._retired.append(item)
        self.reap()

    def reap(self) -> None:
        """Release superseded items that no viewer has in flight (their memory comes back)."""
        if not self._retired:
            return
        busy = {i for cursor in self.cursors.values() for i in cursor.in_flight}
        keep = []
        for item in self._retired:
            if item.index in busy:
                keep.append(item)
                continue
            if item.segment:
                self._release(item.segment)
                item.segment = None
            self.bytes_used -= item.nbytes
            item.header, item._wire, item.nbytes = {}, None, 0  # a tombstone
        self._retired = keep

    def clear(self) -> None:
        """Start a new scene; release every segment of the old one."""
        for item in self.items:
            if item.segment:
                self._release(item.segment)
        self.items, self.bytes_used = [], 0
        self.by_key, self.live, self._retired = {}, 0, []
        self._evictable.clear()
        self.scene_id += 1
        self.faults.clear()
        for cursor in self.cursors.values():
            cursor.reset(cursor.window)

    # -- viewers

    def attach(self, viewer: str, window: int) -> Cursor:
        """A viewer (re)connected: it gets the whole scene from the start."""
        cursor = self.cursors.setdefault(viewer, Cursor())
        cursor.reset(window)
        return cursor

    def detach(self, viewer: str) -> None:
        self.cursors.pop(viewer, None)
        self.reap()

    def viewer_failed(self, viewer: str, reason: str) -> list[int]:
        """The viewer died or hung: suspect what it had in flight; returns newly skipped items.

        A single item in flight at a failure is the culprit: it is skipped from now on.
        """
        cursor = self.cursors.get(viewer)
        if cursor is None or not cursor.in_flight:
            return []
        faults = self.faults.setdefault(viewer, Faults())
        if len(cursor.in_flight) == 1:
            (index,) = cursor.in_flight
            faults.skipped[index] = reason
            faults.suspects.discard(index)
            return [index]
        faults.suspects |= set(cursor.in_flight)
        return []

    def due(self, viewer: str) -> Iterator[SceneItem]:
        """Items the viewer may receive now, within its credits; advances its cursor.

        Skipped items are passed over; a suspect goes out alone (nothing else in flight).
        """
        cursor = self.cursors[viewer]
        faults = self.faults.get(viewer)
        now = time.monotonic()
        while cursor.credits > 0 and cursor.next_index < len(self.items):
            item = self.items[cursor.next_index]
            if item.superseded:  # replay sends the current state, not the history
                cursor.next_index += 1
                continue
            if faults is not None:
                if item.index in faults.skipped:
                    cursor.next_index += 1
                    continue
                if item.index in faults.suspects:
                    if cursor.in_flight:
                        return
                    cursor.next_index += 1
                    cursor.credits -= 1
                    cursor.in_flight[item.index] = now
                    yield item
                    return
            cursor.next_index += 1
            cursor.credits -= 1
            cursor.in_flight[item.index] = now
            yield item

    def plan(self, start: int, credits: int) -> tuple[list[int], int]:
        """The items a viewer at ``start`` with ``credits`` gets, and its cursor after them.

        Pure: the fan-out plans once for every viewer at the same place (one frame built
        once, sent to each), then :meth:`sent` moves each cursor. For viewers without
        faults only (:meth:`has_faults`); the others go through :meth:`due`.
        """
        items, end = self.items, len(self.items)
        stop = min(end, start + credits)
        indices = [i for i in range(start, stop) if not items[i].superseded]
        while len(indices) < credits and stop < end:  # superseded ones left room
            if not items[stop].superseded:
                indices.append(stop)
            stop += 1
        return indices, stop

    def has_faults(self, viewer: str) -> bool:
        """True if items must be skipped for this viewer or sent to it one at a time."""
        faults = self.faults.get(viewer)
        return faults is not None and bool(faults.skipped or faults.suspects)

    def sent(self, viewer: str, indices: list[int], next_index: int, now: float) -> None:
        """A viewer was sent ``indices`` (a :meth:`plan`): its cursor, credits, in flight."""
        cursor = self.cursors[viewer]
        cursor.next_index = next_index
        cursor.credits -= len(indices)
        cursor.in_flight.update(dict.fromkeys(indices, now))

    def ack(self, viewer: str, scene_id: int, index: int, error: str | None) -> bool:
        """Record a viewer's display ack; stale acks (old scene, unknown item) are ignored."""
        return self.ack_many(viewer, scene_id, (index,), error) == 1

    def ack_many(
        self, viewer: str, scene_id: int, indices: Iterable[int], error: str | None = None
    ) -> int:
        """Record acks of several items at once (one ack message); returns how many counted.

        One clock read and one rate-window entry per call, not per item: a viewer acks a
        batch of items in one message, and this runs once per viewer per batch.
        """
        cursor = self.cursors.get(viewer)
        if cursor is None or scene_id != self.scene_id:
            return 0
        in_flight, faults = cursor.in_flight, self.faults.get(viewer)
        counted = 0
        for index in indices:
            if in_flight.pop(index, None) is None:
                continue  # stale: not in flight (an old session's, or acked twice)
            counted += 1
            if faults is not None:
                faults.suspects.discard(index)  # shown: not the culprit
        if not counted:
            return 0
        cursor.credits += counted
        cursor.acked += counted
        cursor.acks += 1
        now = time.time()
        shown = cursor.shown_times
        shown.append((now, counted))
        while shown[0][0] < now - RATE_WINDOW_S:  # a rate window, not a count cap
            shown.popleft()
        if error:
            cursor.errors += counted
            cursor.last_error = error
        if self._retired:
            self.reap()
        return counted

    def shown_by_all(self, index: int, ack_timeout_s: float = 30.0) -> bool:
        """True once every connected, acking viewer has acked (or skipped) item ``index``.

        A viewer that holds an item unacked for longer than ``ack_timeout_s`` does not count:
        one viewer that never acks must not stop acks for everybody (OpenHCS senders).
        """
        if not self.cursors:
            return False
        now = time.monotonic()
        return all(
            (index < cursor.next_index and index not in cursor.in_flight)
            or cursor.stalled(now, ack_timeout_s)
            for cursor in self.cursors.values()
        )

    def viewer_status(self, viewer: str) -> dict[str, Any]:
        cursor = self.cursors.get(viewer)
        if cursor is None:
            return {"connected": False}
        since = time.time() - RATE_WINDOW_S
        recent = sum(n for t, n in cursor.shown_times if t > since)
        faults = self.faults.get(viewer, Faults())
        return {
            "skipped": len(faults.skipped),
            "skipped_items": [
                {"index": i, "reason": why} for i, why in sorted(faults.skipped.items())[-5:]
            ],
            "connected": True,
            "shown": cursor.acked,
            "batches": cursor.batches,
            "ack_messages": cursor.acks,
            "queued": sum(not i.superseded for i in self.items[cursor.next_index :]),
            "in_flight": len(cursor.in_flight),
            "errors": cursor.errors,
            "last_error": cursor.last_error,
            "items_per_s": round(recent / RATE_WINDOW_S, 2),
        }
