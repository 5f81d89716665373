"""max_pool2d (one gather, offsets of the maxima, one indexed scatter-add) against a readable loop over windows and
against torch, on generated inputs with ties, NaN and infinities (where it used to route gradients elsewhere)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F


def max_pool2d_loops(x: np.ndarray, g: np.ndarray, k: tuple[int, int], s: tuple[int, int],
                     p: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The readable definition (torch's CPU kernel): per window, scan the elements inside the image in row-major
    order and keep the first one that is greater than the best so far or is NaN; the output gradient goes there."""
    n, c, h, w = x.shape
    ho, wo = (h + 2 * p[0] - k[0]) // s[0] + 1, (w + 2 * p[1] - k[1]) // s[1] + 1
    out, gx = np.empty((n, c, ho, wo)), np.zeros_like(x)
    for b, ch, oh, ow in np.ndindex(n, c, ho, wo):
        rows = range(max(oh * s[0] - p[0], 0), min(oh * s[0] - p[0] + k[0], h))
        cols = range(max(ow * s[1] - p[1], 0), min(ow * s[1] - p[1] + k[1], w))
        best, where = -np.inf, (rows[0], cols[0])
        for i in rows:
            for j in cols:
                if x[b, ch, i, j] > best or np.isnan(x[b, ch, i, j]):
                    best, where = x[b, ch, i, j], (i, j)
        out[b, ch, oh, ow] = best
        gx[b, ch][where] += g[b, ch, oh, ow]
    return out, gx


@st.composite
def pools(draw: st.DrawFn) -> tuple[np.ndarray, tuple[int, int], tuple[int, int], tuple[int, int]]:
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    h, w = draw(st.integers(max(1, k[0] - 2 * p[0]), 9)), draw(st.integers(max(1, k[1] - 2 * p[1]), 9))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w)
    # a few distinct values, so that windows tie often; NaN and infinities sometimes
    values = draw(st.lists(st.sampled_from([0.0, 1.0, -1.0, 2.5, np.nan, np.inf, -np.inf]), min_size=1, max_size=4))
    seed = draw(st.integers(0, 2**16))
    x = np.random.default_rng(seed).choice(np.array(values), size=shape)
    return x, k, s, p


@settings(max_examples=150, deadline=None)
@given(pools())
def test_max_pool2d_equals_the_loop_over_windows(case: tuple) -> None:
    check_against_loops(*case)


def check_against_loops(x: np.ndarray, k: tuple[int, int], s: tuple[int, int], p: tuple[int, int]) -> None:
    xt = tg.Tensor(x, requires_grad=True)
    out = F.max_pool2d(xt, k, s, p)
    g = np.random.default_rng(0).standard_normal(out.shape)
    (out * tg.Tensor(g)).sum().backward()
    want, gx = max_pool2d_loops(x, g, k, s, p)
    np.testing.assert_array_equal(out.numpy(), want)
    np.testing.assert_allclose(xt.grad.numpy(), gx, rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(pools())
def test_max_pool2d_with_nan_and_inf_matches_torch(case: tuple) -> None:
    torch = pytest.importorskip("torch")
    x, k, s, p = case
    xt, tt = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = F.max_pool2d(xt, k, s, p), torch.nn.functional.max_pool2d(tt, k, s, p)
    np.testing.assert_array_equal(out.numpy(), ref.detach().numpy())
    g = np.random.default_rng(1).standard_normal(out.shape)
    (out * tg.Tensor(g)).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), tt.grad.numpy(), rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(pools())
def test_max_pool2d_on_batch_slices_per_core_equals_the_loops(case: tuple) -> None:
    """Large inputs pool on one batch slice per core, forward and backward: forced here on small ones."""
    x, k, s, p = case
    x = np.concatenate([x, x[:, ::-1], -x])  # at least 3 samples, so that 3 slices are made
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tg.backend, "SPLIT_BYTES", 1)
        mp.setenv("TINYGRAD_ADAM_THREADS", "3")
        check_against_loops(x, k, s, p)


@settings(max_examples=60, deadline=None)
@given(pools(), st.booleans())
def test_max_pool2d_in_pieces_equals_the_loops(case: tuple, split: bool) -> None:
    """Large inputs pool in pieces of about PIECE_BYTES of window copies (within each core's slice): forced here to
    one sample a piece, with and without the split over cores."""
    from tinygrad_adam.ops import pool
    x, k, s, p = case
    x = np.concatenate([x, x[:, ::-1], -x])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pool, "PIECE_BYTES", 1)
        if split:
            mp.setattr(tg.backend, "SPLIT_BYTES", 1)
            mp.setenv("TINYGRAD_ADAM_THREADS", "2")
        check_against_loops(x, k, s, p)


def test_max_pool2d_float32_at_the_benchmark_size_equals_the_loops() -> None:
    """The CNN's pool (3x3, stride 2, padding 1) after a ReLU, float32: many all-zero windows."""
    x = np.maximum(np.random.default_rng(3).standard_normal((2, 3, 14, 14)).astype(np.float32) - 0.5, 0)
    xt = tg.Tensor(x, requires_grad=True)
    out = F.max_pool2d(xt, 3, 2, 1)
    out.sum().backward()
    want, gx = max_pool2d_loops(x, np.ones(out.shape), (3, 3), (2, 2), (1, 1))
    np.testing.assert_array_equal(out.numpy(), want)
    np.testing.assert_array_equal(xt.grad.numpy(), gx)
    assert out.dtype == np.float32 and xt.grad.dtype == np.float32


@pytest.mark.gpu
def test_max_pool2d_on_the_gpu_equals_the_cpu_with_nan_and_inf() -> None:
    x = np.random.default_rng(5).standard_normal((2, 3, 9, 9))
    x[0, 0, :3, :3], x[0, 1, 2, 2], x[1, 2, 4:, 4:] = -np.inf, np.nan, np.inf
    results = []
    for device in ("cpu", "cuda"):
        xt = tg.Tensor(x, requires_grad=True, device=device)
        out = F.max_pool2d(xt, 3, 2, 1)
        (out * tg.Tensor(np.arange(1.0, out.size + 1).reshape(out.shape), device=device)).sum().backward()
        results.append((out.numpy(), xt.grad.numpy()))
    np.testing.assert_array_equal(results[1][0], results[0][0])
    np.testing.assert_array_equal(results[1][1], results[0][1])


@pytest.mark.parametrize("shape", [(4, 1, 0, 2), (4, 0, 3, 3), (2, 1, 3, 0), (0, 1, 3, 3)])
def test_empty_dimensions_raise_where_torch_raises(shape: tuple[int, ...]) -> None:
    """torch pools an empty batch but refuses empty channels or spatial dims (the fuzzer's FUZZ_SEED=25185)."""
    torch = pytest.importorskip("torch")
    x = np.zeros(shape)
    try:
        expected = torch.nn.functional.max_pool2d(torch.tensor(x), 2, 1, 1).shape
    except RuntimeError:
        with pytest.raises(ValueError, match="empty"):
            F.max_pool2d(tg.Tensor(x), 2, 1, 1)
    else:
        assert F.max_pool2d(tg.Tensor(x), 2, 1, 1).shape == tuple(expected)
