"""docs/plugins.md as written, in a venv of its own: the package, its install, its run step.

The venv sees this interpreter's packages (viewerhub and its dependencies) the way a user's
venv with viewerhub installed would; the guide's plugin is installed into it alone, so only
that venv's Python finds the plugin, which is the trap the guide's run step avoids.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backends import StreamingBackend
from hub import connect
from tests.conftest import free_port
from tests.helpers.venvs import make_venv

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), re.S)




@pytest.fixture(scope="module")
def guide_venv(tmp_path_factory) -> Path:
    """A venv with the guide's package installed, on top of this Python's packages."""
    root = tmp_path_factory.mktemp("guide")
    package = root / "myviewer"
    package.mkdir()
    (package / "pyproject.toml").write_text(_blocks("toml")[0])
    (package / "myviewer.py").write_text(_blocks("python")[0])
    python = make_venv(root / "venv")
    out = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps"]
        + ["--disable-pip-version-check", "-e", str(package)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return python


def test_the_guides_run_step_finds_the_plugin_in_its_venv(guide_venv):
    run_step = next(b for b in _blocks("bash") if "python -m hub" in b)
    assert "python -m hub --viewers myviewer" in run_step
    listed = subprocess.run(
        [str(guide_venv), "-m", "hub", "viewers"], capture_output=True, text=True, timeout=60
    )
    assert "myviewer" in listed.stdout, listed.stderr
    # Another installation's hub (here: this interpreter's) does not see the plugin, and says
    # where it looked instead of a bare "unknown viewer".
    other = subprocess.run(
        [sys.executable, "-m", "hub", "--viewers", "myviewer", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 2 and "unknown viewer(s) myviewer" in other.stderr
    assert sys.executable in other.stderr and "python -m hub" in other.stderr


def test_the_guides_viewer_runs_and_answers_screenshots(guide_venv, tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [str(guide_venv), "-m", "hub", "--viewers", "myviewer", "--port", str(port)],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(guide_venv), "-m", "hub", *args, "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    try:
        assert "showing in myviewer" in proc.stderr.readline()
        handle = connect(f"tcp://127.0.0.1:{port}")
        handle.wait_viewers(timeout_s=60)
        empty = cli("screenshot", "myviewer", str(tmp_path / "empty.png"))
        assert empty.returncode == 2
        assert "nothing to screenshot" in empty.stderr and "StopIteration" not in empty.stderr
        with StreamingBackend(hub=handle) as backend:
            for z in range(3):
                backend.save(np.full((32, 32), 10 * z, np.uint16), "", channel=1, z_index=z + 1)
        handle.wait_viewers(n_items=3, timeout_s=60)
        shot = cli("screenshot", "myviewer", str(tmp_path / "max.png"))
        assert shot.returncode == 0, shot.stderr
        assert (tmp_path / "max.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert cli("stop").returncode == 0
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
