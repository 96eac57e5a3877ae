"""Display config for hyperstack viewers (Fiji/ImageJ and the recorder): C, Z, T axes + windows.

Modes: ``window`` (one window per value), ``channel``, ``slice``, ``frame`` (the hyperstack's
C, Z and T axes; several components on one axis combine in component order). Colours are
ImageJ LUT names (``contract.colors.IMAGEJ_LUTS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from contract.colors import imagej_lut_name
from viewers.base import ComponentValue, DisplayConfig
from viewers.placement import AxisIndex, Placement, WindowKey, place

AXIS_OF_MODE = {"channel": "c", "slice": "z", "frame": "t"}


@dataclass
class HyperstackDisplayConfig(DisplayConfig):
    MODES: ClassVar[tuple[str, ...]] = ("window", "channel", "slice", "frame")
    #: OpenHCS's Fiji defaults: a whole plate is one window whose frames step through
    #: (well, site, timepoint), each frame's label naming its well, as Fiji users browse a
    #: plate; ``{"well": "window"}`` gives one window per well instead.
    DEFAULT_MODES: ClassVar[dict[str, str]] = {
        "well": "frame",
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


#: The hyperstack axes in ImageJ's stack order (channels fastest, then slices, then frames).
HYPERSTACK_AXES = ("c", "z", "t")

#: A 0-based (c, z, t) position; None on an axis means "every position" (ImageJ's 0).
Target = tuple[int | None, int | None, int | None]


def _same(a: ComponentValue, b: ComponentValue) -> bool:
    """Component values compare as given, or as text (a goto from JSON may say "2" for 2)."""
    return a == b or str(a) == str(b)


@dataclass
class HyperstackLayout:
    """Where planes sit in one hyperstack: stable (c, z, t) positions and the slice labels.

    One rule for the Fiji windows and anything else laid out like them: positions come from
    :class:`viewers.placement.AxisIndex` (arrival order, never moved); ``names`` remembers which
    components make up each axis key, so a partial key (a goto naming only the well, shapes
    without a timepoint) can be matched against the positions the images created.
    """

    index: AxisIndex = field(default_factory=AxisIndex)
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _labels: dict[tuple[int, int, int], str] = field(
        default_factory=dict, repr=False, compare=False
    )

    def position(self, placement: Placement) -> tuple[tuple[int, int, int], bool]:
        """The 0-based (c, z, t) of an image plane (new keys appended) and whether it grew."""
        grew, out = False, []
        for axis in HYPERSTACK_AXES:
            key = placement.axes.get(axis, ())
            if key:
                self.names.setdefault(axis, placement.axis_components[axis])
            pos, new = self.index.position(axis, key)
            out.append(pos)
            grew |= new
        return (out[0], out[1], out[2]), grew

    def dims(self) -> tuple[int, int, int]:
        """(channels, slices, frames), at least 1 each."""
        nc, nz, nt = (max(1, self.index.size(a)) for a in HYPERSTACK_AXES)
        return nc, nz, nt

    def matches(self, axis: str, components: dict[str, ComponentValue]) -> list[int] | None:
        """Positions on ``axis`` whose key agrees with ``components``; None if none is named.

        Components absent from ``components`` match anything, so ``{"well": "B03"}`` matches
        every frame of well B03. An empty list means the values name no known position.
        """
        names = self.names.get(axis, ())
        given = {n: components[n] for n in names if n in components}
        if not given:
            return None
        out = []
        for pos, key in enumerate(self.index.keys.get(axis, [])):
            values = dict(zip(names, key))
            if all(_same(values.get(n, v), v) for n, v in given.items()):
                out.append(pos)
        return out

    def find(self, components: dict[str, ComponentValue]) -> Target:
        """The first position matching ``components`` on each axis (None: not named).

        Never adds a position: going to a plane that does not exist is a KeyError naming it.
        """
        out: list[int | None] = []
        for axis in HYPERSTACK_AXES:
            found = self.matches(axis, components)
            if found == []:
                names = self.names.get(axis, ())
                raise KeyError(
                    f"no {'/'.join(names)} {[components[n] for n in names if n in components]}"
                    f"; known: {self.index.keys.get(axis, [])}"
                )
            out.append(None if found is None else found[0])
        return out[0], out[1], out[2]

    def shape_targets(self, placement: Placement) -> list[Target]:
        """Where a shape set goes: one target per matching (c, z, t), None = every position.

        An axis the shapes carry no component for is None (ImageJ position 0: the outline
        shows on every channel / slice / frame). A full key lands exactly (created if new);
        a partial key (e.g. well and site but no timepoint) lands on every matching position.
        """
        per_axis: list[list[int | None]] = []
        for axis in HYPERSTACK_AXES:
            key = placement.axes.get(axis, ())
            names = placement.axis_components.get(axis, ())
            known = self.names.get(axis)
            if not key:  # exactly the unnamed position if images have one, else all
                unnamed = () in self.index.keys.get(axis, [])
                per_axis.append([self.index.keys[axis].index(()) if unnamed else None])
            elif known is None or tuple(names) == tuple(known):
                if known is None:
                    self.names[axis] = tuple(names)
                per_axis.append([self.index.position(axis, key)[0]])
            else:
                found = self.matches(axis, dict(zip(names, key))) or []
                if not found:
                    raise KeyError(f"shapes at {dict(zip(names, key))} match no {axis} position")
                per_axis.append(list(found))
        return [(c, z, t) for t in per_axis[2] for z in per_axis[1] for c in per_axis[0]]

    def label(self, c: int, z: int, t: int) -> str:
        """A slice label naming the components: ``B03 site=2 channel=1 z_index=3``.

        The well is shown by name alone, as plate browsers do; every other component as
        ``name=value``. ImageJ shows it in the window's subtitle next to the sliders.
        """
        parts = []
        for axis, pos in (("t", t), ("c", c), ("z", z)):  # the well (on frames) first
            keys = self.index.keys.get(axis)
            if not keys or pos >= len(keys):
                continue
            for name, value in zip(self.names.get(axis, ()), keys[pos]):
                parts.append(str(value) if name == "well" else f"{name}={value}")
        return " ".join(parts)

    def labels(self, dims: tuple[int, int, int]) -> list[str]:
        """Every slice label in ImageJ's stack order (c fastest, then z, t) for ``dims``.

        A position's label never changes (positions are never moved), so each is made once:
        a plate's window asks for all of them at every new frame.
        """
        nc, nz, nt = dims
        out = []
        for t in range(nt):
            for z in range(nz):
                for c in range(nc):
                    label = self._labels.get((c, z, t))
                    if label is None:
                        label = self._labels[(c, z, t)] = self.label(c, z, t)
                    out.append(label)
        return out


class _LaidOut(Protocol):
    layout: HyperstackLayout


W = TypeVar("W", bound=_LaidOut)


def goto_target(
    windows: Mapping[WindowKey, W], components: dict[str, Any], config: DisplayConfig
) -> tuple[W, Target]:
    """The window and 0-based (c, z, t) a ``goto`` names: the one derivation of Fiji's and the
    recorder's goto (napari moves sliders instead). Components left out are None on their axis.

    An unknown window or value is a KeyError naming it, never a new empty window or position.
    """
    placement = place(components, config)
    window = windows.get(placement.window)
    if window is None:
        raise KeyError(
            f"no window for {dict(placement.window)}; windows: {[dict(k) for k in windows]}"
        )
    return window, window.layout.find(components)
