"""torch's "infrastructure" names, registered into ``methods.METHODS`` / ``FUNCTIONS`` (imported by the package
before ``methods.attach()``): storage and strides (storage.py), memory formats (layouts.py), determinism and
matmul-precision switches, print options, anomaly detection, ``typename``, ``Tensor.is_inference``."""

from __future__ import annotations

import sys
import warnings
from importlib import import_module
from typing import Any

import numpy

from . import anomaly, backend, layouts, storage
from .methods import _TYPE_NAMES, FUNCTIONS, METHODS, LegacyTensorType, _function
from .printing import set_printoptions
from .tensor import Tensor

_switches: dict[str, Any] = {"deterministic": False, "warn_only": False, "matmul_precision": "highest",
                             "interop_threads": None, "warn_always": False}


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """``torch.use_deterministic_algorithms``: recorded and reported. On the CPU every op here is deterministic;
    on the GPU, scatter-adds (embedding / index_add gradients) use atomics, whose float sums may differ in the last
    bits from run to run (torch would raise for them in this mode)."""
    _switches.update(deterministic=bool(mode), warn_only=bool(warn_only))


def are_deterministic_algorithms_enabled() -> bool:
    return _switches["deterministic"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _switches["warn_only"]


def set_float32_matmul_precision(precision: str) -> None:
    """``"highest"``, ``"high"`` or ``"medium"``: recorded; float32 matmuls here are always full float32 (the
    "highest" answer, which every setting allows). Another value warns and changes nothing, as torch's."""
    if precision not in ("highest", "high", "medium"):
        warnings.warn(f"set_float32_matmul_precision ignores {precision!r}: the known settings are 'highest', 'high' "
                      f"and 'medium'", UserWarning, stacklevel=2)
        return
    _switches["matmul_precision"] = precision


def get_float32_matmul_precision() -> str:
    return _switches["matmul_precision"]


def typename(obj: Any) -> str:
    """``torch.typename``: 'tinygrad_adam.FloatTensor' for a float32 tensor (as ``x.type()``), else the qualified
    class name ('int', 'tinygrad_adam.nn.layers.Linear')."""
    if isinstance(obj, Tensor):
        return obj.type()
    cls = type(obj)
    return cls.__qualname__ if cls.__module__ in ("builtins", "__builtin__") else f"{cls.__module__}.{cls.__qualname__}"


def _is_inference(self: Tensor) -> bool:
    """Whether this tensor was made inside ``inference_mode()``."""
    return self._inference


def set_num_interop_threads(n: int) -> None:
    """``torch.set_num_interop_threads``: recorded (there is no inter-op pool here); a non-int or non-positive
    ``n`` raises RuntimeError, as torch's."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise RuntimeError(f"set_num_interop_threads expects an int, but got {type(n).__name__}")
    if n < 1:
        raise RuntimeError("set_num_interop_threads expects a positive integer")
    _switches["interop_threads"] = n


def get_num_interop_threads() -> int:
    """What ``set_num_interop_threads`` recorded, else the number of CPUs this process may use."""
    return _switches["interop_threads"] or backend.cpu_count()


def set_warn_always(b: bool) -> None:
    """``torch.set_warn_always``: recorded (the library's warnings follow Python's ``warnings`` filters)."""
    _switches["warn_always"] = bool(b)


def is_warn_always_enabled() -> bool:
    return _switches["warn_always"]


def is_inference(input: Tensor) -> bool:  # noqa: A002 - torch's argument name
    """``torch.is_inference(t)``: whether ``t`` was made inside ``inference_mode()`` (TypeError for a non-tensor)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"is_inference() takes a Tensor, not a {type(input).__name__}")
    return input._inference


def set_default_tensor_type(t: Any) -> None:
    """``torch.set_default_tensor_type('torch.FloatTensor')`` (or the type object), deprecated as torch's: sets the
    default float dtype (float32 only here, as ``set_default_dtype``) and, for a 'torch.cuda.*' type, the default
    device (TypeError without a usable GPU, as torch's CPU-only build); a non-float type raises TypeError."""
    warnings.warn("set_default_tensor_type is deprecated (as in torch 2.1+); use set_default_dtype and "
                  "set_default_device", UserWarning, stacklevel=2)
    name = (t if isinstance(t, str) else f"{t.__module__}.{t.__name__}" if isinstance(t, LegacyTensorType)
            else getattr(t, "__name__", str(t)))
    if isinstance(t, str) and "." not in t:
        raise ModuleNotFoundError(f"set_default_tensor_type: {t!r} names no type; use e.g. 'torch.FloatTensor'",
                                  name=t)
    short = name.removeprefix("torch.").removeprefix("tinygrad_adam.")
    cuda = short.startswith("cuda.")
    legacy = {v: k for k, v in _TYPE_NAMES.items()}
    if short.removeprefix("cuda.") not in legacy:
        raise TypeError(f"set_default_tensor_type: unknown tensor type {name!r}; use e.g. 'torch.FloatTensor'")
    dtype = legacy[short.removeprefix("cuda.")]
    if numpy.dtype(dtype).kind != "f":
        raise TypeError(f"set_default_tensor_type: the default type must be a floating-point one, got {name!r}")
    if cuda and not backend.cupy_available():
        raise TypeError(f"set_default_tensor_type: {name} needs a GPU (cupy), and there is none here")
    sys.modules[__package__].set_default_dtype(dtype)
    if cuda or _DEFAULT_TYPE_ON_GPU[0]:  # a CPU type undoes a cuda type's default device (not set_default_device's)
        backend.set_default_device("cuda" if cuda else "cpu")
    _DEFAULT_TYPE_ON_GPU[0] = cuda


_DEFAULT_TYPE_ON_GPU = [False]  # whether the last set_default_tensor_type was a cuda type


_DEVICE_MODULES = {"cpu": "cpu", "cuda": "cuda"}


def get_device_module(device: Any = None) -> Any:
    """``torch.get_device_module(device=None)``: the module of a device type (``tinygrad_adam.cpu`` /
    ``tinygrad_adam.cuda``); None gives the current accelerator's (cuda with a usable GPU, else cpu). Another known
    device type raises RuntimeError (its module does not exist here); an unknown one too, as torch's."""
    kind = ("cuda" if backend.cupy_available() else "cpu") if device is None else str(device).split(":")[0]
    if kind not in _DEVICE_MODULES:
        raise RuntimeError(f"get_device_module: no module for device type {kind!r} here; the types are 'cpu' and "
                           "'cuda'")
    return import_module(f".{_DEVICE_MODULES[kind]}", __package__)


class TypedStorage:
    """What the deprecated ``Tensor.storage()`` returns: the tensor's storage as elements of its dtype (see
    storage.py: a view's storage is its base's). ``len``, ``size()``, ``dtype``, ``device``, ``data_ptr()`` (equal
    for a view and its base, as torch's), ``element_size()``, ``nbytes()``, ``tolist()``, indexing (a write reaches
    the tensor), ``untyped()``, ``type()``."""

    def __init__(self, t: Tensor) -> None:
        self._flat = storage._flat_storage(t)
        self._untyped = storage.UntypedStorage(t)
        self.dtype, self.device = t.dtype, t.device
        self._type_name = _TYPE_NAMES.get(t.dtype.name, t.dtype.name).replace("Tensor", "Storage")

    def __len__(self) -> int:
        return int(self._flat.shape[0])

    def size(self) -> int:
        return len(self)

    def data_ptr(self) -> int:
        return self._untyped.data_ptr()

    def element_size(self) -> int:
        return int(self.dtype.itemsize)

    def nbytes(self) -> int:
        return len(self) * self.element_size()

    def untyped(self) -> storage.UntypedStorage:
        return self._untyped

    def type(self) -> str:
        return f"tinygrad_adam.{self._type_name}"

    def tolist(self) -> list[Any]:
        return backend.to_numpy(self._flat).tolist()

    def __getitem__(self, i: Any) -> Any:
        value = self._flat[i]
        return value.item() if getattr(value, "ndim", 1) == 0 else backend.to_numpy(value).tolist()

    def __setitem__(self, i: Any, value: Any) -> None:
        self._flat[i] = value

    def __iter__(self) -> Any:
        return iter(self.tolist())

    def is_shared(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f" {chr(10).join(' ' + str(v) for v in self.tolist()).strip()}\n[{self.type()} of size {len(self)}]"


_storage_types: dict[str, type] = {}


def _storage_type(self: Tensor) -> type:
    """``Tensor.storage_type()``: the storage class of the tensor's dtype, named as torch's ('FloatStorage')."""
    name = _TYPE_NAMES.get(self.dtype.name, self.dtype.name).replace("Tensor", "Storage")
    if name not in _storage_types:
        _storage_types[name] = type(name, (TypedStorage,), {"__module__": "tinygrad_adam"})
    return _storage_types[name]


def _storage(self: Tensor) -> TypedStorage:
    """``Tensor.storage()``: deprecated (torch's warning), a ``TypedStorage`` (of type name 'FloatStorage' ...)."""
    warnings.warn("TypedStorage is deprecated (as in torch): use tensor.untyped_storage() instead of "
                  "tensor.storage()", UserWarning, stacklevel=2)
    return TypedStorage(self)


def _is_set_to(self: Tensor, other: Tensor) -> bool:
    """Whether both tensors read the same storage at the same offset with the same sizes and strides."""
    if not isinstance(other, Tensor):
        raise TypeError(f"is_set_to(): argument 'tensor' must be Tensor, not {type(other).__name__}")
    return (self.untyped_storage().data_ptr() == other.untyped_storage().data_ptr() and self.dtype == other.dtype
            and storage.offset_of(self) == storage.offset_of(other) and self.shape == other.shape
            and self.stride() == other.stride())


def _to_dense(self: Tensor, dtype: Any = None, *, masked_grad: bool | None = None) -> Tensor:
    """``Tensor.to_dense()`` of a dense (strided) tensor: itself, or converted to ``dtype``."""
    return self if dtype is None else self.to(dtype)


def _as_subclass(self: Tensor, cls: type) -> Tensor:
    """``Tensor.as_subclass(cls)``: an alias of this tensor (same memory, still in the autograd graph) whose class
    is ``cls``, a subclass of Tensor (TypeError otherwise, as torch's). The ops' results on it are plain Tensors
    here (torch's ``__torch_function__`` makes them ``cls`` too)."""
    if not (isinstance(cls, type) and issubclass(cls, Tensor)):
        raise TypeError(f"as_subclass: {getattr(cls, '__name__', cls)} does not inherit from Tensor; give a subclass "
                        "of Tensor")
    out = self.view_as(self)
    out.__class__ = cls
    return out


METHODS.update(
    as_subclass=_as_subclass, storage=_storage, storage_type=_storage_type, is_set_to=_is_set_to, to_dense=_to_dense,
    const_data_ptr=lambda self: self.data_ptr(), is_quantized=property(lambda self: False),
)
FUNCTIONS.update(
    set_num_interop_threads=set_num_interop_threads, get_num_interop_threads=get_num_interop_threads,
    set_warn_always=set_warn_always, is_warn_always_enabled=is_warn_always_enabled, is_inference=is_inference,
    set_default_tensor_type=set_default_tensor_type, get_device_module=get_device_module,
)

METHODS.update(
    storage_offset=storage.offset_of, untyped_storage=lambda self: storage.UntypedStorage(self),
    as_strided=storage.as_strided, as_strided_=storage.as_strided_, as_strided_scatter=storage.as_strided_scatter,
    new_empty_strided=storage.new_empty_strided, share_memory_=storage.share_memory_, is_shared=storage.is_shared,
    layout=property(lambda self: layouts.strided), is_inference=_is_inference,
    output_nr=property(lambda self: 0),  # each recorded node has one output here (split's pieces: one node each)
)
FUNCTIONS.update({name: _function(name) for name in ("as_strided", "as_strided_", "as_strided_scatter")})
FUNCTIONS.update(
    as_strided_copy=storage.as_strided_copy, empty_strided=storage.empty_strided, is_storage=storage.is_storage,
    typename=typename, use_deterministic_algorithms=use_deterministic_algorithms,
    are_deterministic_algorithms_enabled=are_deterministic_algorithms_enabled,
    is_deterministic_algorithms_warn_only_enabled=is_deterministic_algorithms_warn_only_enabled,
    set_float32_matmul_precision=set_float32_matmul_precision,
    get_float32_matmul_precision=get_float32_matmul_precision, set_printoptions=set_printoptions,
    set_anomaly_enabled=anomaly.set_anomaly_enabled, is_anomaly_enabled=anomaly.is_anomaly_enabled,
    is_anomaly_check_nan_enabled=anomaly.is_anomaly_check_nan_enabled,
)
