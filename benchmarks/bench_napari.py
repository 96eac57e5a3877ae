"""napari display cost per plane as the scene grows, and 10,000 polygons into one layer.

Runs in-process on a real napari viewer (needs a display: run.py starts Xvfb). Each plane
is shown and then drawn: the dims move to it and Qt processes events, so the canvas uploads
and paints that slice, as a user watching the stream would see it.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def run(quick: bool) -> dict:
    import napari
    from qtpy.QtWidgets import QApplication

    from contract.shapes import parse_shape
    from viewers.base import Item
    from viewers.napari.config import NapariDisplayConfig
    from viewers.napari.scene import NapariScene

    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    scene = NapariScene(viewer)
    config = NapariDisplayConfig()
    n_c, n_z, n_t = (2, 5, 10) if quick else (2, 10, 50)
    size = 256 if quick else 512
    rng = np.random.default_rng(0)
    planes = [rng.integers(0, 4000, (size, size), dtype=np.uint16) for _ in range(4)]
    costs = []
    i = 0
    for t in range(n_t):
        for z in range(n_z):
            for c in range(1, n_c + 1):
                comps = {"channel": c, "z_index": z, "timepoint": t}
                start = time.perf_counter()
                scene.show(Item(i, "image", comps, config, array=planes[i % 4]))
                scene.goto(comps)
                app.processEvents()
                costs.append(time.perf_counter() - start)
                i += 1
    n = len(costs)
    checkpoints = [c for c in (10, 100, 1000) if c <= n]
    per_plane = {c: float(np.median(costs[max(0, c - 10) : c])) * 1000 for c in checkpoints}

    polygons = 1000 if quick else 10_000
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    shapes = []
    for k in range(polygons):
        cy, cx = rng.uniform(20, size - 20, 2)
        coords = np.column_stack([cy + 8 * np.sin(angles), cx + 8 * np.cos(angles)])
        shapes.append(
            parse_shape({"kind": "polygon", "coords": coords.tolist(), "properties": {"label": k}})
        )
    start = time.perf_counter()
    scene.show(
        Item(i, "shapes", {"channel": 1, "z_index": 0, "timepoint": 0}, config, shapes=shapes)
    )
    app.processEvents()
    polygon_s = time.perf_counter() - start
    viewer.close()
    return {
        "planes": n,
        "plane_shape": [size, size],
        "per_plane_ms": per_plane,
        "ratio_last_vs_10": per_plane[checkpoints[-1]] / per_plane[10],
        "costs_ms": [c * 1000 for c in costs],
        "polygons": polygons,
        "polygons_s": polygon_s,
    }


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv)))
