"""Pay napari's one-time costs of a first image layer at start, not on the first plane.

Profiled in-process under Xvfb (napari 0.9, a 4-channel well of 2048² multiscale layers): the
first ``add_image`` of a process costs ~0.9 s of CPU, the next ones ~0.25 s. The difference is
paid once per process: pint's unit registry (napari's transforms ask it for ``pixel``: parsing
pint's definition files, 0.35-0.5 s), the first image controls widget, the first vispy image
visual and its shaders, and the first GL draw of a multiscale layer. Paid while the stream
runs, it delays the first well's planes by that much; paid here, before the viewer tells the
hub it is ready, no plane waits for it.

The slice label's glyphs are warmed too: vispy renders each glyph into its font's texture the
first time it is drawn (~0.17 s for a label's few dozen characters), so the canvas text
overlay is drawn once with the characters a plate's label shows. Run this before the scene
styles that overlay (box, position): painting the warm-up layer after that crashed in GL
(Mesa, Xvfb). The whole warm-up costs ~1.5 s of CPU at start (pint ~0.5 s, the layer ~0.45 s,
the glyphs ~0.4 s, paints); the first 2048² layer of a stream then costs ~0.3 s, not ~0.9 s.

The warm-up layer is a tiny two-level multiscale image, drawn once and removed: napari's
layer list is empty again afterwards, so the first real layer still sets the view.
"""

from __future__ import annotations

import logging
import string
import time
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

WARM_UP_NAME = "viewerhub-warm-up"
#: the characters a plate's slice label shows (plate rows, numbers, the usual component
#: names); each glyph costs ~10 ms to render, so not every printable character
GLYPHS = (
    "ABCDEFGHIJKLMNOP"
    + string.digits
    + " _="
    + "".join(sorted(set("well site channel z_index timepoint")))
)


def warm_up(viewer: Any) -> float:
    """Create, draw and remove a small multiscale image layer; returns the seconds it took."""
    start = time.perf_counter()
    import pint

    pint.get_application_registry().pixel  # noqa: B018  (loads the definitions once)
    levels = [np.zeros((2, 2, 64, 64), np.uint16), np.zeros((2, 2, 32, 32), np.uint16)]
    layer = viewer.add_image(
        levels,
        multiscale=True,
        name=WARM_UP_NAME,
        colormap="gray",
        contrast_limits=(0, 1),
        blending="additive",
    )
    from viewers.napari.plate_tiles import text_overlay

    label = text_overlay(viewer)
    shown = label.text, label.visible
    label.text, label.visible = GLYPHS, True
    _paint(viewer)
    label.text, label.visible = shown
    viewer.layers.remove(layer)
    _paint(viewer)
    elapsed = time.perf_counter() - start
    log.info("napari warm-up: %.2f s", elapsed)
    return elapsed


def _paint(viewer: Any) -> None:
    """Process pending Qt events and paint the canvas now (compiles the layer's shaders)."""
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()
    try:
        native = viewer.window._qt_viewer.canvas.native  # no public accessor
    except AttributeError:
        return
    if native.isVisible():  # painted by Qt's loop: a direct repaint() can crash in GL
        native.update()
        QApplication.processEvents()
