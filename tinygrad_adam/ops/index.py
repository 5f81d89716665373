"""Indexing along a dim with index tensors, as torch does it: gather, scatter, scatter_add, index_put, one_hot.

``gather(a, dim, index)[i][j][k] = a[i][index[i][j][k]][k]`` (for dim 1); ``scatter`` is its inverse. Indices are
checked (torch raises on an index out of range, including a negative one, and so do we).
"""

from __future__ import annotations

from typing import Any

from ..autograd import is_grad_enabled
from ..tensor import Array, Tensor, TensorLike, as_tensor, check_devices, record
from .elementwise import unbroadcast


def _mesh(op: str, a: Tensor, dim: int, index: Tensor, private: bool) -> tuple[int, tuple[Array, ...]]:
    """(dim as a non-negative int, the open-mesh advanced index that ``index`` stands for along ``dim``), built on a
    copy of the index when ``private`` (a backward will read it: no later write into the index can reach it)."""
    check_devices(op, a, index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must be an integer tensor, got dtype {index.dtype}")
    nd = max(a.ndim, 1)
    if not -nd <= dim < nd:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {a.ndim} dims")
    dim %= nd
    if index.ndim != a.ndim or any(i > n for d, (i, n) in enumerate(zip(index.shape, a.shape)) if d != dim):
        raise ValueError(f"{op}: index shape {index.shape} must have the dims of the input {a.shape}, each no larger "
                         f"except along dim {dim}")
    xp, idx = a.xp, index.data
    if private:
        idx = idx.copy()
    if idx.size and bool(((idx < 0) | (idx >= (a.shape[dim] if a.ndim else 1))).any()):
        raise IndexError(f"{op}: index out of range for dim {dim} of size {a.shape[dim] if a.ndim else 1}")
    if a.ndim == 0:
        return dim, ()
    mesh = tuple(idx if d == dim else xp.arange(n).reshape((1,) * d + (n,) + (1,) * (idx.ndim - d - 1))
                 for d, n in enumerate(idx.shape))
    return dim, mesh


def gather(a: Tensor, dim: int, index: Tensor) -> Tensor:
    """Values of ``a`` at ``index`` along ``dim`` (output has index's shape); gradients add up at repeated indices."""
    from .. import backend

    dim, mesh = _mesh("gather", a, dim, index, a.requires_grad and is_grad_enabled())
    out = a.data[mesh] if mesh else a.data.copy()

    def backward(g: Array) -> tuple[Array]:
        full = a.xp.zeros(a.shape, dtype=g.dtype)
        if mesh:
            backend.scatter_add(full, mesh, g)
        else:
            full += g
        return (full,)
    return record("gather", out, (a,), backward)


def _source(op: str, a: Tensor, src: TensorLike, index: Tensor) -> Tensor:
    """``src`` as a tensor of ``a``'s dtype covering ``index`` (a scalar value broadcasts)."""
    s = as_tensor(src, like=a)
    check_devices(op, a, s)
    if s.ndim and (s.ndim != index.ndim or any(i > n for i, n in zip(index.shape, s.shape))):
        raise ValueError(f"{op}: src shape {s.shape} must be at least the index shape {index.shape} in every dim")
    if s.dtype != a.dtype:
        raise TypeError(f"{op}: src dtype {s.dtype} differs from the input dtype {a.dtype}")
    return s


def scatter(a: Tensor, dim: int, index: Tensor, src: TensorLike) -> Tensor:
    """A copy of ``a`` with ``src`` written at ``index`` along ``dim`` (which of several writes to one place wins is
    unspecified, as in torch)."""
    return _scatter("scatter", a, dim, index, src)


def scatter_add(a: Tensor, dim: int, index: Tensor, src: TensorLike) -> Tensor:
    """A copy of ``a`` with ``src`` added at ``index`` along ``dim`` (repeated indices accumulate)."""
    return _scatter("scatter_add", a, dim, index, src)


def _scatter(op: str, a: Tensor, dim: int, index: Tensor, src: TensorLike) -> Tensor:
    from .. import backend

    s = _source(op, a, src, index)
    dim, mesh = _mesh(op, a, dim, index, (a.requires_grad or s.requires_grad) and is_grad_enabled())
    values = s.data[tuple(slice(0, n) for n in index.shape)] if s.ndim else s.data
    out = a.data.copy()
    if op == "scatter_add":
        backend.scatter_add(out, mesh, a.xp.broadcast_to(values, index.shape))
    else:
        out[mesh] = values

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        ga = None
        if a.requires_grad:
            ga = g.copy()
            if op == "scatter":
                ga[mesh] = 0
        gs = None
        if s.requires_grad:
            gs = a.xp.zeros(s.shape, dtype=g.dtype)
            gs[tuple(slice(0, n) for n in index.shape)] = g[mesh]
        return ga, gs
    return record(op, out, (a, s), backward)


def index_put(a: Tensor, index: Any, value: TensorLike) -> Tensor:
    """A copy of ``a`` with ``a[index] = value`` (what ``a[index] = value`` computes in place)."""
    from .movement import _raw_index

    v = as_tensor(value, like=a)
    idx = _raw_index(index, private=(a.requires_grad or v.requires_grad) and is_grad_enabled())
    check_devices("index_put", a, v)
    out = a.data.copy()
    out[idx] = v.data
    target_shape = out[idx].shape

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        ga = None
        if a.requires_grad:
            ga = g.copy()
            ga[idx] = 0
        gv = unbroadcast(g[idx].reshape(target_shape), v.shape) if v.requires_grad else None
        return ga, gv
    return record("index_put", out, (a, v), backward)


def one_hot(t: Tensor, num_classes: int = -1) -> Tensor:
    """Integer class indices of any shape -> int64 one-hot of shape (*t.shape, num_classes); no gradient."""
    if t.dtype.kind not in "iu":
        raise TypeError(f"one_hot: needs an integer (int64) tensor of class indices, got dtype {t.dtype}")
    xp, idx = t.xp, t.data
    if num_classes < 0:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if idx.size and bool(((idx < 0) | (idx >= num_classes)).any()):
        raise ValueError(f"one_hot: class values must lie in [0, {num_classes})")
    return Tensor((idx[..., None] == xp.arange(num_classes)).astype("int64"), device=t.device)
