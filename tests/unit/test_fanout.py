"""Fan-out batching and acks, with a fake socket: what each added viewer costs the hub."""

from __future__ import annotations

import json
import time
from typing import Any

from hub import fanout as fanout_module
from hub.fanout import FanOut
from hub.scene import SceneLog
from hub.supervisor import Supervisor


class _Socket:
    """Records what the fan-out sends: (routing id, decoded body)."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, dict[str, Any]]] = []

    def send_multipart(self, frames: list[bytes], _flags: int = 0) -> None:
        self.sent.append((frames[0], json.loads(frames[1])))


class _Frame:
    def __init__(self, data: bytes) -> None:
        self.bytes = data
        self.buffer = memoryview(data)

    def __len__(self) -> int:
        return len(self.bytes)


def _fanout(items: int = 0) -> tuple[FanOut, _Socket, SceneLog]:
    sock, scene = _Socket(), SceneLog(1 << 30, lambda _segment: None)
    fan = FanOut(sock, scene, Supervisor("tcp://127.0.0.1:1"), 1, 16, lambda _reply: None)
    for i in range(items):
        scene.append({"kind": "image", "components": {"z_index": i}}, None, 10)
    return fan, sock, scene


def _message(fan: FanOut, route: bytes, body: dict[str, Any]) -> None:
    fan.on_message([_Frame(route), _Frame(json.dumps(body).encode())])


def _items(sock: _Socket) -> list[list[int]]:
    return [[e["index"] for e in body["items"]] for _, body in sock.sent if body["kind"] == "items"]


def test_a_fast_stream_reaches_a_viewer_in_batches_and_a_pause_sends_at_once(monkeypatch):
    fan, sock, scene = _fanout(1)
    _message(fan, b"r1", {"kind": "hello", "name": "v"})
    fan.pump()
    assert _items(sock) == [[0]]  # the first item goes at once
    for i in (1, 2, 3):
        scene.append({"kind": "image", "components": {"z_index": i}}, None, 10)
        fan.pump()
    assert _items(sock) == [[0]]  # held: sent less than BATCH_S ago
    assert 0 <= fan.timeout_ms(50) <= fanout_module.BATCH_S * 1000 + 1
    time.sleep(fanout_module.BATCH_S)
    fan.pump()
    assert _items(sock) == [[0], [1, 2, 3]]  # one message for the three
    assert fan.timeout_ms(50) == 50


def test_acks_take_indices_and_index_error_pairs_and_return_credits():
    fan, sock, scene = _fanout(4)
    _message(fan, b"r1", {"kind": "hello", "name": "v", "credits": 4})
    fan.pump()
    assert scene.cursors["v"].credits == 0
    acks = [0, [1, None], [2, "ValueError: bad"], "junk", [True, None]]
    _message(fan, b"r1", {"kind": "ack", "scene": scene.scene_id, "acks": acks})
    status = scene.viewer_status("v")
    assert (status["shown"], status["errors"], status["in_flight"]) == (3, 1, 1)
    assert status["last_error"] == "ValueError: bad"
    assert status["items_per_s"] == 3 / 5.0
    # an ack from an old scene, or for an item not in flight, counts nothing
    _message(fan, b"r1", {"kind": "ack", "scene": scene.scene_id - 1, "acks": [3]})
    _message(fan, b"r1", {"kind": "ack", "scene": scene.scene_id, "acks": [0, 0]})
    assert scene.viewer_status("v")["shown"] == 3


def test_cold_refs_go_out_together_and_before_an_eviction():
    fan, sock, scene = _fanout()
    released: list[tuple[str, int]] = []  # (segment, cold messages sent by then)
    scene._release = lambda segment: released.append(
        (segment, sum(b["kind"] == "cold" for _, b in sock.sent))
    )
    scene.budget_bytes = 100
    for i in range(3):
        scene.append({"kind": "image", "segment": f"s{i}"}, f"s{i}", 40, pixel_bytes=40)
    _message(fan, b"r1", {"kind": "hello", "name": "v", "credits": 1})
    fan.pump()  # item 0 in flight: its segment stays
    for i in (1, 2):
        scene.mark_persisted(i, {"root": "/x"})
        fan.relocated([[i, {"root": "/x"}]])
    fan.pump()
    assert not [b for _, b in sock.sent if b["kind"] == "cold"]  # held (COLD_BATCH_S)
    assert scene.make_room(40)
    cold = [b for _, b in sock.sent if b["kind"] == "cold"]
    assert [entry[0] for entry in cold[0]["refs"]] == [1, 2]  # one message for both
    assert released == [("s1", 1), ("s2", 1)]  # evicted after the viewer was told


def test_viewers_at_the_same_place_get_one_message_built_once(monkeypatch):
    fan, sock, scene = _fanout(3)
    for route, name in ((b"r1", "a"), (b"r2", "b"), (b"r3", "c")):
        _message(fan, route, {"kind": "hello", "name": name, "credits": 2})
    built: list[list[int]] = []
    items_message = fan._items_message
    monkeypatch.setattr(fan, "_items_message", lambda ix: built.append(ix) or items_message(ix))
    fan.pump()
    assert built == [[0, 1]]  # once for the three viewers
    assert _items(sock) == [[0, 1]] * 3
    assert {name: sorted(c.in_flight) for name, c in scene.cursors.items()} == {
        "a": [0, 1],
        "b": [0, 1],
        "c": [0, 1],
    }
    assert all(c.credits == 0 and c.next_index == 2 for c in scene.cursors.values())


def test_a_plan_passes_over_replaced_items_and_fills_the_credits():
    scene = SceneLog(1 << 30, lambda _segment: None)
    for i in range(6):
        scene.append({"kind": "image"}, None, 10, key="same" if i in (1, 3) else None)
    assert scene.plan(0, 3) == ([0, 2, 3], 4)  # 1 was replaced by 3
    assert scene.plan(4, 8) == ([4, 5], 6)


def test_the_batch_interval_grows_with_a_fast_stream_and_starts_short_after_a_pause():
    window = fanout_module.BatchWindow()
    window.sent(10.0, 1, 1)
    assert window.interval() == fanout_module.BATCH_S  # first round: the shortest interval
    t, items = 10.0, 1
    for _ in range(20):  # 5 items every 2 ms: 2500 items a second
        t, items = t + 0.002, items + 5
        window.sent(t, 1, items)
    assert window.interval() == fanout_module.BATCH_MAX_S
    window.sent(t + 1.0, 1, items + 1)  # after a pause
    assert window.interval() == fanout_module.BATCH_S
    slow = fanout_module.BatchWindow()
    for k in range(20):  # a pipeline's pace: an item every 4 ms
        slow.sent(20.0 + 0.004 * k, 1, k)
    assert slow.interval() == fanout_module.BATCH_S


def test_the_batch_interval_grows_with_the_number_of_viewers():
    window = fanout_module.BatchWindow()
    window.sent(10.0, 1, 1, viewers=fanout_module.BATCH_VIEWERS)
    assert window.interval() == fanout_module.BATCH_S
    window.sent(10.1, 1, 2, viewers=2 * fanout_module.BATCH_VIEWERS)
    assert window.interval() == 2 * fanout_module.BATCH_S
    window.sent(10.2, 1, 3, viewers=100)
    assert window.interval() == fanout_module.BATCH_MAX_S


def test_acks_wait_for_the_end_of_a_round_unless_memory_is_short():
    fan, sock, scene = _fanout(1)
    _message(fan, b"r1", {"kind": "hello", "name": "v"})
    fan.pump()  # a round went out: its interval runs
    assert 0 < fan.quiet_ms() <= fanout_module.BATCH_S * 1000 + 1
    scene.bytes_used = scene.budget_bytes  # near the budget: acks free memory, read them now
    assert fan.quiet_ms() == 0


def test_above_a_pipelines_pace_the_interval_grows_by_steps_of_the_rate():
    window = fanout_module.BatchWindow()
    window.rate = fanout_module.BATCH_RATE
    assert window.interval() == fanout_module.BATCH_S
    window.rate = fanout_module.BATCH_RATE + fanout_module.BATCH_RATE_STEP
    assert window.interval() == 2 * fanout_module.BATCH_S
    window.rate = 100 * fanout_module.BATCH_RATE
    assert window.interval() == fanout_module.BATCH_MAX_S


def test_cold_refs_go_only_to_viewers_that_use_them():
    """A viewer that keeps no plane references and reads no pixels (the recorder) says
    ``"cold": false`` in hello: each ``cold`` message would only wake it up for nothing."""
    fan, sock, _scene = _fanout(2)
    _message(fan, b"r1", {"kind": "hello", "name": "napari"})
    _message(fan, b"r2", {"kind": "hello", "name": "recorder", "cold": False})
    fan.relocated([[0, {"root": "/plate", "planes": []}]])
    fan.flush_cold()
    cold = [route for route, body in sock.sent if body["kind"] == "cold"]
    assert cold == [b"r1"]
    _message(fan, b"r3", {"kind": "hello", "name": "recorder"})  # a new session that wants them
    fan.relocated([[1, {"root": "/plate", "planes": []}]])
    fan.flush_cold()
    cold = [route for route, body in sock.sent if body["kind"] == "cold"]
    assert sorted(cold) == [b"r1", b"r1", b"r3"]


def test_a_viewer_says_in_hello_whether_it_uses_cold_refs(tmp_path):
    from viewers.client import ViewerClient
    from viewers.recorder import RecorderViewer

    wants = {}
    cases = (("logs only", {"tiff": False, "checksum": False}), ("tiff", {"tiff": True}))
    for label, options in cases:
        client = ViewerClient(
            "tcp://127.0.0.1:9", "recorder", RecorderViewer(outdir=str(tmp_path), **options)
        )
        wants[label] = client._stats()["cold"]
        client.close()
    assert wants == {"logs only": False, "tiff": True}  # a tiff writer may wait for a plane
