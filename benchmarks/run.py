"""Run every benchmark on this machine and rewrite docs/benchmarks.md with tables and plots.

    python -m benchmarks.run            # full run (about 10 minutes on 2 cores)
    python -m benchmarks.run --quick    # small sizes, seconds; used by a CI smoke test

Each figure is printed next to the machine's own limit measured in the same run (memcpy,
fresh-page copy). napari and ImageJ run in their own processes under a private Xvfb.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import bench_hub, bench_openhcs
from benchmarks.common import machine
from hub.demo import start_xvfb

ROOT = Path(__file__).resolve().parents[1]


def _subprocess_json(module: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=ROOT,
        timeout=1800,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_all(quick: bool) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "quick": quick}
    flags = ["--quick"] if quick else []
    xvfb = start_xvfb()
    env = {"DISPLAY": xvfb[1]} if xvfb else {"QT_QPA_PLATFORM": "offscreen"}
    try:
        started = time.perf_counter()
        results["hub"] = bench_hub.run(quick)
        results["napari"] = _subprocess_json("benchmarks.bench_napari", flags, env)
        napari_costs = results["napari"]["per_plane_ms"]  # JSON made the keys strings
        results["napari"]["per_plane_ms"] = {int(k): v for k, v in napari_costs.items()}
        results["fiji"] = _subprocess_json("benchmarks.bench_fiji", flags, env)
        results["fiji_pretouched"] = _subprocess_json(
            "benchmarks.bench_fiji", [*flags, "--heap", "4g"], env
        )
        results["openhcs"] = bench_openhcs.run(quick)
        results["seconds"] = time.perf_counter() - started
    finally:
        if xvfb:
            xvfb[0].terminate()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for benchmarks.md and plots (default docs/, or a temp folder with --quick)",
    )
    args = parser.parse_args(argv)
    out = args.out or (
        Path(os.environ.get("TMPDIR", "/tmp")) / "viewerhub-bench-quick"
        if args.quick
        else ROOT / "docs"
    )
    out.mkdir(parents=True, exist_ok=True)
    results = run_all(args.quick)
    (out / "benchmarks.json").write_text(json.dumps(results, indent=1, default=float))
    from benchmarks.report import write_report

    path = write_report(results, out)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
