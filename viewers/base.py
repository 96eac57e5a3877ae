"""The contract between the hub and every viewer: the Viewer ABC, DisplayConfig ABC and Item.

An adapter (napari, Fiji, the recorder, a third-party plugin) subclasses :class:`Viewer` and
:class:`DisplayConfig` and only implements display; the hub connection, credits, acks and
heartbeats live in ``viewers.client``. Nothing here imports a GUI toolkit.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from contract.display_config import (
    WINDOW_LIKE_MODES,
    ComponentValue,
    DisplayConfig,
    DisplayConfigError,
)
from contract.planes import PlaneRef
from contract.shapes import Shape

__all__ = [
    "WINDOW_LIKE_MODES",
    "ComponentValue",
    "DisplayConfig",
    "DisplayConfigError",
    "Item",
    "Viewer",
]

log = logging.getLogger(__name__)


@dataclass
class Item:
    """One scene item as a viewer receives it.

    ``array`` is a read-only view of the hub's shared memory, valid only during
    :meth:`Viewer.show`; copy what you keep. ``index`` is the item's position in the scene log.
    ``refs`` locate the same planes (one per 2-D plane, in the order of :meth:`planes`) and
    stay valid after ``show``: a lazy viewer keeps them instead of pixels and reads a plane
    when it comes into view (the hub moves planes to disk and the client updates the refs).
    """

    index: int
    kind: str  # "image" or "shapes"
    components: dict[str, ComponentValue]
    config: DisplayConfig
    array: np.ndarray | None = None
    shapes: list[Shape] = field(default_factory=list)
    path: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    stack_component: str | None = None
    stack_values: list[ComponentValue] = field(default_factory=list)
    refs: list[PlaneRef] = field(default_factory=list)

    def planes(self) -> Iterator[tuple[dict[str, ComponentValue], np.ndarray]]:
        """Yield (components, 2-D plane) for every plane of an image item.

        A stack sent as one array spreads its first axis over ``stack_component``; any other
        leading axes without a component are an implicit z-stack (``z_index`` 0..n-1 when the
        item does not carry one), so a 3-D array is never reduced to one plane.
        """
        assert self.array is not None
        array = self.array
        if self.stack_component is not None:
            for value, plane in zip(self.stack_values, array):
                yield from _split(plane, {**self.components, self.stack_component: value})
        else:
            yield from _split(array, self.components)


def _split(array: np.ndarray, components: dict) -> Iterator[tuple[dict, np.ndarray]]:
    if array.ndim == 2:
        yield components, array
        return
    axis_component = "z_index" if "z_index" not in components else f"axis{array.ndim - 3}"
    for i, plane in enumerate(array):
        yield from _split(plane, {**components, axis_component: i})


class Viewer(ABC):
    """A display that shows scene items. One instance runs in its own process.

    The client calls :meth:`start` once, :meth:`show` for every item in scene order,
    :meth:`clear` when the scene is cleared, and :meth:`close` at the end. ``show`` raises to
    report a bad item; the client sends the error to the hub and goes on with the next item.

    ``run`` drives the client: the default polls the hub in a loop; GUI viewers override it to
    poll from their event loop so that the heartbeat stops when the GUI hangs.
    """

    #: The DisplayConfig subclass this viewer understands.
    config_class: ClassVar[type[DisplayConfig]]
    #: True for a viewer that must open windows (it cannot run headless): without a display
    #: the runner refuses to start it, with a message naming the fix, instead of letting the
    #: GUI toolkit abort the process (an option ``show=False`` lifts the need).
    needs_display: ClassVar[bool] = False
    #: False for a viewer that never reads ``item.array``'s pixels (it keeps ``item.refs``,
    #: or records only what arrived): the client then hands it an array of the right shape
    #: and dtype without mapping the hub's memory, which saves a map and an unmap per item
    #: (tens of microseconds each on a virtual machine: an unmap interrupts every core).
    needs_pixels: bool = True
    #: False for a viewer that never reads ``item.refs`` (the recorder logs and copies what
    #: arrived): the client then builds no plane references for it and keeps none for
    #: ``cold`` messages to re-point, a few objects and calls per item saved.
    keeps_refs: ClassVar[bool] = True
    #: True for a viewer whose objects made before it connects may be frozen out of Python's
    #: cyclic collector (``gc.freeze``): its full passes, set off by every message's
    #: short-lived dicts, otherwise walk them again and again (15 % of the recorder's CPU
    #: under the fan-out benchmark). Not for GUI toolkits: napari crashed (SIGSEGV) with it.
    freeze_gc: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        self.options = options

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def show(self, item: Item) -> None: ...

    @abstractmethod
    def clear(self) -> None: ...

    @abstractmethod
    def screenshot(self, path: Path) -> Path:
        """Write a PNG of what is shown to ``path`` and return the written path."""

    @abstractmethod
    def close(self) -> None: ...

    def flush(self) -> None:
        """Finish work batched over several ``show`` calls (the recorder writes its log here).

        The client calls it before it acks the items shown since the last call, so the hub
        never counts an item as shown that the viewer has not finished taking.
        """
        return None

    def relocated(self, refs: list[PlaneRef]) -> None:
        """Planes already shown moved from shared memory to the hub's disk store.

        The refs were updated in place before this call; a viewer that keeps refs re-reads
        any of them that failed (:class:`~contract.planes.PlaneGoneError`) or re-points what
        it derived from their location (ImageJ ``FileInfo``). Eager viewers ignore it.
        """
        return None

    def status(self) -> dict[str, Any]:
        """Viewer-specific status, merged into ``hub status``."""
        return {}

    def inspect(self, query: dict[str, Any]) -> dict[str, Any]:
        """What the viewer really holds, read back from it (dimensions, LUTs, ROIs...)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be inspected")

    def goto(self, components: dict[str, Any]) -> dict[str, Any]:
        """Bring the plane at these component values into view (sliders, window, frame)."""
        raise NotImplementedError(f"{type(self).__name__} cannot go to a position")

    def run(self, client: Any) -> None:
        while not client.closed:
            client.poll_once(timeout_ms=100)
