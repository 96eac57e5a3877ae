"""A real plate in a real napari process, checked on full-screen grabs of what a person sees.

Wells A01 and B03, 2 sites x 3 channels x 5 z of 256² uint16; each well has its own content
(A01: a nucleus on the left and a magenta square; B03: a nucleus on the right and a yellow
bar), and z=1 is out of focus (dim). Screens are grabbed from the X root window
(ImageMagick ``import -window root``) and read inside napari's canvas rectangle; the window
grab and the root grab are written to the test's tmp_path for a person to look at.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from backends import StreamingBackend
from tests.conftest import wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("import") is None, reason="ImageMagick import is missing"),
]

SIZE = 256
WELLS = ("A01", "B03")
BRIGHT = 3000
N_ITEMS = len(WELLS) * 2 * 3 * 5
#: The display config the user guide shows (Fiji's vocabulary; napari translates it).
DOCS_CONFIG = {
    "component_modes": {
        "well": "window",
        "site": "frame",
        "channel": "channel",
        "z_index": "slice",
        "timepoint": "frame",
    },
}


def plate():
    """(plane, components) for the whole plate, in acquisition order."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for well in WELLS:
        for site in (1, 2):
            for channel in (1, 2, 3):
                for z in range(1, 6):
                    plane = np.full((SIZE, SIZE), 100.0)
                    if channel == 1:
                        cx = 70 if well == "A01" else 186
                        plane[(yy - 128) ** 2 + (xx - cx) ** 2 < 45**2] = BRIGHT
                    elif channel == 2 and well == "A01":
                        plane[20:90, 150:236] = BRIGHT
                    elif channel == 3 and well == "B03":
                        plane[180:240, 20:236] = BRIGHT
                    focus = 0.15 if z == 1 else 1.0
                    plane = 100 + (plane - 100) * focus + site * 10
                    comps = {"well": well, "site": site, "channel": channel, "z_index": z}
                    yield plane.astype(np.uint16), comps


def stream_plate(hub, config=None) -> None:
    with StreamingBackend(hub=hub, display_config=config or {}) as backend:
        for plane, comps in plate():
            backend.save(plane, "", **comps)
    hub.wait_viewers(n_items=N_ITEMS, timeout_s=120)


def look(hub, tmp_path: Path, name: str) -> tuple[dict, np.ndarray]:
    """Inspect napari (and grab its window), then grab the whole screen; canvas pixels."""
    import imageio.v3 as iio

    info = hub.inspect("napari", window_png=str(tmp_path / f"{name}-window.png"))
    root = tmp_path / f"{name}-screen.png"
    x, y, w, h = info["canvas_rect"]

    def grab() -> np.ndarray | None:
        # The on-screen canvas repaints on the next GL frame: wait for it (the slider label
        # is always drawn, so a canvas that is still all black has not been painted yet).
        subprocess.run(["import", "-window", "root", str(root)], check=True, timeout=30)
        canvas = iio.imread(root)[y : y + h, x : x + w, :3]
        return (canvas,) if canvas.max() > 100 else None

    return info, wait_for(grab, 10, "napari to paint its canvas on the screen")[0]


def colour(pixels: np.ndarray, name: str) -> np.ndarray:
    r, g, b = (pixels[..., i].astype(int) for i in range(3))
    hi, lo = 150, 100
    return {
        "cyan": (r < lo) & (g > hi) & (b > hi),
        "magenta": (r > hi) & (g < lo) & (b > hi),
        "yellow": (r > hi) & (g > hi) & (b < lo),
    }[name]


def centroid(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    return float(ys.mean()), float(xs.mean())


@pytest.fixture(scope="module")
def _module_napari_hub(start_module_hub):
    hub = start_module_hub(("napari",))
    hub.wait_viewers(timeout_s=120)
    return hub


@pytest.fixture
def napari_hub(_module_napari_hub):
    """One hub and napari for the module (napari takes seconds to start), a new scene per
    test: ``clear`` removes the layers, the plate overview and the well tiles."""
    _module_napari_hub.clear()
    return _module_napari_hub


def test_one_well_at_a_time_with_napari_channel_colours_and_named_sliders(napari_hub, tmp_path):
    stream_plate(napari_hub)
    napari_hub.goto("napari", well="A01", site=1, z_index=3)
    a01, canvas_a01 = look(napari_hub, tmp_path, "A01")
    napari_hub.goto("napari", well="B03", site=1, z_index=3)
    b03, canvas_b03 = look(napari_hub, tmp_path, "B03")

    # sliders named after components; the label says the values the producer sent
    assert a01["axis_labels"] == ["well", "site", "z_index", "y", "x"]
    assert a01["label"] == "well A01   site 1   z_index 3"
    assert b03["label"] == "well B03   site 1   z_index 3"
    # napari's channel_axis colours for three channels, additive within one well
    images = {lay["name"]: lay for lay in a01["layers"] if lay["type"] == "Image"}
    assert [images[f"channel={c}"]["colormap"] for c in (1, 2, 3)] == ["cyan", "magenta", "yellow"]
    # contrast from the data so far: the dim first plane did not set it
    for layer in images.values():
        lo, hi = layer["contrast_limits"]
        assert lo <= 120 and hi >= 0.9 * BRIGHT, layer

    # what a person sees: A01 alone (its square, no bar), then B03 alone (its bar, no square)
    count = {
        (well, name): int(colour(canvas, name).sum())
        for well, canvas in (("A01", canvas_a01), ("B03", canvas_b03))
        for name in ("cyan", "magenta", "yellow")
    }
    assert count["A01", "magenta"] > 2000 and count["A01", "yellow"] < 50, count
    assert count["B03", "yellow"] > 2000 and count["B03", "magenta"] < 50, count
    # the nucleus moved from the left half to the right half: the wells are not summed
    width = canvas_a01.shape[1]
    assert (
        centroid(colour(canvas_a01, "cyan"))[1]
        < width / 2
        < centroid(colour(canvas_b03, "cyan"))[1]
    )
    window = (tmp_path / "A01-window.png").stat().st_size
    assert window > 10_000  # the grab of the whole window (sliders, layer list) was written


def overview_cell(info: dict, screen: np.ndarray, well: str) -> np.ndarray:
    """Pixels of one well's square in the plate overview dock, from a full-screen grab."""
    overview = info["overview"]
    x, y = overview["rect"][:2]
    row, col = overview["wells"][well]
    cell = overview["cell"]
    return screen[
        y + row * cell + 2 : y + (row + 1) * cell - 2, x + col * cell + 2 : x + (col + 1) * cell - 2
    ]


def test_the_plate_overview_fills_in_and_a_click_shows_that_well(napari_hub, tmp_path):
    import imageio.v3 as iio

    xdotool = shutil.which("xdotool")
    if xdotool is None:
        pytest.skip("xdotool is missing")
    stream_plate(napari_hub)
    napari_hub.goto("napari", well="A01", site=1, z_index=3)
    info, _ = look(napari_hub, tmp_path, "overview")
    assert info["overview"]["wells"] == {"A01": [0, 0], "B03": [1, 2]}
    assert info["overview"]["plate"] == [8, 12]  # a 96-well plate, A01 top left
    screen = iio.imread(tmp_path / "overview-screen.png")[..., :3]
    a01, b03 = overview_cell(info, screen, "A01"), overview_cell(info, screen, "B03")
    assert colour(a01, "magenta").sum() > 5 and colour(a01, "yellow").sum() == 0
    assert colour(b03, "yellow").sum() > 5 and colour(b03, "magenta").sum() == 0

    # a person clicks B03 in the overview: napari shows B03
    x, y = info["overview"]["rect"][:2]
    cell = info["overview"]["cell"]
    click = (x + int(2.5 * cell), y + int(1.5 * cell))
    subprocess.run([xdotool, "mousemove", *map(str, click), "click", "1"], check=True, timeout=10)
    wait_for(
        lambda: napari_hub.inspect("napari")["label"].startswith("well B03"),
        10,
        "napari to show B03 after the click",
    )
    _, canvas = look(napari_hub, tmp_path, "clicked-B03")
    assert colour(canvas, "yellow").sum() > 2000 and colour(canvas, "magenta").sum() < 50


def test_wells_as_windows_are_plate_tiles_that_never_overlap(napari_hub, tmp_path):
    stream_plate(napari_hub, DOCS_CONFIG)
    napari_hub.goto("napari", site=1, z_index=3)
    plate_info, canvas = look(napari_hub, tmp_path, "plate")
    assert plate_info["label"] == "site 1   z_index 3"  # the whole plate: no single well
    images = [lay for lay in plate_info["layers"] if lay["type"] == "Image"]
    boxes = {}
    for layer in images:
        ty, tx = layer["translate"][-2:]
        h, w = layer["shape"][-2:]
        boxes.setdefault(layer["name"].split()[0], set()).add((ty, tx, ty + h, tx + w))
    assert sorted(boxes) == ["well=A01", "well=B03"]
    (a,), (b,) = boxes["well=A01"], boxes["well=B03"]
    assert a[:2] == (0, 0) and b[0] >= a[2] and b[1] >= a[3]  # B03: one row down, 2 right
    assert "wells" in [lay["name"] for lay in plate_info["layers"]]

    # both wells are on screen, A01's square up-left of B03's bar, nothing summed
    square, bar = colour(canvas, "magenta"), colour(canvas, "yellow")
    assert square.sum() > 200 and bar.sum() > 200
    (sy, sx), (by, bx) = centroid(square), centroid(bar)
    assert sy < by and sx < bx

    # going to a well zooms to its tile and names it
    napari_hub.goto("napari", well="B03", z_index=3)
    b03, canvas = look(napari_hub, tmp_path, "B03-tile")
    assert b03["label"].startswith("well B03")
    assert colour(canvas, "yellow").sum() > 5000 and colour(canvas, "magenta").sum() < 50


def test_closing_the_window_says_goodbye_without_tracebacks(start_hub, tmp_path):
    xdotool = shutil.which("xdotool")
    if xdotool is None:
        pytest.skip("xdotool is missing")
    hub = start_hub(("napari",))
    hub.wait_viewers(timeout_s=120)
    with StreamingBackend(hub=hub) as backend:
        backend.save(np.full((64, 64), 500, np.uint16), "", well="A01", channel=1, z_index=1)
        backend.save([{"kind": "points", "coords": [[5, 5]]}], "", well="A01", channel=1, z_index=1)
    hub.wait_viewers(n_items=2, timeout_s=60)

    def stopped() -> bool:
        return hub.status()["viewers"]["napari"]["state"] == "stopped"

    # Ctrl+W asks "Confirm to close window (or press 'Ctrl+W')": a second Ctrl+W confirms.
    # Pressed until the viewer stops, since a loaded machine may drop the first key.
    for _ in range(6):
        found = subprocess.run(
            [xdotool, "search", "--name", "viewerhub - napari"], capture_output=True, text=True
        )
        if found.stdout.split():
            window = found.stdout.split()[-1]
            subprocess.run([xdotool, "windowfocus", "--sync", window], timeout=10)
            subprocess.run([xdotool, "key", "ctrl+w"], check=True, timeout=10)
        time.sleep(1.5)
        if stopped():
            break
    wait_for(stopped, 30, "the napari viewer to report it stopped")
    status = hub.status()["viewers"]["napari"]
    assert status["restarts"] == 0  # a goodbye, not a crash the hub would restart
    log = (tmp_path / "hub.log").read_text()  # the viewer's stderr goes here too
    assert "Traceback" not in log and "has been deleted" not in log, log[-3000:]

    # `hub restart napari` opens a new window with the whole scene again
    hub._conn.control("restart", viewer="napari")
    hub.wait_viewers(n_items=2, timeout_s=120)
    shown = wait_for(
        lambda: (info := hub.inspect("napari"))["label"].startswith("well A01") and info, 30
    )
    assert {lay["name"] for lay in shown["layers"]} >= {"channel=1", "channel=1 points"}


def test_a_384_well_plate_streams_and_fills_the_overview(napari_hub, tmp_path):
    import imageio.v3 as iio

    wells = [f"{chr(65 + r)}{c + 1:02d}" for r in range(16) for c in range(24)]
    planes = {c: np.full((128, 128), 100 * c, np.uint16) for c in (1, 2, 3)}
    for c, plane in planes.items():
        plane[32:96, 32:96] = 1000 * c
    start = time.monotonic()
    with StreamingBackend(hub=napari_hub) as backend:
        for well in wells:
            for c, plane in planes.items():
                backend.save(plane, "", well=well, site=1, channel=c, z_index=1)
    napari_hub.wait_viewers(n_items=len(wells) * 3, timeout_s=180)
    elapsed = time.monotonic() - start
    napari_hub.goto("napari", well="P24")
    info, canvas = look(napari_hub, tmp_path, "plate384")
    assert info["label"].startswith("well P24")
    assert info["overview"]["plate"] == [16, 24] and len(info["overview"]["wells"]) == 384
    screen = iio.imread(tmp_path / "plate384-screen.png")[..., :3]
    for well in ("A01", "H12", "P24"):  # every corner of the plate filled in
        assert overview_cell(info, screen, well).max() > 100, well
    assert canvas.max() > 100
    assert elapsed < 120, f"1152 planes took {elapsed:.1f} s"
