"""One colour table and one contrast rule, shared by the hub's validation and every viewer."""

from __future__ import annotations

import numpy as np
import pytest
from roifile import ImagejRoi

from contract import colors
from contract.display_config import DisplayConfigError, auto_limits
from contract.shapes import ShapeError, parse_shape
from viewers.hyperstack import HyperstackDisplayConfig
from viewers.imagej_rois import shape_to_rois


def test_names_and_hex_colours_parse_to_rgba():
    assert colors.to_rgba("purple") == (128, 0, 128, 255)
    assert colors.to_rgba("Grey") == colors.to_rgba("gray")
    assert colors.to_rgba("#ff000080") == (255, 0, 0, 128)
    assert colors.to_hex("red") == "#ff0000ff"


@pytest.mark.parametrize("bad", ["purpel", "#ff00", "ff0000", "", 3])
def test_unknown_colour_is_refused_with_the_known_names(bad):
    with pytest.raises(ValueError, match="magenta|not a string"):
        colors.to_rgba(bad)


def test_every_named_colour_is_accepted_by_the_hub_and_drawn_by_imagej():
    for name, hexcolor in colors.NAMED_COLORS.items():
        shape = parse_shape({"kind": "points", "coords": [[1, 2]], "color": name})
        (roi,) = shape_to_rois(shape)
        argb = ImagejRoi.frombytes(roi.tobytes()).stroke_color
        assert argb == bytes([255, *(int(hexcolor[i : i + 2], 16) for i in (1, 3, 5))])


def test_a_colour_outside_the_table_is_refused_at_the_hub_naming_the_table():
    with pytest.raises(ShapeError, match=r"not '#rrggbb\[aa\]' or one of red, green"):
        parse_shape({"kind": "points", "coords": [[1, 2]], "color": "chartreusey"})


def test_imagej_lut_names_are_canonicalised_in_one_place():
    assert colors.imagej_lut_name("grays") == "Grays"
    assert set(colors.IMAGEJ_BUILTIN_LUTS) <= set(colors.IMAGEJ_LUTS)
    with pytest.raises(DisplayConfigError, match="unknown LUT 'nope'"):
        HyperstackDisplayConfig(color="nope")


def test_auto_limits_are_the_01_and_999_percentiles_ignoring_nan():
    plane = np.arange(10_000, dtype=np.float32).reshape(100, 100)
    plane[0, 0] = np.nan
    lo, hi = auto_limits(plane)
    assert lo == pytest.approx(np.nanpercentile(plane, 0.1))
    assert hi == pytest.approx(np.nanpercentile(plane, 99.9))


def test_auto_limits_of_a_flat_or_empty_plane_are_still_a_range():
    assert auto_limits(np.full((4, 4), 7, np.uint16)) == (7.0, 8.0)
    assert auto_limits(np.array([np.nan])) == (0.0, 1.0)


def test_fixed_limits_win_only_when_auto_contrast_is_off():
    plane = np.arange(100, dtype=np.uint16)
    fixed = HyperstackDisplayConfig(contrast_limits=(5.0, 9.0), auto_contrast=False)
    assert fixed.limits_for(plane) == (5.0, 9.0)
    auto = HyperstackDisplayConfig(contrast_limits=(5.0, 9.0))
    assert auto.limits_for(plane) == auto_limits(plane)


def test_napari_running_contrast_agrees_with_the_rule_on_one_plane():
    from viewers.napari.contrast import RunningContrast

    rng = np.random.default_rng(0)
    for plane in (rng.random((64, 64)), (rng.random((64, 64)) * 4000).astype(np.uint16)):
        running = RunningContrast()
        running.add(plane)
        assert running.limits() == pytest.approx(auto_limits(plane), abs=1.0)


def test_a_channel_colour_is_given_only_when_the_producer_named_one():
    config = HyperstackDisplayConfig(channel_colors={"2": "Magenta"})
    assert config.given_color(2) == "Magenta"
    assert config.given_color(1) is None  # Fiji then uses its composite defaults
    assert config.color_for(1) == config.DEFAULT_COLOR
