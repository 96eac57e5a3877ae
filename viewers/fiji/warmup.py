"""Pay ImageJ's one-time costs of a first plate window at start, not on the first plane.

Profiled in-process under Xvfb with a JFR recording (ImageJ 1.53t, a 4-channel 2048² uint16
composite read from files, as ``viewers.fiji.window`` makes it): ``imp.show()`` of the first
window took ~0.6 s of CPU, later gotos ~0.15 s. Nearly all samples were in ImageJ's pixel
loops: ``ImageProcessor.updateComposite`` (blending the channels), ``ShortProcessor.
create8BitImage`` (each 16-bit channel through its display range) and ``ImageReader.
read16bitImage`` (a plane from its file). A window of 32² pixels (the old warm-up) builds the
window classes but runs each loop for a thousand pixels: the JIT never compiles them, so the
first real window ran them interpreted over 4 x 4 M pixels.

So the warm-up is a window like the plate's: a virtual stack of 4 channels x 2 frames over
one file holding every 16-bit value (below and above the display range, so the loops'
branches all run: compiled from an all-zero plane, the first real composite was still 3x
slower, deoptimised), off screen, shown and moved between its frames, then closed. It costs
about 1-1.5 s of CPU before the viewer tells the hub it is ready; no plane waits for it.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from typing import Any

import numpy as np

from contract.display_config import auto_limits
from viewers.fiji import screen
from viewers.fiji.jvm import ImageJ

log = logging.getLogger(__name__)

#: The warm-up window's side and channels: a plate's, so the JIT compiles the loops. Measured
#: in-process (shared machine), the first 2048² 4-channel window's make + show, CPU: 0.77 s
#: after a 32² warm-up, 0.57 s after 1024² zeros, 0.39-0.46 s after 2048² zeros, 0.33-0.45 s
#: after this one (its show() alone 0.60 -> 0.25 s).
SIZE = 2048
CHANNELS = 4
FRAMES = 2
#: Frame changes drawn: each one reads the channels and blends them, as a goto does.
ROUNDS = 3


def warm_up(ij: ImageJ) -> float:
    """Open, draw and close a hidden composite hyperstack like a plate's; returns its CPU s."""
    started = time.process_time()
    with tempfile.NamedTemporaryFile(prefix="viewerhub-fiji-warm-up-", suffix=".raw") as plane:
        # every 16-bit value, below and above the display range: the loops' branches all run
        # (compiled from an all-zero plane, the first real one was 3x slower: deoptimised)
        np.arange(SIZE * SIZE, dtype=np.uint32).astype("<u2").tofile(plane.name)
        imp = _window(ij, plane.name)
        try:
            # the reflection the first plate window's scrollbar check needs (its Java fields
            # looked up once per class: 25 ms on that window otherwise)
            screen.ensure_hyperstack_window(ij, imp)
            for k in range(ROUNDS):  # another frame each time: read, blend, draw
                imp.setPosition(1, 1, 2 - k % FRAMES)
        finally:
            imp.changes = False
            imp.close()
    # a first plane's contrast sample: NumPy's percentile code is imported on first use
    # (measured 35 ms on the first plane in process, 0.2 s on a busy machine)
    auto_limits(np.arange(64, dtype=np.uint16).reshape(8, 8))
    spent = time.process_time() - started
    log.info("ImageJ warmed up in %.2f s of CPU", spent)
    return spent


def _window(ij: ImageJ, path: str) -> Any:
    """A CompositeImage over a FileInfoVirtualStack of ``path``, shown off screen."""
    file_info = ij.jpype.JClass("ij.io.FileInfo")
    infos = []
    directory, name = os.path.split(path)
    for _ in range(CHANNELS * FRAMES):
        info = file_info()
        info.fileType = file_info.GRAY16_UNSIGNED
        info.width = info.height = SIZE
        info.intelByteOrder = True
        info.nImages = 1
        info.directory, info.fileName = directory + "/", name
        infos.append(info)
    stack = ij.jpype.JClass("ij.plugin.FileInfoVirtualStack")(ij.jpype.JArray(file_info)(infos))
    stack.setBitDepth(16)
    ij.jpype.JClass("ij.gui.ImageWindow").setNextLocation(-4000, -4000)
    imp = ij.ImagePlus("viewerhub warm-up", stack)
    imp.setDimensions(CHANNELS, 1, FRAMES)
    imp.setOpenAsHyperStack(True)
    imp = ij.CompositeImage(imp, 1)  # IJ.COMPOSITE
    for c in range(1, CHANNELS + 1):
        imp.setC(c)
        imp.setDisplayRange(0, 4000)
    screen.show_blended_once(imp)  # as the viewer shows a window
    return imp
