"""Run every benchmark on this machine and rewrite docs/benchmarks.md with tables and plots.

    python -m benchmarks.run                     # everything (long: whole plates)
    python -m benchmarks.run --quick             # small sizes, seconds; a CI smoke test
    python -m benchmarks.run --only plate_napari # one part, merged into the last results

``core`` is ingest, latency, scale, the viewers' own costs and OpenHCS; the other parts are
the modules in :mod:`benchmarks.registry`.

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

from benchmarks import bench_hub, bench_openhcs, registry
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


def _xvfb_env() -> tuple[Any, dict[str, str]]:
    xvfb = start_xvfb()
    return xvfb, ({"DISPLAY": xvfb[1]} if xvfb else {"QT_QPA_PLATFORM": "offscreen"})


def run_core(quick: bool, env: dict[str, str]) -> dict[str, Any]:
    flags = ["--quick"] if quick else []
    results: dict[str, Any] = {"hub": bench_hub.run(quick)}
    results["napari"] = _subprocess_json("benchmarks.bench_napari", flags, env)
    napari_costs = results["napari"]["per_plane_ms"]  # JSON made the keys strings
    results["napari"]["per_plane_ms"] = {int(k): v for k, v in napari_costs.items()}
    results["fiji"] = _subprocess_json("benchmarks.bench_fiji", flags, env)
    results["openhcs"] = bench_openhcs.run(quick)
    return results


def run_module(name: str, quick: bool, env: dict[str, str]) -> dict[str, Any] | None:
    module_name, own_process = registry.MODULES[name]
    module = registry.load(name)
    if module is None:
        return None
    if own_process:
        result = _subprocess_json(module_name, ["--quick"] if quick else [], env)
    else:
        result = module.run(quick)
    result["measured"] = machine()["date"]  # parts run with --only keep their own date
    return result


def run_all(quick: bool, only: list[str] | None = None) -> dict[str, Any]:
    """Run ``only`` these parts (``core`` or registry names), or everything."""
    parts = only or ["core", *registry.MODULES]
    results: dict[str, Any] = {"machine": machine(), "quick": quick}
    xvfb, env = _xvfb_env()
    try:
        started = time.perf_counter()
        for part in parts:
            if part == "core":
                results.update(run_core(quick, env))
                results["seconds"] = time.perf_counter() - started
            elif (result := run_module(part, quick, env)) is not None:
                results[part] = result
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
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated parts to run (core, " + ", ".join(registry.MODULES) + "); "
        "their results replace those parts in the existing benchmarks.json",
    )
    args = parser.parse_args(argv)
    only = args.only.split(",") if args.only else None
    unknown = [p for p in only or [] if p != "core" and p not in registry.MODULES]
    if unknown:
        parser.error(f"unknown part(s) {unknown}")
    out = args.out or (
        Path(os.environ.get("TMPDIR", "/tmp")) / "viewerhub-bench-quick"
        if args.quick
        else ROOT / "docs"
    )
    out.mkdir(parents=True, exist_ok=True)
    results = run_all(args.quick, only)
    previous = out / "benchmarks.json"
    if only and previous.exists():
        merged = json.loads(previous.read_text())
        if "napari" in merged:
            costs = merged["napari"]["per_plane_ms"]
            merged["napari"]["per_plane_ms"] = {int(k): v for k, v in costs.items()}
        merged.update(results)  # machine and date of this run; other parts as they were
        results = merged
    previous.write_text(json.dumps(results, indent=1, default=float))
    from benchmarks.report import write_report

    path = write_report(results, out)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
