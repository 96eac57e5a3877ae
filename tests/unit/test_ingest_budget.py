"""Ingest's budget with the pool: scene + pool within the budget, leases at the budget."""

from __future__ import annotations

from contract.protocol import DEFAULT_LIMITS, STANDARD_COMPONENTS
from hub.ingest import Ingest, Request
from hub.pool import SegmentPool
from hub.scene import SceneLog
from tests.unit.test_pool import Clock, FakeOps

MB = 1024**2
PLANE = 8 * MB  # a 2048² uint16 plane


def _parts(budget: int = 32 * PLANE) -> tuple[Ingest, SceneLog, SegmentPool, FakeOps]:
    ops = FakeOps()
    pool = SegmentPool(1, budget, ops=ops, clock=Clock(), filler=False)
    scene = SceneLog(budget, pool.release)
    ingest = Ingest(scene, 1, DEFAULT_LIMITS, set(STANDARD_COMPONENTS), budget, 4, 1.0, None, pool)
    return ingest, scene, pool, ops


def _fill_scene_with_written_planes(scene: SceneLog, ops: FakeOps, n: int) -> None:
    for i in range(n):
        name = f"scene-{i}"
        ops.segments[name] = PLANE
        header = {"kind": "image", "shape": [2048, 2048], "dtype": "uint16", "segment": name}
        item = scene.append(header, name, PLANE, key=f"k{i}", pixel_bytes=PLANE)
        scene.mark_persisted(item.index, {"root": "/store", "planes": [["A/1/0/0", 0, 0, i]]})


def test_at_the_budget_leases_come_from_evicted_written_planes() -> None:
    ingest, scene, pool, ops = _parts()
    _fill_scene_with_written_planes(scene, ops, 32)  # the whole budget
    granted = ingest._grant(pid=42, wishes=[(PLANE, 2)])
    assert len(granted) == 2 and pool.leased_bytes == 2 * PLANE
    assert scene.evicted == 2  # their warm pages are the leases: nothing new was faulted in
    assert scene.bytes_used + pool.held_bytes <= ingest.budget


def _free_segment(pool: SegmentPool, ops: FakeOps, name: str) -> None:
    """A warm segment in the pool, as if recycled from an earlier item."""
    ops.segments[name] = PLANE
    pool.want(PLANE)
    pool.release(name)


def test_pixels_already_in_the_pool_cost_no_new_room() -> None:
    ingest, scene, pool, ops = _parts()
    _fill_scene_with_written_planes(scene, ops, 29)
    for name in ("w1", "w2", "w3"):
        _free_segment(pool, ops, name)  # the budget is full
    (lease, _), _ = ingest._grant(pid=42, wishes=[(PLANE, 2)])
    leased = {"kind": "image", "shape": [2048, 2048], "dtype": "uint16", "shm": lease}
    frame = {"kind": "image", "shape": [2048, 2048], "dtype": "uint16", "frame": 1}
    request = Request(1, lambda reply: None, items=[leased, frame], nbytes=2 * PLANE)
    assert ingest._fit(request)  # the lease's pixels and the free segment the copy will use
    assert scene.evicted == 0 and pool.available(PLANE) == 1 and not ops.unlinked


def _scene_plane(scene: SceneLog, ops: FakeOps) -> str:
    """Take one written plane's segment out of the scene, as an eviction would."""
    item = next(i for i in scene.items if i.segment)
    name, item.segment = item.segment, None
    scene.bytes_used -= item.pixel_bytes
    return name


def test_room_for_new_pixels_drops_free_segments_then_evicts_for_real() -> None:
    ingest, scene, pool, ops = _parts()
    _fill_scene_with_written_planes(scene, ops, 32)
    pool.want(PLANE)
    pool.release(_scene_plane(scene, ops))  # full: 31 planes in the scene, 1 free in the pool
    item = {"kind": "image", "shape": [2048, 2048], "dtype": "uint16", "shm": "own"}
    request = Request(1, lambda reply: None, items=[item], nbytes=2 * PLANE)
    assert ingest._fit(request)
    assert pool.free_bytes == 0 and scene.evicted == 1  # the free one first, then one plane
    assert scene.bytes_used + pool.held_bytes + 2 * PLANE <= ingest.budget
    assert len(ops.unlinked) == 2  # real room: both unlinked, neither recycled


def test_a_producer_holding_some_leases_is_topped_up_to_its_wish() -> None:
    """A grant fills the wish up (pipelined saves hold several leases while more are asked);
    it used to grant only to a producer holding none of that size."""
    ingest, _, pool, ops = _parts(budget=64 * PLANE)  # a producer may hold 8 planes' worth
    for i in range(8):
        ops.segments[f"free-{i}"] = PLANE
        pool._push_free(f"free-{i}", PLANE)
    assert len(ingest._grant(pid=42, wishes=[(PLANE, 2)])) == 2
    pool.consume(next(iter(pool.leases)))  # one filled and accepted: one held
    assert len(ingest._grant(pid=42, wishes=[(PLANE, 2)])) == 1
    assert len(ingest._grant(pid=42, wishes=[(PLANE, 6)])) == 4
    assert len(pool.leased_to(42)) == 6
