"""numpy <-> ImageJ pixel arrays by bulk copy through a direct NIO buffer.

``jpype.nio.convertToDirectBuffer`` exposes the numpy array's memory to Java as a direct
``ByteBuffer`` without copying; ``asShortBuffer().get(short[])`` then copies it into the Java
array in one call, at memcpy speed. Building a ``JArray`` from numpy element by element is
about 25x slower and is never used. Pixel types follow ``viewers.dtypes``.
"""

from __future__ import annotations

import numpy as np

from viewers.dtypes import to_imagej
from viewers.fiji.jvm import ImageJ

_JAVA_TYPE = {"uint8": "JByte", "uint16": "JShort", "float32": "JFloat"}
_VIEW = {"uint8": "asReadOnlyBuffer", "uint16": "asShortBuffer", "float32": "asFloatBuffer"}


def to_java_pixels(ij: ImageJ, plane: np.ndarray) -> tuple[object, np.dtype]:
    """A new Java pixel array holding ``plane`` (converted to an ImageJ type if needed)."""
    plane = np.ascontiguousarray(to_imagej(plane))
    name = plane.dtype.name
    jtype = getattr(ij.jpype, _JAVA_TYPE[name])
    target = ij.jpype.JArray(jtype)(plane.size)
    buffer = ij.jpype.nio.convertToDirectBuffer(plane).order(ij.ByteOrder.nativeOrder())
    getattr(buffer, _VIEW[name])().get(target)
    return target, plane.dtype


def to_processor(ij: ImageJ, plane: np.ndarray) -> object:
    """An ImageJ processor (Byte/Short/Float) for a 2-D plane."""
    pixels, dtype = to_java_pixels(ij, plane)
    height, width = plane.shape
    cls = {"uint8": ij.ByteProcessor, "uint16": ij.ShortProcessor, "float32": ij.FloatProcessor}[
        dtype.name
    ]
    return cls(width, height, pixels, None)


def from_processor(processor: object) -> np.ndarray:
    """The processor's pixels as a (height, width) numpy array (a copy, bulk)."""
    pixels = processor.getPixels()
    array = np.array(memoryview(pixels))  # JPype arrays expose the buffer protocol
    if array.dtype == np.int16:
        array = array.view(np.uint16)
    elif array.dtype == np.int8:
        array = array.view(np.uint8)
    elif array.dtype == np.int32:  # ColorProcessor: packed ARGB
        array = array.view(np.uint32)
    return array.reshape(processor.getHeight(), processor.getWidth())
