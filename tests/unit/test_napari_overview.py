"""The plate overview model: wells at plate positions, live fill-in, colours, speed."""

from __future__ import annotations

import time

import numpy as np

from viewers.napari.overview import PlateOverview, plate_format


def test_plate_format_grows_from_96_to_384_to_1536():
    assert plate_format(2, 3) == (8, 12)
    assert plate_format(9, 3) == (16, 24)
    assert plate_format(16, 25) == (32, 48)


def test_wells_land_at_their_plate_row_and_column():
    overview = PlateOverview(target_width=120)  # 96-well plate: 10 px per well
    plane = np.full((64, 64), 1000, np.uint16)
    assert overview.add({"well": "B03", "channel": 1, "site": 1}, plane)
    assert not overview.add({"well": "control", "channel": 1}, plane)  # no plate position
    assert not overview.add({"well": "B03", "channel": 1, "site": 2}, plane)  # first site only
    image = overview.render({1: (0.0, 1.0, 0.0)}, {1: (0, 1000)})
    assert image.shape == (80, 120, 3)
    assert (image[10:20, 20:30] == [0, 255, 0]).all()  # B03: row 1, column 2, green
    assert image[0:10, 0:10].max() < 50  # A01 empty
    assert overview.well_at(15, 25) == "B03" and overview.well_at(5, 5) is None


def test_channels_blend_and_the_current_well_is_outlined():
    overview = PlateOverview(target_width=120)
    half = np.zeros((64, 64), np.uint16)
    half[:, :32] = 500
    overview.add({"well": "A01", "channel": 1}, half)
    overview.add({"well": "A01", "channel": 2}, half[:, ::-1].copy())
    image = overview.render(
        {1: (1.0, 0.0, 1.0), 2: (0.0, 1.0, 0.0)}, {1: (0, 500), 2: (0, 500)}, current="A01"
    )
    assert tuple(image[5, 2]) == (255, 0, 255) and tuple(image[5, 7]) == (0, 255, 0)
    assert tuple(image[0, 5]) == (255, 255, 255)  # outline


def test_z_planes_are_max_projected_so_focus_shows():
    overview = PlateOverview(target_width=120)
    for z, value in enumerate((10, 900, 20)):
        overview.add({"well": "A01", "channel": 1, "z_index": z}, np.full((32, 32), value))
    assert overview.mosaics[1][:10, :10].min() == 900


def test_a_larger_plate_keeps_what_arrived():
    overview = PlateOverview(target_width=240)
    overview.add({"well": "A01", "channel": 1}, np.full((64, 64), 7, np.uint16))
    overview.add({"well": "P24", "channel": 1}, np.full((64, 64), 9, np.uint16))
    assert (overview.rows, overview.cols, overview.cell) == (16, 24, 10)
    assert overview.mosaics[1][0, 0] == 7 and overview.mosaics[1][155, 235] == 9


def test_a_384_well_plate_stays_fast():
    overview = PlateOverview()
    plane = np.random.default_rng(0).integers(0, 4000, (512, 512)).astype(np.uint16)
    wells = [f"{chr(65 + r)}{c + 1:02d}" for r in range(16) for c in range(24)]
    start = time.perf_counter()
    for well in wells:
        for channel in (1, 2, 3):
            overview.add({"well": well, "channel": channel, "site": 1}, plane)
    per_plane = (time.perf_counter() - start) / (len(wells) * 3)
    start = time.perf_counter()
    colors = {1: (0, 1, 1), 2: (1, 0, 1), 3: (1, 1, 0)}
    image = overview.render(colors, {c: (0, 4000) for c in colors}, current="H12")
    render = time.perf_counter() - start
    assert image.shape[:2] == (16 * overview.cell, 24 * overview.cell)
    assert per_plane < 0.002 and render < 0.1, (per_plane, render)


def test_a_small_sample_fills_its_whole_well_square():
    """The viewer hands the overview a 64 x 64 sample of a 2048² plane: the whole of it
    shows in the well's square (no rows or columns cut off at the right or bottom)."""
    overview = PlateOverview()  # 96 wells: 23 px squares, not a divisor of 64
    sample = np.zeros((64, 64), np.uint16)
    sample[-1, -1] = 1000  # the plane's bottom-right corner
    overview.add({"well": "A01", "channel": 1}, sample)
    cell = overview.cell
    square = overview.mosaics[1][:cell, :cell]
    assert square[-1, -1] == 1000 and square.max() == 1000
