"""``nn.utils.fusion`` as torch's: fold an eval-mode BatchNorm into the convolution or linear layer before it
(``fuse_conv_bn_eval`` / ``fuse_linear_bn_eval`` return a fused copy; ``*_weights`` compute the fused Parameters),
and the small module helpers ``skip_init`` and ``convert_conv2d_weight_memory_format`` /
``convert_conv3d_weight_memory_format``."""

from __future__ import annotations

import copy
import inspect
from typing import Any

from ..autograd import no_grad
from ..layouts import channels_last, channels_last_3d
from ..tensor import Tensor
from . import layers
from .module import Module, Parameter


def _or(t: Tensor | None, like: Tensor, value: float) -> Tensor:
    """``t``, or a tensor of ``value`` shaped and typed as ``like`` where t is None."""
    return like.new_full(like.shape, value) if t is None else t


def _fold(w: Tensor, b: Tensor | None, bn_rm: Tensor, bn_rv: Tensor, bn_eps: float, bn_w: Tensor | None,
          bn_b: Tensor | None, shape: list[int], cast_scale: bool) -> tuple[Parameter, Parameter]:
    """The layer's weight ``w`` times the BatchNorm's per-channel scale ``bn_w / sqrt(bn_rv + eps)`` (reshaped to
    ``shape``; cast to w's dtype before the product with ``cast_scale``, the product after it otherwise, as torch's
    linear and conv versions), its bias shifted to match; as Parameters with the inputs' ``requires_grad``."""
    bias_dtype = w.dtype if b is None else b.dtype
    bias = _or(b, bn_rm, 0.0)
    with no_grad():
        scale = _or(bn_w, bn_rm, 1.0) * (bn_rv + bn_eps).rsqrt()
        factor = scale.reshape(shape)
        weight = w * factor.to(w.dtype) if cast_scale else (w * factor).to(w.dtype)
        fused_b = ((bias - bn_rm) * scale + _or(bn_b, bn_rm, 0.0)).to(bias_dtype)
    return Parameter(weight, w.requires_grad), Parameter(fused_b, bias.requires_grad)


def fuse_conv_bn_weights(conv_w: Tensor, conv_b: Tensor | None, bn_rm: Tensor, bn_rv: Tensor, bn_eps: float,
                         bn_w: Tensor | None, bn_b: Tensor | None,
                         transpose: bool = False) -> tuple[Parameter, Parameter]:
    """The weight and bias of a convolution followed by an eval-mode BatchNorm of running mean ``bn_rm``, variance
    ``bn_rv``, affine ``bn_w`` / ``bn_b`` (None: 1 / 0): each output channel's weight scaled by
    ``bn_w / sqrt(bn_rv + eps)`` (the channel is dim 1 of a transposed convolution's weight), the bias shifted to
    match; in the convolution's dtypes, as Parameters with the inputs' ``requires_grad``."""
    shape = ([1, -1] if transpose else [-1, 1]) + [1] * (conv_w.ndim - 2)
    return _fold(conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b, shape, cast_scale=False)


def fuse_conv_bn_eval(conv: Module, bn: Module, transpose: bool = False) -> Module:
    """A copy of the eval-mode convolution ``conv`` with the eval-mode BatchNorm ``bn`` after it folded in (its
    output equals ``bn(conv(x))``); AssertionError in training mode, as torch's."""
    assert not (conv.training or bn.training), "Fusion only for eval!"
    fused = copy.deepcopy(conv)
    assert bn.running_mean is not None and bn.running_var is not None
    fused.weight, fused.bias = fuse_conv_bn_weights(fused.weight, fused.bias, bn.running_mean, bn.running_var,
                                                    bn.eps, bn.weight, bn.bias, transpose)
    return fused


def fuse_linear_bn_weights(linear_w: Tensor, linear_b: Tensor | None, bn_rm: Tensor, bn_rv: Tensor, bn_eps: float,
                           bn_w: Tensor | None, bn_b: Tensor | None) -> tuple[Parameter, Parameter]:
    """``fuse_conv_bn_weights`` for a linear layer (weight (out, in)) followed by a BatchNorm1d."""
    return _fold(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b, [-1, 1], cast_scale=True)


def fuse_linear_bn_eval(linear: Module, bn: Module) -> Module:
    """A copy of the eval-mode ``linear`` with the eval-mode BatchNorm1d ``bn`` after it folded in; AssertionError in
    training mode or when ``bn`` has neither ``linear.out_features`` features nor 1, as torch's."""
    assert not (linear.training or bn.training), "Fusion only for eval!"
    assert linear.out_features == bn.num_features or bn.num_features == 1, (
        "To fuse, linear.out_features must equal bn.num_features OR bn.num_features must be 1")
    fused = copy.deepcopy(linear)
    assert bn.running_mean is not None and bn.running_var is not None
    fused.weight, fused.bias = fuse_linear_bn_weights(fused.weight, fused.bias, bn.running_mean, bn.running_var,
                                                      bn.eps, bn.weight, bn.bias)
    return fused


def skip_init(module_cls: type[Module], *args: Any, **kwargs: Any) -> Module:
    """``module_cls(*args, **kwargs)`` whose parameters torch leaves uninitialised (any values are right); as
    torch's, the class must take a ``device`` argument (RuntimeError otherwise)."""
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError("skip_init: this Module class takes no 'device' argument, so its init cannot be skipped")
    return module_cls(*args, **kwargs)


def _convert_weight_memory_format(module: Module, memory_format: Any, kinds: tuple[type, ...]) -> Module:
    if isinstance(module, kinds) and isinstance(getattr(module, "weight", None), Tensor):
        with no_grad():
            module.weight.data = module.weight.detach().contiguous(memory_format=memory_format)
    for child in module.children():
        _convert_weight_memory_format(child, memory_format, kinds)
    return module


def convert_conv2d_weight_memory_format(module: Module, memory_format: Any = channels_last) -> Module:
    """Lay the weights of every Conv2d / ConvTranspose2d in ``module`` (itself included) out in ``memory_format``
    (values unchanged); returns ``module``."""
    return _convert_weight_memory_format(module, memory_format, (layers.Conv2d, layers.ConvTranspose2d))


def convert_conv3d_weight_memory_format(module: Module, memory_format: Any = channels_last_3d) -> Module:
    """``convert_conv2d_weight_memory_format`` for Conv3d / ConvTranspose3d (default channels_last_3d)."""
    return _convert_weight_memory_format(module, memory_format, (layers.Conv3d, layers.ConvTranspose3d))


__all__ = ["convert_conv2d_weight_memory_format", "convert_conv3d_weight_memory_format", "fuse_conv_bn_eval",
           "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights", "skip_init"]
