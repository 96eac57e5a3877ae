"""Contrast limits from the data that has arrived, not from the first plane alone.

The first plane of a z-stack is often out of focus (dim), so limits taken from it saturate
everything after. :class:`RunningContrast` keeps a running estimate of the contract's
auto-contrast percentiles (``contract.display_config``: 0.1 / 99.9) over every plane of a
channel that has arrived so far. Integer images of up to 16 bits keep an exact histogram of a
subsample of each plane; other dtypes keep a bounded sample. Pure numpy: no napari, no Qt.

The subsample is small on purpose (64 x 64 of any plane): a lazy viewer reads it from the
hub's segment for every plane that arrives, in view or not, so its pages are the one cost
every plane pays. Profiled on the 2048² plate, a 256 x 256 sample (256 pages, one per row)
was ~19 % of napari's CPU; 64 rows are a quarter of that, and percentiles over a stream of
planes need no more than 4,096 pixels of each (a plate's first plane alone still gives
limits that show it).
"""

from __future__ import annotations

import math

import numpy as np

from contract.display_config import HIGH_PERCENTILE, LOW_PERCENTILE, auto_limits

#: Pixels a lazy viewer reads of each arriving plane (a regular subsample, 64 x 64):
#: percentiles accumulate over the planes of a channel, so each plane's share can be small;
#: see the module's note.
READ_PIXELS = 4_096
#: Pixels :meth:`RunningContrast.add` keeps of a plane it is handed whole (in-process callers).
SAMPLE_PIXELS = 65_536
#: Values kept for dtypes without a histogram (floats, 32-bit integers).
MAX_KEPT_SAMPLES = 1_000_000


def sample_step(shape: tuple[int, ...], pixels: int = READ_PIXELS) -> int:
    """The stride that leaves about ``pixels`` of a plane of ``shape``.

    A lazy viewer reads only this sample of an arriving plane (``PlaneRef.read_sampled``):
    every ``step``-th row and column, 64 pages of a 2048² plane instead of all 8 MB.
    """
    size = math.prod(int(n) for n in shape[-2:])
    return max(1, math.ceil(math.sqrt(size / pixels)))


def _subsample(plane: np.ndarray) -> np.ndarray:
    step = sample_step(plane.shape, SAMPLE_PIXELS)
    return plane[::step, ::step]


class RunningContrast:
    """Running (low, high) percentile limits over the planes added so far."""

    def __init__(self, low: float = LOW_PERCENTILE, high: float = HIGH_PERCENTILE) -> None:
        self.low, self.high = low, high
        self.planes = 0
        self._histogram: np.ndarray | None = None
        self._offset = 0  # value of histogram bin 0 (int16 / int8 data is shifted)
        self._samples: list[np.ndarray] = []
        self._kept = 0

    def add(self, plane: np.ndarray) -> None:
        sample = _subsample(np.asarray(plane))
        dtype = sample.dtype
        if dtype.kind in "ui" and dtype.itemsize <= 2:
            info = np.iinfo(dtype)
            counts = np.bincount(
                (sample.astype(np.int64) - info.min).ravel(), minlength=info.max - info.min + 1
            )
            if self._histogram is None:
                self._histogram, self._offset = counts, int(info.min)
            else:
                self._histogram += counts[: len(self._histogram)]
        else:
            values = sample.astype(np.float64).ravel()
            values = values[np.isfinite(values)]
            self._samples.append(values)
            self._kept += values.size
            if self._kept > MAX_KEPT_SAMPLES:  # thin out evenly, keep the newest too
                merged = np.concatenate(self._samples)[::2]
                self._samples, self._kept = [merged], merged.size
        self.planes += 1

    def limits(self) -> tuple[float, float] | None:
        """(low, high) with high > low, or None before any plane."""
        if self._histogram is not None:
            cdf = np.cumsum(self._histogram)
            total = cdf[-1]
            if total == 0:
                return None
            lo = int(np.searchsorted(cdf, total * self.low / 100.0)) + self._offset
            hi = int(np.searchsorted(cdf, total * self.high / 100.0)) + self._offset
        elif self._samples:
            values = np.concatenate(self._samples)
            if values.size == 0:
                return None
            return auto_limits(values, self.low, self.high)
        else:
            return None
        return (float(lo), float(hi) if hi > lo else float(lo) + 1.0)


#: A change of contrast limits smaller than this fraction of the range is not applied: nobody
#: sees it, and every change costs napari a thumbnail of the slice (~15 ms at 2048²) per layer.
VISIBLE_STEP = 0.01


def visibly_different(now: tuple[float, float], new: tuple[float, float]) -> bool:
    """Whether moving limits ``now`` to ``new`` changes what a person sees."""
    span = max(abs(now[1] - now[0]), 1e-12)
    return any(abs(x - y) > VISIBLE_STEP * span for x, y in zip(now, new))


def close_enough(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether two limit pairs are the same up to float noise (napari stores float32-ish)."""
    scale = max(1.0, abs(a[1] - a[0]), abs(b[1] - b[0]))
    return all(abs(x - y) <= 1e-6 * scale + 1e-9 for x, y in zip(a, b))
