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
    is given first (network access).
    """

    name: str
    files: tuple[str, ...]
    loader: str
    origin: str
    fetch: Callable[[Path, Sequence[str]], None]


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


def locate(spec: DatasetFiles, root: str | os.PathLike[str] | None = None, download: bool = False) -> Path:
    """The dataset directory (``<data dir>/<spec.name>``) of the first data directory holding all ``spec.files``.

    With ``download=True`` and no complete copy anywhere, ``spec.fetch`` fills the first data directory.
    Otherwise raises DataNotFoundError listing the files, every directory searched and what each lacks.
    """
    searched = [(path / spec.name, why) for path, why in data_dirs(root)]
    for folder, _ in searched:
        if all((folder / f).is_file() for f in spec.files):
            return folder
    if download:
        from .download import mirrors

        folder = searched[0][0]
        spec.fetch(folder, mirrors())
        return folder
    lines = [f"{spec.name} data not found. It needs these {len(spec.files)} files in one directory:"]
    lines += [f"  {f}" for f in spec.files]
    lines.append("Looked in (in this order):")
    for folder, why in searched:
        missing = [f for f in spec.files if not (folder / f).is_file()]
        state = "does not exist" if not folder.is_dir() else f"missing {', '.join(missing)}"
        lines.append(f"  {folder}  ({why}): {state}")
    where = f" --data-dir {searched[0][0].parent}" if root is not None else ""
    lines.append(f"To get them, run:  tinygrad-adam download {spec.name}{where}")
    lines.append(f"(it fetches them from {spec.origin} into {searched[0][0]}, checksums verified; in Python: "
                 f"{spec.loader}(download=True); or copy the files into one of the directories above, or point "
                 f"${DATA_ENV} at a directory holding {spec.name}/)")
    raise DataNotFoundError("\n".join(lines))
