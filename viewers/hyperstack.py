"""Display config for hyperstack viewers (Fiji/ImageJ and the recorder): C, Z, T axes + windows.

Modes: ``window`` (one window per value), ``channel``, ``slice``, ``frame`` (the hyperstack's
C, Z and T axes; several components on one axis combine in component order). Colours are
ImageJ LUT names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from viewers.base import DisplayConfig, DisplayConfigError

#: LUT names ImageJ 1.x ships (Image > Lookup Tables), matched case-insensitively.
IMAGEJ_LUTS: tuple[str, ...] = (
    "Grays",
    "Red",
    "Green",
    "Blue",
    "Cyan",
    "Magenta",
    "Yellow",
    "Fire",
    "Ice",
    "Spectrum",
    "3-3-2 RGB",
    "Red/Green",
    "16 colors",
    "5 ramps",
    "6 shades",
    "Cyan Hot",
    "Green Fire Blue",
    "HiLo",
    "ICA",
    "ICA2",
    "ICA3",
    "Magenta Hot",
    "Orange Hot",
    "Rainbow RGB",
    "Red Hot",
    "Thermal",
    "Yellow Hot",
    "blue orange icb",
    "brgbcmyw",
    "cool",
    "edges",
    "gem",
    "glasbey",
    "glow",
    "mpl-inferno",
    "mpl-magma",
    "mpl-plasma",
    "mpl-viridis",
    "phase",
    "royal",
    "sepia",
    "smart",
    "thal",
    "thallium",
    "unionjack",
)
_LUT_BY_LOWER = {name.lower(): name for name in IMAGEJ_LUTS}

AXIS_OF_MODE = {"channel": "c", "slice": "z", "frame": "t"}


def imagej_lut_name(name: str) -> str:
    """The canonical spelling of an ImageJ LUT name, or DisplayConfigError listing them."""
    try:
        return _LUT_BY_LOWER[name.lower()]
    except KeyError:
        raise DisplayConfigError(
            f"unknown LUT {name!r}; ImageJ LUTs: {', '.join(IMAGEJ_LUTS[:12])}, ..."
        ) from None


@dataclass
class HyperstackDisplayConfig(DisplayConfig):
    MODES: ClassVar[tuple[str, ...]] = ("window", "channel", "slice", "frame")
    #: OpenHCS's Fiji defaults, except that wells get their own windows: a plate of wells on
    #: one frame axis is hard to read and grows without bound.
    DEFAULT_MODES: ClassVar[dict[str, str]] = {
        "well": "window",
        "site": "frame",
        "channel": "channel",
        "z_index": "slice",
        "timepoint": "frame",
    }
    WINDOW_MODE: ClassVar[str] = "window"
    FALLBACK_MODE: ClassVar[str] = "frame"
    COLOR_KEY: ClassVar[str] = "lut"
    DEFAULT_COLOR: ClassVar[str] = "Grays"

    def axis_for_mode(self, mode: str, component: str) -> str | None:
        return AXIS_OF_MODE.get(mode)

    def check_color(self, name: str) -> None:
        imagej_lut_name(name)
