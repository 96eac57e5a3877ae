"""hub: one stream of microscopy images and shapes in, every viewer out.

A hub takes what a pipeline sends (images and shapes tagged with well, site, channel,
z_index, timepoint) and shows it in every viewer it runs (napari, Fiji, the recorder, a
plugin), each in its own process.

  hub --viewers napari,fiji            run a hub with these viewers (same as "hub serve")
  hub status [--json]                  state of a running hub and its viewers
  hub stop | hub clear                 shut a hub down / start a new scene
  hub screenshot VIEWER PATH           PNG of what a viewer shows (--window NAME: that one)
  hub restart VIEWER                   start a viewer again, with the whole scene
  hub goto VIEWER NAME=VALUE ...       show the plane at these components
  hub viewers                          installed viewer plugins
  hub demo [--headless]                stream a synthetic plate through a hub
  hub keys                             CURVE keys for a hub reachable from other hosts
  hub attach VIEWER --hub tcp://H:7700 a viewer here for a hub on another host

"python -m hub" is the same command for the Python it runs under (in a venv, it sees the
plugins installed there). -v shows what the hub and its viewers do, -vv everything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
from pathlib import Path

from contract import defaults
from contract.connection import HubError
from contract.keys import SecurityError
from contract.protocol import Limits
from hub import cli_attach, cli_control
from hub.cli_control import endpoint
from hub.cli_support import (
    format_status,
    openhcs_config,
    parse_size,
    recorder_outdir,
    started_text,
    store_options,
)

__all__ = ["build_parser", "format_status", "main", "parse_size"]

COMMANDS = (
    "serve",
    "status",
    "stop",
    "clear",
    "screenshot",
    "restart",
    "goto",
    "viewers",
    "demo",
    "keys",
    "attach",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hub", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="run a hub (the default command)")
    serve.add_argument("--viewers", default="", help="comma-separated viewer plugins")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default loopback only; any other needs --keys)",
    )
    serve.add_argument(
        "--keys", type=Path, help="CURVE key directory from `hub keys`: encrypt and authenticate"
    )
    serve.add_argument(
        "--port", type=int, default=defaults.INGEST_PORT, help="ingest port (0: any)"
    )
    serve.add_argument("--viewer-port", type=int, help="viewer port (default port+1)")
    serve.add_argument(
        "--memory-budget",
        type=parse_size,
        default=defaults.MEMORY_BUDGET,
        help="bytes of pixels the scene may hold (e.g. 4GiB)",
    )
    serve.add_argument(
        "--viewer-options",
        action="append",
        default=[],
        metavar="PLUGIN=JSON",
        help="options for a viewer plugin",
    )
    serve.add_argument(
        "--backpressure-timeout",
        type=float,
        default=60.0,
        help="seconds a producer waits for budget before an error",
    )
    serve.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=5.0,
        help="seconds without heartbeat before a viewer counts as hung",
    )
    serve.add_argument(
        "--hang-restart",
        type=float,
        default=30.0,
        help="seconds a viewer may stay hung before it is restarted",
    )
    serve.add_argument(
        "--max-message",
        type=parse_size,
        default=Limits.max_message_bytes,
        help="largest accepted message",
    )
    serve.add_argument(
        "--store",
        type=Path,
        help="scene store folder (OME-Zarr plate + journal), kept and recovered after a crash "
        "(default: a cache folder per port, removed when the hub stops)",
    )
    serve.add_argument(
        "--keep-scenes", action="store_true", help="`clear` leaves the old scene's plate on disk"
    )
    serve.add_argument(
        "--openhcs",
        action="store_true",
        help="also accept the OpenHCS/polystore sender on its own ports",
    )
    serve.add_argument(
        "--openhcs-ports",
        default="napari=5555,fiji=5565",
        help="viewer ports that sender streams to (default %(default)s)",
    )
    serve.add_argument(
        "--openhcs-transports", default="ipc,tcp", help="ipc and/or tcp (default %(default)s)"
    )
    serve.add_argument(
        "--openhcs-ack-port",
        type=int,
        default=7555,
        help="that sender's ack port (default %(default)s)",
    )
    serve.add_argument(
        "--openhcs-orphan-grace",
        type=float,
        default=10.0,
        help="seconds before unlinking a sender segment the sender left behind",
    )
    serve.add_argument("--ready-file", type=Path, help=argparse.SUPPRESS)
    cli_attach.add_serve_options(serve)
    cli_control.add_parsers(sub)
    sub.add_parser("viewers", help="list installed viewer plugins")
    keys = sub.add_parser("keys", help="create CURVE keys for a hub reachable from other hosts")
    keys.add_argument(
        "--dir", type=Path, default=None, help="key directory (default ~/.config/viewerhub/keys)"
    )
    cli_attach.add_parser(sub)
    demo = sub.add_parser("demo", help="stream a synthetic plate through a hub")
    demo.add_argument(
        "--viewers", default="napari,fiji,recorder", help="comma-separated viewer plugins"
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("viewerhub-demo"),
        help="folder for screenshots and recordings",
    )
    demo.add_argument("--headless", action="store_true", help="no screen needed (Xvfb)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(with_command(list(sys.argv[1:] if argv is None else argv)))
    configure_logging(args.verbose)
    try:
        return COMMAND_FUNCS[args.command](args)
    except BrokenPipeError:  # `hub viewers | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (HubError, SecurityError) as exc:
        if getattr(args, "json", False):  # a script reading --json gets JSON, even now
            print(json.dumps({"ok": False, "error": str(exc), "endpoint": endpoint(args)}))
        print(f"hub: {exc}", file=sys.stderr)
        return 2


def _is_verbose(arg: str) -> bool:
    return arg == "--verbose" or re.fullmatch(r"-v+", arg) is not None


def with_command(argv: list[str]) -> list[str]:
    """``argv`` naming its subcommand: ``hub --viewers x`` means ``hub serve --viewers x``.

    The subcommand is the first word after the global -v flags, so ``hub -v status`` stays
    ``status`` (it once became ``serve``); verbose flags elsewhere move to the front, where
    the top-level parser reads them.
    """
    leading = 0
    while leading < len(argv) and _is_verbose(argv[leading]):
        leading += 1
    if leading < len(argv) and argv[leading] in (*COMMANDS, "-h", "--help"):
        return argv
    flags = [a for a in argv if _is_verbose(a)]
    return flags + ["serve"] + [a for a in argv if not _is_verbose(a)]


def configure_logging(verbosity: int) -> None:
    """Warnings only by default; -v: what the hub and viewers do; -vv: everything.

    Viewer processes inherit the level through ``VIEWERHUB_VERBOSE`` (see viewers.runner).
    """
    from viewers.runner import VERBOSE_ENV

    with contextlib.suppress(ValueError):  # a launcher (the Qt panel) may ask this way
        verbosity = max(verbosity, int(os.environ.get(VERBOSE_ENV, "0")))
    logging.basicConfig(
        level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(verbosity, 2)],
        format="%(asctime)s hub %(levelname)s %(name)s: %(message)s",
    )
    os.environ[VERBOSE_ENV] = str(verbosity)


def cmd_serve(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from contract.keys import SecurityError
    from hub.endpoints import BindError
    from hub.server import Hub, HubConfig
    from viewers.registry import UnknownViewerError, resolve

    names = [v.strip() for v in args.viewers.split(",") if v.strip()]
    try:
        resolve(names)
    except UnknownViewerError as exc:
        print(
            f"hub: {exc}\n  (plugins installed for {sys.executable}; one installed in another "
            "environment is run with that environment's `python -m hub`)",
            file=sys.stderr,
        )
        return 2
    options = recorder_outdir(names, args.viewer_options)
    for spec in args.viewer_options:
        plugin, _, text = spec.partition("=")
        try:
            options[plugin] = {**options.get(plugin, {}), **json.loads(text)}
        except json.JSONDecodeError as exc:
            print(f"hub: --viewer-options {plugin}: not JSON: {exc}", file=sys.stderr)
            return 2
    try:
        compat = openhcs_config(args)
    except ValueError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 2
    config = HubConfig(
        host=args.host,
        port=args.port,
        viewer_port=args.viewer_port,
        memory_budget=args.memory_budget,
        viewers=names,
        viewer_options=options,
        backpressure_timeout_s=args.backpressure_timeout,
        heartbeat_timeout_s=args.heartbeat_timeout,
        hang_restart_s=args.hang_restart,
        limits=replace(Limits(), max_message_bytes=args.max_message),
        ready_file=args.ready_file,
        openhcs=compat,
        keys_dir=args.keys,
        viewer_host=args.viewer_host,
        **store_options(args),
    )
    try:
        hub = Hub(config)
    except (SecurityError, BindError) as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 2
    if args.ready_file is None:  # a person started it: say what runs where
        ports = compat.ports if compat is not None else None
        text = started_text(hub.ingest_endpoint, names, options, ports)
        print(text + cli_attach.started_line(hub), file=sys.stderr, flush=True)
    hub.serve()
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from contract.keys import DEFAULT_KEYS_DIR, make_keys

    directory = args.dir or DEFAULT_KEYS_DIR
    files = make_keys(directory)
    print(f"hub keys written to {directory}")
    print(f"  run the hub with:   hub --host 0.0.0.0 --keys {directory} ...")
    print("                      (add --viewer-host 0.0.0.0 for `hub attach` from other hosts)")
    print(
        f"  copy to other hosts: {files['server_public']} and {files['client']}, into a "
        f"private folder (StreamingBackend(keys_dir=...), hub attach --keys, VIEWERHUB_KEYS_DIR)"
    )
    print(f"  allow more clients: put their public .key files in {files['authorized']}")
    return 0


def cmd_viewers(args: argparse.Namespace) -> int:
    from viewers.registry import available

    for name, ep in available().items():
        dist = ep.dist.name if ep.dist else "?"
        print(f"{name:<16}{ep.value:<48}({dist})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from hub.demo import run_demo

    names = [v.strip() for v in args.viewers.split(",") if v.strip()]

    def progress(done: int, total: int) -> None:
        bar = "#" * (30 * done // total)
        print(f"\rstreaming plate [{bar:<30}] {done}/{total} items", end="", flush=True)

    result = run_demo(names, args.out, headless=args.headless, progress=progress)
    print(
        f"\nstreamed {result['items']} items in {result['stream_s']:.2f} s; "
        f"all viewers showed them after {result['shown_s']:.2f} s"
    )
    for name, path in result["screenshots"].items():
        print(f"screenshot of {name}: {path}")
    print(f"everything is in {result['out']}")
    return 0


COMMAND_FUNCS = {
    "serve": cmd_serve,
    **cli_control.COMMAND_FUNCS,
    "viewers": cmd_viewers,
    "demo": cmd_demo,
    "keys": cmd_keys,
    "attach": cli_attach.main,
}

if __name__ == "__main__":
    sys.exit(main())
