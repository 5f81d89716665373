"""2-D convolution on NCHW input: im2col through a strided view, then one GEMM.

Forward: the padded input is viewed (no copy) as windows of shape (C, kh, kw, N, Ho, Wo),
copied once into the column matrix ``cols`` (C*kh*kw, N*Ho*Wo), and multiplied by the
weight matrix (O, C*kh*kw). Backward: ``dW = g @ cols.T``, ``dcols = W.T @ g``, and col2im
folds ``dcols`` back by kh*kw shifted array adds.
"""

from __future__ import annotations

from typing import Any

from .. import backend
from ..tensor import Array, Tensor, check_devices, record
from .linear import check_dtypes

IntPair = int | tuple[int, int]


def pair(value: IntPair, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints as a pair, each at least ``minimum``; a ValueError naming ``name`` otherwise."""
    p = (value, value) if isinstance(value, int) else tuple(value)
    if len(p) != 2 or not all(isinstance(v, int) and v >= minimum for v in p):
        raise ValueError(f"{name} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return p  # type: ignore[return-value]


def output_size(op: str, size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
                padding: tuple[int, int]) -> tuple[int, int]:
    """(Ho, Wo) = floor((H + 2p - k) / s) + 1; a ValueError when the kernel is larger than the padded input."""
    padded = (size[0] + 2 * padding[0], size[1] + 2 * padding[1])
    if kernel[0] > padded[0] or kernel[1] > padded[1]:
        raise ValueError(f"{op}: kernel size {kernel} is larger than the padded input {padded} "
                         f"(input {size}, padding {padding})")
    return (padded[0] - kernel[0]) // stride[0] + 1, (padded[1] - kernel[1]) // stride[1] + 1


def pad_spatial(x: Array, padding: tuple[int, int], value: float = 0.0) -> Array:
    """``x`` (..., H, W) with ``padding`` rows/columns of ``value`` on each side (``x`` itself when no padding)."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    xp = backend.get_array_module(x)
    out = xp.full(x.shape[:-2] + (x.shape[-2] + 2 * ph, x.shape[-1] + 2 * pw), value, dtype=x.dtype)
    out[..., ph:ph + x.shape[-2], pw:pw + x.shape[-1]] = x
    return out


def windows(xpad: Array, kernel: tuple[int, int], stride: tuple[int, int], out: tuple[int, int]) -> Array:
    """A strided view (no copy) of padded NCHW input as (kh, kw, N, C, Ho, Wo): element [i, j, ..., h, w] is
    ``xpad[..., h * sh + i, w * sw + j]``."""
    sn, sc, sh, sw = xpad.strides
    shape = (kernel[0], kernel[1], xpad.shape[0], xpad.shape[1], out[0], out[1])
    strides = (sh, sw, sn, sc, sh * stride[0], sw * stride[1])
    return backend.get_array_module(xpad).lib.stride_tricks.as_strided(xpad, shape=shape, strides=strides)


def fold_shifted(xp: Any, parts: Any, shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
                 out: tuple[int, int]) -> Array:
    """Sum kh*kw window contributions back onto a zero array of ``shape`` (..., Hp, Wp).

    ``parts(i, j)`` is the (..., Ho, Wo) contribution of kernel offset (i, j); overlapping windows accumulate.
    """
    acc = xp.zeros(shape, dtype=parts(0, 0).dtype)
    hi, wi = stride[0] * (out[0] - 1) + 1, stride[1] * (out[1] - 1) + 1
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            acc[..., i:i + hi:stride[0], j:j + wi:stride[1]] += parts(i, j)
    return acc


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntPair = 1,
           padding: IntPair = 0) -> Tensor:
    """Cross-correlation of x (N, C, H, W) with weight (O, C, kh, kw) plus bias (O,) -> (N, O, Ho, Wo)."""
    parents = (x, weight) if bias is None else (x, weight, bias)
    check_devices("conv2d", *parents)
    if x.ndim != 4:
        raise ValueError(f"conv2d: expected 4-D input (N, C, H, W), got shape {x.shape}")
    if weight.ndim != 4:
        raise ValueError(f"conv2d: expected 4-D weight (out_channels, in_channels, kh, kw), got shape {weight.shape}")
    n, c, h, w = x.shape
    o, wc, kh, kw = weight.shape
    if wc != c:
        raise ValueError(f"conv2d: weight {weight.shape} expects {wc} input channels, got {c} (input shape {x.shape})")
    if bias is not None and bias.shape != (o,):
        raise ValueError(f"conv2d: bias must have shape ({o},), got {bias.shape}")
    check_dtypes("conv2d", *parents)
    st, pd = pair(stride, "conv2d stride", 1), pair(padding, "conv2d padding", 0)
    ho, wo = output_size("conv2d", (h, w), (kh, kw), st, pd)
    xp = x.xp
    xpad = pad_spatial(x.data, pd)
    view = windows(xpad, (kh, kw), st, (ho, wo)).transpose(3, 0, 1, 2, 4, 5)  # (C, kh, kw, N, Ho, Wo)
    cols = view.reshape(c * kh * kw, n * ho * wo)  # the one im2col copy
    w2 = weight.data.reshape(o, c * kh * kw)
    out = w2 @ cols  # (O, N*Ho*Wo): the one GEMM
    if bias is not None:
        out += bias.data[:, None]
    out = out.reshape(o, n, ho, wo).transpose(1, 0, 2, 3)

    def backward(g: Array) -> tuple[Array | None, ...]:
        g2 = xp.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(o, n * ho * wo)
        gw = (g2 @ cols.T).reshape(weight.shape) if weight.requires_grad else None
        gx = None
        if x.requires_grad:
            gcols = (w2.T @ g2).reshape(c, kh, kw, n, ho, wo)
            gpad = fold_shifted(xp, lambda i, j: gcols[:, i, j], (c, n) + xpad.shape[2:], (kh, kw), st, (ho, wo))
            gx = gpad[:, :, pd[0]:pd[0] + h, pd[1]:pd[1] + w].transpose(1, 0, 2, 3)
        if bias is None:
            return gx, gw
        return gx, gw, (g2.sum(axis=1) if bias.requires_grad else None)
    return record("conv2d", out, parents, backward)
