"""tinygrad_adam: a small, fast, readable deep-learning framework built around Adam (Kingma & Ba, 2015).

    import tinygrad_adam as tg
    x = tg.Tensor([[1.0, 2.0]], requires_grad=True)
    (x * x).sum().backward()
"""

from __future__ import annotations

import builtins
import math
from importlib import import_module
from typing import Any

import numpy

from . import deprecated_overloads as _deprecated_overloads  # noqa: F401 - x.add_(-lr, grad), addmm_(1, -2, ...)
from . import infrastructure as _infrastructure  # noqa: F401 - adds as_strided, storage_offset... to methods
from . import math_names as _math_names  # noqa: F401 - adds var_mean, histogram, the *_copy names... to methods
from . import methods as _methods
from . import out_arg as _out_arg
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .backend import (
    DeviceError,
    device,
    get_num_threads,
    initial_seed,
    seed,
    set_default_device,
    set_flush_denormal,
    set_num_threads,
)
from .creation import (
    Generator,
    arange,
    as_tensor,
    default_generator,
    empty,
    empty_like,
    eye,
    from_dlpack,
    from_numpy,
    full,
    full_like,
    linspace,
    manual_seed,
    multinomial,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from .dtypes import bfloat16, dtype, float8_e4m3fn, float8_e4m3fnuz, float8_e5m2, float8_e5m2fnuz
from .gradcheck import GradcheckError, gradcheck
from .layouts import (
    channels_last,
    channels_last_3d,
    contiguous_format,
    layout,
    memory_format,
    preserve_format,
    sparse_coo,
    strided,
)
from .methods import Size
from .random import get_rng_state, set_rng_state
from .serialization import load, save
from .tensor import Tensor

_methods.attach()
globals().update(_methods.FUNCTIONS)  # cat, stack, where, exp, sum, max, topk, ... (see methods.FUNCTIONS)
globals().update(_out_arg.with_out_keyword(globals()))  # torch.add(a, b, out=c), torch.arange(5, out=t), ...

# dtypes, as torch names them (numpy's dtypes: ``x.dtype == tinygrad_adam.float32`` holds)
float32 = float = numpy.float32  # noqa: A001 - torch's names
float64 = double = numpy.float64
float16 = half = numpy.float16
int64 = long = numpy.int64
int32 = int = numpy.int32  # noqa: A001
int16 = short = numpy.int16
int8 = numpy.int8
uint8 = numpy.uint8
bool = numpy.bool_  # noqa: A001

__version__ = "0.1.0"

inf, nan, pi, e, newaxis = math.inf, math.nan, math.pi, math.e, None  # torch's constants

class iinfo:  # noqa: N801 - torch's name
    """``torch.iinfo(dtype)``: ``max``, ``min``, ``bits`` as Python ints and ``dtype`` as a name, for an integer
    dtype (a float or bool dtype raises TypeError, as torch's)."""

    def __init__(self, dtype: Any) -> None:
        kind = numpy.dtype(dtype).kind
        if kind not in "iu":
            raise TypeError(f"iinfo() requires an integer dtype, got {numpy.dtype(dtype)}; use finfo for a float one")
        info = numpy.iinfo(dtype)
        self.bits, self.max, self.min = builtins.int(info.bits), builtins.int(info.max), builtins.int(info.min)
        self.dtype = str(info.dtype)

    def __eq__(self, other: object) -> builtins.bool:
        return type(other) is iinfo and vars(self) == vars(other)

    def __hash__(self) -> builtins.int:
        return hash(self.dtype)

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


class finfo:  # noqa: N801 - torch's name
    """``torch.finfo(dtype)``: ``eps``, ``max``, ``min``, ``tiny``, ``smallest_normal``, ``resolution`` as Python
    floats (numpy's finfo gives numbers of the dtype itself), ``bits``, and ``dtype`` as a name, for a float dtype
    (an integer or bool dtype raises TypeError, as torch's)."""

    def __init__(self, dtype: Any = None) -> None:
        if dtype is not None and numpy.dtype(dtype).kind not in "fc":
            raise TypeError(f"finfo() requires a floating-point dtype, got {numpy.dtype(dtype)}; use iinfo for an "
                            f"integer one")
        info = numpy.finfo(numpy.float32 if dtype is None else dtype)
        self.bits, self.dtype = builtins.int(info.bits), str(info.dtype)
        for field in ("eps", "max", "min", "tiny", "smallest_normal"):
            setattr(self, field, builtins.float(getattr(info, field)))
        self.resolution = 10.0 ** -info.precision

    def __eq__(self, other: object) -> builtins.bool:
        return type(other) is finfo and vars(self) == vars(other)

    def __hash__(self) -> builtins.int:
        return hash(self.dtype)

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
                f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})")


def get_default_dtype() -> Any:
    """The dtype of floating-point tensors made without one (Python floats, ``randn``, layers): float32."""
    return float32


def set_default_dtype(dtype: Any) -> None:
    """Only float32, the fixed default, is accepted; another float dtype raises rather than be silently ignored (a
    non-float one raises TypeError, as torch's)."""
    if numpy.dtype(dtype).kind != "f":
        raise TypeError(f"set_default_dtype({numpy.dtype(dtype)}): the default dtype has to be a floating-point "
                        f"one")
    if numpy.dtype(dtype) != numpy.float32:
        raise NotImplementedError(f"set_default_dtype({numpy.dtype(dtype)}): the default float dtype is fixed at "
                                  f"float32 here; pass dtype= when making tensors, or call .double() on a model")


def _assert(condition: Any, message: str) -> None:
    """``torch._assert(condition, message)``: Python's ``assert`` as a function (torch's form that tracing keeps)."""
    if not condition:
        raise AssertionError(message)


def compile(model: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: A001 - torch's name
    """``torch.compile``: the model (or function) itself; nothing is compiled, the results are the same."""
    return model

__all__ = [
    "DeviceError", "Generator", "GradcheckError", "Size", "Tensor", "arange", "as_tensor", "bool", "default_generator",
    "device", "double", "from_dlpack",
    "empty", "empty_like", "enable_grad", "eye", "float", "float16", "float32", "float64", "from_numpy", "full",
    "full_like", "get_num_threads", "gradcheck", "half", "bfloat16", "float8_e4m3fn", "float8_e4m3fnuz",
    "float8_e5m2", "float8_e5m2fnuz", "inference_mode", "int", "int8", "int16", "int32", "int64",
    "is_grad_enabled", "linspace", "load", "load_run", "long", "manual_seed", "multinomial", "nn", "no_grad", "ones",
    "ones_like", "optim", "rand", "rand_like", "randint", "randn", "randn_like", "randperm", "save",
    "set_default_device", "set_flush_denormal", "set_grad_enabled", "set_num_threads", "short", "tensor", "uint8",
    "zeros", "zeros_like", "finfo", "iinfo", "get_default_dtype", "set_default_dtype", "compile", "get_rng_state",
    "set_rng_state", "backends", "seed", "initial_seed", "random",
    "dtype", "channels_last", "channels_last_3d", "contiguous_format", "layout", "memory_format", "preserve_format",
    "strided", "inf", "nan", "pi", "e", "newaxis", "testing", "jit", "compiler", "GradScaler",
    "sparse", "sparse_coo", "sparse_coo_tensor", "spmm",
    *sorted(_methods.FUNCTIONS),
]


def __getattr__(name: str) -> Any:
    """Subpackages load on first use (``tg.nn``, ``tg.optim``, ``tg.data``, ``tg.models``), keeping the import light."""
    if name in ("nn", "optim", "data", "viz", "cuda", "accelerator", "utils", "models", "backends", "linalg", "random",
                "special", "distributions", "amp", "func", "testing", "jit", "compiler", "distributed", "cpu",
                "version", "multiprocessing", "profiler", "return_types", "quasirandom", "signal", "library", "hub",
                "_dynamo", "_inductor"):
        return import_module(f".{name}", __name__)
    if name in ("sparse", "sparse_coo_tensor", "spmm"):  # torch.sparse's COO matrices (tinygrad_adam.sparse)
        module = import_module(".sparse", __name__)
        return module if name == "sparse" else getattr(module, name)
    if name in ("autocast", "GradScaler", "is_autocast_enabled", "get_autocast_dtype", "set_autocast_dtype",
                "set_autocast_enabled", "is_autocast_cpu_enabled", "get_autocast_cpu_dtype", "get_autocast_gpu_dtype",
                "set_autocast_cpu_enabled"):  # torch.autocast is torch.amp.autocast; so on
        return getattr(import_module(".amp", __name__), name)
    if name in ("mps", "xpu", "mtia"):  # devices without a backend here: is_available() is False
        return getattr(import_module(".absent_devices", __name__), name)
    if name == "load_run":  # rebuild a trained model from a run directory (tinygrad_adam.inference)
        return import_module(".inference", __name__).load_run
    raise AttributeError(f"module 'tinygrad_adam' has no attribute {name!r}")
