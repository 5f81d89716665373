"""A strict fake of cupy 14 whose arrays live in host memory: the GPU tests run without a GPU.

``TINYGRAD_ADAM_FAKE_GPU=1 pytest -m gpu`` makes tests/conftest.py call :func:`install` before tinygrad_adam is
imported, which puts this fake in ``sys.modules`` as ``cupy`` and ``cupyx``. It exists to make host/device bugs
fail here as they would on a GPU, so it rejects what cupy rejects:

- ``ndarray`` wraps a numpy array but is not one. Implicit conversion to numpy raises cupy's TypeError
  (``__array__``: ``numpy.asarray``, ``numpy.testing``, numpy scalars and lists of arrays built from it); explicit
  copies work: ``.get()``, ``asnumpy``, ``.item()``, ``.tolist()``, and ``int/float/bool`` of a one-element array
  (a host copy, so ``float()`` of a >0-d array fails as numpy 2 fails).
- A numpy array in an operator, ufunc or function with fake arrays raises TypeError ("Unsupported type"); Python
  and numpy scalars are fine. As in cupy, numpy arrays and lists as indices are copied to the device, basic
  assignment ``a[...] = numpy_array`` raises cupy's ValueError, and numpy functions called on a fake array run
  the fake's function (``__array_function__``/``__array_ufunc__``), which again rejects numpy arrays.
- One fake array object per numpy array (a weak registry), so a view's ``.base`` is the very object it was made
  from (or that one's base), as in cupy: tinygrad_adam's view and in-place version checks see views here too.
- Results are arrays: reductions and integer indexing give 0-d arrays, never numpy scalars; there is no
  ``__index__``. Host data is copied on the way in and out, so host and device arrays never share memory.
  Floating-point overflow, invalid values and division by zero never warn (numpy's errstate is not cupy's).
- Only names cupy 14.2 has are there (lists read from cupy 14.2.0 below); the rest is an AttributeError.
- One device, ``cuda:0``: ``cuda.Device`` (context manager, ``id``, ``synchronize``), ``cuda.Event`` and
  ``get_elapsed_time`` (on the host clock), ``cuda.nvtx`` (ranges and marks kept in lists), ``cuda.runtime``'s device
  count, properties and version; ``Device(1)`` fails when used. ``random.RandomState`` has cupy's signatures for
  ``seed``, ``random_sample``, ``standard_normal``, ``uniform`` and ``normal`` (float32/float64 only) over numpy's
  PCG64. ``ElementwiseKernel`` runs the CUDA body compiled by nvcc on the host (tests/cuda_host.py), on fake arrays
  and scalars only; ``RawKernel`` likewise, on fake arrays and numpy scalars of the parameters' exact types.
  ``cupyx.scatter_add`` has cupy's dtype restriction.

Not emulated: streams and asynchrony (everything has finished when a call returns), memory pools, several devices
and peer access, cuRAND's numbers, cupy's wrap-around of out-of-range integer indices (numpy raises), writes
through a broadcast view (numpy raises), ElementwiseKernel broadcasting/casting/raw or non-T parameters,
cupy-specific keywords (arguments follow numpy's signatures, so a numpy-only keyword is accepted), ufunc methods
(``.at``, ``.reduce``), fusion, raw kernels that use shared memory, barriers or atomics (``RawKernel`` runs the
threads of a 1-d grid one after another), ``cupyx.scipy``, DLPack and ``__cuda_array_interface__``. A few
functions that cupy lets take host arrays (``zeros_like``, ``take``) reject them here: stricter, never laxer.
"""

from __future__ import annotations

import functools
import sys
import time
import types
import weakref
from collections.abc import Callable, Collection
from typing import Any

import numpy
from cuda_host import HostElementwiseKernel, HostRawKernel

VERSION = "14.2.0"


def _words(text: str) -> set[str]:
    return set(text.split())


# cupy's objects that ARE numpy's (scalar types, dtype, finfo, constants, ...): exposed as they are
SAME = _words("""
bool bool_ broadcast_shapes byte cdouble complex128 complex64 complexfloating csingle double dtype e euler_gamma
finfo float16 float32 float64 floating generic get_printoptions half iinfo index_exp inexact inf int16 int32 int64
int8 int_ intc integer intp isdtype issubdtype iterable long longlong mintypecode nan ndindex newaxis number pi
printoptions promote_types s_ set_printoptions short signedinteger single typename ubyte uint uint16 uint32 uint64
uint8 uintc uintp ulong ulonglong unsignedinteger ushort""")
# cupy's own versions of numpy functions and ufuncs: numpy's, run on the wrapped arrays
FUNCTIONS = _words("""
abs absolute acos acosh add all allclose amax amin angle any append apply_along_axis apply_over_axes arange arccos
arccosh arcsin arcsinh arctan arctan2 arctanh argmax argmin argpartition argsort argwhere around array
array2string array_equal array_equiv array_repr array_split array_str asanyarray asarray asarray_chkfinite
ascontiguousarray asfortranarray asin asinh astype atan atan2 atanh atleast_1d atleast_2d atleast_3d average
bartlett base_repr binary_repr bincount bitwise_and bitwise_count bitwise_invert bitwise_left_shift bitwise_not
bitwise_or bitwise_right_shift bitwise_xor blackman broadcast_arrays broadcast_to can_cast cbrt ceil choose clip
column_stack common_type compress concat concatenate conj conjugate convolve copy copysign copyto corrcoef
correlate cos cosh count_nonzero cov cross cumprod cumsum cumulative_prod cumulative_sum deg2rad degrees delete
diag diag_indices diag_indices_from diagflat diagonal diff digitize divide divmod dot dsplit dstack ediff1d einsum
empty empty_like equal exp exp2 expand_dims expm1 extract eye fabs fill_diagonal fix flatnonzero flip fliplr
flipud float_power floor floor_divide fmax fmin fmod format_float_positional format_float_scientific frexp
from_dlpack frombuffer fromfile fromfunction fromiter fromstring full full_like gcd genfromtxt gradient greater
greater_equal hamming hanning heaviside histogram histogram2d histogramdd hsplit hstack hypot i0 identity imag
indices inner interp intersect1d invert isclose iscomplex iscomplexobj isfinite isfortran isin isinf isnan
isneginf isposinf isreal isrealobj isscalar ix_ kaiser kron lcm ldexp left_shift less less_equal lexsort linspace
load loadtxt log log10 log1p log2 logaddexp logaddexp2 logical_and logical_not logical_or logical_xor logspace
mask_indices matmul matrix_transpose max maximum may_share_memory mean median meshgrid min min_scalar_type minimum
mod modf moveaxis multiply nan_to_num nanargmax nanargmin nancumprod nancumsum nanmax nanmean nanmedian nanmin
nanprod nanstd nansum nanvar ndim negative nextafter nonzero not_equal ones ones_like outer packbits pad partition
percentile permute_dims piecewise place poly polyadd polyfit polymul polysub polyval positive pow power prod ptp
put put_along_axis putmask quantile rad2deg radians ravel ravel_multi_index real real_if_close reciprocal
remainder repeat require reshape resize result_type right_shift rint roll rollaxis roots rot90 round row_stack
save savetxt savez savez_compressed searchsorted select setdiff1d setxor1d shape shares_memory show_config sign
signbit sin sinc sinh size sort sort_complex split sqrt square squeeze stack std subtract sum swapaxes take
take_along_axis tan tanh tensordot tile trace transpose trapezoid tri tril tril_indices tril_indices_from
trim_zeros triu triu_indices triu_indices_from true_divide trunc union1d unique unique_all unique_counts
unique_inverse unique_values unpackbits unravel_index unwrap vander var vdot vsplit vstack where zeros zeros_like
""")
LINALG = _words("""cholesky cond cross det eig eigh eigvals eigvalsh inv lstsq matmul matrix_power matrix_rank
matrix_transpose norm pinv qr slogdet solve svd tensorinv tensorsolve""")
WRAPPERS: weakref.WeakValueDictionary[int, ndarray] = weakref.WeakValueDictionary()  # id(numpy array): its fake
HOST_TO_DEVICE = {"array", "asarray", "asanyarray"}  # the functions that take host (numpy) data, copying it
METHODS = _words("""all any argmax argmin argpartition argsort astype byteswap choose clip compress conj conjugate copy
cumprod cumsum diagonal dot dump dumps fill flatten item max mean min nonzero partition prod put ravel repeat
reshape round searchsorted sort squeeze std sum swapaxes take tobytes tofile tolist trace transpose var view""")
SCALARS = (bool, int, float, complex, numpy.bool_, numpy.number)
SCATTER_ADD_DTYPES = {numpy.dtype(t) for t in ("int32", "uint32", "uint64", "float16", "float32", "float64")}
IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. "
            "Please use `.get()` to construct a NumPy array explicitly.")


def _unwrap(x: Any, seen: dict[int, ndarray], host: bool = False) -> Any:
    """``x`` with each fake array (also inside lists/tuples) replaced by its numpy array, remembered in ``seen``;
    a numpy array is cupy's TypeError unless ``host`` (indices and host-to-device copies take them)."""
    if isinstance(x, ndarray):
        seen[id(x._a)] = x
        return x._a
    if isinstance(x, numpy.ndarray) and not host:
        raise TypeError(f"Unsupported type {type(x)}")
    if type(x) in (list, tuple):
        return type(x)(_unwrap(i, seen, host) for i in x)
    return x


def _wrap(r: Any, seen: dict[int, ndarray]) -> Any:
    """numpy results as fake arrays (scalars as 0-d arrays; an input's own array as that input)."""
    if isinstance(r, numpy.ndarray):
        return seen[id(r)] if id(r) in seen else ndarray._of(r)
    if isinstance(r, numpy.generic):
        return ndarray._of(numpy.asarray(r))
    if type(r) in (list, tuple):
        return type(r)(_wrap(i, seen) for i in r)
    if isinstance(r, tuple):  # numpy's named results (SVDResult, QRResult, EighResult): cupy returns plain tuples
        return tuple(_wrap(i, seen) for i in r)
    return r


def _call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], host: bool = False,
          seen: dict[int, ndarray] | None = None) -> Any:
    seen = {} if seen is None else seen
    with numpy.errstate(all="ignore"):  # cupy never warns about overflow, invalid values or division by zero
        return _wrap(fn(*_unwrap(args, seen, host), **{k: _unwrap(v, seen, host) for k, v in kwargs.items()}), seen)


def _function(name: str, fn: Any) -> Callable[..., Any]:
    """cupy's ``name``: ``fn`` on the wrapped arrays; a ufunc takes only fake arrays and scalars, as in cupy."""
    def on_device(*args: Any, **kwargs: Any) -> Any:
        if isinstance(fn, numpy.ufunc):
            for a in args:
                if not isinstance(a, (ndarray, *SCALARS)):
                    raise TypeError(f"Unsupported type {type(a)}")
        if name in HOST_TO_DEVICE and args and isinstance(args[0], numpy.ndarray):
            args = (args[0].copy(), *args[1:])  # new device memory, never a view of the host array
        return _call(fn, args, kwargs, host=name in HOST_TO_DEVICE)
    on_device.__name__ = on_device.__qualname__ = name
    on_device.__module__ = "cupy"
    return on_device


def _names(module: str, source: Any, functions: Collection[str], same: Collection[str] = ()) -> Callable[[str], Any]:
    """``module``'s ``__getattr__``: ``functions`` (wrapped) and ``same`` (as they are) from numpy's ``source``."""
    def getattr_(name: str) -> Any:
        if name in same:
            return getattr(source, name)
        if name not in functions:
            raise AttributeError(f"module {module!r} has no attribute {name!r} (not in cupy 14, or not emulated)")
        fn = _function(name, getattr(source, name))
        setattr(MODULES[module], name, fn)  # one object per name, as in a real module
        return fn
    return getattr_


class MemoryPointer:
    """``ndarray.data``: cupy's pointer object; only ``ptr`` (the address, here a host one) is emulated."""

    def __init__(self, ptr: int) -> None:
        self.ptr = ptr


class Flags:
    """``ndarray.flags``: cupy keeps only these three."""

    def __init__(self, c_contiguous: bool, f_contiguous: bool, owndata: bool) -> None:
        self.c_contiguous, self.f_contiguous, self.owndata = c_contiguous, f_contiguous, owndata

    def __getitem__(self, name: str) -> bool:
        return getattr(self, name.lower())


class ndarray:  # noqa: N801 - cupy's name
    """``cupy.ndarray``: a numpy array in host memory that never turns into one implicitly."""

    __slots__ = ("__weakref__", "_a")
    __array_priority__ = 100

    def __init__(self, shape: Any, dtype: Any = float, memptr: Any = None, strides: Any = None,
                 order: str = "C") -> None:
        if memptr is not None or strides is not None:
            raise NotImplementedError("fake cupy: ndarray(memptr=, strides=) is not emulated")
        self._a = numpy.empty(shape, dtype, order=order)
        WRAPPERS[id(self._a)] = self

    @classmethod
    def _of(cls, a: numpy.ndarray) -> ndarray:
        """The one fake array around ``a``, as cupy has one ndarray object per array (``.base`` returns it)."""
        out = WRAPPERS.get(id(a))
        if out is None or out._a is not a:
            out = object.__new__(cls)
            out._a = a
            WRAPPERS[id(a)] = out  # weak: the entry goes with the wrapper, which keeps ``a`` (and its id) alive
        return out

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    strides = property(lambda self: self._a.strides)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    real = property(lambda self: ndarray._of(self._a.real))
    imag = property(lambda self: ndarray._of(self._a.imag))
    T = property(lambda self: self if self.ndim < 2 else ndarray._of(self._a.T))
    mT = property(lambda self: ndarray._of(self._a.mT))  # noqa: N815 - cupy's name
    base = property(lambda self: None if self._a.base is None else ndarray._of(numpy.asarray(self._a.base)))
    flags = property(lambda self: Flags(self._a.flags.c_contiguous, self._a.flags.f_contiguous, self.base is None))
    device = property(lambda self: Device(0))
    data = property(lambda self: MemoryPointer(self._a.__array_interface__["data"][0]))  # .data.ptr: an address

    def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> ndarray:
        """A view, writable as every cupy view (numpy hands out a read-only one)."""
        view = self._a.diagonal(offset, axis1, axis2)
        view.flags.writeable = self._a.flags.writeable
        return ndarray._of(view)

    def __getattr__(self, name: str) -> Any:
        if name not in METHODS:
            raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r} (not in cupy 14, or not emulated)")
        method = getattr(self._a, name)
        return lambda *args, **kwargs: _call(method, args, kwargs, seen={id(self._a): self})

    # ---------------------------------------------------------------- host <-> device, explicitly
    def get(self, stream: Any = None, order: str = "C", out: numpy.ndarray | None = None,
            blocking: bool = True) -> numpy.ndarray:
        if out is None:
            return numpy.array(self._a, order=order)
        if not isinstance(out, numpy.ndarray) or out.dtype != self.dtype or out.shape != self.shape:
            raise TypeError(f"get(out=) needs a numpy.ndarray of {self.dtype} and shape {self.shape}")
        numpy.copyto(out, self._a)
        return out

    def set(self, arr: numpy.ndarray, stream: Any = None) -> None:
        if not isinstance(arr, numpy.ndarray) or arr.dtype != self.dtype or arr.shape != self.shape:
            raise TypeError(f"set() needs a numpy.ndarray of {self.dtype} and shape {self.shape}")
        numpy.copyto(self._a, arr)

    def __array__(self, *args: Any, **kwargs: Any) -> numpy.ndarray:
        raise TypeError(IMPLICIT)

    def __iter__(self) -> Any:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self)))

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of unsized object")
        return len(self._a)

    __bool__ = lambda self: bool(self.get())  # noqa: E731 - a host copy, as cupy's conversions are
    __int__ = lambda self: int(self.get())  # noqa: E731
    __float__ = lambda self: float(self.get())  # noqa: E731
    __complex__ = lambda self: complex(self.get())  # noqa: E731
    __repr__ = lambda self: repr(self.get())  # noqa: E731
    __str__ = lambda self: str(self.get())  # noqa: E731
    __format__ = lambda self, spec: format(self.get(), spec)  # noqa: E731
    __copy__ = lambda self: self.copy()  # noqa: E731
    __deepcopy__ = lambda self, memo: self.copy()  # noqa: E731
    __reduce__ = lambda self: (cupy.array, (self.get(),))  # noqa: E731

    # ---------------------------------------------------------------- indexing
    def __getitem__(self, key: Any) -> ndarray:
        return _call(self._a.__getitem__, (key,), {}, host=True)

    def __setitem__(self, key: Any, value: Any) -> None:
        key = _unwrap(key, {}, host=True)
        if (isinstance(value, numpy.ndarray) or type(value) in (list, tuple)) and not _advanced(key):
            # cupy fills a basic selection with a scalar: a host array is no scalar, a list is no value at all
            if not isinstance(value, numpy.ndarray):
                raise TypeError(f"Unsupported type {type(value)}")
            if value.ndim:
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        self._a[key] = _unwrap(value, {}, host=True)

    def scatter_add(self, slices: Any, value: Any) -> None:
        key = _unwrap(slices, {}, host=True)
        if _advanced(key) and self.dtype not in SCATTER_ADD_DTYPES:
            raise TypeError("scatter_add only supports int32, float16, float32, float64, uint32, uint64, as data type")
        numpy.add.at(self._a, key, _unwrap(value, {}, host=_advanced(key)))

    # ---------------------------------------------------------------- numpy protocols, as cupy answers them
    def __array_ufunc__(self, ufunc: numpy.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method != "__call__" or not hasattr(cupy, ufunc.__name__):
            return NotImplemented
        out = kwargs.get("out", ())  # numpy passes a tuple, cupy's ufuncs take one array
        if out:
            (kwargs["out"],) = out
        if not all(isinstance(x, (ndarray, numpy.ndarray, *SCALARS)) for x in (*inputs, *out)):
            return NotImplemented
        return getattr(cupy, ufunc.__name__)(*inputs, **kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        try:
            fake = getattr(functools.reduce(getattr, func.__module__.split(".")[1:], cupy), func.__name__)
        except AttributeError:
            return NotImplemented
        if not all(t in (ndarray, numpy.ndarray) for t in types):
            return NotImplemented
        return fake(*args, **kwargs)


def _advanced(key: Any) -> bool:
    """True when an index has an array part (advanced indexing), False for ints, slices, None and Ellipsis."""
    parts = key if isinstance(key, tuple) else (key,)
    return not all(p is None or p is Ellipsis or isinstance(p, slice)
                   or (isinstance(p, (int, numpy.integer)) and not isinstance(p, (bool, numpy.bool_))) for p in parts)


def _should_use_rop(other: Any) -> bool:
    """cupy's rule for handing an operator to ``other``'s reflected one (e.g. a Tensor's)."""
    if hasattr(other, "__array_ufunc__"):
        return other.__array_ufunc__ is None
    return getattr(other, "__array_priority__", 0) > ndarray.__array_priority__


def _operators() -> None:
    """ndarray's arithmetic, comparison and in-place operators, each cupy's ufunc of the same name."""
    binary = {"add": "add", "sub": "subtract", "mul": "multiply", "truediv": "true_divide", "floordiv": "floor_divide",
              "mod": "remainder", "pow": "power", "matmul": "matmul", "and": "bitwise_and", "or": "bitwise_or",
              "xor": "bitwise_xor", "lshift": "left_shift", "rshift": "right_shift", "divmod": "divmod"}
    compare = {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal", "eq": "equal",
               "ne": "not_equal"}

    def forward(ufunc: str) -> Callable[..., Any]:
        def op(self: ndarray, other: Any, *_: Any) -> Any:
            if not isinstance(other, (ndarray, *SCALARS)) and _should_use_rop(other):
                return NotImplemented
            return getattr(cupy, ufunc)(self, other)
        return op

    for op, ufunc in {**binary, **compare}.items():
        setattr(ndarray, f"__{op}__", forward(ufunc))
    for op, ufunc in binary.items():
        setattr(ndarray, f"__r{op}__", lambda self, other, *_, u=ufunc: getattr(cupy, u)(other, self))
        if op != "divmod":
            setattr(ndarray, f"__i{op}__", lambda self, other, u=ufunc: getattr(cupy, u)(self, other, out=self))
    for op, ufunc in {"neg": "negative", "pos": "positive", "abs": "absolute", "invert": "invert"}.items():
        setattr(ndarray, f"__{op}__", lambda self, u=ufunc: getattr(cupy, u)(self))
    ndarray.__hash__ = None  # type: ignore[assignment]


_operators()


# ---------------------------------------------------------------- cupy.cuda: one device
class CUDARuntimeError(RuntimeError):
    """cupy.cuda.runtime.CUDARuntimeError."""


DEVICE_COUNT = 1
_current = [0]  # the stack of current devices


class Device:
    """``cupy.cuda.Device(i)``: makes device ``i`` current inside ``with``; only device 0 exists."""

    def __init__(self, device: int | None = None) -> None:
        self.id = _current[-1] if device is None else int(device)

    def _check(self) -> None:
        if not 0 <= self.id < DEVICE_COUNT:
            raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")

    def __enter__(self) -> Device:
        self._check()
        _current.append(self.id)
        return self

    def __exit__(self, *exc: Any) -> None:
        _current.pop()

    def use(self) -> None:
        self._check()
        _current[0] = self.id

    def synchronize(self) -> None:
        self._check()  # every call has finished when it returns: nothing to wait for

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Device) and other.id == self.id

    __hash__ = lambda self: hash(self.id)  # noqa: E731
    __repr__ = lambda self: f"<CUDA Device {self.id}>"  # noqa: E731


class Event:
    """``cupy.cuda.Event(block, disable_timing, interprocess)``: ``record`` notes the host clock (every call has
    finished by then), ``done`` is True, ``synchronize`` has nothing to wait for. cupy's rules are kept: an
    interprocess event cannot time, and ``get_elapsed_time`` needs two recorded timing events."""

    def __init__(self, block: bool = False, disable_timing: bool = False, interprocess: bool = False) -> None:
        if interprocess and not disable_timing:
            raise ValueError("Timing must be disabled for interprocess events")
        self.timing, self.time = not disable_timing, None
        self.device = _current[-1]

    def record(self, stream: Any = None) -> None:
        if stream is not None:
            raise TypeError("the fake has no streams: record on the null stream")
        self.time = time.perf_counter()

    done = property(lambda self: True)

    def synchronize(self) -> None:
        pass


NVTX_RANGES: list[str] = []  # the open NVTX ranges, innermost last (tests read them)
NVTX_MARKS: list[str] = []


def _range_push(message: str, id_color: int = -1, argb_color: int | None = None) -> None:
    NVTX_RANGES.append(message)


def _range_pop() -> None:
    if NVTX_RANGES:  # NVTX ignores a pop without a push
        NVTX_RANGES.pop()


def get_elapsed_time(start: Event, end: Event) -> float:
    """Milliseconds between two recorded timing events (cudaEventElapsedTime's errors otherwise)."""
    if not (start.timing and end.timing):
        raise CUDARuntimeError("cudaErrorInvalidResourceHandle: invalid resource handle")
    if start.time is None or end.time is None:
        raise CUDARuntimeError("cudaErrorInvalidResourceHandle: invalid resource handle")
    return (end.time - start.time) * 1e3


def _device_properties(device: int) -> dict[str, Any]:
    Device(device)._check()
    return {"name": b"fake cupy (host memory)", "totalGlobalMem": 1 << 30, "major": 9, "minor": 0}


# ---------------------------------------------------------------- cupy.random, ElementwiseKernel, module functions
class RandomState:
    """``cupy.random.RandomState``: cupy's names and signatures over numpy's PCG64 (not cuRAND's numbers)."""

    def __init__(self, seed: Any = None, method: Any = None) -> None:
        self.seed(seed)

    def seed(self, seed: Any = None) -> None:
        self._rng = numpy.random.default_rng(seed)

    def _draw(self, fn: Callable[..., Any], size: Any, dtype: Any) -> ndarray:
        dtype = numpy.dtype(dtype)
        if dtype.char not in "fd":
            raise TypeError(f"cupy.random only supports float32 and float64, got dtype {dtype}")
        return ndarray._of(numpy.asarray(fn(size=size, dtype=dtype), dtype=dtype))

    def random_sample(self, size: Any = None, dtype: Any = float) -> ndarray:
        return self._draw(self._rng.random, size, dtype)

    def standard_normal(self, size: Any = None, dtype: Any = float) -> ndarray:
        return self._draw(self._rng.standard_normal, size, dtype)

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None, dtype: Any = float) -> ndarray:
        return self.random_sample(size, dtype) * (high - low) + low

    def normal(self, loc: float = 0.0, scale: float = 1.0, size: Any = None, dtype: Any = float) -> ndarray:
        return self.standard_normal(size, dtype) * scale + loc

    def poisson(self, lam: Any = 1.0, size: Any = None, dtype: Any = int) -> ndarray:
        return ndarray._of(self._rng.poisson(_unwrap(lam, {}), size=size).astype(dtype))

    def standard_gamma(self, shape: Any, size: Any = None, dtype: Any = float) -> ndarray:
        return self._draw(lambda size, dtype: self._rng.standard_gamma(_unwrap(shape, {}), size=size), size, dtype)

    def binomial(self, n: Any, p: Any, size: Any = None, dtype: Any = int) -> ndarray:
        return ndarray._of(self._rng.binomial(_unwrap(n, {}), _unwrap(p, {}), size=size).astype(dtype))

    def randint(self, low: int, high: int | None = None, size: Any = None, dtype: Any = int) -> ndarray:
        return ndarray._of(self._rng.integers(low, high, size=size, dtype=dtype))

    def permutation(self, n: int) -> ndarray:
        return ndarray._of(self._rng.permutation(n))


class ElementwiseKernel:
    """``cupy.ElementwiseKernel``: the CUDA body compiled by nvcc and run on the host, on fake arrays only."""

    def __init__(self, in_params: str, out_params: str, operation: str, name: str = "kernel",
                 **options: Any) -> None:
        if options:
            raise NotImplementedError(f"fake cupy: ElementwiseKernel options {sorted(options)} are not emulated")
        self._host = HostElementwiseKernel(in_params, out_params, operation, name)

    def __call__(self, *args: Any, **options: Any) -> Any:
        if options:
            raise NotImplementedError(f"fake cupy: kernel call options {sorted(options)} are not emulated")
        for a in args:
            if not isinstance(a, (ndarray, *SCALARS)):
                raise TypeError(f"Unsupported type {type(a)}")
        return _call(self._host, args, {})


class RawKernel:
    """``cupy.RawKernel``: the CUDA source compiled by nvcc (device code) and run on the host thread by thread
    (tests/cuda_host.py), on fake arrays (as pointers) and numpy scalars of each parameter's exact type only: cupy
    passes a Python float as a double, garbage to a ``float`` parameter, so Python scalars are refused here."""

    def __init__(self, code: str, name: str, options: tuple[str, ...] = (), backend: str = "nvrtc",
                 **kwargs: Any) -> None:
        if options or backend != "nvrtc" or kwargs:
            raise NotImplementedError("fake cupy: RawKernel options, backends and keywords are not emulated")
        self.code, self.name = code, name
        self._host = HostRawKernel(code, name)

    def __call__(self, grid: tuple[int, ...], block: tuple[int, ...], args: tuple[Any, ...], *,
                 shared_mem: int = 0) -> None:
        if shared_mem:
            raise NotImplementedError("fake cupy: dynamic shared memory is not emulated")
        if not isinstance(args, tuple):
            raise TypeError(f"args must be a tuple, got {type(args).__name__}")
        for a in args:
            if isinstance(a, numpy.ndarray):
                raise TypeError(f"Unsupported type {type(a)}")
            if not isinstance(a, (ndarray, numpy.generic)):
                raise TypeError(f"fake cupy: pass a raw kernel arrays and numpy scalars, got {type(a).__name__} "
                                f"(cupy would pass a Python number as a 64-bit value whatever the parameter's type)")
        self._host(grid, block, tuple(a._a if isinstance(a, ndarray) else a for a in args))


def asnumpy(a: Any, stream: Any = None, order: str = "C", out: Any = None, *, blocking: bool = True) -> Any:
    return a.get(stream, order, out) if isinstance(a, ndarray) else numpy.asarray(a, order=order)


def get_array_module(*args: Any) -> types.ModuleType:
    return cupy if any(isinstance(a, ndarray) for a in args) else numpy


def as_strided(x: ndarray, shape: Any = None, strides: Any = None) -> ndarray:
    if not isinstance(x, ndarray):
        raise TypeError(f"Cannot convert {type(x).__name__} to cupy.cuda.memory.MemoryPointer")
    return ndarray._of(numpy.lib.stride_tricks.as_strided(x._a, shape, strides))


def scatter_add(a: ndarray, slices: Any, value: Any) -> None:
    a.scatter_add(slices, value)


def _module(name: str, **attributes: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    return module


def _modules() -> dict[str, types.ModuleType]:
    """The fake's modules by name: cupy with its submodules, and cupyx."""
    runtime = _module("cupy.cuda.runtime", CUDARuntimeError=CUDARuntimeError, getDeviceCount=lambda: DEVICE_COUNT,
                      getDeviceProperties=_device_properties, runtimeGetVersion=lambda: 12080)
    nvtx = _module("cupy.cuda.nvtx", available=True, RangePush=_range_push, RangePop=_range_pop,
                   Mark=lambda message, id_color=-1, argb_color=None: NVTX_MARKS.append(message))
    cuda = _module("cupy.cuda", Device=Device, Event=Event, get_elapsed_time=get_elapsed_time, nvtx=nvtx,
                   runtime=runtime, is_available=lambda: True)
    stride_tricks = _module("cupy.lib.stride_tricks", as_strided=as_strided)
    parts = [runtime, nvtx, cuda, stride_tricks, _module("cupy.lib", stride_tricks=stride_tricks),
             _module("cupy.random", RandomState=RandomState),
             _module("cupy.linalg", __getattr__=_names("cupy.linalg", numpy.linalg, LINALG)),
             _module("cupyx", scatter_add=scatter_add)]
    top = _module("cupy", __version__=VERSION, __getattr__=_names("cupy", numpy, FUNCTIONS, SAME), ndarray=ndarray,
                  asnumpy=asnumpy, get_array_module=get_array_module, ElementwiseKernel=ElementwiseKernel,
                  RawKernel=RawKernel,
                  **{m.__name__.split(".")[1]: m for m in parts if m.__name__.count(".") == 1})
    return {m.__name__: m for m in [top, *parts]}


MODULES = _modules()
cupy, cupyx = MODULES["cupy"], MODULES["cupyx"]


def install() -> None:
    """Put the fake in ``sys.modules`` as ``cupy`` (with its submodules) and ``cupyx``."""
    if "cupy" in sys.modules or "cupyx" in sys.modules:
        raise RuntimeError("cupy is imported already: install the fake before anything imports cupy")
    sys.modules.update(MODULES)
