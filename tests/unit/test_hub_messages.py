"""What a viewer decodes from its hub, and what every side encodes: the fast paths keep the rules."""

from __future__ import annotations

import json

import pytest

from contract.protocol import ProtocolError, decode_from_hub, encode_header, json_encoder


def test_decode_from_hub_reads_an_items_message():
    body = {"kind": "items", "scene": 1, "items": [{"index": 0, "item": {"kind": "image"}}]}
    assert decode_from_hub(encode_header(body)) == body
    assert decode_from_hub(memoryview(encode_header(body))) == body


@pytest.mark.parametrize("frame", [b"[1, 2]", b"{not json", b"\xff\xfe", b'{"a": NaN}', b""])
def test_decode_from_hub_refuses_what_is_not_a_json_object(frame):
    with pytest.raises(ProtocolError):
        decode_from_hub(frame)


@pytest.mark.parametrize(
    "header",
    [
        {"kind": "ack", "scene": 3, "acks": [1, 2, [3, 'ValueError: é "x"']]},
        {"kind": "hello", "f": 1.5, "n": None, "b": True, "nested": {"a": [{}, []]}},
    ],
)
def test_encode_header_is_compact_json_dumps(header):
    expected = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    assert encode_header(header) == expected


def test_encode_header_refuses_nan_and_objects():
    with pytest.raises(ValueError):
        encode_header({"x": float("inf")})
    with pytest.raises(TypeError):
        encode_header({"x": object()})


def test_json_encoder_follows_its_separators():
    encode = json_encoder((", ", ": "), allow_nan=True)
    record = {"a": [1, 2.5], "b": float("nan"), "c": "ü"}
    assert encode(record) == json.dumps(record)
