"""The recorder's goto and screenshot, in-process: shared goto derivation and contrast rule."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

from contract.display_config import auto_limits
from viewers.base import Item
from viewers.recorder import RecorderDisplayConfig, RecorderViewer


def _png_pixels(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """The 8-bit grey pixels of a PNG written by viewers.png (one IDAT, filter 0 rows)."""
    data = path.read_bytes()
    idat, pos = b"", 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = np.frombuffer(zlib.decompress(idat), np.uint8)
    rows = raw.reshape(shape[0], -1)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1 : 1 + shape[1]]


@pytest.fixture
def recorder(tmp_path: Path) -> RecorderViewer:
    viewer = RecorderViewer(outdir=tmp_path, tiff=True)
    viewer.start()
    config = RecorderDisplayConfig()
    for z in (1, 2):
        plane = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * z
        item = Item(z, "image", {"well": "A01", "channel": 1, "z_index": z}, config, plane)
        viewer.show(item)
    yield viewer
    viewer.close()


def test_goto_with_partial_components_picks_the_plane(recorder):
    assert recorder.goto({"z_index": 2}) == {"window": "scene", "position": [0, 1, 0]}
    with pytest.raises(KeyError, match="z_index"):
        recorder.goto({"z_index": 7})


def test_screenshot_scales_with_the_shared_auto_contrast_rule(recorder, tmp_path):
    recorder.goto({"z_index": 2})
    path = recorder.screenshot(tmp_path / "shot.png")
    plane = np.arange(64 * 64, dtype=np.float64).reshape(64, 64) * 2
    lo, hi = auto_limits(plane)
    expected = np.clip((plane - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)
    got = _png_pixels(path, (64, 64))
    assert np.abs(got.astype(int) - expected).max() <= 1
