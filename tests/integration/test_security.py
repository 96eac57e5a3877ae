"""Loopback by default; anything else needs CURVE keys; unauthenticated clients get nothing."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from backends import StreamingBackend
from contract.connection import HubConnection
from contract.keys import make_keys
from hub import HubTimeoutError


def test_a_hub_refuses_to_listen_beyond_loopback_without_keys():
    out = subprocess.run(
        [sys.executable, "-m", "hub.cli", "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "without authentication" in out.stderr and "hub keys" in out.stderr


def test_default_hub_binds_loopback_only(start_hub):
    hub = start_hub(viewers=())
    assert hub.ingest.startswith("tcp://127.0.0.1:")
    assert hub.viewer_endpoint.startswith("tcp://127.0.0.1:")


@pytest.fixture
def keyed_hub(start_hub, tmp_path):
    keys = tmp_path / "keys"
    make_keys(keys)
    return start_hub(viewers=(), keys_dir=keys), keys


def test_clients_with_keys_stream_and_control(keyed_hub):
    hub, keys = keyed_hub
    with StreamingBackend(hub.ingest, keys_dir=keys, transport="frames") as backend:
        backend.save(np.ones((8, 8), np.uint16), "", channel=1)
    status = HubConnection(hub.ingest, keys_dir=keys).control("status")["status"]
    assert status["hub"]["items"] == 1


def test_clients_without_keys_or_with_other_keys_get_nothing(keyed_hub, tmp_path):
    hub, _ = keyed_hub
    with pytest.raises(HubTimeoutError):
        HubConnection(hub.ingest, timeout_s=1.5).control("clear")  # control verbs too
    strangers = tmp_path / "strangers"
    make_keys(strangers)  # a valid keypair the hub never authorised
    with pytest.raises(HubTimeoutError):
        HubConnection(hub.ingest, timeout_s=1.5, keys_dir=strangers).control("ping")
    assert hub.status()["hub"]["scene"] == 1  # the refused clear never happened


def test_hub_keys_command_writes_a_usable_directory(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "hub.cli", "keys", "--dir", str(tmp_path / "k")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0
    for name in (
        "server.key",
        "server.key_secret",
        "client.key",
        "client.key_secret",
        "authorized/client.key",
    ):
        assert (tmp_path / "k" / name).exists(), name


NOBODY = 65534


def _nobody_client(hub_ingest: str, viewer_endpoint: str, server_public: bytes, out) -> None:
    """Runs in a fresh process as another uid: try every way in; put what happened in ``out``.

    Everything is imported while still root (the interpreter lives under /root); then the
    process drops to ``nobody`` and tries the hub's sockets.
    """
    import os
    import tempfile
    from pathlib import Path

    import zmq

    from contract.keys import SecurityError, client_curve

    result: dict = {}
    try:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        try:  # the owner's keys: unreadable
            HubConnection(hub_ingest, timeout_s=1.0).control("status")
            result["default_keys"] = "answered"
        except SecurityError:
            result["default_keys"] = "refused"
        own = Path(tempfile.mkdtemp())
        make_keys(own)  # a valid keypair of its own, with the hub's public key
        (own / "server.key").write_bytes(server_public)
        for verb in ("status", "clear", "shutdown"):
            conn = HubConnection(hub_ingest, timeout_s=1.0, keys_dir=own)
            try:
                conn.control(verb)
                result[verb] = "answered"
            except HubTimeoutError:
                result[verb] = "timeout"
            finally:
                conn.close()
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        client_curve(sock, own)
        sock.connect(viewer_endpoint)
        sock.send(b'{"kind":"hello","name":"stranger","credits":4,"pid":1}')
        result["viewer_port"] = "answered" if sock.poll(1500) else "timeout"
        sock.close()
    except Exception as exc:  # reported to the parent
        result["error"] = repr(exc)
    out.put(result)


def _as_nobody(hub_ingest: str, viewer_endpoint: str, server_public: bytes) -> dict:
    """Run :func:`_nobody_client` in a fresh single-threaded process (forkserver), not a fork
    of this many-threaded test process (a fork can inherit a lock held by another thread)."""
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    out = ctx.Queue()
    child = ctx.Process(
        target=_nobody_client, args=(hub_ingest, viewer_endpoint, server_public, out)
    )
    child.start()
    try:
        return out.get(timeout=60)
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()


def test_another_local_user_gets_nothing_from_a_loopback_hub(start_hub):
    import os

    from contract.keys import keys_dir_for

    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")
    hub = start_hub(viewers=())
    with StreamingBackend(hub=hub) as backend:
        backend.save(np.ones((8, 8), np.uint16), "", channel=1)
    server_public = (keys_dir_for() / "server.key").read_bytes()
    result = _as_nobody(hub.ingest, hub.viewer_endpoint, server_public)
    assert result == {
        "default_keys": "refused",
        "status": "timeout",
        "clear": "timeout",
        "shutdown": "timeout",
        "viewer_port": "timeout",
    }
    status = hub.status()
    assert status["hub"]["items"] == 1 and "stranger" not in status["viewers"]
