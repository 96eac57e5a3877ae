"""The benchmark scripts still run end to end and produce numbers (not a speed test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)
def test_quick_benchmarks_run_and_write_a_report(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    results = json.loads((tmp_path / "benchmarks.json").read_text())
    assert results["hub"]["ingest"][0]["gb_per_s"] > 0
    assert results["hub"]["latency"]["p50_ms"] > 0
    assert results["napari"]["polygons_s"] > 0
    assert results["fiji"]["rois"] > 0
    assert results["openhcs"]["rows"][0]["speedup"] > 0
    report = (tmp_path / "benchmarks.md").read_text()
    assert "## OpenHCS sender today vs the hub" in report
    assert all((tmp_path / name).exists() for name in ("bench_ingest.png", "bench_scale.png"))
