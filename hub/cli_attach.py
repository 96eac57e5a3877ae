"""``hub attach VIEWER --hub tcp://server:7700 --keys DIR``: a viewer here, the hub elsewhere.

The viewer runs in this process (not under the hub's supervisor: the hub cannot start
processes on this host) and receives pixels as frames over CURVE (``viewers.remote``). The
hub must listen for viewers beyond its loopback: ``hub serve --host ... --viewer-host ...``
(see docs/remote.md). Also here: that ``serve`` option, so the command module only registers.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from contract import defaults
from contract.connection import HubError
from contract.keys import SecurityError

log = logging.getLogger(__name__)

#: Seconds to wait for the hub to open our viewer session before saying why it may not.
WELCOME_TIMEOUT_S = 15.0


def add_serve_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--viewer-host",
        help="also accept viewers from other hosts (`hub attach`) on this interface, "
        "e.g. 0.0.0.0; needs --keys (default: viewers on this host only)",
    )


def add_parser(sub: Any) -> None:
    from hub.cli_support import parse_size

    attach = sub.add_parser("attach", help="run a viewer here for a hub on another host")
    attach.add_argument("viewer", help="viewer plugin (see `hub viewers`)")
    attach.add_argument(
        "--hub", default=defaults.INGEST_ENDPOINT, help="the hub's endpoint, e.g. tcp://server:7700"
    )
    attach.add_argument("--keys", type=Path, help="CURVE key directory copied from the hub")
    attach.add_argument("--name", help="name at the hub (default: VIEWER-thishost)")
    attach.add_argument("--options", default="{}", help="JSON object of viewer options")
    attach.add_argument(
        "--credits",
        type=int,
        default=defaults.REMOTE_CREDITS,
        help="items in flight on the link (default %(default)s)",
    )
    attach.add_argument(
        "--memory",
        type=parse_size,
        default=defaults.REMOTE_VIEWER_MEMORY,
        help="received pixels kept in memory before the oldest spill to disk (e.g. 2GiB)",
    )


def main(args: argparse.Namespace) -> int:
    from viewers import registry
    from viewers.remote import RemoteViewerClient, default_name, viewer_endpoint, wait_welcome
    from viewers.runner import has_display, needs_display, no_display_message, quiet_qt_environment

    quiet_qt_environment()
    try:
        options = json.loads(args.options)
        viewer_class = registry.load(args.viewer)
        if needs_display(viewer_class, options) and not has_display():
            print(f"hub: {no_display_message(args.viewer)}", file=sys.stderr)
            return 2
        endpoint = viewer_endpoint(args.hub, args.keys)
    except (ImportError, LookupError, ValueError, SecurityError, HubError) as exc:
        print(f"hub attach: {exc}", file=sys.stderr)
        return 2
    viewer = viewer_class(**options)
    viewer.start()
    name = args.name or default_name(args.viewer)
    client = RemoteViewerClient(
        endpoint,
        name,
        viewer,
        plugin=args.viewer,
        credits=args.credits,
        keys_dir=args.keys,
        memory_budget=args.memory,
    )
    # SIGTERM (a service manager, `kill`): close as on a window close, files removed
    signal.signal(signal.SIGTERM, lambda *_: setattr(client, "closed", True))
    clean = False
    try:
        if not wait_welcome(client, WELCOME_TIMEOUT_S):
            print(
                f"hub attach: the hub answers at {args.hub} but opened no viewer session at "
                f"{endpoint}: start it with --viewer-host (see docs/remote.md)",
                file=sys.stderr,
            )
            return 2
        log.info("%s attached to %s", name, endpoint)
        viewer.run(client)
        clean = True
    finally:
        client.close(clean=clean)
        viewer.close()
    return 0
