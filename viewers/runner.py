"""Entry point of a viewer process: ``python -m viewers.runner PLUGIN --hub ENDPOINT``.

The hub's supervisor starts viewers this way; a user can too, to connect a viewer to a
running hub by hand (``--hub`` is the hub's viewer endpoint, shown by ``hub status``).

The runner also keeps a viewer process quiet by default (warnings only; the hub passes its
``-v`` on through ``VIEWERHUB_VERBOSE``) and tells the supervisor why a viewer could not
start, through the file named in ``VIEWERHUB_EXIT_NOTE``: the reason reaches ``hub status``,
and a reason no retry can fix (no display, plugin not importable) is not retried.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path

from contract import defaults
from viewers import registry

log = logging.getLogger("viewers.runner")

#: Environment variable carrying the hub's verbosity (0 warnings, 1 info, 2 debug).
VERBOSE_ENV = "VIEWERHUB_VERBOSE"
#: Environment variable naming the file where a viewer that cannot start says why.
EXIT_NOTE_ENV = "VIEWERHUB_EXIT_NOTE"
#: Exit code of a viewer that could not start.
EXIT_START_FAILED = 3

#: Third-party loggers that speak at INFO about things a user cannot act on ("No
#: OpenGL_accelerate module", scyjava's "Fetching zulu-jre" while it only looks up the system
#: Java). Held at WARNING unless the user asks for debug output (-vv).
CHATTY_LOGGERS = ("OpenGL", "scyjava", "jgo", "vispy", "napari", "in_n_out", "app_model")
#: Python warnings with nothing for a user to do: napari's theme lookup on a Qt5 binding.
QUIET_WARNINGS = ("System theme detection requires a Qt6 backend",)
#: Qt message categories with nothing for a user to do (platform theme lookups).
QT_QUIET_RULES = "qt.qpa.theme*=false;qt.qpa.theme.*=false;qt.text.font.db=false"
#: Qt platforms that need no display server.
OFFSCREEN_PLATFORMS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb")


def configure_logging(name: str, verbosity: int) -> None:
    """Warnings by default, INFO with -v, DEBUG with -vv; chatty third parties stay quiet."""
    logging.basicConfig(
        level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(verbosity, 2)],
        format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s",
    )
    if verbosity < 2:
        for chatty in CHATTY_LOGGERS:
            logging.getLogger(chatty).setLevel(logging.WARNING)
        for message in QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=message)


def quiet_qt_environment() -> None:
    """Give Qt what it would otherwise warn about, before any Qt import.

    Qt prints "XDG_RUNTIME_DIR not set" (and falls back to /tmp/runtime-USER) in sessions
    without one (ssh, containers, xvfb-run); we create that same private folder and name it.
    """
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(tempfile.gettempdir()) / f"runtime-{os.getuid()}"
        try:
            runtime.mkdir(mode=0o700, exist_ok=True)
            info = runtime.stat()
            if info.st_uid == os.getuid() and info.st_mode & 0o777 == 0o700:
                os.environ["XDG_RUNTIME_DIR"] = str(runtime)
        except OSError:
            pass  # Qt will warn; nothing worse
    if "QT_LOGGING_RULES" not in os.environ:
        os.environ["QT_LOGGING_RULES"] = QT_QUIET_RULES


def has_display() -> bool:
    """Whether a GUI toolkit can open windows here (X11, Wayland or an offscreen platform)."""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return True
    return os.environ.get("QT_QPA_PLATFORM", "").split(":")[0] in OFFSCREEN_PLATFORMS


def needs_display(viewer_class: type, options: dict) -> bool:
    """A viewer that opens windows and cannot run headless (``Viewer.needs_display``)."""
    if options.get("show") is False:
        return False
    return bool(getattr(viewer_class, "needs_display", False))


def no_display_message(plugin: str) -> str:
    return (
        f"{plugin} needs a display and DISPLAY is not set: run "
        f"`xvfb-run -a hub --viewers {plugin}`, or `hub demo --headless`"
    )


def write_exit_note(error: str, retry: bool) -> None:
    """Tell the supervisor why this viewer stops (no-op when not started by a hub)."""
    path = os.environ.get(EXIT_NOTE_ENV)
    if path:
        try:
            Path(path).write_text(json.dumps({"error": error, "retry": retry}))
        except OSError as exc:
            log.debug("could not write the exit note %s: %s", path, exc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m viewers.runner")
    parser.add_argument("plugin", help="registered viewer name (see `hub viewers`)")
    parser.add_argument("--hub", default=defaults.VIEWER_ENDPOINT, help="hub viewer endpoint")
    parser.add_argument("--name", help="instance name (default: the plugin name)")
    parser.add_argument("--hub-pid", type=int, help="exit when this process is gone")
    parser.add_argument("--options", default="{}", help="JSON object of viewer options")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    args = parser.parse_args(argv)
    try:
        inherited = int(os.environ.get(VERBOSE_ENV, "0"))
    except ValueError:
        inherited = 0
    configure_logging(args.name or args.plugin, max(args.verbose, inherited))
    quiet_qt_environment()
    try:
        viewer_class = registry.load(args.plugin)
    except (ImportError, LookupError) as exc:
        log.error("viewer %s could not be loaded: %s", args.plugin, exc)
        write_exit_note(f"{type(exc).__name__}: {exc}", retry=False)
        return EXIT_START_FAILED
    try:
        options = json.loads(args.options)
        if needs_display(viewer_class, options) and not has_display():
            message = no_display_message(args.plugin)
            # a hub's supervisor reports the note itself: say it once, not twice
            log.log(logging.INFO if os.environ.get(EXIT_NOTE_ENV) else logging.ERROR, message)
            write_exit_note(message, retry=False)
            return EXIT_START_FAILED
        viewer = viewer_class(**options)
        viewer.start()
    except Exception as exc:
        log.exception("viewer %s could not start", args.plugin)
        write_exit_note(f"{type(exc).__name__}: {exc}", retry=True)
        return EXIT_START_FAILED
    from viewers.client import ViewerClient  # numpy, zmq: not for `hub`, which reads constants

    client = ViewerClient(
        args.hub, args.name or args.plugin, viewer, plugin=args.plugin, hub_pid=args.hub_pid
    )
    clean = False
    try:
        viewer.run(client)
        clean = True
    finally:
        client.close(clean=clean)  # after a crash, no goodbye: the hub restarts us
        viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
