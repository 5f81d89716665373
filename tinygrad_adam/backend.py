"""The one place that knows numpy from cupy (Chainer's ``get_array_module`` idea).

Every other module asks this one for the array module of a device or of an
array, for a random generator, or for a compiled GPU kernel. Devices are named
``"cpu"``, ``"cuda"`` (the current GPU) and ``"cuda:N"``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import ctypes
import ctypes.util
import functools
import os
import platform
import struct
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy

GPU_INSTALL_HINT = 'pip install "tinygrad-adam[gpu]"  (CuPy wheel for CUDA 12: cupy-cuda12x)'
NO_GPU_HINT = ("check that nvidia-smi lists a GPU and that the CuPy wheel matches the driver's CUDA version "
               "(cupy-cuda11x, cupy-cuda12x or cupy-cuda13x), or use device 'cpu'")

_cupy: ModuleType | None = None
_cupy_error: str | None = None
try:  # cupy is optional: its absence must never break the numpy path
    import cupy as _cupy  # type: ignore[no-redef]
except Exception as e:  # pragma: no cover - depends on the machine
    _cupy, _cupy_error = None, f"{type(e).__name__}: {' '.join(str(e).split())}"  # one line


class DeviceError(RuntimeError, AssertionError):
    """A device that cannot be used, or two devices mixed in one op. A RuntimeError, and an AssertionError too:
    torch built without CUDA raises AssertionError for ``x.cuda()``, with CUDA but no GPU RuntimeError, so a
    program's ``except`` for either catches ours."""


def cupy_available() -> bool:
    """True when cupy imports and sees at least one GPU."""
    return gpu_status()[0]


@functools.lru_cache(maxsize=1)
def gpu_status() -> tuple[bool, str]:
    """(usable, explanation) for the GPU backend."""
    if _cupy is None:
        return False, f"cupy is not installed ({_cupy_error}); install it with: {GPU_INSTALL_HINT}"
    try:
        n = _cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # pragma: no cover - depends on the machine
        why = " ".join(f"{type(e).__name__}: {e}".split())
        return False, f"cupy {_cupy.__version__} is installed but no CUDA GPU is usable ({why}); {NO_GPU_HINT}"
    if n == 0:  # pragma: no cover
        return False, f"cupy {_cupy.__version__} is installed but sees no CUDA GPU; {NO_GPU_HINT}"
    return True, f"cupy {_cupy.__version__}, {n} CUDA device(s)"


# torch's device types: a device of any of them can be named (``device("mps")``, ``device("meta")``), as a program
# that only names one and checks its availability does; only cpu and cuda can hold tensors here.
DEVICE_TYPES = ("cpu", "cuda", "mps", "meta", "xpu", "xla", "hip", "ipu", "mkldnn", "opengl", "opencl", "ideep",
                "ve", "fpga", "maia", "lazy", "vulkan", "mtia", "hpu", "privateuseone")


class device(str):  # noqa: N801 - torch's name
    """A device name as ``torch.device``: ``device("cuda")``, ``device("cuda", 1)``, ``device("cpu")``.

    It is a ``str`` ("cpu", "cuda", "cuda:1"), so it goes wherever a device name does; ``.type`` and ``.index``
    as in torch. Making one does not check that the device is usable (moving a tensor there does). As a context
    manager (``with device("cpu"):``) it is the default device of the factories inside, as torch's.
    """

    def __new__(cls, type: str | int, index: int | None = None) -> device:  # noqa: A002 - torch's name
        if isinstance(type, int) and not isinstance(type, bool) and index is None:
            type, index = "cuda", type  # noqa: A001 - torch's device(0): the accelerator's index
        if not isinstance(type, str) or (index is not None and (not isinstance(index, int) or isinstance(index, bool))):
            raise TypeError(f"device(): expected a device name (str) or an int index, and an int index, got "
                            f"({_type_name(type)}, {_type_name(index)})")
        name = type.strip().lower() if index is None else f"{type.strip().lower()}:{index}"
        kind, _, number = name.partition(":")
        if kind not in DEVICE_TYPES or (number and not number.isdigit()) or (number[:1] == "0" and number != "0"):
            raise DeviceError(f"unknown device {name!r}: use 'cpu', 'cuda' or 'cuda:N'")
        return super().__new__(cls, name)

    @property
    def type(self) -> str:
        return self.partition(":")[0]

    @property
    def index(self) -> int | None:
        number = self.partition(":")[2]
        return int(number) if number else None

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + (f", index={self.index})" if self.index is not None else ")")

    def __enter__(self) -> device:
        """Make this the default device until ``__exit__`` (it must be usable, as torch's)."""
        global _default_device
        previous = default_device()
        _default_device = parse_device(self)
        self.__dict__.setdefault("_previous", []).append(previous)
        return self

    def __exit__(self, *exc: object) -> None:
        global _default_device
        _default_device = self.__dict__["_previous"].pop()


def _type_name(x: Any) -> str:
    return "None" if x is None else type(x).__name__


def parse_device(device: str | int | None) -> str:
    """Normalise a device name: ``None`` -> default, ``"cuda"`` -> ``"cuda:0"``, an index N -> ``"cuda:N"`` (torch's
    accelerator index: ``x.to(0)``, ``best_acc1.to(args.gpu)``)."""
    if device is None:
        return default_device()
    if isinstance(device, int) and not isinstance(device, bool):
        device = f"cuda:{device}"
    if not isinstance(device, str):
        device = str(device)
    name = device.strip().lower()
    if name == "cpu" or (name.startswith("cpu:") and name[4:].isdigit()):  # torch's cpu:N is the one CPU
        return "cpu"
    if name == "cuda" or name == "gpu":
        name = "cuda:0"
    if name.startswith("cuda:") and name[5:].isdigit():
        ok, why = gpu_status()
        if not ok:
            raise DeviceError(f"device {device!r} is not usable: {why}")
        return name
    raise DeviceError(f"unknown device {device!r}: use 'cpu', 'cuda' or 'cuda:N'")


_default_device: str | None = None


def default_device() -> str:
    """The device new tensors go to: set_default_device(), else $TINYGRAD_ADAM_DEVICE, else cpu."""
    global _default_device
    if _default_device is None:
        _default_device = parse_device(os.environ.get("TINYGRAD_ADAM_DEVICE") or "cpu")
    return _default_device


def set_default_device(device: str) -> None:
    """Make ``device`` the default for tensors created without one."""
    global _default_device
    _default_device = parse_device(device)


def xp_of(device: str) -> ModuleType:
    """The array module (numpy or cupy) for a normalised device name."""
    if device == "cpu":
        return numpy
    assert _cupy is not None
    return _cupy


def get_array_module(*arrays: Any) -> ModuleType:
    """numpy or cupy, whichever owns the arrays (numpy for scalars)."""
    if _cupy is not None:
        return _cupy.get_array_module(*arrays)
    return numpy


ARRAY_TYPES: tuple[type, ...] = (numpy.ndarray,) if _cupy is None else (numpy.ndarray, _cupy.ndarray)


def is_array(x: Any) -> bool:
    """True for a numpy or cupy ndarray (of any shape, 0-d included); False for scalars, numpy's too."""
    return isinstance(x, ARRAY_TYPES)


_CPU = device("cpu")
_CUDA: dict[int, device] = {}


def device_of(array: Any) -> str:
    """The device of a raw array, as a ``device`` (a str with torch's ``.type`` and ``.index``; made once each)."""
    if isinstance(array, numpy.ndarray) or _cupy is None or not isinstance(array, _cupy.ndarray):
        return _CPU
    i = array.device.id
    found = _CUDA.get(i)
    if found is None:
        found = _CUDA[i] = device("cuda", i)
    return found


def may_share_memory(a: Any, b: Any) -> bool:
    """Whether two arrays' address ranges meet (their bounds only: a strided pair may still miss each other)."""
    return bool(get_array_module(a).may_share_memory(a, b))


def data_ptr(array: Any) -> int:
    """The address of an array's first element (host or device memory)."""
    if isinstance(array, numpy.ndarray):
        return int(array.__array_interface__["data"][0])
    return int(array.data.ptr)


def to_device(array: Any, device: str) -> Any:
    """Move a raw array to a normalised device (no copy when already there)."""
    if device == "cpu":
        return to_numpy(array)
    assert _cupy is not None
    with _cupy.cuda.Device(int(device.split(":")[1])):
        return _cupy.asarray(array)


def from_dlpack(obj: Any) -> Any:
    """The array of another library's ``obj`` (anything with ``__dlpack__``: a torch or jax tensor, a numpy or cupy
    array), sharing its memory: numpy's for host memory, cupy's for a CUDA device's."""
    kind = obj.__dlpack_device__()[0] if hasattr(obj, "__dlpack_device__") else 1
    if kind == 1:  # kDLCPU
        return numpy.from_dlpack(obj)
    if kind == 2 and _cupy is not None:  # kDLCUDA
        return _cupy.from_dlpack(obj)
    raise DeviceError(f"from_dlpack: memory on DLPack device type {kind} cannot be read here (the CPU's, 1, can; "
                      f"a CUDA device's, 2, with cupy installed)")


def to_numpy(array: Any) -> numpy.ndarray:
    """A host (numpy) array: a copy from the GPU, the array itself on the CPU."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy.asnumpy(array)
    return numpy.asarray(array)


def device_context(device: str) -> Any:
    """A context manager that makes ``device`` current (a no-op on the CPU)."""
    if device == "cpu":
        import contextlib

        return contextlib.nullcontext()
    assert _cupy is not None
    return _cupy.cuda.Device(int(device.split(":")[1]))


def synchronize(device: str = "cuda") -> None:
    """Wait until every kernel queued on ``device`` has finished; a no-op for ``"cpu"``.

    GPU launches return at once, so time a GPU block as ``start; work(); synchronize(); stop``.
    """
    device = parse_device(device)
    if device != "cpu":
        device_context(device).synchronize()  # a cupy Device


def scatter_add(target: Any, index: Any, values: Any) -> None:
    """``target[index] += values`` in place, accumulating repeated indices (numpy ``add.at``). Whole rows picked by
    one integer array (an embedding's gradient) go through a compiled loop with the ``fast`` extra: the same adds
    in the same order as ``add.at``, which spends ~0.5 us a row (0.5 ms on a char GPT's 1024 x 64 gradient). A
    float16 target accumulates in float32, each place rounded once, as torch's (a float16 running sum stops at 2048)."""
    if target.dtype == numpy.float16:
        xp = get_array_module(target)
        wide = target.astype(numpy.float32)
        scatter_add(wide, index, xp.asarray(values).astype(numpy.float32))
        with numpy.errstate(over="ignore"):  # past float16's range: inf, as torch (cupy never warns)
            target[...] = wide
        return
    if isinstance(target, numpy.ndarray):
        if _whole_rows(target, index, values) and numba_available():
            compiled(scatter_rows_loop)(target.reshape(len(target), -1), index.reshape(-1).astype(numpy.intp),
                                        values.reshape(index.size, -1))  # (intp: in range, checked; one signature)
        else:
            numpy.add.at(target, index, values)
    else:
        import cupyx  # type: ignore[import-not-found]

        cupyx.scatter_add(target, index, values)


def _whole_rows(target: numpy.ndarray, index: Any, values: Any) -> bool:
    """True when ``target[index] += values`` adds whole rows of a C-contiguous float target (n, ...) at an integer
    array ``index`` of values in range, from ``values`` of exactly ``index.shape + target.shape[1:]`` and its dtype."""
    if not (isinstance(index, numpy.ndarray) and index.dtype.kind in "iu" and index.size
            and isinstance(values, numpy.ndarray) and target.ndim > 1 and target.size and target.flags.c_contiguous
            and target.dtype in (numpy.float32, numpy.float64) and values.dtype == target.dtype
            and values.shape == index.shape + target.shape[1:]):
        return False
    return -len(target) <= int(index.min()) and int(index.max()) < len(target)  # (add.at raises otherwise)


def scatter_rows_loop(target: Any, index: Any, values: Any) -> None:
    """target[index[i]] += values[i] for each i in turn (rows of target (n, k) and values (m, k); index (m,))."""
    n, k = target.shape
    for i in range(index.shape[0]):
        row = index[i] + n if index[i] < 0 else index[i]
        for j in range(k):
            target[row, j] += values[i, j]


def scatter_at(name: str, target: Any, index: tuple[Any, ...], values: Any) -> None:
    """numpy's ``<name>.at(target, index, values)`` for the ufunc ``name`` (add, multiply, maximum or minimum):
    ``target[index] = <name>(target[index], values)`` in place, a place named several times updated each time, in
    the row-major order of ``index`` (a tuple of in-range integer arrays that broadcast with ``values``); on a GPU
    float adds are cupyx's atomic ones, in no set order."""
    if isinstance(target, numpy.ndarray):
        if name == "add":
            scatter_add(target, index, values)
        else:
            getattr(numpy, name).at(target, index, values)
    elif name == "add" and target.dtype in (numpy.float32, numpy.float64):
        scatter_add(target, index, values)
    else:
        _at_in_rounds(name, target, index, values)


def _at_in_rounds(name: str, target: Any, index: tuple[Any, ...], values: Any) -> None:
    """``scatter_at`` where the array module has no ``ufunc.at`` (cupy has none for multiply, nor atomic adds of
    int64 or bool): round k applies the k-th update of every place, so each round writes distinct places. One round
    per update of the most-updated place."""
    xp = get_array_module(target)
    *index, values = (x.reshape(-1) for x in xp.broadcast_arrays(*index, values))
    places = xp.ravel_multi_index(tuple(index), target.shape)
    order = xp.argsort(places, kind="stable")
    places, index, values = places[order], [i[order] for i in index], values[order]
    rank = xp.arange(places.size) - xp.searchsorted(places, places)  # which update of its place each one is
    fn = getattr(xp, name)
    for k in range(int(rank.max()) + 1 if rank.size else 0):
        pick = rank == k
        at = tuple(i[pick] for i in index)
        target[at] = fn(target[at], values[pick])


def diagonal(array: Any, offset: int, axis1: int, axis2: int) -> Any:
    """The diagonal of ``axis1`` and ``axis2`` as a last axis: a view that is writable when ``array`` is (numpy
    hands out a read-only one; cupy's is writable already)."""
    out = array.diagonal(offset, axis1, axis2)
    if isinstance(out, numpy.ndarray) and array.flags.writeable:
        out.flags.writeable = True
    return out


def relu(x: Any) -> Any:
    """max(x, 0) as torch computes it, x unless x < 0: -0 stays -0 and nan passes. numpy's maximum may answer
    a tie of -0 and +0 with either, so on the CPU the zeros take x's sign afterwards (the maximum and that fix cost
    about a tenth of ``where(x < 0, 0, x)``, which numpy runs without SIMD); on a GPU the where is one kernel."""
    if isinstance(x, (numpy.ndarray, numpy.generic)):
        out = numpy.maximum(x, x.dtype.type(0), out=numpy.empty_like(x))  # an array even when 0-d
        if out.dtype.kind == "f":
            numpy.copysign(out, x, out=out, where=x == 0)
        return out
    return _cupy.where(x < 0, x.dtype.type(0), x)


def erf(x: Any) -> Any:
    """The error function, elementwise, in ``x``'s dtype (an array of ``x``'s shape): scipy's on the CPU, split
    over the cores for large arrays, CUDA's ``erf`` on a GPU."""
    if isinstance(x, (numpy.ndarray, numpy.generic)):
        from scipy.special import erf as scipy_erf  # imported on first use: most programs never need it

        flat = numpy.ascontiguousarray(x).reshape(-1)
        out = numpy.empty_like(flat)
        # scipy's erf is scalar code, about 17 ns an element: as costly as copying some 100 bytes, so it is
        # split from 64K float32 elements on (4x the bytes), where a copy would be from 256K
        split_work(lambda s: scipy_erf(flat[s], out=out[s]), flat.size, 4 * flat.nbytes)
        return out.reshape(numpy.shape(x))
    assert _cupy is not None
    return elementwise_kernel("T x", "T y", "y = erf(x);", "tinygrad_adam_erf")(x, _cupy.empty_like(x))


def special(name: str, *args: Any) -> Any:
    """``scipy.special.<name>(*args)`` (gammaln, digamma, zeta, i0, i1, ...) on the CPU, ``cupyx.scipy.special``'s
    on a GPU; the array arguments share one device, and the result is an array of their broadcast shape."""
    if not any(_cupy is not None and isinstance(a, _cupy.ndarray) for a in args):
        import scipy.special  # imported on first use: most programs never need it

        return numpy.asarray(getattr(scipy.special, name)(*args))
    import cupyx.scipy.special  # type: ignore[import-not-found]

    return getattr(cupyx.scipy.special, name)(*args)


def lapack(name: str, a: Any) -> Callable[..., Any] | None:
    """LAPACK's ``?<name>`` (``sytrf``, ``sytrs``, ...) for the float32 / float64 array ``a``, scipy's; None when ``a``
    is on a GPU (nothing here has those routines there)."""
    if not isinstance(a, numpy.ndarray):
        return None
    import scipy.linalg.lapack  # imported on first use: most programs never need it

    return getattr(scipy.linalg.lapack, ("d" if a.dtype == numpy.float64 else "s") + name)


def accumulate(name: str, x: Any, axis: int) -> Any:
    """The running ``<name>`` (an associative ufunc: maximum, minimum, logaddexp) of ``x`` along ``axis``, as
    numpy's ``ufunc.accumulate``; on a GPU, whose ufuncs lack it, a scan of log2(n) shifted steps."""
    xp = get_array_module(x)
    fn = getattr(xp, name)
    if xp is numpy:
        return fn.accumulate(x, axis=axis)
    out, n, shift = x.copy(), x.shape[axis], 1
    head = (slice(None),) * (axis % x.ndim)
    while shift < n:
        out[head + (slice(shift, None),)] = fn(out[head + (slice(shift, None),)], out[head + (slice(None, n - shift),)])
        shift *= 2
    return out


# ---------------------------------------------------------------- random numbers
_seed: int | None = None
_gpu_key = 0  # which restart of the GPU streams is running (see reseed_gpu_streams)
_gpu_seed: int | None = None  # cuda.manual_seed's seed for the GPU streams alone (None: they follow _seed)
_num_threads: list[int] = []  # what set_num_threads recorded (nothing yet: the CPU count)


def set_num_threads(n: int) -> None:
    """``torch.set_num_threads``: CPU work uses ``n`` threads from now on, our thread pool (``cpu_threads``; the
    environment's ``TINYGRAD_ADAM_THREADS`` rules over it) and numpy's OpenBLAS, where its thread count can be set
    (``_blas_threads``; another BLAS keeps what ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` gave it at start-up)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads expects a positive integer, got {n!r}")
    _num_threads[:] = [n]
    if (found := _blas_threads()) is not None:
        with _blas_lock:
            if _blas_held[0]:  # a convolution holds OpenBLAS to one thread: the count it puts back
                _blas_held[1] = n
            else:
                found[1](n)


@contextlib.contextmanager
def num_threads(n: int) -> Iterator[None]:
    """``set_num_threads(n)`` for the block; the setting before it (or none: the CPU count) is put back after."""
    before, restore = list(_num_threads), get_num_threads()
    set_num_threads(n)
    try:
        yield
    finally:
        set_num_threads(restore)
        _num_threads[:] = before


def get_num_threads() -> int:
    """The value ``set_num_threads`` set, else ``cpu_threads()``."""
    return _num_threads[0] if _num_threads else cpu_threads()


def cpu_threads() -> int:
    """The size of the thread pool that numpy work is split over (optimizer chunks, max pooling, convolutions):
    ``TINYGRAD_ADAM_THREADS`` if set, else what ``set_num_threads`` set, else the CPUs this process may run on."""
    if os.environ.get("TINYGRAD_ADAM_THREADS"):
        return max(1, int(os.environ["TINYGRAD_ADAM_THREADS"]))
    return _num_threads[0] if _num_threads else cpu_count()


def cpu_count() -> int:
    """The number of CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# Where glibc's fenv_t keeps the control bits that turn subnormal numbers into zeros: x86-64's SSE register MXCSR
# at byte 28 (DAZ, bit 6: subnormal inputs read as zero; FTZ, bit 15: subnormal results written as zero), and
# AArch64's FPCR at byte 0 (FZ, bit 24: both).
_FENV_BITS = {"x86_64": (28, 0x8040), "aarch64": (0, 1 << 24)}
_flush_mode = [False]  # what set_flush_denormal last set; the pool's threads follow it
_thread_flush = threading.local()  # the mode each thread was put in


def set_flush_denormal(mode: bool) -> bool:
    """As ``torch.set_flush_denormal``: with ``mode`` True the CPU treats subnormal floats (below 1.2e-38 in
    float32, 2.2e-308 in float64) as zero, read or written; False restores IEEE gradual underflow. Returns True
    when the mode is set (x86-64 or AArch64 Linux with glibc), False where it cannot be (nothing changes).

    Arithmetic on subnormal numbers is slow on x86 (a float32 GEMM with many subnormal weights ran 100x slower
    here, numpy and torch alike), and Adam with L2 weight decay drives weights that get no gradient through that
    range. The mode belongs to each thread: it is set in the calling thread, in threads started after the call
    (they inherit it) and in this module's thread pool (which also runs the numba optimizer loops); BLAS threads
    started before it (OpenBLAS starts its own when numpy is imported) keep gradual underflow, so it works fully
    with one BLAS thread (``OPENBLAS_NUM_THREADS=1``), as ``torch.set_flush_denormal`` does with one intra-op thread."""
    if not _set_thread_flush(bool(mode)):
        return False
    _flush_mode[0] = bool(mode)
    return True


def flush_denormal() -> bool:
    """The mode :func:`set_flush_denormal` last set (False at start)."""
    return _flush_mode[0]


def _set_thread_flush(mode: bool) -> bool:
    """Put the calling thread's floating-point control register in ``mode``; True when it took effect."""
    bits = _FENV_BITS.get(platform.machine().lower())
    libm = _libm() if bits is not None and sys.platform == "linux" and platform.libc_ver()[0] == "glibc" else None
    env = ctypes.create_string_buffer(64)  # larger than fenv_t on either machine
    if libm is None or libm.fegetenv(env) != 0:
        return False
    offset, mask = bits
    word = struct.unpack_from("I", env.raw, offset)[0]
    struct.pack_into("I", env, offset, word | mask if mode else word & ~mask)
    smallest = numpy.finfo(numpy.float32).tiny  # half of it is subnormal: zero only when flushing
    if libm.fesetenv(env) == 0 and bool(smallest * numpy.float32(0.5) == 0) == mode:
        _thread_flush.mode = mode
        return True
    struct.pack_into("I", env, offset, word)  # it did not take: leave the thread as it was
    libm.fesetenv(env)
    return False


def user_cache() -> Path:
    """The user's cache directory: ``$TINYGRAD_ADAM_CACHE``, else ``~/.cache/tinygrad_adam`` (processed datasets,
    the optimizers' generated kernels)."""
    env = os.environ.get("TINYGRAD_ADAM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tinygrad_adam"


@functools.cache
def numba_available() -> bool:
    """True when numba imports (the optional ``fast`` extra); ``TINYGRAD_ADAM_NUMBA=0`` turns it off."""
    if os.environ.get("TINYGRAD_ADAM_NUMBA", "1") == "0":
        return False
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def compiled(loop: Callable[..., None], reassociate: bool = False) -> Callable[..., None]:
    """``loop`` (a plain per-element Python loop over CPU arrays) compiled by numba, once per process: without the
    GIL, so pool threads run it at once, and with numpy's error model (no division checks, so the loop vectorises).
    ``reassociate`` lets the compiler reorder sums and products (only that: nan and inf keep their meaning), so
    that a sum over a row vectorises; a loop is always compiled with the same choice. The machine code of a loop
    defined in a file is kept in numba's on-disk cache (``__pycache__`` beside the file, or the user's cache), so
    later processes skip the compile (a second each); without a writable place, or for a loop made from generated
    source, it is compiled in each process. Only call when ``numba_available()``."""
    import numba

    options = {"nogil": True, "error_model": "numpy", "fastmath": {"reassoc"} if reassociate else False}
    try:
        return numba.njit(cache=True, **options)(loop)
    except RuntimeError:  # numba found no file or no writable directory to cache it in
        return numba.njit(**options)(loop)


# glibc's malloc serves blocks of 128 kB and up (raised as big blocks are freed) straight from the kernel and gives
# freed memory back once 2x that much is free at the top of the heap, so the arrays of every training step (a GELU
# input of 1 MB, its temporaries) come back as fresh pages, each a page fault: thousands a step, half of a char
# GPT's backward time. Keeping freed blocks below 32 MB for reuse, and 64 MB free before trimming, removes them.
MALLOC_KEEP = (-3, 32 << 20), (-1, 64 << 20)  # (M_MMAP_THRESHOLD, bytes), (M_TRIM_THRESHOLD, bytes)


def keep_freed_memory() -> bool:
    """Set glibc's malloc thresholds ``MALLOC_KEEP`` for this process (done once at import; a process-wide setting,
    like ``set_flush_denormal``): True when set, False off glibc or with ``TINYGRAD_ADAM_MALLOC=0`` (or when the
    user set glibc's own ``MALLOC_*_`` variables, which then rule)."""
    if os.environ.get("TINYGRAD_ADAM_MALLOC", "1") == "0" or platform.system() != "Linux" \
            or any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # glibc's (musl has none)
    except (OSError, AttributeError):
        return False
    return all(mallopt(option, value) == 1 for option, value in MALLOC_KEEP)


@functools.cache
def _libm() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("m")
    return ctypes.CDLL(name) if name else None


@functools.cache
def _thread_pool(workers: int, pid: int) -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tinygrad_adam-cpu")


# OpenBLAS's (get, set) thread-count functions, by the names its builds give them (numpy's wheels: scipy_openblas,
# 64-bit ints); both are process-wide.
_BLAS_THREADS = [(f"{p}get_num_threads{s}", f"{p}set_num_threads{s}") for p in ("scipy_openblas_", "openblas_")
                 for s in ("64_", "")]


@functools.cache
def _blas_threads() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    """The (get, set) thread-count functions of the OpenBLAS that numpy loaded (found in /proc/self/maps, where
    scipy's own OpenBLAS may be too: a path with "numpy" in it comes first); None for another BLAS or off Linux."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line},
                           key=lambda path: ("numpy" not in path, path))
    except OSError:
        return None
    for path in paths:
        for names in _BLAS_THREADS:
            try:
                get, put = (getattr(ctypes.CDLL(path), name) for name in names)
            except (OSError, AttributeError):
                continue
            get.argtypes, get.restype, put.argtypes, put.restype = [], ctypes.c_int, [ctypes.c_int], None
            return get, put
    return None


_blas_held = [0, 0]  # [in_parallel calls holding BLAS to one thread, BLAS's thread count before the first]
_blas_lock = threading.Lock()


def _blas_after_fork() -> None:
    """In a child forked while another thread held OpenBLAS to one thread (or was taking the lock): a fresh lock, and
    the count put back, since that thread does not run here."""
    global _blas_lock
    _blas_lock = threading.Lock()
    if _blas_held[0]:
        _blas_held[0] = 0
        _blas_threads()[1](_blas_held[1])  # type: ignore[index]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_blas_after_fork)


def blas_per_thread() -> bool:
    """Whether ``in_parallel(..., own_blas=True)`` can run each worker's BLAS calls on its own thread (numpy's BLAS
    is an OpenBLAS whose thread count can be set) and there are cores to split over."""
    return cpu_threads() > 1 and _blas_threads() is not None


def _hold_blas(hold: bool) -> None:
    """Set BLAS to one thread for the first of overlapping ``own_blas`` calls, and back for the last."""
    get, put = _blas_threads()  # type: ignore[misc]
    with _blas_lock:
        if hold:
            _blas_held[0] += 1
            if _blas_held[0] == 1:
                _blas_held[1] = get()
                put(1)
        else:
            _blas_held[0] -= 1
            if _blas_held[0] == 0:
                put(_blas_held[1])


def in_parallel(work: Callable[[int], None], workers: int, own_blas: bool = False) -> None:
    """``work(0)`` on the calling thread and ``work(1)`` ... ``work(workers - 1)`` on a pool beside it; returns when
    all are done (re-raising the first error). numpy's ufuncs and copies release the GIL, so this uses the cores.
    The pool is made on first use, and again in a forked child (an inherited pool has no threads). The workers run
    in the caller's ``numpy.errstate``. ``own_blas``: while it runs, OpenBLAS works on one thread (see
    ``blas_per_thread``), so each worker's BLAS calls run on its own thread rather than each asking for the whole
    machine; BLAS's thread count is process-wide, so other threads' BLAS calls meanwhile run on one thread too."""
    if own_blas and workers > 1 and _blas_threads() is not None:
        _hold_blas(True)
        try:
            in_parallel(work, workers)
        finally:
            _hold_blas(False)
        return
    mode = _flush_mode[0]

    def pooled(w: int) -> None:
        if getattr(_thread_flush, "mode", False) != mode:  # a pool thread started before set_flush_denormal
            _set_thread_flush(mode)
        work(w)
    # each in a copy of the caller's context: numpy's errstate lives there
    futures = [_thread_pool(cpu_threads(), os.getpid()).submit(contextvars.copy_context().run, pooled, w)
               for w in range(1, workers)]
    work(0)
    for f in futures:
        f.result()


SPLIT_BYTES = 1 << 20  # work on at least this many bytes is split over the cores (below, handing off costs more)
PIECE = 131072  # elements per piece of a chain of numpy passes (split_work's ``piece``): the piece and its
#                 temporaries stay in cache, and each ufunc call does enough work to hide its ~1 us of overhead


def split_work(work: Callable[[slice], None], length: int, nbytes: int, on_cpu: bool = True,
               piece: int | None = None) -> None:
    """``work(slice(0, length))``, or, for CPU work on at least ``SPLIT_BYTES``, ``work`` on consecutive
    slices of ``range(length)``, one per core, run by :func:`in_parallel`. ``work`` must write only what its slice
    owns (numpy ufuncs and copies release the GIL, so the slices really run at once). With ``piece``, each slice is
    handed over in consecutive pieces of at most that length, so that a chain of numpy passes runs in the cache."""
    if piece is not None:
        whole = work

        def work(part: slice) -> None:
            for start in range(part.start, part.stop, piece):
                whole(slice(start, min(start + piece, part.stop)))
    workers = min(cpu_threads(), nbytes // SPLIT_BYTES, length) if on_cpu else 1
    if workers < 2:
        work(slice(0, length))
        return
    cuts = [length * w // workers for w in range(workers + 1)]
    in_parallel(lambda w: work(slice(cuts[w], cuts[w + 1])), workers)


_generators: dict[str, Any] = {}
# How often a GPU's generator was handed out to draw from (their state cannot be read cheaply, as the CPU's can):
# func.vmap(randomness="error") compares it around each call of its function.
gpu_generator_uses = [0]


def manual_seed(seed: int) -> None:
    """Seed the random generator of every device; the same seed gives the same numbers."""
    global _seed, _gpu_key, _gpu_seed
    _seed, _gpu_key, _gpu_seed = int(seed), 0, None
    _generators.clear()


def seed() -> int:
    """Seed every device's generator from the operating system's entropy, as ``torch.seed``; returns the seed."""
    fresh = entropy_seed()
    manual_seed(fresh)
    return fresh


def entropy_seed() -> int:
    """A fresh seed from the operating system's entropy, 63 bits as torch's."""
    return int(numpy.random.SeedSequence().generate_state(1, numpy.uint64)[0]) >> 1


def initial_seed() -> int:
    """The seed the generators started from: ``manual_seed``'s, else the one drawn from the operating system's
    entropy when the first random numbers were asked for (drawn now if none were yet)."""
    return seed() if _seed is None else _seed


def generator(device: str = "cpu") -> Any:
    """The random generator of a device: a numpy ``Generator`` or a cupy ``RandomState``.

    Each device has its own stream, seeded from ``manual_seed`` (plus the device index; the GPUs' from
    ``cuda.manual_seed``'s seed after one); without it, from a seed drawn once from the operating system's entropy
    (``initial_seed`` tells it).
    """
    if device != "cpu":
        gpu_generator_uses[0] += 1
    g = _generators.get(device)
    if g is None:
        start = initial_seed() if device == "cpu" else get_gpu_rng_state()["seed"]
        if device == "cpu":
            g = numpy.random.default_rng(start)
        else:
            assert _cupy is not None
            stream = int(numpy.random.SeedSequence([start, 1 + int(device[5:]), _gpu_key]).generate_state(1)[0])
            with device_context(device):
                g = _cupy.random.RandomState(stream)
        _generators[device] = g
    return g


def new_generator(device: str, seed: int | None) -> Any:
    """A fresh generator for ``device`` (a user's ``Generator`` object), apart from the device's default stream."""
    if device == "cpu":
        return numpy.random.default_rng(seed)
    assert _cupy is not None
    with device_context(device):
        return _cupy.random.RandomState(seed)


def uniform(device: str, shape: tuple[int, ...], dtype: Any, rng: Any = None) -> Any:
    """Samples in [0, 1) of ``shape`` on ``device`` from ``rng`` or the device's generator (numpy and cupy name
    the call apart)."""
    g = generator(device) if rng is None else rng
    if numpy.dtype(dtype) == numpy.float16:  # numpy draws float32 / float64 only: float32, rounded down into [0, 1)
        out = uniform(device, shape, numpy.float32, g).astype(numpy.float16)  # (torch makes float16 too)
        return get_array_module(out).minimum(out, numpy.float16(1 - 2 ** -11))
    if device == "cpu":
        return g.random(shape, dtype=dtype)
    with device_context(device):
        return g.random_sample(shape, dtype=dtype)


def standard_normal(device: str, shape: tuple[int, ...], dtype: Any, rng: Any = None) -> Any:
    """Standard normal samples of ``shape`` on ``device`` from ``rng`` or the device's generator."""
    if numpy.dtype(dtype) == numpy.float16:  # (numpy draws float32 / float64 only; torch makes float16 too)
        return standard_normal(device, shape, numpy.float32, rng).astype(numpy.float16)
    with device_context(device):
        return (generator(device) if rng is None else rng).standard_normal(shape, dtype=dtype)


def integers(device: str, low: int, high: int, shape: tuple[int, ...], rng: Any = None) -> Any:
    """int64 samples uniform in [low, high) of ``shape`` on ``device``."""
    g = generator(device) if rng is None else rng
    if device == "cpu":
        return g.integers(low, high, shape, dtype=numpy.int64)
    with device_context(device):
        return g.randint(low, high, shape, dtype=numpy.int64)


def permutation(device: str, n: int, rng: Any = None) -> Any:
    """A random int64 permutation of range(n) on ``device``."""
    with device_context(device):
        return (generator(device) if rng is None else rng).permutation(n).astype(numpy.int64)


def poisson(device: str, rates: Any, rng: Any = None) -> Any:
    """int64 Poisson samples on ``device``, one per element of the float64 array ``rates``."""
    with device_context(device):
        return (generator(device) if rng is None else rng).poisson(rates, rates.shape).astype(numpy.int64)


def standard_gamma(device: str, alpha: Any, rng: Any = None) -> Any:
    """float64 Gamma(alpha, 1) samples on ``device``, one per element of the float64 array ``alpha`` (> 0)."""
    with device_context(device):
        return (generator(device) if rng is None else rng).standard_gamma(alpha, alpha.shape)


def binomial(device: str, counts: Any, probs: Any, rng: Any = None) -> Any:
    """int64 Binomial(counts, probs) samples on ``device`` from the int64 array ``counts`` and float64 ``probs``
    (one shape)."""
    with device_context(device):
        return (generator(device) if rng is None else rng).binomial(counts, probs, counts.shape).astype(numpy.int64)


def reseed_gpu_streams(key: int) -> None:
    """Restart every GPU generator from (seed, device, ``key``); the CPU stream goes on untouched.

    cupy's generators have no state to save, so a checkpoint cannot hold them. A trainer that calls this at the
    start of each epoch with the epoch number makes a resumed GPU run draw what the uninterrupted one drew.
    """
    global _gpu_key
    _gpu_key = int(key)
    _drop_gpu_generators()


def get_rng_state() -> dict[str, Any]:
    """A picklable snapshot of every device generator (for checkpoints; GPU streams as their restart key)."""
    state: dict[str, Any] = {"seed": _seed, "gpu_key": _gpu_key}
    if _gpu_seed is not None:
        state["gpu_seed"] = _gpu_seed
    generator("cpu")  # made now if not yet, so that restoring replays the very next numbers
    for dev, g in _generators.items():
        if dev == "cpu":
            state[dev] = g.bit_generator.state
    return state


def valid_rng_state(state: Any) -> bool:
    """Whether ``state`` is what :func:`get_rng_state` returns: a seed, a GPU key and the CPU stream's state."""
    if not isinstance(state, dict) or "cpu" not in state or set(state) - {"seed", "gpu_key", "gpu_seed", "cpu"} or \
            type(state.get("seed", 0)) not in (int, type(None)) or type(state.get("gpu_key", 0)) is not int or \
            type(state.get("gpu_seed", 0)) is not int:
        return False
    try:
        numpy.random.default_rng().bit_generator.state = state["cpu"]
    except (TypeError, ValueError, KeyError, AttributeError):
        return False
    return True


def _drop_gpu_generators() -> None:
    for device in [d for d in _generators if d != "cpu"]:
        del _generators[device]


def manual_seed_gpu(seed: int) -> None:
    """Seed the GPU streams alone (``cuda.manual_seed``): the CPU stream goes on as it was."""
    global _gpu_seed, _gpu_key
    _gpu_seed, _gpu_key = int(seed), 0
    _drop_gpu_generators()


def get_gpu_rng_state() -> dict[str, Any]:
    """What the GPU streams restart from (cupy's generators have no readable state): the seed and restart key."""
    return {"seed": initial_seed() if _gpu_seed is None else _gpu_seed, "gpu_key": _gpu_key}


def set_gpu_rng_state(state: dict[str, Any]) -> None:
    """Restart the GPU streams from a :func:`get_gpu_rng_state` snapshot; the CPU stream goes on untouched."""
    global _gpu_seed, _gpu_key
    if not isinstance(state, dict) or set(state) != {"seed", "gpu_key"} or type(state["seed"]) is not int or \
            type(state["gpu_key"]) is not int:
        raise RuntimeError("not a GPU generator state from this library's cuda.get_rng_state")
    _gpu_seed, _gpu_key = state["seed"], state["gpu_key"]
    _drop_gpu_generators()


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned (the CPU stream exactly)."""
    global _seed, _gpu_key, _gpu_seed
    _seed, _gpu_key, _gpu_seed = state.get("seed"), int(state.get("gpu_key", 0)), state.get("gpu_seed")
    _generators.clear()
    if "cpu" in state:
        generator("cpu").bit_generator.state = state["cpu"]


# ---------------------------------------------------------------- GPU kernels
@functools.cache
def elementwise_kernel(in_params: str, out_params: str, operation: str, name: str) -> Any:
    """A compiled, cached ``cupy.ElementwiseKernel`` (Chainer's ``cuda.elementwise``)."""
    ok, why = gpu_status()
    if not ok:
        raise DeviceError(f"a GPU kernel was requested but {why}")
    assert _cupy is not None
    return _cupy.ElementwiseKernel(in_params, out_params, operation, name)


@functools.cache
def raw_kernel(code: str, name: str) -> Any:
    """A ``cupy.RawKernel`` (CUDA source, the ``extern "C" __global__`` function ``name``), made once per source:
    call it as ``kernel(grid, block, args)``, arrays as device pointers and numpy scalars of the parameters' types."""
    ok, why = gpu_status()
    if not ok:
        raise DeviceError(f"a GPU kernel was requested but {why}")
    assert _cupy is not None
    return _cupy.RawKernel(code, name)


def openblas_kernels() -> str | None:
    """The kernels numpy's OpenBLAS chose for this CPU when it was loaded ("Haswell": AVX2, "SkylakeX": AVX-512;
    ``OPENBLAS_CORETYPE`` in the environment overrides its choice), from its own ``get_corename``; None without an
    OpenBLAS or off Linux (the loaded libraries are read from /proc/self/maps)."""
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line})
    except OSError:
        return None
    names = []
    for path in paths:
        lib = ctypes.CDLL(path)  # loaded already: this only looks it up
        for symbol in ("openblas_get_corename", "openblas_get_corename64_", "scipy_openblas_get_corename64_"):
            get = getattr(lib, symbol, None)
            if get is not None:
                get.restype = ctypes.c_char_p
                names.append(get().decode())
                break
    return ", ".join(dict.fromkeys(names)) or None


def info() -> dict[str, Any]:
    """Versions, BLAS and GPU availability, for ``tinygrad-adam info``."""
    blas = "unknown"
    try:
        from threadpoolctl import threadpool_info

        libs = [f"{d.get('internal_api')} {d.get('version')} ({d.get('num_threads')} threads)"
                for d in threadpool_info() if d.get("user_api") == "blas"]
        blas = ", ".join(libs) or blas
    except ImportError:
        cfg = numpy.show_config(mode="dicts") if hasattr(numpy, "show_config") else None
        if isinstance(cfg, dict):
            b = cfg.get("Build Dependencies", {}).get("blas", {})
            blas = f"{b.get('name', '?')} {b.get('version', '')}".strip()
    ok, why = gpu_status()
    kernels = openblas_kernels()
    if kernels:
        forced = os.environ.get("OPENBLAS_CORETYPE")
        blas += f"; {kernels} kernels" + (f" (OPENBLAS_CORETYPE={forced} in the environment)" if forced else "")
    return {"numpy": numpy.__version__, "blas": blas, "default_device": default_device(),
            "gpu_usable": ok, "gpu": why, "malloc_tuned": _malloc_tuned}


_malloc_tuned = keep_freed_memory()

# numpy's floating-point RuntimeWarnings ("overflow encountered in add", "invalid value encountered in sqrt", ...)
# where a library op computes inf or nan, as torch does silently: ignored when the warning comes from a line of this
# package (a filter costs nothing per op; numpy's errstate around each op cost about 1 us). A user's own numpy code
# warns as before, and ``warnings.filterwarnings("default", category=RuntimeWarning)`` after the import brings the
# library's back.
warnings.filterwarnings("ignore", message=r".* encountered in ", category=RuntimeWarning,
                        module=r"tinygrad_adam(\.|$)")
