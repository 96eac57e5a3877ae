"""The hyperstack layout rule shared by the Fiji viewer and the recorder (no ImageJ needed)."""

from __future__ import annotations

import pytest

from viewers.hyperstack import HyperstackDisplayConfig, HyperstackLayout
from viewers.placement import place

CONFIG = HyperstackDisplayConfig()


def _plate(layout: HyperstackLayout) -> None:
    for well in ("A01", "B03"):
        for site in (1, 2):
            for c in (1, 2, 3):
                for z in (1, 2):
                    components = {"well": well, "site": site, "channel": c, "z_index": z}
                    layout.position(place(components, CONFIG))


def test_a_plate_is_one_window_with_wells_and_sites_on_frames():
    layout = HyperstackLayout()
    _plate(layout)
    assert place({"well": "B03", "site": 1, "channel": 1}, CONFIG).window == ()
    assert layout.dims() == (3, 2, 4)
    assert layout.index.keys["t"] == [("A01", 1), ("A01", 2), ("B03", 1), ("B03", 2)]


def test_labels_name_the_well_not_its_index():
    layout = HyperstackLayout()
    _plate(layout)
    assert layout.label(1, 0, 3) == "B03 site=2 channel=2 z_index=1"


def test_find_matches_partial_components_and_never_adds_positions():
    layout = HyperstackLayout()
    _plate(layout)
    assert layout.find({"well": "B03"}) == (None, None, 2)
    assert layout.find({"well": "B03", "site": "2", "z_index": 2}) == (None, 1, 3)
    with pytest.raises(KeyError, match="C07"):
        layout.find({"well": "C07"})
    assert layout.dims() == (3, 2, 4)


def test_shapes_without_a_channel_or_slice_go_on_every_one():
    layout = HyperstackLayout()
    _plate(layout)
    targets = layout.shape_targets(place({"well": "A01", "site": 2}, CONFIG))
    assert targets == [(None, None, 1)]
    pinned = layout.shape_targets(place({"well": "A01", "site": 2, "channel": 3}, CONFIG))
    assert pinned == [(2, None, 1)]


def test_shapes_naming_part_of_a_frame_land_on_every_matching_frame():
    layout = HyperstackLayout()
    for t in (1, 2):
        layout.position(place({"well": "A01", "site": 1, "channel": 1, "timepoint": t}, CONFIG))
    targets = layout.shape_targets(place({"well": "A01", "site": 1, "channel": 1}, CONFIG))
    assert targets == [(0, 0, 0), (0, 0, 1)]  # z: the one unnamed slice


def test_an_axis_no_component_names_is_one_unnamed_position():
    layout = HyperstackLayout()
    layout.position(place({"channel": 1, "z_index": 1}, CONFIG))
    assert layout.shape_targets(place({"channel": 1, "z_index": 1}, CONFIG)) == [(0, 0, 0)]
