"""The scene log's cursors, credits and crash-loop isolation, without processes or sockets."""

from __future__ import annotations

import time

from hub.scene import SceneLog


def _scene(n: int) -> SceneLog:
    scene = SceneLog(1 << 30, lambda _segment: None)
    for i in range(n):
        scene.append({"kind": "image", "components": {"z_index": i}}, None, 10)
    return scene


def _send(scene: SceneLog, viewer: str) -> list[int]:
    return [item.index for item in scene.due(viewer)]


def test_a_viewer_gets_what_its_credits_allow_and_acks_return_them():
    scene = _scene(5)
    scene.attach("v", 2)
    assert _send(scene, "v") == [0, 1]
    assert _send(scene, "v") == []
    assert scene.ack("v", scene.scene_id, 0, None)
    assert _send(scene, "v") == [2]


def test_an_item_that_kills_a_viewer_twice_is_skipped_and_reported_not_replayed():
    scene = _scene(6)
    scene.attach("v", 4)
    assert _send(scene, "v") == [0, 1, 2, 3]
    for i in (0, 1):
        scene.ack("v", scene.scene_id, i, None)
    # Dies with 2 and 3 in flight: both suspects, nothing skipped yet.
    assert scene.viewer_failed("v", "the viewer exited with code -9") == []
    scene.detach("v")
    scene.attach("v", 4)  # restarted: the whole scene again, suspects one at a time
    assert _send(scene, "v") == [0, 1]
    scene.ack("v", scene.scene_id, 0, None)
    scene.ack("v", scene.scene_id, 1, None)
    assert _send(scene, "v") == [2]
    assert _send(scene, "v") == []  # nothing else while a suspect is out
    scene.ack("v", scene.scene_id, 2, None)  # 2 was innocent
    assert _send(scene, "v") == [3]
    assert scene.viewer_failed("v", "the viewer exited with code -9") == [3]
    scene.detach("v")
    scene.attach("v", 4)
    sent = _send(scene, "v")
    assert 3 not in sent and sent == [0, 1, 2, 4]
    status = scene.viewer_status("v")
    assert status["skipped"] == 1
    assert status["skipped_items"] == [{"index": 3, "reason": "the viewer exited with code -9"}]
    assert scene.shown_by_all(0) is False  # still in flight
    assert scene.shown_by_all(3)  # skipped counts as done for the OpenHCS acks


def test_a_new_scene_forgets_skipped_items():
    scene = _scene(2)
    scene.attach("v", 1)
    _send(scene, "v")
    scene.viewer_failed("v", "hung")
    scene.clear()
    assert scene.faults == {}


def test_a_viewer_that_never_acks_does_not_hold_back_everybody_elses_acks():
    scene = _scene(1)
    scene.attach("good", 4)
    scene.attach("silent", 4)
    _send(scene, "good")
    _send(scene, "silent")
    scene.ack("good", scene.scene_id, 0, None)
    assert not scene.shown_by_all(0, ack_timeout_s=30.0)
    scene.cursors["silent"].in_flight[0] = time.monotonic() - 31.0
    assert scene.shown_by_all(0, ack_timeout_s=30.0)


def test_items_per_second_is_not_capped_by_a_count():
    scene = _scene(1000)
    scene.attach("v", 1000)
    sent = _send(scene, "v")
    for i in sent:
        scene.ack("v", scene.scene_id, i, None)
    assert scene.viewer_status("v")["items_per_s"] == 1000 / 5.0


def test_the_same_identity_twice_is_one_item_and_replay_sends_the_current_state():
    released: list[str] = []
    scene = SceneLog(1 << 30, released.append)
    a1 = scene.append({"components": {"well": "A01"}}, "seg-a1", 100, key="A01")
    scene.append({"components": {"well": "B01"}}, "seg-b1", 100, key="B01")
    scene.attach("v", 8)
    assert _send(scene, "v") == [0, 1]
    scene.ack("v", scene.scene_id, 0, None)
    scene.ack("v", scene.scene_id, 1, None)
    a2 = scene.append({"components": {"well": "A01"}}, "seg-a2", 100, key="A01")
    assert len(scene) == 2 and a1.superseded
    assert released == ["seg-a1"] and scene.bytes_used == 200
    assert _send(scene, "v") == [a2.index]
    scene.attach("late", 8)
    assert _send(scene, "late") == [1, 2]  # the current state, not the history
    assert scene.viewer_status("late")["queued"] == 0


def test_a_superseded_item_in_flight_keeps_its_segment_until_acked():
    released: list[str] = []
    scene = SceneLog(1 << 30, released.append)
    scene.append({}, "old", 10, key="k")
    scene.attach("v", 4)
    assert _send(scene, "v") == [0]
    scene.append({}, "new", 10, key="k")
    assert released == []  # the viewer may be reading it right now
    scene.ack("v", scene.scene_id, 0, None)
    assert released == ["old"] and scene.bytes_used == 10
