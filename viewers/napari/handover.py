"""Handing a lazy stack to napari: a new image layer, a grown one, at the level napari chose.

napari re-reads an array-like's shape only when a layer's ``data`` is set, and its ``data``
setter starts a multiscale layer again at the coarsest level (dropping a level the user
locked). Handed over that way, a grown 2048² layer was sliced at its coarsest level, drawn,
found at the next draw to want a finer one, then sliced and drawn again: two reads, uploads
and paints per layer for every new well (profiled on the plate benchmark). Here a grow keeps
the layer's level and is sliced once, or not at all when the sliders move next anyway; a new
channel layer starts at the level its siblings already show. A new layer's look (colour,
fixed limits) is settled when its first plane arrives, the layer itself made at the next
refresh with the others that arrived meanwhile (``NapariScene._add_new_layers``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from viewers.napari.config import NapariDisplayConfig, napari_colormap
from viewers.napari.groups import LayerGroup
from viewers.napari.lazy import multiscale_levels
from viewers.napari.spares import SpareLayers


def layer_look(config: NapariDisplayConfig, components: dict) -> tuple[Any, Any]:
    """(colormap the producer gave or None, fixed contrast limits or None) of a new layer;
    an unknown colour name raises here, failing the item that asked for it."""
    fixed = config.contrast_limits is not None and not config.auto_contrast
    channel = components.get("channel")
    given = config.color is not None or str(channel) in config.channel_colors
    colormap = napari_colormap(config.color_for(channel)) if given else None
    return colormap, config.contrast_limits if fixed else None


def add_image_layer(
    viewer: Any, group: LayerGroup, colormap: Any, limits: Any, spares: SpareLayers | None = None
) -> Any:
    """A new additive image layer over the group's lazy stack (a multiscale if large): a
    spare layer filled, if there is one for it, else one made now."""
    assert group.image is not None
    group.levels = multiscale_levels(group.image.shape)
    sibling = _sibling_level(viewer, group)
    data = group.image_data()
    layer = None
    if spares is not None and group.levels > 1:
        layer = spares.take(data, group.name, colormap, limits)
    if layer is None:
        layer = viewer.add_image(
            data,
            multiscale=group.levels > 1,
            name=group.name,
            colormap=colormap,
            contrast_limits=limits,
            blending="additive",
        )
    if sibling is not None:  # sliced at the coarsest level: once more at the one in view
        layer.data_level = sibling
    return layer


def add_looked_layer(
    viewer: Any,
    group: LayerGroup,
    auto_colors: dict,
    limits: Any,
    spares: SpareLayers | None = None,
) -> None:
    """Make the group's image layer in the look settled at its first plane (``layer_look``):
    the producer's colour or else ``auto_colors``' for its channel, fixed limits or else
    ``limits``; the group remembers what was chosen for it, not given."""
    colormap, fixed = group.look
    group.look = None
    auto = auto_colors.get(group.channel, "gray") if colormap is None else None
    look = (colormap or auto, fixed if fixed is not None else limits)
    layer = add_image_layer(viewer, group, *look, spares)
    group.image_layer = layer
    group.auto_limits = None if fixed is not None else tuple(layer.contrast_limits)
    group.auto_colormap = auto


def _sibling_level(viewer: Any, group: LayerGroup) -> int | None:
    """The level an image layer of the same size shows now (None: no such layer)."""
    if group.levels < 2 or group.image is None:
        return None
    shape = tuple(group.image.shape[-2:])
    for layer in viewer.layers:
        if getattr(layer, "multiscale", False) and type(layer).__name__ == "Image":
            levels = layer.level_shapes
            if len(levels) == group.levels and tuple(levels[0][-2:]) == shape:
                return int(layer.data_level)
    return None


def update_layer(group: LayerGroup, grew: bool, reslice: bool = True) -> None:
    """Tell napari a layer grew and/or its plane in view changed.

    ``reslice=False``: only the shape changed (a well or site arrived out of view, or the
    sliders move next anyway): napari would re-read, re-upload and re-thumbnail the unchanged
    plane in view (~50 ms at 2048²), so its refresh is held back and only the extent (the
    sliders' range) is updated.
    """
    layer = group.image_layer
    if not grew:
        if reslice:
            layer.refresh()
        return
    assert group.image is not None
    limits = tuple(layer.contrast_limits)
    level = keep_level(layer)
    layer._clear_extent()  # napari's extent cache: cleared before the data event reads it
    with layer._block_refresh():  # one slice below, at the level napari had chosen
        layer.data = group.image_data()  # the same lazy stack: napari re-reads its shape
        level()
    if tuple(layer.contrast_limits) != limits:
        layer.contrast_limits = limits  # growing never resets what the user chose
    if reslice:
        layer.refresh()


def keep_level(layer: Any) -> Callable[[], None]:
    """Remember a multiscale layer's level (or the user's locked one); the call restores it."""
    if not getattr(layer, "multiscale", False):
        return lambda: None
    level, locked = layer.data_level, layer.locked_data_level

    def restore() -> None:
        if locked is not None:
            layer.locked_data_level = locked
        else:
            layer.data_level = level

    return restore
