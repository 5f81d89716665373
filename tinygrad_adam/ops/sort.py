"""Sorting along a dim: argsort, sort, topk, kthvalue, median, nanmedian, mode (values are gathered, so the gradient
goes to the chosen entries), unique, unique_consecutive, and the binary searches searchsorted and bucketize.

NaN sorts as the largest value, as in torch: last in ascending order, first in descending. Sorts are stable (ties
keep their input order in both directions).
"""

from __future__ import annotations

import math

from .. import backend
from ..tensor import Array, Tensor, TensorLike, as_tensor, check_devices, record
from .elementwise import promote_types
from .factor import KernelDtypeError
from .index import gather
from .movement import clone, reshape, wrap_dim
from .reduce import evenly_distribute


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
        idx = xp.argsort(a._data, axis=dim, kind="stable")
    else:  # sort the reversed array ascending, then read it backwards: descending, ties still in input order
        n = a.shape[dim]
        rev = xp.flip(a._data, axis=dim)
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
        idx = Tensor(idx._data[(slice(None),) * d + (slice(0, k),)], device=a.device)
    return gather(a, dim, idx), idx


def _order_statistic(op: str, a: Tensor, k: int, dim: int, keepdim: bool) -> tuple[Tensor, Tensor]:
    """(values, int64 indices) of the ``k``-th smallest (0-based, NaN as the largest) along ``dim``, gathered, so
    the gradient goes to the index picked; a slice whose median is wanted (``op`` "median") gives its first NaN."""
    if a.dtype.kind == "b" and (op != "kthvalue" or a.ndim):  # (torch's kthvalue takes a 0-d bool tensor)
        raise KernelDtypeError(f"{op}: not defined for bool tensors; convert with .long() or .float()")
    d = wrap_dim(op, dim, a.ndim)
    n = a.shape[d] if a.ndim else 1
    if n == 0:
        raise IndexError(f"{op}: dim {dim} has size 0; there is nothing to pick")
    if not 0 <= k < n:
        raise ValueError(f"{op}: k = {k + 1} is out of range for dim {dim} of size {n} (expected 1..{n})")
    xp = a.xp
    if a.ndim == 0:
        first = Tensor(xp.zeros((), dtype="int64"), device=a.device)
        return gather(a, 0, first), first
    idx = xp.argpartition(a._data, k, axis=d)[(slice(None),) * d + (slice(k, k + 1),)]
    if op == "median" and a.dtype.kind == "f":  # torch's median is NaN where the slice holds one: the first NaN
        nan = xp.isnan(a._data)
        idx = xp.where(nan.any(axis=d, keepdims=True), xp.argmax(nan, axis=d, keepdims=True), idx)
    indices = Tensor(idx.astype("int64", copy=False), device=a.device)
    values = gather(a, d, indices)
    if keepdim:
        return values, indices
    shape = values.shape[:d] + values.shape[d + 1:]
    return clone(reshape(values, shape)), Tensor(indices._data.reshape(shape), device=a.device)


def kthvalue(a: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> tuple[Tensor, Tensor]:
    """(values, int64 indices) of the ``k``-th smallest element (1-based; NaN as the largest) along ``dim``.
    Among equal values which index is returned is unspecified, as in torch."""
    return _order_statistic("kthvalue", a, int(k) - 1, dim, keepdim)


def median(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """torch's median: the lower of the two middle values for an even count, NaN when a NaN is present.
    Without ``dim`` a 0-d tensor over all elements (NaN when empty) whose gradient is split evenly among the
    elements equal to it; with ``dim``, (values, int64 indices) along it, the gradient going to the index."""
    if dim is not None:
        n = a.shape[wrap_dim("median", dim, a.ndim)] if a.ndim else 1
        return _order_statistic("median", a, (n - 1) // 2, dim, keepdim)
    if a.dtype.kind not in "fiu":
        raise KernelDtypeError(f"median: not defined for dtype {a.dtype}; convert with .long() or .float()")
    xp, flat = a.xp, a._data.reshape(-1)
    if flat.size == 0:
        if a.dtype.kind != "f":
            raise ValueError("median: an empty integer tensor has no median (torch returns garbage)")
        value = xp.asarray(xp.nan, dtype=a.dtype)
    else:
        value = xp.partition(flat, (flat.size - 1) // 2)[(flat.size - 1) // 2]
        if a.dtype.kind == "f" and bool(xp.isnan(flat).any()):
            value = xp.asarray(xp.nan, dtype=a.dtype)
    value = xp.asarray(value).reshape(())
    return record("median", value, (a,), lambda g: (evenly_distribute(g, a._data, value),))


def nanmedian(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """torch's nanmedian: the lower median of the elements that are not NaN (NaN where all are). Without ``dim`` a
    0-d tensor whose gradient is split among the elements equal to it (among the NaNs when all are NaN); with
    ``dim``, (values, int64 indices) along it, an all-NaN slice giving its first NaN, the gradient going to the
    index."""
    if a.dtype.kind != "f":
        return median(a, dim, keepdim)  # no NaN to leave out
    xp = a.xp
    if dim is None:
        flat = a._data.reshape(-1)
        kept = flat[~xp.isnan(flat)]
        value = xp.partition(kept, (kept.size - 1) // 2)[(kept.size - 1) // 2] if kept.size else xp.nan
        value = xp.asarray(value, dtype=a.dtype).reshape(())
        return record("nanmedian", value, (a,), lambda g: (evenly_distribute(g, a._data, value),))
    d = wrap_dim("nanmedian", dim, a.ndim)
    if a.ndim == 0:
        first = Tensor(xp.zeros((), dtype="int64"), device=a.device)
        return gather(a, 0, first), first
    if a.shape[d] == 0:
        raise IndexError(f"nanmedian: dim {dim} has size 0; there is nothing to pick")
    order = xp.argsort(a._data, axis=d, kind="stable")  # NaNs last, in input order
    count = (~xp.isnan(a._data)).sum(axis=d, keepdims=True)
    k = xp.maximum(count - 1, 0) // 2  # the lower median of the non-NaN values; 0 (the first NaN) when none
    indices = Tensor(xp.take_along_axis(order, k, axis=d).astype("int64", copy=False), device=a.device)
    values = gather(a, d, indices)
    if keepdim:
        return values, indices
    shape = values.shape[:d] + values.shape[d + 1:]
    return clone(reshape(values, shape)), Tensor(indices._data.reshape(shape), device=a.device)


def unique(a: Tensor, sorted: bool = True, return_inverse: bool = False,  # noqa: A002 - torch's name
           return_counts: bool = False, dim: int | None = None) -> Tensor | tuple[Tensor, ...]:
    """The distinct values of ``a`` in ascending order (1-D; each NaN distinct, as torch), and on request the int64
    inverse (``a``'s shape: where each element went) and the int64 count of each value. With ``dim``, the distinct
    slices along it, in lexicographic order (NaN last), ``a``'s shape with their number along ``dim``; the inverse
    then has shape (a.shape[dim],). No gradient."""
    xp = a.xp
    if dim is None:
        d, rows = None, a._data.reshape(-1, 1)
        order = xp.argsort(rows[:, 0], kind="stable")
    else:
        d, rows = _slices("unique", a, dim)
        order = xp.lexsort(rows.T[::-1]) if rows.shape[1] else xp.arange(len(rows))  # the first column decides first
    ordered = rows[order]
    starts = xp.ones(len(rows), dtype=bool)
    starts[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)  # NaN != NaN: every NaN starts a value of its own
    first = order[starts]
    out: list[Tensor] = [Tensor(rows[first, 0] if d is None else xp.take(a._data, first, axis=d), device=a.device)]
    if return_inverse:
        inverse = xp.empty(len(rows), dtype="int64")
        inverse[order] = xp.cumsum(starts) - 1
        out.append(Tensor(inverse.reshape(a.shape if d is None else (-1,)), device=a.device))
    if return_counts:
        out.append(_run_lengths(a, starts))
    return out[0] if len(out) == 1 else tuple(out)


def _slices(op: str, a: Tensor, dim: int) -> tuple[int, Array]:
    """(dim, the slices of ``a`` along it as rows (a.shape[dim], the rest)), with torch's checks."""
    if a.ndim == 0:
        raise IndexError(f"{op}: dim {dim} given for a 0-d tensor, which has no dims; pass dim=None")
    d = wrap_dim(op, dim, a.ndim)
    if any(n == 0 for i, n in enumerate(a.shape) if i != d):
        raise ValueError(f"{op}: shape {a.shape} has a size-0 dim besides dim {d}, so there are no slices to compare "
                         f"(as torch); pass that dim, or dim=None")
    moved = a.xp.moveaxis(a._data, d, 0)
    return d, moved.reshape(len(moved), math.prod(moved.shape[1:]))


def _run_lengths(a: Tensor, starts: Array) -> Tensor:
    """The int64 length of each run, from the bool vector ``starts`` marking where one begins."""
    xp = a.xp
    bounds = xp.concatenate([xp.flatnonzero(starts), xp.asarray([starts.size])])
    return Tensor(xp.diff(bounds).astype("int64", copy=False), device=a.device)


def unique_consecutive(a: Tensor, return_inverse: bool = False, return_counts: bool = False,
                       dim: int | None = None) -> Tensor | tuple[Tensor, ...]:
    """Each run of equal neighbours collapsed to its first: without ``dim`` over the flattened ``a`` (a 1-D
    result), with ``dim`` runs of equal slices along it (``a``'s shape with the number of runs along ``dim``). NaN
    never equals NaN, so each NaN is a run of its own, as torch. On request the int64 inverse (the run of each
    element, ``a``'s shape; with ``dim``, of each slice, (a.shape[dim],)) and the int64 length of each run. No
    gradient."""
    xp = a.xp
    if dim is None:
        rows, inverse_shape = a._data.reshape(-1, 1), a.shape  # each element a slice of its own
    else:
        d, rows = _slices("unique_consecutive", a, dim)
        inverse_shape = (a.shape[d],)
    starts = xp.ones(rows.shape[0], dtype=bool)
    starts[1:] = (rows[1:] != rows[:-1]).any(axis=1)  # NaN != NaN: every NaN starts a run
    first = xp.flatnonzero(starts)
    out = [Tensor(rows[first, 0] if dim is None else xp.take(a._data, first, axis=d), device=a.device)]
    if return_inverse:
        out.append(Tensor((xp.cumsum(starts) - 1).astype("int64", copy=False).reshape(inverse_shape), device=a.device))
    if return_counts:
        out.append(_run_lengths(a, starts))
    return out[0] if len(out) == 1 else tuple(out)


def mode(a: Tensor, dim: int = -1, keepdim: bool = False) -> tuple[Tensor, Tensor]:
    """(values, int64 indices) of the most frequent value along ``dim``, the smallest of those equally frequent (as
    torch), with the index of its last occurrence. NaN never equals NaN, so each NaN counts once, as in torch
    ([nan, nan, nan, 0, 0] gives 0); where every value of a row is counted once torch's pick among them follows its
    sort, which has no order for NaN ([nan, nan, 1] gives nan in torch, 1 here), as does a NaN that splits a run of
    equal values in torch's sort ([0, nan, 0, 1, 1] gives 1 in torch, 0 here). Gathered, so the gradient goes to
    that index."""
    d = wrap_dim("mode", dim, a.ndim)
    if a.ndim and a.shape[d] == 0:
        raise IndexError(f"mode: dim {dim} has size 0; there is nothing to pick")
    if a.ndim == 0:
        first = Tensor(a.xp.zeros((), dtype="int64"), device=a.device)
        return gather(a, 0, first), first
    xp = a.xp
    x = xp.moveaxis(a._data, d, -1)
    order = xp.argsort(x, axis=-1, kind="stable")
    ordered = xp.take_along_axis(x, order, axis=-1)
    n = x.shape[-1]
    pos = xp.arange(n)
    ends = xp.ones(x.shape, dtype=bool)  # the last position of each run of equal values (each NaN a run of its own)
    ends[..., :-1] = ordered[..., 1:] != ordered[..., :-1]
    starts = xp.zeros(x.shape, dtype="int64")
    starts[..., 1:] = xp.where(ends[..., :-1], pos[1:], 0)
    counts = xp.where(ends, pos - backend.accumulate("maximum", starts, -1) + 1, 0)
    best = xp.argmax(counts, axis=-1)[..., None]  # the first (smallest) value of the largest count
    idx = xp.moveaxis(xp.take_along_axis(order, best, axis=-1), -1, d).astype("int64", copy=False)
    indices = Tensor(idx, device=a.device)
    values = gather(a, d, indices)
    if keepdim:
        return values, indices
    shape = values.shape[:d] + values.shape[d + 1:]
    return clone(reshape(values, shape)), Tensor(idx.reshape(shape), device=a.device)


def searchsorted(sorted_sequence: Tensor, values: TensorLike, out_int32: bool = False, right: bool = False,
                 side: str | None = None, sorter: Tensor | None = None) -> Tensor:
    """Where ``values`` would go in the innermost dim of ``sorted_sequence`` to keep it sorted: the first index i
    with seq[i] >= v (``right`` / ``side="right"``: seq[i] > v), found by the same binary search as torch's (so
    NaN values land at the end). ``sorted_sequence`` is 1-D, or (..., n) with ``values`` (..., m) sharing its
    leading dims; ``values`` may be a number (a 0-d result). ``sorter``: int64 indices that sort the sequence.
    int64 (int32 with ``out_int32``) of ``values``' shape; no gradient."""
    if side is not None:
        if side not in ("left", "right"):
            raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
        if right and side == "left":
            raise ValueError("searchsorted: side='left' and right=True contradict each other; pass one")
        right = side == "right"
    v = values if isinstance(values, Tensor) else as_tensor(values, like=sorted_sequence)
    check_devices("searchsorted", sorted_sequence, v)
    seq, xp = sorted_sequence._data, sorted_sequence.xp
    if seq.ndim == 0 or (seq.ndim > 1 and (v.ndim != seq.ndim or v.shape[:-1] != seq.shape[:-1])):
        raise ValueError(f"searchsorted: the sequence must be 1-D, or share all but the last dim with the values; got "
                         f"shapes {seq.shape} and {v.shape}")
    if sorter is not None:
        check_devices("searchsorted", sorted_sequence, sorter)
        if sorter.shape != seq.shape or sorter.dtype != "int64":
            raise ValueError(f"searchsorted: sorter must be int64 of the sequence's shape {seq.shape}")
        seq = xp.take_along_axis(seq, sorter._data, axis=-1)
    dt = promote_types(seq.dtype, v.dtype)
    seq, x = seq.astype(dt, copy=False), v._data.astype(dt, copy=False)
    n = seq.shape[-1]
    low, high = xp.zeros(x.shape, dtype="int64"), xp.full(x.shape, n, dtype="int64")
    for _ in range(n.bit_length()):  # each step halves every interval [low, high)
        mid = (low + high) // 2
        at = xp.minimum(mid, max(n - 1, 0))
        pivot = seq[at] if seq.ndim == 1 else xp.take_along_axis(seq, at, axis=-1)
        after = ~(pivot > x) if right else ~(pivot >= x)  # the answer lies after mid
        live = low < high
        low = xp.where(live & after, mid + 1, low)
        high = xp.where(live & ~after, mid, high)
    return Tensor(low.astype("int32" if out_int32 else "int64"), device=v.device)


def bucketize(a: TensorLike, boundaries: Tensor, out_int32: bool = False, right: bool = False) -> Tensor:
    """The bucket of each element of ``a`` between the 1-D sorted ``boundaries``: searchsorted(boundaries, a,
    right=right)."""
    if boundaries.ndim != 1:
        raise ValueError(f"bucketize: boundaries must be 1-D, got shape {boundaries.shape}")
    return searchsorted(boundaries, a, out_int32, right)
