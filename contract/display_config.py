"""The display-config base: how components map onto a viewer's windows and axes, and colours.

Part of the shared contract because producers build display configs (``to_wire``) as much as
viewers read them (``from_wire``); each viewer subclasses :class:`DisplayConfig` with its own
modes and colour names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from contract.protocol import STANDARD_COMPONENTS

ComponentValue = int | str

#: Modes that split data into separate windows or layers rather than onto an axis.
WINDOW_LIKE_MODES = frozenset({"window", "layer"})


#: The one auto-contrast rule (napari's running limits, Fiji's first plane, the recorder's
#: screenshot): these percentiles of the data, so a few hot or dead pixels do not set the range.
LOW_PERCENTILE = 0.1
HIGH_PERCENTILE = 99.9


def auto_limits(
    sample: np.ndarray, low: float = LOW_PERCENTILE, high: float = HIGH_PERCENTILE
) -> tuple[float, float]:
    """Contrast limits (lo, hi) of ``sample``: its ``low``/``high`` percentiles, finite values only.

    Always lo < hi (a flat or empty sample gets a range of 1), so a viewer can divide by it.
    """
    values = np.asarray(sample, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(values, [low, high]))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


class DisplayConfigError(ValueError):
    """A display config names a mode, colour or contrast this viewer cannot use."""


@dataclass
class DisplayConfig(ABC):
    """How components map onto a viewer's windows and axes, and how channels are coloured.

    Subclasses declare ``MODES`` (the modes they support), ``DEFAULT_MODES`` (per component),
    ``WINDOW_MODE`` (the mode that splits into windows/layers), ``FALLBACK_MODE`` (for
    components without a default), ``COLOR_KEY`` (the wire key of
    the default colour: ``lut`` for Fiji, ``colormap`` for napari) and implement
    :meth:`axis_for_mode` and :meth:`check_color`.

    ``to_wire``/``from_wire`` round-trip with the OpenHCS ``display_config`` dict; keys this
    class does not model are kept in ``extra`` so nothing a producer sent is lost.
    """

    MODES: ClassVar[tuple[str, ...]]
    DEFAULT_MODES: ClassVar[dict[str, str]]
    WINDOW_MODE: ClassVar[str]
    FALLBACK_MODE: ClassVar[str]  # for a component with no default mode
    COLOR_KEY: ClassVar[str]
    DEFAULT_COLOR: ClassVar[str]

    component_order: list[str] = field(default_factory=lambda: list(STANDARD_COMPONENTS))
    component_modes: dict[str, str] = field(default_factory=dict)
    color: str | None = None  # default LUT / colormap for every channel
    channel_colors: dict[str, str] = field(default_factory=dict)  # str(channel value) -> colour
    auto_contrast: bool = True
    contrast_limits: tuple[float, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for component, mode in list(self.component_modes.items()):
            self.component_modes[component] = self.translate_mode(mode, component)
        for name in [self.color, *self.channel_colors.values()]:
            if name is not None:
                self.check_color(name)
        if self.contrast_limits is not None:
            lo, hi = self.contrast_limits
            if not lo < hi:
                raise DisplayConfigError(f"contrast limits {self.contrast_limits} need lo < hi")

    # -- what subclasses provide

    @abstractmethod
    def axis_for_mode(self, mode: str, component: str) -> str | None:
        """The axis a component in ``mode`` lands on, or None if the mode makes windows."""

    @abstractmethod
    def check_color(self, name: str) -> None:
        """Raise DisplayConfigError if ``name`` is not a LUT/colormap this viewer knows."""

    # -- shared behaviour

    def translate_mode(self, mode: str, component: str) -> str:
        """Map another viewer's mode onto ours (a Fiji 'window' is a napari 'layer')."""
        if mode in self.MODES:
            return mode
        if mode in WINDOW_LIKE_MODES:
            return self.WINDOW_MODE
        return self.DEFAULT_MODES.get(component, self.FALLBACK_MODE)

    def mode_of(self, component: str) -> str:
        return self.component_modes.get(component) or self.DEFAULT_MODES.get(
            component, self.FALLBACK_MODE
        )

    def limits_for(self, sample: np.ndarray) -> tuple[float, float]:
        """The producer's fixed limits when auto-contrast is off, else :func:`auto_limits`."""
        if self.contrast_limits is not None and not self.auto_contrast:
            return self.contrast_limits
        return auto_limits(sample)

    def given_color(self, channel: ComponentValue | None) -> str | None:
        """The colour the producer asked for (this channel's, else every channel's), or None.

        None lets a viewer apply its own default scheme (Fiji's composite colours, napari's
        channel_axis colours) instead of :attr:`DEFAULT_COLOR`.
        """
        if channel is not None and str(channel) in self.channel_colors:
            return self.channel_colors[str(channel)]
        return self.color

    def color_for(self, channel: ComponentValue | None) -> str:
        return self.given_color(channel) or self.DEFAULT_COLOR

    def ordered(self, components: dict[str, ComponentValue]) -> list[str]:
        """Component names in display order; undeclared ones follow, sorted by name."""
        known = [c for c in self.component_order if c in components]
        return known + sorted(c for c in components if c not in self.component_order)

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out["component_modes"] = dict(self.component_modes)
        out["component_order"] = list(self.component_order)
        if self.color is not None:
            out[self.COLOR_KEY] = self.color
        if self.channel_colors:
            out["channel_colors"] = dict(self.channel_colors)
        out["auto_contrast"] = self.auto_contrast
        if self.contrast_limits is not None:
            out["contrast_limits"] = list(self.contrast_limits)
        return out

    @classmethod
    def from_wire(cls, wire: dict[str, Any] | None) -> DisplayConfig:
        """Build from a wire dict (ours or OpenHCS's). Unknown keys are kept in ``extra``."""
        wire = dict(wire or {})
        known_keys = {
            "component_modes",
            "component_order",
            cls.COLOR_KEY,
            "channel_colors",
            "auto_contrast",
            "contrast_limits",
        }
        extra = {k: v for k, v in wire.items() if k not in known_keys}
        limits = wire.get("contrast_limits")
        return cls(
            component_order=list(wire.get("component_order") or STANDARD_COMPONENTS),
            component_modes=dict(wire.get("component_modes") or {}),
            color=wire.get(cls.COLOR_KEY),
            channel_colors={str(k): v for k, v in (wire.get("channel_colors") or {}).items()},
            auto_contrast=bool(wire.get("auto_contrast", True)),
            contrast_limits=tuple(limits) if limits else None,
            extra=extra,
        )
