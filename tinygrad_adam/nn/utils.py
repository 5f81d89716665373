"""``nn.utils`` as torch's: gradient clipping (its implementation lives in ``tinygrad_adam.gradclip``)."""

from __future__ import annotations

from collections.abc import Iterable

from .. import gradclip
from ..gradclip import clip_grad_value_ as clip_grad_value_
from ..tensor import Tensor


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale the gradients so that their joint ``norm_type``-norm is at most ``max_norm``; returns the norm before
    clipping as a 0-d Tensor (in the gradients' dtype), as torch does. See ``gradclip.clip_grad_norm_``."""
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    total = gradclip.clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite)
    dtype = next((p.grad.dtype for p in parameters if p.grad is not None), "float32")
    return Tensor(total, dtype=dtype)


__all__ = ["clip_grad_norm_", "clip_grad_value_"]
