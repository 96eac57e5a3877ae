"""goto's one derivation for hyperstack viewers: components -> (window, 0-based c/z/t)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from viewers.hyperstack import HyperstackDisplayConfig, HyperstackLayout, goto_target
from viewers.placement import WindowKey, place


@dataclass
class FakeWindow:
    layout: HyperstackLayout = field(default_factory=HyperstackLayout)


def _windows(config: HyperstackDisplayConfig) -> dict[WindowKey, FakeWindow]:
    windows: dict[WindowKey, FakeWindow] = {}
    for well in ("A01", "B03"):
        for c in (1, 2):
            for z in (1, 2, 3):
                placement = place({"well": well, "channel": c, "z_index": z}, config)
                windows.setdefault(placement.window, FakeWindow()).layout.position(placement)
    return windows


def test_partial_components_name_a_window_and_leave_other_axes_unset():
    config = HyperstackDisplayConfig.from_wire({"component_modes": {"well": "window"}})
    windows = _windows(config)
    window, target = goto_target(windows, {"well": "B03", "z_index": 3}, config)
    assert window is windows[(("well", "B03"),)]
    assert target == (None, 2, None)


def test_a_plate_in_one_window_goes_to_the_well_frame():
    config = HyperstackDisplayConfig()
    windows = _windows(config)
    window, target = goto_target(windows, {"well": "B03", "channel": "2"}, config)
    assert target == (1, None, 1)


def test_an_unknown_window_or_value_is_a_key_error_naming_it():
    config = HyperstackDisplayConfig.from_wire({"component_modes": {"well": "window"}})
    windows = _windows(config)
    with pytest.raises(KeyError, match="no window for {'well': 'C07'}"):
        goto_target(windows, {"well": "C07"}, config)
    with pytest.raises(KeyError, match="z_index"):
        goto_target(windows, {"well": "A01", "z_index": 9}, config)
