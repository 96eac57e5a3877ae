"""napari's display config: each component is a dims slider (``stack``) or splits layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from contract.colors import IMAGEJ_TO_NAPARI
from contract.protocol import STANDARD_COMPONENTS
from viewers.base import DisplayConfig, DisplayConfigError


def napari_colormap(name: str) -> str:
    """The napari colormap for ``name`` (napari or ImageJ spelling); error if there is none."""
    from napari.utils.colormaps import AVAILABLE_COLORMAPS

    lowered = name.lower()
    candidate = IMAGEJ_TO_NAPARI.get(lowered, lowered)
    for known in (name, candidate):
        if known in AVAILABLE_COLORMAPS:
            return known
    raise DisplayConfigError(
        f"unknown colormap {name!r}; napari has {', '.join(sorted(AVAILABLE_COLORMAPS)[:15])}, ..."
    )


@dataclass
class NapariDisplayConfig(DisplayConfig):
    MODES: ClassVar[tuple[str, ...]] = ("stack", "layer")
    #: Channels as separate layers (each its own colormap, blended additively into one
    #: composite); well, site, z and t are dims sliders, so one well is shown at a time and
    #: two wells are never summed. Wells as layers (``well: layer``/``window``) are tiled at
    #: their plate positions instead (see ``viewers.napari.scene``).
    DEFAULT_MODES: ClassVar[dict[str, str]] = {
        **dict.fromkeys(STANDARD_COMPONENTS, "stack"),
        "channel": "layer",
    }
    WINDOW_MODE: ClassVar[str] = "layer"
    FALLBACK_MODE: ClassVar[str] = "stack"
    COLOR_KEY: ClassVar[str] = "colormap"
    DEFAULT_COLOR: ClassVar[str] = "gray"

    def axis_for_mode(self, mode: str, component: str) -> str | None:
        return None if mode == "layer" else component

    def check_color(self, name: str) -> None:
        napari_colormap(name)

    @property
    def variable_size_handling(self) -> str:
        """``pad_to_max`` (default: a layer grows to its largest plane) or ``separate_layers``."""
        return str(self.extra.get("variable_size_handling", "pad_to_max"))
