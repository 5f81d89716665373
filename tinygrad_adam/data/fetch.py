"""``fetch_dataset``: put a dataset's files, verified, into a data directory (what ``tinygrad-adam download`` runs)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from . import cifar10, imdb, mnist, shakespeare
from .download import fetch_into
from .download import mirrors as env_mirrors
from .files import unsearchable
from .paths import DatasetFiles, data_dirs

DATASETS: dict[str, DatasetFiles] = {"mnist": mnist.FILES, "imdb": imdb.FILES, "cifar10": cifar10.FILES,
                                     "tinyshakespeare": shakespeare.FILES}


def fetch_dataset(name: str, root: str | os.PathLike[str] | None = None,
                  mirrors: Sequence[str] | None = None) -> tuple[Path, bool]:
    """Download dataset ``name`` (a key of DATASETS) into ``<root>/<name>``; files already there are kept.

    Every file is verified then, those kept too (DataCorruptError names a damaged one; nothing is deleted or
    replaced).

    ``root`` defaults to the first data directory (``$TINYGRAD_ADAM_DATA``, else ``~/.cache/tinygrad_adam``),
    where the loaders look. ``mirrors`` (default ``$TINYGRAD_ADAM_MIRROR``) are tried before the public sources.
    Returns the dataset directory and whether anything was downloaded. Raises DownloadError (one line) listing every
    source tried when none served a verified copy; the directories it created are then removed again.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    spec = DATASETS[name]
    folder = data_dirs(root)[0][0] / spec.name
    try:
        complete = all((folder / f).is_file() for f in spec.files)
    except PermissionError as e:
        raise unsearchable(folder, e) from e
    if not complete:
        fetch_into(spec, folder, env_mirrors() if mirrors is None else [m.rstrip("/") for m in mirrors])
    if spec.verify is not None:  # the files kept too: "verified" only for the right ones; a damaged one is named
        spec.verify(folder)
    return folder, not complete
