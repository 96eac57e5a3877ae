"""The operating system's name for a hub thread, so per-thread tools can tell them apart.

Why: Python 3.11 names threads only inside Python; ``top -H``, ``/proc/<pid>/task/*/comm``
and the ingest benchmark (which splits the hub's CPU time per plane between its loop, the
store writer and the rest) see every thread as ``python``. Linux only; a no-op elsewhere.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

_PR_SET_NAME = 15


def name_this_thread(name: str) -> None:
    """Give the calling thread ``name`` (at most 15 bytes) in /proc/self/task/<tid>/comm."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError) as exc:  # a libc without prctl: names are a nicety
        log.debug("could not name thread %s: %s", name, exc)
