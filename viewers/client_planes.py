"""What the viewer client remembers about planes between messages: references and late items.

Two jobs, both about the hub moving planes from shared memory to its store:

- the :class:`~contract.planes.PlaneRef` objects handed to the viewer, by item index, so a
  ``cold`` message re-points them in place (a lazy viewer holds the same objects);
- items whose segment went while their message waited in the queue (the hub evicted or
  replaced them): held until the ``cold`` message behind them says where their planes are,
  or, when none comes (the item was replaced: a newer one follows), acked without showing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from contract.planes import PlaneRef, cold_planes

#: How long an item whose segment went may wait for the ``cold`` message that re-points it
#: (it is queued right behind, unless the item was replaced).
GONE_WAIT_S = 2.0


@dataclass
class Held:
    """An item that cannot be shown yet: its segment went and its store location is unknown."""

    scene: int | None
    index: int
    header: dict[str, Any]
    deadline: float = field(default_factory=lambda: time.monotonic() + GONE_WAIT_S)


class ClientPlanes:
    """Plane references by item index, and the items waiting for their cold location."""

    def __init__(self) -> None:
        self.refs: dict[int, list[PlaneRef]] = {}
        self.held: dict[int, Held] = {}

    def clear(self) -> None:
        """A new scene: nothing of the old one is re-pointed or shown again."""
        self.refs.clear()
        self.held.clear()

    def waiting(self) -> bool:
        """Whether a ``cold`` message can matter: refs to re-point or items held for one."""
        return bool(self.refs or self.held)

    def keep(self, index: int, refs: list[PlaneRef]) -> None:
        self.refs[index] = refs

    def hold(self, scene: int | None, index: int, header: dict[str, Any]) -> None:
        self.held[index] = Held(scene, index, header)

    def apply_cold(self, entries: Any) -> tuple[list[PlaneRef], list[Held]]:
        """Re-point the refs of ``[[index, cold], ...]``; returns the refs moved and the held
        items now showable (their headers carry the cold reference)."""
        moved: list[PlaneRef] = []
        ready: list[Held] = []
        for entry in entries if isinstance(entries, list) else []:
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int)):
                continue
            index, cold = entry
            refs = self.refs.get(index)
            colds = cold_planes(cold) if refs is not None else None  # parsed only if kept
            if refs is not None and colds is not None and len(colds) == len(refs):
                for ref, plane in zip(refs, colds):
                    ref.make_cold(plane)
                moved.extend(refs)
            held = self.held.pop(index, None)
            if held is not None:
                held.header = {**held.header, "cold": cold}
                ready.append(held)
        return moved, ready

    def expired(self) -> list[Held]:
        """Held items whose cold message never came: they were replaced, not moved."""
        now = time.monotonic()
        gone = [held for held in self.held.values() if now >= held.deadline]
        for held in gone:
            del self.held[held.index]
        return gone
