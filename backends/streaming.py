"""The pipeline's streaming backend: ``save`` / ``save_batch`` to a hub, shaped like OpenHCS's.

A pipeline calls ``save(array, path, channel=1, z_index=3)`` or
``save_batch(arrays, paths, display_config=...)``; each call returns once the hub has
*accepted* the data (pixels safe in hub memory), never waiting for a viewer. Components come
from keyword arguments, from ``components=[...]``, from an OpenHCS ``microscope_handler``'s
filename parser, or from the default ImageXpress-style filename parser
(``A01_s001_w1_z001_t001.tif``).

Pixels travel by the cheapest way to the hub: on the same host the array is written once into
a shared-memory segment that the hub adopts without copying; across hosts it is a raw
zero-copy ZeroMQ frame. On the same host each save also asks the hub for *leases*: warm
segments (pages already faulted in, recycled by the hub) of the sizes just sent, which the
next save fills at memcpy speed instead of faulting in fresh pages (see ``hub.pool``).
"""

from __future__ import annotations

import logging
import math
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from backends.leases import LeaseStock
from backends.mappings import Kept
from contract import defaults, shm
from contract.connection import HubConnection, HubError, HubTimeoutError
from contract.display_config import DisplayConfig
from contract.shapes import Shape

if TYPE_CHECKING:
    from backends.pipelined import PipelinedSaves

log = logging.getLogger(__name__)

__all__ = ["HubError", "HubTimeoutError", "StreamingBackend", "parse_components"]

_FILENAME = re.compile(
    r"(?P<well>[A-Za-z]+\d+)_s(?P<site>\d+)_w(?P<channel>\d+)"
    r"(?:_z(?P<z_index>\d+))?(?:_t(?P<timepoint>\d+))?"
)
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def parse_components(path: str | Path) -> dict[str, int | str]:
    """Components from an ImageXpress-style name ``A01_s001_w2_z003_t001``; {} if no match."""
    match = _FILENAME.search(Path(path).name)
    if not match:
        return {}
    out: dict[str, int | str] = {}
    for name, value in match.groupdict().items():
        if value is not None:
            out[name] = value if name == "well" else int(value)
    return out


def one_item_batch(data: Any, path: str | Path, components: dict[str, Any]) -> dict[str, Any]:
    """``save``'s arguments as ``save_batch``'s keywords: one rule for the blocking and the
    pipelined ``save`` (a ``display_config`` keyword is the batch's, not a component)."""
    display_config = components.pop("display_config", None)
    return {
        "data_list": [data],
        "file_paths": [path],
        "components": [components] if components else None,
        "display_config": display_config,
    }


class StreamingBackend:
    """Streams arrays and shapes to a hub.

    ``endpoint``: the hub's ingest endpoint (default ``tcp://127.0.0.1:7700``); or pass
    ``hub=`` a handle from ``hub.launch(...)``. ``transport``: ``"auto"`` (shared memory for a
    hub on this host, frames otherwise), ``"shm"`` or ``"frames"``. ``keys_dir``: CURVE keys
    for a hub that listens beyond loopback (made by ``hub keys``; or ``VIEWERHUB_KEYS_DIR``).
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        hub: Any = None,
        display_config: DisplayConfig | dict[str, Any] | None = None,
        transport: str = "auto",
        timeout_s: float = 120.0,
        keys_dir: str | Path | None = None,
    ) -> None:
        if hub is not None:
            endpoint = hub.ingest
        self.endpoint = endpoint or defaults.INGEST_ENDPOINT
        self.display_config = display_config
        self._conn = HubConnection(self.endpoint, timeout_s=timeout_s, keys_dir=keys_dir)
        self._ping_timeout_s = min(timeout_s, 10.0)
        self.hub_pid: int = 0
        self._shm_prefix = ""
        self._ping()
        if transport == "auto":
            transport = "shm" if self._same_host() and shm.can_adopt() else "frames"
        if transport not in ("shm", "frames"):
            raise ValueError(f"transport must be 'auto', 'shm' or 'frames', got {transport!r}")
        self.transport = transport
        self._counter = 0
        self._leases = LeaseStock()  # warm hub segments lent to us, mapped ahead of use

    def _ping(self) -> None:
        """Learn which hub answers and the segment prefix it accepts."""
        info = self._conn.control("ping", timeout_s=self._ping_timeout_s)
        self.hub_pid = info["hub_pid"]
        self._shm_prefix = info["shm_prefix"]

    def _same_host(self) -> bool:
        parsed = urlparse(self.endpoint)
        return parsed.scheme == "ipc" or parsed.hostname in _LOCAL_HOSTS

    # ------------------------------------------------------------------ public API

    def save(self, data: Any, path: str | Path = "", **components: Any) -> dict[str, Any]:
        """Stream one array or shape list; keyword arguments are its components."""
        return self.save_batch(**one_item_batch(data, path, components))

    def save_batch(
        self,
        data_list: Sequence[Any],
        file_paths: Sequence[str | Path],
        *,
        display_config: DisplayConfig | dict[str, Any] | None = None,
        components: Sequence[dict[str, Any]] | None = None,
        microscope_handler: Any = None,
        stack_component: str | None = None,
        **_openhcs_kwargs: Any,
    ) -> dict[str, Any]:
        """Stream several items as one batch: the hub accepts all of them or none.

        ``stack_component`` (for example ``"z_index"``) spreads the first axis of every 3-D
        array over that component; otherwise a 3-D array is shown as a z-stack.
        """
        args = (data_list, file_paths, display_config, components, microscope_handler)
        try:
            return self._send_batch(*args, stack_component)
        except HubError as exc:
            if not self._recover(exc):
                raise
        return self._send_batch(*args, stack_component)  # once more, without stale leases

    def _send_batch(self, *batch: Any) -> dict[str, Any]:
        """One request for ``batch`` (``_prepare``'s arguments), answered before returning."""
        out = self._prepare(*batch)
        try:
            reply = self._conn.request(out.header, out.frames)
        except BaseException as exc:
            self._settle(out, None, exc)
            raise
        return self._settle(out, reply, None)

    def _prepare(
        self,
        data_list: Sequence[Any],
        file_paths: Sequence[str | Path],
        display_config: DisplayConfig | dict[str, Any] | None,
        components: Sequence[dict[str, Any]] | None,
        microscope_handler: Any,
        stack_component: str | None,
        in_flight: int = 1,
    ) -> Outgoing:
        """A batch's header and frames, its pixels already copied into shared memory.

        ``in_flight``: how many such batches may await the hub at once (pipelined saves), so
        the lease wish covers all of them.
        """
        if len(data_list) != len(file_paths):
            raise ValueError(
                f"data_list has {len(data_list)} items but file_paths has {len(file_paths)}"
            )
        if components is not None and len(components) != len(data_list):
            raise ValueError("components must have one dict per item")
        config = display_config if display_config is not None else self.display_config
        wire_config = config.to_wire() if isinstance(config, DisplayConfig) else config
        out = Outgoing({"kind": "batch", "items": []})
        items = out.header["items"]
        try:
            for i, (data, path) in enumerate(zip(data_list, file_paths)):
                comps = (
                    dict(components[i])
                    if components is not None
                    else self._components_from_path(path, microscope_handler)
                )
                items.append(
                    self._item(
                        data,
                        str(path),
                        comps,
                        stack_component,
                        out.frames,
                        out.segments,
                        out.leased,
                    )
                )
            if wire_config:
                out.header["display_config"] = wire_config
            if self.transport == "shm":
                out.header["lease"] = self._lease_wish(items, in_flight)
        except BaseException as exc:
            self._settle(out, None, exc)
            raise
        return out

    def _settle(
        self, out: Outgoing, reply: dict[str, Any] | None, exc: BaseException | None
    ) -> dict[str, Any]:
        """After the hub answered (or did not): mappings handed back, new leases stocked, and
        whatever the hub did not adopt (refused, timed out, interrupted) removed."""
        for name, size, kept in out.leased:
            self._leases.retire(kept)
            if exc is not None and name is not None and isinstance(exc, HubError):
                self._leases.add(name, size)  # refused: the hub gave the lease back to us
        if exc is not None or reply is None:
            for name in out.segments:
                shm.unlink(name)
            return {}
        for name, size in reply.pop("leases", None) or []:
            self._leases.add(str(name), int(size))
        return reply

    def _recover(self, exc: HubError) -> bool:
        """After a refusal: True if sending again may work (stale leases or a restarted hub)."""
        if exc.code == "missing_segment" and self._leases:
            # A lease expired or was reclaimed: forget them all and send our own segments.
            log.info("hub dropped a lease (%s): sending without leases", exc)
            self._leases.clear(unlink=False)
            return True
        if exc.code != "wrong_hub":
            return False
        # The hub was restarted since we pinged it: learn the new one.
        log.info("hub restarted (was pid %d): reconnecting", self.hub_pid)
        self._leases.clear(unlink=False)  # the old hub's segments
        self._ping()
        return True

    def pipelined(self, depth: int = 1) -> PipelinedSaves:
        """Saves that overlap with the hub's work, for throughput: see
        :class:`backends.pipelined.PipelinedSaves` (``save`` here waits for each acceptance)."""
        from backends.pipelined import PipelinedSaves

        return PipelinedSaves(self, depth)

    @staticmethod
    def _lease_wish(items: list[dict[str, Any]], in_flight: int = 1) -> dict[str, Any]:
        """Leases to ask for: as many segments of each size as this batch used (at least 2),
        times the batches that may be in flight (pipelined saves)."""
        sizes: dict[int, int] = {}
        for item in items:
            if item["kind"] == "image":
                size = math.prod(item["shape"]) * np.dtype(item["dtype"]).itemsize
                if size >= shm.LEASE_MIN_BYTES:
                    sizes[size] = sizes.get(size, 0) + 1
        # Pipelined: the hub counts leases filled for requests it has not read yet as still
        # held, so the wish covers those, the batch being filled and one to spare.
        factor = 1 if in_flight <= 1 else in_flight + 2
        want = [[size, max(2, count) * factor] for size, count in sizes.items()]
        return {"pid": os.getpid(), "want": want}

    def clear(self) -> None:
        self._conn.control("clear")

    def status(self) -> dict[str, Any]:
        return self._conn.control("status")["status"]

    def close(self) -> None:
        self._leases.close()  # unlinks unfilled leases: the hub sees at once they are gone
        self._conn.close()

    def __enter__(self) -> StreamingBackend:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ items

    @staticmethod
    def _components_from_path(path: str | Path, microscope_handler: Any) -> dict[str, Any]:
        if microscope_handler is not None:
            parsed = microscope_handler.parser.parse_filename(Path(path).name) or {}
            return {
                k: v for k, v in parsed.items() if isinstance(v, (int, str)) and k != "extension"
            }
        return parse_components(path)

    def _item(
        self,
        data: Any,
        path: str,
        components: dict[str, Any],
        stack_component: str | None,
        frames: list[Any],
        segments: list[str],
        leased: list[tuple[str, int, Any]],
    ) -> dict[str, Any]:
        if _is_shape_list(data):
            wire = [s.to_wire() if isinstance(s, Shape) else s for s in data]
            return {"kind": "shapes", "components": components, "shapes": wire, "path": path}
        array = np.asarray(data)
        if array.dtype.byteorder not in ("=", "|"):
            array = array.astype(array.dtype.newbyteorder("="))
        item: dict[str, Any] = {
            "kind": "image",
            "components": components,
            "dtype": array.dtype.name,
            "shape": list(array.shape),
            "path": path,
        }
        if stack_component and array.ndim == 3:
            item["stack_component"] = stack_component
            item["stack_values"] = list(range(1, array.shape[0] + 1))
        if self.transport == "shm":
            item["shm"] = self._write_leased(array, leased) or self._write_segment(
                array, segments, leased
            )
        else:
            frames.append(np.ascontiguousarray(array))
            item["frame"] = len(frames)
        return item

    def _write_leased(
        self, array: np.ndarray, leased: list[tuple[str | None, int, Kept]]
    ) -> str | None:
        """Copy into a warm segment the hub lent us (already mapped); None if none is left."""
        got = self._leases.take(array.nbytes)
        if got is None:
            return None
        name, kept = got
        leased.append((name, array.nbytes, kept))
        _copy_into(kept.mapping, array)
        return name

    def _write_segment(
        self, array: np.ndarray, segments: list[str], leased: list[tuple[str | None, int, Kept]]
    ) -> str:
        """A new segment of our own; one of a leasable size stays mapped (the hub may lease
        its memory back to us later, see ``backends.mappings``)."""
        self._counter += 1
        name = f"{self._shm_prefix}{os.getpid()}-{self._counter}-{secrets.token_hex(4)}"
        if array.nbytes >= shm.LEASE_MIN_BYTES:
            kept = self._leases.create(name, array.nbytes)
            segments.append(name)
            leased.append((None, array.nbytes, kept))
            _copy_into(kept.mapping, array)
            return name
        mapping = shm.create(name, array.nbytes)
        segments.append(name)
        try:
            _copy_into(mapping, array)
        finally:
            mapping.close()
        return name


@dataclass
class Outgoing:
    """One batch ready to send, and what is ours to undo if the hub does not take it."""

    header: dict[str, Any]
    frames: list[Any] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)  # our own: removed unless adopted
    leased: list[tuple[str | None, int, Kept]] = field(default_factory=list)  # filled


def _copy_into(mapping: Any, array: np.ndarray) -> None:
    target = np.frombuffer(mapping, dtype=array.dtype, count=array.size)
    np.copyto(target.reshape(array.shape), array)
    del target  # no view may outlive the save: the mapping is handed back after it


def _is_shape_list(data: Any) -> bool:
    return isinstance(data, (list, tuple)) and all(isinstance(s, (Shape, dict)) for s in data)
