"""The lazy napari layer data: reads only what is asked, bounded cache, gone planes blank."""

from __future__ import annotations

import numpy as np
import pytest

from contract.planes import PlaneGoneError
from viewers.napari.lazy import LazyStack, MemoryPlane, PlaneCache


class CountingRef:
    """A plane reference that counts reads and can be made unreadable."""

    def __init__(self, plane: np.ndarray) -> None:
        self.plane = plane
        self.shape = plane.shape
        self.dtype = plane.dtype
        self.reads = 0
        self.gone = False

    def read(self) -> np.ndarray:
        if self.gone:
            raise PlaneGoneError("evicted")
        self.reads += 1
        return self.plane.copy()

    def read_sampled(self, step: int) -> np.ndarray:
        return self.plane[::step, ::step].copy()


def plane(value: int, shape=(4, 6)) -> np.ndarray:
    return np.full(shape, value, np.uint16)


def test_shape_grows_with_positions_and_unarrived_planes_are_zeros():
    stack = LazyStack(2, (4, 6), np.uint16, PlaneCache())
    assert stack.shape == (0, 0, 4, 6)
    assert stack.set((2, 0), CountingRef(plane(7))) is True
    assert stack.set((1, 0), CountingRef(plane(5))) is False
    assert stack.shape == (3, 1, 4, 6) and stack.ndim == 4 and stack.size == 3 * 24
    assert stack[2, 0].max() == 7 and stack[1, 0, 0, 0] == 5
    assert stack[0, 0].max() == 0  # not arrived yet
    assert stack[-1, 0, 3, 5] == 7
    whole = np.asarray(stack)
    assert whole.shape == (3, 1, 4, 6) and [int(whole[i, 0, 0, 0]) for i in range(3)] == [0, 5, 7]
    assert stack[1:, 0, :2].shape == (2, 2, 6) and stack[..., 0].shape == (3, 1, 4)
    with pytest.raises(IndexError):
        stack[3, 0]


def test_only_the_planes_asked_for_are_read_and_the_cache_is_bounded():
    shape = (8, 8)
    one = plane(1, shape).nbytes
    cache = PlaneCache(limit=3 * one)
    stack = LazyStack(1, shape, np.uint16, cache)
    refs = [CountingRef(plane(i, shape)) for i in range(10)]
    for i, ref in enumerate(refs):
        stack.set((i,), ref)
    assert sum(r.reads for r in refs) == 0  # arriving costs no read
    for _ in range(3):
        assert stack[4].max() == 4
    assert refs[4].reads == 1  # read once, then from the cache
    for i in range(10):
        stack[i]
    assert cache.bytes <= 3 * one and len(cache) == 3
    assert not stack[9].flags.writeable  # napari and the cache share the array


def test_a_replaced_plane_is_read_again_and_smaller_planes_are_padded():
    stack = LazyStack(1, (4, 6), np.uint16, PlaneCache())
    stack.set((0,), CountingRef(plane(3)))
    assert stack[0].max() == 3
    stack.set((0,), CountingRef(plane(9, (2, 3))))  # compaction: same position, new item
    assert stack[0].max() == 9 and stack[0][2:, :].max() == 0 and stack[0][:, 3:].max() == 0
    assert stack.set((1,), CountingRef(plane(1, (5, 6)))) is True  # pad_to_max grows y
    assert stack.shape == (2, 5, 6) and stack[0].shape == (5, 6)


def test_a_gone_plane_reads_blank_until_it_is_relocated():
    stack = LazyStack(1, (4, 6), np.uint16, PlaneCache())
    ref = CountingRef(plane(8))
    ref.gone = True
    stack.set((0,), ref)
    assert stack[0].max() == 0 and stack.failed == {(0,)}
    ref.gone = False  # the client updated the reference in place (now cold)
    assert stack.retry_failed() is True and not stack.failed
    assert stack[0].max() == 8


def test_memory_planes_keep_their_own_copy():
    source = plane(4)
    ref = MemoryPlane(source)
    source[:] = 0
    assert ref.read().max() == 4 and ref.read_sampled(2).shape == (2, 3)


def test_a_plain_2d_layer():
    stack = LazyStack(0, (4, 6), np.float32, PlaneCache())
    assert stack.shape == (4, 6)
    stack.set((), CountingRef(plane(2)))
    assert stack[1:3].shape == (2, 6) and stack.dtype == np.float32
    assert np.asarray(stack).dtype == np.float32 and np.asarray(stack).max() == 2


def test_slices_on_stack_axes_stay_lazy_and_levels_read_strided_samples():
    stack = LazyStack(2, (8, 8), np.uint16, PlaneCache())
    refs = {(w, s): CountingRef(plane(10 * w + s, (8, 8))) for w in range(5) for s in range(2)}
    for position, ref in refs.items():
        stack.set(position, ref)
    view = stack[:, :, 2:6, :]  # what napari's multiscale slicing asks first
    assert view.shape == (5, 2, 4, 8) and sum(r.reads for r in refs.values()) == 0
    assert np.asarray(view[3, 1]).max() == 31 and view[3, 1].shape == (4, 8)
    assert refs[3, 1].reads == 1 and sum(r.reads for r in refs.values()) == 1
    full, half = stack.levels(2)
    assert half.shape == (5, 2, 4, 4) and half[4, 0].max() == 40
    assert half[4, 0].shape == (4, 4)


class SampleCountingRef(CountingRef):
    """Counts strided reads too (a coarse level read from the plane's pages)."""

    def __init__(self, plane: np.ndarray) -> None:
        super().__init__(plane)
        self.sampled = 0

    def read_sampled(self, step: int) -> np.ndarray:
        self.sampled += 1
        return super().read_sampled(step)


def test_a_coarse_level_comes_from_a_finer_one_already_read():
    """napari reads the level it shows, then the coarsest for the thumbnail: the second is
    strided from the first (no second read of the plane), and equals a read of its own."""
    values = np.arange(9 * 11, dtype=np.uint16).reshape(9, 11)
    ref = SampleCountingRef(values)
    stack = LazyStack(1, (9, 11), np.uint16, PlaneCache())
    stack.set((0,), ref)
    full, half, quarter = stack.levels(3)
    np.testing.assert_array_equal(half[0], values[::2, ::2])
    assert ref.sampled == 1
    np.testing.assert_array_equal(quarter[0], values[::4, ::4])
    assert ref.sampled == 1 and quarter[0].flags.c_contiguous
    stack.set((0,), ref)  # a new plane at that position: nothing stale is derived
    np.testing.assert_array_equal(quarter[0], values[::4, ::4])
    assert ref.sampled == 2
