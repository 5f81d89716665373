"""Where datasets live: the data directories searched in order, the cache directory, and the missing-file error.

Data directories, searched in this order (one sub-directory per dataset: ``mnist/``, ``imdb/``, ``cifar10/``):

1. the ``root`` argument of a loader, when given;
2. ``$TINYGRAD_ADAM_DATA``, when set;
3. ``~/.cache/tinygrad_adam``.

The first directory that holds every file a dataset needs is used. Processed arrays are cached in
``$TINYGRAD_ADAM_CACHE`` (default ``~/.cache/tinygrad_adam``), never next to the data, which may be read-only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..backend import user_cache

DATA_ENV = "TINYGRAD_ADAM_DATA"


class DataNotFoundError(FileNotFoundError):
    """A dataset's files are in none of the data directories; the message says which files, where, and how."""


@dataclass(frozen=True)
class DatasetFiles:
    """What a dataset needs on disk and how ``download=True`` gets it.

    name: sub-directory under each data directory ("mnist"); files: the file names needed in it;
    loader: the public loader's name, for the hint; origin: where a download comes from, for the hint;
    fetch: puts every missing file, verified, into the directory it is given, trying the mirror base URLs it
    is given first (network access); verify: raises DataCorruptError unless the files in the directory it is given
    have the expected content (``tinygrad-adam download`` runs it on files already there).
    """

    name: str
    files: tuple[str, ...]
    loader: str
    origin: str
    fetch: Callable[[Path, Sequence[str]], None]
    verify: Callable[[Path], object] | None = None


def default_dir() -> Path:
    """``~/.cache/tinygrad_adam``: the last data directory searched and the default cache directory."""
    return Path.home() / ".cache" / "tinygrad_adam"


def data_dirs(root: str | os.PathLike[str] | None = None) -> list[tuple[Path, str]]:
    """The data directories to search, in order, each with where it came from (for messages)."""
    found: list[tuple[Path, str]] = []
    if root is not None:
        found.append((Path(root).expanduser(), "root argument"))
    if os.environ.get(DATA_ENV):
        found.append((Path(os.environ[DATA_ENV]).expanduser(), f"${DATA_ENV}"))
    found.append((default_dir(), "default"))
    unique: dict[Path, tuple[Path, str]] = {}
    for path, why in found:
        unique.setdefault(path.absolute(), (path, why))
    return list(unique.values())


def cache_dir() -> Path:
    """Where processed arrays are cached: ``$TINYGRAD_ADAM_CACHE``, else ``~/.cache/tinygrad_adam``."""
    return user_cache()


def holds(folder: Path, files: Sequence[str]) -> bool:
    """Whether ``folder`` holds every one of ``files``; False (not an exception) for an unreadable folder."""
    try:
        return all((folder / f).is_file() for f in files)
    except OSError:  # e.g. a parent directory without search permission: not usable, so keep looking
        return False


def locate(spec: DatasetFiles, root: str | os.PathLike[str] | None = None, download: bool = False) -> Path:
    """The dataset directory (``<data dir>/<spec.name>``) of the first data directory holding all ``spec.files``.

    With ``download=True`` and no complete copy anywhere, ``spec.fetch`` fills the first data directory.
    Otherwise raises DataNotFoundError, one line naming the files, every directory searched and what each lacks.
    """
    searched = [(path / spec.name, why) for path, why in data_dirs(root)]
    for folder, _ in searched:
        if holds(folder, spec.files):
            return folder
    if download:
        from .download import fetch_into, mirrors

        folder = searched[0][0]
        fetch_into(spec, folder, mirrors())
        return folder
    raise DataNotFoundError(not_found_message(spec, searched, root is not None))


def lacks(folder: Path, files: Sequence[str]) -> str:
    """What ``folder`` lacks of ``files``, briefly: "does not exist", "missing a.gz" or "missing 3 of 4 files"."""
    try:
        if not folder.exists():
            above = next((p for p in folder.parents if p.exists()), None)
            return f"does not exist ({above} is a file)" if above and not above.is_dir() else "does not exist"
        if not folder.is_dir():
            return "is not a directory"
        missing = [f for f in files if not (folder / f).is_file()]
        blocked = [f for f in missing if (folder / f).exists()]  # (a directory or a FIFO of that name)
    except OSError as e:  # an unreadable parent directory
        return f"cannot be read ({e.strerror or type(e).__name__})"
    if blocked:  # no download or copy can put the file there until that is moved away
        return f"has {blocked[0]} as something other than a file (move it away)"
    if len(missing) == len(files):
        return f"missing all {len(files)} files" if len(files) > 1 else f"missing {missing[0]}"
    return f"missing {', '.join(missing)}" if len(missing) <= 2 else f"missing {len(missing)} of {len(files)} files"


def not_found_message(spec: DatasetFiles, searched: Sequence[tuple[Path, str]], root_given: bool) -> str:
    """The one-line DataNotFoundError text: the dataset and its files, each directory searched (with where it came
    from and what it lacks), and the fixes (the download command, ``download=True``, copying, the variable)."""
    files = spec.files[0] if len(spec.files) == 1 else f"{len(spec.files)} files {', '.join(spec.files)}"
    looked = "; ".join(f"{folder} ({why}): {lacks(folder, spec.files)}" for folder, why in searched)
    where = f" --data-dir {searched[0][0].parent}" if root_given else ""
    return (f"{spec.name} data not found: it needs {files} in one directory; looked in {looked}. "
            f"Fix: run `tinygrad-adam download {spec.name}{where}` (fetches them from {spec.origin} into "
            f"{searched[0][0]}, checksums verified; in Python: {spec.loader}(download=True)), or copy the files into "
            f"one of those directories, or point ${DATA_ENV} at a directory holding {spec.name}/")
