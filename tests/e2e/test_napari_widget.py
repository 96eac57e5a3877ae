"""The npe2 dock widget connects a napari window the user already has to a running hub."""

from __future__ import annotations

import numpy as np
import pytest

from backends import StreamingBackend

pytestmark = pytest.mark.e2e


def test_manifest_declares_the_dock_widget():
    from npe2 import PluginManager

    manager = PluginManager.instance()
    manager.discover()
    manifest = manager.get_manifest("viewerhub")
    assert [w.display_name for w in manifest.contributions.widgets] == ["Connect to hub"]


def test_docked_widget_shows_the_hub_stream_in_an_existing_window(
    make_napari_viewer, qtbot, start_hub
):
    from viewers.napari.widget import HubConnectWidget

    hub = start_hub(viewers=())
    viewer = make_napari_viewer()
    widget = HubConnectWidget(viewer)
    viewer.window.add_dock_widget(widget, name="viewerhub")
    widget.endpoint.setText(hub.viewer_endpoint)
    widget.button.click()
    qtbot.waitUntil(lambda: "napari-docked" in hub.status()["viewers"], timeout=10_000)
    with StreamingBackend(hub=hub) as backend:
        backend.save(np.full((16, 16), 7, np.uint16), "", channel=1, z_index=1)
        backend.save(np.full((16, 16), 9, np.uint16), "", channel=1, z_index=2)
    qtbot.waitUntil(
        lambda: (
            "channel=1" in viewer.layers and viewer.layers["channel=1"].data.shape == (2, 16, 16)
        ),
        timeout=10_000,
    )
    assert "2 shown" in widget.state.text()
    widget.button.click()  # disconnect: the hub forgets the docked viewer, napari stays
    qtbot.waitUntil(
        lambda: hub.status()["viewers"]["napari-docked"]["state"] == "stopped", timeout=10_000
    )
    assert "channel=1" in viewer.layers
