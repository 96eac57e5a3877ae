"""What a person sees in the hub's napari window with its spare layers, on a real hub.

A real hub process, the real napari viewer process under Xvfb, a producer's StreamingBackend,
and full-screen grabs (ImageMagick's ``import -window root``) read as a person would: the
canvas found on the screen through ``canvas_rect``. The spares are hidden layers made at
start and again while the stream pauses (``viewers/napari/spares.py``); these tests check
that a person never meets them: the layer list rows are the channels, each channel its own
colour, contrast neither white nor black, the view fitted to the plane.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from backends import StreamingBackend
from tests.conftest import wait_for

pytestmark = pytest.mark.e2e

SIZE = 1024  # the smallest planes napari gets as a multiscale, filled into spares
CHANNELS, WELLS, ZS = (0, 1, 2), ("A01", "B03"), (0, 1)
SQUARE = 150


def square_at(channel: int, z: int) -> tuple[int, int]:
    """Top-left corner of channel ``channel``'s bright square at ``z`` (plane pixels)."""
    return 200 + 250 * channel, 300 + 250 * z


def plane(channel: int, z: int, size: int = SIZE) -> np.ndarray:
    """Dim background, a bright square per channel and z; channel 0 also has a bright frame at
    the plane's edges, so the frame on screen is the plane's extent."""
    image = np.full((size, size), 150, np.uint16)
    y, x, side = (n * size // SIZE for n in (*square_at(channel, z), SQUARE))
    image[y : y + side, x : x + side] = 2000 + 500 * channel
    if channel == 0:
        edge = size // 32
        image[:edge], image[-edge:], image[:, :edge], image[:, -edge:] = 2000, 2000, 2000, 2000
    return image


@pytest.fixture(scope="module")
def napari_hub(start_module_hub):
    hub = start_module_hub(("napari",))
    hub.wait_viewers(timeout_s=120)
    return hub


def canvas_on_screen(hub, path) -> np.ndarray:
    """The canvas as it is on the screen (RGB), cut from a grab of the whole screen."""
    import imageio.v3 as iio

    x, y, width, height = hub.inspect("napari")["canvas_rect"]
    subprocess.run(["import", "-window", "root", str(path)], check=True, timeout=30)
    return iio.imread(path)[y : y + height, x : x + width, :3].astype(int)


#: channel 0's colour, napari's channel_axis choice: of three channels, of two
COLOUR_OF_FIRST = {3: (1, 2, 0), 2: (0, 2, 1)}  # (bright, bright, dark) in RGB: cyan, magenta


def frame_box(canvas: np.ndarray, channels: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of channel 0's frame, in channel 0's colour on the screen."""
    one, two, dark = (canvas[..., i] for i in COLOUR_OF_FIRST[channels])
    rows, cols = np.nonzero((one > 150) & (two > 150) & (dark < 100))
    assert len(rows), "no frame on the canvas: the plane is not in view"
    return rows.min(), cols.min(), rows.max() + 1, cols.max() + 1


def assert_fitted(canvas: np.ndarray, channels: int) -> tuple[int, int, int, int]:
    """The whole plane in view and filling most of the canvas (not a corner, not a pixel)."""
    top, left, bottom, right = box = frame_box(canvas, channels)
    height, width = canvas.shape[:2]
    assert top > 2 and left > 2 and bottom < height - 2 and right < width - 2, (box, canvas.shape)
    assert max((bottom - top) / height, (right - left) / width) > 0.8, (box, canvas.shape)
    return box


def test_a_first_stream_of_large_planes_shows_its_channels_and_nothing_else(napari_hub, tmp_path):
    hub = napari_hub
    hub.clear()
    with StreamingBackend(hub=hub, timeout_s=60) as backend:
        for well in WELLS:
            for z in ZS:
                for channel in CHANNELS:
                    backend.save(plane(channel, z), "", well=well, channel=channel, z_index=z)
    hub.wait_viewers(n_items=len(WELLS) * len(ZS) * len(CHANNELS), timeout_s=60)
    # the stream took three spares; the idle viewer makes them again, one a second
    seen = wait_for(lambda: (r := hub.inspect("napari"))["spares"] == 4 and r, 15, "top-up")

    assert seen["layer_list"] == ["channel=2", "channel=1", "channel=0"]  # no spare, no blank
    assert seen["axis_labels"] == ["well", "z_index", "y", "x"]
    assert seen["label"] == "well A01   z_index 0"
    canvas = canvas_on_screen(hub, tmp_path / "screen.png")
    top, left, bottom, right = assert_fitted(canvas, len(CHANNELS))
    scale = ((bottom - top) / SIZE, (right - left) / SIZE)
    colours = []
    for channel in CHANNELS:  # the middle of each channel's square at z 0, on the screen
        y, x = (c + SQUARE // 2 for c in square_at(channel, 0))
        cy, cx = top + int(y * scale[0]), left + int(x * scale[1])
        colours.append(canvas[cy - 3 : cy + 4, cx - 3 : cx + 4].reshape(-1, 3).mean(axis=0))
    for channel, colour in zip(CHANNELS, colours):
        assert colour.max() > 150, (channel, colour)  # bright: not black
        assert colour.min() < 100, (channel, colour)  # a colour: not white, not grey
    for a in range(len(colours)):
        for b in range(a + 1, len(colours)):
            assert np.abs(colours[a] - colours[b]).sum() > 150, colours  # distinct channels
    background = canvas[top + (bottom - top) // 2, left + (right - left) // 8]  # no square
    assert background.max() < 60, background  # the dim background is dark, not white


def test_two_d_planes_after_a_clear_are_fitted_to_the_view(napari_hub, tmp_path):
    """Planes with no slider (components: channel only) made no new axis, and napari fits
    the view to a new layer only in an empty list: with the spares there, they stayed at the
    zoom of what was shown before (or of a 2 x 2 spare: one pixel over the canvas)."""
    hub = napari_hub
    hub.clear()
    with StreamingBackend(hub=hub, timeout_s=60) as backend:
        for channel in (0, 1):
            backend.save(plane(channel, 0, size=512), "", channel=channel)
    hub.wait_viewers(n_items=2, timeout_s=60)
    seen = wait_for(lambda: (r := hub.inspect("napari"))["layer_list"] and r, 15, "layers")
    assert seen["layer_list"] == ["channel=1", "channel=0"]
    assert_fitted(canvas_on_screen(hub, tmp_path / "screen.png"), 2)
