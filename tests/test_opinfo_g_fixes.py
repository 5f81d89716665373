"""Small differences from torch left by the earlier op sweeps (letter g): bool kernels torch lacks, nn.init on
integer tensors, empty indices of any dtype, tensordot's size-1 broadcast, complex numbers, i1 / i1e gradients."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_adam as ta

torch = pytest.importorskip("torch", reason="these tests compare against PyTorch")


def _both(fn):
    """fn(torch) and fn(ta): each its value or the exception it raised."""
    out = []
    for lib in (torch, ta):
        try:
            out.append(fn(lib))
        except Exception as e:  # (the exception is what gets compared)
            out.append(e)
    return out


def _same_refusal(fn, cls=NotImplementedError):
    t, o = _both(fn)
    assert isinstance(t, cls), f"torch accepted it: {t!r}"
    assert isinstance(o, cls), f"ours gave {o!r} where torch raised {type(t).__name__}"


def _bools(lib):
    return lib.tensor([True, False, True])


# ---------------------------------------------------------------- 1: bool tensors torch has no kernel for
@pytest.mark.parametrize("call", [
    lambda L: _bools(L).clamp(min=False, max=True),
    lambda L: _bools(L).clamp(min=True),
    lambda L: _bools(L).clamp(max=L.tensor(True), min=False),
    lambda L: L.clamp(L.tensor(True), max=False),
    lambda L: _bools(L).clamp_(min=False),
    lambda L: _bools(L).clip(False, True),
    lambda L: _bools(L).clamp_min(False),
    lambda L: _bools(L).clamp(min=L.tensor(False), max=L.tensor(True)),  # two tensor bounds: no kernel either
    lambda L: L.addcmul(_bools(L), _bools(L), _bools(L)),
    lambda L: _bools(L).addcmul_(_bools(L), _bools(L)),
    lambda L: L.addcmul(L.tensor([], dtype=L.bool), L.tensor([], dtype=L.bool), L.tensor([], dtype=L.bool)),
    lambda L: _bools(L).index_reduce(0, L.tensor([0, 1]), L.tensor([True, True]), "prod"),
    lambda L: _bools(L).index_reduce_(0, L.tensor([0, 2]), L.tensor([False, True]), "amax"),
])
@pytest.mark.filterwarnings("ignore::UserWarning")  # torch's index_reduce is "in beta"
def test_bool_without_kernel_raises(call):
    _same_refusal(call)


@pytest.mark.parametrize("call", [
    lambda L: _bools(L).clamp(min=L.tensor(False)),  # one tensor bound: torch has that kernel
    lambda L: _bools(L).clamp(max=L.tensor([False, True, True])),
    lambda L: _bools(L).clamp(min=0),  # an int bound promotes to int64
    lambda L: L.addcmul(_bools(L), _bools(L), L.tensor([1, 2, 3])),
    lambda L: L.addcmul(L.ones(3), _bools(L), _bools(L)),
])
def test_bool_with_kernel_still_works(call):
    t, o = _both(call)
    assert not isinstance(t, Exception) and not isinstance(o, Exception), (t, o)
    assert str(o.dtype) == str(t.dtype).replace("torch.", "")
    np.testing.assert_array_equal(o.numpy(), t.numpy())


# ---------------------------------------------------------------- 2: nn.init on integer / bool tensors
INITS = ["uniform_", "normal_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
         "trunc_normal_", "orthogonal_"]


@pytest.mark.parametrize("name", INITS)
@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_init_on_integer_tensor_raises_clearly(name, dtype):
    _same_refusal(lambda L: getattr(L.nn.init, name)(L.zeros(3, 4, dtype=getattr(L, dtype))))
    with pytest.raises(NotImplementedError) as info:
        getattr(ta.nn.init, name)(ta.zeros(3, 4, dtype=getattr(ta, dtype)))
    msg = str(info.value)
    assert dtype in msg and "floating" in msg and "for random" not in msg  # ours, not numpy's


def test_init_on_float_tensor_unchanged():
    w = ta.zeros(3, 4)
    ta.nn.init.orthogonal_(w)
    np.testing.assert_allclose(w.numpy() @ w.numpy().T, np.eye(3), atol=1e-5)


# ---------------------------------------------------------------- 3: an empty index of any dtype
@pytest.mark.parametrize("dtype", ["uint8", "int16", "int8", "bool", "float32"])
@pytest.mark.parametrize("op", ["gather", "scatter", "scatter_add", "scatter_value"])
def test_empty_index_of_any_dtype(op, dtype):
    def call(L):
        a = L.arange(12.0).reshape(3, 4)
        idx = L.zeros(3, 0, dtype=getattr(L, dtype))
        if op == "gather":
            return L.gather(a, 1, idx)
        if op == "scatter_value":
            return a.scatter(1, idx, 2.0)
        return getattr(a, op)(1, idx, L.ones(3, 0))
    t, o = _both(call)
    assert not isinstance(t, Exception) and not isinstance(o, Exception), (t, o)
    assert o.shape == tuple(t.shape)
    np.testing.assert_array_equal(o.numpy(), t.numpy())
    # a non-empty index of that dtype is still refused, as torch
    _same_refusal(lambda L: L.gather(L.ones(3, 4), 1, L.zeros(3, 1, dtype=getattr(L, dtype))), RuntimeError)


# ---------------------------------------------------------------- 4: tensordot broadcasts a size-1 contracted dim
@pytest.mark.parametrize("sa, sb, dims", [
    ((2, 1), (3, 4), 1),
    ((2, 3), (1, 4), 1),
    ((2, 1, 5), (3, 5, 4), ([1, 2], [0, 1])),
    ((1, 2, 3), (2, 1, 4), ([0, 1], [1, 0])),
    ((2, 3), (3, 4), 1),
])
def test_tensordot_size_one_broadcast(sa, sb, dims):
    rng = np.random.default_rng(0)
    xa, xb = rng.standard_normal(sa), rng.standard_normal(sb)
    res = []
    for L in (torch, ta):
        a = L.tensor(xa, requires_grad=True)
        b = L.tensor(xb, requires_grad=True)
        out = L.tensordot(a, b, dims=dims)
        (out * L.tensor(np.arange(out.numel(), dtype=np.float64).reshape(tuple(out.shape)))).sum().backward()
        res.append((out.detach().numpy(), a.grad.numpy(), b.grad.numpy()))
    for t, o in zip(*res):
        np.testing.assert_allclose(o, t, rtol=1e-12, atol=1e-12)


def test_tensordot_other_mismatch_still_raises():
    _same_refusal(lambda L: L.tensordot(L.ones(2, 2), L.ones(3, 4), dims=1), RuntimeError)


# ---------------------------------------------------------------- 7: a Python complex number says complex
@pytest.mark.parametrize("call", [
    lambda L: L.where(L.tensor([True, False]), 1j, 2),
    lambda L: L.where(L.tensor([True, False]), 1j, 2j),
    lambda L: L.where(L.tensor([True, False]), L.ones(2), 1j),
    lambda L: L.lerp(L.ones(2), L.zeros(2), 1j),
    lambda L: L.addcmul(L.ones(2), L.ones(2), L.ones(2), value=1j),
    lambda L: L.ones(2) * (1 + 2j),
])
def test_complex_number_is_named(call):
    t, o = _both(call)
    assert isinstance(o, NotImplementedError) and "complex" in str(o), repr(o)
    if isinstance(t, Exception):  # (where torch refuses too, it does so with a RuntimeError)
        assert isinstance(t, RuntimeError)


# ---------------------------------------------------------------- 8: i1 / i1e gradients as torch's formula
@pytest.mark.parametrize("name", ["i1", "i1e"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_i1_gradient_edges(name, dtype):
    pts = [float("nan"), 0.0, -0.0, 1e-20, -1e-9, 2e-7, float("inf"), -float("inf"), 1.5, -3.0, 40.0]
    grads = []
    for L in (torch, ta):
        x = L.tensor(pts, dtype=getattr(L, dtype), requires_grad=True)
        getattr(L.special, name)(x).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-5 if dtype == "float32" else 1e-12, equal_nan=True)


@pytest.mark.parametrize("name", ["uniform_", "normal_", "exponential_", "cauchy_", "log_normal_"])
def test_tensor_random_fill_on_integer_tensor(name):
    t, o = _both(lambda L: getattr(L.zeros(3, dtype=L.int64), name)())
    assert isinstance(t, RuntimeError) and isinstance(o, type(t)), (t, o)  # (torch: NotImplementedError or Runtime)
    assert "int64" in str(o) and "floating" in str(o)
