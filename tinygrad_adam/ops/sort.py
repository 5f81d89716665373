"""Sorting along a dim: argsort, sort and topk (values are gathered, so the gradient goes to the chosen entries).

NaN sorts as the largest value, as in torch: last in ascending order, first in descending. Sorts are stable (ties
keep their input order in both directions).
"""

from __future__ import annotations

from ..tensor import Tensor
from .index import gather


def argsort(a: Tensor, dim: int = -1, descending: bool = False) -> Tensor:
    """int64 indices that sort ``a`` along ``dim``."""
    xp = a.xp
    nd = max(a.ndim, 1)
    if not -nd <= dim < nd:
        raise IndexError(f"argsort: dim {dim} is out of range for a tensor with {a.ndim} dims")
    if a.ndim == 0:
        return Tensor(xp.zeros((), dtype="int64"), device=a.device)
    dim %= a.ndim
    if not descending:
        idx = xp.argsort(a.data, axis=dim, kind="stable")
    else:  # sort the reversed array ascending, then read it backwards: descending, ties still in input order
        n = a.shape[dim]
        rev = xp.flip(a.data, axis=dim)
        idx = (n - 1) - xp.flip(xp.argsort(rev, axis=dim, kind="stable"), axis=dim)
    return Tensor(idx.astype("int64", copy=False), device=a.device)


def sort(a: Tensor, dim: int = -1, descending: bool = False) -> tuple[Tensor, Tensor]:
    """(sorted values, their int64 indices in ``a``) along ``dim``."""
    idx = argsort(a, dim, descending)
    return gather(a, dim, idx), idx


def topk(a: Tensor, k: int, dim: int = -1, largest: bool = True) -> tuple[Tensor, Tensor]:
    """The ``k`` largest (or smallest) values along ``dim``, in sorted order, and their int64 indices."""
    n = a.shape[dim] if a.ndim else 1
    if not 0 <= k <= n:
        raise ValueError(f"topk: k={k} is out of range for a dim of size {n}")
    idx = argsort(a, dim, descending=largest)
    if a.ndim:
        d = dim % a.ndim
        idx = Tensor(idx.data[(slice(None),) * d + (slice(0, k),)], device=a.device)
    return gather(a, dim, idx), idx
