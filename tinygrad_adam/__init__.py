"""tinygrad_adam: a small, fast, readable deep-learning framework built around Adam (Kingma & Ba, 2015).

    import tinygrad_adam as tg
    x = tg.Tensor([[1.0, 2.0]], requires_grad=True)
    (x * x).sum().backward()
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .backend import DeviceError, manual_seed, set_default_device
from .creation import arange, eye, full, ones, ones_like, rand, randn, zeros, zeros_like
from .gradcheck import GradcheckError, gradcheck
from .ops.elementwise import maximum, minimum, where
from .ops.movement import concatenate, stack
from .tensor import Tensor

__version__ = "0.1.0"

__all__ = [
    "DeviceError", "GradcheckError", "Tensor", "arange", "concatenate", "enable_grad", "eye", "full", "gradcheck",
    "is_grad_enabled", "load_run", "manual_seed", "maximum", "minimum", "nn", "no_grad", "ones", "ones_like", "optim",
    "rand", "randn", "set_default_device", "set_grad_enabled", "stack", "where", "zeros", "zeros_like",
]


def __getattr__(name: str) -> Any:
    """Subpackages load on first use (``tg.nn``, ``tg.optim``, ``tg.data``, ``tg.models``), keeping the import light."""
    if name in ("nn", "optim", "data", "viz", "models"):
        return import_module(f".{name}", __name__)
    if name == "load_run":  # rebuild a trained model from a run directory (tinygrad_adam.inference)
        return import_module(".inference", __name__).load_run
    raise AttributeError(f"module 'tinygrad_adam' has no attribute {name!r}")
