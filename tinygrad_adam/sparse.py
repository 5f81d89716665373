"""torch.sparse's COO matrices as graph code uses them: ``sparse_coo_tensor(indices, values, size)`` for an
adjacency matrix, then ``torch.sparse.mm(adj, x)`` (also ``torch.spmm``, ``torch.mm``, ``adj @ x``),
``to_dense()`` and a dense matrix's ``to_sparse()``.

A :class:`SparseCOOTensor` is a (M, N) matrix stored as ``indices`` (2, nnz) int64 (row, column) and ``values``
(nnz,) Tensor; an entry listed twice adds up (torch's "uncoalesced" form; ``coalesce()`` sorts and sums them). The
products are built from differentiable ops (a gather of x's rows, ``index_add`` into the output rows), so a
gradient reaches both x and the values (when they require one, as attention weights do): O(nnz * K) work, no dense
(M, N) array. Only 2-D matrices of scalar values exist here; out-of-range indices raise at creation (torch checks
them only with ``check_invariants=True``). It is not a Tensor: anything not listed above raises a one-line error
naming ``.to_dense()``. (The sparse *gradients* of ``embedding(sparse=True)`` are ``sparse_grad.SparseGrad``.)
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

from . import creation
from .layouts import sparse_coo
from .ops.movement import stack
from .tensor import Size, Tensor


class SparseCOOTensor:
    """A (M, N) sparse matrix: ``indices`` (2, nnz) int64, ``values`` (nnz,) Tensor; ``coalesced``: the (row,
    column) pairs are distinct and sorted."""

    is_sparse = True
    layout = sparse_coo
    __array_ufunc__ = None  # numpy defers to our operators instead of making object arrays

    def __init__(self, indices: Tensor, values: Tensor, shape: tuple[int, int], coalesced: bool = False) -> None:
        self._idx, self._vals, self._shape, self._coalesced = indices, values, shape, coalesced

    shape = property(lambda self: Size(self._shape))
    dtype = property(lambda self: self._vals.dtype)
    device = property(lambda self: self._vals.device)
    requires_grad = property(lambda self: self._vals.requires_grad)
    ndim = property(lambda self: 2)

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self._shape[dim]

    def dim(self) -> int:
        return 2

    def sparse_dim(self) -> int:
        return 2

    def dense_dim(self) -> int:
        return 0

    def _nnz(self) -> int:
        return self._vals.shape[0]

    def is_coalesced(self) -> bool:
        return self._coalesced

    def _indices(self) -> Tensor:
        return self._idx

    def _values(self) -> Tensor:
        """The values, shared but outside autograd (torch's low-level accessor; ``values()`` is differentiable)."""
        return self._vals.detach()

    def indices(self) -> Tensor:
        self._need_coalesced("indices")
        return self._idx

    def values(self) -> Tensor:
        self._need_coalesced("values")
        return self._vals

    def _need_coalesced(self, what: str) -> None:
        if not self._coalesced:
            raise RuntimeError(f"Cannot get {what} on an uncoalesced tensor, please call .coalesce() first")

    def coalesce(self) -> SparseCOOTensor:
        """Each (row, column) once, sorted row-major, repeated entries' values summed (differentiably)."""
        if self._coalesced:
            return self
        key = self._idx[0] * self._shape[1] + self._idx[1]
        unique, where = key.unique(sorted=True, return_inverse=True)
        values = creation.zeros(unique.shape[0], dtype=self.dtype, device=self.device).index_add(0, where, self._vals)
        indices = stack([unique // self._shape[1], unique % self._shape[1]])
        return SparseCOOTensor(indices, values, self._shape, coalesced=True)

    def to_dense(self) -> Tensor:
        """The (M, N) dense matrix, repeated entries summed; differentiable in the values."""
        out = creation.zeros(self._shape, dtype=self.dtype, device=self.device)
        return out.index_put((self._idx[0], self._idx[1]), self._vals, accumulate=True)

    def t(self) -> SparseCOOTensor:
        """The transpose (N, M): rows and columns swapped (no longer sorted, so not coalesced)."""
        return SparseCOOTensor(self._idx.flip(0), self._vals, (self._shape[1], self._shape[0]))

    def transpose(self, dim0: int, dim1: int) -> SparseCOOTensor:
        if not -2 <= dim0 < 2 or not -2 <= dim1 < 2:
            raise IndexError(f"Dimension out of range (expected to be in range of [-2, 1], but got {dim0}, {dim1})")
        return self if dim0 % 2 == dim1 % 2 else self.t()

    def detach(self) -> SparseCOOTensor:
        return SparseCOOTensor(self._idx, self._vals.detach(), self._shape, self._coalesced)

    def __matmul__(self, other: Any) -> Tensor:
        """``self @ dense``, also spelled ``self.matmul(dense)`` and ``self.mm(dense)``: see :func:`mm`."""
        return mm(self, other)

    matmul = mm = __matmul__

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(f"sparse COO tensor has no {name!r} here (only torch.sparse.mm, @, matmul, to_dense, "
                             f"coalesce, t); call .to_dense() first for a dense Tensor")

    def __array__(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a sparse COO tensor is not an array here: use torch.sparse.mm(sparse, dense) or "
                        "sparse @ dense, or call .to_dense() first")

    def __repr__(self) -> str:
        return (f"SparseCOOTensor(indices={self._idx.tolist()}, values={self._vals.tolist()}, size={self._shape}, "
                f"nnz={self._nnz()}, layout=sparse_coo)")


def sparse_coo_tensor(indices: Any, values: Any, size: Any = None, *, dtype: Any = None, device: str | None = None,
                      requires_grad: bool = False, check_invariants: bool | None = None,
                      is_coalesced: bool | None = None) -> SparseCOOTensor:
    """A (M, N) sparse matrix from ``indices`` (2, nnz) of integers (row, column) and ``values`` (nnz,): value k at
    (indices[0, k], indices[1, k]), repeats adding up. ``size`` (M, N); None: one past the largest index in each row
    of ``indices``. A gradient reaches ``values`` when it requires one."""
    if requires_grad:
        raise NotImplementedError("sparse_coo_tensor(requires_grad=True): a sparse leaf's sparse .grad is not "
                                  "available here; make the values require grad instead (the gradient reaches them)")
    indices = creation.as_tensor(indices, device=device)
    values = creation.as_tensor(values, dtype=dtype, device=device)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"sparse_coo_tensor: indices must be integers, got {indices.dtype}")
    if indices.ndim != 2 or indices.shape[0] != 2 or values.ndim != 1:
        raise NotImplementedError(f"sparse_coo_tensor: only 2-D matrices of scalar values exist here (indices (2, "
                                  f"nnz), values (nnz,)), got indices {tuple(indices.shape)} and values "
                                  f"{tuple(values.shape)}")
    if indices.shape[1] != values.shape[0]:
        raise RuntimeError(f"indices and values must have same nnz, but got nnz from indices: {indices.shape[1]}, "
                           f"nnz from values: {values.shape[0]}")
    nnz, indices = indices.shape[1], indices.long()
    high = indices.amax(dim=1).tolist() if nnz else [-1, -1]
    shape = tuple(h + 1 for h in high) if size is None else tuple(int(n) for n in size)
    if len(shape) != 2:
        raise NotImplementedError(f"sparse_coo_tensor: only 2-D matrices exist here, got size {shape}")
    if nnz and (int(indices.min()) < 0 or any(h >= n for h, n in zip(high, shape))):
        raise ValueError(f"sparse_coo_tensor: indices out of range for size {shape} (largest {tuple(high)}, "
                         f"smallest {int(indices.min())})")
    return SparseCOOTensor(indices, values, shape, coalesced=bool(is_coalesced) or nnz <= 1)


def to_sparse(dense: Tensor, sparse_dim: int | None = None) -> SparseCOOTensor:
    """``dense.to_sparse()`` of a (M, N) matrix: its nonzero entries (nan included, -0.0 not), coalesced; the
    gradient reaches them (and only them)."""
    if dense.ndim != 2 or sparse_dim not in (None, 2):
        raise NotImplementedError(f"to_sparse: only 2-D matrices become sparse here (sparse_dim 2), got shape "
                                  f"{tuple(dense.shape)} and sparse_dim={sparse_dim}")
    indices = (dense != 0).nonzero().t()
    return SparseCOOTensor(indices, dense[indices[0], indices[1]], tuple(dense.shape), coalesced=True)


def mm(sparse: SparseCOOTensor, dense: Tensor) -> Tensor:
    """The product of a sparse (M, N) matrix and a dense (N, K) one: (M, K) dense, ``out[i] = sum over entries
    (i, j, v) of v * dense[j]``. Differentiable in the dense matrix and the sparse one's values."""
    if not isinstance(sparse, SparseCOOTensor):
        raise TypeError(f"torch.sparse.mm: the first operand must be a sparse COO tensor, got {type(sparse).__name__}"
                        f"; a dense product is torch.mm")
    if not isinstance(dense, Tensor) or dense.ndim != 2 or dense.shape[0] != sparse.shape[1]:
        raise RuntimeError(f"sparse.mm: needs a dense (N, K) matrix with N = {sparse.shape[1]}, got "
                           f"{getattr(dense, 'shape', type(dense).__name__)}")
    if dense.dtype != sparse.dtype:
        raise RuntimeError(f"sparse.mm: expected scalar type {sparse.dtype} but found {dense.dtype}")
    rows, cols = sparse._idx[0], sparse._idx[1]
    out = creation.zeros(sparse.shape[0], dense.shape[1], dtype=dense.dtype, device=dense.device)
    return out.index_add(0, rows, sparse._vals.unsqueeze(1) * dense[cols])


spmm = mm  # torch.spmm


def __getattr__(name: str) -> Any:
    """``torch.sparse.torch``: torch's sparse module imports torch, and old code reaches ``torch.sparse.torch.eye``
    through it (CapsNet ports build their one-hot masks so)."""
    if name == "torch":
        return sys.modules[__package__]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
