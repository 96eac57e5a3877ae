"""Where a plane goes in the OME-Zarr store: a pure mapping from components to array positions.

The store is an OME-Zarr HCS plate (NGFF 0.5): ``plate.zarr/<row>/<column>/<field>`` image
groups, each with one array of axes ``t, c, z, y, x``. A plane with a ``well`` that reads as a
plate position (``B03`` -> row ``B``, column ``3``) goes into that well; its ``site`` picks the
field (fields numbered in arrival order). Planes without a well, with a well that is not a plate
position, or with components beyond the standard five go into plain OME-Zarr image groups under
``images/`` named after those components.

Positions on t, c and z are given in arrival order and never move, like the viewers' axes; the
component values behind each position are kept in the group's ``viewerhub`` attributes so a
reader can label them. Nothing here touches a file: :class:`PlateLayout` only decides names and
positions, so it is unit-tested without zarr.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

Value = int | str

_WELL = re.compile(r"^([A-Za-z]{1,2})0*(\d{1,3})$")
_AXIS_OF = {"timepoint": "t", "channel": "c", "z_index": "z"}
_PLACE = ("well", "site")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def well_position(well: Value) -> tuple[str, str] | None:
    """``B03`` -> (``B``, ``3``); None for a well name that is not a plate position."""
    match = _WELL.match(str(well))
    if not match:
        return None
    return match[1].upper(), str(int(match[2]))


@dataclass
class ImageGroup:
    """One image group (a plate field or a plain image) and its axes' values by position."""

    path: str
    well: tuple[str, str] | None  # (row, column) for plate fields
    axes: dict[str, list[Value]] = field(default_factory=lambda: {"t": [], "c": [], "z": []})
    site: Value | None = None

    def position(self, axis: str, value: Value) -> tuple[int, bool]:
        """Position of ``value`` on ``axis`` and whether the axis grew for it."""
        values = self.axes[axis]
        if value in values:
            return values.index(value), False
        values.append(value)
        return len(values) - 1, True

    def size(self) -> tuple[int, int, int]:
        return tuple(max(1, len(self.axes[a])) for a in "tcz")  # type: ignore[return-value]


@dataclass(frozen=True)
class PlaneSlot:
    """Where one plane is stored: its group and its (t, c, z) position there."""

    group: ImageGroup
    t: int
    c: int
    z: int
    grew: bool  # the group's array must grow before the write


class PlateLayout:
    """Assigns groups and positions to planes as they arrive (the writer owns one)."""

    def __init__(self) -> None:
        self.groups: dict[str, ImageGroup] = {}
        self.fields: dict[tuple[str, str], list[Value]] = {}  # well -> site values by field

    def slot(self, components: dict[str, Value]) -> PlaneSlot:
        group = self._group(components)
        grew = group.path not in self.groups
        self.groups[group.path] = group
        positions = []
        for component, axis in (("timepoint", "t"), ("channel", "c"), ("z_index", "z")):
            position, axis_grew = group.position(axis, components.get(component, 0))
            positions.append(position)
            grew = grew or axis_grew
        return PlaneSlot(group, *positions, grew=grew)

    def _group(self, components: dict[str, Value]) -> ImageGroup:
        extra = {k: v for k, v in components.items() if k not in _AXIS_OF and k not in _PLACE}
        well = components.get("well")
        position = well_position(well) if well is not None else None
        if position is not None and not extra:
            site = components.get("site", 0)
            sites = self.fields.setdefault(position, [])
            if site not in sites:
                sites.append(site)
            path = f"{position[0]}/{position[1]}/{sites.index(site)}"
            group = self.groups.get(path) or ImageGroup(path, position, site=site)
            return group
        named = {k: v for k, v in components.items() if k not in _AXIS_OF}
        label = "_".join(f"{k}-{v}" for k, v in sorted(named.items())) or "scene"
        path = f"images/{_SAFE.sub('_', label)[:120]}"
        return self.groups.get(path) or ImageGroup(path, None)

    def plate_metadata(self) -> dict[str, Any]:
        """Rows, columns and well paths of the plate fields seen so far (NGFF ``plate``)."""
        wells = sorted(self.fields)
        rows = sorted({r for r, _ in wells}, key=lambda r: (len(r), r))
        columns = sorted({c for _, c in wells}, key=int)
        return {
            "rows": rows,
            "columns": columns,
            "wells": [f"{r}/{c}" for r, c in wells],
            "field_count": max((len(s) for s in self.fields.values()), default=0),
        }
