"""The viewer-neutral shape model: what a segmentation step produces, before any viewer.

A :class:`Shape` holds one outline, line, point set or mask in image pixel coordinates,
ordered (y, x) like numpy indexing, with an optional name, colour and per-shape properties
(measurements such as area or label). Adapters translate shapes into their viewer's objects
(napari Shapes/Points/Labels layers, ImageJ ROIs); this module knows nothing of either.

Wire form (a JSON object per shape)::

    {"kind": "polygon", "coords": [[y, x], ...], "name": "cell 3",
     "color": "#ff0000", "properties": {"area": 120.5, "label": 3}}

Kinds and their ``coords``:

- ``polygon``   closed outline, >= 3 vertices
- ``polyline``  open path, >= 2 vertices
- ``line``      exactly 2 vertices
- ``rectangle`` 2 opposite corners of an axis-aligned box
- ``ellipse``   2 opposite corners of the ellipse's axis-aligned bounding box
- ``points``    >= 1 points (one shape holds a whole point set)
- ``mask``      no coords; ``mask`` = {"origin": [y, x], "shape": [h, w], "runs": [start,
  length, ...]} with runs over the C-ordered flattened box (run-length encoding keeps large
  masks small in JSON).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from contract.colors import check_color


class ShapeKind(str, Enum):
    POLYGON = "polygon"
    POLYLINE = "polyline"
    LINE = "line"
    RECTANGLE = "rectangle"
    ELLIPSE = "ellipse"
    POINTS = "points"
    MASK = "mask"


#: Minimum and maximum vertex count per kind (None = no maximum).
VERTEX_COUNTS: dict[ShapeKind, tuple[int, int | None]] = {
    ShapeKind.POLYGON: (3, None),
    ShapeKind.POLYLINE: (2, None),
    ShapeKind.LINE: (2, 2),
    ShapeKind.RECTANGLE: (2, 2),
    ShapeKind.ELLIPSE: (2, 2),
    ShapeKind.POINTS: (1, None),
    ShapeKind.MASK: (0, 0),
}


class ShapeError(ValueError):
    """A shape is malformed; the message names the shape index and the offending value."""


#: The largest mask box (pixels) a shape may declare: 8192 x 8192. A viewer expands a mask
#: into at least a byte per pixel (napari Labels: 4-8), so a bigger box is refused before any
#: process allocates it.
MAX_MASK_PIXELS = 1 << 26


@dataclass(frozen=True)
class Mask:
    """A binary mask inside a box at ``origin`` (y, x) of ``size`` (h, w), run-length coded.

    The runs are what travels and what the hub keeps; :attr:`array` expands them only when a
    viewer draws the mask, so checking a message never allocates the box.
    """

    origin: tuple[int, int]
    size: tuple[int, int]
    runs: np.ndarray  # int64 (start, length) pairs over the C-ordered flattened box

    @classmethod
    def from_array(cls, origin: tuple[int, int], array: np.ndarray) -> Mask:
        array = np.asarray(array, dtype=bool)
        flat = np.concatenate([[False], array.ravel(), [False]]).astype(np.int8)
        edges = np.flatnonzero(np.diff(flat))
        starts, ends = edges[0::2], edges[1::2]
        runs = np.column_stack([starts, ends - starts]).ravel().astype(np.int64)
        return cls(origin, (int(array.shape[0]), int(array.shape[1])), runs)

    @functools.cached_property
    def array(self) -> np.ndarray:
        """The mask as a bool (h, w) array, expanded on first use."""
        h, w = self.size
        flat = np.zeros(h * w, dtype=bool)
        for start, length in self.runs.reshape(-1, 2).tolist():
            flat[start : start + length] = True
        return flat.reshape(h, w)

    def to_wire(self) -> dict[str, Any]:
        return {"origin": list(self.origin), "shape": list(self.size), "runs": self.runs.tolist()}

    @classmethod
    def from_wire(cls, wire: Any) -> Mask:
        if not isinstance(wire, dict):
            raise ShapeError("'mask' must be an object with origin, shape, runs")
        try:
            oy, ox = (int(v) for v in wire["origin"])
            h, w = (int(v) for v in wire["shape"])
            runs = np.asarray(wire["runs"], dtype=np.int64)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ShapeError(f"mask needs origin [y, x], shape [h, w], runs: {exc}") from None
        if h <= 0 or w <= 0 or runs.ndim != 1 or len(runs) % 2:
            raise ShapeError(f"mask shape {h}x{w} or run count {runs.size} is invalid")
        if h * w > MAX_MASK_PIXELS:
            raise ShapeError(
                f"mask box {h}x{w} is above the cap of {MAX_MASK_PIXELS} pixels (8192 x 8192)"
            )
        starts, lengths = runs[0::2], runs[1::2]
        bad = (starts < 0) | (lengths < 0) | (starts + lengths > h * w)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ShapeError(
                f"mask run ({starts[i]}, {lengths[i]}) lies outside the {h}x{w} box"
            )
        return cls((oy, ox), (h, w), runs)


@dataclass
class Shape:
    """One shape in (y, x) pixel coordinates.

    ``coords`` is a float64 array of shape (N, 2); empty for masks.
    """

    kind: ShapeKind
    coords: np.ndarray
    name: str | None = None
    color: str | None = None
    properties: dict[str, float | int | str] = field(default_factory=dict)
    mask: Mask | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value}
        if self.kind is ShapeKind.MASK:
            assert self.mask is not None
            out["mask"] = self.mask.to_wire()
        else:
            out["coords"] = self.coords.tolist()
        if self.name is not None:
            out["name"] = self.name
        if self.color is not None:
            out["color"] = self.color
        if self.properties:
            out["properties"] = dict(self.properties)
        return out

    @property
    def expanded_nbytes(self) -> int:
        """Bytes a viewer needs to draw this shape: the expanded mask box, or the vertices."""
        if self.mask is not None:
            return self.mask.size[0] * self.mask.size[1]
        return int(self.coords.nbytes)

    def bounds(self) -> tuple[float, float, float, float]:
        """(y0, x0, y1, x1) of the shape, inclusive of every vertex or mask pixel."""
        if self.kind is ShapeKind.MASK:
            assert self.mask is not None
            (oy, ox), (h, w) = self.mask.origin, self.mask.size
            return float(oy), float(ox), float(oy + h - 1), float(ox + w - 1)
        y0, x0 = self.coords.min(axis=0)
        y1, x1 = self.coords.max(axis=0)
        return float(y0), float(x0), float(y1), float(x1)


def parse_shape(wire: Any, index: int = 0, max_vertices: int = 1_000_000) -> Shape:
    """Turn one wire dict into a Shape, refusing anything a viewer could not draw."""
    where = f"shape {index}"
    if not isinstance(wire, dict):
        raise ShapeError(f"{where}: must be an object, got {type(wire).__name__}")
    try:
        kind = ShapeKind(wire.get("kind"))
    except ValueError:
        raise ShapeError(
            f"{where}: unknown kind {wire.get('kind')!r:.40}; expected one of "
            f"{[k.value for k in ShapeKind]}"
        ) from None
    name, color, props = wire.get("name"), wire.get("color"), wire.get("properties", {})
    if name is not None and not isinstance(name, str):
        raise ShapeError(f"{where}: 'name' must be a string")
    if color is not None:
        try:
            check_color(color)  # the table Fiji, napari and the recorder draw with
        except ValueError as exc:
            raise ShapeError(f"{where}: {exc}") from None
    if not isinstance(props, dict) or not all(
        isinstance(k, str) and isinstance(v, (int, float, str)) and not isinstance(v, bool)
        for k, v in props.items()
    ):
        raise ShapeError(f"{where}: 'properties' must map names to numbers or strings")
    if kind is ShapeKind.MASK:
        return Shape(kind, np.empty((0, 2)), name, color, props, Mask.from_wire(wire.get("mask")))
    coords = wire.get("coords")
    if not isinstance(coords, list):
        raise ShapeError(f"{where}: 'coords' must be a list of [y, x] pairs")
    if len(coords) > max_vertices:
        raise ShapeError(f"{where}: {len(coords)} vertices, above the cap of {max_vertices}")
    try:
        array = np.asarray(coords, dtype=np.float64)
    except (TypeError, ValueError):
        raise ShapeError(f"{where}: 'coords' must be numbers, got {coords!r:.80}") from None
    lo, hi = VERTEX_COUNTS[kind]
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] < lo:
        raise ShapeError(
            f"{where}: a {kind.value} needs at least {lo} [y, x] pairs, got shape "
            f"{list(array.shape)}"
        )
    if hi is not None and array.shape[0] > hi:
        raise ShapeError(f"{where}: a {kind.value} takes exactly {hi} [y, x] pairs")
    if not np.isfinite(array).all():
        raise ShapeError(f"{where}: coordinates contain NaN or infinity")
    for v in props.values():
        if isinstance(v, float) and not math.isfinite(v):
            raise ShapeError(f"{where}: property values must be finite")
    return Shape(kind, array, name, color, props)


def parse_shapes(wires: Iterable[Any], max_vertices: int = 1_000_000) -> list[Shape]:
    return [parse_shape(w, i, max_vertices) for i, w in enumerate(wires)]


def shapes_to_wire(shapes: Sequence[Shape]) -> list[dict[str, Any]]:
    return [s.to_wire() for s in shapes]


def polygon(coords: Any, **kw: Any) -> Shape:
    """Convenience constructor: ``polygon([[y, x], ...], name=..., color=...)``."""
    return parse_shape({"kind": "polygon", "coords": np.asarray(coords).tolist(), **kw})


def points(coords: Any, **kw: Any) -> Shape:
    return parse_shape({"kind": "points", "coords": np.asarray(coords).tolist(), **kw})


def mask(array: np.ndarray, origin: tuple[int, int] = (0, 0), **kw: Any) -> Shape:
    m = Mask.from_array((int(origin[0]), int(origin[1])), array)
    return Shape(
        ShapeKind.MASK,
        np.empty((0, 2)),
        kw.get("name"),
        kw.get("color"),
        kw.get("properties", {}),
        m,
    )
