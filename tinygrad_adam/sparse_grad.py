"""Sparse COO gradients, as torch's ``embedding(..., sparse=True)`` gives its weight: :class:`SparseGrad`.

The gradient of a (num_embeddings, dim) table from a lookup of N indices is N rows: ``indices`` (1, N) (the rows
picked, repeats kept, torch's "uncoalesced" form) and ``values`` (N, dim), the output gradient of each lookup.
``coalesce()`` sums repeated rows and sorts them. It flows through the autograd engine in place of a gradient array
(``+`` with another one concatenates, as torch's accumulation; with a dense array it gives the dense sum) and lands
in ``.grad`` as it is (``tensor.grad_tensor``). Optimizers read it through ``is_sparse`` (``optim/optimizer.py``).

Only what torch code around ``SparseAdam`` uses is here: ``to_dense coalesce is_coalesced _indices indices _values
values _nnz zero_ clone detach``, scaling by a Python number (``lr * grad``, ``grad / n``, ``-grad``, ``mul_ div_
*= /=``; a dense Tensor's ``add sub add_ sub_ + - += -=`` take a sparse gradient, as its dense form) and the shape /
dtype / device attributes. Anything else (other arithmetic, reductions, indexing) raises a one-line error naming
``.to_dense()``, rather than computing on a half-supported layout. It is not a Tensor: ``isinstance(grad, Tensor)``
is False (torch's sparse gradients are Tensors).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, NoReturn

from . import backend
from .tensor import Array, Size, Tensor


def need_coalesced(sparse: Any, what: str) -> None:
    """Refuse ``what`` (``indices`` / ``values``) of a sparse tensor or gradient whose entries are not coalesced
    (as torch: those are defined on the coalesced form only)."""
    if not sparse._coalesced:
        raise RuntimeError(f"{what} needs a coalesced sparse tensor (duplicate entries summed): call .coalesce() "
                           f"first")


class SparseGrad:
    """A sparse gradient of shape (num_rows, *row_shape): ``rows`` (nnz,) int64 row numbers, ``values``
    (nnz, *row_shape); a row listed twice adds up. ``coalesced``: the rows are sorted and distinct."""

    is_sparse = True
    requires_grad = False
    is_leaf = True
    grad_fn = None
    base = None  # (the engine's "is this array a view" check: never)
    __array_ufunc__ = None  # numpy defers to our operators, which refuse, instead of making object arrays

    def __init__(self, rows: Array, values: Array, shape: tuple[int, ...], coalesced: bool = False) -> None:
        self._rows, self._vals, self._shape, self._coalesced = rows, values, tuple(shape), coalesced

    # ------------------------------------------------------------------ what torch's sparse COO tensor tells
    shape = property(lambda self: self._shape, doc="The dense shape (num_rows, *row_shape).")
    dtype = property(lambda self: self._vals.dtype)
    device = property(lambda self: backend.device_of(self._vals))
    ndim = property(lambda self: len(self._shape))

    @property
    def layout(self) -> Any:
        """``tinygrad_adam.sparse_coo``, as torch's (layouts.py imports tensor, which imports this module)."""
        from .layouts import sparse_coo
        return sparse_coo

    data = property(lambda self: self.detach(), doc="torch's ``grad.data`` of a sparse gradient: a new one on the "
                    "same arrays (``grad.data.zero_()`` or ``.mul_(s)`` leave ``grad`` as it was, ``.div_(s)`` not).")

    @data.setter
    def data(self, value: Any) -> NoReturn:
        raise NotImplementedError("a sparse gradient cannot be moved or cast in place; set the gradients to None "
                                  "first (zero_grad())")

    _data = property(lambda self: self, doc="What the library reads as a gradient's array: the gradient itself.")

    def size(self, dim: int | None = None) -> Any:
        return Size(self._shape) if dim is None else self._shape[dim]

    def dim(self) -> int:
        return len(self._shape)

    def numel(self) -> int:
        return math.prod(self._shape)

    def sparse_dim(self) -> int:
        return 1

    def dense_dim(self) -> int:
        return len(self._shape) - 1

    def _nnz(self) -> int:
        return len(self._rows)

    def is_coalesced(self) -> bool:
        return self._coalesced

    def _indices(self) -> Tensor:
        """The row numbers as torch's (1, nnz) int64 index tensor (shared, not copied)."""
        return Tensor(self._rows.reshape(1, -1), device=self.device)

    def _values(self) -> Tensor:
        """The (nnz, *row_shape) values (shared, not copied: writing into them changes the gradient)."""
        return Tensor(self._vals, device=self.device)

    def indices(self) -> Tensor:
        need_coalesced(self, "indices")
        return self._indices()

    def values(self) -> Tensor:
        need_coalesced(self, "values")
        return self._values()

    # ------------------------------------------------------------------ conversions
    def coalesce(self) -> SparseGrad:
        """The same gradient with each row once, sorted, repeats summed in the order they came (self if it already
        is so, as torch)."""
        if self._coalesced:
            return self
        xp = backend.get_array_module(self._vals)
        rows, where = xp.unique(self._rows, return_inverse=True)
        summed = xp.zeros((len(rows), *self._shape[1:]), dtype=self.dtype)
        backend.scatter_add(summed, where.reshape(-1), self._vals)
        return SparseGrad(rows.astype("int64", copy=False), summed, self._shape, coalesced=True)

    def to_dense(self) -> Tensor:
        """The dense gradient (num_rows, *row_shape): each row's values summed into it."""
        xp = backend.get_array_module(self._vals)
        with backend.device_context(self.device):
            out = xp.zeros(self._shape, dtype=self.dtype)
        backend.scatter_add(out, self._rows, self._vals)
        return Tensor(out, device=self.device)

    def astype(self, dtype: Any, copy: bool = True) -> SparseGrad:
        return SparseGrad(self._rows, self._vals.astype(dtype), self._shape, self._coalesced)

    def moved(self, device: str | None, dtype: Any) -> SparseGrad:
        """On ``device`` and/or of ``dtype`` (None: as it is), for ``Module.to``."""
        rows, vals = self._rows, self._vals
        if device is not None:
            rows, vals = backend.to_device(rows, device), backend.to_device(vals, device)
        return SparseGrad(rows, vals if dtype is None else vals.astype(dtype), self._shape, self._coalesced)

    def copy(self) -> SparseGrad:
        return SparseGrad(self._rows.copy(), self._vals.copy(), self._shape, self._coalesced)

    def clone(self) -> SparseGrad:
        return self.copy()

    def detach(self) -> SparseGrad:
        return SparseGrad(self._rows, self._vals, self._shape, self._coalesced)

    def zero_(self) -> SparseGrad:
        """No entries left (torch's sparse ``zero_``, what ``zero_grad(set_to_none=False)`` does)."""
        xp = backend.get_array_module(self._vals)
        self._rows, self._vals = self._rows[:0], xp.zeros((0, *self._shape[1:]), dtype=self.dtype)
        self._coalesced = True
        return self

    # ------------------------------------------------------------------ accumulation
    def __add__(self, other: Any) -> Any:
        """Another sparse gradient: both lists of rows, self's first, uncoalesced, as torch's accumulation of
        gradients; two coalesced ones merge into one coalesced (torch does so when their values are contiguous in
        memory, as after any op but an expand); an empty one adds nothing. A dense array (the engine's, not a
        Tensor): the dense sum, an array."""
        if isinstance(other, SparseGrad) and other._shape == self._shape:
            if not other._nnz() or not self._nnz():
                return (self if other._nnz() == 0 else other).astype(self.dtype)  # (a new object, as torch's)
            xp = backend.get_array_module(self._vals)
            both = SparseGrad(xp.concatenate([self._rows, other._rows]),
                              xp.concatenate([self._vals, other._vals.astype(self.dtype, copy=False)]), self._shape)
            return both.coalesce() if self._coalesced and other._coalesced else both
        if backend.is_array(other) and tuple(other.shape) == self._shape:
            out = other.copy()
            backend.scatter_add(out, self._rows, self._vals.astype(out.dtype, copy=False))
            return out
        return self._refuse("+")

    __radd__ = __add__  # (dense + sparse is the same dense sum; sparse + sparse only comes through __add__)

    def __rsub__(self, other: Any) -> Any:
        """A dense array minus this gradient (a Tensor's ``w - g``): the dense difference, an array, as torch's
        ``w.sub(g)``; anything else refuses."""
        if backend.is_array(other):
            return (-self).__add__(other)
        return self._refuse("-")

    # ------------------------------------------------------------------ scaling by a number
    def _factor(self, other: Any, what: str) -> Any:
        """``other`` when it is a real Python number (what torch's sparse ``* / *= /=`` take here), else refuse."""
        if not isinstance(other, numbers.Real):
            self._refuse(f"{what} by a {type(other).__name__}")
        return other

    def __mul__(self, other: Any) -> SparseGrad:
        """The same rows, values times a number (``lr * p.grad``; a hook's ``g * 2``)."""
        return SparseGrad(self._rows, self._vals * self._factor(other, "*"), self._shape, self._coalesced)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> SparseGrad:
        return SparseGrad(self._rows, self._vals / self._factor(other, "/"), self._shape, self._coalesced)

    def __neg__(self) -> SparseGrad:
        return SparseGrad(self._rows, -self._vals, self._shape, self._coalesced)

    def mul_(self, other: Any) -> SparseGrad:
        """Values times a number, in new arrays (as torch's: ``_values()`` taken before keep the old values)."""
        self._vals = self._vals * self._factor(other, "mul_")
        return self

    def div_(self, other: Any) -> SparseGrad:
        """Values divided by a number, in their own arrays (as torch's, unlike its ``mul_``: ``_values()`` taken
        before, and ``grad.data``, share the change)."""
        xp = backend.get_array_module(self._vals)
        xp.divide(self._vals, self._factor(other, "div_"), out=self._vals)
        return self

    __imul__, __itruediv__ = mul_, div_

    def _refuse(self, what: str) -> NoReturn:
        raise TypeError(f"sparse gradient (embedding(sparse=True)): {what} is not supported here; call .to_dense() "
                        f"first for a dense Tensor")

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(f"sparse gradient (embedding(sparse=True)) has no {name!r} here; call .to_dense() first "
                             f"for a dense Tensor")

    def __array__(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse("conversion to an array")

    def __repr__(self) -> str:
        return (f"SparseGrad(indices={self._rows.reshape(1, -1).tolist()}, values=<{self._vals.shape} "
                f"{self.dtype}>, size={self._shape}, nnz={self._nnz()}, layout=sparse_coo)")


def _refusing(symbol: str) -> Any:
    def refuse(self: SparseGrad, *args: Any) -> NoReturn:
        self._refuse(symbol)
    return refuse


for _name, _symbol in [("sub", "-"), ("rtruediv", "/"), ("floordiv", "//"), ("rfloordiv", "//"),
                       ("mod", "%"), ("rmod", "%"), ("pow", "**"), ("rpow", "**"), ("matmul", "@"),
                       ("rmatmul", "@"), ("pos", "unary +"), ("abs", "abs()"), ("iadd", "+="), ("isub", "-="),
                       ("getitem", "indexing"), ("setitem", "item assignment"),
                       ("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">="), ("bool", "bool()"),
                       ("float", "float()"), ("int", "int()"), ("len", "len()"), ("iter", "iteration")]:
    setattr(SparseGrad, f"__{_name}__", _refusing(_symbol))


def sparse_rows(rows: Array, values: Array, shape: tuple[int, ...]) -> SparseGrad:
    """The sparse gradient of a table of ``shape`` whose rows ``rows`` (any integer array, flattened) received
    ``values`` (rows.size, *shape[1:]) (copied: the engine may hand the same array to several inputs). As torch's: it
    counts as coalesced with at most one row, and rows of no elements (a table of width 0) are not listed."""
    rows, values = rows.reshape(-1).astype("int64"), values.reshape(rows.size, *shape[1:])
    if values[:1].size == 0:  # no rows, or rows of no elements
        rows, values = rows[:0], values[:0]
    return SparseGrad(rows, values.copy(), shape, coalesced=len(rows) <= 1)


def grad_tensor(g: Array | SparseGrad, device: str) -> Tensor | SparseGrad:
    """A gradient from the engine as ``.grad`` holds it: an array becomes a Tensor, a sparse gradient stays one."""
    return g if isinstance(g, SparseGrad) else Tensor(g, device=device)
