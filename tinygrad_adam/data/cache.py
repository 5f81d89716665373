"""The processed-array cache: decoded arrays saved as one ``.npz`` per dataset in the cache directory.

Each entry stores a key: the format version, the processing options and, for every source file, its absolute
path, size and modification time. The sources were checksum-verified when the entry was built, so a matching
key means the same verified files: loading skips both the checksum and the decoding. Any change (a new file,
another option) rebuilds the entry. Writes are atomic; an unwritable cache only costs speed (with a warning).
"""

from __future__ import annotations

import json
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .files import atomic_path
from .paths import cache_dir

FORMAT = 1


def source_key(options: dict[str, Any], sources: Sequence[Path]) -> str:
    """The cache key of arrays derived from ``sources`` with ``options`` (a canonical JSON string)."""
    files = [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in sources]
    return json.dumps({"format": FORMAT, "options": options, "sources": files}, sort_keys=True)


def load(name: str, key: str) -> dict[str, np.ndarray] | None:
    """The arrays cached under ``name`` if the entry exists and was built for ``key``, else None."""
    path = cache_dir() / f"{name}.npz"
    try:
        with np.load(path, allow_pickle=False) as entry:
            if str(entry["key"]) != key:
                return None
            return {k: entry[k] for k in entry.files if k != "key"}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):  # absent, unreadable or foreign: rebuild
        return None


def save(name: str, key: str, arrays: dict[str, np.ndarray]) -> None:
    """Cache ``arrays`` under ``name`` for ``key`` (atomic replace); warn and carry on if that fails."""
    path = cache_dir() / f"{name}.npz"
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, key=np.array(key), **arrays)
    except OSError as e:
        warnings.warn(f"tinygrad_adam: could not write the data cache {path} ({e}); loading stays slow. "
                      f"Set $TINYGRAD_ADAM_CACHE to a writable directory.", RuntimeWarning, stacklevel=3)
