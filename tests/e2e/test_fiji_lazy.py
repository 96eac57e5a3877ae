"""Fiji's virtual stacks on a hub whose budget is small: planes go cold under the viewer.

One hub (a 2 MB budget: most planes are written to the scene store and their segments
evicted) and one Fiji for the module, under an X server of our own. The plate of
``test_fiji_screen`` (2 wells x 2 sites x 3 channels x 5 slices) tells by its squares which
(c, z, t) is on screen. The tests click the real scrollbars with xdotool and read full-screen
screenshots: the planes ImageJ reads on demand are the right ones whether they come from
/dev/shm or from the store's chunk files; the user's contrast survives later planes; the
viewer restarted by the hub shows the scene again from the store.
"""

from __future__ import annotations

import numpy as np
import pytest

from backends import StreamingBackend
from tests.conftest import wait_for
from tests.e2e.test_fiji_screen import (  # noqa: F401  (display is a fixture)
    N_PLANES,
    check_plane,
    click,
    click_arrow,
    display,
    lower_maximum_with_brightness_contrast,
    screenshot,
    send_plate,
    window,
)

pytestmark = pytest.mark.e2e

BUDGET = 2 * 1024**2  # 16 planes of 256x256 uint16: the rest of the plate goes cold


@pytest.fixture(scope="module")
def cold_plate(display, tmp_path_factory):  # noqa: F811
    from hub.launcher import launch

    folder = tmp_path_factory.mktemp("fiji-lazy")
    hub = launch(
        ["fiji"], env={"DISPLAY": display}, memory_budget=BUDGET, log_file=folder / "hub.log"
    )
    try:
        hub.wait_viewers(timeout_s=120)
        hub.wait_viewers(n_items=send_plate(hub), timeout_s=120)
        wait_for(lambda: window(hub)["files"]["cold"] > N_PLANES // 2, 30, "planes to go cold")
        yield hub
    finally:
        hub.stop()


def test_scrollbars_show_the_right_planes_read_from_the_store(cold_plate, tmp_path):
    win = window(cold_plate)
    assert win["virtual"] and win["dimensions"] == [256, 256, 3, 5, 4]
    assert win["files"]["blank"] == 0 and win["files"]["gone"] == 0, win["files"]
    bars = win["window"]["scrollbars"]
    click_arrow(bars["t"]["bounds"], times=3)  # B03 site 2: the last frame
    click_arrow(bars["z"]["bounds"], times=4)
    win = wait_for(lambda: (w := window(cold_plate))["position"] == [1, 5, 4] and w, 10, "z, t")
    check_plane(screenshot(tmp_path / "b03_z5.png"), win, z=5, site=2, well=1)
    click_arrow(bars["t"]["bounds"], right=False, times=2)  # A01 site 2
    click_arrow(bars["z"]["bounds"], right=False, times=3)
    win = wait_for(lambda: (w := window(cold_plate))["position"] == [1, 2, 2] and w, 10, "back")
    check_plane(screenshot(tmp_path / "a01_z2.png"), win, z=2, site=2, well=0)
    assert "Log" not in [f["title"] for f in cold_plate.inspect("fiji")["ui"]["frames"]]


def test_contrast_survives_a_plane_replaced_in_view(cold_plate, tmp_path):
    cold_plate.goto("fiji", well="A01", site=1, channel=1, z_index=3)
    win = window(cold_plate)
    cx, cy, _, _ = win["window"]["canvas"]
    click(cx + 200, cy + 120)  # focus the image window (an empty spot)
    _, (lo, hi) = lower_maximum_with_brightness_contrast(cold_plate, channel=0)
    value = int((lo + hi) / 2)  # drawn half-way up channel 1's red LUT
    with StreamingBackend(hub=cold_plate) as backend:
        backend.save(
            np.full((256, 256), value, np.uint16), "", well="A01", site=1, channel=1, z_index=3
        )
    cold_plate.wait_viewers(n_items=N_PLANES + 1, timeout_s=60)
    win = window(cold_plate)
    assert win["channels"][0]["display_range"] == [lo, hi]
    assert win["position"] == [1, 3, 1]
    shot = screenshot(tmp_path / "replaced.png")
    red = shot[cy + 120, cx + 200].astype(int)  # channel 1 everywhere now; 2 and 3 black
    assert abs(red[0] - 255 * (value - lo) / (hi - lo)) < 30 and red[1] < 40, red


def test_a_restarted_fiji_shows_the_scene_from_the_store(cold_plate, tmp_path):
    before = cold_plate.status()["viewers"]["fiji"]["restarts"]
    cold_plate.restart("fiji")
    wait_for(
        lambda: cold_plate.status()["viewers"]["fiji"]["restarts"] > before,
        30,
        "fiji restarted",
    )
    cold_plate.wait_viewers(n_items=N_PLANES, timeout_s=120)
    win = wait_for(
        lambda: (w := window(cold_plate))["dimensions"][2:] == [3, 5, 4] and w,
        30,
        "the scene replayed",
    )
    assert win["files"]["blank"] == 0
    cold_plate.goto("fiji", well="B03", site=1, channel=1, z_index=4)
    win = window(cold_plate)
    # the replayed scene put z_index 3 of A01 site 1 last (it was replaced): positions follow
    # arrival, so the plane is found by its label, and its squares say which one it is
    assert "B03 site=1 channel=1 z_index=4" in win["slice_label"]
    check_plane(screenshot(tmp_path / "restarted.png"), win, z=4, site=1, well=1)
