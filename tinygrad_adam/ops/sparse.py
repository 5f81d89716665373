"""Sparse (CSR) minibatches as inputs: dropout on the stored entries, and a linear layer that touches only them.

A CSR batch is any object with ``indptr`` (N+1,), ``indices`` (nnz,), ``data`` (nnz,) and ``shape`` (N, D):
row i holds the values ``data[indptr[i]:indptr[i+1]]`` at the columns ``indices[indptr[i]:indptr[i+1]]``
(for example the data package's ``CSRMatrix``, or the :class:`CSRBatch` made here). It is a constant input:
it gets no gradient. The arrays may be numpy or cupy; they are moved to the weight's device.

``linear`` computes x W^T + b as one scatter-add (``bincount``) of data * W[:, column] into the output rows,
and its weight gradient as one scatter-add of data * g[row] into the columns that occur in the batch: the
work is O(nnz * out_features), and no dense (N, D) array is ever made.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .. import backend
from ..tensor import Array, Tensor, check_devices, record
from .elementwise import wide_sum
from .linear import check_dtypes


class CSRBatch(NamedTuple):
    """A (N, D) sparse batch in CSR form on one device (what ``dropout`` returns)."""

    indptr: Array
    indices: Array
    data: Array
    shape: tuple[int, int]

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    @property
    def nnz(self) -> int:
        return int(self.indices.shape[0])

    def toarray(self) -> Array:
        """The dense (N, D) array (for tests and evaluation; the training path never builds it)."""
        xp = backend.get_array_module(self.data)
        out = xp.zeros(self.shape, dtype=self.data.dtype)
        out[row_ids(self), self.indices] = self.data
        return out


def is_csr(x: Any) -> bool:
    """True for a CSR batch (duck-typed: ``indptr``, ``indices``, ``data`` and ``shape``), False for a Tensor."""
    return not isinstance(x, Tensor) and all(hasattr(x, a) for a in ("indptr", "indices", "data", "shape"))


def as_csr(op: str, x: Any, device: str) -> CSRBatch:
    """``x`` as a CSRBatch with its arrays on ``device``; a ValueError naming the bad shapes otherwise."""
    shape = tuple(int(n) for n in x.shape)
    indptr, indices, data = (backend.to_device(a, device) for a in (x.indptr, x.indices, x.data))
    if len(shape) != 2 or indptr.shape != (shape[0] + 1,) or indices.ndim != 1 or data.shape != indices.shape:
        raise ValueError(f"{op}: a CSR batch needs shape (N, D), indptr (N+1,) and indices, data of one length; got "
                         f"shape {shape}, indptr {indptr.shape}, indices {indices.shape}, data {data.shape}")
    return CSRBatch(indptr, indices, data, shape)  # type: ignore[arg-type]


def row_ids(x: CSRBatch) -> Array:
    """The row of every stored entry, (nnz,): how many rows end at or before it (cupy's repeat wants host counts,
    so this counts row boundaries with bincount and cumsum instead)."""
    xp = backend.get_array_module(x.indptr)
    boundaries = xp.bincount(x.indptr[1:-1], minlength=x.nnz + 1)[:x.nnz]
    return xp.cumsum(boundaries)


def dropout(x: Any, keep: Array, p: float) -> CSRBatch:
    """The stored entries where ``keep`` (nnz,) is True, scaled by 1/(1-p); the others are removed."""
    x = as_csr("dropout", x, backend.device_of(keep))
    if keep.shape != x.indices.shape:
        raise ValueError(f"dropout: keep mask has shape {keep.shape}, but the batch stores {x.nnz} entries")
    xp = backend.get_array_module(keep)
    kept_before = xp.concatenate([xp.zeros(1, dtype=xp.int64), xp.cumsum(keep, dtype=xp.int64)])
    data = x.data[keep]
    if p < 1.0:  # with p = 1 nothing is kept
        data *= data.dtype.type(1.0 / (1.0 - p))
    return CSRBatch(kept_before[x.indptr], x.indices[keep], data, x.shape)


def linear(x: Any, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x (N, in) sparse @ weight (out, in).T + bias (out,) -> dense (N, out); gradients for weight and bias."""
    parents = (weight,) if bias is None else (weight, bias)
    check_devices("linear", *parents)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    out_f, in_f = weight.shape
    x = as_csr("linear", x, weight.device)
    if x.shape[1] != in_f:
        raise ValueError(f"linear: sparse input shape {x.shape} does not end in in_features={in_f} "
                         f"(weight shape {weight.shape})")
    if bias is not None and bias.shape != (out_f,):
        raise ValueError(f"linear: bias must have shape ({out_f},), got {bias.shape}")
    check_dtypes("linear", x, *parents)  # type: ignore[arg-type]
    xp, n, dtype = weight.xp, x.shape[0], weight.dtype
    rows = row_ids(x)
    slots = xp.arange(out_f)[:, None]  # output j of row i (or of column c) goes to bin j * size + i
    contrib = weight._data[:, x.indices] * x.data  # (out, nnz): W[j, column] * value
    out = xp.bincount((slots * n + rows).ravel(), contrib.ravel(), minlength=out_f * n)
    out = xp.ascontiguousarray(out.reshape(out_f, n).T, dtype=dtype)
    if bias is not None:
        out += bias._data

    def backward(g: Array) -> tuple[Array | None, ...]:
        gw = None
        if weight.requires_grad:
            values = g.T[:, rows] * x.data  # (out, nnz): g[row, j] * value
            gw = xp.bincount((slots * in_f + x.indices).ravel(), values.ravel(), minlength=out_f * in_f)
            gw = gw.reshape(out_f, in_f).astype(dtype)
        if bias is None:
            return (gw,)
        return gw, (wide_sum(g, 0) if bias.requires_grad else None)
    return record("sparse_linear", out, parents, backward)
