"""The start-up warm-up leaves napari as it found it (no layer, the label as it was)."""

from __future__ import annotations

import pytest

from viewers.napari.plate_tiles import text_overlay
from viewers.napari.warmup import WARM_UP_NAME, warm_up

pytestmark = pytest.mark.e2e


def test_warm_up_leaves_no_layer_and_restores_the_label(make_napari_viewer):
    viewer = make_napari_viewer()
    label = text_overlay(viewer)
    before = (label.text, label.visible)
    assert warm_up(viewer) > 0
    assert len(viewer.layers) == 0 and WARM_UP_NAME not in [layer.name for layer in viewer.layers]
    assert (label.text, label.visible) == before
    assert viewer.dims.ndim == 2  # the first real layer sets the sliders, as without warm-up
