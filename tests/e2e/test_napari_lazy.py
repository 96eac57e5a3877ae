"""napari's lazy layers on a real hub with a small budget: planes go cold under napari.

Two wells x 2 channels x 3 z of 1024² uint16 (12 planes, 24 MiB) through a 6 MiB budget:
the hub writes them to its store and evicts their segments while napari holds only
references (and shows them through napari's multiscale: strided views of the planes).
Every plane has a bright square in its own cell of a 4 x 4 grid on a dim background, so the
canvas shows which plane is drawn. napari is moved to every position (the
hub's goto, as ``hub screenshot --components`` does) and each screenshot must show that
plane's cell; its plane cache is capped at 4 planes, and what it holds is read back with
``inspect``. A restarted napari shows the scene again, read from the store.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from backends import StreamingBackend
from tests.conftest import wait_for

pytestmark = pytest.mark.e2e

SIZE, CELL = 1024, 256
WELLS, CHANNELS, ZS = ("A01", "B02"), (1, 2), (1, 2, 3)
POSITIONS = list(itertools.product(WELLS, CHANNELS, ZS))
CONFIG = {  # one gray layer with every component a slider; fixed contrast: pixels comparable
    "component_modes": {"well": "stack", "channel": "stack", "z_index": "stack"},
    "component_order": ["well", "channel", "z_index"],
    "auto_contrast": False,
    "contrast_limits": [0, 1000],
}
CACHE_MB = 2.0  # one plane of 2 MiB, or four of napari's 512² level


def plane(k: int) -> np.ndarray:
    """Dim background (the image's extent on the canvas), bright square in cell ``k``."""
    image = np.full((SIZE, SIZE), 200, np.uint16)
    y, x = (k // 4) * CELL, (k % 4) * CELL
    image[y + 48 : y + CELL - 48, x + 48 : x + CELL - 48] = 1000
    return image


def cell_shown(png: np.ndarray) -> int:
    """Which grid cell the bright square is in, read from a canvas screenshot."""
    rgb = png[..., :3].astype(int)
    grey = np.where(np.ptp(rgb, axis=-1) < 4, rgb.min(axis=-1), 0)
    image = grey > 20  # the image, dim background included
    # rows and columns mostly image: the label's anti-aliased letters are a few pixels each
    rows = np.nonzero(image.sum(axis=1) > 0.3 * image.sum(axis=1).max())[0]
    cols = np.nonzero(image.sum(axis=0) > 0.3 * image.sum(axis=0).max())[0]
    y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    by, bx = (v.mean() for v in np.nonzero(grey[y0:y1, x0:x1] > 200))
    return int(by / (y1 - y0) * 4) * 4 + int(bx / (x1 - x0) * 4)


def test_every_plane_is_shown_from_references_after_the_hub_moved_it_to_disk(start_hub, tmp_path):
    import imageio.v3 as iio

    hub = start_hub(
        ("napari",),
        memory_budget=6 * 1024**2,
        extra_args=["--store", str(tmp_path / "store")],
        viewer_options={"napari": {"cache_mb": CACHE_MB}},
    )
    hub.wait_viewers(timeout_s=120)
    with StreamingBackend(hub=hub, display_config=CONFIG, timeout_s=60) as backend:
        for k, (well, channel, z) in enumerate(POSITIONS):
            backend.save(plane(k), "", well=well, channel=channel, z_index=z)
    hub.wait_viewers(n_items=len(POSITIONS), timeout_s=60)
    wait_for(lambda: hub.status()["hub"]["evicted"] >= len(POSITIONS) // 2, 30, "evictions")

    def check_every_plane(name: str) -> None:
        seen = {}
        for k, (well, channel, z) in enumerate(POSITIONS):
            comps = {"well": well, "channel": channel, "z_index": z}
            path = hub.screenshot("napari", tmp_path / f"{name}-{k}.png", components=comps)
            seen[k] = cell_shown(iio.imread(path))
        assert seen == {k: k for k in range(len(POSITIONS))}, seen

    check_every_plane("cold")
    data = hub.inspect("napari")["data"]
    assert data["planes"] == len(POSITIONS) and data["unreadable"] == 0, data
    cache = data["cache"]  # the pixels napari keeps: bounded, not the 12 planes received
    assert 0 < cache["bytes"] <= CACHE_MB * 1024**2 and cache["planes"] <= 4, cache
    assert [lay["shape"] for lay in hub.inspect("napari")["layers"]] == [[2, 2, 3, SIZE, SIZE]]

    hub.restart("napari")  # a new process gets the scene as references into the store
    hub.wait_viewers(n_items=len(POSITIONS), timeout_s=120)
    wait_for(lambda: hub.inspect("napari")["data"]["planes"] == len(POSITIONS), 30, "replay")
    path = hub.screenshot(
        "napari",
        tmp_path / "restarted.png",
        components=dict(zip(("well", "channel", "z_index"), POSITIONS[7])),
    )
    assert cell_shown(iio.imread(path)) == 7
