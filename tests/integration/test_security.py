"""Loopback by default; anything else needs CURVE keys; unauthenticated clients get nothing."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from backends import StreamingBackend
from hub import HubTimeoutError
from hub.connection import HubConnection
from hub.security import make_keys


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
