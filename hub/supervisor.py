"""Viewer processes: start them, notice when they die or hang, restart them.

Each viewer runs ``python -m viewers.runner NAME ...`` in its own process. The supervisor
owns the ``Popen`` objects and the restart policy (at most ``max_restarts`` within
``restart_window_s``, then the viewer is marked failed and left alone so a crash loop cannot
eat the machine). Heartbeats arrive through the server, which calls :meth:`heartbeat`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from contract.defaults import TOKEN_ENV
from contract.keys import KEYS_ENV

log = logging.getLogger(__name__)

#: Seconds a viewer told to shut down for a user's restart may take before it is killed.
RESTART_GRACE_S = 5.0
#: Where a viewer that cannot start writes why (see ``viewers.runner.write_exit_note``).
EXIT_NOTE_ENV = "VIEWERHUB_EXIT_NOTE"


class ViewerState(str, Enum):
    STARTING = "starting"
    RUNNING = "running"
    HUNG = "hung"
    RESTARTING = "restarting"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass
class ViewerProcess:
    """One viewer instance: ``name`` is unique in the hub, ``plugin`` the registry name."""

    name: str
    plugin: str
    options: dict[str, Any]
    supervised: bool = True
    process: subprocess.Popen | None = None
    state: ViewerState = ViewerState.STARTING
    restarts: int = 0
    restart_times: list[float] = field(default_factory=list)
    last_heartbeat: float = 0.0
    started_at: float = 0.0
    hung_since: float | None = None
    last_exit: int | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    token: str = ""  # proves a hello comes from the process we started (new per start)
    restart_asked: float | None = None  # monotonic time of a user's `restart`
    last_error: str | None = None  # why the process last stopped, as it said (exit note)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else self.stats.get("pid")


class Supervisor:
    """Starts, watches and restarts viewer processes."""

    def __init__(
        self,
        viewer_endpoint: str,
        keys_dir: Path | None = None,
        heartbeat_timeout_s: float = 5.0,
        hang_restart_s: float = 30.0,
        start_timeout_s: float = 120.0,
        max_restarts: int = 5,
        restart_window_s: float = 60.0,
    ) -> None:
        self.viewer_endpoint = viewer_endpoint
        self.keys_dir = keys_dir
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.hang_restart_s = hang_restart_s
        self.start_timeout_s = start_timeout_s
        self.max_restarts = max_restarts
        self.restart_window_s = restart_window_s
        self.viewers: dict[str, ViewerProcess] = {}
        self._notes = Path(tempfile.mkdtemp(prefix="viewerhub-notes-"))

    def add(self, plugin: str, options: dict[str, Any] | None = None) -> ViewerProcess:
        """Register and start a viewer; a second instance of a plugin gets a ``-2`` suffix."""
        name, n = plugin, 1
        while name in self.viewers:
            n += 1
            name = f"{plugin}-{n}"
        viewer = ViewerProcess(name, plugin, dict(options or {}))
        self.viewers[name] = viewer
        self._spawn(viewer)
        return viewer

    def adopt_unsupervised(self, name: str, stats: dict[str, Any]) -> ViewerProcess:
        """A viewer started by someone else (a napari dock widget) connected by itself."""
        viewer = self.viewers.get(name)
        if viewer is None:
            viewer = ViewerProcess(name, stats.get("plugin", name), {}, supervised=False)
            self.viewers[name] = viewer
        elif viewer.state is ViewerState.STOPPED:  # it said bye before; it is back
            viewer.state = ViewerState.STARTING
        return viewer

    def _spawn(self, viewer: ViewerProcess) -> None:
        cmd = [
            sys.executable,
            "-m",
            "viewers.runner",
            viewer.plugin,
            "--hub",
            self.viewer_endpoint,
            "--name",
            viewer.name,
            "--hub-pid",
            str(os.getpid()),
            "--options",
            json.dumps(viewer.options),
        ]
        log.info("starting viewer %s: %s", viewer.name, " ".join(cmd[:4]))
        env = dict(os.environ)
        viewer.token = secrets.token_hex(16)
        env[TOKEN_ENV] = viewer.token
        if self.keys_dir is not None:  # the viewer authenticates with the hub's own keys
            env[KEYS_ENV] = str(self.keys_dir)
        env[EXIT_NOTE_ENV] = str(self._note_path(viewer))
        viewer.process = subprocess.Popen(cmd, start_new_session=True, env=env)
        viewer.state = ViewerState.STARTING
        viewer.started_at = time.monotonic()
        viewer.last_heartbeat = 0.0
        viewer.hung_since = None

    def _note_path(self, viewer: ViewerProcess) -> Path:
        return self._notes / f"{viewer.name}.json"

    def _read_exit_note(self, viewer: ViewerProcess) -> bool:
        """Take the viewer's own reason for stopping; False when it says a retry cannot help."""
        path = self._note_path(viewer)
        try:
            note = json.loads(path.read_text())
        except (OSError, ValueError):
            return True
        path.unlink(missing_ok=True)
        if isinstance(note, dict):
            viewer.last_error = str(note.get("error") or "")[:500] or None
            return note.get("retry") is not False
        return True

    def heartbeat(self, name: str, stats: dict[str, Any] | None = None) -> ViewerProcess | None:
        """Any message from a viewer proves it alive; heartbeats also bring its stats."""
        viewer = self.viewers.get(name)
        if viewer is None:
            return None
        viewer.last_heartbeat = time.monotonic()
        if stats is not None:
            viewer.stats = stats
        if viewer.state in (ViewerState.STARTING, ViewerState.HUNG, ViewerState.RESTARTING):
            if viewer.state is ViewerState.HUNG:
                log.warning("viewer %s responds again", name)
            viewer.state = ViewerState.RUNNING
            viewer.hung_since = None
        return viewer

    def check(self) -> list[tuple[str, str]]:
        """Look at every viewer; returns (name, why) of those that died or were killed."""
        gone: list[tuple[str, str]] = []
        forgotten: list[str] = []
        now = time.monotonic()
        for viewer in self.viewers.values():
            if viewer.restart_asked is not None:
                self._restart_if_gone(viewer, now)
                continue
            if viewer.state in (ViewerState.FAILED, ViewerState.STOPPED):
                continue
            if viewer.supervised and viewer.process and viewer.process.poll() is not None:
                viewer.last_exit = viewer.process.returncode
                retry = self._read_exit_note(viewer)
                why = viewer.last_error or f"the viewer exited with code {viewer.last_exit}"
                gone.append((viewer.name, why))
                if not retry:
                    log.error("viewer %s cannot start: %s", viewer.name, why)
                    viewer.state = ViewerState.FAILED
                    continue
                log.error("viewer %s exited with code %s", viewer.name, viewer.last_exit)
                self._restart(viewer)
                continue
            silent = now - (viewer.last_heartbeat or viewer.started_at)
            limit = (
                self.start_timeout_s
                if viewer.state is ViewerState.STARTING
                else self.heartbeat_timeout_s
            )
            if not viewer.supervised and silent > self.hang_restart_s:
                log.warning(
                    "viewer %s (not started by the hub) went silent: forgotten", viewer.name
                )
                forgotten.append(viewer.name)
                gone.append((viewer.name, "went silent"))
                continue
            if silent > limit and viewer.state is not ViewerState.HUNG:
                log.warning(
                    "viewer %s sent no heartbeat for %.1f s: hung (restarted after %.0f s more)",
                    viewer.name,
                    silent,
                    self.hang_restart_s,
                )
                viewer.state = ViewerState.HUNG
                viewer.hung_since = now
            if (
                viewer.state is ViewerState.HUNG
                and viewer.supervised
                and viewer.hung_since is not None
                and now - viewer.hung_since > self.hang_restart_s
            ):
                log.error("viewer %s hung for %.0f s: killing it", viewer.name, self.hang_restart_s)
                self._kill(viewer)
                gone.append((viewer.name, f"the viewer hung for {self.hang_restart_s:.0f} s"))
                self._restart(viewer)
        for name in forgotten:  # a dock widget that left: it says hello again if it returns
            del self.viewers[name]
        return gone

    def restart(self, name: str) -> None:
        """A user asked for a fresh process (window closed, viewer failed, or just stuck).

        The old process was told to shut down; it gets ``RESTART_GRACE_S`` to close cleanly
        before it is killed. Not counted against the crash-loop limit.
        """
        viewer = self.viewers[name]
        if not viewer.supervised:
            raise ValueError(f"viewer {name} was not started by the hub: restart it where it runs")
        viewer.restart_asked = time.monotonic()
        viewer.state = ViewerState.RESTARTING

    def _restart_if_gone(self, viewer: ViewerProcess, now: float) -> None:
        assert viewer.restart_asked is not None
        running = viewer.process is not None and viewer.process.poll() is None
        if running and now - viewer.restart_asked < RESTART_GRACE_S:
            return
        self._kill(viewer)
        viewer.restart_asked = None
        viewer.restarts += 1
        self._spawn(viewer)
        viewer.state = ViewerState.RESTARTING

    def _restart(self, viewer: ViewerProcess) -> None:
        now = time.monotonic()
        viewer.restart_times = [t for t in viewer.restart_times if now - t < self.restart_window_s]
        if len(viewer.restart_times) >= self.max_restarts:
            log.error(
                "viewer %s restarted %d times in %.0f s: giving up",
                viewer.name,
                len(viewer.restart_times),
                self.restart_window_s,
            )
            viewer.state = ViewerState.FAILED
            return
        viewer.restart_times.append(now)
        viewer.restarts += 1
        self._spawn(viewer)
        viewer.state = ViewerState.RESTARTING

    @staticmethod
    def _kill(viewer: ViewerProcess) -> None:
        if viewer.process and viewer.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(viewer.process.pid, signal.SIGKILL)
            viewer.process.wait(timeout=10)

    def stop_all(self, grace_s: float = 10.0) -> None:
        """Wait for viewers told to shut down; kill what is still running after ``grace_s``."""
        deadline = time.monotonic() + grace_s
        for viewer in self.viewers.values():
            viewer.state = ViewerState.STOPPED
            if not viewer.process:
                continue
            try:
                viewer.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("viewer %s did not stop in time: killing it", viewer.name)
                self._kill(viewer)
        shutil.rmtree(self._notes, ignore_errors=True)

    def status(self, name: str) -> dict[str, Any]:
        viewer = self.viewers[name]
        age = time.monotonic() - viewer.last_heartbeat if viewer.last_heartbeat else None
        return {
            "plugin": viewer.plugin,
            "state": viewer.state.value,
            "pid": viewer.pid,
            "supervised": viewer.supervised,
            "restarts": viewer.restarts,
            "last_exit": viewer.last_exit,
            "heartbeat_age_s": round(age, 2) if age is not None else None,
            "viewer": viewer.stats.get("viewer", {}),
            "headless": (viewer.stats.get("viewer") or {}).get("headless"),
            "last_error": viewer.last_error,
        }
