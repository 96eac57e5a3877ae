"""Spare image layers, made before the stream, filled when a channel's first plane arrives.

napari makes a new image layer in ~0.1-0.2 s of CPU however small its data: its Qt layer
controls, its vispy visual, the selection change (profiled in-process at 2048², after the
warm-up). A plate's first well brings all its channels at once, so its layers were made in
one go while the canvas drew nothing for ~1 s: the planes in view at the start of a plate
were the slowest of the whole run (the p99 of the plate benchmark). Handing data, name and
look to a layer that already exists costs ~21 ms (measured in the same process: four layers
made 0.10-0.21 s each, four spares filled 0.02-0.025 s each, the first ~0.1 s: napari
makes its sliders anew when the number of dimensions changes).

So the standalone viewer makes a few hidden multiscale layers at start, before it tells the
hub it is ready, and tops them up whenever the stream is idle. They sit at the bottom of the
layer list and napari's layer list view leaves them out (its proxy model filters on the
name), so a person sees only layers that hold data. A spare's data is a 2 x 2 plane: no
slider, nothing to slice while hidden.

What napari does for a layer list it thinks it shows in full is done here for the rows a
person sees (each found by trying it as a person would, under Xvfb; the guards on napari's
list-wide features are in ``spare_guards``):

- napari fits the view to a first layer only when the list was empty; with spares there it
  never was, so a stream with no slider (2-D planes, where no new axis made napari refit)
  was shown at the zoom of a 2 x 2 spare: one pixel over the whole canvas. The first layer
  a person sees is fitted here, and so is the first image after shapes that came before it
  (ROIs first: the view fitted to the boxes cropped the image).
- A spare made while the stream is idle is inserted without becoming the active layer: made
  active and back, it swapped the layer controls under a person dragging a contrast slider.
- "Show All Unselected Layers" (the layer list's context menu) showed the spares: in grid
  mode each took an empty panel. A spare stays hidden until it is filled.
- "Save All Layers" saved the spares too, and failed on them (napari cannot write a
  multiscale): spares are left out of what is saved.
- napari fits the view to every layer, hidden ones too: spares at the origin pulled a tile
  layout's first well (B03) into a corner. Spares sit at an image layer's corner instead.
- napari's keys that step through layers (Ctrl+Down, Shift+Alt+Down) reached the spares
  below the bottom channel: a spare is never selected.
- A row dropped on the empty space below the list went to the bottom of napari's list,
  below the spares, and later drops landed a row off: drops are mapped through the rows
  shown, and find the dragged layers where they are at the drop.

Only multiscale layers are kept spare (planes of 1024² and more, where a plate's cost is);
smaller planes get a layer made as before.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from viewers.napari.spare_guards import (
    SPARE_PREFIX,
    hide_in_layer_list,
    is_spare,
    keep_hidden,
    save_without_spares,
)

__all__ = ["SPARES", "SPARE_PREFIX", "SpareLayers", "is_spare"]

log = logging.getLogger(__name__)

#: Spare layers kept: a typical plate's channels (1-4) fill from them.
SPARES = 4


class SpareLayers:
    """Hidden multiscale image layers of ``viewer``, ready to be handed a channel's data."""

    def __init__(self, viewer: Any, count: int = SPARES) -> None:
        self.viewer = viewer
        self.count = count
        self._made = 0  # for unique names
        self._last_active: Any = None  # the last layer a person had active
        hide_in_layer_list(viewer)
        save_without_spares(viewer)
        # after napari's own handler (dims and extent updated): see _first_shown
        viewer.layers.events.inserted.connect(self._on_inserted, position="last")
        viewer.layers.selection.events.changed.connect(self._unselect_spares)

    def spares(self) -> list[Any]:
        """The spare layers still in the viewer, bottom first (a user may have removed one)."""
        return [layer for layer in self.viewer.layers if is_spare(layer)]

    def top_up(self, most: int | None = None) -> int:
        """Make spares until there are ``count`` (at most ``most`` now); returns how many.

        The selection is not touched: napari makes a layer it inserts the active one, which
        swaps the layer controls a person may be using (``_activate_on_insert``, private, is
        napari's own switch for that; without it the selection is put back afterwards)."""
        missing = max(0, self.count - len(self.spares()))
        made = min(missing, missing if most is None else most)
        if not made:
            return 0
        layers = self.viewer.layers
        selection = layers.selection
        selected, active = set(selection), selection.active
        activate = getattr(layers, "_activate_on_insert", None)
        if activate is not None:
            layers._activate_on_insert = False
        try:
            self._insert(made)
        finally:
            if activate is not None:
                layers._activate_on_insert = activate
        if set(selection) != selected or selection.active is not active:
            selection.clear()
            if active is not None:
                selection.active = active
            selection.update(selected)
        return made

    def _insert(self, made: int) -> None:
        from napari.layers import Image

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
                translate=self._corner(),
            )
            spare.events.visible.connect(keep_hidden)
            self.viewer.layers.insert(0, spare)  # below everything

    def take(self, levels: list[Any], name: str, colormap: Any, limits: Any) -> Any | None:
        """A spare holding ``levels`` (a multiscale's arrays), named and coloured, shown;
        None if no spare is left. Looks as ``add_image(levels, multiscale=True, name=name,
        colormap=colormap, contrast_limits=limits, blending="additive")`` would make it."""
        spares = self.spares()
        if not spares:
            return None
        layer = spares[-1]  # the top one: the spares left stay below every shown layer
        if np.any(layer.translate):  # spares sit where _follow put them; a layer napari
            layer.translate = np.zeros(layer.ndim)  # makes starts at the origin
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
        self._watch(layer)
        if _first_shown(self.viewer, layer):
            self.viewer.reset_view()
        return layer

    def _on_inserted(self, event: Any) -> None:
        """A layer napari made: fit the view if it is the first a person sees (see above)."""
        layer = event.value
        if is_spare(layer):
            return
        self._watch(layer)
        if _first_shown(self.viewer, layer):
            self.viewer.reset_view()

    def _unselect_spares(self, event: Any = None) -> None:
        """Take spares out of the selection; if nothing else was picked, the layer that was.

        napari's keys step through the whole list (Ctrl+Down, Shift+Alt+Down "show only the
        layer below"): from the bottom channel they picked a hidden spare, and "show only"
        then hid every channel, a black canvas. ``layers.select_all()`` took them too."""
        selection = self.viewer.layers.selection
        picked = [layer for layer in selection if is_spare(layer)]
        if not picked:
            if selection.active is not None:
                self._last_active = selection.active
            return
        selection.difference_update(picked)
        if not selection and self._last_active in self.viewer.layers:
            selection.active = self._last_active

    def _watch(self, layer: Any) -> None:
        """Keep the spares inside what is shown, wherever image layers are moved."""
        if _is_image(layer):
            layer.events.translate.connect(self._follow)
            self._follow()

    def _follow(self, event: Any = None) -> None:
        """Put the spares at the corner of the bottom image layer shown (``_corner``).

        napari fits the view (its home button, a tile layout's fit, a new axis) to every
        layer's extent, hidden ones included: spares left at the origin stretched it to the
        plate's top-left corner, so a first well streamed as a tile (``well: layer``) at B03
        sat small in a corner of the canvas, and the label lost its well name. One layer
        followed, not each: a tile layout moves every layer when its grid grows."""
        corner = self._corner()
        if event is not None and tuple(event.source.translate[-2:]) != corner:
            return  # another layer moved
        for spare in self.spares():
            if tuple(spare.translate) != corner:
                spare.translate = corner

    def _corner(self) -> tuple[float, float]:
        """The corner of the bottom image layer shown (the origin if none): where spares go."""
        for layer in self.viewer.layers:
            if _is_image(layer) and not is_spare(layer):
                y, x = (float(v) for v in layer.translate[-2:])
                return y, x
        return 0.0, 0.0


def _first_shown(viewer: Any, layer: Any) -> bool:
    """Whether ``layer`` is the first layer a person sees (napari would fit the view to it,
    were the spares not there), or the first image after shapes that came before it."""
    others = [other for other in viewer.layers if other is not layer and not is_spare(other)]
    if not others:
        return True
    return _is_image(layer) and not any(_is_image(other) for other in others)


def _is_image(layer: Any) -> bool:
    return type(layer).__name__ == "Image"


def _start_at_coarsest_level(layer: Any, ndisplay: int) -> None:
    """Level and corner pixels as napari starts a new multiscale layer: the coarsest level,
    all of it (a spare's were its placeholder's, of another number of dimensions)."""
    coarsest = len(layer.level_shapes) - 1
    layer.data_level = coarsest
    corners = np.zeros((2, layer.ndim), dtype=int)
    corners[1, -ndisplay:] = np.asarray(layer.level_shapes[coarsest])[-ndisplay:] - 1
    layer.corner_pixels = corners
