"""Hosts on one machine: network namespaces joined by veth links, made and removed by a test.

``Hosts`` makes a hub host ``a`` with a link to each of ``b`` (viewer) and ``c`` (producer), and
one more to the test process itself (``root``) so the test can ask the hub for its status.
Every address is in a subnet the test chose and lives on links the test made; deleting the
namespaces removes the links, their addresses and routes, even after a failed test. Needs
root and iproute2; :func:`unavailable` says why not otherwise.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

#: The hub's address as each other host sees it (one /24 per link).
SUBNET = "10.231"
LINKS = {"b": 1, "c": 2, "root": 3}
_count = itertools.count()


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root to make network namespaces (ip netns)"
    if shutil.which("ip") is None:
        return "needs iproute2's `ip` to make network namespaces"
    probe = f"vhprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot make a network namespace here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Hosts:
    """Namespaces ``a``, ``b``, ``c``; processes started in them are ended on :meth:`close`."""

    def __init__(self) -> None:
        tag = f"vh{os.getpid() % 100000}{next(_count) % 10}"
        self.ns = {name: f"{tag}{name}" for name in "abc"}
        self._veth = {peer: (f"{tag}a{peer[0]}", f"{tag}{peer[0]}a") for peer in LINKS}
        self.processes: list[subprocess.Popen] = []
        try:
            self._make()
        except BaseException:
            self.close()
            raise

    def hub_address(self, seen_from: str) -> str:
        """The hub host's address on the link to ``seen_from`` (b, c or root)."""
        return f"{SUBNET}.{LINKS[seen_from]}.1"

    def link(self, peer: str) -> tuple[str, str]:
        """(namespace, interface) of ``peer``'s end of its link to the hub host."""
        return self.ns[peer], self._veth[peer][1]

    def _make(self) -> None:
        for ns in self.ns.values():
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        a = self.ns["a"]
        for peer, n in LINKS.items():
            hub_end, peer_end = self._veth[peer]
            _ip("link", "add", hub_end, "netns", a, "type", "veth", "peer", "name", peer_end)
            _ip("-n", a, "addr", "add", f"{SUBNET}.{n}.1/24", "dev", hub_end)
            _ip("-n", a, "link", "set", hub_end, "up")
            where = [] if peer == "root" else ["-n", self.ns[peer]]
            if peer != "root":
                _ip("link", "set", peer_end, "netns", self.ns[peer])
            _ip(*where, "addr", "add", f"{SUBNET}.{n}.2/24", "dev", peer_end)
            _ip(*where, "link", "set", peer_end, "up")

    def set_link(self, peer: str, up: bool) -> None:
        ns, dev = self.link(peer)
        _ip("-n", ns, "link", "set", dev, "up" if up else "down")

    def limit_rate(self, peer: str, rate: str | None) -> None:
        """Shape what the hub host sends to ``peer`` to ``rate`` (``"2mbit"``); None: lift it."""
        dev = self._veth[peer][0]
        if rate is None:
            subprocess.run(
                ["ip", "netns", "exec", self.ns["a"], "tc", "qdisc", "del", "dev", dev, "root"],
                capture_output=True,
            )
            return
        subprocess.run(
            ["ip", "netns", "exec", self.ns["a"], "tc", "qdisc", "replace", "dev", dev, "root"]
            + ["tbf", "rate", rate, "burst", "32kbit", "latency", "400ms"],
            check=True,
            capture_output=True,
        )

    def start(self, host: str, argv: list[str], log: Path, **kw: Any) -> subprocess.Popen:
        """Run ``argv`` (``python`` means this interpreter) on ``host``; output to ``log``."""
        if argv[0] == "python":
            argv = [sys.executable, *argv[1:]]
        with open(log, "ab") as out:
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.ns[host], *argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: ended with everything it started
                **kw,
            )
        self.processes.append(process)
        return process

    def run(self, host: str, argv: list[str], log: Path, timeout_s: float) -> int:
        process = self.start(host, argv, log)
        try:
            return process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.stop(process)
            raise

    def stop(self, process: subprocess.Popen, grace_s: float = 5.0) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def close(self) -> None:
        for process in reversed(self.processes):
            self.stop(process)
        for ns in self.ns.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        # the root end of a link goes with its peer in namespace a; make sure anyway
        subprocess.run(["ip", "link", "del", self._veth["root"][1]], capture_output=True)
