"""``tinygrad_adam.linalg``, as ``torch.linalg``: vector_norm, matrix_norm, norm, inv, det, slogdet, solve.

The norms are built from the differentiable ops (``statistics.norm`` for p-norms, amax / amin, sums), so their
gradients are those ops'; inv, det, slogdet and solve are ``ops.linalg``'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy

from .ops import elementwise, movement, reduce, statistics
from .ops.linalg import det, inv, solve
from .ops.linalg import slogdet as _slogdet
from .tensor import Tensor

__all__ = ["det", "inv", "matrix_norm", "norm", "slogdet", "solve", "vector_norm"]


class SignLogAbsDet(NamedTuple):
    """What ``slogdet`` returns (torch.return_types.slogdet)."""

    sign: Tensor
    logabsdet: Tensor


def slogdet(A: Tensor) -> SignLogAbsDet:
    """(sign, log |det|) of each square matrix (..., n, n)."""
    return SignLogAbsDet(*_slogdet(A))


def _floating_input(op: str, x: Tensor, dtype: Any) -> Tensor:
    """``x`` cast to ``dtype`` (a widening only, as torch), checked to be floating."""
    if dtype is not None:
        if elementwise.promote_types(x.dtype, numpy.dtype(dtype)) != dtype:
            raise TypeError(f"linalg.{op}: dtype={numpy.dtype(dtype)} would narrow the input's {x.dtype} (as torch, "
                            f"only a widening is allowed); cast the input first")
        x = elementwise.astype(x, dtype)
    if x.dtype.kind != "f":
        raise TypeError(f"linalg.{op}: expects a floating tensor (as in torch), got {x.dtype}; convert with .float() "
                        f"or pass dtype=")
    return x


def vector_norm(x: Tensor, ord: float = 2, dim: int | Sequence[int] | None = None,  # noqa: A002 - torch's name
                keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """(sum |x|^ord)^(1 / ord) over ``dim`` (all elements when None): ord inf / -inf is the largest / smallest |x|
    (the gradient split among ties), 0 the count of non-zeros (outside the graph: torch gives it no gradient), any
    other number the p-norm."""
    x = _floating_input("vector_norm", x, dtype)
    d = None if dim is None else (int(dim) if isinstance(dim, int) else tuple(int(i) for i in dim))
    if (math.isinf(ord) or ord < 0) and any(x.shape[i] == 0 for i in reduce._axes(d, x.ndim)):
        raise ValueError(f"linalg.vector_norm: cannot compute the {ord} norm over an empty dim (it has no identity)")
    if math.isinf(ord):
        return (reduce.max if ord > 0 else reduce.min)(elementwise.abs(x), d, keepdim)
    if ord == 0:
        return reduce.sum(elementwise.astype(elementwise.compare(x, 0, "not_equal"), x.dtype), d, keepdim)
    return statistics.norm(x, float(ord), d, keepdim)


def matrix_norm(A: Tensor, ord: Any = "fro", dim: tuple[int, int] = (-2, -1),  # noqa: A002
                keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """The norm of each matrix held in dims ``dim``: "fro" (the 2-norm of the entries), 1 / -1 (the largest /
    smallest column sum of |A|), inf / -inf (the largest / smallest row sum). "nuc" and 2 / -2 (singular values) are
    not supported."""
    A = _floating_input("matrix_norm", A, dtype)
    if A.ndim < 2:
        raise ValueError(f"linalg.matrix_norm: needs a tensor with at least 2 dims, got shape {A.shape}")
    d0, d1 = (movement.wrap_dim("matrix_norm", int(d), A.ndim) for d in dim)
    if d0 == d1:
        raise ValueError(f"linalg.matrix_norm: dims {dim} must be two different dims")
    if ord == "fro":
        return statistics.norm(A, 2.0, (d0, d1), keepdim)
    if ord in (1, -1, math.inf, -math.inf):
        summed, other = (d0, d1) if ord in (1, -1) else (d1, d0)
        sums = reduce.sum(elementwise.abs(A), summed, keepdims=True)
        pick = reduce.min if ord < 0 else reduce.sum if A.shape[other] == 0 else reduce.max  # an empty max is 0
        out = pick(sums, other, keepdims=True)
        return out if keepdim else movement.squeeze(out, (d0, d1))
    raise ValueError(f"linalg.matrix_norm: ord={ord!r} is not supported here (use 'fro', 1, -1, inf or -inf)")


def norm(A: Tensor, ord: Any = None, dim: int | Sequence[int] | None = None,  # noqa: A002
         keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """torch.linalg.norm: a vector norm over an int ``dim`` (or of the flattened tensor when ord and dim are None),
    a matrix norm over two dims (or of a 2-D tensor given an ord); ord None means 2 for vectors, "fro" for
    matrices."""
    if dim is not None and not isinstance(dim, int) and len(dim) == 2:
        return matrix_norm(A, "fro" if ord is None else ord, tuple(dim), keepdim, dtype=dtype)
    if dim is None and ord is not None:
        if A.ndim == 2:
            return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
        if A.ndim != 1:
            raise ValueError(f"linalg.norm: with ord and no dim the input must be 1-D or 2-D, got shape {A.shape}")
    if isinstance(ord, str):
        raise ValueError(f"linalg.norm: ord={ord!r} needs a matrix (two dims)")
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)

