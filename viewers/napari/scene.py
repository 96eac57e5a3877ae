"""Hub items as live napari layers, updated in place, laid out so two wells never blend.

:class:`NapariScene` owns the layers it made on a ``napari.Viewer`` (a window it opened or one
the user already had). Components in ``layer`` mode pick the layer group; components in
``stack`` mode become dims sliders, named after the component. Every group has up to four
layers sharing the same dims: an Image layer backed by a
:class:`~viewers.napari.lazy.LazyStack` (plane references read on demand, never a copy of
the plate), and Shapes, Points and Labels layers (:mod:`viewers.napari.shape_layers`).

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
- **One copy of the data.** A plane that arrives costs a table entry, a strided sample for
  the contrast and the overview (a few pages), and a redraw only when it is in view; napari's
  memory holds what it shows plus a bounded cache, however many planes arrived.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from contract.planes import PlaneGoneError
from viewers.base import ComponentValue, Item
from viewers.napari.appearance import apply_contrast, auto_colormaps, recolor_channels
from viewers.napari.broadcast_shapes import covering_axes, draw_anywhere, extend_copies
from viewers.napari.config import NapariDisplayConfig
from viewers.napari.contrast import RunningContrast, sample_step
from viewers.napari.follow import Follow
from viewers.napari.groups import ItemDoesNotFitError, LayerGroup
from viewers.napari.handover import add_looked_layer, layer_look, update_layer
from viewers.napari.layout import slice_text, slider_values
from viewers.napari.lazy import LazyStack, MemoryPlane, PlaneCache, PlaneSource
from viewers.napari.navigate import goto
from viewers.napari.overview import PlateOverview
from viewers.napari.plate_tiles import LABEL_COLOR, PlateTiles, camera, text_overlay
from viewers.napari.report import data_report, describe_layers, group_layers
from viewers.napari.spares import SpareLayers
from viewers.placement import AxisIndex, WindowKey, place, window_label

__all__ = ["ItemDoesNotFitError", "LayerGroup", "NapariScene"]

log = logging.getLogger(__name__)

#: Seconds between hand-overs of grown layers whose plane in view did not change.
GROW_INTERVAL_S = 1.0
#: Longest a refresh keeps making new layers (napari: ~0.1-0.15 s of CPU each, 0.6 s of wall
#: time on a loaded machine) before the viewer loop polls (and heartbeats) again: well
#: inside the hub's heartbeat timeout (5 s), long enough for a well's channels in one go.
NEW_LAYERS_S = 2.0


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
        self.follow = Follow()  # live mode: sliders jump to the newest plane (off by default)
        self.items_shown = 0
        self.last_update: float | None = None
        self.cache = PlaneCache()  # the planes napari read last, bounded in bytes
        #: called at each flush with the indices of items that changed what is in view
        self.on_flush: Callable[[list[int]], None] | None = None
        self._in_view_items: list[int] = []
        #: planes whose contrast/overview sample failed (evicted before their cold reference)
        self._unsampled: list[tuple[dict, PlaneSource, ComponentValue | None]] = []
        #: True: layer data, contrast and label are brought up to date by flush(), once per
        #: batch of items, not per plane (the standalone viewer and the dock widget do).
        self.deferred = False
        #: layers napari has not been told about yet: id -> (group, grew, in view changed)
        self._stale: dict[int, tuple[LayerGroup, bool, bool]] = {}
        self._grown_at = 0.0  # when grown shapes were last handed to napari
        self._stale_contrast: set[ComponentValue | None] = set()
        self._new_layers: list[LayerGroup] = []  # groups whose image layer is still to make
        #: hidden layers made before the stream, filled by new channels (the standalone
        #: viewer sets them; a host application's napari makes its layers as they come)
        self.spares: SpareLayers | None = None
        self.label = text_overlay(viewer)
        self.label.visible = True
        self.label.position = "bottom_left"  # clear of the A01 tile's name
        self.label.box = True  # readable over bright data
        self.label.font_size = 14
        self.label.color = LABEL_COLOR
        viewer.dims.events.current_step.connect(self.update_label)
        camera(viewer).events.center.connect(self.update_label)

    # ------------------------------------------------------------------ items

    def show(self, item: Item) -> None:
        config = item.config
        assert isinstance(config, NapariDisplayConfig)
        if item.kind == "image":
            refs = list(getattr(item, "refs", None) or [])
            for n, (components, plane) in enumerate(item.planes()):
                # an item from the hub says where each plane lives; one built in-process
                # (a host application, a benchmark) is kept as it is
                ref = refs[n] if n < len(refs) else MemoryPlane(plane)
                group, position, in_view = self._show_plane(components, ref, config)
                if in_view and self.on_flush is not None:
                    self._in_view_items.append(item.index)
                self.follow.arrived(group.stack_axes, position, item.index)
            extend_copies(self.viewer, self.groups.values())  # new steps get copied shapes
        else:
            self._add_new_layers()  # a group's image layer goes below its shapes
            group, position = self._group(item.components, config, shapes=True)
            draw_anywhere(self.viewer, group, position, item.shapes)
            self._place_on_plate(group)
        self.items_shown += 1
        self.last_update = time.time()
        if not self.deferred:
            self.update_label()

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

    def _show_plane(
        self, components: dict, ref: PlaneSource, config: NapariDisplayConfig
    ) -> tuple[LayerGroup, tuple[int, ...], bool]:
        """Put the plane in its layer: its group, position, and whether it is in view."""
        shape, dtype = tuple(int(n) for n in ref.shape[-2:]), np.dtype(ref.dtype)
        group, position = self._group(components, config, shape)
        if group.image is None:
            group.image = LazyStack(len(position), shape, dtype, self.cache)
        stack = group.image
        if not np.can_cast(dtype, stack.dtype, casting="same_kind") or (
            dtype.kind == "f" and stack.dtype.kind in "ui"
        ):
            raise ItemDoesNotFitError(
                f"a {dtype} plane does not fit layer {group.name!r} of {stack.dtype}"
            )
        strict = config.variable_size_handling not in ("pad_to_max", "separate_layers")
        if strict and group.image_layer is not None and shape != tuple(stack.shape[-2:]):
            raise ItemDoesNotFitError(
                f"a {shape} plane does not fit layer {group.name!r} of {tuple(stack.shape[-2:])}"
            )
        grew = stack.set(position, ref)
        self._sample(components, ref, group.channel)
        layer = group.image_layer
        in_view = self._in_view(position)
        if layer is None:
            if group.look is None:  # a bad colour fails this item, before any layer exists
                group.look = layer_look(config, components)
                self._new_layers.append(group)
            if not self.deferred:
                self._add_new_layers()
        elif grew or in_view:  # a plane out of view costs no redraw
            if self.deferred:
                self._mark_stale(group, grew, in_view)
            else:
                update_layer(group, grew)
        if config.auto_contrast or config.contrast_limits is None:
            if self.deferred:
                self._stale_contrast.add(group.channel)
            else:
                self._apply_contrast(group.channel)
        if group.image_layer is not None:  # a new layer is placed (and the view fit) once made
            self._place_on_plate(group)
        return group, position, layer is None or in_view

    @property
    def view_changed(self) -> bool:
        """Whether what is in view changed since the last flush (worth flushing now)."""
        stale = any(in_view for _, _, in_view in self._stale.values())
        return self.follow.pending or stale or bool(self._new_layers)

    def _mark_stale(self, group: LayerGroup, grew: bool, in_view: bool) -> None:
        _, was_grown, was_in_view = self._stale.get(id(group), (group, False, False))
        self._stale[id(group)] = (group, grew or was_grown, in_view or was_in_view)

    def _sample(self, components: dict, ref: PlaneSource, channel: ComponentValue | None) -> bool:
        """Feed a strided sample of the plane (a few pages) to the contrast and the overview."""
        tracker = self.contrast.setdefault(channel, RunningContrast())
        try:
            sample = ref.read_sampled(sample_step(ref.shape))
        except (PlaneGoneError, OSError) as exc:  # sampled again when it is relocated
            log.debug("plane %s not readable yet: %s", components, exc)
            self._unsampled.append((components, ref, channel))
            return False
        self.overview.add(components, sample)
        tracker.add(sample)
        return True

    def _in_view(self, position: tuple[int, ...]) -> bool:
        """Whether a plane at ``position`` is at the sliders' current step (so it is drawn)."""
        dims = self.viewer.dims
        if not position or dims.ndisplay != 2:
            return True
        step = tuple(dims.current_step)[: dims.ndim - 2]
        return step[len(step) - len(position) :] == position

    def relocated(self, refs: list[Any]) -> None:
        """Planes moved to the disk tier: read again what could not be read while they moved.

        The references were updated in place by the client, so only the reads that failed
        (an evicted segment before its cold reference came) need doing again.
        """
        retry, self._unsampled = self._unsampled, []
        for components, ref, channel in retry:
            if self._sample(components, ref, channel):
                self._stale_contrast.add(channel)
        for group in self.groups.values():
            if group.image is not None and group.image.retry_failed():
                self._mark_stale(group, False, True)
        if not self.deferred:
            self.flush()

    def _add_new_layers(self, budget_s: float | None = None) -> None:
        """Make the image layers of the groups that got their first plane, all at once.

        napari spends ~0.1-0.15 s of CPU on each new image layer (its Qt controls, vispy
        visual, first slice); a well's channels arriving together get their layers in one
        batch, each already in its final colour (chosen for all the channels so far), drawn
        once, instead of one layer and one draw per refresh while the rest queue behind.
        ``budget_s``: leave the rest for the next refresh after this long, so a loaded
        machine still hears from the viewer loop (the hub reports a silent viewer hung).
        """
        new, self._new_layers = self._new_layers, []
        for group in new:
            if group.channel is not None and group.channel not in self.channels:
                self.channels.append(group.channel)
        colors = auto_colormaps(self.channels)
        deadline = None if budget_s is None else time.monotonic() + budget_s
        made: list[LayerGroup] = []
        for group in new:
            if deadline is not None and made and time.monotonic() > deadline:
                self._new_layers = new[len(made) :]
                break
            limits = self.contrast[group.channel].limits()
            add_looked_layer(self.viewer, group, colors, limits, self.spares)
            labels = [*group.stack_axes, "y", "x"]
            if self.viewer.dims.ndim == len(labels):
                self.viewer.dims.axis_labels = labels
            self._place_on_plate(group)
            made.append(group)
        if made:
            recolor_channels(self.groups.values(), self.channels)  # older ones, for the count
            # the newest layer is the active one, as napari makes it (a spare filled is not)
            self.viewer.layers.selection.active = made[-1].image_layer

    def flush(self, force: bool = True) -> None:
        """Bring deferred layer updates, contrast and the label up to date.

        Handing napari a grown layer costs ~20 ms plus a re-slice and re-upload of the plane
        in view (changed or not); done per plane, a plate streams at a few planes/s. A viewer
        that sets ``deferred`` calls this once per batch of items (``force=False``) and
        before every control (``force=True``): layers whose plane in view changed are updated
        at once, layers that only grew (a well or site arrived out of view) at most every
        ``GROW_INTERVAL_S``: sliders lag by that much, the plane a person looks at never.
        """
        self._add_new_layers(None if force else NEW_LAYERS_S)
        now = time.monotonic()
        following = self.follow.pending  # sliders can only go where napari's shape reaches
        grow_due = force or following or now - self._grown_at >= GROW_INTERVAL_S
        stale, self._stale = self._stale, {}
        for key, (group, grew, in_view) in stale.items():
            if group.image_layer is None:
                continue
            if grew and not in_view and not grow_due:
                self._stale[key] = (group, grew, in_view)
                continue
            update_layer(group, grew, reslice=in_view and not following)
            if grew:
                self._grown_at = now
        channels, self._stale_contrast = self._stale_contrast, set()
        for channel in channels:
            self._apply_contrast(channel)
        if stale or channels:
            self.update_label()
        items, self._in_view_items = self._in_view_items, []
        moved = self.follow.move(self.viewer) if self.follow.enabled else None
        items = items if moved is None else moved
        if items and self.on_flush is not None:
            self.on_flush(items)

    def _apply_contrast(self, channel: ComponentValue | None) -> None:
        limits = self.contrast[channel].limits()
        if limits is not None:
            apply_contrast(self.groups.values(), channel, limits)

    def _place_on_plate(self, group: LayerGroup) -> None:
        """Wells as layers: move the group's layers to the well's plate tile."""
        if group.well is not None:
            shape = group.image.shape[-2:] if group.image else None
            self.tiles.place(group.well, shape, self.groups.values())

    # ------------------------------------------------------------------ labels and controls

    def current_values(self) -> list[tuple[str, ComponentValue | None]]:
        """(component, value as sent) for every slider, at the sliders' current positions."""
        dims = self.viewer.dims
        sliders = dims.axis_labels[: max(0, dims.ndim - 2)]
        out = slider_values(sliders, dims.current_step, self.index.keys)
        well = self.tiles.well_in_view()  # wells as plate tiles: the one in the middle
        if well is not None:
            out.insert(0, ("well", well))
        return out

    def update_label(self, event: Any = None) -> None:
        self.label.text = slice_text(self.current_values())

    def goto(self, components: dict[str, Any]) -> dict[str, Any]:
        """Move the sliders to these component values; a well shown as a tile is zoomed to."""
        return goto(self, components)

    def inspect(self) -> dict[str, Any]:
        """What napari really shows: sliders, the label text, every layer's look, the data."""
        self.flush()
        dims = self.viewer.dims
        return {
            "axis_labels": list(dims.axis_labels),
            "current_step": list(dims.current_step),
            "values": dict(self.current_values()),
            "label": self.label.text,
            "layers": describe_layers(self.viewer),
            "data": data_report(self.groups.values(), self.cache),
        }

    def clear(self) -> None:
        self._new_layers.clear()
        self._stale.clear()
        self._stale_contrast.clear()
        self._unsampled.clear()
        self.cache.clear()
        self.follow.clear()
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
        self.update_label()

    def status(self) -> dict[str, Any]:
        """Layers, their data shapes and the items shown: for heartbeats.

        No flush: the shapes are the lazy stacks' own, current without one, and a flush here
        (heartbeats go out between the items of a burst) moved the sliders where the viewer's
        tick did not see it, so nothing painted the new view until some later paint
        (seconds at 2048², profiled on the plate benchmark).
        """
        return {
            "layers": group_layers(self.groups.values()),
            "items": self.items_shown,
            "last_update": self.last_update,
            "cache_bytes": self.cache.bytes,  # pixels kept for re-display (bounded)
        }
