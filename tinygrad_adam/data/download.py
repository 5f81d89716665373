"""Opt-in downloads (``download=True``, ``tinygrad-adam download``): try each source in turn, show progress,
verify, and only then move the file into place.

Mirrors: ``$TINYGRAD_ADAM_MIRROR`` (or ``tinygrad-adam download --mirror URL``) names the URL of a directory laid
out like a data directory (``URL/mnist/train-images-idx3-ubyte.gz``, ``URL/imdb/imdb_reviews.jsonl.gz``); it is
tried before the public sources. ``file://`` URLs work too (a local copy, the tests).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..progress import Progress
from .files import DataCorruptError, atomic_path, unsearchable

if TYPE_CHECKING:
    from .paths import DatasetFiles

TIMEOUT_S = 60
MIRROR_ENV = "TINYGRAD_ADAM_MIRROR"


class DownloadError(OSError):
    """Every source for a file failed (network error or wrong checksum); the one-line message lists each attempt
    (``attempts``: "URL: ErrorType: why", one per source tried)."""

    def __init__(self, message: str, attempts: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.attempts = list(attempts)


def mirrors() -> list[str]:
    """The mirror base URLs from ``$TINYGRAD_ADAM_MIRROR`` (several separated by spaces), without a final slash."""
    return [m.rstrip("/") for m in os.environ.get(MIRROR_ENV, "").split()]


def reason(error: BaseException, tmp: Path | None = None) -> str:
    """Why one download attempt failed, on one line: the error type and its message, without the temporary file's
    name and without the advice to delete a file (the failed download deleted it already)."""
    text = str(error.reason) if isinstance(error, urllib.error.URLError) and not isinstance(
        error, urllib.error.HTTPError) else str(error)
    if tmp is not None:
        text = text.replace(f"{tmp}: ", "")
    text = " ".join(text.split(" Delete the file")[0].split()).rstrip(".")
    return f"{type(error).__name__}: {text}"


def copy_url(url: str, path: Path, name: str, progress: bool = True, announce: str | None = None,
             digest: Any = None) -> None:
    """Stream ``url`` into the file ``path``, with a progress bar named ``name``; ``announce`` is printed on stderr
    once the source answers, and ``digest`` (a hashlib object) is fed every chunk."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(path, "wb") as out:
        if announce is not None:
            print(announce, file=sys.stderr, flush=True)
        size = response.headers.get("Content-Length")
        with Progress(int(size) if size else None, name, unit="B", enabled=progress) as bar:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                bar.update(len(chunk))
                if digest is not None:
                    digest.update(chunk)


def fetch(urls: Sequence[str], dest: Path, check: Callable[[Path], None], tried: Sequence[str] = ()) -> None:
    """Download the first of ``urls`` that works into ``dest``; ``check(path)`` must accept it first.

    ``check`` raises DataCorruptError for a wrong file. Nothing is written to ``dest`` unless a download passed
    the check, and no temporary file is left behind. A source is announced on stderr once it answers (a source
    that cannot be reached prints nothing). On failure the one-line DownloadError lists every URL tried (with
    ``tried``: earlier attempts for the same file) and why each failed.
    """
    failures = list(tried)
    for url in urls:
        tmp: Path | None = None
        try:
            with atomic_path(dest) as tmp:
                copy_url(url, tmp, dest.name, announce=f"tinygrad_adam: downloading {url} -> {dest}")
                check(tmp)
            return
        except (OSError, DataCorruptError) as e:
            failures.append(f"{url}: {reason(e, tmp)}")
    raise DownloadError(f"could not download {dest.name}; tried {'; '.join(failures)}", failures)


def fetch_into(spec: DatasetFiles, folder: Path, mirrors: Sequence[str]) -> None:
    """``spec.fetch(folder, mirrors)``, and on any failure remove the directories this call created (``folder``
    and the missing parents it needed), so a failed download leaves nothing behind; a directory that existed
    before, or that holds anything (a verified file that did arrive), is kept. A DownloadError is re-raised with
    the fix: retry, or copy the missing files in. A data directory under a file, or one this user may not search,
    is one NotADirectoryError or PermissionError before any source is tried."""
    created = []
    try:
        for path in (folder, *folder.parents):  # deepest first: the order in which to remove them
            if path.exists():
                break
            created.append(path)
    except PermissionError as e:
        raise unsearchable(path, e) from e
    if not path.is_dir():  # no download could be stored there: say so once, not once per source
        raise NotADirectoryError(f"{path} is a file, not a directory: give a data directory that is one")
    try:
        spec.fetch(folder, mirrors)
    except BaseException as e:
        for path in created:
            with suppress(OSError):  # not empty (or already gone): not ours to remove
                path.rmdir()
        if isinstance(e, DownloadError):
            missing = [f for f in spec.files if not (folder / f).is_file()] or list(spec.files)
            raise DownloadError(f"{e}. Retry later (or give a mirror: --mirror URL or ${MIRROR_ENV}), or copy "
                                f"{', '.join(missing)} into {folder}", e.attempts) from e
        raise
