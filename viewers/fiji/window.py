"""One ImageJ hyperstack fed plane by plane, growing without losing what the user sees.

Every plane lands at its (c, z, t) position (``viewers.hyperstack.HyperstackLayout``). The
stack is virtual (``viewers.fiji.virtual``): each position names the file its plane is in (the
hub's segment, then its store chunk) and ImageJ reads only the planes it draws, so Java never
holds a copy of the plate. A plane at a known position re-points that slice and is re-read if
it is on screen; a new frame or slice only grows the counts; a new channel builds a new stack
over the same files. The image is a CompositeImage from the first plane on, marked
``openAsHyperStack`` before its window exists, so ImageJ gives it one scrollbar per
dimension; ``screen.ensure_hyperstack_window`` checks that after every growth. The LUTs and
display ranges the user set, and the (c, z, t) the user is looking at, survive every change.

The ImagePlus ignores ``flush``: when the user closes its window, pixels, LUTs and overlay
stay, new planes keep arriving into it, and :meth:`reopen` shows it again as it was.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from contract.planes import PlaneRef
from contract.shapes import Shape
from viewers.dtypes import imagej_dtype
from viewers.fiji import screen
from viewers.fiji.channels import ChannelDisplay, channel_value
from viewers.fiji.jvm import ImageJ
from viewers.fiji.luts import COMPOSITE_MODES, WindowError, chosen_color, composite_mode
from viewers.fiji.pixels import to_java_pixels
from viewers.fiji.rois import WindowRois
from viewers.fiji.view import WindowView
from viewers.fiji.virtual import PlaneFiles, set_image_dims
from viewers.hyperstack import HyperstackDisplayConfig, HyperstackLayout, Target
from viewers.imagej_rois import shape_to_rois
from viewers.placement import Placement

log = logging.getLogger(__name__)

__all__ = ["HyperstackWindow", "WindowError"]


class HyperstackWindow(ChannelDisplay, WindowView):
    """A CompositeImage hyperstack, its window (if shown), its ROIs and its channel colours."""

    def __init__(self, ij: ImageJ, title: str, show: bool, fiji_luts: Any = None) -> None:
        self.ij = ij
        self.title = title
        self.show_window = show
        self.fiji_luts = fiji_luts
        self.layout = HyperstackLayout()
        self.files: PlaneFiles | None = None  # where ImageJ reads each (c, z, t), 0-based
        self.width = self.height = 0
        self.dtype: np.dtype | None = None
        self.imp: Any = None
        self.dims = (0, 0, 0)  # channels, slices, frames in the ImagePlus
        self.composite_mode = COMPOSITE_MODES["composite"]
        self.rois = WindowRois(ij, composite_view=True)
        self.closed = False  # the user closed the window; reopened by ``reopen``
        self.reopened = 0
        self.dirty = False  # pixels or LUTs on screen changed: redrawn once per poll
        self.pending = False  # planes beyond the image's dimensions: grown once per poll
        self._shown_new = False  # made and shown since the last draw: painted by show
        self._init_channels()
        self._init_view()

    @property
    def index(self) -> Any:
        """The axis positions (``AxisIndex``), as the recorder and napari keep them."""
        return self.layout.index

    # ------------------------------------------------------------------ planes

    def put_plane(
        self,
        placement: Placement,
        plane: np.ndarray,
        config: HyperstackDisplayConfig,
        ref: PlaneRef | None = None,
    ) -> tuple[int, int, int]:
        """Show ``plane`` at its position; returns the 0-based (c, z, t) it landed on.

        With ``ref`` (where the hub keeps the plane) ImageJ reads the plane from there when it
        draws it; ``plane`` is only looked at here (checks, a new channel's contrast).
        """
        self.check_closed()
        mode = composite_mode(config) if self.imp is None else self.composite_mode
        self._check(plane)
        chosen = chosen_color(config, channel_value(placement))
        if chosen is not None:
            self._lut(chosen)  # an unknown LUT refuses the plane before it leaves a trace
        if self.imp is None:
            self.composite_mode = mode
            self.rois.composite_view = mode == COMPOSITE_MODES["composite"]
        (c, z, t), _ = self.layout.position(placement)
        assert self.files is not None
        self.files.put((c, z, t), plane, ref)
        self._channel_settings(c, channel_value(placement), plane, config)
        self.refresh([(c, z, t)], plane)
        if self.imp is None or self.layout.dims() != self.dims:
            self.pending = True  # the image is made or grown once, at ``settle``
        self.noted((c, z, t))
        return c, z, t

    def settle(self) -> bool:
        """Make or grow the image for every plane received since the last call, at once, and
        apply a deferred goto; True if that goto moved (and so drew) the image.

        Planes arriving together (one poll: a site's channels, a new frame's slices) cost one
        growth, not one each; a new channel's growth re-reads what is on screen, so this
        matters most when a plate starts.
        """
        dims = self.layout.dims()
        self.pending = False
        if self.files is None:
            return False
        if self.imp is None:
            self._create(dims)
            self.dirty = True
        elif dims != self.dims:
            self._grow(dims)
        self._configure_channels()
        if self.deferred is None:
            return False
        target, self.deferred = self.deferred, None
        before, dirty = (self.imp.getC(), self.imp.getZ(), self.imp.getT()), self.dirty
        self.dirty = False  # what changed is read and drawn by the move, if it moves
        moved = self.goto(target) != before
        self.dirty = self.dirty or (dirty and not moved)
        return moved

    def refresh(
        self, positions: list[tuple[int, int, int]], plane: np.ndarray | None = None
    ) -> None:
        """Give the image the planes at ``positions`` that are on screen (``plane``, when
        given, holds the one position's pixels, in hand: no read); drawn by :meth:`draw`."""
        imp = self.imp
        shown = [p for p in positions if self.in_view(p)]
        if not shown or self.files is None or imp is None:
            return
        if self.moving():  # read by the deferred goto's move
            self.dirty = True
            return
        z, t = imp.getZ() - 1, imp.getT() - 1
        composite = imp.getNChannels() > 1 and imp.getMode() == COMPOSITE_MODES["composite"]
        for c, _, _ in shown:
            if plane is not None and len(shown) == 1:  # a bulk copy, 5x faster than a read
                pixels, _ = to_java_pixels(self.ij, self.files.fit(plane))
            else:
                pixels = self.files.read((c, z, t))
            if imp.getC() == c + 1:
                imp.getProcessor().setPixels(pixels)
            if composite:
                channel_processor = imp.getProcessor(c + 1)
                if channel_processor is not None:  # the composite's per-channel processor
                    channel_processor.setPixels(pixels)
        self.dirty = True

    def draw(self, patient: bool = False) -> bool:
        """Draw what changed since the last draw, once (a composite of four 2048² channels
        costs ImageJ about as much as reading them); True if it drew.

        ``patient`` (the viewer's loop) lets a window's first planes wait for the rest of
        their site (:meth:`waiting`): the image is then made with all its channels at once.
        """
        if not (self.dirty or self.pending or self.deferred is not None):
            return False
        if patient and self.waiting():
            return False
        moved = self.settle()  # growth alone redraws nothing: what is on screen did not change
        drew = (self.dirty or moved) and self.imp is not None
        if self.dirty and self.imp is not None and not self._shown_new:  # show painted it
            self.imp.updateAndDraw()
        self.dirty = False
        self._shown_new = False
        return drew

    def sweep(self) -> None:
        """Between polls: re-point planes whose segment went; re-read any read torn."""
        if self.files is not None:
            self.refresh(self.files.sweep(self.view()))

    def _recheck(self) -> None:
        """After ImageJ read the planes in view: re-read those whose segment was recycled."""
        if self.files is not None and self.imp is not None:
            self.refresh(self.files.recheck(self.view()))

    def relocated(self, refs: list[PlaneRef]) -> None:
        """Planes the hub moved to its store: re-point them; redraw those that were blank."""
        if self.files is not None:
            self.refresh(self.files.relocate(refs))

    def _check(self, plane: np.ndarray) -> None:
        """The first plane fixes the window's size and type; later ones must fit them."""
        if self.dtype is None:
            self.first_plane = time.monotonic()
            self.height, self.width = plane.shape
            self.dtype = imagej_dtype(plane.dtype)
            self.files = PlaneFiles(self.ij, self.width, self.height, self.dtype)
        if plane.shape[0] > self.height or plane.shape[1] > self.width:
            raise WindowError(
                f"a {plane.shape[1]}x{plane.shape[0]} plane is larger than window "
                f"{self.title!r} ({self.width}x{self.height})"
            )
        if imagej_dtype(plane.dtype) != self.dtype and not np.can_cast(
            imagej_dtype(plane.dtype), self.dtype, "safe"
        ):
            raise WindowError(
                f"a {plane.dtype} plane does not fit window {self.title!r} of {self.dtype}"
            )

    def _create(self, dims: tuple[int, int, int]) -> None:
        """A CompositeImage marked as hyperstack before its window exists, at (1, 1, 1)."""
        assert self.files is not None
        imp = self.ij.ImagePlus(self.title, self.files.stack(dims, self.layout.labels(dims)))
        imp.setDimensions(*dims)
        imp.setOpenAsHyperStack(True)
        imp = self.ij.CompositeImage(imp, self.composite_mode)
        imp.setOpenAsHyperStack(True)
        imp.setIgnoreFlush(True)  # a closed window keeps the image: see ``reopen``
        self.imp, self.dims = imp, dims
        imp.setOverlay(self.rois.overlay)
        self.rois.position_all(imp)
        self._configure_channels()  # before show: its first paint is the right one
        if self.show_window:
            self._shown_new = True
            screen.show_blended_once(imp)
            screen.ensure_hyperstack_window(self.ij, imp)
            imp.setPosition(1, 1, 1)
        self._recheck()

    def _grow(self, dims: tuple[int, int, int]) -> None:
        """New component values: keep LUTs, display ranges, position and window.

        With the same channels and scrollbars (another frame of a plate, another slice) the
        stack and image only get new counts (``virtual.grow_in_place``): nothing is re-read.
        Otherwise a new stack replaces the old one, as ImageJ does.
        """
        assert self.files is not None
        imp = self.imp
        labels = self.layout.labels(dims)
        imp.setOpenAsHyperStack(True)
        window = None if self.closed else imp.getWindow()
        if (
            dims[0] == self.dims[0]
            and imp.getStack().isVirtual()  # ImageJ keeps a one-plane image as a plain one
            # a closed window's image gets a new stack (measured: grown in place, it drew
            # its old frame once reopened; a new stack, as ImageJ makes, draws the right one)
            and (screen.grow_in_place(imp, dims) if window is not None else not self.closed)
        ):
            self.files.grow_in_place(imp.getStack(), dims, labels)
            set_image_dims(imp, dims)
            self.dims = dims
            self.rois.position_all(imp)
            if window is not None:
                window.repaint()  # the subtitle's counts; the image is as it was
            return
        saved = self.channel_state()
        position = (imp.getC(), imp.getZ(), imp.getT())
        if window is not None:
            screen.grow_in_place(imp, dims)
        imp.setStack(self.files.stack(dims, labels), *dims)
        self.dims = dims
        if not self.closed:
            screen.ensure_hyperstack_window(self.ij, imp)
        self.rois.position_all(imp)
        self._restore_channel_state(saved)
        if self.closed:
            self._remembered = saved
        self._recolor_defaults()
        imp.setPosition(*position)
        imp.updateAndDraw()  # a CompositeImage sizes its channel LUTs for a new stack here
        self._recheck()

    # ------------------------------------------------------------------ ROIs

    def add_shapes(self, placement: Placement, shapes: list[Shape]) -> int:
        """Decode every shape's ROI bytes in ImageJ and add it at each position it targets."""
        self.check_closed()
        self.settle()
        targets = self.layout.shape_targets(placement)
        if self.imp is not None and self.layout.dims() != self.dims:
            self._grow(self.layout.dims())
        encoded = []
        for target in targets:
            for shape in shapes:
                c, z, t = target
                for roi in shape_to_rois(shape, c, z, t, index=len(self.rois) + len(encoded)):
                    encoded.append((roi.tobytes(), roi.name, target))
        self.rois.add_many(encoded, self.imp)
        if self.imp is not None:
            self.dirty = True
        return len(encoded)

    # ------------------------------------------------------------------ window life

    def check_closed(self, remember: bool = False) -> bool:
        """Notice a window the user closed; the image stays, detached from the dead window.

        ``remember`` (on every status heartbeat) records the channels' LUTs and ranges while
        the window is open: ImageJ's File > Close resets a CompositeImage's LUTs on the way
        out, so a reopened window takes them from this record.
        """
        open_before = self.show_window and self.imp is not None and not self.closed
        if open_before and screen.is_closed(self.imp):
            log.info("window %r was closed by the user", self.title)
            self.closed = True
            self.imp.setWindow(None)
        elif open_before and remember:
            self._remembered = self.channel_state()
        return self.closed

    def reopen(self) -> None:
        """Show a closed window again with its planes, LUTs, ranges, ROIs and position."""
        if not self.check_closed():
            return
        imp = self.imp
        position = (imp.getC(), imp.getZ(), imp.getT())
        saved = self.channel_state()
        imp.setOverlay(self.rois.overlay)
        imp.show()
        self.closed = False
        screen.ensure_hyperstack_window(self.ij, imp)
        self._restore_channel_state(saved)
        imp.setPosition(*position)
        self.dirty = True
        self._recheck()
        self.draw()
        self.reopened += 1
        log.info("window %r reopened", self.title)

    def refresh_title(self) -> None:
        """Name the well on screen in the window title (``viewerhub: B03``) on a plate."""
        if self.imp is not None and not self.closed and self.show_window:
            screen.follow_well(self.imp, self.title, self.layout.names, self.index.keys)

    def goto(self, target: Target) -> tuple[int, int, int]:
        """Show the plane at ``target`` (reopening a closed window); returns 1-based (c, z, t).

        ``target`` is 0-based, from ``viewers.hyperstack.goto_target``; an axis that is None
        keeps the current position.
        """
        self.settle()
        if self.imp is None:
            raise KeyError(f"window {self.title!r} has no image yet")
        self.reopen()
        current = (self.imp.getC(), self.imp.getZ(), self.imp.getT())
        position = tuple(cur if p is None else p + 1 for p, cur in zip(target, current))
        if self.files is not None:  # every channel of the new z, t may be drawn
            _, z, t = position
            self.files.ensure([(c, z - 1, t - 1) for c in range(self.dims[0])])
        if position != current:  # a deferred goto to where a new window opened: drawn
            self.imp.setPosition(*position)  # ImageJ reads and draws the new position
            self._recheck()
        if self.show_window and self.imp.getWindow() is not None:
            self.imp.getWindow().toFront()
        return int(self.imp.getC()), int(self.imp.getZ()), int(self.imp.getT())

    def close(self) -> None:
        self.rois.clear()
        if self.imp is not None:
            self.imp.changes = False
            self.imp.setIgnoreFlush(False)
            self.imp.close()
        if self.files is not None:
            self.files.close()
