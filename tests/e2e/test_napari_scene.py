"""NapariScene on a real in-process napari viewer: in-place updates, contrast, shapes, masks."""

from __future__ import annotations

import numpy as np
import pytest

from contract import shapes
from viewers.base import Item
from viewers.napari.config import NapariDisplayConfig
from viewers.napari.scene import NapariScene
from viewers.napari.stack import GrowableStack

pytestmark = pytest.mark.e2e


def image_item(index, components, array, config=None):
    return Item(index, "image", components, config or NapariDisplayConfig(), array=array)


def shapes_item(index, components, shape_list, config=None):
    return Item(index, "shapes", components, config or NapariDisplayConfig(), shapes=shape_list)


def test_growable_stack_grows_geometrically_and_keeps_data():
    stack = GrowableStack(2, (4, 4), np.dtype(np.uint16))
    for i in range(9):
        stack.write((i, 0), np.full((4, 4), i, np.uint16))
    assert stack.view.shape == (9, 1, 4, 4)
    assert stack._buffer.shape[0] == 16  # doubled, not grown by one each time
    assert [int(stack.view[i, 0, 0, 0]) for i in range(9)] == list(range(9))
    stack.write((0, 0), np.ones((6, 8), np.uint16))  # a larger plane pads every other plane
    assert stack.view.shape == (9, 1, 6, 8) and stack.view[3, 0, 5, 7] == 0


def test_planes_update_the_same_layer_in_place(make_napari_viewer):
    viewer = make_napari_viewer()
    scene = NapariScene(viewer)
    scene.show(image_item(0, {"channel": 1, "z_index": 1}, np.zeros((8, 8), np.uint16)))
    layer = viewer.layers["channel=1"]
    for z in range(2, 40):
        scene.show(image_item(z, {"channel": 1, "z_index": z}, np.full((8, 8), z, np.uint16)))
    assert viewer.layers["channel=1"] is layer and len(viewer.layers) == 1
    assert layer.data.shape == (39, 8, 8) and layer.data[38, 0, 0] == 39
    assert viewer.dims.axis_labels[0] == "z_index"


def test_user_contrast_survives_later_updates_and_growth(make_napari_viewer):
    viewer = make_napari_viewer()
    scene = NapariScene(viewer)
    scene.show(
        image_item(0, {"channel": 1, "z_index": 1}, np.arange(64, dtype=np.uint16).reshape(8, 8))
    )
    layer = viewer.layers["channel=1"]
    assert tuple(layer.contrast_limits) == (0, 63)  # auto from the first plane
    layer.contrast_limits = (10, 20)  # the user drags the slider
    scene.show(image_item(1, {"channel": 1, "z_index": 1}, np.full((8, 8), 5000, np.uint16)))
    scene.show(image_item(2, {"channel": 1, "z_index": 7}, np.full((8, 8), 9000, np.uint16)))
    scene.show(image_item(3, {"channel": 1, "z_index": 8}, np.full((12, 12), 1, np.uint16)))
    assert tuple(layer.contrast_limits) == (10, 20)


def test_channel_colormaps_come_from_the_config(make_napari_viewer):
    viewer = make_napari_viewer()
    config = NapariDisplayConfig.from_wire({"channel_colors": {"1": "green", "2": "Magenta"}})
    scene = NapariScene(viewer)
    for c in (1, 2):
        scene.show(image_item(c, {"channel": c}, np.ones((4, 4), np.uint8), config))
    assert viewer.layers["channel=1"].colormap.name == "green"
    assert viewer.layers["channel=2"].colormap.name == "magenta"


def test_shapes_points_and_masks_become_layers_on_the_image_dims(make_napari_viewer):
    viewer = make_napari_viewer()
    scene = NapariScene(viewer)
    comps = {"channel": 1, "z_index": 3, "timepoint": 5}
    scene.show(image_item(0, comps, np.zeros((32, 32), np.uint16)))
    outline = shapes.polygon(
        [[2, 2], [2, 10], [10, 10]],
        name="cell",
        color="#ff0000",
        properties={"area": 32.0, "label": 1},
    )
    ellipse = shapes.parse_shape({"kind": "ellipse", "coords": [[12, 12], [20, 24]]})
    spots = shapes.points([[5, 5], [6, 7]], color="#00ffff")
    mask_array = np.zeros((4, 4), bool)
    mask_array[1:3, 1:3] = True
    scene.show(
        shapes_item(1, comps, [outline, ellipse, spots, shapes.mask(mask_array, origin=(20, 20))])
    )
    shapes_layer = viewer.layers["channel=1 shapes"]
    assert shapes_layer.shape_type == ["polygon", "ellipse"]
    assert shapes_layer.ndim == 4
    np.testing.assert_array_equal(shapes_layer.data[0][:, :2], [[0, 0]] * 3)
    assert list(shapes_layer.features["area"][:1]) == [32.0]
    assert list(shapes_layer.features["name"]) == ["cell", ""]
    points_layer = viewer.layers["channel=1 points"]
    assert points_layer.data.shape == (2, 4)
    labels = viewer.layers["channel=1 masks"]
    assert labels.data.shape == (1, 1, 32, 32)
    assert labels.data[0, 0, 21, 21] == 1 and labels.data[0, 0, 20, 20] == 0
    # a second timepoint grows every layer of the group together
    scene.show(image_item(2, {**comps, "timepoint": 6}, np.zeros((32, 32), np.uint16)))
    scene.show(shapes_item(3, {**comps, "timepoint": 6}, [outline]))
    assert viewer.layers["channel=1 shapes"].data[2][0, :2].tolist() == [0, 1]


def test_item_with_other_stack_components_is_refused(make_napari_viewer):
    scene = NapariScene(make_napari_viewer())
    scene.show(image_item(0, {"channel": 1, "z_index": 1}, np.zeros((4, 4), np.uint8)))
    with pytest.raises(ValueError, match="sliders"):
        scene.show(image_item(1, {"channel": 1, "timepoint": 1}, np.zeros((4, 4), np.uint8)))


def test_separate_layers_for_other_sizes_and_clear_removes_everything(make_napari_viewer):
    viewer = make_napari_viewer()
    scene = NapariScene(viewer)
    config = NapariDisplayConfig.from_wire({"variable_size_handling": "separate_layers"})
    scene.show(image_item(0, {"channel": 1, "z_index": 1}, np.zeros((8, 8), np.uint8), config))
    scene.show(image_item(1, {"channel": 1, "z_index": 2}, np.zeros((16, 4), np.uint8), config))
    assert sorted(layer.name for layer in viewer.layers) == ["channel=1", "channel=1 size=16x4"]
    scene.clear()
    assert len(viewer.layers) == 0 and scene.status()["layers"] == []


def test_channel_colours_are_rechosen_as_channels_arrive_but_not_over_the_users(
    make_napari_viewer,
):
    viewer = make_napari_viewer()
    scene = NapariScene(viewer)
    plane = np.ones((4, 4), np.uint16)
    scene.show(image_item(0, {"channel": 2}, plane))
    assert viewer.layers["channel=2"].colormap.name == "gray"  # one channel: grey
    scene.show(image_item(1, {"channel": 1}, plane))
    assert [viewer.layers[f"channel={c}"].colormap.name for c in (1, 2)] == ["magenta", "green"]
    viewer.layers["channel=2"].colormap = "red"  # the user's choice
    scene.show(image_item(2, {"channel": 3}, plane))
    assert [viewer.layers[f"channel={c}"].colormap.name for c in (1, 2, 3)] == [
        "cyan",
        "red",
        "yellow",
    ]
    from napari.utils.colormaps import colormap_utils

    assert tuple(colormap_utils.MAGENTA_GREEN) == ("magenta", "green")  # still napari's sets
    assert tuple(colormap_utils.CMYBGR)[:3] == ("cyan", "magenta", "yellow")


def test_contrast_follows_focused_planes_after_a_dim_first_one(make_napari_viewer):
    viewer = make_napari_viewer()
    scene = NapariScene(viewer)
    dim = np.full((32, 32), 100, np.uint16)
    dim[:4] = 150
    scene.show(image_item(0, {"channel": 1, "z_index": 1}, dim))
    assert tuple(viewer.layers["channel=1"].contrast_limits) == (100, 150)
    bright = dim.copy()
    bright[8:24, 8:24] = 3000
    scene.show(image_item(1, {"channel": 1, "z_index": 2}, bright))
    assert tuple(viewer.layers["channel=1"].contrast_limits) == (100, 3000)


def test_two_wells_share_slider_positions_and_the_label_names_them(make_napari_viewer):
    viewer = make_napari_viewer()
    scene = NapariScene(viewer)
    for i, (well, z) in enumerate([("B03", 4), ("A01", 2), ("A01", 4), ("B03", 2)]):
        value = 1000 if well == "B03" else 10
        scene.show(
            image_item(i, {"well": well, "channel": 1, "z_index": z}, np.full((4, 4), value))
        )
    assert viewer.dims.axis_labels[:2] == ("well", "z_index")
    assert len(viewer.layers) == 1  # one well at a time: no layer per well
    result = scene.goto({"well": "A01", "z_index": 4})
    assert result["values"] == {"well": "A01", "z_index": 4}
    assert scene.label.text == "well A01   z_index 4"
    layer = viewer.layers["channel=1"]
    assert layer.data[tuple(viewer.dims.current_step[:2])][0, 0] == 10
    scene.goto({"well": "B03"})
    assert layer.data[tuple(viewer.dims.current_step[:2])][0, 0] == 1000


def test_wells_as_layers_sit_on_their_plate_tiles_with_names_on_top(make_napari_viewer):
    viewer = make_napari_viewer()
    scene = NapariScene(viewer)
    config = NapariDisplayConfig.from_wire({"component_modes": {"well": "window"}})
    for i, well in enumerate(("B03", "A01")):
        scene.show(image_item(i, {"well": well, "channel": 1}, np.ones((50, 40), np.uint8), config))
    a01, b03 = viewer.layers["well=A01 channel=1"], viewer.layers["well=B03 channel=1"]
    assert tuple(a01.translate) == (0, 0)
    assert tuple(b03.translate) == (54, 88)  # row 1, column 2; tile 50 x 40 plus 8 % gap
    assert viewer.layers[-1].name == "wells"
    assert list(viewer.layers["wells"].features["well"]) == ["B03", "A01"]
    scene.goto({"well": "B03"})
    assert scene.label.text.startswith("well B03")
    # a larger plane widens every tile, and every well moves with it
    scene.show(image_item(2, {"well": "A01", "channel": 1}, np.ones((50, 100), np.uint8), config))
    assert tuple(viewer.layers["well=B03 channel=1"].translate) == (54, 216)


def test_deferred_updates_reach_napari_on_flush_and_before_any_report(make_napari_viewer):
    viewer = make_napari_viewer()
    scene = NapariScene(viewer)
    scene.deferred = True
    for z in (1, 2, 3):
        scene.show(image_item(z, {"channel": 1, "z_index": z}, np.full((8, 8), z, np.uint16)))
    assert "channel=1" not in viewer.layers  # napari not yet told: one hand-over per batch
    assert scene.inspect()["layers"][0]["shape"] == [3, 8, 8]  # reports flush first
    layer = viewer.layers["channel=1"]  # made at the flush, with every plane of the batch
    assert viewer.dims.nsteps[0] == 3 and tuple(layer.contrast_limits) == (1, 3)
    scene.show(image_item(4, {"channel": 1, "z_index": 4}, np.full((8, 8), 4, np.uint16)))
    assert viewer.dims.nsteps[0] == 3  # a grown layer too waits for the flush
    scene.flush()
    assert viewer.dims.nsteps[0] == 4


def _shapes_in_view(viewer, layer_name: str, **steps: int) -> int:
    """How many shapes of a layer napari draws with the sliders at these steps."""
    current = list(viewer.dims.current_step)
    for axis, step in steps.items():
        current[list(viewer.dims.axis_labels).index(axis)] = step
    viewer.dims.current_step = tuple(current)
    return len(viewer.layers[layer_name]._view_indices)  # the shapes napari draws now


def test_shapes_without_some_components_show_on_every_step_of_those_sliders(
    make_napari_viewer,
):
    viewer = make_napari_viewer()
    scene = NapariScene(viewer)
    for i, (well, z) in enumerate((w, z) for w in ("A01", "B02") for z in (1, 2)):
        plane = np.zeros((64, 64), np.uint16)
        scene.show(image_item(i, {"well": well, "channel": 1, "z_index": z}, plane))
    assert list(viewer.dims.axis_labels) == ["well", "z_index", "y", "x"]
    triangle = shapes.parse_shape({"kind": "polygon", "coords": [[10, 10], [10, 50], [40, 30]]})
    scene.show(shapes_item(4, {"channel": 1}, [triangle]))  # issue #17: was ItemDoesNotFitError
    everywhere = "channel=1 on every well/z_index shapes"
    assert viewer.layers[everywhere].ndim == 2  # napari shows it on every well and z
    for well, z in ((0, 0), (0, 1), (1, 0), (1, 1)):
        assert _shapes_in_view(viewer, everywhere, well=well, z_index=z) == 1
    # well + z_index only (no channel, which is a layer here): that well and z, any channel
    box = shapes.parse_shape({"kind": "rectangle", "coords": [[5, 5], [20, 20]]})
    scene.show(shapes_item(5, {"well": "B02", "z_index": 2}, [box]))
    assert viewer.layers["hub shapes"].ndim == 4
    seen = {
        (w, z): _shapes_in_view(viewer, "hub shapes", well=w, z_index=z)
        for w in (0, 1)
        for z in (0, 1)
    }
    assert seen == {(0, 0): 0, (0, 1): 0, (1, 0): 0, (1, 1): 1}
    # z_index only, in the channel's group: every well (a leading slider) at that z
    scene.show(shapes_item(6, {"channel": 1, "z_index": 1}, [box]))
    on_z = "channel=1 on every well shapes"
    assert [_shapes_in_view(viewer, on_z, well=w, z_index=0) for w in (0, 1)] == [1, 1]
    assert _shapes_in_view(viewer, on_z, well=1, z_index=1) == 0
    # well only: the omitted slider (z) is not a leading one, so the set is copied onto each z
    scene.show(shapes_item(7, {"channel": 1, "well": "A01"}, [box]))
    assert [_shapes_in_view(viewer, "channel=1 shapes", well=0, z_index=z) for z in (0, 1)] == [
        1,
        1,
    ]
    assert _shapes_in_view(viewer, "channel=1 shapes", well=1, z_index=0) == 0
    # ... and onto a z that arrives later, as "every z" means
    scene.show(
        image_item(8, {"well": "A01", "channel": 1, "z_index": 3}, np.zeros((64, 64), np.uint16))
    )
    assert _shapes_in_view(viewer, "channel=1 shapes", well=0, z_index=2) == 1
    assert _shapes_in_view(viewer, "channel=1 shapes", well=1, z_index=2) == 0
    assert _shapes_in_view(viewer, on_z, well=1, z_index=2) == 0  # z_index=1 only
    # a component the images have no slider for is still refused, not guessed
    with pytest.raises(ValueError, match="sliders"):
        scene.show(shapes_item(9, {"channel": 1, "timepoint": 3}, [box]))
    scene.clear()
    assert len(viewer.layers) == 0


def test_follow_shows_the_newest_plane_once_per_flush(make_napari_viewer):
    viewer = make_napari_viewer()
    scene = NapariScene(viewer)
    scene.deferred = True
    scene.follow.enabled = True
    for i, well in enumerate(("A01", "A02", "A03")):
        for z in (1, 2):
            plane = np.full((8, 8), 10 * i + z, np.uint16)
            scene.show(image_item(2 * i + z, {"well": well, "channel": 1, "z_index": z}, plane))
        scene.flush(force=False)  # the sliders jump to the newest plane: the new well
        shown = np.asarray(viewer.layers["channel=1"]._slice.image.raw)
        assert viewer.dims.current_step[:2] == (i, 1) and shown.max() == 10 * i + 2
    assert viewer.dims.nsteps[:2] == (3, 2)


def test_a_grown_multiscale_layer_keeps_its_level_and_a_locked_one(make_napari_viewer):
    """napari's data setter starts a multiscale layer at its coarsest level and drops a
    level the user locked; a layer the stream grows keeps the level it was drawn at."""
    viewer = make_napari_viewer()
    scene = NapariScene(viewer)
    plane = np.zeros((1024, 1024), np.uint16)
    scene.show(image_item(0, {"channel": 1, "z_index": 1}, plane))
    layer = viewer.layers["channel=1"]
    assert layer.multiscale and len(layer.level_shapes) == 2
    layer.data_level = 0  # as napari picks it for a close view
    scene.show(image_item(1, {"channel": 1, "z_index": 2}, plane))
    assert layer.data.shape[0] == 2 and layer.data_level == 0
    layer.locked_data_level = 1  # the user's choice in the layer controls
    scene.show(image_item(2, {"channel": 1, "z_index": 3}, plane))
    assert layer.data.shape[0] == 3 and layer.locked_data_level == 1
