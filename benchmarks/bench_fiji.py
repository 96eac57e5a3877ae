"""ImageJ: numpy -> ImagePlus bandwidth for 2048x2048 uint16, and 10,000 positioned ROIs.

In-process on a real ImageJ (Debian's ij.jar in a JVM). Reports the bulk NIO copy into
existing Java arrays beside numpy memcpy measured in the same run, and the element-wise
JArray path that the reference receiver used, for scale.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np


def run(quick: bool, heap: str | None = None) -> dict:
    from benchmarks.common import memcpy_gbps
    from contract.shapes import parse_shape
    from viewers.fiji import jvm
    from viewers.fiji.config import FijiDisplayConfig
    from viewers.fiji.window import HyperstackWindow
    from viewers.placement import place

    ij = jvm.start(headless=not os.environ.get("DISPLAY"), heap=heap, pretouch=bool(heap))
    shape = (2048, 2048)
    plane = np.random.default_rng(0).integers(0, 4000, shape, dtype=np.uint16)
    n = 10 if quick else 100
    # 1. bulk copy into an existing short[] (the copy itself)
    target = ij.jpype.JArray(ij.jpype.JShort)(plane.size)
    times = []
    for _ in range(20):
        start = time.perf_counter()
        buffer = ij.jpype.nio.convertToDirectBuffer(plane).order(ij.ByteOrder.nativeOrder())
        buffer.asShortBuffer().get(target)
        times.append(time.perf_counter() - start)
    bulk_gbps = plane.nbytes / float(np.median(times)) / 1e9
    # 2. element-wise JArray conversion, what the reference receiver did
    small = plane[:512, :512]
    start = time.perf_counter()
    ij.jpype.JArray(ij.jpype.JShort)(small.ravel().tolist())
    elementwise_gbps = small.nbytes / (time.perf_counter() - start) / 1e9
    memcpy = memcpy_gbps(shape, "uint16")

    # 4. 10,000 polygon ROIs with (c, z, t) positions into the ROI Manager
    rois = 1000 if quick else 10_000
    config = FijiDisplayConfig()
    window = HyperstackWindow(ij, "rois", show=not ij.headless)
    window.put_plane(place({"channel": 1, "z_index": 0}, config), plane[:512, :512], config)
    window.put_plane(place({"channel": 1, "z_index": 1}, config), plane[:512, :512], config)
    rng = np.random.default_rng(1)
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    shapes = []
    for k in range(rois):
        cy, cx = rng.uniform(20, 490, 2)
        coords = np.column_stack([cy + 8 * np.sin(angles), cx + 8 * np.cos(angles)])
        shapes.append(
            parse_shape({"kind": "polygon", "coords": coords.tolist(), "name": f"cell {k}"})
        )
    start = time.perf_counter()
    window.add_shapes(place({"channel": 1, "z_index": 1}, config), shapes)
    rois_s = time.perf_counter() - start
    count = len(window.rois)
    window.close()
    return {
        "imagej": ij.version,
        "heap": heap or "default",
        "bulk_copy_gb_per_s": bulk_gbps,
        "elementwise_gb_per_s": elementwise_gbps,
        "memcpy_gb_per_s": memcpy,
        "bulk_vs_memcpy": bulk_gbps / memcpy,
        "planes": n,
        "rois": count,
        "rois_s": rois_s,
    }


if __name__ == "__main__":
    heap = sys.argv[sys.argv.index("--heap") + 1] if "--heap" in sys.argv else None
    print(json.dumps(run("--quick" in sys.argv, heap)), flush=True)
    os._exit(0)  # do not wait on AWT threads at JVM shutdown: the results are out
