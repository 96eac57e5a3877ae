"""Item validation: what an image, shapes or batch message must hold, and what it costs.

:func:`items_of` turns a decoded message into validated items, or raises a
:class:`~contract.protocol.ProtocolError` naming the offending field and value. The rules of
the wire itself (framing, decoding policy, error codes, limits, replies) are
:mod:`contract.protocol`; this module is the per-field half, shared by the hub (which
refuses) and by anyone who wants to check a message before sending it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from contract.protocol import (
    ALLOWED_DTYPES,
    ITEM_KINDS,
    MAX_NAME_LEN,
    ErrorCode,
    Limits,
    ProtocolError,
)

#: What a display mode looks like. Which modes exist is each viewer's business: a viewer
#: declares its modes on its DisplayConfig (``MODES``) and translates the ones it does not
#: have (``DisplayConfig.translate_mode``), so a plugin adds a mode without touching the hub.
_MODE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_COMPONENT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _require(header: dict, field: str, types: type | tuple[type, ...], where: str) -> Any:
    if field not in header:
        raise ProtocolError(ErrorCode.MISSING_FIELD, f"{where}: missing field '{field}'", field)
    value = header[field]
    if not isinstance(value, types) or isinstance(value, bool) and bool not in _as_tuple(types):
        raise ProtocolError(
            ErrorCode.BAD_FIELD,
            f"{where}: field '{field}' must be {_type_names(types)}, got {value!r:.80}",
            field,
        )
    return value


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _type_names(types: type | tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in _as_tuple(types))


def check_components(
    components: Any, known: frozenset[str] | set[str], limits: Limits, where: str
) -> dict[str, int | str]:
    """Components are a flat dict of short names to int or str values, all of them known."""
    if not isinstance(components, dict):
        raise ProtocolError(
            ErrorCode.BAD_FIELD, f"{where}: 'components' must be an object", "components"
        )
    if len(components) > limits.max_components:
        raise ProtocolError(
            ErrorCode.TOO_LARGE,
            f"{where}: {len(components)} components, above the cap of {limits.max_components}",
            "components",
        )
    for name, value in components.items():
        if not _COMPONENT_NAME.match(name):
            raise ProtocolError(
                ErrorCode.BAD_FIELD, f"{where}: bad name {name!r:.80} in 'components'", "components"
            )
        if name not in known:
            raise ProtocolError(
                ErrorCode.UNKNOWN_COMPONENT,
                f"{where}: unknown component {name!r}; known components are "
                f"{sorted(known)} (declare more in display_config.component_order)",
                f"components.{name}",
            )
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ProtocolError(
                ErrorCode.BAD_FIELD,
                f"{where}: component {name!r} must be int or str, got {value!r:.80}",
                f"components.{name}",
            )
        if isinstance(value, str) and len(value) > limits.max_component_value_len:
            raise ProtocolError(
                ErrorCode.TOO_LARGE,
                f"{where}: component {name!r} value too long",
                f"components.{name}",
            )
    return components


def check_display_config(config: Any, where: str) -> dict[str, Any]:
    """A display config is a dict whose modes (if any) are mode names (see :data:`_MODE_NAME`)."""
    if not isinstance(config, dict):
        raise ProtocolError(
            ErrorCode.BAD_FIELD, f"{where}: 'display_config' must be an object", "display_config"
        )
    modes = config.get("component_modes", {})
    if not isinstance(modes, dict):
        raise ProtocolError(
            ErrorCode.BAD_FIELD,
            f"{where}: display_config.component_modes must be an object",
            "display_config.component_modes",
        )
    for component, mode in modes.items():
        if not isinstance(mode, str) or not _MODE_NAME.match(mode):
            raise ProtocolError(
                ErrorCode.BAD_FIELD,
                f"{where}: mode {mode!r:.40} for component {component!r:.40} is not a mode "
                f"name (lower-case letters, digits, '_'; which modes exist is up to each viewer)",
                f"display_config.component_modes.{component}",
            )
    order = config.get("component_order", [])
    if not isinstance(order, list) or not all(
        isinstance(c, str) and _COMPONENT_NAME.match(c) for c in order
    ):
        raise ProtocolError(
            ErrorCode.BAD_FIELD,
            f"{where}: display_config.component_order must be a list of component names",
            "display_config.component_order",
        )
    return config


def declared_components(config: dict[str, Any] | None) -> set[str]:
    """Components a display config declares, beyond the standard ones."""
    if not config:
        return set()
    return set(config.get("component_order", [])) | set(config.get("component_modes", {}))


def check_dtype(value: Any, where: str) -> np.dtype:
    if not isinstance(value, str) or value not in ALLOWED_DTYPES:
        raise ProtocolError(
            ErrorCode.BAD_DTYPE,
            f"{where}: dtype {value!r:.40} is not allowed; allowed: {sorted(ALLOWED_DTYPES)}",
            "dtype",
        )
    return np.dtype(value)


def check_shape(value: Any, limits: Limits, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not 2 <= len(value) <= limits.max_ndim:
        raise ProtocolError(
            ErrorCode.BAD_FIELD,
            f"{where}: 'shape' must be a list of 2 to {limits.max_ndim} ints, got {value!r:.80}",
            "shape",
        )
    for n in value:
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ProtocolError(
                ErrorCode.BAD_FIELD,
                f"{where}: 'shape' entries must be positive ints, got {value!r:.80}",
                "shape",
            )
    return tuple(value)


def array_nbytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    return math.prod(shape) * dtype.itemsize


def check_image_item(
    item: dict, known: set[str], limits: Limits, n_frames: int, where: str
) -> dict[str, Any]:
    """Validate an image item's header. Pixel-source existence is checked by the hub."""
    check_components(item.get("components", {}), known, limits, where)
    dtype = check_dtype(item.get("dtype"), where) if "dtype" in item else None
    if dtype is None:
        raise ProtocolError(ErrorCode.MISSING_FIELD, f"{where}: missing field 'dtype'", "dtype")
    if "shape" not in item:
        raise ProtocolError(ErrorCode.MISSING_FIELD, f"{where}: missing field 'shape'", "shape")
    shape = check_shape(item["shape"], limits, where)
    nbytes = array_nbytes(shape, dtype)
    if nbytes > limits.max_array_bytes:
        raise ProtocolError(
            ErrorCode.TOO_LARGE,
            f"{where}: array of {nbytes} bytes is above the cap of {limits.max_array_bytes}",
            "shape",
        )
    has_shm, has_frame = "shm" in item, "frame" in item
    if has_shm == has_frame:
        raise ProtocolError(
            ErrorCode.MISSING_FIELD,
            f"{where}: give exactly one pixel source, 'shm' or 'frame'",
            "shm",
        )
    if has_shm:
        _require(item, "shm", str, where)
    else:
        frame = _require(item, "frame", int, where)
        if not 1 <= frame < n_frames:
            raise ProtocolError(
                ErrorCode.BAD_FIELD,
                f"{where}: 'frame' {frame} does not name one of the {n_frames - 1} data frames",
                "frame",
            )
    if "stack_component" in item:
        stack_component = _require(item, "stack_component", str, where)
        values = _require(item, "stack_values", list, where)
        if len(shape) < 3 or len(values) != shape[0]:
            raise ProtocolError(
                ErrorCode.SIZE_MISMATCH,
                f"{where}: 'stack_values' has {len(values)} values but the array's first axis "
                f"has {shape[0] if len(shape) > 2 else 'no stack'} planes",
                "stack_values",
            )
        for value in values:  # each value is checked like a component of its own
            check_components({stack_component: value}, known, limits, where)
    _check_optional(item, where)
    return item


#: Key under which validation records a shapes item's expanded size; a producer's value for
#: it is overwritten, and it is never forwarded to viewers.
EXPANDED_BYTES = "_expanded_bytes"


def item_key(item: dict[str, Any]) -> str:
    """An item's identity in the scene: a later item with the same key replaces it.

    Kind, components, the stack axis and values, and the item's ``name`` (a layer or shape-set
    name). Shape sets without a name are told apart by their ``path``; images at the same
    components are the same plane whatever file they came from.
    """
    name = item.get("name") or (item.get("path") if item["kind"] == "shapes" else None) or ""
    return json.dumps(
        [
            item["kind"],
            sorted(item.get("components", {}).items()),
            item.get("stack_component"),
            item.get("stack_values"),
            name,
        ],
        separators=(",", ":"),
    )


def item_nbytes(item: dict[str, Any]) -> int:
    """Memory an item will cost the hub and each viewer beyond its header: pixels or shapes."""
    if item["kind"] == "image":
        return array_nbytes(tuple(item["shape"]), np.dtype(item["dtype"]))
    return int(item.get(EXPANDED_BYTES, 0))


def check_shapes_item(item: dict, known: set[str], limits: Limits, where: str) -> dict:
    """Validate a shapes item; the shape dicts themselves are parsed by ``contract.shapes``."""
    from contract.shapes import ShapeError, parse_shapes

    check_components(item.get("components", {}), known, limits, where)
    shapes = _require(item, "shapes", list, where)
    if len(shapes) > limits.max_shapes_per_item:
        raise ProtocolError(
            ErrorCode.TOO_LARGE,
            f"{where}: {len(shapes)} shapes, above the cap of {limits.max_shapes_per_item}",
            "shapes",
        )
    try:
        parsed = parse_shapes(shapes, max_vertices=limits.max_vertices_per_shape)
    except ShapeError as exc:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"{where}: {exc}", "shapes") from None
    expanded = sum(shape.expanded_nbytes for shape in parsed)
    if expanded > limits.max_array_bytes:
        raise ProtocolError(
            ErrorCode.TOO_LARGE,
            f"{where}: its shapes expand to {expanded} bytes, above the cap of "
            f"{limits.max_array_bytes}",
            "shapes",
        )
    _check_optional(item, where)
    # What a viewer will allocate for it, for the hub's budget (never read from the wire).
    return {**item, EXPANDED_BYTES: expanded}


def _check_optional(item: dict, where: str) -> None:
    for field, types in (("path", str), ("id", str), ("name", str), ("meta", dict)):
        if field in item and item[field] is not None:
            _require(item, field, types, where)
    for field in ("path", "id", "name"):
        if isinstance(item.get(field), str) and len(item[field]) > MAX_NAME_LEN:
            raise ProtocolError(
                ErrorCode.TOO_LARGE,
                f"{where}: '{field}' has {len(item[field])} characters, above the cap of "
                f"{MAX_NAME_LEN}",
                field,
            )
    if item.get("display_config") is not None:
        check_display_config(item["display_config"], where)


def check_item(item: Any, known: set[str], limits: Limits, n_frames: int, where: str) -> dict:
    if not isinstance(item, dict):
        raise ProtocolError(ErrorCode.MALFORMED, f"{where}: an item must be a JSON object")
    kind = item.get("kind")
    if not isinstance(kind, str):
        kind = repr(kind)
    if kind == "image":
        return check_image_item(item, known, limits, n_frames, where)
    if kind == "shapes":
        return check_shapes_item(item, known, limits, where)
    raise ProtocolError(
        ErrorCode.UNKNOWN_KIND,
        f"{where}: unknown item kind {kind!r:.40}; expected one of {sorted(ITEM_KINDS)}",
        "kind",
    )


def items_of(header: dict, known_base: set[str], limits: Limits, n_frames: int) -> list[dict]:
    """Validate an image/shapes/batch message and return its items in order.

    Components declared by any item's display config count as known for the whole message,
    so a producer can introduce a component and use it in the same batch.
    """
    kind = header.get("kind")
    if not isinstance(kind, str):
        kind = repr(kind)
    if kind == "batch":
        items = _require(header, "items", list, "batch")
        if not items:
            raise ProtocolError(ErrorCode.BAD_FIELD, "batch: 'items' is empty", "items")
        if len(items) > limits.max_batch_items:
            raise ProtocolError(
                ErrorCode.TOO_LARGE,
                f"batch: {len(items)} items, above the cap of {limits.max_batch_items}",
                "items",
            )
        batch_config = header.get("display_config")
        if batch_config is not None:
            check_display_config(batch_config, "batch")
    elif kind in ITEM_KINDS:
        items, batch_config = [header], None
    else:
        raise ProtocolError(
            ErrorCode.UNKNOWN_KIND,
            f"unknown message kind {kind!r:.40}; expected one of "
            f"{sorted(ITEM_KINDS | {'batch', 'control'})}",
            "kind",
        )
    known = set(known_base) | declared_components(batch_config)
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("display_config"), dict):
            known |= declared_components(item["display_config"])
    out = []
    for i, item in enumerate(items):
        where = f"item {i}" if kind == "batch" else kind
        checked = check_item(item, known, limits, n_frames, where)
        if batch_config is not None and checked.get("display_config") is None:
            checked = {**checked, "display_config": batch_config}
        out.append(checked)
    return out
