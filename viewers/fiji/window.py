"""One ImageJ hyperstack window fed plane by plane, growing without losing what it shows.

Every plane lands at its (c, z, t) position, given by ``viewers.placement``. A plane at a known
position replaces that slice's pixel array (one bulk copy, see ``pixels``); a new timepoint
appends slices; a new channel or slice re-orders the stack's existing pixel arrays (by
reference, no pixel copy). The window object, its LUTs and the display ranges the user set
are kept across every change; a second channel turns the image into a CompositeImage once.

ROIs go into the window's own (hidden) ROI Manager and its overlay, decoded in memory from
roifile bytes by ImageJ's ``RoiDecoder``, each with its hyperstack position.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from viewers.dtypes import imagej_dtype
from viewers.fiji.jvm import ImageJ
from viewers.fiji.pixels import from_processor, to_java_pixels
from viewers.hyperstack import HyperstackDisplayConfig, imagej_lut_name
from viewers.imagej_rois import shape_to_rois
from viewers.placement import AxisIndex, Placement
from viewers.shapes import Shape

log = logging.getLogger(__name__)

#: Names LutLoader.getLut knows without LUT files (ImageJ 1.x built-ins).
BUILTIN_LUTS = {
    "Grays": "grays",
    "Fire": "fire",
    "Ice": "ice",
    "Spectrum": "spectrum",
    "3-3-2 RGB": "3-3-2 rgb",
    "Red": "red",
    "Green": "green",
    "Blue": "blue",
    "Cyan": "cyan",
    "Magenta": "magenta",
    "Yellow": "yellow",
    "Red/Green": "redgreen",
}
COMPOSITE_MODES = {"composite": 1, "color": 2, "grayscale": 3}  # IJ.COMPOSITE, COLOR, GRAYSCALE


class WindowError(ValueError):
    """An item does not fit its window (size, type) or names an unavailable LUT."""


def make_lut(ij: ImageJ, name: str, fiji_luts: Any = None) -> Any:
    """An ImageJ LUT by name: built-in, or a .lut file of a Fiji installation."""
    canonical = imagej_lut_name(name)
    if canonical in BUILTIN_LUTS:
        return ij.LUT(ij.LutLoader.getLut(BUILTIN_LUTS[canonical]), 0.0, 255.0)
    if fiji_luts is not None:
        path = fiji_luts / f"{canonical}.lut"
        if path.exists():
            return ij.LutLoader.openLut(str(path))
    raise WindowError(
        f"LUT {canonical!r} is not built into ImageJ and no Fiji LUT folder has it; "
        f"built-in: {', '.join(BUILTIN_LUTS)}"
    )


def composite_mode(config: HyperstackDisplayConfig) -> int:
    """ImageJ's composite display mode from the config's ``composite_mode`` key."""
    name = str(config.extra.get("composite_mode", "composite")).lower()
    if name not in COMPOSITE_MODES:
        raise WindowError(f"composite_mode {name!r} is not one of {sorted(COMPOSITE_MODES)}")
    return COMPOSITE_MODES[name]


def _channel_value(placement: Placement) -> Any:
    """The item's ``channel`` component, whether it is on the C axis or names the window."""
    on_axis = dict(zip(placement.axis_components.get("c", ()), placement.axes.get("c", ())))
    return on_axis.get("channel", dict(placement.window).get("channel"))


def _appends(old: tuple[int, int, int], new: tuple[int, int, int]) -> bool:
    """True if growing ``old`` to ``new`` only adds slices after the existing ones.

    The stack is ordered c fastest, then z, then t: growing the outermost axis that has more
    than one value keeps every existing slice's number, so it is an append, not a rebuild.
    """
    grown = [i for i in range(3) if new[i] != old[i]]
    if len(grown) != 1:
        return False
    axis = grown[0]
    return all(old[j] == 1 for j in range(axis + 1, 3))


class HyperstackWindow:
    """An ImagePlus (CompositeImage from two channels on) and its ROI Manager."""

    def __init__(self, ij: ImageJ, title: str, show: bool, fiji_luts: Any = None) -> None:
        self.ij = ij
        self.title = title
        self.show_window = show
        self.fiji_luts = fiji_luts
        self.index = AxisIndex()
        self.pixels: dict[tuple[int, int, int], Any] = {}  # (c, z, t) 0-based -> Java array
        self.width = self.height = 0
        self.dtype: np.dtype | None = None
        self.imp: Any = None
        self.dims = (0, 0, 0)  # channels, slices, frames in the ImagePlus
        # A hidden ROI Manager per window (not the global one); AWT needs a display for it,
        # so headless windows keep their ROIs in the overlay and ``rois`` only.
        self.roi_manager = None if ij.headless else ij.RoiManager(True)
        self.rois: list[Any] = []
        self.roi_targets: list[tuple[int, int, int]] = []  # 0-based (c, z, t) of each ROI
        self.overlay = ij.Overlay()
        self.configured_channels: set[int] = set()
        self.composite_mode = COMPOSITE_MODES["composite"]
        self._blank: Any = None

    # ------------------------------------------------------------------ planes

    def position(self, placement: Placement) -> tuple[tuple[int, int, int], bool]:
        grew = False
        out = []
        for axis in "czt":
            pos, new = self.index.position(axis, placement.axes.get(axis, ()))
            out.append(pos)
            grew |= new
        return (out[0], out[1], out[2]), grew

    def put_plane(
        self, placement: Placement, plane: np.ndarray, config: HyperstackDisplayConfig
    ) -> tuple[int, int, int]:
        """Show ``plane`` at its position; returns the 0-based (c, z, t) it landed on."""
        if self.imp is None:
            self.composite_mode = composite_mode(config)
        plane = self._fit(plane)
        (c, z, t), _ = self.position(placement)
        pixels, _ = to_java_pixels(self.ij, plane)
        self.pixels[(c, z, t)] = pixels
        dims = tuple(max(1, self.index.size(a)) for a in "czt")
        if self.imp is None:
            self._create(dims)
        elif dims != self.dims:
            self._grow(dims)
        else:  # same dimensions: swap that one slice's pixel array
            n = self._slice_number(c, z, t)
            self.imp.getStack().setPixels(pixels, n)
            if self.imp.getCurrentSlice() == n:
                self.imp.updateAndDraw()
        if c not in self.configured_channels:
            self._configure_channel(c, _channel_value(placement), plane, config)
        return c, z, t

    def _fit(self, plane: np.ndarray) -> np.ndarray:
        if self.dtype is None:
            self.height, self.width = plane.shape
            self.dtype = imagej_dtype(plane.dtype)
        if plane.shape[0] > self.height or plane.shape[1] > self.width:
            raise WindowError(
                f"a {plane.shape[1]}x{plane.shape[0]} plane is larger than window "
                f"{self.title!r} ({self.width}x{self.height})"
            )
        if imagej_dtype(plane.dtype) != self.dtype:
            if not np.can_cast(imagej_dtype(plane.dtype), self.dtype, "safe"):
                raise WindowError(
                    f"a {plane.dtype} plane does not fit window {self.title!r} of {self.dtype}"
                )
            plane = plane.astype(self.dtype)
        if plane.shape != (self.height, self.width):  # smaller: pad, top-left aligned
            padded = np.zeros((self.height, self.width), dtype=plane.dtype)
            padded[: plane.shape[0], : plane.shape[1]] = plane
            plane = padded
        return plane

    def _slice_number(self, c: int, z: int, t: int) -> int:
        nc, nz, _ = self.dims
        return 1 + c + z * nc + t * nc * nz

    def _blank_pixels(self) -> Any:
        """One shared all-zero array for positions no plane has reached yet."""
        if self._blank is None:
            self._blank, _ = to_java_pixels(
                self.ij, np.zeros((self.height, self.width), dtype=self.dtype)
            )
        return self._blank

    def _stack(self, dims: tuple[int, int, int]) -> Any:
        nc, nz, nt = dims
        stack = self.ij.ImageStack(self.width, self.height)
        for t in range(nt):
            for z in range(nz):
                for c in range(nc):
                    stack.addSlice(self._label(c, z, t), self._pixels_at(c, z, t))
        return stack

    def _pixels_at(self, c: int, z: int, t: int) -> Any:
        pixels = self.pixels.get((c, z, t))
        return pixels if pixels is not None else self._blank_pixels()

    def _label(self, c: int, z: int, t: int) -> str:
        parts = []
        for axis, pos in zip("czt", (c, z, t)):
            keys = self.index.keys.get(axis)
            if keys and keys[pos]:
                parts.append(f"{axis}={'/'.join(map(str, keys[pos]))}")
        return " ".join(parts)

    def _create(self, dims: tuple[int, int, int]) -> None:
        imp = self.ij.ImagePlus(self.title, self._stack(dims))
        imp.setDimensions(*dims)
        imp.setOpenAsHyperStack(True)
        if dims[0] > 1:
            imp = self.ij.CompositeImage(imp, self.composite_mode)
        self.imp, self.dims = imp, dims
        imp.setOverlay(self.overlay)
        self._position_rois()
        if self.show_window:
            imp.show()

    def _grow(self, dims: tuple[int, int, int]) -> None:
        """New component values: keep pixels, LUTs, display ranges, position and window."""
        saved = self._channel_state()
        position = (self.imp.getC(), self.imp.getZ(), self.imp.getT())
        if _appends(self.dims, dims):  # new slices go at the end of the stack, in order
            stack = self.imp.getStack()
            first = self.imp.getStackSize()
            nc, nz, _ = dims
            for n in range(first, dims[0] * dims[1] * dims[2]):
                c, z, t = n % nc, (n // nc) % nz, n // (nc * nz)
                stack.addSlice(self._label(c, z, t), self._pixels_at(c, z, t))
        else:
            stack = self._stack(dims)
        if dims[0] > 1 and not self.imp.isComposite():
            window_was_shown = self.imp.getWindow() is not None
            old = self.imp
            imp = self.ij.ImagePlus(self.title, stack)
            imp.setDimensions(*dims)
            imp.setOpenAsHyperStack(True)
            self.imp = self.ij.CompositeImage(imp, self.composite_mode)
            self.imp.setOverlay(self.overlay)
            if window_was_shown:
                old.changes = False
                old.close()
                self.imp.show()
        else:
            self.imp.setStack(stack, *dims)
        self.dims = dims
        self._position_rois()
        self._restore_channel_state(saved)
        self.imp.setPosition(*position)
        self.imp.updateAndDraw()

    # ------------------------------------------------------------------ display

    def _configure_channel(
        self, c: int, channel_value: Any, plane: np.ndarray, config: HyperstackDisplayConfig
    ) -> None:
        """LUT and contrast for a channel's first plane; never touched again afterwards."""
        lut = make_lut(self.ij, config.color_for(channel_value), self.fiji_luts)
        if config.contrast_limits is not None and not config.auto_contrast:
            lo, hi = config.contrast_limits
        else:
            lo, hi = (float(v) for v in np.percentile(plane, (0.1, 99.9)))
            if hi <= lo:
                hi = lo + 1
        self._set_channel(c, lut, lo, hi)
        self.configured_channels.add(c)

    def _set_channel(self, c: int, lut: Any, lo: float, hi: float) -> None:
        imp = self.imp
        if imp.isComposite():
            lut = lut.clone()
            lut.min, lut.max = lo, hi
            imp.setChannelLut(lut, c + 1)
            imp.setPositionWithoutUpdate(c + 1, imp.getZ(), imp.getT())
            imp.setDisplayRange(lo, hi)
        else:
            imp.setLut(lut)
            imp.setDisplayRange(lo, hi)
        imp.updateAndDraw()

    def _channel_state(self) -> dict[int, tuple[Any, float, float]]:
        imp = self.imp
        if imp.isComposite():
            out = {}
            for c in range(self.dims[0]):
                lut = imp.getChannelLut(c + 1)
                out[c] = (lut, float(lut.min), float(lut.max))
            return out
        return {
            0: (imp.getProcessor().getLut(), imp.getDisplayRangeMin(), imp.getDisplayRangeMax())
        }

    def _restore_channel_state(self, saved: dict[int, tuple[Any, float, float]]) -> None:
        for c, (lut, lo, hi) in saved.items():
            if c in self.configured_channels:
                self._set_channel(c, lut, lo, hi)

    # ------------------------------------------------------------------ ROIs

    def add_shapes(self, placement: Placement, shapes: list[Shape]) -> int:
        """Decode every shape's ROI bytes in ImageJ and add it to the manager and overlay."""
        (c, z, t), _ = self.position(placement)
        if self.imp is not None:
            dims = tuple(max(1, self.index.size(a)) for a in "czt")
            if dims != self.dims:
                self._grow(dims)
        added = 0
        base = len(self.rois)
        for n, shape in enumerate(shapes):
            for roi in shape_to_rois(shape, c, z, t, index=base + n):
                self.add_roi_bytes(roi.tobytes(), roi.name, (c, z, t))
                added += 1
        if self.imp is not None:
            self.imp.updateAndDraw()
        return added

    def add_roi_bytes(self, data: bytes, name: str, target: tuple[int, int, int]) -> Any:
        """Decode ImageJ .roi bytes in memory (no temp file) and add the ROI at ``target``."""
        java_bytes = self.ij.jpype.JArray(self.ij.jpype.JByte)(data)
        roi = self.ij.RoiDecoder(java_bytes, f"{name}.roi").getRoi()
        if roi is None:
            raise WindowError(f"ImageJ could not decode ROI {name!r} ({len(data)} bytes)")
        self._position_roi(roi, target)
        if self.roi_manager is not None:
            self.roi_manager.add(roi, -1)
        self.overlay.add(roi)
        self.rois.append(roi)
        self.roi_targets.append(target)
        return roi

    def _position_roi(self, roi: Any, target: tuple[int, int, int]) -> None:
        """ImageJ draws a ROI by (c, z, t) only on a hyperstack, else by slice number."""
        if self.imp is None:
            return
        if self.imp.isHyperStack():
            roi.setPosition(target[0] + 1, target[1] + 1, target[2] + 1)
        else:
            roi.setPosition(self._slice_number(*target) if self.imp.getStackSize() > 1 else 0)

    def _position_rois(self) -> None:
        for roi, target in zip(self.rois, self.roi_targets):
            self._position_roi(roi, target)

    def roi_position(self, roi: Any) -> list[int]:
        """A ROI's 1-based (c, z, t) as ImageJ holds it, whichever way it is stored."""
        if roi.hasHyperStackPosition():
            return [roi.getCPosition(), roi.getZPosition(), roi.getTPosition()]
        n = roi.getPosition()
        if n == 0:
            return [0, 0, 0]
        nc, nz, _ = self.dims
        n -= 1
        return [n % nc + 1, (n // nc) % nz + 1, n // (nc * nz) + 1]

    # ------------------------------------------------------------------ inspection

    def goto(self, placement: Placement) -> None:
        (c, z, t), _ = self.position(placement)
        if self.imp is not None:
            self.imp.setPosition(c + 1, z + 1, t + 1)
            self.imp.updateAndDraw()

    def flatten_rgb(self) -> np.ndarray:
        """The current plane as shown (LUTs, composite, overlay) as an RGB array."""
        flat = self.imp.flatten()
        argb = from_processor(flat.getProcessor())
        rgb = np.empty(argb.shape + (3,), np.uint8)
        rgb[..., 0] = (argb >> 16) & 0xFF
        rgb[..., 1] = (argb >> 8) & 0xFF
        rgb[..., 2] = argb & 0xFF
        return rgb

    def describe(self, planes: list[tuple[int, int, int]] | None = None) -> dict[str, Any]:
        """Dimensions, LUTs, display ranges, ROIs and (optionally) plane pixels, from ImageJ."""
        imp = self.imp
        out: dict[str, Any] = {"title": self.title, "rois": self.roi_rows()}
        if imp is None:
            return out
        out.update(
            width=imp.getWidth(),
            height=imp.getHeight(),
            bit_depth=imp.getBitDepth(),
            dimensions=[int(v) for v in imp.getDimensions()],  # w, h, c, z, t
            composite=bool(imp.isComposite()),
            position=[imp.getC(), imp.getZ(), imp.getT()],
            channels=[],
            axis_keys={a: [list(k) for k in self.index.keys.get(a, [])] for a in "czt"},
        )
        state = self._channel_state()
        for _, (lut, lo, hi) in sorted(state.items()):
            rgb = np.array(memoryview(lut.getBytes())).view(np.uint8)  # 256 r, 256 g, 256 b
            out["channels"].append(
                {
                    "lut_max_rgb": [int(rgb[255]), int(rgb[511]), int(rgb[767])],
                    "display_range": [lo, hi],
                }
            )
        if planes:
            stack = imp.getStack()
            out["planes"] = {}
            for c, z, t in planes:
                processor = stack.getProcessor(self._slice_number(c, z, t))
                values = from_processor(processor)
                out["planes"][f"{c},{z},{t}"] = {
                    "sum": float(values.astype(np.float64).sum()),
                    "max": float(values.max()),
                    "corner": float(values[0, 0]),
                }
        return out

    def roi_rows(self) -> list[dict[str, Any]]:
        rows = []
        source = self.roi_manager.getRoisAsArray() if self.roi_manager else self.rois
        for roi in source:
            polygon = roi.getFloatPolygon()
            rows.append(
                {
                    "name": str(roi.getName()),
                    "type": int(roi.getType()),
                    "type_name": str(roi.getTypeAsString()),
                    "position": self.roi_position(roi),
                    "x": [float(v) for v in polygon.xpoints[: polygon.npoints]],
                    "y": [float(v) for v in polygon.ypoints[: polygon.npoints]],
                    "bounds": [
                        roi.getXBase(),
                        roi.getYBase(),
                        roi.getFloatWidth(),
                        roi.getFloatHeight(),
                    ],
                }
            )
        return rows

    def close(self) -> None:
        if self.imp is not None:
            self.imp.changes = False
            self.imp.close()
        if self.roi_manager is not None:
            self.roi_manager.reset()
            self.roi_manager.dispose()
