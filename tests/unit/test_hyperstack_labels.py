"""Slice labels in ImageJ's stack order, as a Fiji virtual stack is built (no ImageJ needed)."""

from __future__ import annotations

from viewers.hyperstack import HyperstackDisplayConfig, HyperstackLayout
from viewers.placement import place

CONFIG = HyperstackDisplayConfig()


def _add(layout: HyperstackLayout, well: str, site: int, channels: int) -> None:
    for c in range(1, channels + 1):
        layout.position(place({"well": well, "site": site, "channel": c}, CONFIG))


def test_labels_run_channels_fastest_then_frames():
    layout = HyperstackLayout()
    _add(layout, "A01", 1, 2)
    _add(layout, "A01", 2, 2)
    assert layout.labels(layout.dims()) == [
        "A01 site=1 channel=1",
        "A01 site=1 channel=2",
        "A01 site=2 channel=1",
        "A01 site=2 channel=2",
    ]


def test_labels_of_known_positions_stay_when_the_plate_grows():
    layout = HyperstackLayout()
    _add(layout, "A01", 1, 2)
    before = layout.labels(layout.dims())
    _add(layout, "B03", 1, 2)
    after = layout.labels(layout.dims())
    assert after[: len(before)] == before and after[2:] == [
        "B03 site=1 channel=1",
        "B03 site=1 channel=2",
    ]
    assert layout == HyperstackLayout(layout.index, layout.names)  # the cache is not state
