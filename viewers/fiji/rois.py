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
        return self.add_many([(data, name, target)], imp)[0]

    def add_many(self, encoded: list[tuple[bytes, str, Target]], imp: Any) -> list[Any]:
        """Decode and add a batch of ROIs; the ROI Manager's list is updated once."""
        jpype = self.ij.jpype
        placer = _Placer(imp) if imp is not None else None
        added = []
        for data, name, target in encoded:
            roi = self.ij.RoiDecoder(jpype.JArray(jpype.JByte)(data), f"{name}.roi").getRoi()
            if roi is None:
                raise WindowError(f"ImageJ could not decode ROI {name!r} ({len(data)} bytes)")
            drawn = roi.clone() if self.composite_view else roi
            if placer is not None:
                placer.place(roi, drawn, target, self.composite_view)
            self.rois.append(roi)
            self.targets.append(target)
            self.drawn.append(drawn)
            self.overlay.add(drawn)
            added.append(roi)
        manager = self.manager()
        if manager is not None and added:
            _add_to_manager(self.ij, manager, added)
        return added

    def manager(self) -> Any:
        """ImageJ's ROI Manager (opened, as Fiji does when ROIs are added), or None headless."""
        if self.ij.headless:
            return None
        manager = self.ij.RoiManager.getInstance()
        return manager if manager is not None else self.ij.RoiManager()

    def position_all(self, imp: Any) -> None:
        """Re-apply every target after the image's dimensions changed."""
        placer = _Placer(imp)
        for roi, drawn, target in zip(self.rois, self.drawn, self.targets):
            placer.place(roi, drawn, target, self.composite_view)

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
        """Forget this window's ROIs (the ROI Manager is emptied by :func:`reset_manager`)."""
        self.rois.clear()
        self.targets.clear()
        self.drawn.clear()
        self.overlay.clear()


class _Placer:
    """Sets ROI positions for one image's current dimensions (read once per batch)."""

    def __init__(self, imp: Any) -> None:
        self.hyperstack = bool(imp.isHyperStack())
        self.dims = [int(v) for v in list(imp.getDimensions())[2:]]
        self.size = int(imp.getStackSize())

    def place(self, roi: Any, drawn: Any, target: Target, composite_view: bool) -> None:
        """ImageJ draws a ROI by (c, z, t) on a hyperstack, by slice number on a plain stack.

        ``drawn`` (the overlay's copy, or ``roi`` itself) goes on every channel in composite
        view, where every channel is on screen at once.
        """
        c, z, t = (0 if v is None else v + 1 for v in target)
        pairs = [(roi, c)] if drawn is roi else [(roi, c), (drawn, 0 if composite_view else c)]
        for one, c_shown in pairs:
            if self.hyperstack:
                one.setPosition(c_shown, z, t)
            elif self.size > 1 and self.size in self.dims:  # one axis varies: its slice
                one.setPosition((c_shown, z, t)[self.dims.index(self.size)])
            else:
                one.setPosition(0)


def reset_manager(ij: ImageJ) -> None:
    """Empty ImageJ's ROI Manager: a cleared scene leaves no outlines listed.

    The manager holds copies (``RoiManager.add`` clones each ROI), so it is emptied as a
    whole, as it is filled for every window, rather than searched ROI by ROI.
    """
    manager = None if ij.headless else ij.RoiManager.getInstance()
    if manager is not None:
        manager.reset()


def _add_to_manager(ij: ImageJ, manager: Any, rois: list[Any]) -> None:
    """Add ROIs to the ROI Manager with its list detached while they go in.

    A shown manager repaints its Swing list on every ``add``: for thousands of outlines that
    is most of the time spent. The list model is filled while the JList shows an empty
    stand-in, then put back once (one repaint).
    """
    jlist = model = None
    if len(rois) > 20:
        try:
            cls = ij.jpype.JClass("ij.plugin.frame.RoiManager").class_
            fields = {}
            for name in ("list", "listModel"):
                fields[name] = cls.getDeclaredField(name)
                fields[name].setAccessible(True)
            jlist, model = fields["list"].get(manager), fields["listModel"].get(manager)
            jlist.setModel(ij.jpype.JClass("javax.swing.DefaultListModel")())
        except Exception:  # another ImageJ's RoiManager: add one by one
            log.debug("ROI Manager list not detachable; adding ROIs one by one", exc_info=True)
            jlist = model = None
    try:
        for roi in rois:
            manager.add(roi, -1)
    finally:
        if jlist is not None:
            jlist.setModel(model)
