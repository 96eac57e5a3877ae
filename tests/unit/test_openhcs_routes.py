"""polystore 0.6 ack routes: honoured only on this machine, echoed back exactly as sent."""

from __future__ import annotations

import pytest

from contract.protocol import ProtocolError
from hub import openhcs

ROUTE = {
    "url": "ipc:///root/.polystore/ipc/polystore-zmq-0-abc.sock",
    "incarnation": "0b8d8c36-1f55-4a51-9b3c-4f1c4bb5cf01",
    "owner": {"pid": 42, "create_time": 1.5},
}
PRODUCER = {"pid": 43, "create_time": 2.5}


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("ipc:///tmp/x.sock", True),
        ("tcp://127.0.0.1:5000", True),
        ("tcp://localhost:5000", True),
        ("tcp://[::1]:5000", True),
        ("tcp://10.0.0.5:5000", False),
        ("tcp://example.org:5000", False),
        ("tcp://127.0.0.1", False),
        ("tcp://127.0.0.1:notaport", False),
        ("ipc://relative.sock", False),
        ("inproc://x", False),
        ("pgm://eth0;239.1.1.1:5555", False),
    ],
)
def test_only_loopback_tcp_and_absolute_ipc_routes_are_local(url, local):
    assert openhcs.is_local_url(url) is local


def test_routed_acks_echo_route_and_producer_as_sent():
    message = {"images": [{"return_route": ROUTE, "producer": PRODUCER}, {"image_id": "x"}]}
    routed, plain = openhcs.ack_routes(message)
    assert plain is None
    ack = openhcs.image_ack("id-1", 5555, "napari", None, routed)
    assert ack["type"] == "image_ack" and ack["status"] == "success"
    assert ack["return_route"] == ROUTE and ack["producer"] == PRODUCER
    assert "type" not in openhcs.image_ack("id-2", 5555, "napari", None)  # the 0.2.x form


def test_a_route_off_this_machine_refuses_the_batch_naming_the_field():
    route = {**ROUTE, "url": "tcp://192.168.1.9:7555"}
    with pytest.raises(ProtocolError, match="neither loopback TCP nor IPC") as info:
        openhcs.ack_routes({"images": [{"return_route": route, "producer": PRODUCER}]})
    assert info.value.field == "return_route"


def test_a_route_without_producer_is_refused():
    with pytest.raises(ProtocolError, match="producer"):
        openhcs.ack_routes({"images": [{"return_route": ROUTE}]})
