"""Fiji's display config: hyperstack axes (channel, slice, frame) or separate windows."""

from __future__ import annotations

from dataclasses import dataclass

from viewers.hyperstack import HyperstackDisplayConfig


@dataclass
class FijiDisplayConfig(HyperstackDisplayConfig):
    """Adds nothing to the hyperstack config but a name: Fiji *is* the hyperstack viewer.

    Extra wire key honoured: ``composite_mode`` (``composite``, ``color``, ``grayscale``).
    """
