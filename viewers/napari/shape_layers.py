"""Shapes, points and masks of a layer group as napari Shapes, Points and Labels layers.

A shape tagged z=3, t=5 carries those slider positions in its coordinates (``prefix``), so
napari shows it only there. Split from :mod:`viewers.napari.scene` to keep each module about
one thing; the scene decides *which* group a shape set belongs to, this module draws it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from contract.colors import to_hex
from contract.shapes import Shape, ShapeKind
from viewers.napari.stack import GrowableStack

if TYPE_CHECKING:
    from viewers.napari.groups import LayerGroup

NAPARI_SHAPE_TYPES = {
    ShapeKind.POLYGON: "polygon",
    ShapeKind.POLYLINE: "path",
    ShapeKind.LINE: "line",
    ShapeKind.RECTANGLE: "rectangle",
    ShapeKind.ELLIPSE: "ellipse",
}
DEFAULT_SHAPE_COLOR = "#ffff00"
DEFAULT_POINT_COLOR = "#ff00ff"


class MaskOutsideImageError(ValueError):
    """A mask's origin lies outside the image it annotates."""


def draw_shapes(
    viewer: Any, group: LayerGroup, position: tuple[int, ...], shapes: list[Shape]
) -> None:
    """Add ``shapes`` to the group's Shapes/Points/Labels layers at slider ``position``."""
    prefix = np.asarray(position, dtype=np.float64)
    outlines = [s for s in shapes if s.kind in NAPARI_SHAPE_TYPES]
    if outlines:
        _add_outlines(viewer, group, prefix, outlines)
    for shape in shapes:
        if shape.kind is ShapeKind.POINTS:
            _add_points(viewer, group, prefix, shape)
        elif shape.kind is ShapeKind.MASK:
            _paint_mask(viewer, group, position, shape)


def _add_outlines(viewer: Any, group: LayerGroup, prefix: np.ndarray, shapes: list[Shape]) -> None:
    data, types, colors = [], [], []
    for shape in shapes:
        coords = shape.coords
        if shape.kind in (ShapeKind.RECTANGLE, ShapeKind.ELLIPSE):
            (y0, x0), (y1, x1) = coords
            coords = np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], dtype=np.float64)
        data.append(np.hstack([np.broadcast_to(prefix, (len(coords), len(prefix))), coords]))
        types.append(NAPARI_SHAPE_TYPES[shape.kind])
        colors.append(to_hex(shape.color or DEFAULT_SHAPE_COLOR))
        group.shape_features.append({"name": shape.name or "", **shape.properties})
    if group.shapes_layer is None:
        group.shapes_layer = viewer.add_shapes(
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


def _add_points(viewer: Any, group: LayerGroup, prefix: np.ndarray, shape: Shape) -> None:
    coords = np.hstack([np.broadcast_to(prefix, (len(shape.coords), len(prefix))), shape.coords])
    color = to_hex(shape.color or DEFAULT_POINT_COLOR)
    if group.points_layer is None:
        group.points_layer = viewer.add_points(
            coords, name=f"{group.name} points", face_color=color, size=6, ndim=len(prefix) + 2
        )
    else:
        layer = group.points_layer
        layer.current_face_color = color
        layer.add(coords)


def _paint_mask(viewer: Any, group: LayerGroup, position: tuple[int, ...], shape: Shape) -> None:
    assert shape.mask is not None
    (oy, ox), mask = shape.mask.origin, shape.mask.array
    if oy < 0 or ox < 0:
        raise MaskOutsideImageError(f"mask origin {shape.mask.origin} lies outside the image")
    if group.labels is None:
        plane = tuple(group.image.shape[-2:]) if group.image else (0, 0)
        group.labels = GrowableStack(len(position), plane, np.dtype(np.int32))
    needed = (oy + mask.shape[0], ox + mask.shape[1])
    grew = group.labels.ensure(position, needed)
    group.labels.plane(position)[oy : needed[0], ox : needed[1]][mask] = group.next_label
    group.next_label += 1
    if group.labels_layer is None:
        group.labels_layer = viewer.add_labels(group.labels.view, name=f"{group.name} masks")
    elif grew:
        group.labels_layer.data = group.labels.view
    else:
        group.labels_layer.refresh()


def _features(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    return pd.DataFrame(rows)
