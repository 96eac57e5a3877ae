"""The plate overview as a napari dock widget: the mosaic, refreshed live, click to go.

A thin Qt layer over :class:`~viewers.napari.overview.PlateOverview`: a timer re-renders
the mosaic only when planes arrived or colours, contrast or the well in view changed (a few
ms for 384 wells, never per plane), and a click on a well moves napari to it through the
scene's ``goto`` (the well slider, or the well's tile when wells are layers).
"""

from __future__ import annotations

import logging
from typing import Any

from qtpy.QtCore import QPoint, Qt, QTimer
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QLabel

from viewers.napari.report import overview_style
from viewers.napari.scene import NapariScene

log = logging.getLogger(__name__)

REFRESH_MS = 300


class PlateOverviewWidget(QLabel):
    """The whole plate at low resolution, the well in view outlined."""

    def __init__(self, scene: NapariScene, refresh_ms: int = REFRESH_MS) -> None:
        super().__init__()
        self.scene = scene
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setToolTip("Plate overview: click a well to show it")
        self.setStyleSheet("background: black")
        self._shown: Any = None
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(refresh_ms)
        self.refresh()

    def refresh(self) -> None:
        overview = self.scene.overview
        try:
            scene = self.scene
            well = dict(scene.current_values()).get("well")
            style = (*overview_style(scene.groups.values()), well)
        except Exception:  # an exception escaping a Qt slot aborts the process
            log.exception("plate overview style")
            return
        if not overview.dirty and style == self._shown:
            return
        image = overview.render(*style)
        height, width = image.shape[:2]
        qimage = QImage(image.data, width, height, 3 * width, QImage.Format.Format_RGB888)
        self.setPixmap(QPixmap.fromImage(qimage.copy()))
        self.setMinimumSize(width, height)
        self._shown = style

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        point = event.position() if hasattr(event, "position") else event.pos()
        well = self.scene.overview.well_at(point.y(), point.x())
        if well is not None:
            log.info("plate overview: going to well %s", well)
            self.scene.goto({"well": well})
            self.refresh()

    def screen_rect(self) -> list[int]:
        """[x, y, width, height] of the mosaic on the screen (for full-screen checks)."""
        corner = self.mapToGlobal(QPoint(0, 0))
        overview = self.scene.overview
        return [corner.x(), corner.y(), overview.shape[1], overview.shape[0]]
