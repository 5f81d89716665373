"""Save and load a tree of arrays and plain values as one ``.npz`` file, written atomically.

A tree is nested dicts / lists / tuples whose leaves are arrays (numpy or cupy; stored as numpy), Tensors or
JSON values (numbers, strings, bools, None). Dict keys keep their type (int or str), so an optimizer's
``state_dict`` comes back as it went in. The file is written to a temporary name in the same directory
and renamed over the target, so a crash never leaves a half-written checkpoint (only, at worst, a stale
``.<name>.*.tmp`` beside it). A file that is not such a tree (empty, truncated, damaged, foreign) raises
CheckpointError with a one-line message, never a zip or pickle error.
"""

from __future__ import annotations

import argparse
import json
import os
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy

from . import backend, dtypes, durable
from .tensor import Size, Tensor

REMEDY = "restore it from a copy, or start the run again with --overwrite"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read or does not hold what it should; the message names the file."""


class _Writer:
    """The state of one ``save``: the arrays written so far, each tensor's reference (a tensor met twice is one
    tensor when loaded) and each storage's key (tensors that are views of one storage stay views of it when loaded,
    the whole storage written once, as torch's)."""

    def __init__(self) -> None:
        self.arrays: dict[str, numpy.ndarray] = {}
        self.tensors: dict[int, tuple[Tensor, Any]] = {}  # id -> (the tensor, kept alive; its skeleton)
        self.storages: dict[Any, tuple[numpy.ndarray, str]] = {}  # (its memory, dtype) -> (storage's array, key)

    def add(self, array: numpy.ndarray) -> str:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = array
        return key

    def tensor(self, t: Tensor) -> Any:
        if id(t) in self.tensors:
            return {"__same__": self.tensors[id(t)][1]["__id__"]}
        key, view = self.place(t)
        node: dict[str, Any] = {"__tensor__": key, "requires_grad": t.requires_grad, "__id__": len(self.tensors)}
        if view is not None:
            node["view"] = view
        if _is_parameter(t):
            node["parameter"] = True
        self.tensors[id(t)] = (t, node)
        return node

    def place(self, t: Tensor) -> tuple[str, list[Any] | None]:
        """The key of the array holding ``t``'s elements and t's [offset, shape, strides] in it (elements), or None
        where that array is t's own (a GPU tensor, negative strides: written alone, as ``t.numpy()``)."""
        layout = _storage_layout(t)
        if layout is None:
            return self.add(t.numpy()), None
        owner, flat, offset, strides = layout
        where = (storage_span(owner), flat.dtype.str)  # (a tensor and its .detach(): one storage)
        if where not in self.storages:
            self.storages[where] = (owner, self.add(flat))  # (the owner kept alive: its memory stays its own)
        return self.storages[where][1], [offset, list(t.shape), list(strides)]


def storage_span(array: numpy.ndarray) -> tuple[int, int]:
    """(address, bytes) of the memory ``array``'s elements cover: tensors of the same span share a storage."""
    from . import storage

    return storage._span(array)


def _is_parameter(t: Tensor) -> bool:
    from .nn.parameter import Parameter

    return isinstance(t, Parameter)


def _storage_layout(t: Tensor) -> tuple[numpy.ndarray, numpy.ndarray, int, tuple[int, ...]] | None:
    """(the array of ``t``'s storage, that storage as a 1-D array of t's dtype, t's offset and strides in it, in
    elements), or None where t is not a plain numpy tensor with non-negative strides (it is then written alone)."""
    from . import storage

    array = t._data
    if type(array) is not numpy.ndarray or any(s < 0 or s % array.itemsize for s in array.strides):
        return None
    owner = storage.storage_array(t)
    if type(owner) is not numpy.ndarray or not storage._inside(array, owner):
        return None
    flat = storage._flat_storage(t)
    return owner, flat, storage.offset_of(t), tuple(s // array.itemsize for s in array.strides)


def _encode(node: Any, out: _Writer) -> Any:
    """The JSON skeleton of ``node``; arrays go into ``out`` and leave a reference behind."""
    if isinstance(node, Tensor):
        return out.tensor(node)
    if isinstance(node, numpy.dtype) or (isinstance(node, type) and issubclass(node, numpy.generic)):
        return {"__dtype__": [numpy.dtype(node).name, isinstance(node, numpy.dtype)]}
    if isinstance(node, dtypes.UnsupportedDtype):  # (torch.bfloat16: a name here, whose ``dtype`` raises)
        return {"__dtype__": [node.name, False]}
    if hasattr(node, "dtype") and hasattr(node, "shape") and not isinstance(node, numpy.generic):
        if isinstance(node, numpy.ndarray) and (type(node) is not numpy.ndarray or node.dtype.kind in "OV"):
            raise TypeError(f"cannot store a numpy {type(node).__name__} of dtype {node.dtype} in a checkpoint: "
                            f"it would come back a plain array (no mask), or not at all (objects)")
        return {"__array__": out.add(backend.to_numpy(node))}
    if isinstance(node, numpy.generic):
        return _encode(node.item(), out)
    if isinstance(node, dict):
        tag = "__odict__" if isinstance(node, OrderedDict) else "__dict__"
        return {tag: [[_encode_key(k), _encode(v, out)] for k, v in node.items()]}
    if type(node) is argparse.Namespace:  # a run's settings, saved beside its weights (torch.save({"args": args}))
        return {"__namespace__": [[name, _encode(v, out)] for name, v in vars(node).items()]}
    if isinstance(node, Size):
        return {"__size__": list(node)}
    if isinstance(node, (list, tuple)):
        return {"__list__" if isinstance(node, list) else "__tuple__": [_encode(v, out) for v in node]}
    if isinstance(node, (set, frozenset)):
        return {"__set__" if isinstance(node, set) else "__frozenset__": [_encode(v, out) for v in node]}
    if isinstance(node, (bytes, bytearray)):
        return {"__bytes__" if isinstance(node, bytes) else "__bytearray__": out.add(numpy.frombuffer(node, "uint8"))}
    if isinstance(node, complex):
        return {"__complex__": [node.real, node.imag]}
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    fix = (" (save its state_dict() instead, and load that into one built in code: load_state_dict)"
           if callable(getattr(node, "state_dict", None)) else "")  # a whole model or optimizer, torch.save(model)
    raise TypeError(f"cannot store an object of type {type(node).__name__} in a checkpoint{fix}")


def _encode_key(key: Any) -> Any:
    """A dict key's skeleton: None, bool, int, float, str, or a tuple of them (TypeError for any other)."""
    if key is None or isinstance(key, (bool, int, float, str)):
        return key
    if type(key) is tuple:
        return {"__tuple__": [_encode_key(k) for k in key]}
    raise TypeError(f"cannot store a dict key of type {type(key).__name__} in a checkpoint")


class Reader:
    """The state of one ``load``: the arrays, the device, each tensor read so far (by ``__id__``) and each storage
    array once on its device (views of it share its memory)."""

    def __init__(self, arrays: Any, device: str | None) -> None:
        self.arrays, self.device = arrays, device
        self.tensors: dict[int, Tensor] = {}
        self.storages: dict[str, Tensor] = {}  # each storage once, on the device (its views are linked to it)

    def tensor(self, node: dict[str, Any]) -> Tensor:
        if set(node) - {"__tensor__", "requires_grad", "__id__", "view", "parameter"} or "requires_grad" not in node:
            raise KeyError(sorted(node))
        key = node["__tensor__"]
        if "view" in node:
            offset, shape, strides = node["view"]
            if key not in self.storages:
                self.storages[key] = Tensor(self.arrays[key], device=self.device)
            flat = self.storages[key]._data
            shape, strides, offset = tuple(map(int, shape)), tuple(map(int, strides)), int(offset)
            needed = 0 if 0 in shape else offset + 1 + sum((n - 1) * s for n, s in zip(shape, strides))
            if flat.ndim != 1 or needed > flat.size or offset < 0 or min(strides, default=0) < 0:
                raise ValueError(f"a view {node['view']} outside its storage of {flat.size} elements")
            xp = backend.get_array_module(flat)
            data = xp.lib.stride_tricks.as_strided(flat[offset:] if flat.size else flat, shape,
                                                   tuple(s * flat.itemsize for s in strides))
        else:
            data = self.arrays[key]
        if node.get("parameter"):
            from .nn.parameter import Parameter

            t = Parameter(Tensor(data, device=self.device), requires_grad=bool(node["requires_grad"]))
        else:
            t = Tensor(data, requires_grad=bool(node["requires_grad"]), device=self.device)
        if "view" in node:  # (its offset and untyped_storage() are the saved storage's, as torch's)
            from . import storage

            storage.link_storage(t, self.storages[key])
            if not data.size:  # (no element to place it: the offset saved, as an empty as_strided view's)
                t._offset = int(node["view"][0])
        if "__id__" in node:
            self.tensors[int(node["__id__"])] = t
        return t


def _decode(node: Any, arrays: Any, device: str | None = None) -> Any:
    """The tree ``_encode`` made, arrays put back (Tensors on ``device``: the default device when None);
    KeyError / TypeError / ValueError for a skeleton it cannot have made."""
    reader = arrays if isinstance(arrays, Reader) else Reader(arrays, device)
    if isinstance(node, dict):
        if "__tensor__" in node:
            return reader.tensor(node)
        (tag, value), = node.items()  # ValueError unless exactly one tag
        if tag == "__same__":
            return reader.tensors[value]
        if tag == "__array__":
            return reader.arrays[value]
        if tag in ("__dict__", "__odict__"):
            pairs = [(_decode_key(k), _decode(v, reader)) for k, v in value]
            return OrderedDict(pairs) if tag == "__odict__" else dict(pairs)
        if tag in ("__list__", "__tuple__", "__set__", "__frozenset__", "__size__") and isinstance(value, list):
            items = [_decode(v, reader) for v in value]
            kind = {"__list__": list, "__tuple__": tuple, "__set__": set, "__frozenset__": frozenset, "__size__": Size}
            return items if tag == "__list__" else kind[tag](items)
        if tag in ("__bytes__", "__bytearray__"):
            raw = reader.arrays[value].tobytes()
            return raw if tag == "__bytes__" else bytearray(raw)
        if tag == "__complex__":
            return complex(*value)
        if tag == "__namespace__":
            return argparse.Namespace(**{str(name): _decode(v, reader) for name, v in value})
        if tag == "__dtype__":
            name, as_dtype = value
            if name in dtypes.UNSUPPORTED:
                return dtypes.UNSUPPORTED[name]
            return numpy.dtype(name) if as_dtype else numpy.dtype(name).type
        raise KeyError(tag)
    if isinstance(node, list):
        raise TypeError("a bare list")
    return node


def _decode_key(key: Any) -> Any:
    if isinstance(key, dict):
        (tag, value), = key.items()
        if tag != "__tuple__" or not isinstance(value, list):
            raise KeyError(tag)
        return tuple(_decode_key(k) for k in value)
    if isinstance(key, list):
        raise TypeError(f"a dict key {key!r}")
    return key


def save(path: str | os.PathLike[str] | BinaryIO, tree: Any) -> Path | None:
    """Write ``tree`` to ``path`` (.npz) atomically (returns the path), or into an open binary file."""
    writer = _Writer()
    skeleton = json.dumps(_encode(tree, writer))
    return write_to(path, lambda f: numpy.savez(f, __tree__=numpy.array(skeleton), **writer.arrays))


def write_to(path: str | os.PathLike[str] | BinaryIO, write: Callable[[BinaryIO], None]) -> Path | None:
    """``write(f)`` into the open binary file ``path``, or into a new file that then replaces the file at ``path`` in
    one step (returns that path; a crash leaves the old file or the new one, never part of one)."""
    if hasattr(path, "write"):
        write(path)
        return None
    path = Path(os.path.realpath(path))  # a symlink is written through to its target, as open(path, "wb") would
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = durable.create_beside(path, ".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        durable.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: str | os.PathLike[str] | BinaryIO, device: str | None = None, require_dict: bool = True,
         remedy: str = REMEDY) -> Any:
    """Read a tree written by :func:`save` (arrays come back as numpy arrays, Tensors as Tensors on ``device``).

    FileNotFoundError if there is no file; CheckpointError, ending in ``remedy``, if it is not a whole, undamaged
    tree (or, with ``require_dict``, not a dict at the top, as every checkpoint is).
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
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zipfile.LargeZipFile,
            RuntimeError, NotImplementedError) as e:  # (zipfile's: a member flagged encrypted, or of another method)
        raise CheckpointError(f"{path} is not a readable checkpoint ({_why(e)}): it was damaged, cut short or is not "
                              f"a checkpoint (a crash cannot do this: checkpoints are written atomically); "
                              f"{remedy}") from None
    try:
        tree = _decode(json.loads(str(arrays.pop("__tree__"))), arrays, device)
        if require_dict and not isinstance(tree, dict):
            raise TypeError(f"a {type(tree).__name__} at the top")
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{path} is not a tinygrad_adam checkpoint: its contents are malformed "
                              f"({type(e).__name__}: {e}); {remedy}") from None
    return tree


def _why(error: BaseException) -> str:
    """A short reason for an unreadable file, without numpy's advice to unpickle it (never safe here)."""
    text = str(error)
    if isinstance(error, EOFError) or not text:
        return "the file ends early"
    if "pickle" in text or "allow_pickle" in text:
        return "it holds Python objects (pickled data), not arrays"
    return text.splitlines()[0]
