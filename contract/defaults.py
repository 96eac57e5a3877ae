"""Defaults every command and library reads: one place, so a port or a timeout changes once."""

from __future__ import annotations

#: The hub's ingest port; its viewer port is the next one.
INGEST_PORT = 7700
VIEWER_PORT = INGEST_PORT + 1
LOOPBACK = "127.0.0.1"
INGEST_ENDPOINT = f"tcp://{LOOPBACK}:{INGEST_PORT}"
VIEWER_ENDPOINT = f"tcp://{LOOPBACK}:{VIEWER_PORT}"

#: Bytes the scene may hold in memory (pixels, expanded shapes, headers).
MEMORY_BUDGET = 4 * 1024**3
#: Share of the memory budget above which the hub works to make room before requests must
#: wait: the store writer stops yielding to ingest (``hub.ingest``), and viewers' acks are
#: read at once, not once a round (``hub.fanout``): the scene evicts on-disk items no viewer
#: has in flight, oldest first, so an ack read late makes it evict newer items instead.
NEAR_FULL = 0.75
#: Requests that may wait for memory; more are refused at once.
MAX_PENDING_REQUESTS = 32
#: Items a viewer may have unacknowledged: an item stays in flight while the viewer holds its
#: ack (10-15 ms) and until the hub reads it (at the end of a round, up to 20 ms), so a fast
#: stream (about 1000 items/s) needs some 40 in flight not to wait for credits. A GUI viewer
#: still takes them a few at a time (``viewers.client.ITEMS_PER_POLL``).
CREDITS = 64

#: Seconds: a viewer silent this long is hung; hung this long, restarted (if the hub started
#: it); a producer waits this long for memory before an error; a viewer answers a control
#: verb within this.
HEARTBEAT_TIMEOUT_S = 5.0
HANG_RESTART_S = 30.0
BACKPRESSURE_TIMEOUT_S = 60.0
CONTROL_TIMEOUT_S = 30.0
#: How often a viewer heartbeats from its event loop.
HEARTBEAT_INTERVAL_S = 0.5

#: Viewers on another host (``hub attach``): items in flight (each a whole image on the
#: wire), bytes of received planes kept in memory before the oldest spill to disk, and the
#: link heartbeat that notices a dropped network in seconds instead of TCP's minutes.
REMOTE_CREDITS = 4
REMOTE_VIEWER_MEMORY = 2 * 1024**3
LINK_HEARTBEAT_S = 1.0
LINK_TIMEOUT_S = 3.0

#: Environment variable that hands a hub-started viewer its session token.
TOKEN_ENV = "VIEWERHUB_VIEWER_TOKEN"
