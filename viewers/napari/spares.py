"""Spare image layers, made before the stream, filled when a channel's first plane arrives.

napari makes a new image layer in ~0.1-0.2 s of CPU however small its data: its Qt layer
controls, its vispy visual, the selection change (profiled in-process at 2048², after the
warm-up). A plate's first well brings all its channels at once, so its layers were made in
one go while the canvas drew nothing for ~1 s: the planes in view at the start of a plate
were the slowest of the whole run (the p99 of the plate benchmark). Handing data, name and
look to a layer that already exists costs ~16 ms (measured in the same process: four layers
made 0.10-0.21 s each, four spares filled 0.016 s each).

So the standalone viewer makes a few hidden multiscale layers at start, before it tells the
hub it is ready, and tops them up whenever the stream is idle. They sit at the bottom of the
layer list and napari's layer list view leaves them out (its proxy model filters on the
name), so a person sees only layers that hold data, and drag-and-drop rows still map to the
right layers (the hidden rows are all below the shown ones). A spare's data is a 2 x 2
plane: no slider, no extent beyond the first tile, nothing to slice while hidden.

Only multiscale layers are kept spare (planes of 1024² and more, where a plate's cost is);
smaller planes get a layer made as before.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Name prefix of a spare layer (and what the layer list view filters out).
SPARE_PREFIX = "viewerhub spare layer"
#: Spare layers kept: a typical plate's channels (1-4) fill from them.
SPARES = 4


def is_spare(layer: Any) -> bool:
    return str(getattr(layer, "name", "")).startswith(SPARE_PREFIX)


class SpareLayers:
    """Hidden multiscale image layers of ``viewer``, ready to be handed a channel's data."""

    def __init__(self, viewer: Any, count: int = SPARES) -> None:
        self.viewer = viewer
        self.count = count
        self._made = 0  # for unique names
        _hide_in_layer_list(viewer)

    def spares(self) -> list[Any]:
        """The spare layers still in the viewer, bottom first (a user may have removed one)."""
        return [layer for layer in self.viewer.layers if is_spare(layer)]

    def top_up(self, most: int | None = None) -> int:
        """Make spares until there are ``count`` (at most ``most`` now); returns how many.

        What the user had selected stays selected (napari selects a layer it inserts)."""
        from napari.layers import Image

        missing = max(0, self.count - len(self.spares()))
        made = min(missing, missing if most is None else most)
        if not made:
            return 0
        selection = self.viewer.layers.selection
        selected, active = set(selection), selection.active
        for _ in range(made):
            self._made += 1
            levels = [np.zeros((2, 2), np.uint16), np.zeros((1, 1), np.uint16)]
            name = f"{SPARE_PREFIX} {self._made}"
            spare = Image(  # given limits: napari computes none at its first slice
                levels,
                multiscale=True,
                name=name,
                visible=False,
                blending="additive",
                contrast_limits=(0, 1),
            )
            self.viewer.layers.insert(0, spare)  # below everything
        selection.clear()
        if active is not None:
            selection.active = active
        selection.update(selected)
        return made

    def take(self, levels: list[Any], name: str, colormap: Any, limits: Any) -> Any | None:
        """A spare holding ``levels`` (a multiscale's arrays), named and coloured, shown;
        None if no spare is left. Looks as ``add_image(levels, multiscale=True, name=name,
        colormap=colormap, contrast_limits=limits, blending="additive")`` would make it."""
        spares = self.spares()
        if not spares:
            return None
        first = len(spares) == len(self.viewer.layers)  # napari fits the view to a first layer
        layer = spares[-1]  # the top one: the spares left stay below every shown layer
        layer._clear_extent()  # napari's extent cache, read by the data event (new ndim)
        layer.data = levels  # hidden: napari does not slice it yet
        _start_at_coarsest_level(layer, self.viewer.dims.ndisplay)
        layer.name = name
        layer.colormap = colormap
        if limits is not None:
            layer.contrast_limits_range = limits  # as add_image does with given limits
            layer.contrast_limits = limits
        else:
            layer.reset_contrast_limits_range()
            layer.reset_contrast_limits()
        layer.visible = True
        layers = self.viewer.layers
        layers.move(layers.index(layer), len(layers))  # on top, where add_image puts a layer
        if first:
            self.viewer.reset_view()
        return layer


def _start_at_coarsest_level(layer: Any, ndisplay: int) -> None:
    """Level and corner pixels as napari starts a new multiscale layer: the coarsest level,
    all of it (a spare's were its placeholder's, of another number of dimensions)."""
    coarsest = len(layer.level_shapes) - 1
    layer.data_level = coarsest
    corners = np.zeros((2, layer.ndim), dtype=int)
    corners[1, -ndisplay:] = np.asarray(layer.level_shapes[coarsest])[-ndisplay:] - 1
    layer.corner_pixels = corners


def _hide_in_layer_list(viewer: Any) -> None:
    """Leave spare layers out of napari's layer list view (no window: nothing to hide)."""
    try:
        view = viewer.window._qt_viewer.layers  # no public accessor
    except AttributeError:
        return
    from qtpy.QtCore import QRegularExpression

    proxy = view.model()  # napari's ReverseProxyModel, a QSortFilterProxyModel
    if hasattr(proxy, "setFilterRegularExpression"):
        proxy.setFilterRegularExpression(QRegularExpression(f"^(?!{SPARE_PREFIX})"))
