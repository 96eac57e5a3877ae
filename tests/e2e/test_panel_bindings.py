"""The panel works with every Qt binding qtpy supports that is installed here."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
SCRIPT = Path(__file__).with_name("panel_script.py")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("api", "module"), [("pyqt5", "PyQt5"), ("pyqt6", "PyQt6"), ("pyside6", "PySide6")]
)
def test_panel_under_each_qt_binding(tmp_path, api, module):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    env = {**os.environ, "QT_API": api, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    png = tmp_path / f"panel-{api}.png"
    out = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "rec"), str(png)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith(f"ok {module}")
    assert png.stat().st_size > 1000
