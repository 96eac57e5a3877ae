"""Each kind of bad message gets an error reply naming the problem; the hub keeps serving."""

from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pytest

from backends import StreamingBackend
from contract import shm
from contract.connection import HubConnection
from hub import HubError
from tests.conftest import read_received
from tests.helpers.raw import PIXELS, RawClient, image_header


def _segment(name: str, size: int) -> str:
    shm.create(name, size).close()
    return name


BAD_MESSAGES = {
    "malformed_json": ([b"{not json"], "malformed", None),
    "not_an_object": ([b"[1, 2]"], "malformed", None),
    "unknown_kind": ([json.dumps({"kind": "movie", "req": 1}).encode()], "unknown_kind", "kind"),
    "missing_dtype": (
        [json.dumps(image_header(dtype=None)).encode(), PIXELS],
        "missing_field",
        "dtype",
    ),
    "dtype_not_allowed": (
        [json.dumps(image_header(dtype="object")).encode(), PIXELS],
        "bad_dtype",
        "dtype",
    ),
    "complex_dtype": (
        [json.dumps(image_header(dtype="complex64")).encode(), PIXELS],
        "bad_dtype",
        "dtype",
    ),
    "shape_size_mismatch": (
        [json.dumps(image_header(shape=[8, 8])).encode(), PIXELS],
        "size_mismatch",
        "frame",
    ),
    "negative_shape": (
        [json.dumps(image_header(shape=[-4, 4])).encode(), PIXELS],
        "bad_field",
        "shape",
    ),
    "missing_frame": ([json.dumps(image_header()).encode()], "bad_field", "frame"),
    "unknown_component": (
        [json.dumps(image_header(components={"plate_row": 3})).encode(), PIXELS],
        "unknown_component",
        "components.plate_row",
    ),
    "unknown_mode": (
        [
            json.dumps(
                image_header(display_config={"component_modes": {"channel": "Hologram mode!"}})
            ).encode(),
            PIXELS,
        ],
        "bad_field",
        "display_config.component_modes.channel",
    ),
    "bad_shape_coords": (
        [
            json.dumps(
                {
                    "kind": "shapes",
                    "req": 1,
                    "components": {},
                    "shapes": [{"kind": "polygon", "coords": [[1, 2]]}],
                }
            ).encode()
        ],
        "bad_field",
        "shapes",
    ),
    "unknown_control_verb": (
        [json.dumps({"kind": "control", "verb": "run_macro", "req": 1}).encode()],
        "unknown_kind",
        "verb",
    ),
    "empty_batch": (
        [json.dumps({"kind": "batch", "req": 1, "items": []}).encode()],
        "bad_field",
        "items",
    ),
}


@pytest.fixture
def hub(start_hub):
    handle = start_hub(extra_args=["--max-message", "1MiB"])
    handle.wait_viewers(timeout_s=60)
    return handle


def test_each_bad_message_is_refused_with_a_named_error_and_counted(hub, tmp_path):
    raw = RawClient(hub.ingest)
    codes: dict[str, int] = {}
    for name, (frames, code, field) in BAD_MESSAGES.items():
        reply = raw.send(*frames)
        assert reply["ok"] is False, name
        assert reply["code"] == code, (name, reply)
        if field:
            assert reply.get("field") == field, (name, reply)
        codes[code] = codes.get(code, 0) + 1

    # shared memory: missing, too small, and a path trick in the name
    hub_pid = hub.ping()["hub_pid"]
    missing = f"viewerhub-{hub_pid}-p1-1"
    small = _segment(f"viewerhub-{hub_pid}-p{os.getpid()}-77", 8)
    for shm_name, code in (
        (missing, "missing_segment"),
        (small, "size_mismatch"),
        ("../../etc/passwd", "bad_field"),
        ("psm_12345", "bad_field"),
    ):
        reply = raw.send(json.dumps(image_header(frame=None, shm=shm_name)).encode())
        assert (reply["ok"], reply["code"], reply["field"]) == (False, code, "shm"), shm_name
        codes[code] = codes.get(code, 0) + 1
    shm.unlink(small)

    # oversized message (cap set to 1 MiB for this hub)
    big = np.zeros((1024, 1024), np.uint16)
    reply = raw.send(json.dumps(image_header(shape=[1024, 1024])).encode(), big.tobytes())
    assert reply["code"] == "too_large"
    codes["too_large"] = 1

    status = hub.status()["hub"]
    assert status["errors"] == codes
    assert status["items"] == 0

    # ... and the hub still serves a valid item, which arrives.
    with StreamingBackend(hub=hub) as backend:
        backend.save(np.full((4, 4), 7, np.uint16), "", channel=1)
    hub.wait_viewers(n_items=1)
    assert read_received(tmp_path / "recorder")[-1]["components"] == {"channel": 1}


def test_a_batch_with_one_bad_item_is_rejected_whole(hub, tmp_path):
    with StreamingBackend(hub=hub) as backend:
        with pytest.raises(HubError, match="dtype") as info:
            backend.save_batch(
                [np.zeros((4, 4), np.uint16), np.zeros((4, 4), np.complex64)],
                ["", ""],
                components=[{"channel": 1}, {"channel": 2}],
            )
        assert info.value.code == "bad_dtype"
        assert hub.status()["hub"]["items"] == 0
        assert [n for n in shm.list_ours() if f"-p{os.getpid()}-" in n] == []


def test_a_component_declared_in_the_display_config_is_accepted(hub):
    with StreamingBackend(hub=hub) as backend:
        backend.save(
            np.zeros((4, 4), np.uint8),
            "",
            plate_row=3,
            display_config={"component_order": ["plate_row", "channel"]},
        )
    assert hub.status()["hub"]["items"] == 1


#: A 256x256 mask costs the budget 64 KiB however few runs it has, and unlike pixels, which
#: spill to the scene store, shapes stay in memory: two of them fill a small budget for good.
MASK = [{"kind": "mask", "mask": {"origin": [0, 0], "shape": [256, 256], "runs": [0, 10]}}]


def test_full_budget_delays_the_ack_until_clear(start_hub):
    plane = np.ones((256, 256), np.uint16)  # 128 KiB
    hub = start_hub(viewers=(), memory_budget=plane.nbytes + 8192)
    backend = StreamingBackend(hub=hub, timeout_s=20)
    backend.save(MASK, "a", channel=1)
    backend.save(MASK, "b", channel=2)
    # The plane does not fit: its ack waits. Clear from another connection frees the budget.
    control = HubConnection(hub.ingest)
    start = time.monotonic()
    timer = threading.Timer(1.0, lambda: control.control("clear"))
    timer.start()
    reply = backend.save(plane, "", channel=3)
    waited = time.monotonic() - start
    timer.join()
    assert reply["ok"] and waited >= 0.9
    status = hub.status()["hub"]
    assert status["items"] == 1 and status["accepted_items"] == 3
    backend.close()
    control.close()


def test_full_budget_gives_a_clear_error_after_the_backpressure_timeout(start_hub):
    plane = np.ones((256, 256), np.uint16)
    hub = start_hub(
        viewers=(),
        memory_budget=plane.nbytes + 8192,
        extra_args=["--backpressure-timeout", "1"],
    )
    with StreamingBackend(hub=hub, timeout_s=20) as backend:
        backend.save(MASK, "a", channel=1)
        backend.save(MASK, "b", channel=2)
        with pytest.raises(HubError, match="memory budget") as info:
            backend.save(plane, "", channel=2)
        assert info.value.code == "budget_full"
    assert hub.status()["hub"]["items"] == 2
