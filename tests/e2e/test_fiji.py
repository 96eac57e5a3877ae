"""Hub + producer + a real ImageJ (Debian's ij.jar in a JVM) viewer process under Xvfb."""

from __future__ import annotations

import os

import numpy as np
import pytest

from backends import StreamingBackend
from hub import HubError

pytestmark = pytest.mark.e2e

CONFIG = {
    "channel_colors": {"1": "Green", "2": "Magenta"},
    "component_modes": {
        "well": "window",
        "channel": "channel",
        "z_index": "slice",
        "timepoint": "frame",
    },
}


def _read_png(path):
    import imageio.v3 as iio

    return iio.imread(path)


@pytest.fixture(scope="module")
def _module_fiji_hub(start_module_hub):
    hub = start_module_hub(("fiji",))
    hub.wait_viewers(timeout_s=120)
    return hub


@pytest.fixture
def fiji_hub(_module_fiji_hub):
    """One hub and ImageJ for the module (a JVM takes seconds to start), a new scene per
    test: ``clear`` closes ImageJ's windows, empties the ROI Manager, restarts the count."""
    _module_fiji_hub.clear()
    return _module_fiji_hub


def _window(hub, title="well=A01", planes=()):
    """A window by title: ``well=A01`` with CONFIG, ``viewerhub`` (the plate) by default."""
    windows = hub.inspect("fiji", planes=[list(p) for p in planes])["windows"]
    return next(w for w in windows if w["title"] == title)


def test_planes_land_at_their_position_with_channel_luts(fiji_hub):
    with StreamingBackend(hub=fiji_hub, display_config=CONFIG) as backend:
        for t in (1, 2):
            for c in (1, 2):
                for z in (1, 2, 3):
                    value = 100 * c + 10 * z + t
                    backend.save(
                        np.full((48, 64), value, np.uint16),
                        "",
                        well="A01",
                        channel=c,
                        z_index=z,
                        timepoint=t,
                    )
    fiji_hub.wait_viewers(n_items=12, timeout_s=60)
    window = _window(fiji_hub, planes=[(1, 2, 1), (0, 0, 0), (0, 1, 1)])
    assert window["dimensions"] == [64, 48, 2, 3, 2]
    assert window["bit_depth"] == 16 and window["composite"]
    assert window["planes"]["1,2,1"]["corner"] == 232  # channel 2, z 3, t 2
    assert window["planes"]["0,0,0"]["corner"] == 111
    assert window["planes"]["0,1,1"]["corner"] == 122
    assert [ch["lut_max_rgb"] for ch in window["channels"]] == [[0, 255, 0], [255, 0, 255]]


def test_a_3d_array_is_a_whole_z_stack(fiji_hub):
    stack = np.stack([np.full((32, 32), v, np.uint8) for v in (10, 20, 30, 40)])
    with StreamingBackend(hub=fiji_hub) as backend:
        backend.save(stack, "", well="A01", channel=1)
    fiji_hub.wait_viewers(n_items=1, timeout_s=60)
    window = _window(fiji_hub, "viewerhub", planes=[(0, z, 0) for z in range(4)])
    assert window["dimensions"] == [32, 32, 1, 4, 1]
    assert [window["planes"][f"0,{z},0"]["corner"] for z in range(4)] == [10, 20, 30, 40]


def test_shapes_become_roi_manager_rois_with_positions(fiji_hub):
    shapes = [
        {"kind": "polygon", "coords": [[10, 10], [10, 40], [30, 40]], "name": "cell"},
        {"kind": "rectangle", "coords": [[5, 6], [15, 26]], "name": "box"},
        {"kind": "ellipse", "coords": [[20, 20], [30, 40]], "name": "oval"},
        {"kind": "line", "coords": [[1, 2], [3, 4]], "name": "line"},
        {"kind": "polyline", "coords": [[1, 2], [3, 4], [5, 9]], "name": "path"},
        {"kind": "points", "coords": [[5, 5], [7, 9]], "name": "spots"},
    ]
    with StreamingBackend(hub=fiji_hub, display_config=CONFIG) as backend:
        for z in (1, 2):
            backend.save(np.zeros((64, 64), np.uint16), "", well="A01", channel=1, z_index=z)
        backend.save(shapes, "", well="A01", channel=1, z_index=2)
    fiji_hub.wait_viewers(n_items=3, timeout_s=60)
    rois = {r["name"]: r for r in _window(fiji_hub)["rois"]}
    assert {n: r["type_name"] for n, r in rois.items()} == {
        "cell": "Polygon",
        "box": "Rectangle",
        "oval": "Oval",
        "line": "Straight Line",
        "path": "Polyline",
        "spots": "Point",
    }
    assert all(r["position"] == [1, 2, 1] for r in rois.values())
    assert rois["cell"]["x"] == [10, 40, 40] and rois["cell"]["y"] == [10, 10, 30]
    assert rois["box"]["bounds"] == [6, 5, 20, 10]
    assert rois["spots"]["x"] == [5, 9] and rois["spots"]["y"] == [5, 7]


def test_screenshot_shows_the_image_and_the_roi_outline(fiji_hub, tmp_path):
    plane = np.zeros((100, 100), np.uint16)
    plane[60:90, 60:90] = 4000
    plane[0, 0] = 0
    outline = [
        {
            "kind": "polygon",
            "coords": [[10, 10], [10, 50], [50, 50], [50, 10]],
            "color": "#ff0000",
            "name": "cell",
        }
    ]
    with StreamingBackend(hub=fiji_hub) as backend:
        backend.save(plane, "", well="A01", channel=1)
        backend.save(outline, "", well="A01", channel=1)
    fiji_hub.wait_viewers(n_items=2, timeout_s=60)
    shot = _read_png(
        fiji_hub.screenshot("fiji", tmp_path / "fiji.png", components={"well": "A01", "channel": 1})
    )
    assert shot.shape[:2] == (100, 100)
    assert shot[75, 75].min() > 200  # the bright square, grey LUT
    assert shot[30, 30].max() < 30  # inside the outline: dark image
    red = (shot[..., 0] > 200) & (shot[..., 1] < 60) & (shot[..., 2] < 60)
    assert red[10, 10:51].sum() > 30 and red[10:51, 50].sum() > 30  # top and right edges
    assert red[60:, :].sum() == 0


def test_bad_items_are_reported_and_imagej_keeps_running(fiji_hub):
    errors = fiji_hub.status()["viewers"]["fiji"]["errors"]  # counted across scenes
    with StreamingBackend(hub=fiji_hub) as backend:
        backend.save(np.zeros((32, 32), np.uint16), "", well="A01", channel=1)
        backend.save(np.zeros((64, 64), np.uint16), "", well="A01", channel=2)  # too large
        backend.save(
            np.zeros((32, 32), np.uint16),
            "",
            well="B01",
            channel=1,
            display_config={"lut": "Plaid"},
        )
        backend.save(np.ones((32, 32), np.uint16), "", well="A01", channel=1, z_index=2)
    status = fiji_hub.wait_viewers(n_items=4, timeout_s=60)["viewers"]["fiji"]
    assert status["errors"] - errors == 2 and status["state"] == "running"
    assert "Plaid" in status["last_error"]
    # Wells share the plate window by default (issue #13: not one window per well).
    assert _window(fiji_hub, "viewerhub")["dimensions"][2:] == [1, 2, 1]  # refused: no trace


def test_inspecting_an_unknown_viewer_is_an_error(fiji_hub):
    with pytest.raises(HubError, match="no connected viewer"):
        fiji_hub.inspect("nobody")


def test_headless_imagej_still_takes_screenshots_and_keeps_rois(start_hub, tmp_path):
    hub = start_hub(("fiji",), viewer_options={"fiji": {"headless": True}})
    hub.wait_viewers(timeout_s=120)
    plane = np.zeros((40, 40), np.uint8)
    plane[10:30, 10:30] = 200
    with StreamingBackend(hub=hub) as backend:
        backend.save(plane, "", well="A01", channel=1)
        backend.save(
            [
                {
                    "kind": "rectangle",
                    "coords": [[5, 5], [35, 35]],
                    "color": "#00ff00",
                    "name": "box",
                }
            ],
            "",
            well="A01",
            channel=1,
        )
    hub.wait_viewers(n_items=2, timeout_s=60)
    shot = _read_png(hub.screenshot("fiji", tmp_path / "h.png", components={"well": "A01"}))
    green = (shot[..., 1] > 200) & (shot[..., 0] < 60)
    assert shot[20, 20].min() > 150 and green[5, 5:36].sum() > 20
    assert [r["type_name"] for r in _window(hub, "viewerhub")["rois"]] == ["Rectangle"]


@pytest.mark.skipif(not os.environ.get("FIJI_HOME"), reason="needs a Fiji install (FIJI_HOME)")
def test_a_users_fiji_installation_through_pyimagej(start_hub):
    hub = start_hub(("fiji",), viewer_options={"fiji": {"fiji": os.environ["FIJI_HOME"]}})
    status = hub.wait_viewers(timeout_s=300)["viewers"]["fiji"]
    assert status["viewer"]["source"] == os.environ["FIJI_HOME"]
    with StreamingBackend(hub=hub) as backend:
        backend.save(
            np.zeros((16, 16), np.uint16),
            "",
            well="A01",
            channel=1,
            display_config={"lut": "mpl-viridis"},
        )  # a LUT only Fiji ships
    assert hub.wait_viewers(n_items=1, timeout_s=60)["viewers"]["fiji"]["errors"] == 0
