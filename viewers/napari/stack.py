"""A numpy array that grows in place: the backing store of every live napari layer.

napari shows ``view`` (a slice of a larger buffer). Writing a plane at a known position is a
plain array assignment; a new component value or a larger plane grows the buffer
geometrically (doubling), so the amortised cost per plane stays flat however long the stream
runs and no layer is ever re-created.
"""

from __future__ import annotations

import numpy as np


class GrowableStack:
    """Array of shape (*stack axes, y, x) with spare capacity on every axis."""

    def __init__(self, n_stack: int, plane_shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.shape: list[int] = [0] * n_stack + list(plane_shape)
        self._buffer = np.zeros([1] * n_stack + list(plane_shape), dtype=dtype)
        self.dtype = np.dtype(dtype)

    @property
    def n_stack(self) -> int:
        return len(self.shape) - 2

    @property
    def view(self) -> np.ndarray:
        return self._buffer[tuple(slice(0, n) for n in self.shape)]

    def ensure(self, index: tuple[int, ...], plane_shape: tuple[int, ...]) -> bool:
        """Make room for a plane of ``plane_shape`` at ``index``; True if ``view`` changed."""
        needed = [max(i + 1, n) for i, n in zip(index, self.shape)] + [
            max(p, n) for p, n in zip(plane_shape, self.shape[-2:])
        ]
        if needed == self.shape:
            return False
        capacity = list(self._buffer.shape)
        if any(need > cap for need, cap in zip(needed, capacity)):
            grown = [
                cap if need <= cap else max(need, 2 * cap) for need, cap in zip(needed, capacity)
            ]
            buffer = np.zeros(grown, dtype=self.dtype)
            old = tuple(slice(0, n) for n in self.shape)
            buffer[old] = self._buffer[old]
            self._buffer = buffer
        self.shape = needed
        return True

    def write(self, index: tuple[int, ...], plane: np.ndarray) -> bool:
        """Copy ``plane`` to ``index`` (top-left aligned); True if ``view`` changed."""
        grew = self.ensure(index, plane.shape)
        self._buffer[index][: plane.shape[0], : plane.shape[1]] = plane
        return grew

    def plane(self, index: tuple[int, ...]) -> np.ndarray:
        """The writable plane at ``index`` (within the current view)."""
        return self._buffer[index][: self.shape[-2], : self.shape[-1]]
