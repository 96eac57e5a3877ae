"""A layer group: the napari layers of one layer-mode key, and where items go in them.

Kept apart from :mod:`viewers.napari.scene` (which decides what goes where) so that the shape
modules can name the type without importing the scene.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from viewers.base import ComponentValue
from viewers.napari.broadcast_shapes import Copies
from viewers.napari.lazy import LazyStack
from viewers.napari.stack import GrowableStack
from viewers.placement import AxisIndex


class ItemDoesNotFitError(ValueError):
    """An item cannot go into the layer its components map to."""


@dataclass
class LayerGroup:
    """The layers of one layer-mode key, all on the same stack axes."""

    name: str
    stack_axes: tuple[str, ...]
    index: AxisIndex
    well: ComponentValue | None = None  # set when wells are layers: the group's plate tile
    channel: ComponentValue | None = None  # set when channels are layers
    image: LazyStack | None = None  # planes read on demand, never copied
    levels: int = 1  # >1: napari's multiscale over strided views of the planes (large planes)
    image_layer: Any = None
    look: tuple[Any, Any] | None = None  # (colormap, fixed limits) of a layer still to make
    auto_colormap: str | None = None  # the colormap we chose (None: the producer's)
    auto_limits: tuple[float, float] | None = None  # last limits we set (None: not ours)
    shapes_layer: Any = None
    shape_features: list[dict[str, Any]] = field(default_factory=list)
    points_layer: Any = None
    labels: GrowableStack | None = None
    labels_layer: Any = None
    next_label: int = 1
    #: number of leading sliders left out -> the layers of shapes shown on all their steps
    broadcasts: dict[int, LayerGroup] = field(default_factory=dict)
    copies: list[Copies] = field(default_factory=list)  # shape sets on every step of a gap

    def image_data(self) -> Any:
        """What the image layer holds: the lazy stack, or its resolution levels."""
        assert self.image is not None
        return self.image.levels(self.levels) if self.levels > 1 else self.image

    def layers(self) -> list[Any]:
        """The group's napari layers that exist so far (its broadcast shapes' too)."""
        candidates = (self.image_layer, self.shapes_layer, self.points_layer, self.labels_layer)
        own = [layer for layer in candidates if layer is not None]
        return own + [layer for group in self.broadcasts.values() for layer in group.layers()]

    def position(self, axes: dict[str, tuple]) -> tuple[int, ...]:
        missing = [a for a in self.stack_axes if a not in axes]
        if missing:
            raise ItemDoesNotFitError(self._misfit(axes))
        return self.partial_position(axes)  # type: ignore[return-value]  # no None left

    def partial_position(self, axes: dict[str, tuple]) -> tuple[int | None, ...]:
        """Like :meth:`position`, with None for a slider the item leaves out (every step)."""
        if any(a not in self.stack_axes for a in axes):
            raise ItemDoesNotFitError(self._misfit(axes))
        index = self.index
        return tuple(index.position(a, axes[a])[0] if a in axes else None for a in self.stack_axes)

    def _misfit(self, axes: dict[str, tuple]) -> str:
        return (
            f"layer {self.name!r} has sliders {list(self.stack_axes)} but the item's stack "
            f"components are {list(axes)}"
        )
