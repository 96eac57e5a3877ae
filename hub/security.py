"""Who may talk to the hub: loopback by default, CURVE keys for anything else.

A hub binds 127.0.0.1 unless told otherwise. Binding any other interface requires a key
directory (made by ``hub keys``) and turns on ZeroMQ CURVE on the ingest socket: traffic is
encrypted and a ZAP authenticator admits only clients whose public key is in the
directory's ``authorized/`` folder. Unauthenticated peers never get a byte through, control
verbs included (they travel on the same socket). Viewer sockets stay on loopback: viewers are
processes the hub starts on its own machine.

Key directory layout::

    DIR/server.key, DIR/server.key_secret     the hub's keypair
    DIR/client.key, DIR/client.key_secret     a client keypair (copy to producers)
    DIR/authorized/*.key                      public keys allowed in
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

log = logging.getLogger(__name__)

DEFAULT_KEYS_DIR = Path(
    os.environ.get("VIEWERHUB_KEYS", Path.home() / ".config" / "viewerhub" / "keys")
)


class SecurityError(RuntimeError):
    """A configuration would expose the hub without authentication, or keys are missing."""


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
        except OSError:
            return False


def make_keys(directory: Path) -> dict[str, Path]:
    """Create a server and a client keypair and authorise the client; returns the files."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    authorized = directory / "authorized"
    authorized.mkdir(exist_ok=True, mode=0o700)
    server_public, server_secret = zmq.auth.create_certificates(str(directory), "server")
    client_public, client_secret = zmq.auth.create_certificates(str(directory), "client")
    shutil.copy(client_public, authorized / "client.key")
    for secret in (server_secret, client_secret):
        os.chmod(secret, 0o600)
    return {
        "server": Path(server_secret),
        "client": Path(client_secret),
        "server_public": Path(server_public),
        "authorized": authorized,
    }


def authorize(directory: Path, public_key_file: Path) -> Path:
    """Allow another client's public key in."""
    target = directory / "authorized" / public_key_file.name
    shutil.copy(public_key_file, target)
    return target


@dataclass
class ServerCurve:
    """CURVE on a hub's ingest socket, with a ZAP authenticator thread."""

    directory: Path
    authenticator: ThreadAuthenticator | None = None

    def apply(self, ctx: zmq.Context, sock: zmq.Socket) -> None:
        secret = self.directory / "server.key_secret"
        authorized = self.directory / "authorized"
        if not secret.exists() or not authorized.is_dir():
            raise SecurityError(
                f"no server keys in {self.directory}: run `hub keys --dir {self.directory}`"
            )
        if self.authenticator is None:
            self.authenticator = ThreadAuthenticator(ctx)
            self.authenticator.start()
            self.authenticator.configure_curve(domain="*", location=str(authorized))
        public, private = zmq.auth.load_certificate(str(secret))
        sock.curve_secretkey = private
        sock.curve_publickey = public
        sock.curve_server = True
        log.info("CURVE on: only keys in %s may connect", authorized)

    def stop(self) -> None:
        if self.authenticator is not None:
            self.authenticator.stop()


def client_curve(sock: zmq.Socket, directory: Path) -> None:
    """Make ``sock`` a CURVE client with the keys in ``directory``."""
    server_public = directory / "server.key"
    client_secret = directory / "client.key_secret"
    if not server_public.exists() or not client_secret.exists():
        raise SecurityError(
            f"{directory} needs server.key and client.key_secret (copy them from the hub's "
            f"`hub keys` directory)"
        )
    public, private = zmq.auth.load_certificate(str(client_secret))
    server_key, _ = zmq.auth.load_certificate(str(server_public))
    sock.curve_secretkey = private
    sock.curve_publickey = public
    sock.curve_serverkey = server_key
