"""Save and load a tree of arrays and plain values as one ``.npz`` file, written atomically.

A tree is nested dicts / lists / tuples whose leaves are arrays (numpy or cupy; stored as numpy) or
JSON values (numbers, strings, bools, None). Dict keys keep their type (int or str), so an optimizer's
``state_dict`` comes back as it went in. The file is written to a temporary name in the same directory
and renamed over the target, so a crash never leaves a half-written checkpoint.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy

from . import backend


def _encode(node: Any, arrays: dict[str, numpy.ndarray]) -> Any:
    """The JSON skeleton of ``node``; arrays go into ``arrays`` and leave a reference behind."""
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


def _decode(node: Any, arrays: Any) -> Any:
    if isinstance(node, dict):
        if "__array__" in node:
            return arrays[node["__array__"]]
        if "__dict__" in node:
            return {k: _decode(v, arrays) for k, v in node["__dict__"]}
        if "__list__" in node:
            return [_decode(v, arrays) for v in node["__list__"]]
        return tuple(_decode(v, arrays) for v in node["__tuple__"])
    return node


def save(path: str | os.PathLike[str], tree: dict[str, Any]) -> Path:
    """Write ``tree`` to ``path`` (.npz) atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, numpy.ndarray] = {}
    skeleton = json.dumps(_encode(tree, arrays))
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


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a tree written by :func:`save` (arrays come back as numpy arrays)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    with numpy.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    return _decode(json.loads(str(arrays.pop("__tree__"))), arrays)
