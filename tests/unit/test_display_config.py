from __future__ import annotations

import json
from pathlib import Path

import pytest

from viewers.base import DisplayConfigError
from viewers.hyperstack import HyperstackDisplayConfig
from viewers.placement import AxisIndex, place

FIXTURES = Path(__file__).parents[1] / "fixtures"  # headers recorded from the real sender


def _openhcs_configs():
    return [
        json.loads((FIXTURES / name).read_text())["fiji"]["message"]["display_config"]
        for name in ("openhcs_sample_batch.json", "openhcs_sample_batch_rois.json")
    ]


@pytest.mark.parametrize("wire", _openhcs_configs())
def test_openhcs_fiji_display_config_round_trips(wire):
    config = HyperstackDisplayConfig.from_wire(wire)
    assert config.to_wire() == wire
    assert HyperstackDisplayConfig.from_wire(config.to_wire()) == config


def test_our_own_fields_round_trip():
    config = HyperstackDisplayConfig(
        channel_colors={"1": "Green", "2": "Magenta"},
        contrast_limits=(100.0, 4000.0),
        auto_contrast=False,
    )
    assert HyperstackDisplayConfig.from_wire(config.to_wire()) == config
    assert config.color_for(2) == "Magenta" and config.color_for(9) == "Grays"


def test_napari_modes_translate_to_hyperstack_modes():
    config = HyperstackDisplayConfig.from_wire(
        {"component_modes": {"well": "layer", "channel": "stack", "site": "stack"}}
    )
    assert config.component_modes == {"well": "window", "channel": "channel", "site": "frame"}


def test_foreign_axis_modes_fall_back_to_our_defaults():
    config = HyperstackDisplayConfig.from_wire(
        {
            "component_modes": {"well": "stack", "plate": "stack"},
            "component_order": ["plate", "well"],
        }
    )
    # a foreign mode takes our default: wells on frames, a plate in one window (issue #13)
    assert config.component_modes == {"well": "frame", "plate": "frame"}


def test_unknown_lut_is_an_error_listing_known_ones():
    with pytest.raises(DisplayConfigError, match="Grays"):
        HyperstackDisplayConfig(color="Plaid")


def test_placement_combines_components_on_one_axis_in_order():
    config = HyperstackDisplayConfig()
    p = place({"well": "A01", "site": 2, "channel": 1, "z_index": 3, "timepoint": 5}, config)
    assert p.window == ()  # a plate is one window by default (issue #13)
    assert p.axes == {"c": (1,), "z": (3,), "t": ("A01", 2, 5)}
    assert p.axis_components["t"] == ("well", "site", "timepoint")


def test_axis_positions_are_stable_and_grow():
    index = AxisIndex()
    assert index.position("c", (2,)) == (0, True)
    assert index.position("c", (1,)) == (1, True)
    assert index.position("c", (2,)) == (0, False)
    assert index.size("c") == 2
