"""What a napari scene reports: layers as napari holds them, and what its image data holds.

Read back from napari's own objects (not from what the scene meant to set), for ``hub
inspect``, heartbeats and tests; apart from :mod:`viewers.napari.scene` so that module keeps
to deciding what goes where.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from viewers.base import ComponentValue
from viewers.napari.groups import LayerGroup
from viewers.napari.lazy import PlaneCache
from viewers.napari.spares import is_spare


def describe_layers(viewer: Any) -> list[dict[str, Any]]:
    """Every layer of ``viewer`` a person sees in its layer list (not the hidden spares):
    name, type, visibility, blending, placement, and its look."""
    layers = []
    for layer in viewer.layers:
        if is_spare(layer):
            continue
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
    return layers


def listed_layers(viewer: Any) -> list[str] | None:
    """The rows of napari's layer list view, top first: what a person reads there (None: no
    window). Read from Qt's view, so a hidden layer that leaked into it would show here."""
    try:
        model = viewer.window._qt_viewer.layers.model()  # no public accessor
    except AttributeError:
        return None
    return [str(model.index(row, 0).data()) for row in range(model.rowCount())]


def group_layers(groups: Iterable[LayerGroup]) -> list[dict[str, Any]]:
    """The scene's own layers with their data shapes (heartbeat status)."""
    layers = []
    for group in groups:
        for layer in group.layers():
            kind = type(layer).__name__
            shape = list(np.shape(layer.data)) if kind in ("Image", "Labels") else [len(layer.data)]
            layers.append({"name": layer.name, "type": kind, "shape": shape})
    return layers


def data_report(groups: Iterable[LayerGroup], cache: PlaneCache) -> dict[str, Any]:
    """What the image layers hold: plane references, and the bytes of pixels cached.

    The pixels napari holds are the cache plus the planes in view (its slice of each layer);
    neither grows with the planes received, only the small reference table does.
    """
    stacks = [g.image for g in groups if g.image is not None]
    return {
        "planes": sum(len(s.refs) for s in stacks),
        "unreadable": sum(len(s.failed) for s in stacks),
        "cache": cache.stats(),
    }


def overview_style(groups: Iterable[LayerGroup]) -> tuple[dict, dict]:
    """Colour and contrast per channel as napari shows them now (for the plate overview)."""
    colors: dict[ComponentValue | None, tuple[float, ...]] = {}
    limits: dict[ComponentValue | None, tuple[float, ...]] = {}
    for group in groups:
        layer = group.image_layer
        if layer is not None and group.channel not in colors:
            colors[group.channel] = tuple(float(v) for v in layer.colormap.colors[-1][:3])
            limits[group.channel] = tuple(float(v) for v in layer.contrast_limits)
    return colors, limits
