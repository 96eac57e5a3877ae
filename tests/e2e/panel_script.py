"""Run the HubPanel under whichever Qt binding QT_API names (used by test_panel_bindings)."""

from __future__ import annotations

import sys
import time

import numpy as np


def main(outdir: str, png: str) -> int:
    from qtpy import API_NAME
    from qtpy.QtWidgets import QApplication

    from backends import StreamingBackend
    from hub.launcher import HubLauncher
    from hub.qt import HubPanel

    app = QApplication.instance() or QApplication([])
    launcher = HubLauncher(viewer_options={"recorder": {"outdir": outdir}})
    panel = HubPanel(launcher, refresh_ms=100)
    for name, box in panel.checkboxes.items():
        box.setChecked(name == "recorder")
    panel.resize(700, 300)
    panel.show()
    panel.start()
    try:
        launcher.handle.wait_viewers(timeout_s=60)
        with StreamingBackend(hub=launcher.handle) as backend:
            for z in range(3):
                backend.save(np.zeros((8, 8), np.uint8), "", channel=1, z_index=z)
        launcher.handle.wait_viewers(n_items=3, timeout_s=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            app.processEvents()
            if panel.table.rowCount() and panel.table.item(0, 2).text() == "3":
                break
            time.sleep(0.05)
        assert panel.table.item(0, 1).text() == "running", panel.table.item(0, 1).text()
        assert panel.table.item(0, 2).text() == "3"
        assert panel.grab().save(png)
    finally:
        panel.stop()
    print(f"ok {API_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
