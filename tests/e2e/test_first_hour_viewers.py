"""A newcomer's first hour with real napari and ImageJ under Xvfb: a quiet start and a quiet
burst (no false "hung"), the README's pipeline example without an error in any viewer, and
`hub screenshot --window` picking a Fiji window."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backends import StreamingBackend
from tests.conftest import KNOWN_NOISE

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def test_napari_and_fiji_start_quietly_and_a_burst_is_not_called_hung(
    start_hub, tmp_path, monkeypatch
):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    hub = start_hub(("napari", "fiji"))
    hub.wait_viewers(timeout_s=180)
    with StreamingBackend(hub=hub) as backend:  # 100 planes at once, as a pipeline's burst
        planes = [np.full((256, 256), z, np.uint16) for z in range(100)]
        comps = [{"well": "A01", "channel": 1, "z_index": z + 1} for z in range(100)]
        backend.save_batch(planes, [""] * 100, components=comps)
    status = hub.wait_viewers(n_items=100, timeout_s=180)
    log = (tmp_path / "hub.log").read_text()
    assert not [n for n in KNOWN_NOISE if n in log], log
    assert "hung" not in log and " ERROR " not in log, log
    assert all(v["restarts"] == 0 for v in status["viewers"].values())
    # what remains of a start: nothing at all (the ready file replaces the start line here)
    assert log.strip() == "", log


def _readme_example() -> str:
    text = README.read_text()
    section = text.split("## Use it from a pipeline", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readmes_pipeline_example_shows_without_errors_in_every_viewer(tmp_path):
    code = _readme_example()
    assert 'viewers=["recorder"]' in code and "handle.stop()" in code
    code = code.replace('viewers=["recorder"]', 'viewers=["recorder", "napari", "fiji"]')
    code = code.replace(
        "handle.stop()",
        "import json\n"
        "status = handle.wait_viewers(n_items=3, timeout_s=180)\n"
        "print(json.dumps(status['viewers']))\n"
        "handle.stop()",
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-3000:]
    import json

    viewers = json.loads(out.stdout.strip().splitlines()[-1])
    for name, viewer in viewers.items():
        assert viewer["shown"] == 3 and viewer["errors"] == 0, (name, viewer)
        assert not viewer["last_error"], (name, viewer)
    assert (tmp_path / "viewerhub-recorder" / "received.jsonl").exists()


def test_hub_screenshot_window_picks_a_fiji_window(start_hub, tmp_path):
    hub = start_hub(("fiji",))
    hub.wait_viewers(timeout_s=120)
    config = {"component_modes": {"well": "window", "channel": "channel", "z_index": "slice"}}
    ramp = np.tile(np.arange(64, dtype=np.uint16) * 50, (48, 1))
    with StreamingBackend(hub=hub, display_config=config) as backend:
        backend.save(ramp, "", well="A01", channel=1, z_index=1)
        backend.save(ramp.T.copy()[:48, :48], "", well="B02", channel=1, z_index=1)
    hub.wait_viewers(n_items=2, timeout_s=60)

    def shot(name: str, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "hub", "screenshot", "fiji", str(tmp_path / name)]
            + ["--endpoint", hub.ingest, *extra],
            capture_output=True,
            text=True,
            timeout=60,
        )

    import imageio.v3 as iio

    assert shot("current.png").returncode == 0  # the window shown last: B02
    picked = shot("a01.png", "--window", "well=A01")
    assert picked.returncode == 0, picked.stderr
    current, a01 = iio.imread(tmp_path / "current.png"), iio.imread(tmp_path / "a01.png")
    assert current.shape[:2] == (48, 48) and a01.shape[:2] == (48, 64)
    wrong = shot("none.png", "--window", "well=Z99")
    assert wrong.returncode == 2 and "well=A01" in wrong.stderr  # lists the windows there are
