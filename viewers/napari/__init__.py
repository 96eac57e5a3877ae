"""napari adapter: hub items as live napari layers (Image, Shapes, Points, Labels)."""

from viewers.napari.config import NapariDisplayConfig
from viewers.napari.viewer import NapariViewer

__all__ = ["NapariDisplayConfig", "NapariViewer"]
