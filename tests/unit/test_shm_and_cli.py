from __future__ import annotations

import os
import subprocess
import sys

import pytest

from contract import shm
from hub.cli import parse_size


@pytest.mark.parametrize(
    "name",
    ["../etc/passwd", "viewerhub-1-2/../x", "viewerhub-x-1", "psm_1234", "viewerhub-12-p-3", ""],
)
def test_only_exact_segment_names_parse(name):
    assert shm.parse_name(name) is None


def test_sweep_removes_segments_of_dead_hubs_and_producers():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leaked = [
        shm.hub_segment_name(dead.pid, 1),
        shm.producer_segment_name(os.getpid(), dead.pid, 1),
    ]
    live = shm.producer_segment_name(os.getpid(), os.getpid(), 2)
    for name in [*leaked, live]:
        shm.create(name, 16).close()
    try:
        removed = shm.sweep(current_hub_pid=os.getpid())
        assert set(leaked) <= set(removed) and live not in removed
        assert live in shm.list_ours()
    finally:
        for name in [*leaked, live]:
            shm.unlink(name)


@pytest.mark.parametrize(
    ("text", "size"),
    [("4GiB", 4 * 1024**3), ("512M", 512 * 1024**2), ("1000", 1000), ("1.5kb", 1536)],
)
def test_sizes_parse(text, size):
    assert parse_size(text) == size


def test_unknown_viewer_name_lists_installed_ones():
    out = subprocess.run(
        [sys.executable, "-m", "hub.cli", "--viewers", "recorder,nope"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "unknown viewer(s) nope" in out.stderr and "recorder" in out.stderr


def test_hub_viewers_lists_the_recorder():
    out = subprocess.run(
        [sys.executable, "-m", "hub.cli", "viewers"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0 and "recorder" in out.stdout
