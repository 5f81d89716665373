"""Tiny Shakespeare (Karpathy's char-rnn corpus): 1,115,394 characters of Shakespeare's plays, for character-level
language models. One file, ``tinyshakespeare/input.txt``, verified by its size and SHA-256 on every load."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .download import fetch
from .files import Checksum, read_verified
from .paths import DatasetFiles, locate

URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
CHECKSUM = Checksum(1_115_394, "sha256", "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed")


def fetch_tinyshakespeare(folder: Path, mirrors: Sequence[str] = ()) -> None:
    """Download ``input.txt`` into ``folder`` from ``mirrors`` (base URLs of data directories:
    ``<mirror>/tinyshakespeare/input.txt``), then the char-rnn repository; only a verified copy is kept."""
    urls = [f"{m}/tinyshakespeare/input.txt" for m in mirrors] + [URL]
    fetch(urls, folder / "input.txt", lambda p: read_verified(p, CHECKSUM))


FILES = DatasetFiles("tinyshakespeare", ("input.txt",), "load_tinyshakespeare", URL, fetch_tinyshakespeare,
                     lambda folder: read_verified(folder / "input.txt", CHECKSUM))


def load_tinyshakespeare(root: str | os.PathLike[str] | None = None, download: bool = False) -> str:
    """The whole text (65 distinct characters). Usual split: the first 90% of characters train, the rest validate.

    ``root``: a data directory holding ``tinyshakespeare/`` (searched before ``$TINYGRAD_ADAM_DATA`` and
    ``~/.cache/tinygrad_adam``); ``download=True`` fetches it from the char-rnn repository if absent.
    """
    path = locate(FILES, root, download) / "input.txt"
    return read_verified(path, CHECKSUM).decode("utf-8")
