"""Fixes from sweeping the in-place variants of PyTorch's OpInfo entries (identity, views, refusals, gradients):
conj_physical_ on a leaf that requires grad, index_fill_ with an out-of-range 0-d tensor value, in-place writes of
a 0-d result wider than the tensor's integer dtype, index_add_'s alpha on small integer dtypes, uniform_ / normal_
on integer tensors."""
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as ta

torch = pytest.importorskip("torch", reason="the oracle for these comparisons is PyTorch")

SMALL_INTS = ["uint8", "int8", "int16"]


def outcome(fn: Callable[[Any], Any], lib: Any) -> tuple:
    """("raise",) when ``fn(lib)`` raises a RuntimeError (torch's class for these refusals), else its dtype and
    values (nan as a string, so that equal outcomes compare equal)."""
    try:
        out = fn(lib)
    except RuntimeError:
        return ("raise",)
    values = np.asarray(out.tolist(), dtype=object)
    return ("ok", str(out.dtype).replace("torch.", ""), [repr(v) for v in values.ravel()], values.shape)


def test_conj_physical_in_place_refuses_a_leaf_that_requires_grad() -> None:
    """conj_physical_ is an in-place op like any other: a leaf that requires grad is refused (a silent no-op before),
    the version moves, an expand is accepted, and a non-leaf still differentiates."""
    for lib in (torch, ta):
        leaf = lib.tensor([1.0, -2.0], requires_grad=True)
        with pytest.raises(RuntimeError):
            leaf.conj_physical_()
        with lib.no_grad():
            assert leaf.conj_physical_() is leaf
        x = lib.tensor([1.0, -2.0])
        assert x.conj_physical_() is x and x._version == 1
        e = x[:1].expand(3)  # (it writes no element, so an expand's shared ones are allowed, as torch's)
        assert e.conj_physical_() is e and x.tolist() == [1.0, -2.0]
    tx, ox = torch.tensor([1.5, -2.0], requires_grad=True), ta.tensor([1.5, -2.0], requires_grad=True)
    ty, oy = tx * 2, ox * 2
    ty.conj_physical_()
    oy.conj_physical_()
    (ty * torch.tensor([3.0, 4.0])).sum().backward()
    (oy * ta.tensor([3.0, 4.0])).sum().backward()
    np.testing.assert_array_equal(ox.grad.numpy(), tx.grad.numpy())


@settings(max_examples=60, deadline=None)
@given(dtype=st.sampled_from(SMALL_INTS + ["float16", "int64"]),
       value=st.one_of(st.floats(-400, 400), st.integers(-400, 400), st.sampled_from([float("nan"), 255.5, 1e5])),
       value_dtype=st.sampled_from(["float32", "float64", "int64", "int16"]))
def test_index_fill_checks_a_0d_tensor_value_as_torch(dtype: str, value: float, value_dtype: str) -> None:
    """A 0-d tensor value that does not fit the tensor's dtype raises, as the same Python number does (300. into
    uint8 wrapped to 44 before); one that fits is written as torch writes it."""
    if np.dtype(value_dtype).kind == "i":
        value = int(value) if value == value else 0

    def fill(lib: Any) -> Any:
        x = lib.zeros(3, dtype=getattr(lib, dtype))
        return x.index_fill_(0, lib.tensor([0, 2]), lib.tensor(value, dtype=getattr(lib, value_dtype)))
    assert outcome(fill, ta) == outcome(fill, torch)


@settings(max_examples=80, deadline=None)
@given(dtype=st.sampled_from(SMALL_INTS), other_dtype=st.sampled_from(SMALL_INTS + ["int32"]),
       a=st.integers(-128, 127), b=st.integers(-128, 255), op=st.sampled_from(["add_", "sub_", "mul_"]),
       shape=st.sampled_from([(), (1,), (2,)]))
def test_in_place_write_of_a_wider_int_result_wraps_as_torch(dtype: str, other_dtype: str, a: int, b: int, op: str,
                                                             shape: tuple) -> None:
    """A 0-d int8 tensor updated by a uint8 / int16 operand: the int16 result wraps into int8 as torch's (numpy
    refused to write the out-of-range scalar: OverflowError)."""
    a = int(np.array(a).astype(dtype)) if dtype != "uint8" else a % 256
    b = int(np.array(b).astype(other_dtype))

    def run(lib: Any) -> Any:
        x = lib.full(shape, a, dtype=getattr(lib, dtype))
        y = getattr(x, op)(lib.tensor(b, dtype=getattr(lib, other_dtype)))
        assert y is x
        return x
    assert outcome(run, ta) == outcome(run, torch)


@settings(max_examples=60, deadline=None)
@given(dtype=st.sampled_from(SMALL_INTS + ["int64"]), alpha=st.integers(-300, 300), base=st.integers(0, 100),
       source=st.integers(0, 100), in_place=st.booleans())
def test_index_add_alpha_on_small_integer_dtypes(dtype: str, alpha: int, base: int, source: int,
                                                 in_place: bool) -> None:
    """index_add(_)'s alpha goes through the tensor's dtype as torch checks it: uint8's -1 is 255 (numpy's
    OverflowError before), one out of range raises."""
    def run(lib: Any) -> Any:
        x = lib.tensor([base, base], dtype=getattr(lib, dtype))
        src = lib.tensor([source], dtype=getattr(lib, dtype))
        if in_place:
            return x.index_add_(0, lib.tensor([1]), src, alpha=alpha)
        return x.index_add(0, lib.tensor([1]), src, alpha=alpha)
    assert outcome(run, ta) == outcome(run, torch)


@pytest.mark.parametrize("op", ["uniform_", "normal_", "exponential_"])
@pytest.mark.parametrize("dtype", ["int64", "bool", "uint8"])
def test_continuous_fills_refuse_integer_tensors(op: str, dtype: str) -> None:
    """Torch refuses these fills for integer and bool tensors; ours says why in its own words (numpy's message
    about its random generator before), and float tensors keep their dtype."""
    with pytest.raises((NotImplementedError, RuntimeError)):
        getattr(torch.zeros(2, dtype=getattr(torch, dtype)), op)()
    with pytest.raises(TypeError, match="floating"):
        getattr(ta.zeros(2, dtype=getattr(ta, dtype)), op)()
    assert getattr(ta.zeros(2, dtype=ta.float16), op)().dtype == ta.float16


@pytest.mark.parametrize(("value", "dtype"), [(100000, "int16"), (-129, "int8"), (255, "int8"), ([1, 2**40], "int32"),
                                              (-300, "uint8"), (-1, "uint8")])
def test_tensor_of_an_int_out_of_a_signed_dtype_raises_as_torch(value: Any, dtype: str) -> None:
    """torch.tensor(100000, dtype=int16) raises torch's RuntimeError (numpy's OverflowError, with its message, before;
    ours is both); uint8's -1 still wraps to 255."""
    assert outcome(lambda lib: lib.tensor(value, dtype=getattr(lib, dtype)), ta) == \
        outcome(lambda lib: lib.tensor(value, dtype=getattr(lib, dtype)), torch)


@settings(max_examples=30, deadline=None)
@given(base=st.lists(st.floats(0.1, 3.0), min_size=1, max_size=4), seed=st.integers(0, 2**16),
       kind=st.sampled_from(["tensor", "constant tensor", "number"]))
def test_double_backward_through_pow_in_place(base: list, seed: int, kind: str) -> None:
    """create_graph=True through ``y.pow_(e)`` / ``y **= e`` on a non-leaf: torch's second derivatives (NotImplemented
    before: pow's formula read the output, which the in-place write overwrote)."""
    rng = np.random.default_rng(seed)
    n = len(base)
    e, c1, c2 = rng.uniform(-1.5, 2.5, n), rng.standard_normal(n), rng.standard_normal(n)
    results = []
    for lib in (torch, ta):
        x = lib.tensor(base, dtype=lib.float64, requires_grad=True)
        ex = 1.5 if kind == "number" else lib.tensor(e, requires_grad=kind == "tensor")
        y = x * 1
        y **= ex
        leaves = [x, ex] if kind == "tensor" else [x]
        grads = lib.autograd.grad((y * lib.tensor(c1)).sum(), leaves, create_graph=True)
        second = sum((g * lib.tensor(c2 + i)).sum() for i, g in enumerate(grads))
        results.append([t.detach().numpy() for t in grads + lib.autograd.grad(second, leaves)])
    for want, got in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
