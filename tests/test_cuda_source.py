"""The optimizers' CUDA kernels, checked without a GPU: compiled by nvcc and run on the host.

``FusedKernel.cuda_source`` is the body of a ``cupy.ElementwiseKernel``. These tests build the code cupy
would build around it (``typedef float T;``, a loop over the elements, ``const T &g = _raw_g[i];`` for each
input array, ``T &p = _raw_p[i];`` for each output, scalars as plain ``T`` arguments) and compile it with nvcc
twice in one file: as a ``__global__`` kernel (so the body must be valid device code, for float and double)
and as a host function that ctypes can call. ``backend.elementwise_kernel`` is then replaced by a factory of
such host kernels, and every optimizer's ``impl="auto"`` path for a GPU parameter (argument order, scalar
values, in-place outputs) runs through them and must equal the readable CPU update.

Skipped when the CUDA toolkit (``nvcc``) is not installed; the real GPU run is ``pytest -m gpu``.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_optim import CASE_IDS, CASES, random_grads, run_ours

import tinygrad_adam as tg
from tinygrad_adam import backend, optim
from tinygrad_adam.optim import averaging, fused
from tinygrad_adam.optim import optimizer as optimizer_module

NVCC = shutil.which("nvcc")
pytestmark = pytest.mark.skipif(NVCC is None, reason="the CUDA toolkit (nvcc) is not installed")

C_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


def names(params: str) -> list[str]:
    """``"T g, T beta1"`` -> ``["g", "beta1"]`` (every parameter of our kernels has the type ``T``)."""
    out = []
    for param in params.split(","):
        kind, name = param.split()
        assert kind == "T", f"unexpected parameter type in {params!r}"
        out.append(name)
    return out


def cuda_file(kernels: list[fused.FusedKernel]) -> str:
    """One .cu file: for each kernel and dtype, a ``__global__`` kernel and an ``extern "C"`` host loop."""
    parts = ["#include <cstddef>", "#include <cmath>"]
    for k in kernels:
        for ctype in C_TYPES.values():
            refs = [f"const T &{n} = _raw_{n}[i];" for n in k.inputs] + [f"T &{n} = _raw_{n}[i];" for n in k.outputs]
            body = " ".join(refs) + "\n" + k.cuda_source
            gpu_args = ", ".join([f"const T *_raw_{n}" for n in k.inputs] + [f"T *_raw_{n}" for n in k.outputs]
                                 + [f"T {n}" for n in k.scalars])
            unpack = [f"const T *_raw_{n} = (const T *)_in[{j}];" for j, n in enumerate(k.inputs)]
            unpack += [f"T *_raw_{n} = (T *)_out[{j}];" for j, n in enumerate(k.outputs)]
            unpack += [f"T {n} = (T)_s[{j}];" for j, n in enumerate(k.scalars)]
            parts.append(f"""namespace {k.name}_{ctype} {{
typedef {ctype} T;
__global__ void gpu(size_t _n, {gpu_args}) {{
  for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < _n; i += (size_t)blockDim.x * gridDim.x) {{
    {body}
  }}
}}
extern "C" void {k.name}_{ctype}(size_t _n, void **_in, void **_out, const double *_s) {{
  {" ".join(unpack)}
  for (size_t i = 0; i < _n; i++) {{
    {body}
  }}
}}
}}""")
    return "\n".join(parts) + "\n"


# every construct of the kernel language: unary minus, sqrt, abs, max, a bare copy, reading an output
LANGUAGE = fused.FusedKernel("language", "p q", "g h", "a b", """
    s = -g * a + abs(h) / b
    q = max(q, sqrt(abs(s)))
    c = q
    p = p - c * s + -(h - p)
""")


def every_kernel() -> list[fused.FusedKernel]:
    """The kernel of every optimizer configuration in CASES, temporal averaging's, and LANGUAGE."""
    kernels = {k.name: k for k in (averaging.EMA_KERNEL, LANGUAGE)}
    for name, kw in CASES:
        p = tg.Tensor(np.zeros(3), requires_grad=True)
        p.grad = tg.Tensor(np.ones(3))
        opt = getattr(optim, name)([p], **kw, impl="numpy")
        opt.step()
        kernel, _ = opt.fused(opt.state[p], opt.param_groups[0])
        kernels[kernel.name] = kernel
    return list(kernels.values())


class HostElementwiseKernel:
    """``cupy.ElementwiseKernel``'s calling convention, over a compiled host loop of the same CUDA source:
    call with the inputs (arrays, then scalars) in ``in_params`` order, then the output arrays."""

    def __init__(self, library: ctypes.CDLL, kernel: fused.FusedKernel, in_params: str, out_params: str,
                 operation: str) -> None:
        assert operation == kernel.cuda_source, "the operation is not the kernel's CUDA source"
        assert names(in_params) == kernel.inputs + kernel.scalars and names(out_params) == kernel.outputs
        self.library, self.kernel = library, kernel
        self.calls = 0

    def __call__(self, *args: Any) -> None:
        k = self.kernel
        n_in = len(k.inputs)
        inputs, scalars, outputs = args[:n_in], args[n_in:n_in + len(k.scalars)], args[n_in + len(k.scalars):]
        assert len(outputs) == len(k.outputs)
        arrays = [*inputs, *outputs]
        assert all(isinstance(a, np.ndarray) for a in arrays), "arrays and scalars are out of order"
        assert all(np.isscalar(s) for s in scalars), "arrays and scalars are out of order"
        assert len({(a.shape, a.dtype) for a in arrays}) == 1, "cupy would broadcast or cast here; we never want it"
        assert all(a.flags.c_contiguous for a in arrays), "non-contiguous arrays are not emulated"
        fn = getattr(self.library, f"{k.name}_{C_TYPES[arrays[0].dtype]}")

        def pointers(group: tuple[np.ndarray, ...]) -> Any:
            return (ctypes.c_void_p * max(1, len(group)))(*(a.ctypes.data for a in group))
        values = (ctypes.c_double * max(1, len(scalars)))(*scalars)
        fn(ctypes.c_size_t(arrays[0].size), pointers(inputs), pointers(outputs), values)
        self.calls += 1


@pytest.fixture(scope="module")
def host_kernels(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, fused.FusedKernel], ctypes.CDLL]:
    """Every kernel compiled in one nvcc run, keyed by the name the optimizers give cupy, and the library."""
    kernels = every_kernel()
    folder = tmp_path_factory.mktemp("cuda")
    source, library = folder / "kernels.cu", folder / "kernels.so"
    source.write_text(cuda_file(kernels))
    out = subprocess.run([str(NVCC), "-O2", "-shared", "-Xcompiler", "-fPIC", "-o", str(library), str(source)],
                         capture_output=True, text=True)
    assert out.returncode == 0, f"nvcc failed on the generated kernels:\n{out.stderr[-4000:]}"
    lib = ctypes.CDLL(str(library))
    return {f"tinygrad_adam_{k.name}": k for k in kernels}, lib


@pytest.fixture
def gpu_emulated(host_kernels: tuple[dict[str, fused.FusedKernel], ctypes.CDLL],
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[list[HostElementwiseKernel]]:
    """Route every optimizer's "auto" update to the "cuda" path, served by the host-compiled kernels."""
    kernels, lib = host_kernels
    made: list[HostElementwiseKernel] = []

    def factory(in_params: str, out_params: str, operation: str, name: str) -> HostElementwiseKernel:
        made.append(HostElementwiseKernel(lib, kernels[name], in_params, out_params, operation))
        return made[-1]

    def on_gpu(impl: str, device: str) -> str:
        return "reference" if impl == "reference" else "cuda"
    monkeypatch.setattr(backend, "elementwise_kernel", factory)
    for module in (optimizer_module, averaging):
        monkeypatch.setattr(module, "resolve_impl", on_gpu)
    yield made
    assert made and all(k.calls for k in made), "the cuda path was not taken"


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


def test_temporal_average_cuda_kernel_on_host(gpu_emulated: list[HostElementwiseKernel]) -> None:
    path = np.random.default_rng(3).standard_normal((6, 4, 5)).astype(np.float32)
    p = tg.Tensor(path[0].copy())
    avg = optim.TemporalAverage([p], beta=0.9)
    bar = np.zeros((4, 5))
    for t, theta in enumerate(path, start=1):
        p.data[...] = theta
        avg.update()
        bar = 0.9 * bar + 0.1 * theta                    # theta_bar_t, then bias-corrected
        np.testing.assert_allclose(avg.averages()[0].numpy(), bar / (1 - 0.9**t), rtol=1e-5)


def test_a_broken_kernel_body_fails_to_compile(tmp_path: Path) -> None:
    """The check above can fail: nvcc rejects a body that uses an undeclared name (here via a typo)."""
    k = fused.FusedKernel("typo", "p", "g", "lr", "p = p - g * lr")
    k.cuda_source = k.cuda_source.replace("lr", "lr_typo")
    source = tmp_path / "typo.cu"
    source.write_text(cuda_file([k]))
    out = subprocess.run([str(NVCC), "-c", "-o", str(tmp_path / "typo.o"), str(source)], capture_output=True,
                         text=True)
    assert out.returncode != 0 and "lr_typo" in out.stderr

