"""Colours and contrast applied to a scene's channel layers, respecting the user's choices.

The rules (which colour, which limits) are pure (:mod:`viewers.napari.layout`,
:mod:`viewers.napari.contrast`); this module applies them to napari layers. Each layer group
remembers what *we* last set (``auto_colormap``, ``auto_limits``); a layer whose colormap or
contrast no longer matches was changed by the user and is left alone from then on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from viewers.base import ComponentValue
from viewers.napari.contrast import close_enough, visibly_different
from viewers.napari.layout import channel_order, default_channel_colormaps


def auto_colormaps(channels: Sequence[ComponentValue]) -> dict[ComponentValue, str]:
    """napari's channel_axis colour of each channel, for the channels so far."""
    order = channel_order(channels)
    return dict(zip(order, default_channel_colormaps(len(order))))


def recolor_channels(groups: Iterable[Any], channels: Sequence[ComponentValue]) -> None:
    """Give auto-coloured channel layers napari's channel_axis colours for the count so far."""
    colors = auto_colormaps(channels)
    for group in groups:
        layer = group.image_layer
        if layer is None or group.auto_colormap is None or group.channel is None:
            continue
        if layer.colormap.name != group.auto_colormap:
            group.auto_colormap = None  # the user picked a colormap: theirs from now on
            continue
        wanted = colors[group.channel]
        if wanted != group.auto_colormap:
            layer.colormap = wanted
            group.auto_colormap = wanted


def apply_contrast(
    groups: Iterable[Any], channel: ComponentValue | None, limits: tuple[float, float]
) -> None:
    """Set ``limits`` on every layer of ``channel`` whose contrast the user has not adjusted."""
    for group in groups:
        layer = group.image_layer
        if group.channel != channel or layer is None or group.auto_limits is None:
            continue
        current = tuple(float(v) for v in layer.contrast_limits)
        if not close_enough(current, group.auto_limits):
            group.auto_limits = None  # the user set contrast: keep it from now on
            continue
        if visibly_different(current, limits):  # each change re-renders napari's thumbnail
            layer.contrast_limits = limits
            group.auto_limits = tuple(float(v) for v in layer.contrast_limits)
