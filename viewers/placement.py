"""Where an item goes: components + display config -> (window or layer, index on each axis).

One function, :func:`place`, used by every adapter so that napari, Fiji and the recorder agree
on where a plane or shape set belongs. Components whose mode splits into windows (napari
``layer``, Fiji ``window``) form the window key; every other component lands on the axis its
mode names. Several components on one axis combine in component order: with Fiji's defaults
``site`` and ``timepoint`` both map to the frame axis, and frame indices enumerate the
(site, timepoint) pairs.

:class:`AxisIndex` turns the values on an axis into integer positions. Positions never move
once given (a window can grow without reshuffling what it shows): values are numbered in
arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from viewers.base import ComponentValue, DisplayConfig

AxisKey = tuple[ComponentValue, ...]
WindowKey = tuple[tuple[str, ComponentValue], ...]


@dataclass(frozen=True)
class Placement:
    """``window``: (component, value) pairs naming the window/layer; ``axes``: axis -> key."""

    window: WindowKey
    axes: dict[str, AxisKey]
    axis_components: dict[str, tuple[str, ...]]


def place(components: dict[str, ComponentValue], config: DisplayConfig) -> Placement:
    """Map an item's components to its window and its key on every axis (pure function)."""
    window: list[tuple[str, ComponentValue]] = []
    axes: dict[str, list[ComponentValue]] = {}
    names: dict[str, list[str]] = {}
    for component in config.ordered(components):
        mode = config.mode_of(component)
        axis = config.axis_for_mode(mode, component)
        if axis is None:
            window.append((component, components[component]))
        else:
            axes.setdefault(axis, []).append(components[component])
            names.setdefault(axis, []).append(component)
    return Placement(
        tuple(window),
        {a: tuple(v) for a, v in axes.items()},
        {a: tuple(n) for a, n in names.items()},
    )


@dataclass
class AxisIndex:
    """Stable integer positions for the keys seen on each axis of one window."""

    keys: dict[str, list[AxisKey]] = field(default_factory=dict)

    def position(self, axis: str, key: AxisKey) -> tuple[int, bool]:
        """Position of ``key`` on ``axis`` and whether the axis just grew to hold it."""
        known = self.keys.setdefault(axis, [])
        try:
            return known.index(key), False
        except ValueError:
            known.append(key)
            return len(known) - 1, True

    def size(self, axis: str) -> int:
        return len(self.keys.get(axis, ()))

    def label(self, axis: str, position: int) -> AxisKey:
        return self.keys[axis][position]


def window_label(window: WindowKey, default: str) -> str:
    """A window's or layer's title: ``well=A01 channel=2``, or ``default`` for no key."""
    return " ".join(f"{c}={v}" for c, v in window) or default
