"""What the ``hub`` command needs besides its parser: reaching a hub fast, sizes, the table.

``reach`` answers "is a hub there?" within about a second, so ``hub status`` and friends fail
at once with a sentence that says what to do, instead of waiting out a long request timeout:
a refused TCP connection (or a missing IPC socket file) means nobody listens; a listener that
does not answer a ``ping`` within :data:`PING_TIMEOUT_S` is not a hub we can talk to (another
program, or a hub with other CURVE keys).
"""

from __future__ import annotations

import argparse
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from contract.connection import HubConnection, HubError

#: Seconds a hub may take to answer the first ping before a command gives up.
PING_TIMEOUT_S = 0.8
#: Seconds to wait for a TCP connection on the hub's port (loopback answers in microseconds).
PROBE_TIMEOUT_S = 0.3

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gib": 1024**3,
}


class NoHubError(HubError):
    """Nothing that answers as a hub at the endpoint."""


def parse_size(text: str) -> int:
    """'4GiB', '512M', '1000000' -> bytes."""
    number = text.strip()
    for i, ch in enumerate(number):
        if not (ch.isdigit() or ch == "."):
            value, unit = number[:i], number[i:].strip().lower()
            break
    else:
        value, unit = number, ""
    if unit not in _UNITS or not value:
        raise argparse.ArgumentTypeError(f"cannot read size {text!r}; use e.g. 4GiB, 512MiB")
    return int(float(value) * _UNITS[unit])


def _how_to_start(endpoint: str) -> str:
    return (
        f"no hub is running at {endpoint}: start one with `hub --viewers napari,fiji` "
        "(or `python -m hub ...`), or name another with --port/--endpoint"
    )


def probe(endpoint: str) -> str | None:
    """A reason no hub can be there (nothing listens), or None when something might be."""
    parts = urlsplit(endpoint)
    if parts.scheme == "ipc":
        path = endpoint[len("ipc://") :]
        return None if Path(path).exists() else _how_to_start(endpoint)
    if parts.scheme != "tcp" or parts.port is None:
        return None
    host = parts.hostname or "127.0.0.1"
    if host in ("*", "0.0.0.0"):
        host = "127.0.0.1"
    try:
        with socket.create_connection((host, parts.port), timeout=PROBE_TIMEOUT_S):
            return None
    except ConnectionRefusedError:
        return _how_to_start(endpoint)
    except OSError:
        return None  # unreachable or filtered: let the ping decide


def reach(
    endpoint: str, keys_dir: Path | None, timeout_s: float, ping_s: float = PING_TIMEOUT_S
) -> HubConnection:
    """A connection to a hub that just answered ``ping``; :class:`NoHubError` otherwise."""
    reason = probe(endpoint)
    if reason:
        raise NoHubError(reason)
    conn = HubConnection(endpoint, timeout_s=timeout_s, keys_dir=keys_dir)
    try:
        conn.control("ping", timeout_s=ping_s)
    except HubError:
        conn.close()
        raise NoHubError(
            f"nothing answered as a hub at {endpoint} within {ping_s:.1f} s: another program "
            "holds that port, or a hub with other CURVE keys runs there (see --keys)"
        ) from None
    return conn


def _pool_line(pool: dict[str, Any] | None) -> list[str]:
    """Warm segments the hub holds beside the scene (recycled, leased): within the budget."""
    if not pool or not pool.get("held_bytes"):
        return []
    return [
        f"warm segments {pool['held_bytes'] / 1e6:.1f} MB: {pool['leased_segments']} leased to "
        f"producers, {pool['free_segments']} free (counted in the budget with the scene)"
    ]


def format_status(status: dict[str, Any]) -> str:
    """A plain-text table of the hub and its viewers."""
    hub = status["hub"]
    lines = [
        f"hub pid {hub['pid']}  ingest {hub['ingest']}  viewers {hub['viewer_endpoint']}"
        + (f"  remote viewers {remote}" if (remote := hub.get("remote_viewer_endpoint")) else ""),
        f"scene {hub['scene']}: {hub['items']} items, {hub['bytes'] / 1e6:.1f} of "
        f"{hub['memory_budget'] / 1e6:.0f} MB; accepted {hub['accepted_items']}; "
        f"errors {hub['errors_total']} {hub['errors'] or ''}; "
        f"waiting requests {hub['pending_requests']}",
        *_pool_line(hub.get("pool")),
        "",
        f"{'viewer':<16}{'state':<12}{'display':<10}{'pid':>8}{'shown':>8}{'queued':>8}"
        f"{'items/s':>9}{'restarts':>10}  last error",
    ]
    for name, v in status["viewers"].items():
        headless = v.get("headless")
        display = "-" if headless is None else ("headless" if headless else "windows")
        lines.append(
            f"{name:<16}{v['state']:<12}{display:<10}{v.get('pid') or '-':>8}"
            f"{v.get('shown', 0):>8}{v.get('queued', 0):>8}{v.get('items_per_s', 0):>9}"
            f"{v['restarts']:>10}  {(v.get('last_error') or '')[:120]}"
        )
    if not status["viewers"]:
        lines.append("(no viewers)")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- serve


def store_options(args: argparse.Namespace) -> dict[str, Any]:
    """The scene store's options, only when given (HubConfig's defaults otherwise)."""
    options: dict[str, Any] = {}
    if args.store is not None:
        options["store_dir"] = args.store
    if args.keep_scenes:
        options["keep_scenes"] = True
    return options


def recorder_outdir(names: list[str], specs: list[str]) -> dict[str, dict[str, Any]]:
    """The recorder's folder, made absolute here: the hub's working directory is the user's."""
    if "recorder" not in names or any(s.startswith("recorder=") for s in specs):
        return {}
    from viewers.recorder import DEFAULT_OUTDIR

    return {"recorder": {"outdir": str(Path(DEFAULT_OUTDIR).absolute())}}


def started_text(
    endpoint: str,
    names: list[str],
    options: dict[str, dict[str, Any]],
    openhcs_ports: dict[str, int] | None = None,
) -> str:
    """One line for a person who started a hub: what it does, where, and how to end it."""
    shown = f"showing in {', '.join(names)}" if names else "with no viewers (nothing is shown)"
    lines = [f"hub: listening on {endpoint}, {shown}; `hub status` watches, Ctrl-C stops"]
    if not names:
        lines.append("     `hub --viewers napari,fiji` shows images; `hub --help` lists commands")
    outdir = options.get("recorder", {}).get("outdir")
    if "recorder" in names and outdir:
        lines.append(f"     the recorder writes to {Path(outdir).absolute()}")
    if openhcs_ports:
        ports = ", ".join(f"{name} {port}" for name, port in openhcs_ports.items())
        lines.append(
            f"     OpenHCS senders: ports {ports}; one enabled streaming target reaches every "
            "viewer (a second one only doubles the sender's time)"
        )
    return "\n".join(lines)


def openhcs_config(args: argparse.Namespace) -> Any:
    """``--openhcs*`` options as a CompatConfig, None without ``--openhcs``; ValueError names
    the option that does not read."""
    if not args.openhcs:
        return None
    from hub.openhcs import CompatConfig

    try:
        ports = {k: int(v) for k, v in (p.split("=") for p in args.openhcs_ports.split(","))}
    except ValueError:
        raise ValueError(
            f"--openhcs-ports: expected name=port,..., got {args.openhcs_ports!r}"
        ) from None
    transports = tuple(t.strip() for t in args.openhcs_transports.split(",") if t.strip())
    return CompatConfig(
        ports=ports,
        transports=transports,
        ack_port=args.openhcs_ack_port,
        orphan_grace_s=args.openhcs_orphan_grace,
    )
