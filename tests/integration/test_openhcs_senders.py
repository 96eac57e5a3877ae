"""Both polystore lines as real senders, each in its own process, get their acks from the hub.

polystore 0.2.19 (pinned in the test extra) acks through its fixed ack port; polystore 0.6.3
(with zmqruntime 0.6.5) names a return route per item and accepts only routed acks that echo
it. 0.6.3 cannot live next to 0.2.19, so it runs in a venv this module makes once (on top of
this Python's packages, see tests/helpers/venvs.py) under ~/.cache/viewerhub/test-venvs.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.venvs import make_venv

pytest.importorskip("polystore")

HELPER = Path(__file__).resolve().parents[1] / "helpers" / "openhcs_acks.py"
NEW_LINE = ("polystore==0.6.3", "zmqruntime==0.6.5")
VENV_ROOT = Path(
    os.environ.get("VIEWERHUB_TEST_VENVS", Path.home() / ".cache" / "viewerhub" / "test-venvs")
)


@pytest.fixture(scope="module")
def polystore_06() -> Path:
    """A venv's python with polystore 0.6.3, made on first use; skipped if pip cannot."""
    # one venv per interpreter it sits on (it inherits that interpreter's packages)
    root = VENV_ROOT / f"polystore-0.6.3-{hashlib.sha1(sys.prefix.encode()).hexdigest()[:8]}"
    python = root / "bin" / "python"
    probe = [str(python), "-c", "import polystore, zmqruntime.ack_listener"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    make_venv(root)
    out = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *NEW_LINE],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        pytest.skip(f"cannot install {' '.join(NEW_LINE)}: {out.stderr[-500:]}")
    return python


def _hub(start_hub, ack_port: int):
    base = random.randrange(20000, 29000, 20)
    hub = start_hub(
        extra_args=[
            "--openhcs",
            "--openhcs-ports",
            f"napari={base},fiji={base + 10}",
            "--openhcs-ack-port",
            str(ack_port),
        ]
    )
    hub.wait_viewers(timeout_s=60)
    return hub, {"napari": base, "fiji": base + 10}


def _send(python: Path | str, targets: str, transport: str, **kw: int) -> dict:
    args = [str(python), str(HELPER), "--targets", targets, "--transport", transport]
    for key, value in kw.items():
        args += [f"--{key}", str(value)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("transport", ["ipc", "tcp"])
def test_polystore_0_6_gets_routed_acks_for_every_item(start_hub, polystore_06, transport):
    hub, ports = _hub(start_hub, ack_port=7555)
    result = _send(polystore_06, f"napari={ports['napari']}", transport, planes=3)
    assert result["polystore"] == "0.6.3"
    assert result["sent"] == 3 and result["acks"] == 3 and result["unique_acks"] == 3, result


@pytest.mark.parametrize("transport", ["ipc", "tcp"])
def test_polystore_0_2_still_gets_acks_on_its_ack_port(start_hub, transport):
    hub, ports = _hub(start_hub, ack_port=7555)  # 0.2.x listens on its fixed 7555
    result = _send(sys.executable, f"fiji={ports['fiji']}", transport, planes=3)
    assert result["polystore"] == "0.2.19"
    assert result["sent"] == 3 and result["acks"] == 3 and result["unique_acks"] == 3, result


def test_one_target_serves_every_viewer_in_half_the_senders_time(start_hub, polystore_06):
    """What docs/openhcs.md states: enable one streaming target, not one per viewer."""
    hub, ports = _hub(start_hub, ack_port=7555)
    one = _send(polystore_06, f"napari={ports['napari']}", "ipc", batches=10, planes=4)
    both = _send(
        polystore_06, f"napari={ports['napari']},fiji={ports['fiji']}", "ipc", batches=10, planes=4
    )
    print(f"sender time for 10 batches: one target {one['send_s']} s, two {both['send_s']} s")
    assert one["acks"] == one["sent"] == 40 and both["acks"] == both["sent"] == 80
    assert both["send_s"] > 1.6 * one["send_s"]
    status = hub.status()
    assert status["viewers"]["recorder"]["shown"] >= 40  # each plane once per target batch
