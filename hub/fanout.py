"""Fan-out: the viewer socket's sessions, what each viewer may receive, and its acks.

A viewer connects with a random ZeroMQ routing id and says ``hello`` with its name. The hub
maps routing ids to names only through a hello it accepted: a supervised viewer (one the hub
started) must present the token the supervisor gave its process, so no other client can take
its name, read its items or say ``bye`` for it; an unsupervised viewer (a napari dock widget)
registers its own name. Every other message from an unknown routing id is ignored.

Items go out in rounds, one ``items`` message per viewer per round, built from each item's
JSON encoded once (``SceneItem.wire``) however many viewers there are; viewers at the same
place in the scene share one message, built once. Rounds are at least :data:`BATCH_S` apart,
longer for a fast stream (:class:`BatchWindow`): a fast stream reaches each viewer in
batches, and the viewer acks several in one message. What one more viewer costs the hub is
then a share of a message pair per batch (``benchmarks/bench_fanout.py``), not per item.

This module holds the viewer side only: the scene log decides what is due, the supervisor
owns processes and liveness, and control replies go back through ``on_reply``.
"""

from __future__ import annotations

import hmac
import logging
import math
import re
import time
from collections.abc import Callable
from typing import Any

import zmq

from contract import defaults
from contract.protocol import ProtocolError, decode_header, encode_header
from hub.remote_viewers import FrameSender
from hub.scene import SceneLog
from hub.supervisor import Supervisor, ViewerState

log = logging.getLogger(__name__)

_VIEWER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_CREDITS = 1024
#: Seconds: the shortest interval between two rounds of items messages (one to each viewer
#: with items due, in the same turn of the poll loop). A stream faster than this reaches a
#: viewer in batches (a message and an ack per batch, not per item: what each added viewer
#: costs the hub is bounded by the messages a second, whatever the item rate); an item after
#: a pause still goes at once. At a pipeline's pace (up to :data:`BATCH_RATE` items a
#: second, up to :data:`BATCH_VIEWERS` viewers) an item waits at most this long, half of it
#: on average.
BATCH_S = 0.005
#: Items a second above which the interval grows with the rate, by :data:`BATCH_S` for
#: every :data:`BATCH_RATE_STEP` items a second more, up to :data:`BATCH_MAX_S`: a stream
#: faster than a pipeline's pace (save and a pause: 250-330 items/s here) is a bulk
#: transfer, and a viewer woken once for many items costs a fraction of one woken for few
#: (on 2 shared cores each wake-up starts with cold caches: measured 5-7 times the CPU per
#: item of a warm loop).
BATCH_RATE = 400.0
BATCH_RATE_STEP = 50.0
#: Weight of the newest round in the smoothed rate: a few rounds of a burst (a pipeline's
#: items come two or three at a time now and then) do not stretch the interval at once.
RATE_WEIGHT = 0.25
#: Viewers above which the interval grows with their number: a round costs the hub a
#: message and an ack per viewer, so with twice as many viewers rounds are twice as far
#: apart (up to :data:`BATCH_MAX_S`), each carrying more items.
BATCH_VIEWERS = 2
#: Seconds: the longest interval, whatever the rate (an item of the fastest stream waits
#: at most this long: about one screen refresh).
BATCH_MAX_S = 0.02
#: Seconds ``cold`` refs may wait to go out together (see :meth:`FanOut.relocated`), and
#: how many may wait at most.
COLD_BATCH_S = 0.1
MAX_COLD_BATCH = 1024


class BatchWindow:
    """When the next round of items messages may go: :data:`BATCH_S`, longer for a fast stream.

    The rate is measured from round to round (items new since the previous round over the
    time since it), smoothed; a round after a pause longer than :data:`BATCH_MAX_S` starts
    again from :data:`BATCH_S`, so the first items of a new stream are not held longer.
    """

    def __init__(self) -> None:
        self.next_send = 0.0  # monotonic time before which items messages wait
        self.rate = 0.0  # items a second, smoothed over recent rounds
        self.viewers = 1  # viewers the last round went to
        self._last: tuple[float, int, int] | None = None  # (time, scene id, items) at a round

    def interval(self) -> float:
        """Seconds between rounds at the current rate and number of viewers."""
        faster = max(0.0, self.rate - BATCH_RATE) / BATCH_RATE_STEP
        growth = max(1.0 + faster, self.viewers / BATCH_VIEWERS)
        return min(BATCH_MAX_S, BATCH_S * growth)

    def sent(self, now: float, scene_id: int, items: int, viewers: int = 1) -> None:
        """A round went out at ``now`` to ``viewers`` viewers, with the scene ``scene_id``
        holding ``items`` items."""
        self.viewers = viewers
        last = self._last
        if last is None or last[1] != scene_id or now - last[0] > 2 * BATCH_MAX_S:
            self.rate = 0.0  # a pause or a new scene: start again at the shortest interval
        else:
            elapsed = max(now - last[0], 1e-4)
            self.rate += RATE_WEIGHT * (max(0, items - last[2]) / elapsed - self.rate)
        self._last = (now, scene_id, items)
        self.next_send = now + self.interval()


class FanOut:
    """Viewer sessions on one ROUTER socket."""

    def __init__(
        self,
        sock: zmq.Socket,
        scene: SceneLog,
        supervisor: Supervisor,
        hub_pid: int,
        default_credits: int,
        on_reply: Callable[[dict[str, Any]], None],
    ) -> None:
        self.sock = sock
        self.scene = scene
        self.supervisor = supervisor
        self.hub_pid = hub_pid
        self.default_credits = default_credits
        self.on_reply = on_reply
        self._routes: dict[str, bytes] = {}  # viewer name -> routing id of its session
        self._names: dict[bytes, str] = {}  # routing id -> viewer name
        self.window = BatchWindow()  # when the next round of items messages may go
        self._held_until: float | None = None  # when the earliest held items are due
        self._cold: list[list[Any]] = []  # [index, cold] the viewers have not heard of yet
        self._cold_since = 0.0
        self._cold_scene = scene.scene_id
        #: viewers whose hello said they want no ``cold`` messages (no plane references to
        #: re-point and no pixels to wait for: the recorder); each would be a wake-up for nothing
        self._no_cold: set[str] = set()
        scene.before_evict = self.flush_cold
        self.frames = FrameSender(sock)  # viewers on other hosts: pixels as frames

    # ------------------------------------------------------------------ sending

    def send(self, name: str, body: dict[str, Any]) -> None:
        self._send_raw(name, encode_header(body))

    def _send_raw(self, name: str, payload: bytes) -> None:
        route = self._routes.get(name)
        if route is None:
            return
        try:
            self.sock.send_multipart([route, payload], zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            log.warning("could not send to viewer %s: %s", name, exc)

    def broadcast(
        self, body: dict[str, Any], skip: set[str] | frozenset[str] = frozenset()
    ) -> None:
        payload = encode_header(body)
        for name in list(self.scene.cursors):
            if name not in skip:
                self._send_raw(name, payload)

    def relocated(self, moved: list[list[Any]]) -> None:
        """Items the store wrote (``[index, cold]`` each): tell every viewer, in batches.

        The refs wait up to :data:`COLD_BATCH_S` (one ``cold`` message for many items, not
        one per loop turn per viewer) and go out at once before the scene evicts a segment
        (``SceneLog.before_evict``), so a viewer hears where a plane went before it is gone.
        """
        self._drop_stale_cold()
        if not self._cold:
            self._cold_since = time.monotonic()
        self._cold.extend(moved)

    def flush_cold(self) -> None:
        """Send the held ``cold`` refs now."""
        self._drop_stale_cold()
        if self._cold:
            body = {"kind": "cold", "scene": self.scene.scene_id, "refs": self._cold}
            self.broadcast(body, skip=self._no_cold)
            self._cold = []

    def _drop_stale_cold(self) -> None:
        """Refs held from a scene since cleared: nobody needs them."""
        if self._cold_scene != self.scene.scene_id:
            self._cold, self._cold_scene = [], self.scene.scene_id

    def pump(self) -> None:
        """Send every viewer what its credits allow, in one message per viewer.

        Items messages go out in rounds (:class:`BatchWindow`), to every viewer with items
        due at the same moment (one wake-up of the poll loop serves them all): a fast stream
        reaches each viewer in batches (one message and one ack for several items) instead
        of a message pair per item; the first item after a pause goes at once. Viewers at
        the same place in the scene with the same credits (the usual case: they keep up)
        get the same message, built once. :meth:`timeout_ms` tells the poll loop when held
        items are due.
        """
        scene = self.scene
        end, now = len(scene.items), time.monotonic()
        self._held_until = None
        next_send = self.window.next_send
        holding, sent = now < next_send, False
        if self._cold:
            if now >= self._cold_since + COLD_BATCH_S or len(self._cold) >= MAX_COLD_BATCH:
                self.flush_cold()
            else:
                self._held_until = self._cold_since + COLD_BATCH_S
        built: dict[tuple[int, int], tuple[bytes, list[int], int]] = {}
        for name, cursor in scene.cursors.items():
            if cursor.credits <= 0 or cursor.next_index >= end:
                continue  # nothing due: the common case, kept cheap
            if name in self.frames.viewers:
                self.frames.pump(name, self._routes.get(name), scene)
                continue
            if holding:
                if self._held_until is None or next_send < self._held_until:
                    self._held_until = next_send
                continue
            if scene.has_faults(name):  # skipped items, or suspects one at a time
                indices = [item.index for item in scene.due(name)]
                payload = self._items_message(indices) if indices else b""
            else:
                place = (cursor.next_index, cursor.credits)
                batch = built.get(place)
                if batch is None:
                    indices, after = scene.plan(*place)
                    batch = built[place] = (self._items_message(indices), indices, after)
                payload, indices, after = batch
                scene.sent(name, indices, after, now)
            if indices:
                cursor.batches += 1
                sent = True
                self._send_raw(name, payload)
        if sent:
            self.window.sent(now, scene.scene_id, end, len(scene.cursors))

    def _items_message(self, indices: list[int]) -> bytes:
        """One ``items`` message: each item's JSON as encoded once (``SceneItem.wire``)."""
        items = self.scene.items
        return b'{"kind":"items","scene":%d,"items":[%s]}' % (
            self.scene.scene_id,
            b",".join([items[i].wire for i in indices]),
        )

    def timeout_ms(self, longest: int) -> int:
        """How long the poll loop may sleep: until held items are due, at most ``longest``."""
        if self._held_until is None:
            return longest
        return max(0, min(longest, math.ceil((self._held_until - time.monotonic()) * 1000)))

    def quiet_ms(self) -> int:
        """Milliseconds viewers' messages may wait: until the current round's interval ends.

        Acks only return credits (a window of :data:`~contract.defaults.CREDITS` outlasts the
        longest interval) and heartbeats have seconds of slack: reading them once a round
        costs one wake-up of the poll loop for every viewer together.
        """
        scene = self.scene
        if scene.bytes_used > defaults.NEAR_FULL * scene.budget_bytes:
            return 0  # acks free memory (items in flight keep their segments): read them now
        left = self.window.next_send - time.monotonic()
        return math.ceil(left * 1000) if left > 0 else 0

    def forget(self, name: str) -> None:
        """Drop a viewer's session (it died, was restarted or left)."""
        route = self._routes.pop(name, None)
        if route is not None:
            self._names.pop(route, None)
        self.frames.forget(name)
        self._no_cold.discard(name)
        self.scene.detach(name)

    # ------------------------------------------------------------------ receiving

    def on_message(self, frames: list[zmq.Frame]) -> None:
        """Handle one message; a misbehaving client costs its message, never the hub."""
        try:
            self._handle(frames)
        except Exception:
            log.exception("bad message from a viewer client")

    def _handle(self, frames: list[zmq.Frame]) -> None:
        route = frames[0].bytes
        try:
            body = decode_header(frames[1].buffer) if len(frames) > 1 else {}
        except ProtocolError as exc:
            log.warning("bad message from a viewer client: %s", exc)
            return
        kind = body.get("kind")
        name = self._names.get(route)
        if name is None:
            # A viewer's first words, or a heartbeat after the hub restarted under it.
            if kind in ("hello", "heartbeat"):
                self._on_hello(route, body)
            else:
                log.debug("ignored %r from an unknown viewer session", kind)
            return
        if kind == "heartbeat":
            self.supervisor.heartbeat(name, body)
        elif kind == "ack":
            self._on_acks(name, body)
        elif kind == "reply":
            self.on_reply(body)
        elif kind == "bye":
            log.info("viewer %s said goodbye", name)
            self.forget(name)
            viewer = self.supervisor.viewers.get(name)
            if viewer:
                viewer.state = ViewerState.STOPPED  # closed on purpose: not restarted
        elif kind == "hello":
            self._on_hello(route, body)
        else:
            log.warning("viewer %s sent unknown kind %r", name, kind)

    def _on_acks(self, name: str, body: dict[str, Any]) -> None:
        """Acks: an index for an item shown, ``[index, error]`` for one that failed.

        The older form ``[index, null]`` for a shown item is still understood.
        """
        scene, acks = body.get("scene", -1), body.get("acks", [])
        if not isinstance(acks, list):
            return
        shown = [entry for entry in acks if type(entry) is int]
        if len(shown) < len(acks):
            for entry in acks:
                if not (isinstance(entry, list) and len(entry) == 2 and type(entry[0]) is int):
                    continue
                index, error = entry
                if not error:
                    shown.append(index)
                    continue
                error = str(error)[:1000]
                self.scene.ack(name, scene, index, error)
                log.warning("viewer %s could not show item %s: %s", name, index, error)
        if shown:
            self.scene.ack_many(name, scene, shown)
        self.supervisor.heartbeat(name)

    def _on_hello(self, route: bytes, body: dict[str, Any]) -> None:
        name = body.get("name")
        if not isinstance(name, str) or not _VIEWER_NAME.match(name):
            log.warning("viewer hello without a valid name refused: %r", str(name)[:80])
            return
        viewer = self.supervisor.viewers.get(name)
        if viewer is not None and viewer.supervised:
            token = body.get("token")
            if not isinstance(token, str) or not hmac.compare_digest(token, viewer.token):
                log.warning("hello as %s with a wrong token refused (not the hub's process)", name)
                return
        else:
            if self._routes.get(name) != route:  # a new session: a new name, or a new link
                heard = None  # seconds since the name's viewer was last heard from
                if viewer is not None and viewer.last_heartbeat:
                    heard = time.monotonic() - viewer.last_heartbeat
                refusal = self.frames.refusal(name, body, heard)
                if refusal:  # too many remote viewers, or a second one under a live one's name
                    log.warning("viewer hello refused: %s", refusal)
                    reply = encode_header({"kind": "refused", "reason": refusal})
                    self.sock.send_multipart([route, reply], zmq.NOBLOCK)
                    return
            viewer = self.supervisor.adopt_unsupervised(name, body)
        old = self._routes.get(name)
        if old is not None and old != route:
            self._names.pop(old, None)
        self._routes[name], self._names[route] = route, name
        self.frames.hello(name, body)
        if body.get("cold") is False:
            self._no_cold.add(name)
        else:
            self._no_cold.discard(name)
        self.supervisor.heartbeat(name, body)
        credits = body.get("credits")
        window = credits if isinstance(credits, int) and not isinstance(credits, bool) else 0
        self.scene.attach(name, max(1, min(window or self.default_credits, MAX_CREDITS)))
        log.info(
            "viewer %s connected (pid %s); replaying %d item(s)",
            name,
            body.get("pid"),
            len(self.scene),
        )
        self.send(name, {"kind": "welcome", "scene": self.scene.scene_id, "hub_pid": self.hub_pid})
