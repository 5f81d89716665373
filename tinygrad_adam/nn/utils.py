"""``nn.utils`` as torch's: gradient clipping (its implementation lives in ``tinygrad_adam.gradclip``), the
parameters as one flat vector, and ``nn.utils.rnn`` (padding and packing sequences, see ``nn/rnn_utils.py``; it
imports as ``tinygrad_adam.nn.utils.rnn`` too). ``nn.utils.parametrize`` and ``nn.utils.parametrizations``
(``nn/parametrize.py``, ``nn/parametrizations.py``) and ``nn.utils.prune`` (``nn/prune.py``) import the same way;
the hook-based ``weight_norm`` / ``spectral_norm`` and their ``remove_*`` live in ``nn/norm_hooks.py``;
``nn.utils.fusion`` (BatchNorm folding), ``skip_init`` and the conv weight memory formats in ``nn/fusion.py``;
``nn.utils.stateless.functional_call`` (torch's older name for ``func.functional_call``) in ``nn/stateless.py``."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable
from typing import Any

import numpy

from .. import gradclip
from ..gradclip import clip_grad_value_ as clip_grad_value_
from ..ops import movement
from ..tensor import Tensor
from . import fusion, norm_hooks, parametrizations, parametrize, prune, stateless
from . import rnn_utils as rnn
from .fusion import (
    convert_conv2d_weight_memory_format,
    convert_conv3d_weight_memory_format,
    fuse_conv_bn_eval,
    fuse_conv_bn_weights,
    fuse_linear_bn_eval,
    fuse_linear_bn_weights,
    skip_init,
)
from .norm_hooks import remove_spectral_norm, remove_weight_norm, spectral_norm, weight_norm

sys.modules[f"{__name__}.rnn"] = rnn  # so that ``from tinygrad_adam.nn.utils.rnn import pad_sequence`` works
sys.modules[f"{__name__}.parametrize"] = parametrize
sys.modules[f"{__name__}.parametrizations"] = parametrizations
sys.modules[f"{__name__}.prune"] = prune
sys.modules[f"{__name__}.fusion"] = fusion
sys.modules[f"{__name__}.stateless"] = stateless
# torch's modules of the clipping functions (this one) and of the hook-based norms (``from
# torch.nn.utils.weight_norm import WeightNorm``); the attributes ``nn.utils.weight_norm`` / ``spectral_norm`` stay the
# functions, as torch's
clip_grad = sys.modules[f"{__name__}.clip_grad"] = sys.modules[__name__]
sys.modules[f"{__name__}.weight_norm"] = sys.modules[f"{__name__}.spectral_norm"] = norm_hooks


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Scale the gradients so that their joint ``norm_type``-norm is at most ``max_norm``; returns the norm before
    clipping as a 0-d Tensor (in the gradients' promoted dtype: torch stacks their norms), as torch does. See
    ``gradclip.clip_grad_norm_``."""
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    total = gradclip.clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite)
    return Tensor(total, dtype=_norm_dtype([p.grad for p in parameters if p.grad is not None]))


def _norm_dtype(tensors: list[Tensor]) -> Any:
    """The dtype of torch's total norm of ``tensors``: their promoted dtype (the stack of their norms'), float32 for
    none."""
    return numpy.result_type(*(t.dtype for t in tensors)) if tensors else numpy.dtype("float32")


def clip_grad_norm(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """torch's old spelling without the trailing underscore (as 2017 code writes it): a FutureWarning, then
    :func:`clip_grad_norm_`."""
    warnings.warn("nn.utils.clip_grad_norm is deprecated in favor of nn.utils.clip_grad_norm_ (as in torch)",
                  FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def get_total_norm(tensors: Tensor | Iterable[Tensor], norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """The ``norm_type``-norm of the tensors (usually the gradients) laid end to end, a 0-d Tensor in the
    tensors' promoted dtype (float32 0 for none), outside the graph; clip_grad_norm_'s first half, as torch's."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if any(t.dtype.kind != "f" for t in tensors):
        raise RuntimeError(f"get_total_norm needs floating tensors (as in torch), got "
                           f"{[str(t.dtype) for t in tensors]}")
    total = gradclip.total_norm([t._data for t in tensors], norm_type, error_if_nonfinite)
    return Tensor(total, dtype=_norm_dtype(tensors))


def clip_grads_with_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, total_norm: Tensor,
                          foreach: bool | None = None) -> None:
    """Multiply every gradient in place by min(1, max_norm / (total_norm + 1e-6)): clip_grad_norm_'s second half,
    with the norm from ``get_total_norm`` (a Tensor: a plain number raises TypeError, as in torch)."""
    if not isinstance(total_norm, Tensor):
        raise TypeError(f"clip_grads_with_norm_: total_norm must be a Tensor (get_total_norm's), got "
                        f"{type(total_norm).__name__}")
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    gradclip.refuse_sparse("clip_grads_with_norm_", parameters)
    gradclip.scale_to_norm_([p.grad._data for p in parameters if p.grad is not None], float(max_norm),
                            float(total_norm))


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """Every parameter flattened and laid end to end: (sum of numels,); differentiable, as torch's."""
    params = list(parameters)
    if not params:
        raise ValueError("parameters_to_vector got no parameters")
    return movement.concatenate([movement.reshape(p, (-1,)) for p in params], 0)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Consecutive pieces of the 1-D ``vec`` become the parameters' data (no graph), as torch's
    ``param.data = vec[i:j].view_as(param).data``: each parameter then shares ``vec``'s memory and takes its dtype,
    and a view a parameter was of (``Parameter(w.t())``) keeps its old values, as in torch. (They were copied in
    place before: into the memory of such a view's base, and converted to the parameter's dtype.)"""
    params = list(parameters)
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    start = 0
    for p in params:  # as torch's vec[start:start + n].view_as(p): elements past the parameters' are left unused
        n = p._data.size
        piece = vec._data[start:start + n]
        if piece.size != n:
            raise RuntimeError(f"vector_to_parameters: shape {list(p.shape)} is invalid for the {piece.size} "
                               f"elements of the vector (shape {list(vec.shape)}) left from position {start}")
        p.data = piece.reshape(p.shape)
        start += n


__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_",
           "convert_conv2d_weight_memory_format", "convert_conv3d_weight_memory_format", "fuse_conv_bn_eval",
           "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights", "fusion", "get_total_norm",
           "parameters_to_vector", "parametrizations", "parametrize", "prune", "remove_spectral_norm",
           "remove_weight_norm", "rnn", "skip_init", "spectral_norm", "vector_to_parameters", "weight_norm"]
