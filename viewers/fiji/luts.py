"""Colours of Fiji windows: LUTs by name, the composite display mode, default channel colours.

One owner for what a channel looks like when the producer said nothing: Fiji's own
CompositeImage defaults (channel 1 red, 2 green, 3 blue, 4 gray, 5 cyan, 6 magenta,
7 yellow, then gray), and gray for an image with a single channel, as Fiji opens it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from contract.colors import IMAGEJ_BUILTIN_LUTS as BUILTIN_LUTS
from contract.colors import imagej_lut_name
from viewers.fiji.jvm import ImageJ
from viewers.hyperstack import HyperstackDisplayConfig


class WindowError(ValueError):
    """An item does not fit its window (size, type) or names an unavailable LUT."""


COMPOSITE_MODES = {"composite": 1, "color": 2, "grayscale": 3}  # IJ.COMPOSITE, COLOR, GRAYSCALE

#: ij.CompositeImage's colours for channels 1..7 (``CompositeImage.colors``).
COMPOSITE_COLORS = ("Red", "Green", "Blue", "Grays", "Cyan", "Magenta", "Yellow")
SINGLE_CHANNEL_COLOR = "Grays"


def make_lut(ij: ImageJ, name: str, fiji_luts: Any = None) -> Any:
    """An ImageJ LUT by name: built-in, or a .lut file of a Fiji installation."""
    canonical = imagej_lut_name(name)
    if canonical in BUILTIN_LUTS:
        return ij.LUT(ij.LutLoader.getLut(BUILTIN_LUTS[canonical]), 0.0, 255.0)
    if fiji_luts is not None:
        path = fiji_luts / f"{canonical}.lut"
        if path.exists():
            return ij.LutLoader.openLut(str(path))
    raise WindowError(
        f"LUT {canonical!r} is not built into ImageJ and no Fiji LUT folder has it; "
        f"built-in: {', '.join(BUILTIN_LUTS)}"
    )


def composite_mode(config: HyperstackDisplayConfig) -> int:
    """ImageJ's composite display mode from the config's ``composite_mode`` key."""
    name = str(config.extra.get("composite_mode", "composite")).lower()
    if name not in COMPOSITE_MODES:
        raise WindowError(f"composite_mode {name!r} is not one of {sorted(COMPOSITE_MODES)}")
    return COMPOSITE_MODES[name]


def chosen_color(config: HyperstackDisplayConfig, channel_value: Any) -> str | None:
    """The LUT the producer asked for (per channel, or for every channel), else None."""
    return config.given_color(channel_value)


def default_color(c: int, n_channels: int) -> str:
    """Fiji's colour for 0-based channel ``c`` of ``n_channels``: gray alone, else by index."""
    if n_channels <= 1:
        return SINGLE_CHANNEL_COLOR
    return COMPOSITE_COLORS[c] if c < len(COMPOSITE_COLORS) else "Grays"


def lut_end_rgb(lut: Any) -> tuple[int, int, int]:
    """The colour a LUT gives its brightest value: (255, 0, 0) for Red, white for Fire."""
    rgb = np.array(memoryview(lut.getBytes())).view(np.uint8)  # 256 r, 256 g, 256 b
    return int(rgb[255]), int(rgb[511]), int(rgb[767])
