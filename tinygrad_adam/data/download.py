"""Opt-in downloads (``download=True``): try each mirror, verify, and only then move the file into place."""

from __future__ import annotations

import shutil
import sys
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from .files import DataCorruptError, atomic_path

TIMEOUT_S = 60


class DownloadError(OSError):
    """Every source for a file failed (network error or wrong checksum); the message lists each attempt."""


def fetch(urls: Sequence[str], dest: Path, check: Callable[[Path], None]) -> None:
    """Download the first of ``urls`` that works into ``dest``; ``check(path)`` must accept it first.

    ``check`` raises DataCorruptError for a wrong file. Nothing is written to ``dest`` unless a download passed
    the check, and no temporary file is left behind. ``file://`` URLs work too (local mirrors, tests).
    """
    failures = []
    for url in urls:
        print(f"tinygrad_adam: downloading {url} -> {dest}", file=sys.stderr)
        try:
            with atomic_path(dest) as tmp:
                with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(tmp, "wb") as out:
                    shutil.copyfileobj(response, out, 1 << 20)
                check(tmp)
            return
        except (OSError, DataCorruptError) as e:
            failures.append(f"  {url}: {type(e).__name__}: {e}")
    raise DownloadError(f"could not download {dest.name}; tried:\n" + "\n".join(failures))
