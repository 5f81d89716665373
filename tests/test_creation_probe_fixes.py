"""Tensor creation / conversion differences from torch found by the creation probe, each checked against torch."""
from __future__ import annotations

import operator
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tinygrad_adam as tg  # noqa: E402


def outcome(m: Any, fn: Callable[[Any], Any]) -> Any:
    """``fn(m)`` as (dtype name, shape, values / strides), or 'raises'."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = fn(m)
    except (ValueError, RuntimeError, TypeError, IndexError, OverflowError, NotImplementedError):
        return "raises"
    if isinstance(out, (torch.Tensor, tg.Tensor)):
        arr = out.detach().numpy()
        return str(out.dtype).split(".")[-1], tuple(out.shape), arr.tolist(), arr.dtype.str
    return out


def same(fn: Callable[[Any], Any]) -> None:
    """``fn`` gives the same outcome on both libraries (nan compared as nan)."""
    ours, theirs = outcome(tg, fn), outcome(torch, fn)
    assert repr(ours) == repr(theirs), (ours, theirs)


# ---------------------------------------------------------------- tensor(): negative ints into an unsigned dtype
@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-300, 300) | st.floats(-300, 300, allow_nan=False), max_size=5), st.booleans())
def test_tensor_ints_into_uint8_as_torch(values: list, nested: bool) -> None:
    data: Any = [values, values] if nested else values
    same(lambda m: m.tensor(data, dtype=m.uint8))


@pytest.mark.parametrize("value", [-1, -3, -255, -256, 256, -1.5, 300.5])
def test_tensor_scalar_into_uint8_as_torch(value: Any) -> None:
    same(lambda m: m.tensor(value, dtype=m.uint8))


# ---------------------------------------------------------------- tensor(None) / tensor("a") raise as torch
@pytest.mark.parametrize("data", [None, [None, 1.0], [[1], [None]], "a"])
def test_tensor_of_none_or_str_raises(data: Any) -> None:
    with pytest.raises((RuntimeError, TypeError)):
        torch.tensor(data)
    with pytest.raises((RuntimeError, TypeError)):
        tg.tensor(data)


# ---------------------------------------------------------------- numpy(force=True)
def test_numpy_force() -> None:
    x = tg.ones(2, requires_grad=True)
    np.testing.assert_array_equal(x.numpy(force=True), torch.ones(2, requires_grad=True).numpy(force=True))


# ---------------------------------------------------------------- __index__: bool tensors, several elements
@pytest.mark.parametrize("value, dtype", [(True, "bool"), (False, "bool"), (2, "int64"), ([1], "int32"),
                                          ([1, 0], "int64"), (1.0, "float32"), ([], "int64")])
def test_index_as_torch(value: Any, dtype: str) -> None:
    same(lambda m: operator.index(m.tensor(value, dtype=getattr(m, dtype))))
    same(lambda m: [10, 20, 30][m.tensor(value, dtype=getattr(m, dtype))])


# ---------------------------------------------------------------- torch.range (deprecated, end included)
@settings(max_examples=60, deadline=None)
@given(st.integers(-5, 5), st.integers(-5, 5), st.sampled_from([1, 2, -1, -2, 0.1, 0.3, -0.25, 1.5]),
       st.sampled_from([None, "float64", "float32"]))
def test_range_as_torch(start: int, end: int, step: float, dtype: str | None) -> None:
    kw = lambda m: {} if dtype is None else {"dtype": getattr(m, dtype)}  # noqa: E731
    same(lambda m: m.range(start, end, step, **kw(m)))


def test_arange_bool_raises() -> None:
    with pytest.raises((RuntimeError, NotImplementedError)):
        torch.arange(3, dtype=torch.bool)
    with pytest.raises((TypeError, NotImplementedError)):
        tg.arange(3, dtype=tg.bool)


# ---------------------------------------------------------------- to(copy=True) keeps dense strides
@pytest.mark.parametrize("perm", [(2, 0, 1), (1, 0, 2), (0, 1, 2), (2, 1, 0)])
def test_to_copy_keeps_strides(perm: tuple[int, ...]) -> None:
    def fn(m: Any) -> Any:
        x = m.arange(24.0).reshape(2, 3, 4).permute(*perm)
        y = x.to(m.float32, copy=True)
        x.add_(1)  # (a copy: the source's writes do not show)
        return y.stride(), y.tolist(), y is x
    same(fn)


# ---------------------------------------------------------------- new_*(size=..., fill_value=...)
@pytest.mark.parametrize("call", [
    lambda x: x.new_zeros(size=(2, 3)), lambda x: x.new_ones(size=[2]), lambda x: tuple(x.new_empty(size=(2,)).shape),
    lambda x: x.new_full(size=(2,), fill_value=3), lambda x: x.new_full((2,), fill_value=-1),
    lambda x: x.new_ones(2, 3, dtype=x.dtype), lambda x: x.new_zeros(size=(2,), dtype=None)])
def test_new_size_keywords(call: Callable[[Any], Any]) -> None:
    same(lambda m: call(m.zeros(1, dtype=m.int32)))


# ---------------------------------------------------------------- byte-swapped arrays
def test_big_endian_arrays() -> None:
    a = np.arange(3, dtype=">f4")
    for make in (tg.tensor, tg.as_tensor, tg.asarray):
        t = make(a)
        assert t.dtype == tg.float32 and t.tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(ValueError):
        torch.from_numpy(a)
    with pytest.raises(ValueError):
        tg.from_numpy(a)


# ---------------------------------------------------------------- float64 -> float16 rounds through float32
HALF_EDGES = [1 + 2**-11 + 2**-40, -(1 + 2**-11 + 2**-40), 2**-25 + 2**-50, 1024.5 + 2**-30, 65504.0, 65519.0,
              2048 + 1 + 2**-29, 0.0, -0.0, float("inf"), float("nan"), 6e-8 + 2**-60]
DOUBLES = st.sampled_from(HALF_EDGES) | st.floats(-65504, 65504) | st.floats(-1e-4, 1e-4)


@settings(max_examples=100, deadline=None)
@given(st.lists(DOUBLES, min_size=1, max_size=6),
       st.sampled_from(["half", "to", "tensor_np", "tensor_list", "as_tensor", "new_tensor"]))
def test_float64_to_float16_as_torch(values: list[float], path: str) -> None:
    paths = {
        "half": lambda m: m.tensor(values, dtype=m.float64).half(),
        "to": lambda m: m.tensor(values, dtype=m.float64).to(m.float16),
        "tensor_np": lambda m: m.tensor(np.array(values), dtype=m.float16),
        "tensor_list": lambda m: m.tensor(values, dtype=m.float16),
        "as_tensor": lambda m: m.as_tensor(np.array(values), dtype=m.float16),
        "new_tensor": lambda m: m.zeros(1, dtype=m.float16).new_tensor(values),
    }
    same(paths[path])


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(HALF_EDGES[:5]) | st.floats(-65504, 65504),
       st.sampled_from(["full", "full_like", "new_full", "fill_"]))
def test_float16_fill_as_torch(value: float, path: str) -> None:
    paths = {
        "full": lambda m: m.full((2,), value, dtype=m.float16),
        "full_like": lambda m: m.full_like(m.zeros(2, dtype=m.float16), value),
        "new_full": lambda m: m.zeros(1, dtype=m.float16).new_full((2,), value),
        "fill_": lambda m: m.zeros(2, dtype=m.float16).fill_(value),
    }
    same(paths[path])


def test_float16_to_float64_gradient_as_torch() -> None:
    def fn(m: Any) -> Any:
        a = m.tensor([1.0, 2.0], dtype=m.float16, requires_grad=True)
        (a.double() * m.tensor([1 + 2**-11 + 2**-40, 3.0], dtype=m.float64)).sum().backward()
        return a.grad
    same(fn)


# ---------------------------------------------------------------- floats into an integer dtype: checked as torch's
@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from([-0.5, -0.9, -1.5, 127.5, -128.5, 255.5, 1.7, -1.7, 9.3e18, float("nan"),
                                 float("inf"), -1, 2, 300]) | st.floats(-300, 300), min_size=1, max_size=4),
       st.sampled_from(["uint8", "int8", "int16", "int32", "int64"]))
def test_tensor_floats_into_int_dtype_as_torch(values: list, dtype: str) -> None:
    same(lambda m: m.tensor(values, dtype=getattr(m, dtype)))
