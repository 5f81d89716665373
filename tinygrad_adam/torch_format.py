"""Read ``torch.save``'s files without running code from them.

The zip format holds ``<name>/data.pkl`` (a pickle of the tree) and ``<name>/data/<key>`` (each storage's raw
bytes); the legacy format (before torch 1.6) is a stream of pickles with the storages' bytes after them. The tree's
pickle is read by an unpickler that resolves only the globals a tree of tensors needs, the ones torch's own
``weights_only=True`` load accepts: the tensor and parameter rebuilders, storage types, dtypes, ``Size``,
``device``, ``OrderedDict``, ``Counter``, ``set`` / ``frozenset``, complex numbers and bytes. Any other global
raises, so a file cannot make the load call anything else, unless the caller trusts the file (``torch.load``'s
``weights_only=False``): then any other global is imported as pickle's own load does (a torch class still raises: it
cannot be built here). A storage is read once; tensors that are views of one storage stay views of it.
"""

from __future__ import annotations

import codecs
import contextlib
import pickle
import struct
import sys
import zipfile
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, ClassVar

import numpy

from . import backend, checkpoint, dtypes
from .backend import device
from .tensor import Size, Tensor

# torch's storage classes and dtypes by name, as numpy types (those this library has)
STORAGES = {"FloatStorage": numpy.float32, "DoubleStorage": numpy.float64, "HalfStorage": numpy.float16,
            "LongStorage": numpy.int64, "IntStorage": numpy.int32, "ShortStorage": numpy.int16,
            "CharStorage": numpy.int8, "ByteStorage": numpy.uint8, "BoolStorage": numpy.bool_}
DTYPES = {"float32": numpy.float32, "float": numpy.float32, "float64": numpy.float64, "double": numpy.float64,
          "float16": numpy.float16, "half": numpy.float16, "int64": numpy.int64, "long": numpy.int64,
          "int32": numpy.int32, "int": numpy.int32, "int16": numpy.int16, "short": numpy.int16, "int8": numpy.int8,
          "uint8": numpy.uint8, "bool": numpy.bool_}


class _StorageType:
    """What the pickle's ``torch.FloatStorage`` (...) global stands for: the element type of a storage."""

    def __init__(self, dtype: type) -> None:
        self.dtype = dtype


class _Storage:
    """A storage named by the pickle's persistent id: its key in the archive and its elements' numpy type."""

    def __init__(self, key: str, dtype: type) -> None:
        self.key, self.dtype = key, dtype


class _Refused(Exception):
    """Something the file pickles that a weights-only load does not read (or, ``weights_only=False``, that cannot be
    built here): ``what`` it is, and the fix."""

    def __init__(self, what: str, fix: str = "", weights_only: bool = True) -> None:
        super().__init__(what)
        self.weights_only = weights_only
        self.fix = fix or ("keep only tensors, state dicts, numbers and strings in the file, or convert it where torch "
                           "runs: tinygrad_adam.save(torch.load(path, weights_only=False), new_path)")


# the globals a user allowed (torch's add_safe_globals), by the name a pickle gives them: "module.qualname"
SAFE_GLOBALS: dict[str, Any] = {}


def add_safe_globals(safe_globals: list[Any]) -> None:
    """torch's ``torch.serialization.add_safe_globals``: let a load resolve these classes / functions (each an object,
    named by its ``__module__`` and ``__qualname__``, or a tuple (object, "module.name")), for files the user
    trusts (an ``argparse.Namespace`` of a run's settings, numpy arrays)."""
    for item in safe_globals:
        obj, name = item if isinstance(item, tuple) else (item, f"{item.__module__}.{item.__qualname__}")
        SAFE_GLOBALS[name] = obj


def get_safe_globals() -> list[Any]:
    """The globals ``add_safe_globals`` allowed (an object, or (object, name) where its name is another)."""
    return [obj if name == f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}" else (obj, name)
            for name, obj in SAFE_GLOBALS.items()]


def clear_safe_globals() -> None:
    """Forget every global ``add_safe_globals`` allowed."""
    SAFE_GLOBALS.clear()


@contextlib.contextmanager
def safe_globals(safe_globals: list[Any]) -> Iterator[None]:
    """torch's ``torch.serialization.safe_globals``: ``add_safe_globals`` within a ``with`` block only."""
    before = dict(SAFE_GLOBALS)
    add_safe_globals(safe_globals)
    try:
        yield
    finally:
        SAFE_GLOBALS.clear()
        SAFE_GLOBALS.update(before)


def _parameter(data: Tensor, requires_grad: bool, hooks: Any = None, state: Any = None) -> Tensor:
    """torch's ``_rebuild_parameter`` / ``_rebuild_parameter_with_state``."""
    from .nn.module import Parameter

    return _with_state(Parameter(data, requires_grad=bool(requires_grad)), state)


def _with_state(t: Tensor, state: Any) -> Tensor:
    """``t`` with the Python attributes torch pickled beside it; a name its class already has (a method, a
    property) is refused, so a file cannot replace one."""
    for name, value in (state or {}).items():
        if not isinstance(name, str) or hasattr(type(t), name) or name.startswith("__"):
            raise _Refused(f"an attribute {name!r} set on a tensor")
        setattr(t, name, value)
    return t


def _from_type(rebuild: Any, new_type: Any, args: tuple[Any, ...], state: Any) -> Tensor:
    """torch's ``_rebuild_from_type_v2``: a tensor rebuilt by ``rebuild(*args)`` as a Tensor or a Parameter."""
    from .nn.module import Parameter

    if getattr(rebuild, "__func__", None) is not _Unpickler.tensor or new_type not in (Tensor, Parameter):
        raise _Refused(f"a tensor of type {getattr(new_type, '__name__', new_type)!r}")
    t = rebuild(*args)
    if new_type is Parameter and not isinstance(t, Parameter):
        t = Parameter(t, requires_grad=t.requires_grad)
    return _with_state(t, state)


def _bytes(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode``, by which protocol 2 pickles bytes: only its text encodings."""
    if codecs.lookup(encoding).name not in ("latin-1", "iso8859-1", "utf-8", "ascii"):
        raise _Refused(f"_codecs.encode with {encoding!r}")
    return codecs.encode(text, encoding)


class _Unpickler(pickle._Unpickler):  # (the Python one: its BUILD can be checked, see _build)
    """torch's pickle, weights only: ``storage(key, dtype, numel)`` gives each storage's 1-d array the first time the
    pickle names it (None: the pickle may name none)."""

    dispatch: ClassVar[dict[int, Any]] = dict(pickle._Unpickler.dispatch)

    def _build(self) -> None:
        """pickle's BUILD (``obj.__setstate__(state)`` or setattr of the state's items), weights only: on an instance
        of a class the file may build (as torch's), never on a class itself, which would rewrite the library for the
        rest of the process (``Tensor.__add__`` replaced)."""
        from .nn.module import Parameter

        target = self.stack[-2] if len(self.stack) > 1 else None
        allowed = (Tensor, Parameter, OrderedDict, Counter, *(v for v in SAFE_GLOBALS.values() if isinstance(v, type)))
        if not self.trusted and (isinstance(target, type) or not isinstance(target, allowed)):
            raise _Refused(f"setting the state of a {type(target).__name__}",
                           "only tensors, Parameters, OrderedDicts and allowed globals are built from a state")
        pickle._Unpickler.load_build(self)

    dispatch[pickle.BUILD[0]] = _build

    def __init__(self, stream: BinaryIO, storage: Callable[[str, type, int], numpy.ndarray] | None,
                 device_name: str | None, trusted: bool = False) -> None:
        super().__init__(stream)
        self.storage, self.trusted = storage, trusted
        self.arrays: dict[str, numpy.ndarray] = {}
        self.reader = checkpoint.Reader(self.arrays, device_name)

    def find_class(self, module: str, name: str) -> Any:
        from .nn.module import Parameter

        if module == "torch" and name in STORAGES:
            return _StorageType(STORAGES[name])
        if module == "torch" and name in DTYPES:
            return DTYPES[name]
        if module == "torch" and name in dtypes.UNSUPPORTED:  # a dtype as a value (a config's): its name here
            return dtypes.UNSUPPORTED[name]
        if ((module == "torch" and (name.endswith("Storage") or name in ("complex64", "complex128")))
                or (module, name) == ("torch._utils", "_rebuild_tensor_v3")):  # (torch's uint16, float8...)
            raise _Refused(f"a tensor of a dtype this library has no ({module}.{name})",
                           "convert the tensors where torch runs (.float()) and save again")
        found = {("collections", "OrderedDict"): OrderedDict, ("collections", "Counter"): Counter,
                 ("builtins", "complex"): complex, ("__builtin__", "complex"): complex, ("builtins", "set"): set,
                 ("builtins", "frozenset"): frozenset, ("builtins", "bytearray"): bytearray,
                 ("__builtin__", "set"): set, ("__builtin__", "frozenset"): frozenset,
                 ("__builtin__", "bytearray"): bytearray, ("_codecs", "encode"): _bytes,
                 ("torch", "Size"): Size, ("torch", "device"): device, ("torch", "Tensor"): Tensor,
                 ("torch.nn.parameter", "Parameter"): Parameter,
                 ("torch._utils", "_rebuild_tensor_v2"): self.tensor, ("torch._utils", "_rebuild_tensor"): self.tensor,
                 ("torch._utils", "_rebuild_parameter"): _parameter,
                 ("torch._utils", "_rebuild_parameter_with_state"): _parameter,
                 ("torch._tensor", "_rebuild_from_type_v2"): _from_type}.get((module, name))
        if found is None:
            found = SAFE_GLOBALS.get(f"{module}.{name}")
        if found is None and module.split(".")[0] == "torch":
            raise _Refused(f"the global {module}.{name}", "a torch object cannot be built here: where torch runs, save "
                           "its state_dict() and load that into this library's model (load_state_dict)",
                           weights_only=not self.trusted)
        if found is None and self.trusted:
            return super().find_class(module, name)
        if found is None:
            raise _Refused(f"the global {module}.{name}", f"keep only tensors, state dicts, numbers and strings in "
                           f"the file; or, trusting it, load it with weights_only=False (which runs code the file "
                           f"names) or allow the global first: tinygrad_adam.serialization.add_safe_globals([{name}])")
        return found

    def persistent_load(self, pid: Any) -> _Storage:
        """('storage', type, key, location, numel), and in the legacy format a view of the storage after it (None
        since torch 0.4)."""
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage" and self.storage is not None
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str) and isinstance(pid[4], int)
                and pid[5:] in ((), (None,))):
            raise _Refused(f"a persistent id {pid!r}")
        key, dtype = pid[2], pid[1].dtype
        if key not in self.arrays:
            self.arrays[key] = self.storage(key, dtype, pid[4])
        return _Storage(key, dtype)

    def tensor(self, storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...],
               requires_grad: bool = False, hooks: Any = None, metadata: Any = None) -> Tensor:
        """torch's ``_rebuild_tensor_v2`` (``_rebuild_tensor`` of torch 0.4 files: no ``requires_grad``): a view of
        ``storage`` (elements ``offset``, ``size``, ``stride``)."""
        if not isinstance(storage, _Storage):
            raise _Refused("a tensor rebuilt from something other than a storage")
        if self.arrays[storage.key].dtype != storage.dtype:
            raise ValueError(f"storage {storage.key} read as two dtypes")
        return self.reader.tensor({"__tensor__": storage.key, "requires_grad": bool(requires_grad),
                                   "view": [offset, list(size), list(stride)]})


def is_torch_zip(archive: zipfile.ZipFile) -> str | None:
    """The folder name inside torch.save's zip (``<name>/data.pkl``), or None for another zip."""
    return next((name[:-len("/data.pkl")] for name in archive.namelist() if name.endswith("/data.pkl")), None)


def load(f: Any, device_name: str | None = None, legacy: bool = False, trusted: bool = False) -> Any:
    """The tree ``torch.save`` wrote to ``f`` (a path or a binary stream) in its zip format, or with ``legacy`` in its
    format before torch 1.6 (a bare pickle), tensors on ``device_name`` (None: the default device). CheckpointError
    for a global (unless ``trusted``) or a dtype a weights-only load does not read, and for a damaged file."""
    try:
        if legacy:
            if hasattr(f, "read"):
                return _load_legacy(f, device_name, trusted)
            with open(f, "rb") as stream:
                return _load_legacy(stream, device_name, trusted)
        with zipfile.ZipFile(f) as archive:
            prefix = is_torch_zip(archive)
            if prefix is None:
                raise ValueError("no data.pkl in the zip")
            big = f"{prefix}/byteorder" in archive.namelist() and archive.read(f"{prefix}/byteorder").strip() == b"big"

            def storage(key: str, dtype: type, numel: int) -> numpy.ndarray:
                member = archive.getinfo(f"{prefix}/data/{key}")
                raw = bytearray(member.file_size)  # read into once (a bytearray: the array is writable)
                with archive.open(member) as stream:
                    if stream.readinto(raw) != len(raw):
                        raise ValueError(f"storage {key} ends early")
                return _native(numpy.frombuffer(raw, numpy.dtype(dtype).newbyteorder(">" if big else "<")))
            with archive.open(f"{prefix}/data.pkl") as stream:
                return _Unpickler(stream, storage, device_name, trusted).load()
    except _Refused as e:
        why = ", which a weights-only load (torch.load's default) does not read" if e.weights_only else ""
        raise checkpoint.CheckpointError(f"{f} is in torch.save's format and pickles {e}{why}; {e.fix}") from None
    except backend.DeviceError:  # (a RuntimeError, caught below for zipfile's: the file is fine, the device not)
        raise
    except (OSError, EOFError, KeyError, ValueError, TypeError, IndexError, zipfile.BadZipFile,
            pickle.UnpicklingError, RuntimeError, NotImplementedError,  # (these two: zipfile's, above)
            struct.error, OverflowError, MemoryError) as e:  # (pickle's Python reader: cut short,
        # an absurd length, or opcodes out of order)
        raise checkpoint.CheckpointError(f"{f} is a damaged torch.save file ({type(e).__name__}: {e}); save it "
                                         f"again where torch runs") from None


def _native(array: numpy.ndarray) -> numpy.ndarray:
    """``array`` in this machine's byte order (a copy only where the file's order is the other one)."""
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))


LEGACY_MAGIC, LEGACY_PROTOCOL = 0x1950A86A20F9469CFC6C, 1001  # the first two pickles of torch's legacy format


def _load_legacy(stream: BinaryIO, device_name: str | None, trusted: bool) -> Any:
    """torch's legacy format: pickles of the magic number, the protocol, the writer's byte order and type sizes, the
    tree (its storages named, not yet read), the storages' keys; then each storage: its element count (int64) and
    its bytes."""
    magic, protocol, info = (_Unpickler(stream, None, None).load() for _ in range(3))
    if magic != LEGACY_MAGIC or protocol != LEGACY_PROTOCOL or not isinstance(info, dict):
        raise ValueError("it does not begin as torch.save's legacy format (magic number, protocol 1001)")
    tree_reader = _Unpickler(stream, lambda key, dtype, numel: numpy.empty(numel, dtype), device_name, trusted)
    tree = tree_reader.load()
    order = "little" if info.get("little_endian", True) else "big"
    keys = _Unpickler(stream, None, None).load()
    if sorted(keys) != sorted(tree_reader.arrays):  # (every storage the tree names is filled, none left unread)
        raise ValueError("its storages are not the ones its tensors name")
    for key in keys:
        array = tree_reader.arrays[key]  # read into in place (the tensors over it are views of it on the CPU)
        numel = int.from_bytes(stream.read(8), order, signed=True)
        if numel != array.size or stream.readinto(memoryview(array).cast("B")) != array.nbytes:
            raise ValueError(f"storage {key} holds {numel} elements where its tensors name {array.size}, or ends early")
        if (order == "little") != (sys.byteorder == "little"):
            array.byteswap(inplace=True)
        target = tree_reader.reader.storages.get(key)
        if target is not None and target._data is not array:  # a copy on the GPU, made from the array unread
            target._data[...] = backend.get_array_module(target._data).asarray(array)
    return tree
