"""Wells as napari layers, each on its own plate tile: the napari side of ``PlateGrid``.

When a display config makes wells layers (``well: layer``, or Fiji's ``well: window``), the
layers of two wells would otherwise sit on the same coordinates and additive blending would
sum them. :class:`PlateTiles` translates every well's layers to the well's tile at its plate
row/column, keeps a ``wells`` Points layer writing the names above the tiles, and answers
which well is in the middle of the view (for the slider label).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from viewers.base import ComponentValue
from viewers.napari.layout import PlateGrid, well_at

WELLS_LAYER = "wells"
#: Light blue for slider and well labels: readable on black and on grey data, and never
#: mistaken for white (saturated) pixels or yellow outlines in screenshot checks.
LABEL_COLOR = (0.55, 0.85, 1.0, 1.0)


def camera(viewer: Any) -> Any:
    """napari's camera: ``viewer.scene.camera`` since 0.9, ``viewer.camera`` before."""
    scene = getattr(viewer, "scene", None)
    return getattr(scene, "camera", None) or viewer.camera


def text_overlay(viewer: Any) -> Any:
    """The canvas text overlay: ``viewer.canvas.overlays['text']`` since 0.9."""
    overlays = getattr(getattr(viewer, "canvas", None), "overlays", None)
    if overlays is not None and "text" in overlays:
        return overlays["text"]
    return viewer.text_overlay


class PlateTiles:
    """Tile placement for the well groups of one scene on ``viewer``."""

    def __init__(self, viewer: Any) -> None:
        self.viewer = viewer
        self.grid = PlateGrid()
        self.wells: list[ComponentValue] = []  # in arrival order
        self._layer: Any = None

    def place(self, well: ComponentValue, plane_shape: Any, groups: Iterable[Any]) -> None:
        """Translate the layers of ``well`` (every well's if the tile pitch grew)."""
        groups = [g for g in groups if g.well is not None]
        if well not in self.wells:
            self.wells.append(well)
        grew = plane_shape is not None and self.grid.grow(plane_shape)
        for group in groups if grew else [g for g in groups if g.well == well]:
            oy, ox = self.grid.origin(group.well)
            for layer in group.layers():
                translate = (0.0,) * (layer.ndim - 2) + (oy, ox)
                if tuple(layer.translate) != translate:
                    layer.translate = translate
        self._update_names()

    def _update_names(self) -> None:
        coords = np.array([self.grid.origin(w) for w in self.wells], np.float64).reshape(-1, 2)
        features = {"well": [str(w) for w in self.wells]}
        layer = self._layer
        if layer is None or layer not in self.viewer.layers:
            self._layer = self.viewer.add_points(
                coords,
                features=features,
                name=WELLS_LAYER,
                text={"string": "{well}", "color": LABEL_COLOR, "anchor": "lower_left", "size": 14},
                size=1,
                face_color="transparent",
                border_color="transparent",
            )
            self.viewer.reset_view()
        elif len(layer.data) != len(coords) or not np.array_equal(layer.data, coords):
            layer.data = coords
            layer.features = features
            self.viewer.reset_view()
        layers = self.viewer.layers
        top = len(layers) - 1
        if layers.index(self._layer) != top:  # names stay above the images
            layers.move(layers.index(self._layer), top + 1)

    def well_in_view(self) -> ComponentValue | None:
        """The well whose tile holds the centre of the view, if any."""
        if not self.wells:
            return None
        y, x = camera(self.viewer).center[-2:]
        return well_at(self.grid, self.wells, y, x)

    def clear(self) -> None:
        if self._layer is not None and self._layer in self.viewer.layers:
            self.viewer.layers.remove(self._layer)
        self._layer = None
        self.grid = PlateGrid()
        self.wells.clear()
