"""A newcomer's first hour with real processes: commands without a hub, a bare hub, quiet logs,
a busy viewer that is not called hung, a viewer that cannot start and says why."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np

from backends import StreamingBackend
from tests.conftest import KNOWN_NOISE, free_port, wait_for


def _hub(*args: str, timeout: float = 30) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "hub", *args], capture_output=True, text=True, timeout=timeout
    )
    return out, time.monotonic() - start


def test_commands_without_a_hub_fail_within_a_second_or_two_and_say_how_to_start_one(tmp_path):
    port = str(free_port())
    for args in (
        ["status", "--port", port],
        ["screenshot", "napari", str(tmp_path / "x.png"), "--port", port],
        ["stop", "--port", port],
        ["goto", "fiji", "well=A01", "--port", port],
    ):
        out, took = _hub(*args)
        assert out.returncode == 2, args
        assert took < 2.0, (args, took)  # was 5 s (status) and 60 s (screenshot)
        assert "no hub is running" in out.stderr and "hub --viewers" in out.stderr
        assert "Traceback" not in out.stderr


def test_status_json_without_a_hub_is_still_json():
    out, took = _hub("status", "--json", "--port", str(free_port()))
    assert out.returncode == 2 and took < 2.0
    answer = json.loads(out.stdout)
    assert answer["ok"] is False and "no hub is running" in answer["error"]


def test_a_port_held_by_something_else_fails_fast_too():
    with socket.socket() as listener:  # accepts TCP, never speaks ZMTP
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = str(listener.getsockname()[1])
        out, took = _hub("status", "--port", port)
    assert out.returncode == 2 and took < 2.5
    assert "nothing answered as a hub" in out.stderr


def test_python_dash_m_hub_and_plain_help():
    out, _ = _hub("--help")
    assert out.returncode == 0
    assert out.stdout.startswith("usage: hub")
    assert "``" not in out.stdout and "hub screenshot VIEWER PATH" in out.stdout


def test_a_bare_hub_says_what_it_runs_and_where(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub", "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        first = proc.stderr.readline()
        second = proc.stderr.readline()
        assert f"listening on tcp://127.0.0.1:{port}" in first
        assert "no viewers" in first and "hub --viewers" in second
        out, _ = _hub("stop", "--port", str(port))
        assert out.returncode == 0
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_recorder_folder_is_absolute_and_printed(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub", "--port", str(port), "--viewers", "recorder"],
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        lines = [proc.stderr.readline(), proc.stderr.readline()]
        assert f"the recorder writes to {tmp_path / 'viewerhub-recorder'}" in lines[1]
        wait_for(lambda: (tmp_path / "viewerhub-recorder" / "received.jsonl").exists(), 30)
        _hub("stop", "--port", str(port))
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_busy_viewer_is_not_called_hung_and_the_log_stays_quiet(start_hub, tmp_path):
    # 40 planes at 150 ms each: the 16 a viewer is given at once take 2.4 s between two
    # polls, more than twice the heartbeat timeout; 6 s of work in all.
    hub = start_hub(
        ("recorder",),
        extra_args=["--heartbeat-timeout", "1", "--hang-restart", "30"],
        viewer_options={"recorder": {"outdir": str(tmp_path / "rec"), "delay_s": 0.15}},
    )
    hub.wait_viewers(timeout_s=60)
    states = set()
    with StreamingBackend(hub=hub) as backend:
        for i in range(40):
            backend.save(np.full((16, 16), i, np.uint16), "", channel=1, z_index=i + 1)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            viewer = hub.status()["viewers"]["recorder"]
            states.add(viewer["state"])
            if viewer.get("shown", 0) >= 40:
                break
            time.sleep(0.1)
    assert viewer["shown"] == 40 and states == {"running"}
    log = (tmp_path / "hub.log").read_text()
    assert "hung" not in log and " ERROR " not in log
    assert not any(noise in log for noise in KNOWN_NOISE), log


def test_napari_without_a_display_fails_once_and_names_the_fix(start_hub, tmp_path):
    env = {"DISPLAY": "", "WAYLAND_DISPLAY": "", "QT_QPA_PLATFORM": ""}
    hub = start_hub(("napari",), env=env)
    status = wait_for(
        lambda: (s := hub.status()["viewers"]["napari"])["state"] == "failed" and s, 60
    )
    assert status["restarts"] == 0  # not six tries
    assert "xvfb-run" in status["last_error"] and "--headless" in status["last_error"]
    out, _ = _hub("status", "--endpoint", hub.ingest)
    assert "xvfb-run" in out.stdout


def test_fiji_without_a_display_runs_headless_and_status_says_so(start_hub, tmp_path):
    hub = start_hub(("fiji",), env={"DISPLAY": ""})
    hub.wait_viewers(timeout_s=120)
    with StreamingBackend(hub=hub) as backend:
        backend.save(np.ones((8, 8), np.uint16), "", channel=1)
    status = hub.wait_viewers(n_items=1, timeout_s=60)
    wait_for(lambda: hub.status()["viewers"]["fiji"].get("headless") is True, 10)
    out, _ = _hub("status", "--endpoint", hub.ingest)
    assert [line for line in out.stdout.splitlines() if line.startswith("fiji")][0].split()[
        2
    ] == "headless"
    assert status["viewers"]["fiji"]["state"] == "running"
    log = (tmp_path / "hub.log").read_text()
    assert "Fiji runs headless" in log and "Fetching zulu" not in log


def test_verbose_passes_on_to_viewers(tmp_path):
    env = {**os.environ}
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub", "-v", "--port", str(port), "--viewers", "recorder"],
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("recording to" in x for x in lines):
            lines.append(proc.stderr.readline())
        assert any("recorder INFO" in x and "recording to" in x for x in lines)
        _hub("stop", "--port", str(port))
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

