"""Writing a file a remote request names, without becoming a way to write someone else's file.

A ``screenshot`` request names a path, and the viewer process writes it with the viewer's
rights. So the path must be absolute, its folder must belong to the user the viewer runs as,
the file is created with ``O_EXCL|O_NOFOLLOW`` (a symlink or a file planted there is never
followed or truncated), and an existing file is replaced only if this process created it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class UnsafePathError(ValueError):
    """The requested path is not one this process may write."""


class SafeWriter:
    """Delivers files into caller-named paths under the rules above; remembers what it made."""

    def __init__(self) -> None:
        self._created: set[tuple[int, int]] = set()  # (st_dev, st_ino) of files we wrote

    def deliver(self, source: Path, target: Path) -> Path:
        """Copy ``source`` (a file this process made) to ``target``; returns ``target``."""
        if not target.is_absolute():
            raise UnsafePathError(f"path {str(target)!r} must be absolute")
        try:
            folder = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise UnsafePathError(f"folder {str(target.parent)!r} is not usable: {exc}") from None
        try:
            owner = os.fstat(folder).st_uid
            if owner != os.geteuid():
                raise UnsafePathError(
                    f"folder {str(target.parent)!r} belongs to uid {owner}, not to this user"
                )
            fd = self._create(target.name, folder)
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                shutil.copyfileobj(src, out)
                info = os.fstat(out.fileno())
            self._created.add((info.st_dev, info.st_ino))
        finally:
            os.close(folder)
        return target

    def _create(self, name: str, folder: int) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        try:
            return os.open(name, flags, 0o644, dir_fd=folder)
        except FileExistsError:
            pass
        info = os.stat(name, dir_fd=folder, follow_symlinks=False)
        if (info.st_dev, info.st_ino) not in self._created:
            raise UnsafePathError(
                f"{name!r} exists and was not written by this viewer: not overwriting it"
            ) from None
        os.unlink(name, dir_fd=folder)
        return os.open(name, flags, 0o644, dir_fd=folder)
