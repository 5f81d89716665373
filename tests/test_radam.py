"""optim.RAdam against torch.optim.RAdam over many steps, and its fast paths (numpy, numba, the CUDA kernel compiled
on the host) against its readable update."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from cuda_host import NVCC, HostElementwiseKernel, Spec, build
from hypothesis import given, settings
from hypothesis import strategies as st
from test_optim import IMPLS, random_grads, run_ours

import tinygrad_adam as tg
from tinygrad_adam import backend, optim
from tinygrad_adam.optim import fused, radam
from tinygrad_adam.optim import optimizer as optimizer_module

CASES = [
    {},
    {"lr": 1e-2, "betas": (0.8, 0.99), "weight_decay": 0.1},
    {"weight_decay": 0.05, "decoupled_weight_decay": True, "eps": 1e-6},
    {"betas": (0.0, 0.5)},                       # rho_inf = 3: never rectified (SGD with momentum throughout)
    {"betas": (0.9, 0.9), "eps": 0.0},           # rectified from step 5 on
    {"maximize": True, "decoupled_weight_decay": True, "weight_decay": 0.05},
    {"maximize": True, "weight_decay": 0.1, "lr": 3e-3},
]
IDS = ["-".join(f"{k}={v}" for k, v in kw.items()) or "defaults" for kw in CASES]


@contextlib.contextmanager
def torch64() -> Iterator[Any]:
    """torch with float64 as its default dtype (its step count and scalars then match our float64 host numbers)."""
    torch = pytest.importorskip("torch")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield torch
    finally:
        torch.set_default_dtype(previous)


def torch_path(torch: Any, kw: dict, p0: np.ndarray, grads: list[np.ndarray]) -> np.ndarray:
    tp = torch.tensor(p0, requires_grad=True)
    topt = torch.optim.RAdam([tp], **kw)
    path = []
    for g in grads:
        tp.grad = torch.tensor(g.astype(p0.dtype))
        topt.step()
        path.append(tp.detach().numpy().copy())
    return np.array(path)


@pytest.mark.parametrize("kw", CASES, ids=IDS)
def test_trajectory_matches_torch(kw: dict) -> None:
    p0 = np.random.default_rng(1).standard_normal((3, 5))
    grads = random_grads(150, p0.shape)
    with torch64() as torch:
        expected = torch_path(torch, kw, p0, grads)
    for impl in IMPLS:
        np.testing.assert_allclose(run_ours("RAdam", kw, p0, grads, impl), expected, rtol=1e-6, atol=1e-12,
                                   err_msg=f"impl={impl}")


@settings(max_examples=40, deadline=None)
@given(lr=st.floats(1e-4, 0.5), beta1=st.floats(0.0, 0.99), beta2=st.floats(0.0, 0.9999),
       eps=st.sampled_from([0.0, 1e-8, 1e-3]), weight_decay=st.sampled_from([0.0, 1e-3, 0.3]),
       decoupled=st.booleans(), maximize=st.booleans(), seed=st.integers(0, 2**16))
def test_random_hyperparameters_match_torch(lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
                                            decoupled: bool, maximize: bool, seed: int) -> None:
    kw = {"lr": lr, "betas": (beta1, beta2), "eps": eps, "weight_decay": weight_decay,
          "decoupled_weight_decay": decoupled, "maximize": maximize}
    rng = np.random.default_rng(seed)
    p0 = rng.standard_normal(7)
    grads = random_grads(40, p0.shape, seed=seed)
    with torch64() as torch:
        expected = torch_path(torch, kw, p0, grads)
    for impl in IMPLS:
        np.testing.assert_allclose(run_ours("RAdam", kw, p0, grads, impl), expected, rtol=1e-6, atol=1e-10,
                                   err_msg=f"impl={impl}")


def test_float32_matches_torch_float32() -> None:
    torch = pytest.importorskip("torch")
    p0 = np.random.default_rng(5).standard_normal((4, 6)).astype(np.float32)
    grads = [g.astype(np.float32) for g in random_grads(60, p0.shape, seed=6)]
    kw = {"lr": 1e-2, "weight_decay": 0.01}
    ours = run_ours("RAdam", kw, p0, grads, "auto")
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, torch_path(torch, kw, p0, grads), rtol=1e-5, atol=1e-6)


def test_rectification_switches_on_where_torch_does() -> None:
    """rho_t > 5 first at t = 6 with beta2 = 0.999 (the paper's warm-up); r_t -> 1 as t grows."""
    assert [radam.rectification(t, 0.999) is not None for t in range(1, 8)] == [False] * 5 + [True] * 2
    assert radam.rectification(10**6, 0.999) == pytest.approx(1.0, abs=1e-6)
    assert radam.rectification(10**6, 0.5) is None  # rho_inf = 3 < 5: never


@pytest.mark.parametrize("kw", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_paths_equal_reference(kw: dict, dtype: type) -> None:
    """In float32 the tolerance is Adam's times ten in atol: before rectification a step is lr m_hat, not normalised
    by sqrt(v), so with gradients up to 1e2 it moves p by O(1) and a few ulps of that are ~2e-7."""
    p0 = np.random.default_rng(2).standard_normal(2 * fused.CHUNK + 7).astype(dtype)
    grads = [g.astype(dtype) for g in random_grads(8, p0.shape, seed=3)]
    ref = run_ours("RAdam", kw, p0, grads, "reference")
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-15}
    for impl in IMPLS[1:]:
        np.testing.assert_allclose(run_ours("RAdam", kw, p0, grads, impl), ref, **tol, err_msg=f"impl={impl}")


@pytest.fixture
def gpu_emulated(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[HostElementwiseKernel]]:
    """RAdam's "auto" update routed to the "cuda" path, served by its kernels compiled by nvcc for the host (see
    tests/cuda_host.py)."""
    if NVCC is None:
        pytest.skip("the CUDA toolkit (nvcc) is not installed")
    build([Spec.of(radam.radam_kernel(l2, dec, rect)) for l2, dec, rect in np.ndindex(2, 2, 2) if not (l2 and dec)])
    made: list[HostElementwiseKernel] = []

    def factory(in_params: str, out_params: str, operation: str, name: str) -> HostElementwiseKernel:
        made.append(HostElementwiseKernel(in_params, out_params, operation, name))
        return made[-1]

    monkeypatch.setattr(backend, "elementwise_kernel", factory)
    monkeypatch.setattr(optimizer_module, "resolve_impl", lambda impl, device: "cuda")
    yield made
    assert made and all(k.calls for k in made), "the cuda path was not taken"


@pytest.mark.parametrize("kw", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_kernel_on_host_equals_reference(kw: dict, dtype: type,
                                              gpu_emulated: list[HostElementwiseKernel]) -> None:
    p0 = np.random.default_rng(9).standard_normal((33, 65)).astype(dtype)
    grads = [g.astype(dtype) for g in random_grads(8, p0.shape, seed=10)]
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-15}
    reference = run_ours("RAdam", kw, p0, grads, "reference")
    np.testing.assert_allclose(run_ours("RAdam", kw, p0, grads, "auto"), reference, **tol)


def test_state_dict_resumes_bit_for_bit() -> None:
    rng = np.random.default_rng(11)
    p0, grads = rng.standard_normal(6), random_grads(12, (6,), seed=12)
    straight = run_ours("RAdam", {"weight_decay": 0.1}, p0, grads, "auto")[-1]
    p = tg.Tensor(p0.copy(), requires_grad=True)
    opt = optim.RAdam([p], weight_decay=0.1)
    for g in grads[:5]:
        p.grad = tg.Tensor(g)
        opt.step()
    resumed = tg.Tensor(p.numpy().copy(), requires_grad=True)
    opt2 = optim.RAdam([resumed], weight_decay=0.1)
    opt2.load_state_dict(opt.state_dict())
    for g in grads[5:]:
        resumed.grad = tg.Tensor(g)
        opt2.step()
    assert np.array_equal(resumed.numpy(), straight)


@pytest.mark.parametrize(("kw", "message"), [
    ({"lr": -1.0}, r"invalid lr=-1.0"), ({"betas": (0.9, 1.0)}, r"invalid betas=\(0.9, 1.0\)"),
    ({"eps": -1e-8}, r"invalid eps"), ({"weight_decay": -0.1}, r"invalid weight_decay"),
])
def test_bad_hyperparameters_are_named(kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        optim.RAdam([tg.Tensor(np.zeros(2), requires_grad=True)], **kw)
