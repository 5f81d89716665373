"""Fixes found by the spatial probe (convolution, pooling, resampling, padding, embedding against torch): int64
average pooling (torch's CPU kernel: integer sums divided rounding toward zero), an empty pool stride meaning the
kernel, interpolate sizes given as numpy ints or 0-d integer tensors, F.pad of a 0-d tensor with no padding, and
embedding_bag's integer weight raising as torch's."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
import tinygrad_adam.nn as gnn
import tinygrad_adam.nn.functional as G

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
F = torch.nn.functional

SETTINGS = settings(max_examples=25, deadline=None)


WINDOW = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(0, 1), st.booleans(), st.booleans(),
                   st.sampled_from([None, None, 3, -2]))


@SETTINGS
@given(dims=st.sampled_from([1, 2, 3]), window=WINDOW, sizes=st.lists(st.integers(3, 6), min_size=3, max_size=3),
       big=st.booleans(), seed=st.integers(0, 2**16))
def test_int64_avg_pool_as_torch(dims: int, window: tuple, sizes: list[int], big: bool, seed: int) -> None:
    """torch's CPU avg_pool1d / 2d / 3d take int64 input: each window's integer sum divided by its count (or the
    divisor_override), rounding toward zero, int64 out; ours raised TypeError."""
    k, s, p, ceil, include, divisor = window
    p = min(p, k // 2)
    vals = np.random.default_rng(seed).integers(-(2**40) if big else -50, 2**40 if big else 50, (2, 2, *sizes[:dims]))
    kw = {} if dims == 1 else {"divisor_override": divisor}
    ref = getattr(F, f"avg_pool{dims}d")(torch.tensor(vals), k, s, p, ceil, include, **kw)
    ours = getattr(G, f"avg_pool{dims}d")(tg.tensor(vals), k, s, p, ceil, include, **kw)
    assert ours.dtype == tg.int64 and ours.shape == tuple(ref.shape)
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())


def test_avg_pool_other_integer_dtypes_raise_as_torch() -> None:
    """Only int64 is torch's: int32 / uint8 / bool still raise (torch: NotImplementedError)."""
    for dtype in ("int32", "uint8", "bool"):
        with pytest.raises((TypeError, RuntimeError)):
            G.avg_pool2d(tg.ones(1, 1, 4, 4, dtype=getattr(tg, dtype)), 2)
        with pytest.raises((TypeError, RuntimeError)):
            G.avg_pool3d(tg.ones(1, 1, 2, 4, 4, dtype=getattr(tg, dtype)), 2)


@pytest.mark.parametrize("empty", [[], ()])
def test_empty_pool_stride_is_the_kernel(empty: list | tuple) -> None:
    """torch reads an empty stride as the default (the kernel size), in F.max_pool / avg_pool / lp_pool 1-3d and
    the MaxPool / AvgPool modules; ours raised ValueError. A zero stride still raises."""
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 6, 6)).astype(np.float32)
    calls = [("max_pool1d", lambda F, t: F.max_pool1d(t[0, 0], 2, empty)),
             ("avg_pool1d", lambda F, t: F.avg_pool1d(t[0, 0], 2, empty)),
             ("max_pool2d", lambda F, t: F.max_pool2d(t[0], 2, empty, return_indices=True)),
             ("avg_pool2d", lambda F, t: F.avg_pool2d(t[0], 3, empty, 1)),
             ("max_pool3d", lambda F, t: F.max_pool3d(t, 2, empty)),
             ("avg_pool3d", lambda F, t: F.avg_pool3d(t, 2, empty)),
             ("lp_pool2d", lambda F, t: F.lp_pool2d(t[0].abs(), 2, 2, empty))]
    for name, call in calls:
        ref, ours = call(F, torch.tensor(x)), call(G, tg.tensor(x))
        ref, ours = (ref, ours) if isinstance(ref, tuple) else ((ref,), (ours,))
        for r, o in zip(ref, ours):
            np.testing.assert_allclose(o.numpy(), r.numpy(), rtol=1e-6, atol=1e-6, err_msg=name)
    for name in ("MaxPool2d", "AvgPool2d"):
        m = getattr(gnn, name)(2, empty)
        assert m.stride == empty
        np.testing.assert_allclose(m(tg.tensor(x[0])).numpy(), getattr(torch.nn, name)(2, empty)(
            torch.tensor(x[0])).numpy(), rtol=1e-5, atol=1e-6)
        with pytest.raises(ValueError):
            getattr(gnn, name)(2, 0)
    with pytest.raises(ValueError):
        G.max_pool2d(tg.tensor(x[0]), 2, 0)


@SETTINGS
@given(h=st.integers(1, 9), w=st.integers(1, 9), kind=st.sampled_from(["np64", "np32", "tensor", "int"]))
def test_interpolate_size_numpy_ints_and_0d_tensors(h: int, w: int, kind: str) -> None:
    """torch takes an interpolate size of numpy ints or one-element integer tensors; ours raised TypeError. Bools
    and floats still raise TypeError, as torch's."""
    def make(lib: object, v: int) -> object:
        return {"np64": np.int64(v), "np32": np.int32(v), "tensor": lib.tensor(v), "int": v}[kind]
    x = np.arange(2 * 3 * 4.0, dtype=np.float32).reshape(1, 2, 3, 4)
    ref = F.interpolate(torch.tensor(x), size=(make(torch, h), make(torch, w)), mode="bilinear")
    ours = G.interpolate(tg.tensor(x), size=(make(tg, h), make(tg, w)), mode="bilinear")
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-6, atol=1e-6)
    for bad in (True, 2.0, (2.0, 3)):
        with pytest.raises(TypeError):
            G.interpolate(tg.tensor(x), size=bad)
        with pytest.raises(TypeError):
            F.interpolate(torch.tensor(x), size=bad)


@pytest.mark.parametrize("value", [0.0, -0.0, 3.5, float("inf"), float("nan")])
def test_pad_0d_with_no_padding(value: float) -> None:
    """F.pad(0-d, ()) is a copy in torch (gradient 1); ours raised numpy's TypeError."""
    a, b = torch.tensor(value, requires_grad=True), tg.tensor(value, requires_grad=True)
    ref, ours = F.pad(a, ()), G.pad(b, ())
    np.testing.assert_array_equal(ours.detach().numpy(), ref.detach().numpy())
    assert ours.shape == () and ours.dtype == tg.float32
    ours.backward()
    ref.backward()
    np.testing.assert_array_equal(b.grad.numpy(), a.grad.numpy())
    ours.data.fill_(7.0)  # a copy, not the input
    assert np.isnan(value) or b.item() == value
    for bad in ((0, 0), (1, 1)):
        with pytest.raises((ValueError, RuntimeError)):
            G.pad(tg.tensor(value), bad)


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_embedding_bag_integer_weight_raises_as_torch(dtype: str) -> None:
    """torch's embedding_bag takes floating weights only (RuntimeError); ours returned float32 means."""
    with pytest.raises(RuntimeError):
        F.embedding_bag(torch.tensor([[1, 0]]), torch.ones(3, 2, dtype=getattr(torch, dtype)))
    with pytest.raises(TypeError):
        G.embedding_bag(tg.tensor([[1, 0]]), tg.ones(3, 2, dtype=getattr(tg, dtype)))
    assert G.embedding_bag(tg.tensor([[1, 0]]), tg.ones(3, 2, dtype=tg.float16)).dtype == tg.float16
