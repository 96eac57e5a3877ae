"""A hyperstack's planes as files ImageJ reads on demand (``FileInfoVirtualStack``).

Every (c, z, t) position of a window owns one ``ij.io.FileInfo`` naming where its raw
little-endian plane is: the hub's segment under /dev/shm while the plane is hot, its chunk
file in the scene store's OME-Zarr plate once cold (``contract.planes.PlaneRef.file``). ImageJ
reads a plane only when it is drawn or asked for, so Java holds the planes in view, never the
plate: heap and RSS stay flat whatever the number of planes.

Why every position always names a readable file: ImageJ 1.53t's ``FileInfoVirtualStack``
answers a missing file with a line in the Log window (opened if needed) and a blank plane. So
a position no plane has reached reads a sparse all-zero file of the plane's size (no memory
until written, and never written), and a hot plane whose segment is gone before the hub's
``cold`` message arrived (the hub evicts after writing the plane to disk) is pointed at the
blank file until :meth:`PlaneFiles.relocate` names its chunk. :meth:`PlaneFiles.sweep`
finds such planes between polls; :meth:`PlaneFiles.ensure` just before the adapter draws.

A hot plane's segment can be recycled under a read: the hub renames a segment it lets go and
leases it to a producer, who overwrites it, so a read that opened the file just before the
rename may copy part of a later plane. Such a read is detected after it, as
``contract.shm.open_pinned``/``still_named`` do for Python readers: each hot position
remembers the inode it names, and once its name no longer names that inode the plane is read
again from its store chunk (or shown blank until the hub says where it is). The adapter's
own reads go through ``PlaneRef.read`` (pinned, checked); after ImageJ reads planes itself
on the viewer's thread (a new window, a goto, a new stack) :meth:`PlaneFiles.recheck` looks
at once; after the user scrolls (ImageJ reads on AWT's thread) :meth:`PlaneFiles.sweep` looks
four times a second, and the view counts as checked once it was the same at two sweeps.

Planes ImageJ cannot read raw as the adapter shows them (a dtype converted by
``viewers.dtypes``, a plane smaller than its window, an item without references) are written
once, converted, to a private file: rare, and never kept in Java. Private folders are named
with the viewer's process id; one left by a viewer that was killed is removed by the next.

The stack grows without a new ``ImageStack``: ``ImagePlus.setStack`` (and ``setDimensions``)
would re-read every channel in view (hundreds of ms for four 2048x2048 planes, for every new
frame of a plate), so :func:`grow_in_place` swaps the FileInfo array inside the same stack and
the image's counts, by reflection, when the window keeps its scrollbars.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from contract.planes import PlaneGoneError, PlaneRef, chunk_file
from viewers.dtypes import to_imagej
from viewers.fiji.jvm import ImageJ
from viewers.fiji.pixels import to_java_pixels
from viewers.fiji.screen import declared_field

log = logging.getLogger(__name__)

Position = tuple[int, int, int]

#: How often hot planes the hub may evict without a message are checked (see ``sweep``).
SWEEP_S = 0.25

#: ImageJ raw file types of the pixel types a window holds (``viewers.dtypes``)
_FILE_TYPES = {"uint8": "GRAY8", "uint16": "GRAY16_UNSIGNED", "float32": "GRAY32_FLOAT"}
_BIT_DEPTHS = {"uint8": 8, "uint16": 16, "float32": 32}


class PlaneFiles:
    """The FileInfo of every position of one window, and where each one points."""

    def __init__(self, ij: ImageJ, width: int, height: int, dtype: np.dtype) -> None:
        self.ij = ij
        self.width, self.height, self.dtype = width, height, np.dtype(dtype)
        self._file_info = ij.jpype.JClass("ij.io.FileInfo")
        sweep_dead_folders()
        self._private = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))
        self.blank = self._private / "blank.raw"
        with open(self.blank, "wb") as handle:  # sparse: costs no memory or disk
            handle.truncate(width * height * self.dtype.itemsize)
        self.infos: dict[Position, Any] = {}
        self.refs: dict[Position, PlaneRef] = {}  # positions showing a hub plane
        self.gone: set[Position] = set()  # hub planes pointed at blank until relocated
        self.paths: dict[int, str] = {}  # id(FileInfo) -> the file it names
        self.inodes: dict[int, int] = {}  # id(FileInfo) -> the inode it was pointed at
        self.checked_view: tuple[Position, ...] | None = None  # read and checked (recheck)
        self._last_view: tuple[Position, ...] | None = None  # at the last sweep
        self._next_sweep = 0.0
        self._positions: dict[int, tuple[PlaneRef, Position]] = {}  # id(ref) -> where

    # ------------------------------------------------------------------ positions

    def info(self, pos: Position) -> Any:
        """The FileInfo at ``pos``; a position no plane reached yet reads the blank file."""
        info = self.infos.get(pos)
        if info is None:
            info = self._new_info()
            self._point(info, str(self.blank), 0)
            self.infos[pos] = info
        return info

    def put(self, pos: Position, plane: np.ndarray, ref: PlaneRef | None) -> None:
        """Point ``pos`` at its plane: the hub's file if ImageJ can read it raw, else a copy."""
        old = self.refs.pop(pos, None)
        if old is not None:
            self._positions.pop(id(old), None)
        self.gone.discard(pos)
        info = self.info(pos)
        located = _locate(ref) if ref is not None and self._readable(ref) else None
        if located is None:
            path = self._private / f"plane-{pos[0]}-{pos[1]}-{pos[2]}.raw"
            self.fit(plane).astype(self.dtype.newbyteorder("<"), copy=False).tofile(path)
            self._point(info, str(path), 0)
            return
        assert ref is not None
        self._point(info, *located)
        self.refs[pos] = ref
        self._positions[id(ref)] = (ref, pos)

    def relocate(self, refs: list[PlaneRef]) -> list[Position]:
        """Re-point the positions of planes the hub moved to its store; returns those that
        read blank meanwhile (gone), to be drawn again if on screen."""
        moved = []
        for ref in refs:
            entry = self._positions.get(id(ref))
            if entry is None or entry[0] is not ref:
                continue
            pos = entry[1]
            located = _locate(ref)
            if located is None:
                log.debug("relocated plane at %s has no file yet", pos)
                continue
            self._point(self.infos[pos], *located)
            if pos in self.gone:
                self.gone.discard(pos)
                moved.append(pos)
        return moved

    def ensure(self, positions: list[Position]) -> list[Position]:
        """Re-point planes whose segment is no longer the file pointed at (evicted, or recycled
        by the hub: then a read from it may hold a later plane); returns the positions changed.

        Called just before the adapter draws (so ImageJ never meets a missing file), after
        ImageJ read (:meth:`recheck`) and, via :meth:`sweep`, between polls.
        """
        changed = []
        for pos in positions:
            ref = self.refs.get(pos)
            if ref is None or pos in self.gone:
                continue
            info = self.infos[pos]
            if self._intact(info):
                continue
            located = _locate_cold(ref)  # not the segment: its name may be gone or reused
            if located is not None:
                self._point(info, *located)
            else:
                log.debug("plane at %s is gone until the hub says where it is", pos)
                self._point(info, str(self.blank), 0)
                self.gone.add(pos)
            changed.append(pos)
        return changed

    def recheck(self, view: list[Position]) -> list[Position]:
        """After ImageJ read the planes in ``view`` on this thread: those whose segment was
        recycled meanwhile, re-pointed, to be read again (:meth:`read`) and drawn."""
        self.checked_view = tuple(view)
        return self.ensure(view)

    def read(self, pos: Position) -> Any:
        """The plane at ``pos`` as a new Java pixel array. A hub plane is read through
        ``PlaneRef.read`` (a segment is checked against recycling after the copy); a private
        copy or the blank file as ImageJ's stack reads them."""
        self.ensure([pos])
        info, ref = self.info(pos), self.refs.get(pos)
        if ref is not None and pos not in self.gone:
            try:
                return to_java_pixels(self.ij, self.fit(ref.read()))[0]
            except PlaneGoneError:  # recycled or evicted since the check: its chunk or blank
                self.ensure([pos])
        processor = self.ij.jpype.JClass("ij.io.FileOpener")(info).openProcessor()
        if processor is None:  # vanished between the check and the read: blank
            self.ensure([pos])
            processor = self.ij.jpype.JClass("ij.io.FileOpener")(self.info(pos)).openProcessor()
        return processor.getPixels()

    def sweep(self, view: list[Position]) -> list[Position]:
        """Four times a second, :meth:`ensure` for hot planes the hub has already written to
        its store (no ``cold`` message will come before their segment goes: a stat each) and
        for the planes in ``view``; returns positions to read again and draw if on screen:
        gone planes found again, and planes in a view ImageJ read on its own (the user
        scrolled) whose segment was recycled since. A view is checked once it was the same at
        two sweeps: ImageJ's read of it has ended by then."""
        now = time.monotonic()
        if now < self._next_sweep:
            return []
        self._next_sweep = now + SWEEP_S
        current = tuple(view)
        written = [p for p, ref in self.refs.items() if ref.hot and ref.cold is not None]
        changed = [p for p in self.ensure(list(dict.fromkeys([*view, *written]))) if p in view]
        unchecked = current != self.checked_view
        if unchecked and current == self._last_view:
            self.checked_view = current
        self._last_view = current
        found = changed if unchecked else []
        for pos in list(self.gone):
            located = _locate(self.refs[pos])
            if located is not None:
                self._point(self.infos[pos], *located)
                self.gone.discard(pos)
                found.append(pos)
        return found

    def has(self, pos: Position) -> bool:
        """A plane reached ``pos`` (it may read blank for now: gone until relocated)."""
        info = self.infos.get(pos)
        return pos in self.refs or (info is not None and self.paths[id(info)] != str(self.blank))

    def census(self) -> dict[str, int]:
        """How many positions read a hot segment, a store chunk, a private copy, or blank."""
        out = {"hot": 0, "cold": 0, "private": 0, "blank": 0, "gone": len(self.gone)}
        for pos, info in self.infos.items():
            path = self.paths[id(info)]
            ref = self.refs.get(pos)
            if path == str(self.blank):
                out["blank"] += 1
            elif ref is None:
                out["private"] += 1
            else:
                out["hot" if path.startswith("/dev/shm/") else "cold"] += 1
        return out

    # ------------------------------------------------------------------ the stack

    def ordered(self, dims: Position) -> list[Any]:
        """The FileInfo of every position in ImageJ's stack order (c fastest, then z, t)."""
        nc, nz, nt = dims
        return [self.info((c, z, t)) for t in range(nt) for z in range(nz) for c in range(nc)]

    def stack(self, dims: Position, labels: list[str]) -> Any:
        """A new ``FileInfoVirtualStack`` over ``dims`` with these slice labels."""
        infos = self.ordered(dims)
        stack = self.ij.jpype.JClass("ij.plugin.FileInfoVirtualStack")(
            self.ij.jpype.JArray(self._file_info)(infos)
        )
        stack.setBitDepth(_BIT_DEPTHS[self.dtype.name])  # a failed read is then blank, not null
        self._label(infos, labels)
        return stack

    def grow_in_place(self, stack: Any, dims: Position, labels: list[str]) -> None:
        """Give ``stack`` the FileInfo array for ``dims`` without making a new stack."""
        infos = self.ordered(dims)
        _set(stack, "info", self.ij.jpype.JArray(self._file_info)(infos))
        _set_int(stack, "nImages", len(infos))
        self._label(infos, labels)

    def _label(self, infos: list[Any], labels: list[str]) -> None:
        """ImageJ reads every slice label from the first FileInfo's ``sliceLabels``."""
        infos[0].sliceLabels = self.ij.jpype.JArray(self.ij.jpype.JString)(labels)

    def close(self) -> None:
        shutil.rmtree(self._private, ignore_errors=True)

    # ------------------------------------------------------------------ helpers

    def _new_info(self) -> Any:
        info = self._file_info()
        info.fileType = getattr(self._file_info, _FILE_TYPES[self.dtype.name])
        info.width, info.height = self.width, self.height
        info.intelByteOrder = True  # hub segments and store chunks are little-endian
        info.nImages = 1
        return info

    def _point(self, info: Any, path: str, offset: int) -> None:
        directory, name = os.path.split(path)
        info.directory, info.fileName = directory + "/", name
        info.offset, info.longOffset = 0, int(offset)
        self.paths[id(info)] = path  # read back without a call into Java
        self.inodes.pop(id(info), None)
        with contextlib.suppress(OSError):  # gone already: ``ensure`` re-points it
            self.inodes[id(info)] = os.stat(path).st_ino  # which file: a segment is recycled

    def _intact(self, info: Any) -> bool:
        """The file ``info`` names is there, and is the file (inode) it was pointed at."""
        try:
            inode = os.stat(self.paths[id(info)]).st_ino
        except OSError:
            return False
        return self.inodes.get(id(info), inode) == inode

    def _readable(self, ref: PlaneRef) -> bool:
        """ImageJ reads this plane raw exactly as the eager path would show it."""
        return tuple(ref.shape) == (self.height, self.width) and np.dtype(ref.dtype) == self.dtype

    def fit(self, plane: np.ndarray) -> np.ndarray:
        """The plane converted to the window's type and padded (top-left) to its size."""
        plane = to_imagej(plane).astype(self.dtype, copy=False)
        if plane.shape == (self.height, self.width):
            return plane
        padded = np.zeros((self.height, self.width), dtype=self.dtype)
        padded[: plane.shape[0], : plane.shape[1]] = plane
        return padded


_PREFIX = "viewerhub-fiji-"
_swept = False


def sweep_dead_folders() -> None:
    """Remove private folders left by Fiji viewers that ended without closing (killed by a
    restart, a crash): once per process, folders whose process id is not running. The viewer
    calls it at start: on the first plane it delayed the first window (0.2-0.5 s, py-spy)."""
    global _swept
    if _swept:
        return
    _swept = True
    for folder in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*-*"):
        pid = folder.name[len(_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _locate(ref: PlaneRef) -> tuple[str, int] | None:
    """A readable file and offset for ``ref``: its segment, else its store chunk, else None.

    Both are tried because a reference can know both: an item the hub had written to its
    store before delivering it carries its chunk and its segment, and no ``cold`` message
    will come when that segment is evicted.
    """
    located = ref.file()
    if located is not None and os.path.exists(located[0]):
        return located
    if ref.cold is not None and (chunk := chunk_file(ref.cold)).exists():
        return str(chunk), 0
    return None


def _locate_cold(ref: PlaneRef) -> tuple[str, int] | None:
    """The plane's store chunk, if the hub has said where it is and it is written."""
    if ref.cold is not None and (chunk := chunk_file(ref.cold)).exists():
        return str(chunk), 0
    return None


def _declared(obj: Any, name: str) -> Any:
    field = declared_field(obj, name)
    if field is None:
        raise AttributeError(f"{obj.getClass().getName()} has no field {name}")
    return field


def _set(obj: Any, name: str, value: Any) -> None:
    _declared(obj, name).set(obj, value)


def _set_int(obj: Any, name: str, value: int) -> None:
    _declared(obj, name).setInt(obj, value)


def set_image_dims(imp: Any, dims: Position) -> None:
    """Set an ImagePlus's channel, slice and frame counts without ``setDimensions``.

    ``setDimensions`` drops the processors and makes a CompositeImage re-read every channel
    in view; here the stack already holds the new FileInfo array and the window's scrollbars
    were stretched (``screen.grow_in_place``), so only the counts change.
    """
    for name, value in zip(("nChannels", "nSlices", "nFrames"), dims):
        _set_int(imp, name, value)
