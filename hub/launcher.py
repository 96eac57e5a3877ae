"""Start a hub from Python (a pipeline, a GUI, a test) and talk to it.

``launch`` starts ``python -m hub.cli serve`` in its own process, waits until it has bound its
sockets and returns a :class:`HubHandle`. ``connect`` gives a handle to a hub that is already
running. The handle is all a caller needs: ``status()``, ``clear()``, ``screenshot()``,
``stop()``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from contract import defaults
from contract.connection import HubConnection, HubError


class HubHandle:
    """A running hub: its endpoints and, if we started it, its process."""

    def __init__(
        self,
        ingest: str,
        process: subprocess.Popen | None = None,
        viewer_endpoint: str | None = None,
        pid: int | None = None,
        keys_dir: str | Path | None = None,
    ) -> None:
        self.ingest = ingest
        self.process = process
        self.viewer_endpoint = viewer_endpoint
        self.pid = pid
        self.keys_dir = keys_dir
        self._conn = HubConnection(ingest, timeout_s=30.0, keys_dir=keys_dir)

    def ping(self, timeout_s: float = 5.0) -> dict[str, Any]:
        return self._conn.control("ping", timeout_s=timeout_s)

    def status(self) -> dict[str, Any]:
        return self._conn.control("status")["status"]

    def clear(self) -> None:
        self._conn.control("clear")

    def screenshot(
        self,
        viewer: str,
        path: str | Path,
        components: dict[str, Any] | None = None,
        window: str | None = None,
    ) -> Path:
        """PNG of what ``viewer`` shows, after moving to ``components`` if given.

        ``window``: which window (Fiji, recorder: by title; napari: ``"main"`` for the whole
        window instead of the canvas).
        """
        args: dict[str, Any] = {"path": str(Path(path).absolute()), "components": components}
        if window is not None:
            args["window"] = window
        reply = self._conn.control("screenshot", timeout_s=60.0, viewer=viewer, **args)
        return Path(reply["path"])

    def inspect(self, viewer: str, **query: Any) -> dict[str, Any]:
        """What ``viewer`` really holds, read back from it (see each viewer's ``inspect``)."""
        reply = self._conn.control("inspect", viewer=viewer, query=query)
        return {k: v for k, v in reply.items() if k not in ("ok", "req")}

    def restart(self, viewer: str) -> dict[str, Any]:
        """A fresh process for ``viewer`` (closed window, failed, stuck); it gets the scene."""
        reply = self._conn.control("restart", viewer=viewer)
        return {k: v for k, v in reply.items() if k not in ("ok", "req")}

    def goto(self, viewer: str, **components: Any) -> dict[str, Any]:
        """Bring the plane at ``components`` into view in ``viewer``."""
        reply = self._conn.control("goto", viewer=viewer, components=components)
        return {k: v for k, v in reply.items() if k not in ("ok", "req")}

    def wait_viewers(
        self, n_items: int | None = None, timeout_s: float = 60.0, names: list[str] | None = None
    ) -> dict[str, Any]:
        """Wait until every viewer runs (and has shown ``n_items`` if given); return status."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.status()
            viewers = {n: v for n, v in status["viewers"].items() if not names or n in names}
            ready = viewers and all(
                v["state"] == "running"
                and v.get("connected")
                and (n_items is None or v.get("shown", 0) >= n_items)
                for v in viewers.values()
            )
            if ready:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"viewers not ready after {timeout_s} s: {viewers}")
            time.sleep(0.1)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask the hub to shut down (viewers too) and wait for its process."""
        with contextlib.suppress(HubError):
            self._conn.control("shutdown", timeout_s=5.0)
        if self.process is not None:
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._conn.close()

    def __enter__(self) -> HubHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def launch(
    viewers: list[str] | tuple[str, ...] = (),
    *,
    port: int = 0,
    memory_budget: int | None = None,
    viewer_options: dict[str, dict[str, Any]] | None = None,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 30.0,
    log_file: str | Path | None = None,
    keys_dir: str | Path | None = None,
) -> HubHandle:
    """Start a hub process with ``viewers`` and return its handle once it answers ``ping``."""
    ready = Path(tempfile.mkdtemp(prefix="viewerhub-")) / "ready.json"
    cmd = [
        sys.executable,
        "-m",
        "hub.cli",
        "serve",
        "--port",
        str(port),
        "--ready-file",
        str(ready),
    ]
    if viewers:
        cmd += ["--viewers", ",".join(viewers)]
    if memory_budget is not None:
        cmd += ["--memory-budget", str(memory_budget)]
    for plugin, options in (viewer_options or {}).items():
        cmd += ["--viewer-options", f"{plugin}={json.dumps(options)}"]
    if keys_dir is not None:
        cmd += ["--keys", str(keys_dir)]
    cmd += extra_args or []
    out = open(log_file, "ab") if log_file else None  # noqa: SIM115
    process = subprocess.Popen(
        cmd,
        env={**os.environ, **(env or {})},
        stdout=out,
        stderr=subprocess.STDOUT if out else None,
    )
    if out:
        out.close()  # the child has its own descriptor
    deadline = time.monotonic() + timeout_s
    while not ready.exists():
        if process.poll() is not None:
            raise HubError(f"hub exited with code {process.returncode} before it was ready")
        if time.monotonic() > deadline:
            process.kill()
            raise HubError(f"hub was not ready within {timeout_s} s")
        time.sleep(0.02)
    info = json.loads(ready.read_text())
    shutil.rmtree(ready.parent, ignore_errors=True)  # read once; the hub tolerates its absence
    handle = HubHandle(info["ingest"], process, info["viewers"], info["pid"], keys_dir)
    try:
        handle.ping(timeout_s=timeout_s)
    except HubError:
        process.kill()  # never leave an unreachable hub behind
        process.wait()
        raise
    return handle


def connect(
    endpoint: str = defaults.INGEST_ENDPOINT, keys_dir: str | Path | None = None
) -> HubHandle:
    handle = HubHandle(endpoint, keys_dir=keys_dir)
    info = handle.ping()
    handle.viewer_endpoint, handle.pid = info["viewer_endpoint"], info["hub_pid"]
    return handle


#: Log files of earlier launcher-started hubs kept in :func:`default_log_dir`.
KEEP_LOGS = 20


def default_log_dir() -> Path:
    """Where a launcher's hub writes its log: ``$XDG_STATE_HOME/viewerhub/logs``."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "viewerhub" / "logs"


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class HubLauncher:
    """What a pipeline GUI holds: start a hub with chosen viewers, or attach to a running one.

    GUI-free (the Qt panel in ``hub.qt`` sits on top of it). ``endpoint`` names a hub to
    attach to if one answers there; otherwise ``start`` launches a new one, on ``port``
    (default: the standard port 7700 when it is free, so ``hub status`` finds the hub without
    options; any free port otherwise; 0 asks for any). The hub's and its viewers' output goes
    to ``log_file`` (default: a new file under :func:`default_log_dir`), never to the host
    application's stdout.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        port: int | None = None,
        log_file: str | Path | None = None,
        **launch_options: Any,
    ) -> None:
        self.endpoint = endpoint
        self.port = port
        self.log_path: Path | None = Path(log_file) if log_file else None
        self.launch_options = launch_options
        self.handle: HubHandle | None = None

    @staticmethod
    def available_viewers() -> list[str]:
        from viewers.registry import available

        return list(available())

    @property
    def running(self) -> bool:
        return self.handle is not None

    def start(self, viewers: list[str] | tuple[str, ...]) -> HubHandle:
        if self.handle is not None:
            return self.handle
        if self.endpoint:
            try:
                self.handle = connect(self.endpoint)
                return self.handle
            except HubError:
                pass  # nobody there: start our own
        if self.log_path is None:
            directory = default_log_dir()
            directory.mkdir(parents=True, exist_ok=True)
            for old in sorted(directory.glob("hub-*.log"))[:-KEEP_LOGS]:
                old.unlink(missing_ok=True)  # the newest ones are enough to look back
            self.log_path = directory / f"hub-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        port = self.port
        if port is None:
            port = defaults.INGEST_PORT if port_is_free(defaults.INGEST_PORT) else 0
        options = {**self.launch_options, "port": port, "log_file": self.log_path}
        try:
            self.handle = launch(list(viewers), **options)
        except HubError:
            if self.port is not None or port == 0:
                raise
            self.handle = launch(list(viewers), **{**options, "port": 0})  # lost a race
        return self.handle

    @property
    def endpoint_text(self) -> str | None:
        """The running hub's ingest endpoint (what ``hub status --endpoint`` takes)."""
        return self.handle.ingest if self.handle else None

    def restart(self, viewer: str) -> dict[str, Any]:
        if self.handle is None:
            raise HubError("no hub is running")
        return self.handle.restart(viewer)

    def stop(self) -> None:
        """Stop a hub we started; just let go of one we attached to."""
        if self.handle is None:
            return
        if self.handle.process is not None:
            self.handle.stop()
        self.handle = None

    def status(self) -> dict[str, Any] | None:
        if self.handle is None:
            return None
        try:
            return self.handle.status()
        except HubError:
            return None

    def clear(self) -> None:
        if self.handle is not None:
            self.handle.clear()
