"""napari layout rules without napari: channel colours, plate tiles, slice labels, contrast."""

from __future__ import annotations

import numpy as np
import pytest

from viewers.napari.contrast import RunningContrast, close_enough, sample_step
from viewers.napari.layout import (
    PlateGrid,
    channel_order,
    default_channel_colormaps,
    plate_row_name,
    slice_text,
    well_position,
)


def test_channel_colours_follow_napari_channel_axis_convention():
    assert default_channel_colormaps(1) == ["gray"]
    assert default_channel_colormaps(2) == ["magenta", "green"]
    assert default_channel_colormaps(3) == ["cyan", "magenta", "yellow"]
    assert default_channel_colormaps(8)[6:] == ["cyan", "magenta"]  # the cycle repeats


def test_channels_are_ordered_by_value_not_arrival():
    assert channel_order([3, 1, 2, 1]) == [1, 2, 3]
    assert channel_order(["DAPI", "GFP"]) == ["DAPI", "GFP"]
    assert channel_order([2, "x", 1]) == [1, 2, "x"]


@pytest.mark.parametrize(
    ("name", "position"),
    [
        ("A01", (0, 0)),
        ("B03", (1, 2)),
        ("P24", (15, 23)),
        ("AF48", (31, 47)),
        ("b3", (1, 2)),
        ("r02c03", (1, 2)),
        ("R16C24", (15, 23)),
        ("control", None),
        (7, None),
    ],
)
def test_well_names_map_to_plate_row_and_column(name, position):
    assert well_position(name) == position


def test_row_names_round_trip():
    assert [plate_row_name(r) for r in (0, 1, 25, 26, 31)] == ["A", "B", "Z", "AA", "AF"]


def test_plate_grid_never_puts_two_wells_on_the_same_tile():
    grid = PlateGrid(gap=0.1)
    assert grid.grow((256, 256)) and not grid.grow((100, 100))
    origins = {w: grid.origin(w) for w in ("A01", "A02", "B01", "B03", "ctrl", "blank")}
    assert origins["A01"] == (0, 0)
    assert origins["B03"] == (282, 564)  # row 1, column 2, 256 * 1.1 rounded up
    assert origins["ctrl"][0] < 0 and origins["blank"] != origins["ctrl"]  # above the plate
    assert len(set(origins.values())) == len(origins)
    tiles = [(y, x, y + 256, x + 256) for y, x in origins.values()]
    for i, a in enumerate(tiles):
        for b in tiles[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_plate_grid_pitch_follows_the_largest_plane():
    grid = PlateGrid(gap=0.0)
    grid.grow((100, 50))
    assert grid.origin("B02") == (100, 50)
    assert grid.grow((120, 40))
    assert grid.origin("B02") == (120, 50)


def test_slice_text_names_values_as_sent():
    assert slice_text([("well", "B03"), ("z_index", 3), ("site", None)]) == (
        "well B03   z_index 3   site -"
    )


def test_contrast_ignores_a_dim_first_plane_and_outliers():
    contrast = RunningContrast()
    assert contrast.limits() is None
    contrast.add(np.full((64, 64), 100, np.uint16))  # out of focus
    assert contrast.limits() == (100.0, 101.0)
    focused = np.random.default_rng(0).integers(100, 4000, (512, 512)).astype(np.uint16)
    focused[0, 0] = 65535  # one hot pixel
    for _ in range(3):
        contrast.add(focused)
    lo, hi = contrast.limits()
    assert lo == 100 and 3900 < hi < 4000


def test_contrast_of_float_and_signed_planes():
    contrast = RunningContrast()
    contrast.add(np.linspace(-1, 1, 10_000, dtype=np.float32).reshape(100, 100))
    lo, hi = contrast.limits()
    assert -1 < lo < -0.99 and 0.99 < hi < 1
    signed = RunningContrast()
    signed.add(np.arange(-50, 50, dtype=np.int16).reshape(10, 10))
    assert signed.limits() == (-50.0, 49.0)


def test_limits_compare_up_to_float_noise():
    assert close_enough((0.0, 1000.0), (0.0, 1000.0000001))
    assert not close_enough((0.0, 1000.0), (10.0, 20.0))


def test_an_arriving_plane_is_sampled_by_a_few_pages():
    """A lazy viewer reads 64 x 64 of each arriving plane for contrast and the overview (64
    rows of a 2048² plane: 64 pages, not 256); small planes are read whole."""
    assert sample_step((2048, 2048)) == 32
    assert sample_step((1, 2048, 2048)) == 32
    assert sample_step((64, 64)) == 1


def test_slider_values_are_the_values_sent_at_each_step():
    from viewers.napari.layout import slider_values

    keys = {"well": [("A01",), ("B03",)], "z_index": [(1,), (3,)]}
    assert slider_values(["well", "z_index"], [1, 0], keys) == [("well", "B03"), ("z_index", 1)]
    assert slider_values(["well", "0"], [5, 0], keys) == [("well", None)]  # past known; not ours
