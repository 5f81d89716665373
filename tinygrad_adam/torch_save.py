"""Write ``torch.save``'s files, which ``torch.load`` reads with its default ``weights_only=True``.

The tree is pickled by Python's own (pure-Python) pickler, torch's globals written by name so that torch need not be
installed: a tensor as ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)``, a
Parameter as ``_rebuild_parameter`` of its data, a dtype as ``torch.float32`` (...), ``torch.Size``,
``torch.device``. A storage (the whole memory under a tensor, shared by its views) is the persistent id
``('storage', torch.FloatStorage, key, location, numel)``; its bytes are ``archive/data/<key>`` in torch's zip
format (64-byte aligned, as torch writes them), or follow the pickles in torch's legacy format.

``full=True`` pickles anything else too, as torch.save does (a whole model, an optimizer, a user's class, numpy
arrays and dtypes as numpy pickles them): a file that ``load`` reads back only with ``weights_only=False``.
"""

from __future__ import annotations

import io
import pickle
import secrets
import sys
import zipfile
from collections import Counter, OrderedDict
from functools import cache
from typing import Any, BinaryIO, ClassVar

import numpy

from . import dtypes
from .backend import device
from .checkpoint import _is_parameter, _Writer
from .layouts import dense_strides
from .tensor import Size, Tensor
from .torch_format import DTYPES, LEGACY_MAGIC, LEGACY_PROTOCOL, STORAGES

STORAGE_NAMES = {numpy.dtype(t): name for name, t in STORAGES.items()}  # float32 -> "FloatStorage"
DTYPE_NAMES = {numpy.dtype(t): name for name, t in reversed(DTYPES.items())}  # float32 -> "float32" (not "float")
NUMBERS = (numpy.number, numpy.bool_)  # numpy scalars written as the Python numbers they hold
ALIGNMENT = 64  # where each storage's bytes begin in the zip, as torch's writer puts them


def holds_only_torch_types(node: Any) -> bool:
    """Whether ``node`` is something torch's weights-only load reads back as it went in: tensors of a dtype torch
    has, Python numbers, strings, bytes, None, dtypes, devices, ``Size`` and exact dicts / OrderedDicts / Counters /
    lists / tuples / sets of them (not frozensets: torch refuses them; numpy scalars are written as Python numbers,
    as the .npz does)."""
    if isinstance(node, Tensor):
        return numpy.dtype(node.dtype) in STORAGE_NAMES
    if isinstance(node, NUMBERS) or type(node) in (type(None), bool, int, float, complex, str, bytes, bytearray,
                                                   device, Size):
        return True
    if isinstance(node, numpy.dtype) or (isinstance(node, type) and issubclass(node, numpy.generic)):
        return numpy.dtype(node) in DTYPE_NAMES
    if isinstance(node, dtypes.UnsupportedDtype):  # (torch.bfloat16, a name here)
        return True
    if type(node) in (dict, OrderedDict, Counter):
        return all(holds_only_torch_types(k) and holds_only_torch_types(v) for k, v in node.items())
    return type(node) in (list, tuple, set) and all(holds_only_torch_types(v) for v in node)


class _Global:
    """A global the pickle names as ``module name`` (torch's: not importable here)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args: Any) -> Any:  # (the pickler writes only a callable as a reduce's function)
        raise TypeError(f"{self.module}.{self.name} is only named in a pickle here")


@cache
def _global(module: str, name: str) -> _Global:
    """One object per name, so the pickle writes each global once and then refers back to it."""
    return _Global(module, name)


class _Storage:
    """A storage the pickle names by persistent id: its key, element dtype, device and element count."""

    def __init__(self, key: str, dtype: numpy.dtype, location: str, numel: int) -> None:
        self.key, self.dtype, self.location, self.numel = key, dtype, location, numel


class _Data:
    """A Parameter's data inside its ``_rebuild_parameter`` call: a plain tensor without requires_grad, as torch's."""

    def __init__(self, t: Tensor) -> None:
        self.t = t


class _Pickler(pickle._Pickler):
    """torch's pickle of a tree: tensors become rebuilder calls over storages, ``storages`` holds their arrays by
    key. The pure-Python pickler, whose ``save_global`` can be told to write a name it cannot import."""

    dispatch: ClassVar[dict[type, Any]] = dict(pickle._Pickler.dispatch)
    dispatch[_Global] = lambda self, obj: self.save_global(obj)

    def __init__(self, file: BinaryIO, protocol: int, legacy: bool, full: bool) -> None:
        super().__init__(file, protocol)
        self.legacy, self.full = legacy, full
        self.arrays = _Writer()  # each storage's 1-d array, once however many tensors view it
        self.storages: dict[str, _Storage] = {}

    def save(self, obj: Any, save_persistent_id: bool = True) -> None:
        super().save(obj.item() if isinstance(obj, NUMBERS) and not self.full else obj, save_persistent_id)

    def save_global(self, obj: Any, name: str | None = None) -> None:
        if isinstance(obj, _Global):
            module, name = obj.module, obj.name
        elif isinstance(obj, dtypes.UnsupportedDtype):  # torch.bfloat16 (...): torch's, which our load names back
            module, name = "torch", obj.name
        elif not self.full and (isinstance(obj, numpy.dtype) or (isinstance(obj, type) and
                                                                 issubclass(obj, numpy.generic))):
            module, name = "torch", DTYPE_NAMES[numpy.dtype(obj)]  # (full: numpy's own names, which its arrays name)
        else:
            return super().save_global(obj, name)
        self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())
        self.memoize(obj)
        return None

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, numpy.dtype) and not self.full:  # a name: written by save_global (not numpy.dtype's reduce)
            return "dtype"
        if type(obj) is Size:
            return _global("torch", "Size"), (tuple(obj),)
        if type(obj) is device:
            name = str(obj.type)  # (a plain str: the type of device("cpu") is that device)
            return _global("torch", "device"), (name,) if obj.index is None else (name, obj.index)
        if isinstance(obj, Tensor) and _is_parameter(obj):
            return _global("torch._utils", "_rebuild_parameter"), (_Data(obj), obj.requires_grad, OrderedDict())
        if isinstance(obj, Tensor | _Data):
            t = obj.t if isinstance(obj, _Data) else obj
            offset, shape, strides, storage = self.place(t)
            return (_global("torch._utils", "_rebuild_tensor_v2"),
                    (storage, offset, shape, strides, isinstance(obj, Tensor) and t.requires_grad, OrderedDict()))
        return NotImplemented

    def place(self, t: Tensor) -> tuple[int, tuple[int, ...], tuple[int, ...], _Storage]:
        """t's offset, size and stride in its storage (elements), and the storage."""
        key, view = self.arrays.place(t)
        if view is None:  # written alone: its elements in order, torch's contiguous strides
            self.arrays.arrays[key] = numpy.ascontiguousarray(self.arrays.arrays[key]).reshape(-1)
            view = [0, list(t.shape), list(dense_strides(tuple(t.shape), tuple(range(t.ndim))))]
        if key not in self.storages:
            array = self.arrays.arrays[key]
            self.storages[key] = _Storage(key, array.dtype, str(t.device), array.size)
        return view[0], tuple(view[1]), tuple(view[2]), self.storages[key]

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) is not _Storage:
            return None
        pid = ("storage", _global("torch", STORAGE_NAMES[obj.dtype]), obj.key, obj.location, obj.numel)
        return pid + (None,) if self.legacy else pid  # (the legacy format's view of the storage: none)


def write(tree: Any, f: BinaryIO, protocol: int = 2, legacy: bool = False, byteorder: bool = True,
          full: bool = False) -> None:
    """``tree`` (where ``holds_only_torch_types``, or anything with ``full``) into the binary file ``f`` as
    ``torch.save(tree, f, pickle_protocol=protocol, _use_new_zipfile_serialization=not legacy,
    _disable_byteorder_record=not byteorder)`` writes it."""
    if legacy:
        for header in (LEGACY_MAGIC, LEGACY_PROTOCOL, {"protocol_version": LEGACY_PROTOCOL,
                                                       "little_endian": sys.byteorder == "little",
                                                       "type_sizes": {"short": 2, "int": 4, "long": 4}}):
            pickle.dump(header, f, protocol=protocol)
        pickler = _Pickler(f, protocol, legacy=True, full=full)
        pickler.dump(tree)
        pickle.dump(list(pickler.storages), f, protocol=protocol)
        for key, storage in pickler.storages.items():
            f.write(storage.numel.to_bytes(8, sys.byteorder, signed=True))
            f.write(memoryview(pickler.arrays.arrays[key]).cast("B"))
        return
    pickled = io.BytesIO()
    pickler = _Pickler(pickled, protocol, legacy=False, full=full)
    pickler.dump(tree)
    records = [("data.pkl", pickled.getbuffer()), (".format_version", b"1"),
               (".storage_alignment", str(ALIGNMENT).encode())]
    records += [("byteorder", sys.byteorder.encode())] if byteorder else []
    records += [(f"data/{key}", memoryview(pickler.arrays.arrays[key]).cast("B")) for key in pickler.storages]
    records += [("version", b"3\n"), (".data/serialization_id", f"{secrets.randbits(128):040d}".encode())]
    target, f = f, _archive_stream(f)
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as archive:
        for name, data in records:
            info = zipfile.ZipInfo(f"archive/{name}")
            zip64 = 20 if len(data) > zipfile.ZIP64_LIMIT else 0  # (the local header's zip64 field, after ours)
            start = archive.fp.tell() + 30 + len(info.filename.encode()) + 4 + zip64
            info.extra = b"FB" + (pad := -start % ALIGNMENT).to_bytes(2, "little") + b"Z" * pad
            archive.writestr(info, data)
    if f is not target:
        target.write(f.getbuffer())


def _archive_stream(f: Any) -> Any:
    """Where the zip is written: ``f`` itself, but a new buffer (copied into ``f`` after) where ``f`` is a stream past
    its start (a header written before): zipfile's offsets would count from the stream's start, torch's reader counts
    them from the archive's."""
    try:
        ahead = hasattr(f, "write") and f.tell() > 0
    except (OSError, AttributeError):  # (a pipe: no position, written from where it is)
        ahead = False
    return io.BytesIO() if ahead else f
