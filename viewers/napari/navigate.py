"""Going to a position: the sliders to component values, or the camera to a well's tile.

Used by ``hub goto``, screenshots with components and clicks in the plate overview.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from viewers.napari.plate_tiles import camera

if TYPE_CHECKING:
    from viewers.napari.scene import NapariScene


def goto(scene: NapariScene, components: dict[str, Any]) -> dict[str, Any]:
    """Move the sliders to these component values; a well shown as a tile is zoomed to."""
    scene.flush()
    step = list(scene.viewer.dims.current_step)
    labels = list(scene.viewer.dims.axis_labels)
    for axis, value in components.items():
        keys = scene.index.keys.get(axis, [])
        matches = [i for i, key in enumerate(keys) if str(key[0]) == str(value)]
        if axis in labels and matches:
            step[labels.index(axis)] = matches[0]
    scene.viewer.dims.current_step = tuple(step)
    well = components.get("well")
    tiles = [g for g in scene.groups.values() if g.well is not None and str(g.well) == str(well)]
    if tiles and hasattr(scene.viewer, "fit_to_view"):  # napari >= 0.9
        scene.viewer.fit_to_view(layers=[lay for g in tiles for lay in g.layers()])
    elif tiles:
        oy, ox = scene.tiles.grid.origin(tiles[0].well)
        h, w = scene.tiles.grid.tile
        camera(scene.viewer).center = (oy + h / 2, ox + w / 2)
    scene.update_label()
    return {
        "current_step": list(scene.viewer.dims.current_step),
        "axis_labels": labels,
        "values": dict(scene.current_values()),
    }
