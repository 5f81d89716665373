"""The optimizers' CUDA kernels, checked without a GPU: compiled by nvcc and run on the host.

``FusedKernel.cuda_source`` is the body of a ``cupy.ElementwiseKernel``. tests/cuda_host.py compiles it with
nvcc as a ``__global__`` kernel (so the body must be valid device code, for float and double) and as a host loop
that ctypes can call, behind cupy's calling convention. ``backend.elementwise_kernel`` is then replaced by that
host kernel, and every optimizer's ``impl="auto"`` path for a GPU parameter (argument order, scalar values,
in-place outputs) runs through it and must equal the readable CPU update. The multi-tensor kernel (one launch for
several parameters, a ``cupy.RawKernel``) goes the same way through ``HostRawKernel``, which runs its grid's
threads one by one on the host, and must equal one launch per parameter bit for bit.

Skipped when the CUDA toolkit (``nvcc``) is not installed; the real GPU run is ``pytest -m gpu`` (and
``TINYGRAD_ADAM_FAKE_GPU=1 pytest -m gpu`` runs it on the fake cupy, see tests/fake_cupy.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from cuda_host import (
    CXX,
    NVCC,
    CompileError,
    HostElementwiseKernel,
    HostRawKernel,
    Spec,
    build,
    build_raw,
    compile_cached,
    cuda_file,
    optimizer_raw_specs,
    optimizer_specs,
)
from test_optim import CASE_IDS, CASES, random_grads, run_ours

import tinygrad_adam as tg
from tinygrad_adam import backend, optim
from tinygrad_adam.optim import averaging, fused
from tinygrad_adam.optim import optimizer as optimizer_module

pytestmark = pytest.mark.skipif(NVCC is None, reason="the CUDA toolkit (nvcc) is not installed")

# every construct of the kernel language: unary minus, sqrt, abs, max, a bare copy, reading an output
LANGUAGE = fused.FusedKernel("language", "p q", "g h", "a b", """
    s = -g * a + abs(h) / b
    q = max(q, sqrt(abs(s)))
    c = q
    p = p - c * s + -(h - p)
""")


@pytest.fixture(scope="module")
def host_kernels() -> None:
    """Every optimizer's kernel and LANGUAGE compiled in one nvcc run (later ones would compile one by one), and
    every optimizer's multi-tensor kernel in one more (and one host compiler run)."""
    build([*optimizer_specs(), Spec.of(LANGUAGE)])
    if CXX is not None:
        build_raw(optimizer_raw_specs())


@pytest.fixture
def gpu_emulated(host_kernels: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[HostElementwiseKernel]]:
    """Route every optimizer's "auto" update to the "cuda" path, served by the host-compiled kernels."""
    made: list[HostElementwiseKernel] = []

    def factory(in_params: str, out_params: str, operation: str, name: str) -> HostElementwiseKernel:
        made.append(HostElementwiseKernel(in_params, out_params, operation, name))
        return made[-1]

    def raw(code: str, name: str) -> HostRawKernel:
        made.append(HostRawKernel(code, name))
        return made[-1]

    def on_gpu(impl: str, device: str) -> str:
        return "reference" if impl == "reference" else "cuda"
    monkeypatch.setattr(backend, "elementwise_kernel", factory)
    monkeypatch.setattr(backend, "raw_kernel", raw)
    for module in (optimizer_module, averaging):
        monkeypatch.setattr(module, "resolve_impl", on_gpu)
    yield made
    assert made and all(k.calls for k in made), "the cuda path was not taken"


def run_list(name: str, kw: dict, params: list[np.ndarray], grads: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Every parameter after ``len(grads)`` steps of one optimizer over the whole list (impl "auto")."""
    tensors = [tg.Tensor(p.copy(), requires_grad=True) for p in params]
    opt = getattr(optim, name)(tensors, **kw)
    for step in grads:
        for t, g in zip(tensors, step):
            t.grad = tg.Tensor(g)
        opt.step()
    return [t.numpy() for t in tensors]


# sizes around the block's (2048 elements), an empty one, a 0-d one
SHAPES = [(2047,), (2048,), (2049,), (0, 3), (), (3, 700), (5000,), (1,)]


@pytest.mark.skipif(CXX is None, reason="no host C++ compiler (g++)")
@pytest.mark.parametrize(("name", "kw"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multi_tensor_launch_equals_one_launch_per_tensor(name: str, kw: dict, dtype: type,
                                                          gpu_emulated: list[Any]) -> None:
    rng = np.random.default_rng(5)
    params = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
    grads = [[g.astype(dtype) for g in step] for step in
             zip(*(random_grads(3, shape, seed=k) for k, shape in enumerate(SHAPES)))]
    together = run_list(name, kw, params, grads)
    # one launch a step for the whole list; with ``maximize`` the 0-d gradient, negated on the host, is a numpy
    # scalar there (no array to point to: on a GPU it stays an array), and that parameter goes alone
    assert sum(k.calls for k in gpu_emulated if type(k) is HostRawKernel) == 3
    assert kw.get("maximize") or all(type(k) is HostRawKernel for k in gpu_emulated)
    gpu_emulated.clear()
    alone = [run_list(name, kw, [p], [[g[k]] for g in grads])[0] for k, p in enumerate(params)]
    assert all(type(k) is HostElementwiseKernel for k in gpu_emulated)
    for k, (a, b, p) in enumerate(zip(together, alone, params)):
        assert a.dtype == dtype and a.shape == p.shape
        np.testing.assert_array_equal(a, b, err_msg=f"parameter {k} of shape {p.shape}")
        assert p.size == 0 or not np.array_equal(a, p)


@pytest.mark.skipif(CXX is None, reason="no host C++ compiler (g++)")
def test_multi_tensor_launches_of_a_few_tensors_each(gpu_emulated: list[Any],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """More tensors than a launch takes go by several launches (here three tensors a launch: eight tensors, three
    launches a step), equal to one launch per tensor."""
    monkeypatch.setattr(fused, "MULTI_TENSORS", 3)
    rng = np.random.default_rng(8)
    params = [rng.standard_normal(shape).astype(np.float32) for shape in SHAPES]
    grads = [[g.astype(np.float32) for g in step] for step in
             zip(*(random_grads(2, shape, seed=k) for k, shape in enumerate(SHAPES)))]
    together = run_list("Adam", {}, params, grads)
    assert {type(k) for k in gpu_emulated} == {HostRawKernel} and sum(k.calls for k in gpu_emulated) == 6
    alone = [run_list("Adam", {}, [p], [[g[k]] for g in grads])[0] for k, p in enumerate(params)]
    for k, (a, b) in enumerate(zip(together, alone)):
        np.testing.assert_array_equal(a, b, err_msg=f"parameter {k}")


@pytest.mark.skipif(CXX is None, reason="no host C++ compiler (g++)")
def test_multi_tensor_launch_leaves_out_what_it_cannot_take(gpu_emulated: list[Any]) -> None:
    """The only float64 parameter and a strided view go one launch each, beside one joint launch of the rest (two
    of them views of one array, side by side), and each ends as the readable update has it."""
    rng = np.random.default_rng(6)
    base = rng.standard_normal((40, 30)).astype(np.float32)
    flat = rng.standard_normal(400).astype(np.float32)
    arrays = [rng.standard_normal(500).astype(np.float32), rng.standard_normal(300).astype(np.float32),
              rng.standard_normal(64), base[:, ::2], flat[:200], flat[200:]]
    grads = [rng.standard_normal(a.shape).astype(a.dtype) for a in arrays]
    expected = []
    for a, g in zip(arrays, grads):
        ref = tg.Tensor(np.array(a), requires_grad=True)
        opt = optim.Adam([ref], lr=0.1, impl="reference")
        ref.grad = tg.Tensor(g)
        opt.step()
        expected.append(ref.numpy())
    tensors = [tg.Tensor(a) for a in arrays]
    assert not tensors[4]._data.flags.owndata and tensors[4]._data.base is flat
    for t, g in zip(tensors, grads):
        t.requires_grad_(True)
        t.grad = tg.Tensor(g)
    optim.Adam(tensors, lr=0.1).step()
    assert sorted((type(k).__name__, k.calls) for k in gpu_emulated) == [("HostElementwiseKernel", 2),
                                                                          ("HostRawKernel", 1)]
    for k, (t, e) in enumerate(zip(tensors, expected)):
        np.testing.assert_allclose(t.numpy(), e, rtol=1e-5, atol=1e-7, err_msg=f"parameter {k}")



@pytest.mark.parametrize(("name", "kw"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_kernel_on_host_equals_reference(name: str, kw: dict, dtype: type,
                                              gpu_emulated: list[HostElementwiseKernel]) -> None:
    p0 = np.random.default_rng(9).standard_normal((33, 65)).astype(dtype)
    grads = [g.astype(dtype) for g in random_grads(5, p0.shape, seed=10)]
    tol = {"rtol": 1e-5, "atol": 1e-7} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-15}
    reference = run_ours(name, kw, p0, grads, "reference")
    np.testing.assert_allclose(run_ours(name, kw, p0, grads, "auto"), reference, **tol)
    assert len(gpu_emulated) == 5  # one launch per step


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_construct_of_the_kernel_language(dtype: type, gpu_emulated: list[HostElementwiseKernel]) -> None:
    rng = np.random.default_rng(4)
    start = {n: rng.standard_normal(1000).astype(dtype) for n in "pqgh"}
    scalars = {"a": 0.75, "b": 3.0}
    results = []
    for impl in ("numpy", "cuda"):
        arrays = {n: a.copy() for n, a in start.items()}
        LANGUAGE.run(impl, arrays, scalars, {})
        results.append(arrays)
    for n in "pq":
        assert not np.array_equal(results[1][n], start[n])
        np.testing.assert_allclose(results[1][n], results[0][n], rtol=1e-6 if dtype == np.float32 else 1e-14)


@pytest.mark.parametrize("count", [1, 3])
def test_temporal_average_cuda_kernel_on_host(count: int, gpu_emulated: list[Any]) -> None:
    """One parameter by its ElementwiseKernel, three by one multi-tensor launch an update."""
    path = np.random.default_rng(3).standard_normal((6, count, 4, 5)).astype(np.float32)
    params = [tg.Tensor(x.copy()) for x in path[0]]
    avg = optim.TemporalAverage(params, beta=0.9)
    bar = np.zeros((count, 4, 5))
    for t, theta in enumerate(path, start=1):
        for p, x in zip(params, theta):
            p.data[...] = x
        avg.update()
        bar = 0.9 * bar + 0.1 * theta                    # theta_bar_t, then bias-corrected
        for k, average in enumerate(avg.averages()):
            np.testing.assert_allclose(average.numpy(), bar[k] / (1 - 0.9**t), rtol=1e-5)
    kind = HostElementwiseKernel if count == 1 else HostRawKernel
    assert {type(k) for k in gpu_emulated} == {kind} and sum(k.calls for k in gpu_emulated) == len(path)


def test_a_broken_kernel_body_fails_to_compile() -> None:
    """The check above can fail: nvcc rejects a body that uses an undeclared name (here via a typo)."""
    k = fused.FusedKernel("typo", "p", "g", "lr", "p = p - g * lr")
    with pytest.raises(CompileError, match="lr_typo"):
        compile_cached(cuda_file([Spec(("g",), ("p",), ("lr",), k.cuda_source.replace("lr", "lr_typo"))]))
