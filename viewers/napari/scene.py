"""Hub items as live napari layers, updated in place, laid out so two wells never blend.

:class:`NapariScene` owns the layers it made on a ``napari.Viewer`` (a window it opened or one
the user already had). Components in ``layer`` mode pick the layer group; components in
``stack`` mode become dims sliders, named after the component. Every group has up to four
layers sharing the same dims: an Image layer backed by a
:class:`~viewers.napari.stack.GrowableStack`, and Shapes, Points and Labels layers
(:mod:`viewers.napari.shape_layers`).

What a screener sees, and why:

- **Wells never blend.** By default well and site are sliders: one well at a time, its
  channels one additive composite. If the config makes wells layers (``well: layer`` or
  Fiji's ``well: window``), each well's layers are translated to the well's tile at its plate
  row/column (:class:`~viewers.napari.layout.PlateGrid`) and a ``wells`` layer writes the
  names on the tiles; nothing of two wells ever sits on the same coordinates.
- **Channel colours** follow napari's ``channel_axis`` convention unless the producer gave
  colours; they are re-chosen as channels arrive (one channel grey, then magenta/green, then
  CMYBGR), except on a layer whose colormap the user changed.
- **Slider positions** are one scene-wide index per component (the same well is at the same
  position in every layer), and a text overlay names the values the producer sent
  (``well B03   site 2   z_index 3``) whenever a slider moves.
- **Contrast** is a running 0.1/99.9 percentile over every plane of a channel that has
  arrived (:class:`~viewers.napari.contrast.RunningContrast`), applied until the user sets
  a layer's contrast; from then on that layer's limits are theirs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from viewers.base import ComponentValue, Item
from viewers.napari.appearance import apply_contrast, recolor_channels
from viewers.napari.broadcast_shapes import Copies, covering_axes, draw_anywhere, extend_copies
from viewers.napari.config import NapariDisplayConfig, napari_colormap
from viewers.napari.contrast import RunningContrast
from viewers.napari.layout import slice_text
from viewers.napari.overview import PlateOverview
from viewers.napari.plate_tiles import LABEL_COLOR, PlateTiles, camera, text_overlay
from viewers.napari.stack import GrowableStack
from viewers.placement import AxisIndex, WindowKey, place, window_label

log = logging.getLogger(__name__)


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
    image: GrowableStack | None = None
    image_layer: Any = None
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


class NapariScene:
    """Shows items on ``viewer``; one instance per hub connection."""

    def __init__(self, viewer: Any) -> None:
        self.viewer = viewer
        self.groups: dict[WindowKey, LayerGroup] = {}
        self.index = AxisIndex()  # one position per component value, shared by every layer
        self.tiles = PlateTiles(viewer)
        self.overview = PlateOverview()  # a dock widget may show it (overview_widget)
        self.channels: list[ComponentValue] = []  # channel values of channel-layer groups
        self.contrast: dict[ComponentValue | None, RunningContrast] = {}
        self.items_shown = 0
        self.last_update: float | None = None
        #: True: layer data, contrast and label are brought up to date by flush(), once per
        #: batch of items, not per plane (the standalone viewer and the dock widget do).
        self.deferred = False
        self._stale: dict[int, tuple[LayerGroup, bool]] = {}
        self._stale_contrast: set[ComponentValue | None] = set()
        self.label = text_overlay(viewer)
        self.label.visible = True
        self.label.position = "bottom_left"  # clear of the A01 tile's name
        self.label.box = True  # readable over bright data
        self.label.font_size = 14
        self.label.color = LABEL_COLOR
        viewer.dims.events.current_step.connect(self._update_label)
        camera(viewer).events.center.connect(self._update_label)

    # ------------------------------------------------------------------ items

    def show(self, item: Item) -> None:
        config = item.config
        assert isinstance(config, NapariDisplayConfig)
        if item.kind == "image":
            for components, plane in item.planes():
                self._show_plane(components, plane, config)
            extend_copies(self.viewer, self.groups.values())  # new steps get copied shapes
        else:
            group, position = self._group(item.components, config, shapes=True)
            draw_anywhere(self.viewer, group, position, item.shapes)
            self._place_on_plate(group)
        self.items_shown += 1
        self.last_update = time.time()
        if not self.deferred:
            self._update_label()

    def _group(
        self,
        components: dict,
        config: NapariDisplayConfig,
        plane_shape: tuple[int, ...] | None = None,
        shapes: bool = False,
    ) -> tuple[LayerGroup, Any]:
        """The item's layer group and slider position; shapes may leave sliders out (None)."""
        placement = place(components, config)
        key = placement.window
        if plane_shape is not None and config.variable_size_handling == "separate_layers":
            group = self.groups.get(key)
            if group and group.image and tuple(group.image.shape[-2:]) != plane_shape:
                key = (*key, ("size", "x".join(map(str, plane_shape))))
        group = self.groups.get(key)
        if group is None:
            split = dict(placement.window)
            axes = tuple(placement.axes)
            group = LayerGroup(
                window_label(key, "hub"),
                covering_axes(self.groups.values(), axes) if shapes else axes,
                self.index,
                well=split.get("well"),
                channel=split.get("channel"),
            )
            self.groups[key] = group
        if shapes:
            return group, group.partial_position(placement.axes)
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
        self.overview.add(components, plane)
        tracker = self.contrast.setdefault(group.channel, RunningContrast())
        tracker.add(plane)
        layer = group.image_layer
        if layer is None:
            group.image_layer = self._add_image(group, config, components)
            if group.channel is not None and group.channel not in self.channels:
                self.channels.append(group.channel)
            self._recolor()
        elif self.deferred:
            self._stale[id(group)] = (group, grew or self._stale.get(id(group), (0, False))[1])
        else:
            self._update_layer(group, grew)
        if config.auto_contrast or config.contrast_limits is None:
            if self.deferred:
                self._stale_contrast.add(group.channel)
            else:
                self._apply_contrast(group.channel)
        self._place_on_plate(group)

    def _add_image(self, group: LayerGroup, config: NapariDisplayConfig, components: dict) -> Any:
        assert group.image is not None
        fixed = config.contrast_limits is not None and not config.auto_contrast
        limits = config.contrast_limits if fixed else self.contrast[group.channel].limits()
        given = config.color is not None or str(components.get("channel")) in config.channel_colors
        colormap = napari_colormap(config.color_for(components.get("channel"))) if given else "gray"
        layer = self.viewer.add_image(
            group.image.view,
            name=group.name,
            colormap=colormap,
            contrast_limits=limits,
            blending="additive",
        )
        group.auto_limits = None if fixed else tuple(layer.contrast_limits)
        if not given:
            group.auto_colormap = colormap
        self._label_axes(group)
        return layer

    @staticmethod
    def _update_layer(group: LayerGroup, grew: bool) -> None:
        layer = group.image_layer
        if grew:
            assert group.image is not None
            limits = layer.contrast_limits
            layer.data = group.image.view
            layer.contrast_limits = limits  # growing never resets what the user chose
        else:
            layer.refresh()

    def flush(self) -> None:
        """Bring deferred layer updates, contrast and the label up to date.

        Giving napari a grown array costs ~20 ms (it re-slices, re-draws thumbnails and
        re-checks dims) and a refresh almost as much; done per plane, a 384-well plate
        streams at ~60 planes/s. A viewer that sets ``deferred`` calls this once per batch
        of items instead (and before every control), so each layer is updated once per batch.
        """
        stale, self._stale = self._stale, {}
        for group, grew in stale.values():
            if group.image_layer is not None:
                self._update_layer(group, grew)
        channels, self._stale_contrast = self._stale_contrast, set()
        for channel in channels:
            self._apply_contrast(channel)
        if stale or channels:
            self._update_label()

    def _recolor(self) -> None:
        recolor_channels(self.groups.values(), self.channels)

    def _apply_contrast(self, channel: ComponentValue | None) -> None:
        limits = self.contrast[channel].limits()
        if limits is not None:
            apply_contrast(self.groups.values(), channel, limits)

    def _label_axes(self, group: LayerGroup) -> None:
        labels = [*group.stack_axes, "y", "x"]
        if self.viewer.dims.ndim == len(labels):
            self.viewer.dims.axis_labels = labels

    def _place_on_plate(self, group: LayerGroup) -> None:
        """Wells as layers: move the group's layers to the well's plate tile."""
        if group.well is not None:
            shape = group.image.shape[-2:] if group.image else None
            self.tiles.place(group.well, shape, self.groups.values())

    # ------------------------------------------------------------------ labels and controls

    def current_values(self) -> list[tuple[str, ComponentValue | None]]:
        """(component, value as sent) for every slider, at the sliders' current positions."""
        dims = self.viewer.dims
        out: list[tuple[str, ComponentValue | None]] = []
        for axis, step in zip(dims.axis_labels[: max(0, dims.ndim - 2)], dims.current_step):
            keys = self.index.keys.get(axis)
            if keys is None:
                continue
            value = keys[step][0] if 0 <= step < len(keys) else None
            out.append((axis, value))
        well = self.tiles.well_in_view()  # wells as plate tiles: the one in the middle
        if well is not None:
            out.insert(0, ("well", well))
        return out

    def _update_label(self, event: Any = None) -> None:
        self.label.text = slice_text(self.current_values())

    def overview_style(self) -> tuple[dict, dict, ComponentValue | None]:
        """Colour and contrast per channel as napari shows them now, and the well in view."""
        colors: dict[ComponentValue | None, tuple[float, float, float]] = {}
        limits: dict[ComponentValue | None, tuple[float, float]] = {}
        for group in self.groups.values():
            layer = group.image_layer
            if layer is not None and group.channel not in colors:
                colors[group.channel] = tuple(float(v) for v in layer.colormap.colors[-1][:3])
                limits[group.channel] = tuple(float(v) for v in layer.contrast_limits)
        return colors, limits, dict(self.current_values()).get("well")

    def goto(self, components: dict[str, Any]) -> dict[str, Any]:
        """Move the sliders to these component values; a well shown as a tile is zoomed to."""
        self.flush()
        step = list(self.viewer.dims.current_step)
        labels = list(self.viewer.dims.axis_labels)
        for axis, value in components.items():
            keys = self.index.keys.get(axis, [])
            matches = [i for i, key in enumerate(keys) if str(key[0]) == str(value)]
            if axis in labels and matches:
                step[labels.index(axis)] = matches[0]
        self.viewer.dims.current_step = tuple(step)
        well = components.get("well")
        tiles = [g for g in self.groups.values() if g.well is not None and str(g.well) == str(well)]
        if tiles and hasattr(self.viewer, "fit_to_view"):  # napari >= 0.9
            self.viewer.fit_to_view(layers=[lay for g in tiles for lay in g.layers()])
        elif tiles:
            oy, ox = self.tiles.grid.origin(tiles[0].well)
            h, w = self.tiles.grid.tile
            camera(self.viewer).center = (oy + h / 2, ox + w / 2)
        self._update_label()
        return {
            "current_step": list(self.viewer.dims.current_step),
            "axis_labels": labels,
            "values": dict(self.current_values()),
        }

    def inspect(self) -> dict[str, Any]:
        """What napari really shows: sliders, the label text, and every layer's look."""
        self.flush()
        layers = []
        for layer in self.viewer.layers:
            entry: dict[str, Any] = {
                "name": layer.name,
                "type": type(layer).__name__,
                "visible": bool(layer.visible),
                "blending": str(layer.blending),
                "translate": [float(v) for v in layer.translate],
            }
            if type(layer).__name__ == "Image":
                entry["colormap"] = layer.colormap.name
                entry["contrast_limits"] = [float(v) for v in layer.contrast_limits]
                entry["shape"] = list(layer.data.shape)
            layers.append(entry)
        dims = self.viewer.dims
        return {
            "axis_labels": list(dims.axis_labels),
            "current_step": list(dims.current_step),
            "values": dict(self.current_values()),
            "label": self.label.text,
            "layers": layers,
        }

    def clear(self) -> None:
        self._stale.clear()
        self._stale_contrast.clear()
        for group in self.groups.values():
            for layer in group.layers():
                if layer in self.viewer.layers:
                    self.viewer.layers.remove(layer)
        self.tiles.clear()
        self.overview.clear()
        self.groups.clear()
        self.index = AxisIndex()
        self.channels.clear()
        self.contrast.clear()
        self._update_label()

    def status(self) -> dict[str, Any]:
        self.flush()  # heartbeats report what napari shows, not what is pending
        layers = []
        for group in self.groups.values():
            for layer in group.layers():
                kind = type(layer).__name__
                shape = (
                    list(np.shape(layer.data)) if kind in ("Image", "Labels") else [len(layer.data)]
                )
                layers.append({"name": layer.name, "type": kind, "shape": shape})
        return {"layers": layers, "items": self.items_shown, "last_update": self.last_update}
