"""Reading data files safely: content checksums, and writes that never leave a half-written file.

A file is identified by the size and hash of its *decompressed* content, so a ``.gz`` recompressed by
someone else (as the shared MNIST files were) still verifies, while any changed byte of data does not.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import NamedTuple

from .. import durable


class DataCorruptError(ValueError):
    """A data file exists but its content is not the expected one (truncated, damaged or a different file)."""


def refetch(path: Path) -> str:
    """The fix for a damaged data file ``path`` (in ``<data dir>/<dataset>/``): delete it and fetch it again."""
    return (f"Delete the file and fetch it again (`tinygrad-adam download {path.parent.name}`, or download=True in "
            f"Python).")


def unsearchable(path: Path, error: OSError) -> PermissionError:
    """The one-line error for a data directory this user may not read or search."""
    return PermissionError(f"{path}: cannot be read ({error.strerror or type(error).__name__}); give yourself read "
                           f"and search permission on it and its parents, or give another data directory")


def unreadable(path: Path, error: OSError) -> PermissionError:
    """The one-line error for a data file that exists but that this user may not read (not a damaged file)."""
    return PermissionError(f"{path}: cannot be read ({error.strerror or type(error).__name__}); give yourself read "
                           f"permission on it (and its directory), or copy the data to a directory you can read")


class Checksum(NamedTuple):
    """The expected content of a file: ``size`` bytes whose ``algorithm`` hash ("md5", "sha256") is ``hexdigest``."""

    size: int
    algorithm: str
    hexdigest: str


def check_bytes(content: bytes, expected: Checksum, path: Path) -> None:
    """Raise DataCorruptError unless ``content`` (read from ``path``) has the expected size and hash."""
    if len(content) != expected.size:
        raise DataCorruptError(f"{path}: content is {len(content):,} bytes, expected {expected.size:,}. " +
                               refetch(path))
    actual = hashlib.new(expected.algorithm, content).hexdigest()
    if actual != expected.hexdigest:
        raise DataCorruptError(f"{path}: {expected.algorithm} of the content is {actual}, expected "
                               f"{expected.hexdigest}. {refetch(path)}")


def read_gzip_verified(path: Path, expected: Checksum) -> bytes:
    """The decompressed content of the gzip file ``path``, checked against ``expected``.

    Truncated, damaged or non-gzip files raise DataCorruptError naming the file, never a bare gzip error; a file
    this user may not read raises PermissionError saying so. At
    most ``expected.size + 1`` bytes are ever decompressed, so a small file that inflates to gigabytes costs no
    more memory than the real one.
    """
    try:
        with gzip.open(path, "rb") as f:  # decompressed as a stream: a gzip bomb stops one byte past the size
            content = f.read(expected.size + 1)
    except PermissionError as e:
        raise unreadable(path, e) from e
    except (OSError, EOFError, zlib.error) as e:
        raise DataCorruptError(f"{path}: cannot be decompressed ({type(e).__name__}: {e}). " +
                               refetch(path)) from e
    if len(content) > expected.size:
        raise DataCorruptError(f"{path}: content is more than the expected {expected.size:,} bytes. " +
                               refetch(path))
    check_bytes(content, expected, path)
    return content


def read_verified(path: Path, expected: Checksum) -> bytes:
    """The bytes of the (uncompressed) file ``path``, checked against ``expected``. The size is checked before
    anything is read, so a wrong file of gigabytes costs no memory; an unreadable file raises PermissionError."""
    try:
        size = path.stat().st_size
        if size != expected.size:
            raise DataCorruptError(f"{path}: {size:,} bytes, expected {expected.size:,}. {refetch(path)}")
        content = path.read_bytes()
    except PermissionError as e:
        raise unreadable(path, e) from e
    check_bytes(content, expected, path)
    return content


def file_hexdigest(path: Path, algorithm: str) -> str:
    """The ``algorithm`` hash of the raw bytes of ``path``, read in chunks (for large downloads)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; on success it is renamed onto ``dest`` in one step.

    Readers therefore see the old file or the complete new one, never a partial write, and the new one is on disk
    once the block ends (``durable.replace``), so a crash of the machine keeps it too. If the block raises
    (a failed download, a failed checksum, Ctrl-C) the temporary file is removed and ``dest`` is untouched.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = durable.create_beside(dest, ".part")  # (with dest's permission bits, not mkstemp's 0o600)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        durable.sync_file(tmp)
        durable.replace(tmp, dest)
    except BaseException:
        with suppress(FileNotFoundError):
            tmp.unlink()
        raise
