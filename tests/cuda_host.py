"""The body of a ``cupy.ElementwiseKernel``, compiled by nvcc and run on the host (a test helper, no GPU needed).

For each kernel :func:`cuda_file` writes the code cupy would build around the body (``typedef float T;``, a loop
over the elements, ``const T &g = _raw_g[i];`` for each input array, ``T &p = _raw_p[i];`` for each output,
scalars as plain ``T`` arguments) twice, for float and for double: as a ``__global__`` kernel (so the body must be
valid device code) and as an ``extern "C"`` host loop that ctypes calls. :class:`HostElementwiseKernel` has
cupy's constructor and calling convention over those host loops; which inputs are arrays and which scalars is
decided by each call, as in cupy. Kernels are compiled lazily, several in one nvcc run when :func:`build` is
given them together, and the libraries are cached on disk by source hash, so a second test run compiles nothing.

Used by tests/test_cuda_source.py and by the fake cupy (tests/fake_cupy.py).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

NVCC = shutil.which("nvcc")
NVCC_FLAGS = ("-O2", "-shared", "-Xcompiler", "-fPIC")
CACHE = Path(tempfile.gettempdir()) / f"tinygrad_adam_cuda_host_{os.getuid()}"
C_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


class CompileError(RuntimeError):
    """nvcc rejected the generated source (the message ends with its stderr)."""


@dataclass(frozen=True)
class Spec:
    """One kernel as the compiler sees it: the names of its input arrays, output arrays and scalars, and its body."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    scalars: tuple[str, ...]
    body: str

    @property
    def name(self) -> str:
        """A C identifier unique to this spec (the symbols of its host loops start with it)."""
        return "k" + hashlib.sha256(repr(self).encode()).hexdigest()[:16]

    @classmethod
    def of(cls, kernel: Any) -> Spec:
        """The spec of an optimizer's ``FusedKernel`` as its ``impl="cuda"`` path launches it."""
        return cls(tuple(kernel.inputs), tuple(kernel.outputs), tuple(kernel.scalars), kernel.cuda_source)


def cuda_file(specs: Iterable[Spec]) -> str:
    """One .cu file: for each spec and dtype, a ``__global__`` kernel and an ``extern "C"`` host loop."""
    parts = ["#include <cstddef>", "#include <cmath>"]
    for k in specs:
        refs = [f"const T &{n} = _raw_{n}[i];" for n in k.inputs] + [f"T &{n} = _raw_{n}[i];" for n in k.outputs]
        body = " ".join(refs) + "\n" + k.body
        gpu_args = ", ".join([f"const T *_raw_{n}" for n in k.inputs] + [f"T *_raw_{n}" for n in k.outputs]
                             + [f"T {n}" for n in k.scalars])
        unpack = [f"const T *_raw_{n} = (const T *)_in[{j}];" for j, n in enumerate(k.inputs)]
        unpack += [f"T *_raw_{n} = (T *)_out[{j}];" for j, n in enumerate(k.outputs)]
        unpack += [f"T {n} = (T)_s[{j}];" for j, n in enumerate(k.scalars)]
        for ctype in C_TYPES.values():
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


def compile_cached(source: str) -> Path:
    """The shared library nvcc makes of ``source``, from the on-disk cache when it was compiled before."""
    if NVCC is None:
        raise CompileError("the CUDA toolkit (nvcc) is not installed")
    key = hashlib.sha256((" ".join(NVCC_FLAGS) + "\n" + source).encode()).hexdigest()[:24]
    library = CACHE / f"{key}.so"
    if not library.exists():
        CACHE.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            cu, so = Path(tmp) / "kernels.cu", Path(tmp) / "kernels.so"
            cu.write_text(source)
            out = subprocess.run([NVCC, *NVCC_FLAGS, "-o", str(so), str(cu)], capture_output=True, text=True)
            if out.returncode != 0:
                raise CompileError(f"nvcc failed on the generated kernels:\n{out.stderr[-4000:]}")
            os.replace(so, library)  # atomic: a concurrent test run sees the whole library or none
    return library


_loaded: dict[Spec, ctypes.CDLL] = {}


def build(specs: Iterable[Spec]) -> None:
    """Compile (in one nvcc run) and load every spec that is not loaded yet."""
    missing = [s for s in dict.fromkeys(specs) if s not in _loaded]
    if missing:
        library = ctypes.CDLL(str(compile_cached(cuda_file(missing))))
        _loaded.update(dict.fromkeys(missing, library))


def optimizer_specs() -> list[Spec]:
    """The kernel of every optimizer configuration the tests run (test_optim.CASES) and temporal averaging's."""
    # imported here, not above: the fake cupy imports this module before tinygrad_adam may be imported
    from test_optim import CASES

    import tinygrad_adam as tg
    from tinygrad_adam import optim
    from tinygrad_adam.optim import averaging

    specs = [Spec.of(averaging.EMA_KERNEL)]
    for name, kw in CASES:
        p = tg.Tensor(np.zeros(3), requires_grad=True, device="cpu")  # on the CPU whatever the default device
        p.grad = tg.Tensor(np.ones(3), device="cpu")
        opt = getattr(optim, name)([p], **kw, impl="numpy")
        opt.step()
        specs.append(Spec.of(opt.fused(opt.state[p], opt.param_groups[0])[0]))
    return specs


def names(params: str) -> list[str]:
    """``"T g, T beta1"`` -> ``["g", "beta1"]`` (every parameter of our kernels has the type ``T``)."""
    out = []
    for param in params.split(","):
        kind, name = param.split()
        if kind != "T":
            raise NotImplementedError(f"parameter {param.strip()!r}: only the type placeholder T is emulated")
        out.append(name)
    return out


class HostElementwiseKernel:
    """``cupy.ElementwiseKernel(in_params, out_params, operation, name)`` run on the host.

    Call it with one argument per ``in_params`` name, numpy arrays or scalars, then the output arrays (updated
    in place and returned, as cupy returns them). Every array must have the same shape and dtype (float32 or
    float64, the ``T``): cupy would broadcast, our kernels never want it. ``calls`` counts the launches.
    """

    def __init__(self, in_params: str, out_params: str, operation: str, name: str = "kernel") -> None:
        self.in_names, self.out_names = names(in_params), names(out_params)
        self.operation, self.name = operation, name
        self.calls = 0

    def __call__(self, *args: Any) -> Any:
        n_in = len(self.in_names)
        if len(args) != n_in + len(self.out_names):
            raise TypeError(f"{self.name}: takes {n_in} inputs {self.in_names} and {len(self.out_names)} outputs "
                            f"{self.out_names}; got {len(args)} arguments")
        inputs, outputs = args[:n_in], args[n_in:]
        if not all(isinstance(a, np.ndarray) for a in outputs):
            raise TypeError(f"{self.name}: the outputs {self.out_names} must be arrays")
        arrays = [a for a in inputs if isinstance(a, np.ndarray)]
        scalars = [float(a) for a in inputs if not isinstance(a, np.ndarray)]
        if len({(a.shape, a.dtype) for a in arrays + list(outputs)}) != 1:
            raise ValueError(f"{self.name}: the arrays differ in shape or dtype "
                             f"{[(a.shape, str(a.dtype)) for a in arrays + list(outputs)]} (broadcasting and casting "
                             f"are not emulated)")
        dtype = outputs[0].dtype
        if dtype not in C_TYPES:
            raise NotImplementedError(f"{self.name}: dtype {dtype} (only float32 and float64 are emulated)")
        spec = Spec(tuple(n for n, a in zip(self.in_names, inputs) if isinstance(a, np.ndarray)),
                    tuple(self.out_names),
                    tuple(n for n, a in zip(self.in_names, inputs) if not isinstance(a, np.ndarray)), self.operation)
        build([spec])
        run = getattr(_loaded[spec], f"{spec.name}_{C_TYPES[dtype]}")
        dense_in = [np.ascontiguousarray(a) for a in arrays]
        dense_out = [np.ascontiguousarray(a) for a in outputs]  # cupy runs on any strides: copy in and out

        def pointers(group: list[np.ndarray]) -> Any:
            return (ctypes.c_void_p * max(1, len(group)))(*(a.ctypes.data for a in group))
        run(ctypes.c_size_t(outputs[0].size), pointers(dense_in), pointers(dense_out),
            (ctypes.c_double * max(1, len(scalars)))(*scalars))
        for out, dense in zip(outputs, dense_out):
            if dense is not out:
                out[...] = dense
        self.calls += 1
        return outputs[0] if len(outputs) == 1 else tuple(outputs)
