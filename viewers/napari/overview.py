"""A live, low-resolution mosaic of the whole plate: the model (numpy only, no Qt).

A screener wants to see the plate fill in and jump to a well, without napari holding a
full-resolution layer per well. :class:`PlateOverview` keeps one small mosaic per channel
(``rows * cell`` by ``cols * cell`` float32), each well a ``cell``-sized square at its plate
row/column (A01 top left). A plane (in practice the viewer's 64 x 64 sample of it) is reduced
by picking pixels (no resampling, microseconds) and max-projected into its well's square, so
z-stacks show their brightest structure; only the first site seen of a well is shown.
:meth:`render` blends the channels with their colours and contrast limits into one RGB image;
cost is proportional to the mosaic (a few ms for 384 wells), never to the planes that arrived.

The plate format grows with the wells seen: 96 (8 x 12), 384 (16 x 24), 1536 (32 x 48).
"""

from __future__ import annotations

import numpy as np

from viewers.base import ComponentValue
from viewers.napari.layout import well_position

#: (rows, columns) of the standard plate formats, smallest first.
PLATE_FORMATS: tuple[tuple[int, int], ...] = ((8, 12), (16, 24), (32, 48))
#: The mosaic's target width in screen pixels; the cell size follows from the plate format.
TARGET_WIDTH = 276
MIN_CELL, MAX_CELL = 6, 48
HIGHLIGHT = np.array([255, 255, 255], np.uint8)

Color = tuple[float, float, float]


def plate_format(rows_needed: int, cols_needed: int) -> tuple[int, int]:
    """The smallest standard plate holding (rows_needed, cols_needed), or exactly those."""
    for rows, cols in PLATE_FORMATS:
        if rows_needed <= rows and cols_needed <= cols:
            return rows, cols
    return rows_needed, cols_needed


class PlateOverview:
    """Per-channel mosaics of the plate, filled in as planes arrive."""

    def __init__(self, target_width: int = TARGET_WIDTH) -> None:
        self.target_width = target_width
        self.rows, self.cols = PLATE_FORMATS[0]
        self.cell = self._cell_size()
        self.mosaics: dict[ComponentValue | None, np.ndarray] = {}
        self.sites: dict[str, ComponentValue | None] = {}  # well -> the site shown
        self.wells: dict[str, tuple[int, int]] = {}  # well -> (row, column)
        self.dirty = False

    def _cell_size(self) -> int:
        return int(np.clip(self.target_width // self.cols, MIN_CELL, MAX_CELL))

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows * self.cell, self.cols * self.cell

    def add(self, components: dict[str, ComponentValue], plane: np.ndarray) -> bool:
        """Put a plane into its well's square; False if it has no plate well or another site."""
        well = components.get("well")
        position = well_position(well) if well is not None else None
        if position is None:
            return False
        name, site = str(well), components.get("site")
        if self.sites.setdefault(name, site) != site:
            return False
        self.wells[name] = position
        rows, cols = plate_format(max(self.rows, position[0] + 1), max(self.cols, position[1] + 1))
        if (rows, cols) != (self.rows, self.cols):
            self._regrid(rows, cols)
        channel = components.get("channel")
        mosaic = self.mosaics.get(channel)
        if mosaic is None:
            mosaic = self.mosaics[channel] = np.zeros(self.shape, np.float32)
        thumb = _thumbnail(plane, self.cell)
        y, x = position[0] * self.cell, position[1] * self.cell
        square = mosaic[y : y + thumb.shape[0], x : x + thumb.shape[1]]
        np.maximum(square, thumb, out=square)
        self.dirty = True
        return True

    def _regrid(self, rows: int, cols: int) -> None:
        """A larger plate: start the mosaics again at the new cell size (planes re-arrive
        only on replay, so the squares already filled are rescaled from the old mosaic)."""
        old_cell, old = self.cell, self.mosaics
        self.rows, self.cols = rows, cols
        self.cell = self._cell_size()
        self.mosaics = {}
        for channel, mosaic in old.items():
            new = self.mosaics[channel] = np.zeros(self.shape, np.float32)
            for row, col in self.wells.values():
                square = mosaic[
                    row * old_cell : (row + 1) * old_cell, col * old_cell : (col + 1) * old_cell
                ]
                thumb = _thumbnail(square, self.cell)
                y, x = row * self.cell, col * self.cell
                new[y : y + thumb.shape[0], x : x + thumb.shape[1]] = thumb

    def render(
        self,
        colors: dict[ComponentValue | None, Color],
        limits: dict[ComponentValue | None, tuple[float, float]],
        current: ComponentValue | None = None,
    ) -> np.ndarray:
        """RGB uint8 mosaic: channels blended additively, ``current`` well outlined."""
        out = np.zeros((*self.shape, 3), np.float32)
        for channel, mosaic in self.mosaics.items():
            default = (float(mosaic.min()), float(mosaic.max()) or 1.0)
            lo, hi = limits.get(channel, limits.get(None, default))
            scaled = np.clip((mosaic - lo) / max(hi - lo, 1e-12), 0, 1)
            color = colors.get(channel, colors.get(None, (1.0, 1.0, 1.0)))
            out += scaled[..., None] * np.asarray(color, np.float32)
        image = (np.clip(out, 0, 1) * 255).astype(np.uint8)
        self._grid_lines(image)
        if current is not None and str(current) in self.wells:
            row, col = self.wells[str(current)]
            y, x, c = row * self.cell, col * self.cell, self.cell
            image[y, x : x + c] = image[y + c - 1, x : x + c] = HIGHLIGHT
            image[y : y + c, x] = image[y : y + c, x + c - 1] = HIGHLIGHT
        self.dirty = False
        return image

    def _grid_lines(self, image: np.ndarray) -> None:
        """Faint lines between wells, so empty wells read as wells and not as background."""
        grey = np.array([40, 40, 48], np.uint8)
        image[:: self.cell, :][image[:: self.cell, :].max(axis=-1) < 40] = grey
        image[:, :: self.cell][image[:, :: self.cell].max(axis=-1) < 40] = grey

    def well_at(self, y: float, x: float) -> str | None:
        """The well under mosaic pixel (y, x), if a plane of it has arrived."""
        row, col = int(y // self.cell), int(x // self.cell)
        for name, position in self.wells.items():
            if position == (row, col):
                return name
        return None

    def clear(self) -> None:
        self.rows, self.cols = PLATE_FORMATS[0]
        self.cell = self._cell_size()
        self.mosaics.clear()
        self.sites.clear()
        self.wells.clear()
        self.dirty = True


def _thumbnail(plane: np.ndarray, cell: int) -> np.ndarray:
    """``plane`` as ``cell`` x ``cell`` float32 by nearest-pixel picking (no resampling).

    Rows and columns are picked evenly over the whole plane, so a well's square shows all of
    it whatever the plane's size (a small sample of a large plane, or a plane smaller than
    the square, whose pixels are then repeated).
    """
    plane = np.asarray(plane)
    height, width = plane.shape[-2:]
    if not height or not width:  # a square outside the old mosaic (see _regrid)
        return np.zeros((cell, cell), np.float32)
    rows = np.linspace(0, height - 1, cell).astype(np.intp)  # first to last row
    cols = np.linspace(0, width - 1, cell).astype(np.intp)
    return plane[np.ix_(rows, cols)].astype(np.float32, copy=False)
