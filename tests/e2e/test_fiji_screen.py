"""What a Fiji user sees: real ImageJ windows under Xvfb, read from full-screen screenshots.

A hub with the Fiji viewer gets a plate (2 wells x 2 sites x 3 channels x 5 slices, 256x256
uint16). Every plane draws a square whose row says its channel and whose column says its
slice, plus a site marker and a well marker, so a screenshot tells which (c, z, t) is shown.
The tests click the window's real scrollbars and press keys with xdotool, take full-screen
screenshots with ImageMagick's ``import``, and check both what ImageJ holds (``inspect``)
and the pixels on screen. Screenshots are kept in the test's tmp_path for a human to look at.
"""

from __future__ import annotations

import os
import re
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
    pytest.mark.skipif(
        not all(shutil.which(tool) for tool in ("xdotool", "import", "Xvfb")),
        reason="needs Xvfb, xdotool and ImageMagick import (setup.sh installs them)",
    ),
]

WELLS = ("A01", "B03")
SITES = (1, 2)
CHANNELS = (1, 2, 3)
SLICES = (1, 2, 3, 4, 5)
N_PLANES = len(WELLS) * len(SITES) * len(CHANNELS) * len(SLICES)


def plane(well: int, site: int, c: int, z: int) -> np.ndarray:
    """Channel c's square in row c, column z; site marker in column `site`; well marker."""
    p = np.zeros((256, 256), np.uint16)
    p[10 + 30 * (c - 1) : 30 + 30 * (c - 1), 10 + 30 * (z - 1) : 30 + 30 * (z - 1)] = 1000 * c
    p[150:170, 10 + 30 * (site - 1) : 30 + 30 * (site - 1)] = 1000 * c
    p[200:220, 10 + 30 * well : 30 + 30 * well] = 1000 * c
    return p


def send_plate(hub, config=None, wells=WELLS, sites=SITES, channels=CHANNELS) -> int:
    n = 0
    with StreamingBackend(hub=hub, display_config=config) as backend:
        for w, well in enumerate(wells):
            for site in sites:
                for c in channels:
                    for z in SLICES:
                        backend.save(
                            plane(w, site, c, z), "", well=well, site=site, channel=c, z_index=z
                        )
                        n += 1
    return n


@pytest.fixture(scope="module")
def display():
    """An X server of our own at 24-bit colour: at pytest-xvfb's 16 bits AWT paints no text
    and no scrollbars (the image canvas alone), which is not what a user sees."""
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    os.environ["VIEWERHUB_TEST_DISPLAY"] = f":{number}"
    yield f":{number}"
    del os.environ["VIEWERHUB_TEST_DISPLAY"]
    server.terminate()
    server.wait(10)


@pytest.fixture
def fiji(start_hub, display):
    hub = start_hub(("fiji",), env={"DISPLAY": display})
    hub.wait_viewers(timeout_s=120)
    return hub


@pytest.fixture
def plate(fiji):
    fiji.wait_viewers(n_items=send_plate(fiji), timeout_s=120)
    return fiji


def window(hub, title: str = "viewerhub") -> dict:
    windows = hub.inspect("fiji")["windows"]
    return next(w for w in windows if w["title"] == title)


def _x_env() -> dict[str, str]:
    return {**os.environ, "DISPLAY": os.environ["VIEWERHUB_TEST_DISPLAY"]}


def xdotool(*args: object) -> str:
    out = subprocess.run(
        ["xdotool", *map(str, args)], capture_output=True, text=True, check=True, env=_x_env()
    )
    return out.stdout


def click(x: int, y: int) -> None:
    xdotool("mousemove", x, y, "click", 1)
    time.sleep(0.3)


def click_arrow(bounds: list[int], right: bool = True, times: int = 1) -> None:
    """Click a scrollbar's end arrow (AWT draws it as a square at each end)."""
    x, y, w, h = bounds
    for _ in range(times):
        click(x + w - h // 2 if right else x + h // 2, y + h // 2)


def screenshot(path: Path) -> np.ndarray:
    """The whole X screen, as the user sees it."""
    import imageio.v3 as iio

    time.sleep(0.5)  # let AWT paint
    subprocess.run(["import", "-window", "root", str(path)], check=True, env=_x_env())
    return iio.imread(path)[..., :3]


def at(shot: np.ndarray, win: dict, y: int, x: int) -> np.ndarray:
    """The screen pixel showing image pixel (y, x) of the window (magnification 1)."""
    cx, cy, _, _ = win["window"]["canvas"]
    return shot[cy + y, cx + x].astype(int)


def is_color(pixel: np.ndarray, rgb: tuple[int, int, int]) -> bool:
    return bool(np.all(np.abs(pixel - np.array(rgb)) < 60))


def lower_maximum_with_brightness_contrast(hub, channel: int) -> tuple[list, list]:
    """Open Image > Adjust > Brightness/Contrast (Ctrl+Shift+C, the image window focused)
    and page its Maximum slider down once, as a user does; the channel's range before and
    after (``channel`` is the 0-based channel the window is at)."""
    xdotool("key", "ctrl+shift+c")
    frames = wait_for(
        lambda: [f for f in hub.inspect("fiji")["ui"]["frames"] if f["title"] == "B&C"],
        10,
        "the B&C dialog",
    )
    # Where X put the dialog (AWT may not know yet without a window manager), plus where the
    # Maximum slider sits inside it.
    wid = wait_for(lambda: xdotool("search", "--name", "^B&C$").split(), 10, "B&C on X")[0]
    geometry = dict(
        line.split("=") for line in xdotool("getwindowgeometry", "--shell", wid).split()
    )
    fx, fy = frames[0]["bounds"][:2]
    _minimum, maximum = frames[0]["scrollbars"][:2]
    x, y, w, h = maximum["bounds"]
    x, y = x - fx + int(geometry["X"]), y - fy + int(geometry["Y"])
    before = window(hub)["channels"][channel]["display_range"]
    click(x + h + 3, y + h // 2)  # page the Maximum slider down
    after = wait_for(
        lambda: (r := window(hub)["channels"][channel]["display_range"]) != before and r,
        10,
        "the B&C change",
    )
    return before, after


RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255,) * 3, (0,) * 3


def check_plane(shot: np.ndarray, win: dict, z: int, site: int, well: int) -> None:
    """Composite view of slice z of (well, site): R, G, B squares in column z, markers."""
    col = 20 + 30 * (z - 1)
    for row, rgb in ((20, RED), (50, GREEN), (80, BLUE)):
        assert is_color(at(shot, win, row, col), rgb), (row, col, at(shot, win, row, col))
    for other in {1, 2, 3, 4, 5} - {z}:
        assert is_color(at(shot, win, 20, 20 + 30 * (other - 1)), BLACK)
    assert is_color(at(shot, win, 160, 20 + 30 * (site - 1)), WHITE)
    assert is_color(at(shot, win, 160, 20 + 30 * (2 - site)), BLACK)
    assert is_color(at(shot, win, 210, 20 + 30 * well), WHITE)
    assert is_color(at(shot, win, 210, 20 + 30 * (1 - well)), BLACK)


def test_a_plate_is_one_composite_hyperstack_window_at_the_first_plane(plate, tmp_path):
    win = window(plate)
    assert len(plate.inspect("fiji")["windows"]) == 1  # not one window per well
    assert win["dimensions"] == [256, 256, 3, 5, 4]  # frames: (well, site) pairs
    assert win["axis_keys"]["t"] == [["A01", 1], ["A01", 2], ["B03", 1], ["B03", 2]]
    screen = win["window"]
    assert screen["class"] == "StackWindow" and screen["hyperstack"]
    assert screen["n_scrollbars"] == 3
    assert {a: s["maximum"] for a, s in screen["scrollbars"].items()} == {"c": 3, "z": 5, "t": 4}
    assert win["position"] == [1, 1, 1] and win["slice_label"].startswith("A01 site=1")
    assert win["mode"] == 1  # IJ.COMPOSITE
    assert [ch["lut_max_rgb"] for ch in win["channels"]] == [list(RED), list(GREEN), list(BLUE)]
    shot = screenshot(tmp_path / "plate.png")
    check_plane(shot, win, z=1, site=1, well=0)
    for bar in screen["scrollbars"].values():  # painted: track, thumb and arrows
        x, y, w, h = bar["bounds"]
        assert len(np.unique(shot[y : y + h, x : x + w].reshape(-1, 3), axis=0)) >= 3


def test_the_imagej_bar_is_there_with_its_menus(plate, tmp_path):
    ui = plate.inspect("fiji")["ui"]
    assert ui["imagej_bar"]["menus"][:5] == ["File", "Edit", "Image", "Process", "Analyze"]
    assert plate.status()["viewers"]["fiji"]["viewer"]["imagej_bar"]
    x, y, w, h = ui["imagej_bar"]["bounds"]
    bar = screenshot(tmp_path / "imagej_bar.png")[y : y + h, x : x + w]
    assert (bar.max(axis=2) < 80).mean() > 0.01  # menu text and tool icons on a light bar
    assert (bar.min(axis=2) > 200).mean() > 0.3


def test_clicking_the_scrollbars_shows_the_plane_at_that_position(plate, tmp_path):
    bars = window(plate)["window"]["scrollbars"]
    click_arrow(bars["z"]["bounds"], times=2)
    win = wait_for(lambda: (w := window(plate))["position"] == [1, 3, 1] and w, 10, "z=3")
    assert win["window"]["scrollbars"]["z"]["value"] == 3
    check_plane(screenshot(tmp_path / "z3.png"), win, z=3, site=1, well=0)

    click_arrow(bars["t"]["bounds"], times=3)  # frames: A01/1, A01/2, B03/1, B03/2
    win = wait_for(lambda: (w := window(plate))["position"] == [1, 3, 4] and w, 10, "t=4")
    assert win["slice_label"].startswith("B03 site=2")  # the well by name, not an index
    title = wait_for(
        # ImageJ marks a virtual stack's window "(V)", as Fiji users know it
        lambda: (t := window(plate)["window"]["frame_title"]) == "viewerhub: B03 (V)" and t,
        10,
        "the window title to name the well",
    )
    assert xdotool("search", "--name", f"^{re.escape(title)}$").split()  # what X shows
    check_plane(screenshot(tmp_path / "b03.png"), win, z=3, site=2, well=1)

    click_arrow(bars["c"]["bounds"])
    win = wait_for(lambda: (w := window(plate))["position"] == [2, 3, 4] and w, 10, "c=2")
    assert "channel=2" in win["slice_label"]
    check_plane(screenshot(tmp_path / "c2.png"), win, z=3, site=2, well=1)  # composite: all

    click_arrow(bars["z"]["bounds"], right=False)
    win = wait_for(lambda: (w := window(plate))["position"] == [2, 2, 4] and w, 10, "z back")
    check_plane(screenshot(tmp_path / "z2.png"), win, z=2, site=2, well=1)


def test_growing_keeps_a_hyperstack_window_and_the_users_position(fiji, tmp_path):
    first = send_plate(fiji, wells=("A01",), sites=(1,), channels=(1, 2))
    fiji.wait_viewers(n_items=first, timeout_s=60)
    win = window(fiji)
    assert win["window"]["n_scrollbars"] == 2  # c and z: no frames yet
    click_arrow(win["window"]["scrollbars"]["z"]["bounds"], times=3)
    click_arrow(win["window"]["scrollbars"]["c"]["bounds"])
    wait_for(lambda: window(fiji)["position"] == [2, 4, 1], 10, "user's position")

    more = send_plate(fiji)  # a third channel, a second site, a second well
    fiji.wait_viewers(n_items=first + more, timeout_s=60)
    # ImageJ rebuilds a window whose scrollbars change on its own (AWT) thread: once in a
    # full CI run the image read as (1, 60, 1) just then; what counts is what it becomes
    win = wait_for(lambda: (w := window(fiji))["dimensions"][2:] == [3, 5, 4] and w, 10, "grown")
    assert win["window"]["n_scrollbars"] == 3 and win["window"]["hyperstack"]
    assert {a: s["maximum"] for a, s in win["window"]["scrollbars"].items()} == {
        "c": 3,
        "z": 5,
        "t": 4,
    }
    assert win["position"] == [2, 4, 1]  # where the user was
    assert win["window"]["scrollbars"]["z"]["value"] == 4
    assert [ch["lut_max_rgb"] for ch in win["channels"]] == [list(RED), list(GREEN), list(BLUE)]
    check_plane(screenshot(tmp_path / "grown.png"), win, z=4, site=1, well=0)

    click_arrow(win["window"]["scrollbars"]["t"]["bounds"], times=2)
    win = wait_for(lambda: (w := window(fiji))["position"] == [2, 4, 3] and w, 10, "t=3")
    check_plane(screenshot(tmp_path / "grown_b03.png"), win, z=4, site=1, well=1)


def test_keys_and_brightness_contrast_work_and_the_users_contrast_survives(plate, tmp_path):
    win = window(plate)
    cx, cy, _, _ = win["window"]["canvas"]
    click(cx + 200, cy + 120)  # focus the image window (an empty spot)
    xdotool("key", "Right")  # ImageJ: next channel
    wait_for(lambda: window(plate)["position"] == [2, 1, 1], 10, "Right arrow: channel 2")
    before_window = window(plate)["window"]["id"]
    before, after = lower_maximum_with_brightness_contrast(plate, channel=1)
    assert after[1] < before[1]
    screenshot(tmp_path / "bc.png")
    click(cx + 200, cy + 120)
    xdotool("key", "ctrl+shift+z")  # Image > Color > Channels Tool...
    wait_for(
        lambda: any(f["title"] == "Channels" for f in plate.inspect("fiji")["ui"]["frames"]),
        10,
        "the Channels Tool",
    )

    with StreamingBackend(hub=plate) as backend:  # the same planes again, and a new frame
        for z in SLICES:
            backend.save(plane(0, 1, 2, z), "", well="A01", site=1, channel=2, z_index=z)
        backend.save(plane(0, 3, 2, 1), "", well="A01", site=3, channel=2, z_index=1)
    plate.wait_viewers(n_items=N_PLANES + 6, timeout_s=60)
    win = window(plate)
    assert win["dimensions"][2:] == [3, 5, 5]
    assert win["window"]["id"] == before_window  # a new frame stretched the same window
    assert win["channels"][1]["display_range"] == after
    assert win["position"] == [2, 1, 1] and win["window"]["n_scrollbars"] == 3


def test_outlines_show_on_every_channel_in_composite_view(fiji, tmp_path):
    send_plate(fiji, wells=("A01",), sites=(1,))
    outline = {"kind": "rectangle", "coords": [[100, 100], [130, 200]], "color": "#ffff00"}
    pinned = {"kind": "rectangle", "coords": [[180, 100], [240, 200]], "color": "#ff00ff"}
    with StreamingBackend(hub=fiji) as backend:
        backend.save([{**outline, "name": "cell"}], "", well="A01", site=1)
        backend.save([{**pinned, "name": "spot"}], "", well="A01", site=1, channel=3, z_index=2)
        dots = [
            {"kind": "rectangle", "coords": [[240, 5 * k], [244, 5 * k + 3]], "name": f"dot{k}"}
            for k in range(40)
        ]
        backend.save(dots, "", well="A01", site=1, channel=1, z_index=1)
    fiji.wait_viewers(n_items=len(CHANNELS) * len(SLICES) + 3, timeout_s=60)
    manager = fiji.inspect("fiji")["ui"]["roi_manager"]  # ImageJ's own, listing every ROI
    assert manager == {"showing": True, "count": 42, "listed": 42}
    rois = {r["name"]: r for r in window(fiji)["rois"]}
    assert rois["cell"]["position"] == [0, 0, 1]  # no channel or slice: all of them
    assert rois["spot"]["position"] == [3, 2, 1]

    for c, z in ((2, 3), (1, 2)):
        fiji.goto("fiji", channel=c, z_index=z)
        win = window(fiji)
        shot = screenshot(tmp_path / f"rois_c{c}_z{z}.png")
        yellow = [is_color(at(shot, win, 100, x), (255, 255, 0)) for x in range(110, 190)]
        assert sum(yellow) > 70, f"outline hidden at c={c} z={z}"
        magenta = [is_color(at(shot, win, 180, x), (255, 0, 255)) for x in range(110, 190)]
        assert (sum(magenta) > 70) == (z == 2)  # on its slice, whatever the channel

    fiji.clear()  # a new scene: no window, nothing left in the ROI Manager
    wait_for(lambda: not fiji.inspect("fiji")["windows"], 10, "the scene cleared")
    assert fiji.inspect("fiji")["ui"]["roi_manager"]["count"] == 0


def test_a_window_the_user_closes_is_reported_and_goto_brings_it_back(plate, tmp_path):
    before = window(plate)
    cx, cy, _, _ = before["window"]["canvas"]
    click(cx + 200, cy + 120)
    xdotool("key", "ctrl+w")  # File > Close
    status = wait_for(
        lambda: (s := plate.status()["viewers"]["fiji"]["viewer"])["closed_windows"] and s,
        10,
        "the closed window in hub status",
    )
    assert status["closed_windows"] == ["viewerhub"]
    assert not [f for f in plate.inspect("fiji")["ui"]["frames"] if f["title"] == "viewerhub"]

    with StreamingBackend(hub=plate) as backend:  # planes keep arriving while it is closed
        backend.save(plane(1, 3, 1, 1), "", well="B03", site=3, channel=1, z_index=1)
    plate.wait_viewers(n_items=N_PLANES + 1, timeout_s=60)
    assert window(plate)["closed"]

    reply = plate.goto("fiji", well="B03", site=3, z_index=1)
    assert reply["reopened"] and reply["window"] == "viewerhub"
    win = window(plate)
    assert not win["closed"] and win["window"]["open"] and win["window"]["n_scrollbars"] == 3
    assert win["dimensions"][2:] == [3, 5, 5] and win["position"] == [1, 1, 5]
    assert win["channels"] == before["channels"]
    wait_for(
        lambda: plate.status()["viewers"]["fiji"]["viewer"]["closed_windows"] == [],
        10,
        "hub status to show the window open again",
    )
    shot = screenshot(tmp_path / "reopened.png")
    # the plane that arrived while closed (channel 1 only: red): B03's marker, site 3's
    assert is_color(at(shot, win, 210, 50), RED) and is_color(at(shot, win, 160, 80), RED)
    assert is_color(at(shot, win, 20, 20), RED) and is_color(at(shot, win, 50, 20), BLACK)


def test_one_window_per_well_is_still_a_choice(fiji):
    send_plate(fiji, config={"component_modes": {"well": "window"}}, sites=(1,))
    fiji.wait_viewers(n_items=len(WELLS) * len(CHANNELS) * len(SLICES), timeout_s=60)
    titles = [w["title"] for w in fiji.inspect("fiji")["windows"]]
    assert titles == ["well=A01", "well=B03"]
    assert all(w["window"]["n_scrollbars"] == 2 for w in fiji.inspect("fiji")["windows"])
