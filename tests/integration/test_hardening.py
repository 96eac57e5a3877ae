"""Regression tests for each way one message, one file or one local process could stop the hub.

Every test ends by checking that the hub still answers and still holds what it accepted.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from backends import StreamingBackend
from contract import shm
from tests.conftest import free_port, thirdparty_env, wait_for
from tests.helpers.raw import PIXELS, RawClient, dealer, image_header

NOBODY_UID = 65534


def _hub_with_one_item(start):
    handle = start(viewers=("recorder",))
    handle.wait_viewers(timeout_s=60)
    with StreamingBackend(hub=handle) as backend:  # one accepted item that must survive
        backend.save(np.full((8, 8), 7, np.uint16), "", channel=1)
    return handle


@pytest.fixture(scope="module")
def hub(start_module_hub):
    """One hub for the tests that only throw things at it: each checks it still serves."""
    return _hub_with_one_item(start_module_hub)


@pytest.fixture
def fresh_hub(start_hub):
    """A hub of its own, for a test that changes the scene or restarts the viewer."""
    return _hub_with_one_item(start_hub)


def _still_serving(hub, items: int = 1) -> None:
    status = hub.status()
    assert status["hub"]["items"] == items
    assert hub.ping()["pong"]


def test_numbers_that_overflow_and_deep_nesting_are_refused_and_the_hub_keeps_serving(hub):
    raw = RawClient(hub.ingest)
    deep = "[" * 985 + "]" * 985
    cases = {
        "inf request id": b'{"kind":"control","verb":"ping","req":1e400}',
        "inf in meta": json.dumps(image_header(meta={"x": 1}))
        .replace('"x": 1', '"x": 1e400')
        .encode(),
        "huge int": b'{"kind":"control","verb":"ping","req":123456789012345678901234567890}',
        "deep meta": json.dumps(image_header()).replace(
            '"req": 1', f'"req": 1, "meta": {{"a": {deep}}}'
        ),
        "deep display config": json.dumps(image_header()).replace(
            '"req": 1', f'"req": 1, "display_config": {{"x": {deep}}}'
        ),
        "nested request id": b'{"kind":"control","verb":"ping","req":{"a":[1]}}',
    }
    for name, header in cases.items():
        data = header.encode() if isinstance(header, str) else header
        reply = raw.send(data, PIXELS)
        assert reply["ok"] is False, name
        assert reply["code"] in ("malformed", "bad_field"), (name, reply)
    raw.close()
    _still_serving(hub)


def test_a_viewer_hello_with_infinity_does_not_break_status(hub):
    sock = dealer(hub.viewer_endpoint, identity=b"intruder")
    sock.send(b'{"kind":"hello","credits":4,"pid":1,"viewer":{"x":1e400}}')
    sock.send(b'{"kind":"hello","viewer":' + b"[" * 900 + b"]" * 900 + b"}")
    time.sleep(0.5)
    status = hub.status()
    assert "intruder" not in status["viewers"]
    sock.close()
    _still_serving(hub)


def test_a_fifo_under_a_segment_name_is_refused_without_blocking_the_hub(hub):
    pid = hub.ping()["hub_pid"]
    name = f"viewerhub-{pid}-p{os.getpid()}-1"
    fifo = shm.SHM_DIR / name
    os.mkfifo(fifo, 0o600)
    try:
        raw = RawClient(hub.ingest)
        start = time.monotonic()
        reply = raw.send(json.dumps(image_header(frame=None, shm=name)).encode(), timeout_ms=5000)
        assert time.monotonic() - start < 2.0
        assert (reply["ok"], reply["code"]) == (False, "missing_segment")
        assert "not a regular file" in reply["error"]
        raw.close()
        _still_serving(hub)
    finally:
        fifo.unlink()


def test_a_segment_of_another_user_is_refused(hub):
    if os.geteuid() != 0:
        pytest.skip("needs root to make a file owned by another user")
    pid = hub.ping()["hub_pid"]
    name = f"viewerhub-{pid}-p{os.getpid()}-2"
    shm.create(name, PIXELS.__len__()).close()
    os.chown(shm.SHM_DIR / name, NOBODY_UID, NOBODY_UID)
    try:
        raw = RawClient(hub.ingest)
        reply = raw.send(json.dumps(image_header(frame=None, shm=name)).encode())
        assert (reply["ok"], reply["code"]) == (False, "missing_segment")
        assert f"uid {NOBODY_UID}" in reply["error"]
        assert (shm.SHM_DIR / name).exists()  # refused, not taken
        raw.close()
    finally:
        (shm.SHM_DIR / name).unlink()
    _still_serving(hub)


def test_an_oversize_segment_declared_small_is_not_adopted(hub):
    pid = hub.ping()["hub_pid"]
    name = f"viewerhub-{pid}-p{os.getpid()}-3"
    shm.create(name, 100 * 1024 * 1024).close()
    try:
        raw = RawClient(hub.ingest)
        reply = raw.send(
            json.dumps(image_header(frame=None, shm=name, shape=[1, 1], dtype="uint8")).encode()
        )
        assert (reply["ok"], reply["code"]) == (False, "size_mismatch")
        raw.close()
    finally:
        shm.unlink(name)
    _still_serving(hub)


def test_the_budget_counts_headers_long_names_and_masks_and_caps_waiting_requests(start_hub):
    plane = np.ones((64, 64), np.uint16)
    hub = start_hub(viewers=(), memory_budget=1024 * 1024)
    raw = RawClient(hub.ingest)
    # A path is a name, not a payload.
    reply = raw.send(json.dumps(image_header(path="x" * 6_000_000)).encode(), PIXELS)
    assert (reply["ok"], reply["code"], reply["field"]) == (False, "too_large", "path")
    # A mask box the size of four 16384^2 planes in a few hundred bytes of JSON.
    mask = {"kind": "mask", "mask": {"origin": [0, 0], "shape": [16384, 16384], "runs": [0, 1]}}
    shapes = {"kind": "shapes", "req": 2, "components": {}, "shapes": [mask] * 4}
    reply = raw.send(json.dumps(shapes).encode())
    assert (reply["ok"], reply["code"]) == (False, "bad_field") and "cap" in reply["error"]
    # A mask within the cap is charged at its expanded size.
    small = {"kind": "mask", "mask": {"origin": [0, 0], "shape": [256, 256], "runs": [0, 9]}}
    reply = raw.send(json.dumps({**shapes, "shapes": [small]}).encode())
    assert reply["ok"], reply
    assert hub.status()["hub"]["bytes"] >= 256 * 256
    # Fill the budget, then pipeline 100 requests: at most the cap wait, the rest are refused
    # at once with a reason; the hub's memory holds only the waiting ones. A viewer that
    # never acks keeps every item in flight, so the hub cannot evict them to its store.
    hog = dealer(hub.viewer_endpoint)
    hog.send(b'{"kind":"hello","name":"hog","credits":1024}')
    wait_for(lambda: hub.status()["viewers"].get("hog", {}).get("connected"), 10, "hog")
    z = iter(range(10**6))  # distinct planes (the same plane twice is one item)

    def distinct(**fields: object) -> bytes:
        return json.dumps(image_header(shape=[64, 64], components={"z_index": next(z)}, **fields))

    while True:  # until a request waits for memory (no reply)
        raw.sock.send_multipart([distinct().encode(), plane.tobytes()])
        if not raw.sock.poll(1000):
            break
        assert json.loads(raw.sock.recv())["ok"]
    for i in range(100):
        raw.sock.send_multipart([distinct(req=1000 + i).encode(), plane.tobytes()])
    deadline = time.monotonic() + 10
    refused = []
    while len(refused) < 68 and time.monotonic() < deadline:
        if raw.sock.poll(500):
            refused.append(json.loads(raw.sock.recv()))
    assert len(refused) >= 68, len(refused)
    assert all(r["code"] == "budget_full" and "already wait" in r["error"] for r in refused)
    assert hub.status()["hub"]["pending_requests"] <= 32
    raw.close()
    hog.close()
    assert hub.ping()["pong"]


def test_openhcs_segment_names_are_refused_on_the_native_port_and_left_alone(hub):
    name = "napari_0123456789ab"
    shm.create(name, len(PIXELS)).close()
    try:
        raw = RawClient(hub.ingest)
        reply = raw.send(json.dumps(image_header(frame=None, shm=name)).encode())
        assert (reply["ok"], reply["code"]) == (False, "bad_field")
        raw.close()
        time.sleep(0.5)
        assert (shm.SHM_DIR / name).exists()
    finally:
        shm.unlink(name)


def test_a_running_producer_reconnects_to_a_restarted_hub(start_hub):
    port = free_port()
    first = start_hub(viewers=(), port=port)
    backend = StreamingBackend(hub=first, timeout_s=20)
    backend.save(np.ones((16, 16), np.uint16), "", channel=1)
    first.stop()
    second = start_hub(viewers=(), port=port)
    reply = backend.save(np.ones((16, 16), np.uint16), "", channel=2)
    assert reply["ok"]
    assert backend.hub_pid == second.pid
    assert second.status()["hub"]["items"] == 1
    backend.close()
    wait_for(lambda: not [n for n in shm.list_ours() if f"-p{os.getpid()}-" in n], 5)


@pytest.mark.parametrize("poison", ["exit", "hang"])
def test_an_item_that_kills_or_freezes_a_viewer_is_skipped_after_two_restarts(
    start_hub, tmp_path, poison
):
    tally = tmp_path / "tally.json"
    hub = start_hub(
        ("tally",),
        env=thirdparty_env(),
        viewer_options={"tally": {"out": str(tally)}},
        extra_args=["--heartbeat-timeout", "1", "--hang-restart", "1"],
    )
    hub.wait_viewers(timeout_s=60)
    with StreamingBackend(hub=hub) as backend:
        for z in range(6):
            backend.save(np.full((8, 8), z, np.uint16), "", z_index=z)
    poisoned = {"kind": "shapes", "components": {"z_index": 3}, "meta": {"poison": poison}}
    poisoned["shapes"] = [{"kind": "points", "coords": [[1, 1]]}]
    raw = RawClient(hub.ingest)
    assert raw.send(json.dumps({**poisoned, "req": 1}).encode())["ok"]
    raw.close()

    def settled():
        viewer = hub.status()["viewers"]["tally"]
        done = viewer.get("skipped") == 1 and viewer.get("queued") == 0
        return viewer if done and viewer.get("in_flight") == 0 else None

    viewer = wait_for(settled, 90, "the poisoned item to be skipped")
    assert viewer["state"] == "running" and viewer["restarts"] <= 2
    assert viewer["skipped_items"][0]["index"] == 6
    reason = viewer["skipped_items"][0]["reason"]
    assert ("exited with code 3" in reason) if poison == "exit" else ("hung" in reason)
    indices = json.loads(tally.read_text())["indices"]
    assert sorted(set(indices)) == [0, 1, 2, 3, 4, 5]


def test_screenshot_never_follows_overwrites_or_writes_into_a_folder_of_another_user(hub, tmp_path):
    from contract.connection import HubConnection
    from hub import HubError

    conn = HubConnection(hub.ingest, timeout_s=30)

    def shot(path: str) -> dict:
        return conn.control("screenshot", viewer="recorder", path=path)

    target = tmp_path / "ok.png"
    assert shot(str(target))["path"] == str(target)
    assert shot(str(target))["path"] == str(target)  # its own file: replaced
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "link.png"
    link.symlink_to(victim)
    planted = tmp_path / "planted.png"
    planted.write_text("not the viewer's")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    os.chown(foreign, NOBODY_UID, NOBODY_UID)
    for path, reason in (
        ("relative.png", "absolute"),
        (str(link), "not overwriting"),
        (str(planted), "not overwriting"),
        (str(foreign / "x.png"), f"uid {NOBODY_UID}"),
    ):
        with pytest.raises(HubError, match=reason):
            shot(path)
    assert victim.read_text() == "keep me" and planted.read_text() == "not the viewer's"
    assert not (foreign / "x.png").exists()
    conn.close()


def test_items_the_recorder_cannot_store_are_reported_and_never_stop_it(start_hub, tmp_path):
    out = tmp_path / "recorder"
    hub = start_hub(("recorder",))
    hub.wait_viewers(timeout_s=60)
    plane = np.ones((4, 4), np.uint16)
    polygon = {"kind": "polygon", "coords": [[0, 0], [0, 3], [3, 3]], "name": "../../evil"}
    windows = {"component_modes": {"well": "window"}}  # a file per well
    with StreamingBackend(hub=hub, display_config=windows) as backend:
        for well in ("A 1", "A/1", "A_1", "W" * 250):
            backend.save(plane * len(well), "", well=well, channel=1)
        backend.save([polygon], "", well="A 1", channel=1)
        backend.save(np.ones((1, 10_000_000), np.uint8), "", well="Z9", channel=1)
        backend.save(np.ones((10_000_000, 1), np.uint8), "", well="Z9", channel=1)

    def settled():
        viewer = hub.status()["viewers"]["recorder"]
        return viewer if viewer["queued"] == 0 and viewer["in_flight"] == 0 else None

    viewer = wait_for(settled, 60, "the recorder to take every item")
    assert viewer["state"] == "running" and viewer["restarts"] == 0
    assert viewer["errors"] == 1 and "does not fit" in viewer["last_error"]
    hub.screenshot("recorder", tmp_path / "shot.png")  # writes every window's files
    names = sorted(p.name for p in out.iterdir() if p.suffix in (".tif", ".zip"))
    assert "well-A%201.tif" in names
    assert "well-A%2F1.tif" in names
    assert "well-A_1.tif" in names
    assert any(n.startswith("well-WWW") and "~" in n for n in names)
    import zipfile

    with zipfile.ZipFile(out / "well-A%201.rois.zip") as rois:
        assert all("/" not in n and ".." not in n.split("-", 1)[1][:3] for n in rois.namelist())


def test_a_second_openhcs_hub_fails_clearly_and_leaves_the_first_ones_sockets(start_hub):
    import random
    import subprocess
    import sys

    from hub import openhcs

    port = random.randrange(30000, 39000, 20)
    args = ["--openhcs", "--openhcs-ports", f"napari={port}", "--openhcs-transports", "ipc"]
    first = start_hub(viewers=(), extra_args=args)
    sockets = [p for p in (openhcs.ipc_path(port, *f) for f in openhcs.IPC_FLAVOURS)]
    assert all(p.exists() for p in sockets)
    second = subprocess.run(
        [sys.executable, "-m", "hub.cli", "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 2
    assert "in use by a running process" in second.stderr and "Traceback" not in second.stderr
    assert all(p.exists() for p in sockets)
    assert first.ping()["pong"]


def test_a_busy_port_is_a_one_line_error(hub):
    import subprocess
    import sys

    port = hub.ingest.rsplit(":", 1)[1]
    out = subprocess.run(
        [sys.executable, "-m", "hub.cli", "serve", "--port", port],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert f"cannot listen on tcp://127.0.0.1:{port}" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_hub_on_ipv6_loopback_serves(start_hub):
    from contract.connection import HubConnection

    hub = start_hub(viewers=(), extra_args=["--host", "::1"])
    assert hub.ingest.startswith("tcp://[::1]:")
    conn = HubConnection(hub.ingest, timeout_s=10)
    assert conn.control("ping")["pong"]
    conn.close()


def test_a_client_cannot_take_a_hub_started_viewers_name_or_say_bye_for_it(fresh_hub):
    hub = fresh_hub
    impostor = dealer(hub.viewer_endpoint)
    impostor.send(b'{"kind":"hello","name":"recorder","token":"guess","credits":4}')
    impostor.send(b'{"kind":"bye"}')
    sneaky = dealer(hub.viewer_endpoint, identity=b"recorder")  # the old routing-id trick
    sneaky.send(b'{"kind":"bye"}')
    assert not impostor.poll(1000)  # no welcome, no items
    impostor.close()
    sneaky.close()
    viewer = hub.status()["viewers"]["recorder"]
    assert viewer["state"] == "running" and viewer["connected"]
    with StreamingBackend(hub=hub) as backend:
        reply = backend.save(np.ones((8, 8), np.uint16), "", channel=2)
    hub.wait_viewers(n_items=reply["indices"][0] + 1, timeout_s=30)


def test_hub_restart_brings_a_stopped_viewer_back_with_the_whole_scene(fresh_hub):
    hub = fresh_hub
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess:
        port = hub.ingest.rsplit(":", 1)[1]
        return subprocess.run(
            [sys.executable, "-m", "hub.cli", *args[:1], "--port", port, *args[1:]],
            capture_output=True,
            text=True,
            timeout=60,
        )

    before = hub.status()["viewers"]["recorder"]["pid"]
    out = run("restart", "recorder")
    assert out.returncode == 0 and "whole scene" in out.stdout, out.stderr
    status = hub.wait_viewers(n_items=1, timeout_s=60)
    viewer = status["viewers"]["recorder"]
    assert viewer["pid"] != before and viewer["shown"] == 1 and viewer["state"] == "running"
    out = run("restart", "nobody-here")
    assert out.returncode != 0 and "no viewer 'nobody-here'" in out.stderr
    out = run("clear")
    assert out.returncode == 0 and "scene 2 started" in out.stdout
