"""The Qt panel starts a real hub with the recorder, shows live status and stops it."""

from __future__ import annotations

import numpy as np
import pytest

from backends import StreamingBackend
from hub.launcher import HubLauncher
from hub.qt import HubPanel

pytestmark = pytest.mark.e2e


def test_panel_starts_watches_clears_and_stops_a_hub(qtbot, tmp_path):
    launcher = HubLauncher(viewer_options={"recorder": {"outdir": str(tmp_path / "rec")}})
    panel = HubPanel(launcher, refresh_ms=100)
    qtbot.addWidget(panel)
    panel.resize(760, 320)
    panel.show()
    assert "recorder" in panel.checkboxes and "napari" in panel.checkboxes
    for name, box in panel.checkboxes.items():
        box.setChecked(name == "recorder")
    with qtbot.waitSignal(panel.started, timeout=30_000):
        panel.start_button.click()
    assert not panel.checkboxes["recorder"].isEnabled()

    def recorder_row():
        rows = {panel.table.item(r, 0).text(): r for r in range(panel.table.rowCount())}
        return rows.get("recorder")

    qtbot.waitUntil(
        lambda: (
            recorder_row() is not None and panel.table.item(recorder_row(), 1).text() == "running"
        ),
        timeout=30_000,
    )
    with StreamingBackend(hub=launcher.handle) as backend:
        for z in range(5):
            backend.save(np.zeros((16, 16), np.uint16), "", channel=1, z_index=z)
    qtbot.waitUntil(lambda: panel.table.item(recorder_row(), 2).text() == "5", timeout=30_000)
    assert "5 items" in panel.summary.text()
    shot = tmp_path / "panel.png"
    assert panel.grab().save(str(shot))
    assert shot.stat().st_size > 2000

    panel.clear_button.click()
    qtbot.waitUntil(lambda: "0 items" in panel.summary.text(), timeout=10_000)
    process = launcher.handle.process
    with qtbot.waitSignal(panel.stopped, timeout=30_000):
        panel.start_button.click()
    assert process.poll() is not None and not launcher.running
    assert panel.start_button.text() == "Start hub"
