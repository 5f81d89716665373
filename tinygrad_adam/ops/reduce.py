"""Reductions: sum, mean, max, min, and the stable logsumexp / log_softmax / softmax."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy

from .. import backend
from ..tensor import DEFAULT_FLOAT, Array, Tensor, record
from .elementwise import astype, ignore_fp_errors, overflowed, passed, sums_in_order, wide_mean, wide_sum
from .factor import DtypeError

Axis = int | tuple[int, ...] | None


class FloatInputError(DtypeError, NotImplementedError):
    """An integer or bool input to a kernel that is floating only: torch's NotImplementedError (kl_div's plain
    RuntimeError, which that is too), and the TypeError ours raised before."""


def float_input(op: str, a: Tensor) -> Array:
    """``a``'s array, which must be floating (torch's kernels of softmax, the losses and these activations have no
    integer or bool version): else a ``FloatInputError``."""
    if a.dtype.kind != "f":
        raise FloatInputError(f"{op}: not implemented for dtype {a.dtype} (as in torch); convert first, e.g. x.float()")
    return a._data


class DimError(IndexError, ValueError):
    """A dim out of range: torch raises IndexError; a ValueError too, as numpy's AxisError is both."""


def _axes(axis: Axis, ndim: int) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative axes (all axes for None)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    n = ndim or 1  # a 0-d tensor accepts axis 0 / -1, as torch does (and reduces over nothing)
    for a in axes:
        if not -n <= a < n:
            raise DimError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
    if len({a % n for a in axes}) != len(axes):
        raise ValueError(f"axis {axis} names the same dimension more than once")
    return tuple(sorted(a % n for a in axes)) if ndim else ()


def _reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def _expand_back(g: Array, shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> Array:
    """Reshape a reduced gradient so it broadcasts against the input's ``shape``."""
    if not keepdims:
        g = g.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))
    return g


def sum(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    axes = _axes(axis, a.ndim)
    out = wide_sum(a._data, axes, keepdims)  # (inf - inf without numpy's warning, as torch: see plain_sum)

    def backward(g: Array) -> tuple[Array]:
        return (a.xp.broadcast_to(_expand_back(g, a.shape, axes, keepdims), a.shape),)
    return record("sum", out, (a,), backward)


def nansum(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """The sum with NaN taken as 0; backward g * (x is not NaN), a product, as torch's (an inf g gives NaN at a
    NaN). float16 accumulates in float32 and rounds once, as ``sum``."""
    axes = _axes(axis, a.ndim)
    # (as ``wide_sum``, overflow included)
    wide = numpy.float64 if sums_in_order(a._data, axes) else numpy.float32 if a.dtype == numpy.float16 else None
    with ignore_fp_errors(a.xp):  # (inf + -inf: numpy warns from its own module, outside the package's filter)
        out = a.xp.nansum(a._data, axis=axes, keepdims=keepdims, dtype=wide).astype(a.dtype, copy=False)
        if wide is None and overflowed(a._data, out):
            out = a.xp.nansum(a._data, axis=axes, keepdims=keepdims, dtype=numpy.float64).astype(a.dtype)

    def backward(g: Array) -> tuple[Array]:
        with quiet(a.xp):
            return (_expand_back(g, a.shape, axes, keepdims) * ~a.xp.isnan(a._data),)
    return record("nansum", out, (a,), backward)


def mean(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    axes = _axes(axis, a.ndim)
    n = 1
    for i in axes:
        n *= a.shape[i]
    if a.dtype.kind != "f":
        with ignore_fp_errors(a.xp):
            return record_mean(a, a._data.mean(axis=axes, keepdims=keepdims), axes, keepdims, n)
    return record_mean(a, wide_mean(a._data, axes, keepdims), axes, keepdims, n)


def record_mean(a: Tensor, out: Array, axes: tuple[int, ...], keepdims: bool, n: int) -> Tensor:
    """Record ``out``, the mean of ``a`` over ``axes`` (``n`` elements each) however computed, with its backward."""
    def backward(g: Array) -> tuple[Array]:
        with quiet(a.xp):  # n = 0: an empty gradient
            return (a.xp.broadcast_to(_expand_back(g, a.shape, axes, keepdims) / n, a.shape),)
    return record("mean", out, (a,), backward)


def max(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Largest value; on ties the gradient is split evenly among the tied elements."""
    return _extreme("max", a, axis, keepdims)


def min(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Smallest value; on ties the gradient is split evenly among the tied elements."""
    return _extreme("min", a, axis, keepdims)


def _extreme(op: str, a: Tensor, axis: Axis, keepdims: bool) -> Tensor:
    """As torch: over all elements (``axis=None``, torch's ``max()``) a NaN result sends the gradient to the NaN
    elements; over given axes (torch's ``amax``) a slice whose result is NaN gets a NaN gradient."""
    axes = _axes(axis, a.ndim)
    if a.size == 0 and (axis is None or any(a.shape[i] == 0 for i in axes)):
        raise (ValueError if axis is None else DimError)(
            f"{op}() over an empty dimension: tensor shape {a.shape}, axis {axis}")
    kept = getattr(a._data, op)(axis=axes, keepdims=True)

    def backward(g: Array) -> tuple[Array]:
        if axis is None:
            return (evenly_distribute(g, a._data, kept),)
        hit = a._data == kept
        with quiet(a.xp):  # torch.amax: (g / count) * hit
            return (hit * (_expand_back(g, a.shape, axes, keepdims) / hit.sum(axis=axes, keepdims=True)),)
    out = kept if keepdims else kept.reshape(_reduced_shape(a.shape, axes))
    return record(op, out, (a,), backward)


def evenly_distribute(g: Array, x: Array, value: Array) -> Array:
    """The gradient torch gives a reduction over all elements that picks one value (``max()``, ``min()``,
    ``median()``): ``g`` split evenly among the elements equal to ``value``, or among the NaN ones when it is NaN."""
    xp = backend.get_array_module(x)
    hit = xp.isnan(x) if bool(xp.isnan(value).any()) else x == value
    with quiet(xp):  # (torch's is a masked_fill: +0 off the hits, whatever g's sign)
        return passed(g / hit.sum(), hit)


def shifted_exp(x: Array, axis: Axis, finite_shift: bool) -> tuple[Array, Array, Array, Array]:
    """(m, d, e, s): m the max over ``axis``, d = x - m, e = exp(d), s = sum(e) over ``axis`` (all kept dims).

    Shifting by the max keeps exp from overflowing and puts s in [1, n]. Results built from these keep the large
    part (d, or m) and the small part (log s) apart, so neither is rounded into the other:
    log_softmax = d - log(s), softmax = e / s, logsumexp = m + log(s). With ``finite_shift`` an infinite max
    shifts by 0 instead (logsumexp of a row with inf is inf, of an all -inf row -inf, as in PyTorch); without,
    such a row gives nan, as PyTorch's softmax does. Over an empty axis m is 0 and s is 0.
    """
    xp = backend.get_array_module(x)
    axes = _axes(axis, x.ndim)
    if axes == (x.ndim - 1,) and x.dtype == numpy.float32 and short_rows(x) and backend.numba_available():
        return short_rows_shifted_exp(x, finite_shift)
    if any(x.shape[i] == 0 for i in axes):
        m = xp.zeros(tuple(1 if i in axes else n for i, n in enumerate(x.shape)), dtype=x.dtype)
    else:
        m = x.max(axis=axes, keepdims=True)
        if finite_shift:
            m = xp.where(xp.isfinite(m), m, m.dtype.type(0))
    with quiet(xp):
        d = x - m
        e = xp.exp(d)  # (overflows only where finite_shift left an inf row unshifted: inf, as torch)
    return m, d, e, wide_sum(e, axes, keepdims=True)


def short_rows_shifted_exp(x: Array, finite_shift: bool) -> tuple[Array, Array, Array, Array]:
    """``shifted_exp`` over the short last axis of float32 ``x`` with the ``fast`` extra: the max and x - max by
    ``shift_by_max_loop``, numpy's exp, the sums as ``row_sums``."""
    n = x.shape[-1]
    flat = numpy.ascontiguousarray(x).reshape(-1, n)
    d = numpy.empty_like(flat)
    m = shift_by_max(flat, d)
    if finite_shift and not bool(numpy.isfinite(m).all()):
        shifted = ~numpy.isfinite(m)
        m[shifted], d[shifted] = 0, flat[shifted]
    with quiet(numpy):
        e = numpy.exp(d)
    kept = x.shape[:-1] + (1,)
    return m.reshape(kept), d.reshape(x.shape), e.reshape(x.shape), row_sums(e).reshape(kept)


def quiet(xp: Any) -> Any:
    """numpy's errstate for inf - inf, a float16 x - max past its range (-inf: exp gives 0) and exp's overflow to
    inf, all silent in torch (cupy never warns)."""
    return xp.errstate(invalid="ignore", divide="ignore", over="ignore") if hasattr(xp, "errstate") \
        else contextlib.nullcontext()


def logsumexp(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``axis``, shifted by the max; integer and bool input in float32, as torch's."""
    if a.dtype.kind != "f":
        a = astype(a, DEFAULT_FLOAT)
    axes = _axes(axis, a.ndim)
    m, _, e, s = shifted_exp(a._data, axes, finite_shift=True)
    with quiet(a.xp):
        lse = a.xp.log(s)
    lse += m

    def backward(g: Array) -> tuple[Array]:  # softmax = e / s (not exp(x - lse): lse may have rounded away log s)
        xp = a.xp
        with quiet(xp):
            if lse.dtype == numpy.float16:  # torch's: g exp(x - lse), each step rounded to float16
                return (_expand_back(g, a.shape, axes, keepdims) * xp.exp(a._data - lse),)
            p = e / s
            if not bool(xp.isfinite(s).all()):  # a row holding +inf: exp(x - inf) is 0, and nan at the inf itself
                p = xp.where(xp.isinf(s), xp.where(a._data == xp.inf, xp.nan, 0).astype(p.dtype), p)
            return (_expand_back(g, a.shape, axes, keepdims) * p,)
    return record("logsumexp", lse if keepdims else lse.reshape(_reduced_shape(a.shape, axes)), (a,), backward)


def log_softmax(a: Tensor, axis: int = -1) -> Tensor:
    """(x - m) - log(sum(exp(x - m))) along ``axis``; backward g - softmax * sum(g). float16 computes in float32 and
    rounds once, value and gradient, as torch's kernels (step by step in float16 its values were up to 3 ulps off)."""
    float_input("log_softmax", a)
    axes = _axes(axis, a.ndim)
    x, half = opmath(a._data)
    _, d, e, s = shifted_exp(x, axes, finite_shift=False)
    with quiet(a.xp):
        out = d - a.xp.log(s)

    def backward(g: Array) -> tuple[Array]:
        with quiet(a.xp):
            return (rounded(g - (e / s) * wide_sum(opmath(g)[0], axes, keepdims=True), half),)
    return record("log_softmax", rounded(out, half), (a,), backward)


def softmax(a: Tensor, axis: int = -1) -> Tensor:
    """exp(x - m) / sum(exp(x - m)) along ``axis``; backward s * (g - sum(g s)). float16 computes in float32 and
    rounds once, value and gradient (from the rounded value), as torch's kernels."""
    float_input("softmax", a)
    axes = _axes(axis, a.ndim)
    x, half = opmath(a._data)
    if axes == (a.ndim - 1,) and short_rows(x):
        out = rounded(short_rows_softmax(x), half)
        return record("softmax", out, (a,), lambda g: (rounded(short_rows_softmax_gradient(opmath(out)[0],
                                                                                          opmath(g)[0]), half),))
    _, _, e, s = shifted_exp(x, axes, finite_shift=False)
    with quiet(a.xp):
        out = rounded(e / s, half)

    def backward(g: Array) -> tuple[Array]:
        o, gw = opmath(out)[0], opmath(g)[0]
        return (rounded(o * (gw - wide_sum(gw * o, axes, keepdims=True)), half),)
    return record("softmax", out, (a,), backward)


def opmath(x: Array) -> tuple[Array, bool]:
    """(x, False), or for float16 x (x in float32, True): torch's kernels compute float16 in float32."""
    return (x.astype(numpy.float32), True) if x.dtype == numpy.float16 else (x, False)


def rounded(x: Array, half: bool) -> Array:
    """x rounded once to float16 where ``half`` (``opmath``'s flag; past its range inf, silently, as torch), else x
    itself."""
    if not half:
        return x
    with quiet(backend.get_array_module(x)):
        return x.astype(numpy.float16)


# Softmax over a short last axis (attention's rows) on the CPU. numpy reduces a short axis row by row, a call of its
# inner loop per row (max over rows of 64: 1-3 ns an element), so the rows go in cached pieces over the cores; the
# max reads a transposed copy of the piece (one vectorised pass per column), and the sums are ``row_sums`` (five
# times numpy's sum there; over at most SHORT_ROW terms their rounding is as small).
SHORT_ROW = 1024
ROW_DTYPES = (numpy.dtype(numpy.float32), numpy.dtype(numpy.float64))


def short_rows(x: Array) -> bool:
    """True for a non-empty float32 / float64 CPU array whose last axis has 1 to SHORT_ROW elements."""
    return x.ndim > 0 and 0 < x.shape[-1] <= SHORT_ROW and x.size > 0 and x.dtype in ROW_DTYPES \
        and backend.device_of(x) == "cpu"


def row_sums(x: Array) -> Array:
    """The sums of the rows of a 2-D CPU array (r, n) -> (r,): numpy's einsum loop, vectorised along each row (a
    BLAS product with ones is as fast but leaves OpenBLAS's threads spinning, taking the cores from the next op)."""
    return numpy.einsum("ij->i", x)


def keepdims_mean(x: Array, axes: tuple[int, ...]) -> Array:
    """``x.mean(axis=axes, keepdims=True)``; over a short last axis of a float32 / float64 array on the CPU, through
    ``row_sums``."""
    if axes != (x.ndim - 1,) or not short_rows(x):
        return wide_mean(x, axes, keepdims=True)
    n = x.shape[-1]
    sums = row_sums(numpy.ascontiguousarray(x).reshape(-1, n))
    sums /= x.dtype.type(n)
    return sums.reshape(*x.shape[:-1], 1)


def over_rows(work: Any, x: Array) -> None:
    """``work(rows)`` over slices of the rows of ``x`` (..., n), in pieces of about ``backend.PIECE`` elements split
    over the cores; ``work`` enters numpy's errstate itself (it is per thread)."""
    n = x.shape[-1]
    backend.split_work(work, x.size // n, x.nbytes, piece=backend.PIECE // n + 1)  # (max is this module's own)


def short_rows_softmax(x: Array) -> Array:
    """softmax of x (..., n) over its last axis, n <= SHORT_ROW, on the CPU -> an array of x's shape. float32 with
    the ``fast`` extra: compiled loops around numpy's exp (numba's exp is scalar code), see ``shift_by_max_loop``."""
    n = x.shape[-1]
    flat = numpy.ascontiguousarray(x).reshape(-1, n)
    out = numpy.empty_like(flat)
    if flat.dtype == numpy.float32 and backend.numba_available():
        normalize = backend.compiled(divide_by_sum_loop, reassociate=True)

        def work(rows: slice) -> None:
            shift_by_max(flat[rows], out[rows])
            with quiet(numpy):
                numpy.exp(out[rows], out=out[rows])
            normalize(out[rows])
    else:
        def work(rows: slice) -> None:
            with quiet(numpy):
                e = flat[rows] - numpy.ascontiguousarray(flat[rows].T).max(axis=0)[:, None]  # max: see above
                numpy.exp(e, out=e)
                numpy.divide(e, row_sums(e)[:, None], out=out[rows])
    over_rows(work, flat)
    return out.reshape(x.shape)


def shift_by_max(x: Array, out: Array) -> Array:
    """out = x - max(x) for the rows of a float32 CPU array x (r, n) (numba, the ``fast`` extra) -> the maxes (r,)."""
    m = numpy.empty(len(x), numpy.float32)  # (the loop writes the maxes' bits through an int32 view)
    backend.compiled(shift_by_max_loop)(x, x.view(numpy.int32), out, m.view(numpy.int32), m)
    return m


# A float32's bits as an int32 b, with the low 31 bits flipped when b < 0, order as the floats do (nan beyond the
# infinities), and an integer max vectorises where a float one (with nan's rules) does not.
def shift_by_max_loop(x: Array, bits: Array, out: Array, m_bits: Array, m: Array) -> None:
    """out = x - max(x) for the rows of float32 x (r, n), ``bits`` x viewed as int32; the maxes go to ``m`` (r,),
    written as bits through its int32 view ``m_bits``. A row holding nan has a nan max, or a nan sum after exp."""
    rows, n = x.shape
    for r in range(rows):
        key = -(1 << 31)
        for j in range(n):
            b = bits[r, j]
            k = b ^ ((b >> 31) & 0x7FFFFFFF)
            key = k if k > key else key  # (this module's max is the op, not the builtin)
        m_bits[r] = key ^ ((key >> 31) & 0x7FFFFFFF)
        top = m[r]
        for j in range(n):
            out[r, j] = x[r, j] - top


def divide_by_sum_loop(e: Array) -> None:
    """Each row of float32 e (r, n) divided by its sum (summed in float64), in place."""
    rows, n = e.shape
    for r in range(rows):
        s = 0.0
        for j in range(n):
            s += e[r, j]
        total = numpy.float32(s)  # (a float32 division is four times as fast)
        for j in range(n):
            e[r, j] = e[r, j] / total


def short_rows_softmax_gradient(out: Array, g: Array) -> Array:
    """softmax's input gradient out * (g - sum(g * out)) over the last axis, for ``short_rows_softmax``'s out and
    the output gradient g (out's shape, or broadcast to it)."""
    n = out.shape[-1]
    flat = out.reshape(-1, n)
    gflat = numpy.broadcast_to(g, out.shape).reshape(-1, n)  # a view when g is whole or a broadcast scalar
    grad = numpy.empty_like(flat)
    if flat.dtype == numpy.float32 and backend.numba_available():
        loop = backend.compiled(softmax_gradient_loop, reassociate=True)
        whole = numpy.ascontiguousarray(gflat)  # (a broadcast g, a loss's sum, would make the loop strided: 6x slower)
        over_rows(lambda rows: loop(flat[rows], whole[rows], grad[rows]), flat)
        return grad.reshape(out.shape)

    def work(rows: slice) -> None:
        with quiet(numpy):
            d = gflat[rows] - row_sums(gflat[rows] * flat[rows])[:, None]
            numpy.multiply(flat[rows], d, out=grad[rows])
    over_rows(work, flat)
    return grad.reshape(out.shape)


def softmax_gradient_loop(out: Array, g: Array, grad: Array) -> None:
    """grad = out * (g - sum(g * out)) for the rows of out, g, grad (r, n), the sums in float64."""
    rows, n = out.shape
    for r in range(rows):
        s = 0.0
        for j in range(n):
            s += g[r, j] * out[r, j]
        for j in range(n):
            grad[r, j] = out[r, j] * (g[r, j] - s)
