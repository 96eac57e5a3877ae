"""Who may talk to the hub: the user who runs it, and only the keys that user hands out.

Loopback is not a trust boundary: every user of the machine can connect to 127.0.0.1. So
every hub socket that viewerhub defines (ingest and viewer, loopback included) runs ZeroMQ
CURVE, and a ZAP authenticator admits only clients whose public key is in the key
directory's ``authorized/`` folder. The default key directory is private to the user
(``~/.config/viewerhub/keys``, mode 0700, made on first use), so the user's own producers,
CLI and viewers connect without configuration and another local user, who cannot read the
client secret, gets no byte through: no status, no clear, no screenshot, no item headers,
no viewer identity. Binding beyond loopback additionally needs an explicit ``--keys`` directory
(made by ``hub keys``), copied to the producers' hosts.

The OpenHCS compatibility ports are the one exception (that sender cannot do CURVE); they are
off by default, accept only data batches, ping and status, and are documented as such.

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
import tempfile
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

log = logging.getLogger(__name__)

DEFAULT_KEYS_DIR = Path(
    os.environ.get("VIEWERHUB_KEYS", Path.home() / ".config" / "viewerhub" / "keys")
)
#: Environment variable that hands a key directory to clients and viewer processes.
KEYS_ENV = "VIEWERHUB_KEYS_DIR"


def keys_dir_for(explicit: str | Path | None = None) -> Path:
    """The key directory a client or hub uses: explicit, then $VIEWERHUB_KEYS_DIR, then default."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(KEYS_ENV) or DEFAULT_KEYS_DIR)


def ensure_keys(directory: Path) -> Path:
    """Make the user's key directory on first use; refuse one that others could read.

    Two hubs starting at once must not write two different key sets: the keys are made in a
    private temporary directory and renamed into place, and whoever loses the race uses the
    winner's.
    """
    if not (directory / "server.key_secret").exists():
        directory.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = Path(tempfile.mkdtemp(prefix=".keys-", dir=directory.parent))
        make_keys(staging)
        try:
            os.rename(staging, directory)
            log.info("made CURVE keys in %s", directory)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    info = directory.stat()
    if info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise SecurityError(
            f"key directory {directory} must belong to this user and be private (chmod 700)"
        )
    return directory


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
    os.chmod(directory, 0o700)
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
    """CURVE on a hub's sockets, with one ZAP authenticator thread for all of them."""

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
        log.debug("CURVE on: only keys in %s may connect", authorized)

    def stop(self) -> None:
        if self.authenticator is not None:
            self.authenticator.stop()


def client_curve(sock: zmq.Socket, directory: Path) -> None:
    """Make ``sock`` a CURVE client with the keys in ``directory``."""
    server_public = directory / "server.key"
    client_secret = directory / "client.key_secret"
    try:
        public, private = zmq.auth.load_certificate(str(client_secret))
    except FileNotFoundError:
        raise SecurityError(
            f"{directory} needs server.key and client.key_secret: start the hub once as this "
            f"user (it makes them), or copy them from the hub's `hub keys` directory"
        ) from None
    except (OSError, ValueError) as exc:
        raise SecurityError(f"cannot read the client key in {directory}: {exc}") from None
    try:
        server_key, _ = zmq.auth.load_certificate(str(server_public))
    except (OSError, ValueError) as exc:
        raise SecurityError(f"cannot read the hub's public key in {directory}: {exc}") from None
    sock.curve_secretkey = private
    sock.curve_publickey = public
    sock.curve_serverkey = server_key
