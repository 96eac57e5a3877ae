"""The real OpenHCS sender into a hub with the real napari and ImageJ viewers."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tests.conftest import wait_for
from tests.helpers import openhcs_sender as sender

pytest.importorskip("polystore")
pytestmark = pytest.mark.e2e


def test_a_fiji_port_batch_shows_in_imagej_and_in_napari(start_hub):
    from polystore.roi import ROI, PolygonShape

    base = random.randrange(30000, 39000, 20)
    hub = start_hub(
        ("napari", "fiji"),
        extra_args=["--openhcs", "--openhcs-ports", f"napari={base},fiji={base + 10}"],
    )
    hub.wait_viewers(timeout_s=120)
    planes, comps = [], []
    for c in (1, 2):
        for z in (1, 2):
            planes.append(np.full((40, 50), 100 * c + z, np.uint16))
            comps.append({"well": "A01", "site": 1, "channel": c, "z_index": z, "timepoint": 1})
    outline = ROI(
        shapes=[PolygonShape(np.array([[5.0, 5.0], [5.0, 30.0], [20.0, 30.0]]))],
        metadata={"label": 7},
    )
    sender.send(
        sender.backend("fiji"),
        "fiji",
        [*planes, [outline]],
        [f"p{i}.tif" for i in range(4)] + ["rois.roi.zip"],
        [*comps, comps[3]],
        port=base + 10,
        transport="ipc",
        modes={"well": "window", "site": "frame"},
    )
    hub.wait_viewers(n_items=5, timeout_s=60)

    fiji = hub.inspect("fiji", planes=[[1, 1, 0]])["windows"]
    (window,) = [w for w in fiji if w["title"] == "well=A01"]
    assert window["dimensions"] == [50, 40, 2, 2, 1]
    (roi,) = window["rois"]
    assert roi["type_name"] == "Polygon" and roi["position"] == [2, 2, 1]
    assert roi["x"] == [5, 30, 30] and roi["y"] == [5, 5, 20]

    def napari_layers() -> dict:  # its status comes with heartbeats: wait for a fresh one
        viewer = hub.status()["viewers"]["napari"]
        layers = {layer["name"]: layer for layer in viewer["viewer"].get("layers", [])}
        return layers if "well=A01 channel=2 shapes" in layers else {}

    layers = wait_for(napari_layers, 30, "napari's status to list the shapes layer")
    assert hub.status()["viewers"]["napari"]["errors"] == 0
    # napari translates Fiji modes: window -> layer, channel/slice/frame -> its defaults
    assert layers["well=A01 channel=1"]["type"] == "Image"
    assert layers["well=A01 channel=2 shapes"]["type"] == "Shapes"
