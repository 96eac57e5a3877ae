"""Shared fixtures: real hub processes with real viewer processes, and leak checks."""

from __future__ import annotations

import json
import os
import random
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from contract import shm
from hub.launcher import HubHandle, launch

FIXTURES = Path(__file__).parent / "fixtures"
_PROCESS_TESTS = ("integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that start processes are ``e2e``: ``pytest -m "not e2e"`` is the fast loop."""
    for item in items:
        if any(part in _PROCESS_TESTS for part in Path(str(item.fspath)).parts[-3:-1]):
            item.add_marker(pytest.mark.e2e)


def read_received(outdir: Path) -> list[dict[str, Any]]:
    """The recorder's log lines (items and clears), in arrival order."""
    path = Path(outdir) / "received.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(predicate: Callable[[], Any], timeout_s: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or predicate}")
        time.sleep(0.05)


def free_port() -> int:
    """A port free on loopback now, with the next one free too (a hub's viewer port is its
    port + 1), for tests that start or restart a hub on a port they choose.

    Chosen below Linux's ephemeral range (32768-60999): a port the kernel handed out for a
    bind to 0 can be taken again by any outgoing connection before the hub binds it.
    """
    for _ in range(200):
        port = random.randrange(20000, 32000, 2)
        if all(_bindable(p) for p in (port, port + 1)):
            return port
    raise RuntimeError("no two free ports in 20000-32000 on loopback")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


#: Lines a user saw on every start and could do nothing about (issue #17): none may come back.
KNOWN_NOISE = (
    "Fetching zulu",
    "Using system Java",
    "OpenGL_accelerate",
    "XDG_RUNTIME_DIR",
    "qt.qpa.theme",
    "System theme detection",
    "QStandardPaths",
    "Traceback",
)


def hub_segments(pid: int) -> list[str]:
    return [n for n in shm.list_ours() if (p := shm.parse_name(n)) and p.hub_pid == pid]


def _hub_starter(folder: Path) -> tuple[Callable[..., HubHandle], Callable[[], None]]:
    """A function that starts hubs (recorder output under ``folder``) and one that stops them."""
    handles: list[HubHandle] = []

    def _start(
        viewers: tuple[str, ...] = ("recorder",),
        *,
        env: dict | None = None,
        viewer_options: dict | None = None,
        **kw: Any,
    ) -> HubHandle:
        options = {"recorder": {"outdir": str(folder / "recorder")}}
        options.update(viewer_options or {})
        handle = launch(
            list(viewers), viewer_options=options, env=env, log_file=folder / "hub.log", **kw
        )
        handles.append(handle)
        return handle

    def _stop_all() -> None:
        for handle in handles:
            if handle.process and handle.process.poll() is None:
                handle.stop()
            if handle.pid:
                wait_for(lambda h=handle: not hub_segments(h.pid), 10, "hub segments to go")

    return _start, _stop_all


@pytest.fixture
def start_hub(tmp_path: Path) -> Iterator[Callable[..., HubHandle]]:
    """Start hubs with viewers whose recorder output goes under tmp_path; stops them after."""
    start, stop_all = _hub_starter(tmp_path)
    yield start
    stop_all()


@pytest.fixture(scope="module")
def start_module_hub(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., HubHandle]]:
    """Like ``start_hub``, for hubs one module's tests share (a hub and its viewers take
    seconds to start on 2 cores: tests that only read or add to its scene share one)."""
    start, stop_all = _hub_starter(tmp_path_factory.mktemp("module-hub"))
    yield start
    stop_all()


@pytest.fixture(scope="session", autouse=True)
def no_leaked_segments() -> Iterator[None]:
    """After the whole suite, nothing with the hub prefix may remain in /dev/shm."""
    yield
    time.sleep(0.5)
    leftover = [n for n in shm.list_ours() if (p := shm.parse_name(n)) and not _alive(p.hub_pid)]
    assert not leftover, f"leaked shared-memory segments: {leftover[:10]}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def thirdparty_env() -> dict[str, str]:
    """PYTHONPATH that makes the test package's entry point visible, as if pip-installed."""
    path = str(FIXTURES / "thirdparty")
    existing = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": f"{path}{os.pathsep}{existing}" if existing else path}
