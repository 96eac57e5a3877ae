"""The store writer yields to a burst of ingest, but never while memory is short."""

from __future__ import annotations

import time

from hub import store as store_module
from hub.store import SceneStore
from tests.unit.test_ingest_budget import PLANE, _parts

BIG = {"shape": [2048, 2048], "dtype": "uint16"}


def test_the_writer_waits_while_items_keep_coming_and_not_longer_than_its_cap(tmp_path):
    store = SceneStore(tmp_path, persistent=False)
    store._last_write_queued = time.monotonic() + 10  # items "keep coming" the whole time
    start = time.monotonic()
    store._defer({"shape": [256, 256], "dtype": "uint16"})
    assert time.monotonic() - start < 0.01  # a small plane costs the writer little
    start = time.monotonic()
    store._defer(BIG)
    waited = time.monotonic() - start
    assert store_module.DEFER_MAX_S <= waited < store_module.DEFER_MAX_S + 0.5
    store.hurry = True
    start = time.monotonic()
    store._defer(BIG)
    assert time.monotonic() - start < 0.01  # memory is short: write at once
    store.hurry = False
    store._last_write_queued = 0.0  # the stream paused: write at once
    start = time.monotonic()
    store._defer(BIG)
    assert time.monotonic() - start < 0.01


def test_ingest_hurries_the_writer_once_the_budget_is_three_quarters_full(tmp_path):
    ingest, scene, _, ops = _parts(budget=8 * PLANE)
    ingest.store = SceneStore(tmp_path, persistent=False)
    for i in range(7):
        ops.segments[f"s{i}"] = PLANE
        header = {"kind": "image", "shape": [2048, 2048], "dtype": "uint16", "segment": f"s{i}"}
        scene.append(header, f"s{i}", PLANE, key=f"k{i}", pixel_bytes=PLANE)
        ingest._hurry_store()
        assert ingest.store.hurry == ((i + 1) * 4 > 8 * 3)
