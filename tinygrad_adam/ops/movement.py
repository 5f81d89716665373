"""Ops that move or select data without arithmetic: reshape, transpose, broadcast, index, join, pad."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .. import backend
from ..autograd import is_grad_enabled
from ..tensor import Array, Tensor, check_devices, record
from .elementwise import astype, result_type


def reshape(a: Tensor, shape: Sequence[int]) -> Tensor:
    try:  # the fast path: numpy checks the sizes; its other negative sizes (-2 also means "infer") are refused here
        data = a._data.reshape(shape)
        checked = not shape or min(shape) >= -1
    except (TypeError, ValueError):
        checked = False
    if not checked:
        shape = tuple(int(n) for n in shape)
        known, n = math.prod(d for d in shape if d != -1), a.data.size
        if shape.count(-1) > 1 or (-1 not in shape and known != n) or (-1 in shape and (known == 0 or n % known)) \
                or min(shape, default=0) < -1:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {a.shape} ({n} elements) into {shape}")
        data = a._data.reshape(shape)
    return record("reshape", data, (a,), lambda g: (g.reshape(a.shape),))


def transpose(a: Tensor, axes: Sequence[int]) -> Tensor:
    """Permute axes (reverse them when ``axes`` is empty), like numpy.transpose."""
    axes = tuple(axes) or tuple(reversed(range(a.ndim)))
    if sorted(x % max(a.ndim, 1) for x in axes) != list(range(a.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {a.ndim} axes of shape {a.shape}")
    inverse = tuple(sorted(range(len(axes)), key=lambda i: axes[i] % a.ndim))
    return record("transpose", a.data.transpose(axes), (a,), lambda g: (g.transpose(inverse),))


def flatten(a: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims start_dim..end_dim into one (torch.flatten)."""
    if a.ndim == 0:
        return reshape(a, (1,))
    s, e = start_dim % a.ndim, end_dim % a.ndim
    return reshape(a, a.shape[:s] + (math.prod(a.shape[s:e + 1]),) + a.shape[e + 1:])  # not -1: empty tensors


def broadcast_to(a: Tensor, shape: Sequence[int]) -> Tensor:
    from .elementwise import broadcast_shape, unbroadcast

    shape = tuple(shape)
    if broadcast_shape("broadcast_to", a.shape, shape) != shape:
        raise ValueError(f"broadcast_to: shape {a.shape} cannot be broadcast to {shape}")
    return record("broadcast_to", a.xp.broadcast_to(a.data, shape), (a,), lambda g: (unbroadcast(g, a.shape),))


def squeeze(a: Tensor, axis: int | tuple[int, ...] | None = None) -> Tensor:
    if axis is None:
        shape = tuple(n for n in a.shape if n != 1)
    else:
        axes = {x % a.ndim for x in ((axis,) if isinstance(axis, int) else axis)}
        bad = [x for x in axes if a.shape[x] != 1]
        if bad:
            raise ValueError(f"squeeze: axis {bad[0]} of shape {a.shape} has size {a.shape[bad[0]]}, not 1")
        shape = tuple(n for i, n in enumerate(a.shape) if i not in axes)
    return reshape(a, shape)


def unsqueeze(a: Tensor, axis: int) -> Tensor:
    axis = axis % (a.ndim + 1)
    return reshape(a, a.shape[:axis] + (1,) + a.shape[axis:])


def _raw_index(index: Any, private: bool = False) -> Any:
    """Replace Tensors and lists in an index by raw arrays (copies of the Tensors' arrays when ``private``: a
    backward that reads them then cannot see a later in-place write into the index tensor)."""
    if isinstance(index, tuple):
        return tuple(_raw_index(i, private) for i in index)
    if isinstance(index, Tensor):
        return index.data.copy() if private else index.data
    if isinstance(index, list):
        return backend.get_array_module(*[i for i in index if hasattr(i, "dtype")]).asarray(index)
    return index


def _is_int(i: Any) -> bool:
    return isinstance(i, int) or (hasattr(i, "dtype") and i.ndim == 0 and i.dtype.kind in "iu")


def getitem(a: Tensor, index: Any) -> Tensor:
    """Basic and integer-array (gather) indexing; repeated indices accumulate in backward."""
    index = _raw_index(index, private=a.requires_grad and is_grad_enabled())
    parts = index if isinstance(index, tuple) else (index,)
    gather = any(hasattr(i, "dtype") and i.ndim for i in parts)
    if gather and any(_is_int(i) for i in parts) and not any(i is None or i is Ellipsis for i in parts):
        # PyTorch applies ints and slices first, then the integer arrays; numpy would broadcast the ints with the
        # arrays (x[0, :, [1]] has shape (1, 1) in PyTorch, (1, 1) moved to the front in numpy)
        basic = getitem(a, tuple(slice(None) if hasattr(i, "dtype") and i.ndim else i for i in parts))
        return getitem(basic, tuple(i if hasattr(i, "dtype") and i.ndim else slice(None) for i in parts
                                    if not _is_int(i)))
    out = a.data[index]

    def backward(g: Array) -> tuple[Array]:
        full = a.xp.zeros(a.shape, dtype=g.dtype)
        if gather:
            backend.scatter_add(full, index, g)
        else:
            full[index] = g
        return (full,)
    return record("getitem", out, (a,), backward)


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis, in the dtype torch promotes them to (int64 with float32 is float32)."""
    tensors = list(tensors)
    check_devices("concatenate", *tensors)
    dtype = result_type(*tensors)
    tensors = [t if t.dtype == dtype else astype(t, dtype) for t in tensors]
    ref = tensors[0].shape
    ax = axis % len(ref)
    for t in tensors[1:]:
        if len(t.shape) != len(ref) or any(x != y for i, (x, y) in enumerate(zip(ref, t.shape)) if i != ax):
            raise ValueError(f"concatenate: shapes {ref} and {t.shape} differ outside axis {axis}")
    xp = tensors[0].xp
    bounds = [0]
    for t in tensors:
        bounds.append(bounds[-1] + t.shape[ax])
    out = xp.concatenate([t.data for t in tensors], axis=ax)

    def backward(g: Array) -> list[Array]:
        return [g[(slice(None),) * ax + (slice(lo, hi),)] for lo, hi in zip(bounds, bounds[1:])]
    return record("concatenate", out, tuple(tensors), backward)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis (promoted as ``concatenate``)."""
    tensors = list(tensors)
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: shapes {tensors[0].shape} and {t.shape} differ")
    ax = axis % (tensors[0].ndim + 1)
    return concatenate([unsqueeze(t, ax) for t in tensors], axis=ax)


def pad(a: Tensor, pad_width: Any, value: float = 0.0) -> Tensor:
    """Constant padding, numpy's ``pad_width`` convention (per axis (before, after), or one int)."""
    xp = a.xp
    widths = [(int(p), int(p)) if isinstance(p, int) else (int(p[0]), int(p[1]))
              for p in ((pad_width,) * a.ndim if isinstance(pad_width, int) else pad_width)]
    if len(widths) != a.ndim or any(lo < 0 or hi < 0 for lo, hi in widths):
        raise ValueError(f"pad: pad_width {pad_width} must give non-negative (before, after) for each of {a.ndim} axes")
    out = xp.pad(a.data, widths, mode="constant", constant_values=value)
    inner = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, a.shape))
    return record("pad", out, (a,), lambda g: (g[inner],))


def to(a: Tensor, device: str) -> Tensor:
    """Copy to ``device`` (no copy when already there); the gradient travels back."""
    if a.device == device:
        return a
    src = a.device
    return record("to", backend.to_device(a.data, device), (a,), lambda g: (backend.to_device(g, src),))


def clone(a: Tensor) -> Tensor:
    """A copy of ``a`` with its own array; the gradient passes through unchanged."""
    return record("clone", a.data.copy(), (a,), lambda g: (g,))


def tril(a: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (on and below ``diagonal``), zeros elsewhere."""
    return _triangle("tril", a, diagonal)


def triu(a: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (on and above ``diagonal``), zeros elsewhere."""
    return _triangle("triu", a, diagonal)


def _triangle(op: str, a: Tensor, diagonal: int) -> Tensor:
    if a.ndim < 2:
        raise ValueError(f"{op}: needs a tensor with at least 2 dims, got shape {a.shape}")
    keep = getattr(a.xp, op)(a.xp.ones(a.shape[-2:], dtype=bool), int(diagonal))  # numpy's tril is 2-D only
    out = a.xp.where(keep, a.data, a.data.dtype.type(0))
    return record(op, out, (a,), lambda g: (a.xp.where(keep, g, g.dtype.type(0)),))
