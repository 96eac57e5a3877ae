"""A producer's kept mappings (backends.mappings) on real /dev/shm segments, without a hub."""

from __future__ import annotations

import os
import secrets
import time

import numpy as np
import pytest

from backends.leases import LeaseStock
from backends.mappings import SWEEP_S, KeptMappings
from contract import shm
from tests.conftest import wait_for

SIZE = 256 * 1024


@pytest.fixture
def names():
    made: list[str] = []

    def make(fill: int = 0) -> str:
        name = f"viewerhub-test-{os.getpid()}-{secrets.token_hex(4)}"
        mapping = shm.create(name, SIZE)
        mapping[:] = bytes([fill]) * SIZE
        mapping.close()
        made.append(name)
        return name

    yield make
    for name in made:
        shm.unlink(name)


def _renamed(name: str) -> str:
    new = f"{name}-r{secrets.token_hex(2)}"
    shm.rename(name, new)
    return new


def test_a_lease_onto_a_known_inode_reuses_its_mapping_and_writes_reach_the_segment(names):
    kept = KeptMappings()
    first = names()
    entry = kept.open_lease(first, SIZE)
    kept.give_back(entry)
    second = _renamed(first)  # the hub recycled it: same memory, new name
    again = kept.open_lease(second, SIZE)
    assert again is entry and kept.stats["reused"] == 1 and kept.stats["mapped"] == 1
    np.frombuffer(again.mapping, np.uint8)[:] = 7
    kept.give_back(again)
    check = shm.open_readonly(second, SIZE)
    assert bytes(check[:4]) == b"\x07" * 4
    check.close()
    shm.rename(second, first)  # for the fixture's cleanup
    kept.close()


def test_a_busy_mapping_is_never_handed_out_twice(names):
    kept = KeptMappings()
    name = names()
    busy = kept.open_lease(name, SIZE)
    other = kept.open_lease(name, SIZE)  # only a hub bug could lease it twice: map it anew
    assert other is not busy
    kept.give_back(busy)  # replaced meanwhile: closed, not kept
    assert busy.mapping.closed
    kept.give_back(other)
    assert len(kept) == 1
    kept.close()


def test_a_removed_segment_is_released_by_the_next_sweep_not_kept(names):
    kept = KeptMappings()
    live, removed = names(), names()
    for name in (live, removed):
        kept.give_back(kept.open_lease(name, SIZE))
    busy = kept.open_lease(names(), SIZE)
    shm.unlink(removed)  # the hub dropped it: our mapping is all that pins its pages
    assert kept.sweep() == 1
    assert len(kept) == 2 and kept.stats["released"] == 1
    kept.give_back(busy)
    kept.close()


def test_the_lease_stock_sweeps_on_its_own_within_the_sweep_interval(names):
    stock = LeaseStock()
    name = names()
    stock.add(name, SIZE)
    got = stock.take(SIZE)
    assert got is not None and got[0] == name
    stock.retire(got[1])
    shm.unlink(name)
    start = time.monotonic()
    wait_for(lambda: len(stock.kept) == 0, 5, "the removed segment's mapping released")
    assert time.monotonic() - start < SWEEP_S + 1.0
    stock.close()


def test_mappings_beyond_the_caps_go_least_recently_used_first(names):
    kept = KeptMappings(max_count=2)
    entries = []
    for _ in range(3):
        entry = kept.open_lease(names(), SIZE)
        kept.give_back(entry)
        entries.append(entry)
    assert len(kept) == 2 and entries[0].mapping.closed and not entries[2].mapping.closed
    kept.close()


def test_a_forked_child_closes_the_mappings_it_inherited(names):
    kept = KeptMappings()
    entry = kept.open_lease(names(), SIZE)
    kept.give_back(entry)
    pid = os.fork()
    if pid == 0:  # the child: nothing kept, the parent's descriptor closed
        try:
            os.fstat(entry.fd)
            code = 1
        except OSError:
            code = 0 if len(kept) == 0 else 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(kept) == 1 and os.fstat(entry.fd).st_nlink == 1  # the parent's are intact
    kept.close()
