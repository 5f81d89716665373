"""Ops that move or select data without arithmetic: reshape, transpose, broadcast, index, join, pad."""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Sequence
from typing import Any

import numpy

from .. import backend
from ..autograd import is_grad_enabled
from ..tensor import Array, Tensor, check_devices, check_fits, record, version_box
from .elementwise import astype, result_type, wide_sum
from .reduce import DimError


def own_array(a: Tensor) -> Array:
    """``a``'s array, to make a view of: a numpy scalar (what numpy returns for a 0-d result) is first replaced by a
    0-d array of the same value, so the view shares a's memory (a write through it reaches a and its graph, as
    torch's; a view of the scalar would be a copy)."""
    data = a._data
    if isinstance(data, numpy.generic):
        data = a._data = numpy.array(data)
    return data


def reshape(a: Tensor, shape: Sequence[int]) -> Tensor:
    data = a._data
    if isinstance(data, numpy.generic):  # (own_array, inlined: this is a hot path)
        data = own_array(a)
    try:  # the fast path: numpy checks the sizes; its other negative sizes (-2 also means "infer") are refused here
        data = data.reshape(shape)
        checked = not shape or min(shape) >= -1
    except (TypeError, ValueError):
        checked = False
    if not checked:
        shape = tuple(operator.index(n) for n in shape)  # (a float size raises TypeError, as torch; no truncation)
        known, n = math.prod(d for d in shape if d != -1), a._data.size
        if shape.count(-1) > 1 or (-1 not in shape and known != n) or (-1 in shape and (known == 0 or n % known)) \
                or min(shape, default=0) < -1:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {a.shape} ({n} elements) into {shape}")
        data = a._data.reshape(shape)
    return record("reshape", data, (a,), lambda g: (g.reshape(a.shape),))


def transpose(a: Tensor, axes: Sequence[int]) -> Tensor:
    """Permute axes (reverse them when ``axes`` is empty), like numpy.transpose."""
    axes = tuple(axes) or tuple(reversed(range(a.ndim)))
    for x in axes:  # (out of range: torch's IndexError, and the ValueError ours raised)
        if not -max(a.ndim, 1) <= x < max(a.ndim, 1):
            raise DimError(f"permute: dim {x} is out of range for a tensor with {a.ndim} dims")
    if sorted(x % max(a.ndim, 1) for x in axes) != list(range(a.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {a.ndim} axes of shape {a.shape}")
    inverse = tuple(sorted(range(len(axes)), key=lambda i: axes[i] % a.ndim))
    return record("transpose", own_array(a).transpose(axes), (a,), lambda g: (g.transpose(inverse),))


def flatten(a: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims start_dim..end_dim into one (torch.flatten)."""
    s, e = wrap_dim("flatten", start_dim, a.ndim), wrap_dim("flatten", end_dim, a.ndim)
    if a.ndim == 0:
        return reshape(a, (1,))
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (shape {a.shape})")
    return reshape(a, a.shape[:s] + (math.prod(a.shape[s:e + 1]),) + a.shape[e + 1:])  # not -1: empty tensors


def broadcast_to(a: Tensor, shape: Sequence[int]) -> Tensor:
    from .elementwise import broadcast_shape, unbroadcast

    shape = tuple(shape)
    if broadcast_shape("broadcast_to", a.shape, shape) != shape:
        from .factor import ArgumentError  # (a ValueError that is torch's RuntimeError too)
        raise ArgumentError(f"broadcast_to: shape {a.shape} cannot be broadcast to {shape}")
    out = a.xp.broadcast_to(own_array(a), shape)
    if isinstance(out, numpy.ndarray) and out.size == a._data.size and a._data.flags.writeable:
        out.flags.writeable = True  # no element repeated (only dims of 1 added): as torch's, a view one can write
    return record("broadcast_to", out, (a,), lambda g: (unbroadcast(g, a.shape),))


def squeeze(a: Tensor, axis: int | tuple[int, ...] | None = None) -> Tensor:
    if axis is None:
        shape = tuple(n for n in a.shape if n != 1)
    else:
        axes = set(_dims("squeeze", axis, a.ndim))
        bad = [x for x in axes if a.shape[x] != 1]
        if bad:
            raise ValueError(f"squeeze: axis {bad[0]} of shape {a.shape} has size {a.shape[bad[0]]}, not 1")
        shape = tuple(n for i, n in enumerate(a.shape) if i not in axes)
    return reshape(a, shape)


def unsqueeze(a: Tensor, axis: int) -> Tensor:
    axis = wrap_dim("unsqueeze", axis, a.ndim + 1)  # a new dim goes before any of the ndim + 1 positions
    return reshape(a, a.shape[:axis] + (1,) + a.shape[axis:])


def _sequence_as_tuple(index: Any) -> Any:
    """torch's (deprecated, numpy's old) reading of a list index: a list shorter than 32 holding a sequence, a
    slice, a Tensor, None or Ellipsis is a tuple of indices (``x[[[0], [1]]]`` is ``x[[0], [1]]``)."""
    if isinstance(index, list) and len(index) < 32 and any(
            i is None or i is Ellipsis or isinstance(i, (list, tuple, slice, Tensor, numpy.ndarray)) for i in index):
        return tuple(index)
    return index


def _spans(i: Any) -> int:
    """How many of the indexed tensor's dims the raw index part ``i`` names (torch's count)."""
    if i is None or i is Ellipsis or isinstance(i, (bool, numpy.bool_)):
        return 0
    return i.ndim if hasattr(i, "dtype") and i.dtype.kind == "b" else 1


def _no_ellipsis(parts: tuple[Any, ...], ndim: int) -> tuple[Any, ...]:
    """``parts`` with each Ellipsis written out as the full slices it stands for in torch, which walks the key with
    a place among the result's dims: each Ellipsis moves it on by ``ndim`` minus the dims the other parts name
    (several Ellipses each by that much, so later parts may fall past the end: a full slice there is nothing, an
    int, slice, index array or new dim an IndexError, as torch's). Numpy then reads the key as torch: an Ellipsis
    of no dims between two index arrays does not part them (``x[:, [0, 2], ..., [1, 3]]`` of a 3-d x is (4, 2) in
    torch, (2, 4) in numpy's reading of the Ellipsis)."""
    skip = ndim - sum(_spans(i) for i in parts)
    if skip < 0:
        raise IndexError(f"too many indices for a tensor of dimension {ndim}")
    out: list[Any] = []
    at, dims = 0, ndim  # the place in the result, and the result's dims so far
    for i in parts:
        if i is Ellipsis:
            out.extend([slice(None)] * max(0, min(skip, dims - at)))
            at += skip
            continue
        span = _spans(i)
        if at + span > dims:
            if isinstance(i, slice) and i == slice(None):
                continue
            raise IndexError("an index part after a second Ellipsis names a dim past the end of the tensor")
        out.append(i)
        if span == 0:  # None or a bool: a new dim
            at, dims = at + 1, dims + 1
        elif _is_int(i):  # a select: its dim goes
            dims -= 1
        else:
            at += span
    return tuple(out)


_PLAIN = frozenset({int, slice, type(None), type(Ellipsis)})  # index parts that need no torch reading (not bool)


def _kind(i: Any) -> str:
    """A raw index part's kind for ``torch_keys``: "i" an int (a 0-d integer array too), "b" a bool (a 0-d bool
    array too), "a" an index array, "o" a slice, None or Ellipsis."""
    t = type(i)
    if t in _PLAIN:
        return "i" if t is int else "o"
    if t is bool or t is numpy.bool_:
        return "b"
    if hasattr(i, "ndim"):
        return "a" if i.ndim else "b" if i.dtype.kind == "b" else "i" if i.dtype.kind in "iu" else "o"
    return "i" if _is_int(i) else "o"


def torch_keys(index: Any, private: bool = False, ndim: int = 0) -> tuple[Any, ...]:
    """``index`` as one or two raw numpy keys, applied in turn, giving torch's result: torch applies the ints (and
    0-d integer tensors) as selects and a bool (True / False, a 0-d bool tensor) as a new dim indexed by [0] / [],
    and then the index arrays, with numpy's rules, on what is left (numpy would broadcast the ints and bools with
    the arrays: ``x[0, ..., [1, 2]]`` is (5, 2) in torch, (2, 5) in numpy). ``ndim``: the indexed tensor's, read
    where the key has an Ellipsis (see ``_no_ellipsis``)."""
    if type(index) in _PLAIN:  # the fast paths: numpy reads ints, slices, None and ... as torch (but several ...)
        return (index,)
    if type(index) is tuple and all(type(i) in _PLAIN for i in index):
        return (_no_ellipsis(index, ndim) if index.count(Ellipsis) > 1 else index,)
    if type(index) is Tensor and index.ndim:  # one index tensor or mask (``C[X]``): numpy's reading is torch's
        return (_raw_index(index, private),)
    index = _raw_index(_sequence_as_tuple(index), private)
    parts = index if isinstance(index, tuple) else (index,)
    if any(i is Ellipsis for i in parts):
        index = parts = _no_ellipsis(parts, ndim)
    kinds = [_kind(i) for i in parts]
    if "b" not in kinds and not ("a" in kinds and "i" in kinds):
        if any(k == "i" and type(i) is not int for i, k in zip(parts, kinds)):  # a 0-d integer tensor selects: a
            parts = tuple(int(i) if k == "i" else i for i, k in zip(parts, kinds))  # view, as torch's (numpy: a copy)
            index = parts if isinstance(index, tuple) else parts[0]
        return (index,)
    first: list[Any] = []
    second: list[Any] = []
    for i, kind in zip(parts, kinds):
        if kind == "i":
            first.append(int(i))
        elif kind == "b":
            xp = backend.get_array_module(i) if hasattr(i, "ndim") else numpy
            first.append(None)
            second.append(xp.arange(1) if bool(i) else xp.zeros(0, dtype="int64"))
        elif kind == "a":
            first.extend([slice(None)] * (i.ndim if i.dtype.kind == "b" else 1))
            second.append(i)
        else:
            first.append(i)
            second.append(i if i is Ellipsis else slice(None))
    return tuple(first), tuple(second)


def index_with(x: Array, keys: tuple[Any, ...]) -> Array:
    """``x`` indexed by each key of ``torch_keys`` in turn."""
    for k in keys:
        x = x[k]
    return x


def assign_with(x: Array, keys: tuple[Any, ...], value: Any) -> None:
    """``x[index] = value`` in place, for the keys of ``torch_keys`` (all but the last are basic: views of x)."""
    index_with(x, keys[:-1])[keys[-1]] = value


def _raw_index(index: Any, private: bool = False) -> Any:
    """Replace Tensors and lists in an index by raw arrays (copies of the Tensors' arrays when ``private``: a
    backward that reads them then cannot see a later in-place write into the index tensor); a uint8 Tensor or
    array (a list of numpy uint8 numbers too) is a bool mask, as torch still reads it (with its deprecation warning);
    a numpy uint8 number is an int there."""
    if isinstance(index, tuple):
        return tuple(_raw_index(i, private) for i in index)
    if isinstance(index, list):
        index = backend.get_array_module(*[i for i in index if hasattr(i, "dtype")]).asarray(index)
        if index.dtype.kind == "f":  # torch reads a list as int64 (but bools): floats truncated, [] empty int64
            index = index.astype("int64")
    if is_byte_mask(index):  # torch's old mask dtype: still a mask there
        warnings.warn("indexing with dtype uint8 is deprecated (as in torch), use a bool mask", UserWarning,
                      stacklevel=4)
        return (index._data if isinstance(index, Tensor) else index).astype(bool)
    if isinstance(index, Tensor):
        return index._data.copy() if private else index._data
    return index


def is_byte_mask(index: Any) -> bool:
    """A uint8 Tensor or array (not a numpy uint8 number): torch reads it as a bool mask."""
    return getattr(index, "dtype", None) == numpy.uint8 and not isinstance(index, numpy.generic)


def _is_int(i: Any) -> bool:
    return isinstance(i, int) or (hasattr(i, "dtype") and i.ndim == 0 and i.dtype.kind in "iu")


def getitem(a: Tensor, index: Any) -> Tensor:
    """Basic and integer-array (gather) indexing; repeated indices accumulate in backward."""
    keys = torch_keys(index, private=a.requires_grad and is_grad_enabled(), ndim=a.ndim)
    parts = keys[0] if isinstance(keys[0], tuple) else (keys[0],)
    if a.ndim == 0 and any(_is_int(i) and not isinstance(i, (bool, numpy.bool_)) for i in parts):  # loss.data[0]
        raise IndexError("a 0-dim tensor has no dims to index: read its number with tensor.item()")
    if len(keys) == 2:  # torch's selects (and new dims of bools) first, then the index arrays (see torch_keys)
        return getitem(getitem(a, keys[0]), keys[1])
    index = keys[0]
    gather = any(hasattr(i, "dtype") and i.ndim for i in parts)
    out = own_array(a)[index]
    if not gather and not isinstance(out, a.xp.ndarray):  # numpy gives a copied scalar when ints pick one element;
        out = a._data[(*(i for i in parts if i is not Ellipsis), Ellipsis)]  # x[0, ...] is the 0-d view torch gives

    def backward(g: Array) -> tuple[Array]:
        full = a.xp.zeros(a.shape, dtype=g.dtype)
        if gather:
            backend.scatter_add(full, index, g)
        else:
            full[index] = g
        return (full,)
    return record("getitem", out, (a,), backward)


def split_pieces(a: Tensor, dim: int, keys: Sequence[int | slice]) -> tuple[Tensor, ...]:
    """Views ``a[..., key]`` along the non-negative ``dim``, one per key: disjoint slices or ints (split, chunk,
    unbind, tensor_split). Each backward closure carries ``piece = (this split, its index)``, by which the engine
    writes the pieces' gradients into one shared buffer of ``a``'s shape (autograd.write_piece) instead of adding
    up a zero array per piece; the closure itself (higher-order gradients, hooks) is getitem's, unchanged. Pieces
    that overlap (``tensor_split`` at indices that go back) are plain getitems, whose gradients add up."""
    split = object() if _disjoint(keys, a.shape[dim] if a.ndim else 1) else None
    out = []
    for key in keys:
        index = (slice(None),) * dim + (key,)
        piece = getitem(a, index)
        if piece._backward is not None and split is not None:
            piece._backward.piece = (split, index)  # type: ignore[attr-defined]
        out.append(piece)
    return tuple(out)


def _disjoint(keys: Sequence[int | slice], n: int) -> bool:
    """Whether the ints and unit-step slices ``keys`` of a dim of length ``n`` name no element twice."""
    spans = []
    for key in keys:
        start, stop, step = key.indices(n) if isinstance(key, slice) else (key % n, key % n + 1, 1)
        if step != 1:
            return False
        if stop > start:
            spans.append((start, stop))
    spans.sort()
    return all(prev[1] <= nxt[0] for prev, nxt in zip(spans, spans[1:]))


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis, in the dtype torch promotes them to (int64 with float32 is float32).
    As torch, 1-D empty tensors (shape (0,)) are left out (they only take part in the dtype)."""
    from .. import layouts  # (which imports this module)

    tensors = list(tensors)
    check_devices("concatenate", *tensors)
    flat = next((k for k, t in enumerate(tensors) if t.ndim == 0), None)
    if flat is not None:
        raise ValueError(f"cat: the tensor at position {flat} is 0-d and cannot be concatenated; use stack, or "
                         f"unsqueeze it first")
    dtype = result_type(*tensors)
    tensors = [t if t.dtype == dtype else astype(t, dtype) for t in tensors]
    joined = [t for t in tensors if t.shape != (0,)] or tensors[:1]
    ref = joined[0].shape
    ax = 0 if ref == (0,) else wrap_dim("cat", axis, len(ref))  # only 1-D empties: torch checks no dim either
    for t in joined[1:]:
        if len(t.shape) != len(ref) or any(x != y for i, (x, y) in enumerate(zip(ref, t.shape)) if i != ax):
            raise ValueError(f"concatenate: shapes {ref} and {t.shape} differ outside axis {axis}")
    xp = tensors[0].xp
    spans, start, kept = [], 0, {id(t) for t in joined}  # each input's slice of the output along ax (None: left out)
    for t in tensors:
        if id(t) in kept:
            spans.append(slice(start, start + t.shape[ax]))
            start += t.shape[ax]
        else:
            spans.append(None)
    out = xp.ascontiguousarray(xp.concatenate([t._data for t in joined], axis=ax))  # torch's layout: row-major,
    if len({layouts.suggest_memory_format(t) for t in joined}) == 1:  # or channels-last where every input is
        out = layouts.follow_format(out, joined[0])

    def backward(g: Array) -> list[Array]:
        return [xp.zeros((0,), g.dtype) if s is None else g[(slice(None),) * ax + (s,)] for s in spans]
    return record("concatenate", out, tuple(tensors), backward)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis (promoted as ``concatenate``)."""
    tensors = list(tensors)
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: shapes {tensors[0].shape} and {t.shape} differ")
    ax = wrap_dim("stack", axis, tensors[0].ndim + 1)
    return concatenate([unsqueeze(t, ax) for t in tensors], axis=ax)


def pad(a: Tensor, pad_width: Any, value: float = 0.0) -> Tensor:
    """Constant padding, numpy's ``pad_width`` convention (per axis (before, after), or one int)."""
    xp = a.xp
    widths = [(int(p), int(p)) if isinstance(p, int) else (int(p[0]), int(p[1]))
              for p in ((pad_width,) * a.ndim if isinstance(pad_width, int) else pad_width)]
    if len(widths) != a.ndim or any(lo < 0 or hi < 0 for lo, hi in widths):
        raise ValueError(f"pad: pad_width {pad_width} must give non-negative (before, after) for each of {a.ndim} axes")
    if a.dtype.kind == "u" and isinstance(value, (int, float)) and value < 0:  # torch's pad refuses it (no wrap)
        raise OverflowError(f"pad: value {value!r} cannot be converted to {a.dtype} without overflow (as torch)")
    out = xp.pad(a._data, widths, mode="constant", constant_values=check_fits("pad", value, a.dtype))
    inner = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, a.shape))
    return record("pad", out, (a,), lambda g: (g[inner],))


def to(a: Tensor, device: str) -> Tensor:
    """Copy to ``device`` (no copy when already there); the gradient travels back."""
    if a.device == device:
        return a
    src = a.device
    return record("to", backend.to_device(a._data, device), (a,), lambda g: (backend.to_device(g, src),))


def clone(a: Tensor) -> Tensor:
    """A copy of ``a`` with its own array; the gradient passes through unchanged."""
    return record("clone", a._data.copy(), (a,), lambda g: (g,))


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
    out = a.xp.ascontiguousarray(a.xp.where(keep, a._data, a._data.dtype.type(0)))  # (row-major, as torch's)
    return record(op, out, (a,), lambda g: (a.xp.where(keep, g, g.dtype.type(0)),))


def wrap_dim(op: str, dim: int, ndim: int) -> int:
    """``dim`` as a non-negative int (a 0-d tensor takes 0 and -1, as torch); an IndexError naming ``op`` when it is
    out of range."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dims (expected -{n}..{n - 1})")
    return dim % n


def int_args(op: str, name: str, value: Any) -> tuple[int, ...]:
    """An int or a sequence of ints as a tuple (numpy integers and 0-d integer Tensors count, as in torch); a
    TypeError for floats and bools, which torch refuses rather than truncating (``roll(x, (1.5, 1), (0, 1))``)."""
    items = value if isinstance(value, (list, tuple)) else (value,)
    for item in items:
        if type(item) is int:  # (the common case, checked first: this runs for every dim= argument)
            continue
        kind = numpy.asarray(item._data if isinstance(item, Tensor) else item).dtype.kind
        if isinstance(item, bool) or kind not in "iu" or numpy.ndim(item) != 0:
            raise TypeError(f"{op}(): argument '{name}' must be tuple of ints, found {type(item).__name__} {item!r}")
    return tuple(int(item) for item in items)


def _dims(op: str, dims: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    """Several dims, each wrapped; a ValueError when one appears twice."""
    out = tuple(wrap_dim(op, d, ndim) for d in int_args(op, "dims", dims))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dims {tuple(dims)} name the same dim more than once")
    return out


def repeat(a: Tensor, sizes: Sequence[int]) -> Tensor:
    """torch's ``repeat``: tile ``a`` ``sizes[i]`` times along dim i (leading extra sizes add dims) into new memory,
    as torch (never a view of ``a``: a later write into either leaves the other alone). The gradient sums the tiles:
    (r0 n0, r1 n1, ...) seen as (r0, n0, r1, n1, ...), summed over the r axes."""
    sizes = int_args("repeat", "repeats", tuple(sizes))  # (a float or bool size raises, as torch)
    if len(sizes) < a.ndim:
        raise ValueError(f"repeat: {len(sizes)} sizes for a tensor with {a.ndim} dims; give at least one per dim")
    if any(r < 0 for r in sizes):
        raise ValueError(f"repeat: repeat sizes must be non-negative, got {sizes}")
    shape = (1,) * (len(sizes) - a.ndim) + a.shape
    tiles = tuple(x for r, n in zip(sizes, shape) for x in (r, n))
    out = a.xp.empty(tuple(r * n for r, n in zip(sizes, shape)), a._data.dtype)  # (its own base: not a view)
    out.reshape(tiles)[...] = a._data.reshape(tuple(x for n in shape for x in (1, n)))
    return record("repeat", out, (a,), lambda g: (wide_sum(g.reshape(tiles), tuple(range(0, len(tiles), 2)))
                                                  .reshape(a.shape),))


def repeat_interleave(a: Tensor, repeats: int | Tensor, dim: int | None = None) -> Tensor:
    """Each element (each slice along ``dim``) repeated ``repeats`` times in place, a flattened ``a`` without
    ``dim``; ``repeats`` an int, or an int tensor with one count per slice (or one count for all)."""
    if dim is None:
        a, dim = reshape(a, (-1,)), 0
    if a.ndim == 0:
        raise IndexError("repeat_interleave: a 0-d tensor has no dim to repeat along; pass dim=None")
    d = wrap_dim("repeat_interleave", dim, a.ndim)
    if isinstance(repeats, Tensor) and repeats.ndim:
        from .index import index_select

        if repeats.dtype.kind not in "iu" or repeats.ndim != 1 or repeats.shape[0] not in (1, a.shape[d]):
            raise ValueError(f"repeat_interleave: repeats must be an int or a 1-D integer tensor of length 1 or "
                             f"{a.shape[d]}, got dtype {repeats.dtype} and shape {repeats.shape}")
        counts = repeats._data
        if bool((counts < 0).any()):
            raise ValueError("repeat_interleave: repeats must be non-negative")
        xp = a.xp
        ends = xp.cumsum(xp.broadcast_to(counts, (a.shape[d],)))  # slice i fills positions [ends[i-1], ends[i])
        where = xp.searchsorted(ends, xp.arange(int(ends[-1]) if ends.size else 0), side="right")
        return index_select(a, d, Tensor(where.astype("int64"), device=a.device))
    r = int(repeats.item() if isinstance(repeats, Tensor) else repeats)
    if r < 0:
        raise ValueError(f"repeat_interleave: repeats must be non-negative, got {r}")
    shape = a.shape[:d + 1] + (r,) + a.shape[d + 1:]
    spread = broadcast_to(unsqueeze(a, d + 1), shape)
    return fresh(reshape(spread, a.shape[:d] + (a.shape[d] * r,) + a.shape[d + 1:]), a)  # (repeats=1: a view)


def fresh(out: Tensor, a: Tensor) -> Tensor:
    """``out``, made of ``a`` by view ops, as a new tensor (as torch's op that copies returns): a copy where the
    views could stay on ``a``'s memory (a factor or repeat of 1), so a write into the result does not reach ``a``."""
    return clone(out) if backend.may_share_memory(out._data, a._data) else out


def flip(a: Tensor, dims: int | Sequence[int]) -> Tensor:
    """``a`` reversed along ``dims`` (a copy, as torch's); the gradient is flipped back."""
    axes = _dims("flip", dims, a.ndim)
    if not axes or a.ndim == 0:
        return clone(a)
    order = "C" if 0 in a._data.strides else "K"  # torch's: the input's order of strides (row-major if expanded)
    out = a.xp.flip(a._data, axes).copy(order=order)
    return record("flip", out, (a,), lambda g: (a.xp.flip(g, axes),))


def roll(a: Tensor, shifts: int | Sequence[int], dims: int | Sequence[int] | None = None) -> Tensor:
    """Shift elements cyclically by ``shifts`` along ``dims`` (over the flattened tensor, then reshaped back,
    without ``dims``); the gradient rolls back."""
    from .. import layouts  # (which imports this module)

    shifts = int_args("roll", "shifts", shifts)
    if dims is None:
        if len(shifts) != 1:
            raise ValueError(f"roll: without dims, give one shift (got {shifts})")
        return reshape(roll(reshape(a, (-1,)), shifts, 0), a.shape)
    if a.ndim == 0:
        raise IndexError("roll: a 0-d tensor has no dims to roll along; call roll(shifts) without dims")
    axes = tuple(wrap_dim("roll", d, a.ndim) for d in int_args("roll", "dims", dims))
    if len(shifts) != len(axes) or not axes:
        raise ValueError(f"roll: shifts {shifts} and dims {axes} must have the same (non-zero) length")
    xp = a.xp
    back = tuple(-s for s in shifts)
    out = layouts.follow_format(xp.ascontiguousarray(xp.roll(a._data, shifts, axes)), a)  # (torch's layout)
    return record("roll", out, (a,), lambda g: (xp.roll(g, back, axes),))


def narrow(a: Tensor, dim: int, start: int, length: int) -> Tensor:
    """The slice ``start : start + length`` of ``dim`` (a view; a negative ``start`` counts from the end)."""
    if a.ndim == 0:
        raise ValueError("narrow: a 0-d tensor has no dim to narrow")
    d = wrap_dim("narrow", dim, a.ndim)
    if isinstance(start, Tensor) and (start.ndim or start.dtype.kind not in "iu"):  # (int() would read True as 1)
        raise TypeError(f"narrow: a tensor start must be a 0-d integer tensor, got {start.dtype} of shape "
                        f"{start.shape}")
    n, start, length = a.shape[d], int(start), int(length)
    if not -n <= start <= n:
        raise IndexError(f"narrow: start {start} is out of range for dim {dim} of size {n}")
    if start < 0:
        start += n
    if length < 0 or start + length > n:
        raise ValueError(f"narrow: start ({start}) + length ({length}) must lie within dim {dim} of size {n}")
    return getitem(a, (slice(None),) * d + (slice(start, start + length),))


def movedim(a: Tensor, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    """Move dims ``source`` to positions ``destination`` (the others keep their order), as a transpose."""
    src, dst = _dims("movedim", source, a.ndim), _dims("movedim", destination, a.ndim)
    if len(src) != len(dst):
        raise ValueError(f"movedim: source {source} and destination {destination} must name as many dims")
    if a.ndim == 0:
        return reshape(a, ())
    rest = iter(d for d in range(a.ndim) if d not in src)
    placed = dict(zip(dst, src))
    return transpose(a, tuple(placed[i] if i in placed else next(rest) for i in range(a.ndim)))


def unbind(a: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices of ``a`` along ``dim``, each without that dim."""
    if a.ndim == 0:
        raise IndexError("unbind: a 0-d tensor has no dim to unbind")
    d = wrap_dim("unbind", dim, a.ndim)
    return split_pieces(a, d, range(a.shape[d]))


def diagonal(a: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of dims ``dim1`` and ``dim2`` (above it for ``offset`` > 0), as a last dim; a writable view
    (writes reach ``a``, as in torch). Shape: the other dims, then the diagonal's length."""
    if a.ndim < 2:
        raise DimError(f"diagonal: needs a tensor with at least 2 dims, got shape {a.shape}")
    d1, d2 = wrap_dim("diagonal", dim1, a.ndim), wrap_dim("diagonal", dim2, a.ndim)
    if d1 == d2:
        raise ValueError(f"diagonal: dim1 and dim2 must differ, got {dim1} and {dim2}")
    out = backend.diagonal(a._data, int(offset), d1, d2)

    def backward(g: Array) -> tuple[Array]:
        full = a.xp.zeros(a.shape, dtype=g.dtype)
        backend.diagonal(full, int(offset), d1, d2)[...] = g
        return (full,)
    return record("diagonal", out, (a,), backward)


def meshgrid(tensors: Sequence[Tensor], indexing: str = "ij") -> tuple[Tensor, ...]:
    """torch.meshgrid: k 0-d or 1-D tensors of one dtype (lengths n1 .. nk; a 0-d one counts as length 1) -> k
    tensors of shape (n1, .., nk), the i-th varying along dim i; ``indexing="xy"`` swaps the first two dims.
    Broadcast views: each gradient sums over the dims its tensor is repeated along."""
    tensors = list(tensors)
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    if not tensors:
        raise ValueError("meshgrid: got no tensors")
    check_devices("meshgrid", *tensors)
    if len({t.dtype for t in tensors}) > 1 or any(t.ndim > 1 for t in tensors):
        raise ValueError(f"meshgrid: expects 0-d or 1-D tensors of one dtype, got shapes {[t.shape for t in tensors]} "
                         f"and dtypes {sorted({str(t.dtype) for t in tensors})}")
    lines = [reshape(t, (-1,)) for t in tensors]
    swap = indexing == "xy" and len(lines) > 1
    order = [1, 0, *range(2, len(lines))] if swap else list(range(len(lines)))
    shape = tuple(lines[i].shape[0] for i in order)
    where = {i: k for k, i in enumerate(order)}  # the output dim each tensor varies along
    return tuple(broadcast_to(reshape(t, tuple(-1 if d == where[i] else 1 for d in range(len(shape)))), shape)
                 for i, t in enumerate(lines))


def cartesian_prod(tensors: Sequence[Tensor]) -> Tensor:
    """All tuples of one element of each 1-D tensor, in row-major order: (n1 ... nk, k); a single tensor comes
    back as it is (1-D), as in torch."""
    tensors = list(tensors)
    if any(t.ndim != 1 for t in tensors):
        raise ValueError(f"cartesian_prod: expects 1-D tensors, got shapes {[t.shape for t in tensors]}")
    if len(tensors) == 1:
        return tensors[0]
    return stack([reshape(g, (-1,)) for g in meshgrid(tensors)], axis=1)


def unfold(a: Tensor, dim: int, size: int, step: int) -> Tensor:
    """Tensor.unfold: the windows of ``size`` elements every ``step`` along ``dim``, as a strided view of shape
    ``a.shape`` with dim ``dim`` of length (n - size) // step + 1 and a last dim of ``size`` (a 0-d tensor is
    taken as one element). The gradient adds up over overlapping windows."""
    d = wrap_dim("unfold", dim, a.ndim)
    size, step = int(size), int(step)
    x = own_array(a).reshape(a.shape or (1,))
    n = x.shape[d]
    if not 0 <= size <= n:
        raise ValueError(f"unfold: size {size} must lie in 0..{n}, the length of dim {dim}")
    if step <= 0:
        raise ValueError(f"unfold: step must be > 0, got {step}")
    count = (n - size) // step + 1
    shape = x.shape[:d] + (count,) + x.shape[d + 1:] + (size,)
    strides = x.strides[:d] + (x.strides[d] * step,) + x.strides[d + 1:] + (x.strides[d],)
    out = a.xp.lib.stride_tricks.as_strided(x, shape=shape, strides=strides)
    if not a.shape:
        out = out.reshape((size,))
    starts = a.xp.arange(count) * step
    where = (starts[:, None] + a.xp.arange(size)).reshape(-1)  # the element of dim d each window entry reads

    def backward(g: Array) -> tuple[Array]:
        full = a.xp.zeros(x.shape, dtype=g.dtype)
        spread = a.xp.moveaxis(g.reshape(shape), -1, d + 1).reshape(x.shape[:d] + (count * size,) + x.shape[d + 1:])
        backend.scatter_add(full, (slice(None),) * d + (where,), spread)
        return (full.reshape(a.shape),)
    out = record("unfold", out, (a,), backward)
    if out._base is None:  # (numpy's strided array hides its owner from record): a view of ``a``, so an in-place
        out._vbox, out._base = version_box(a), a  # write through it reaches a's graph and version, as torch's
    return out


def view_dtype(a: Tensor, dtype: Any) -> Tensor:
    """Tensor.view(dtype): the same bytes read as ``dtype``. With another item size the last dim (contiguous)
    shrinks or grows by the ratio, as torch (a 0-d tensor needs the same size). Not differentiable: the result is
    cut from the graph, as in torch for a non-float ``dtype``."""
    dt = numpy.dtype(dtype)
    x = own_array(a)
    if dt.itemsize != x.dtype.itemsize:
        what = f"view {x.dtype} as {dt} (different element sizes)"
        if x.ndim == 0:
            raise ValueError(f"view: a 0-d tensor cannot {what}")
        if x.strides[-1] != x.dtype.itemsize:
            raise ValueError(f"view: to {what}, the last dim must be contiguous (stride 1); call .contiguous()")
        if dt.itemsize > x.dtype.itemsize and (x.shape[-1] * x.dtype.itemsize) % dt.itemsize:
            raise ValueError(f"view: to {what}, the last dim ({x.shape[-1]}) must be divisible by "
                             f"{dt.itemsize // x.dtype.itemsize}")
    return Tensor(x.view(dt), device=a.device)
