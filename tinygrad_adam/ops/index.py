"""Indexing along a dim with index tensors, as torch does it: gather, scatter, scatter_add, index_put (and torch's
``index_put`` with a tuple of index tensors and ``accumulate``), one_hot, embedding.

``gather(a, dim, index)[i][j][k] = a[i][index[i][j][k]][k]`` (for dim 1); ``scatter`` is its inverse. Indices are
checked (torch raises on an index out of range, including a negative one, and so do we).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy

from .. import backend
from ..autograd import is_grad_enabled
from ..sparse_grad import sparse_rows
from ..tensor import Array, Tensor, TensorLike, as_tensor, check_devices, check_fits, constant, record
from .elementwise import astype, broadcast_shape, ignore_fp_errors, unbroadcast
from .factor import DtypeError, KernelDtypeError
from .movement import broadcast_to, clone, getitem, int_args, is_byte_mask, reshape, wrap_dim
from .reduce import DimError


def check_index_dtype(op: str, index: Tensor, dtypes: tuple[str, ...] = ("int64", "int32")) -> None:
    """DtypeError unless ``index`` has one of ``dtypes`` (torch's index ops take int64, most also int32)."""
    if index.dtype.name not in dtypes:
        raise DtypeError(f"{op}: index must be an {' or '.join(dtypes)} tensor (as in torch), got dtype {index.dtype}; "
                         f"convert it with .long()")


def _mesh(op: str, a: Tensor, dim: int, index: Tensor, private: bool) -> tuple[int, tuple[Array, ...]]:
    """(dim as a non-negative int, the open-mesh advanced index that ``index`` stands for along ``dim``), built on a
    copy of the index when ``private`` (a backward will read it: no later write into the index can reach it)."""
    check_devices(op, a, index)
    if index._data.size:  # (torch takes an empty index of any dtype)
        check_index_dtype(op, index)
    nd = max(a.ndim, 1)
    if not -nd <= dim < nd:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {a.ndim} dims")
    dim %= nd
    if index._data.size == 0 and a.ndim:  # torch checks an empty index no further: nothing is read or written
        return dim, tuple(a.xp.zeros(index.shape, dtype=numpy.int64) for _ in a.shape)
    if index.ndim != a.ndim or any(i > n for d, (i, n) in enumerate(zip(index.shape, a.shape)) if d != dim):
        raise ValueError(f"{op}: index shape {index.shape} must have the dims of the input {a.shape}, each no larger "
                         f"except along dim {dim}")
    xp, idx = a.xp, index._data
    if private or idx.dtype.kind not in "iu":
        idx = idx.astype(numpy.int64)  # a copy (and an empty index of another dtype made an integer one)
    if idx.size and bool(((idx < 0) | (idx >= (a.shape[dim] if a.ndim else 1))).any()):
        raise IndexError(f"{op}: index out of range for dim {dim} of size {a.shape[dim] if a.ndim else 1}")
    if a.ndim == 0:
        return dim, ()
    mesh = tuple(idx if d == dim else xp.arange(n).reshape((1,) * d + (n,) + (1,) * (idx.ndim - d - 1))
                 for d, n in enumerate(idx.shape))
    return dim, mesh


def _as_one_d(a: Tensor, index: Tensor) -> bool:
    """Whether torch reads ``a`` and ``index`` as 1-d: one 0-d and the other 1-d, or a 0-d ``a`` and an empty index
    of any shape (gather then gives index's empty shape; a scatter writes nothing)."""
    return a.ndim + index.ndim == 1 or (a.ndim == 0 and not index._data.size)


def gather(a: Tensor, dim: int, index: Tensor) -> Tensor:
    """Values of ``a`` at ``index`` along ``dim`` (output has index's shape); gradients add up at repeated indices."""
    from .. import backend

    if isinstance(index, Tensor) and _as_one_d(a, index):
        return reshape(gather(reshape(a, (-1,)), dim, reshape(index, (-1,))), index.shape)
    dim, mesh = _mesh("gather", a, dim, index, a.requires_grad and is_grad_enabled())
    out = a.xp.ascontiguousarray(a._data[mesh]) if mesh else a._data.copy()  # (row-major, as torch's)

    def backward(g: Array) -> tuple[Array]:
        full = a.xp.zeros(a.shape, dtype=g.dtype)
        if mesh:
            backend.scatter_add(full, mesh, g)
        else:
            full += g
        return (full,)
    return record("gather", out, (a,), backward)


def number_as(op: str, value: int | float, a: Tensor) -> Array:
    """A Python number as a 0-d array of ``a``'s dtype, converted as torch does for a scatter's value (2.7 -> 2 in
    int64, -1 -> 255 in uint8); an OverflowError where it does not fit that dtype."""
    return a.xp.asarray(check_fits(op, value, a.dtype)).astype(a.dtype)


def _source(op: str, a: Tensor, src: TensorLike, index: Tensor) -> Tensor:
    """``src`` as a tensor of ``a``'s dtype covering ``index`` (a scalar value broadcasts; a number is converted by
    ``number_as``)."""
    s = as_tensor(number_as(op, src, a) if isinstance(src, (int, float)) else src, like=a)
    check_devices(op, a, s)
    if index._data.size and s.ndim and (s.ndim != index.ndim or any(i > n for i, n in zip(index.shape, s.shape))):
        # (torch checks an empty index's shapes no further)
        raise ValueError(f"{op}: src shape {s.shape} must be at least the index shape {index.shape} in every dim")
    if s.dtype != a.dtype:
        raise DtypeError(f"{op}: src dtype {s.dtype} differs from the input dtype {a.dtype}")
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

    if isinstance(index, Tensor) and _as_one_d(a, index) and (getattr(src, "ndim", 0) <= 1 or not index._data.size):
        src = reshape(src, (-1,)) if isinstance(src, Tensor) else src  # (a 0-d src as 1-d too; an empty index's unread)
        return reshape(_scatter(op, reshape(a, (-1,)), dim, reshape(index, (-1,)), src), a.shape)
    s = _source(op, a, src, index)
    dim, mesh = _mesh(op, a, dim, index, (a.requires_grad or s.requires_grad) and is_grad_enabled())
    if index._data.size:
        taken = tuple(slice(0, n) for n in index.shape)
        values = s._data[taken] if s.ndim else s._data
    else:  # (an empty index of any shape: nothing is written, src is not read)
        taken, values = (slice(0, 0),) * s.ndim, a.xp.zeros(index.shape, dtype=a.dtype)
    out = a.xp.array(a._data, copy=True)  # (an array even where a 0-d result holds a numpy scalar)
    if op == "scatter_add":
        backend.scatter_add(out, mesh, a.xp.broadcast_to(values, index.shape))
    else:
        out[mesh] = values

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        ga = None
        if a.requires_grad:
            ga = a.xp.array(g, copy=True)  # (an array: a 0-d g may come as a numpy scalar)
            if op == "scatter":
                ga[mesh] = 0
        gs = None
        if s.requires_grad:
            gs = a.xp.zeros(s.shape, dtype=g.dtype)
            gs[taken] = g[mesh].reshape(gs[taken].shape)
        return ga, gs
    return record(op, out, (a, s), backward)


# torch's scatter_reduce reductions -> the ufunc applied once per index (mean: a sum, divided by the counts)
REDUCTIONS = {"sum": "add", "mean": "add", "prod": "multiply", "amax": "maximum", "amin": "minimum"}


def _identity(reduce: str, dtype: numpy.dtype) -> Any:
    """What a place reduced into starts from with ``include_self=False`` (torch's: -inf / the lowest integer for
    amax, so a place ends up reducing its ``src`` values only)."""
    if reduce in ("sum", "mean", "prod"):
        return int(reduce == "prod")
    low, high = ((False, True) if dtype.kind == "b" else (-numpy.inf, numpy.inf) if dtype.kind == "f"
                 else (numpy.iinfo(dtype).min, numpy.iinfo(dtype).max))
    return low if reduce == "amax" else high


def _reduced_into(a: Array, mesh: tuple[Array, ...], values: Array, reduce: str, include_self: bool) -> Array:
    """A copy of ``a`` with ``values`` reduced into it at ``mesh`` in index order (mean's sums, not yet divided)."""
    out = a.copy()
    if not include_self:
        out[mesh] = _identity(reduce, a.dtype)
    backend.scatter_at(REDUCTIONS[reduce], out, mesh, values)
    return out


def scatter_reduce(a: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, include_self: bool = True) -> Tensor:
    """torch's scatter_reduce: a copy of ``a`` with each element of ``src`` reduced into the place ``index`` names
    along ``dim``, ``out[i][index[i][j]] = op(out[i][index[i][j]], src[i][j])`` for dim 1, in index order; ``reduce``
    is "sum", "prod", "mean", "amax" or "amin" (NaN wins both; "max" / "min" are read as these, as torch's forward
    reads them), mean dividing by the count (flooring for integers). With ``include_self=False`` a place reduced
    into leaves ``a``'s value out. ``a``, ``index`` (int64 or int32) and ``src`` (``a``'s dtype) have one number of
    dims (0-d counts as 1-d); ``index`` is no larger than ``src`` in any dim, nor than ``a`` but along ``dim``, and
    only ``src``'s part of ``index``'s shape is read. Output: ``a``'s shape.

    Gradients are torch's: mean's divided by the counts; prod's the product of the others, worked out exactly
    where one zero was reduced into a place; amax's and amin's shared evenly among the elements equal to the result
    (``a``'s among them even when ``include_self=False``, when it is equal: torch's rule)."""
    op = "scatter_reduce"
    reduce = {"max": "amax", "min": "amin"}.get(reduce, reduce)  # torch's scatter_reduce takes both spellings
    if reduce not in REDUCTIONS:
        raise ValueError(f"{op}: reduce must be 'sum', 'prod', 'mean', 'amax' or 'amin', got {reduce!r}")
    if not isinstance(index, Tensor) or not isinstance(src, Tensor):
        raise TypeError(f"{op}: index and src must be tensors, got {type(index).__name__} and {type(src).__name__}")
    check_devices(op, a, index, src)
    if src.dtype != a.dtype:
        raise DtypeError(f"{op}: src dtype {src.dtype} differs from the input dtype {a.dtype}; convert one")
    if reduce == "mean" and a.dtype.kind == "b":
        raise DtypeError(f"{op}: reduce='mean' is not defined for bool tensors; convert with .long() or .float()")
    dim, xp = wrap_dim(op, dim, a.ndim), a.xp
    a1, i1, s1 = _at_least_1d(a._data), _at_least_1d(index._data), _at_least_1d(src._data)
    if i1.size == 0:  # nothing is scattered (torch checks an empty index no further); the gradients' rules still hold
        taken = (slice(0, 0),) * s1.ndim
        mesh = tuple(xp.zeros((0,) * s1.ndim, dtype="int64") for _ in a1.shape)
    else:
        check_index_dtype(op, index)
        if s1.ndim != i1.ndim or any(i > n for i, n in zip(i1.shape, s1.shape)):
            raise ValueError(f"{op}: src shape {src.shape} must have the dims of index {index.shape}, each as large")
        private = (a.requires_grad or src.requires_grad) and is_grad_enabled()
        mesh, taken = _mesh(op, constant(a1), dim, constant(i1), private)[1], tuple(slice(0, n) for n in i1.shape)
    values = s1[taken]
    with ignore_fp_errors(xp):
        out = _reduced_into(a1, mesh, values, reduce, include_self)
        if reduce == "mean":  # torch's counts: in the input's dtype, a's own value counting once with include_self
            count = xp.full(a1.shape, int(include_self), dtype=a.dtype)
            backend.scatter_at("add", count, mesh, xp.ones(values.shape, dtype=a.dtype))
            count[count == 0] = 1
            out = out / count if a.dtype.kind == "f" else out // count

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        g = _at_least_1d(g)
        with ignore_fp_errors(xp):
            if reduce in ("sum", "mean"):
                ga = g / count if reduce == "mean" else g
                gv = ga[mesh]
            elif reduce == "prod":
                ga, gv = _prod_grads(a1, mesh, values, out, g, include_self)
            else:  # amax, amin: shared among the elements equal to the result
                on_a, on_src = a1 == out, values == out[mesh]
                ties = on_a.astype(g.dtype)
                backend.scatter_at("add", ties, mesh, on_src.astype(g.dtype))
                ga, gv = on_a * (g / ties), on_src * (g / ties)[mesh]  # (0 * inf: nan where the result is nan)
        if not include_self:
            ga = ga.copy()
            ga[mesh] = 0
        gs = None
        if src.requires_grad:
            gs = xp.zeros(s1.shape, dtype=g.dtype)
            gs[taken] = gv
            gs = gs.reshape(src.shape)
        return ga.reshape(a.shape) if a.requires_grad else None, gs
    return record(op, out.reshape(a.shape), (a, src), backward)


def _prod_grads(a: Array, mesh: tuple[Array, ...], values: Array, out: Array, g: Array,
                include_self: bool) -> tuple[Array, Array]:
    """scatter_reduce(prod)'s gradients for ``a`` and the ``values`` reduced, torch's way: each one's is the
    product of the others, g * out / itself, except that a zero in ``a``, or the only zero reduced into a place,
    gets the product of the others computed again with it taken as 1."""
    xp, one = backend.get_array_module(a), a.dtype.type(1)
    a_ones = xp.where(a == 0, one, a)
    ga = g * _reduced_into(a_ones, mesh, values, "prod", include_self) / a_ones
    zero = values == 0
    zeros_at = xp.zeros(a.shape, dtype=g.dtype)
    backend.scatter_at("add", zeros_at, mesh, zero.astype(g.dtype))
    alone = zero & (zeros_at[mesh] == 1)
    others = _reduced_into(a, mesh, xp.where(alone, one, values), "prod", include_self)
    gv = xp.where(alone, (g * others)[mesh], (g * out)[mesh] / xp.where(zero, one, values))
    return ga, gv


def index_put(a: Tensor, index: Any, value: TensorLike, accumulate: bool = False) -> Tensor:
    """A copy of ``a`` with ``a[index] = value`` (what ``a[index] = value`` computes in place); with ``accumulate``,
    ``a[index] += value`` where a place named several times gets every value added (numpy's ``add.at``)."""
    from .movement import assign_with, index_with, torch_keys

    value = written_number(value, a.dtype)
    v = as_tensor(value, like=a)
    if v.dtype != a.dtype and _advanced(index):  # (torch refuses the dtype, or reads one value as masked_fill_)
        check_all_fit("index_put", v._data, a.dtype)
    if not accumulate:
        _refuse_byte_fill(index, v)
    idx = torch_keys(index, private=(a.requires_grad or v.requires_grad) and is_grad_enabled(), ndim=a.ndim)
    check_devices("index_put", a, v)
    ones = next((k for k, n in enumerate(v.shape) if n != 1), v.ndim)
    values = v._data.reshape(v.shape[ones:])  # leading 1s left out, as torch (``x[0] = ones(1)`` on a vector)
    out = a.xp.array(a._data)  # a copy, an array even of a numpy scalar
    if accumulate:  # flat positions of the indexed places (any index form), then one scatter-add into them
        places = index_with(a.xp.arange(out.size).reshape(out.shape), idx)
        flat = a.xp.ascontiguousarray(out).reshape(-1)  # (out itself when C-ordered, else a copy written back)
        backend.scatter_at("add", flat, (places.reshape(-1),), a.xp.broadcast_to(values, places.shape).reshape(-1))
        if not out.flags.c_contiguous:
            out[...] = flat.reshape(out.shape)
        target_shape = places.shape
    else:
        assign_with(out, idx, values)
        target_shape = index_with(out, idx).shape

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        ga = gv = None
        if a.requires_grad:
            ga = a.xp.array(g)  # a copy, an array even of a numpy scalar
            if not accumulate:
                assign_with(ga, idx, 0)
        if v.requires_grad:
            gv = unbroadcast(index_with(g, idx).reshape(target_shape), values.shape).reshape(v.shape)
        return ga, gv
    return record("index_put", out, (a, v), backward)


def written_number(value: Any, dtype: numpy.dtype) -> Any:
    """A Python number written by indexing (``x[key] = value``), checked as torch reads it: an int must fit int64,
    whatever ``dtype`` (torch: ValueError); into an integer dtype or float32 the number must fit (nan / 1e39 raise,
    uint8 -1 is 255); float16 takes any number, rounding past its range to inf, as torch's setitem."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if isinstance(value, int) and not -2 ** 63 <= value < 2 ** 63:
        raise ValueError(f"x[key] = {value}: a Python int written by indexing must fit int64 (as torch); write it "
                         "as a float or a tensor")
    return value if dtype == numpy.float16 else check_fits("index_put", value, dtype)


def check_all_fit(op: str, values: Array, dtype: numpy.dtype) -> None:
    """``check_fits`` for every element of ``values`` converted to ``dtype``: its nan and its extremes."""
    if values.dtype.kind == "f":
        real = values[values == values]
        if real.size < values.size:
            check_fits(op, float("nan"), dtype)
        values = real
    if values.size and values.dtype.kind in "fiu":
        number = float if values.dtype.kind == "f" else int
        for extreme in (values.min(), values.max()):
            check_fits(op, number(extreme), dtype)


def _advanced(index: Any) -> bool:
    """Whether an indexing key has an index array or list (torch's index_put_ then, not a copy into a view)."""
    return any(isinstance(i, list) or getattr(i, "ndim", 0) for i in (index if isinstance(index, tuple) else (index,)))


def _refuse_byte_fill(index: Any, value: Tensor) -> None:
    """torch writes one value through a lone uint8 mask (``x[m] = 5.``, other parts slices or ints; not a 0-d one)
    with ``masked_fill_``, which refuses a uint8 mask; so do we (a uint8 mask otherwise indexes as a bool one)."""
    arrays = [i for i in (index if isinstance(index, tuple) else (index,)) if isinstance(i, list) or hasattr(i, "ndim")]
    mask = arrays[0] if len(arrays) == 1 else None
    if value.numel() == 1 and is_byte_mask(mask) and mask.ndim:
        raise TypeError("x[mask] = value: a uint8 mask with a single value is refused, as torch's masked_fill_ "
                        "refuses it; use a bool mask (mask.bool())")


def index_put_tensors(a: Tensor, indices: Any, values: Tensor, accumulate: bool = False) -> Tensor:
    """torch's ``index_put``: a copy of ``a`` with ``a[indices] = values`` (``+=`` with ``accumulate``: a place named
    several times gets every value added).

    ``indices`` is a tuple (or list) of index tensors for dims 0, 1, ...: int64 / int32 ones (negative counts from
    the end) take one dim each, a bool mask as many dims as it has. They broadcast together to a shape B, and
    ``values`` (a Tensor of ``a``'s dtype; or one value of any dtype through one mask, converted as torch's
    ``masked_fill_`` converts a number) broadcasts to the indexed shape ``B + a.shape[k:]`` (a 0-d bool mask
    raises: torch 2.13 fails on it by internal asserts or with a shape it does not write). Without
    ``accumulate``, which of several writes to one place wins is unspecified in torch; here the last one.
    Gradients: ``a``'s is the upstream one (zero at the written places unless ``accumulate``), ``values``' the
    upstream one at the indexed places, summed over the broadcast."""
    if not isinstance(indices, tuple | list):
        raise TypeError(f"index_put: indices must be a tuple of index Tensors, got {type(indices).__name__}")
    if not isinstance(values, Tensor):
        raise TypeError(f"index_put: values must be a Tensor, got {type(values).__name__}; wrap it in tensor()")
    if not indices:
        raise ValueError("index_put: indices is empty; pass a tuple of at least one index Tensor")
    for k, i in enumerate(indices):
        if not isinstance(i, Tensor):
            raise TypeError(f"index_put: indices[{k}] must be a Tensor, got {type(i).__name__}")
        if i.dtype not in (numpy.int64, numpy.int32, numpy.bool_):
            raise IndexError(f"index_put: index tensors must be int64, int32 or bool, got {i.dtype} at indices[{k}]")
        if i.dtype == numpy.bool_ and i.ndim == 0:  # torch 2.13 fails inconsistently (internal asserts) on these
            raise IndexError(f"index_put: indices[{k}] is a 0-d bool mask, which is not supported; use a mask with "
                             "the shape of the leading dims")
    if values.dtype != a.dtype:
        if not (len(indices) == 1 and indices[0].dtype == numpy.bool_ and values.numel() == 1 and not accumulate):
            raise DtypeError(f"index_put: values have dtype {values.dtype} but the tensor {a.dtype}; convert them "
                             f"with .to({a.dtype})")
        check_all_fit("index_put", values._data, a.dtype)  # one value through one mask: torch's masked_fill_ path
        values = astype(reshape(values, ()), a.dtype)
    indices = tuple(i if i.device == a.device else i.to(a.device) for i in indices)
    dims = [i.ndim if i.dtype == numpy.bool_ else 1 for i in indices]
    if a.ndim == 0 or sum(dims) > a.ndim:
        raise IndexError(f"index_put: too many indices for a tensor of dimension {a.ndim} (got {sum(dims)})")
    shapes, d = [], 0
    for i, n in zip(indices, dims):
        size = a.shape[d:d + n]
        if i.dtype == numpy.bool_:
            if i.shape != size:
                raise IndexError(f"index_put: the mask's shape {i.shape} does not match the tensor's {size} at dim {d}")
            shapes.append((int(i._data.sum()),))
        else:
            if i._data.size and bool(((i._data < -size[0]) | (i._data >= size[0])).any()):
                raise IndexError(f"index_put: an index is out of range for dim {d} of size {size[0]}")
            shapes.append(i.shape)
        d += n
    index_shape = shapes[0]
    for shape in shapes[1:]:
        index_shape = broadcast_shape("index_put: the index tensors", index_shape, shape)
    target = index_shape + a.shape[d:]
    if values.ndim > len(target) or broadcast_shape("index_put", values.shape, target) != target:
        raise ValueError(f"index_put: values of shape {values.shape} cannot be broadcast to the indexed shape {target}")
    return index_put(a, indices, values, bool(accumulate))


def one_hot(input: Tensor, num_classes: int = -1) -> Tensor:  # noqa: A002 - torch's name
    """int64 class indices of any shape -> int64 one-hot of shape (*t.shape, num_classes); no gradient. Other
    dtypes raise, int32 and uint8 too (as torch: "only applicable to index tensor of type LongTensor")."""
    if input.dtype != "int64":
        raise DtypeError(f"one_hot: needs an int64 tensor of class indices (as torch), got dtype {input.dtype}")
    xp, idx = input.xp, input._data
    if num_classes <= 0 and not idx.size:  # (torch: 0 classes for an empty tensor too)
        raise ValueError("one_hot: cannot infer the number of classes from an empty tensor; pass num_classes > 0")
    if num_classes < -1:  # torch: every class value is then too large
        raise ValueError(f"one_hot: a class value is num_classes={num_classes} or more")
    if num_classes == -1:
        num_classes = int(idx.max()) + 1
    if idx.size and bool(((idx < 0) | (idx >= num_classes)).any()):
        raise ValueError(f"one_hot: class values must lie in [0, {num_classes})")
    return Tensor((idx[..., None] == xp.arange(num_classes)).astype("int64"), device=input.device)


def index_select(a: Tensor, dim: int, index: Tensor) -> Tensor:
    """The slices of ``a`` at ``index`` (a 1-D or 0-d int64/int32 tensor) along ``dim``: ``a``'s shape with that dim
    of length ``index.numel()``. Built on getitem, so repeated indices add up their gradients."""
    check_devices("index_select", a, index)
    check_index_dtype("index_select", index)
    if index.ndim > 1:
        raise IndexError(f"index_select: index must be a vector (1-D or 0-d), got shape {index.shape}")
    d = wrap_dim("index_select", dim, a.ndim)
    n = a.shape[d] if a.ndim else 1
    idx = index._data.reshape(-1)
    if idx.size and bool(((idx < 0) | (idx >= n)).any()):
        raise IndexError(f"index_select: an index is out of range for dim {dim} of size {n} (expected 0..{n - 1})")
    if a.ndim == 0:
        if idx.size != 1:
            raise ValueError(f"index_select: a 0-d tensor takes one index, got {idx.size}")
        return clone(a)
    out = getitem(a, (slice(None),) * d + (constant(idx),))
    return out if out._data.flags.c_contiguous else clone(out)  # (row-major, as torch's)


def embedding(weight: Tensor, idx: Array, padding_idx: int | None = None, scale_grad_by_freq: bool = False,
              sparse: bool = False) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by the integer array ``idx`` (any shape, values checked to lie
    in range) -> (*idx.shape, dim). Backward adds each output row's gradient onto the row it came from, as torch's
    embedding: nothing onto row ``padding_idx`` (a non-negative index), and with ``scale_grad_by_freq`` each one
    divided by how many times its row is picked in ``idx``. ``sparse``: the weight's gradient is those rows as a
    ``SparseGrad`` (sparse_grad.py; the padding row's left out), as torch's, when the weight is a leaf (a weight
    made by ops passes a dense gradient on to them)."""
    from .. import backend

    xp = weight.xp
    flat = idx.reshape(-1)
    if weight.requires_grad and is_grad_enabled():
        flat = xp.array(flat)  # private: a later write into the caller's index array cannot reach the backward
    sparse = sparse and weight.is_leaf

    def backward(g: Array) -> tuple[Array]:
        rows = g.reshape(flat.size, weight.shape[1])
        if sparse:
            if scale_grad_by_freq:  # torch's error, raised by its backward too
                raise RuntimeError("embedding: scale_grad_by_freq=True and sparse=True do not go together")
            kept = flat != padding_idx if padding_idx is not None else slice(None)
            return (sparse_rows(flat[kept], rows[kept], weight.shape),)
        if scale_grad_by_freq:
            counts = xp.bincount(flat, minlength=weight.shape[0]).astype(g.dtype)
            rows = rows * (g.dtype.type(1) / counts[flat])[:, None]  # 1 / count in the gradient's dtype, as torch
        if padding_idx is not None:
            rows = xp.where((flat != padding_idx)[:, None], rows, g.dtype.type(0))  # (not a product: 0 * inf is nan)
        full = xp.zeros(weight.shape, dtype=g.dtype)
        backend.scatter_add(full, flat, rows)
        return (full,)
    return record("embedding", weight._data[idx], (weight,), backward)


def embedding_renorm_(weight: Array, idx: Array, max_norm: float, norm_type: float) -> None:
    """torch's ``embedding_renorm_``: each distinct row of ``weight`` (num_embeddings, dim) picked by ``idx`` whose
    ``norm_type``-norm exceeds ``max_norm`` is scaled in place by max_norm / (norm + 1e-7) (the scale rounded to the
    weight's dtype); a row of norm nan is left alone."""
    from .. import backend
    from .statistics import norm_of

    rows = backend.get_array_module(weight).unique(idx.reshape(-1))
    if rows.size == 0 or weight.shape[1] == 0:  # nothing picked, or rows of norm 0
        return
    norms = norm_of(weight[rows], norm_type, (1,))[:, 0].astype("float64")
    big = norms > max_norm
    scale = (max_norm / (norms[big] + 1e-7)).astype(weight.dtype)
    weight[rows[big]] *= scale[:, None]


def nonzero(a: Tensor, as_tuple: bool = False) -> Tensor | tuple[Tensor, ...]:
    """The int64 coordinates of the non-zero elements (NaN counts), in row-major order: an (N, ndim) tensor, or with
    ``as_tuple`` one (N,) tensor per dim (one for a 0-d tensor). No gradient."""
    xp = a.xp
    if a.ndim == 0:
        coords: tuple[Array, ...] = (xp.zeros(int(bool(a._data != 0)), dtype="int64"),)
    else:
        coords = tuple(c.astype("int64", copy=False) for c in xp.nonzero(a._data))
    if as_tuple:
        return tuple(Tensor(c, device=a.device) for c in coords)
    if a.ndim == 0:
        return Tensor(xp.zeros((coords[0].size, 0), dtype="int64"), device=a.device)
    return Tensor(xp.stack(coords, axis=1), device=a.device)


def nonzero_static(a: Tensor, size: int, fill_value: int = -1) -> Tensor:
    """torch.nonzero_static: ``nonzero``'s (N, ndim) coordinates cut or padded with ``fill_value`` to ``size`` rows."""
    found, size = nonzero(a)._data, int(size)
    if size < 0:
        raise ValueError(f"nonzero_static: size must be non-negative, got {size}")
    out = a.xp.full((size, found.shape[1]), fill_value, dtype="int64")
    out[:min(size, found.shape[0])] = found[:size]
    return Tensor(out, device=a.device)


def bincount(a: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """Counts (``weights`` summed, with ``weights``) of each value of a 1-D non-negative integer tensor: length
    max(a) + 1, at least ``minlength``. int64 without weights; with them float32 for float32 weights, float64
    otherwise (an empty input gives int64 zeros, as in torch). No gradient (torch has none)."""
    if a.dtype.kind == "b":  # torch has no bool kernel
        raise KernelDtypeError("bincount: not implemented for dtype bool; convert with .long()")
    if a.ndim != 1 or a.dtype.kind not in "iu" or (a._data.size and bool((a._data < 0).any())):
        raise ValueError(f"bincount: needs a 1-D tensor of non-negative integers, got shape {a.shape} and dtype "
                         f"{a.dtype}")
    if minlength < 0:
        raise ValueError(f"bincount: minlength must be >= 0, got {minlength}")
    if weights is not None:
        check_devices("bincount", a, weights)
        if weights.shape != a.shape:
            raise ValueError(f"bincount: weights must be 1-D with the input's length {a.shape}, got {weights.shape}")
    xp = a.xp
    if weights is None or a._data.size == 0:
        return Tensor(xp.bincount(a._data, minlength=minlength).astype("int64", copy=False), device=a.device)
    out = xp.bincount(a._data, weights._data.astype("float64", copy=False), minlength=minlength)
    return Tensor(out.astype("float32" if weights.dtype == "float32" else "float64", copy=False), device=a.device)


# ------------------------------------------------------------------------------- along one dim, masks, flat
def _slots(op: str, a: Tensor, dim: int, index: Tensor, dtypes: tuple[str, ...],
           negative: bool) -> tuple[int, tuple[Any, ...]]:
    """(dim wrapped, the key ``(:, ..., idx)`` picking ``index``'s slices along it in ``_at_least_1d(a.data)``), for
    index_fill / index_add / index_copy. ``index`` is a 1-D or 0-d tensor of one of ``dtypes``, checked and copied
    (a backward reads the copy); negative entries count from the end when ``negative``, else they raise."""
    check_devices(op, a, index)
    check_index_dtype(op, index, dtypes)
    if index.ndim > 1:
        raise ValueError(f"{op}: index must be a vector (1-D or 0-d), got shape {index.shape}")
    d = wrap_dim(op, dim, a.ndim)
    n = a.shape[d] if a.ndim else 1
    idx = index._data.reshape(-1).astype("int64")
    if negative:
        idx = a.xp.where(idx < 0, idx + n, idx)
    if idx.size and bool(((idx < 0) | (idx >= n)).any()):
        raise IndexError(f"{op}: an index is out of range for dim {dim} of size {n} "
                         f"(expected {-n if negative else 0}..{n - 1})")
    return d, (slice(None),) * d + (idx,)


def _at_least_1d(x: Array) -> Array:
    """A 0-d array as a view of one element (torch treats a 0-d tensor as having dim 0 of size 1 here)."""
    return x.reshape(x.shape or (1,))


def _slices_source(op: str, a: Tensor, d: int, key: tuple[Any, ...], source: Tensor) -> Array:
    """``source``'s array seen with at least one dim, checked: ``a``'s dtype, dims and shape, with ``len(index)``
    along d (index_copy, as torch, also takes any source of that many elements when it or ``a`` is 0-d)."""
    check_devices(op, a, source)
    if source.dtype != a.dtype:
        raise DtypeError(f"{op}: source dtype {source.dtype} differs from the input dtype {a.dtype}; convert one")
    want = _at_least_1d(a._data).shape[:d] + (key[-1].size,) + _at_least_1d(a._data).shape[d + 1:]
    loose = op == "index_copy" and 0 in (a.ndim, source.ndim) and source._data.size == key[-1].size
    s = source._data.reshape(want) if loose else _at_least_1d(source._data)
    if s.shape != want or (source.ndim != a.ndim and not loose):
        raise ValueError(f"{op}: source shape {source.shape} must be the input's shape {a.shape} with "
                         f"{key[-1].size} (the number of indices) along dim {d}")
    return s


def index_fill(a: Tensor, dim: int, index: Tensor, value: TensorLike) -> Tensor:
    """A copy of ``a`` (any shape) with ``value`` (a number or a 0-d tensor) in its slices at ``index`` (1-D or 0-d
    int64; negative entries count from the end) along ``dim``. Gradients: ``a``'s is zero in those slices, ``value``'s
    the sum of theirs (each slice once, however often ``index`` names it), as torch."""
    if isinstance(value, Tensor) and value.ndim == 0 and value.dtype != a.dtype:  # a 0-d tensor's number is checked
        check_fits("index_fill", value.item(), a.dtype)  # as a Python one is (torch: 300. into uint8 raises)
    v = as_tensor(check_fits("index_fill", value, a.dtype), like=a)
    if v.ndim:
        raise ValueError(f"index_fill: value must be a number or a 0-d tensor, got shape {v.shape}")
    check_devices("index_fill", a, v)
    d, key = _slots("index_fill", a, dim, index, ("int64",), negative=True)
    out = a.xp.array(a._data)  # a copy, an array even of a numpy scalar
    _at_least_1d(out)[key] = v._data

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        ga = gv = None
        if a.requires_grad:
            ga = a.xp.array(g)  # a copy, an array even of a numpy scalar
            _at_least_1d(ga)[key] = 0
        if v.requires_grad:
            gv = a.xp.take(_at_least_1d(g), a.xp.unique(key[-1]), axis=d).sum().reshape(())
        return ga, gv
    return record("index_fill", out, (a, v), backward)


def index_add(a: Tensor, dim: int, index: Tensor, source: Tensor, alpha: float = 1) -> Tensor:
    """A copy of ``a`` with ``alpha * source`` added into its slices at ``index`` (1-D or 0-d int64/int32) along
    ``dim``; ``source`` is ``a``'s shape and dtype with ``len(index)`` along ``dim``. Repeated indices accumulate."""
    from .. import backend

    d, key = _slots("index_add", a, dim, index, ("int64", "int32"), negative=False)
    s = _slices_source("index_add", a, d, key, source)
    scale = a.dtype.type(check_fits("index_add", alpha, a.dtype))  # (uint8's alpha -1 is 255, as torch's)
    out = a.xp.array(a._data)
    backend.scatter_add(_at_least_1d(out), key, s if alpha == 1 else s * scale)

    def backward(g: Array) -> tuple[Array, Array | None]:
        gs = a.xp.take(_at_least_1d(g), key[-1], axis=d).reshape(source.shape) if source.requires_grad else None
        return g, gs if gs is None or alpha == 1 else gs * scale
    return record("index_add", out, (a, source), backward)


def index_copy(a: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """A copy of ``a`` with ``source``'s slices written at ``index`` (1-D or 0-d int64) along ``dim``; ``source`` is
    ``a``'s shape and dtype with ``len(index)`` along ``dim``. Of repeated indices the last write wins."""
    d, key = _slots("index_copy", a, dim, index, ("int64",), negative=False)
    s = _slices_source("index_copy", a, d, key, source)
    out = a.xp.array(a._data)  # a copy, an array even of a numpy scalar
    _at_least_1d(out)[key] = s

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        ga = None
        if a.requires_grad:
            ga = a.xp.array(g)  # a copy, an array even of a numpy scalar
            _at_least_1d(ga)[key] = 0
        gs = a.xp.take(_at_least_1d(g), key[-1], axis=d).reshape(source.shape) if source.requires_grad else None
        return ga, gs
    return record("index_copy", out, (a, source), backward)


def index_reduce(a: Tensor, dim: int, index: Tensor, source: Tensor, reduce: str, include_self: bool = True) -> Tensor:
    """torch's index_reduce: a copy of ``a`` with ``source``'s slices along ``dim`` reduced ("prod", "mean", "amax" or
    "amin") into the slices of ``a`` that ``index`` (1-D or 0-d int64 / int32, no negative entries) names, in index
    order; ``source`` is ``a``'s shape and dtype with ``len(index)`` along ``dim``. ``scatter_reduce`` with ``index``
    spread over the slices: its values and gradients (``include_self=False`` leaves ``a``'s value out of a place
    reduced into)."""
    op = "index_reduce"
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise ValueError(f"{op}: reduce must be 'prod', 'mean', 'amax' or 'amin', got {reduce!r}")
    if a.dtype == bool:
        raise KernelDtypeError(f"{op}: bool tensors have no kernel (as in torch); convert with .long() first")
    if not isinstance(index, Tensor) or not isinstance(source, Tensor):
        raise TypeError(f"{op}: index and source must be tensors, got {type(index).__name__} and "
                        f"{type(source).__name__}")
    d, key = _slots(op, a, dim, index, ("int64", "int32"), negative=False)
    if a.ndim != source.ndim:
        raise ValueError(f"{op}: source shape {source.shape} must have the dims of the input {a.shape}")
    s = _slices_source(op, a, d, key, source)
    spread = key[-1].reshape((1,) * d + (-1,) + (1,) * (s.ndim - d - 1))
    places = constant(a.xp.ascontiguousarray(a.xp.broadcast_to(spread, s.shape)))
    return scatter_reduce(a, d, places, reshape(source, s.shape), reduce, include_self)

def _bool_mask(op: str, a: Tensor, mask: TensorLike) -> Tensor:
    m = mask if isinstance(mask, Tensor) else as_tensor(mask, like=a)
    check_devices(op, a, m)
    if m.dtype != "bool":
        raise DtypeError(f"{op}: mask must be a bool tensor, got dtype {m.dtype}; compare to make one (x > 0)")
    return m


def masked_select(a: Tensor, mask: TensorLike) -> Tensor:
    """The 1-D tensor of ``a``'s elements where the bool ``mask`` holds, ``a`` and ``mask`` broadcast together, in
    row-major order."""
    m = _bool_mask("masked_select", a, mask)
    shape = broadcast_shape("masked_select", a.shape, m.shape)
    where = a.xp.broadcast_to(m._data, shape).copy()  # a private copy: backward reads it
    out = a.xp.broadcast_to(a._data, shape)[where]

    def backward(g: Array) -> tuple[Array]:
        full = a.xp.zeros(shape, dtype=g.dtype)
        full[where] = g
        return (unbroadcast(full, a.shape),)
    return record("masked_select", out, (a,), backward)


def masked_scatter(a: Tensor, mask: TensorLike, source: Tensor) -> Tensor:
    """A copy of ``a`` (broadcast with the bool ``mask``) with ``source``'s first elements, in row-major order,
    where ``mask`` holds; ``source`` (``a``'s dtype, any shape) needs at least as many elements as ``mask`` has
    ``True``s."""
    m = _bool_mask("masked_scatter", a, mask)
    check_devices("masked_scatter", a, source)
    if source.dtype != a.dtype:
        raise DtypeError(f"masked_scatter: source dtype {source.dtype} differs from the input dtype {a.dtype}")
    shape = broadcast_shape("masked_scatter", a.shape, m.shape)
    where = a.xp.broadcast_to(m._data, shape).copy()
    count = int(where.sum())
    if source._data.size < count:
        raise ValueError(f"masked_scatter: source has {source._data.size} elements, fewer than the {count} places "
                         f"where mask holds")
    out = a.xp.broadcast_to(a._data, shape).copy()
    out[where] = source._data.reshape(-1)[:count]

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        ga = unbroadcast(a.xp.where(where, 0, g), a.shape) if a.requires_grad else None
        gs = None
        if source.requires_grad:
            gs = a.xp.zeros(source._data.size, dtype=g.dtype)
            gs[:count] = g[where]
            gs = gs.reshape(source.shape)
        return ga, gs
    return record("masked_scatter", out, (a, source), backward)


def _wrapped(op: str, index: Tensor, n: int) -> Tensor:
    """An int64 index tensor with negative entries counted from the end of a length-``n`` dim, range-checked."""
    check_index_dtype(op, index, ("int64",))
    idx = index._data
    if idx.size and bool(((idx < -n) | (idx >= n)).any()):
        raise IndexError(f"{op}: an index is out of range for {n} elements (expected {-n}..{n - 1})")
    return constant(index.xp.where(idx < 0, idx + n, idx))


def take(a: Tensor, index: Tensor) -> Tensor:
    """``a``'s elements (taken as a flat row-major list) at ``index`` (int64, any shape; negative entries count
    from the end): a tensor of ``index``'s shape. Gradients add up at repeated indices."""
    check_devices("take", a, index)
    flat = _wrapped("take", index, a._data.size)._data.reshape(-1)
    return reshape(gather(reshape(a, (-1,)), 0, constant(flat)), index.shape)


def take_along_dim(a: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
    """``gather`` along ``dim`` with ``a`` and ``indices`` (int64) broadcast against each other in every other dim,
    the indices taken modulo the dim's length as torch 2.13 takes them (-1 is the last, 5 of 4 is 1; a length-0 dim
    refuses any index); without ``dim``, ``gather`` of the flattened tensors (int64 or int32 indices; 1-D out;
    there, as in torch, an index out of range, a negative one too, raises)."""
    check_devices("take_along_dim", a, indices)
    if dim is None:
        if indices.dtype not in ("int64", "int32"):
            raise DtypeError(f"take_along_dim: indices must be an int64 or int32 tensor, got dtype {indices.dtype}")
        return gather(reshape(a, (-1,)), 0, reshape(indices, (-1,)))
    if indices.ndim != a.ndim or a.ndim == 0:
        error = DimError if a.ndim == 0 else ValueError  # torch: a 0-d input has no dim (IndexError)
        raise error(f"take_along_dim: with a dim, input and indices need the same number (>= 1) of dims, got "
                    f"shapes {a.shape} and {indices.shape}")
    d = wrap_dim("take_along_dim", dim, a.ndim)
    if indices.dtype != "int64":
        raise DtypeError(f"take_along_dim: indices must be an int64 tensor, got dtype {indices.dtype}")
    if a.shape[d] == 0 and indices._data.size:
        raise IndexError(f"take_along_dim: an index into dim {d} of length 0")
    idx = constant(indices._data % a.shape[d] if indices._data.size else indices._data)
    rest = broadcast_shape("take_along_dim", a.shape[:d] + (1,) + a.shape[d + 1:],
                           idx.shape[:d] + (1,) + idx.shape[d + 1:])
    src = broadcast_to(a, rest[:d] + (a.shape[d],) + rest[d + 1:])
    return gather(src, d, constant(a.xp.broadcast_to(idx._data, rest[:d] + (idx.shape[d],) + rest[d + 1:])))


# ------------------------------------------------------------------------------- index generators
def triangle_indices(op: str, row: int, col: int, offset: int = 0, dtype: Any = "int64",
                     device: str | None = None) -> Tensor:
    """tril_indices / triu_indices (``op``): the (2, N) coordinates of the lower (upper) triangle of a row x col
    matrix, on and below (above) the ``offset`` diagonal, in row-major order, as ``dtype`` (int64 or int32)."""
    from .. import backend

    row, col, offset = int_args(op, "row, col and offset", (row, col, offset))  # (a float one raises, as torch)
    if row < 0 or col < 0:
        raise ValueError(f"{op}: row and col must be non-negative, got {row} and {col}")
    if numpy.dtype(dtype) not in (numpy.int64, numpy.int32):
        raise TypeError(f"{op}: dtype must be int64 or int32, got {numpy.dtype(dtype)}")
    dev = backend.parse_device(device)
    xp = backend.xp_of(dev)
    with backend.device_context(dev):
        rows, cols = (xp.tril_indices if op == "tril_indices" else xp.triu_indices)(row, offset, col)
        return Tensor(xp.stack([rows, cols]).astype(dtype).reshape(2, -1), device=dev)


def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:  # noqa: A002 - torch's name
    """The length-``r`` combinations of a 1-D tensor's elements (by position, in lexicographic order; with
    ``with_replacement`` an element may repeat), as rows: (count, r); an empty 1-D tensor for r = 0, as torch.
    Gathered, so the gradient adds up over the rows an element appears in."""
    if input.ndim != 1:
        raise ValueError(f"combinations: expects a 1-D tensor, got shape {input.shape}")
    if r < 0:
        raise ValueError(f"combinations: r must be non-negative, got {r}")
    if r == 0:
        return Tensor(input.xp.empty((0,), dtype=input.dtype), device=input.device)
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    idx = numpy.asarray(list(pick(range(input.shape[0]), r)), dtype=numpy.int64).reshape(-1, r)
    return getitem(input, constant(input.xp.asarray(idx)))
