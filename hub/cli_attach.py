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
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from contract import defaults
from contract.connection import HubError, HubTimeoutError
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


def started_line(hub: Any) -> str:
    """What to run on a workstation, for a hub that accepts viewers from other hosts."""
    if hub.remote_viewer_endpoint is None:
        return ""
    port = hub.ingest_endpoint.rsplit(":", 1)[1]
    keys = hub.config.keys_dir
    return (
        f"\n     viewers on other hosts (port {hub.remote_viewer_endpoint.rsplit(':', 1)[1]}): "
        f"`hub attach napari --hub tcp://THIS-HOST:{port} --keys DIR`, DIR holding "
        f"{keys}/server.key and client.key_secret"
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
    try:
        return _attach(args)
    except KeyboardInterrupt:  # Ctrl-C before the viewer ran (napari takes seconds to start)
        print("hub attach: interrupted", file=sys.stderr)
        return 130


def _attach(args: argparse.Namespace) -> int:
    from viewers import registry
    from viewers.remote import RemoteViewerClient, default_name, viewer_endpoint, wait_welcome
    from viewers.runner import has_display, needs_display, quiet_qt_environment

    quiet_qt_environment()
    try:
        hub = hub_endpoint(args.hub)
        options = json.loads(args.options)
        if not isinstance(options, dict):
            raise ValueError(f"--options must be a JSON object, got {args.options!r}")
        viewer_class = registry.load(args.viewer)
        if needs_display(viewer_class, options) and not has_display():
            print(
                f"hub attach: {args.viewer} needs a display and DISPLAY is not set: run it in "
                f"your desktop session, or under `xvfb-run -a hub attach {args.viewer} ...`",
                file=sys.stderr,
            )
            return 2
        endpoint = viewer_endpoint(hub, args.keys)
        if not port_open(endpoint):  # before napari's seconds of start-up, not after
            print(f"hub attach: {no_session_message(hub, endpoint)}", file=sys.stderr)
            return 2
    except HubTimeoutError:
        print(f"hub attach: {no_answer_message(hub, args.keys)}", file=sys.stderr)
        return 2
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
    # Ctrl-C, SIGTERM (a service manager, `kill`): detach as on a window close, files removed
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: setattr(client, "closed", True))
    clean = False
    try:
        if not wait_welcome(client, WELCOME_TIMEOUT_S):
            if client.refused:
                print(f"hub attach: the hub refused it: {client.refused}", file=sys.stderr)
                return 2
            print(f"hub attach: {no_session_message(hub, endpoint)}", file=sys.stderr)
            return 2
        log.info("%s attached to %s", name, endpoint)
        viewer.run(client)
        clean = True
    finally:
        client.close(clean=clean)
        viewer.close()
    return 0


def hub_endpoint(text: str) -> str:
    """``tcp://server:7700`` from what a person types: ``server``, ``server:7700`` or the URL.

    The host must resolve here: ZeroMQ would retry an unknown name silently until a timeout.
    """
    text = full_endpoint(text)
    parsed = urlparse(text)
    if parsed.scheme != "tcp" or not parsed.hostname:
        raise ValueError(f"--hub {text!r}: give the hub's address as tcp://HOST:PORT")
    try:
        port = parsed.port or defaults.INGEST_PORT
    except ValueError:
        raise ValueError(f"--hub {text!r}: the port is not a number") from None
    host = parsed.hostname
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ValueError(f"--hub: cannot resolve {host!r} here ({exc.strerror or exc})") from None
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


def full_endpoint(text: str) -> str:
    """``tcp://`` and the default port added to a bare ``server`` or ``server:7700``."""
    if "://" in text:
        return text
    try:
        port = urlparse(f"tcp://{text}").port
    except ValueError:
        port = None
    return f"tcp://{text}" if port else f"tcp://{text}:{defaults.INGEST_PORT}"


def port_open(endpoint: str, timeout_s: float = 3.0) -> bool:
    """Whether a TCP connection to ``endpoint`` opens (ZeroMQ would retry a refused one
    silently, and the viewer would wait for a session that cannot come)."""
    parsed = urlparse(endpoint)
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout_s):
            return True
    except OSError:
        return False


def no_session_message(hub: str, endpoint: str) -> str:
    return (
        f"the hub answers at {hub} but opened no viewer session at {endpoint}: start it with "
        f"--viewer-host (see docs/remote.md) and let this host reach that port"
    )


def no_answer_message(hub: str, keys: Path | None) -> str:
    """Why a hub may stay silent: CURVE answers a client it does not admit with nothing."""
    return (
        f"no hub answered at {hub}. Check that `hub serve --host ... --viewer-host ...` runs "
        f"there, that this host reaches its ports (7700-7701 by default: firewall, VPN, SSH "
        f"tunnel), and that --keys {keys or 'DIR'} holds that hub's server.key and a "
        f"client.key_secret whose public half is in the hub's authorized/ (see docs/remote.md)"
    )
