"""The recorder's log line is read by many tests and tools: it stays ``json.dumps(record)``."""

from __future__ import annotations

import json

import pytest

from viewers.recorder import _log_line

RECORDS = [
    {
        "index": 3,
        "kind": "image",
        "components": {"channel": 1, "z_index": 5, "well": 'A\u00e91"x'},
        "path": None,
        "time": 1764190000.123456,
        "dtype": "uint16",
        "shape": [512, 512],
        "crc32": None,
    },
    {
        "index": 4,
        "kind": "shapes",
        "components": {},
        "path": "a/b",
        "time": 1e-7,
        "n_shapes": 2,
        "shape_kinds": ["line", "point"],
        "nested": [1.5, -2, {"k": True}],
        "nan": float("nan"),
    },
    {"kind": "clear", "time": 0.0},
]


@pytest.mark.parametrize("record", RECORDS)
def test_log_line_is_json_dumps(record):
    assert _log_line(record) == json.dumps(record)


def test_log_line_refuses_what_json_refuses():
    with pytest.raises(TypeError):
        _log_line({"a": object()})
