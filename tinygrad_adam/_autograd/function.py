"""``torch.autograd.function``: custom differentiable operations (``Function``, ``FunctionCtx``) and the
``once_differentiable`` decorator, from :mod:`tinygrad_adam.function`."""

from ..function import Function, FunctionCtx, once_differentiable

__all__ = ["Function", "FunctionCtx", "once_differentiable"]
