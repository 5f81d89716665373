"""``torch.hub``'s downloads of pretrained weights: ``get_dir`` / ``set_dir``, ``download_url_to_file`` and
``load_state_dict_from_url``, reading torch's own files (``load`` reads torch's format). The cache is torch's
(``$TORCH_HOME/hub``, default ``~/.cache/torch/hub``), so weights torch downloaded are found and not fetched again.
A download goes to a temporary file beside its destination and is moved into place only once complete (and its
hash checked, where asked), so an interrupted one leaves no partial file. ``file://`` URLs work too.

``hub.load`` / ``list`` / ``help`` run code from GitHub repositories (their hubconf.py, written for torch): they
raise NotImplementedError here."""

from __future__ import annotations

import hashlib
import os
import re
import sys
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from . import serialization
from .data.download import copy_url
from .data.files import atomic_path

HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")  # torch's: the hash prefix in "resnet18-f37072fd.pth"
_hub_dir: str | None = None


def get_dir() -> str:
    """Where downloads are cached: the directory ``set_dir`` gave, else ``$TORCH_HOME/hub``, else
    ``$XDG_CACHE_HOME/torch/hub`` (default ``~/.cache/torch/hub``), as torch's."""
    if _hub_dir is not None:
        return _hub_dir
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return os.path.join(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch"))), "hub")


def set_dir(d: str | os.PathLike[str]) -> None:
    """Cache downloads in ``d`` from now on (in this process)."""
    global _hub_dir
    _hub_dir = os.path.expanduser(os.fspath(d))


def download_url_to_file(url: str, dst: str | os.PathLike[str], hash_prefix: str | None = None,
                         progress: bool = True) -> None:
    """Download ``url`` to ``dst`` (replacing it, as asked), through a temporary file moved into place only when
    complete; with ``hash_prefix``, the file's sha256 must start with it (else RuntimeError, and ``dst`` is left as
    it was)."""
    dst = Path(os.path.expanduser(os.fspath(dst)))
    with atomic_path(dst) as tmp:
        digest = hashlib.sha256()
        copy_url(url, tmp, dst.name, progress, digest=digest)
        if hash_prefix is not None and not digest.hexdigest().startswith(hash_prefix):
            raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got "{digest.hexdigest()}")')


def load_state_dict_from_url(url: str, model_dir: str | None = None, map_location: Any = None,
                             progress: bool = True, check_hash: bool = False, file_name: str | None = None,
                             weights_only: bool = False) -> Any:
    """The object saved at ``url`` (a state dict, usually), downloaded once into ``model_dir`` (default
    ``get_dir()/checkpoints``) under ``file_name`` (default the URL's last part) and read from there by ``load``
    afterwards. ``check_hash``: the file name's "-<hex>." part must begin the file's sha256 (torch's naming
    convention). A zip holding one torch file (torch's legacy zip) is unpacked beside it first."""
    model_dir = os.path.join(get_dir(), "checkpoints") if model_dir is None else os.path.expanduser(model_dir)
    os.makedirs(model_dir, exist_ok=True)
    name = file_name if file_name is not None else os.path.basename(urlparse(url).path)
    cached = os.path.join(model_dir, name)
    if not os.path.exists(cached):
        print(f'Downloading: "{url}" to {cached}', file=sys.stdout)  # (torch's: on stdout)
        match = HASH_REGEX.search(name) if check_hash else None
        download_url_to_file(url, cached, match.group(1) if match else None, progress)
    if zipfile.is_zipfile(cached):
        with zipfile.ZipFile(cached) as z:
            members = z.infolist()
            if len(members) == 1 and not members[0].is_dir():  # (torch's own format holds several entries)
                z.extractall(model_dir)
                cached = os.path.join(model_dir, members[0].filename)
    return serialization.load(cached, map_location=map_location, weights_only=weights_only)


def _from_github(name: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"hub.{name} runs a GitHub repository's hubconf.py, written for torch, which "
                                  "this library cannot run; build the model from its code and load its weights with "
                                  "hub.load_state_dict_from_url")
    refuse.__name__ = name
    return refuse


load, list, help = _from_github("load"), _from_github("list"), _from_github("help")  # noqa: A001 - torch's names

__all__ = ["download_url_to_file", "get_dir", "help", "list", "load", "load_state_dict_from_url", "set_dir"]
