"""The viewer client's plane bookkeeping: cold messages re-point refs and release held items."""

from __future__ import annotations

import numpy as np

from contract.planes import PlaneRef
from viewers import client_planes
from viewers.client_planes import ClientPlanes

COLD = {"root": "/store/scene-1.zarr", "planes": [["A/1/0/0", 0, 1, 2]]}


def test_a_cold_message_re_points_refs_in_place():
    planes = ClientPlanes()
    ref = PlaneRef((4, 4), np.dtype("uint16"), segment="viewerhub-1-3-00000000")
    planes.keep(7, [ref])
    moved, ready = planes.apply_cold([[7, COLD], [99, COLD], "junk", [8]])
    assert moved == [ref] and ready == []
    assert ref.cold == ("/store/scene-1.zarr", "A/1/0/0", 0, 1, 2) and not ref.hot


def test_a_held_item_is_released_by_its_cold_message_or_expires(monkeypatch):
    planes = ClientPlanes()
    planes.hold(3, 5, {"kind": "image"})
    planes.hold(3, 6, {"kind": "image"})
    _, ready = planes.apply_cold([[5, COLD]])
    assert [(h.index, h.header["cold"]) for h in ready] == [(5, COLD)]
    assert planes.expired() == []  # 6 may still hear where it went
    monkeypatch.setattr(client_planes.time, "monotonic", lambda: 1e12)
    assert [h.index for h in planes.expired()] == [6] and not planes.held


def test_a_new_scene_forgets_everything():
    planes = ClientPlanes()
    planes.keep(1, [])
    planes.hold(1, 2, {})
    planes.clear()
    assert not planes.refs and not planes.held


def test_cold_refs_of_items_not_kept_are_not_parsed(monkeypatch):
    """A cold message names every stored item; only the ones a viewer keeps refs for (or
    holds) are parsed: the recorder keeps none and reads none."""
    planes = ClientPlanes()
    assert not planes.waiting()
    parsed: list = []
    monkeypatch.setattr(client_planes, "cold_planes", lambda cold: parsed.append(cold))
    moved, ready = planes.apply_cold([[0, {"root": "/nowhere", "planes": []}]])
    assert (moved, ready, parsed) == ([], [], [])
