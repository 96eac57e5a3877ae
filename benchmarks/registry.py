"""The benchmark modules beside the core set, by the name ``--only`` takes.

Each module has ``run(quick) -> dict`` (in-process) or, when it must own a GUI process, a
``__main__`` that prints its result as JSON on its last line (``own_process``); and
``section(result, out) -> str``, its part of docs/benchmarks.md (it may write plots into
``out``), optionally ``headlines(result) -> list[list]`` rows for the headline table
(what, result, target, met). A module that is not there yet is skipped.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: name -> (module, own_process: run as ``python -m module`` under the benchmark's Xvfb)
MODULES: dict[str, tuple[str, bool]] = {
    "fanout": ("benchmarks.bench_fanout", False),
    "store": ("benchmarks.bench_store", False),
    "plate_napari": ("benchmarks.bench_plate_napari", True),
    "plate_fiji": ("benchmarks.bench_plate_fiji", True),
    "remote": ("benchmarks.bench_remote", False),
}


def load(name: str) -> ModuleType | None:
    module_name = MODULES[name][0]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
