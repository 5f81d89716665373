"""``save(obj, f)`` / ``load(f)`` with torch's call shapes, for state dicts and nested containers of tensors.

``save`` writes torch.save's format (``torch_save``) where torch's weights-only load can read the tree back, else an
``.npz`` (zip) of arrays plus a JSON tree (see ``checkpoint``), else (a whole model, an optimizer, a user's class)
torch.save's pickle of it. ``load`` reads all three; torch's files by a weights-only unpickler (``torch_format``), so
loading a file runs no code unless ``weights_only=False`` lets it, as torch's. A path is written atomically; ``f``
may also be an open binary file.
"""

from __future__ import annotations

import copy
import os
import pickle
import zipfile
from collections.abc import Callable
from functools import partial
from typing import Any, BinaryIO

from . import checkpoint, torch_format, torch_save
from .tensor import Tensor
from .torch_format import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals

__all__ = ["add_safe_globals", "clear_safe_globals", "get_safe_globals", "load", "safe_globals", "save"]


def save(obj: Any, f: str | os.PathLike[str] | BinaryIO, pickle_module: Any = None, pickle_protocol: int = 2,
         _use_new_zipfile_serialization: bool = True, _disable_byteorder_record: bool = False) -> None:
    """Write ``obj`` to ``f``: Tensors (a Parameter stays one; a tensor met twice is one tensor when loaded, and views
    of one storage stay views of it, the whole storage written, as torch's), arrays, numbers, strings, bytes, None,
    dtypes, and dicts (OrderedDict kept; keys None / bool / int / float / str / tuples of them), lists, tuples,
    ``Size``, sets, ``argparse.Namespace`` of them.

    Where ``obj`` holds only what torch's weights-only load reads (``torch_save.holds_only_torch_types``: a state
    dict, tensors, numbers, strings...), the file is torch.save's, which ``torch.load`` reads (its zip format, or
    with ``_use_new_zipfile_serialization=False`` its legacy one, pickled with ``pickle_protocol``); otherwise (numpy
    arrays, a Namespace) it is our .npz; and where the .npz cannot hold it (``torch.save(model, f)``: a whole model,
    an optimizer, an object of the user's), it is torch.save's format pickling it whole, which ``load`` reads back
    with ``weights_only=False`` (code that builds the model must be importable then). ``pickle_module`` is not
    used."""
    write = partial(torch_save.write, obj, protocol=pickle_protocol, legacy=not _use_new_zipfile_serialization,
                    byteorder=not _disable_byteorder_record)
    if torch_save.holds_only_torch_types(obj):
        checkpoint.write_to(f, write)
        return
    try:
        checkpoint.save(f, obj)
    except TypeError:
        try:
            checkpoint.write_to(f, partial(write, full=True))
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            fix = "" if "state_dict" in str(e) else ("; save its state_dict() instead, or drop what cannot be (a "
                                                     "lambda, a hook, an open file)")
            raise TypeError(f"save: {type(obj).__name__} cannot be pickled ({e}){fix}") from None


def load(f: str | os.PathLike[str] | BinaryIO, map_location: Any = None, weights_only: bool | None = None,
         **_: Any) -> Any:
    """Read what ``save`` wrote; tensors go to ``map_location`` (a device) or the default device. As torch's,
    ``map_location`` may also be a dict {location: device} (a tensor loaded where a key names goes to its value) or
    a function ``(storage, location) -> storage`` called with each tensor and the device it loaded on (None keeps
    it). A file written by ``torch.save`` (its zip format, or its legacy one) is read by a weights-only unpickler
    (``torch_format``), which runs no code from the file; with ``weights_only=False`` (None is torch's default,
    True) it also builds any other object the file names, importing its class, as torch's (a torch class raises)."""
    if not hasattr(f, "read") and os.path.isdir(f):
        raise IsADirectoryError(f"[Errno 21] Is a directory: {str(f)!r}")
    writer = _written_by(f)
    if writer == "ours":
        read = partial(checkpoint.load, f, require_dict=False, remedy="restore it from a copy, or save it again")
    else:
        read = partial(torch_format.load, f, legacy=writer == "torch legacy", trusted=weights_only is False)
    if not (isinstance(map_location, dict) or callable(map_location)):
        return read(None if map_location is None else str(map_location))
    if isinstance(map_location, dict):
        table = {str(k): str(v) for k, v in map_location.items()}
        return _map_tensors(read(None), lambda t, where: t.to(table[where]) if where in table else t)
    return _map_tensors(read(None), map_location)


def _map_tensors(tree: Any, fn: Callable[[Tensor, str], Any]) -> Any:
    """``tree`` with each Tensor ``t`` replaced by ``fn(t, str(t.device))`` (kept where that returns None)."""
    if isinstance(tree, Tensor):
        moved = fn(tree, str(tree.device))
        if moved is not None and not isinstance(moved, Tensor):
            raise TypeError(f"load: map_location returned a {type(moved).__name__}, expected a tensor or None")
        return tree if moved is None else moved
    if isinstance(tree, dict):  # (a copy with its values set: a Counter's counts or a defaultdict's factory kept)
        values = {k: _map_tensors(v, fn) for k, v in tree.items()}
        if all(values[k] is v for k, v in tree.items()):
            return tree
        out = copy.copy(tree)
        for k, v in values.items():
            out[k] = v
        return out
    if isinstance(tree, list | tuple | set | frozenset):
        items = [_map_tensors(v, fn) for v in tree]
        if all(a is b for a, b in zip(items, tree)):
            return tree
        return type(tree)(*items) if hasattr(tree, "_fields") else type(tree)(items)  # (a namedtuple by position)
    return tree


def _written_by(f: str | os.PathLike[str] | BinaryIO) -> str:
    """Who wrote ``f``: "torch legacy" where it begins with a pickle's protocol header (0x80, then 2..5: torch.save's
    format with ``_use_new_zipfile_serialization=False``), "torch" for torch.save's zip (its ``<name>/data.pkl`` holds
    the tree), else "ours" (our .npz begins 'PK'; a missing or unreadable file is left to its reader's error). A
    stream's position is kept."""
    where = f.tell() if hasattr(f, "read") else None
    try:
        if where is None:
            with open(f, "rb") as stream:
                head = stream.read(2)
        else:
            head = f.read(2)
            f.seek(where)
        if len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
            return "torch legacy"
        with zipfile.ZipFile(f) as archive:
            return "torch" if torch_format.is_torch_zip(archive) is not None else "ours"
    except (OSError, zipfile.BadZipFile):
        return "ours"
    finally:
        if where is not None:
            f.seek(where)
