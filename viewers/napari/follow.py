"""Live mode: napari's sliders jump to the newest plane, as a microscope's own screen does.

A screener watching an acquisition wants the plane that was just taken, not to chase the
well slider. With ``follow`` on (``viewer_options={"napari": {"follow": true}}``) every
flush moves the sliders to the position of the newest plane; a burst that arrived between
two flushes costs one move (one re-slice of the layers), never one per plane. Off by
default: a person browsing the plate keeps the sliders where they put them.
"""

from __future__ import annotations

from typing import Any

Axes = tuple[str, ...]
Position = tuple[int, ...]


class Follow:
    """Where the newest plane is, and the items that arrived there since the last move."""

    def __init__(self, enabled: bool = False) -> None:
        self.enabled = enabled
        self._latest: tuple[Axes, Position] | None = None
        self._shown: tuple[Axes, Position] | None = None
        self._recent: list[tuple[Axes, Position, int]] = []

    def arrived(self, axes: Axes, position: Position, index: int) -> None:
        if self.enabled:
            self._latest = (axes, position)
            self._recent.append((axes, position, index))

    @property
    def pending(self) -> bool:
        """Whether the newest plane is somewhere the sliders are not (a move is due)."""
        return self.enabled and self._latest is not None and self._latest != self._shown

    def move(self, viewer: Any) -> list[int] | None:
        """Move the sliders to the newest plane; the items now in view, or None if none moved."""
        recent, self._recent = self._recent, []
        if not self.pending:
            return None
        assert self._latest is not None
        axes, position = self._latest
        dims = viewer.dims
        labels = list(dims.axis_labels)
        step = list(dims.current_step)
        for axis, i in zip(axes, position):
            if axis in labels:
                step[labels.index(axis)] = i
        dims.current_step = tuple(step)
        self._shown = self._latest
        return [index for a, p, index in recent if (a, p) == self._latest]

    def clear(self) -> None:
        self._latest = self._shown = None
        self._recent.clear()
