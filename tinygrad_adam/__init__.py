"""tinygrad_adam: a small, fast, readable deep-learning framework built around Adam (Kingma & Ba, 2015).

    import tinygrad_adam as tg
    x = tg.Tensor([[1.0, 2.0]], requires_grad=True)
    (x * x).sum().backward()
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

import numpy

from . import methods as _methods
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .backend import (
    DeviceError,
    device,
    get_num_threads,
    manual_seed,
    set_default_device,
    set_flush_denormal,
    set_num_threads,
)
from .creation import (
    Generator,
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
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
from .gradcheck import GradcheckError, gradcheck
from .methods import Size
from .serialization import load, save
from .tensor import Tensor

_methods.attach()
globals().update(_methods.FUNCTIONS)  # cat, stack, where, exp, sum, max, topk, ... (see methods.FUNCTIONS)

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

__all__ = [
    "DeviceError", "Generator", "GradcheckError", "Size", "Tensor", "arange", "as_tensor", "bool", "device", "double",
    "empty", "empty_like", "enable_grad", "eye", "float", "float16", "float32", "float64", "from_numpy", "full",
    "full_like", "get_num_threads", "gradcheck", "half", "inference_mode", "int", "int8", "int16", "int32", "int64",
    "is_grad_enabled", "linspace", "load", "load_run", "long", "manual_seed", "multinomial", "nn", "no_grad", "ones",
    "ones_like", "optim", "rand", "rand_like", "randint", "randn", "randn_like", "randperm", "save",
    "set_default_device", "set_flush_denormal", "set_grad_enabled", "set_num_threads", "short", "tensor", "uint8",
    "zeros", "zeros_like",
    *sorted(_methods.FUNCTIONS),
]


def __getattr__(name: str) -> Any:
    """Subpackages load on first use (``tg.nn``, ``tg.optim``, ``tg.data``, ``tg.models``), keeping the import light."""
    if name in ("nn", "optim", "data", "viz", "cuda", "utils", "models"):
        return import_module(f".{name}", __name__)
    if name == "load_run":  # rebuild a trained model from a run directory (tinygrad_adam.inference)
        return import_module(".inference", __name__).load_run
    raise AttributeError(f"module 'tinygrad_adam' has no attribute {name!r}")
