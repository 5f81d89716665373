"""Fused update kernels: one optimizer update written once, per element, and run three ways.

An optimizer's fast path is a short straight-line program over ONE element, for example Adam's::

    m = m + (g - m) * one_minus_beta1
    v = v * beta2 + g * g * one_minus_beta2
    p = p - m / (sqrt(v) * inv_sqrt_bc2 + eps) * step_size

The program may use the arrays (``outputs`` are updated in place, ``inputs`` are read-only), the scalars,
new local names, ``+ - * /``, unary minus, ``sqrt``, ``abs``, ``max`` and a select on one comparison,
``a if x < y else b`` (``<``, ``>``, ``<=``, ``>=``, ``==``, ``!=``; false where x or y is nan, as in C and numpy).
It has no literals: every constant is a scalar computed in float64 on the host, so float32 parameters are updated
in float32 throughout.
:class:`FusedKernel` compiles the program for

- the GPU: one ``cupy.ElementwiseKernel`` (Chainer's pattern: scalars are kernel arguments, the parameter
  and its state are updated in place in a single launch), and for several parameters one launch of a
  ``cupy.RawKernel`` over all of them (up to ``MULTI_TENSORS`` a launch), their addresses and sizes its arguments
  (``_cuda_multi_source``);
- the CPU with numpy: ufunc calls into preallocated scratch registers (``out=``), run over chunks small
  enough to stay in the cache, so that a step reads p, g, m, v once and writes p, m, v once: the
  minimum memory traffic, with no new arrays. numpy's ufuncs release the GIL, so the chunks are shared
  out to a pool of one thread per core (each with its own registers);
- the CPU with numba (optional, ``pip install "tinygrad-adam[fast]"``): one compiled loop that releases the
  GIL; large updates are cut into one piece per core, each run on the same thread pool.

:meth:`FusedKernel.run_many` updates several parameters that share the scalars at once (torch's
"multi-tensor apply"): numpy spreads every tensor's chunks over the thread pool, numba cuts all the tensors
together into one equal run of elements per core, and on a GPU one launch updates them all.

Each kernel's generated code is on ``numpy_source``, ``numba_source`` and ``cuda_source``.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import linecache
import operator
import os
import sys
import textwrap
import types
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import numpy

from .. import backend
from ..backend import numba_available

Array = Any  # numpy or cupy ndarray

CHUNK = 131072  # elements per CPU chunk (512 KiB of float32): a chunk's arrays stay in cache across its ufunc
#                calls, and each call does enough work that two threads seldom wait on each other for the GIL
#                between calls. A 10M Adam step: 15.6-16.0 ms here against 18.3-19.1 for 64K-element chunks and
#                19.5-20.3 for 256K (a 2 MB-L2 Xeon; on one thread 29 ms, 27 and 40); on the EPYC of the earlier
#                stops 256K took 8.7-9.2 ms and 64K 9.3-15
# Handing work to the thread pool and waiting for it costs 50-80 us on the 2-core VM these were measured on (a
# no-op backend.in_parallel), so splitting pays only from about 1M elements for numba's loop (0.2 ns an element
# in cache: 1M in 148 us on one thread, 145 on two; 256K in 44 against 79) and from two numpy chunks (256K: 295
# us on one thread, 230 on two; 128K as four tensors: 152 against 190).
PARALLEL_MIN = 1 << 20  # numba's loop runs on all cores from this many elements on
THREAD_MIN = 1 << 18  # the numpy chunks go to the thread pool from this many elements on (several tensors)
MULTI_BLOCK = 2048  # elements per block of the multi-tensor GPU launch (8 per thread: enough loads in flight)
MULTI_THREADS = 256
MULTI_TENSORS = 32  # tensors per launch: their addresses and sizes are kernel arguments (Adam's, 1.6 KB of CUDA's 4)
IMPLS = ("auto", "reference", "numpy", "numba")

_FUNCS = {"sqrt": ("numpy.sqrt", "sqrt"), "abs": ("numpy.abs", "fabs"), "max": ("numpy.maximum", "fmax")}
_BINOPS = {ast.Add: ("numpy.add", "+"), ast.Sub: ("numpy.subtract", "-"),
           ast.Mult: ("numpy.multiply", "*"), ast.Div: ("numpy.divide", "/")}
_COMPARES = {ast.Lt: ("numpy.less", "<"), ast.Gt: ("numpy.greater", ">"), ast.LtE: ("numpy.less_equal", "<="),
             ast.GtE: ("numpy.greater_equal", ">="), ast.Eq: ("numpy.equal", "=="),
             ast.NotEq: ("numpy.not_equal", "!=")}


def check_impl(impl: str) -> str:
    """Validate an optimizer's ``impl`` argument (see :class:`~tinygrad_adam.optim.Optimizer`)."""
    if impl not in IMPLS:
        raise ValueError(f"invalid impl={impl!r}: choose one of {IMPLS}")
    if impl == "numba" and not numba_available():
        raise ValueError('impl="numba" needs numba: pip install "tinygrad-adam[fast]" (or use impl="numpy")')
    return impl


def resolve_impl(impl: str, device: str) -> str:
    """The update that runs for a parameter on ``device``: "reference", "numpy", "numba" or "cuda"."""
    if device != "cpu":
        if impl in ("numpy", "numba"):
            raise ValueError(f'impl="{impl}" is a CPU path, but the parameter is on {device}; use "auto"')
        return "reference" if impl == "reference" else "cuda"
    if impl == "auto":
        return "numba" if numba_available() else "numpy"
    return impl


_NUMBA_DTYPES = (numpy.dtype(numpy.float32), numpy.dtype(numpy.float64))
_MULTI_DTYPES = _NUMBA_DTYPES  # the multi-tensor GPU kernel's (float16 goes by ElementwiseKernel, one per tensor)


class FusedKernel:
    """A per-element update program compiled for cupy, chunked numpy and numba.

    ``outputs``/``inputs``/``scalars`` are space-separated names, e.g. ``FusedKernel("adam", "p m v", "g",
    "beta2 eps", body)``. Call :meth:`run` with a mapping that holds every named array (all of one shape and
    dtype) and one that holds every scalar.
    """

    def __init__(self, name: str, outputs: str, inputs: str, scalars: str, body: str) -> None:
        self.name = name
        self.outputs, self.inputs, self.scalars = outputs.split(), inputs.split(), scalars.split()
        self.statements = _parse(name, textwrap.dedent(body), self.outputs, self.inputs, self.scalars)
        self.arrays = self.outputs + self.inputs
        # one C call that picks a tensor's arrays from its mapping, in kernel order (a tuple of one array as well)
        pick = operator.itemgetter(*self.arrays)
        self._pick = pick if len(self.arrays) > 1 else lambda arrays: (pick(arrays),)
        self.numpy_source, self.registers = _numpy_source(self)
        self.numba_source = _numba_source(self)
        self.cuda_source = _cuda_source(self)
        self._numpy_fn = _compile(self.numpy_source, {"numpy": numpy})
        self._numba_fn: Callable[..., None] | None = None
        self._multi_sources: dict[tuple[numpy.dtype, int], str] = {}  # the multi-tensor kernel's, by dtype and size

    def run(self, impl: str, arrays: Mapping[str, Array], scalars: Mapping[str, float],
            scratch: MutableMapping[Any, Any]) -> None:
        """Update the output arrays in place with ``impl`` ("numpy", "numba" or "cuda").

        ``scratch`` keeps the CPU registers between calls (one list of ``CHUNK``-element arrays per dtype and
        thread).
        """
        self.run_many(impl, [arrays], scalars, scratch)

    def run_many(self, impl: str, tensors: list[Mapping[str, Array]], scalars: Mapping[str, float],
                 scratch: MutableMapping[Any, Any]) -> None:
        """:meth:`run` for several parameters at once (each mapping holds one parameter's arrays), all with the
        same ``scalars``. On the CPU every tensor's chunks (numpy) or pieces (numba) share the thread pool;
        when the arrays of two tensors overlap in memory they are updated one after the other instead."""
        checked = [self._arrays(arrays) for arrays in tensors]
        if impl == "cuda":
            self._run_cuda(checked, scalars)
            return
        if impl not in ("numpy", "numba"):
            raise ValueError(f"{self.name}: unknown kernel impl {impl!r}")
        by_dtype: dict[numpy.dtype, list[list[Array]]] = {}
        for arrs in checked:
            by_dtype.setdefault(arrs[0].dtype, []).append(arrs)
        for dtype, same in by_dtype.items():
            # numba compiles float32 / float64 loops only: a float16 parameter takes the numpy path
            run = self._run_numba if impl == "numba" and dtype in _NUMBA_DTYPES else self._run_numpy
            # a float16 parameter's scalars in float32, as torch's half ops take theirs (its opmath type): in float16
            # AdamW's 1 - lr * weight_decay = 0.9997 would round to 0.99951
            scalar_type = numpy.float32 if dtype == numpy.float16 else dtype.type
            values = [scalar_type(scalars[n]) for n in self.scalars]
            flats, copies, owned = self._flats(same)
            if len(same) == 1 or _apart(same, len(self.outputs), owned):
                self._run_flat(run, flats, copies, values, scratch)
            else:  # tensors that share memory: one after the other, each seeing the last one's update
                for arrs in same:
                    self._run_flat(run, *self._flats([arrs])[:2], values, scratch)

    def _flats(self, tensors: list[list[Array]]) -> tuple[list[list[Array]], list[tuple[Array, Array]], bool]:
        """Flat contiguous views of the tensors' arrays (a contiguous copy of a non-contiguous one), the (output,
        copy) pairs to write back, and whether every array owns its memory (``_apart``'s quick case)."""
        flats, copies, owned, outputs = [], [], True, len(self.outputs)
        for arrs in tensors:
            row = []
            for k, a in enumerate(arrs):
                flags = a.flags  # (one flags object per array: this runs for every array of every step)
                owned = owned and flags.owndata
                if flags.c_contiguous:
                    row.append(a if a.ndim == 1 else a.reshape(-1))
                else:
                    row.append(numpy.ascontiguousarray(a).reshape(-1))
                    if k < outputs:
                        copies.append((a, row[-1]))
            flats.append(row)
        return flats, copies, owned

    @staticmethod
    def _run_flat(run: Callable[..., None], flats: list[list[Array]], copies: list[tuple[Array, Array]],
                  values: list[Any], scratch: MutableMapping[Any, Any]) -> None:
        """``run`` (the numpy or numba update) over the flat views, then the copies written back to their outputs."""
        run(flats, values, scratch)
        for a, flat in copies:
            a[...] = flat.reshape(a.shape)

    def _arrays(self, arrays: Mapping[str, Array]) -> tuple[Array, ...]:
        """One parameter's arrays in kernel order, checked to share a shape and a dtype."""
        arrs = self._pick(arrays)
        shape, dtype = arrs[0].shape, arrs[0].dtype
        for a in arrs:  # (a plain loop over locals: it runs for every tensor of every step)
            if a.shape != shape or (a.dtype is not dtype and a.dtype != dtype):
                self._mismatch(arrs)
        return arrs

    def _mismatch(self, arrs: list[Array]) -> None:
        """Raise a TypeError naming the first of ``arrs`` whose shape or dtype differs from the first's."""
        first = arrs[0]
        for name, a in zip(self.arrays, arrs):
            if a.shape != first.shape or a.dtype != first.dtype:
                raise TypeError(f"{self.name}: array {name!r} has shape {a.shape} and dtype {a.dtype}, but "
                                f"{self.arrays[0]!r} has shape {first.shape} and dtype {first.dtype}")

    def _run_cuda(self, tensors: list[tuple[Array, ...]], scalars: Mapping[str, float]) -> None:
        """The GPU update: the contiguous float32 / float64 tensors of one device and dtype in one launch of the
        multi-tensor kernel (torch's multi-tensor apply), when there are several and no output of one shares memory
        with another's arrays; every other tensor in its own ElementwiseKernel launch (any strides, float16)."""
        groups: dict[tuple[str, numpy.dtype], list[tuple[Array, ...]]] = {}
        single = []
        for arrs in tensors:
            # (a numpy scalar, a 0-d gradient negated for ``maximize`` on the host, is no array to point to)
            if arrs[0].dtype in _MULTI_DTYPES and all(backend.is_array(a) and a.flags.c_contiguous for a in arrs):
                groups.setdefault((backend.device_of(arrs[0]), arrs[0].dtype), []).append(arrs)
            else:
                single.append(arrs)
        for (device, dtype), same in groups.items():
            if len(same) > 1 and _apart(same, len(self.outputs)):
                with backend.device_context(device):
                    self._launch_multi(same, dtype, scalars)
            else:
                single.extend(same)
        if single:
            kernel = backend.elementwise_kernel(", ".join(f"T {n}" for n in self.inputs + self.scalars),
                                                ", ".join(f"T {n}" for n in self.outputs),
                                                self.cuda_source, f"tinygrad_adam_{self.name}")
            for arrs in single:
                with backend.device_context(backend.device_of(arrs[0])):
                    kernel(*arrs[len(self.outputs):], *(scalars[n] for n in self.scalars), *arrs[:len(self.outputs)])

    def _launch_multi(self, tensors: list[tuple[Array, ...]], dtype: numpy.dtype, scalars: Mapping[str, float]) -> None:
        """The multi-tensor kernel over ``tensors`` (contiguous, one device and dtype), ``MULTI_TENSORS`` of them a
        launch: their arrays' addresses and their sizes go as kernel arguments (so nothing is copied to the device),
        and each block of the grid updates a run of at most ``MULTI_BLOCK`` elements of one of them."""
        source = self._multi_sources.get((dtype, MULTI_TENSORS))
        if source is None:
            source = self._multi_sources[dtype, MULTI_TENSORS] = _cuda_multi_source(
                self, "float" if dtype == numpy.float32 else "double", MULTI_TENSORS)
        kernel = backend.raw_kernel(source, f"tinygrad_adam_{self.name}_multi")
        values = [dtype.type(scalars[n]) for n in self.scalars]
        for first in range(0, len(tensors), MULTI_TENSORS):
            part = tensors[first:first + MULTI_TENSORS]
            blocks = sum(-(-arrs[0].size // MULTI_BLOCK) for arrs in part)
            if blocks:
                empty = MULTI_TENSORS - len(part)
                kernel((blocks,), (MULTI_THREADS,), (
                    *[numpy.uint64(backend.data_ptr(a)) for arrs in part for a in arrs],
                    *[numpy.uint64(0)] * (empty * len(self.arrays)),
                    *[numpy.int64(arrs[0].size) for arrs in part], *[numpy.int64(0)] * empty, *values))

    def _run_numpy(self, flats: list[list[numpy.ndarray]], values: list[Any],
                   scratch: MutableMapping[Any, Any]) -> None:
        """The chunk function over every chunk of every tensor: on the calling thread for small updates, else
        split into one contiguous run of chunks per core, each run on its own thread with its own registers."""
        chunks = [(flat, start) for flat in flats for start in range(0, flat[0].size, CHUNK)]
        workers = _workers("numpy", [flat[0].size for flat in flats])
        dtype = flats[0][0].dtype
        regs = [_registers(scratch, dtype, self.registers, worker) for worker in range(workers)]

        def work(worker: int) -> None:
            r = regs[worker]
            for flat, start in chunks[worker * len(chunks) // workers:(worker + 1) * len(chunks) // workers]:
                views = [a[start:start + CHUNK] for a in flat]
                n = views[0].size
                self._numpy_fn(*views, *values, r if n == CHUNK else [x[:n] for x in r])

        backend.in_parallel(work, workers)

    def _run_numba(self, flats: list[list[numpy.ndarray]], values: list[Any],
                   scratch: MutableMapping[Any, Any]) -> None:
        """The compiled loop over every tensor, in order; from ``PARALLEL_MIN`` elements on, the tensors laid end
        to end are cut into one equal run per core, each run's pieces on a pool thread (the loop releases the
        GIL). A call per piece keeps each loop the contiguous, vectorised one that numba compiles for an array."""
        kernel = self._numba_fn
        if kernel is None and flats:
            kernel = self._numba_fn = _ready(self.numba_source, (*flats[0], *values))
        sizes = [flat[0].size for flat in flats]
        workers = _workers("numba", sizes)
        if workers == 1:
            for row in flats:
                kernel(*row, *values)
            return
        runs = _runs(sizes, workers)

        def work(worker: int) -> None:
            for t, start, stop in runs[worker]:
                kernel(*(flats[t] if stop - start == sizes[t] else [a[start:stop] for a in flats[t]]), *values)

        backend.in_parallel(work, workers)


def _workers(impl: str, sizes: list[int]) -> int:
    """How many pool threads a CPU update of tensors of these sizes runs on (1: the calling thread alone)."""
    total = sum(sizes)
    if total < (PARALLEL_MIN if impl == "numba" else THREAD_MIN):
        return 1
    pieces = total if impl == "numba" else sum(-(-n // CHUNK) for n in sizes)  # the most threads that get work
    return max(1, min(backend.cpu_threads(), pieces))


def _runs(sizes: list[int], workers: int) -> list[list[tuple[int, int, int]]]:
    """Tensors of these sizes laid end to end and cut into ``workers`` runs of (nearly) equal length: each run as
    its (tensor, start, stop) pieces, in order."""
    if workers == 1:
        return [[(t, 0, n) for t, n in enumerate(sizes) if n]]
    cuts = [sum(sizes) * w // workers for w in range(workers + 1)]
    runs: list[list[tuple[int, int, int]]] = [[] for _ in range(workers)]
    offset = 0
    for t, n in enumerate(sizes):
        for w in range(workers):
            lo, hi = max(cuts[w], offset), min(cuts[w + 1], offset + n)
            if lo < hi:
                runs[w].append((t, lo - offset, hi - offset))
        offset += n
    return runs


def _njit(source: str) -> Callable[..., None]:
    """Compile a generated numba kernel (``backend.compiled``: it releases the GIL, so pool threads run it at once).

    The source is kept as a file in the user's cache (``kernels/<hash of the source>.py``), so that numba's disk
    cache keeps the machine code beside it and a later process loads it instead of compiling again. The code that
    runs is always compiled from ``source`` itself (the file only names it for numba); where the file cannot be
    written, or holds anything else, the kernel is compiled without it, in this process only, as before."""
    text = f"import numpy\n\n\n{source}"
    try:
        path = backend.user_cache() / "kernels" / f"k{hashlib.sha256(text.encode()).hexdigest()[:20]}.py"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            part = path.with_name(f"{path.stem}.{os.getpid()}.part")
            part.write_text(text)
            os.replace(part, path)  # whole or not at all, whichever process gets there first
        if path.read_bytes() != text.encode():
            raise OSError(f"{path} does not hold the kernel's source")
        module = types.ModuleType(f"tinygrad_adam_kernel_{path.stem}")
        module.__file__ = str(path)
        sys.modules[module.__name__] = module  # numba's cache finds the kernel's globals by the module's name
        exec(compile(text, str(path), "exec"), module.__dict__)  # the checked text, never a stale .pyc
        loop = module.kernel
    except Exception:  # no usable cache (or no home directory): this process only
        loop = _compile(source, {"numpy": numpy})
    return backend.compiled(loop)


def _ready(source: str, args: tuple[Any, ...]) -> Callable[..., None]:
    """``_njit(source)`` compiled now for the types of ``args`` (the first call's): numba loads the machine code
    from its disk cache here, and a damaged cache (numba raises on reading it) means compiling from the source in
    this process instead of failing the step."""
    import numba

    signature = tuple(numba.typeof(a) for a in args)
    kernel = _njit(source)
    try:
        kernel.compile(signature)  # type: ignore[attr-defined]
    except Exception:  # a damaged disk cache
        kernel = backend.compiled(_compile(source, {"numpy": numpy}))
    return kernel


def _apart(tensors: list[list[Array]], outputs: int, owned: bool | None = None) -> bool:
    """True when no output array of one tensor can share memory with an array of another (so the tensors may be
    updated at once, in any order). Arrays that own their memory (numpy allocated them: a model's parameters,
    optimizer state and gradients as a rule) are apart unless they are the same object; when some array is a
    view, byte spans are compared, conservatively for strided views, in one sweep sorted by start. ``owned``: whether
    all of them own it, when the caller knows (else looked up here)."""
    if owned is None:
        owned = all(a.flags.owndata for arrs in tensors for a in arrs)
    if owned:
        outs = [id(a) for arrs in tensors for a in arrs[:outputs]]
        unique = set(outs)
        # (an output that is also another array of its own tensor is refused too: that is no harm, only slower)
        return len(unique) == len(outs) and unique.isdisjoint(id(a) for arrs in tensors for a in arrs[outputs:])
    spans = sorted((*_span(a), k < outputs) for arrs in tensors for k, a in enumerate(arrs) if a.size)
    any_end = out_end = -1
    for start, end, is_output in spans:
        if start < out_end or (is_output and start < any_end):
            return False
        any_end = max(any_end, end)
        if is_output:
            out_end = max(out_end, end)
    return True


def _span(a: numpy.ndarray) -> tuple[int, int]:
    """The first byte of ``a`` and one past its last: every element lies in between (for a strided view, so may
    bytes it skips)."""
    low = high = backend.data_ptr(a)
    for n, stride in zip(a.shape, a.strides):
        if stride < 0:
            low += stride * (n - 1)
        else:
            high += stride * (n - 1)
    return low, high + a.itemsize


def _registers(scratch: MutableMapping[Any, Any], dtype: numpy.dtype,
               count: int, worker: int = 0) -> list[numpy.ndarray]:
    regs = scratch.setdefault(dtype if worker == 0 else (dtype, worker), [])
    while len(regs) < count:
        regs.append(numpy.empty(CHUNK, dtype))
    return regs[:count]


_KERNEL_NUMBERS = itertools.count()


def _compile(source: str, namespace: dict[str, Any]) -> Callable[..., Any]:
    """The function ``kernel`` that ``source`` defines. Its lines go into linecache under a short name of their own,
    so a traceback or a numpy warning from inside a kernel (float16 overflow) shows the one line, not the source."""
    name = f"<fused kernel {next(_KERNEL_NUMBERS)}>"
    linecache.cache[name] = (len(source), None, source.splitlines(keepends=True), name)  # (no mtime: never dropped)
    code = compile(source, name, "exec")
    exec(code, namespace)  # the source is generated above from a checked program, never from user input
    return namespace["kernel"]


def _parse(name: str, body: str, outputs: list[str], inputs: list[str], scalars: list[str]) -> list[ast.Assign]:
    """The program's statements, after checking that each uses only what the kernel language allows."""
    defined = set(outputs) | set(inputs) | set(scalars)
    for n in defined | {t.id for t in ast.walk(ast.parse(body)) if isinstance(t, ast.Name)}:
        if n in ("i", "n", "r", "range", "numpy") or n.startswith("_") or n.endswith("_"):
            raise SyntaxError(f"kernel {name}: the name {n!r} is reserved (by cupy or the generated code)")
    statements = []
    for stmt in ast.parse(body).body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            raise SyntaxError(f"kernel {name}: only `name = expression` statements, got {ast.unparse(stmt)!r}")
        tests = [n.test for n in ast.walk(stmt.value) if isinstance(n, ast.IfExp)]
        for node in ast.walk(stmt.value):
            ok = (isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Load, ast.USub, *_BINOPS,
                                    *_COMPARES))
                  # a select tests one comparison, and a comparison is only a select's test
                  or (isinstance(node, ast.IfExp) and isinstance(node.test, ast.Compare))
                  or (isinstance(node, ast.Compare) and len(node.ops) == 1 and any(node is t for t in tests)))
            if not ok or (isinstance(node, ast.Call) and getattr(node.func, "id", None) not in _FUNCS):
                raise SyntaxError(f"kernel {name}: {ast.unparse(node)!r} is not allowed (no literals: use scalars)")
            if isinstance(node, ast.Name) and node.id not in _FUNCS and node.id not in defined:
                raise NameError(f"kernel {name}: {node.id!r} is used before it is defined")
        target = stmt.targets[0].id
        if target in inputs or target in scalars:
            raise SyntaxError(f"kernel {name}: {target!r} is read-only; assign to a new name")
        defined.add(target)
        statements.append(stmt)
    return statements


def _numpy_source(k: FusedKernel) -> tuple[str, int]:
    """A chunk function: every operation is one ufunc call writing into an output, a local or a register."""
    lines: list[str] = []
    homes: dict[str, str] = {n: n for n in k.arrays}  # where each value lives (array view or register)
    free: list[int] = []
    used = 0

    def new_register() -> str:
        nonlocal used
        if free:
            return f"r[{free.pop()}]"
        used += 1
        return f"r[{used - 1}]"

    def release(operand: str) -> None:
        if operand.startswith("r[") and operand not in homes.values():
            free.append(int(operand[2:-1]))

    def emit(node: ast.expr, out: str | None = None) -> str:
        if isinstance(node, ast.Name):
            return homes.get(node.id, node.id)
        if isinstance(node, ast.IfExp):  # a select: numpy.where's answer (a new array) is copied into the output
            assert isinstance(node.test, ast.Compare)
            func = _COMPARES[type(node.test.ops[0])][0]
            args = [emit(node.test.left), emit(node.test.comparators[0]), emit(node.body), emit(node.orelse)]
        elif isinstance(node, ast.UnaryOp):
            func, args = "numpy.negative", [emit(node.operand)]
        elif isinstance(node, ast.Call):
            func, args = _FUNCS[node.func.id][0], [emit(a) for a in node.args]
        else:
            assert isinstance(node, ast.BinOp)
            func, args = _BINOPS[type(node.op)][0], [emit(node.left), emit(node.right)]
        temps = [a for a in args if a.startswith("r[") and a not in homes.values()]
        target = out or (temps[0] if temps else new_register())
        for a in temps:
            if a != target:
                release(a)
        if isinstance(node, ast.IfExp):
            x, y, a, b = args
            lines.append(f"    numpy.copyto({target}, numpy.where({func}({x}, {y}), {a}, {b}))")
        else:
            lines.append(f"    {func}({', '.join(args)}, out={target})")
        return target

    for stmt in k.statements:
        name = stmt.targets[0].id
        if name not in homes:
            homes[name] = new_register()
        result = emit(stmt.value, out=homes[name])
        if result != homes[name]:  # a bare name: `x = y`
            lines.append(f"    numpy.copyto({homes[name]}, {result})")
    header = f"def kernel({', '.join(k.arrays + k.scalars)}, r):"
    return "\n".join([header, *lines]) + "\n", used


def _numba_source(k: FusedKernel) -> str:
    """One loop over the elements: load, the program as written, store."""
    arrays = [f"{n}_" for n in k.arrays]
    body = [f"        {n} = {n}_[i]" for n in k.arrays]
    body += [f"        {ast.unparse(_rename_calls(s))}" for s in k.statements]
    body += [f"        {n}_[i] = {n}" for n in k.outputs]
    header = [f"def kernel({', '.join(arrays + k.scalars)}):", f"    for i in range({arrays[0]}.shape[0]):"]
    return "\n".join(header + body) + "\n"


def _rename_calls(stmt: ast.Assign) -> ast.Assign:
    stmt = ast.parse(ast.unparse(stmt)).body[0]  # a copy
    for node in ast.walk(stmt):
        if isinstance(node, ast.Call):
            node.func = ast.parse(_FUNCS[node.func.id][0], mode="eval").body
    return stmt


def _cuda_multi_source(k: FusedKernel, ctype: str, tensors: int) -> str:
    """The multi-tensor kernel in CUDA C for ``ctype`` ("float" or "double") over up to ``tensors`` tensors: each
    tensor's arrays' addresses (in kernel order, outputs first) and its size are arguments ``_a<j>`` and ``_n<t>``
    (an unused slot: size 0); block b finds its tensor by counting the blocks of those before it, and updates its
    run of ``MULTI_BLOCK`` elements, its threads striding by the block's size."""
    arrays = len(k.arrays)
    refs = [f"T *_raw_{n} = (T *)_ptrs[_t * {arrays} + {j}];" for j, n in enumerate(k.outputs)]
    refs += [f"const T *_raw_{n} = (const T *)_ptrs[_t * {arrays} + {j}];"
             for j, n in enumerate(k.inputs, len(k.outputs))]
    elements = [f"T &{n} = _raw_{n}[i];" for n in k.outputs] + [f"const T &{n} = _raw_{n}[i];" for n in k.inputs]
    params = [f"unsigned long long _a{j}" for j in range(tensors * arrays)]
    params += [f"long long _n{t}" for t in range(tensors)] + [f"T {n}" for n in k.scalars]
    body = textwrap.indent(k.cuda_source, "    ")
    return f"""typedef {ctype} T;
extern "C" __global__ void tinygrad_adam_{k.name}_multi({", ".join(params)}) {{
  const unsigned long long _ptrs[{tensors * arrays}] = {{{", ".join(f"_a{j}" for j in range(tensors * arrays))}}};
  const long long _sizes[{tensors}] = {{{", ".join(f"_n{t}" for t in range(tensors))}}};
  long long _b = blockIdx.x;
  int _t = 0;
  for (; _t < {tensors}; _t++) {{  // the tensor of block b: past the blocks of those before it
    const long long _blocks = (_sizes[_t] + {MULTI_BLOCK - 1}) / {MULTI_BLOCK};
    if (_b < _blocks) break;
    _b -= _blocks;
  }}
  if (_t == {tensors}) return;
  const long long _start = _b * {MULTI_BLOCK};
  const long long _stop = _start + {MULTI_BLOCK} < _sizes[_t] ? _start + {MULTI_BLOCK} : _sizes[_t];
  {" ".join(refs)}
  for (long long i = _start + threadIdx.x; i < _stop; i += blockDim.x) {{
    {" ".join(elements)}
{body}
  }}
}}
"""


def _cuda_source(k: FusedKernel) -> str:
    """The ElementwiseKernel body in C: locals are declared ``T`` on first assignment."""
    def c(node: ast.expr) -> str:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.UnaryOp):
            return f"(-{c(node.operand)})"
        if isinstance(node, ast.IfExp):
            assert isinstance(node.test, ast.Compare)
            op = _COMPARES[type(node.test.ops[0])][1]
            return f"(({c(node.test.left)} {op} {c(node.test.comparators[0])}) ? {c(node.body)} : {c(node.orelse)})"
        if isinstance(node, ast.Call):
            return f"{_FUNCS[node.func.id][1]}({', '.join(c(a) for a in node.args)})"
        assert isinstance(node, ast.BinOp)
        return f"({c(node.left)} {_BINOPS[type(node.op)][1]} {c(node.right)})"

    declared = set(k.arrays) | set(k.scalars)
    lines = []
    for stmt in k.statements:
        name = stmt.targets[0].id
        lines.append(f"{'' if name in declared else 'T '}{name} = {c(stmt.value)};")
        declared.add(name)
    return "\n".join(lines)
