"""The ROIs of one Fiji window: decoded by ImageJ, positioned on the hyperstack, drawn, listed.

Each ROI arrives as roifile bytes (``viewers.imagej_rois``) and is decoded in memory by
ImageJ's ``RoiDecoder``. It is kept with its exact target: a 0-based (c, z, t) where None
means "every position on that axis" (ImageJ's position 0, e.g. outlines sent without a
channel show on every channel). That ROI is what the ROI Manager lists and ``inspect``
reports. The overlay draws a copy: in composite display mode every channel is on screen at
once, so the copy is on channel 0 (all) and an outline never disappears because the channel
slider happens to point elsewhere.

With a display, the ROIs go into ImageJ's own ROI Manager (Analyze > Tools > ROI Manager),
the one a Fiji user opens; headless, AWT cannot build it and the overlay holds them alone.
"""

from __future__ import annotations

import logging
from typing import Any

from viewers.fiji.jvm import ImageJ
from viewers.fiji.luts import WindowError
from viewers.hyperstack import Target

log = logging.getLogger(__name__)


class WindowRois:
    """ROIs of one window, with their targets, the overlay and (with a display) the manager."""

    def __init__(self, ij: ImageJ, composite_view: bool) -> None:
        self.ij = ij
        self.composite_view = composite_view
        self.rois: list[Any] = []
        self.targets: list[Target] = []
        self.drawn: list[Any] = []  # the overlay's copies, same order as ``rois``
        self.overlay = ij.Overlay()

    def __len__(self) -> int:
        return len(self.rois)

    def add_bytes(self, data: bytes, name: str, target: Target, imp: Any) -> Any:
        """Decode ImageJ .roi bytes (no temp file) and add the ROI at ``target``."""
        java_bytes = self.ij.jpype.JArray(self.ij.jpype.JByte)(data)
        roi = self.ij.RoiDecoder(java_bytes, f"{name}.roi").getRoi()
        if roi is None:
            raise WindowError(f"ImageJ could not decode ROI {name!r} ({len(data)} bytes)")
        drawn = roi.clone()
        self.rois.append(roi)
        self.targets.append(target)
        self.drawn.append(drawn)
        if imp is not None:
            self._position(len(self.rois) - 1, imp)
        self.overlay.add(drawn)
        manager = self.manager()
        if manager is not None:
            manager.add(roi, -1)
        return roi

    def manager(self) -> Any:
        """ImageJ's ROI Manager (opened, as Fiji does when ROIs are added), or None headless."""
        if self.ij.headless:
            return None
        manager = self.ij.RoiManager.getInstance()
        return manager if manager is not None else self.ij.RoiManager()

    def position_all(self, imp: Any) -> None:
        """Re-apply every target after the image's dimensions changed."""
        for n in range(len(self.rois)):
            self._position(n, imp)

    def _position(self, n: int, imp: Any) -> None:
        """ImageJ draws a ROI by (c, z, t) on a hyperstack, by slice number on a plain stack."""
        c, z, t = (0 if v is None else v + 1 for v in self.targets[n])
        dims = [int(v) for v in list(imp.getDimensions())[2:]]
        size = int(imp.getStackSize())
        for roi, c_shown in ((self.rois[n], c), (self.drawn[n], 0 if self.composite_view else c)):
            if imp.isHyperStack():
                roi.setPosition(c_shown, z, t)
            elif size > 1 and size in dims:  # one axis varies: its position is the slice
                roi.setPosition((c_shown, z, t)[dims.index(size)])
            else:
                roi.setPosition(0)

    def rows(self) -> list[dict[str, Any]]:
        """Every ROI as ImageJ holds it: name, type, 1-based (c, z, t) (0 = all), geometry."""
        out = []
        for roi, target in zip(self.rois, self.targets):
            polygon = roi.getFloatPolygon()
            out.append(
                {
                    "name": str(roi.getName()),
                    "type": int(roi.getType()),
                    "type_name": str(roi.getTypeAsString()),
                    "position": [0 if v is None else v + 1 for v in target],
                    "imagej_position": [
                        roi.getCPosition(),
                        roi.getZPosition(),
                        roi.getTPosition(),
                    ],
                    "x": [float(v) for v in polygon.xpoints[: polygon.npoints]],
                    "y": [float(v) for v in polygon.ypoints[: polygon.npoints]],
                    "bounds": [
                        roi.getXBase(),
                        roi.getYBase(),
                        roi.getFloatWidth(),
                        roi.getFloatHeight(),
                    ],
                }
            )
        return out

    def clear(self) -> None:
        """Forget this window's ROIs and take them out of the ROI Manager."""
        manager = None if self.ij.headless else self.ij.RoiManager.getInstance()
        if manager is not None:
            for roi in self.rois:
                index = manager.getRoiIndex(roi)
                if index >= 0:
                    manager.select(index)
                    manager.runCommand("Delete")
        self.rois.clear()
        self.targets.clear()
        self.drawn.clear()
        self.overlay.clear()
