"""Spare layers (viewers/napari/spares.py) on a real napari window: a channel filled into a
spare looks and slices as a layer napari made for it, and a person never sees a spare."""

from __future__ import annotations

import numpy as np
import pytest

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
