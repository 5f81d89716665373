"""Save and load a tree of arrays and plain values as one ``.npz`` file, written atomically.

A tree is nested dicts / lists / tuples whose leaves are arrays (numpy or cupy; stored as numpy), Tensors or
JSON values (numbers, strings, bools, None). Dict keys keep their type (int or str), so an optimizer's
``state_dict`` comes back as it went in. The file is written to a temporary name in the same directory
and renamed over the target, so a crash never leaves a half-written checkpoint (only, at worst, a stale
``.<name>.*.tmp`` beside it). A file that is not such a tree (empty, truncated, damaged, foreign) raises
CheckpointError with a one-line message, never a zip or pickle error.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy

from . import backend
from .tensor import Tensor

REMEDY = "restore it from a copy, or start the run again with --overwrite"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read or does not hold what it should; the message names the file."""


def _encode(node: Any, arrays: dict[str, numpy.ndarray]) -> Any:
    """The JSON skeleton of ``node``; arrays go into ``arrays`` and leave a reference behind."""
    if isinstance(node, Tensor):
        key = f"a{len(arrays)}"
        arrays[key] = node.numpy()
        return {"__tensor__": key, "requires_grad": node.requires_grad}
    if hasattr(node, "dtype") and hasattr(node, "shape") and not isinstance(node, numpy.generic):
        key = f"a{len(arrays)}"
        arrays[key] = backend.to_numpy(node)
        return {"__array__": key}
    if isinstance(node, numpy.generic):
        return node.item()
    if isinstance(node, dict):
        return {"__dict__": [[k, _encode(v, arrays)] for k, v in node.items()]}
    if isinstance(node, (list, tuple)):
        return {"__list__" if isinstance(node, list) else "__tuple__": [_encode(v, arrays) for v in node]}
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    raise TypeError(f"cannot store a {type(node).__name__} in a checkpoint")


def _decode(node: Any, arrays: Any, device: str | None = None) -> Any:
    """The tree ``_encode`` made, arrays put back (Tensors on ``device``: the default device when None);
    KeyError / TypeError / ValueError for a skeleton it cannot have made."""
    if isinstance(node, dict):
        if "__tensor__" in node:
            if set(node) != {"__tensor__", "requires_grad"}:
                raise KeyError(sorted(node))
            return Tensor(arrays[node["__tensor__"]], requires_grad=bool(node["requires_grad"]), device=device)
        (tag, value), = node.items()  # ValueError unless exactly one tag
        if tag == "__array__":
            return arrays[value]
        if tag == "__dict__":
            return {_key(k): _decode(v, arrays, device) for k, v in value}
        if tag in ("__list__", "__tuple__") and isinstance(value, list):
            items = [_decode(v, arrays, device) for v in value]
            return items if tag == "__list__" else tuple(items)
        raise KeyError(tag)
    if isinstance(node, list):
        raise TypeError("a bare list")
    return node


def _key(key: Any) -> int | str:
    if isinstance(key, bool) or not isinstance(key, (int, str)):
        raise TypeError(f"a dict key {key!r}")
    return key


def save(path: str | os.PathLike[str] | BinaryIO, tree: Any) -> Path | None:
    """Write ``tree`` to ``path`` (.npz) atomically (returns the path), or into an open binary file."""
    arrays: dict[str, numpy.ndarray] = {}
    skeleton = json.dumps(_encode(tree, arrays))
    if hasattr(path, "write"):
        numpy.savez(path, __tree__=numpy.array(skeleton), **arrays)
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            numpy.savez(f, __tree__=numpy.array(skeleton), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: str | os.PathLike[str] | BinaryIO, device: str | None = None, require_dict: bool = True) -> Any:
    """Read a tree written by :func:`save` (arrays come back as numpy arrays, Tensors as Tensors on ``device``).

    FileNotFoundError if there is no file; CheckpointError if it is not a whole, undamaged tree (or, with
    ``require_dict``, not a dict at the top, as every checkpoint is).
    """
    if not hasattr(path, "read"):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        f = numpy.load(path, allow_pickle=False)
        if not isinstance(f, numpy.lib.npyio.NpzFile):
            raise ValueError("it is a single .npy array, not an .npz archive")
        with f:
            arrays = {k: f[k] for k in f.files}  # reading each member checks its CRC
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zipfile.LargeZipFile) as e:
        raise CheckpointError(f"{path} is not a readable checkpoint ({_why(e)}): it was damaged, cut short or is not "
                              f"a checkpoint (a crash cannot do this: checkpoints are written atomically); "
                              f"{REMEDY}") from None
    try:
        tree = _decode(json.loads(str(arrays.pop("__tree__"))), arrays, device)
        if require_dict and not isinstance(tree, dict):
            raise TypeError(f"a {type(tree).__name__} at the top")
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{path} is not a tinygrad_adam checkpoint: its contents are malformed "
                              f"({type(e).__name__}: {e}); {REMEDY}") from None
    return tree


def _why(error: BaseException) -> str:
    """A short reason for an unreadable file, without numpy's advice to unpickle it (never safe here)."""
    text = str(error)
    if isinstance(error, EOFError) or not text:
        return "the file ends early"
    if "pickle" in text or "allow_pickle" in text:
        return "it holds Python objects (pickled data), not arrays"
    return text.splitlines()[0]
