"""What a probe of unsupported and mismatched dtypes (every elementwise / binary / reduction / linalg /
nn.functional op it could list x bool, uint8 ... float64 inputs, tensor / tensor, tensor / number, in-place and
out= forms) found different from torch 2.13, each checked here against torch on generated values:

- silent: ours computed where torch refuses the dtype: ``std`` / ``var`` / ``norm`` of an integer or bool tensor
  (ours cast to float32), ``relu`` / ``trace`` / ``matmul`` (``@``, ``mm``, ``dot``) of bool tensors,
  ``dist`` with a bool operand, ``logaddexp2`` of two integer tensors, ``float_power_`` into a tensor that is not
  float64 (ours rounded the float64 result into it), ``gather`` / ``scatter`` with a uint8 / int8 / int16 index;
  and ``ldexp`` of a bool or integer tensor by a bool exponent and ``igamma`` / ``igammac`` with ``out=`` raised
  where torch computes;
- loud, the exception family: torch raises RuntimeError (or its NotImplementedError) for a dtype an op has no
  kernel for or for mismatched dtypes, where ours raised TypeError (bitwise ops and shifts of floats, in place
  too, ``lerp`` of mismatched dtypes, ``sub`` / ``neg`` / ``-`` of bools, rounding / ``abs`` / ``frac`` of bools,
  ``silu`` of integers, ``gcd`` / ``lcm`` / ``hypot`` / ``nextafter`` / ``logaddexp`` of non-integers /
  non-floats, index dtypes,
  ``tensordot`` / ``einsum`` / ``prelu`` of two dtypes, ``mean`` of integers...), ValueError (``int ** -2``,
  ``dot`` / ``mm`` / ``mv`` / ``cross`` of wrong shapes) or ZeroDivisionError (integer ``//`` / ``%`` by zero).
  Ours now raises the shared ``DtypeError`` / ``KernelDtypeError`` / ``ArgumentError`` / ``DivisionByZeroError``:
  torch's class and still the one it raised before.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as tF

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
F = torch.nn.functional

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
OLD = {"DtypeError": TypeError, "KernelDtypeError": TypeError, "ArgumentError": ValueError,
       "DivisionByZeroError": ZeroDivisionError}


@st.composite
def values(draw: st.DrawFn, dtype: str, n: int = 4) -> np.ndarray:
    """n values of ``dtype``: small integers (zeros included) or floats with the special ones."""
    if dtype == "bool":
        return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    if dtype[0] in "iu":
        low = 0 if dtype[0] == "u" else -3
        return np.array(draw(st.lists(st.integers(low, 5), min_size=n, max_size=n)), dtype=dtype)
    special = st.sampled_from([0.0, -0.0, 1.0, math.inf, -math.inf, math.nan])
    return np.array(draw(st.lists(st.one_of(st.floats(-4, 4, width=16), special), min_size=n, max_size=n)),
                    dtype=dtype)


def _run(lib: Any, fn: Callable[..., Any], arrays: tuple[Any, ...]) -> Any:
    make = torch.from_numpy if lib is torch else tg.from_numpy
    try:
        return fn(lib, *[make(a.copy()) if isinstance(a, np.ndarray) else a for a in arrays])
    except Exception as e:  # compared with torch's below
        return e


def same(fn: Callable[..., Any], *arrays: Any) -> None:
    """fn on torch and on ours: both raise, ours an instance of torch's exception family (RuntimeError for its
    NotImplementedError), or the same dtype, shape and values."""
    t, o = _run(torch, fn, arrays), _run(tg, fn, arrays)
    if isinstance(t, Exception):
        assert isinstance(o, Exception), (t, o)
        family = RuntimeError if isinstance(t, RuntimeError) else type(t)
        assert isinstance(o, family), (t, o)
        if type(o).__name__ in OLD:  # still what ours raised before
            assert isinstance(o, OLD[type(o).__name__])
        return
    assert not isinstance(o, Exception), (t, o)
    t, o = (t[0], o[0]) if isinstance(t, tuple) else (t, o)
    assert str(t.dtype).replace("torch.", "") == str(o.dtype), (t.dtype, o.dtype)
    tv, ov = t.detach().numpy(), o.detach().numpy()
    assert tv.shape == ov.shape
    if tv.dtype.kind == "f":
        np.testing.assert_allclose(ov, tv, rtol=2e-3, atol=1e-5, equal_nan=True)
    else:
        np.testing.assert_array_equal(ov, tv)


def _f(L: Any) -> Any:
    return F if L is torch else tF


UNARY: dict[str, Callable[..., Any]] = {
    "std": lambda L, x: x.std(), "var": lambda L, x: L.var(x), "norm": lambda L, x: x.norm(),
    "std_dim": lambda L, x: x.reshape(2, 2).std(1), "relu": lambda L, x: L.relu(x),
    "F.relu": lambda L, x: _f(L).relu(x), "relu_": lambda L, x: x.relu_(),
    "trace": lambda L, x: L.trace(x.reshape(2, 2)), "neg": lambda L, x: -x, "neg_": lambda L, x: x.neg_(),
    "positive": lambda L, x: L.positive(x), "abs": lambda L, x: x.abs(), "floor": lambda L, x: x.floor(),
    "round": lambda L, x: x.round(), "frac": lambda L, x: x.frac(), "bitwise_not": lambda L, x: ~x,
    "bitwise_not_": lambda L, x: x.bitwise_not_(), "mean": lambda L, x: x.mean(), "nanmean": lambda L, x: x.nanmean(),
    "logcumsumexp": lambda L, x: L.logcumsumexp(x, 0), "pow_neg": lambda L, x: x ** -2,
    "matmul_self": lambda L, x: x @ x, "mm_self": lambda L, x: x.reshape(2, 2).mm(x.reshape(2, 2)),
    "mv_self": lambda L, x: x.reshape(2, 2).mv(x[:2]), "matmul_2d": lambda L, x: x.reshape(2, 2) @ x.reshape(2, 2),
    "dot_self": lambda L, x: L.dot(x, x), "normalize": lambda L, x: _f(L).normalize(x, dim=0),
    "cdist_self": lambda L, x: L.cdist(x.reshape(2, 2), x.reshape(2, 2)) if x.dtype != L.float16 else x,
    "hardtanh_neg": lambda L, x: _f(L).hardtanh(x, -1.0, 1.0), "silu": lambda L, x: _f(L).silu(x),
    "float_power_": lambda L, x: x.float_power_(2), "float_power_t": lambda L, x: x.float_power_(x),
    # (an integer dtype gave a float32 mean here; torch refuses it)
    "nanmean_int": lambda L, x: x.nanmean(dtype=L.int64), "nanmean_f64": lambda L, x: x.nanmean(0, dtype=L.float64),
}


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(DTYPES), st.data())
@pytest.mark.parametrize("op", sorted(UNARY))
def test_one_operand_dtypes_as_torch(op: str, dtype: str, data: st.DataObject) -> None:
    same(UNARY[op], data.draw(values(dtype)))


BINARY: dict[str, Callable[..., Any]] = {
    "and": lambda L, x, y: x & y, "or_": lambda L, x, y: x.bitwise_or_(y), "xor": lambda L, x, y: L.bitwise_xor(x, y),
    "lshift": lambda L, x, y: x << y, "rshift_": lambda L, x, y: x.bitwise_right_shift_(y),
    "lerp": lambda L, x, y: L.lerp(x, y, 0.5), "lerp_w": lambda L, x, y: L.lerp(x, x, y),
    "lerp_": lambda L, x, y: x.lerp_(y, 0.25), "sub": lambda L, x, y: x - y, "rsub": lambda L, x, y: L.rsub(x, y),
    "sub_": lambda L, x, y: x.sub_(y), "gcd": lambda L, x, y: L.gcd(x, y), "lcm_": lambda L, x, y: x.lcm_(y),
    "hypot": lambda L, x, y: L.hypot(x, y), "nextafter_": lambda L, x, y: x.nextafter_(y),
    "logaddexp": lambda L, x, y: L.logaddexp(x, y), "logaddexp2": lambda L, x, y: L.logaddexp2(x, y),
    "floordiv": lambda L, x, y: x // y, "mod": lambda L, x, y: x % y, "fmod_": lambda L, x, y: x.fmod_(y),
    "pow": lambda L, x, y: x ** y, "ldexp": lambda L, x, y: L.ldexp(x, y), "dist": lambda L, x, y: L.dist(x, y),
    "tensordot": lambda L, x, y: L.tensordot(x, y, dims=1), "einsum": lambda L, x, y: L.einsum("i,i->", x, y),
    "dot": lambda L, x, y: L.dot(x, y), "prelu": lambda L, x, y: _f(L).prelu(x, y[:1]),
    "addcdiv": lambda L, x, y: L.addcdiv(x, x, y), "cosine": lambda L, x, y: _f(L).cosine_similarity(x, y, dim=0),
    "scatter_add": lambda L, x, y: x.scatter_add(0, L.tensor([0, 1, 2, 3]), y),
    "index_add": lambda L, x, y: x.index_add(0, L.tensor([0, 1, 2, 3]), y),
    "scatter_reduce": lambda L, x, y: x.scatter_reduce(0, L.tensor([0, 1, 1, 3]), y, "amax"),
    "mm_1d": lambda L, x, y: L.mm(x, y), "mv_1d": lambda L, x, y: L.mv(x, y), "cross": lambda L, x, y: L.cross(x, y),
    "masked_scatter": lambda L, x, y: x.masked_scatter(L.tensor([True, False, True, False]), y),
}


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(DTYPES), st.sampled_from(DTYPES), st.data())
@pytest.mark.parametrize("op", sorted(BINARY))
def test_two_operand_dtypes_as_torch(op: str, da: str, db: str, data: st.DataObject) -> None:
    same(BINARY[op], data.draw(values(da)), data.draw(values(db)))


INDEXED: dict[str, Callable[..., Any]] = {
    "gather": lambda L, x, i: L.gather(x, 0, i), "scatter": lambda L, x, i: x.scatter(0, i, x),
    "scatter_add_": lambda L, x, i: x.scatter_add_(0, i, x), "take": lambda L, x, i: L.take(x, i),
    "index_select": lambda L, x, i: L.index_select(x, 0, i),
    "embedding": lambda L, x, i: _f(L).embedding(i, x.reshape(4, 1)), "one_hot": lambda L, x, i: _f(L).one_hot(i, 4),
}


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(DTYPES), st.sampled_from(["float32", "int64", "bool"]),
       st.lists(st.integers(0, 3), min_size=4, max_size=4))
@pytest.mark.parametrize("op", sorted(INDEXED))
def test_index_dtypes_as_torch(op: str, index_dtype: str, dtype: str, index: list[int]) -> None:
    """torch takes int64 (and int32 for most) indices only; ours took any integer dtype for gather / scatter (a
    uint8 index is not a mask there). ``embedding`` keeps taking int16 / uint8 indices, a listed difference."""
    x = np.array([1, 0, 3, 2]).astype(dtype)
    if op == "embedding" and index_dtype in ("uint8", "int8", "int16"):  # taken here (README, Differences)
        return
    same(INDEXED[op], x, np.array(index).astype(index_dtype))


@pytest.mark.parametrize("a, b", [("int64", 0), ("int16", 0), ("uint8", 0), ("int32", -1)])
@pytest.mark.parametrize("op", ["//", "%", "fmod", "floor_divide_"])
def test_integer_division_by_zero(a: str, b: int, op: str) -> None:
    fns = {"//": lambda L, x, y: x // y, "%": lambda L, x, y: x % y, "fmod": lambda L, x, y: L.fmod(x, y),
           "floor_divide_": lambda L, x, y: x.floor_divide_(y)}
    same(fns[op], np.array([3, 4], dtype=a), np.array([b, 0], dtype=a))


def test_ldexp_bool_exponent_values() -> None:
    """torch scales a bool or integer tensor by 2 ** bool (float32); ours refused the bool exponent."""
    e = np.array([True, False, True])
    for dtype in ("bool", "uint8", "int32", "int64"):
        same(lambda L, x, y: L.ldexp(x, y), np.array([1, 0, -3 if dtype[0] == "i" else 1]).astype(dtype), e)
    same(lambda L, x, y: L.ldexp(x, y), np.array([1.5, 2.0, 0.0], np.float32), e)  # both raise


def test_float_power_in_place_into_float64_still_works() -> None:
    x = np.array([1.5, -2.0, 0.0])
    same(lambda L, a: a.float_power_(2), x)
    same(lambda L, a: a.float_power_(L.tensor([1, 2, 3], dtype=L.int32)), x)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(DTYPES), st.sampled_from(DTYPES), st.sampled_from(["float32", "float64", "int64"]), st.data())
@pytest.mark.parametrize("op", ["igamma", "igammac"])
def test_igamma_out(op: str, da: str, db: str, out: str, data: st.DataObject) -> None:
    """torch's igamma / igammac take ``out=`` (ours raised an unexpected keyword argument)."""
    same(lambda L, x, y: getattr(L, op)(x, y, out=L.empty(0, dtype=getattr(L, out))),
         data.draw(values(da)), data.draw(values(db)))


def test_new_error_classes_are_both_families() -> None:
    """The classes raised above are torch's and the old one, so ``except TypeError`` etc. keep working."""
    from tinygrad_adam.ops.factor import DivisionByZeroError, KernelDtypeError
    assert issubclass(KernelDtypeError, (TypeError)) and issubclass(KernelDtypeError, NotImplementedError)
    assert issubclass(DivisionByZeroError, ZeroDivisionError) and issubclass(DivisionByZeroError, RuntimeError)
    with pytest.raises(TypeError, match="bool"):
        -tg.tensor([True])
    with pytest.raises(RuntimeError, match="float"):
        tg.tensor([1.0]) & tg.tensor([1])
