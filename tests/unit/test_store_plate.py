"""The plate writer's metadata: truthful shapes, written once per batch, readable by zarr."""

from __future__ import annotations

import json
import os

import numpy as np
import zarr

from contract.planes import chunk_file
from hub.store.plate import PlateWriter
from hub.store.sources import SegmentPlanes


def _shape(root, path: str) -> list[int]:
    return json.loads((root / path / "zarr.json").read_text())["shape"]


def _plane(i: int) -> np.ndarray:
    return np.full((8, 16), i, dtype=np.uint16)


def test_an_axis_grows_by_exactly_what_arrived_and_only_at_flush(tmp_path) -> None:
    root = tmp_path / "p.zarr"
    writer = PlateWriter(root)
    writer.write_item(0, {"components": {"well": "B03", "channel": 1, "z_index": 1}}, _plane(0))
    assert _shape(root, "B/3/0/0") == [1, 1, 1, 8, 16]  # a new array is on disk at once
    for z in range(2, 5):
        writer.write_item(z, {"components": {"well": "B03", "channel": 1, "z_index": z}}, _plane(z))
    assert _shape(root, "B/3/0/0") == [1, 1, 1, 8, 16]  # growth waits for the batch's flush
    writer.flush()
    assert _shape(root, "B/3/0/0") == [1, 1, 4, 8, 16]  # truthful: no room for planes to come
    data = zarr.open_array(str(root / "B/3/0/0"), mode="r")
    assert [int(data[0, 0, z, 0, 0]) for z in range(4)] == [0, 2, 3, 4]
    group = json.loads((root / "B/3/0/zarr.json").read_text())["attributes"]
    assert group["viewerhub"]["axes"]["z"] == [1, 2, 3, 4]
    assert group["ome"]["omero"]["channels"] == [{"label": "channel 1"}]


def test_plate_and_well_metadata_follow_new_wells_and_fields(tmp_path) -> None:
    root = tmp_path / "p.zarr"
    writer = PlateWriter(root)
    for i, (well, site) in enumerate([("A01", 1), ("A01", 2), ("C12", 1)]):
        writer.write_item(i, {"components": {"well": well, "site": site}}, _plane(i))
    writer.flush()
    plate = json.loads((root / "zarr.json").read_text())["attributes"]["ome"]["plate"]
    assert [w["path"] for w in plate["wells"]] == ["A/1", "C/12"]
    assert plate["field_count"] == 2 and [r["name"] for r in plate["rows"]] == ["A", "C"]
    well = json.loads((root / "A/1/zarr.json").read_text())["attributes"]["ome"]["well"]
    assert well["images"] == [{"path": "0"}, {"path": "1"}]


def test_a_reopened_plate_continues_where_it_stopped(tmp_path) -> None:
    root = tmp_path / "p.zarr"
    first = PlateWriter(root)
    for z in range(3):
        first.write_item(z, {"components": {"well": "A01", "z_index": z}}, _plane(z))
    first.flush()
    second = PlateWriter(root)
    cold = second.write_item(9, {"components": {"well": "A01", "z_index": 7}}, _plane(9))
    second.flush()
    assert cold["planes"] == [["A/1/0/0", 0, 0, 3]]  # after the three it found, not over them
    assert _shape(root, "A/1/0/0") == [1, 1, 4, 8, 16]


def test_planes_go_from_a_descriptor_to_their_chunk_files(tmp_path) -> None:
    stack = np.stack([_plane(5), _plane(6)])
    source = tmp_path / "segment"
    source.write_bytes(stack.tobytes())
    fd = os.open(source, os.O_RDONLY)
    try:
        writer = PlateWriter(tmp_path / "p.zarr")
        cold = writer.write_item(
            0, {"components": {"well": "A01"}}, SegmentPlanes(fd, stack.shape, stack.dtype)
        )
    finally:
        os.close(fd)
    for (path, t, c, z), plane in zip(cold["planes"], stack):
        raw = chunk_file((cold["root"], path, t, c, z)).read_bytes()
        assert np.array_equal(np.frombuffer(raw, dtype="<u2").reshape(8, 16), plane)


def test_page_sized_planes_take_the_direct_path_with_the_same_bytes(tmp_path) -> None:
    stack = np.random.default_rng(3).integers(0, 4000, (3, 64, 64), dtype=np.uint16)
    source = tmp_path / "segment"
    source.write_bytes(stack.tobytes())  # 8 KiB planes: whole pages
    fd = os.open(source, os.O_RDONLY)
    planes = SegmentPlanes(fd, stack.shape, stack.dtype)
    try:
        cold = PlateWriter(tmp_path / "p.zarr").write_item(0, {"components": {}}, planes)
    finally:
        planes.close()
        os.close(fd)
    for (path, t, c, z), plane in zip(cold["planes"], stack):
        raw = chunk_file((cold["root"], path, t, c, z)).read_bytes()
        assert np.array_equal(np.frombuffer(raw, dtype="<u2").reshape(64, 64), plane)
