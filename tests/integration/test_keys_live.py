"""Keys copied into (or removed from) a running hub's ``authorized/`` count from the next
connection, as docs/remote.md tells users: no hub restart."""

from __future__ import annotations

import shutil

from contract.connection import HubConnection, HubTimeoutError
from contract.keys import make_keys
from tests.conftest import wait_for


def _answers(endpoint: str, keys) -> bool:
    """A fresh connection (CURVE checks keys at the handshake) that pings once."""
    conn = HubConnection(endpoint, timeout_s=0.5, keys_dir=keys)
    try:
        return bool(conn.control("ping", timeout_s=0.5).get("pong"))
    except HubTimeoutError:
        return False
    finally:
        conn.close()


def test_a_key_authorised_or_removed_while_the_hub_runs_counts_at_the_next_connection(
    start_hub, tmp_path
):
    hub_keys, desk = tmp_path / "hub", tmp_path / "desk"
    make_keys(hub_keys)
    make_keys(desk)  # a workstation's own keypair, as docs/remote.md describes
    shutil.copy(hub_keys / "server.key", desk / "server.key")
    hub = start_hub(viewers=(), keys_dir=hub_keys)
    assert not _answers(hub.ingest, desk), "a key the hub never authorised got an answer"
    shutil.copy(desk / "client.key", hub_keys / "authorized" / "desk.key")
    wait_for(lambda: _answers(hub.ingest, desk), 10, "the new key to be admitted")
    (hub_keys / "authorized" / "desk.key").unlink()
    wait_for(lambda: not _answers(hub.ingest, desk), 10, "the removed key to be refused")
    assert _answers(hub.ingest, hub_keys), "the hub's own client key still works"
