"""Save and load a tree of arrays and plain values as one ``.npz`` file, written atomically.

A tree is nested dicts / lists / tuples whose leaves are arrays (numpy or cupy; stored as numpy), Tensors or
JSON values (numbers, strings, bools, None). Dict keys keep their type (int or str), so an optimizer's
``state_dict`` comes back as it went in. The file is written to a temporary name in the same directory
and renamed over the target, so a crash never leaves a half-written checkpoint.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy

from . import backend
from .tensor import Tensor


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
    """The tree ``_encode`` made, arrays put back; Tensors come back on ``device`` (where they were saved from
    when None is given: the default device)."""
    if isinstance(node, dict):
        if "__array__" in node:
            return arrays[node["__array__"]]
        if "__tensor__" in node:
            return Tensor(arrays[node["__tensor__"]], requires_grad=node["requires_grad"], device=device)
        if "__dict__" in node:
            return {k: _decode(v, arrays, device) for k, v in node["__dict__"]}
        if "__list__" in node:
            return [_decode(v, arrays, device) for v in node["__list__"]]
        return tuple(_decode(v, arrays, device) for v in node["__tuple__"])
    return node


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


def load(path: str | os.PathLike[str] | BinaryIO, device: str | None = None) -> Any:
    """Read a tree written by :func:`save` (arrays come back as numpy arrays, Tensors as Tensors on ``device``)."""
    if not hasattr(path, "read"):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint at {path}")
    with numpy.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    if "__tree__" not in arrays:
        raise ValueError(f"{path} is not a tinygrad_adam file (no __tree__ entry)")
    return _decode(json.loads(str(arrays.pop("__tree__"))), arrays, device)
