"""``torch._dynamo``, as training scripts touch it: ``config`` (``suppress_errors``, ``cache_size_limit``, ...),
``reset``, ``disable``, ``optimize``, ``mark_dynamic``. Nothing is compiled here (``tinygrad_adam.compile`` returns
the model), so these run and change nothing."""

from __future__ import annotations

from typing import Any

from .compiler import Settings, allow_in_graph, assume_constant_result, disable, is_compiling, reset

__all__ = ["allow_in_graph", "assume_constant_result", "config", "disable", "is_compiling", "mark_dynamic",
           "mark_static", "optimize", "reset"]

# torch's defaults for the settings scripts read and change (cache_size_limit += 8, ...)
config = Settings("torch._dynamo.config", cache_size_limit=8, accumulated_cache_size_limit=256, recompile_limit=8,
                  suppress_errors=False, verbose=False, capture_scalar_outputs=False,
                  capture_dynamic_output_shape_ops=False, optimize_ddp=True, automatic_dynamic_shapes=True,
                  assume_static_by_default=True)


def optimize(backend: Any = "inductor", **kwargs: Any) -> Any:
    """``@torch._dynamo.optimize("inductor")``: a decorator that returns the function unchanged."""
    return lambda fn: fn


def mark_dynamic(t: Any, index: Any, **kwargs: Any) -> None:
    """Tells the compiler a dim's size varies: there is no compiler to tell."""


def mark_static(t: Any, index: Any = None) -> None:
    """Tells the compiler a dim's size is fixed: there is no compiler to tell."""
