"""Sums over a long strided axis inside ops accumulate wider, as torch's do (float16 in float32, float32 in a
cascade; ours in float64 and rounded once).

numpy adds the terms of an axis that is not the trailing, contiguous one one at a time in the input's dtype: a
float16 sum stops growing at 2048 (1 + 2048 rounds back to 2048), and a float32 one drifts (3e6 rows of 0.1: 3%
off). `sum`, `mean` and broadcast gradients were already widened; these were not: softmax / log_softmax / logsumexp
over dim 0 (float16 softmax of 5000 ones gave 4.9e-4 where torch gives 2.0e-4), vector_norm / normalize /
cosine_similarity (float16 cosine of a vector with itself: 2.44), nansum / nanmean, the batch / layer norm
statistics and their weight and bias gradients, the bias gradients of linear and conv2d, repeat's and cdist's
gradients. (A BLAS matrix-vector product per block of 128 rows, the blocks added in float64, ran linear's bias
gradient 2-6x faster at 1024 rows, but its float32 roundings inside a block, where terms cancel, moved nerf_lite's
Adam run 1e-2 from torch's in 30 steps, against 2e-5 with float64 sums; so float64 it is, at no measurable cost to
the char GPT step.) A float16 norm also squared in float16, so 300 overflowed to inf (normalize gave 0, torch
0.707): it is computed in float32 as torch's, and so are float16 logcumsumexp (a running log-sum), embedding_bag's
sums, and the adds of index_add / scatter_add / scatter_reduce into one place (as torch's); avg_pool's window sums
are widened (adaptive_avg_pool1d of 5000 float16 ones gave 0.41).

Mutations run (each made a test here fail):
- shifted_exp's sum back to ``e.sum`` (float16 one at a time): test_softmax_family.
- norm_of without the float16 -> float32 step: test_norms (300s overflow); its sums unwidened: test_norms.
- nansum without ``dtype=wide``: test_nan_reductions.
- keepdims_mean back to ``x.mean``: test_batch_norm_statistics.
- linear's bias gradient back to ``g2.sum(axis=0)``: test_bias_gradients[linear], test_linear_bias_gradient_over_
  many_rows; conv2d's: test_bias_gradients[conv2d];
  norm's _affine_grads: [layer_norm].
- repeat's backward unwidened: test_repeat_and_cdist_gradients; cdist's: the same test.
- log_softmax's backward ``g.sum``: test_softmax_family (gradient).
- logcumsumexp without its float16 -> float32 step: test_float16_logcumsumexp; float32 unwidened (the forty-second
  stop): test_float32_logcumsumexp_rounds_once.
- backend.scatter_add without its float16 branch: test_float16_scatter_accumulation (all four) and
  test_float16_embedding_bag (whose bags are index_add's); avg_pool2d's window sum unwidened:
  test_float16_average_pooling.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

LIBS = (tg, torch)


def long_columns(dtype: Any, low: float = 0.25, high: float = 4.0) -> Any:
    """(n, 2) arrays with n in 3000..5000: their columns are long strided axes."""
    width = 16 if dtype == np.float16 else 32
    return st.integers(3000, 5000).flatmap(lambda n: arrays(dtype, (n, 2), elements=st.floats(
        low, high, width=width)))


def both(fn: Any, *arrays_: np.ndarray, grad: bool = False) -> list[list[np.ndarray]]:
    """``fn(lib, *tensors)`` for ours and torch: its value (float64) and, with ``grad``, each input's gradient of
    the value times fixed weights."""
    results = []
    for lib in LIBS:
        xs = [lib.tensor(a, requires_grad=grad) for a in arrays_]
        out = fn(lib, *xs)
        got = [out.detach().double().numpy()]
        if grad:
            w = lib.tensor(np.linspace(0.5, 1.5, out.numel()).reshape(out.shape)).to(out.dtype)
            got += [g.double().numpy() for g in lib.autograd.grad((out * w).sum(), xs)]
        results.append(got)
    return results


def close(ours: list[np.ndarray], theirs: list[np.ndarray], rtol: float, atol: float = 0.0) -> None:
    """Values to ``rtol`` / ``atol``; gradients also to 1% of their largest magnitude (float16 elementwise math
    beside a sum rounds differently from torch's float32 opmath; an unwidened float16 sum is 30% off)."""
    for k, (a, b) in enumerate(zip(ours, theirs)):
        scale = 1e-2 * float(np.nanmax(np.abs(b), initial=0)) if k else 0.0
        np.testing.assert_allclose(a, b, rtol=rtol, atol=max(atol, scale), equal_nan=True)


def softmax_family_agrees(x: np.ndarray) -> None:
    """softmax / log_softmax over dim 0 with gradients as torch's, or no farther from float64 than torch's."""
    for fn in (lambda lib, t: lib.softmax(t, 0), lambda lib, t: lib.log_softmax(t, 0)):
        ours, theirs = both(fn, x, grad=True)
        try:
            close(ours, theirs, rtol=4e-3, atol=1e-7)
        except AssertionError:
            exact = both(fn, x.astype(np.float64), grad=True)[1]
            for a, b, e in zip(ours, theirs, exact):  # (largest errors: float16 rounds each element either way)
                assert np.abs(a - e).max() <= np.abs(b - e).max() + 1e-7, (np.abs(a - e).max(), np.abs(b - e).max())
    # logsumexp's gradient: torch's exp(x - lse) reads lse rounded to float16 (an ulp of 8 is 0.008), ours e / s
    close(*both(lambda lib, t: lib.logsumexp(t, 0), x, grad=True), rtol=1.2e-2, atol=1e-7)


@settings(max_examples=15, deadline=None)
@given(long_columns(np.float16))
def test_softmax_family(x: np.ndarray) -> None:
    softmax_family_agrees(x)


def test_softmax_gradient_where_torch_s_float16_is_off() -> None:
    """7,975 float16 ones and a 4 (a draw hypothesis made only after other tests had run): softmax's gradient at
    the 4 is 3.2e-7 off the float64 one here and 4.4e-6 (1.3%) in torch, outside the plain tolerance."""
    x = np.ones((3988, 2), np.float16)
    x[1718, 1] = 4
    softmax_family_agrees(x)


@settings(max_examples=15, deadline=None)
@given(long_columns(np.float16), st.sampled_from([1.0, 2.0, 3.0]))
def test_norms(x: np.ndarray, p: float) -> None:
    close(*both(lambda lib, t: lib.linalg.vector_norm(t, p, dim=0), x, grad=True), rtol=4e-3)
    close(*both(lambda lib, t: lib.nn.functional.normalize(t, p, dim=0), x), rtol=4e-3, atol=1e-7)
    close(*both(lambda lib, t: lib.nn.functional.cosine_similarity(t, t.flip(0), dim=0), x), rtol=4e-3)
    big = np.full((3, 2), 300.0, np.float16)  # 300^2 overflows float16: torch squares in float32
    ours, theirs = both(lambda lib, t: lib.linalg.vector_norm(t, p, dim=0), big, grad=True)
    close(ours[:1], theirs[:1], rtol=2e-3)
    # the gradient x |x|^(p-2) / norm^(p-1): ours in float32, rounded once; torch's float16 formula overflows at
    # p = 3 (300^2: nan there), so it is checked against the float64 one: (x / norm)^(p-1) times the weights
    exact = (300.0 / (3 * 300.0**p) ** (1 / p)) ** (p - 1) * np.linspace(0.5, 1.5, 2)
    np.testing.assert_allclose(ours[1], np.broadcast_to(exact, big.shape), rtol=2e-3)


@settings(max_examples=15, deadline=None)
@given(long_columns(np.float16), st.lists(st.integers(0, 2999), max_size=20))
def test_nan_reductions(x: np.ndarray, holes: list[int]) -> None:
    x = x.copy()
    x[holes, 0] = np.nan
    close(*both(lambda lib, t: lib.nansum(t, 0), x, grad=True), rtol=2e-3)
    close(*both(lambda lib, t: lib.nanmean(t, 0), x), rtol=2e-3)


@settings(max_examples=10, deadline=None)
@given(long_columns(np.float16, -2.0, 2.0))
def test_float16_logcumsumexp(x: np.ndarray) -> None:
    """A float16 running log-sum in float32, as torch's (3000 terms of 0.1 stalled at 6.34; torch: 8.11)."""
    close(*both(lambda lib, t: lib.logcumsumexp(t, 0), x, grad=True), rtol=4e-3, atol=1e-3)


@pytest.mark.parametrize("scale", [1.0, 100.0])
def test_float32_logcumsumexp_rounds_once(scale: float) -> None:
    """float32 logcumsumexp scans in float64 and rounds once: torch's bits on a 5000-long scan (a float32 scan drifted
    18 ulps), and the gradient of values near 1e5, whose float32 form moves by the rounding of each out_j (a few
    percent), within float32 reach of the float64 gradient of the same inputs."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((2, 5000)) * scale).astype(np.float32)
    theirs = torch.logcumsumexp(torch.tensor(x), 1).numpy()
    assert np.array_equal(tg.logcumsumexp(tg.tensor(x), 1).numpy(), theirs)
    x = (rng.standard_normal((4, 8)) * 1e5).astype(np.float32)
    g = np.cos(np.arange(32.0)).reshape(4, 8)
    grads = []
    for dtype in (tg.float32, tg.float64):
        t = tg.tensor(x, dtype=dtype, requires_grad=True)
        (tg.logcumsumexp(t, 1) * tg.tensor(g, dtype=dtype)).sum().backward()
        grads.append(t.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_float16_embedding_bag(mode: str) -> None:
    """A float16 bag of 3000 rows summed in float32, as torch's (it stopped at 2048); against torch in float64, as
    torch's own float16 backward of mode "mean" drifts (0.320 for 0.340: it adds 1/3000 a thousand times in float16)
    where ours adds in float32."""
    rng = np.random.default_rng(5)
    weight = rng.uniform(0.5, 1.5, (6, 3)).astype(np.float16)
    bags = rng.integers(0, 6, (2, 3000))
    results = []
    for lib in LIBS:
        w = lib.tensor(weight if lib is tg else weight.astype(np.float64), requires_grad=True)
        out = lib.nn.functional.embedding_bag(lib.tensor(bags), w, mode=mode)
        (g,) = lib.autograd.grad(out.sum(), w)
        results.append([out.detach().double().numpy(), g.double().numpy()])
    close(*results, rtol=2e-3)


@pytest.mark.parametrize("op", ["index_add", "scatter_add", "scatter_reduce_sum", "scatter_reduce_mean"])
def test_float16_scatter_accumulation(op: str) -> None:
    """5000 float16 values added into one place: in float32, rounded once, as torch's (they stopped at 2048)."""
    rng = np.random.default_rng(6)
    src = rng.uniform(0.5, 1.5, (5000, 2)).astype(np.float16)
    places = rng.integers(0, 2, 5000)
    results = []
    for lib in LIBS:
        s = lib.tensor(src, requires_grad=True)
        base = lib.zeros(2, 2, dtype=lib.float16)
        if op == "index_add":
            out = base.index_add(0, lib.tensor(places), s)
        else:
            index = lib.tensor(np.stack([places, places], 1))
            out = (base.scatter_add(0, index, s) if op == "scatter_add"
                   else base.scatter_reduce(0, index, s, op.rpartition("_")[2]))
        (g,) = lib.autograd.grad(out.sum(), s)
        results.append([out.detach().double().numpy(), g.double().numpy()])
    close(*results, rtol=2e-3)


@pytest.mark.parametrize("length", [5000, 4999])
def test_float16_average_pooling(length: int) -> None:
    """A float16 average over 5000 positions of a transposed view (avg_pool's window sum; adaptive pooling's even
    and uneven windows)."""
    x = np.random.default_rng(7).uniform(0.5, 1.5, (length, 2)).astype(np.float16)
    for fn in (lambda lib, t: lib.nn.functional.adaptive_avg_pool1d(t.T.unsqueeze(0), 1),
               lambda lib, t: lib.nn.functional.avg_pool1d(t.T.unsqueeze(0), length)):
        close(*both(fn, x, grad=True), rtol=2e-3)


def test_float32_long_axis_accuracy() -> None:
    """3e6 rows of 0.1 in float32: within float32 rounding of the exact answers (numpy's one-at-a-time sum was 3%
    off, softmax's denominator likewise)."""
    x = tg.tensor(np.full((3_000_000, 2), 0.1, np.float32))
    exact = float(np.float32(0.1)) * 3e6
    np.testing.assert_allclose(tg.nansum(x, 0).numpy(), exact, rtol=1e-6)
    np.testing.assert_allclose(tg.linalg.vector_norm(x, 1, dim=0).numpy(), exact, rtol=1e-6)
    np.testing.assert_allclose(tg.softmax(x, 0)[0].numpy(), 1 / 3e6, rtol=1e-6)
    np.testing.assert_allclose(tg.logsumexp(x, 0).numpy(), np.log(3e6) + 0.1, rtol=1e-6)


def test_linear_bias_gradient_over_many_rows() -> None:
    """3e6 rows of 0.1 as linear's output gradient: the bias gradient within float32 rounding (numpy's loop: 3%)."""
    x = tg.zeros(3_000_000, 2)
    w = tg.zeros(2, 2)
    b = tg.zeros(2, requires_grad=True)
    (tg.nn.functional.linear(x, w, b) * 0.1).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), float(np.float32(0.1)) * 3e6, rtol=1e-6)


def test_batch_norm_statistics() -> None:
    """Training-mode batch norm of (N, C) = (2e6, 2) float32 within float32 rounding of the float64 answer
    (statistics summed one at a time over N were 1.5e-3 off; torch's float32 batch norm is too, here)."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2_000_000, 2)) * 0.5 + 10).astype(np.float32)
    ours = tg.nn.functional.batch_norm(tg.tensor(x), None, None, training=True).numpy().astype(np.float64)
    exact = torch.nn.functional.batch_norm(torch.tensor(x).double(), None, None, training=True).numpy()
    np.testing.assert_allclose(ours, exact, atol=3e-6)


@pytest.mark.parametrize("layer", ["linear", "conv2d", "layer_norm"])
def test_bias_gradients(layer: str) -> None:
    """Bias gradients summed over many rows / positions in float16: within float16 rounding of the exact sums."""
    rng = np.random.default_rng(1)
    if layer == "linear":
        x, w, b = rng.uniform(0.5, 2, (5000, 3)), rng.uniform(0.5, 2, (2, 3)), rng.uniform(-1, 1, 2)
        fn = lambda lib, x, w, b: lib.nn.functional.linear(x, w, b)  # noqa: E731
    elif layer == "conv2d":
        x, w, b = rng.uniform(0.5, 2, (3000, 1, 4, 4)), rng.uniform(0.5, 2, (2, 1, 3, 3)), rng.uniform(-1, 1, 2)
        fn = lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b)  # noqa: E731
    else:
        x, w, b = rng.uniform(0.5, 2, (5000, 4)), rng.uniform(0.5, 2, 4), rng.uniform(-1, 1, 4)
        fn = lambda lib, x, w, b: lib.nn.functional.layer_norm(x, (4,), w, b)  # noqa: E731
    arrays_ = [a.astype(np.float16) for a in (x, w, b)]
    ours, _ = both(fn, *arrays_, grad=True)
    _, exact = both(fn, *(a.astype(np.float64) for a in arrays_), grad=True)
    # the bias's gradient, a sum over 5000+ rows or positions, against float64 (torch's float16 layer_norm gives
    # 4912 for 5000 here, and 4096 for a gradient of ones: its own float16 sum drifts)
    np.testing.assert_allclose(ours[3], exact[3], rtol=4e-3)


def test_repeat_and_cdist_gradients() -> None:
    rng = np.random.default_rng(2)
    x = rng.uniform(0.5, 2, (1, 3)).astype(np.float16)
    close(*both(lambda lib, t: t.repeat(5000, 1), x, grad=True), rtol=4e-3)
    a, b = rng.uniform(0, 1, (4, 2)).astype(np.float16), rng.uniform(2, 3, (5000, 2)).astype(np.float16)
    ours, theirs = both(lambda lib, s, t: lib.cdist(s, t), a, b, grad=True)
    close(ours, theirs, rtol=4e-3, atol=0.02)


HUGE = (st.floats(allow_nan=False, allow_infinity=False, width=32)
        | st.sampled_from([3e38, -3e38, 1.7e38, -1.7e38, 1.0, 0.0]))


def _within_float32_sum(ours: np.ndarray, x: np.ndarray, axes: tuple[int, ...], n: int) -> None:
    """``ours`` (a float32 sum of ``x`` over ``axes``, or the mean over ``n`` terms each) as the float64 total: inf
    exactly where the total rounds past float32's range, else within float32 summation error of it."""
    exact = x.astype(np.float64).sum(axis=axes) / n
    bound = (x.shape and 4 * math.prod(x.shape) * 2.0 ** -24) * np.abs(x.astype(np.float64)).sum(axis=axes) / n
    bound = bound + 2.0 ** -149  # (a mean rounds to float32's subnormal spacing: [0, 1e-45] has mean 0 there)
    edge = np.abs(np.abs(exact) - 3.4028234663852886e38) <= bound  # (a total at the edge may round either way)
    finite = np.abs(exact) < 3.4028234663852886e38
    assert (np.isfinite(ours) == finite)[~edge].all(), (ours, exact)
    with np.errstate(invalid="ignore"):
        assert (np.abs(ours.astype(np.float64) - exact) <= bound)[finite & ~edge].all(), (ours, exact)


@settings(max_examples=60, deadline=None)
@given(x=arrays(np.float32, st.lists(st.integers(1, 9), min_size=1, max_size=3).map(tuple), elements=HUGE),
       data=st.data())
def test_float32_sums_do_not_overflow_part_way(x: np.ndarray, data: st.DataObject) -> None:
    """A float32 sum, mean or broadcast gradient of finite terms is inf only where its total is: numpy's running sum
    could pass float32's range part way (-1.3e38 - 2.1e38 + 3.1e38 gave -inf; torch's -3.5e37, seed 47001 of the
    Gumbel icdf test), and is then redone in float64. (torch's order keeps some such sums and loses others: nan for
    [3e38, 3e38, -3e38, -3e38] x 100, ours 0.)"""
    axes = tuple(sorted(data.draw(st.sets(st.integers(0, x.ndim - 1), min_size=1))))
    n = math.prod(x.shape[i] for i in axes)
    _within_float32_sum(tg.tensor(x).sum(axes).numpy(), x, axes, 1)
    _within_float32_sum(tg.tensor(x).mean(axes).numpy(), x, axes, n)
    _within_float32_sum(tg.nansum(tg.tensor(x), axes).numpy(), x, axes, 1)
    _within_float32_sum(tg.nanmean(tg.tensor(x), axes).numpy(), x, axes, n)
    kept = tuple(1 if i in axes else s for i, s in enumerate(x.shape))
    b = tg.zeros(*kept, requires_grad=True)
    (b + tg.zeros(*x.shape)).backward(tg.tensor(x))  # b's gradient sums x over the broadcast axes
    _within_float32_sum(b.grad.numpy().reshape(np.zeros(x.shape).sum(axis=axes).shape), x, axes, 1)


def test_std_of_equal_values_is_zero() -> None:
    """Three equal float32 values: std 0 and gradient 0 (the mean is taken in float64 and is the value itself).
    torch's float32 mean of three 2.8179s rounds, so its std is 2.9e-7 and its gradient 0.41 in every element,
    where a std's gradient sums to 0 (hunt seed 47008)."""
    x = tg.tensor(np.full(3, 2.81792223, np.float32), requires_grad=True)
    y = x.std(0)
    y.backward()
    assert y.item() == 0.0 and x.grad.tolist() == [0.0, 0.0, 0.0]
    theirs = torch.tensor(np.full(3, 2.81792223, np.float32), requires_grad=True)
    theirs.std(0).backward()
    assert theirs.std(0).item() > 0 and abs(theirs.grad.sum().item()) > 1  # (torch's, for the record)
