"""The segment pool's bookkeeping: recycling, leases, reclaiming, the budget share."""

from __future__ import annotations

import pytest

from hub import pool as pool_module
from hub.pool import SegmentPool

MB = 1024**2


class FakeOps(pool_module.SegmentOps):
    """Segments as a dict name -> size; processes alive unless listed dead."""

    def __init__(self) -> None:
        self.segments: dict[str, int] = {}
        self.dead: set[int] = set()
        self.unlinked: list[str] = []

    def size(self, name: str) -> int | None:
        return self.segments.get(name)

    def rename(self, old: str, new: str) -> bool:
        if old not in self.segments:
            return False
        self.segments[new] = self.segments.pop(old)
        return True

    def unlink(self, name: str) -> None:
        if self.segments.pop(name, None) is not None:
            self.unlinked.append(name)

    def alive(self, pid: int) -> bool:
        return pid not in self.dead

    def create(self, name: str, size: int) -> None:
        self.segments[name] = size


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def parts() -> tuple[SegmentPool, FakeOps, Clock]:
    ops, clock = FakeOps(), Clock()
    return SegmentPool(1, 1024 * MB, ops=ops, clock=clock, filler=False), ops, clock


def _scene_segment(ops: FakeOps, name: str, size: int = 8 * MB) -> str:
    ops.segments[name] = size
    return name


def test_released_segment_is_unlinked_unless_its_size_is_wanted(parts) -> None:
    pool, ops, _ = parts
    pool.release(_scene_segment(ops, "a"))
    assert ops.unlinked == ["a"] and pool.held_bytes == 0
    pool.want(8 * MB)
    pool.release(_scene_segment(ops, "b"))
    assert pool.available(8 * MB) == 1 and pool.free_bytes == 8 * MB
    assert "b" not in ops.segments  # renamed: the old name opens nothing any more


def test_grant_leases_free_segments_up_to_the_wish_and_renames_them(parts) -> None:
    pool, ops, _ = parts
    pool.want(8 * MB)
    for name in "abc":
        pool.release(_scene_segment(ops, name))
    granted = pool.grant(pid=42, size=8 * MB, count=2)
    assert len(granted) == 2 and all("-l42-" in name for name in granted)
    assert pool.leased_bytes == 16 * MB and pool.free_bytes == 8 * MB
    assert pool.held_bytes == 24 * MB  # free + leased: all of it counts against the budget
    assert pool.grant(pid=42, size=8 * MB, count=2) == []  # holds its wish already
    assert len(pool.grant(pid=42, size=8 * MB, count=3)) == 1


def test_a_lease_is_good_for_one_save(parts) -> None:
    pool, ops, _ = parts
    pool.want(8 * MB)
    pool.release(_scene_segment(ops, "a"))
    (name,) = pool.grant(pid=42, size=8 * MB, count=1)
    lease = pool.consume(name)
    assert lease is not None and pool.leased_bytes == 0
    assert pool.consume(name) is None and not pool.is_lease(name)
    pool.restore(lease)  # a rolled-back request gives it back
    assert pool.is_lease(name) and pool.leased_bytes == 8 * MB


def test_dead_producer_leases_are_recycled_living_expired_ones_unlinked(parts) -> None:
    pool, ops, clock = parts
    pool.want(8 * MB)
    for name in "abcd":
        pool.release(_scene_segment(ops, name))
    dead = pool.grant(pid=7, size=8 * MB, count=2)
    alive = pool.grant(pid=8, size=8 * MB, count=2)
    ops.dead.add(7)
    pool.housekeeping()
    assert not any(pool.is_lease(n) for n in dead)
    assert pool.available(8 * MB) == 2  # its mappings died with it: the pages are reused
    assert pool.stats["reclaimed"] == 2
    clock.now += pool_module.LEASE_TTL_S + 1
    pool.want(8 * MB)
    pool.housekeeping()
    assert not any(pool.is_lease(n) for n in alive)
    assert all(n in ops.unlinked for n in alive)  # it may still map them: never reused
    assert pool.leased_bytes == 0


def test_a_lease_its_producer_removed_is_forgotten(parts) -> None:
    pool, ops, _ = parts
    pool.want(8 * MB)
    pool.release(_scene_segment(ops, "a"))
    (name,) = pool.grant(pid=42, size=8 * MB, count=1)
    ops.segments.pop(name)  # the producer closed and unlinked its unfilled leases
    pool.housekeeping()
    assert pool.leased_bytes == 0 and pool.stats["returned"] == 1


def test_per_producer_cap_is_a_share_of_the_budget(parts) -> None:
    pool, ops, _ = parts
    pool.want(64 * MB)
    for i in range(4):
        pool.release(_scene_segment(ops, f"s{i}", 64 * MB))
    # budget 1 GiB // LEASE_BUDGET_SHARE (8) = 128 MiB: two 64 MiB leases at most
    assert len(pool.grant(pid=1, size=64 * MB, count=4)) == 2


def test_free_segments_are_capped_and_dropped_newest_first(parts) -> None:
    pool, ops, _ = parts
    pool.want(64 * MB)
    for i in range(6):  # the free share is budget // 4 = 256 MiB: four of them
        pool.release(_scene_segment(ops, f"s{i}", 64 * MB))
    assert pool.available(64 * MB) == 4 and len(ops.unlinked) == 2
    assert pool.drop(100 * MB, keep={64 * MB: 1}) == 128 * MB
    assert pool.available(64 * MB) == 2
    assert pool.drop(10**12, keep={64 * MB: 1}) == 64 * MB  # one is held back for a request


def test_small_planes_are_not_leased(parts) -> None:
    pool, _, _ = parts
    assert pool.grant(pid=1, size=1024, count=4) == []
    assert pool.wanted_more(1, 1024, 4) == 0


def test_idle_pool_empties_itself(parts) -> None:
    pool, ops, clock = parts
    pool.want(8 * MB)
    pool.release(_scene_segment(ops, "a"))
    clock.now += pool_module.IDLE_S + 1
    pool.housekeeping()
    assert pool.free_bytes == 0 and ops.unlinked


def test_no_recycling_while_the_scene_makes_room(parts) -> None:
    pool, ops, _ = parts
    pool.want(8 * MB)
    with pool.dropping():
        pool.release(_scene_segment(ops, "a"))
    assert ops.unlinked == ["a"] and pool.held_bytes == 0


def test_filler_segments_count_while_being_made(parts) -> None:
    ops, clock = FakeOps(), Clock()
    pool = SegmentPool(1, 1024 * MB, ops=ops, clock=clock, filler=True)
    assert pool.fill(8 * MB, count=3, headroom=20 * MB) == 2  # only what the headroom allows
    assert pool.filling_bytes == 16 * MB
    pool.close()
    assert pool.filling_bytes == 0 and pool.free_bytes == 0
    assert len(ops.unlinked) == 2
