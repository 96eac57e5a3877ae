"""The scene store: the disk tier behind the scene log, and what lets a scene outlive its hub.

Every accepted item is recorded at once in an append-only journal (``journal.jsonl``: the
item's header, identity and hub segment) before the producer's reply goes out, and its pixels
are written by one writer thread into an OME-Zarr HCS plate (``plate.zarr``, see
:mod:`hub.store.plate`). Once an item is on disk its header carries a ``cold`` reference, so
the hub may evict its shared-memory segment when the budget is reached and viewers read the
plane from the plate instead (``contract.planes``).

After a SIGKILL of the hub, a new hub on the same store replays the journal: items already
on disk come back cold; items accepted but not yet written are still in their shared-memory
segments (the kernel keeps them after the hub dies), which the new hub adopts and writes.
Nothing accepted is lost unless the machine itself went down before the write.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import queue
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from contract import shm
from hub.store.plate import PlateWriter
from hub.store.sources import SegmentPlanes
from hub.threads import name_this_thread

log = logging.getLogger(__name__)

JOURNAL = "journal.jsonl"
#: The writer reports persisted items (after one metadata flush) at least this often.
BATCH_ITEMS = 64
BATCH_S = 0.25
#: While items are being accepted (one within INGEST_QUIET_S), the writer waits up to
#: DEFER_MAX_S before each plane, unless the budget is short (``hurry``): see ``_defer``.
INGEST_QUIET_S = 0.005
DEFER_MAX_S = 0.05
DEFER_MIN_BYTES = 1024**2


def plate_path(directory: Path, scene: int) -> Path:
    """The OME-Zarr plate of one scene (a new scene writes a new plate)."""
    return directory / f"scene-{scene}.zarr"


@dataclass(frozen=True)
class Persisted:
    """The writer thread's report: item ``index`` of ``scene`` is on disk at ``cold``."""

    scene: int
    index: int
    cold: dict[str, Any] | None
    error: str | None = None


@dataclass(frozen=True)
class Recovered:
    """One item read back from a journal: its header, identity, and where its pixels are."""

    header: dict[str, Any]
    key: str | None
    nbytes: int
    segment: str | None  # the dead hub's segment, if the pixels never reached the disk
    cold: dict[str, Any] | None


class SceneStore:
    """Journal + OME-Zarr plate + writer thread for one hub's scene."""

    def __init__(self, directory: Path, persistent: bool) -> None:
        self.directory = directory
        self.persistent = persistent  # keep it at shutdown (a named --store) or not (a cache)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._journal = None
        self._scene = 0
        self._writer: PlateWriter | None = None
        self._todo: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._done: queue.Queue[Persisted] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.written_items = 0
        self.written_bytes = 0
        self.write_errors = 0
        #: set by the hub loop: requests wait for memory, or the budget is nearly full
        self.hurry = False
        self._last_write_queued = 0.0

    # ------------------------------------------------------------------ lifecycle

    def recover(self) -> tuple[int, list[Recovered]]:
        """Read what a previous hub left: (its scene id, the scene's current items)."""
        path = self.directory / JOURNAL
        if not path.exists():
            return 0, []
        scene, items, cold = 0, {}, {}
        with open(path, encoding="utf-8") as journal:
            for line in journal:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by the kill: its reply never went out
                op = record.get("op")
                if op == "clear":
                    scene, items, cold = record["scene"], {}, {}
                elif op == "item" and record.get("scene") == scene:
                    items[record["index"]] = record
                elif op == "persisted" and record.get("scene") == scene:
                    cold[record["index"]] = record["cold"]
        current: dict[str | None, Recovered] = {}
        for index in sorted(items):
            record = items[index]
            key = record.get("key")
            recovered = Recovered(
                record["header"], key, record["nbytes"], record.get("segment"), cold.get(index)
            )
            current[key if key is not None else f"#{index}"] = recovered
        return scene, list(current.values())

    def start(self, scene: int) -> None:
        """Begin journaling ``scene`` (a fresh journal: recovered items are recorded again)."""
        self._scene = scene
        journal = self.directory / JOURNAL
        if self._journal is not None:
            self._journal.close()
        old = journal.with_suffix(".old")
        if journal.exists():
            journal.replace(old)
        self._journal = open(journal, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        self._journal.write(json.dumps({"op": "clear", "scene": scene}) + "\n")
        self._todo.put(("plate", scene))  # the writer opens the plate in queue order
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
            self._thread.start()

    def finish_recovery(self) -> None:
        """The recovered items are journaled again: the previous journal can go."""
        (self.directory / JOURNAL).with_suffix(".old").unlink(missing_ok=True)

    def clear(self, scene: int, keep_old: bool = False) -> None:
        """A new scene; the writer removes the old scene's plate after its queued writes."""
        if not keep_old:
            self._todo.put(("drop", self._scene))
        self.start(scene)
        self.finish_recovery()

    def close(self) -> None:
        """Finish queued writes (a named store keeps the whole scene), or drop them (a cache)."""
        if not self.persistent:
            self._scene = -1  # queued writes are skipped: the directory goes anyway
        if self._thread is not None:
            self._todo.put(None)
            self._thread.join(timeout=30)
            self._thread = None
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        if not self.persistent:
            shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def plate(self) -> Path:
        return plate_path(self.directory, self._scene)

    # ------------------------------------------------------------------ the hub loop's side

    def record(
        self, index: int, header: dict[str, Any], key: str | None, nbytes: int, cold: Any = None
    ) -> None:
        """Journal an accepted item before its reply goes out (the segment is in ``header``)."""
        assert self._journal is not None
        record = {
            "op": "item",
            "scene": self._scene,
            "index": index,
            "key": key,
            "nbytes": nbytes,
            "segment": header.get("segment"),
            "header": {k: v for k, v in header.items() if k not in ("segment", "cold")},
        }
        self._journal.write(json.dumps(record, separators=(",", ":")) + "\n")
        if cold is not None:
            self._persisted_record(index, cold)

    def write(self, index: int, header: dict[str, Any]) -> None:
        """Queue an image item's pixels for the plate; the segment must stay until reported."""
        self._last_write_queued = time.monotonic()
        self._todo.put(("write", self._scene, index, header, header["segment"]))

    def persisted(self) -> list[Persisted]:
        """What the writer finished since the last call (journaled here, on the hub's thread)."""
        out = []
        while True:
            try:
                done = self._done.get_nowait()
            except queue.Empty:
                return out
            if done.cold is not None and done.scene == self._scene:
                self._persisted_record(done.index, done.cold)
            out.append(done)

    def _persisted_record(self, index: int, cold: dict[str, Any]) -> None:
        assert self._journal is not None
        record = {"op": "persisted", "scene": self._scene, "index": index, "cold": cold}
        self._journal.write(json.dumps(record, separators=(",", ":")) + "\n")

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.directory).free

    def status(self) -> dict[str, Any]:
        return {
            "path": str(self.directory),
            "plate": str(self.plate),
            "persistent": self.persistent,
            "written_items": self.written_items,
            "written_bytes": self.written_bytes,
            "write_queue": self._todo.qsize(),
            "write_errors": self.write_errors,
            "free_bytes": self.free_bytes(),
        }

    # ------------------------------------------------------------------ the writer thread

    def _run(self) -> None:
        """Write queued items; report them in batches, each after one metadata flush.

        A batch ends when the queue is empty, after BATCH_ITEMS items or BATCH_S seconds: a
        burst costs one rewrite of each changed metadata document instead of one per plane,
        and a plane is reported (and may be evicted) only once the metadata covers it.
        """
        name_this_thread("store-writer")
        batch: list[Persisted] = []
        started = 0.0
        while True:
            job = self._todo.get()
            try:
                if job is None:
                    self._flush(batch)
                    return
                kind, *args = job
                if kind == "plate":
                    self._flush(batch)
                    self._writer = PlateWriter(plate_path(self.directory, args[0]))
                elif kind == "drop":
                    self._flush(batch)
                    shutil.rmtree(plate_path(self.directory, args[0]), ignore_errors=True)
                elif args[0] == self._scene:  # a write of a scene since cleared is skipped
                    if not batch:
                        started = time.monotonic()
                    self._defer(args[2])
                    done = self._write(*args)
                    if done is not None:
                        batch.append(done)
                if batch and (
                    self._todo.empty()
                    or len(batch) >= BATCH_ITEMS
                    or time.monotonic() - started > BATCH_S
                ):
                    self._flush(batch)
            except Exception:
                log.exception("scene store writer")
            finally:
                self._todo.task_done()

    def _defer(self, header: dict[str, Any]) -> None:
        """Let a burst of ingest run first: wait (at most DEFER_MAX_S) while items keep coming.

        Why: writing a plane to the plate costs more CPU than accepting it (a direct write of
        8 MiB: 2-4 ms against well under 1 ms); on two cores the writer took a core from the
        producer and the hub loop, and a burst ran at the writer's pace. The planes are safe
        in shared memory meanwhile. Never while requests wait for memory (``hurry``): then
        evicting written planes is what makes room. A steady stream still gets a plane written
        every DEFER_MAX_S at least, and the writer runs free the moment the stream pauses.
        Items under DEFER_MIN_BYTES are written at once: they cost the writer little.
        """
        try:
            nbytes = int(np.prod(header["shape"])) * np.dtype(header["dtype"]).itemsize
        except (KeyError, TypeError, ValueError):
            return
        if nbytes < DEFER_MIN_BYTES:
            return
        deadline = time.monotonic() + DEFER_MAX_S
        while not self.hurry:
            now = time.monotonic()
            if now >= deadline or now - self._last_write_queued >= INGEST_QUIET_S:
                return
            time.sleep(INGEST_QUIET_S / 2)

    def _flush(self, batch: list[Persisted]) -> None:
        if self._writer is not None:
            try:
                self._writer.flush()
            except OSError as exc:  # the planes are written; readers may not list them yet
                log.error("could not write metadata to %s: %s", self.directory, exc)
        for done in batch:
            self._done.put(done)
        batch.clear()

    def _write(
        self, scene: int, index: int, header: dict[str, Any], segment: str
    ) -> Persisted | None:
        """Write one item's planes; its report (None if it was released before the write)."""
        dtype, shape = np.dtype(header["dtype"]), tuple(header["shape"])
        nbytes = int(np.prod(shape)) * dtype.itemsize
        try:
            fd, size = shm.open_fd(segment)
        except shm.SegmentError:
            return None  # released before it was written (superseded, cleared): nothing to keep
        try:
            writer = self._writer
            if writer is None or size < nbytes:
                return None
            if SegmentPlanes.usable():
                planes = SegmentPlanes(fd, shape, dtype)
                try:
                    cold = writer.write_item(index, header, planes)
                finally:
                    planes.close()
            else:
                cold = self._write_mapped(writer, index, header, fd, shape, dtype)
            self.written_items += 1
            self.written_bytes += nbytes
            return Persisted(scene, index, cold)
        except Exception as exc:  # a disk error costs this item's disk copy, not the hub
            self.write_errors += 1
            log.error("could not write item %d to %s: %s", index, self.directory, exc)
            return Persisted(scene, index, None, f"{type(exc).__name__}: {exc}")
        finally:
            os.close(fd)

    @staticmethod
    def _write_mapped(
        writer: PlateWriter, index: int, header: dict, fd: int, shape: tuple, dtype: np.dtype
    ) -> dict[str, Any]:
        """The writer's path on a big-endian host: map the segment, let numpy swap bytes."""
        count = int(np.prod(shape))
        with mmap.mmap(fd, count * dtype.itemsize, prot=mmap.PROT_READ) as mapping:
            array = np.frombuffer(mapping, dtype=dtype, count=count).reshape(shape)
            try:
                return writer.write_item(index, header, array)
            finally:
                del array


def sweep_dead_caches(parent: Path) -> None:
    """Remove default stores of hubs that died (``pid-<n>`` folders whose process is gone)."""
    import psutil

    if not parent.is_dir():
        return
    for entry in parent.iterdir():
        pid = entry.name[4:]
        dead = entry.name.startswith("pid-") and pid.isdigit() and not psutil.pid_exists(int(pid))
        if dead:
            shutil.rmtree(entry, ignore_errors=True)


def default_directory(port: int, pid: int) -> Path:
    """Where a hub without ``--store`` keeps its scene: the user's cache, one per port."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    name = f"port-{port}" if port else f"pid-{pid}"
    return cache / "viewerhub" / "scenes" / name
