"""``nn.utils`` as torch's: gradient clipping (its implementation lives in ``tinygrad_adam.gradclip``), the
parameters as one flat vector, and ``nn.utils.rnn`` (padding and packing sequences, see ``nn/rnn_utils.py``; it
imports as ``tinygrad_adam.nn.utils.rnn`` too). ``nn.utils.parametrize`` and ``nn.utils.parametrizations``
(``nn/parametrize.py``, ``nn/parametrizations.py``) import the same way; the hook-based ``weight_norm`` /
``spectral_norm`` and their ``remove_*`` live in ``nn/norm_hooks.py``."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from .. import gradclip
from ..gradclip import clip_grad_value_ as clip_grad_value_
from ..ops import movement
from ..tensor import Tensor
from . import parametrizations, parametrize
from . import rnn_utils as rnn
from .norm_hooks import remove_spectral_norm, remove_weight_norm, spectral_norm, weight_norm

sys.modules[f"{__name__}.rnn"] = rnn  # so that ``from tinygrad_adam.nn.utils.rnn import pad_sequence`` works
sys.modules[f"{__name__}.parametrize"] = parametrize
sys.modules[f"{__name__}.parametrizations"] = parametrizations


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale the gradients so that their joint ``norm_type``-norm is at most ``max_norm``; returns the norm before
    clipping as a 0-d Tensor (in the gradients' dtype), as torch does. See ``gradclip.clip_grad_norm_``."""
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    total = gradclip.clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite)
    dtype = next((p.grad.dtype for p in parameters if p.grad is not None), "float32")
    return Tensor(total, dtype=dtype)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """Every parameter flattened and laid end to end: (sum of numels,); differentiable, as torch's."""
    params = list(parameters)
    if not params:
        raise ValueError("parameters_to_vector got no parameters")
    return movement.concatenate([movement.reshape(p, (-1,)) for p in params], 0)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive pieces of the 1-D ``vec`` into the parameters' data, in place (no graph, as torch's)."""
    params = list(parameters)
    if not isinstance(vec, Tensor) or vec.ndim != 1:
        raise TypeError(f"vector_to_parameters expects a 1-D Tensor, got {type(vec).__name__} "
                        f"{getattr(vec, 'shape', '')}")
    total = sum(p.data.size for p in params)
    if vec.shape[0] != total:
        raise ValueError(f"vector_to_parameters: the vector has {vec.shape[0]} elements, the parameters {total}")
    start = 0
    for p in params:
        n = p.data.size
        p.data[...] = vec.data[start:start + n].reshape(p.shape)
        start += n


__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "parametrizations", "parametrize",
           "remove_spectral_norm", "remove_weight_norm", "rnn", "spectral_norm", "vector_to_parameters",
           "weight_norm"]
