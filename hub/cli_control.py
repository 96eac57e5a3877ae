"""The hub's control subcommands: status, stop, clear, screenshot, restart, goto.

Each one connects to a running hub (``--host``/``--port``, ``--endpoint``, ``--keys``),
sends one control verb and prints the answer; ``hub.cli`` owns the command line around them
and the commands that start or set things up (serve, keys, demo, attach).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contract import defaults
from contract.connection import HubConnection
from hub.cli_attach import full_endpoint
from hub.cli_support import format_status, reach


def endpoint(args: argparse.Namespace) -> str:
    if args.endpoint:
        return full_endpoint(args.endpoint)  # `--hub server` as `hub attach` takes it
    return f"tcp://{args.host}:{args.port}"


def connect(args: argparse.Namespace, timeout_s: float = 5.0) -> HubConnection:
    """A hub that answered a ping; fails within about a second when there is none."""
    return reach(endpoint(args), args.keys, timeout_s)


def add_connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="hub host (default loopback)")
    parser.add_argument("--port", type=int, default=defaults.INGEST_PORT, help="hub ingest port")
    parser.add_argument(
        "--endpoint",
        "--hub",  # the spelling `hub attach --hub` uses
        help="full ZeroMQ endpoint, e.g. tcp://server:7700; overrides --host/--port",
    )
    parser.add_argument("--keys", type=Path, help="CURVE key directory (see `hub keys`)")


def add_parsers(sub: Any) -> None:
    """The control subcommands' arguments, on ``hub``'s subparsers."""
    status = sub.add_parser("status", help="show a running hub's state")
    add_connection(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    for name, text in (("stop", "shut a hub down"), ("clear", "start a new scene")):
        add_connection(sub.add_parser(name, help=text))
    shot = sub.add_parser("screenshot", help="write a PNG of what a viewer shows")
    add_connection(shot)
    shot.add_argument("viewer")
    shot.add_argument("path", type=Path)
    shot.add_argument(
        "--window",
        help="Fiji/recorder: the window to grab, by title or part of it (default: the current "
        "one); napari: 'main' for the whole window with sliders and layer list (default: canvas)",
    )
    restart = sub.add_parser(
        "restart", help="start a viewer again (after its window was closed, or it failed)"
    )
    add_connection(restart)
    restart.add_argument("viewer")
    goto = sub.add_parser("goto", help="show the plane at these components in a viewer")
    add_connection(goto)
    goto.add_argument("viewer")
    goto.add_argument("components", nargs="+", metavar="NAME=VALUE", help="e.g. well=B03 z_index=2")


def cmd_status(args: argparse.Namespace) -> int:
    conn = connect(args, timeout_s=5.0)  # NoHubError within about a second
    status = conn.control("status")["status"]
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        print(format_status(status))
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    connect(args, timeout_s=5.0).control("shutdown")
    return 0


def cmd_clear(args: argparse.Namespace) -> int:
    reply = connect(args, timeout_s=5.0).control("clear")
    print(f"scene {reply['scene']} started (the previous scene's items were released)")
    return 0


def cmd_restart(args: argparse.Namespace) -> int:
    reply = connect(args, timeout_s=10.0).control("restart", viewer=args.viewer)
    print(f"viewer {reply['viewer']}: {reply['state']}; it gets the whole scene again")
    return 0


def cmd_goto(args: argparse.Namespace) -> int:
    components: dict[str, int | str] = {}
    for pair in args.components:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            print(f"hub: goto: expected NAME=VALUE, got {pair!r}", file=sys.stderr)
            return 2
        components[name] = int(value) if value.lstrip("-").isdigit() else value
    reply = connect(args, timeout_s=30.0).control("goto", viewer=args.viewer, components=components)
    shown = {k: v for k, v in reply.items() if k not in ("ok", "req")}
    print(json.dumps(shown))
    return 0


def cmd_screenshot(args: argparse.Namespace) -> int:
    extra = {"window": args.window} if args.window else {}
    reply = connect(args, timeout_s=60.0).control(
        "screenshot", viewer=args.viewer, path=str(args.path.absolute()), **extra
    )
    print(reply["path"])
    return 0


COMMAND_FUNCS: dict[str, Callable[[argparse.Namespace], int]] = {
    "status": cmd_status,
    "stop": cmd_stop,
    "clear": cmd_clear,
    "screenshot": cmd_screenshot,
    "restart": cmd_restart,
    "goto": cmd_goto,
}
