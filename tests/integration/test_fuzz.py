"""Property-based fuzzing of the wire protocol and the OpenHCS compatibility port.

Thousands of malformed or mutated messages go to a real hub; every one must get a reply
(never a hang), the hub must keep answering ``ping`` and a valid item must still arrive.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backends import StreamingBackend
from tests.conftest import read_received, wait_for
from tests.helpers.raw import dealer as raw_dealer

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)

TEMPLATES = [
    {"kind": "image", "components": {"channel": 1}, "dtype": "uint16", "shape": [4, 4], "frame": 1},
    {
        "kind": "image",
        "components": {"z_index": 2},
        "dtype": "uint8",
        "shape": [2, 4, 4],
        "shm": "viewerhub-1-p2-3",
        "stack_component": "z_index",
        "stack_values": [1, 2],
    },
    {
        "kind": "shapes",
        "components": {"channel": 1},
        "shapes": [{"kind": "polygon", "coords": [[1, 2], [3, 4], [5, 1]]}],
    },
    {
        "kind": "batch",
        "items": [
            {"kind": "image", "components": {}, "dtype": "float32", "shape": [2, 2], "frame": 1}
        ],
    },
    {"kind": "control", "verb": "status"},
]
FIELDS = [
    "kind",
    "components",
    "dtype",
    "shape",
    "frame",
    "shm",
    "shapes",
    "items",
    "verb",
    "args",
    "display_config",
    "stack_values",
    "path",
    "meta",
]


@st.composite
def mutated(draw):
    header = json.loads(json.dumps(draw(st.sampled_from(TEMPLATES))))
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["drop", "replace", "add"]))
        if action == "drop" and header:
            header.pop(draw(st.sampled_from(sorted(header))))
        else:
            header[draw(st.sampled_from(FIELDS))] = draw(json_values)
    frames = draw(st.lists(st.binary(max_size=64), max_size=2))
    return header, frames


def _ask(sock: zmq.Socket, frames: list[bytes]) -> dict:
    sock.send_multipart(frames)
    assert sock.poll(5000), f"no reply to {frames[0][:120]!r}"
    return json.loads(sock.recv_multipart()[-1])


@pytest.fixture(scope="module")
def fuzz_hub(tmp_path_factory):
    from hub.launcher import launch

    out = tmp_path_factory.mktemp("fuzz")
    base = random.randrange(50000, 59000, 20)
    hub = launch(
        ["recorder"],
        viewer_options={"recorder": {"outdir": str(out)}},
        extra_args=[
            "--openhcs",
            "--openhcs-ports",
            f"napari={base}",
            "--openhcs-transports",
            "tcp",
        ],
    )
    hub.wait_viewers(timeout_s=60)
    hub.outdir, hub.compat = out, f"tcp://127.0.0.1:{base}"
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def dealer(fuzz_hub):
    sock = raw_dealer(fuzz_hub.ingest)
    yield sock
    sock.close()


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(message=mutated())
def test_mutated_messages_always_get_a_reply(dealer, message):
    header, frames = message
    reply = _ask(dealer, [json.dumps(header).encode(), *frames])
    assert isinstance(reply.get("ok"), bool)
    if not reply["ok"]:
        assert reply["error"] and reply["code"]


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(frames=st.lists(st.binary(max_size=200), min_size=1, max_size=3))
def test_random_bytes_always_get_a_reply(dealer, frames):
    reply = _ask(dealer, frames)
    assert reply["ok"] is False or frames[0][:1] == b"{"


@settings(max_examples=700, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    batch=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {
                "type": st.just("batch"),
                "images": st.lists(
                    st.dictionaries(
                        st.sampled_from(
                            [
                                "path",
                                "shape",
                                "dtype",
                                "shm_name",
                                "data_type",
                                "metadata",
                                "image_id",
                                "shapes",
                                "rois",
                                "plane_axis",
                                "plane_component_values",
                            ]
                        ),
                        json_values,
                        max_size=6,
                    ),
                    max_size=3,
                ),
                "display_config": json_values,
            }
        ),
    )
)
def test_openhcs_port_always_answers_in_its_own_form(fuzz_hub, batch):
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(fuzz_hub.compat)
    try:
        sock.send(json.dumps(batch).encode())
        assert sock.poll(5000), "the OpenHCS sender would hang"
        reply = json.loads(sock.recv())
        assert reply["status"] in ("success", "error") and "message" in reply
    finally:
        sock.close()


#: Raw JSON text that json.dumps cannot produce: numbers out of range and deep nesting.
HOSTILE_TEXT = st.one_of(
    st.sampled_from(["1e400", "-1e400", "1" + "0" * 30, "-" + "9" * 25, "1E+999"]),
    st.integers(33, 3000).map(lambda n: "[" * n + "]" * n),
    st.integers(33, 1500).map(lambda n: '{"a":' * n + "1" + "}" * n),
)


@st.composite
def hostile(draw):
    """A template with one field (or the request id) replaced by hostile raw JSON text."""
    header = json.loads(json.dumps(draw(st.sampled_from(TEMPLATES))))
    header[draw(st.sampled_from([*FIELDS, "req"]))] = "__HOSTILE__"
    text = json.dumps(header).replace('"__HOSTILE__"', draw(HOSTILE_TEXT))
    return [text.encode(), *draw(st.lists(st.binary(max_size=32), max_size=1))]


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(frames=hostile())
def test_out_of_range_numbers_and_deep_nesting_always_get_a_refusal(dealer, frames):
    reply = _ask(dealer, frames)
    assert reply["ok"] is False and reply["code"] in ("malformed", "bad_field"), reply


@pytest.fixture(scope="module")
def planted(fuzz_hub):
    """Non-regular files and oversize segments under names the hub would accept."""
    import os

    from contract import shm

    pid = fuzz_hub.ping()["hub_pid"]
    names = [f"viewerhub-{pid}-p{os.getpid()}-{900 + i}" for i in range(4)]
    os.mkfifo(shm.SHM_DIR / names[0])
    (shm.SHM_DIR / names[1]).mkdir()
    (shm.SHM_DIR / names[2]).symlink_to("/etc/passwd")
    shm.create(names[3], 64 * 1024 * 1024).close()
    yield names
    for name in names:
        path = shm.SHM_DIR / name
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink(missing_ok=True)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    which=st.integers(0, 3),
    shape=st.lists(st.integers(1, 64), min_size=2, max_size=3),
    dtype=st.sampled_from(["uint8", "uint16", "float32"]),
)
def test_planted_files_and_oversize_segments_are_refused_at_once(
    dealer, planted, which, shape, dtype
):
    header = {"kind": "image", "components": {}, "dtype": dtype, "shape": shape}
    header["shm"] = planted[which]
    reply = _ask(dealer, [json.dumps(header).encode()])
    assert reply["ok"] is False
    assert reply["code"] in ("missing_segment", "size_mismatch"), reply


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    identity=st.sampled_from([b"recorder", b"ghost", b"napari"]),
    body=st.one_of(
        json_values.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {
                "kind": st.sampled_from(["hello", "heartbeat", "ack", "reply", "bye", "x"]),
                "credits": json_values,
                "acks": json_values,
                "scene": json_values,
                "id": json_values,
            }
        ).map(lambda d: json.dumps(d).encode()),
        HOSTILE_TEXT.map(lambda t: ('{"kind":"hello","credits":' + t + "}").encode()),
    ),
)
def test_hostile_viewer_clients_never_stop_the_hub(fuzz_hub, identity, body):
    sock = raw_dealer(fuzz_hub.viewer_endpoint, identity=identity)
    try:
        sock.send(body)
        sock.poll(20)
    finally:
        sock.close()


def test_after_the_fuzzing_the_hub_still_serves(fuzz_hub):
    assert fuzz_hub.ping()["pong"] is True
    status = fuzz_hub.status()["hub"]
    assert status["errors_total"] > 1000
    # a window of its own: fuzzed planes of other sizes may hold the plate's window
    config = {"component_modes": {"well": "window"}}
    with StreamingBackend(hub=fuzz_hub, display_config=config) as backend:
        reply = backend.save(np.full((8, 8), 42, np.uint16), "", well="H12", channel=1, z_index=99)
    assert reply["ok"]

    ours = {"well": "H12", "channel": 1, "z_index": 99}

    def shown() -> bool:  # not a count: fuzzed items replaced before they were sent never are
        return any(
            r["kind"] == "image" and r["components"] == ours for r in read_received(fuzz_hub.outdir)
        )

    wait_for(shown, 60, "the recorder to show the plane sent after the fuzzing")
