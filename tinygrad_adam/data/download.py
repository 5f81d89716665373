"""Opt-in downloads (``download=True``, ``tinygrad-adam download``): try each source in turn, show progress,
verify, and only then move the file into place.

Mirrors: ``$TINYGRAD_ADAM_MIRROR`` (or ``tinygrad-adam download --mirror URL``) names the URL of a directory laid
out like a data directory (``URL/mnist/train-images-idx3-ubyte.gz``, ``URL/imdb/imdb_reviews.jsonl.gz``); it is
tried before the public sources. ``file://`` URLs work too (a local copy, the tests).
"""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from ..progress import Progress
from .files import DataCorruptError, atomic_path

TIMEOUT_S = 60
MIRROR_ENV = "TINYGRAD_ADAM_MIRROR"


class DownloadError(OSError):
    """Every source for a file failed (network error or wrong checksum); the message lists each attempt."""

    def __init__(self, message: str, attempts: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.attempts = list(attempts)


def mirrors() -> list[str]:
    """The mirror base URLs from ``$TINYGRAD_ADAM_MIRROR`` (several separated by spaces), without a final slash."""
    return [m.rstrip("/") for m in os.environ.get(MIRROR_ENV, "").split()]


def fetch(urls: Sequence[str], dest: Path, check: Callable[[Path], None], tried: Sequence[str] = ()) -> None:
    """Download the first of ``urls`` that works into ``dest``; ``check(path)`` must accept it first.

    ``check`` raises DataCorruptError for a wrong file. Nothing is written to ``dest`` unless a download passed
    the check, and no temporary file is left behind. On failure the DownloadError lists every URL tried (with
    ``tried``: earlier attempts for the same file) and why each failed.
    """
    failures = list(tried)
    for url in urls:
        print(f"tinygrad_adam: downloading {url} -> {dest}", file=sys.stderr, flush=True)
        try:
            with atomic_path(dest) as tmp:
                with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(tmp, "wb") as out:
                    size = response.headers.get("Content-Length")
                    with Progress(int(size) if size else None, dest.name, unit="B") as bar:
                        while chunk := response.read(1 << 20):
                            out.write(chunk)
                            bar.update(len(chunk))
                check(tmp)
            return
        except (OSError, DataCorruptError) as e:
            failures.append(f"  {url}: {type(e).__name__}: {e}")
    raise DownloadError(f"could not download {dest.name}; tried:\n" + "\n".join(failures), failures)
