"""The affine map of a fully connected layer as one op: y = x W^T + b.

Backward: dx = g W, dW = g^T x, db = sum of g over the batch. ``W.T`` is a view, so BLAS
reads the weight transposed without a copy.
"""

from __future__ import annotations

import math

from ..tensor import Array, Tensor, check_devices, record
from .elementwise import ignore_overflow, wide_sum
from .factor import DtypeError


def check_dtypes(op: str, *tensors: Tensor) -> None:
    """A DtypeError (TypeError and torch's RuntimeError) naming the dtypes when ``tensors`` (input, weight, bias)
    do not share one: no silent upcast."""
    first = tensors[0].dtype
    if any(t.dtype != first for t in tensors[1:]):  # dtype objects compare fast; their names are built only here
        dtypes = sorted({str(t.dtype) for t in tensors})
        raise DtypeError(f"{op}: input, weight and bias must share a dtype, got {dtypes}; convert with .astype()")


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x (..., in) @ weight (out, in).T + bias (out,) -> (..., out)."""
    parents = (x, weight) if bias is None else (x, weight, bias)
    check_devices("linear", *parents)
    if weight.ndim == 1 and bias is None:  # torch's matmul form: x @ weight
        return x @ weight
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    out_f, in_f = weight.shape
    if x.ndim == 0 or x.shape[-1] != in_f:
        raise ValueError(f"linear: input shape {x.shape} does not end in in_features={in_f} "
                         f"(weight shape {weight.shape})")
    if bias is not None and bias.shape != (out_f,):
        if bias.ndim <= 2:  # torch's addmm broadcasts a bias ((), (1,), (N, out)): added after the product
            return linear(x, weight) + bias
        raise ValueError(f"linear: bias must have shape ({out_f},), got {bias.shape}")
    check_dtypes("linear", *parents)
    xp = x.xp
    x2 = x._data.reshape(math.prod(x.shape[:-1]), in_f)  # not -1: that is ambiguous for empty inputs
    if x2.dtype == xp.float16 and in_f:  # torch's float16 mm / addmm keep the products (and the bias) in float32 and
        # round once (rounding the products first put a third of the biased outputs an ulp off; numpy's float16
        # matmul is also 35x slower than float32 BLAS)
        f32 = xp.float32
        out = x2.astype(f32) @ weight._data.T.astype(f32)
        if bias is not None:
            out += bias._data.astype(f32)
        with ignore_overflow(xp):  # beyond float16's range: inf, silently (as torch)
            out = out.astype(xp.float16)
    else:
        out = x2 @ weight._data.T
        if bias is not None and in_f == 0:  # no products: torch's addmm gives the bias as it is (0 + -0 would be +0)
            out[...] = bias._data
        elif bias is not None:
            out += bias._data

    def backward(g: Array) -> tuple[Array | None, ...]:
        g2 = xp.ascontiguousarray(g.reshape(x2.shape[0], out_f))  # BLAS needs real strides (a broadcast g has 0)
        gx = (g2 @ weight._data).reshape(x.shape) if x.requires_grad else None
        gw = g2.T @ x2 if weight.requires_grad else None
        if bias is None:
            return gx, gw
        return gx, gw, (wide_sum(g2, 0) if bias.requires_grad else None)
    return record("linear", out.reshape(x.shape[:-1] + (out_f,)), parents, backward)
