"""Bitwise ops against torch 2.13: bitwise_and / or / xor / not / left_shift / right_shift as functions, methods,
in-place methods and operators (``& | ^ ~ << >>``, reflected ``3 & t``, in place ``&=``), on bool and integer tensors
of every torch integer dtype with Python ints and bools on either side and 0-d tensors: torch's type promotion, its
values for shift amounts past the width and negative ones, wrap-around of scalars, broadcasting, empty tensors, and
the errors for floating operands (never a gradient).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

DTYPES = [np.dtype(d) for d in (np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64)]
FLOATS = [np.dtype(np.float32), np.dtype(np.float64)]
TORCH_ERRORS = (TypeError, ValueError, RuntimeError, NotImplementedError, OverflowError)
OUR_ERRORS = (TypeError, ValueError, RuntimeError)
LOGIC = ["bitwise_and", "bitwise_or", "bitwise_xor"]
SHIFTS = ["bitwise_left_shift", "bitwise_right_shift"]
BINARY = LOGIC + SHIFTS
OPERATOR = {"bitwise_and": operator.and_, "bitwise_or": operator.or_, "bitwise_xor": operator.xor,
            "bitwise_left_shift": operator.lshift, "bitwise_right_shift": operator.rshift}
IN_PLACE = {"bitwise_and": operator.iand, "bitwise_or": operator.ior, "bitwise_xor": operator.ixor,
            "bitwise_left_shift": operator.ilshift, "bitwise_right_shift": operator.irshift}
# Python ints: small shift amounts, the edges of every width, and beyond int64 up to 2**64 (torch's uint64 numbers)
EDGES = [s * 2 ** b + d for b in (7, 8, 15, 16, 31, 32, 63) for s in (1, -1) for d in (-1, 0, 1)] + [2 ** 64 - 1]
SCALARS = st.booleans() | st.integers(-70, 70) | st.sampled_from(EDGES) | st.integers(-(2 ** 63), 2 ** 64 - 1)


def values(dtype: np.dtype) -> st.SearchStrategy:
    """Any value of ``dtype``, with the small ones (shift amounts about the widths) and the extremes often."""
    if dtype.kind == "b":
        return st.booleans()
    info = np.iinfo(dtype)
    return st.integers(max(info.min, -70), min(info.max, 70)) | st.sampled_from([info.min, info.max]) | \
        st.integers(info.min, info.max)


def tensors(dtype: np.dtype, shape: tuple[int, ...]) -> st.SearchStrategy:
    elements = values(dtype) if dtype.kind in "biu" else st.floats(allow_nan=True, width=8 * dtype.itemsize) | \
        st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan])
    return hnp.arrays(dtype, shape, elements=elements)


def _make(lib: Any, x: Any) -> Any:
    return lib.tensor(x) if isinstance(x, np.ndarray) else x


def check(f: Callable[..., Any], *xs: Any) -> None:
    """``f(lib, *operands)`` gives the same values, dtype and shape in both libraries (arrays become tensors, other
    operands stay Python values), and never a tensor that requires grad; or both raise."""
    try:
        want = f(torch, *[_make(torch, x) for x in xs])
    except TORCH_ERRORS:
        with pytest.raises(OUR_ERRORS):
            f(tg, *[_make(tg, x) for x in xs])
        return
    got = f(tg, *[_make(tg, x) for x in xs])
    assert isinstance(got, tg.Tensor) and not got.requires_grad
    w, g = want.numpy(), got.numpy()
    assert (g.dtype, g.shape) == (w.dtype, w.shape), (g.dtype, w.dtype, g.shape, w.shape)
    assert np.array_equal(g, w), (g, w)


def every_form(name: str) -> list[Callable[..., Any]]:
    """The function, the method, the operator, and keywords."""
    return [lambda lib, a, b: getattr(lib, name)(a, b), lambda lib, a, b: getattr(a, name)(b),
            lambda lib, a, b: OPERATOR[name](a, b), lambda lib, a, b: getattr(lib, name)(input=a, other=b)]


# ---------------------------------------------------------------- two tensors
@settings(max_examples=60, deadline=None)
@given(data=st.data(), name=st.sampled_from(BINARY), da=st.sampled_from(DTYPES), db=st.sampled_from(DTYPES),
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=3))
def test_two_tensors(data: st.DataObject, name: str, da: np.dtype, db: np.dtype, shapes: Any) -> None:
    """Every dtype pair, broadcast shapes (empty and 0-d among them): torch's promotion (bool & int64 is int64, a
    0-d int64 with an int8 tensor is int8, uint8 with int8 is int16) and values."""
    a = data.draw(tensors(da, shapes.input_shapes[0]))
    b = data.draw(tensors(db, shapes.input_shapes[1]))
    for f in every_form(name):
        check(f, a, b)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), name=st.sampled_from(SHIFTS), dtype=st.sampled_from(DTYPES[1:]), n=st.integers(0, 200))
def test_long_shifts(data: st.DataObject, name: str, dtype: np.dtype, n: int) -> None:
    """Long contiguous tensors (torch's vectorised kernels) and every shift amount a dtype holds."""
    a = data.draw(tensors(dtype, (n,)))
    b = data.draw(tensors(dtype, (n,)))
    check(lambda lib, x, y: getattr(lib, name)(x, y), a, b)


@pytest.mark.parametrize("dtype", DTYPES[1:])
def test_shift_edges(dtype: np.dtype) -> None:
    """Every value at the edges against every amount from -(width + 2) to width + 2 and the dtype's extremes:
    arithmetic right shift, wrap-around, negative amounts, amounts of the width and past it (int64 << 63 is
    torch's -2**63)."""
    info, bits = np.iinfo(dtype), 8 * dtype.itemsize
    a = np.array([info.min, info.min + 1, -1, 0, 1, 3, info.max // 2 + 1, info.max], dtype=np.int64)
    amounts = np.arange(-bits - 2, bits + 3).tolist() + [info.min, info.max]
    a = a[(a >= info.min) & (a <= info.max)].astype(dtype)
    b = np.array([s for s in amounts if info.min <= s <= info.max], dtype=dtype)
    for name in SHIFTS:
        check(lambda lib, x, y, name=name: OPERATOR[name](x[:, None], y[None, :]), a, b)
    assert (tg.tensor([1]) << 63).item() == -(2 ** 63)


# ---------------------------------------------------------------- Python numbers and 0-d tensors
@settings(max_examples=80, deadline=None)
@given(data=st.data(), name=st.sampled_from(BINARY), dtype=st.sampled_from(DTYPES), s=SCALARS,
       shape=hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
def test_python_numbers(data: st.DataObject, name: str, dtype: np.dtype, s: int, shape: tuple[int, ...]) -> None:
    """A Python int or bool on either side: it takes the tensor's dtype and wraps around (int8 & 300 is int8 & 44,
    int8 << 256 shifts by 0), from 2**63 it is torch's uint64 number (wraps into integer tensors, refused with bool
    ones); a bool tensor with an int is int64."""
    a = data.draw(tensors(dtype, shape))
    for f in every_form(name):
        check(f, a, s)
    check(lambda lib, x, y: OPERATOR[name](y, x), a, s)  # reflected: 3 & t, 1 << t
    check(lambda lib, x, y: getattr(lib, name)(y, x), a, s)  # torch's Scalar-Tensor overloads


@settings(max_examples=60, deadline=None)
@given(data=st.data(), name=st.sampled_from(BINARY), da=st.sampled_from(DTYPES), db=st.sampled_from(DTYPES),
       shape=hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
def test_zero_dim_tensors(data: st.DataObject, name: str, da: np.dtype, db: np.dtype, shape: tuple[int, ...]) -> None:
    """A 0-d tensor with a tensor (0-d or not) on either side: it decides the dtype only against 0-d tensors or a
    lower category (a 0-d int64 with an int8 tensor is int8; a 0-d int8 with a bool tensor is int8)."""
    a = data.draw(tensors(da, shape))
    z = data.draw(tensors(db, ()))
    check(lambda lib, x, y: OPERATOR[name](x, y), a, z)
    check(lambda lib, x, y: OPERATOR[name](y, x), a, z)


def test_numpy_scalars_are_numbers() -> None:
    check(lambda lib, x: x & np.int64(1), np.array(5, dtype=np.int8))  # a number to torch: stays int8
    check(lambda lib, x: x | np.uint8(255), np.array([5], dtype=np.int16))
    check(lambda lib, x: x & np.array(1), np.array(5, dtype=np.int8))  # a 0-d array is a 0-d tensor: int64


# ---------------------------------------------------------------- not
@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(DTYPES + FLOATS),
       shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
def test_not(data: st.DataObject, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    """~ is logical not for bool, every bit flipped for integers, TypeError for floats (NaN, inf, -0 among them)."""
    a = data.draw(tensors(dtype, shape))
    check(lambda lib, x: ~x, a)
    check(lambda lib, x: lib.bitwise_not(x), a)
    check(lambda lib, x: x.bitwise_not(), a)
    check(lambda lib, x: x.clone().bitwise_not_(), a)
    if dtype.kind == "f":
        with pytest.raises(TypeError):
            ~tg.tensor(a)


# ---------------------------------------------------------------- in place
@settings(max_examples=80, deadline=None)
@given(data=st.data(), name=st.sampled_from(BINARY), da=st.sampled_from(DTYPES), db=st.sampled_from(DTYPES),
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=3),
       s=SCALARS, how=st.sampled_from(["method", "operator"]))
def test_in_place(data: st.DataObject, name: str, da: np.dtype, db: np.dtype, shapes: Any, s: int,
                  how: str) -> None:
    """``x.bitwise_and_(y)`` / ``x &= y`` ...: the result in x's dtype (computed in the promoted dtype, then cast:
    int8 <<= int64 wraps), x returned and its views updated; raises where the result cannot be cast (bool &= int)
    or has another shape than x."""
    x = data.draw(tensors(da, shapes.input_shapes[0]))
    y = data.draw(tensors(db, shapes.input_shapes[1]))

    def update(lib: Any, base: Any, other: Any) -> Any:
        target = base[0, ...]  # a view (even 0-d): the write must reach the tensor it views
        out = getattr(target, f"{name}_")(other) if how == "method" else IN_PLACE[name](target, other)
        assert out is target
        return base

    for other in (y, s, y.reshape(-1)[:1].reshape(()) if y.size else y):
        check(update, x[None], other)


@pytest.mark.parametrize("name", BINARY)
def test_in_place_dtypes(name: str) -> None:
    """Every pair of dtypes, in place: torch's can_cast (no bool target for an integer result; a signed result into
    an unsigned tensor is fine), values computed in the promoted dtype, then cast."""
    for da in DTYPES:
        for db in DTYPES:
            x = np.array([-7, 0, 100]).astype(da)  # -7 is 249 in uint8
            y = np.array([3, 0, -1]).astype(db)
            for other in (y, y[2].item(), y[:1].reshape(())):
                check(lambda lib, a, b: getattr(a, f"{name}_")(b), x, other)
                check(lambda lib, a, b: IN_PLACE[name](a, b), x, other)


def test_in_place_examples() -> None:
    for lib in (tg, torch):
        x = lib.tensor([64, 1, -1], dtype=lib.int8)
        x <<= lib.tensor([1, 9, 70])
        assert x.tolist() == [-128, 0, 0] and x.dtype == lib.int8
        m = lib.tensor([True, False])
        alias = m
        m &= lib.tensor([False, False])
        assert alias.tolist() == [False, False] and alias is m  # in place, as torch (not a new tensor)
        with pytest.raises(RuntimeError):  # the result (int64) cannot be cast to bool
            m |= 1


# ---------------------------------------------------------------- errors, gradients, bool masks unchanged
@settings(max_examples=40, deadline=None)
@given(data=st.data(), name=st.sampled_from(BINARY), df=st.sampled_from(FLOATS), do=st.sampled_from(DTYPES + FLOATS),
       s=st.floats(allow_nan=True) | st.sampled_from([0.0, -0.0, 1.0, np.inf, np.nan]),
       shape=hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
def test_floating_operands_raise(data: st.DataObject, name: str, df: np.dtype, do: np.dtype, s: float,
                                 shape: tuple[int, ...]) -> None:
    """A floating tensor, or a Python float with any tensor, is refused as torch refuses it (ours: TypeError)."""
    f = data.draw(tensors(df, shape))
    o = data.draw(tensors(do, shape))
    for g in every_form(name):
        check(g, f, o)
        check(g, o, f)
        check(g, o, s)
    check(lambda lib, x, y: OPERATOR[name](y, x), o, s)
    with pytest.raises(TypeError):
        OPERATOR[name](tg.tensor(o), tg.tensor(f))
    with pytest.raises(TypeError):
        getattr(tg, name)(tg.tensor(o), s)


def test_errors() -> None:
    """Bool shifts, two numbers, a number out of 64 bits, non-broadcastable shapes, lists, complex: both raise."""
    t = np.array([1, 2], dtype=np.int64)
    b = np.array([True, False])
    for f in [lambda lib, x, m: m << m, lambda lib, x, m: m >> True, lambda lib, x, m: lib.bitwise_and(3, 5),
              lambda lib, x, m: lib.bitwise_left_shift(3, 5), lambda lib, x, m: lib.bitwise_not(3),
              lambda lib, x, m: x & 2 ** 64, lambda lib, x, m: x | -(2 ** 63) - 1, lambda lib, x, m: m & 2 ** 63,
              lambda lib, x, m: (2 ** 63) ^ m, lambda lib, x, m: x & lib.ones(3, dtype=lib.int64),
              lambda lib, x, m: x & [1, 2], lambda lib, x, m: x ^ (1 + 2j), lambda lib, x, m: x.bitwise_and_(1.5),
              lambda lib, x, m: m.bitwise_xor_(x), lambda lib, x, m: x[:1].bitwise_or_(x),
              lambda lib, x, m: x & np.True_]:
        check(f, t, b)
    with pytest.raises(TypeError, match="bool or integer"):
        tg.tensor([1.0]) & 1
    with pytest.raises(TypeError, match="integer"):
        tg.tensor([True]) << tg.tensor([True])


def test_no_gradient() -> None:
    """Results are constants; a float leaf that requires grad is refused; masks made from it leave its graph
    alone."""
    x = tg.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    with pytest.raises(TypeError):
        x & 1
    mask = (x > 0) & (x < 1)
    assert mask.dtype == np.bool_ and not mask.requires_grad and mask.tolist() == [False, True, False]
    (x * mask).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0]
    i = tg.tensor([3, 5]) << 1
    assert not i.requires_grad and i.grad_fn is None


@settings(max_examples=40, deadline=None)
@given(x=tensors(np.dtype(np.float64), (4,)), y=tensors(np.dtype(np.float64), (4,)), s=st.booleans())
def test_bool_masks(x: np.ndarray, y: np.ndarray, s: bool) -> None:
    """Masks from comparisons (NaN among the values) combine as before: bool results of & | ^ ~, with bools and
    bool tensors on either side."""
    check(lambda lib, a, b: ((a > 0) & (b < 0)) | ~(a == b) ^ (a != a), x, y)
    check(lambda lib, a, b: (s & (a > b)) | (s ^ (a <= 0)), x, y)
    check(lambda lib, a, b: (a > 0).logical_and(b > 0) ^ ((a > 0) & (b > 0)), x, y)
