"""``torch.nn.grad`` (``F.grad``): conv1d / conv2d / conv3d input and weight gradients as torch's, for any stride,
padding, dilation and groups (hypothesis), with torch's errors for a mismatched output gradient or dtype, and a
graph kept where grad mode is on and an argument requires grad (torch's ``convolution_backward`` is differentiable:
a second derivative through it agrees too)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dims=st.sampled_from([1, 2, 3]), dtype=st.sampled_from([np.float32, np.float64]))
def test_conv_gradients_as_torch(data: st.DataObject, dims: int, dtype: Any) -> None:
    groups = data.draw(st.sampled_from([1, 2]))
    c, o = groups * data.draw(st.integers(1, 2)), groups * data.draw(st.integers(1, 2))
    k = tuple(data.draw(st.integers(1, 3)) for _ in range(dims))
    stride, padding, dilation = (tuple(data.draw(st.integers(lo, 2)) for _ in range(dims)) for lo in (1, 0, 1))
    size = tuple(max(d * (kk - 1) + 1 - 2 * p, 1) + data.draw(st.integers(0, 3))
                 for kk, d, p in zip(k, dilation, padding))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = rng.standard_normal((data.draw(st.integers(1, 2)), c, *size)).astype(dtype)
    w = rng.standard_normal((o, c // groups, *k)).astype(dtype)
    kw = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    results = []
    for lib in (torch, tg):
        conv = getattr(lib.nn.functional, f"conv{dims}d")
        X, W = lib.tensor(x), lib.tensor(w)
        shape = tuple(conv(X, W, None, **kw).shape)
        go = lib.tensor(np.cos(np.arange(int(np.prod(shape)))).reshape(shape).astype(dtype))
        results.append([getattr(lib.nn.grad, f"conv{dims}d_input")(X.shape, W, go, **kw).numpy(),
                        getattr(lib.nn.functional.grad, f"conv{dims}d_weight")(X, W.shape, go, **kw).numpy()])
    for ours, theirs in zip(results[1], results[0]):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-4 if dtype == np.float32 else 1e-10,
                                   atol=1e-4 if dtype == np.float32 else 1e-10)


def test_errors_and_graph_as_torch() -> None:
    for lib in (torch, tg):  # an output gradient of the wrong shape, and of another dtype than the weight
        with pytest.raises(RuntimeError):
            lib.nn.grad.conv2d_input((1, 1, 5, 5), lib.ones(1, 1, 3, 3), lib.ones(1, 1, 2, 2))
        with pytest.raises(RuntimeError):
            lib.nn.grad.conv2d_input((1, 1, 5, 5), lib.ones(1, 1, 3, 3, dtype=lib.float64), lib.ones(1, 1, 3, 3))
    rng = np.random.default_rng(0)
    w0, g0 = rng.standard_normal((2, 1, 3, 3)), rng.standard_normal((1, 2, 3, 3))
    x0 = rng.standard_normal((1, 1, 5, 5))
    seconds = []
    for lib in (torch, tg):
        w, go = lib.tensor(w0, requires_grad=True), lib.tensor(g0, requires_grad=True)
        gi = lib.nn.grad.conv2d_input((1, 1, 5, 5), w, go)
        assert gi.requires_grad
        with lib.no_grad():
            assert not lib.nn.grad.conv2d_input((1, 1, 5, 5), w, go).requires_grad
        assert not lib.nn.grad.conv2d_input([1, 1, 5, 5], w.detach(), go.detach()).requires_grad
        gw = lib.nn.grad.conv2d_weight(lib.tensor(x0), (2, 1, 3, 3), go)
        ((gi * gi).sum() + (gw ** 3).sum()).backward()  # through both, into the weight and the output gradient
        seconds.append([w.grad.numpy(), go.grad.numpy()])
    for ours, theirs in zip(seconds[1], seconds[0]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)


@pytest.mark.gpu
def test_on_the_gpu_as_on_the_cpu() -> None:
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3))
    go = rng.standard_normal((2, 3, 2, 2))
    results = []
    for device in ("cpu", "cuda"):
        X, W, G = (tg.tensor(a, device=device) for a in (x, w, go))
        gi = tg.nn.grad.conv2d_input(X.shape, W, G, stride=2)
        gw = tg.nn.grad.conv2d_weight(X, W.shape, G, stride=2)
        assert str(gi.device).startswith(device) and str(gw.device).startswith(device)
        results.append([gi.cpu().numpy(), gw.cpu().numpy()])
    for gpu, cpu in zip(results[1], results[0]):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-12, atol=1e-12)
