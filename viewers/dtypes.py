"""The rule for pixel types a viewer cannot show natively: convert exactly, never wrap.

ImageJ (and ImageJ-hyperstack TIFF) hold uint8, uint16 and float32 natively. Everything else
is converted by one documented rule, with a warning the first time each dtype is seen:

- ``bool``                          -> uint8 (False 0, True 255)
- ``int8``, ``int16``, ``uint32``,
  ``int32``, ``int64``, ``uint64``,
  ``float64``                       -> float32 (keeps sign and magnitude; integers above
  2**24 and float64 lose precision, never wrap around)
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

IMAGEJ_NATIVE = frozenset({"uint8", "uint16", "float32"})
_warned: set[str] = set()


def imagej_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype ImageJ will hold pixels of ``dtype`` in."""
    if dtype.name in IMAGEJ_NATIVE:
        return dtype
    return np.dtype(np.uint8) if dtype == np.bool_ else np.dtype(np.float32)


def to_imagej(array: np.ndarray) -> np.ndarray:
    """Return ``array`` in an ImageJ-native dtype (the same object if already native)."""
    target = imagej_dtype(array.dtype)
    if target == array.dtype:
        return array
    if array.dtype.name not in _warned:
        _warned.add(array.dtype.name)
        log.warning("%s pixels are shown as %s (see viewers.dtypes)", array.dtype, target)
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * np.uint8(255)
    return array.astype(np.float32)
