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

This module is the server half (the ZAP authenticator, the loopback rule); key files and the
client half are ``contract.keys``.
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

from contract.keys import SecurityError

log = logging.getLogger(__name__)

__all__ = ["SecurityError", "ServerCurve", "authorize", "is_loopback"]


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


def authorize(directory: Path, public_key_file: Path) -> Path:
    """Allow another client's public key in."""
    target = directory / "authorized" / public_key_file.name
    shutil.copy(public_key_file, target)
    return target


@dataclass
class ServerCurve:
    """CURVE on a hub's sockets, with one ZAP authenticator thread for all of them.

    The authenticator reads ``authorized/`` once; :meth:`refresh` reads it again when it
    changed, so a key copied in (or removed) counts from the next connection without a hub
    restart, as the docs tell users.
    """

    directory: Path
    authenticator: ThreadAuthenticator | None = None
    _seen: tuple[tuple[str, int, int], ...] = ()

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
            self._seen = self._listing()
            self.authenticator.configure_curve(domain="*", location=str(authorized))
        public, private = zmq.auth.load_certificate(str(secret))
        sock.curve_secretkey = private
        sock.curve_publickey = public
        sock.curve_server = True
        log.debug("CURVE on: only keys in %s may connect", authorized)

    def _listing(self) -> tuple[tuple[str, int, int], ...]:
        """Name, size and mtime of each file in ``authorized/`` (what a change shows in)."""
        try:
            entries = sorted(
                (e.name, e.stat().st_size, e.stat().st_mtime_ns)
                for e in os.scandir(self.directory / "authorized")
            )
        except OSError:
            return ()
        return tuple(entries)

    def refresh(self) -> bool:
        """Read ``authorized/`` again if its files changed; True when they did."""
        if self.authenticator is None:
            return False
        listing = self._listing()
        if listing == self._seen:
            return False
        self._seen = listing
        self.authenticator.configure_curve(domain="*", location=str(self.directory / "authorized"))
        log.info("authorized keys changed: %d key file(s) now", len(listing))
        return True

    def stop(self) -> None:
        if self.authenticator is not None:
            self.authenticator.stop()
