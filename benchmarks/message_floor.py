"""The machine's own limit for the fan-out benchmark: what one message costs, with no hub.

One CURVE message from a ROUTER to a DEALER and one ack back over loopback TCP, both ends in
this process, and the decoding of one item header: the per-message cost any design that
sends each item to each viewer in a message of its own would pay, before its own work.
"""

from __future__ import annotations

import json
import time

import zmq


def message_floor(n: int = 2000, size: int = 400) -> dict[str, float]:
    """CPU µs of one CURVE message hub -> viewer plus one ack back, over loopback TCP.

    Both ends live in this process, so its CPU time holds both sides and ZeroMQ's I/O
    threads: the cost a design pays per message, before any Python work of its own.
    """
    ctx = zmq.Context()
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    router, dealer = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    router.curve_server, router.curve_secretkey = True, server_secret
    router.curve_publickey = server_public
    dealer.curve_serverkey = server_public
    dealer.curve_publickey, dealer.curve_secretkey = client_public, client_secret
    port = router.bind_to_random_port("tcp://127.0.0.1")
    dealer.connect(f"tcp://127.0.0.1:{port}")
    try:
        dealer.send(b"hello")
        route, _ = router.recv_multipart()
        payload, ack = b"x" * size, b'{"kind":"ack","scene":1,"acks":[[1,null]]}'

        def rounds(count: int) -> float:
            cpu = time.process_time()
            for _ in range(count):
                router.send_multipart([route, payload])
                dealer.recv()
                dealer.send(ack)
                router.recv_multipart()
            return (time.process_time() - cpu) / count * 1e6

        rounds(200)  # warm up
        per_message_pair = rounds(n)
        decode = _json_floor(size)
    finally:
        router.close(0)
        dealer.close(0)
        ctx.term()
    return {"curve_message_pair_us": per_message_pair, "json_decode_us": decode}


def _json_floor(size: int) -> float:
    """CPU µs to decode one item header of about ``size`` bytes with the json module."""
    header = {
        "kind": "image",
        "components": {"well": "A01", "site": 1, "channel": 1, "z_index": 3, "timepoint": 0},
        "dtype": "uint16",
        "shape": [512, 512],
        "segment": "viewerhub-12345-p6789-42-0123456789abcdef",
        "path": "",
        "meta": {},
    }
    text = json.dumps({"index": 1, "item": header})
    text = text + " " * max(0, size - len(text))
    cpu = time.process_time()
    for _ in range(5000):
        json.loads(text)
    return (time.process_time() - cpu) / 5000 * 1e6
