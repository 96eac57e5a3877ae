"""A remote viewer's planes: kept in memory it owns, the oldest spilled beyond the budget."""

from __future__ import annotations

import os

import numpy as np
import pytest

from contract.planes import PlaneGoneError
from viewers.remote_planes import FOLDER_PREFIX, PlaneStore, sweep_dead


@pytest.fixture
def store(tmp_path):
    made = PlaneStore(budget_bytes=3 * 64 * 64 * 2, spill_root=tmp_path / "spill")
    yield made
    made.close()


def _stack(value: int, planes: int = 2) -> np.ndarray:
    return np.arange(planes * 64 * 64, dtype=np.uint16).reshape(planes, 64, 64) + value


def test_planes_read_back_and_point_at_raw_files(store):
    array = _stack(7)
    refs, spilled = store.land(array)
    assert spilled == [] and len(refs) == 2
    assert not os.listdir(store.spill_dir), "no file until one is asked for"
    for ref, plane in zip(refs, array):
        assert ref.hot
        np.testing.assert_array_equal(ref.read(), plane)
        np.testing.assert_array_equal(ref.read_sampled(4), plane[::4, ::4])
        path, offset = ref.file()
        assert offset == 0
        raw = np.fromfile(path, dtype="<u2").reshape(64, 64)  # what ImageJ's FileInfo reads
        np.testing.assert_array_equal(raw, plane)


def test_beyond_the_budget_the_oldest_planes_spill_and_still_read(store):
    first, _ = store.land(_stack(1))
    second, spilled = store.land(_stack(2))  # 4 planes, budget 3: the oldest one spills
    assert spilled == [first[0]]
    assert not first[0].hot and first[1].hot and all(r.hot for r in second)
    assert str(store.spill_dir) in first[0].file()[0]
    np.testing.assert_array_equal(first[0].read(), _stack(1)[0])
    assert store.memory_bytes <= store.budget_bytes


def test_clear_and_close_remove_every_file(store):
    refs, _ = store.land(_stack(3, planes=5))
    assert refs[-1].file() is not None and not refs[0].hot  # one asked for, two spilled
    store.clear()
    for ref in (refs[0], refs[-1]):
        with pytest.raises(PlaneGoneError):
            ref.read()
    assert not os.listdir(store.spill_dir)
    store.close()
    assert not store.spill_dir.exists()


def test_folders_of_dead_viewers_are_swept_and_live_ones_kept(tmp_path):
    dead = tmp_path / f"{FOLDER_PREFIX}999999999-abcd"
    live = tmp_path / f"{FOLDER_PREFIX}{os.getpid()}-abcd"
    other = tmp_path / "someone-else"
    for folder in (dead, live, other):
        folder.mkdir()
    sweep_dead(tmp_path)
    assert not dead.exists() and live.exists() and other.exists()


def test_the_spill_folder_is_private_to_the_user(store):
    """Spilled planes are the user's data: nobody else on the workstation may list or read them."""
    info = store.spill_dir.stat()
    assert info.st_uid == os.geteuid() and info.st_mode & 0o777 == 0o700
