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

import functools
import json
import math
from collections.abc import Callable
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


CONTROL_VERBS: frozenset[str] = frozenset(
    {"ping", "status", "clear", "shutdown", "restart", "screenshot", "goto", "inspect"}
)

ITEM_KINDS: frozenset[str] = frozenset({"image", "shapes"})


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


def _not_serializable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def json_encoder(separators: tuple[str, str], allow_nan: bool) -> Callable[[Any], str]:
    """``json.dumps(value, separators=separators, allow_nan=allow_nan)`` as one C encoder made
    once: ``json.dumps`` (and ``JSONEncoder.encode``) make a new one in every call, which every
    message sent (an ack, a reply) and every recorder log line paid for. Same text; no check
    for circular references (what we encode is data we built or decoded), ASCII only."""
    make = json.encoder.c_make_encoder
    if make is None:  # pragma: no cover - CPython always has the C encoder
        return functools.partial(json.dumps, separators=separators, allow_nan=allow_nan)
    chunks = make(
        None,  # markers: no circular check
        _not_serializable,  # default
        json.encoder.encode_basestring_ascii,  # ensure_ascii=True
        None,  # indent
        separators[1],  # key separator
        separators[0],  # item separator
        False,  # sort_keys
        False,  # skipkeys
        allow_nan,
    )
    return lambda value: "".join(chunks(value, 0))


#: ``json.dumps(header, separators=(",", ":"), allow_nan=False)``, made once.
_encode_json = json_encoder((",", ":"), allow_nan=False)


def encode_header(header: dict[str, Any]) -> bytes:
    """Serialise a header. NaN/inf are not JSON; refusing them here keeps every peer strict."""
    return _encode_json(header).encode()


#: The deepest JSON nesting any message may have. Real headers nest 4-5 levels (batch ->
#: items -> shapes -> coords -> pair); a bound far below Python's recursion limit keeps every
#: later ``json.dumps`` (replies, fan-out, status) from failing on what decoding accepted.
MAX_JSON_DEPTH = 32
#: Integers must fit a signed 64-bit value: numpy, ImageJ and Qt all take them as such.
MAX_JSON_INT = 2**63 - 1
#: Numbers that may overflow a float or an int64: long digit runs or three-digit exponents
#: (``\d{19,}|[eE][+-]?\d{3,}``). Found by mapping every byte to one of four classes and
#: searching the result for three fixed strings: C substring searches, about ten times
#: cheaper than that regular expression on an items message (it tries every position).
_NUMBER_CLASSES = bytes(
    c if c in b"0e+" else ord(" ") for c in bytes.maketrans(b"0123456789eE-", b"0000000000ee+")
)
_LONG_DIGITS = b"0" * 19
_BIG_EXPONENTS = (b"e000", b"e+000")


def _suspicion(data: bytes) -> str | None:
    """Which numbers of ``data`` must be checked: ``"all"``, ``"floats"`` or None.

    A long digit run may be an int beyond int64 (or a float with a huge mantissa): every
    number is checked. A three-digit exponent can only be a float (JSON parses any number with
    an exponent as one), so then only floats are checked: the ints, by far the most numbers in
    an items message, keep the C parser. That case is common by accident: hub segment names end
    in 8 random hex digits (``...-3e471a2b``), which read as ``e000`` in about one in fourteen.
    """
    classes = data.translate(_NUMBER_CLASSES)
    if _LONG_DIGITS in classes:
        return "all"
    if _BIG_EXPONENTS[0] in classes or _BIG_EXPONENTS[1] in classes:
        return "floats"
    return None


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
    return _decode_object(_DECODERS[_suspicion(data)], data)


def decode_from_hub(frame: bytes | memoryview) -> dict[str, Any]:
    """Parse a message the hub sent to one of its viewers, or raise ProtocolError.

    Only the hub can send on a viewer's connection (CURVE: the viewer checks the hub's key),
    and what it sends it built itself from what :func:`decode_header` accepted (producers'
    items, control arguments) and :func:`encode_header` wrote: the depth and number checks
    would only repeat the hub's, a scan of every message (a few microseconds per items
    message, which a viewer pays for every message of a stream). UTF-8 JSON, an object.
    """
    return _decode_object(_DECODERS[None], bytes(frame))


def _decode_object(decoder: json.JSONDecoder, data: bytes) -> dict[str, Any]:
    """``data`` as UTF-8 JSON holding an object, or ProtocolError."""
    try:
        header = decoder.decode(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError too
        raise ProtocolError(ErrorCode.MALFORMED, f"header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError(
            ErrorCode.MALFORMED, f"header must be a JSON object, got {type(header).__name__}"
        )
    return header


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


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


#: One decoder per policy, made once: ``json.loads`` with hooks builds a new decoder and
#: scanner on every call, a cost every message paid.
_DECODERS: dict[str | None, json.JSONDecoder] = {
    None: json.JSONDecoder(parse_constant=_refuse_constant),
    "floats": json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float),
    "all": json.JSONDecoder(
        parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int
    ),
}


def json_depth(data: bytes) -> int:
    """Deepest nesting of ``[``/``{`` outside strings, without a recursive parse.

    Escaped backslashes and quotes are removed first, so that the remaining quotes delimit
    strings and brackets inside strings do not count. Cheap when a message has few brackets
    (the usual image header). Otherwise the brackets, as ``(`` and ``)``, lose their innermost
    pairs one round at a time (C substring replaces: a batch of items nests 4 deep, so 4
    rounds); a deeper or unbalanced message, or one with brackets inside its strings, gets
    one vectorised pass.
    """
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return 0
    cleaned = data.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in data else data
    # Brackets and quotes only; a string without brackets is then an adjacent quote pair.
    brackets = cleaned.translate(_AS_PARENS, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in brackets:  # brackets inside a string
        return _json_depth_exact(cleaned)
    for depth in range(MAX_JSON_DEPTH + 1):
        if not brackets:
            return depth
        inner = brackets.replace(b"()", b"")
        if len(inner) == len(brackets):
            break  # unbalanced: count exactly below
        brackets = inner
    return _json_depth_exact(cleaned)


_AS_PARENS = bytes.maketrans(b"[{]}", b"(())")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')


def _json_depth_exact(cleaned: bytes) -> int:
    """:func:`json_depth` of a message without escapes, in one vectorised pass."""
    raw = np.frombuffer(cleaned, dtype=np.uint8)
    inside = np.cumsum(raw == ord('"')) % 2 == 1
    step = np.zeros(len(raw), dtype=np.int32)
    outside = ~inside
    step[outside & ((raw == ord("[")) | (raw == ord("{")))] = 1
    step[outside & ((raw == ord("]")) | (raw == ord("}")))] = -1
    return int(np.cumsum(step).max(initial=0))


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
