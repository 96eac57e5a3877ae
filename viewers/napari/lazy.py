"""Lazy napari image data: an array-like over where the planes live, not a copy of them.

A plate is 1,000-10,000 planes of 2048² (8-80 GB); napari would run out of memory long before
the end if every plane were copied into a private array. :class:`LazyStack` is what an image
layer holds instead: a table from slider position to plane reference (a
``contract.planes.PlaneRef``: a hub shared-memory segment while hot, the scene store's chunk
file once cold), with the shape napari sees. ``__getitem__`` reads only the planes napari asks
for, which are the ones in view; a small byte-bounded :class:`PlaneCache` (one per scene)
keeps the planes read last, so moving a slider back and forth does not read again.

Rules a reader of the pixels relies on:

- a position no plane has arrived at reads as zeros (as the grown private array did);
- a plane smaller than the layer (``pad_to_max``) is read top-left aligned, padded with zeros;
- a plane whose hot segment was evicted before its cold reference arrived (``PlaneGoneError``)
  reads as zeros and its position is remembered in ``failed``: the scene refreshes the layer
  when the viewer client reports the plane relocated.

Every array handed out is read-only: napari and the cache share it.
"""

from __future__ import annotations

import itertools
import logging
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Protocol

import numpy as np

from contract.planes import PlaneGoneError

log = logging.getLogger(__name__)

#: Bytes of planes kept in this process for re-display (32 planes of 2048² uint16).
DEFAULT_CACHE_BYTES = 256 * 1024**2

Position = tuple[int, ...]


class PlaneSource(Protocol):
    """What a lazy layer needs of a plane reference (``contract.planes.PlaneRef`` is one)."""

    shape: tuple[int, ...]
    dtype: Any

    def read(self) -> np.ndarray: ...

    def read_sampled(self, step: int) -> np.ndarray: ...


class MemoryPlane:
    """A plane held in this process: the reference for items built without ``refs``.

    In-process callers (the dock widget fed by a host application, benchmarks, tests) may
    build an :class:`~viewers.base.Item` with an array only; the plane is then kept here, as
    the private array used to. Items from the hub always come with references.
    """

    hot = True

    def __init__(self, plane: np.ndarray) -> None:
        self._plane = np.array(plane, copy=True)
        self._plane.setflags(write=False)
        self.shape = tuple(self._plane.shape)
        self.dtype = self._plane.dtype

    def read(self) -> np.ndarray:
        return self._plane

    def read_sampled(self, step: int) -> np.ndarray:
        return self._plane[::step, ::step]


class PlaneCache:
    """Least-recently-read planes, at most ``limit`` bytes in all (shared by a scene's layers)."""

    def __init__(self, limit: int = DEFAULT_CACHE_BYTES) -> None:
        self.limit = limit
        self.bytes = 0
        self._planes: OrderedDict[Hashable, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._planes)

    def get(self, key: Hashable) -> np.ndarray | None:
        plane = self._planes.get(key)
        if plane is not None:
            self._planes.move_to_end(key)
        return plane

    def put(self, key: Hashable, plane: np.ndarray) -> None:
        self.drop(key)
        if plane.nbytes > self.limit:
            return
        self._planes[key] = plane
        self.bytes += plane.nbytes
        while self.bytes > self.limit:
            _, old = self._planes.popitem(last=False)
            self.bytes -= old.nbytes

    def drop(self, key: Hashable) -> None:
        old = self._planes.pop(key, None)
        if old is not None:
            self.bytes -= old.nbytes

    def clear(self) -> None:
        self._planes.clear()
        self.bytes = 0

    def stats(self) -> dict[str, int]:
        return {"bytes": self.bytes, "planes": len(self._planes), "limit": self.limit}


class _LazyArray:
    """The array protocol napari uses (shape, dtype, basic indexing) over ``plane()``."""

    dtype: np.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def plane(self, position: Position) -> np.ndarray:
        raise NotImplementedError

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def n_stack(self) -> int:
        return self.ndim - 2

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        basic = self._expand(key)
        if basic is None:  # fancy indexing: rare (no napari path uses it); read it whole
            log.debug("lazy layer indexed with %r: reading it whole", key)
            return np.asarray(self)[key]
        shape = self.shape
        lead, tail = basic[: self.n_stack], basic[self.n_stack :]
        axes: list[int | range] = []
        for k, n in zip(lead, shape):
            if isinstance(k, slice):
                axes.append(range(*k.indices(n)))
            else:
                i = int(k) + n if int(k) < 0 else int(k)
                if not 0 <= i < n:
                    raise IndexError(f"index {k} is out of bounds for an axis of size {n}")
                axes.append(i)
        if all(isinstance(a, int) for a in axes):
            return self.plane(tuple(axes))[tail]  # type: ignore[arg-type]
        if all(isinstance(t, slice) for t in tail):
            # napari's multiscale slicing takes data[:, ..., y0:y1, x0:x1] before picking the
            # plane in view: a lazy view, or it would read every plane of the stack
            return _LazyView(self, axes, tail)  # type: ignore[return-value]
        ranges = [a if isinstance(a, range) else (a,) for a in axes]
        sliced = [len(a) for a in axes if isinstance(a, range)]
        tail_shape = np.empty(shape[-2:], dtype=np.bool_)[tail].shape
        out = np.zeros((*sliced, *tail_shape), dtype=self.dtype)
        for n, position in enumerate(itertools.product(*ranges)):
            index = np.unravel_index(n, sliced) if sliced else ()
            out[index] = self.plane(position)[tail]
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """Every plane (reads them all). napari asks for this only of a view of one plane
        (``np.asarray(data[z:z+1, ..., y0:y1, x0:x1])`` when it slices a multiscale level):
        that plane is returned as it is read, not copied into a new array."""
        shape = self.shape
        if all(n == 1 for n in shape[:-2]):
            plane = self.plane((0,) * (len(shape) - 2)).reshape(shape)
            return plane if dtype is None else plane.astype(dtype, copy=False)
        whole = np.zeros(shape, dtype=self.dtype)
        for position in itertools.product(*(range(n) for n in shape[:-2])):
            whole[position] = self.plane(position)
        return whole if dtype is None else whole.astype(dtype, copy=False)

    def _expand(self, key: Any) -> tuple[Any, ...] | None:
        """``key`` as one int or slice per axis; None for keys that are not basic indexing."""
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            at = next(i for i, k in enumerate(key) if k is Ellipsis)
            fill = (slice(None),) * (self.ndim - len(key) + 1)
            key = key[:at] + fill + key[at + 1 :]
        if not all(isinstance(k, slice | int | np.integer) for k in key) or len(key) > self.ndim:
            return None
        return key + (slice(None),) * (self.ndim - len(key))


class LazyStack(_LazyArray):
    """Array-like of shape (*stack axes, y, x) whose planes are read on demand.

    ``shape`` grows as planes arrive at new positions or larger planes come (the layer is then
    handed the same object again, so napari re-reads its shape); nothing is ever copied into
    it. napari reads it as ``data[i, j, ..., :, :]`` for the plane in view.
    """

    _ids = itertools.count()

    def __init__(
        self, n_stack: int, plane_shape: tuple[int, ...], dtype: Any, cache: PlaneCache
    ) -> None:
        self._shape: list[int] = [0] * n_stack + [int(n) for n in plane_shape]
        self.dtype = np.dtype(dtype)
        self.refs: dict[Position, PlaneSource] = {}
        self.failed: set[Position] = set()
        self.cache = cache
        self._key = next(self._ids)
        self._steps: set[int] = {1}  # resolution levels napari may read (see levels)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._shape)

    # ------------------------------------------------------------------ planes

    def set(self, position: Position, ref: PlaneSource) -> bool:
        """Put ``ref`` at ``position`` (replacing what was there); True if ``shape`` grew."""
        self.refs[position] = ref
        self.failed.discard(position)
        self._forget(position)
        needed = [max(i + 1, n) for i, n in zip(position, self._shape)] + [
            max(int(p), n) for p, n in zip(ref.shape[-2:], self._shape[-2:])
        ]
        if needed == self._shape:
            return False
        if needed[-2:] != self._shape[-2:]:  # padding changes: drop this layer's read planes
            for pos in self.refs:
                self._forget(pos)
        self._shape = needed
        return True

    def _forget(self, position: Position) -> None:
        for step in self._steps:
            self.cache.drop((self._key, step, position))

    def levels(self, count: int) -> list[_LazyArray]:
        """This stack and ``count - 1`` coarser views (every 2nd, 4th, ... pixel), for napari's
        multiscale: at a zoom that shows a 2048² plane on a few hundred screen pixels napari
        reads, uploads and thumbnails a quarter or a sixteenth of it (a strided read)."""
        views: list[_LazyArray] = [self]
        for n in range(1, count):
            self._steps.add(2**n)
            views.append(LazyLevel(self, 2**n))
        return views

    def plane(self, position: Position, step: int = 1) -> np.ndarray:
        """The plane at ``position`` as napari shows it (read-only; zeros if none is readable);
        ``step``: every step-th row and column of it."""
        ref = self.refs.get(position)
        shape = _level_shape(self._shape[-2:], step)
        if ref is None:
            return self._zeros(shape)
        key = (self._key, step, position)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        finer = self._finer(position, step)
        if finer is not None:
            plane = np.ascontiguousarray(finer)
            plane.setflags(write=False)
            self.cache.put(key, plane)
            return plane
        try:
            plane = np.asarray(ref.read() if step == 1 else ref.read_sampled(step))
        except (PlaneGoneError, OSError) as exc:  # evicted before its cold reference came
            log.debug("plane at %s not readable now: %s", position, exc)
            self.failed.add(position)
            return self._zeros(shape)
        plane = self._fit(plane, shape)
        self.cache.put(key, plane)
        return plane

    def _finer(self, position: Position, step: int) -> np.ndarray | None:
        """The plane at ``step`` strided from a finer level already read, if one is cached.

        napari slices the level it shows and then the coarsest for the layer's thumbnail:
        taken from the plane just read, the thumbnail costs no second read of the plane's
        pages (a 512² read of a 2048² plane per layer per slider move, profiled).
        """
        for finer in sorted(self._steps):
            if finer >= step or step % finer:
                continue
            plane = self.cache.get((self._key, finer, position))
            if plane is not None:
                return plane[:: step // finer, :: step // finer]
        return None

    def _fit(self, plane: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """``plane`` in the layer's dtype and ``shape`` (top-left aligned), read-only."""
        height, width = shape
        if plane.shape != (height, width):
            padded = np.zeros((height, width), dtype=self.dtype)
            padded[: plane.shape[0], : plane.shape[1]] = plane[:height, :width]
            plane = padded
        elif plane.dtype != self.dtype:
            plane = plane.astype(self.dtype)
        plane.setflags(write=False)
        return plane

    def _zeros(self, shape: tuple[int, int]) -> np.ndarray:
        zeros = np.zeros(shape, dtype=self.dtype)
        zeros.setflags(write=False)
        return zeros

    def retry_failed(self) -> bool:
        """Forget failed reads (their planes were relocated); True if there were any."""
        had = bool(self.failed)
        self.failed.clear()
        return had


class LazyLevel(_LazyArray):
    """Every ``step``-th row and column of a :class:`LazyStack`: one level of a multiscale."""

    def __init__(self, base: LazyStack, step: int) -> None:
        self.base, self.step = base, step
        self.dtype = base.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        full = self.base.shape
        return (*full[:-2], *_level_shape(full[-2:], self.step))

    def plane(self, position: Position) -> np.ndarray:
        return self.base.plane(position, self.step)


class _LazyView(_LazyArray):
    """``parent[key]`` with slices on some stack axes, read plane by plane when indexed."""

    def __init__(
        self, parent: _LazyArray, axes: list[int | range], tail: tuple[slice, ...]
    ) -> None:
        self.parent, self.axes, self.tail = parent, axes, tail
        self.dtype = parent.dtype
        sizes = parent.shape[-2:]
        self._tail_shape = tuple(len(range(*t.indices(n))) for t, n in zip(tail, sizes))

    @property
    def shape(self) -> tuple[int, ...]:
        return (*(len(a) for a in self.axes if isinstance(a, range)), *self._tail_shape)

    def plane(self, position: Position) -> np.ndarray:
        picks = iter(position)
        full = tuple(a if isinstance(a, int) else a[next(picks)] for a in self.axes)
        return self.parent.plane(full)[self.tail]


def _level_shape(shape: Any, step: int) -> tuple[int, int]:
    """The shape of ``plane[::step, ::step]`` for a plane of ``shape``."""
    return (-(-int(shape[-2]) // step), -(-int(shape[-1]) // step))


def multiscale_levels(plane_shape: tuple[int, ...], smallest: int = 512) -> int:
    """How many levels (halving each time) a layer of such planes is worth: 1 below 1024²."""
    count, size = 1, min(int(n) for n in plane_shape[-2:])
    while size // 2 >= smallest:
        count, size = count + 1, size // 2
    return count
