"""Hub + producer + a real napari viewer process under Xvfb, checked on screenshot pixels."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from backends import StreamingBackend
from tests.conftest import wait_for

pytestmark = pytest.mark.e2e

SIZE = 128
STACK_CONFIG = {  # one layer, channel and z as sliders, fixed contrast so pixels are comparable
    "component_modes": {"channel": "stack", "z_index": "stack"},
    "component_order": ["channel", "z_index"],
    "auto_contrast": False,
    "contrast_limits": [0, 1000],
}


def _read_png(path):
    import imageio.v3 as iio

    return iio.imread(path)


def _bright_fraction(image: np.ndarray) -> float:
    return float((image[..., :3].min(axis=-1) > 200).mean())


def _yellow(image: np.ndarray) -> np.ndarray:
    r, g, b = (image[..., i].astype(int) for i in range(3))
    return (r > 180) & (g > 180) & (b < 80)


def reported_layers(hub, n: int) -> list[dict]:
    """The layers napari reports once its status (sent with each heartbeat) lists ``n``."""
    return wait_for(
        lambda: (
            (layers := hub.status()["viewers"]["napari"]["viewer"].get("layers", []))
            and len(layers) >= n
            and layers
        ),
        30,
        f"napari to report {n} layers",
    )


@pytest.fixture(scope="module")
def _module_napari_hub(start_module_hub):
    hub = start_module_hub(("napari",))
    hub.wait_viewers(timeout_s=120)
    return hub


@pytest.fixture
def napari_hub(_module_napari_hub):
    """One hub and napari for the module (napari takes seconds to start), a new scene per
    test: ``clear`` empties napari and restarts the shown count."""
    _module_napari_hub.clear()
    return _module_napari_hub


def _errors(hub) -> int:
    """Errors so far: the count lives as long as the viewer's session, across scenes."""
    return hub.status()["viewers"]["napari"]["errors"]


def test_bright_square_shows_only_at_its_channel_and_z(napari_hub, tmp_path):
    errors = _errors(napari_hub)
    planes, comps = [], []
    for c in (1, 2):
        for z in (1, 2, 3, 4):
            plane = np.full((SIZE, SIZE), 50, np.uint16)
            if (c, z) == (2, 3):
                plane[32:96, 32:96] = 1000
            planes.append(plane)
            comps.append({"channel": c, "z_index": z})
    with StreamingBackend(hub=napari_hub, display_config=STACK_CONFIG) as backend:
        backend.save_batch(planes, [""] * len(planes), components=comps)
    napari_hub.wait_viewers(n_items=len(planes), timeout_s=60)

    fractions = {}
    for c, z in ((2, 3), (2, 2), (1, 3), (2, 4)):
        path = napari_hub.screenshot(
            "napari", tmp_path / f"c{c}z{z}.png", components={"channel": c, "z_index": z}
        )
        fractions[(c, z)] = _bright_fraction(_read_png(path))
    assert fractions[(2, 3)] > 0.05, fractions
    assert all(fractions[k] == 0 for k in ((2, 2), (1, 3), (2, 4))), fractions
    status = napari_hub.status()["viewers"]["napari"]
    assert status["errors"] == errors
    layers = status["viewer"]["layers"]
    assert [(lay["type"], lay["shape"]) for lay in layers] == [("Image", [2, 4, SIZE, SIZE])]


def test_polygon_outline_is_drawn_over_its_image_only_at_its_z(napari_hub, tmp_path):
    config = {**STACK_CONFIG, "component_modes": {"z_index": "stack", "channel": "layer"}}
    with StreamingBackend(hub=napari_hub, display_config=config) as backend:
        for z in (1, 2):
            backend.save(np.full((SIZE, SIZE), 100, np.uint16), "", channel=1, z_index=z)
        square = [[20, 20], [20, 100], [100, 100], [100, 20]]
        backend.save(
            [
                {
                    "kind": "polygon",
                    "coords": square,
                    "color": "#ffff00",
                    "name": "cell 1",
                    "properties": {"area": 6400.0},
                }
            ],
            "",
            channel=1,
            z_index=2,
        )
    napari_hub.wait_viewers(n_items=3, timeout_s=60)
    at_z2 = _read_png(
        napari_hub.screenshot("napari", tmp_path / "z2.png", components={"z_index": 2})
    )
    at_z1 = _read_png(
        napari_hub.screenshot("napari", tmp_path / "z1.png", components={"z_index": 1})
    )
    yellow = _yellow(at_z2)
    assert yellow.sum() > 100
    ys, xs = np.nonzero(yellow)
    # The outline is a square ring: its pixels hug the four sides of their bounding box.
    box_h, box_w = ys.max() - ys.min(), xs.max() - xs.min()
    assert abs(box_h - box_w) <= 3
    inside = yellow[
        ys.min() + box_h // 4 : ys.max() - box_h // 4, xs.min() + box_w // 4 : xs.max() - box_w // 4
    ]
    assert inside.sum() == 0  # an outline, not a filled square
    assert _yellow(at_z1).sum() == 0
    layers = napari_hub.status()["viewers"]["napari"]["viewer"]["layers"]
    assert [(lay["name"], lay["type"]) for lay in layers] == [
        ("channel=1", "Image"),
        ("channel=1 shapes", "Shapes"),
    ]


def test_a_polygon_with_only_a_channel_is_drawn_on_every_well_and_z(napari_hub, tmp_path):
    """Issue #17: a shape set that omits well/site/z is shown on all of them, as in Fiji."""
    errors = _errors(napari_hub)
    with StreamingBackend(hub=napari_hub) as backend:
        for well in ("A01", "B02"):
            for z in (1, 2):
                backend.save(
                    np.full((SIZE, SIZE), 100, np.uint16), "", well=well, channel=1, z_index=z
                )
        triangle = [[10, 10], [10, 50], [40, 30]]
        backend.save([{"kind": "polygon", "coords": triangle, "color": "#ffff00"}], "", channel=1)
    status = napari_hub.wait_viewers(n_items=5, timeout_s=60)["viewers"]["napari"]
    assert status["errors"] == errors, status.get("last_error")
    for well, z in (("A01", 1), ("A01", 2), ("B02", 1), ("B02", 2)):
        path = tmp_path / f"{well}-{z}.png"
        shot = napari_hub.screenshot("napari", path, components={"well": well, "z_index": z})
        r, g, b = (_read_png(shot)[..., i].astype(int) for i in range(3))
        outline = (r > 120) & (g > 120) & (b < 60)  # on black: a shapes layer's 0.7 opacity
        assert outline.sum() > 50, (well, z)


def test_hub_screenshot_window_main_grabs_the_whole_napari_window(napari_hub, tmp_path):
    with StreamingBackend(hub=napari_hub) as backend:
        backend.save(np.full((SIZE, SIZE), 500, np.uint16), "", channel=1, z_index=1)
    napari_hub.wait_viewers(n_items=1, timeout_s=60)

    def shot(name: str, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "hub", "screenshot", "napari", str(tmp_path / name)]
            + ["--endpoint", napari_hub.ingest, *extra],
            capture_output=True,
            text=True,
            timeout=60,
        )

    for name, extra in (("canvas.png", ()), ("main.png", ("--window", "main"))):
        done = shot(name, *extra)
        assert done.returncode == 0, done.stderr
    canvas, main = _read_png(tmp_path / "canvas.png"), _read_png(tmp_path / "main.png")
    # the window holds the canvas plus the dims slider below it and the layer list beside it
    assert main.shape[0] > canvas.shape[0] and main.shape[1] > canvas.shape[1]
    wrong = shot("none.png", "--window", "no-such-window")
    assert wrong.returncode == 2 and "--window main" in wrong.stderr


def test_layer_mode_makes_one_layer_per_value(napari_hub):
    config = {
        "component_modes": {"channel": "layer", "z_index": "layer", "timepoint": "stack"},
        "component_order": ["channel", "z_index", "timepoint"],
    }
    with StreamingBackend(hub=napari_hub, display_config=config) as backend:
        for c in (1, 2):
            for z in (1, 2):
                for t in (1, 2, 3):
                    backend.save(
                        np.zeros((16, 16), np.uint8), "", channel=c, z_index=z, timepoint=t
                    )
    napari_hub.wait_viewers(n_items=12, timeout_s=60)
    expected = [(f"channel={c} z_index={z}", (3, 16, 16)) for c in (1, 2) for z in (1, 2)]

    def layers() -> list:  # the status of a heartbeat sent after the last item was shown
        return sorted((lay["name"], tuple(lay["shape"])) for lay in reported_layers(napari_hub, 4))

    wait_for(lambda: layers() == expected, 10, "the layers to report all their planes")


def test_bad_items_are_reported_and_the_viewer_keeps_showing(napari_hub):
    errors = _errors(napari_hub)
    with StreamingBackend(hub=napari_hub) as backend:
        backend.save(np.zeros((16, 16), np.uint8), "", channel=1, z_index=1)
        backend.save(np.zeros((16, 16), np.float32), "", channel=1, z_index=2)  # float into uint8
        backend.save(
            np.zeros((16, 16), np.uint8),
            "",
            channel=2,
            z_index=1,
            display_config={"colormap": "no-such-map"},
        )
        backend.save(np.ones((16, 16), np.uint8), "", channel=1, z_index=3)
    status = napari_hub.wait_viewers(n_items=4, timeout_s=60)["viewers"]["napari"]
    assert status["errors"] - errors == 2
    assert "colormap" in status["last_error"]
    wait_for(
        lambda: reported_layers(napari_hub, 1)[0]["shape"] == [3, 16, 16],
        30,
        "napari to report the third plane",
    )


def test_viewer_process_runs_napari_on_pyqt6(napari_hub):
    """PyQt5 is deprecated in napari (a notice in every window); the viewer picks PyQt6."""
    status = wait_for(lambda: napari_hub.status()["viewers"]["napari"].get("viewer"), 30)
    assert status["qt"] == "PyQt6"
    # windows, not headless: the display column of `hub status`, as for Fiji
    assert napari_hub.status()["viewers"]["napari"]["headless"] is False


def test_prefer_qt_binding_keeps_an_explicit_choice(monkeypatch):
    from viewers.napari.viewer import prefer_qt_binding

    monkeypatch.setenv("QT_API", "pyside6")
    assert prefer_qt_binding() == "pyside6"
