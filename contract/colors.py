"""Shape colours: the one table of colour names and the one parser, for every side.

The hub validates shape colours with :func:`check_color`; napari, Fiji and the recorder draw
them with :func:`to_hex` / :func:`to_argb_bytes`. Before this module the hub and napari
accepted any 3-20 letter word while Fiji and the recorder knew 12 names, so ``purple`` was
accepted by the hub and broke Fiji. Now a name works everywhere or is refused at the hub.

Names are the CSS basic and common matplotlib single-word names a producer is likely to write;
anything else is given as ``#rrggbb`` or ``#rrggbbaa``.

Channel colours are another vocabulary: ImageJ LUT names (Fiji, the recorder) and napari
colormaps. Their tables live here too, once: the LUT names (:data:`IMAGEJ_LUTS`), the ones
ImageJ builds in without LUT files (:data:`IMAGEJ_BUILTIN_LUTS`) and the one mapping from ImageJ
spelling to napari's (:data:`IMAGEJ_TO_NAPARI`).
"""

from __future__ import annotations

import re

from contract.display_config import DisplayConfigError

RGBA = tuple[int, int, int, int]

#: Colour names a shape may use, lower case, as '#rrggbb' (CSS values).
NAMED_COLORS: dict[str, str] = {
    "red": "#ff0000",
    "green": "#00ff00",  # as a producer means it (CSS "lime"), not CSS's dark #008000
    "blue": "#0000ff",
    "cyan": "#00ffff",
    "magenta": "#ff00ff",
    "yellow": "#ffff00",
    "white": "#ffffff",
    "black": "#000000",
    "gray": "#808080",
    "grey": "#808080",
    "orange": "#ffa500",
    "purple": "#800080",
    "violet": "#ee82ee",
    "pink": "#ffc0cb",
    "brown": "#a52a2a",
    "lime": "#00ff00",
    "olive": "#808000",
    "navy": "#000080",
    "teal": "#008080",
    "maroon": "#800000",
    "gold": "#ffd700",
    "silver": "#c0c0c0",
}

_HEX = re.compile(r"^#([0-9a-fA-F]{6})([0-9a-fA-F]{2})?$")


def to_rgba(color: str) -> RGBA:
    """``'#rrggbb'``, ``'#rrggbbaa'`` or a name (any case) -> (r, g, b, a), each 0-255.

    Raises ValueError naming the value and the known names: the one error every side gives.
    """
    if not isinstance(color, str):
        raise ValueError(f"colour {color!r:.40} is not a string")
    match = _HEX.match(NAMED_COLORS.get(color.lower(), color))
    if match is None:
        raise ValueError(
            f"colour {color!r:.40} is not '#rrggbb[aa]' or one of {', '.join(NAMED_COLORS)}"
        )
    rgb, alpha = match.groups()
    r, g, b = (int(rgb[i : i + 2], 16) for i in (0, 2, 4))
    return r, g, b, int(alpha, 16) if alpha else 255


def check_color(color: str) -> None:
    """Raise ValueError unless ``color`` is a known name or a hex colour (see :func:`to_rgba`)."""
    to_rgba(color)


def to_hex(color: str) -> str:
    """The colour as ``'#rrggbbaa'`` (what napari's edge/face colours accept)."""
    return "#{:02x}{:02x}{:02x}{:02x}".format(*to_rgba(color))


def to_argb_bytes(color: str) -> bytes:
    """The 4 ARGB bytes an ImageJ ROI stores as its stroke colour."""
    r, g, b, a = to_rgba(color)
    return bytes([a, r, g, b])


# -- channel LUTs (display configs)

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

#: Names LutLoader.getLut knows without LUT files (ImageJ 1.x built-ins).
IMAGEJ_BUILTIN_LUTS = {
    "Grays": "grays",
    "Fire": "fire",
    "Ice": "ice",
    "Spectrum": "spectrum",
    "3-3-2 RGB": "3-3-2 rgb",
    "Red": "red",
    "Green": "green",
    "Blue": "blue",
    "Cyan": "cyan",
    "Magenta": "magenta",
    "Yellow": "yellow",
    "Red/Green": "redgreen",
}

#: ImageJ LUT names a producer may send for Fiji, and the napari colormap that matches.
IMAGEJ_TO_NAPARI = {
    "grays": "gray",
    "grey": "gray",
    "fire": "inferno",
    "ice": "twilight",
    "spectrum": "turbo",
    "mpl-viridis": "viridis",
    "mpl-magma": "magma",
    "mpl-inferno": "inferno",
    "mpl-plasma": "plasma",
    "glasbey": "turbo",
}


def imagej_lut_name(name: str) -> str:
    """The canonical spelling of an ImageJ LUT name, or DisplayConfigError listing them."""
    try:
        return _LUT_BY_LOWER[name.lower()]
    except KeyError:
        raise DisplayConfigError(
            f"unknown LUT {name!r}; ImageJ LUTs: {', '.join(IMAGEJ_LUTS[:12])}, ..."
        ) from None
