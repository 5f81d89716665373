"""The processed-array cache: decoded arrays saved as one ``.npz`` per dataset in the cache directory.

Each entry stores a key: the format version, the processing options and, for every source file, its absolute
path, size and modification time. The sources were checksum-verified when the entry was built, so a matching
key means the same verified files: loading skips both the checksum and the decoding. Any change (a new file,
another option) rebuilds the entry. Writes are atomic; an unwritable cache only costs speed (with a warning).

Each entry also stores a SHA-256 digest of its arrays (names, dtypes, shapes and bytes), checked on every load:
an entry that was damaged or edited after it was written is rebuilt from the sources, with a warning. What the
cache trusts is that nobody who can write the cache directory forges an entry *and* its digest: keep
``$TINYGRAD_ADAM_CACHE`` private to you (or delete it to rebuild everything from the verified sources).
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .files import atomic_path
from .paths import cache_dir

FORMAT = 2  # 2: entries carry a digest of their arrays


def source_key(options: dict[str, Any], sources: Sequence[Path]) -> str:
    """The cache key of arrays derived from ``sources`` with ``options`` (a canonical JSON string)."""
    files = [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in sources]
    return json.dumps({"format": FORMAT, "options": options, "sources": files}, sort_keys=True)


def digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over every array's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(json.dumps([name, a.dtype.str, a.shape]).encode())
        h.update(a.data)
    return h.hexdigest()


def load(name: str, key: str) -> dict[str, np.ndarray] | None:
    """The arrays cached under ``name`` if the entry exists, was built for ``key`` and matches its digest, else
    None (a digest mismatch also warns: the entry was damaged or edited)."""
    path = cache_dir() / f"{name}.npz"
    try:
        with np.load(path, allow_pickle=False) as entry:
            if str(entry["key"]) != key:
                return None
            arrays = {k: entry[k] for k in entry.files if k not in ("key", "digest")}
            recorded = str(entry["digest"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # absent, unreadable or foreign: rebuild
        return None
    if digest(arrays) != recorded:
        warnings.warn(f"tinygrad_adam: the data cache {path} does not match the digest recorded in it (damaged or "
                      f"edited); rebuilding it from the verified source files", RuntimeWarning, stacklevel=3)
        return None
    return arrays


def save(name: str, key: str, arrays: dict[str, np.ndarray]) -> None:
    """Cache ``arrays`` under ``name`` for ``key`` (atomic replace); warn and carry on if that fails."""
    path = cache_dir() / f"{name}.npz"
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, key=np.array(key), digest=np.array(digest(arrays)), **arrays)
    except OSError as e:
        warnings.warn(f"tinygrad_adam: could not write the data cache {path} ({e}); loading stays slow. "
                      f"Set $TINYGRAD_ADAM_CACHE to a writable directory.", RuntimeWarning, stacklevel=3)
