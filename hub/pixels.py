"""Pixels into hub segments: adopt a producer's segment or lease, or copy into a warm one.

One job: given a validated image item, make its pixels live in a segment the hub owns, and be
able to undo that if the rest of the request fails. Three ways in, cheapest first:

- a **lease** (``hub.pool``): a warm hub segment the producer filled; it is consumed (a lease
  is good for one save) and renamed to a fresh hub name;
- a producer's **own segment** (``viewerhub-<hub>-p<pid>-...``): renamed, no copy;
- a **frame** or a foreign (OpenHCS) segment: copied, into a warm pooled segment when the pool
  has one of the right size, else into a new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from contract import shm
from contract.items import array_nbytes
from contract.protocol import ErrorCode, ProtocolError
from hub.pool import Lease, SegmentPool


@dataclass
class Placed:
    """One item's pixels in a hub segment, and how to undo it."""

    segment: str
    adopted_from: str | None = None  # the producer's own name, renamed back on undo
    lease: Lease | None = None  # a consumed lease, given back on undo


class Pixels:
    """Moves items' pixels into hub segments (for :class:`hub.ingest.Ingest`)."""

    def __init__(self, hub_pid: int, pool: SegmentPool, keep: bool) -> None:
        self.hub_pid = hub_pid
        self.pool = pool
        self.keep = keep  # a named scene store: segments carry the keep mark
        self._counter = 0

    def new_name(self) -> str:
        self._counter += 1
        return shm.hub_segment_name(self.hub_pid, self._counter, keep=self.keep)

    def credit(self, items: list[dict[str, Any]]) -> tuple[int, dict[int, int]]:
        """Bytes of these items' pixels already counted in the pool (leases, warm segments
        a copy will reuse), and how many free segments of each size the copies will use."""
        credit, keep = 0, {}
        for item in items:
            if item["kind"] != "image":
                continue
            size = array_nbytes(tuple(item["shape"]), np.dtype(item["dtype"]))
            lease = self.pool.leases.get(item.get("shm", ""))
            if lease is not None and lease.size == size:
                credit += size
            elif ("frame" in item or shm.is_openhcs_name(item.get("shm", ""))) and keep.get(
                size, 0
            ) < self.pool.available(size):
                keep[size] = keep.get(size, 0) + 1
                credit += size
        return credit, keep

    def place(
        self, item: dict, frames: list[Any], foreign_ok: bool, copied_foreign: list[str]
    ) -> Placed:
        nbytes = array_nbytes(tuple(item["shape"]), np.dtype(item["dtype"]))
        if "frame" in item:
            frame = frames[item["frame"]]
            if len(frame) != nbytes:
                raise ProtocolError(
                    ErrorCode.SIZE_MISMATCH,
                    f"frame {item['frame']} holds {len(frame)} bytes but shape "
                    f"{item['shape']} x {item['dtype']} needs {nbytes}",
                    "frame",
                )
            return Placed(self._copy_into(frame.buffer, nbytes))
        name = item["shm"]
        if self.pool.is_lease(name):
            return self._use_lease(name, nbytes, item)
        parsed = shm.parse_name(name)
        own = parsed is not None and parsed.hub_pid == self.hub_pid and parsed.producer_pid
        foreign = foreign_ok and shm.is_openhcs_name(name)
        if (
            parsed is not None
            and parsed.hub_pid != self.hub_pid
            and (parsed.producer_pid or parsed.lessee_pid)
        ):
            raise ProtocolError(
                ErrorCode.WRONG_HUB,
                f"shared-memory name {name!r:.80} was made for hub {parsed.hub_pid}, this is "
                f"hub {self.hub_pid}: ping again for the 'shm_prefix'",
                "shm",
            )
        if parsed is not None and parsed.lessee_pid:
            raise ProtocolError(
                ErrorCode.MISSING_SEGMENT,
                f"lease {name!r:.80} is not held any more (already saved, expired or "
                f"reclaimed): save again without it",
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
            hub_name = self.new_name()
            shm.adopt(name, hub_name)
            return Placed(hub_name, adopted_from=name)
        source = shm.open_readonly(name, nbytes)
        try:
            hub_name = self._copy_into(memoryview(source)[:nbytes], nbytes)
        finally:
            source.close()
        if not own:
            copied_foreign.append(name)
        return Placed(hub_name)

    def _use_lease(self, name: str, nbytes: int, item: dict) -> Placed:
        lease = self.pool.leases[name]
        if lease.size != nbytes:
            raise ProtocolError(
                ErrorCode.SIZE_MISMATCH,
                f"lease {name!r} holds {lease.size} bytes but shape {item['shape']} x "
                f"{item['dtype']} needs {nbytes}",
                "shm",
            )
        self.pool.consume(name)
        hub_name = self.new_name()
        try:
            shm.rename(name, hub_name)  # the producer's name for it is dead from now on
        except OSError:
            raise ProtocolError(
                ErrorCode.MISSING_SEGMENT, f"leased segment {name!r} is gone", "shm"
            ) from None
        return Placed(hub_name, lease=lease)

    def _copy_into(self, source: memoryview, nbytes: int) -> str:
        hub_name = self.new_name()
        pooled = self.pool.take(nbytes) if nbytes else None
        target = None
        if pooled is not None:
            try:
                shm.rename(pooled, hub_name)
                target = shm.open_readwrite(hub_name, nbytes)
            except (OSError, shm.SegmentError):
                shm.unlink(hub_name)
                target = None
        if target is None:
            target = shm.create(hub_name, nbytes)
        try:
            dst = np.frombuffer(target, dtype=np.uint8, count=nbytes)
            np.copyto(dst, np.frombuffer(source, dtype=np.uint8, count=nbytes))
            del dst
        finally:
            target.close()
        return hub_name

    def roll_back(self, placed: list[Placed]) -> None:
        """Undo a half-accepted batch: adopted segments and leases go back, copies go."""
        for one in placed:
            back = one.adopted_from or (one.lease.name if one.lease else None)
            if back is not None:
                try:
                    shm.adopt(one.segment, back)
                    if one.lease is not None:
                        self.pool.restore(one.lease)
                    continue
                except OSError:
                    pass
            shm.unlink(one.segment)

    def adopt_orphan(self, name: str) -> str | None:
        """Take over a dead hub's segment (its pixels never reached the disk); new name or None."""
        try:
            shm.segment_size(name)  # a regular file of ours, or refused
            hub_name = self.new_name()
            shm.adopt(name, hub_name)
            return hub_name
        except (shm.SegmentError, OSError):
            return None
