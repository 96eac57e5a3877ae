from __future__ import annotations

import json

import pytest

from contract.items import items_of
from contract.protocol import (
    DEFAULT_LIMITS,
    STANDARD_COMPONENTS,
    ErrorCode,
    ProtocolError,
    decode_header,
    encode_header,
)

KNOWN = set(STANDARD_COMPONENTS)


def image(**kw):
    item = {
        "kind": "image",
        "components": {"channel": 1},
        "dtype": "uint16",
        "shape": [2, 2],
        "frame": 1,
    }
    item.update(kw)
    return item


def check(header, n_frames=2):
    return items_of(header, KNOWN, DEFAULT_LIMITS, n_frames)


def test_header_round_trips_and_refuses_nan():
    assert decode_header(encode_header({"a": [1, "x"]})) == {"a": [1, "x"]}
    with pytest.raises(ValueError):
        encode_header({"a": float("nan")})
    with pytest.raises(ProtocolError) as info:
        decode_header(b'{"a": NaN}')
    assert info.value.code is ErrorCode.MALFORMED


@pytest.mark.parametrize("frame", [b"\xff\xfe", b"", b"null", b'"text"'])
def test_garbage_headers_are_malformed(frame):
    with pytest.raises(ProtocolError) as info:
        decode_header(frame)
    assert info.value.code is ErrorCode.MALFORMED


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"dtype": "object"}, ErrorCode.BAD_DTYPE, "dtype"),
        ({"dtype": "<U4"}, ErrorCode.BAD_DTYPE, "dtype"),
        ({"shape": [2]}, ErrorCode.BAD_FIELD, "shape"),
        ({"shape": [2, 2, 2, 2, 2, 2]}, ErrorCode.BAD_FIELD, "shape"),
        ({"shape": [2, True]}, ErrorCode.BAD_FIELD, "shape"),
        ({"shape": [70000, 70000]}, ErrorCode.TOO_LARGE, "shape"),
        ({"frame": 5}, ErrorCode.BAD_FIELD, "frame"),
        ({"shm": "x"}, ErrorCode.MISSING_FIELD, "shm"),
        ({"components": {"colour": 1}}, ErrorCode.UNKNOWN_COMPONENT, "components.colour"),
        ({"components": {"channel": 1.5}}, ErrorCode.BAD_FIELD, "components.channel"),
        ({"components": {"channel": True}}, ErrorCode.BAD_FIELD, "components.channel"),
        ({"components": {"bad name": 1}}, ErrorCode.BAD_FIELD, "components"),
        ({"path": 3}, ErrorCode.BAD_FIELD, "path"),
        (
            {"stack_component": "z_index", "stack_values": [1, 2]},
            ErrorCode.SIZE_MISMATCH,
            "stack_values",
        ),
    ],
)
def test_bad_image_fields_name_the_field(change, code, field):
    with pytest.raises(ProtocolError) as info:
        check(image(**change))
    assert (info.value.code, info.value.field) == (code, field)
    assert field.split(".")[-1] in str(info.value) or code is ErrorCode.TOO_LARGE


def test_batch_items_inherit_the_batch_display_config_and_its_components():
    config = {"component_order": ["plate", "channel"], "component_modes": {"plate": "window"}}
    items = check(
        {
            "kind": "batch",
            "display_config": config,
            "items": [image(components={"plate": "P1", "channel": 2})],
        }
    )
    assert items[0]["display_config"] == config


def test_batch_caps_are_enforced():
    with pytest.raises(ProtocolError) as info:
        check({"kind": "batch", "items": [image()] * (DEFAULT_LIMITS.max_batch_items + 1)})
    assert info.value.code is ErrorCode.TOO_LARGE


def test_stack_values_spread_the_first_axis():
    items = check(image(shape=[3, 2, 2], stack_component="z_index", stack_values=[1, 2, 3]))
    assert items[0]["stack_values"] == [1, 2, 3]


def test_no_pickle_anywhere_in_the_wire_code():
    import pathlib

    root = pathlib.Path(__file__).parents[2]
    for folder in ("hub", "viewers", "backends"):
        for path in (root / folder).rglob("*.py"):
            text = path.read_text()
            assert "import pickle" not in text and "pickle.loads" not in text, path


def test_shapes_item_validates_its_shapes():
    ok = {
        "kind": "shapes",
        "components": {},
        "shapes": [{"kind": "points", "coords": [[1, 2], [3, 4]]}],
    }
    assert check(ok)[0]["shapes"][0]["kind"] == "points"
    bad = json.loads(json.dumps(ok))
    bad["shapes"][0]["coords"] = [[1, None]]
    with pytest.raises(ProtocolError):
        check(bad)


@pytest.mark.parametrize(
    "number", ["1e400", "-1e400", "1E+999", "1" + "0" * 30, "-" + "9" * 25, "1" + "0" * 400 + ".5"]
)
def test_numbers_out_of_range_are_refused(number):
    with pytest.raises(ProtocolError) as info:
        decode_header(b'{"segment":"viewerhub-1-2-3e471a2b","x":[1,' + number.encode() + b"]}")
    assert info.value.code is ErrorCode.MALFORMED


def test_exponent_like_text_in_strings_keeps_ints_and_small_floats():
    # A hub segment's random hex tail can read like a three-digit exponent: the header
    # still decodes to the same values (only floats are then checked one by one).
    header = {"segment": "viewerhub-1-2-3e471a2b", "n": [9223372036854775807, -5], "f": 1e-7}
    assert decode_header(encode_header(header)) == header
    assert decode_header(b'{"a":"\\\\e000\\"","b":[[1]]}') == {"a": '\\e000"', "b": [[1]]}
