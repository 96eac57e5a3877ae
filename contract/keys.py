"""Keys: where a user's CURVE keys live, making them on first use, and the client side.

Loopback is shared by every user of a machine, so every hub socket is a CURVE server and
every client (producer, CLI, viewer) authenticates with keys from the user's private key
directory. This module is the client half and the key files; the server half (the ZAP
authenticator) is ``hub.security``.

Key directory layout::

    DIR/server.key, DIR/server.key_secret     the hub's keypair
    DIR/client.key, DIR/client.key_secret     a client keypair (copy to producers)
    DIR/authorized/*.key                      public keys allowed in
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import zmq
import zmq.auth

log = logging.getLogger(__name__)

DEFAULT_KEYS_DIR = Path(
    os.environ.get("VIEWERHUB_KEYS", Path.home() / ".config" / "viewerhub" / "keys")
)
#: Environment variable that hands a key directory to clients and viewer processes.
KEYS_ENV = "VIEWERHUB_KEYS_DIR"


def keys_dir_for(explicit: str | Path | None = None) -> Path:
    """The key directory a client or hub uses: explicit, then $VIEWERHUB_KEYS_DIR, then default."""
    if explicit:  # `keys_dir="~/hubkeys"` in Python: no shell expanded the ~
        return Path(explicit).expanduser()
    return Path(os.environ.get(KEYS_ENV) or DEFAULT_KEYS_DIR).expanduser()


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


def client_curve(sock: zmq.Socket, directory: Path) -> None:
    """Make ``sock`` a CURVE client with the keys in ``directory``."""
    server_public = directory / "server.key"
    client_secret = directory / "client.key_secret"
    try:
        missing = [p.name for p in (server_public, client_secret) if not p.is_file()]
    except OSError as exc:  # another user's folder: is_file raises on EACCES
        raise SecurityError(f"cannot read the keys in {directory}: {exc.strerror}") from None
    if missing:  # pyzmq's own error ("Invalid certificate file") does not say what to do
        raise SecurityError(
            f"no {' or '.join(missing)} in {directory}: copy server.key and client.key_secret "
            f"from the hub's key directory (`hub keys --dir DIR` on its host) and pass that "
            f"folder (--keys DIR, keys_dir=...), or start a hub once on this host as this user"
        )
    try:
        public, private = zmq.auth.load_certificate(str(client_secret))
    except (OSError, ValueError) as exc:
        raise SecurityError(f"cannot read the client key in {directory}: {exc}") from None
    try:
        server_key, _ = zmq.auth.load_certificate(str(server_public))
    except (OSError, ValueError) as exc:
        raise SecurityError(f"cannot read the hub's public key in {directory}: {exc}") from None
    sock.curve_secretkey = private
    sock.curve_publickey = public
    sock.curve_serverkey = server_key
