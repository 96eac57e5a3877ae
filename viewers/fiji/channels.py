"""A hyperstack window's channels: LUTs and display ranges, as Fiji users expect them.

One rule per channel: its first plane sets its LUT (the producer's colour, else Fiji's
composite default) and contrast (``DisplayConfig.limits_for``); after that the channel is the
user's, and growth, new planes, closing and reopening keep what they set. Default colours
follow the channel count (gray alone, red/green/blue... with more) until the user picks one.

:class:`ChannelDisplay` is mixed into ``window.HyperstackWindow`` and uses its ``ij``,
``imp``, ``dims``, ``closed``, ``fiji_luts`` and the state set up in :meth:`_init_channels`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from viewers.dtypes import to_imagej
from viewers.fiji.luts import chosen_color, default_color, lut_end_rgb, make_lut
from viewers.hyperstack import HyperstackDisplayConfig
from viewers.placement import Placement


def channel_value(placement: Placement) -> Any:
    """The item's ``channel`` component, whether it is on the C axis or names the window."""
    on_axis = dict(zip(placement.axis_components.get("c", ()), placement.axes.get("c", ())))
    return on_axis.get("channel", dict(placement.window).get("channel"))


class ChannelDisplay:
    """Channel LUTs and display ranges of one CompositeImage (a mixin; see the module)."""

    ij: Any
    imp: Any
    dims: tuple[int, int, int]
    closed: bool
    fiji_luts: Any
    dirty: bool

    def _init_channels(self) -> None:
        # Channels coloured by default (no colour from the producer) and the LUT end colour
        # we gave them: recoloured when a second channel arrives, unless the user changed it.
        self.default_colored: dict[int, tuple[int, int, int]] = {}
        self.configured_channels: set[int] = set()
        # channel -> (producer's LUT name or None, contrast) until the image has the channel
        self._pending_channels: dict[int, tuple[str | None, float, float]] = {}
        self._luts: dict[str, Any] = {}
        # LUTs and ranges recorded while the window was open (File > Close resets them)
        self._remembered: dict[int, tuple[Any, float, float]] | None = None

    def _channel_settings(
        self, c: int, channel_value: Any, plane: np.ndarray, config: HyperstackDisplayConfig
    ) -> None:
        """Note a new channel's LUT name and contrast from its first plane (in hand now);
        applied by :meth:`_configure_channels` once the image has that channel."""
        if c in self.configured_channels or c in self._pending_channels:
            return
        step = max(1, max(plane.shape) // 512)  # a sample: contrast of a 2048x2048 plane
        lo, hi = config.limits_for(to_imagej(plane[::step, ::step]))
        self._pending_channels[c] = (chosen_color(config, channel_value), lo, hi)

    def _configure_channels(self) -> None:
        """LUT and contrast for channels seen for the first time; never touched again."""
        for c, (chosen, lo, hi) in sorted(self._pending_channels.items()):
            lut = self._lut(chosen if chosen is not None else default_color(c, self.dims[0]))
            self._set_channel(c, lut, lo, hi)
            if chosen is None:
                self.default_colored[c] = lut_end_rgb(lut)
            self.configured_channels.add(c)
        if self._pending_channels:
            self._pending_channels = {}
            self._recolor_defaults()

    def _recolor_defaults(self) -> None:
        """Give default-coloured channels Fiji's colour for the current channel count."""
        state = self.channel_state()
        for c, applied in list(self.default_colored.items()):
            if c not in state:
                continue
            lut, lo, hi = state[c]
            wanted = self._lut(default_color(c, self.dims[0]))
            if lut_end_rgb(lut) != applied:  # the user chose another LUT: theirs now
                del self.default_colored[c]
            elif lut_end_rgb(wanted) != applied:
                self._set_channel(c, wanted, lo, hi)
                self.default_colored[c] = lut_end_rgb(wanted)

    def _lut(self, name: str) -> Any:
        """A LUT by name, made once per window (a plane's colour is checked on arrival)."""
        if name not in self._luts:
            self._luts[name] = make_lut(self.ij, name, self.fiji_luts)
        return self._luts[name]

    def _set_channel(self, c: int, lut: Any, lo: float, hi: float) -> None:
        """Set one channel's LUT and display range without moving the user's position."""
        imp = self.imp
        lut = lut.clone()
        lut.min, lut.max = float(lo), float(hi)
        if self.closed and self._remembered is not None:
            self._remembered[c] = (lut.clone(), float(lo), float(hi))
        imp.setChannelLut(lut, c + 1)
        if imp.getC() == c + 1:
            imp.getProcessor().setLut(lut)
            imp.setDisplayRange(float(lo), float(hi))
        self.dirty = True  # drawn once by ``draw``, however many channels changed

    def channel_state(self) -> dict[int, tuple[Any, float, float]]:
        """Each channel's LUT and display range, as the user last left them."""
        imp = self.imp
        if self.closed and self._remembered is not None:
            return {c: (lut.clone(), lo, hi) for c, (lut, lo, hi) in self._remembered.items()}
        out = {}
        single = imp.getNChannels() == 1  # shown through its processor, as a plain image
        for c in range(min(self.dims[0], imp.getNChannels())):
            lut = (imp.getProcessor().getLut() if single else imp.getChannelLut(c + 1)).clone()
            if imp.getC() == c + 1:
                lo, hi = float(imp.getDisplayRangeMin()), float(imp.getDisplayRangeMax())
            else:
                lo, hi = float(lut.min), float(lut.max)
            out[c] = (lut, lo, hi)
        return out

    def _restore_channel_state(self, saved: dict[int, tuple[Any, float, float]]) -> None:
        for c, (lut, lo, hi) in saved.items():
            if c in self.configured_channels:
                self._set_channel(c, lut, lo, hi)
