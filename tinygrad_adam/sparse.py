"""torch.sparse's COO matrices as graph code uses them: ``sparse_coo_tensor(indices, values, size)`` for an
adjacency matrix, then ``torch.sparse.mm(adj, x)`` (also ``torch.spmm``, ``torch.mm``, ``adj @ x``, a vector too),
``to_dense()`` and a dense matrix's ``to_sparse()``.

A :class:`SparseCOOTensor` is a (M, N) matrix stored as ``indices`` (2, nnz) int64 (row, column) and ``values``
(nnz,) Tensor; an entry listed twice adds up (torch's "uncoalesced" form; ``coalesce()`` sorts and sums them). The
products are built from differentiable ops (a gather of x's rows, ``index_add`` into the output rows), so a
gradient reaches both x and the values (when they require one, as attention weights do): O(nnz * K) work, no dense
(M, N) array. Also as torch's (sparse results unless said): ``sparse + - sparse``, ``* /`` by a number or 0-d
tensor, ``sparse * dense`` (broadcast to (M, N)), ``neg abs sqrt pow``, ``index_select``, ``torch.sparse.sum`` of
all of it (dense 0-d), ``torch.sparse.softmax / log_softmax / addmm``, ``dense + - @ sparse`` (dense), ``to``,
``clone``. Only 2-D matrices of scalar values exist here; out-of-range indices raise at creation (torch checks
them only with ``check_invariants=True``). It is not a Tensor: anything else raises a one-line error naming
``.to_dense()``. (The sparse *gradients* of ``embedding(sparse=True)`` are ``sparse_grad.SparseGrad``.)
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

from . import backend, creation
from .layouts import sparse_coo
from .ops.elementwise import result_type
from .ops.movement import concatenate, stack
from .sparse_grad import need_coalesced
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
        need_coalesced(self, "indices")
        return self._idx

    def values(self) -> Tensor:
        need_coalesced(self, "values")
        return self._vals

    def coalesce(self) -> SparseCOOTensor:
        """Each (row, column) once, sorted row-major, repeated entries' values summed (differentiably)."""
        if self._coalesced:
            return self
        key = self._idx[0] * self._shape[1] + self._idx[1]
        unique, where = key.unique(sorted=True, return_inverse=True)
        # the sums start from -0.0, which adds as nothing (+0 + -0 is +0): a lone -0.0 stays -0.0, as torch's copy of
        # each place's first value (from +0 it became +0, and 1 / x gave inf for torch's -inf)
        start = -0.0 if self.dtype.kind == "f" else 0
        values = creation.full((unique.shape[0],), start, dtype=self.dtype, device=self.device).index_add(
            0, where, self._vals)
        indices = stack([unique // self._shape[1], unique % self._shape[1]])
        return SparseCOOTensor(indices, values, self._shape, coalesced=True)

    def to_dense(self) -> Tensor:
        """The (M, N) dense matrix, repeated entries summed; differentiable in the values."""
        out = creation.zeros(self._shape, dtype=self.dtype, device=self.device)
        return out.index_put((self._idx[0], self._idx[1]), self._vals, accumulate=True)

    def t(self) -> SparseCOOTensor:
        """The transpose (N, M): rows and columns swapped (no longer sorted, so not coalesced unless empty, as
        torch's)."""
        return SparseCOOTensor(self._idx.flip(0), self._vals, (self._shape[1], self._shape[0]), self._nnz() == 0)

    def transpose(self, dim0: int, dim1: int) -> SparseCOOTensor:
        if not -2 <= dim0 < 2 or not -2 <= dim1 < 2:
            raise IndexError(f"transpose: dims {dim0}, {dim1} are out of range for a 2-d sparse tensor "
                             "(expected -2..1)")
        return self if dim0 % 2 == dim1 % 2 else self.t()

    def detach(self) -> SparseCOOTensor:
        return SparseCOOTensor(self._idx, self._vals.detach(), self._shape, self._coalesced)

    def __matmul__(self, other: Any) -> Tensor:
        """``self @ dense``, also spelled ``self.matmul(dense)`` and ``self.mm(dense)``: see :func:`mm`; a vector
        (N,) gives the (M,) product, as torch's ``matmul`` / ``mv``."""
        if isinstance(other, Tensor) and other.ndim == 1:
            return mm(self, other.unsqueeze(1)).squeeze(1)
        return mm(self, other)

    matmul = mv = __matmul__

    def mm(self, other: Any) -> Tensor:
        return mm(self, other)

    # ------------------------------------------------------------------ arithmetic (torch's sparse results)
    def _with_values(self, values: Tensor, coalesced: bool | None = None) -> SparseCOOTensor:
        return SparseCOOTensor(self._idx, values, self._shape, self._coalesced if coalesced is None else coalesced)

    def _scalar(self, other: Any, op: str) -> Any:
        """``other`` when it is a Python number or a 0-d Tensor (what scales a sparse tensor), else refuse."""
        if isinstance(other, (bool, int, float)) or (isinstance(other, Tensor) and other.ndim == 0):
            return other
        raise NotImplementedError(f"sparse COO tensor {op} {type(other).__name__}: only a number or a 0-d tensor "
                                  f"here; call .to_dense() first for a dense Tensor")

    def mul(self, other: Any) -> SparseCOOTensor:
        """``self * number`` (values scaled) or ``self * dense`` of the same shape (each value times its entry):
        sparse, the same indices, as torch's."""
        if isinstance(other, Tensor) and other.ndim:
            if other.ndim > 2:
                raise NotImplementedError(f"sparse COO (2-D) * dense of shape {tuple(other.shape)}: only dense "
                                          f"operands that broadcast to {self._shape} here")
            other = other.expand(*self._shape)
            return self._with_values(self._vals * other[self._idx[0], self._idx[1]])
        if isinstance(other, SparseCOOTensor):
            raise NotImplementedError("sparse * sparse is not supported here; call .to_dense() first")
        return self._with_values(self._vals * self._scalar(other, "*"))

    def div(self, other: Any) -> SparseCOOTensor:
        return self._with_values(self._vals / self._scalar(other, "/"))

    def neg(self) -> SparseCOOTensor:
        return self._with_values(-self._vals)

    __mul__ = mul
    __truediv__ = div
    __neg__ = neg

    def __rmul__(self, other: Any) -> SparseCOOTensor:
        return self._with_values(self._scalar(other, "*") * self._vals)

    def add(self, other: Any, *, alpha: Any = 1) -> SparseCOOTensor:
        """``self + alpha * other`` of two sparse tensors of one shape: both lists of entries (uncoalesced), or,
        when both are coalesced, merged into a coalesced one (as torch; torch's order of an uncoalesced sum is its
        own: compare after ``coalesce()``). A dense ``other`` raises, as torch's add(sparse, dense)."""
        if not isinstance(other, SparseCOOTensor):
            raise RuntimeError("a sparse tensor plus a dense one is not implemented; write dense + sparse")
        if other._shape != self._shape:
            raise RuntimeError(f"add: the two sparse tensors differ in size, {list(self._shape)} and "
                               f"{list(other._shape)}")
        dtype = result_type(self._vals, other._vals)
        if isinstance(alpha, float) and dtype.kind in "iub":
            raise RuntimeError(f"alpha={alpha!r} is a float but the tensors are integer; pass an integer alpha")
        values = other._vals if alpha == 1 else other._vals * alpha
        both = SparseCOOTensor(concatenate([self._idx, other._idx], 1),
                               concatenate([self._vals.to(dtype), values.to(dtype)]), self._shape)
        return both.coalesce() if self._coalesced and other._coalesced else both

    def sub(self, other: Any, *, alpha: Any = 1) -> SparseCOOTensor:
        return self.add(other, alpha=-alpha)

    __add__ = add
    __sub__ = sub

    def dense_operand(self, op: str, other: Any) -> Tensor:
        """What a dense Tensor ``other``'s ``+`` / ``-`` / ``@`` uses of this sparse operand: its dense form (the same
        values and gradients as torch's dense result; for ``+`` unlisted entries are -0.0, the identity of addition,
        so that ``other``'s -0.0 stays, as torch). ``+`` / ``-`` need ``other`` of this shape (as torch); other
        dense-with-sparse elementwise ops refuse."""
        if op in ("add", "sub") and tuple(getattr(other, "shape", ())) != self._shape:
            raise RuntimeError(f"{op}: the dense and sparse operands differ in size, "
                               f"{list(getattr(other, 'shape', ()))} and {list(self._shape)}")
        if op == "add" and self.dtype.kind == "f":
            out = creation.full(self._shape, -0.0, dtype=self.dtype, device=self.device)
            return out.index_put((self._idx[0], self._idx[1]), self._vals, accumulate=True)
        if op in ("add", "sub", "matmul"):
            return self.to_dense()
        raise RuntimeError(f"{op}(dense, sparse) is not supported here; call .to_dense() first (sparse * dense "
                           f"works)")

    # ------------------------------------------------------------------ values-wise ops (f(0) = 0), reductions
    def _map_values(self, fn: Any) -> SparseCOOTensor:
        """``fn`` (with fn(0) = 0) of the values of the coalesced form (repeats summed first, as torch)."""
        c = self.coalesce()
        return c._with_values(fn(c._vals))

    def abs(self) -> SparseCOOTensor:
        return self._map_values(Tensor.abs)

    def sqrt(self) -> SparseCOOTensor:
        return self._map_values(Tensor.sqrt)

    def pow(self, exponent: Any) -> SparseCOOTensor:
        """values ** a number, of the coalesced form, the dtype kept (torch's sparse rules: a zeroth power, a float
        power of integers and a negative power of integers raise)."""
        if isinstance(exponent, Tensor) or not isinstance(exponent, (int, float)):
            raise NotImplementedError("sparse COO pow: only a Python number exponent (as torch)")
        if exponent == 0:
            raise RuntimeError("pow: an exponent of 0 would turn every missing entry into 1, giving a dense result; "
                               "use to_dense() first")
        if self.dtype.kind in "iub" and (isinstance(exponent, float) or exponent < 0):
            raise RuntimeError(f"sparse pow: an integer tensor to the power {exponent} is not allowed (torch: result "
                               f"type can't be cast / integers to negative integer powers)")
        return self._map_values(lambda values: values.pow(exponent))

    __pow__ = pow  # noqa: A003
    __abs__ = abs  # noqa: A003

    def sum(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        """The sum of all of it (a 0-d dense tensor; repeated entries each counted, as torch's ``sum()``)."""
        if keepdim:
            raise NotImplementedError("sparse COO sum(keepdim=True) is not available here; call .to_dense() first")
        return sum(self, (0, 1) if dim is None else dim, dtype)

    def zero_(self) -> SparseCOOTensor:
        """No entries left, in place (as torch's)."""
        self._idx, self._vals, self._coalesced = self._idx[:, :0], self._vals[:0].detach(), True
        return self

    def index_select(self, dim: int, index: Any) -> SparseCOOTensor:
        """Rows (dim 0) or columns (dim 1) ``index`` (repeats allowed), renumbered 0.. len(index) - 1: sparse,
        uncoalesced (torch's order is its own: compare after ``coalesce()``); differentiable in the values."""
        if not -2 <= dim < 2:
            raise IndexError(f"index_select: dim {dim} is out of range for a 2-d sparse tensor (expected -2..1)")
        dim %= 2
        index = creation.as_tensor(index, device=self.device)
        if index.ndim > 1 or index.dtype.kind not in "iu":
            raise IndexError("index_select(): the index needs one dim, holding integers")
        index = index.reshape(-1).long()
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= self._shape[dim]):
            raise IndexError(f"index out of range in self (size {self._shape[dim]})")
        position, entry = _matches(index._data, self._idx[dim]._data)
        position, entry = (Tensor(a, device=self.device) for a in (position, entry))
        kept = self._idx[1 - dim][entry]
        indices = stack([position, kept] if dim == 0 else [kept, position])
        shape = (index.shape[0], self._shape[1]) if dim == 0 else (self._shape[0], index.shape[0])
        return SparseCOOTensor(indices, self._vals[entry], shape, coalesced=len(entry) <= 1)

    def __len__(self) -> int:
        return self._shape[0]

    def element_size(self) -> int:
        return self.dtype.itemsize

    # ------------------------------------------------------------------ copies, casts, moves
    def clone(self) -> SparseCOOTensor:
        return SparseCOOTensor(self._idx.clone(), self._vals.clone(), self._shape, self._coalesced)

    def to(self, *args: Any, **kwargs: Any) -> SparseCOOTensor:
        """``to(dtype)`` / ``to(device)`` / both: the values (and indices) cast or moved, as a dense tensor's."""
        return self._converted(self._vals.to(*args, **kwargs))

    def _converted(self, values: Tensor) -> SparseCOOTensor:
        """self when ``values`` are its own (as torch's ``to``), else a new one with them, indices alongside."""
        if values is self._vals:
            return self
        return SparseCOOTensor(self._idx.to(values.device), values, self._shape, self._coalesced)

    def float(self) -> SparseCOOTensor:
        return self._converted(self._vals.float())

    def double(self) -> SparseCOOTensor:
        return self._converted(self._vals.double())

    def cpu(self) -> SparseCOOTensor:
        return self.to("cpu")

    def numel(self) -> int:
        return self._shape[0] * self._shape[1]

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(f"sparse COO tensor has no {name!r} here (see tinygrad_adam/sparse.py for what it "
                             f"has); call .to_dense() first for a dense Tensor")

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
        raise RuntimeError(f"sparse_coo_tensor: indices list {indices.shape[1]} entries but values has "
                           f"{values.shape[0]}")
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
    if isinstance(sparse, Tensor):  # torch.sparse.mm also takes a dense (strided) first operand: torch.mm
        return sparse.mm(dense)
    if not isinstance(sparse, SparseCOOTensor):
        raise TypeError(f"torch.sparse.mm: the first operand must be a sparse COO or dense tensor, got "
                        f"{type(sparse).__name__}")
    if not isinstance(dense, Tensor) or dense.ndim != 2 or dense.shape[0] != sparse.shape[1]:
        raise RuntimeError(f"sparse.mm: needs a dense (N, K) matrix with N = {sparse.shape[1]}, got "
                           f"{getattr(dense, 'shape', type(dense).__name__)}")
    if dense.dtype != sparse.dtype:
        raise RuntimeError(f"sparse.mm: expected scalar type {sparse.dtype} but found {dense.dtype}")
    rows, cols = sparse._idx[0], sparse._idx[1]
    out = creation.zeros(sparse.shape[0], dense.shape[1], dtype=dense.dtype, device=dense.device)
    return out.index_add(0, rows, sparse._vals.unsqueeze(1) * dense[cols])


spmm = mm  # torch.spmm


def _matches(index: Any, rows: Any) -> tuple[Any, Any]:
    """Every (position in ``index``, entry) pair whose ``rows[entry]`` equals ``index[position]``, sorted by position
    then entry: through a sort of ``index`` (n log n, not a len(index) x nnz comparison)."""
    xp = backend.get_array_module(rows)
    order = xp.argsort(index, kind="stable")
    ordered = index[order]
    lo, hi = xp.searchsorted(ordered, rows, "left"), xp.searchsorted(ordered, rows, "right")
    counts = hi - lo
    entry = xp.repeat(xp.arange(rows.shape[0]), counts)
    starts = xp.cumsum(counts) - counts
    position = order[xp.repeat(lo, counts) + xp.arange(entry.shape[0]) - xp.repeat(starts, counts)]
    sort = xp.lexsort((entry, position))
    return position[sort].astype("int64"), entry[sort].astype("int64")


def sum(input: Any, dim: Any = None, dtype: Any = None) -> Tensor:  # noqa: A001, A002 (torch's names)
    """``torch.sparse.sum`` over all of a sparse matrix (``dim`` None or both dims): a 0-d dense tensor, as torch's.
    Summing one dim (a 1-D sparse tensor in torch) is not available here (use ``.to_dense().sum(dim)``)."""
    if not getattr(input, "is_sparse", False):
        raise TypeError(f"torch.sparse.sum: expected a sparse tensor, got {type(input).__name__}")
    ndim = len(input.shape)
    dims = list(range(ndim)) if dim is None else [dim] if isinstance(dim, int) else list(dim)
    if any(not -ndim <= d < ndim for d in dims):
        raise IndexError(f"sum: dims {dims} are out of range for a {ndim}-d sparse tensor "
                         f"(expected {-ndim}..{ndim - 1})")
    if sorted(d % ndim for d in dims) != list(range(ndim)):
        raise NotImplementedError(f"torch.sparse.sum over dims {dims} (a sparse result) is not available here; use "
                                  f".to_dense().sum({dim})")
    c = input.coalesce() if dim is None else input  # (as torch: with no dim, a bool tensor's repeated True counts
    values = c._values() if not isinstance(c, SparseCOOTensor) else c._vals  # once; with dims, each time)
    return values.sum(dtype=dtype) if dtype is not None else values.sum()


def addmm(mat: Tensor, mat1: SparseCOOTensor, mat2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
    """``torch.sparse.addmm``: ``beta * mat + alpha * (mat1 @ mat2)`` with a sparse ``mat1``, dense result."""
    product = mm(mat1, mat2)
    return (mat if beta == 1 else mat * beta) + (product if alpha == 1 else product * alpha)


def _softmax(input: SparseCOOTensor, dim: int, dtype: Any, log: bool) -> SparseCOOTensor:  # noqa: A002
    """softmax over the specified entries of each row (dim 1) or column (dim 0); unspecified ones count as -inf
    (they stay unspecified). Coalesced result, differentiable in the values."""
    if not isinstance(input, SparseCOOTensor):
        raise TypeError(f"torch.sparse softmax: expected a sparse COO tensor, got {type(input).__name__}")
    if not -2 <= dim < 2:
        raise IndexError(f"softmax: dim {dim} is out of range for a 2-d sparse tensor (expected -2..1)")
    c = input.coalesce()
    values = c._vals if dtype is None else c._vals.to(dtype)
    if values.dtype.kind != "f":
        raise RuntimeError(f"softmax: expected a floating point sparse tensor, got {values.dtype}")
    group = c._idx[1 - dim % 2]  # the entries of one row (dim 1) share their row number
    n = c._shape[1 - dim % 2]
    top = creation.full((n,), float("-inf"), dtype=values.dtype, device=c.device).scatter_reduce(
        0, group, values.detach(), "amax", include_self=True)
    shifted = values - top[group]
    exp = shifted.exp()
    total = creation.zeros(n, dtype=values.dtype, device=c.device).index_add(0, group, exp)
    out = shifted - total.log()[group] if log else exp / total[group]
    return SparseCOOTensor(c._idx, out, c._shape, coalesced=True)


def softmax(input: SparseCOOTensor, dim: int, dtype: Any = None) -> SparseCOOTensor:  # noqa: A002
    """``torch.sparse.softmax``: see :func:`_softmax`."""
    return _softmax(input, dim, dtype, log=False)


def log_softmax(input: SparseCOOTensor, dim: int, dtype: Any = None) -> SparseCOOTensor:  # noqa: A002
    """``torch.sparse.log_softmax``: see :func:`_softmax`."""
    return _softmax(input, dim, dtype, log=True)


def __getattr__(name: str) -> Any:
    """``torch.sparse.torch``: torch's sparse module imports torch, and old code reaches ``torch.sparse.torch.eye``
    through it (CapsNet ports build their one-hot masks so)."""
    if name == "torch":
        return sys.modules[__package__]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
