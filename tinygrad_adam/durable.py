"""Put a finished temporary file in place so that it survives a crash of the machine, not only of the process.

``os.replace`` is atomic for running programs, but after a power cut the disk may hold neither the new file's
bytes nor the rename unless both were flushed: the file is synced before the rename (``sync_file``, or
``os.fsync`` on the handle that wrote it) and its directory after it (a rename lives in the directory's entries).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path


def sync_file(path: str | os.PathLike[str]) -> None:
    """Flush what has been written to the file ``path`` (by any handle, closed or not) to disk."""
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))  # Windows syncs only a handle open for writing
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace(tmp: str | os.PathLike[str], dest: str | os.PathLike[str]) -> None:
    """Rename the synced file ``tmp`` onto ``dest`` in one step, then flush ``dest``'s directory entries to disk
    (not possible on Windows, which cannot open a directory and commits a rename's metadata itself)."""
    os.replace(tmp, dest)
    try:
        fd = os.open(Path(dest).parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except PermissionError:
        return
    try:
        os.fsync(fd)
    except OSError as e:  # a file system that cannot sync a directory (some network mounts) says EINVAL
        if e.errno != errno.EINVAL:
            raise
    finally:
        os.close(fd)


def create_beside(path: Path, suffix: str) -> tuple[int, str]:
    """A new temporary file in ``path``'s directory, open for writing, with the permission bits ``path`` will have:
    its own where it exists, else a new file's under the umask (the kernel applies it to 0o666, as for open(path,
    "wb"); mkstemp's private 0o600 would otherwise replace them)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    while True:
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}{suffix}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        if mode is not None:
            os.chmod(tmp, mode)
        return fd, tmp
