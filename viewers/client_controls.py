"""A viewer's answers to the hub's control verbs: screenshot, inspect, goto, status.

The hub forwards these verbs from a producer, the CLI or the panel to one viewer; the
viewer's client hands each ``control`` message here and sends the reply back. Screenshots
render into a private folder first and are delivered under :mod:`viewers.safe_files` rules,
so a path named by a client can never make the viewer overwrite or follow something.
"""

from __future__ import annotations

import inspect
import shutil
import tempfile
from pathlib import Path
from typing import Any

from viewers.base import Viewer
from viewers.safe_files import SafeWriter, UnsafePathError


class ViewerControls:
    """Answers control verbs for one viewer."""

    def __init__(self, viewer: Viewer, name: str, plugin: str) -> None:
        self.viewer = viewer
        self.name = name
        self.plugin = plugin
        self._writer = SafeWriter()
        self._private_dir: Path | None = None  # where screenshots render before delivery

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        """The ``reply`` to one ``control`` message; a failure is an error reply, never raised."""
        verb, args = body.get("verb"), body.get("args") or {}
        reply: dict[str, Any] = {"kind": "reply", "id": body.get("id")}
        try:
            if verb == "screenshot":
                if args.get("components"):
                    self.viewer.goto(args["components"])
                shot = self.screenshot(args.get("path"), args.get("window"))
                reply["result"] = {"path": str(shot)}
            elif verb == "inspect":
                reply["result"] = self.viewer.inspect(args.get("query") or {})
            elif verb == "goto":
                reply["result"] = self.viewer.goto(args.get("components") or {})
            elif verb == "status":
                reply["result"] = {"viewer": self.viewer.status()}
            else:
                raise ValueError(f"unknown control verb {verb!r}")
            reply["ok"] = True
        except Exception as exc:
            reply.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        return reply

    def screenshot(self, path: Any, window: Any = None) -> Path:
        """Render into a private folder, then deliver under :mod:`viewers.safe_files` rules.

        ``window`` names the window to grab, for viewers whose ``screenshot`` takes one.
        """
        if not isinstance(path, str) or not path:
            raise UnsafePathError("screenshot needs an absolute 'path'")
        target = Path(path)
        if not target.is_absolute():
            raise UnsafePathError(f"path {path!r} must be absolute")
        if self._private_dir is None:
            self._private_dir = Path(tempfile.mkdtemp(prefix=f"viewerhub-{self.name}-"))
        private = self._private_dir / target.name
        if window is None:
            rendered = Path(self.viewer.screenshot(private))
        elif "window" in inspect.signature(self.viewer.screenshot).parameters:
            rendered = Path(self.viewer.screenshot(private, window=str(window)))
        else:
            raise ValueError(f"{self.plugin} shows one window: it takes no --window")
        try:
            return self._writer.deliver(rendered, target)
        finally:
            rendered.unlink(missing_ok=True)

    def close(self) -> None:
        """Remove the private render folder."""
        if self._private_dir is not None:
            shutil.rmtree(self._private_dir, ignore_errors=True)
            self._private_dir = None
