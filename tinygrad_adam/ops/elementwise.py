"""Elementwise ops: arithmetic with broadcasting, and the unary math functions.

Each op computes its output, then records a ``backward(g)`` closure that returns one
gradient per input. Broadcast inputs get their gradient summed back to their own shape.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy

from .. import backend
from ..tensor import (
    DEFAULT_FLOAT,
    Array,
    Tensor,
    TensorLike,
    as_tensor,
    check_devices,
    check_fits,
    constant,
    record,
    refuse_complex,
)


def broadcast_shape(op: str, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """numpy's broadcast of two shapes; a ValueError naming both shapes and the op otherwise."""
    if len(b) <= len(a) and a[len(a) - len(b):] == b:  # the common cases first: a bias, a scalar, a row
        return a
    if len(a) < len(b) and b[len(b) - len(a):] == a:
        return b
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        da = a[-i] if i <= len(a) else 1
        db = b[-i] if i <= len(b) else 1
        if da != db and da != 1 and db != 1:
            from .factor import ArgumentError  # (here: factor imports this module)
            raise ArgumentError(f"{op}: shapes {a} and {b} cannot be broadcast together")  # torch: a RuntimeError
        out.append(max(da, db) if da and db else 0)
    return tuple(reversed(out))


def unbroadcast(g: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``g`` down to ``shape``: the gradient of an operand that was broadcast."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1)
    if not axes:
        return g.reshape(shape)
    with ignore_fp_errors(numpy):  # inf - inf: nan without numpy's warning, as torch
        return wide_sum(g, axes, keepdims=True).reshape(shape)


# The accumulator of a float sum. numpy sums pairwise (O(log n) rounding, as torch's cascade) only along its inner
# loop: over the trailing axes of a C-contiguous array. Elsewhere (axis 0, a transposed view) it adds one term at a
# time in the input's dtype: float32 0.1s over 3e6 rows summed to 2.9e6, 3% off, and float16 ones stopped at 2048,
# where torch sums float32 in a cascade and float16 in float32. Those sums accumulate in float64 here and round
# once (float16 too: a float32 running sum drifts past float16's precision after some 1e4 terms). Up to 4 terms both
# libraries add in order (the same bits), so numpy's loop stays. (torch's CPU scans, cumsum and cumprod, carry their
# running value one precision up, WIDER: statistics.py.)
WIDER = {numpy.dtype(numpy.float16): numpy.float32, numpy.dtype(numpy.float32): numpy.float64}
SHORT_SUM = 4


def sums_in_order(x: Array, axes: int | tuple[int, ...] | None) -> bool:
    """Whether numpy sums ``x`` over ``axes`` (None: all) one term at a time in x's float16 / float32 dtype, over more
    than SHORT_SUM terms: the sums ``wide_sum`` and ``reduce.mean`` accumulate wider. ``axes`` may be one int and
    may count from the end."""
    if x.dtype not in WIDER:
        return False
    ndim = x.ndim
    if axes is None:
        axes = tuple(range(ndim))
    elif isinstance(axes, int) or (axes and min(axes) < 0):
        axes = tuple(sorted(i % ndim for i in ((axes,) if isinstance(axes, int) else axes)))
    terms = 1
    for i in axes:  # (a plain loop: this runs on every sum, and math.prod over a generator costs more)
        terms *= x.shape[i]
    if terms <= SHORT_SUM:
        return False
    return not (x.flags.c_contiguous and axes == tuple(range(ndim - len(axes), ndim)))


def wide_sum(x: Array, axes: int | tuple[int, ...] | None, keepdims: bool = False) -> Array:
    """``x.sum(axis=axes, keepdims=keepdims)`` in x's dtype (float16 accumulated in float32); where numpy would add
    the terms one at a time in float16 / float32 (``sums_in_order``), accumulated in float64 (a result past x's
    range is inf, as torch's, without numpy's warning on the cast; elsewhere numpy's warnings are the caller's)."""
    if not sums_in_order(x, axes):
        if x.dtype == numpy.float16:  # torch's float16 sums run in float32, short ones across rows too (numpy's
            with ignore_fp_errors(numpy):  # round each step to float16 there); one rounding at the end
                return x.sum(axis=axes, keepdims=keepdims, dtype=numpy.float32).astype(x.dtype, copy=False)
        out = plain_sum(x, axes, keepdims)
        if not overflowed(x, out):
            return out
    with ignore_fp_errors(numpy):
        return x.sum(axis=axes, keepdims=keepdims, dtype=numpy.float64).astype(x.dtype, copy=False)


def plain_sum(x: Array, axes: int | tuple[int, ...] | None, keepdims: bool) -> Array:
    """``x.sum(axis=axes, keepdims=keepdims)``; for numpy, its ``add.reduce`` called from here (the same result
    without ndarray.sum's Python wrapper), so an inf - inf warning comes from this package and its filter drops it
    (an errstate around each sum cost about 1 us)."""
    if isinstance(x, numpy.ndarray):
        return numpy.add.reduce(x, axis=axes, keepdims=keepdims)
    return x.sum(axis=axes, keepdims=keepdims)


def wide_mean(x: Array, axes: tuple[int, ...], keepdims: bool = False) -> Array:
    """The mean of floating ``x`` over ``axes`` as ``wide_sum`` adds (in float64 where numpy would add one term at a
    time), divided before the one rounding; nan over nothing, without numpy's warning (as torch)."""
    n = math.prod(x.shape[i] for i in axes)
    if n and not sums_in_order(x, axes):
        if x.dtype == numpy.float32 and isinstance(x, numpy.ndarray):  # (numpy's mean: the float32 sum over n)
            out = plain_sum(x, axes, keepdims) / n
        else:
            with ignore_fp_errors(numpy):
                out = x.mean(axis=axes, keepdims=keepdims)
        if not overflowed(x, out):
            return out
    with ignore_fp_errors(numpy):
        return (x.sum(axis=axes, keepdims=keepdims, dtype=numpy.float64) / n).astype(x.dtype, copy=False)


def overflowed(x: Array, out: Any) -> bool:
    """Whether ``out``, numpy's float32 sum (or mean) of ``x``, holds an inf or nan: the running sum of finite terms
    may have passed float32's range where the total does not (3e38 + 3e38 - 3e38; torch's order of additions keeps
    some such sums finite and loses others), so it is redone in float64, where it cannot overflow. (An inf or nan
    among the terms gives the same result there.) A float64 sum is numpy's; cupy's are left as they are (this
    check would wait for the device)."""
    if x.dtype != numpy.float32 or not isinstance(x, numpy.ndarray):
        return False
    return not (math.isfinite(out) if out.ndim == 0 else numpy.isfinite(out).all())


def mT(x: Array) -> Array:  # noqa: N802
    """The matrices of a batch (..., m, n) transposed -> (..., n, m), a view."""
    return x.swapaxes(-1, -2)


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}  # bool < integer < floating < complex


def promote_types(x: numpy.dtype | None, y: numpy.dtype | None) -> numpy.dtype | None:
    """torch.promote_types: within a category as numpy, across categories the higher category's type
    (int64 with float32 is float32; numpy would say float64)."""
    if x is None or y is None or x == y:
        return y if x is None else x
    cx, cy = _CATEGORY[x.kind], _CATEGORY[y.kind]
    return numpy.promote_types(x, y) if cx == cy else x if cx > cy else y


def _combine(higher: numpy.dtype | None, lower: numpy.dtype | None) -> numpy.dtype | None:
    """torch's combine_categories: a lower-priority operand only matters when its category is higher."""
    if higher is None:
        return lower
    if lower is None or (_CATEGORY[higher.kind] >= 2 and _CATEGORY[higher.kind] >= _CATEGORY[lower.kind]):
        return higher
    if higher.kind == "b" or _CATEGORY[lower.kind] > _CATEGORY[higher.kind]:
        return promote_types(higher, lower)
    return higher


def result_type(*xs: TensorLike) -> numpy.dtype:
    """The dtype PyTorch gives an op on ``xs``: tensors with dimensions decide, then 0-d tensors, then Python
    numbers (a float one as float32, the default dtype; an int one as int64), each group only where it is of a
    higher category (bool < int < float) than the groups before it."""
    dims = zeros = numbers = None
    for x in xs:
        if isinstance(x, Tensor):
            if x.ndim:
                dims = promote_types(dims, x.dtype)
            else:
                zeros = promote_types(zeros, x.dtype)
        else:
            if not (isinstance(x, numpy.uint64) and x >= 2 ** 63):  # (bitwise ops' uint64 numbers stay so)
                x = python_number(x)  # (a numpy scalar: the Python number torch reads it as)
            kind = numpy.dtype(bool) if isinstance(x, bool) else numpy.dtype(numpy.int64) if isinstance(x, int) \
                else numpy.dtype(DEFAULT_FLOAT) if isinstance(x, float) else numpy.asarray(x).dtype
            numbers = promote_types(numbers, kind)
    return _combine(dims, _combine(zeros, numbers))


def _operand(op: str, x: Any, other: Any, like: Tensor | None) -> Any:
    """One operand of ``operands``' slow path: a Tensor or a Python number as it is, a sparse COO matrix's dense form
    (sparse.py), anything else (an array, a list) a tensor of its own dtype."""
    if isinstance(x, (Tensor, int, float)):
        return x
    if hasattr(type(x), "dense_operand"):
        return x.dense_operand(op, other)
    return as_tensor(x, like=like)


def operands(op: str, a: TensorLike, b: TensorLike, floating: bool = False) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors of one dtype (PyTorch's type promotion; float32 for integers when ``floating``) on
    one device with broadcastable shapes."""
    if isinstance(a, Tensor) and isinstance(b, (int, float)) and a._data.dtype.kind == "f":  # the common fast paths:
        return a, number(b, a._data.dtype, a)  # a number becomes a 0-d tensor on a's device (so it broadcasts)
    if isinstance(b, Tensor) and isinstance(a, (int, float)) and b._data.dtype.kind == "f":
        return number(a, b._data.dtype, b), b
    if not (isinstance(a, Tensor) and isinstance(b, Tensor) and a._data.dtype == b._data.dtype):
        like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
        if like is None:  # two non-tensors: the first becomes one (float32 for lists)
            if isinstance(a, (int, float, complex, numpy.generic)):  # (as_tensor(2) would be the sizes (2,))
                raise TypeError(f"{op}: needs a Tensor operand, got {type(a).__name__} and {type(b).__name__} "
                                "(as torch)")
            a = like = as_tensor(a)
        # arrays and lists become tensors of their own dtype; numbers (numpy's scalars among them) stay numbers
        # until the dtype is known
        a, b = (python_number(x) for x in (a, b))
        a, b = (_operand(op, x, y, like) for x, y in ((a, b), (b, a)))
        dtype = result_type(a, b)
        if floating and dtype.kind not in "fc":  # straight to float32, as torch: a number need not fit the int type
            dtype = numpy.dtype(DEFAULT_FLOAT)
        if dtype.kind in "iu":  # a Python int wraps into the dtype, as torch's arithmetic casts it
            a, b = (wrap_int(x, dtype) if type(x) is int else x for x in (a, b))
        a, b = cast(a, dtype, like), cast(b, dtype, like)
    if floating and a._data.dtype.kind not in "fc":
        a, b = astype(a, DEFAULT_FLOAT), astype(b, DEFAULT_FLOAT)
    check_devices(op, a, b)
    if a._data.shape != b._data.shape:
        broadcast_shape(op, a._data.shape, b._data.shape)
    return a, b


def python_number(x: Any) -> Any:
    """A real numpy scalar as the Python number torch reads it as (int32 + float16(0.5) is float32, as for 0.5; a
    numpy bool reads as a float there: int64 + bool_(True) is float32); anything else unchanged."""
    if not isinstance(x, numpy.generic) or x.dtype.kind not in "biuf":
        return x
    return float(x) if x.dtype.kind == "b" else x.item()


def wrap_int(x: int, dtype: numpy.dtype) -> int:
    """``x`` as the ``dtype`` integer torch's arithmetic casts it to: two's complement wrap-around (``int8 + 300`` is
    ``int8 + 44``, ``uint8 * -1`` is ``uint8 * 255``); outside [-2**63, 2**64), where torch refuses it, unchanged
    (numpy refuses it too)."""
    if not -(2 ** 63) <= x < 2 ** 64:
        return x
    bits = 8 * dtype.itemsize
    x &= (1 << bits) - 1
    return x - (1 << bits) if dtype.kind == "i" and x >> (bits - 1) else x


def cast(x: TensorLike, dtype: numpy.dtype, like: Tensor) -> Tensor:
    """A Tensor of ``dtype``: a Python number made on ``like``'s device, a Tensor cast (differentiably)."""
    if not isinstance(x, Tensor):
        return number(x, dtype, like)
    return x if x.dtype == dtype else astype(x, dtype)


def number(x: int | float | bool, dtype: numpy.dtype, like: Tensor) -> Tensor:
    """A Python number as a 0-d constant of ``dtype`` on ``like``'s device (on the CPU without Tensor()'s checks:
    this is on the path of every ``tensor * 2.0``)."""
    if backend.device_of(like._data) == "cpu":
        return constant(numpy.asarray(x, dtype=dtype))
    return Tensor(like.xp.asarray(x, dtype=dtype), device=like.device)


def floating(a: Tensor) -> Tensor:
    """``a`` itself when floating, else cast to float32: math functions of integer tensors give the default
    float dtype, as in PyTorch (numpy would give float64, or float16 for int8)."""
    return a if a.dtype.kind in "fc" else astype(a, DEFAULT_FLOAT)


def add(a: TensorLike, b: TensorLike) -> Tensor:
    a, b = operands("add", a, b)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        return (unbroadcast(g, a.shape) if ra else None, unbroadcast(g, b.shape) if rb else None)
    out = record("add", a._data + b._data, (a, b), backward)
    ra, rb = a.requires_grad, b.requires_grad  # (after record, which may regenerate a stale view operand; kept:
    return out  # a later in-place fill may turn them off, and the gradient still goes to the graph before it)


def check_sub_operands(a: TensorLike, b: TensorLike) -> None:
    """torch refuses to subtract with a bool tensor or number (a TypeError)."""
    for x in (a, b):  # (a plain loop: on the path of every subtraction, any() of a generator costs 0.5 us more)
        if isinstance(x, bool) or (isinstance(x, Tensor) and x._data.dtype.kind == "b"):
            from .factor import DtypeError  # (here: factor imports this module)
            raise DtypeError("sub: subtracting a bool tensor or value is not supported (as in PyTorch); to invert a "
                            "mask use logical_not, or convert with .astype() first")


def sub(a: TensorLike, b: TensorLike) -> Tensor:
    check_sub_operands(a, b)
    a, b = operands("sub", a, b)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        return (unbroadcast(g, a.shape) if ra else None, unbroadcast(-g, b.shape) if rb else None)
    out = record("sub", a._data - b._data, (a, b), backward)
    ra, rb = a.requires_grad, b.requires_grad  # (after record, which may regenerate a stale view operand; kept:
    return out  # a later in-place fill may turn them off, and the gradient still goes to the graph before it)


def half_opmath(a: TensorLike, b: TensorLike) -> tuple[TensorLike, TensorLike] | None:
    """torch's float16 ``a * b``, ``a / b``, ``a // b`` by a scalar ``b`` (a number, or a 0-d tensor of another
    dtype) compute in float32 with the scalar's own value as a float32, then round once ("opmath": ``float16 [1.1] *
    0.1`` is 0.10999, not 1.1 times float16(0.1)). Returns (a, b) with the float16 tensor as float32 for that case,
    else None. A number first (``torch.mul(1e30, x)``) is cast to float16 first, as torch's (1e30 becomes inf, and
    times 0 nan); ``1e30 * x`` comes through ``__rmul__`` as ``mul(x, 1e30)``."""
    if not isinstance(a, Tensor) or a._data.dtype.char != "e" or isinstance(b, (bool, numpy.bool_)):
        return None  # (the hot path: not float16)
    number = isinstance(b, (int, float, numpy.number))  # a numpy scalar too, as torch reads one (float32(1e-9))
    if not (number or (isinstance(b, Tensor) and b.ndim == 0 and b.dtype != numpy.float16)):
        return None
    if result_type(a, b) != numpy.float16:
        return None
    return astype(a, numpy.float32), b


def mul(a: TensorLike, other: TensorLike) -> Tensor:
    if (wide := half_opmath(a, other)) is not None:
        return astype(mul(*wide), numpy.float16)
    a, b = operands("mul", a, other)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        return (unbroadcast(g * b._data, a.shape) if ra else None, unbroadcast(g * a._data, b.shape) if rb else None)
    out = record("mul", a._data * b._data, (a, b), backward)
    ra, rb = a.requires_grad, b.requires_grad  # (as add's: tensor.reads_input)
    return out


def div(a: TensorLike, other: TensorLike) -> Tensor:
    if (wide := half_opmath(a, other)) is not None:
        return astype(div(*wide), numpy.float16)
    a, b = operands("div", a, other, floating=True)  # true division: integers give float32, as in PyTorch

    out = a._data / b._data

    def backward(g: Array) -> tuple[Array | None, Array | None]:  # as PyTorch: g / b and -g (a / b) / b, a / b
        return (unbroadcast(g / b._data, a.shape) if ra else None,  # recomputed (out may be written)
                unbroadcast(-g * (a._data / b._data / b._data), b.shape) if rb else None)
    out = record("div", out, (a, b), backward)
    ra, rb = a.requires_grad, b.requires_grad  # (as add's: tensor.reads_input)
    return out


def rdiv(x: Tensor, other: TensorLike) -> Tensor:
    """``other / x`` with ``x`` on the right (``Tensor.__rtruediv__``). A Python number divides as torch's does:
    ``x.reciprocal() * other``, so the quotient is rounded twice (``3 / x`` can differ from ``div(3, x)`` by an ulp,
    and ``0 / 1e-45`` is nan, not 0)."""
    if type(other) not in (int, float):  # (bool, complex, arrays: true division)
        return div(other, x)
    xd = x._data
    if xd.dtype.char in "fd":  # float32 / float64: torch's two ops, reciprocal's gradient -g r^2
        rd = x.xp.divide(xd.dtype.type(1), xd)  # (numpy's floating-point warnings are off, as for div)
        r = record("reciprocal", rd, (x,), lambda g: (-g * (rd * rd),))
        return mul(r, other)  # (1 / x too: its result is not the r the gradient reads, so it may be written in place)
    r = div(1, x)  # 1 / x is the correctly rounded reciprocal (float16: in float32, rounded once)
    return r if other == 1 else mul(r, other)


def remainder(a: TensorLike, b: TensorLike) -> Tensor:
    """Floating ``a % b`` with the sign of ``b``, as torch: fmod(a, b), plus b where the two signs differ (exact
    even where a / b is huge; 5 % inf is 5, -5 % inf is inf, -0 % 3 is -0). The gradient is 1 for a and
    -floor(a / b) for b, with torch's floor division (-5 // inf is -1)."""
    a, b = operands("remainder", a, b, floating=True)
    xp = a.xp
    with ignore_fp_errors(xp):  # (a zero divisor: nan)
        out = xp.fmod(a._data, b._data)
        out = xp.where((out != 0) & ((b._data < 0) != (out < 0)), out + b._data, out)
    return _modulo("remainder", a, b, out, xp.floor_divide)


def fmod(a: TensorLike, b: TensorLike) -> Tensor:
    """Floating C fmod: a - trunc(a / b) b, exactly, with the sign of ``a`` (5 fmod -3 is 2, -5 fmod inf is -5,
    x fmod 0 is nan). The gradient is 1 for a and -trunc(a / b) for b, as torch's."""
    a, b = operands("fmod", a, b, floating=True)
    xp = a.xp
    with ignore_fp_errors(xp):
        out = xp.fmod(a._data, b._data)
    return _modulo("fmod", a, b, out, lambda x, y: xp.trunc(x / y))


def _modulo(op: str, a: Tensor, b: Tensor, out: Array, quotient: Any) -> Tensor:
    """Record ``out`` = a - quotient(a, b) b (the rounded quotient of remainder or fmod): the gradient is g for a
    and -g quotient(a, b) for b."""
    def backward(g: Array) -> tuple[Array | None, Array | None]:
        with ignore_fp_errors(a.xp):
            return (unbroadcast(g, a.shape) if a.requires_grad else None,
                    unbroadcast(-g * quotient(a._data, b._data), b.shape) if b.requires_grad else None)
    return record(op, out, (a, b), backward)


def pow(a: TensorLike, b: TensorLike) -> Tensor:  # noqa: A001 - named after the operator
    a, b = python_number(a), python_number(b)  # numpy's scalars read as the Python numbers they are, as torch's
    if ((isinstance(a, Tensor) and a.dtype == numpy.bool_) or (isinstance(b, Tensor) and b.dtype == numpy.bool_)) \
            and result_type(a, b) == numpy.bool_:  # torch: a bool tensor ** True is itself, ** False all True
        if isinstance(a, Tensor) and isinstance(b, bool):  # (numpy's int8 was silently another dtype); the
            return record("pow", a._data | numpy.bool_(not b), (a,), lambda g: (None,))  # others raise there
        from .factor import KernelDtypeError
        raise KernelDtypeError("pow: not implemented for bool tensors (as torch); convert with .long() first")
    exponent = float(b) if isinstance(b, (int, float)) else None  # a Python number: torch's scalar pow (see power)
    if type(b) is int and isinstance(a, Tensor) and a.dtype.kind in "biu":  # an int exponent the dtype cannot hold
        from .factor import ArgumentError  # or a negative one: torch refuses it (a number base wraps around, as
        if b < 0:  # in + - *)
            raise ArgumentError(f"pow: an integer tensor ({a.dtype}) to a negative integer power ({b}) is not "
                                f"defined (as in torch); convert to a float first, e.g. x.double() ** {b}")
        info = numpy.iinfo(a.dtype if a.dtype.kind != "b" else numpy.int64)
        if not info.min <= b <= info.max:
            raise ArgumentError(f"pow: the exponent {b} does not fit the tensor's dtype {a.dtype} (as torch); convert "
                                f"the tensor first, e.g. x.long() or x.double()")
    if isinstance(a, Tensor) and a.dtype == numpy.float16:  # (torch converts a float32 one's in float64)
        check_fits("pow", b, a.dtype)
    a, b = operands("pow", a, b)
    with ignore_fp_errors(a.xp):  # overflow to inf, 0 ** -1 = inf, sqrt(-1) = nan: silent, as torch's
        out = power(a._data, b._data, exponent)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        xp, zero = a.xp, out.dtype.type(0)
        ga = gb = None
        with ignore_fp_errors(xp):
            if a.requires_grad:  # d(a^b)/da = b a^(b-1), taken as 0 where b == 0 (even at a = 0), as PyTorch does,
                # and grouped as PyTorch's g * (b a^(b-1)), so a huge g and b meeting a^(b-1) = 0 give 0, not inf * 0;
                # a^(b-1) is torch's pow with the exponent b - 1 (a number b = 1.5: sqrt, so -inf gives nan)
                lower = power(a._data, b._data - 1, None if exponent is None else exponent - 1)
                ga = unbroadcast(xp.where(b._data == 0, zero, g * (b._data * lower)), a.shape)
            if b.requires_grad:  # d(a^b)/db = a^b log a, taken as 0 where a == 0 and b >= 0 (nan for a < 0);
                # multiplied by g (an inf g there gives nan), as PyTorch does
                gb = unbroadcast(g * xp.where((a._data == 0) & (b._data >= 0), zero, out * xp.log(a._data)), b.shape)
        return ga, gb
    return record("pow", out, (a, b), backward)


def power(x: Array, e: Array, number: float | None = None) -> Array:
    """x ** e as torch's pow. With a Python number exponent (``number``, e its 0-d array) torch takes 0.5 as sqrt and
    -0.5 as rsqrt, which differ from C's pow at -0 and -inf (sqrt(-inf) is nan, rsqrt(-0) -inf); a tensor exponent
    is C's pow throughout (0.5 included: pow(-inf, 0.5) is inf). numpy's ``**`` takes a 0-d or broadcast 0.5 as sqrt
    when x is an array but not when it is a numpy scalar (a 0-d result: FUZZ_SEED=7414977), so neither is left to it
    (FUZZ_SEED=467370)."""
    xp = backend.get_array_module(x)
    if number in (0.5, -0.5) and x.dtype == numpy.float16:  # torch's float16 kernel is pow in float32, rounded
        root = x.astype(numpy.float32)  # once: (-0) ** 0.5 is 0 and (-inf) ** 0.5 inf there, not sqrt's -0 and nan
        root = xp.where(xp.isneginf(root), numpy.float32(numpy.inf), xp.abs(xp.sqrt(root)))
        return (root if number == 0.5 else 1 / root).astype(numpy.float16)
    if number == 0.5:
        return xp.sqrt(x)
    if number == -0.5:
        return 1 / xp.sqrt(x)
    if number in (3, -2) and x.dtype in (numpy.float32, numpy.float64):  # torch's kernel multiplies out these
        return x * x * x if number == 3 else 1 / (x * x)  # two (C's pow differs by an ulp in a quarter of them)
    if number is None and bool((e == 0.5).any()):  # C's pow on full operands (no sqrt shortcut there)
        shape = numpy.broadcast_shapes(numpy.shape(x), numpy.shape(e))
        flat = [xp.ascontiguousarray(xp.broadcast_to(v, shape)).reshape(-1) for v in (x, e)]
        return xp.power(*flat).reshape(shape)
    if number is None and e.dtype.kind == "i" and bool((e < 0).any()):  # integers to negative tensor exponents:
        negative = e < 0  # torch's integer rule, 1 ** e = 1, (-1) ** e = +-1 by e's parity, 0 for any other base
        ones = (x == 1) | (x == -1)  # (numpy refuses them; a number exponent < 0 is refused by torch too)
        return xp.where(negative, xp.where(ones, x ** (e & 1), 0), x ** xp.where(negative, 0, e)).astype(x.dtype)
    return x ** e


def neg(a: Tensor) -> Tensor:
    try:
        out = -a._data
    except TypeError:  # numpy's for a bool array (no check on the path of every negation)
        from .factor import DtypeError
        raise DtypeError("neg: unary - is refused for bool tensors (as in torch); use ~x or logical_not to "
                         "invert a mask") from None
    return record("neg", out, (a,), lambda g: (-g,))


def exp(a: Tensor) -> Tensor:
    a = floating(a)
    out = a.xp.exp(a._data)
    return record("exp", out, (a,), lambda g: (g * out,))


def log(a: Tensor) -> Tensor:
    a = floating(a)
    return record("log", a.xp.log(a._data), (a,), lambda g: (g / a._data,))


def sqrt(a: Tensor) -> Tensor:
    a = floating(a)
    out = a.xp.sqrt(a._data)
    return record("sqrt", out, (a,), lambda g: (g / (2 * out),))


def tanh(a: Tensor) -> Tensor:
    a = floating(a)
    out = a.xp.tanh(a._data)
    if out.dtype == numpy.float16:  # torch's backward: g (1 - y^2) in float32, rounded once (in float16 0.6% off)
        y = out.astype(numpy.float32)
        return record("tanh", out, (a,), lambda g: ((g.astype(numpy.float32) * (1 - y * y)).astype(numpy.float16),))
    return record("tanh", out, (a,), lambda g: (g * (1 - out * out),))


def sigmoid_array(x: Array) -> Array:
    """1 / (1 + exp(-x)): accurate for all x (exp(-x) overflows to inf below about -88 in float32, which gives
    the right limit 0); four passes over ``x``, one new array. float16 computes in float32 and rounds once, as
    torch (in float16 exp(-x) overflows below -11.1, which would lose the subnormal results)."""
    if x.dtype == numpy.float16:
        return sigmoid_array(x.astype(numpy.float32)).astype(numpy.float16)
    xp = backend.get_array_module(x)
    d = xp.negative(x, out=xp.empty_like(x))  # out=: a 0-d input would otherwise give a scalar
    with ignore_overflow(xp):
        xp.exp(d, out=d)
    d += 1
    return xp.reciprocal(d, out=d)


def ignore_overflow(xp: Any) -> Any:
    """numpy's errstate(over="ignore") (cupy never warns)."""
    return xp.errstate(over="ignore") if hasattr(xp, "errstate") else contextlib.nullcontext()


def ignore_fp_errors(xp: Any) -> Any:
    """numpy's errstate(all="ignore"), where infs and nans are expected (torch never warns; cupy neither)."""
    return xp.errstate(all="ignore") if hasattr(xp, "errstate") else contextlib.nullcontext()


def log1p_small(e: Array) -> Array:
    """log(1 + e) for 0 <= e <= 1, to a few ulps: log(u) of u = 1 + e, corrected by the rounding error of u.

    u - 1 - e is exactly that rounding error (e <= 1), and log(1 + e) = log(u) - (u - 1 - e) / u to second
    order. On the CPU this beats numpy's float32 ``log1p``, which is not vectorised (about 4x slower than log).
    """
    xp = backend.get_array_module(e)
    if backend.device_of(e) != "cpu":
        return xp.log1p(e)
    u = xp.add(e, 1, out=xp.empty_like(e))
    err = u - 1
    err -= e
    err /= u
    out = xp.log(u, out=u)
    out -= err
    return out


def exp_neg_abs(x: Array) -> Array:
    """exp(-|x|), in (0, 1]: the part of softplus and of the logistic loss that can never overflow."""
    xp = backend.get_array_module(x)
    e = xp.abs(x, out=xp.empty_like(x))
    xp.negative(e, out=e)
    return xp.exp(e, out=e)


def sigmoid(a: Tensor) -> Tensor:
    """1 / (1 + exp(-x)); backward g (1 - s) s, in torch's order (so float16's is torch's, bit for bit)."""
    a = floating(a)
    out = sigmoid_array(a._data)
    return record("sigmoid", out, (a,), lambda g: (g * (1 - out) * out,))


def masked(g: Array, factor: Array) -> Array:
    """g * factor, where ``factor`` (bool, or 0 / 0.5 / 1) is 0 gives 0 even for an inf or nan g, as PyTorch's
    masked gradients do. A multiply is fast; numpy's where (slow on a random mask) runs only for a non-finite g."""
    xp = backend.get_array_module(g)
    out = g * factor
    if out.dtype != g.dtype:
        out = out.astype(g.dtype)
    if not bool(xp.isfinite(g).all()):
        out = xp.where(factor != 0, out, g.dtype.type(0))
    return out


def passed(g: Array, mask: Array) -> Array:
    """g where the bool ``mask`` holds, else +0 (never -0, and 0 for an inf or nan g): torch's gradients made by
    ``where`` / ``masked_fill`` (relu, clamp, maximum). On the CPU the zeros are written by clearing the bits
    (g & -mask), which costs less than ``masked``'s multiply and finiteness check."""
    bits = UNSIGNED.get(g.dtype.itemsize)
    if bits is None or not isinstance(g, numpy.ndarray) or not isinstance(mask, numpy.ndarray) or \
            g.dtype.kind != "f":
        return backend.get_array_module(g).where(mask, g, g.dtype.type(0))
    ones = numpy.negative(mask, dtype=bits)  # True -> all bits set, False -> 0
    out = numpy.bitwise_and(g.view(bits), ones, out=ones if ones.shape == g.shape else None)
    return out.view(g.dtype)


def relu(a: Tensor) -> Tensor:
    """x unless x < 0, as torch (so -0 stays -0 and nan passes; numpy's maximum(-0, 0) may give +0: the fuzzer's
    FUZZ_SEED=763008); the gradient passes where x > 0 or x is nan."""
    if a._data.dtype.kind == "b":
        from .factor import DtypeError
        raise DtypeError("relu: bool tensors are not supported (as in torch); convert with .float() first")
    mask = ~(a._data <= 0)
    return record("relu", backend.relu(a._data), (a,), lambda g: (passed(g, mask),))


def softplus_array(x: Array, beta: float = 1.0) -> Array:
    """log(1 + exp(beta x)) / beta, stable for large |x|: max(x, 0) + log1p(exp(-|beta x|)) / beta (for beta > 0;
    max(x, 0) is not divided by beta, so beta x may overflow without harm)."""
    xp = backend.get_array_module(x)
    with ignore_overflow(xp):
        out = log1p_small(exp_neg_abs(x * beta if beta != 1 else x))
    if beta != 1:
        out /= beta
    return xp.where((x > 0) if beta > 0 else (x < 0), out + x, out)  # not out + 0 there: it would turn -0 into +0


def exp_ratio(x: Array) -> Array:
    """exp(x) / (exp(x) + 1), torch's softplus gradient (sigmoid(x), x of any shape): unlike sigmoid's
    1 / (1 + exp(-x)), it keeps the subnormal results below x = -87 in float32 (so inf * it is inf, not nan); 1 where
    exp(x) overflows (torch: nan)."""
    xp = backend.get_array_module(x)
    with ignore_overflow(xp):
        z = xp.exp(x, out=xp.empty_like(x))  # out=: a 0-d input would otherwise give a scalar
    big = z == xp.inf
    z[big] = 0  # not inf / inf, which warns
    z /= z + 1
    z[big] = 1
    return z


def softplus(a: Tensor, beta: float = 1.0, threshold: float | None = None) -> Tensor:
    """log(1 + exp(beta x)) / beta, exact everywhere; with a ``threshold`` (torch's, 20 by default there), x itself
    and gradient 1 where beta x > threshold, as torch.nn.functional.softplus. float16 computes in float32 (opmath)."""
    if (wide := half_opmath(a, beta)) is not None:
        return astype(softplus(wide[0], beta, threshold), numpy.float16)
    a = floating(a)
    out = softplus_array(a._data, beta)
    linear = None if threshold is None else a._data * beta > threshold
    if linear is not None:
        out = a.xp.where(linear, a._data, out)

    def backward(g: Array) -> tuple[Array]:
        s = exp_ratio(a._data * beta if beta != 1 else a._data)
        if threshold is not None:  # (linear is set too; the closure keeps threshold for the double backward)
            s[linear] = 1
        s *= g
        return (s,)
    return record("softplus", out, (a,), backward)


def abs(a: Tensor) -> Tensor:  # noqa: A001
    if a.dtype == bool:
        from .factor import KernelDtypeError
        raise KernelDtypeError("abs: not implemented for bool tensors (as in torch); convert with .int() first")

    def backward(g: Array) -> tuple[Array]:  # g * sign(a), with sign(nan) = 0 as in PyTorch (numpy's is nan)
        sign = (a._data > 0).astype(g.dtype)
        sign -= a._data < 0
        return (g * sign,)
    return record("abs", a.xp.abs(a._data), (a,), backward)


def clip(a: Tensor, lo: TensorLike | None = None, hi: TensorLike | None = None) -> Tensor:
    """torch.clamp: max(a, lo), then min(., hi), in the dtype torch promotes a and the bounds to; each bound is a
    number, a Tensor that broadcasts, or None. So hi wins where lo > hi, and a nan in a or in a bound gives nan.
    The gradient reaches a where lo <= a <= hi, lo where a < lo < hi, hi where a > hi or hi < lo (torch's rule: a
    tie with a bound is inside, not split as in maximum)."""
    dtype = result_type(a, *(b for b in (lo, hi) if b is not None))
    if dtype.kind == "b" and not isinstance(lo if hi is None else hi if lo is None else None, Tensor):
        from .factor import KernelDtypeError  # torch's bool clamp takes one bound only, a tensor
        raise KernelDtypeError("clamp: on bool values only a single bound given as a tensor works (as in torch), "
                               "not a number or both bounds; convert with .long() first")
    lo, hi = (check_fits("clamp", b, dtype) for b in (lo, hi))
    a = cast(a, dtype, a)
    lo_t, hi_t = (None if b is None else cast(b, dtype, a) for b in (lo, hi))
    x, xp = a._data, a.xp
    out = x  # x unless it is outside, as torch, so -0 stays -0 at a bound of 0 (FUZZ_SEED=495316)
    for b, outside in ((lo_t, xp.less), (hi_t, xp.greater)):
        if b is not None:
            check_devices("clamp", a, b)
            if b.shape != out.shape:
                broadcast_shape("clamp", out.shape, b.shape)
            take = outside(out, b._data)
            if b.dtype.kind == "f" and (b.ndim or bool(b._data != b._data)):  # a nan bound gives nan
                take = take | (b._data != b._data)
            out = xp.where(take, b._data, out)
    if out is x:  # no bound: still an array of its own
        out = x.copy()

    def backward(g: Array) -> tuple[Array | None, ...]:
        lo_d, hi_d = (None if b is None else b._data for b in (lo_t, hi_t))
        if lo_d is None:
            inside = x <= hi_d
        elif hi_d is None:
            inside = x >= lo_d
        else:
            inside = (x >= lo_d) & (x <= hi_d)
        grads = [unbroadcast(passed(g, inside), a.shape) if a.requires_grad else None]
        if lo_t is not None:
            below = x < lo_d if hi_d is None else (x < lo_d) & (lo_d < hi_d)
            grads.append(unbroadcast(passed(g, below), lo_t.shape) if lo_t.requires_grad else None)
        if hi_t is not None:
            above = x > hi_d if lo_d is None else (x > hi_d) | (hi_d < lo_d)
            grads.append(unbroadcast(passed(g, above), hi_t.shape) if hi_t.requires_grad else None)
        return tuple(grads)
    return record("clip", out, tuple(t for t in (a, lo_t, hi_t) if t is not None), backward)


def maximum(a: TensorLike, other: TensorLike) -> Tensor:
    """Elementwise max (nan if either is nan); on ties the gradient is split evenly between the two."""
    return _select("maximum", a, other, lambda x, y: x < y)


def minimum(a: TensorLike, other: TensorLike) -> Tensor:
    """Elementwise min (nan if either is nan); on ties the gradient is split evenly between the two."""
    return _select("minimum", a, other, lambda x, y: x > y)


def _select(op: str, a: TensorLike, b: TensorLike, a_loses: Any) -> Tensor:
    """PyTorch's rule: each side gets g where it wins, g/2 on a tie, and g where the other is nan (both do)."""
    a, b = operands(op, a, b)
    xp = a.xp
    out = getattr(xp, op)(a._data, b._data)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        half = (a._data == b._data).astype(g.dtype)
        half *= -0.5
        half += 1  # 0.5 on ties, 1 elsewhere
        g = g * half  # (both sides' share; each keeps it where it does not lose)
        return (unbroadcast(passed(g, ~a_loses(a._data, b._data)), a.shape) if a.requires_grad else None,
                unbroadcast(passed(g, ~a_loses(b._data, a._data)), b.shape) if b.requires_grad else None)
    return record(op, out, (a, b), backward)


def where(cond: TensorLike, a: TensorLike, b: TensorLike) -> Tensor:
    """``a`` where ``cond`` holds, else ``b``; the gradient goes to the chosen side. Two Python numbers give torch's
    dtype (int64 for two ints, bool for two bools, float32 with a float)."""
    a, b = python_number(a), python_number(b)  # numpy's scalars as the Python numbers torch reads them as
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        if complex in (type(a), type(b)):  # (torch would make a complex tensor)
            refuse_complex(numpy.dtype(complex))
        if all(isinstance(x, (int, float)) for x in (a, b)):
            like = cond if isinstance(cond, Tensor) else None
            a = as_tensor(numpy.asarray(a, dtype=result_type(a, b)), like=like)
    for x in (a, b):  # a number beside an integer tensor must fit its dtype, as torch checks (300 for uint8 raises)
        if isinstance(x, (int, float)) and not isinstance(x, bool) and (dtype := result_type(a, b)).kind in "iu":
            check_fits("where", x, dtype)
    a, b = operands("where", a, b)
    c = cond._data if isinstance(cond, Tensor) else a.xp.asarray(cond)
    if isinstance(cond, Tensor):
        check_devices("where", cond, a)
    shape = a.shape if a.shape == b.shape else broadcast_shape("where", a.shape, b.shape)
    if c.shape != shape:
        broadcast_shape("where", c.shape, shape)
    out = select(c, a._data, b._data)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        zero = a.xp.zeros((), g.dtype)
        return (unbroadcast(select(c, g, zero), a.shape) if a.requires_grad else None,
                unbroadcast(select(c, zero, g), b.shape) if b.requires_grad else None)
    return record("where", out, (a, b), backward)


SELECT_SIZE = 16384  # select's bit operations beat numpy's where from about this many elements (measured)
UNSIGNED = {1: numpy.uint8, 2: numpy.uint16, 4: numpy.uint32, 8: numpy.uint64}


def select(c: Array, a: Array, b: Array) -> Array:
    """``xp.where(c, a, b)``: a where c holds, else b, all broadcast together. For a bool c and a, b of one dtype on
    the CPU, as bit operations on the values' bits, b ^ ((a ^ b) & -c): the same bits, but no branch per element
    (numpy's where mispredicts on a random mask, 4 ns an element; this takes 0.4, and 0.3 on an attention mask)."""
    bits = UNSIGNED.get(a.dtype.itemsize)
    if bits is None or a.dtype != b.dtype or c.dtype != numpy.bool_ or c.size * a.size * b.size < SELECT_SIZE \
            or backend.device_of(a) != "cpu":  # (the product bounds the broadcast size: small calls stay cheap)
        return backend.get_array_module(a).where(c, a, b)
    shape = numpy.broadcast_shapes(c.shape, a.shape, b.shape)
    if math.prod(shape) < SELECT_SIZE or not shape:
        return numpy.where(c, a, b)
    a_bits, b_bits = a.view(bits), b.view(bits)
    every_bit = numpy.negative(c, dtype=bits)  # True -> all ones
    out = numpy.bitwise_xor(a_bits, b_bits)
    out = numpy.bitwise_and(out, every_bit, out=out if out.shape == shape else None)
    numpy.bitwise_xor(out, b_bits, out=out)
    return out.view(a.dtype)


def compare(a: TensorLike, b: TensorLike, name: str) -> Tensor:
    """``a <name> b`` (less, equal, ...) as a bool Tensor; never part of a graph."""
    a, b = operands(name, a, b)
    return Tensor(getattr(a.xp, name)(a._data, b._data), device=a.device)


_HALF, _DOUBLE = numpy.dtype(numpy.float16), numpy.dtype(numpy.float64)


def cast_array(x: Array, dtype: Any) -> Array:
    """``x.astype(dtype)`` as torch converts: float64 to float16 through float32 (torch's Half is made from a float,
    so it rounds twice: 1 + 2**-11 + 2**-40 is 1.0 there, 1.001 by numpy's direct rounding)."""
    if x.dtype == _DOUBLE and numpy.dtype(dtype) == _HALF:
        x = x.astype(numpy.float32)
    return x.astype(dtype)


def astype(a: Tensor, dtype: Any) -> Tensor:
    """Cast (:func:`cast_array`); the gradient is cast back to the input's dtype. Values beyond the target's range
    become inf without numpy's overflow warning (torch casts silently)."""
    src, xp = a.dtype, a.xp
    with ignore_fp_errors(xp):
        out = cast_array(a._data, dtype)
    refuse_complex(out.dtype)

    def backward(g: Array) -> tuple[Array]:
        with ignore_fp_errors(xp):
            return (cast_array(g, src),)
    return record("astype", out, (a,), backward)
