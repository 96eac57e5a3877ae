"""POSIX shared-memory segments: naming, creation, adoption and sweeping.

Every segment viewerhub creates is named ``viewerhub-<hubpid>-<n>`` (owned by the hub),
``viewerhub-<hubpid>-p<producerpid>-<n>`` (written by a producer on the same host, not yet
accepted) or ``viewerhub-<hubpid>-l<producerpid>-<n>`` (a warm segment the hub leased to a
producer to fill: still the hub's, see ``hub.pool``). The names carry the owning process ids so that any hub can tell a leaked segment
from a live one after ``kill -9`` of anybody: a segment whose hub or producer is dead is
swept.

Segments are opened through ``_posixshmem`` and ``mmap`` rather than
``multiprocessing.shared_memory.SharedMemory`` because the latter registers every segment
with a resource tracker that unlinks it when *any* process that opened it exits; here only
the hub decides when a segment dies. On Linux the segments are files under ``/dev/shm``,
which lets the hub adopt a producer's segment by renaming it (no copy).

Every existing segment is opened through :func:`_open_checked`: ``O_NOFOLLOW|O_NONBLOCK``
(a FIFO or device planted under a segment name can neither block nor redirect the open) and
then ``fstat`` must show a regular file owned by this user. /dev/shm is sticky, so a file this
user owns cannot be swapped by anybody else between the check and its use. Hub segment names
end in a random token, so nobody can plant a file under the next name the hub will create.

This module must not know about messages or viewers.
"""

from __future__ import annotations

import _posixshmem  # the C module behind multiprocessing.shared_memory
import ctypes
import errno
import logging
import mmap
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

PREFIX = "viewerhub-"
SHM_DIR = Path("/dev/shm")

_HUB_SEGMENT = re.compile(r"^viewerhub-(\d+)-(k?)(\d+)(?:-[0-9a-f]{8})?$")
#: A dead hub's ``k`` (kept) segments hold pixels its named scene store may not have written
#: yet; they wait this long for that hub's restart to adopt them before any hub sweeps them.
KEEP_GRACE_S = 600.0
_PRODUCER_SEGMENT = re.compile(r"^viewerhub-(\d+)-p(\d+)-(\d+)(?:-[0-9a-f]{8})?$")
_LEASE_SEGMENT = re.compile(r"^viewerhub-(\d+)-l(\d+)-(\d+)-[0-9a-f]{8}$")
#: Planes smaller than this are not leased (their page faults cost little); see hub.pool.
LEASE_MIN_BYTES = 64 * 1024
#: Foreign segments the OpenHCS sender creates: napari_/fiji_ + 12 hex digits.
_OPENHCS_SEGMENT = re.compile(r"^(napari|fiji)_[0-9a-f]{12}$")


class SegmentError(ValueError):
    """A segment name is not allowed, or the segment is missing or too small."""


@dataclass(frozen=True)
class SegmentName:
    hub_pid: int
    producer_pid: int | None
    number: int
    keep: bool = False  # a hub with a named scene store made it: see KEEP_GRACE_S
    lessee_pid: int | None = None  # a hub segment leased to this producer (hub.pool)


def parse_name(name: str) -> SegmentName | None:
    """Parse one of our segment names; None for anything else (including path tricks)."""
    if m := _HUB_SEGMENT.match(name):
        return SegmentName(int(m[1]), None, int(m[3]), keep=bool(m[2]))
    if m := _PRODUCER_SEGMENT.match(name):
        return SegmentName(int(m[1]), int(m[2]), int(m[3]))
    if m := _LEASE_SEGMENT.match(name):
        return SegmentName(int(m[1]), None, int(m[3]), lessee_pid=int(m[2]))
    return None


def is_openhcs_name(name: str) -> bool:
    return bool(_OPENHCS_SEGMENT.match(name))


def hub_segment_name(hub_pid: int, number: int, keep: bool = False) -> str:
    """A new hub segment name; its random tail makes it impossible to plant in advance."""
    return f"{PREFIX}{hub_pid}-{'k' if keep else ''}{number}-{secrets.token_hex(4)}"


def lease_segment_name(hub_pid: int, lessee_pid: int, number: int) -> str:
    """A hub segment lent to producer ``lessee_pid``; random tail as for hub names."""
    return f"{PREFIX}{hub_pid}-l{lessee_pid}-{number}-{secrets.token_hex(4)}"


def producer_segment_name(hub_pid: int, producer_pid: int, number: int) -> str:
    return f"{PREFIX}{hub_pid}-p{producer_pid}-{number}-{secrets.token_hex(4)}"


#: Absent on platforms without it: mappings then fault their pages in on first use.
_MAP_POPULATE = getattr(mmap, "MAP_POPULATE", 0)


def create(name: str, size: int, populate: bool = False) -> mmap.mmap:
    """Create a new segment of ``size`` bytes (at least 1) and map it read-write.

    ``populate`` faults every page in now (MAP_POPULATE), so that a later copy into it runs
    at memcpy speed instead of at the kernel's page-fault rate.
    """
    fd, mapping = create_with_fd(name, size, populate)
    os.close(fd)
    return mapping


def create_with_fd(name: str, size: int, populate: bool = False) -> tuple[int, mmap.mmap]:
    """:func:`create`, keeping the descriptor open (the caller closes it): a producer keeps
    it beside the mapping to see, by ``st_nlink``, when the hub has removed the segment."""
    fd = _posixshmem.shm_open("/" + name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
    flags = mmap.MAP_SHARED | (_MAP_POPULATE if populate else 0)
    try:
        os.ftruncate(fd, max(size, 1))
        return fd, mmap.mmap(fd, max(size, 1), flags=flags)
    except BaseException:
        os.close(fd)
        _posixshmem.shm_unlink("/" + name)
        raise


def create_allocated(name: str, size: int) -> None:
    """Create a new segment with every page allocated now, without mapping it.

    Why not ``create(populate=True)``: ``mmap.mmap`` holds the GIL for the whole
    ``MAP_POPULATE`` (7 ms for a fresh 8 MiB segment here), so a thread pre-faulting segments
    stalled every other thread of its process. ``posix_fallocate`` allocates (and zeroes) the
    same tmpfs pages and releases the GIL; whoever maps the segment later pays only for its
    page tables.
    """
    fd = _posixshmem.shm_open("/" + name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
    try:
        os.ftruncate(fd, max(size, 1))
        try:
            os.posix_fallocate(fd, 0, max(size, 1))
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
            mmap.mmap(fd, max(size, 1), flags=mmap.MAP_SHARED | _MAP_POPULATE).close()
    except BaseException:
        _posixshmem.shm_unlink("/" + name)
        raise
    finally:
        os.close(fd)


_MADV_POPULATE_WRITE = 23  # Linux 5.14+
_libc: ctypes.CDLL | None | bool = None


def populate_writable(mapping: mmap.mmap) -> bool:
    """Build a read-write mapping's page tables now, with the GIL released.

    ``madvise(MADV_POPULATE_WRITE)`` through ctypes (which drops the GIL around the call) does
    what ``MAP_POPULATE`` does, without stalling the process's other threads. False where the
    kernel has no such advice (the pages then fault in during the first copy).
    """
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(None, use_errno=True)
            _libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        except (OSError, AttributeError):
            _libc = False
    if not _libc or len(mapping) == 0:
        return False
    anchor = ctypes.c_char.from_buffer(mapping)
    try:
        address = ctypes.addressof(anchor)
        madvise = _libc.madvise  # type: ignore[union-attr]
        return madvise(address, len(mapping), _MADV_POPULATE_WRITE) == 0
    finally:
        del anchor  # the mapping may be closed only once no buffer is exported


def _open_checked(name: str) -> tuple[int, int]:
    """Open an existing segment read-only and check it; returns (fd, size). Caller closes fd.

    Refuses, with a :class:`SegmentError` naming the reason, anything but a regular file owned
    by this user: a FIFO would block ``open``/``read`` forever, a device or another user's
    file is not ours to map.
    """
    try:
        fd = _posixshmem.shm_open(
            "/" + name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, mode=0o600
        )
    except FileNotFoundError:
        raise SegmentError(f"shared-memory segment {name!r} does not exist") from None
    except OSError as exc:
        raise SegmentError(f"shared-memory segment {name!r} cannot be opened: {exc}") from None
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = "is not a regular file"
    elif info.st_uid != os.geteuid():
        problem = f"belongs to uid {info.st_uid}, not to this user ({os.geteuid()})"
    if problem:
        os.close(fd)
        raise SegmentError(f"shared-memory segment {name!r} {problem}: refused")
    return fd, info.st_size


def open_readonly(name: str, min_size: int) -> mmap.mmap:
    """Map an existing segment read-only, checking that it holds at least ``min_size`` bytes."""
    return open_pinned(name, min_size)[0]


def open_pinned(name: str, min_size: int) -> tuple[mmap.mmap, int]:
    """:func:`open_readonly`, plus the inode mapped, for :func:`still_named` after a read.

    Why: the hub recycles a segment it lets go (renaming it first, then leasing it to a
    producer who overwrites it). A reader that mapped it just before the rename could copy a
    later plane; if the name still names the same inode after the copy, the rename (and so
    any overwrite) had not happened yet and the copy is the plane asked for.
    """
    fd, size = _open_checked(name)
    try:
        inode = os.fstat(fd).st_ino
        if size < min_size:
            raise SegmentError(
                f"shared-memory segment {name!r} holds {size} bytes, fewer than the "
                f"{min_size} its shape and dtype need"
            )
        return mmap.mmap(fd, max(size, 1), prot=mmap.PROT_READ), inode
    finally:
        os.close(fd)


def still_named(name: str, inode: int) -> bool:
    """True while ``name`` is the segment with ``inode`` (see :func:`open_pinned`)."""
    try:
        return os.stat(SHM_DIR / name, follow_symlinks=False).st_ino == inode
    except OSError:
        return False


def open_readwrite(name: str, size: int, populate: bool = False) -> mmap.mmap:
    """Map an existing segment of exactly ``size`` bytes read-write (a lease from the hub).

    The same checks as every open (regular file, this user's, no FIFO or symlink games), and
    the size must match exactly: a lease is for one plane of a known size. ``populate`` builds
    the page tables now, in one call, instead of one fault per page during the copy.
    """
    fd, _info = open_lease(name, size)
    try:
        flags = mmap.MAP_SHARED | (_MAP_POPULATE if populate else 0)
        return mmap.mmap(fd, max(size, 1), flags=flags)
    finally:
        os.close(fd)


def open_lease(name: str, size: int) -> tuple[int, os.stat_result]:
    """A checked read-write descriptor of a leased segment and its ``fstat`` (caller closes).

    Why the stat: its (``st_dev``, ``st_ino``) names the memory behind the lease. The hub
    recycles segments by renaming them, so a producer that already has that inode mapped
    (``backends.leases``) reuses its mapping instead of building a new one.
    """
    try:
        fd = _posixshmem.shm_open("/" + name, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK, mode=0o600)
    except OSError as exc:
        raise SegmentError(f"shared-memory segment {name!r} cannot be opened: {exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            raise SegmentError(f"shared-memory segment {name!r} is not this user's file: refused")
        if info.st_size != size:
            raise SegmentError(
                f"shared-memory segment {name!r} holds {info.st_size} bytes, not the {size} "
                f"of its lease"
            )
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def rename(old: str, new: str) -> None:
    """Give a hub-owned segment a new name (recycling, leasing, adopting)."""
    os.rename(SHM_DIR / old, SHM_DIR / new)


def open_fd(name: str) -> tuple[int, int]:
    """A checked read-only descriptor of a segment and its size (the caller closes it): for
    reading it without mapping it (``sendfile`` to a file, ``pread`` of sampled rows)."""
    return _open_checked(name)


def segment_size(name: str) -> int:
    """The real size of a checked segment (see :func:`_open_checked`)."""
    fd, size = _open_checked(name)
    os.close(fd)
    return size


def unlink(name: str) -> bool:
    """Remove a segment's name; mappings stay valid until closed.

    False if it is already gone or is not ours to remove (another user's file in the sticky
    /dev/shm): never an exception that could stop the hub's housekeeping.
    """
    try:
        _posixshmem.shm_unlink("/" + name)
        return True
    except FileNotFoundError:
        return False
    except PermissionError:
        log.warning("segment %s belongs to another user: left alone", name)
        return False


def adopt(producer_name: str, hub_name: str) -> None:
    """Take ownership of a producer's segment without copying: rename it to a hub name.

    The caller checked the segment with :func:`segment_size` (regular, ours); rename never
    follows a symlink and, /dev/shm being sticky, nobody else can swap a file we own.
    """
    os.rename(SHM_DIR / producer_name, SHM_DIR / hub_name)


def can_adopt() -> bool:
    return SHM_DIR.is_dir()


def list_ours() -> list[str]:
    """Names under our prefix that belong to this user (others' files are not ours to sweep)."""
    if not SHM_DIR.is_dir():
        return []
    uid = os.geteuid()
    names = []
    for entry in os.scandir(SHM_DIR):
        if not entry.name.startswith(PREFIX):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_uid == uid:
                names.append(entry.name)
        except FileNotFoundError:
            continue
    return sorted(names)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def process_alive(pid: int) -> bool:
    """True while process ``pid`` runs (a zombie counts as dead)."""
    return _alive(pid)


def _age_s(name: str) -> float:
    """Seconds since the segment last changed hands (renamed on adoption, or created)."""
    try:
        return time.time() - (SHM_DIR / name).lstat().st_ctime
    except FileNotFoundError:
        return 0.0


def sweep(current_hub_pid: int | None = None) -> list[str]:
    """Unlink segments whose hub is dead, and producer segments whose producer is dead.

    The running hub calls this with its own pid: its own hub segments are kept, its pending
    producer segments are kept while the producer lives.
    """
    removed = []
    alive: dict[int, bool] = {}  # one liveness check per process, however many segments

    def is_alive(pid: int) -> bool:
        if pid not in alive:
            alive[pid] = _alive(pid)
        return alive[pid]

    for name in list_ours():
        parsed = parse_name(name)
        if parsed is None:
            continue
        hub_dead = parsed.hub_pid != current_hub_pid and not is_alive(parsed.hub_pid)
        if hub_dead and parsed.keep and _age_s(name) < KEEP_GRACE_S:
            continue  # its hub's restart may still adopt it
        # A lease whose producer died is its (living) hub's to recycle: only hub_dead counts.
        producer_dead = parsed.producer_pid is not None and not is_alive(parsed.producer_pid)
        if (hub_dead or producer_dead) and unlink(name):
            removed.append(name)
    if removed:
        log.info("swept %d leaked shared-memory segment(s): %s", len(removed), removed[:5])
    return removed
