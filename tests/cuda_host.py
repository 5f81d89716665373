"""The body of a ``cupy.ElementwiseKernel``, compiled by nvcc and run on the host (a test helper, no GPU needed).

For each kernel :func:`cuda_file` writes the code cupy would build around the body (``typedef float T;``, a loop
over the elements, ``const T &g = _raw_g[i];`` for each input array, ``T &p = _raw_p[i];`` for each output,
scalars as plain ``T`` arguments) twice, for float and for double: as a ``__global__`` kernel (so the body must be
valid device code) and as an ``extern "C"`` host loop that ctypes calls. :class:`HostElementwiseKernel` has
cupy's constructor and calling convention over those host loops; which inputs are arrays and which scalars is
decided by each call, as in cupy. Kernels are compiled lazily, several in one nvcc run when :func:`build` is
given them together, and the libraries are cached on disk by source hash, so a second test run compiles nothing.

A raw kernel (``cupy.RawKernel``: a whole ``extern "C" __global__`` function) goes through :class:`HostRawKernel`:
nvcc compiles the source as it is (valid device code), and the host compiler compiles it again with CUDA's
qualifiers defined away and ``blockIdx`` / ``threadIdx`` / ``blockDim`` / ``gridDim`` as host variables, behind a
launcher that runs every thread of the grid one after another (right for kernels whose threads do not talk to each
other: no shared memory, no barriers, no atomics, which it refuses). Arguments follow CUDA's launch convention (an
array of pointers to each argument's value), so a scalar passed with the wrong type fails as it would on a GPU.

Used by tests/test_cuda_source.py and by the fake cupy (tests/fake_cupy.py).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
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


def compile_cached(source: str, compiler: tuple[str | None, ...] = (NVCC, *NVCC_FLAGS), suffix: str = ".cu") -> Path:
    """The shared library ``compiler`` (nvcc unless told) makes of ``source``, from the on-disk cache when it was
    compiled before."""
    if compiler[0] is None:
        raise CompileError("the CUDA toolkit (nvcc) is not installed" if compiler[0] is NVCC
                           else "no host C++ compiler (g++) is installed")
    key = hashlib.sha256((" ".join(map(str, compiler)) + "\n" + source).encode()).hexdigest()[:24]
    library = CACHE / f"{key}.so"
    if not library.exists():
        CACHE.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            cu, so = Path(tmp) / f"kernels{suffix}", Path(tmp) / "kernels.so"
            cu.write_text(source)
            out = subprocess.run([*map(str, compiler), "-o", str(so), str(cu)], capture_output=True, text=True)
            if out.returncode != 0:
                raise CompileError(f"{Path(str(compiler[0])).name} failed on the generated kernels:\n"
                                   f"{out.stderr[-4000:]}")
            os.replace(so, library)  # atomic: a concurrent test run sees the whole library or none
    return library


_loaded: dict[Spec, ctypes.CDLL] = {}


def build(specs: Iterable[Spec]) -> None:
    """Compile (in one nvcc run) and load every spec that is not loaded yet."""
    missing = [s for s in dict.fromkeys(specs) if s not in _loaded]
    if missing:
        library = ctypes.CDLL(str(compile_cached(cuda_file(missing))))
        _loaded.update(dict.fromkeys(missing, library))


def optimizer_kernels() -> list[Any]:
    """The ``FusedKernel`` of every optimizer configuration the tests run (test_optim.CASES)."""
    # imported here, not above: the fake cupy imports this module before tinygrad_adam may be imported
    from test_optim import CASES

    import tinygrad_adam as tg
    from tinygrad_adam import optim

    kernels = []
    for name, kw in CASES:
        p = tg.Tensor(np.zeros(3), requires_grad=True, device="cpu")  # on the CPU whatever the default device
        p.grad = tg.Tensor(np.ones(3), device="cpu")
        opt = getattr(optim, name)([p], **kw, impl="numpy")
        opt.step()
        kernels.append(opt.fused(opt.state[p], opt.param_groups[0])[0])
    return kernels


def optimizer_specs() -> list[Spec]:
    """The ElementwiseKernel of every optimizer configuration the tests run and temporal averaging's."""
    from tinygrad_adam.optim import averaging

    return [Spec.of(averaging.EMA_KERNEL), *map(Spec.of, optimizer_kernels())]


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


CXX = shutil.which("g++")
CXX_FLAGS = ("-O2", "-shared", "-fPIC", "-x", "c++")
# the host's view of a raw kernel: CUDA's qualifiers gone, its built-in index variables plain globals
HOST_PRELUDE = """#include <cmath>
#include <math.h>  // sqrt, fabs, fmax overloaded for float in the global namespace, as CUDA's headers have them
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
struct _host_dim3 { unsigned x, y, z; };
static _host_dim3 blockIdx, threadIdx, blockDim, gridDim;
"""
C_SCALARS = {"float": (ctypes.c_float, np.dtype(np.float32)), "double": (ctypes.c_double, np.dtype(np.float64)),
             "int": (ctypes.c_int, np.dtype(np.int32)), "long long": (ctypes.c_longlong, np.dtype(np.int64)),
             "unsigned int": (ctypes.c_uint, np.dtype(np.uint32)),
             "unsigned long long": (ctypes.c_ulonglong, np.dtype(np.uint64))}


@dataclass(frozen=True)
class Param:
    """One parameter of a raw kernel: its C type with ``typedef``s resolved, whether it is a pointer, its name."""

    ctype: str
    pointer: bool
    name: str


def kernel_params(code: str, name: str) -> list[Param]:
    """The parameters of ``extern "C" __global__ void name(...)`` in ``code``."""
    found = re.search(r'extern\s+"C"\s+__global__\s+void\s+' + re.escape(name) + r"\s*\(([^)]*)\)", code)
    if found is None:
        raise ValueError(f'no extern "C" __global__ function {name!r} in the kernel source')
    typedefs = dict((alias, target) for target, alias in re.findall(r"typedef\s+([\w ]+?)\s+(\w+)\s*;", code))
    params = []
    for text in found.group(1).split(","):
        words = text.replace("*", " * ").split()
        pointer = "*" in words
        ctype = " ".join(w for w in words[:-1] if w not in ("const", "*", "__restrict__"))
        params.append(Param(typedefs.get(ctype, ctype), pointer, words[-1]))
    return params


@dataclass(frozen=True)
class RawSpec:
    """A raw kernel as cupy gets it: the source and the name of its ``extern "C" __global__`` function."""

    code: str
    name: str

    @property
    def key(self) -> str:
        """A C identifier unique to this source (its symbols here are renamed with it, so that many kernels, some
        with one name, share a library)."""
        return "r" + hashlib.sha256(repr(self).encode()).hexdigest()[:16]

    def renamed(self) -> str:
        """The source in a namespace of its own (its ``typedef``s), its function renamed ``<name>_<key>``."""
        code = re.sub(rf"\b{self.name}\b", f"{self.name}_{self.key}", self.code)
        return f"namespace {self.key} {{\n{code}\n}}\n"

    def launcher(self) -> str:
        """``_host_launch_<key>(grid, block, args)``: every thread of the grid, one after another; ``args`` as
        CUDA's launch takes them, an array of pointers to each argument's value."""
        args = ", ".join(f"*({p.ctype} {'*' if p.pointer else ''}*)_args[{j}]"
                         for j, p in enumerate(kernel_params(self.code, self.name)))
        return f"""extern "C" void _host_launch_{self.key}(unsigned _grid, unsigned _block, void **_args) {{
  gridDim = {{_grid, 1, 1}}; blockDim = {{_block, 1, 1}};
  for (unsigned _b = 0; _b < _grid; _b++)
    for (unsigned _t = 0; _t < _block; _t++) {{
      blockIdx = {{_b, 0, 0}}; threadIdx = {{_t, 0, 0}};
      {self.key}::{self.name}_{self.key}({args});
    }}
}}
"""


_raw_loaded: dict[RawSpec, ctypes.CDLL] = {}


def build_raw(specs: Iterable[RawSpec]) -> None:
    """Compile every raw kernel not loaded yet: once by nvcc, all in one run (valid device code; that library is
    not loaded), and once by the host compiler with the launchers, all in one run, loaded."""
    missing = [s for s in dict.fromkeys(specs) if s not in _raw_loaded]
    if missing:
        for spec in missing:
            for construct in ("__shared__", "__syncthreads", "atomic"):
                if construct in spec.code:
                    raise NotImplementedError(f"{spec.name}: {construct} is not emulated (threads run one by one)")
        compile_cached("".join(s.renamed() for s in missing))
        host = HOST_PRELUDE + "".join(s.renamed() + s.launcher() for s in missing)
        library = ctypes.CDLL(str(compile_cached(host, (CXX, *CXX_FLAGS), ".cc")))
        _raw_loaded.update(dict.fromkeys(missing, library))


def optimizer_raw_specs() -> list[RawSpec]:
    """The multi-tensor kernel of every optimizer configuration the tests run and temporal averaging's, for float
    and double."""
    from tinygrad_adam.optim import averaging, fused

    return [RawSpec(fused._cuda_multi_source(k, ctype, fused.MULTI_TENSORS), f"tinygrad_adam_{k.name}_multi")
            for k in [averaging.EMA_KERNEL, *optimizer_kernels()] for ctype in ("float", "double")]


class HostRawKernel:
    """``cupy.RawKernel(code, name)`` run on the host: ``kernel(grid, block, args)`` over numpy arrays (their
    addresses go to pointer parameters) and numpy scalars of exactly each parameter's type (cupy passes a numpy
    scalar's bytes as they are, so a float64 where the kernel takes a float is garbage on a GPU: refused here).
    ``calls`` counts the launches."""

    def __init__(self, code: str, name: str) -> None:
        self.spec = RawSpec(code, name)
        self.name, self.params = name, kernel_params(code, name)
        self.calls = 0

    def __call__(self, grid: tuple[int, ...], block: tuple[int, ...], args: tuple[Any, ...]) -> None:
        for dims, what in ((grid, "grid"), (block, "block")):
            if not (isinstance(dims, tuple) and 1 <= len(dims) <= 3 and all(isinstance(d, int) for d in dims)):
                raise TypeError(f"{self.name}: {what} must be a tuple of 1 to 3 ints, got {dims!r}")
            if any(d != 1 for d in dims[1:]):
                raise NotImplementedError(f"{self.name}: a {len(dims)}-d {what} is not emulated")
        if not 1 <= block[0] <= 1024 or grid[0] < 1:
            raise ValueError(f"{self.name}: invalid launch configuration grid={grid} block={block}")
        if not isinstance(args, tuple) or len(args) != len(self.params):
            raise TypeError(f"{self.name}: takes {len(self.params)} arguments {[p.name for p in self.params]}, got "
                            f"{len(args) if isinstance(args, tuple) else args!r}")
        values = []
        for p, a in zip(self.params, args):
            if p.pointer:
                if not isinstance(a, np.ndarray):
                    raise TypeError(f"{self.name}: {p.name} is a pointer; pass an array, got {type(a).__name__}")
                values.append(ctypes.c_void_p(a.ctypes.data))
            else:
                c_type, dtype = C_SCALARS[p.ctype]
                if not isinstance(a, np.generic) or a.dtype != dtype:
                    raise TypeError(f"{self.name}: {p.name} is a {p.ctype}; pass numpy.{dtype}, got {a!r} "
                                    f"({type(a).__name__})")
                values.append(c_type(a.item()))
        build_raw([self.spec])
        launch = getattr(_raw_loaded[self.spec], f"_host_launch_{self.spec.key}")
        launch(ctypes.c_uint(grid[0]), ctypes.c_uint(block[0]),
               (ctypes.c_void_p * len(values))(*(ctypes.addressof(v) for v in values)))
        self.calls += 1
