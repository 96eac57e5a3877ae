"""``hub demo``: a synthetic plate streamed through a hub into viewers, screenshots written.

The plate is what a high-content screen produces: wells x sites x channels x z x t of uint16
planes with blob-like nuclei (channel 1), a cytoplasm stain (channel 2) and spots (channel 3),
plus its segmentation (nuclei outlines as polygons, spots as points).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hub.launcher import launch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plate:
    wells: tuple[str, ...] = ("A01", "B02")
    sites: int = 2
    channels: int = 3
    z: int = 3
    t: int = 2
    size: int = 512
    nuclei: int = 24
    seed: int = 1

    @property
    def n_planes(self) -> int:
        return len(self.wells) * self.sites * self.channels * self.z * self.t


def _blobs(
    shape: tuple[int, int], centres: np.ndarray, radii: np.ndarray, amplitude: float
) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    out = np.zeros(shape, np.float32)
    for (cy, cx), r in zip(centres, radii):
        box = (
            slice(max(int(cy - 3 * r), 0), int(cy + 3 * r)),
            slice(max(int(cx - 3 * r), 0), int(cx + 3 * r)),
        )
        d2 = (yy[box] - cy) ** 2 + (xx[box] - cx) ** 2
        out[box] += amplitude * np.exp(-d2 / (2 * (r / 1.6) ** 2))
    return out


def synthetic_site(plate: Plate, well: str, site: int) -> Iterator[tuple[dict, Any]]:
    """Yield (components, plane or shape list) for one field of view, all z, t, channels."""
    rng = np.random.default_rng([plate.seed, zlib.crc32(well.encode()), site])
    n, size = plate.nuclei, plate.size
    centres = rng.uniform(30, size - 30, (n, 2))
    radii = rng.uniform(8, 16, n)
    spots = rng.uniform(10, size - 10, (n * 3, 2))
    for t in range(1, plate.t + 1):
        drift = np.array([2.0, 3.0]) * (t - 1)
        for z in range(1, plate.z + 1):
            focus = 1.0 - 0.35 * abs(z - (plate.z + 1) / 2) / max(plate.z, 1)
            comps = {"well": well, "site": site, "z_index": z, "timepoint": t}
            layers = [
                _blobs((size, size), centres + drift, radii, 3000 * focus),
                _blobs((size, size), centres + drift, radii * 2.2, 900 * focus),
                _blobs((size, size), spots + drift, np.full(len(spots), 2.0), 2500 * focus),
            ]
            for channel in range(1, plate.channels + 1):
                noise = rng.normal(200, 25, (size, size)).astype(np.float32)
                plane = np.clip(layers[(channel - 1) % 3] + noise, 0, 65535).astype(np.uint16)
                yield {**comps, "channel": channel}, plane
            outlines = []
            for i, ((cy, cx), r) in enumerate(zip(centres + drift, radii)):
                angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
                coords = np.column_stack([cy + r * np.sin(angles), cx + r * np.cos(angles)])
                outlines.append(
                    {
                        "kind": "polygon",
                        "coords": coords.round(2).tolist(),
                        "name": f"nucleus {i + 1}",
                        "color": "#ffff00",
                        "properties": {"area": round(float(np.pi * r * r), 1), "label": i + 1},
                    }
                )
            outlines.append(
                {
                    "kind": "points",
                    "coords": (spots + drift).round(2).tolist(),
                    "name": "spots",
                    "color": "#ff00ff",
                }
            )
            yield {**comps, "channel": 1}, outlines


def start_xvfb() -> tuple[subprocess.Popen, str] | None:
    """Start a private Xvfb for headless runs; None if there is no Xvfb on this machine."""
    if not shutil.which("Xvfb"):
        return None
    for number in range(90, 120):
        if Path(f"/tmp/.X11-unix/X{number}").exists():
            continue
        proc = subprocess.Popen(
            ["Xvfb", f":{number}", "-screen", "0", "1600x1200x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            if Path(f"/tmp/.X11-unix/X{number}").exists():
                return proc, f":{number}"
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        proc.kill()
    return None


#: One config for every viewer, each translating modes it does not have to its defaults:
#: napari shows channels as layers and the rest as sliders; Fiji shows wells as windows and
#: channel/slice/frame hyperstack axes.
DEMO_CONFIG = {
    "component_order": ["well", "site", "channel", "z_index", "timepoint"],
    "component_modes": {
        "well": "stack",
        "site": "stack",
        "channel": "channel",
        "z_index": "stack",
        "timepoint": "stack",
    },
    "channel_colors": {"1": "Blue", "2": "Green", "3": "Magenta"},
}
DEMO_VIEW = {"well": "A01", "site": 1, "channel": 1, "z_index": 2, "timepoint": 1}


def run_demo(
    viewers: list[str],
    out: Path,
    *,
    headless: bool = False,
    plate: Plate | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Stream a plate into ``viewers``; returns screenshot paths and timings."""
    from backends.streaming import StreamingBackend

    plate = plate or Plate()
    out = Path(out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    env: dict[str, str] = {}
    xvfb = None
    if headless or not os.environ.get("DISPLAY"):
        xvfb = start_xvfb()
        if xvfb:
            env["DISPLAY"] = xvfb[1]
        else:
            env["QT_QPA_PLATFORM"] = "offscreen"
    options = {"recorder": {"outdir": str(out / "recorder")}}
    handle = launch(viewers, viewer_options=options, env=env, timeout_s=60)
    try:
        handle.wait_viewers(timeout_s=180)
        backend = StreamingBackend(hub=handle, display_config=DEMO_CONFIG)
        sent, start = 0, time.perf_counter()
        total = plate.n_planes + len(plate.wells) * plate.sites * plate.z * plate.t
        for well in plate.wells:
            for site in range(1, plate.sites + 1):
                batch = list(synthetic_site(plate, well, site))
                backend.save_batch(
                    [d for _, d in batch], [""] * len(batch), components=[c for c, _ in batch]
                )
                sent += len(batch)
                if progress:
                    progress(sent, total)
        stream_s = time.perf_counter() - start
        handle.wait_viewers(n_items=sent, timeout_s=300)
        shown_s = time.perf_counter() - start
        shots = {
            name: str(handle.screenshot(name, out / f"{name}.png", components=DEMO_VIEW))
            for name in handle.status()["viewers"]
        }
        backend.close()
        return {
            "items": sent,
            "stream_s": stream_s,
            "shown_s": shown_s,
            "screenshots": shots,
            "out": str(out),
        }
    finally:
        handle.stop()
        if xvfb:
            xvfb[0].terminate()
