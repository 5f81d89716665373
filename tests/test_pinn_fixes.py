"""Fixes found by the PINN program (tests/torch_style/pinn.py): ``linspace`` in float32 / float64 gives torch's
values (numpy's linspace was an ulp off at many points, so collocation grids differed from torch's; now rare
points, see creation._fused_linspace), and float16 too (creation._half_linspace);
``autograd.grad(..., is_grads_batched=True)`` (it was a TypeError)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

ends = st.one_of(st.floats(-1e6, 1e6, width=32), st.sampled_from([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan]),
                 st.integers(-5, 5))


@settings(max_examples=200, deadline=None)
@given(start=ends, end=ends, steps=st.integers(0, 300), dtype=st.sampled_from(["float32", "float64"]))
def test_linspace_matches_torch_bit_for_bit(start: float, end: float, steps: int, dtype: str) -> None:
    got = tg.linspace(start, end, steps, dtype=getattr(tg, dtype))
    want = torch.linspace(start, end, steps, dtype=getattr(torch, dtype)).numpy()
    assert got.shape == want.shape and got.dtype == want.dtype
    # an ulp off at rare points: a float64 product in 80-bit longdouble rounds twice (1 array in ~3000, seen), and
    # torch's vectorized loop rounds step * j alone where it ties (a 2.8e-45 start, 70 float32 steps, seen)
    np.testing.assert_array_max_ulp(got.numpy(), want, maxulp=1)


@settings(max_examples=200, deadline=None)
@given(start=st.one_of(st.floats(-6e4, 6e4, width=16), st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan])),
       end=st.one_of(st.floats(-6e4, 6e4, width=16), st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan])),
       steps=st.integers(0, 3000))
@example(start=0.0, end=np.inf, steps=1)  # one point is start, whatever end is (ours was nan; found locally)
@example(start=-np.inf, end=0.0, steps=1)
@example(start=0.0, end=np.nan, steps=1)
def test_float16_linspace_matches_torch_bit_for_bit(start: float, end: float, steps: int) -> None:
    """float16 went through numpy's linspace in float64 (1-2 float16 units off at a third of the points); torch's
    kernel computes in float16 arithmetic, each operation rounded, as ours now does."""
    got = tg.linspace(start, end, steps, dtype=tg.float16).numpy()
    want = torch.linspace(start, end, steps, dtype=torch.float16).numpy()
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got.view(np.uint16)[~np.isnan(want)], want.view(np.uint16)[~np.isnan(want)])
    assert np.array_equal(np.isnan(got), np.isnan(want))


@pytest.mark.parametrize("dtype", ["float16", "int8", "uint8"])
def test_linspace_ends_that_are_not_used_need_not_fit(dtype: str) -> None:
    """With no point, neither end is converted, and with one point the end is not (torch's kernel): ours refused
    an end beyond the dtype's range there."""
    for start, end, steps in ((1e6, 0.9, 0), (1.0, 1e6, 1), (1e6, 1e6, 0)):
        got = tg.linspace(start, end, steps, dtype=getattr(tg, dtype)).numpy()
        np.testing.assert_array_equal(got, torch.linspace(start, end, steps, dtype=getattr(torch, dtype)).numpy())


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "float32"])
def test_logspace_of_one_point_does_not_read_the_end(dtype: str) -> None:
    """logspace of one point is base ** start, whatever end is, as torch's: ours converted an integer dtype's ends
    first and raised for an infinite or nan end (found locally)."""
    for start, end in ((0, np.inf), (-np.inf, 0), (0, np.nan), (2, 1e30)):
        got = tg.logspace(start, end, 1, dtype=getattr(tg, dtype)).numpy()
        np.testing.assert_array_equal(got, torch.logspace(start, end, 1, dtype=getattr(torch, dtype)).numpy())


def test_linspace_grids_of_a_pinn_match_torch_exactly() -> None:
    for n in (5, 9, 11, 100, 256):
        for a, b in ((-1, 1), (0, 1), (0.0, np.pi)):
            for dtype in ("float32", "float64"):
                np.testing.assert_array_equal(tg.linspace(a, b, n, dtype=getattr(tg, dtype)).numpy(),
                                              torch.linspace(a, b, n, dtype=getattr(torch, dtype)).numpy())
    assert tg.linspace(0, 1, 5).dtype == tg.float32 and tg.linspace(0, 1, 5, requires_grad=True).requires_grad


@pytest.mark.gpu
def test_linspace_on_the_gpu_gives_the_cpu_values() -> None:
    got = tg.linspace(-1, 1, 37, device="cuda")
    assert got.device == "cuda:0"
    np.testing.assert_array_equal(got.cpu().numpy(), torch.linspace(-1, 1, 37).numpy())


def jacobian_by_batched_grad(lib, x: np.ndarray, create_graph: bool):
    """(u, the (n*k, n, 2) Jacobian rows of u = x**3 summed times x, the inputs) through is_grads_batched."""
    xt = lib.tensor(x, requires_grad=True)
    u = (xt ** 3).sum(1, keepdim=True) * xt - xt.tanh()
    eye = lib.eye(u.numel(), dtype=getattr(lib, str(x.dtype))).reshape(-1, *u.shape)
    return u, lib.autograd.grad(u, xt, grad_outputs=eye, is_grads_batched=True, create_graph=create_graph)[0], xt


@settings(max_examples=40, deadline=None)
@given(x=st.lists(st.floats(-2, 2, allow_subnormal=False), min_size=2, max_size=8).filter(lambda v: len(v) % 2 == 0),
       dtype=st.sampled_from(["float32", "float64"]), create_graph=st.booleans())
def test_grad_is_grads_batched_gives_torch_jacobian_rows(x: list[float], dtype: str, create_graph: bool) -> None:
    """Each cotangent of the batch its own backward pass; with create_graph the rows differentiate again."""
    arr = np.array(x, dtype=dtype).reshape(-1, 2)
    (_, got, xo), (_, want, xt) = (jacobian_by_batched_grad(lib, arr, create_graph) for lib in (tg, torch))
    assert got.shape == want.shape and got.requires_grad == want.requires_grad == create_graph
    # float32: 3 x^2 + x^3 terms less 1 - tanh^2 cancel near x = 0.5 (an absolute ~1e-7 left, seen)
    tol = {"rtol": 1e-9, "atol": 1e-12} if dtype == "float64" else {"rtol": 1e-5, "atol": 1e-6}
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), **tol)
    if create_graph:
        second = [lib.autograd.grad((j ** 2).sum(), v)[0].numpy() for lib, j, v in ((tg, got, xo), (torch, want, xt))]
        np.testing.assert_allclose(*second, rtol=tol["rtol"] * 10, atol=tol["atol"] * 10)


def test_grad_is_grads_batched_refuses_what_torch_refuses_and_frees_the_graph() -> None:
    for lib in (tg, torch):
        x = lib.tensor(np.ones((3, 2)), requires_grad=True)
        u = (x * x).sum(1)
        with pytest.raises(RuntimeError):  # the batch dim missing: (3,) given for output (3,)
            lib.autograd.grad(u, x, grad_outputs=lib.ones(3, dtype=lib.float64), is_grads_batched=True)
        with pytest.raises(RuntimeError):  # a cotangent of the wrong shape
            lib.autograd.grad(u, x, grad_outputs=lib.ones(2, 4, dtype=lib.float64), is_grads_batched=True)
        rows = lib.autograd.grad(u, x, grad_outputs=lib.eye(3, dtype=lib.float64), is_grads_batched=True)[0]
        np.testing.assert_array_equal(rows.numpy(), np.eye(3)[:, :, None] * 2 * np.ones((3, 3, 2)))
        with pytest.raises(RuntimeError):  # the last pass freed the graph (retain_graph not given)
            u.sum().backward()
