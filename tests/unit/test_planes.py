"""PlaneRef: reading a plane from a hub segment, then from its store chunk once it went cold."""

from __future__ import annotations

import os
import secrets

import numpy as np
import pytest

from contract import shm
from contract.planes import PlaneGoneError, PlaneRef, chunk_file, cold_planes, refs_for_header


@pytest.fixture
def segment():
    name = f"viewerhub-{os.getpid()}-{secrets.randbelow(10**6)}-{secrets.token_hex(4)}"
    stack = np.arange(3 * 64 * 48, dtype=np.uint16).reshape(3, 64, 48)
    mapping = shm.create(name, stack.nbytes)
    mapping[:] = stack.tobytes()
    mapping.close()
    yield name, stack
    shm.unlink(name)


def test_refs_for_a_stack_read_each_plane_from_its_offset(segment):
    name, stack = segment
    refs = refs_for_header({"dtype": "uint16", "shape": [3, 64, 48], "segment": name})
    assert [r.offset for r in refs] == [0, 64 * 48 * 2, 2 * 64 * 48 * 2]
    for ref, plane in zip(refs, stack):
        assert ref.hot
        np.testing.assert_array_equal(ref.read(), plane)
        np.testing.assert_array_equal(ref.read_sampled(8), plane[::8, ::8])
        np.testing.assert_array_equal(ref.read_sampled(9), plane[::9, ::9])  # rows by pread
        np.testing.assert_array_equal(ref.read_sampled(2), plane[::2, ::2])  # mapped
        path, offset = ref.file()
        assert path == f"/dev/shm/{name}" and offset == ref.offset


def test_a_cold_plane_reads_its_raw_chunk(tmp_path):
    plane = np.random.default_rng(1).integers(0, 4000, (32, 40), dtype=np.uint16)
    cold = (str(tmp_path / "scene.zarr"), "A/1/0/0", 0, 2, 1)
    path = chunk_file(cold)
    assert path == tmp_path / "scene.zarr/A/1/0/0/c/0/2/1/0/0"
    path.parent.mkdir(parents=True)
    plane.astype("<u2").tofile(path)
    ref = PlaneRef((32, 40), np.dtype("uint16"), segment="viewerhub-1-gone-00000000")
    with pytest.raises(PlaneGoneError):
        ref.read()  # evicted before the hub said where it went
    ref.make_cold(cold)
    assert not ref.hot and ref.file() == (str(path), 0)
    np.testing.assert_array_equal(ref.read(), plane)
    np.testing.assert_array_equal(ref.read_sampled(4), plane[::4, ::4])


def test_a_missing_chunk_is_gone_not_a_crash(tmp_path):
    ref = PlaneRef((8, 8), np.dtype("uint16"), cold=(str(tmp_path), "x/0", 0, 0, 0))
    with pytest.raises(PlaneGoneError):
        ref.read()
    with pytest.raises(PlaneGoneError):
        PlaneRef((8, 8), np.dtype("uint16")).read()


@pytest.mark.parametrize(
    "bad",
    [
        None,
        {"root": "/s", "planes": [["../../etc", 0, 0, 0]]},
        {"root": "/s", "planes": [["/abs/0", 0, 0, 0]]},
        {"root": "/s", "planes": [["A/1/0/0", -1, 0, 0]]},
        {"root": "/s", "planes": [["A/1/0/0", 0, 0]]},
        {"root": 3, "planes": []},
    ],
)
def test_cold_references_that_leave_the_store_are_refused(bad):
    assert cold_planes(bad) is None


def test_a_segment_renamed_after_it_was_mapped_is_noticed(segment):
    """The hub renames a segment before recycling it: a reader that mapped it just before
    finds out after its copy, and falls back to the store instead of keeping a torn plane."""
    name, _stack = segment
    mapping, inode = shm.open_pinned(name, 1)
    mapping.close()
    assert shm.still_named(name, inode)
    moved = name + "x"
    shm.rename(name, moved)
    try:
        assert not shm.still_named(name, inode)
    finally:
        shm.rename(moved, name)
