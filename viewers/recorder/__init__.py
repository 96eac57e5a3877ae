"""The recorder viewer: writes everything it receives to disk. The reference plugin.

It is registered like any third-party viewer (entry point ``recorder``) and is what the tests
and benchmarks use to check what arrived. Output in ``outdir``:

- ``received.jsonl``: one line per item, in arrival order, written before the hub hears the
  item was shown (``flush``, once per batch of items: so a test can read it while the
  recorder runs, and an item the hub counts as shown is never missing if the recorder is
  killed): scene index, kind, components, dtype, shape, CRC-32 of the pixels, number of
  shapes.
- ``<window>.tif``: one ImageJ hyperstack (TZCYX) per window, written when the stream goes
  idle, on ``screenshot`` and on close; pixel types follow ``viewers.dtypes``.
- ``<window>.rois.zip``: the window's shapes as ImageJ ROIs with their (c, z, t) positions.

Options: ``outdir`` (default ``viewerhub-recorder`` in the folder the hub was started from,
made absolute when the recorder starts and printed by ``hub``; ``hub status`` shows it), ``tiff`` (default true; false keeps only
the log, for benchmarks), ``checksum`` (default true; false leaves the pixels untouched, to
measure the hub alone), ``delay_s`` (sleep per item, to play a slow viewer in tests).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import roifile
import tifffile

from contract.display_config import auto_limits
from contract.protocol import json_encoder
from viewers.base import Item, Viewer
from viewers.dtypes import imagej_dtype, to_imagej
from viewers.hyperstack import HyperstackDisplayConfig, HyperstackLayout, goto_target
from viewers.imagej_rois import shape_to_rois
from viewers.placement import AxisIndex, WindowKey, place
from viewers.png import write_png

log = logging.getLogger(__name__)

IDLE_WRITE_S = 1.0
#: Longest file name stem we write (file systems allow 255 bytes; room for suffixes).
MAX_STEM = 160
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def safe_stem(label: str) -> str:
    """A file name stem for ``label``: one-to-one, never a path, never too long.

    Characters outside ``[A-Za-z0-9_.-]`` are percent-encoded (``%`` itself too), so ``A 1``,
    ``A/1`` and ``A_1`` stay three different files and ``../x`` cannot leave the folder. A
    label too long for a file name keeps its head and gains a hash of the whole.
    """
    stem = "".join(ch if ch in _SAFE else "".join(f"%{b:02X}" for b in ch.encode()) for ch in label)
    if stem.startswith("."):
        stem = "%2E" + stem[1:]
    if len(stem) > MAX_STEM:
        digest = hashlib.sha1(label.encode()).hexdigest()[:12]
        stem = f"{stem[: MAX_STEM - 13]}~{digest}"
    return stem


@functools.cache
def _dtype_name(dtype: np.dtype) -> str:
    """``str(dtype)``, once per dtype (numpy builds the name in Python every time)."""
    return str(dtype)


#: ``json.dumps(record)`` made once (a log line per item is this viewer's main work in the
#: fan-out benchmark): the same bytes.
_log_line = json_encoder((", ", ": "), allow_nan=True)


class RecorderDisplayConfig(HyperstackDisplayConfig):
    """The recorder lays data out like Fiji: windows and C, Z, T hyperstack axes."""


@dataclass
class _Window:
    name: str
    layout: HyperstackLayout = field(default_factory=HyperstackLayout)  # Fiji's layout rule
    planes: dict[tuple[int, int, int], np.ndarray] = field(default_factory=dict)
    rois: list[roifile.ImagejRoi] = field(default_factory=list)
    luts: dict[int, str] = field(default_factory=dict)

    @property
    def index(self) -> AxisIndex:
        return self.layout.index

    def position(self, components: dict, config: HyperstackDisplayConfig) -> tuple[int, int, int]:
        return self.layout.position(place(components, config))[0]

    def check_fits(self, plane: np.ndarray) -> None:
        """One window holds planes of one size: a hyperstack has one width and height."""
        if self.planes:
            first = next(iter(self.planes.values()))
            if plane.shape != first.shape:
                raise ValueError(
                    f"a {plane.shape[0]}x{plane.shape[1]} plane does not fit window "
                    f"{self.name} of {first.shape[0]}x{first.shape[1]} planes; send planes of "
                    f"another size under another component value"
                )

    def hyperstack(self) -> np.ndarray:
        """TZCYX array of every plane, zero-padded to the largest plane."""
        size = [max(p[i] for p in self.planes) + 1 for i in range(3)]  # c, z, t
        height = max(a.shape[0] for a in self.planes.values())
        width = max(a.shape[1] for a in self.planes.values())
        dtypes = {imagej_dtype(a.dtype) for a in self.planes.values()}
        dtype = np.float32 if len(dtypes) > 1 else dtypes.pop()
        out = np.zeros((size[2], size[1], size[0], height, width), dtype=dtype)
        for (c, z, t), plane in self.planes.items():
            out[t, z, c, : plane.shape[0], : plane.shape[1]] = plane
        return out


#: The recorder's folder when none is given, relative to the hub's working directory.
DEFAULT_OUTDIR = "viewerhub-recorder"


class RecorderViewer(Viewer):
    config_class = RecorderDisplayConfig
    freeze_gc = True  # no GUI toolkit: safe, and a tenth of its CPU per item
    keeps_refs = False  # it copies pixels in show or logs only

    def __init__(
        self,
        outdir: str = DEFAULT_OUTDIR,
        tiff: bool = True,
        delay_s: float = 0.0,
        checksum: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.checksum = checksum
        self.outdir = Path(outdir).absolute()  # a cwd change later must not move it
        self.keep_pixels = tiff
        self.needs_pixels = tiff or checksum  # else it logs what arrived: no pixels mapped
        self.delay_s = float(delay_s)
        self.windows: dict[WindowKey, _Window] = {}
        self.items = 0
        self._log = None
        self._lines: list[str] = []  # log lines not yet written (see flush)
        self._dirty_since: float | None = None
        self._last_config: RecorderDisplayConfig | None = None
        self._view: tuple[_Window, tuple[int, int, int]] | None = None
        self.write_errors = 0
        self.last_write_error: str | None = None

    def start(self) -> None:
        self.outdir.mkdir(parents=True, exist_ok=True)
        log.info("recording to %s", self.outdir)
        # bytes: the lines are ASCII JSON, no text layer needed on every flush
        self._log = open(self.outdir / "received.jsonl", "ab")  # noqa: SIM115

    def show(self, item: Item) -> None:
        self._last_config = item.config
        if self.delay_s:
            time.sleep(self.delay_s)
        record: dict[str, Any] = {
            "index": item.index,
            "kind": item.kind,
            "components": item.components,
            "path": item.path,
            "time": time.time(),
        }
        if item.kind == "image":
            array = item.array
            assert array is not None
            record["dtype"] = _dtype_name(array.dtype)  # not update(**...): a dict fewer
            record["shape"] = list(array.shape)
            record["crc32"] = zlib.crc32(np.ascontiguousarray(array)) if self.checksum else None
            if self.keep_pixels:
                for components, plane in item.planes():
                    window = self._window(components, item.config)
                    window.check_fits(plane)
                    window.planes[window.position(components, item.config)] = to_imagej(
                        plane
                    ).copy()
        else:
            record["n_shapes"] = len(item.shapes)
            record["shape_kinds"] = sorted({s.kind.value for s in item.shapes})
            if self.keep_pixels:
                window = self._window(item.components, item.config)
                placement = place(item.components, item.config)
                for c, z, t in window.layout.shape_targets(placement):  # None: every position
                    for n, shape in enumerate(item.shapes):
                        window.rois.extend(
                            shape_to_rois(shape, c, z, t, index=len(window.rois) + n)
                        )
        self._lines.append(_log_line(record))
        self.items += 1
        self._dirty_since = time.monotonic()

    def flush(self) -> None:
        """Write the log lines of the items shown since the last flush, in one write."""
        if self._lines and self._log is not None:
            self._log.write(("\n".join(self._lines) + "\n").encode())
            self._log.flush()
        self._lines = []

    def _window(self, components: dict, config: HyperstackDisplayConfig) -> _Window:
        key = place(components, config).window
        window = self.windows.get(key)
        if window is None:
            label = "_".join(f"{c}-{v}" for c, v in key) or "scene"
            window = _Window(safe_stem(label))
            self.windows[key] = window
        return window

    def write_outputs(self) -> list[Path]:
        """Write every window's hyperstack and ROI zip; returns the written paths.

        A window that cannot be written (disk full, permissions) is logged and counted in
        status; the others are still written and the recorder keeps running.
        """
        written = []
        for window in self.windows.values():
            try:
                written.extend(self._write_window(window))
            except Exception as exc:
                self.write_errors += 1
                self.last_write_error = f"{window.name}: {type(exc).__name__}: {exc}"
                log.error("recorder could not write %s", self.last_write_error)
        self._dirty_since = None
        return written

    def _write_window(self, window: _Window) -> list[Path]:
        written = []
        if window.planes:
            path = self.outdir / f"{window.name}.tif"
            tifffile.imwrite(path, window.hyperstack(), imagej=True, metadata={"axes": "TZCYX"})
            written.append(path)
        if window.rois:
            path = self.outdir / f"{window.name}.rois.zip"
            path.unlink(missing_ok=True)
            # zip member names must be unique and must not be paths
            names = [f"{i:05d}-{safe_stem(roi.name or '')}" for i, roi in enumerate(window.rois)]
            roifile.roiwrite(path, window.rois, name=names)
            written.append(path)
        return written

    def clear(self) -> None:
        self.windows.clear()
        self._view = None
        self._lines.append(json.dumps({"kind": "clear", "time": time.time()}))
        self.flush()

    def goto(self, components: dict[str, Any]) -> dict[str, Any]:
        """Choose the plane ``screenshot`` renders."""
        config = self._last_config or RecorderDisplayConfig()
        window, target = goto_target(self.windows, components, config)
        position = tuple(p or 0 for p in target)
        self._view = (window, position)
        return {"window": window.name, "position": list(position)}

    def screenshot(self, path: Path, window: str | None = None) -> Path:
        """A PNG of the chosen plane (see ``goto``; default the first plane of the last
        window, or of ``window`` named by its file name) with auto-contrast, after writing
        outputs."""
        self.write_outputs()
        if window is not None:
            chosen = [w for w in self.windows.values() if w.planes and window in w.name]
            if not chosen:
                names = [w.name for w in self.windows.values()]
                raise KeyError(f"no window named like {window!r}; windows: {names}")
            plane = next(iter(chosen[0].planes.values()))
        elif self._view is not None:
            window, position = self._view
            plane = window.planes[position]
        else:
            windows = [w for w in self.windows.values() if w.planes]
            if not windows:
                raise RuntimeError("nothing to screenshot: no image received yet")
            plane = next(iter(windows[-1].planes.values()))
        plane = plane.astype(np.float64)
        lo, hi = auto_limits(plane)  # the same rule as napari's and Fiji's auto-contrast
        scaled = np.clip((plane - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)
        return write_png(path, scaled)

    def status(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "windows": len(self.windows),
            "outdir": str(self.outdir),
            "headless": True,
            "write_errors": self.write_errors,
            "last_write_error": self.last_write_error,
        }

    def run(self, client: Any) -> None:
        while not client.closed:
            client.poll_once(timeout_ms=100)
            if self._dirty_since and time.monotonic() - self._dirty_since > IDLE_WRITE_S:
                if self.keep_pixels:
                    self.write_outputs()
                self._dirty_since = None

    def close(self) -> None:
        if self.keep_pixels and self.windows:
            self.write_outputs()
        self.flush()
        if self._log is not None:
            self._log.close()
            self._log = None
