"""Binding sockets: TCP (IPv4 or IPv6) and IPC, with one clear error when an address is taken."""

from __future__ import annotations

import socket
from pathlib import Path

import zmq


class BindError(RuntimeError):
    """An endpoint is taken (another hub?) or not an address of this machine."""


def bind_tcp(sock: zmq.Socket, host: str, port: int) -> str:
    """Bind ``host:port`` (``port`` 0: any free port); returns the endpoint bound."""
    if ":" in host:  # an IPv6 address: bracketed in the endpoint, IPv6 on the socket
        sock.setsockopt(zmq.IPV6, 1)
        host = f"[{host.strip('[]')}]"
    base = f"tcp://{host}"
    try:
        if port == 0:
            port = sock.bind_to_random_port(base)
        else:
            sock.bind(f"{base}:{port}")
    except zmq.ZMQError as exc:
        raise BindError(f"cannot listen on {base}:{port}: {exc.strerror}") from None
    return f"{base}:{port}"


def bind(sock: zmq.Socket, endpoint: str) -> None:
    """Bind a full endpoint; an IPC file left by a dead process is replaced, a live one not."""
    if endpoint.startswith("ipc://"):
        remove_stale_socket(Path(endpoint[6:]))
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        raise BindError(f"cannot listen on {endpoint}: {exc.strerror}") from None


def remove_stale_socket(path: Path) -> None:
    """Remove an IPC socket file left by a dead hub; never one a live process listens on."""
    if not path.exists():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink(missing_ok=True)  # nobody listens: stale
        return
    finally:
        probe.close()
    raise BindError(f"{path} is in use by a running process (another hub --openhcs?)")
