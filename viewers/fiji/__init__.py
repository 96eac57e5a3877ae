"""Fiji/ImageJ adapter: hub items as ImageJ hyperstacks, LUTs and ROI Manager ROIs."""

from viewers.fiji.config import FijiDisplayConfig
from viewers.fiji.viewer import FijiViewer

__all__ = ["FijiDisplayConfig", "FijiViewer"]
