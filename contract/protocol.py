"""The viewerhub wire protocol: message kinds, field validation and framing.

This module owns every rule about what may cross a socket. A message is a ZeroMQ multipart
message whose first frame is a UTF-8 JSON object (the *header*) and whose further frames are
raw bytes (pixels sent across hosts). Nothing is ever pickled and nothing in a message is
executed.

It must not touch sockets, shared memory or viewers: it turns bytes into validated dicts and
back, and raises :class:`ProtocolError` (naming the offending field and value) when a message
breaks a rule. The hub answers such an error with an error reply and keeps serving.

Producer -> hub (ingest socket), header ``kind``:

``image``
    One array. Fields: ``components`` (dict name -> int|str), ``dtype`` (see
    :data:`ALLOWED_DTYPES`), ``shape`` (2 to 5 ints; the last two are y, x), and exactly one
    pixel source: ``shm`` (name of a POSIX shared-memory segment holding the C-ordered array)
    or ``frame`` (index of the raw frame after the header, starting at 1). Optional:
    ``path`` (str), ``stack_component`` + ``stack_values`` (a leading axis of the array
    spread over a component, for example a z-stack sent as one array), ``display_config``
    (dict, see ``viewers.base.DisplayConfig.to_wire``), ``meta`` (dict of JSON scalars),
    ``id`` (str, echoed back), ``name`` (str, a layer name: part of the item's identity).
``shapes``
    A viewer-neutral shape set (see ``contract.shapes``). Fields: ``components``, ``shapes``
    (list of shape dicts). Optional: ``path``, ``display_config``, ``meta``, ``id``.
``batch``
    ``items``: a list of image/shapes items accepted or rejected as a whole.
``control``
    ``verb`` in :data:`CONTROL_VERBS` and optional ``args`` dict.

Every producer message carries ``req`` (int or str), echoed in the reply. A reply is
``{"ok": true, "req": ..., ...}`` or ``{"ok": false, "req": ..., "error": str, "code": str}``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

PROTOCOL_VERSION = 1

#: Element types the hub accepts. Object, complex, string and datetime arrays are refused:
#: they cannot be displayed and object arrays hold pointers that are meaningless in another
#: process (the OpenHCS sender emits those for point-only ROI sets).
ALLOWED_DTYPES: frozenset[str] = frozenset(
    {
        "bool",
        "uint8",
        "int8",
        "uint16",
        "int16",
        "uint32",
        "int32",
        "uint64",
        "int64",
        "float32",
        "float64",
    }
)

#: The components every pipeline knows. More may be declared in a display config's
#: ``component_order``; anything else is an unknown component and is refused.
STANDARD_COMPONENTS: tuple[str, ...] = ("well", "site", "channel", "z_index", "timepoint")

#: What a display mode looks like. Which modes exist is each viewer's business: a viewer
#: declares its modes on its DisplayConfig (``MODES``) and translates the ones it does not
#: have (``DisplayConfig.translate_mode``), so a plugin adds a mode without touching the hub.
_MODE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

CONTROL_VERBS: frozenset[str] = frozenset(
    {"ping", "status", "clear", "shutdown", "restart", "screenshot", "goto", "inspect"}
)

ITEM_KINDS: frozenset[str] = frozenset({"image", "shapes"})

_COMPONENT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class ErrorCode(str, Enum):
    """Machine-readable reason of an error reply; the hub counts errors by this code."""

    MALFORMED = "malformed"  # not JSON, not an object, wrong framing
    UNKNOWN_KIND = "unknown_kind"
    MISSING_FIELD = "missing_field"
    BAD_FIELD = "bad_field"
    BAD_DTYPE = "bad_dtype"
    SIZE_MISMATCH = "size_mismatch"
    MISSING_SEGMENT = "missing_segment"
    TOO_LARGE = "too_large"
    UNKNOWN_COMPONENT = "unknown_component"
    BUDGET_FULL = "budget_full"
    DISK_FULL = "disk_full"  # the scene store's disk cannot take the request
    NOT_FOUND = "not_found"
    WRONG_HUB = "wrong_hub"  # a segment named for another (earlier) hub: ping and retry
    INTERNAL = "internal"


class ProtocolError(ValueError):
    """A message broke a protocol rule. ``code`` says which kind of rule, ``field`` which field."""

    def __init__(self, code: ErrorCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


@dataclass(frozen=True)
class Limits:
    """Caps enforced on every message. Defaults suit 2048x2048 planes and large shape sets."""

    max_header_bytes: int = 8 * 1024 * 1024
    max_message_bytes: int = 2 * 1024**3
    max_array_bytes: int = 2 * 1024**3
    max_batch_items: int = 10_000
    max_shapes_per_item: int = 200_000
    max_vertices_per_shape: int = 1_000_000
    max_ndim: int = 5
    max_components: int = 32
    max_component_value_len: int = 256


DEFAULT_LIMITS = Limits()

#: Paths and ids are names, not payloads: PATH_MAX.
MAX_NAME_LEN = 4096


def encode_header(header: dict[str, Any]) -> bytes:
    """Serialise a header. NaN/inf are not JSON; refusing them here keeps every peer strict."""
    return json.dumps(header, separators=(",", ":"), allow_nan=False).encode()


#: The deepest JSON nesting any message may have. Real headers nest 4-5 levels (batch ->
#: items -> shapes -> coords -> pair); a bound far below Python's recursion limit keeps every
#: later ``json.dumps`` (replies, fan-out, status) from failing on what decoding accepted.
MAX_JSON_DEPTH = 32
#: Integers must fit a signed 64-bit value: numpy, ImageJ and Qt all take them as such.
MAX_JSON_INT = 2**63 - 1
#: Numbers that may overflow a float or an int64: long digit runs or three-digit exponents.
_SUSPICIOUS_NUMBER = re.compile(rb"\d{19,}|[eE][+-]?\d{3,}")


def decode_header(frame: bytes | memoryview, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Parse a JSON message under one policy for every socket, or raise ProtocolError.

    The policy: at most ``limits.max_header_bytes``, UTF-8, an object at the top, nesting at
    most :data:`MAX_JSON_DEPTH`, no NaN or infinity (``1e400`` overflows to infinity and is
    refused like the literal), integers within int64. Anything decoded here can be encoded
    again by :func:`encode_header`, so a message that passes cannot fail later in the hub.
    """
    if len(frame) > limits.max_header_bytes:
        raise ProtocolError(
            ErrorCode.TOO_LARGE,
            f"header is {len(frame)} bytes, above the cap of {limits.max_header_bytes}",
            "header",
        )
    data = bytes(frame)
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise ProtocolError(
            ErrorCode.MALFORMED,
            f"header nests {depth} levels deep, above the cap of {MAX_JSON_DEPTH}",
            "header",
        )
    # The number hooks cost a Python call per number: only pay it when a number could be
    # out of range (the common header has no such digit run).
    careful = _SUSPICIOUS_NUMBER.search(data) is not None
    try:
        text = data.decode("utf-8")
        if careful:
            header = json.loads(
                text,
                parse_constant=_refuse_constant,
                parse_float=_finite_float,
                parse_int=_bounded_int,
            )
        else:
            header = json.loads(text, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(ErrorCode.MALFORMED, f"header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError(
            ErrorCode.MALFORMED, f"header must be a JSON object, got {type(header).__name__}"
        )
    return header


def json_depth(data: bytes) -> int:
    """Deepest nesting of ``[``/``{`` outside strings, without a recursive parse.

    Cheap when a message has few brackets (the usual image header); otherwise one vectorised
    pass: escaped backslashes and quotes are removed first, so that the remaining quotes
    toggle string state and brackets inside strings do not count.
    """
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return 0
    cleaned = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    raw = np.frombuffer(cleaned, dtype=np.uint8)
    inside = np.cumsum(raw == ord('"')) % 2 == 1
    step = np.zeros(len(raw), dtype=np.int32)
    outside = ~inside
    step[outside & ((raw == ord("[")) | (raw == ord("{")))] = 1
    step[outside & ((raw == ord("]")) | (raw == ord("}")))] = -1
    return int(np.cumsum(step).max(initial=0))


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range (not a finite float64)")
    return value


def _bounded_int(text: str) -> int:
    value = int(text)
    if not -MAX_JSON_INT - 1 <= value <= MAX_JSON_INT:
        raise ValueError(f"integer {text[:40]}... does not fit in 64 bits")
    return value


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def check_req(value: Any) -> int | str | None:
    """A request id is echoed in the reply: only a short str or an int is worth echoing."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str) and len(value) <= 256:
        return value
    raise ProtocolError(
        ErrorCode.BAD_FIELD, "'req' must be an int or a string of at most 256 characters", "req"
    )


def reply_ok(req: Any, **fields: Any) -> dict[str, Any]:
    return {"ok": True, "req": req, **fields}


def reply_error(req: Any, error: ProtocolError | str, code: ErrorCode | None = None) -> dict:
    if isinstance(error, ProtocolError):
        out = {"ok": False, "req": req, "error": str(error), "code": error.code.value}
        if error.field:
            out["field"] = error.field
        return out
    return {"ok": False, "req": req, "error": error, "code": (code or ErrorCode.INTERNAL).value}


# ----------------------------------------------------------------------------- field checks


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
