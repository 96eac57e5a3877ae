"""Where a Fiji hyperstack window looks: the planes it draws, and gotos, now or once whole.

A goto to a frame whose planes are still arriving (a screener jumping to the site being
acquired) waits until the frame has every channel, or until no plane came for
``FIRST_WAIT_S``, or ``FIRST_WAIT_MAX_S`` at most, or a plane of a later frame arrives. Gone to
at once, ImageJ would read and blend the frame twice (on the goto, then again for the
channels still on their way; ~0.1-0.2 s of CPU each for four 2048² channels), and the
viewer's loop would hold those channels back meanwhile. Planes that arrive for the frame a
goto waits for count as in view: the user asked to see them.

A new window waits for its first site in the same way before its image is made.

:class:`WindowView` is mixed into ``window.HyperstackWindow`` and uses its ``imp``, ``dims``,
``files``, ``layout``, ``composite_mode`` and ``goto``.
"""

from __future__ import annotations

import time
from typing import Any

from viewers.fiji.luts import COMPOSITE_MODES
from viewers.hyperstack import Target

Position = tuple[int, int, int]

#: A window waits for more of the frame it is about to show this long after its latest plane
#: (not its first: a first plane slow to show made a window of one channel, then of four:
#: +2 s), at most FIRST_WAIT_MAX_S, or less once a plane of a later frame arrives.
FIRST_WAIT_S = 0.25
FIRST_WAIT_MAX_S = 1.0


class WindowView:
    """The positions a window draws and its deferred goto (a mixin; see the module)."""

    imp: Any
    dims: tuple[int, int, int]
    files: Any
    layout: Any
    composite_mode: int

    def _init_view(self) -> None:
        self.first_plane = self.last_plane = 0.0  # monotonic
        self.deferred: Target | None = None  # a goto applied once its frame is whole
        self.deferred_at = 0.0

    def looking_at(self) -> Position:
        """The 0-based (c, z, t) the window shows, or will once its deferred goto is applied."""
        return self._resolve(self.deferred)

    def _resolve(self, target: Target | None) -> Position:
        """``target`` with the axes it leaves out (None) at the window's current position."""
        imp = self.imp
        current = (0, 0, 0) if imp is None else (imp.getC() - 1, imp.getZ() - 1, imp.getT() - 1)
        if target is None:
            return current
        return tuple(cur if p is None else p for p, cur in zip(target, current))  # type: ignore[return-value]

    def in_view(self, pos: Position) -> bool:
        """The plane at ``pos`` is (or, once settled, will be) part of what the window draws."""
        target = self.looking_at()
        if pos[1:] != target[1:]:
            return False
        mode = self.composite_mode if self.imp is None else self.imp.getMode()
        composite = self.layout.dims()[0] > 1 and mode == COMPOSITE_MODES["composite"]
        return composite or pos[0] == target[0]

    def view(self) -> list[Position]:
        """The positions drawn now: every channel of the (z, t) in composite mode."""
        imp = self.imp
        if imp is None:
            return []
        c, z, t = imp.getC() - 1, imp.getZ() - 1, imp.getT() - 1
        if self.dims[0] > 1 and imp.getMode() == COMPOSITE_MODES["composite"]:
            return [(k, z, t) for k in range(self.dims[0])]
        return [(c, z, t)]

    def moving(self) -> bool:
        """A deferred goto will move the image: the planes it shows are read then, not now."""
        return (
            self.deferred is not None
            and self.imp is not None
            and (self.view() != self.view_at(self.looking_at()))
        )

    def view_at(self, pos: Position) -> list[Position]:
        """The positions drawn at ``pos`` (the channels in composite mode)."""
        composite = self.imp is not None and self.imp.getMode() == COMPOSITE_MODES["composite"]
        if self.dims[0] > 1 and composite:
            return [(k, pos[1], pos[2]) for k in range(self.dims[0])]
        return [pos]

    def noted(self, pos: Position) -> None:
        """A plane arrived at ``pos``: a plane of a later frame ends the wait (the producer
        moved on, so the frame waited for is as whole as it will be)."""
        if pos[2] > self.looking_at()[2]:
            self.first_plane = self.deferred_at = -FIRST_WAIT_MAX_S
        self.last_plane = time.monotonic()

    def waiting(self) -> bool:
        """Planes are still arriving for what the window is about to show: its first site (no
        image yet) or the frame of its deferred goto."""
        now = time.monotonic()
        if now - self.last_plane >= FIRST_WAIT_S:
            return False
        if self.imp is None:
            return now - self.first_plane < FIRST_WAIT_MAX_S
        return (
            self.deferred is not None
            and now - self.deferred_at < FIRST_WAIT_MAX_S
            and not self._whole(self.looking_at())
        )

    def holds(self, target: Target) -> bool:
        """A goto to ``target`` now would draw a frame whose planes are still arriving."""
        if self.imp is None:
            return self.waiting()
        recent = time.monotonic() - self.last_plane < FIRST_WAIT_S
        return recent and not self._whole(self._resolve(target))

    def goto_later(self, target: Target) -> tuple[int, int, int]:
        """A goto while :meth:`holds`: applied by ``settle`` once the frame is whole (or the
        window made: made at once, it would be built again for each channel on its way)."""
        self.deferred, self.deferred_at = target, time.monotonic()
        return tuple(p + 1 for p in self.looking_at())  # type: ignore[return-value]

    def _whole(self, pos: Position) -> bool:
        """Every channel of ``pos``'s (z, t) has a plane."""
        _, z, t = pos
        return self.files is not None and all(
            self.files.has((c, z, t)) for c in range(self.layout.dims()[0])
        )
