"""Reading a plane that lives in the scene store's OME-Zarr plate instead of shared memory.

An item whose pixels were written to disk carries a ``cold`` reference in its header:
``{"root": "/path/scene-1.zarr", "planes": [[array path, t, c, z], ...]}``, one entry per plane
in C order of the item's leading axes. A viewer that finds no shared-memory segment (the hub
evicted it to stay inside its budget) reads the planes from the plate.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np


@functools.lru_cache(maxsize=256)
def _array(root: str, path: str) -> Any:
    import zarr  # the disk tier is optional for a viewer that only sees hot planes

    return zarr.open_array(str(Path(root) / path), mode="r")


def read_cold(cold: dict[str, Any], shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The item's array, read plane by plane from the plate."""
    try:
        planes = [_array(cold["root"], path)[t, c, z] for path, t, c, z in cold["planes"]]
    except (IndexError, ValueError):  # the array grew since we opened it: open it again
        _array.cache_clear()
        planes = [_array(cold["root"], path)[t, c, z] for path, t, c, z in cold["planes"]]
    array = np.stack(planes) if len(planes) > 1 else np.asarray(planes[0])[None]
    return array.astype(dtype, copy=False).reshape(shape)
