"""Sums over a long strided axis inside ops accumulate wider, as torch's do (float16 in float32, float32 in a
cascade; ours in float64 and rounded once).

numpy adds the terms of an axis that is not the trailing, contiguous one one at a time in the input's dtype: a float16
sum stops growing at 2048 (1 + 2048 rounds back to 2048), and a float32 one drifts (3e6 rows of 0.1: 3% off). `sum`,
`mean` and broadcast gradients were already widened; these were not: softmax / log_softmax / logsumexp over dim 0
(float16 softmax of 5000 ones gave 4.9e-4 where torch gives 2.0e-4), vector_norm / normalize / cosine_similarity
(float16 cosine of a vector with itself: 2.44), nansum / nanmean, the batch / layer norm statistics and their weight
and bias gradients, the bias gradients of linear and conv2d, repeat's and cdist's gradients. A float16 norm also
squared in float16, so 300 overflowed to inf (normalize gave 0, torch 0.707): it is computed in float32 as torch's.

Mutations run (each made a test here fail):
- shifted_exp's sum back to ``e.sum`` (float16 one at a time): test_softmax_family.
- norm_of without the float16 -> float32 step: test_norms (300s overflow); its sums unwidened: test_norms.
- nansum without ``dtype=wide``: test_nan_reductions.
- keepdims_mean back to ``x.mean``: test_batch_norm_statistics.
- linear's bias gradient back to ``g2.sum(axis=0)``: test_bias_gradients[linear]; conv2d's: [conv2d];
  norm's _affine_grads: [layer_norm].
- repeat's backward unwidened: test_repeat_and_cdist_gradients; cdist's: the same test.
- log_softmax's backward ``g.sum``: test_softmax_family (gradient).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import tinygrad_adam as tg

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


@settings(max_examples=15, deadline=None)
@given(long_columns(np.float16))
def test_softmax_family(x: np.ndarray) -> None:
    for fn in (lambda lib, t: lib.softmax(t, 0), lambda lib, t: lib.log_softmax(t, 0)):
        close(*both(fn, x, grad=True), rtol=4e-3, atol=1e-7)
    # logsumexp's gradient: torch's exp(x - lse) reads lse rounded to float16 (an ulp of 8 is 0.008), ours e / s
    close(*both(lambda lib, t: lib.logsumexp(t, 0), x, grad=True), rtol=1.2e-2, atol=1e-7)


@settings(max_examples=15, deadline=None)
@given(long_columns(np.float16), st.sampled_from([1.0, 2.0, 3.0]))
def test_norms(x: np.ndarray, p: float) -> None:
    close(*both(lambda lib, t: lib.linalg.vector_norm(t, p, dim=0), x, grad=True), rtol=4e-3)
    close(*both(lambda lib, t: lib.nn.functional.normalize(t, p, dim=0), x), rtol=4e-3, atol=1e-7)
    close(*both(lambda lib, t: lib.nn.functional.cosine_similarity(t, t.flip(0), dim=0), x), rtol=4e-3)
    big = np.full((3, 2), 300.0, np.float16)  # 300^2 overflows float16: torch squares in float32
    close(*both(lambda lib, t: lib.linalg.vector_norm(t, p, dim=0), big, grad=True), rtol=2e-3)


@settings(max_examples=15, deadline=None)
@given(long_columns(np.float16), st.lists(st.integers(0, 2999), max_size=20))
def test_nan_reductions(x: np.ndarray, holes: list[int]) -> None:
    x = x.copy()
    x[holes, 0] = np.nan
    close(*both(lambda lib, t: lib.nansum(t, 0), x, grad=True), rtol=2e-3)
    close(*both(lambda lib, t: lib.nanmean(t, 0), x), rtol=2e-3)


def test_float32_long_axis_accuracy() -> None:
    """3e6 rows of 0.1 in float32: within float32 rounding of the exact answers (numpy's one-at-a-time sum was 3%
    off, softmax's denominator likewise)."""
    x = tg.tensor(np.full((3_000_000, 2), 0.1, np.float32))
    exact = float(np.float32(0.1)) * 3e6
    np.testing.assert_allclose(tg.nansum(x, 0).numpy(), exact, rtol=1e-6)
    np.testing.assert_allclose(tg.linalg.vector_norm(x, 1, dim=0).numpy(), exact, rtol=1e-6)
    np.testing.assert_allclose(tg.softmax(x, 0)[0].numpy(), 1 / 3e6, rtol=1e-6)
    np.testing.assert_allclose(tg.logsumexp(x, 0).numpy(), np.log(3e6) + 0.1, rtol=1e-6)


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
