"""Shapes as ImageJ ROIs (roifile): the one translation used by the Fiji adapter and recorder.

Coordinates flip from the shape model's (y, x) to ImageJ's (x, y). Positions are given 0-based
(c, z, t) and stored 1-based, as ImageJ hyperstack ROIs expect; a position of None leaves the
ROI on every plane of that axis. Masks become traced outlines (one TRACED ROI per boundary
loop, holes included) following pixel edges, the way ImageJ's wand tool outlines a region.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from roifile import ROI_OPTIONS, ROI_TYPE, ImagejRoi

from contract.colors import to_argb_bytes
from contract.shapes import Shape, ShapeKind

_TYPES = {
    ShapeKind.POLYGON: ROI_TYPE.POLYGON,
    ShapeKind.POLYLINE: ROI_TYPE.POLYLINE,
    ShapeKind.POINTS: ROI_TYPE.POINT,
}


def color_to_argb(color: str) -> bytes:
    """'#rrggbb', '#rrggbbaa' or a name of :mod:`contract.colors` -> ImageJ's 4 ARGB bytes."""
    return to_argb_bytes(color)


def shape_to_rois(
    shape: Shape,
    c: int | None = None,
    z: int | None = None,
    t: int | None = None,
    index: int = 0,
) -> list[ImagejRoi]:
    """One ImageJ ROI per shape (several for a mask with several boundary loops)."""
    name = shape.name or f"{shape.kind.value}-{index}"
    if shape.kind is ShapeKind.MASK:
        rois = []
        for n, loop in enumerate(trace_mask(shape)):
            roi = ImagejRoi.frompoints(
                loop[:, ::-1].astype(np.float64),
                c=c,
                z=z,
                t=t,
                name=name if n == 0 else f"{name}-{n}",
            )
            roi.roitype = ROI_TYPE.TRACED
            rois.append(roi)
    elif shape.kind in _TYPES:
        roi = ImagejRoi.frompoints(shape.coords[:, ::-1], c=c, z=z, t=t, name=name)
        roi.roitype = _TYPES[shape.kind]
        rois = [roi]
    else:
        rois = [_box_or_line(shape, c, z, t, name)]
    for roi in rois:
        if shape.color:
            roi.stroke_color = color_to_argb(shape.color)
        if shape.properties:
            # ImageJ keeps ROI properties as "key: value" lines (Roi.getProperties).
            roi.props = "".join(f"{k}: {v}\n" for k, v in shape.properties.items())
    return rois


def _box_or_line(shape: Shape, c: int | None, z: int | None, t: int | None, name: str) -> ImagejRoi:
    roi = ImagejRoi()
    roi.name = name
    for attr, value in (("c_position", c), ("z_position", z), ("t_position", t)):
        if value is not None:
            setattr(roi, attr, value + 1)
    (y0, x0), (y1, x1) = shape.coords
    if shape.kind is ShapeKind.LINE:
        roi.roitype = ROI_TYPE.LINE
        roi.x1, roi.y1, roi.x2, roi.y2 = float(x0), float(y0), float(x1), float(y1)
        roi.options |= ROI_OPTIONS.SUB_PIXEL_RESOLUTION
    else:
        roi.roitype = ROI_TYPE.RECT if shape.kind is ShapeKind.RECTANGLE else ROI_TYPE.OVAL
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        roi.xd, roi.yd, roi.widthd, roi.heightd = float(x0), float(y0), x1 - x0, y1 - y0
        if not all(float(v).is_integer() for v in (x0, x1, y0, y1)):
            roi.options |= ROI_OPTIONS.SUB_PIXEL_RESOLUTION
        x1, y1 = round(x1), round(y1)
    roi.left, roi.top = int(np.floor(min(x0, x1))), int(np.floor(min(y0, y1)))
    roi.right, roi.bottom = int(np.ceil(max(x0, x1))), int(np.ceil(max(y0, y1)))
    return roi


def trace_mask(shape: Shape) -> Iterator[np.ndarray]:
    """Boundary loops of a mask along pixel edges, as (N, 2) (y, x) vertex arrays.

    Every edge between an inside and an outside pixel is directed so that the inside lies on
    its left; chaining edges head to tail gives closed loops (outer boundaries and holes).
    Collinear vertices are dropped so a rectangle comes out as 4 corners.
    """
    assert shape.mask is not None
    (oy, ox), m = shape.mask.origin, np.pad(shape.mask.array, 1)
    edges: dict[tuple[int, int], list[tuple[int, int]]] = {}
    ys, xs = np.nonzero(m[1:, :] != m[:-1, :])  # horizontal edges between rows y and y+1
    for y, x in zip(ys.tolist(), xs.tolist()):
        a, b = (y + 1, x), (y + 1, x + 1)
        start, end = (b, a) if m[y + 1, x] else (a, b)
        edges.setdefault(start, []).append(end)
    ys, xs = np.nonzero(m[:, 1:] != m[:, :-1])  # vertical edges between columns x and x+1
    for y, x in zip(ys.tolist(), xs.tolist()):
        a, b = (y, x + 1), (y + 1, x + 1)
        start, end = (a, b) if m[y, x + 1] else (b, a)
        edges.setdefault(start, []).append(end)
    while edges:
        start = min(edges)
        loop, point = [start], start
        while True:
            nexts = edges[point]
            nxt = nexts.pop()
            if not nexts:
                del edges[point]
            if nxt == start:
                break
            loop.append(nxt)
            point = nxt
        vertices = np.asarray(loop, dtype=np.float64) - 1 + (oy, ox)
        d_in = vertices - np.roll(vertices, 1, axis=0)
        d_out = np.roll(vertices, -1, axis=0) - vertices
        turn = d_in[:, 0] * d_out[:, 1] - d_in[:, 1] * d_out[:, 0] != 0
        yield vertices[turn]
