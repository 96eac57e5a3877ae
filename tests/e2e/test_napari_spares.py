"""Spare layers (viewers/napari/spares.py) on a real napari window: a channel filled into a
spare looks and slices as a layer napari made for it, and a person never sees a spare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from contract import shapes
from viewers.base import Item
from viewers.napari.config import NapariDisplayConfig
from viewers.napari.scene import NapariScene
from viewers.napari.spares import SPARES, SpareLayers, is_spare

pytestmark = pytest.mark.e2e

SIZE = 1024  # the smallest planes napari gets as a multiscale (two levels)


def plane(channel: int, z: int) -> np.ndarray:
    image = np.zeros((SIZE, SIZE), np.uint16)
    y = 100 + 200 * channel
    image[y : y + 150, 100 + 200 * z : 250 + 200 * z] = 1000 * (channel + 1)
    return image


def show_well(scene: NapariScene, well: str) -> None:
    index = len(scene.groups) * 6
    for z in range(2):
        for channel in range(3):
            components = {"well": well, "channel": channel, "z_index": z}
            item = Item(index, "image", components, NapariDisplayConfig(), array=plane(channel, z))
            scene.show(item)
            index += 1
    scene.flush()


def looks(viewer) -> list[tuple]:
    return sorted(
        (
            layer.name,
            layer.colormap.name,
            tuple(layer.contrast_limits),
            tuple(layer.contrast_limits_range),
            tuple(layer.data.shape),
            str(layer.blending),
            layer.visible,
            layer.multiscale,
        )
        for layer in viewer.layers
        if not is_spare(layer)
    )


def test_a_channel_in_a_spare_looks_and_slices_as_a_layer_napari_made(make_napari_viewer):
    made, spared = make_napari_viewer(show=True), make_napari_viewer(show=True)
    plain = NapariScene(made)
    scene = NapariScene(spared)
    scene.spares = SpareLayers(spared)
    assert scene.spares.top_up() == SPARES and len(spared.layers) == SPARES
    assert spared.dims.ndim == 2  # spares add no slider

    for s in (plain, scene):
        show_well(s, "A01")
    assert len(scene.spares.spares()) == SPARES - 3  # the well's three channels took spares
    assert looks(spared) == looks(made)
    assert spared.dims.axis_labels == made.dims.axis_labels
    assert spared.layers.selection.active.name in {f"channel={c}" for c in range(3)}

    for viewer in (made, spared):  # z_index 1 of the well: each channel's square moved right
        viewer.window._qt_viewer.canvas.native.setFixedSize(600, 500)  # same view in both
        viewer.dims.set_current_step(viewer.dims.axis_labels.index("z_index"), 1)
        viewer.reset_view()
    shots = [v.screenshot(canvas_only=True, flash=False)[..., :3] for v in (made, spared)]
    assert shots[0].shape == shots[1].shape
    assert np.abs(shots[0].astype(int) - shots[1].astype(int)).max() <= 2
    assert shots[1].max() > 200  # the view was fit to the plane, not to a spare's 2 x 2


def test_a_person_never_sees_a_spare_and_keeps_their_selection(make_napari_viewer):
    viewer = make_napari_viewer(show=True)
    scene = NapariScene(viewer)
    scene.spares = SpareLayers(viewer)
    scene.spares.top_up()
    listed = viewer.window._qt_viewer.layers.model()  # the layer list a person sees
    assert listed.rowCount() == 0 and viewer.layers.selection.active is None

    show_well(scene, "A01")
    shown = [listed.index(row, 0).data() for row in range(listed.rowCount())]
    assert sorted(shown) == ["channel=0", "channel=1", "channel=2"], shown
    # the spares left are below every layer a person sees (drag-and-drop rows stay right)
    names = [layer.name for layer in viewer.layers]
    assert all(is_spare(layer) for layer in viewer.layers[: len(scene.spares.spares())]), names

    viewer.layers.selection.active = viewer.layers["channel=1"]  # the user's choice
    assert scene.spares.top_up(most=1) == 1  # as the idle viewer makes them again
    assert viewer.layers.selection.active is viewer.layers["channel=1"]
    assert set(viewer.layers.selection) == {viewer.layers["channel=1"]}
    assert listed.rowCount() == 3 and is_spare(viewer.layers[0])
    assert [layer["name"] for layer in scene.inspect()["layers"]] == names[-3:]


def framed(size: int) -> np.ndarray:
    """A dim plane with a bright frame at its edges: the frame on screen is the plane's extent."""
    image = np.full((size, size), 100, np.uint16)
    edge = size // 32
    image[:edge], image[-edge:], image[:, :edge], image[:, -edge:] = 1000, 1000, 1000, 1000
    return image


def frame_on_canvas(viewer) -> tuple[float, bool]:
    """(how much of the canvas the plane's frame spans, whether all of it is in view)."""
    shot = viewer.screenshot(canvas_only=True, flash=False)[..., :3].max(axis=-1)
    rows, cols = np.nonzero(shot > 200)
    if not len(rows):
        return 0.0, False
    height, width = shot.shape
    span = max((rows.max() - rows.min()) / height, (cols.max() - cols.min()) / width)
    inside = min(rows.min(), cols.min()) > 2 and rows.max() < height - 3 and cols.max() < width - 3
    return float(span), bool(inside)


def spared_scene(make_napari_viewer) -> tuple:
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_viewer.canvas.native.setFixedSize(500, 400)
    scene = NapariScene(viewer)
    scene.spares = SpareLayers(viewer)
    scene.spares.top_up()
    return viewer, scene


def test_the_first_layer_a_person_sees_is_fitted_to_the_view(make_napari_viewer):
    """napari fits the view only to a layer added to an empty list: with the spares there, 2-D
    planes with no slider (no new axis to make napari refit) stayed at a 2 x 2 spare's zoom,
    one pixel over the canvas; images after their shapes stayed fitted to the shapes."""
    flat, flat_scene = spared_scene(make_napari_viewer)  # 512²: layers napari makes
    for channel in range(2):
        item = Item(
            channel, "image", {"channel": channel}, NapariDisplayConfig(), array=framed(512)
        )
        flat_scene.show(item)
    flat_scene.flush()
    span, inside = frame_on_canvas(flat)
    assert inside and span > 0.8, (span, inside, flat.camera.zoom)

    viewer, scene = spared_scene(make_napari_viewer)  # ROIs first, then their 1024² image
    box = shapes.parse_shape({"kind": "rectangle", "coords": [[100, 100], [300, 400]]})
    comps = {"well": "A01", "channel": 0, "z_index": 0}
    scene.show(Item(0, "shapes", comps, NapariDisplayConfig(), shapes=[box]))
    scene.show(Item(1, "image", comps, NapariDisplayConfig(), array=framed(SIZE)))
    scene.flush()
    span, inside = frame_on_canvas(viewer)
    assert inside and span > 0.8, (span, inside, viewer.camera.zoom)


def test_an_idle_top_up_leaves_what_a_person_is_using_alone(make_napari_viewer):
    """Spares made again while the stream pauses: no selection change (napari activated each
    new layer, swapping the layer controls under a person dragging a contrast slider), and
    the view, sliders and shown layers stay as the person left them."""
    from qtpy.QtWidgets import QApplication

    viewer, scene = spared_scene(make_napari_viewer)
    show_well(scene, "A01")
    show_well(scene, "B02")
    viewer.layers.selection.active = viewer.layers["channel=1"]
    viewer.dims.set_current_step(viewer.dims.axis_labels.index("z_index"), 1)
    viewer.camera.zoom, viewer.camera.center = 2.0, (0.0, 300.0, 200.0)
    controls = viewer.window._qt_viewer.controls  # the layer controls a person drags in
    QApplication.processEvents()

    def seen() -> tuple:
        return (
            controls.currentWidget(),
            set(viewer.layers.selection),
            viewer.layers.selection.active,
            tuple(viewer.dims.current_step),
            tuple(viewer.dims.axis_labels),
            tuple(viewer.camera.center),
            viewer.camera.zoom,
            [layer.name for layer in viewer.layers if not is_spare(layer)],
        )

    before, events = seen(), []
    viewer.layers.selection.events.connect(lambda event: events.append(event.type))
    controls.currentChanged.connect(lambda index: events.append(("controls", index)))
    assert scene.spares.top_up() == 3  # as the idle viewer does, one a second
    QApplication.processEvents()
    assert events == [] and seen() == before


def test_a_row_dropped_below_the_list_goes_to_its_bottom_not_below_the_spares(
    make_napari_viewer,
):
    """A row dropped on the empty space under the layer list (Qt's row -1; reproduced with
    xdotool under Xvfb) went below the hidden spares, and later drops landed a row off."""
    from qtpy.QtCore import QModelIndex, Qt

    viewer, scene = spared_scene(make_napari_viewer)
    show_well(scene, "A01")
    listed = viewer.window._qt_viewer.layers.model()

    def rows() -> list[str]:
        return [listed.index(row, 0).data() for row in range(listed.rowCount())]

    def drop(row_from: int, row_to: int) -> None:
        data = listed.mimeData([listed.index(row_from, 0)])
        assert listed.dropMimeData(data, Qt.DropAction.MoveAction, row_to, 0, QModelIndex())

    assert rows() == ["channel=2", "channel=1", "channel=0"]
    drop(0, -1)  # the top row onto the empty space below the rows
    assert rows() == ["channel=1", "channel=0", "channel=2"]
    assert all(is_spare(layer) for layer in viewer.layers[: len(scene.spares.spares())])
    drop(0, 3)  # the top row to the bottom edge of the last row
    assert rows() == ["channel=0", "channel=2", "channel=1"]
    drop(2, 1)  # the bottom row between the first two
    assert rows() == ["channel=0", "channel=1", "channel=2"]

    # a drag runs Qt's event loop, so the viewer polls meanwhile: a spare made (or filled)
    # during the drag shifts every layer's list position under it
    dragged = listed.mimeData([listed.index(0, 0)])  # channel=0, picked up
    assert scene.spares.top_up() == 3
    assert listed.dropMimeData(dragged, Qt.DropAction.MoveAction, 3, 0, QModelIndex())
    assert rows() == ["channel=1", "channel=2", "channel=0"]


def test_show_all_layers_leaves_the_spares_out_of_grid_mode(make_napari_viewer):
    """napari's "Show All Unselected Layers" (the layer list's context menu) showed the
    spares too; grid mode then gave each an empty panel, the channels pushed to a corner."""
    from napari._app_model import get_app_model

    viewer, scene = spared_scene(make_napari_viewer)
    for channel in range(2):
        image = np.full((SIZE, SIZE), 100, np.uint16)
        image[200:800, 200:800] = 1000
        comps = {"well": "A01", "channel": channel}
        scene.show(Item(channel, "image", comps, NapariDisplayConfig(), array=image))
    scene.flush()
    viewer.layers.selection.active = viewer.layers["channel=0"]
    commands = get_app_model().commands
    commands.execute_command("napari.layer.hide_unselected").result()
    commands.execute_command("napari.layer.show_unselected").result()
    assert [layer.name for layer in viewer.layers if layer.visible] == ["channel=0", "channel=1"]

    viewer.canvas.grid.enabled = True  # one panel per channel, side by side, no empty one
    viewer.reset_view()
    shot = viewer.screenshot(canvas_only=True, flash=False)[..., :3].max(axis=-1)
    rows = np.nonzero(shot.max(axis=1) > 200)[0]
    height = shot.shape[0]
    assert abs((rows.min() + rows.max()) / 2 - height / 2) < height / 8, (rows.min(), rows.max())


def test_save_all_layers_saves_the_channels_not_the_spares(make_napari_viewer, tmp_path):
    """File > Save All Layers (``LayerList.save``) wrote the spares too and failed on them
    (napari cannot write a multiscale), for small planes that save fine alone."""
    viewer, scene = spared_scene(make_napari_viewer)
    for channel in range(2):
        comps = {"well": "A01", "channel": channel}
        scene.show(Item(channel, "image", comps, NapariDisplayConfig(), array=framed(256)))
    scene.flush()
    saved = viewer.layers.save(str(tmp_path / "saved"), plugin="napari")
    assert sorted(Path(path).name for path in saved) == ["channel=0.tif", "channel=1.tif"]


def test_a_first_well_as_a_tile_fills_the_view_with_the_spares_at_hand(make_napari_viewer):
    """napari fits the view to every layer, hidden ones too: spares left at the origin pulled
    a tile layout's first well (B03, not at the plate's corner) into a corner of the canvas,
    and the label lost the well's name."""
    viewer, scene = spared_scene(make_napari_viewer)
    config = NapariDisplayConfig(component_modes={"well": "layer", "z_index": "stack"})
    for channel in range(2):  # identical planes: the composite's frame is white
        comps = {"well": "B03", "channel": channel, "z_index": 0}
        scene.show(Item(channel, "image", comps, config, array=framed(SIZE)))
    scene.flush()
    assert scene.label.text.startswith("well B03"), scene.label.text
    shot = viewer.screenshot(canvas_only=True, flash=False)[..., :3].min(axis=-1)
    rows, cols = np.nonzero(shot > 200)  # white: the frame (the light blue labels are not)
    height, width = shot.shape
    span = max((rows.max() - rows.min()) / height, (cols.max() - cols.min()) / width)
    assert span > 0.8 and min(rows.min(), cols.min()) > 2, (span, rows.min(), cols.min())


def test_stepping_through_layers_with_the_keyboard_stops_at_the_bottom_channel(
    make_napari_viewer,
):
    """napari's Ctrl+Down / Shift+Alt+Down ("select (and show only) the layer below") step
    through the whole list: from the bottom channel they selected a hidden spare, and "show
    only" hid every channel, leaving a black canvas. napari.layers.select_all() (console)
    took the spares too. Nothing a person cannot see is selected."""
    from napari.components._viewer_key_bindings import show_only_layer_below

    viewer, scene = spared_scene(make_napari_viewer)
    show_well(scene, "A01")
    viewer.layers.selection.active = viewer.layers["channel=0"]  # the bottom row
    show_only_layer_below(viewer)  # as the keys do: nothing below, the channel stays
    assert viewer.layers.selection.active is viewer.layers["channel=0"]
    assert [layer.name for layer in viewer.layers if layer.visible] == ["channel=0"]
    assert viewer.screenshot(canvas_only=True, flash=False)[..., :3].max() > 200

    viewer.layers.select_all()
    assert not any(is_spare(layer) for layer in viewer.layers.selection)
    assert len(viewer.layers.selection) == 3
