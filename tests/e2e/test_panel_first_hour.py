"""The Qt panel as a newcomer meets it: the endpoint shown (a fixed port `hub status` finds),
a Restart button per viewer, checkboxes that follow each viewer's state, and the log in a file
and on screen instead of the host application's stdout."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hub.launcher import HubLauncher
from hub.qt import HubPanel
from tests.conftest import free_port

pytestmark = pytest.mark.e2e




def test_panel_shows_endpoint_restarts_viewers_follows_states_and_keeps_logs_off_stdout(
    qtbot, tmp_path, capfd
):
    port = free_port()
    launcher = HubLauncher(
        port=port,
        log_file=tmp_path / "hub.log",
        viewer_options={"recorder": {"outdir": str(tmp_path / "rec")}},
        env={"DISPLAY": "", "WAYLAND_DISPLAY": "", "VIEWERHUB_VERBOSE": "1"},  # napari fails
    )
    panel = HubPanel(launcher, refresh_ms=100)
    qtbot.addWidget(panel)
    panel.show()
    for name, box in panel.checkboxes.items():
        box.setChecked(name in ("recorder", "napari"))
    with qtbot.waitSignal(panel.started, timeout=30_000):
        panel.start_button.click()
    assert f"tcp://127.0.0.1:{port}" in panel.endpoint_label.text()
    out = subprocess.run(
        [sys.executable, "-m", "hub", "status", "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0 and "recorder" in out.stdout

    def state(name: str) -> str | None:
        return panel._states.get(name)

    qtbot.waitUntil(lambda: state("recorder") == "running", timeout=60_000)
    qtbot.waitUntil(lambda: state("napari") == "failed", timeout=60_000)
    # a running viewer: checked and locked; a failed one: unchecked and free to try again
    assert panel.checkboxes["recorder"].isChecked()
    assert not panel.checkboxes["recorder"].isEnabled()
    assert not panel.checkboxes["napari"].isChecked()
    assert panel.checkboxes["napari"].isEnabled()
    assert not panel.checkboxes["fiji"].isEnabled()  # not part of this hub

    before = launcher.status()["viewers"]["recorder"]["pid"]
    panel.restart_buttons["recorder"].click()
    qtbot.waitUntil(
        lambda: (
            (v := launcher.status()["viewers"]["recorder"])["pid"] != before
            and v["state"] == "running"
        ),
        timeout=60_000,
    )
    panel.checkboxes["napari"].setChecked(True)  # a user asks for napari again
    qtbot.waitUntil(lambda: launcher.status()["viewers"]["napari"]["restarts"] == 1, timeout=30_000)

    qtbot.waitUntil(
        lambda: "viewer recorder connected" in panel.log_view.toPlainText(), timeout=30_000
    )
    assert panel.log_path == tmp_path / "hub.log"
    assert "xvfb-run" in panel.log_path.read_text()
    with qtbot.waitSignal(panel.stopped, timeout=30_000):
        panel.start_button.click()
    captured = capfd.readouterr()
    assert "hub" not in captured.out and "viewer recorder" not in captured.err
