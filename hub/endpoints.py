"""Binding sockets: TCP (IPv4 or IPv6) and IPC, with one clear error when an address is taken.

A socket bound beyond loopback also gets ZeroMQ link heartbeats: a peer whose network
vanished (a cable pulled, a VPN dropped) is noticed within :data:`LINK_TIMEOUT_S` instead of
TCP's minutes, its session is dropped and the peer's reconnection starts a fresh one.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import zmq

from contract import defaults
from contract.protocol import DEFAULT_LIMITS

#: Wildcard hosts: every interface, loopback included.
WILDCARDS = ("0.0.0.0", "::", "*")


class BindError(RuntimeError):
    """An endpoint is taken (another hub?) or not an address of this machine."""


def bind_tcp(sock: zmq.Socket, host: str, port: int) -> str:
    """Bind ``host:port`` (``port`` 0: any free port); returns the endpoint bound."""
    if host not in (defaults.LOOPBACK, "localhost", "::1"):
        set_link_heartbeats(sock)
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
        advice = _advice(exc, host, port)
        raise BindError(f"cannot listen on {base}:{port}: {exc.strerror}{advice}") from None
    return f"{base}:{port}"


def _advice(exc: zmq.ZMQError, host: str, port: int) -> str:
    """What to do about a failed bind, for the two causes a person can fix."""
    if exc.errno == errno.EADDRINUSE:
        return (
            f" (another hub? `hub status --port {port}` asks it; or give this one another "
            f"--port, or --viewer-port if it is the viewer port)"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f" ({host.strip('[]')} is not an address of this machine: give one `ip addr` lists, "
            f"or 0.0.0.0 for every interface)"
        )
    return ""


def set_link_heartbeats(sock: zmq.Socket) -> None:
    """ZMTP heartbeats on a socket's future connections (set before bind or connect)."""
    sock.setsockopt(zmq.HEARTBEAT_IVL, int(defaults.LINK_HEARTBEAT_S * 1000))
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, int(defaults.LINK_TIMEOUT_S * 1000))
    sock.setsockopt(zmq.HEARTBEAT_TTL, int(defaults.LINK_TIMEOUT_S * 1000))


def bind_viewers(sock: zmq.Socket, host: str | None, port: int) -> tuple[str, str | None]:
    """The viewer socket: loopback always (the hub's own viewers), ``host`` too if asked.

    Returns (the endpoint local viewers connect to, the one bound for other hosts or None).
    A wildcard host covers loopback, so it is bound alone and local viewers use loopback.

    Viewers send only JSON, decoded under the header cap: a frame above it is not read into
    memory at all, ZeroMQ drops the connection that sent it.
    """
    sock.setsockopt(zmq.MAXMSGSIZE, DEFAULT_LIMITS.max_header_bytes)
    if host is None or host in (defaults.LOOPBACK, "localhost"):
        return bind_tcp(sock, defaults.LOOPBACK, port), None
    if host in WILDCARDS:
        remote = bind_tcp(sock, "0.0.0.0" if host == "*" else host, port)
        return f"tcp://{defaults.LOOPBACK}:{remote.rsplit(':', 1)[1]}", remote
    set_link_heartbeats(sock)  # before the first bind: both listeners get them
    local = bind_tcp(sock, defaults.LOOPBACK, port)
    return local, bind_tcp(sock, host, int(local.rsplit(":", 1)[1]))


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
