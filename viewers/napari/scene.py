"""Hub items as live napari layers, updated in place.

:class:`NapariScene` owns the layers it made on a ``napari.Viewer`` (a window it opened or one
the user already had). Components in ``layer`` mode pick the layer group; components in
``stack`` mode become dims sliders. Every group has up to four layers sharing the same dims:
an Image layer backed by a :class:`~viewers.napari.stack.GrowableStack`, a Shapes layer
(polygons, paths, lines, rectangles, ellipses), a Points layer and a Labels layer (masks).
A shape tagged z=3, t=5 carries those dims in its coordinates, so napari shows it only there.

Contrast is set once, from the first plane (or the config's fixed limits), and never again:
whatever the user sets afterwards survives every later update.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from viewers.base import Item
from viewers.napari.config import NapariDisplayConfig, napari_colormap
from viewers.napari.stack import GrowableStack
from viewers.placement import AxisIndex, WindowKey, place, window_label
from viewers.shapes import Shape, ShapeKind

log = logging.getLogger(__name__)

NAPARI_SHAPE_TYPES = {
    ShapeKind.POLYGON: "polygon",
    ShapeKind.POLYLINE: "path",
    ShapeKind.LINE: "line",
    ShapeKind.RECTANGLE: "rectangle",
    ShapeKind.ELLIPSE: "ellipse",
}
DEFAULT_SHAPE_COLOR = "#ffff00"


class ItemDoesNotFitError(ValueError):
    """An item cannot go into the layer its components map to."""


@dataclass
class LayerGroup:
    """The layers of one layer-mode key, all on the same stack axes."""

    name: str
    stack_axes: tuple[str, ...]
    index: AxisIndex = field(default_factory=AxisIndex)
    image: GrowableStack | None = None
    image_layer: Any = None
    shapes_layer: Any = None
    shape_features: list[dict[str, Any]] = field(default_factory=list)
    points_layer: Any = None
    labels: GrowableStack | None = None
    labels_layer: Any = None
    next_label: int = 1

    def layers(self) -> list[Any]:
        """The group's napari layers that exist so far."""
        candidates = (self.image_layer, self.shapes_layer, self.points_layer, self.labels_layer)
        return [layer for layer in candidates if layer is not None]

    def position(self, axes: dict[str, tuple]) -> tuple[int, ...]:
        missing = [a for a in self.stack_axes if a not in axes]
        extra = [a for a in axes if a not in self.stack_axes]
        if missing or extra:
            raise ItemDoesNotFitError(
                f"layer {self.name!r} has sliders {list(self.stack_axes)} but the item's stack "
                f"components are {list(axes)}"
            )
        return tuple(self.index.position(a, axes[a])[0] for a in self.stack_axes)


class NapariScene:
    """Shows items on ``viewer``; one instance per hub connection."""

    def __init__(self, viewer: Any) -> None:
        self.viewer = viewer
        self.groups: dict[WindowKey, LayerGroup] = {}
        self.items_shown = 0
        self.last_update: float | None = None

    # ------------------------------------------------------------------ items

    def show(self, item: Item) -> None:
        config = item.config
        assert isinstance(config, NapariDisplayConfig)
        if item.kind == "image":
            for components, plane in item.planes():
                self._show_plane(components, plane, config)
        else:
            self._show_shapes(item.components, item.shapes, config)
        self.items_shown += 1
        self.last_update = time.time()

    def _group(
        self,
        components: dict,
        config: NapariDisplayConfig,
        plane_shape: tuple[int, ...] | None = None,
    ) -> tuple[LayerGroup, tuple[int, ...]]:
        placement = place(components, config)
        key = placement.window
        if plane_shape is not None and config.variable_size_handling == "separate_layers":
            group = self.groups.get(key)
            if group and group.image and tuple(group.image.shape[-2:]) != plane_shape:
                key = (*key, ("size", "x".join(map(str, plane_shape))))
        group = self.groups.get(key)
        if group is None:
            name = window_label(key, "hub")
            group = LayerGroup(name, tuple(placement.axes))
            self.groups[key] = group
        return group, group.position(placement.axes)

    def _show_plane(self, components: dict, plane: np.ndarray, config: NapariDisplayConfig) -> None:
        group, position = self._group(components, config, plane.shape)
        if group.image is None:
            group.image = GrowableStack(len(position), plane.shape, plane.dtype)
        stack = group.image
        if not np.can_cast(plane.dtype, stack.dtype, casting="same_kind") or (
            plane.dtype.kind == "f" and stack.dtype.kind in "ui"
        ):
            raise ItemDoesNotFitError(
                f"a {plane.dtype} plane does not fit layer {group.name!r} of {stack.dtype}"
            )
        strict = config.variable_size_handling not in ("pad_to_max", "separate_layers")
        if strict and group.image_layer is not None and plane.shape != tuple(stack.shape[-2:]):
            raise ItemDoesNotFitError(
                f"a {plane.shape} plane does not fit layer {group.name!r} of "
                f"{tuple(stack.shape[-2:])}"
            )
        grew = stack.write(position, plane)
        layer = group.image_layer
        if layer is None:
            group.image_layer = self._add_image(group, plane, config, components)
        elif grew:
            limits = layer.contrast_limits
            layer.data = stack.view
            layer.contrast_limits = limits  # growing never resets what the user chose
        else:
            layer.refresh()

    def _add_image(
        self, group: LayerGroup, plane: np.ndarray, config: NapariDisplayConfig, components: dict
    ) -> Any:
        if config.contrast_limits is not None and not config.auto_contrast:
            limits = config.contrast_limits
        else:
            lo, hi = float(plane.min()), float(plane.max())
            limits = (lo, hi if hi > lo else lo + 1)
        colormap = napari_colormap(config.color_for(components.get("channel")))
        layer = self.viewer.add_image(
            group.image.view,
            name=group.name,
            colormap=colormap,
            contrast_limits=limits,
            blending="additive",
        )
        self._label_axes(group)
        return layer

    def _label_axes(self, group: LayerGroup) -> None:
        labels = [*group.stack_axes, "y", "x"]
        if self.viewer.dims.ndim == len(labels):
            self.viewer.dims.axis_labels = labels

    # ------------------------------------------------------------------ shapes

    def _show_shapes(
        self, components: dict, shapes: list[Shape], config: NapariDisplayConfig
    ) -> None:
        group, position = self._group(components, config)
        prefix = np.asarray(position, dtype=np.float64)
        outlines = [s for s in shapes if s.kind in NAPARI_SHAPE_TYPES]
        if outlines:
            self._add_outlines(group, prefix, outlines)
        for shape in shapes:
            if shape.kind is ShapeKind.POINTS:
                self._add_points(group, prefix, shape)
            elif shape.kind is ShapeKind.MASK:
                self._paint_mask(group, position, shape)

    def _add_outlines(self, group: LayerGroup, prefix: np.ndarray, shapes: list[Shape]) -> None:
        data, types, colors = [], [], []
        for shape in shapes:
            coords = shape.coords
            if shape.kind in (ShapeKind.RECTANGLE, ShapeKind.ELLIPSE):
                (y0, x0), (y1, x1) = coords
                coords = np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], dtype=np.float64)
            data.append(np.hstack([np.broadcast_to(prefix, (len(coords), len(prefix))), coords]))
            types.append(NAPARI_SHAPE_TYPES[shape.kind])
            colors.append(shape.color or DEFAULT_SHAPE_COLOR)
            group.shape_features.append({"name": shape.name or "", **shape.properties})
        if group.shapes_layer is None:
            group.shapes_layer = self.viewer.add_shapes(
                data,
                shape_type=types,
                edge_color=colors,
                face_color="transparent",
                edge_width=2,
                name=f"{group.name} shapes",
                ndim=len(prefix) + 2,
            )
        else:
            group.shapes_layer.add(
                data, shape_type=types, edge_color=colors, face_color="transparent", edge_width=2
            )
        group.shapes_layer.features = _features(group.shape_features)

    def _add_points(self, group: LayerGroup, prefix: np.ndarray, shape: Shape) -> None:
        coords = np.hstack(
            [np.broadcast_to(prefix, (len(shape.coords), len(prefix))), shape.coords]
        )
        color = shape.color or "#ff00ff"
        if group.points_layer is None:
            group.points_layer = self.viewer.add_points(
                coords,
                name=f"{group.name} points",
                face_color=color,
                size=6,
                ndim=len(prefix) + 2,
            )
        else:
            layer = group.points_layer
            layer.current_face_color = color
            layer.add(coords)

    def _paint_mask(self, group: LayerGroup, position: tuple[int, ...], shape: Shape) -> None:
        assert shape.mask is not None
        (oy, ox), mask = shape.mask.origin, shape.mask.array
        if oy < 0 or ox < 0:
            raise ItemDoesNotFitError(f"mask origin {shape.mask.origin} lies outside the image")
        if group.labels is None:
            plane = tuple(group.image.shape[-2:]) if group.image else (0, 0)
            group.labels = GrowableStack(len(position), plane, np.dtype(np.int32))
        needed = (oy + mask.shape[0], ox + mask.shape[1])
        grew = group.labels.ensure(position, needed)
        group.labels.plane(position)[oy : needed[0], ox : needed[1]][mask] = group.next_label
        group.next_label += 1
        if group.labels_layer is None:
            group.labels_layer = self.viewer.add_labels(
                group.labels.view, name=f"{group.name} masks"
            )
        elif grew:
            group.labels_layer.data = group.labels.view
        else:
            group.labels_layer.refresh()

    # ------------------------------------------------------------------ controls

    def goto(self, components: dict[str, Any]) -> dict[str, Any]:
        """Move the dims sliders to the given component values; returns the new step."""
        step = list(self.viewer.dims.current_step)
        labels = list(self.viewer.dims.axis_labels)
        for group in self.groups.values():
            for axis in group.stack_axes:
                if axis in components and axis in labels:
                    key = (components[axis],)
                    if key in group.index.keys.get(axis, []):
                        step[labels.index(axis)] = group.index.keys[axis].index(key)
        self.viewer.dims.current_step = tuple(step)
        return {"current_step": list(self.viewer.dims.current_step), "axis_labels": labels}

    def clear(self) -> None:
        for group in self.groups.values():
            for layer in group.layers():
                if layer in self.viewer.layers:
                    self.viewer.layers.remove(layer)
        self.groups.clear()

    def status(self) -> dict[str, Any]:
        layers = []
        for group in self.groups.values():
            for layer in group.layers():
                kind = type(layer).__name__
                shape = (
                    list(np.shape(layer.data)) if kind in ("Image", "Labels") else [len(layer.data)]
                )
                layers.append({"name": layer.name, "type": kind, "shape": shape})
        return {"layers": layers, "items": self.items_shown, "last_update": self.last_update}


def _features(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    return pd.DataFrame(rows)
