"""What a dtype probe against torch 2.13 (every dtype pair of bool, uint8 ... float64, 0-d tensors and Python
numbers as second operands, values 0, -1, min, max, -0.0, nan, inf, 1e38, 65504, subnormals) found silently
different, each checked here against torch on generated values:

- ``add`` / ``sub`` with ``alpha`` and an integer result scaled the other operand in its own dtype first:
  ``uint8 + alpha * bool`` was int64 (torch: uint8), ``int16 - 2 * int8(-128)`` wrapped 2 * -128 in int8 to 0;
- float16 ``sinc`` computed in float16 (``sinc(1)`` was 3e-4, torch's float32-then-rounded is 0; 65504 gave nan);
- float16 ``x ** 0.5`` / ``x ** -0.5`` took sqrt's -0 and nan at -0 and -inf, where torch's float16 kernel is pow
  in float32 (0 and inf), and rounded ``1 / sqrt`` twice;
- ``bool_tensor ** True`` was int8 (torch: bool; ``** False`` all True), and bool ** bool tensors computed where
  torch raises;
- ``number / float16_tensor`` rounded the number to float16 first (``1e38 / inf`` was nan, torch 0);
- float16 floor division of two tensors (or a number by a tensor) was numpy's, in float32, where torch's vectorised
  kernel rounds each step to float16: a float16 unit apart in about 1% of quotients;
- ``lcm`` whose product overflows: torch's |a / g * b| (in C's int) is never negative in int32 / int64;
- ``uint8`` fills of a negative int (``fill_(-1)``, ``full``, ``full_like``, ``masked_fill``, ``clamp``,
  ``x[i] = -1``) raised numpy's OverflowError where torch wraps to 255, and ``where(c, int8_t, 300)``,
  ``masked_fill(m, tensor(300))`` on uint8 and ``x[i] = nan`` on an int tensor computed (wrapped) where torch raises;
- ``rand`` / ``randn`` of float16 raised (numpy draws float32 / float64 only).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

INTS = ["uint8", "int8", "int16", "int32", "int64"]


def ints(dtype: str) -> st.SearchStrategy[int]:
    info = np.iinfo(dtype)
    return st.one_of(st.sampled_from([0, 1, -1 if info.min else 2, int(info.min), int(info.max)]),
                     st.integers(int(info.min), int(info.max)))


@st.composite
def int_array(draw: st.DrawFn, dtype: str, size: int | None = None) -> np.ndarray:
    n = draw(st.integers(1, 6)) if size is None else size
    if dtype == "bool":
        return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    return np.array(draw(st.lists(ints(dtype), min_size=n, max_size=n)), dtype=np.int64).astype(dtype)


HALF_SPECIAL = [0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan, 65504.0, -65504.0, 6e-8, 2.0 ** -14, 0.5]


@st.composite
def half_array(draw: st.DrawFn) -> np.ndarray:
    bits = draw(st.lists(st.integers(0, 65535), min_size=1, max_size=8))
    special = draw(st.lists(st.sampled_from(HALF_SPECIAL), max_size=4))
    return np.concatenate([np.array(bits, dtype=np.uint16).view(np.float16), np.array(special, dtype=np.float16)])


def both(fn: Any, *arrays: Any) -> tuple[Any, Any]:
    """fn on torch and on tg, each given its own tensors of ``arrays`` (non-arrays passed as they are)."""
    def run(lib: Any) -> Any:
        make = torch.from_numpy if lib is torch else tg.from_numpy
        try:
            return fn(lib, *[make(a.copy()) if isinstance(a, np.ndarray) else a for a in arrays])
        except Exception as e:  # the comparison is whether both raise
            return e
    return run(torch), run(tg)


def same(t: Any, o: Any) -> None:
    if isinstance(t, Exception) or isinstance(o, Exception):
        assert isinstance(t, Exception) and isinstance(o, Exception), (t, o)
        return
    assert str(t.dtype).replace("torch.", "") == str(o.dtype), (t.dtype, o.dtype)
    tv, ov = t.numpy(), o.numpy()
    assert tv.shape == ov.shape
    if tv.dtype.kind == "f":
        assert np.array_equal(np.isnan(tv), np.isnan(ov)), (tv, ov)
        ok = np.isnan(tv) | ((tv == ov) & (np.signbit(tv) == np.signbit(ov)))
        assert ok.all(), (tv, ov)
    else:
        assert np.array_equal(tv, ov), (tv, ov)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["bool", *INTS]), st.sampled_from(["bool", *INTS]), st.data(),
       st.sampled_from(["add", "sub"]), st.sampled_from([2, -3, 0, 100]), st.booleans())
def test_add_sub_alpha_integers_scale_in_the_result_dtype(da: str, db: str, data: st.DataObject, op: str,
                                                         alpha: int, zero_d: bool) -> None:
    a = data.draw(int_array(da, 4))
    b = data.draw(int_array(db, 4))
    b = b[:1].reshape(()) if zero_d else b
    same(*both(lambda L, x, y: getattr(L, op)(x, y, alpha=alpha), a, b))


@settings(max_examples=100, deadline=None)
@given(half_array())
def test_sinc_float16_computes_in_float32(a: np.ndarray) -> None:
    theirs, ours = both(lambda L, x: L.sinc(x), a)
    # where the true value lies within float32's error of a float16 midpoint, each library's float32 rounding decides
    # the side: pi x rounded to float32 moves sin(pi x) by |pi x| 2^-24 (sinc(4.117): true 0.02782437, the midpoint
    # 0.02782440; torch's float32 0.02782440 - 2e-12 rounds down to 0.02782, ours is the midpoint and rounds to
    # 0.02783); there either neighbour of the true value passes
    with np.errstate(all="ignore"):
        x = a.astype(np.float64)
        truth = np.where(x == 0, 1.0, np.sin(np.pi * x) / (np.pi * x))
        nearest = truth.astype(np.float16)
        other = np.nextafter(nearest, np.where(truth > nearest, np.inf, -np.inf).astype(np.float16))
        middle = (nearest.astype(np.float64) + other.astype(np.float64)) / 2
        bound = np.where(x == 0, 0.0, 2.0 ** -24 * (4 + np.abs(np.pi * x)) * np.abs(np.cos(np.pi * x) / x))
        near = np.abs(truth - middle) <= bound
        neighbours = (ours.numpy() == nearest) | (ours.numpy() == other)
    keep = ~(near & neighbours)
    same(theirs[torch.from_numpy(keep)], ours[tg.tensor(keep)])


@settings(max_examples=100, deadline=None)
@given(half_array(), st.sampled_from([0.5, -0.5]))
def test_pow_float16_half_powers_are_pow_in_float32(a: np.ndarray, e: float) -> None:
    same(*both(lambda L, x: x ** e, a))
    same(*both(lambda L, x: L.pow(x, e), a))


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from([True, False, "tensor", "0d", "base", 2]), st.booleans())
def test_bool_pow(data: st.DataObject, exponent: Any, zero_d: bool) -> None:
    a = data.draw(int_array("bool"))
    a = a[:1].reshape(()) if zero_d else a
    if exponent == "tensor":
        same(*both(lambda L, x: x ** x, a))
    elif exponent == "0d":
        same(*both(lambda L, x, y: x ** y, a, np.array(True)))
    elif exponent == "base":
        same(*both(lambda L, x: True ** x, a))
    else:
        same(*both(lambda L, x: x ** exponent, a))
        same(*both(lambda L, x: x.clone().pow_(exponent), a))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan]), min_size=1, max_size=5),
       st.sampled_from([1e38, -1e38, 2.0 ** 40, 1e5, 65520.0, 0.0, 1.0]))
def test_number_over_float16_keeps_the_number_in_float32(a: list[float], s: float) -> None:
    same(*both(lambda L, x: s / x, np.array(a, dtype=np.float16)))


@settings(max_examples=100, deadline=None)
@given(half_array(), st.sampled_from([1e5, 3.0, 0.1, 7.3, 1e-3]))
def test_number_over_float16_within_one_unit(a: np.ndarray, s: float) -> None:
    """Finite quotients: within one float16 unit of torch's reciprocal(x) * s (README: number / x)."""
    t, o = both(lambda L, x: s / x, a)
    tv, ov = t.numpy().astype(np.float64), o.numpy().astype(np.float64)
    assert o.dtype == tg.float16
    assert np.array_equal(np.isnan(tv), np.isnan(ov))
    fin = np.isfinite(tv) & np.isfinite(ov)
    ulp = np.spacing(np.abs(t.numpy()[fin])).astype(np.float64)
    assert (np.abs(tv[fin] - ov[fin]) <= np.maximum(ulp, 6e-8)).all(), (a, tv, ov)


@settings(max_examples=100, deadline=None)
@given(half_array(), st.data(), st.sampled_from(["floor", "trunc"]), st.sampled_from(["tensor", "number", "scalar"]))
def test_float16_rounded_division_as_torch(a: np.ndarray, data: st.DataObject, mode: str, kind: str) -> None:
    """float16 ``//`` / ``div(rounding_mode=)`` of two tensors of one shape or a number by a tensor: torch's
    vectorised kernel in float16 steps (numpy's floor_divide, in float32, was a float16 unit off in about 1% of
    quotients). torch's other loops (a one-element tensor, a broadcast operand) compute in float32, so the
    tensors here have two or more elements and one shape (README)."""
    a = np.concatenate([a, np.array([1.5], dtype=np.float16)])
    s = data.draw(st.sampled_from([0.1, 3.0, -2.5, 7, 7.3, 1e5, 1e38, 0.0]))
    moderate = st.lists(st.floats(-300, 300, width=16), min_size=64, max_size=64)  # (where the roundings differ)
    x, y = (np.array(data.draw(moderate), dtype=np.float16) for _ in range(2))
    if kind == "tensor":
        same(*both(lambda L, x, y: L.div(x, y, rounding_mode=mode), a, a[::-1].copy()))
        same(*both(lambda L, x, y: x // y, a, a[::-1].copy()))
        same(*both(lambda L, x, y: L.div(x, y / 100, rounding_mode=mode), x, y))
    elif kind == "number":
        same(*both(lambda L, x: L.div(s, x, rounding_mode=mode), a))
        same(*both(lambda L, x: L.div(s, x / 100000, rounding_mode=mode), x))
        same(*both(lambda L, x: s // x, a))
    else:  # a tensor by a number: torch's scalar kernel in float32 with the number's float32 value
        same(*both(lambda L, x: L.div(x, s, rounding_mode=mode), a))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(INTS), st.data(), st.booleans())
def test_lcm_overflow_as_torch(dtype: str, data: st.DataObject, bool_first: bool) -> None:
    info = np.iinfo(dtype)
    value = st.integers(int(info.min) + 1, int(info.max))  # (torch's gcd of the minimum is C's UB: not compared)
    a = np.array(data.draw(st.lists(value, min_size=1, max_size=6)), dtype=np.int64).astype(dtype)
    b = np.array(data.draw(st.lists(value, min_size=len(a), max_size=len(a))), dtype=np.int64).astype(dtype)
    same(*both(lambda L, x, y: L.lcm(x, y), a, b))
    same(*both(lambda L, x, y: L.gcd(x, y), a, b))
    if bool_first:  # a bool beside an integer tensor is promoted (torch), two bools raise
        flags = a != 0
        same(*both(lambda L, x, y: L.gcd(x, y), flags, b))
        same(*both(lambda L, x, y: L.lcm(x, y), flags, flags))


SCALARS = [-1, -2, -255, -256, 255, 256, 300, -129, 2 ** 40, 2.5, -1.0, math.nan, 1e38]
FILLS = {
    "fill_": lambda L, x, v: x.fill_(v),
    "full": lambda L, x, v: L.full((2,), v, dtype=x.dtype),
    "full_like": lambda L, x, v: L.full_like(x, v),
    "masked_fill": lambda L, x, v: x.masked_fill(L.tensor([True, False, True]), v),
    "clamp_min": lambda L, x, v: L.clamp(x, min=v),
    "clamp": lambda L, x, v: L.clamp(x, v, 3),
    "setitem": lambda L, x, v: (x.__setitem__(0, v), x)[1],
    "setitem_list": lambda L, x, v: (x.__setitem__(L.tensor([0, 2]), v), x)[1],
    "index_fill": lambda L, x, v: x.index_fill(0, L.tensor([1]), v),
    "where": lambda L, x, v: L.where(L.tensor([True, False, True]), x, v),
    "masked_fill_t": lambda L, x, v: x.masked_fill(L.tensor([True, False, True]), L.tensor(v)),
    "pad": lambda L, x, v: L.nn.functional.pad(x, (1, 0), value=v),  # (these two refuse a negative uint8 value)
    "hardtanh": lambda L, x, v: L.nn.functional.hardtanh(x, v, 3) if isinstance(v, int) and v <= 3 else x,
}


@settings(max_examples=5, deadline=None)
@given(st.sampled_from(INTS), st.data())
@pytest.mark.parametrize("op", sorted(FILLS))
def test_scalars_into_integer_tensors(op: str, dtype: str, data: st.DataObject) -> None:
    a = data.draw(int_array(dtype, 3))
    for v in SCALARS:
        same(*both(lambda L, x, v=v: FILLS[op](L, x, v), a))


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=3), st.sampled_from(["rand", "randn", "rand_like", "randn_like",
                                                                 "uniform_", "normal_"]))
def test_float16_random_draws(shape: list[int], op: str) -> None:
    """``rand`` / ``randn`` (and the ``_like`` and in-place forms) of float16 raised numpy's TypeError; torch makes
    them. The values are draws (not torch's stream): the dtype, shape and rand's [0, 1) are compared."""
    ops = {"rand": lambda L: L.rand(*shape, dtype=L.float16), "randn": lambda L: L.randn(*shape, dtype=L.float16),
           "rand_like": lambda L: L.rand_like(L.zeros(*shape, dtype=L.float16)),
           "randn_like": lambda L: L.randn_like(L.zeros(*shape, dtype=L.float16)),
           "uniform_": lambda L: L.zeros(*shape, dtype=L.float16).uniform_(),
           "normal_": lambda L: L.zeros(*shape, dtype=L.float16).normal_()}
    t, o = ops[op](torch), ops[op](tg)
    assert str(t.dtype).replace("torch.", "") == str(o.dtype) and tuple(t.shape) == tuple(o.shape)
    if op in ("rand", "rand_like", "uniform_"):
        assert ((o.numpy() >= 0) & (o.numpy() < 1)).all()
