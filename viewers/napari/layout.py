"""Pure layout rules for napari: channel colours, plate positions, slice labels. No Qt, no napari.

Kept apart from :mod:`viewers.napari.scene` (which touches napari layers) so that every rule a
screener relies on is unit-tested without a window:

- **Channel colours** follow napari's own ``add_image(channel_axis=...)`` convention when the
  producer names none: one channel grey; two magenta and green; more cycle through
  ``CMYBGR``. A stream does not say how many channels will come, so the colours are
  recomputed as channels arrive (the scene re-applies them to the layers it coloured).
- **Plate positions**: wells in ``layer`` mode never sit on the same coordinates (they would
  be summed by additive blending). Each well is a tile at its plate row/column (A01 top
  left), one tile pitch apart; the pitch follows the largest plane seen.
- **Slice labels**: what the sliders stand for, in the values the producer sent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from viewers.base import ComponentValue

#: napari's curated colormap sets for additive channel blending (napari.utils.colormaps:
#: ``MAGENTA_GREEN`` and ``CMYBGR``, used by ``stack_utils.split_channels``). Mirrored here so
#: the rule is testable without napari; tests/e2e checks they still match napari's.
SINGLE_CHANNEL_COLORMAP = "gray"
MAGENTA_GREEN = ("magenta", "green")
CMYBGR = ("cyan", "magenta", "yellow", "blue", "green", "red")

#: Space between plate tiles, as a fraction of the tile.
TILE_GAP = 0.08

_WELL_LETTERS = re.compile(r"^([A-Za-z]{1,2})[-_ ]?0*(\d{1,3})$")
_WELL_RC = re.compile(r"^[Rr]0*(\d{1,3})[-_ ]?[Cc]0*(\d{1,3})$")


def default_channel_colormaps(n_channels: int) -> list[str]:
    """Colormap per channel position, as napari's ``channel_axis`` would choose them."""
    if n_channels <= 0:
        return []
    if n_channels == 1:
        return [SINGLE_CHANNEL_COLORMAP]
    if n_channels == 2:
        return list(MAGENTA_GREEN)
    return [CMYBGR[i % len(CMYBGR)] for i in range(n_channels)]


def channel_order(values: Iterable[ComponentValue]) -> list[ComponentValue]:
    """Channel values in display order: numeric/lexical when comparable, else as given.

    Sorting makes channel 1 always the first colour, whichever channel arrived first.
    """
    unique = list(dict.fromkeys(values))
    try:
        return sorted(unique, key=lambda v: (isinstance(v, str), v))
    except TypeError:
        return unique


def well_position(name: ComponentValue) -> tuple[int, int] | None:
    """Zero-based (row, column) of a well name on its plate, or None if it is not one.

    ``A01`` -> (0, 0), ``B03`` -> (1, 2), ``AF48`` -> (31, 47) (1536-well plates),
    ``r02c03`` -> (1, 2) (Operetta/Opera style).
    """
    text = str(name).strip()
    if m := _WELL_LETTERS.match(text):
        letters, column = m.group(1).upper(), int(m.group(2))
        row = 0
        for ch in letters:
            row = row * 26 + (ord(ch) - ord("A") + 1)
        return row - 1, column - 1
    if m := _WELL_RC.match(text):
        return int(m.group(1)) - 1, int(m.group(2)) - 1
    return None


def plate_row_name(row: int) -> str:
    """Row letters for a zero-based row: 0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    row += 1
    while row:
        row, rest = divmod(row - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


@dataclass
class PlateGrid:
    """Tile origins (world y, x) for wells laid out as on the plate.

    Wells with a name that is not a plate position go on rows above the plate, in arrival
    order, 24 per row, so they never overlap a real well either.
    """

    gap: float = TILE_GAP
    tile: tuple[int, int] = (0, 0)
    others: list[str] = field(default_factory=list)

    def grow(self, plane_shape: Sequence[int]) -> bool:
        """Make tiles at least ``plane_shape``; True if the pitch changed (re-place layers)."""
        tile = (max(self.tile[0], int(plane_shape[-2])), max(self.tile[1], int(plane_shape[-1])))
        changed = tile != self.tile
        self.tile = tile
        return changed

    def cell(self, well: ComponentValue) -> tuple[int, int]:
        position = well_position(well)
        if position is not None:
            return position
        name = str(well)
        if name not in self.others:
            self.others.append(name)
        i = self.others.index(name)
        return -1 - i // 24, i % 24

    @property
    def pitch(self) -> tuple[float, float]:
        return (  # rounded first: 100 * 1.08 is 108.00000000000001 in floating point
            math.ceil(round(self.tile[0] * (1 + self.gap), 6)),
            math.ceil(round(self.tile[1] * (1 + self.gap), 6)),
        )

    def origin(self, well: ComponentValue) -> tuple[float, float]:
        row, column = self.cell(well)
        pitch_y, pitch_x = self.pitch
        return row * pitch_y, column * pitch_x


def well_at(
    grid: PlateGrid, wells: Iterable[ComponentValue], y: float, x: float
) -> ComponentValue | None:
    """The well whose tile holds world point (y, x), or None (gap, empty cell, off plate)."""
    for well in wells:
        oy, ox = grid.origin(well)
        if oy <= y < oy + grid.tile[0] and ox <= x < ox + grid.tile[1]:
            return well
    return None


def slice_text(values: Sequence[tuple[str, ComponentValue | None]]) -> str:
    """One line naming what the sliders show: ``well B03   site 2   z_index 3``."""
    return "   ".join(f"{name} {'-' if value is None else value}" for name, value in values)


def slider_values(
    sliders: Sequence[str],
    steps: Sequence[int],
    keys: Mapping[str, Sequence[tuple[ComponentValue, ...]]],
) -> list[tuple[str, ComponentValue | None]]:
    """(component, value as sent) for each slider at its step; None past the values known,
    and sliders that stand for no component (none of ours) left out."""
    out: list[tuple[str, ComponentValue | None]] = []
    for axis, step in zip(sliders, steps):
        values = keys.get(axis)
        if values is not None:
            out.append((axis, values[step][0] if 0 <= step < len(values) else None))
    return out
