"""Normalisation layers as fused ops: layer norm (Ba et al., 2016) and batch norm (Ioffe & Szegedy, 2015).

Both normalise x over some axes, x_hat = (x - mean) / sqrt(var + eps) with the biased variance, then scale and
shift by per-feature ``weight`` and ``bias``. The backward of the normalisation over n values per group is

    dx = (dx_hat - mean(dx_hat) - x_hat mean(dx_hat x_hat)) / sqrt(var + eps),   dx_hat = g * weight.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..tensor import Array, Tensor, check_devices, record


def _affine_grads(g: Array, x_hat: Array, axes: tuple[int, ...], weight: Tensor | None,
                  bias: Tensor | None) -> tuple[Array | None, Array | None]:
    """Gradients of weight and bias, summed over ``axes`` (the axes they are broadcast along)."""
    shape = weight.shape if weight is not None else bias.shape if bias is not None else None
    gw = (g * x_hat).sum(axis=axes).reshape(shape) if weight is not None and weight.requires_grad else None
    gb = g.sum(axis=axes).reshape(shape) if bias is not None and bias.requires_grad else None
    return gw, gb


def _normalize(a: Tensor, axes: tuple[int, ...], mean: Array, var: Array, eps: float, weight: Tensor | None,
               bias: Tensor | None, feature_shape: tuple[int, ...], stats_have_grad: bool, op: str) -> Tensor:
    """(x - mean) / sqrt(var + eps) * weight + bias, with ``mean``/``var`` broadcastable to x; recorded as ``op``.

    ``stats_have_grad``: the statistics were computed from x over ``axes`` (training), so backward goes through
    them; otherwise they are constants (batch norm in eval mode).
    """
    parents = tuple(t for t in (weight, bias) if t is not None)
    check_devices(op, a, *parents)
    rstd = 1.0 / a.xp.sqrt(var + eps)
    x_hat = (a.data - mean) * rstd
    out = x_hat * weight.data.reshape(feature_shape) if weight is not None else x_hat.copy()
    if bias is not None:
        out += bias.data.reshape(feature_shape)

    def backward(g: Array) -> tuple[Array | None, ...]:
        gx = None
        if a.requires_grad:
            d = g * weight.data.reshape(feature_shape) if weight is not None else g
            if stats_have_grad:
                d = d - d.mean(axis=axes, keepdims=True) - x_hat * (d * x_hat).mean(axis=axes, keepdims=True)
            gx = d * rstd
        gw, gb = _affine_grads(g, x_hat, _broadcast_axes(a.ndim, feature_shape), weight, bias)
        return (gx, *([gw] if weight is not None else []), *([gb] if bias is not None else []))
    return record(op, out.astype(a.dtype, copy=False), (a, *parents), backward)


def _broadcast_axes(ndim: int, feature_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The axes of an ndim-array along which a tensor of ``feature_shape`` (padded on the left) is broadcast."""
    lead = ndim - len(feature_shape)
    return tuple(i for i in range(ndim) if i < lead or feature_shape[i - lead] == 1)


def layer_norm(a: Tensor, normalized_shape: Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` axes of ``a`` (..., *normalized_shape)."""
    shape = tuple(int(n) for n in normalized_shape)
    if a.shape[a.ndim - len(shape):] != shape or len(shape) > a.ndim:
        raise ValueError(f"layer_norm: normalized_shape {shape} must be the trailing dims of input shape {a.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != shape:
            raise ValueError(f"layer_norm: {name} has shape {t.shape}, expected {shape}")
    axes = tuple(range(a.ndim - len(shape), a.ndim))
    mean = a.data.mean(axis=axes, keepdims=True)
    var = ((a.data - mean) ** 2).mean(axis=axes, keepdims=True)
    return _normalize(a, axes, mean, var, eps, weight, bias, shape, True, "layer_norm")


def batch_norm(a: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Normalise each channel (axis 1) of ``a`` (N, C, ...) over every other axis, as torch's ``batch_norm``.

    training: use this batch's statistics and, when given, update ``running_mean`` / ``running_var`` in place:
    r <- (1 - momentum) r + momentum s, with the unbiased batch variance for ``running_var``. Otherwise normalise
    with the running statistics (which must then be given).
    """
    if a.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C, ...), got shape {a.shape}")
    c = a.shape[1]
    feature_shape = (c,) + (1,) * (a.ndim - 2)
    axes = (0, *range(2, a.ndim))
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and t.shape != (c,):
            raise ValueError(f"batch_norm: {name} has shape {t.shape}, expected ({c},) for input {a.shape}")
    if training:
        n = a.data.size // max(c, 1)
        if n <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input {a.shape}")
        mean = a.data.mean(axis=axes, keepdims=True)
        var = ((a.data - mean) ** 2).mean(axis=axes, keepdims=True)
        if running_mean is not None:
            running_mean.data *= 1 - momentum
            running_mean.data += momentum * mean.reshape(c).astype(running_mean.dtype, copy=False)
        if running_var is not None:
            running_var.data *= 1 - momentum
            running_var.data += (momentum * n / (n - 1)) * var.reshape(c).astype(running_var.dtype, copy=False)
        return _normalize(a, axes, mean, var, eps, weight, bias, feature_shape, True, "batch_norm")
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: evaluation (training=False) needs running_mean and running_var")
    check_devices("batch_norm", a, running_mean, running_var)
    mean, var = running_mean.data.reshape(feature_shape), running_var.data.reshape(feature_shape)
    return _normalize(a, axes, mean, var, eps, weight, bias, feature_shape, False, "batch_norm")
