"""Pipelined saves: the copy of the next plane overlaps the hub's acceptance of the last.

Why: ``StreamingBackend.save`` returns once the hub has accepted the plane, so a producer that
saves back to back alternates between copying (its core) and waiting for the hub's reply (the
hub's core). On two cores that wastes half of each. Here a save copies its pixels into shared
memory, sends the request and returns; it waits only when more than ``depth`` requests are
unanswered. The hub still accepts whole batches in order and the pixels are already in hub
memory (leased segments or our own) when the request leaves, so nothing is held in producer
memory while it waits.

What changes for the caller: an error (a refusal, a timeout) surfaces at a later ``save`` or
at ``flush`` / the end of the ``with`` block, and belongs to any unanswered save. ``flush``
returns the replies in order. There is no automatic resend: after an error the backend has
already dropped stale leases or found a restarted hub, so saving again works.

    with backend.pipelined() as pipe:
        for plane, comps in stream:
            pipe.save(plane, "", **comps)
    # every plane accepted here
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from contract.connection import HubError

if TYPE_CHECKING:
    from backends.streaming import Outgoing, StreamingBackend


class PipelinedSaves:
    """Saves of one backend with up to ``depth`` requests awaiting the hub."""

    def __init__(self, backend: StreamingBackend, depth: int = 1) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.backend = backend
        self.depth = depth
        self._in_flight: collections.deque[tuple[int, Outgoing]] = collections.deque()
        self._replies: list[dict[str, Any]] = []

    def save(self, data: Any, path: str | Path = "", **components: Any) -> None:
        """Like ``StreamingBackend.save``, but returns once the request is sent."""
        from backends.streaming import one_item_batch

        self.save_batch(**one_item_batch(data, path, components))

    def save_batch(
        self,
        data_list: Sequence[Any],
        file_paths: Sequence[str | Path],
        *,
        display_config: Any = None,
        components: Sequence[dict[str, Any]] | None = None,
        microscope_handler: Any = None,
        stack_component: str | None = None,
    ) -> None:
        """Like ``StreamingBackend.save_batch`` (all or nothing), but returns once sent."""
        out = self.backend._prepare(
            data_list,
            file_paths,
            display_config,
            components,
            microscope_handler,
            stack_component,
            in_flight=self.depth,
        )
        # Frames go out zero-copy from the caller's arrays, after this returns: send copies,
        # or an array the caller reuses for its next plane would change on its way.
        out.frames[:] = [np.array(frame, copy=True) for frame in out.frames]
        try:
            req = self.backend._conn.send(out.header, out.frames)
        except BaseException as exc:
            self.backend._settle(out, None, exc)
            raise
        self._in_flight.append((req, out))
        while len(self._in_flight) > self.depth:
            self._complete_oldest()

    def flush(self) -> list[dict[str, Any]]:
        """Wait until every save so far is accepted; their replies, oldest first."""
        while self._in_flight:
            self._complete_oldest()
        replies, self._replies = self._replies, []
        return replies

    def _complete_oldest(self) -> None:
        req, out = self._in_flight.popleft()
        try:
            reply = self.backend._conn.receive(req, what="batch")
        except BaseException as exc:
            self.backend._settle(out, None, exc)
            if isinstance(exc, HubError):
                self.backend._recover(exc)
            raise
        self._replies.append(self.backend._settle(out, reply, None))

    def __enter__(self) -> PipelinedSaves:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            self.flush()
            return
        while self._in_flight:  # already failing: settle the rest without masking the error
            try:
                self._complete_oldest()
            except Exception:  # noqa: BLE001 - the first error is the one raised
                continue
