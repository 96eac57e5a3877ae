"""Reading a Fiji window back: what ImageJ really holds and shows, for inspect and screenshots.

Everything here is read from ImageJ itself (the ImagePlus, its stack, its LUTs, its window),
never from the adapter's own bookkeeping, so tests and support see what the user sees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from viewers.fiji import screen
from viewers.fiji.luts import lut_end_rgb
from viewers.fiji.pixels import from_processor

if TYPE_CHECKING:
    from viewers.fiji.window import HyperstackWindow


def window_rgb(window: HyperstackWindow) -> np.ndarray:
    """The window's current plane as shown, once what changed is drawn, as an RGB array."""
    window.draw()
    return flatten_rgb(window.imp)


def flatten_rgb(imp: Any) -> np.ndarray:
    """The current plane as shown (LUTs, composite, overlay) as an RGB array."""
    argb = from_processor(imp.flatten().getProcessor())
    rgb = np.empty(argb.shape + (3,), np.uint8)
    rgb[..., 0] = (argb >> 16) & 0xFF
    rgb[..., 1] = (argb >> 8) & 0xFF
    rgb[..., 2] = argb & 0xFF
    return rgb


def describe(
    window: HyperstackWindow, planes: list[tuple[int, int, int]] | None = None
) -> dict[str, Any]:
    """Dimensions, position, LUTs, ranges, ROIs, window geometry and (optionally) pixels.

    ``planes`` are 0-based (c, z, t) whose sum, max and corner pixel are read from the stack
    (as ImageJ reads them, then checked against segment recycling: ``PlaneFiles.ensure``).
    """
    window.check_closed(remember=True)
    window.draw()  # what the user sees now, not the state before a draw
    imp = window.imp
    out: dict[str, Any] = {"title": window.title, "rois": window.rois.rows()}
    if imp is None:
        return out
    out.update(
        width=imp.getWidth(),
        height=imp.getHeight(),
        bit_depth=imp.getBitDepth(),
        dimensions=[int(v) for v in imp.getDimensions()],  # w, h, c, z, t
        composite=bool(imp.isComposite()),
        mode=int(imp.getMode()),
        position=[imp.getC(), imp.getZ(), imp.getT()],
        slice_label=str(imp.getStack().getSliceLabel(imp.getCurrentSlice())),
        channels=[],
        axis_keys={a: [list(k) for k in window.index.keys.get(a, [])] for a in "czt"},
        closed=window.closed,
        reopened=window.reopened,
        virtual=bool(imp.getStack().isVirtual()),
        files=window.files.census() if window.files is not None else {},
    )
    if window.show_window and not window.closed:
        out["window"] = screen.window_geometry(window.ij, imp)
    for _, (lut, lo, hi) in sorted(window.channel_state().items()):
        out["channels"].append({"lut_max_rgb": list(lut_end_rgb(lut)), "display_range": [lo, hi]})
    if planes:
        stack = imp.getStack()
        out["planes"] = {}
        for c, z, t in planes:
            values = _read(window, stack, (c, z, t))
            out["planes"][f"{c},{z},{t}"] = {
                "sum": float(values.astype(np.float64).sum()),
                "max": float(values.max()),
                "corner": float(values[0, 0]),
            }
    return out


def _read(window: HyperstackWindow, stack: Any, pos: tuple[int, int, int]) -> np.ndarray:
    """The plane at ``pos`` read by ImageJ's stack; again if its segment was recycled under
    the read (re-pointed to its store chunk, or blank until the hub says where it is)."""
    files = window.files
    if files is not None:
        files.ensure([pos])
    values = from_processor(stack.getProcessor(slice_number(window.dims, *pos)))
    if files is not None and files.ensure([pos]):
        values = from_processor(stack.getProcessor(slice_number(window.dims, *pos)))
    return values


def slice_number(dims: tuple[int, int, int], c: int, z: int, t: int) -> int:
    """ImageJ's 1-based stack index of the 0-based (c, z, t) in a hyperstack of ``dims``."""
    nc, nz, _ = dims
    return 1 + c + z * nc + t * nc * nz
