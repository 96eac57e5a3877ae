"""The shape model lives in :mod:`contract.shapes`; this name stays for plugins written
against it."""

from contract.shapes import *  # noqa: F403
from contract.shapes import Mask, Shape, ShapeError, ShapeKind, parse_shape, parse_shapes  # noqa: F401
