"""Tensor's named methods and the top-level functions, as torch spells them: the one place for names and aliases.

The ops (``ops/``) keep numpy-style signatures (``axis``, ``keepdims``); this module maps torch's call shapes onto
them: ``dim=`` / ``keepdim=`` (``axis=`` / ``keepdims=`` still work), ``transpose(dim0, dim1)``, ``max(dim)`` ->
``(values, indices)``, ``size()``, dtype conversions, ``to(...)``, and the in-place ``*_`` methods and operators.
``attach()`` binds the methods to ``Tensor``; ``FUNCTIONS`` holds the ``tinygrad_adam.<name>`` functions.
"""

from __future__ import annotations

import builtins
import functools
import inspect
import itertools
import math
import numbers
import operator
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy

from . import autograd, backend, dtypes, layouts
from .autograd import is_grad_enabled
from .creation import (
    Generator,
    _rng,
    _sample_dirichlet,
    bartlett_window,
    bernoulli,
    bernoulli_draws,
    blackman_window,
    empty,
    from_numpy,
    hamming_window,
    hann_window,
    kaiser_window,
    logspace,
    multinomial,
    normal,
    poisson,
    range_,
    tensor,
    uniform64,
    warn_copy_construct,
)
from .ops import binary, bitwise, elementwise, index, inplace, linalg, movement, reduce, sort, statistics, unary
from .ops.factor import ArgumentError, DivisionByZeroError, DtypeError, KernelDtypeError
from .tensor import (
    DEFAULT_FLOAT,
    Size,
    Tensor,
    TensorLike,
    as_tensor,
    bump_version,
    check_fits,
    own_array,
    record,
    refuse_complex,
    torch_strided,
)

Dim = int | Sequence[int] | None


class ValuesIndices(NamedTuple):
    """``(values, indices)``, what ``max(dim)``, ``min(dim)``, ``sort`` and ``topk`` return (torch.return_types)."""

    values: Tensor
    indices: Tensor


# ---------------------------------------------------------------------------------------------- argument handling
def _dim(dim: Any, axis: Any, default: Any = None) -> Any:
    """torch's ``dim`` or numpy's ``axis`` (one of them), as an int or a tuple."""
    if axis is not None:
        if dim is not None and dim != axis:
            raise TypeError(f"got both dim={dim} and axis={axis}; pass one")
        dim = axis
    if dim is None:
        return default
    dims = movement.int_args("dim", "dim", dim)  # a float or bool dim raises TypeError, as torch's
    return dims if isinstance(dim, (list, tuple)) else dims[0]


def _reduce_dims(dim: Any, axis: Any) -> Any:
    """A reduction's ``dim`` / ``axis`` as ``_dim`` gives it, but an empty list or tuple is every dim (None), as
    torch's sum / mean / var / std / norm / amax / amin / nansum read it (numpy's ``axis=()`` reduces nothing;
    torch's ``axis=`` is its alias of ``dim``)."""
    d = _dim(dim, axis)
    return None if d == () else d


def _one_dim(op: str, dim: Any) -> Any:
    """``dim`` of a reduction over one dim or all (None), as torch's prod: a list or tuple raises."""
    if isinstance(dim, (list, tuple)):
        raise TypeError(f"{op}(): dim must be an int or None (as in torch), got {dim!r}")
    return dim


def _sizes(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Accept both ``f(2, 3)`` and ``f((2, 3))`` (or a Size)."""
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


def _floating(t: Tensor) -> Tensor:
    """Integer and bool tensors as float32, as torch's float-valued functions (exp, sin, ...) treat them."""
    return t if t.dtype.kind in "fc" else elementwise.astype(t, DEFAULT_FLOAT)


def _floating_only(op: str, t: Tensor) -> Tensor:
    """``t``, which must be floating: torch's std / var / norm refuse integer and bool tensors (no float32 cast)."""
    if t.dtype.kind not in "fc":
        raise DtypeError(f"{op}: needs a floating-point tensor (as in torch), got {t.dtype}; convert with .float()")
    return t


class SizeMethod(int):
    """What ``x.size`` is: torch's method (``x.size()`` -> ``Size``, ``x.size(d)`` -> int), and, uncalled, the
    element count as an int, numpy's ``size``, so that code written with numpy's meaning stays right."""

    def __new__(cls, shape: tuple[int, ...]) -> SizeMethod:
        out = super().__new__(cls, math.prod(shape))
        out.shape = shape
        return out

    def __call__(self, dim: int | None = None) -> Any:
        return Size(self.shape) if dim is None else self.shape[_own_dim("size", dim, len(self.shape))]


def _own_dim(op: str, dim: int, ndim: int) -> int:
    """``dim`` of a tensor's own dims (``size(d)``, ``stride(d)``: a 0-d tensor has none, as in torch); an IndexError
    when out of range, a TypeError when not an int."""
    if isinstance(dim, bool) or not hasattr(dim, "__index__"):
        raise TypeError(f"{op}(): dim must be an int, got {type(dim).__name__}")
    dim = dim.__index__()
    if not -ndim <= dim < ndim:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dims"
                         + (f" (expected {-ndim}..{ndim - 1})" if ndim else ""))
    return dim


# ---------------------------------------------------------------------------------------------- shape
def _size(self: Tensor) -> SizeMethod:
    return SizeMethod(self.shape)


def numel(self: Tensor) -> int:
    return int(self._data.size)


def dim(self: Tensor) -> int:
    return self._data.ndim


def _keyword_sizes(op: str, key: str, shape: tuple, kwargs: dict) -> tuple:
    """The sizes of ``x.reshape(*shape)`` / ``x.view(*size)``, also given by keyword as torch allows
    (``x.reshape(shape=(n, -1))``, ``x.view(size=(n, -1))``; not both)."""
    if kwargs:
        extra = set(kwargs) - {key}
        if extra:
            raise TypeError(f"{op}() got an unexpected keyword argument '{extra.pop()}'")
        if shape:
            raise TypeError(f"{op}() got multiple values for argument '{key}'")
        shape = (kwargs[key],)
    return shape


def reshape(self: Tensor, *shape: Any, **kwargs: Any) -> Tensor:
    """``x.reshape(*shape)``, or ``x.reshape(shape=...)``."""
    return movement.reshape(self, _sizes(_keyword_sizes("reshape", "shape", shape, kwargs)))


def view_as(self: Tensor, other: Tensor) -> Tensor:
    return movement.reshape(self, other.shape)


def transpose(self: Tensor, *dims: int, **kwargs: int) -> Tensor:
    """``transpose(dim0, dim1)``: swap two dims, as torch (a permutation of all dims is ``permute``); the dims also by
    keyword (``dim0=`` / ``dim1=``, swapaxes' ``axis0=`` / ``axis1=``)."""
    for key in ("dim0", "dim1", "axis0", "axis1"):
        if key in kwargs:
            dims = (*dims, kwargs.pop(key))
    if kwargs:
        raise TypeError(f"transpose() got an unexpected keyword argument '{next(iter(kwargs))}'")
    if len(dims) != 2:
        raise TypeError(f"transpose(dim0, dim1) swaps two dims, as in torch; got {dims}. For numpy's transpose(axes) "
                        f"use permute(*axes), for the reversed dims .T")
    if not isinstance(self, Tensor) and self.is_sparse:  # torch.transpose(sparse COO matrix): sparse.py
        return self.transpose(*dims)
    dim0, dim1 = (movement.wrap_dim("transpose", int(d), self.ndim) for d in dims)  # (0-d: 0 and -1, as torch)
    perm = list(range(self.ndim))
    if self.ndim:
        perm[dim0], perm[dim1] = perm[dim1], perm[dim0]
    return movement.transpose(self, perm)


def permute(self: Tensor, *dims: Any, **kwargs: Any) -> Tensor:
    """Reorder all dims: ``x.permute(2, 0, 1)``, one entry per dim (``x.permute(())`` for a 0-d tensor; or
    ``dims=``)."""
    dims = _keyword_sizes("permute", "dims", dims, kwargs)
    if not dims:
        raise TypeError("permute() missing its dims: name every dim in its new order (x.permute(()) for a 0-d "
                        "tensor; x.T reverses them)")
    dims = _sizes(dims)
    if len(dims) != self.ndim:
        raise ValueError(f"permute: {len(dims)} dims {tuple(dims)} given for a tensor of {self.ndim} dims")
    return movement.transpose(self, dims)


_T_warned = {"0-d": False, "not 2-d": False}  # torch warns each once per process


def _T(self: Tensor) -> Tensor:  # noqa: N802 - torch's name
    """All dims reversed (the matrix transpose for 2-D). Other than 2-D it warns (UserWarning, each once), as
    torch's: a deprecation, and for 0-d a second one."""
    if self.ndim != 2:
        _warn_T(self.ndim)
    return movement.transpose(self, ())


def _warn_T(ndim: int) -> None:  # noqa: N802
    """torch's once-per-process warnings of ``x.T`` on a tensor of ``ndim`` dims other than 2."""
    for kind, applies, message in (
            ("0-d", ndim == 0, "Tensor.T is deprecated on 0-D tensors. This function is the identity in these "
                               "cases."),
            ("not 2-d", True, "The use of `x.T` on tensors of dimension other than 2 to reverse their shape "
                              "is deprecated and it will throw an error in a future release. Consider "
                              "`x.mT` to transpose batches of matrices or `x.permute(*torch.arange(x.ndim "
                              "- 1, -1, -1))` to reverse the dimensions of a tensor.")):
        if applies and not _T_warned[kind]:
            _T_warned[kind] = True
            warnings.warn(message, UserWarning, stacklevel=3)


def _mT(self: Tensor) -> Tensor:  # noqa: N802 - torch's name
    """The last two dims swapped (a batch of matrices transposed); a 0-d tensor is itself, with torch's
    deprecation warning."""
    if self.ndim == 0:
        warnings.warn("mT on a 0-d tensor is deprecated (it just returns the tensor unchanged)",
                      UserWarning, stacklevel=2)
        return movement.reshape(self, ())
    if self.ndim == 1:
        raise ValueError("mT needs at least 2 dimensions (a matrix or a stack of them); this tensor is 1-d")
    return transpose(self, -2, -1)


def t(self: Tensor) -> Tensor:
    if not isinstance(self, Tensor) and self.is_sparse:  # torch.t(sparse COO matrix): sparse.py
        return self.t()
    if self.ndim > 2:
        raise ValueError(f"t() needs a tensor with at most 2 dims, got shape {self.shape}; use transpose(dim0, dim1)")
    return movement.transpose(self, ())


def expand(self: Tensor, *sizes: Any, **kwargs: Any) -> Tensor:
    """Broadcast to ``sizes`` (or ``size=``); -1 keeps that dim."""
    sizes = _sizes(_keyword_sizes("expand", "size", sizes, kwargs))
    lead = len(sizes) - self.ndim
    shape = tuple(self.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(sizes))
    return movement.broadcast_to(self, shape)


def expand_as(self: Tensor, other: Tensor) -> Tensor:
    return movement.broadcast_to(self, other.shape)


def squeeze(self: Tensor, dim: Dim = None, *, axis: Dim = None) -> Tensor:
    """Drop dims of size 1 (only among ``dim`` when given; a dim of another size is left, as torch does)."""
    d = _dim(dim, axis)
    dims = None if d is None else movement._dims("squeeze", d, self.ndim)
    if dims is None or self.ndim == 0:
        return movement.squeeze(self, None)
    return movement.squeeze(self, tuple(x for x in dims if self.shape[x] == 1))


def unsqueeze(self: Tensor, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    return movement.unsqueeze(self, _dim(dim, axis))


def flatten(self: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return movement.flatten(self, start_dim, end_dim)


def split(self: Tensor, split_size: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces along ``dim``: of ``split_size`` each (the last may be smaller), or of the given sizes (a list)."""
    n = self.shape[dim]
    d = dim % self.ndim
    if isinstance(split_size, int):
        step = split_size
        if step < 0 or (step == 0 and n):
            raise ValueError(f"split: split_size must be positive (0 only for an empty dim), got {step}")
        sizes = [min(step, n - i) for i in range(0, n, step or 1)] or [0]
    else:
        sizes = list(split_size)
        if any(x < 0 for x in sizes):
            raise ValueError(f"split: split sizes must be non-negative, got {sizes}")
        if sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} do not add up to {n}, the length of dim {dim}")
    starts = list(itertools.accumulate(sizes, initial=0))
    return movement.split_pieces(self, d, [slice(lo, hi) for lo, hi in zip(starts, starts[1:])])


def split_function(tensor: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """``torch.split``: ``tensor.split`` under the function's argument names (the method's is ``split_size``)."""
    return split(tensor, split_size_or_sections, dim)


def chunk(self: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Up to ``chunks`` pieces of ceil(n / chunks) along ``dim`` (an empty dim: ``chunks`` empty pieces, as torch)."""
    chunks = operator.index(chunks)  # (a numpy integer too; a float raises TypeError, as torch)
    if chunks < 1:
        raise ValueError(f"chunk: chunks must be at least 1, got {chunks}")
    if self.shape[dim] == 0:
        return split(self, [0] * chunks, dim)
    return split(self, max(1, -(-self.shape[dim] // chunks)), dim)


# ---------------------------------------------------------------------------------------------- dtype and device
def _device_of(x: Any) -> str:
    return backend.parse_device(x)


def _is_dtype(x: Any) -> bool:
    """Whether ``x`` names a dtype (a list or tuple never does: ``x.view([])`` is a shape, numpy's empty record)."""
    if isinstance(x, (Tensor, str, list, tuple)) or x is None:
        return False
    try:
        return numpy.dtype(x).kind in "biufc"  # (numpy makes an object dtype of any class: Tensor, a module)
    except TypeError:
        return False


def _convert(self: Tensor, dtype: Any) -> Tensor:
    """Cast to ``dtype``; to an integer or bool dtype the result is cut from the graph, as in torch (no gradient
    flows through rounding)."""
    if numpy.dtype(dtype).kind in "fc":
        return elementwise.astype(self, dtype)
    return Tensor(self._data.astype(dtype), device=self.device)


def to(self: Tensor, *args: Any, dtype: Any = None, device: Any = None, non_blocking: bool = False,
       copy: bool = False, memory_format: Any = None) -> Tensor:
    """``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other)`` (its device and dtype); differentiable.
    ``memory_format`` (channels_last, ...): the result in that layout (layouts.to_format). Booleans after those are
    ``non_blocking`` then ``copy``, as torch's positional ``to(dtype, non_blocking, copy)``."""
    first = next((i for i, a in enumerate(args) if i and isinstance(a, bool)), len(args))  # (a leading bool is no
    args, flags = args[:first], args[first:]  # flag: torch makes it a bool dtype, we refuse it as a device)
    if len(flags) > 2 or not all(isinstance(a, bool) for a in flags):
        raise TypeError(f"to(): invalid combination of arguments {tuple(type(a).__name__ for a in args + flags)}; "
                        f"expected (device, dtype, non_blocking, copy), (dtype, non_blocking, copy) or (tensor, ...)")
    if len(flags) == 2:
        copy = flags[1]
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif _is_dtype(a):
            dtype = a
        elif isinstance(a, (str, int)) or a is None:
            device = a
        else:
            raise TypeError(f"to(): expected a device, a dtype or a tensor, got {type(a).__name__}")
    out = self if device is None else movement.to(self, _device_of(device))
    if dtype is not None and out.dtype != numpy.dtype(dtype):
        out = _convert(out, dtype)
    if memory_format is not None:
        out = layouts.to_format(out, memory_format)
    return layouts.clone(out) if copy and out is self else out  # (copy=True keeps dense strides, as torch's)


def cpu(self: Tensor, memory_format: Any = None) -> Tensor:
    """On the CPU (itself when it is there); ``memory_format`` as ``to``'s."""
    return to(self, "cpu", memory_format=memory_format)


def cuda(self: Tensor, device: Any = None, non_blocking: bool = False, memory_format: Any = None) -> Tensor:
    """On the GPU ``device`` (the current one by default); ``non_blocking`` is accepted (copies are synchronous)."""
    return to(self, _device_of("cuda" if device is None else device), memory_format=memory_format)


def _is_cuda(self: Tensor) -> bool:
    return self.device != "cpu"


def _cast(dtype: Any) -> Callable[[Tensor], Tensor]:
    def convert(self: Tensor, memory_format: Any = None) -> Tensor:
        out = self if self.dtype == dtype else _convert(self, dtype)
        return out if memory_format is None else layouts.to_format(out, memory_format)
    convert.__doc__ = f"This tensor as {numpy.dtype(dtype).name} (itself when it already is)."
    return convert


def bfloat16(self: Tensor, memory_format: Any = None) -> Tensor:
    """``x.bfloat16()``: NotImplementedError naming float16 / float32, as there is no bfloat16 here (dtypes.py)."""
    return _convert(self, dtypes.bfloat16)


_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor", "int64": "LongTensor",
               "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor", "uint8": "ByteTensor",
               "bool": "BoolTensor"}


def type_(self: Tensor, dtype: Any = None, non_blocking: bool = False) -> Any:
    """Without an argument, the type name ('tinygrad_adam.FloatTensor'); with a dtype, the converted tensor; with a
    type name ('torch.FloatTensor', 'torch.cuda.LongTensor', ours as ``type()`` gives it), converted and moved to
    the device the name says, as torch's."""
    if dtype is None:
        cuda = "cuda." if self.device.type == "cuda" else ""
        return f"tinygrad_adam.{cuda}{_TYPE_NAMES.get(self.dtype.name, self.dtype.name)}"
    if isinstance(dtype, LegacyTensorType):  # torch.FloatTensor moves a GPU tensor to the CPU; cuda.FloatTensor back
        return to(self, dtype.device, dtype.dtype)
    if dtype is Tensor or dtype in ("torch.Tensor", "tinygrad_adam.Tensor"):
        dtype = numpy.float32  # torch's default tensor type, FloatTensor
    if isinstance(dtype, str):
        name = dtype.removeprefix("torch.").removeprefix("tinygrad_adam.")
        device = "cuda" if name.startswith("cuda.") else "cpu"
        dtypes = {legacy: numpy.dtype(d) for d, legacy in _TYPE_NAMES.items()}
        if name.removeprefix("cuda.") not in dtypes or name == dtype:
            raise ValueError(f"invalid type: {dtype!r} (a tensor type name such as 'torch.FloatTensor')")
        return to(self, device, dtypes[name.removeprefix("cuda.")])
    return to(self, dtype=dtype)


def type_as(self: Tensor, other: Tensor) -> Tensor:
    return to(self, dtype=other.dtype)


class LegacyTensorType:
    """``FloatTensor``, ``LongTensor``, ... as torch's legacy constructors: ``FloatTensor()`` (shape (0,)),
    ``FloatTensor(2, 3)`` or ``FloatTensor(Size)`` (uninitialised, as ``empty``), ``FloatTensor(data)`` (a list,
    tuple or array, converted as ``tensor(data, dtype=...)``; a writeable CPU array of this dtype is shared, as torch
    shares it), ``FloatTensor(t)`` (a differentiable alias of a tensor of this dtype). ``isinstance(t,
    FloatTensor)`` holds for a float32 tensor on the CPU, and the object works as a dtype (``x.type(FloatTensor)``,
    ``x.to(FloatTensor)``). ``cuda.FloatTensor`` and its kin (``device="cuda"``) make and match GPU tensors."""

    def __init__(self, name: str, dtype: Any, device: str = "cpu") -> None:
        self.__name__ = self.__qualname__ = name
        self.__module__ = "tinygrad_adam.cuda" if device == "cuda" else "tinygrad_adam"
        self.dtype = numpy.dtype(dtype)
        self.device = device

    def __call__(self, *args: Any, device: Any = None) -> Tensor:
        name = self.__name__
        device = "cuda" if device is None and self.device == "cuda" else device
        if len(args) == 1 and isinstance(args[0], Tensor):
            if args[0].dtype != self.dtype:
                raise TypeError(f"{name}(tensor): expected a {self.dtype} tensor, got {args[0].dtype}; convert "
                                f"with tensor.to({self.dtype}) instead")
            return movement.reshape(args[0], args[0].shape)  # an alias that keeps the graph, as torch's
        sizes = tuple(args[0]) if len(args) == 1 and isinstance(args[0], Size) else args
        if all(isinstance(n, numbers.Integral) and not isinstance(n, (bool, numpy.bool_)) for n in sizes):
            if any(n < 0 for n in sizes):
                raise ValueError(f"{name}: negative dimension in size {tuple(sizes)}")
            return empty(*(sizes or (0,)), dtype=self.dtype, device=device)
        if len(args) != 1 or not (isinstance(args[0], (list, tuple, range)) or hasattr(args[0], "shape")) or isinstance(
                args[0], numpy.generic):  # a numpy scalar is data, not a sequence: torch refuses it too
            raise TypeError(f"{name}(): give sizes (ints) or one sequence of data, got "
                            f"({', '.join(type(a).__name__ for a in args)})")
        if (isinstance(args[0], numpy.ndarray) and args[0].dtype == self.dtype and args[0].flags.writeable
                and (device is None or backend.parse_device(device) == "cpu")):
            return from_numpy(args[0])  # torch's legacy constructors share a same-dtype array's memory (a read-only
            # one too, with a warning, writing into it: we copy that one)
        return tensor(args[0], dtype=self.dtype, device=device)

    def __instancecheck__(self, instance: Any) -> bool:
        return (isinstance(instance, Tensor) and instance.dtype == self.dtype
                and (instance.device.type == "cuda") == (self.device == "cuda"))

    def __repr__(self) -> str:
        return f"<class '{self.__module__}.{self.__name__}'>"


def legacy_types(device: str) -> dict[str, LegacyTensorType]:
    """``FloatTensor``, ``LongTensor``, ... by name, for ``device`` "cpu" (torch.*) or "cuda" (torch.cuda.*)."""
    return {name: LegacyTensorType(name, dtype, device) for dtype, name in _TYPE_NAMES.items()}


def stride(self: Tensor, dim: int | None = None) -> Any:
    """Steps between neighbours along each dim, in elements (numpy counts bytes); one dim's with ``dim``."""
    steps = tuple(s // self.dtype.itemsize for s in self._data.strides)
    return steps if dim is None else steps[_own_dim("stride", dim, len(steps))]


def is_floating_point(self: Tensor) -> bool:
    return self.dtype.kind == "f"


def element_size(self: Tensor) -> int:
    return self.dtype.itemsize


# ---------------------------------------------------------------------------------------------- arithmetic
def add(self: TensorLike, other: TensorLike, *, alpha: float = 1) -> Tensor:
    if _is_sparse(other):
        if isinstance(self, Tensor):
            return _add_sparse("add", self, other, alpha)
        if hasattr(type(self), "dense_operand"):  # torch.add(sparse, sparse): sparse.py
            return self.add(other, alpha=alpha)
    self, other, alpha = (elementwise.python_number(x) for x in (self, other, alpha))  # numpy's scalars as torch
    check_alpha("add", self, other, alpha)  # reads them: Python numbers (an unsigned alpha negated wrapped around)
    if alpha != 1 and elementwise.result_type(self, other).kind == "f":
        return binary.add_scaled("add", self, other, alpha)
    return elementwise.add(self, _times_alpha(self, other, alpha))


def sub(self: TensorLike, other: TensorLike, *, alpha: float = 1) -> Tensor:
    if _is_sparse(other):
        if isinstance(self, Tensor):
            return _add_sparse("sub", self, other, -alpha)
        if hasattr(type(self), "dense_operand"):  # torch.sub(sparse, sparse): sparse.py
            return self.sub(other, alpha=alpha)
    self, other, alpha = (elementwise.python_number(x) for x in (self, other, alpha))
    check_alpha("sub", self, other, alpha)
    elementwise.check_sub_operands(self, other)  # before alpha scales a bool
    if alpha != 1 and elementwise.result_type(self, other).kind == "f":
        return binary.add_scaled("sub", self, other, -alpha)
    return elementwise.sub(self, _times_alpha(self, other, alpha))


def _is_sparse(x: Any) -> bool:
    """A sparse gradient (sparse_grad.py) or sparse COO matrix (sparse.py): not a Tensor here."""
    return getattr(x, "is_sparse", False) and not isinstance(x, Tensor)


def _add_sparse(op: str, dense: Tensor, sparse: Any, alpha: float) -> Tensor:
    """torch's dense + alpha * sparse (``p.data.add_(p.grad, alpha=-lr)`` after ``embedding(sparse=True)``), a
    dense tensor: alpha * each listed value added into its entry, repeated entries one after another; the entries
    not listed stay as they are (-0.0, with an inf or nan alpha too)."""
    if dense.shape != tuple(sparse.shape):
        raise RuntimeError(f"{op}: a sparse tensor of size {tuple(sparse.shape)} adds only into a dense tensor of "
                           f"that size, got {tuple(dense.shape)}")
    values = sparse._vals if hasattr(type(sparse), "dense_operand") else sparse._values()  # (a COO matrix's
    check_alpha(op, dense, values, alpha)  # values with their graph: the gradient reaches them, as torch's)
    dtype = elementwise.result_type(dense, values)
    k, place = sparse.sparse_dim(), sparse._indices()._data  # (k, nnz) positions in dense's first k dims
    flat = sum(place[i] * math.prod(dense.shape[i + 1:k]) for i in range(k))  # as one row-major number
    out = index.index_add(dense.to(dtype).reshape(math.prod(dense.shape[:k]), *dense.shape[k:]), 0,
                          Tensor(flat, device=dense.device), values.to(dtype), alpha)
    return out.reshape(dense.shape)


def check_alpha(op: str, a: TensorLike, b: TensorLike, alpha: Any) -> None:
    """torch's rules for add's / sub's ``alpha``: a bool one only for a bool result, a float one not for an integer
    or bool result, a complex one only for a complex result (a TypeError, as torch raises)."""
    if type(alpha) is int and -128 < alpha < 128:  # (the hot path: such an int fits every dtype)
        return
    dtype = elementwise.result_type(a, b)
    if (isinstance(alpha, bool) and dtype.kind != "b") or (isinstance(alpha, float) and dtype.kind in "iub") \
            or (isinstance(alpha, complex) and dtype.kind != "c"):
        raise TypeError(f"{op}: alpha={alpha!r} ({type(alpha).__name__}) is not allowed for a result of dtype "
                        f"{dtype} (as torch)")
    check_fits(op, alpha, dtype)


def _times_alpha(self: TensorLike, other: TensorLike, alpha: float) -> TensorLike:
    """add's and sub's ``alpha * other``; a Python number stays one (so it takes the tensor's dtype, as torch; a
    bool one stays a bool for a bool result)."""
    if alpha == 1:
        return other
    dtype = elementwise.result_type(self, other)
    if dtype.kind == "b":  # a bool result: alpha counts as a bool
        return other if alpha else elementwise.mul(other, False) if isinstance(other, Tensor) else False
    if isinstance(other, (int, float)):
        return other * alpha
    if other.dtype != dtype:  # alpha * other in the result's dtype, as torch (not int8 * 2 wrapping in int8)
        other = elementwise.astype(other, dtype)
    return elementwise.mul(other, alpha)


def div(self: TensorLike, other: TensorLike, *, rounding_mode: str | None = None) -> Tensor:
    """Division; ``rounding_mode`` "floor" or "trunc" rounds the quotient (no gradient flows through rounding).
    Integers stay integers there, and an integer division by zero raises ZeroDivisionError, as in torch."""
    if rounding_mode is not None and isinstance(self, Tensor) and (wide := elementwise.half_opmath(self, other)):
        return elementwise.astype(div(*wide, rounding_mode=rounding_mode), numpy.float16)  # float32, rounded once
    #    (without rounding_mode, elementwise.div makes the same check)
    out = elementwise.div(self, other)
    if rounding_mode is None:
        return out
    if rounding_mode not in ("floor", "trunc"):
        raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', got {rounding_mode!r}")
    a, b = elementwise.operands("div", self, other)
    if a.dtype.kind == "b":  # (numpy's floor division of bools is int8)
        raise KernelDtypeError(f"div: rounding_mode={rounding_mode!r} is not implemented for bool operands (as "
                               f"torch); convert with .long() first")
    xp = a.xp
    if a.dtype.kind in "iub" and b.dtype.kind in "iub":  # integer division stays integer, as in torch
        _nonzero_divisor("div", a, b)
        q = xp.floor_divide(a._data, b._data)
        if rounding_mode == "trunc":  # round toward zero: floor, plus one where the signs differ and it is inexact
            q = q + ((q < 0) & (q * b._data != a._data))
        return Tensor(q, device=a.device)
    if rounding_mode == "floor" and a.dtype == numpy.float16:  # torch's float16 kernel rounds each step to
        q = _floor_divide_half(xp, a._data, b._data)  # float16 (numpy's: float32)
    elif rounding_mode == "floor":  # torch's floor division, (a - fmod(a, b)) / b rounded (-5 // inf is -1)
        q = xp.floor_divide(a._data, b._data)
    else:
        q = xp.trunc(a._data / b._data)  # (not out: a number / float16 x there is float32)
    # a float quotient stays in the graph with a zero gradient, as torch's (backward() through it works); its own
    # op name, so that create_graph=True does not take true division's formula for it
    return record("div_rounded", q, (a, b), lambda g: tuple(xp.zeros(t.shape, g.dtype) for t in (a, b)))


def _floor_divide_half(xp: Any, a: Any, b: Any) -> Any:
    """torch's div_floor_floating on float16 operands (a tensor beside a tensor, or a number before one), each
    operation rounded to float16 as its Half arithmetic is: numpy's float16 floor_divide, in float32, differed
    by one float16 unit in about 1% of quotients."""
    with elementwise.ignore_fp_errors(xp):
        mod = xp.fmod(a, b)
        div = (a - mod) / b
        div = xp.where((mod != 0) & ((b < 0) != (mod < 0)), div - a.dtype.type(1), div)
        floor = xp.floor(div)
        floor = xp.where(div - floor > a.dtype.type(0.5), floor + a.dtype.type(1), floor)
        out = xp.where(div != 0, floor, xp.copysign(xp.zeros_like(div), a / b))
        return xp.where(b == 0, a / b, out)


def _nonzero_divisor(op: str, a: Tensor, b: Tensor) -> None:
    """An integer divisor with a zero raises, as in torch (numpy's answer is 0); an empty result divides nothing."""
    if math.prod(numpy.broadcast_shapes(a.shape, b.shape)) and bool((b._data == 0).any()):
        raise DivisionByZeroError(f"{op}: integer division by zero (as in torch); divide floats to get inf / nan")


def remainder(self: TensorLike, other: TensorLike) -> Tensor:
    """``a % b`` with the sign of ``b`` (Python's and torch's); an integer ``b`` with a zero raises
    ZeroDivisionError, as in torch. See ``elementwise.remainder``."""
    return _modulo("remainder", self, other)


def fmod(self: TensorLike, other: TensorLike) -> Tensor:
    """C's remainder, with the sign of ``self`` (``torch.fmod``); an integer ``other`` with a zero raises
    ZeroDivisionError, as in torch. See ``elementwise.fmod``."""
    return _modulo("fmod", self, other)


def _modulo(op: str, self: TensorLike, other: TensorLike) -> Tensor:
    """remainder or fmod (``op``, numpy's and ``elementwise``'s name for both) in torch's promoted dtype: integers
    stay integers (no gradient), bool raises."""
    a, b = elementwise.operands(op, self, other)
    if a.dtype.kind == "b":
        raise KernelDtypeError(f"{op}: not implemented for bool tensors (as in torch); convert with .long() first")
    if a.dtype.kind in "iu":
        _nonzero_divisor(op, a, b)
        return Tensor(getattr(a.xp, op)(a._data, b._data), device=a.device)
    return getattr(elementwise, op)(a, b)


def clamp(self: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 - torch's names
    """Limit to [min, max] (numbers or Tensors, either may be None), as ``torch.clamp``: see ``elementwise.clip``."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    return elementwise.clip(self, min, max)


def rsqrt(self: Tensor) -> Tensor:
    return elementwise.div(1.0, elementwise.sqrt(_floating(self)))


def square(self: Tensor) -> Tensor:
    """``self * self``, as torch's ``pow(self, 2)``: a bool tensor's square is int64 (``square_`` on it raises)."""
    if self.dtype.kind == "b":
        self = elementwise.astype(self, numpy.int64)
    return elementwise.mul(self, self)


def addcmul(self: Tensor, tensor1: TensorLike, tensor2: TensorLike, *, value: float = 1) -> Tensor:
    """``self + value * tensor1 * tensor2``, broadcast, in the three's promoted dtype (``value`` cast to it)."""
    return _addc("addcmul", self, tensor1, tensor2, value)


def addcdiv(self: Tensor, tensor1: TensorLike, tensor2: TensorLike, *, value: float = 1) -> Tensor:
    """``self + value * tensor1 / tensor2``, broadcast; integer operands raise, as in torch."""
    return _addc("addcdiv", self, tensor1, tensor2, value)


def _addc(op: str, self: Tensor, tensor1: TensorLike, tensor2: TensorLike, value: float) -> Tensor:
    """addcmul / addcdiv, computed as torch's kernel does: ``self + (value * tensor1) (*|/) tensor2`` (floating
    dtypes: ``binary.addcmul`` / ``addcdiv``, with torch's fused multiply-add and compute dtype)."""
    if isinstance(value, complex):
        refuse_complex(numpy.dtype(complex))
    dt = elementwise.result_type(self, tensor1, tensor2)
    if op == "addcdiv" and all(numpy.dtype(t.dtype if isinstance(t, Tensor) else numpy.asarray(t).dtype).kind in "biu"
                               for t in (tensor1, tensor2)):  # (whatever self's dtype, as torch)
        raise DtypeError("addcdiv: integer division is not supported (as in torch); convert to a float dtype first")
    if dt.kind == "b":
        raise KernelDtypeError(f"{op}: all-bool operands have no kernel (as in torch); convert with .long() first")
    if dt.kind == "f":
        s, t1, t2 = (elementwise.cast(x, dt, self) for x in (self, tensor1, tensor2))
        return (binary.addcmul if op == "addcmul" else binary.addcdiv)(s, t1, t2, value)
    scaled = elementwise.cast(tensor1, dt, self)
    if value != 1:
        scaled = elementwise.mul(scaled, elementwise.number(value, dt, self))
    return elementwise.add(self, (elementwise.mul if op == "addcmul" else elementwise.div)(scaled, tensor2))


def round_(self: Tensor, *, decimals: int | None = None) -> Tensor:
    """Round half to even, to ``decimals`` places (1: tenths, -1: tens), as ``torch.round``; integer tensors stay
    as they are (given ``decimals``, even 0, they raise, as in torch). The gradient is zero. See ``unary.rounded``."""
    return unary.rounded(self, "round", decimals)


def allclose(self: Tensor, other: TensorLike, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """Whether ``isclose`` holds everywhere (a Python bool; True for empty tensors)."""
    return bool(binary.isclose(self, other, rtol, atol, equal_nan)._data.all())


def equal(self: Tensor, other: Tensor) -> bool:
    """Whether both tensors have the same shape and equal values (compared in the promoted dtype, so an int64 1 equals
    a float32 1.0; nan equals nothing), a Python bool, as ``torch.equal``."""
    if not isinstance(other, Tensor):
        raise TypeError(f"equal: other must be a Tensor (as in torch), got {type(other).__name__}")
    return self.shape == other.shape and bool(elementwise.compare(self, other, "equal")._data.all())


def _rounding(how: str) -> Callable[[Tensor], Tensor]:
    """floor / ceil / trunc, elementwise (integer tensors as they are; the gradient is zero): ``unary.rounded``."""
    def method(self: Tensor) -> Tensor:
        return unary.rounded(self, how)
    method.__name__ = how
    method.__doc__ = f"{how} of each element, in this tensor's dtype (integer tensors as they are); zero gradient."
    return method


def _elementwise_test(name: str) -> Callable[[Tensor], Tensor]:
    """isnan / isinf / isfinite / logical_not: a bool tensor, never part of a graph."""
    def test(self: Tensor) -> Tensor:
        return Tensor(getattr(self.xp, name)(self._data), device=self.device)
    test.__name__ = name
    return test


def _new(fill: str) -> Callable[..., Tensor]:
    """``x.new_zeros(shape)`` and friends: a new tensor with x's dtype and device unless told."""
    def new(self: Tensor, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
            **named: Any) -> Tensor:
        if named:  # torch's keywords: new_zeros(size=(2, 3)), new_full(size=(2,), fill_value=7)
            size = size + tuple(named.pop(k) for k in ("size", "fill_value")[len(size):] if k in named)
            if named or len(size) != (2 if fill == "full" else 1):
                raise TypeError(f"new_{fill}(): unexpected or missing arguments {sorted(named) or 'size'}")
        shape = _sizes(size[:1]) if fill == "full" else _sizes(size)
        dev = backend.parse_device(self.device if device is None else str(device))
        xp = backend.xp_of(dev)
        with backend.device_context(dev):
            dt = self.dtype if dtype is None else dtype
            data = xp.full(shape, check_fits("new_full", size[1], dt), dtype=dt) if fill == "full" \
                else getattr(xp, fill)(shape, dtype=dt)
        return Tensor(data, requires_grad=requires_grad, device=dev)
    return new


def new_tensor(self: Tensor, data: Any, *, dtype: Any = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
    """A copy of ``data`` in x's dtype and on x's device unless told (torch's rule: not inferred from the data)."""
    if isinstance(data, Tensor):
        warn_copy_construct("tensor.new_tensor(sourceTensor)")
        data = data._data
    return tensor(data, dtype=self.dtype if dtype is None else dtype, device=self.device if device is None else device,
                  requires_grad=requires_grad)


def _float_unary(op: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    def method(self: Tensor) -> Tensor:
        return op(_floating(self))
    method.__name__ = op.__name__
    method.__doc__ = op.__doc__
    return method


def softplus(self: Tensor, beta: float = 1.0) -> Tensor:
    return elementwise.softplus(self, beta)


def _condition(cond: TensorLike, *operands: Any) -> TensorLike:
    """The condition of a ``where`` whose backward will read it: a private copy, so that writing into the mask in
    place before backward cannot change the gradient (the condition is not an input the version check sees)."""
    if isinstance(cond, Tensor) and is_grad_enabled() and builtins.any(
            isinstance(x, Tensor) and x.requires_grad for x in operands):
        return Tensor(cond._data.copy(), device=cond.device)
    return cond


def masked_fill(self: Tensor, mask: TensorLike, value: Any) -> Tensor:
    """``value`` (a number or 0-d tensor) where the bool ``mask`` holds, else this tensor, both broadcast to one
    shape (``masked_fill_`` keeps this tensor's)."""
    m = mask if isinstance(mask, Tensor) else Tensor(numpy.asarray(mask), device=self.device)
    if m.dtype != numpy.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got dtype {m.dtype}")
    if m.shape != self.shape:
        elementwise.broadcast_shape("masked_fill", self.shape, m.shape)
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ValueError(f"masked_fill: the value must be a number or a 0-d tensor, got shape {value.shape} (use "
                         f"where(mask, value, x) to fill from a tensor)")
    if isinstance(value, Tensor) and value.dtype != self.dtype:  # torch checks a 0-d value too (300 into uint8,
        check_fits("masked_fill", value.item(), self.dtype)  # an int32 -2**31 into float16 raise)
    value = value.astype(self.dtype) if isinstance(value, Tensor) else check_fits("masked_fill", value, self.dtype)
    return elementwise.where(_condition(m, self, value), as_tensor(value, like=self).astype(self.dtype), self)


def where(self: Tensor, condition: TensorLike, other: TensorLike) -> Tensor:
    """``x.where(cond, y)``: this tensor where ``condition`` holds, else ``other``."""
    return elementwise.where(_condition(condition, self, other), self, other)


# ---------------------------------------------------------------------------------------------- reductions
def sum_(self: Tensor, dim: Dim = None, keepdim: bool = False, *, dtype: Any = None,
        axis: Dim = None, keepdims: bool = False) -> Tensor:
    x = self if dtype is None else to(self, dtype=dtype)
    if x.dtype.kind in "bu":  # torch sums bool and uint8 as int64 (numpy: uint64)
        x = elementwise.astype(x, numpy.int64)
    return _in_dtype(reduce.sum(x, _reduce_dims(dim, axis), keepdim or keepdims), dtype)


def _in_dtype(out: Tensor, dtype: Any) -> Tensor:
    """A sum's or product's result in the ``dtype=`` asked for: torch accumulates an integer one in it (wrapping
    around), which the int64 result cast to it equals."""
    return out if dtype is None or out.dtype == numpy.dtype(dtype) else elementwise.astype(out, dtype)


def mean(self: Tensor, dim: Dim = None, keepdim: bool = False, *, dtype: Any = None,
         axis: Dim = None, keepdims: bool = False) -> Tensor:
    """The mean over ``dim`` (all dims when None). With a ``dtype`` narrower than a float input's (float16 of a
    float32), the mean is taken in the input's dtype and then cast, as torch's; otherwise the input is cast first."""
    narrower = dtype is not None and self.dtype.kind == "f" and numpy.dtype(dtype).kind == "f" \
        and numpy.dtype(dtype).itemsize < self.dtype.itemsize
    x = self if dtype is None or narrower else to(self, dtype=dtype)
    if x.dtype.kind not in "fc":
        raise DtypeError(f"mean() needs a floating-point tensor, got dtype {x.dtype}; convert with .float()")
    result = reduce.mean(x, _reduce_dims(dim, axis), keepdim or keepdims)
    return to(result, dtype=dtype) if narrower else result


def _extreme(name: str, self: Tensor, dim: Any, keepdim: bool, axis: Any, keepdims: bool) -> Any:
    if isinstance(dim, Tensor):  # torch.max(a, b): the elementwise maximum
        return (elementwise.maximum if name == "max" else elementwise.minimum)(self, dim)
    keepdim = keepdim or keepdims  # (torch's argument parser takes numpy's keepdims= and axis= too)
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{name}() got both dim={dim} and axis={axis}; pass one")
        if isinstance(axis, (list, tuple)):  # numpy's call over several axes (torch refuses it): values only
            return getattr(reduce, name)(self, _dim(None, axis), keepdim)
        dim = axis
    if dim is None:
        return getattr(reduce, name)(self, None, False)
    dim = _dim(_one_dim(name, dim), None)  # an int (a float or bool dim raises TypeError, as torch's)
    indices = _arg(name, self, dim, True, name)
    values = index.gather(self, dim, indices)
    if not keepdim:  # (values in memory of their own, as torch's: not a view a detach_() would refuse)
        values, indices = movement.clone(squeeze(values, dim)), squeeze(indices, dim)
    return ValuesIndices(values, indices)


def max_(self: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Dim = None,
        keepdims: bool = False, other: Tensor | None = None) -> Any:
    """The largest value (a 0-d tensor); with ``dim``, ``(values, indices)`` along it (the gradient goes to the
    index returned, the first of ties); with another tensor, the elementwise maximum. ``axis=`` is ``dim=`` (as
    torch reads it); a tuple of axes (numpy's call, which torch refuses) gives the values only, with the gradient
    split among ties. ``other=`` is torch's keyword for the elementwise form."""
    return _extreme("max", self, _other_as_dim("max", dim, other), keepdim, axis, keepdims)


def min_(self: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Dim = None,
        keepdims: bool = False, other: Tensor | None = None) -> Any:
    """The smallest value; see ``max``."""
    return _extreme("min", self, _other_as_dim("min", dim, other), keepdim, axis, keepdims)


def _other_as_dim(op: str, dim: Any, other: Tensor | None) -> Any:
    """max / min's ``other=`` keyword (torch's elementwise overload), which shares the ``dim`` position."""
    if other is None:
        return dim
    if dim is not None:
        raise TypeError(f"{op}(): give either dim or other (the elementwise {op}imum), not both")
    if not isinstance(other, Tensor):
        raise TypeError(f"{op}(): other must be a Tensor, got {type(other).__name__}; wrap it with tensor(...)")
    return other


def _amax_axes(self: Tensor, dim: Dim) -> Any:
    """amax / amin's ``dim``, every axis when empty: named, so that a NaN result gets torch's amax gradient (NaN),
    not ``max()``'s (to the NaN element)."""
    d = _reduce_dims(dim, None)
    return tuple(range(self.ndim)) if d is None else d


def amax(self: Tensor, dim: Dim = (), keepdim: bool = False) -> Tensor:
    """Largest values over ``dim`` (all dims when empty); the gradient is split evenly among ties."""
    return reduce.max(self, _amax_axes(self, dim), keepdim)


def amin(self: Tensor, dim: Dim = (), keepdim: bool = False) -> Tensor:
    return reduce.min(self, _amax_axes(self, dim), keepdim)


def _arg(name: str, self: Tensor, dim: int | None, keepdim: bool, op: str = "") -> Tensor:
    """int64 indices of the largest (``name`` "max") or smallest values; ``op`` names the caller in errors."""
    if not op and self.dtype == numpy.bool_:  # torch's argmax / argmin refuse bool (its max(dim) takes it)
        raise DtypeError(f"arg{name}(): does not support bool input (as in torch); cast it first, e.g. x.int()")
    if dim is not None:
        reduce._axes(dim, self.ndim)  # range check (a 0-d tensor takes 0 and -1)
    if self._data.size == 0 and (dim is None or self.shape[dim] == 0):  # an empty dim kept gives an empty result
        raise reduce.DimError(
            f"{op or 'arg' + name}() of an empty tensor with shape {self.shape}"
            + ("" if dim is None else f" over its empty dim {dim}"))
    xp = self.xp
    fn = xp.argmax if name == "max" else xp.argmin
    if dim is None:
        out = fn(self._data)
        if keepdim:
            out = out.reshape((1,) * self.ndim)
    else:
        out = fn(self._data, axis=dim)
        if keepdim:
            out = xp.expand_dims(out, dim % max(self.ndim, 1)) if self.ndim else out
    return Tensor(xp.asarray(out).astype(numpy.int64, copy=False), device=self.device)


def argmax(self: Tensor, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None) -> Tensor:
    """int64 index of the largest value (over the flattened tensor without ``dim``); NaN counts as largest."""
    return _arg("max", self, _dim(dim, axis), keepdim)


def argmin(self: Tensor, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None) -> Tensor:
    return _arg("min", self, _dim(dim, axis), keepdim)


def logsumexp(self: Tensor, dim: Dim = None, keepdim: bool = False, *, axis: Dim = None,
              keepdims: bool = False) -> Tensor:
    d = _dim(dim, axis)
    if d == ():
        raise ValueError("logsumexp: dim must name at least one dim (as in torch); pass dim=tuple(range(x.ndim)) "
                         "for all of them")
    return reduce.logsumexp(self, d, keepdim or keepdims)


def softmax(self: Tensor, dim: int | None = None, dtype: Any = None, *, axis: int | None = None) -> Tensor:
    """softmax along ``dim``, computed in ``dtype`` when given (the input cast first, as torch's)."""
    return reduce.softmax(self if dtype is None else to(self, dtype=dtype), _dim(dim, axis, -1))


def log_softmax(self: Tensor, dim: int | None = None, dtype: Any = None, *, axis: int | None = None) -> Tensor:
    """log softmax along ``dim``, computed in ``dtype`` when given (the input cast first, as torch's)."""
    return reduce.log_softmax(self if dtype is None else to(self, dtype=dtype), _dim(dim, axis, -1))


def _correction(dim: Any, unbiased: Any, correction: Any) -> tuple[Any, float]:
    if isinstance(dim, bool):  # torch's old x.std(False)
        dim, unbiased = None, dim
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return dim, float(correction)


def var(self: Tensor, dim: Dim = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None, axis: Dim = None, keepdims: bool = False) -> Tensor:
    """Variance with Bessel's correction by default (``correction=0`` or ``unbiased=False`` for the population)."""
    dim, corr = _correction(dim, unbiased, correction)
    return statistics.var(_floating_only("var", self), _reduce_dims(dim, axis), corr, keepdim or keepdims)


def std(self: Tensor, dim: Dim = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None, axis: Dim = None, keepdims: bool = False) -> Tensor:
    """Standard deviation, the square root of ``var`` (same arguments)."""
    dim, corr = _correction(dim, unbiased, correction)
    return statistics.std(_floating_only("std", self), _reduce_dims(dim, axis), corr, keepdim or keepdims)


def norm(self: Tensor, p: Any = "fro", dim: Dim = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
    """The p-norm over ``dim`` (all elements by default): p = 2 / "fro", 1, inf, -inf or any other number, or
    "nuc" (the nuclear norm over two dims, as torch.linalg.matrix_norm); ``dtype`` casts the input first."""
    from .linalg import _floating_input  # (with dtype=: an integer input still raises; a widening cast only)

    x = _floating_only("norm", self) if dtype is None else _floating_input("vector_norm", self, dtype)
    d = _reduce_dims(dim, None)
    if p == "nuc":
        if d is None and x.ndim != 2:
            raise RuntimeError(f"norm: p='nuc' without dim needs a 2-D input (as torch), got {x.ndim}-D")
        from .linalg import matrix_norm
        return matrix_norm(x, "nuc", (0, 1) if d is None else d, keepdim)
    if p == "fro":
        p = 2
    if p == 1:
        return reduce.sum(elementwise.abs(x), d, keepdim)
    if isinstance(p, (int, float)) and not isinstance(p, bool) and (0 < p <= math.inf or p == -math.inf):
        return statistics.norm(x, float(p), d, keepdim)
    if isinstance(p, (int, float)) and not isinstance(p, bool) and not math.isnan(p):  # 0 and p < 0, as torch's
        from .linalg import vector_norm  # (the vector norm over the flattened dims: count of non-zeros, harmonic...)
        return vector_norm(x, p, d, keepdim)
    raise ValueError(f"norm: p={p!r} is not supported (use 'fro', a number, inf or -inf)")


def prod(self: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    x = self if dtype is None else to(self, dtype=dtype)
    if x.dtype.kind in "biu" and x.dtype != numpy.int64:  # (int32 too: a 0-d one skips numpy's promotion)
        x = elementwise.astype(x, numpy.int64)
    return _in_dtype(statistics.prod(x, _one_dim("prod", dim), keepdim), dtype)


def _scan(op: Callable[[Tensor, int], Tensor]) -> Callable[..., Tensor]:
    """cumsum / cumprod with torch's ``dtype=`` and its promotion of bool and integer tensors to int64."""
    def scan(self: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
        if dtype is not None and numpy.dtype(dtype) == numpy.bool_:
            raise NotImplementedError(f"{op.__name__} in dtype bool is not implemented (as torch); use int64")
        x = self if dtype is None else to(self, dtype=dtype)
        if x.dtype.kind in "biu":
            x = elementwise.astype(x, numpy.int64)
        return _in_dtype(op(x, dim), dtype)
    scan.__name__ = op.__name__
    scan.__doc__ = op.__doc__
    return scan


def count_nonzero(self: Tensor, dim: Dim = None) -> Tensor:
    """int64 count of the elements that are not zero (nan counts) over ``dim`` (an int or a tuple; all dims when
    None or empty); the shape is the input's without those dims."""
    d = _dim(dim, None)
    axes = reduce._axes(None if d == () else d, self.ndim)
    return Tensor(self.xp.asarray((self._data != 0).sum(axis=axes), dtype=numpy.int64), device=self.device)


def all_(self: Tensor, dim: Dim = None, keepdim: bool = False) -> Tensor:
    return _truth(self, self.xp.all, dim, keepdim)


def any_(self: Tensor, dim: Dim = None, keepdim: bool = False) -> Tensor:
    return _truth(self, self.xp.any, dim, keepdim)


def _truth(self: Tensor, op: Callable[..., Any], dim: Dim, keepdim: bool) -> Tensor:
    """all / any over ``dim`` (an int, a list or tuple: an empty one reduces nothing, as torch's; all dims when
    None): bool, but uint8 (0 or 1) for a uint8 tensor, as torch."""
    d = _dim(dim, None)
    axes = None if d is None else () if d == () else reduce._axes(d, self.ndim)
    out = op(self._data, axis=axes, keepdims=keepdim)
    return Tensor(out.astype(numpy.uint8) if self.dtype == numpy.uint8 else out, device=self.device)


# ---------------------------------------------------------------------------------------------- index and sort
def scatter(self: Tensor, dim: int, index: Tensor, src: Any = None, *, value: Any = None,
            reduce: str | None = None) -> Tensor:
    """A copy with ``src`` (a tensor, or a number ``value``) written at ``index`` along ``dim``; ``reduce="add"`` or
    ``"multiply"`` adds or multiplies it in instead (torch's deprecated form: no derivative, backward raises)."""
    source = value if src is None else src
    if reduce is None:
        return _index_ops.scatter(self, dim, index, source)
    if reduce not in ("add", "multiply"):
        raise ValueError(f"scatter: reduce must be 'add' or 'multiply', got {reduce!r} (scatter_reduce has more)")
    if isinstance(source, Tensor):
        warnings.warn("scatter(..., src=Tensor, reduce=...) is deprecated; torch.scatter_reduce covers this and "
                      "offers more reductions",
                      UserWarning, stacklevel=2)
    if reduce == "add":
        out = _index_ops.scatter_add(self, dim, index, source)
    else:
        factors = source if isinstance(source, Tensor) else Tensor(self.xp.broadcast_to(
            _index_ops.number_as("scatter", source, self), index.shape).copy(), device=self.device)
        out = _index_ops.scatter_reduce(self, dim, index, factors, "prod", True)
    return no_derivative(f"scatter with reduce={reduce!r}", out, self, source)


def no_derivative(op: str, out: Tensor, *inputs: Any) -> Tensor:
    """``out``'s values, recorded as an op of ``inputs`` whose backward raises, as torch's where it has no
    derivative (so a gradient never silently skips it)."""
    def backward(g: Any) -> tuple[Any, ...]:
        raise RuntimeError(f"the derivative for {op} is not implemented (as in torch); detach its inputs")
    return record(op.split()[0], out._data, tuple(t for t in inputs if isinstance(t, Tensor)), backward)


def sort_values(self: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> ValuesIndices:
    """(values, indices) sorted along ``dim`` (always stable; NaN as the largest value)."""
    return ValuesIndices(*sort.sort(self, dim, descending))


def argsort(self: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    return sort.argsort(self, dim, descending)


def topk(self: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> ValuesIndices:  # noqa: A002
    """The k largest (``largest=False``: smallest) along ``dim``, as (values, indices), always in sorted order."""
    return ValuesIndices(*sort.topk(self, k, dim, largest))


def tril(self: Tensor, diagonal: int = 0) -> Tensor:
    return movement.tril(self, diagonal)


def triu(self: Tensor, diagonal: int = 0) -> Tensor:
    return movement.triu(self, diagonal)


def gather(self: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    """Values at ``index`` along ``dim``; ``sparse_grad`` (torch's sparse gradient) gives the same dense one here."""
    return _index_ops.gather(self, dim, index)


def index_select(self: Tensor, dim: int, index: Tensor) -> Tensor:
    if not isinstance(self, Tensor) and self.is_sparse:  # torch.index_select(sparse COO matrix): sparse.py
        return self.index_select(dim, index)
    return _index_ops.index_select(self, dim, index)


def nonzero(self: Tensor, *, as_tuple: bool = False) -> Tensor | tuple[Tensor, ...]:
    return index.nonzero(self, as_tuple)


def bincount(self: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    return index.bincount(self, weights, minlength)


def kthvalue(self: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> ValuesIndices:
    """(values, indices) of the k-th smallest along ``dim`` (1-based; NaN as the largest)."""
    return ValuesIndices(*sort.kthvalue(self, k, dim, keepdim))


def median(self: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """The lower median (NaN if any NaN): of all elements as a 0-d tensor, or with ``dim`` (values, indices)."""
    out = sort.median(self, dim, keepdim)
    return out if dim is None else ValuesIndices(*out)


# ---------------------------------------------------------------------------------------------- movement
def repeat(self: Tensor, *sizes: Any, **kwargs: Any) -> Tensor:
    """Tile: ``x.repeat(2, 3)`` or ``x.repeat(repeats=(2, 3))`` (torch's repeat; numpy's repeat is
    ``repeat_interleave``)."""
    sizes = _keyword_sizes("repeat", "repeats", sizes, kwargs)
    if not sizes:
        raise TypeError("repeat() needs the repeat sizes, one per dim at least: x.repeat(2, 3)")
    return movement.repeat(self, _sizes(sizes))


def repeat_interleave(self: Tensor, repeats: int | Tensor, dim: int | None = None, *,
                      output_size: int | None = None) -> Tensor:
    out = movement.repeat_interleave(self, repeats, dim)
    if output_size is not None and output_size != out.shape[0 if dim is None else dim]:
        raise ValueError(f"repeat_interleave: output_size={output_size} differs from the repeated length")
    return out


def repeat_interleave_function(input: Tensor, repeats: int | Tensor | None = None, dim: int | None = None, *,  # noqa: A002
                               output_size: int | None = None) -> Tensor:
    """torch.repeat_interleave; with ``repeats`` left out, ``input`` is the repeats (a 1-D integer tensor) and the
    result repeats each position i ``input[i]`` times (``[1, 0, 2]`` -> ``[0, 2, 2]``), in input's dtype."""
    if repeats is None:
        if not isinstance(input, Tensor) or input.ndim != 1 or input.dtype.kind not in "iu":
            raise ValueError("repeat_interleave(repeats): repeats must be a 1-D integer tensor, got "
                             f"{getattr(input, 'shape', input)}")
        positions = Tensor(input.xp.arange(input.shape[0], dtype=input.dtype), device=input.device)
        return repeat_interleave(positions, input, 0, output_size=output_size)
    return _function("repeat_interleave")(input, repeats, dim, output_size=output_size)


def flip(self: Tensor, *dims_: Any, dims: Any = None) -> Tensor:
    """Reverse along ``dims`` (``x.flip(0, 1)``, ``x.flip((0, 1))`` or ``torch.flip(x, dims=(0, 1))``)."""
    return movement.flip(self, _sizes(dims_) if dims is None else dims)


def roll(self: Tensor, shifts: int | Sequence[int], dims: int | Sequence[int] | None = None) -> Tensor:
    return movement.roll(self, shifts, dims)


def movedim(self: Tensor, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    return movement.movedim(self, source, destination)


def addmm(self: Tensor, mat1: Tensor, mat2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
    return linalg.addmm(self, mat1, mat2, beta, alpha)


# ---------------------------------------------------------------------------------------------- in place
def add_(self: Tensor, other: TensorLike, *, alpha: float = 1) -> Tensor:
    return inplace.inplace(self, "add_", lambda a: add(a, other, alpha=alpha), other)


def sub_(self: Tensor, other: TensorLike, *, alpha: float = 1) -> Tensor:
    return inplace.inplace(self, "sub_", lambda a: sub(a, other, alpha=alpha), other)


def mul_(self: Tensor, other: TensorLike) -> Tensor:
    return inplace.inplace(self, "mul_", lambda a: elementwise.mul(a, other), other)


def div_(self: Tensor, other: TensorLike, *, rounding_mode: str | None = None) -> Tensor:
    return inplace.inplace(self, "div_", lambda a: div(a, other, rounding_mode=rounding_mode), other,
                           twin=rounding_mode is not None)  # (the node is div_rounded's: true division's is not)


def pow(self: TensorLike, exponent: TensorLike) -> Tensor:  # noqa: A001 - torch's name
    """``self ** exponent`` under torch's argument names (``x.pow(exponent=2)``, ``torch.pow(2, exponent=t)``)."""
    return elementwise.pow(self, exponent)


def pow_(self: Tensor, exponent: TensorLike) -> Tensor:
    return inplace.inplace(self, "pow_", lambda a: elementwise.pow(a, exponent), exponent)


def clamp_(self: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    return inplace.inplace(self, "clamp_", lambda a: clamp(a, min, max), min, max)


def masked_fill_(self: Tensor, mask: TensorLike, value: Any) -> Tensor:
    return inplace.inplace(self, "masked_fill_", lambda a: masked_fill(a, mask, value), value)


def _constant(self: Tensor, data: Any) -> Tensor:
    return Tensor(data, device=self.device)


def zero_(self: Tensor) -> Tensor:
    return inplace.inplace(self, "zero_", lambda a: _constant(a, a.xp.zeros_like(a._data)))


def fill_(self: Tensor, value: Any) -> Tensor:
    """Every element set to ``value``, a number or a 0-d Tensor (differentiable: its gradient is g's sum)."""
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"fill_: the value must be a number or a 0-d tensor, got one of shape {value.shape}")
        inplace.refuse_repeats(self, "fill_")  # (torch fills an expand with a number only)
        return inplace.inplace(self, "fill_", lambda a: movement.broadcast_to(
            movement.to(value, a.device).to(a.dtype), a.shape), value)
    v = check_fits("fill_", value, self.dtype)
    return inplace.inplace(self, "fill_", lambda a: _constant(a, a.xp.full_like(a._data, v)))


def copy_(self: Tensor, src: TensorLike, non_blocking: bool = False) -> Tensor:
    """Copy ``src``'s values in (broadcast to this shape, cast to this dtype, moved to this device);
    ``non_blocking`` is accepted as torch's and ignored (the copy is synchronous)."""
    def compute(a: Tensor) -> Tensor:
        s = as_tensor(src, like=a)
        s = movement.to(s, a.device)
        if s.dtype != a.dtype:
            s = elementwise.astype(s, a.dtype)
        return movement.broadcast_to(s, a.shape) if s.shape != a.shape else movement.clone(s)
    return inplace.inplace(self, "copy_", compute, src)


def _continuous_only(op: str, self: Tensor) -> None:
    """Samples of a continuous distribution go into floating tensors only (torch has no integer or bool kernel:
    NotImplementedError; ours is also a TypeError, what it raised before). nn.init's random fills use it too."""
    if self.dtype.kind != "f":
        raise KernelDtypeError(f"{op}: a continuous distribution needs a floating tensor, got dtype {self.dtype}; "
                               f"make the tensor floating (e.g. dtype=float32), then convert with .to({self.dtype}) "
                               f"if needed")


def normal_(self: Tensor, mean: float = 0.0, std: float = 1.0, *, generator: Generator | None = None) -> Tensor:
    """Fill with normal samples of ``mean`` and ``std`` (>= 0, as torch's: a negative one raises)."""
    _continuous_only("normal_", self)
    if not std >= 0:
        raise ValueError(f"normal_: std={std} is negative")

    def compute(a: Tensor) -> Tensor:
        z = backend.standard_normal(a.device, a.shape, a.dtype, _rng(generator, a.device))
        return _constant(a, z * a.dtype.type(std) + a.dtype.type(mean))
    return inplace.inplace(self, "normal_", compute)


def uniform_(self: Tensor, a: float = 0.0, b: float = 1.0, *, generator: Generator | None = None) -> Tensor:
    """Fill with uniform samples in [a, b) (``a > b`` raises, as torch's)."""
    _continuous_only("uniform_", self)
    if a > b:
        raise ValueError(f"uniform_: the lower end {a} is above the upper end {b}")

    def compute(t: Tensor) -> Tensor:
        u = backend.uniform(t.device, t.shape, t.dtype, _rng(generator, t.device))
        return _constant(t, u * t.dtype.type(b - a) + t.dtype.type(a))
    return inplace.inplace(self, "uniform_", compute)


def bernoulli_(self: Tensor, p: TensorLike = 0.5, *, generator: Generator | None = None) -> Tensor:
    """Fill with 1 at probability ``p`` (a number, or a tensor broadcasting to this shape; each in [0, 1]), else 0."""
    probs = p._data if isinstance(p, Tensor) else p
    if isinstance(p, Tensor) and numpy.broadcast_shapes(p.shape, self.shape) != self.shape:
        raise ValueError(f"bernoulli_: p of shape {p.shape} does not broadcast to the tensor's shape {self.shape}")
    return inplace.inplace(self, "bernoulli_", lambda a: _constant(
        a, bernoulli_draws("bernoulli_", probs, a.shape, a.dtype, a.device, generator)))


def exponential_(self: Tensor, lambd: float = 1.0, *, generator: Generator | None = None) -> Tensor:
    """Fill with exponential samples of rate ``lambd`` (> 0, mean 1 / lambd); floating tensors only."""
    _continuous_only("exponential_", self)
    if not lambd > 0:
        raise ValueError(f"exponential_: lambd must be > 0, got {lambd}")
    return inplace.inplace(self, "exponential_", lambda a: _constant(
        a, (-a.xp.log1p(-uniform64(a.device, a.shape, generator)) / lambd).astype(a.dtype)))


def geometric_(self: Tensor, p: float, *, generator: Generator | None = None) -> Tensor:
    """Fill with the number of Bernoulli(``p``) trials up to the first success (1, 2, ...); ``p`` in (0, 1)."""
    if not 0 < p < 1:
        raise ValueError(f"geometric_: p must lie in (0, 1), got {p}")
    if self.dtype.kind == "b":
        raise TypeError("geometric_: not implemented for bool tensors (as in torch)")
    return inplace.inplace(self, "geometric_", lambda a: _constant(a, (a.xp.floor(
        a.xp.log1p(-uniform64(a.device, a.shape, generator)) / numpy.log1p(-p)) + 1).astype(a.dtype)))


def random_(self: Tensor, *bounds: int | None, generator: Generator | None = None) -> Tensor:
    """Fill with integers uniform in [from, to): ``random_(from, to)``, ``random_(to)`` (from 0), or without ``to``
    up to the dtype's largest integer (2**24 for float32, as torch: every one representable)."""
    if len(bounds) > 2:
        raise TypeError(f"random_ takes (from, to), (to) or nothing, got {len(bounds)} arguments")
    low, high = (0, bounds[0]) if len(bounds) == 1 else bounds if bounds else (0, None)
    dt = self.dtype
    bottom, top = (-(2 ** (numpy.finfo(dt).nmant + 1)), 2 ** (numpy.finfo(dt).nmant + 1)) if dt.kind == "f" else \
        (0, 1) if dt.kind == "b" else (int(numpy.iinfo(dt).min), int(numpy.iinfo(dt).max))
    high = min(top + 1, 2 ** 63 - 1) if high is None else int(high)
    if low >= high:
        raise ValueError(f"random_: from must be less than to, got from={low}, to={high}")
    if dt.kind != "f" and (low < bottom or high - 1 > top):
        raise ValueError(f"random_: [{low}, {high}) does not fit in dtype {dt} ([{bottom}, {top}])")
    return inplace.inplace(self, "random_", lambda a: _constant(
        a, backend.integers(a.device, int(low), high, a.shape, _rng(generator, a.device)).astype(dt)))


def setitem(self: Tensor, key: Any, value: TensorLike) -> None:
    """``x[key] = value``: an in-place write (differentiable with respect to both when recorded). ``x[False] = v``
    does nothing, as in torch (no check of ``v``, nothing recorded: ``v`` gets no gradient from it)."""
    if key is False:
        index.written_number(value, self.dtype)  # (torch reads a number even when nothing is written)
        return
    if not inplace.stores_itself(self, key, value):  # (``x[key] += v`` has updated the view x[key] already)
        inplace.check_setitem_overlap(self, key, value)
        view = inplace.view_to_set(self, key)  # (an expand: torch writes the view its basic key takes)
        if view is not None:
            self, key = view, Ellipsis
        inplace.inplace(self, "__setitem__", lambda a: index.index_put(a, key, value), value)


def _iop(method: Callable[..., Tensor]) -> Callable[[Tensor, TensorLike], Tensor]:
    def op(self: Tensor, other: TensorLike) -> Tensor:
        return method(self, other)
    return op


# ---------------------------------------------------------------------------------------------- Python protocols
def _scalar(kind: Callable[[Any], Any]) -> Callable[[Tensor], Any]:
    def convert(self: Tensor) -> Any:
        return kind(self.item())
    return convert


_float_warned = [False]  # torch warns once per process


def warn_scalar_of_grad(t: Tensor, stacklevel: int) -> None:
    """torch's once-per-process UserWarning for ``t`` read as a Python float while it requires grad (grad mode on):
    by ``float(t)`` or inside ``torch.tensor``'s nested data; ``stacklevel`` counts from the caller of this."""
    if t.requires_grad and is_grad_enabled() and not _float_warned[0]:
        _float_warned[0] = True
        warnings.warn("Reading a Python number from a tensor that requires grad drops it from the graph; "
                      "detach() it first to say that is meant", UserWarning, stacklevel=stacklevel + 1)


def _float(self: Tensor) -> float:
    """``float(loss)``; the first of a tensor that requires grad (grad mode on) warns, once, as torch's."""
    warn_scalar_of_grad(self, 2)
    return float(self.item())


def _format(self: Tensor, spec: str) -> str:
    """``f"{loss:.4f}"``: a plain 0-d Tensor formats its ``item()``, as torch's; anything else (a Parameter, more
    dims) formats as ``object`` does: ``str()`` for an empty spec, TypeError for any other."""
    if self.ndim == 0 and type(self) is Tensor:
        return format(self.item(), spec)
    return object.__format__(self, spec)


def _iter(self: Tensor) -> Any:
    """``for row in t``: the views ``t[0]``, ``t[1]``, ...; a 0-d tensor raises TypeError, as torch's."""
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (self[i] for i in builtins.range(self.shape[0]))


def _reversed(self: Tensor) -> Tensor:
    """``reversed(t)``: ``t.flip(0)`` (a 0-d tensor is itself), a Tensor as torch's."""
    return self if self.ndim == 0 else flip(self, 0)


def _contains(self: Tensor, element: Any) -> bool:
    """``x in t``: whether any element of ``t == x`` (x a number or a tensor broadcasting against t), as torch's;
    anything else raises RuntimeError."""
    if not isinstance(element, (Tensor, numbers.Number, numpy.generic)):
        raise RuntimeError(f"`x in tensor` takes a Tensor or a Python number on the left, not {type(element)}")
    return bool((self == element).any())


def _array_wrap(self: Tensor, array: numpy.ndarray, context: Any = None, return_scalar: bool = False) -> Any:
    """numpy's ufuncs on a tensor (``np.add(t, 1)``, ``np.exp(t)``) give a Tensor, as torch's: numpy's values and
    dtype, a bool result as uint8 (torch's rule); an array of a dtype no tensor holds stays an array."""
    array = numpy.asarray(array)
    if array.dtype == numpy.bool_:
        array = array.astype(numpy.uint8)
    try:
        return Tensor(array)
    except (TypeError, ValueError, NotImplementedError):
        return array


def _getstate(self: Tensor) -> tuple[None, dict[str, Any]]:
    """``pickle`` / ``copy.copy``: the values and ``requires_grad``, cut from the graph (a result pickles as a leaf)
    and without ``.grad``, as torch's."""
    state = {name: getattr(self, name) for name in ("_data", "_epoch", "requires_grad")}
    state.update(_backward=None, _grad=None, _op="", _parents=())
    return (self.__dict__ or None), state


def _array(self: Tensor, dtype: Any = None, copy: bool | None = None) -> numpy.ndarray:
    """numpy's protocol (``np.asarray(t)``, ``np.array([loss0, loss1])``, ``plt.plot(t)``): the host array, as
    ``numpy()`` gives it (the tensor's own on the CPU, a copy from the GPU); ``dtype`` converts, ``copy=True``
    copies, and ``copy=False`` raises ValueError where a copy cannot be avoided (numpy's rule)."""
    array = self.numpy()
    convert = dtype is not None and array.dtype != numpy.dtype(dtype)
    if copy is False and (convert or self.device != "cpu"):
        raise ValueError(f"__array__(copy=False): a {self.dtype} tensor on {self.device} cannot become a "
                         f"{numpy.dtype(dtype) if convert else self.dtype} numpy array without a copy")
    return array.astype(dtype) if convert else array.copy() if copy else array


def _dlpack(self: Tensor, *, stream: Any = None, max_version: Any = None, dl_device: Any = None,
            copy: bool | None = None) -> Any:
    """The DLPack protocol (``numpy.from_dlpack(t)``, ``torch.from_dlpack(t)``): the array's capsule, sharing its
    memory; a tensor that requires grad raises BufferError, as torch's."""
    if self.requires_grad:
        raise BufferError("Can't export tensors that require gradient, use tensor.detach()")
    options = {"stream": stream, "max_version": max_version, "dl_device": dl_device, "copy": copy}
    return own_array(self).__dlpack__(**{k: v for k, v in options.items() if v is not None})


def _dlpack_device(self: Tensor) -> tuple[int, int]:
    """(DLPack device type, index): (1, 0) on the CPU, (2, n) on CUDA device n."""
    return own_array(self).__dlpack_device__()


def _index(self: Tensor) -> int:
    """``operator.index(t)`` (``lst[t]``, ``range(t)``): a one-element integer or bool tensor, as torch's."""
    if self.dtype.kind not in "biu" or self.numel() != 1:
        raise TypeError(f"a tensor used as an index must be an integer tensor with one element; this one has dtype "
                        f"{self.dtype} and shape {tuple(self.shape)}")
    return int(self.item())


def mm(self: Tensor, mat2: Tensor) -> Tensor:
    """Matrix (n, k) times matrix (k, m) -> (n, m); no broadcasting (``matmul`` broadcasts). A sparse COO ``self``
    (sparse.py): ``sparse.mm``."""
    if self.is_sparse:
        return self.mm(mat2)
    if self.ndim != 2 or mat2.ndim != 2 or self.shape[1] != mat2.shape[0]:
        raise ArgumentError(f"mm: needs matrices (n, k) and (k, m), got {self.shape} and {mat2.shape}")
    return linalg.matmul(self, mat2)


def bmm(self: Tensor, mat2: Tensor) -> Tensor:
    """Batches of matrices (b, n, k) times (b, k, m) -> (b, n, m), one batch size (no broadcasting)."""
    if self.ndim != 3 or mat2.ndim != 3 or self.shape[0] != mat2.shape[0] or self.shape[2] != mat2.shape[1]:
        raise ValueError(f"bmm: needs batches of matrices (b, n, k) and (b, k, m), got {self.shape} and "
                         f"{mat2.shape}")
    return linalg.matmul(self, mat2)


# ---------------------------------------------------------------------------------------------- binding
def _multinomial(self: Tensor, num_samples: int, replacement: bool = False, *,
                 generator: Generator | None = None) -> Tensor:
    return multinomial(self, num_samples, replacement, generator=generator)


METHODS: dict[str, Any] = {
    # shape
    "size": property(_size), "numel": numel, "nelement": numel, "dim": dim, "ndimension": dim,
    "reshape": reshape, "view": lambda self, *shape, **kwargs: view(self, *shape, **kwargs), "view_as": view_as,
    "reshape_as": view_as,
    "transpose": transpose, "swapaxes": transpose, "swapdims": transpose, "permute": permute, "t": t,
    "T": property(_T), "mT": property(_mT), "expand": expand, "expand_as": expand_as,
    "broadcast_to": lambda self, *size, **kwargs: expand(  # (-1 keeps a dim, as torch's)
        self, _sizes(_keyword_sizes("broadcast_to", "size", size, kwargs))),
    "squeeze": squeeze, "unsqueeze": unsqueeze, "flatten": flatten, "split": split, "chunk": chunk,
    "pad": lambda self, pad_width, value=0.0: movement.pad(self, pad_width, value),
    "contiguous": layouts.contiguous, "clone": layouts.clone,  # (memory_format=: see layouts.py)
    # dtype and device
    "to": to, "cpu": cpu, "cuda": cuda, "is_cuda": property(_is_cuda), "type": type_, "type_as": type_as,
    "float": _cast(numpy.float32), "double": _cast(numpy.float64), "half": _cast(numpy.float16), "bfloat16": bfloat16,
    "long": _cast(numpy.int64), "int": _cast(numpy.int32), "bool": _cast(numpy.bool_),
    "is_floating_point": is_floating_point, "element_size": element_size,
    # autograd
    "register_hook": autograd.register_hook, "retain_grad": autograd.retain_grad,
    "retains_grad": property(lambda self: self._retains_grad), "grad_fn": property(autograd.grad_fn),
    # memory layout (strides in elements, as torch counts them)
    "stride": stride, "is_contiguous": layouts.is_contiguous,
    "nbytes": property(lambda self: int(self._data.nbytes)), "itemsize": property(lambda self: self.dtype.itemsize),
    "data_ptr": lambda self: backend.data_ptr(self._data),
    # arithmetic and math
    "add": add, "sub": sub, "subtract": sub, "mul": elementwise.mul, "multiply": elementwise.mul, "div": div,
    "divide": div, "true_divide": elementwise.div, "pow": pow, "neg": elementwise.neg,
    "negative": elementwise.neg, "matmul": linalg.matmul, "mm": mm, "bmm": bmm,
    "eq": lambda self, other: elementwise.compare(self, other, "equal"),
    "ne": lambda self, other: elementwise.compare(self, other, "not_equal"),
    "lt": lambda self, other: elementwise.compare(self, other, "less"),
    "le": lambda self, other: elementwise.compare(self, other, "less_equal"),
    "gt": lambda self, other: elementwise.compare(self, other, "greater"),
    "ge": lambda self, other: elementwise.compare(self, other, "greater_equal"),
    "exp": _float_unary(elementwise.exp), "log": _float_unary(elementwise.log),
    "sqrt": _float_unary(elementwise.sqrt), "tanh": _float_unary(elementwise.tanh),
    "sigmoid": _float_unary(elementwise.sigmoid), "sin": _float_unary(unary.sin), "cos": _float_unary(unary.cos),
    "tan": _float_unary(unary.tan), "log2": _float_unary(unary.log2), "log10": _float_unary(unary.log10),
    "exp2": _float_unary(unary.exp2), "rsqrt": rsqrt, "square": square, "sign": unary.sign,
    "relu": elementwise.relu, "softplus": softplus, "abs": elementwise.abs, "absolute": elementwise.abs,
    "clamp": clamp, "clip": clamp, "maximum": elementwise.maximum, "minimum": elementwise.minimum,
    "masked_fill": masked_fill, "where": where, "isnan": _elementwise_test("isnan"),
    "isinf": _elementwise_test("isinf"), "isfinite": _elementwise_test("isfinite"),
    "new_zeros": _new("zeros"), "new_ones": _new("ones"), "new_full": _new("full"), "new_tensor": new_tensor,
    "round": round_, "floor": _rounding("floor"), "ceil": _rounding("ceil"), "trunc": _rounding("trunc"),
    "fix": _rounding("trunc"), "frac": unary.frac, "log1p": _float_unary(unary.log1p),
    "expm1": _float_unary(unary.expm1), "erf": _float_unary(unary.erf), "reciprocal": _float_unary(unary.reciprocal),
    "sgn": unary.sign, "atan2": binary.atan2, "arctan2": binary.atan2, "logaddexp": binary.logaddexp,
    "hypot": binary.hypot, "fmod": fmod, "lerp": binary.lerp, "heaviside": binary.heaviside,
    "clamp_min": lambda self, min: clamp(self, min=min),  # noqa: A006 - torch's names
    "clamp_max": lambda self, max: clamp(self, max=max),  # noqa: A006
    "nan_to_num": unary.nan_to_num, "logical_not": _elementwise_test("logical_not"),
    "logical_and": lambda self, other: elementwise.compare(self, other, "logical_and"),
    "logical_or": lambda self, other: elementwise.compare(self, other, "logical_or"),
    "logical_xor": lambda self, other: elementwise.compare(self, other, "logical_xor"),
    "isclose": binary.isclose, "allclose": allclose, "equal": equal, "count_nonzero": count_nonzero,
    # reductions
    "sum": sum_, "mean": mean, "max": max_, "min": min_, "amax": amax, "amin": amin, "argmax": argmax,
    "argmin": argmin, "logsumexp": logsumexp, "softmax": softmax, "log_softmax": log_softmax, "var": var,
    "std": std, "norm": norm, "prod": prod, "cumsum": _scan(statistics.cumsum), "all": all_, "any": any_,
    # index and sort
    "gather": gather, "scatter": scatter,
    "scatter_add": lambda self, dim, index, src: _index_ops.scatter_add(self, dim, index, src),
    "sort": sort_values, "argsort": argsort, "topk": topk, "tril": tril, "triu": triu, "multinomial": _multinomial,
    "index_select": index_select, "nonzero": nonzero, "argwhere": index.nonzero,
    "nonzero_static": lambda self, *, size, fill_value=-1: index.nonzero_static(self, size, fill_value),
    "bincount": bincount,
    "kthvalue": kthvalue, "median": median, "unique": sort.unique, "cumprod": _scan(statistics.cumprod),
    # movement and small linalg
    "repeat": repeat, "repeat_interleave": repeat_interleave, "flip": flip, "roll": roll, "movedim": movedim,
    "moveaxis": movedim, "unbind": movement.unbind, "narrow": movement.narrow, "diagonal": movement.diagonal,
    "diag": linalg.diag, "outer": linalg.outer, "ger": linalg.outer, "addmm": addmm,
    # in place
    "add_": add_, "sub_": sub_, "mul_": mul_, "div_": div_, "pow_": pow_, "clamp_": clamp_, "clip_": clamp_,
    "masked_fill_": masked_fill_, "zero_": zero_, "fill_": fill_, "copy_": copy_, "normal_": normal_,
    "uniform_": uniform_, "__setitem__": setitem, "__format__": _format, "__iter__": _iter,
    "__reversed__": _reversed, "__contains__": _contains, "__getstate__": _getstate, "__array_wrap__": _array_wrap,
    "__float__": _float, "__int__": _scalar(int), "__index__": _index,  # & | ^ ~ << >>: see bitwise
    "__mod__": remainder, "__rmod__": lambda self, other: remainder(other, self), "remainder": remainder,
    "__floordiv__": lambda self, other: div(self, other, rounding_mode="floor"),
    "__rfloordiv__": lambda self, other: div(other, self, rounding_mode="floor"),
    "floor_divide": lambda self, other: div(self, other, rounding_mode="floor"),
    "__iadd__": _iop(add_), "__isub__": _iop(sub_), "__imul__": _iop(mul_), "__itruediv__": _iop(div_),
    "addcmul": addcmul, "addcdiv": addcdiv, "index_fill": index.index_fill, "index_add": index.index_add,
    "index_copy": index.index_copy, "masked_select": index.masked_select, "masked_scatter": index.masked_scatter,
    "take": index.take, "take_along_dim": index.take_along_dim,
    "bernoulli": bernoulli, "bernoulli_": bernoulli_, "exponential_": exponential_, "geometric_": geometric_,
    "random_": random_,
}


def _in_place(name: str, reshape: bool = False) -> Callable[..., Tensor]:
    """``x.<name>_(...)``: ``x.<name>(...)`` written into x by ``inplace.inplace`` (torch's rules; the gradient and
    the node's name, e.g. ``exp``, are the out-of-place op's); with ``reshape`` (``squeeze_``, ``t_``...) x takes
    the shape of its view instead."""
    method = METHODS[name]

    def op(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        return inplace.inplace(self, f"{name}_", lambda a: method(a, *args, **kwargs), *args, *kwargs.values(),
                               twin=True, reshape=reshape)
    op.__name__ = f"{name}_"
    op.__wrapped__ = method  # its signature, for ``_axis_alias``
    op.__doc__ = (f"In-place ``{name}``: this tensor takes the shape of its ``{name}`` (the values stay)." if reshape
                  else f"In-place ``{name}``: this tensor, overwritten with ``{name}``'s result (of its shape and "
                  f"dtype).")
    return op


METHODS.update({f"{name}_": _in_place(name) for name in (
    "exp", "log", "sqrt", "tanh", "sigmoid", "sin", "cos", "tan", "log2", "log10", "exp2", "rsqrt", "square",
    "sign", "sgn", "relu", "abs", "absolute", "neg", "negative", "floor", "ceil", "round", "trunc", "fix", "frac",
    "log1p", "expm1", "erf", "reciprocal", "lerp", "fmod", "remainder", "clamp_min", "clamp_max", "nan_to_num",
    "atan2", "hypot", "heaviside", "addcmul", "addcdiv", "index_fill", "index_add", "index_copy",
    "masked_scatter")})
METHODS.update({f"{name}_": _in_place(name, reshape=True) for name in (
    "squeeze", "unsqueeze", "t", "transpose", "swapaxes", "swapdims")})


# torch's functions with a ``(Number self, Tensor other)`` overload: ``torch.pow(10000, t)`` is 10000 ** t
NUMBER_FIRST = frozenset(("add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide",
                          "floor_divide", "remainder", "pow", "float_power"))
# and those of them that take two numbers, the first made a 0-d tensor: ``torch.add(2, 3)`` is tensor(5)
NUMBERS_BOTH = NUMBER_FIRST - {"remainder", "pow", "float_power"}
# torch functions whose input must be a Tensor (a list or array raises a TypeError, as torch's, not converted)
TENSOR_INPUT = frozenset(("isclose", "allclose"))


def _function(name: str) -> Callable[..., Any]:
    method = METHODS[name] if name in METHODS else getattr(Tensor, name)

    def function(input: TensorLike, *args: Any, **kwargs: Any) -> Any:  # noqa: A002 - torch's name
        if isinstance(input, numbers.Number):  # never the legacy sizes: Tensor(3) would be zeros(3)
            other = args[0] if args else kwargs.get("other", kwargs.get("exponent"))
            input = elementwise.python_number(input)  # noqa: A001 (a numpy scalar: the number torch reads)
            if name in NUMBERS_BOTH and isinstance(other, numbers.Number):
                return method(tensor(input), *args, **kwargs)
            if name not in NUMBER_FIRST or not isinstance(other, Tensor):
                raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not "
                                f"{type(input).__name__} (as torch)")
            return method(input, *args, **kwargs)
        if not isinstance(input, Tensor) and not getattr(input, "is_sparse", False):  # (sparse: its own methods)
            if name in TENSOR_INPUT:
                raise TypeError(f"{name}(): argument 'input' must be a Tensor (as torch), not {type(input).__name__}")
            input = Tensor(input)  # noqa: A001
        return method(input, *args, **kwargs)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = method.__doc__
    function.__wrapped__ = method  # its signature, for ``_axis_alias``
    return function


def cat(tensors: Sequence[Tensor], dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Join tensors along an existing dim."""
    return movement.concatenate(_sequence("cat", tensors), _dim(dim, axis, 0))


def stack(tensors: Sequence[Tensor], dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Join same-shaped tensors along a new dim."""
    return movement.stack(_sequence("stack", tensors), _dim(dim, axis, 0))


def _sequence(op: str, tensors: Sequence[Tensor]) -> list[Tensor]:
    """torch's joins (cat, stack, hstack, ...) take a non-empty list or tuple of tensors: never one tensor (whose rows
    numpy would join), nor a generator."""
    if not isinstance(tensors, (list, tuple)):
        hint = "; pass list(t.unbind()) to join its rows, or [t] for the tensor itself" if isinstance(
            tensors, Tensor) else ""
        raise TypeError(f"{op}(): argument 'tensors' (position 1) must be tuple of Tensors, not "
                        f"{type(tensors).__name__}{hint}")
    if not tensors:
        raise ValueError(f"{op}(): got an empty list of Tensors")
    return list(tensors)


def where_(condition: TensorLike, input: Any = None, other: Any = None) -> Any:  # noqa: A002
    """``input`` where ``condition`` holds, else ``other``; ``where(condition)`` alone is
    ``nonzero(condition, as_tuple=True)``."""
    if input is None and other is None:
        return index.nonzero(as_tensor(condition), as_tuple=True)
    if input is None or other is None:
        raise TypeError("where: give both input and other, or neither (where(condition) is nonzero's as_tuple)")
    return elementwise.where(_condition(condition, input, other), input, other)


def is_tensor(obj: Any) -> bool:
    """Whether ``obj`` is a Tensor, as ``torch.is_tensor``."""
    return isinstance(obj, Tensor)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    name: _function(name) for name in (
        "exp", "log", "sqrt", "sigmoid", "tanh", "relu", "sum", "mean", "max", "min", "amax", "amin", "argmax",
        "argmin", "flatten", "matmul", "mm", "bmm", "abs", "clamp", "clip", "pow", "mul", "add", "sub", "div", "neg",
        "eq", "ne", "lt", "le", "gt", "ge", "sin", "cos", "tan", "log2", "log10", "exp2", "rsqrt", "square", "sign",
        "std", "var", "norm", "cumsum", "prod", "logsumexp", "softmax", "log_softmax", "masked_fill", "tril",
        "triu", "topk", "sort", "argsort", "gather", "scatter", "scatter_add", "multinomial", "permute",
        "transpose", "reshape", "squeeze", "unsqueeze", "chunk", "clone", "numel", "all", "any",
        "maximum", "minimum", "t", "isnan", "isinf", "isfinite", "detach", "remainder", "floor_divide", "round",
        "floor", "ceil", "trunc", "fix", "frac", "log1p", "expm1", "erf", "reciprocal", "sgn", "atan2", "arctan2",
        "logaddexp", "hypot", "fmod", "lerp", "clamp_min", "clamp_max", "heaviside", "nan_to_num", "logical_not",
        "logical_and", "logical_or", "logical_xor", "isclose", "allclose", "equal", "count_nonzero",
        "index_select", "nonzero", "nonzero_static", "argwhere", "bincount", "kthvalue", "median", "unique", "cumprod",
        "repeat_interleave", "flip", "roll", "movedim", "moveaxis", "unbind", "narrow", "diagonal", "diag", "outer",
        "ger", "addmm", "broadcast_to", "is_floating_point")
}
FUNCTIONS.update(cat=cat, concat=cat, concatenate=cat, stack=stack, where=where_, one_hot=index.one_hot,
                 repeat_interleave=repeat_interleave_function,
                 is_tensor=is_tensor, einsum=linalg.einsum, split=split_function)
FUNCTIONS.update({name: _function(name) for name in (
    "addcmul", "addcdiv", "index_fill", "index_add", "index_copy", "masked_select", "masked_scatter", "take",
    "take_along_dim")}, normal=normal, bernoulli=bernoulli, poisson=poisson,
    _sample_dirichlet=_sample_dirichlet)
FUNCTIONS.update(legacy_types("cpu"))  # FloatTensor, LongTensor, ... (their cuda twins are in cuda.py)


# ---------------------------------------------------------------------------------------------- more math names
def view(self: Tensor, *shape: Any, **kwargs: Any) -> Tensor:
    """``x.view(*shape)`` (or ``size=``), a reshape, or ``x.view(dtype)``: the same bits read as ``dtype`` (no
    gradient)."""
    shape = _keyword_sizes("view", "dtype" if "dtype" in kwargs else "size", shape, kwargs)
    if len(shape) == 1 and _is_dtype(shape[0]):
        return movement.view_dtype(self, shape[0])
    out = movement.reshape(self, _sizes(shape))
    if out._base is None and out._data.size > 1 and out._data is not self._data and torch_strided(self):
        raise RuntimeError(f"view: shape {tuple(out.shape)} cannot be a view of this tensor's memory (shape "
                           f"{tuple(self.shape)}, strides {self.stride()}); use .reshape(...) (copies when needed) "
                           f"or call .contiguous() first")  # (numpy had to copy; torch's view refuses)
    return out


def _values_indices(op: Callable[..., tuple[Tensor, Tensor]]) -> Callable[..., ValuesIndices]:
    def method(self: Tensor, *args: Any, **kwargs: Any) -> ValuesIndices:
        return ValuesIndices(*op(self, *args, **kwargs))
    method.__name__ = op.__name__
    method.__doc__ = op.__doc__
    method.__wrapped__ = op  # its signature, for ``_axis_alias``
    return method


def cummax(self: Tensor, dim: int) -> ValuesIndices:
    """(values, indices) of the running maximum along ``dim``; see ``statistics.cumulative_extreme``."""
    return ValuesIndices(*statistics.cumulative_extreme("cummax", self, dim))


def cummin(self: Tensor, dim: int) -> ValuesIndices:
    """(values, indices) of the running minimum along ``dim``; see ``statistics.cumulative_extreme``."""
    return ValuesIndices(*statistics.cumulative_extreme("cummin", self, dim))


def quantile(self: Tensor, q: Any, dim: int | None = None, keepdim: bool = False, *,
             interpolation: str = "linear") -> Tensor:
    """The q-th quantiles; see ``statistics.quantile``."""
    return statistics.quantile(self, q, dim, keepdim, interpolation)


def nanquantile(self: Tensor, q: Any, dim: int | None = None, keepdim: bool = False, *,
                interpolation: str = "linear") -> Tensor:
    """quantile ignoring NaN; see ``statistics.quantile``."""
    return statistics.quantile(self, q, dim, keepdim, interpolation, ignore_nan=True)


def polygamma(n: int, input: Tensor) -> Tensor:  # noqa: A002 - torch's name
    """``torch.polygamma(n, input)``: the n-th derivative of digamma (float32 for integer input)."""
    return unary.polygamma(n, _floating(as_tensor(input)))


_meshgrid_warned = [False]  # torch warns once per process


def meshgrid(*tensors: Any, indexing: str | None = None) -> tuple[Tensor, ...]:
    """Coordinate grids of 0-d / 1-D tensors (or one list of them); ``indexing`` "ij" (the default, as torch's) or
    "xy". The first call without ``indexing`` warns (UserWarning, once), as torch's."""
    if indexing is None and not _meshgrid_warned[0]:
        _meshgrid_warned[0] = True
        warnings.warn("torch.meshgrid called without indexing=: pass indexing='ij' or 'xy', as later "
                      "releases will require it",
                      UserWarning, stacklevel=2)
    return movement.meshgrid(_sizes(tensors), "ij" if indexing is None else indexing)


def cartesian_prod(*tensors: Tensor) -> Tensor:
    return movement.cartesian_prod(tensors)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype: Any = numpy.int64, device: Any = None) -> Tensor:
    """(2, N) int64 coordinates of the lower triangle of a row x col matrix (on and below the ``offset`` diagonal)."""
    return index.triangle_indices("tril_indices", row, col, offset, dtype, None if device is None else str(device))


def triu_indices(row: int, col: int, offset: int = 0, *, dtype: Any = numpy.int64, device: Any = None) -> Tensor:
    """(2, N) int64 coordinates of the upper triangle of a row x col matrix (on and above the ``offset`` diagonal)."""
    return index.triangle_indices("triu_indices", row, col, offset, dtype, None if device is None else str(device))


def searchsorted(sorted_sequence: Tensor, input: TensorLike, *, out_int32: bool = False,  # noqa: A002
                 right: bool = False, side: str | None = None, sorter: Tensor | None = None) -> Tensor:
    return sort.searchsorted(sorted_sequence, input, out_int32, right, side, sorter)


def bucketize(input: TensorLike, boundaries: Tensor, *, out_int32: bool = False,  # noqa: A002
              right: bool = False) -> Tensor:
    return sort.bucketize(input, boundaries, out_int32, right)


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0,
          compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """Pairwise p-norm distances; ``compute_mode`` (one of torch's three modes; None refused, as torch.cdist does)
    is checked, then ignored (always computed from the differences)."""
    if compute_mode not in CDIST_MODES:
        raise ValueError(f"cdist: compute_mode must be one of {CDIST_MODES}, got {compute_mode!r}")
    return linalg.cdist(x1, x2, p)


CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")


def _slogdet(self: Tensor) -> Any:
    from .linalg import slogdet as linalg_slogdet

    return linalg_slogdet(self)


METHODS.update({
    "unfold": lambda self, dimension, size, step: movement.unfold(self, dimension, size, step),
    "cummax": cummax, "cummin": cummin, "logcumsumexp": statistics.logcumsumexp,
    "quantile": quantile, "nanquantile": nanquantile, "mode": _values_indices(sort.mode),
    "lgamma": _float_unary(unary.lgamma), "digamma": _float_unary(unary.digamma), "i0": _float_unary(unary.i0),
    "polygamma": lambda self, n: polygamma(n, self), "xlogy": binary.xlogy, "kron": linalg.kron,
    "det": linalg.det, "inverse": linalg.inv, "slogdet": _slogdet,
})
METHODS.update({f"{name}_": _in_place(name) for name in ("lgamma", "digamma", "polygamma", "i0", "xlogy")})
FUNCTIONS.update({name: _function(name) for name in (
    "cummax", "cummin", "logcumsumexp", "quantile", "nanquantile", "mode", "lgamma", "digamma", "i0", "kron",
    "det", "inverse", "slogdet")})
FUNCTIONS.update(meshgrid=meshgrid, cartesian_prod=cartesian_prod, combinations=index.combinations,
                 tril_indices=tril_indices, triu_indices=triu_indices, searchsorted=searchsorted,
                 bucketize=bucketize, tensordot=linalg.tensordot, cdist=cdist, polygamma=polygamma,
                 xlogy=binary.xlogy)


# ---------------------------------------------------------------------------------------------- eleventh stop
class MinMax(NamedTuple):
    """``(min, max)``, what ``aminmax`` returns (torch.return_types.aminmax)."""

    min: Tensor
    max: Tensor


def aminmax(self: Tensor, *, dim: int | None = None, keepdim: bool = False) -> MinMax:
    """(amin, amax) over ``dim``, or over all dims."""
    over = () if dim is None else dim
    return MinMax(self.amin(dim=over, keepdim=keepdim), self.amax(dim=over, keepdim=keepdim))


def diff(self: Tensor, n: int = 1, dim: int = -1, prepend: TensorLike | None = None,
         append: TensorLike | None = None) -> Tensor:
    """The n-th forward difference along ``dim`` (bool: logical xor), after ``prepend`` / ``append`` are joined on
    (for n = 0 a copy of the input, as torch, which then ignores prepend / append)."""
    if self.ndim == 0:
        raise RuntimeError("diff: a 0-dim tensor has no dim to take differences along")
    d = movement.wrap_dim("diff", dim, self.ndim)
    if n < 0:
        raise ValueError(f"diff: n={n}; the order of the difference cannot be negative")
    if n == 0:
        return movement.clone(self)  # (a copy, as torch's: a write into it must not reach the input)
    parts = [as_tensor(t, self) for t in (prepend, self, append) if t is not None]
    x = movement.concatenate(parts, d) if len(parts) > 1 else self
    later, earlier = (slice(None),) * d + (slice(1, None),), (slice(None),) * d + (slice(None, -1),)
    for _ in range(n):
        x = x[later] != x[earlier] if x.dtype == bool else x[later] - x[earlier]
    return x


def nansum(self: Tensor, dim: Dim = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """The sum treating NaN as 0 (``reduce.nansum``)."""
    x = self if dtype is None else to(self, dtype=dtype)
    if x.dtype.kind not in "fc":
        return sum_(x, dim, keepdim, dtype=dtype)
    return reduce.nansum(x, _reduce_dims(dim, None), keepdim)


def nanmean(self: Tensor, dim: Dim = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """The mean of the non-NaN elements (NaN where there are none); floating input only, as torch."""
    if self.dtype.kind not in "fc":
        raise DtypeError(f"nanmean(): expected a floating point input, got {self.dtype} (as torch)")
    if dtype is not None and numpy.dtype(dtype).kind not in "fc":  # (it would give a float32 mean, not one of dtype)
        raise DtypeError(f"nanmean(): dtype must be a floating point dtype, got {numpy.dtype(dtype)} (as torch)")
    x = self if dtype is None else to(self, dtype=dtype)
    count = (~x.isnan()).sum(dim=dim, keepdim=keepdim)
    out = nansum(x, dim, keepdim) / count
    if elementwise.overflowed(x._data, out._data):  # a float32 total past float32's range (or a nan): in float64,
        out = (nansum(x.double(), dim, keepdim) / count).float()  # as ``mean`` divides before its one rounding
    return out


def positive(self: Tensor) -> Tensor:
    if self.dtype == bool:
        raise DtypeError("positive: unary + is refused for bool tensors (as torch)")
    return self


def _conjugate_transpose(self: Tensor) -> Tensor:
    """``x.H``: the conjugate transpose of a matrix (the transpose: tensors here are real); a 0-d tensor is
    itself, with torch's deprecation warning."""
    if self.ndim == 0:
        warnings.warn("H on a 0-d tensor is deprecated; x.conj() gives the same result", UserWarning, stacklevel=2)
        return movement.reshape(self, ())
    if self.ndim != 2:
        raise ValueError(f"H needs a 2-d tensor, got {self.ndim}-d; for a stack of matrices use mH")
    return self.T


def _mH(self: Tensor) -> Tensor:  # noqa: N802 - torch's name
    """``x.mH``: the conjugate transpose of a batch of matrices (``mT``: tensors here are real); a 0-d tensor is
    itself, with torch's deprecation warning."""
    if self.ndim == 0:
        warnings.warn("mH on a 0-d tensor is deprecated; x.conj() gives the same result", UserWarning, stacklevel=2)
        return movement.reshape(self, ())
    return self.mT


def _imag(self: Tensor) -> Tensor:
    raise TypeError(f"imag exists only for complex tensors; this one is {self.dtype} (all tensors here are real)")


def _float_power(self: TensorLike, exponent: TensorLike) -> Tensor:
    """``self ** exponent`` in float64, as torch (``self`` a number where ``exponent`` is a Tensor)."""
    base = self.double() if isinstance(self, Tensor) else float(self)
    return base ** (exponent.double() if isinstance(exponent, Tensor) else float(exponent))


def _degrees(factor: float) -> Callable[[Tensor], Tensor]:
    return lambda self: _floating(self) * factor


def _integers(name: str) -> Callable[[Tensor, TensorLike], Tensor]:
    """gcd / lcm of integer tensors (torch has them for integers only; no gradient)."""
    def op(self: Tensor, other: TensorLike) -> Tensor:
        other = as_tensor(other, self)
        if elementwise.result_type(self, other).kind not in "iu":  # (a bool beside an integer is promoted, as torch)
            raise KernelDtypeError(f"{name}: expected integer tensors, got {self.dtype} and {other.dtype} (as torch)")
        a, b = elementwise.operands(name, self, other)  # torch's promotion (a 0-d int64 keeps int32 int32)
        xp, x, y = self.xp, a._data, b._data
        if name == "gcd":
            return Tensor(xp.gcd(x, y), device=self.device)
        g = xp.gcd(x, y)  # torch's lcm: |a / g * b| in C's int (int64 for int64), then the dtype: an overflowing
        wide = numpy.int64 if x.dtype.itemsize == 8 else numpy.int32  # int32 result is |wrapped|, not wrapped |.|
        with numpy.errstate(over="ignore"):
            q = xp.abs(x.astype(wide) // xp.where(g == 0, 1, g).astype(wide) * y.astype(wide))
        return Tensor(xp.where(g == 0, 0, q).astype(x.dtype), device=self.device)
    return op


METHODS.update({
    "aminmax": aminmax, "diff": diff, "nansum": nansum, "nanmean": nanmean, "positive": positive,
    "logit": lambda self, eps=None: unary.logit(_floating(self), eps),
    "signbit": lambda self: Tensor(self.xp.signbit(self._data), device=self.device),
    "deg2rad": _degrees(math.pi / 180), "rad2deg": _degrees(180 / math.pi), "float_power": _float_power,
    "gcd": _integers("gcd"), "lcm": _integers("lcm"),
    "new_empty": lambda self, *size, dtype=None, device=None, requires_grad=False, **named: empty(  # (size=)
        *size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad, **named),
    # tensors here are real: conjugation is the identity, as torch's on real tensors
    "conj": lambda self: self, "conj_physical": lambda self: self, "resolve_conj": lambda self: self,
    "resolve_neg": lambda self: self, "is_conj": lambda self: False, "is_neg": lambda self: False,
    "is_complex": lambda self: False,
    "H": property(_conjugate_transpose), "mH": property(_mH), "real": property(lambda self: self),
    "imag": property(_imag),
})
METHODS.update({f"{name}_": _in_place(name) for name in ("logit", "deg2rad", "rad2deg", "conj_physical")})
_float_power_into = _in_place("float_power")


def _float_power_in_place(self: Tensor, exponent: TensorLike) -> Tensor:
    """``x.float_power_(e)``: the float64 power written into x, which must be float64 (torch does not round it
    into another dtype)."""
    if self.dtype != numpy.float64:
        raise DtypeError(f"float_power_: the result is float64 and cannot be written into a {self.dtype} tensor (as "
                         f"in torch); use x = x.float_power(e) or convert x with .double() first")
    return _float_power_into(self, exponent)


METHODS["float_power_"] = _float_power_in_place
FUNCTIONS.update({name: _function(name) for name in (
    "aminmax", "diff", "nansum", "nanmean", "logit", "positive", "signbit", "deg2rad", "rad2deg", "float_power",
    "gcd", "lcm", "conj", "conj_physical", "conj_physical_", "resolve_conj", "resolve_neg", "is_conj", "is_neg",
    "is_complex")})
FUNCTIONS.update(real=lambda input: input.real, imag=lambda input: input.imag)  # noqa: A006


# ---------------------------------------------------------------------------------------------- fourteenth stop
class Frexp(NamedTuple):
    """``(mantissa, exponent)``, what ``frexp`` returns (torch.return_types.frexp)."""

    mantissa: Tensor
    exponent: Tensor


def nanmedian(self: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """The lower median of the non-NaN elements: of all as a 0-d tensor, or with ``dim`` (values, indices)."""
    out = sort.nanmedian(self, dim, keepdim)
    return out if dim is None else ValuesIndices(*out)


def pin_memory(self: Tensor, device: Any = None) -> Tensor:
    """A copy of a CPU tensor, for a later ``.to("cuda", non_blocking=True)``; differentiable. torch puts the copy in
    page-locked memory for faster transfers; here it is ordinary memory (``is_pinned()`` stays False) and the
    transfer is the same copy. RuntimeError without a usable GPU, as torch's."""
    if not backend.cupy_available():
        raise RuntimeError("pin_memory needs a usable GPU (as torch's); without one, leave tensors where they are "
                           "(a DataLoader's pin_memory=True is accepted and has no effect)")
    if self.device.type != "cpu":
        raise RuntimeError(f"pin_memory: only CPU tensors can be pinned, this one is on {self.device}")
    return movement.clone(self)


def record_stream(self: Tensor, stream: Any) -> None:
    """Keeps the tensor's memory until ``stream``'s queued work is done: every stream is the GPU's one queue here
    (``cuda.Stream``), which already runs in order, so there is nothing to keep."""
    from .cuda import Stream  # (cuda.py builds on this module)

    if not isinstance(stream, Stream) or self.device.type != "cuda":
        raise TypeError(f"record_stream: expected a GPU tensor and a cuda.Stream, got a {self.device} tensor and "
                        f"{type(stream).__name__}")


METHODS.update({
    "is_pinned": lambda self, device=None: False, "pin_memory": pin_memory, "record_stream": record_stream,
    "copysign": binary.copysign, "ldexp": binary.ldexp, "frexp": lambda self: Frexp(*unary.frexp(self)),
    "renorm": statistics.renorm,
    "histc": statistics.histc, "nanmedian": nanmedian,
})
METHODS.update({f"{name}_": _in_place(name) for name in ("copysign", "ldexp", "renorm")})
FUNCTIONS.update({name: _function(name) for name in ("copysign", "ldexp", "frexp", "renorm", "histc", "nanmedian")})

# ---------------------------------------------------------------------------------------------- fifteenth stop
def tile(self: Tensor, *dims: Any, **kwargs: Any) -> Tensor:
    """The tensor repeated ``dims`` times along its dims, as torch: missing leading dims of ``dims`` count 1, and
    extra ones add leading dims (``repeat`` with ``dims`` padded to the tensor's dims); or ``dims=``."""
    dims = _keyword_sizes("tile", "dims", dims, kwargs)
    reps = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
    return movement.repeat(self, _sizes((1,) * (self.ndim - len(reps)) + tuple(reps)))  # (0-d and (): a copy)


def _flip_dim(name: str, dim: int, least: int) -> Callable[[Tensor], Tensor]:
    def flipped(self: Tensor) -> Tensor:
        if self.ndim < least:
            raise ValueError(f"{name}: needs a tensor of at least {least} dims, got shape {self.shape}")
        return self.flip(dim)
    flipped.__name__ = name
    flipped.__doc__ = f"The tensor reversed along dim {dim} (at least {least}-d)."
    return flipped


def dot(self: Tensor, tensor: Tensor) -> Tensor:
    """The inner product of two 1-D tensors of one length and dtype, a 0-d tensor."""
    if self.ndim != 1 or tensor.ndim != 1 or self.shape != tensor.shape or self.dtype != tensor.dtype:
        raise ArgumentError(f"dot: needs two 1-D tensors of one length and dtype, got {self.shape} {self.dtype} "
                            f"and {tensor.shape} {tensor.dtype}")
    return linalg.matmul(self, tensor)


def vdot(self: Tensor, other: Tensor) -> Tensor:
    """torch.vdot: ``dot`` (real tensors: no conjugate), its second argument named ``other`` as torch's."""
    return dot(self, other)


def mv(self: Tensor, vec: Tensor) -> Tensor:
    """Matrix (n, m) times vector (m,) -> (n,)."""
    if self.ndim != 2 or vec.ndim != 1 or self.shape[1] != vec.shape[0]:
        raise ArgumentError(f"mv: needs a matrix (n, m) and a vector (m,), got {self.shape} and {vec.shape}")
    return linalg.matmul(self, vec)


def trace(self: Tensor) -> Tensor:
    """The sum of the main diagonal of a 2-D tensor (integers summed as int64, as torch)."""
    if self.ndim != 2:
        raise ValueError(f"trace: needs a 2-D tensor, got shape {self.shape}")
    if self.dtype.kind == "b":
        raise KernelDtypeError("trace: not implemented for bool tensors (as in torch); convert with .long() first")
    return self.diagonal().sum()  # (sum's dtype rules: integers as int64)


def unflatten(self: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    """Dim ``dim`` split into ``sizes`` (one of them may be -1, read from that dim's size alone, as torch: (2, -1)
    of a dim of 2 is (2, 1) even when another dim is 0), the other dims kept."""
    if self.ndim == 0:
        raise IndexError("unflatten: a 0-d tensor has no dim to unflatten")
    d = movement.wrap_dim("unflatten", dim, self.ndim)
    sizes = _sizes(tuple(sizes))
    known = math.prod(n for n in sizes if n != -1)
    if sizes.count(-1) == 1 and known:
        sizes = tuple(self.shape[d] // known if n == -1 else n for n in sizes)
    if not sizes or math.prod(sizes) != self.shape[d]:  # (reshape alone misses it when another dim is 0)
        raise ValueError(f"unflatten: sizes {tuple(sizes)} do not multiply to dim {dim}'s length {self.shape[d]}")
    return self.reshape(*self.shape[:d], *sizes, *self.shape[d + 1:])


def _nan_ignoring(name: str, wins: str) -> Callable[[Tensor, TensorLike], Tensor]:
    """torch's fmax / fmin: the larger (smaller) of a and b, the other where one is nan; a wins ties and a nan b, and
    takes the gradient where it wins (torch's masks)."""
    def fn(self: Tensor, other: TensorLike) -> Tensor:
        b = as_tensor(other, self)
        won = elementwise.compare(self, b, wins)
        return elementwise.where(elementwise.compare(won, elementwise.compare(b, b, "not_equal"), "logical_or"),
                                 self, b)
    fn.__name__ = name
    fn.__doc__ = f"The {'larger' if wins == 'greater_equal' else 'smaller'} of the two, ignoring a nan (as torch)."
    return fn


def logaddexp2(self: Tensor, other: TensorLike) -> Tensor:
    """log2(2^a + 2^b) without overflow (``binary.logaddexp2``), in torch's promoted dtype (an integer tensor beside
    a float16 one is float16); float16 computes in float32 and rounds once, as torch."""
    if elementwise.result_type(self, other).kind != "f":  # (as torch's logaddexp: no integer or bool kernel)
        raise KernelDtypeError(f"logaddexp2: not implemented for integer or bool operands (as in torch), got "
                               f"{getattr(self, 'dtype', self)} and {getattr(other, 'dtype', other)}; convert with "
                               f".float() first")
    a, b = elementwise.operands("logaddexp2", self, other, floating=True)
    if a.dtype == numpy.float16:
        a, b = elementwise.astype(a, numpy.float32), elementwise.astype(b, numpy.float32)
        return elementwise.astype(logaddexp2(a, b), numpy.float16)
    return binary.logaddexp2(a, b)


def rot90(self: Tensor, k: int = 1, dims: Sequence[int] = (0, 1)) -> Tensor:
    """The tensor rotated by k quarter turns in the plane of ``dims``, from the first dim towards the second."""
    if len(dims) != 2:
        raise ValueError(f"rot90: dims must be two different dims, got {tuple(dims)}")
    d0, d1 = (movement.wrap_dim("rot90", d, self.ndim) for d in dims)
    if d0 == d1:
        raise ValueError(f"rot90: dims must be two different dims, got {tuple(dims)}")
    k %= 4
    if k == 0:
        return movement.clone(self)  # (row-major, as torch's: clone() would keep the input's layout)
    if k == 2:
        return self.flip((d0, d1))
    return self.flip(d1 if k == 1 else d0).transpose(d0, d1)


def tensor_split(self: Tensor, indices_or_sections: Any = None, dim: int = 0, *, sections: Any = None,
                 indices: Any = None, tensor_indices_or_sections: Any = None) -> tuple[Tensor, ...]:
    """Views of the tensor cut along ``dim``: into n nearly equal parts (the first size % n one longer), or at the
    given indices; an int64 tensor is n when 0-d, the indices when 1-D (torch's keywords: ``sections``,
    ``indices``, ``tensor_indices_or_sections``)."""
    given = [v for v in (indices_or_sections, sections, indices, tensor_indices_or_sections) if v is not None]
    if len(given) != 1:
        raise TypeError("tensor_split() takes one of indices_or_sections, sections, indices and "
                        "tensor_indices_or_sections")
    indices_or_sections = given[0]
    if isinstance(indices_or_sections, Tensor):
        if indices_or_sections.dtype != numpy.int64 or indices_or_sections.ndim > 1:
            raise ValueError(f"tensor_split expects a 0-d or 1-D int64 tensor of sections or indices, got dtype "
                             f"{indices_or_sections.dtype} and {indices_or_sections.ndim} dims")
        raw = indices_or_sections._data
        indices_or_sections = int(raw) if raw.ndim == 0 else [int(i) for i in raw.tolist()]
    elif not isinstance(indices_or_sections, (list, tuple)) and hasattr(indices_or_sections, "__index__"):
        indices_or_sections = operator.index(indices_or_sections)  # (a numpy integer: a number of sections)
    d = movement.wrap_dim("tensor_split", dim, self.ndim)
    size = self.shape[d]
    if isinstance(indices_or_sections, int):
        n = indices_or_sections
        if n < 1:
            raise ValueError(f"tensor_split: the number of sections must be at least 1, got {n}")
        cuts = [i * (size // n) + min(i, size % n) for i in range(1, n)]
    else:
        cuts = [int(i) for i in indices_or_sections]
    bounds = [0, *(min(max(c if c >= 0 else c + size, 0), size) for c in cuts), size]
    return movement.split_pieces(self, d, [slice(lo, max(hi, lo)) for lo, hi in zip(bounds, bounds[1:])])


def _split_along(name: str, dim: int, least: int) -> Callable[..., tuple[Tensor, ...]]:
    """torch's hsplit / vsplit / dsplit: ``tensor_split`` along ``dim`` (of a tensor of at least ``least`` dims),
    a number of sections only when it divides that dim."""
    def fn(self: Tensor, indices_or_sections: int | Sequence[int] | None = None, *, sections: int | None = None,
           indices: Sequence[int] | None = None) -> tuple[Tensor, ...]:
        given = [v for v in (indices_or_sections, sections, indices) if v is not None]
        if len(given) != 1:
            raise TypeError(f"{name}() takes one of sections and indices")
        indices_or_sections = given[0]
        if self.ndim < least:
            raise ValueError(f"{name}: needs a tensor of at least {least} dims, got shape {self.shape}")
        d = 0 if name == "hsplit" and self.ndim == 1 else dim
        if isinstance(indices_or_sections, int) and (indices_or_sections < 1
                                                     or self.shape[d] % indices_or_sections):
            raise ValueError(f"{name}: {indices_or_sections} sections must divide dim {d} of size {self.shape[d]}")
        return tensor_split(self, indices_or_sections, d)
    fn.__name__ = name
    return fn


def inner(self: Tensor, other: Tensor) -> Tensor:
    """Sums of products over the last dims of both: (..., n) and (..., n) -> self's leading dims then other's."""
    if self.ndim == 0 or other.ndim == 0:
        return elementwise.mul(self, other)
    return linalg.tensordot(self, other, ([-1], [-1]))


def _add_product(op: str, product: Callable[[Tensor, Tensor], Tensor], shapes: Callable[[Tensor, Tensor], bool],
                 expected: str, names: tuple[str, str]) -> Callable[..., Tensor]:
    """torch's addmv / addr / baddbmm / addbmm: ``beta * self + alpha * product(x, y)`` (``linalg.add_product``);
    x and y also by torch's keywords ``names`` (addmv's mat= / vec=, addr's vec1= / vec2=, batch1= / batch2=)."""
    def fn(self: Tensor, *args: Tensor, beta: float = 1, alpha: float = 1, **named: Tensor) -> Tensor:
        operands = list(args)
        for name in names[len(operands):]:
            if name not in named:
                raise TypeError(f"{op}() missing its argument {name}= (give {names[0]} and {names[1]})")
            operands.append(named.pop(name))
        if named or len(operands) != 2:
            raise TypeError(f"{op}() takes self, {names[0]}, {names[1]} and the keywords beta= / alpha=; got "
                            f"{len(args)} positional and the keywords {sorted(named)}")
        x, y = operands
        if not shapes(x, y):
            raise ValueError(f"{op}: expected {expected}, got shapes {x.shape} and {y.shape}")
        return linalg.add_product(op, self, x, y, product, beta, alpha)
    fn.__name__ = op
    fn.__doc__ = f"``beta * self + alpha * {op[3:]}`` of {expected} (a zero beta leaves self out, nan and all)."
    return fn


def _bmm_sum(b1: Tensor, b2: Tensor) -> Tensor:
    """The sum over the batch of the products (b, n, k) @ (b, k, m) -> (n, m), in the products' dtype (sum widens
    integers; torch's addbmm keeps int32 / uint8, wrapping as they do)."""
    products = linalg.matmul(b1, b2)
    total = reduce.sum(products, 0, False)
    return total if total.dtype == products.dtype else total.to(products.dtype)


ADD_PRODUCTS = {
    "addmv": _add_product("addmv", linalg.matmul, lambda m, v: m.ndim == 2 and v.ndim == 1 and m.shape[1] == v.shape[0],
                          "a matrix (n, m) and a vector (m,)", ("mat", "vec")),
    "addr": _add_product("addr", linalg.outer, lambda u, v: u.ndim == 1 and v.ndim == 1, "two vectors (n,) and (m,)",
                         ("vec1", "vec2")),
    "baddbmm": _add_product("baddbmm", linalg.matmul, lambda a, b: a.ndim == 3 and b.ndim == 3 and a.shape[0] ==
                            b.shape[0] and a.shape[2] == b.shape[1], "batches of matrices (b, n, k) and (b, k, m)",
                            ("batch1", "batch2")),
    "addbmm": _add_product("addbmm", _bmm_sum, lambda a, b: a.ndim == 3 and b.ndim == 3 and a.shape[0] == b.shape[0]
                           and a.shape[2] == b.shape[1], "batches of matrices (b, n, k) and (b, k, m)",
                            ("batch1", "batch2")),
}


def cross(self: Tensor, other: Tensor, dim: int | None = None) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (two tensors of one ndim, broadcast); without ``dim`` the first dim
    of size 3, with torch's deprecation warning (``linalg.cross`` takes the last)."""
    if self.ndim != other.ndim:
        raise ArgumentError(f"cross: shapes {self.shape} and {other.shape} differ in how many dims they "
                            "have (as torch)")
    shape = elementwise.broadcast_shape("cross", self.shape, other.shape)
    a, b = self.broadcast_to(shape), other.broadcast_to(shape)
    if dim is None:
        sizes = [d for d, n in enumerate(shape) if n == 3]
        if not sizes:
            raise ArgumentError(f"cross: no dim of size 3 in shape {shape}; pass dim")
        warnings.warn("torch.cross with no dim is deprecated (it picks the first size-3 dimension); pass dim= or "
                      "switch to torch.linalg.cross", UserWarning, stacklevel=2)
        d = sizes[0]
    else:
        d = movement.wrap_dim("cross", dim, len(shape))
        if shape[d] != 3:
            raise ArgumentError(f"cross: dim {dim} must have size 3, got shape {shape}")
    (a0, a1, a2), (b0, b1, b2) = ([t.narrow(d, i, 1) for i in range(3)] for t in (a, b))
    return movement.concatenate([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], d)


def matrix_power(self: Tensor, n: int) -> Tensor:
    """The square matrices (..., m, m) to the integer power n: repeated products by squaring; n = 0 the identity,
    n < 0 powers of the inverse."""
    if self.ndim < 2 or self.shape[-1] != self.shape[-2]:
        raise ArgumentError(f"matrix_power: needs square matrices (..., m, m), got shape {self.shape}")
    if n == 0:
        return linalg.identity_like(self)
    base, n = (linalg.inv(self), -n) if n < 0 else (self, n)
    result, square = None, base
    while n:
        if n & 1:
            result = square if result is None else linalg.matmul(result, square)
        n >>= 1
        if n:
            square = linalg.matmul(square, square)
    return result.clone() if result is base else result


UNARY_15 = {"asin": unary.asin, "acos": unary.acos, "atan": unary.atan, "sinh": unary.sinh, "cosh": unary.cosh,
            "asinh": unary.asinh, "acosh": unary.acosh, "atanh": unary.atanh, "sinc": unary.sinc}
ARC_NAMES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh", "arccosh": "acosh",
             "arctanh": "atanh"}
METHODS.update({name: _float_unary(op) for name, op in UNARY_15.items()})
METHODS.update({alias: METHODS[name] for alias, name in ARC_NAMES.items()})
METHODS.update({
    "tile": tile, "ravel": lambda self: self.contiguous().reshape(-1), "fliplr": _flip_dim("fliplr", 1, 2),
    "flipud": _flip_dim("flipud", 0, 1), "dot": dot, "mv": mv, "trace": trace, "unflatten": unflatten,
    "fmax": _nan_ignoring("fmax", "greater_equal"), "fmin": _nan_ignoring("fmin", "less_equal"),
    "logaddexp2": logaddexp2, "isposinf": lambda self: elementwise.compare(self, math.inf, "equal"),
    "isneginf": lambda self: elementwise.compare(self, -math.inf, "equal"), "rot90": rot90,
    "tensor_split": tensor_split, "hsplit": _split_along("hsplit", 1, 1), "vsplit": _split_along("vsplit", 0, 2),
    "dsplit": _split_along("dsplit", 2, 3), "inner": inner, "vdot": vdot,
    "diagflat": lambda self, offset=0: linalg.diag(self.reshape(-1), offset),
    **ADD_PRODUCTS, "cross": cross, "matrix_power": matrix_power,
})
METHODS.update({f"{name}_": _in_place(name) for name in (*UNARY_15, *ARC_NAMES)})
FUNCTIONS.update({name: _function(name) for name in (*UNARY_15, *ARC_NAMES, "tile", "ravel", "fliplr", "flipud",
                                                       "dot", "mv", "trace", "unflatten", "fmax", "fmin", "logaddexp2",
                                                       "isposinf", "isneginf", "rot90", "tensor_split", "hsplit",
                                                       "vsplit", "dsplit", "inner", "vdot", "diagflat",
                                                       *ADD_PRODUCTS, "cross", "matrix_power")})


def _axis_alias(fn: Any) -> Any:
    """``fn`` taking ``axis=`` for its ``dim``, as torch's argument parser does for every native op with a ``dim``
    (``torch.cumprod(x, axis=0)``, ``x.gather(axis=1, index=i)``); ``fn`` itself where it has no ``dim`` parameter
    (its own or, through ``__wrapped__``, the method it forwards to), already an ``axis``, or torch's op is written
    in Python and refuses ``axis`` (``split``, ``unique``, ``norm``, ...)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn
    if isinstance(fn, type) or "dim" not in params or "axis" in params or getattr(fn, "__name__", "") in _NO_AXIS_ALIAS:
        return fn

    @functools.wraps(fn)
    def aliased(*args: Any, **kwargs: Any) -> Any:
        if "axis" in kwargs:
            if "dim" in kwargs:
                raise TypeError(f"{fn.__name__}() got both dim= and axis=; pass one")
            kwargs["dim"] = kwargs.pop("axis")
        return fn(*args, **kwargs)
    return aliased


# torch's ops written in Python (no argument parser, so no ``axis`` alias); ``Tensor.unflatten`` too (its function
# is native)
_NO_AXIS_ALIAS = frozenset({"split", "split_function", "unique", "unique_consecutive", "norm", "stft", "istft", "lu",
                            "tensordot"})
_NO_AXIS_ALIAS_METHODS = frozenset({"unflatten"})


def attach() -> None:
    """Bind ``METHODS`` to ``Tensor`` (once, when the package is imported), each taking ``axis=`` for its ``dim``
    as torch's (``FUNCTIONS`` too)."""
    for name, fn in METHODS.items():
        METHODS[name] = fn if name in _NO_AXIS_ALIAS_METHODS else _axis_alias(fn)
        setattr(Tensor, name, METHODS[name])
    FUNCTIONS.update({name: _axis_alias(fn) for name, fn in FUNCTIONS.items()})


# ---------------------------------------------------------------------------------------------- sixteenth stop
METHODS.update(erfc=_float_unary(unary.erfc), erfinv=_float_unary(unary.erfinv))
METHODS.update({f"{name}_": _in_place(name) for name in ("erfc", "erfinv")})
FUNCTIONS.update({name: _function(name) for name in ("erfc", "erfinv")})


# bitwise: & | ^ ~ << >> on bool and integer tensors (ops/bitwise.py), their names, in-place and reflected forms
def _logic(op: str) -> Callable[[TensorLike, TensorLike], Tensor]:
    def function(input: TensorLike, other: TensorLike) -> Tensor:  # noqa: A002 - torch's name
        return bitwise.logic(op, input, other)
    function.__name__ = function.__qualname__ = op
    function.__doc__ = bitwise.logic.__doc__
    return function


def _reflected(op: Callable[[TensorLike, TensorLike], Tensor]) -> Callable[[Tensor, TensorLike], Tensor]:
    return lambda self, other: op(other, self)


BITWISE: dict[str, Callable[..., Tensor]] = {
    **{op: _logic(op) for op in ("bitwise_and", "bitwise_or", "bitwise_xor")}, "bitwise_not": bitwise.bitwise_not,
    "bitwise_left_shift": bitwise.left_shift, "bitwise_right_shift": bitwise.right_shift}
METHODS.update(BITWISE)
FUNCTIONS.update(BITWISE)
METHODS.update({f"{name}_": _in_place(name) for name in BITWISE})
_OPERATORS = {"and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor", "lshift": "bitwise_left_shift",
              "rshift": "bitwise_right_shift"}  # x & y, y & x (__rand__), x &= y (__iand__, in place) ...
METHODS.update({f"__{op}__": BITWISE[name] for op, name in _OPERATORS.items()}, __invert__=bitwise.bitwise_not)
METHODS.update({f"__r{op}__": _reflected(BITWISE[name]) for op, name in _OPERATORS.items()})
METHODS.update({f"__i{op}__": METHODS[f"{name}_"] for op, name in _OPERATORS.items()})


# scatter_reduce (and in place) and unique_consecutive, methods and functions
_scatter_reduce = index.scatter_reduce  # (the method's argument is torch's ``index``, which hides the module)


def scatter_reduce(self: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                   include_self: bool = True) -> Tensor:
    """A copy with ``src`` reduced into the places ``index`` names along ``dim`` ("sum", "prod", "mean", "amax",
    "amin"; see ``ops.index.scatter_reduce``)."""
    return _scatter_reduce(self, dim, index, src, reduce, include_self)


def unique_consecutive(self: Tensor, return_inverse: bool = False, return_counts: bool = False,
                       dim: int | None = None) -> Tensor | tuple[Tensor, ...]:
    """Runs of equal neighbours (of equal slices along ``dim``) collapsed, with the inverse and the run lengths on
    request."""
    return sort.unique_consecutive(self, return_inverse, return_counts, dim)


METHODS.update(scatter_reduce=scatter_reduce, unique_consecutive=unique_consecutive)
METHODS["scatter_reduce_"] = _in_place("scatter_reduce")
FUNCTIONS.update({name: _function(name) for name in ("scatter_reduce", "unique_consecutive")})


# diag_embed, cov, corrcoef, logdet (methods and functions) and the function block_diag
def cov(self: Tensor, *, correction: int = 1, fweights: Tensor | None = None,
        aweights: Tensor | None = None) -> Tensor:
    """The covariance matrix of the rows of ``self`` (variables, observations); see ``statistics.cov``."""
    return statistics.cov(self, correction, fweights, aweights)


METHODS.update({"diag_embed": linalg.diag_embed, "cov": cov, "corrcoef": statistics.corrcoef, "logdet": linalg.logdet})
FUNCTIONS.update({name: _function(name) for name in ("diag_embed", "cov", "corrcoef", "logdet")})
FUNCTIONS.update(block_diag=linalg.block_diag)


# index_put and index_put_ with a tuple of index tensors and accumulate (methods and functions)
def index_put(self: Tensor, indices: Sequence[Tensor], values: Tensor, accumulate: bool = False) -> Tensor:
    """A copy with ``self[indices] = values`` (``+=`` with ``accumulate``, repeated places summed); see
    ``ops.index.index_put_tensors``."""
    return index.index_put_tensors(self, indices, values, accumulate)


METHODS["index_put"] = index_put
METHODS["index_put_"] = _in_place("index_put")
FUNCTIONS.update({name: _function(name) for name in ("index_put", "index_put_")})

# cholesky and triangular_solve (torch's old API, deprecated), cholesky_solve, cholesky_inverse, matrix_exp (methods
# and functions)
def cholesky(self: Tensor, upper: bool = False) -> Tensor:
    """torch.cholesky, deprecated in favour of ``linalg.cholesky`` (whose factor it returns, U = L^T with ``upper``),
    with torch's warning."""
    from .ops import factor

    warnings.warn("torch.cholesky is deprecated and slated to go away: call torch.linalg.cholesky instead",
                  UserWarning, stacklevel=2)
    out, info = factor.cholesky(self, upper, "cholesky")
    factor.check_info("cholesky", info, factor.not_positive_definite)
    return out


def cholesky_solve(self: Tensor, input2: Tensor, upper: bool = False) -> Tensor:
    """X with (L L^T) X = self, given the Cholesky factor ``input2`` = L (U with ``upper``); see
    ``ops.factor.cholesky_solve``."""
    from .ops import factor

    return factor.cholesky_solve(self, input2, upper)


def cholesky_inverse(self: Tensor, upper: bool = False) -> Tensor:
    """(L L^T)^-1 from the Cholesky factor ``self`` = L (U with ``upper``); see ``ops.factor.cholesky_inverse``."""
    from .ops import factor

    return factor.cholesky_inverse(self, upper)


def matrix_exp(self: Tensor) -> Tensor:
    """The matrix exponential of each square matrix (..., n, n); see ``ops.factor.matrix_exp``."""
    from .ops import factor

    return factor.matrix_exp(self)


class TriangularSolve(NamedTuple):
    """What ``torch.triangular_solve`` returns (torch.return_types.triangular_solve)."""

    solution: Tensor
    cloned_coefficient: Tensor


def triangular_solve(self: Tensor, A: Tensor, upper: bool = True, transpose: bool = False,
                     unitriangular: bool = False) -> TriangularSolve:
    """torch.triangular_solve, deprecated in favour of ``linalg.solve_triangular`` (arguments reversed), with torch's
    warning: X with A X = self (A^T X = self with ``transpose``) for A (..., n, n) upper (lower) triangular, only that
    triangle read, and self (..., n, k), batch dims broadcast; returned with a copy of A broadcast to the batch."""
    from .ops import factor

    warnings.warn("torch.triangular_solve is deprecated: switch to X = torch.linalg.solve_triangular(A, B), "
                  "which takes A first and returns X alone (no copy of A)", UserWarning, stacklevel=2)
    factor.matrices("triangular_solve", A)
    x = factor.solve_triangular(A.mT if transpose else A, self, upper != transpose, True, unitriangular)
    return TriangularSolve(x, A.expand(*x.shape[:-2], *A.shape[-2:]).clone())


METHODS.update(cholesky=cholesky, cholesky_solve=cholesky_solve, cholesky_inverse=cholesky_inverse,
               matrix_exp=matrix_exp, triangular_solve=triangular_solve)
FUNCTIONS.update({name: _function(name) for name in ("cholesky", "cholesky_solve", "cholesky_inverse",
                                                      "matrix_exp", "triangular_solve")})

# torch.svd / torch.qr (the older APIs), pinverse, nuclear_norm (tinygrad_adam.linalg's spectral family)
class SvdOld(NamedTuple):
    """What ``torch.svd`` returns (torch.return_types.svd): V, not Vh."""

    U: Tensor
    S: Tensor
    V: Tensor


class QrOld(NamedTuple):
    """What ``torch.qr`` returns (torch.return_types.qr)."""

    Q: Tensor
    R: Tensor


def svd(self: Tensor, some: bool = True, compute_uv: bool = True) -> SvdOld:
    """torch.svd: A = U diag(S) V^T, U (..., m, k) and V (..., n, k) with ``some`` (else square); without
    ``compute_uv``, U and V are zero-filled (..., m, m) / (..., n, n), as torch."""
    from . import linalg as la

    if not compute_uv:
        s = la.svdvals(self)
        zeros = [Tensor(self.xp.zeros(self.shape[:-2] + (k, k), dtype=self.dtype), device=self.device)
                 for k in self.shape[-2:]]
        return SvdOld(zeros[0], s, zeros[1])
    u, s, vh = la.svd(self, full_matrices=not some)
    return SvdOld(u, s, movement.transpose(vh, (*range(vh.ndim - 2), vh.ndim - 1, vh.ndim - 2)))


def qr(self: Tensor, some: bool = True) -> QrOld:
    """torch.qr (deprecated there, with its warning): ``linalg.qr`` with mode "reduced" (``some``) or "complete"."""
    from . import linalg as la

    warnings.warn("torch.qr is deprecated; use torch.linalg.qr (some=False there is mode='complete')", UserWarning,
                  stacklevel=2)
    return QrOld(*la.qr(self, "reduced" if some else "complete"))


def pinverse(self: Tensor, rcond: float = 1e-15) -> Tensor:
    """torch.pinverse: ``linalg.pinv`` with rtol = rcond."""
    from . import linalg as la

    return la.pinv(self, rtol=rcond)


def nuclear_norm(input: Tensor, dim: Sequence[int] | None = None, keepdim: bool = False) -> Tensor:  # noqa: A002 - torch's name
    """torch.nuclear_norm: the sum of the singular values of the matrices in dims ``dim`` (the last two when
    None), ``linalg.matrix_norm(A, "nuc", dim, keepdim)``."""
    from . import linalg as la

    return la.matrix_norm(input, "nuc", (-2, -1) if dim is None else tuple(dim), keepdim)


def orgqr(self: Tensor, tau: Tensor) -> Tensor:
    """torch.orgqr: ``linalg.householder_product(self, tau)``."""
    from . import linalg as la

    return la.householder_product(self, tau)


METHODS.update(svd=svd, qr=qr, pinverse=pinverse, orgqr=orgqr)
FUNCTIONS.update({name: _function(name) for name in ("svd", "qr", "pinverse", "orgqr")})
FUNCTIONS.update(nuclear_norm=nuclear_norm)

# HELPER-ALIASES: more of torch's names (tests/test_torch_aliases_more.py) -------------------------------------------
_index_ops = index  # (the methods' argument is torch's ``index``, which hides the module)

# comparisons' long names; in-place forms of comparisons, logical ops, triangles, products and long names (scans below)
COMPARISON_NAMES = {"greater": "gt", "greater_equal": "ge", "less": "lt", "less_equal": "le", "not_equal": "ne"}
METHODS.update({long: METHODS[short] for long, short in COMPARISON_NAMES.items()})
IN_PLACE_MORE = ("eq", "ne", "lt", "le", "gt", "ge", *COMPARISON_NAMES, "logical_and", "logical_or", "logical_xor",
                 "logical_not", "tril", "triu", "addmm", *ADD_PRODUCTS, "arctan2", "divide", "multiply", "subtract",
                 "true_divide", "floor_divide", "gcd", "lcm", "scatter", "scatter_add")
METHODS.update({f"{name}_": _in_place(name) for name in IN_PLACE_MORE})


def _scan_in_place(name: str) -> Callable[..., Tensor]:
    """cumsum_ / cumprod_: a ``dtype`` other than the tensor's raises, as torch (the result must fit in place)."""
    write = _in_place(name)

    def op(self: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
        if dtype is not None and numpy.dtype(dtype) != self.dtype:
            raise TypeError(f"{name}_: dtype={numpy.dtype(dtype)} differs from the tensor's {self.dtype}; in place the "
                            f"result keeps the tensor's dtype")
        return write(self, dim)
    op.__name__ = f"{name}_"
    return op


METHODS.update({f"{name}_": _scan_in_place(name) for name in ("cumsum", "cumprod")})

# Python's and numpy's protocols as torch's Tensor has them: abs(x), +x, np.asarray(x), and x **= y, x //= y, x %= y
# in place (without them Python would bind x to a new tensor: other names of the old one would not see the change)
METHODS.update(__abs__=METHODS["abs"], __pos__=positive, __array__=_array, __dlpack__=_dlpack,
               __dlpack_device__=_dlpack_device, __ipow__=METHODS["pow_"],
               __ifloordiv__=METHODS["floor_divide_"], __imod__=METHODS["remainder_"])


def put(self: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """A copy with ``source``'s values written (added, with ``accumulate``) at the flat positions ``index`` (int64,
    any shape; negative counts from the end) of the tensor taken as 1-D; ``source`` has this dtype and as many
    elements as ``index``. torch's ``index_put`` of the flattened tensor, gradients and all; output: self's shape."""
    if not isinstance(index, Tensor) or not isinstance(source, Tensor):
        raise TypeError(f"put: index and source must be tensors, got {type(index).__name__} and "
                        f"{type(source).__name__}")
    if index.dtype != numpy.int64:
        raise TypeError(f"put: index must be an int64 tensor (as torch), got {index.dtype}; convert with .long()")
    if source.dtype != self.dtype:
        raise TypeError(f"put: source dtype {source.dtype} differs from the tensor's {self.dtype}; convert one")
    if index.numel() != source.numel():
        raise IndexError(f"put: index and source must have as many elements, got {index.numel()} and "
                         f"{source.numel()}")
    flat = _index_ops.index_put_tensors(movement.reshape(self, (-1,)), (movement.reshape(index, (-1,)),),
                                        movement.reshape(source, (-1,)), accumulate)
    return movement.reshape(flat, self.shape)


def index_reduce(self: Tensor, dim: int, index: Tensor, source: Tensor, reduce: str, *,
                 include_self: bool = True) -> Tensor:
    """A copy with ``source``'s slices along ``dim`` reduced into the slices ``index`` names; see
    ``ops.index.index_reduce``."""
    return _index_ops.index_reduce(self, dim, index, source, reduce, include_self)


def fill_diagonal_(self: Tensor, fill_value: Any, wrap: bool = False) -> Tensor:
    """Write ``fill_value`` on the main diagonal in place (a matrix, or a tensor of equal dims: its [i, i, ..., i]);
    with ``wrap``, a matrix taller than wide by more than one restarts the diagonal below it every (cols + 1)
    rows, as torch (positions counted in row-major order). The gradient is zero on the diagonal."""
    check_fits("fill_diagonal_", fill_value, self.dtype)
    if self.ndim < 2:
        raise ValueError(f"fill_diagonal_: needs a tensor of at least 2 dims, got shape {self.shape}")
    if self.ndim > 2 and len(set(self.shape)) > 1:
        raise ValueError(f"fill_diagonal_: all dims of a tensor of more than 2 dims must be equal, got {self.shape}")
    xp, size = self.xp, self._data.size
    count = min(self.shape)
    if wrap and self.ndim == 2 and self.shape[0] > self.shape[1] + 1:
        count = -(-size // (self.shape[1] + 1))
    step = builtins.sum(math.prod(self.shape[d + 1:]) for d in range(self.ndim))
    mask = xp.zeros(size, dtype=bool)
    mask[xp.arange(count) * step] = True
    on = Tensor(mask.reshape(self.shape), device=self.device)
    return inplace.inplace(self, "fill_diagonal_", lambda a: masked_fill(a, on, fill_value), fill_value)


def _view_scatter(op: str, self: Tensor, src: Tensor, view: Tensor, key: Any) -> Tensor:
    """A copy of ``self`` with ``src`` (exactly ``view``'s shape; cast to self's dtype, as torch) written where
    ``self[key]`` (that view) lies; gradients for both (self's zero there)."""
    if not isinstance(src, Tensor):
        raise TypeError(f"{op}: src must be a Tensor, got {type(src).__name__}")
    if src.shape != view.shape:
        raise ValueError(f"{op}: src must have the shape of the slice it replaces: src {src.shape}, slice "
                         f"{view.shape}")
    return _index_ops.index_put(self, key, src if src.dtype == self.dtype else elementwise.astype(src, self.dtype))


def select_scatter(self: Tensor, src: Tensor, dim: int, index: int) -> Tensor:
    """A copy with ``src`` written into ``self.select(dim, index)``."""
    return _view_scatter("select_scatter", self, src, select(self, dim, index),
                         (slice(None),) * movement.wrap_dim("select_scatter", dim, self.ndim) + (int(index),))


def slice_scatter(self: Tensor, src: Tensor, dim: int = 0, start: int | None = None, end: int | None = None,
                  step: int = 1) -> Tensor:
    """A copy with ``src`` written into the slice ``start:end:step`` (step >= 1) of dim ``dim``."""
    if step < 1:
        raise ValueError(f"slice_scatter: step must be positive, got {step}")
    key = (slice(None),) * movement.wrap_dim("slice_scatter", dim, self.ndim) + (slice(start, end, step),)
    return _view_scatter("slice_scatter", self, src, movement.getitem(self, key), key)


def diagonal_scatter(self: Tensor, src: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """A copy with ``src`` written into ``self.diagonal(offset, dim1, dim2)`` (its diagonal last, as there)."""
    view = movement.diagonal(self, offset, dim1, dim2)
    d1, d2 = (movement.wrap_dim("diagonal_scatter", d, self.ndim) for d in (dim1, dim2))
    rest = [d for d in range(self.ndim) if d not in (d1, d2)]
    order = (*rest, d1, d2)
    xp, k = self.xp, view.shape[-1]
    key = (Ellipsis, xp.arange(k) + builtins.max(-offset, 0), xp.arange(k) + builtins.max(offset, 0))
    moved = movement.transpose(self, order)
    if not isinstance(src, Tensor) or src.shape != view.shape:
        return _view_scatter("diagonal_scatter", self, src, view, key)  # (raises)
    out = _view_scatter("diagonal_scatter", moved, src, view, key)
    return movement.transpose(out, tuple(numpy.argsort(order)))


# Tensor methods
def select(self: Tensor, dim: int, index: int) -> Tensor:
    """The slice at ``index`` along ``dim``, that dim removed (a view)."""
    if self.ndim == 0:
        raise IndexError("select(): a 0-dim tensor has no dim to pick from")
    d = movement.wrap_dim("select", dim, self.ndim)
    n = self.shape[d]
    if not -n <= int(index) < n:
        raise IndexError(f"select(): index {int(index)} falls outside dim {d} of a tensor of shape {self.shape}")
    return movement.getitem(self, (slice(None),) * d + (int(index),))


def split_with_sizes(self: Tensor, split_sizes: Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """Views of pieces of the given sizes along ``dim`` (they must add up to its length)."""
    return split(self, [int(n) for n in split_sizes], dim)


def sum_to_size(self: Tensor, *sizes: Any, size: Any = None) -> Tensor:
    """Summed down to ``size`` (a shape the tensor broadcasts from): over the leading dims and where ``size`` has 1;
    the tensor itself when it has that shape. ``size=`` as torch's keyword, or the sizes positionally."""
    size = _size_keyword("sum_to_size", sizes, size)
    if not size:
        raise TypeError("sum_to_size() needs the size: x.sum_to_size(2, 3) or x.sum_to_size((2, 3))")
    shape = tuple(int(n) for n in _sizes(size))
    lead = self.ndim - len(shape)
    if lead < 0 or builtins.any(n not in (m, 1) for n, m in zip(shape, self.shape[lead:])):
        raise ValueError(f"sum_to_size: size {shape} is not expandable to the tensor's size {self.shape}")
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and self.shape[lead + i] != 1)
    if not shape and not self.ndim:  # torch sums to a 0-d size (an integer 0-d tensor comes back int64)
        return sum_(self)
    return movement.reshape(sum_(self, axes, True), shape) if axes else self


def is_signed(self: Tensor) -> bool:
    return self.dtype.kind in "if"


def get_device(self: Tensor) -> int:
    """The GPU's index, -1 on the CPU (as torch)."""
    index = getattr(self.device, "index", None)
    return -1 if self.device == "cpu" or index is None else int(index)


def is_same_size(self: Tensor, other: Tensor) -> bool:
    return self.shape == other.shape


def is_nonzero(self: Tensor) -> bool:
    """Whether the one element is not zero (nan counts); other sizes raise, as torch."""
    if self._data.size != 1:
        raise RuntimeError(f"is_nonzero: the truth value of a tensor with {self._data.size} elements is ambiguous "
                         f"(it needs one element), shape {self.shape}")
    return bool(self._data.reshape(()) != 0)


def msort(self: Tensor) -> Tensor:
    """Sorted along dim 0 (the values of ``sort(dim=0)``)."""
    return sort.sort(self, 0)[0]


def dist(self: Tensor, other: TensorLike, p: float = 2) -> Tensor:
    """The p-norm of ``self - other`` (broadcast, promoted; floating only): ``linalg.vector_norm``'s ord p (p = 0:
    backward raises, as torch's)."""
    from .linalg import vector_norm

    elementwise.check_sub_operands(self, other)  # (a bool operand raises, as torch's subtraction)
    a, b = elementwise.operands("dist", self, other)
    if a.dtype.kind != "f":
        raise DtypeError(f"dist: expects floating tensors (as torch), got {a.dtype}; convert with .float()")
    out = vector_norm(elementwise.sub(a, b), float(p))
    return no_derivative("dist with p=0", out, a, b) if p == 0 else out  # (torch's backward fails there)


def new(self: Tensor, *args: Any, device: Any = None) -> Tensor:
    """torch's legacy ``x.new(...)``: ``x.new(2, 3)`` (uninitialised, zero here), ``x.new(data)``, ``x.new()``, in
    x's dtype and on x's device (see ``LegacyTensorType``)."""
    kind = LegacyTensorType(_TYPE_NAMES.get(self.dtype.name, self.dtype.name), self.dtype)
    return kind(*args, device=self.device if device is None else device)


def _size_keyword(op: str, sizes: tuple[Any, ...], size: Any) -> tuple[Any, ...]:
    """The sizes given positionally (``2, 3`` or ``(2, 3)``) or as torch's keyword ``size=``, not both."""
    if size is None:
        return sizes
    if sizes:
        raise TypeError(f"{op}() got the size both positionally and as size=; give it once")
    return (size,)


def resize_(self: Tensor, *sizes: Any, memory_format: Any = None, size: Any = None) -> Tensor:
    """Take the shape ``sizes`` in place: the elements in row-major order, the first ones when shrinking, zeros added
    when growing (torch leaves them uninitialised); the version counter moves unless the shape stays. As torch, a
    tensor that requires grad raises. A tensor that is
    not contiguous raises (torch reinterprets its storage), as does growing one that shares its memory (a view, or
    one written in place or viewed, whose views torch would move along to the new memory). ``size=``: torch's
    keyword for the sizes."""
    sizes = _size_keyword("resize_", sizes, size)
    if not sizes:
        raise TypeError("resize_() needs the size: x.resize_(2, 3) or x.resize_((2, 3))")
    shape = tuple(int(n) for n in _sizes(sizes))
    if builtins.any(n < 0 for n in shape):
        raise ValueError(f"resize_: negative dimension in size {shape}")
    if self.requires_grad:
        raise RuntimeError("resize_: cannot resize a tensor that requires grad (as torch); resize a detached copy")
    if shape == self.shape:  # nothing changes (torch's version counter stays too)
        return self
    data = self.xp.asarray(self._data)
    if not data.flags.c_contiguous:
        raise ValueError(f"resize_: the tensor (shape {self.shape}) is not contiguous; resize a .clone() of it")
    n, flat = math.prod(shape), data.reshape(-1)
    if n <= flat.size:
        self._data = flat[:n].reshape(shape)
    elif self._vbox is not None or data.base is not None or self._data_alias:
        raise ValueError(f"resize_: cannot grow a tensor that may share its memory (a view, one with views, or a "
                         f"`.data`); resize a .clone() of it (shape {self.shape} to {shape})")
    else:
        grown = self.xp.zeros(n, dtype=self.dtype)
        grown[:flat.size] = flat
        self._data = grown.reshape(shape)
    bump_version(self)
    return self


def resize_as_(self: Tensor, other: Tensor, memory_format: Any = None) -> Tensor:
    return resize_(self, other.shape)


def adjoint(self: Tensor) -> Tensor:
    """The last two dims swapped (the conjugate transpose: tensors here are real), of a matrix or a batch of them (a
    0-d tensor is itself, with torch's deprecation warning)."""
    if self.ndim == 0:
        warnings.warn("adjoint() of a 0-d tensor is deprecated; x.conj() gives the same result", UserWarning,
                      stacklevel=2)
        return movement.reshape(self, ())
    if self.ndim < 2:
        raise ValueError(f"adjoint() needs at least 2 dimensions (a matrix or a stack of them), got shape {self.shape}")
    return transpose(self, -2, -1)


def detach_(self: Tensor) -> Tensor:
    """Cut this tensor from its graph in place (no longer requiring grad); a view raises, as torch (detach() it)."""
    if self._base is not None:
        raise RuntimeError("detach_: can't detach a view in place (as torch); use detach() instead")
    if self._backward is not None:  # ops recorded before keep its graph (torch's edges keep the old grad_fn)
        from .ops.inplace import _set_prior, _snapshot
        from .tensor import inplace_writes

        prior = _snapshot(self)
        prior._detached_into = True  # (an op that saved it raises at backward, as torch: tensor.check_versions)
        _set_prior(self, prior)
        inplace_writes[0] += 1
        self._epoch = inplace_writes[0]
    self._parents, self._backward, self._op, self.requires_grad = (), None, "", False
    return self


def _nn_function(name: str) -> Callable[..., Any]:
    """``nn.functional.<name>`` (imported on first use: nn imports the package)."""
    from .nn import functional

    return getattr(functional, name)


def mvlgamma(self: Tensor, p: int) -> Tensor:
    """The log of the multivariate gamma function of dimension p: sum_j lgamma(x - j / 2) over j < p, plus
    p (p - 1) / 4 log(pi), as torch computes it (float32 for integers; no domain check, as torch 2.13)."""
    if isinstance(p, bool) or int(p) != p or p < 1:
        raise ValueError(f"mvlgamma: p has to be an integer >= 1, got {p!r}")
    x = _floating(self)
    shifts = Tensor(x.xp.arange(-p / 2 + 0.5, 0.5, 0.5, dtype=x.dtype), device=x.device)
    terms = unary.lgamma(elementwise.add(shifts, movement.unsqueeze(x, -1)))
    return elementwise.add(reduce.sum(terms, -1, False), p * (p - 1) * math.log(math.pi) / 4)


METHODS.update({
    "put": put, "index_reduce": index_reduce, "fill_diagonal_": fill_diagonal_, "select_scatter": select_scatter,
    "slice_scatter": slice_scatter, "diagonal_scatter": diagonal_scatter, "select": select,
    "split_with_sizes": split_with_sizes, "sum_to_size": sum_to_size, "short": _cast(numpy.int16),
    "byte": _cast(numpy.uint8), "char": _cast(numpy.int8), "is_signed": is_signed,
    "is_cpu": property(lambda self: self.device == "cpu"), "is_meta": property(lambda self: False),
    "get_device": get_device, "is_same_size": is_same_size,
    "is_nonzero": is_nonzero, "msort": msort, "dist": dist, "new": new,
    "hardshrink": lambda self, lambd=0.5: _nn_function("hardshrink")(self, lambd),
    "prelu": lambda self, weight: _nn_function("prelu")(self, weight),
    "register_post_accumulate_grad_hook": autograd.register_post_accumulate_grad_hook,
    "resize_": resize_, "resize_as_": resize_as_, "isreal": lambda self: Tensor(
        self.xp.ones(self.shape, dtype=bool), device=self.device),
    "nextafter": binary.nextafter, "igamma": binary.igamma,
    "igammac": lambda self, other: binary.igamma(self, other, upper=True), "mvlgamma": mvlgamma,
    "_is_view": lambda self: self._base is not None,
    "adjoint": adjoint, "detach_": detach_, "narrow_copy": lambda self, dim, start, length: movement.clone(
        movement.narrow(self, dim, start, length)), "unsafe_chunk": chunk, "unsafe_split": split,
    "unsafe_split_with_sizes": split_with_sizes,
})
METHODS.update({f"{name}_": _in_place(name) for name in ("put", "index_reduce", "nextafter", "igamma", "igammac",
                                                          "mvlgamma")})


# torch.* functions
def _atleast(n: int) -> Callable[..., Any]:
    """torch's atleast_1d / 2d / 3d: each tensor with leading (and for 3-d, trailing) dims of 1 added up to n dims
    (views); one tensor gives a tensor, several (or a list) a tuple."""
    def fn(*tensors: Any) -> Any:
        many = tensors[0] if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tensors
        out = []
        for t in many:
            if not isinstance(t, Tensor):
                raise TypeError(f"atleast_{n}d: expected tensors, got {type(t).__name__}")
            shape = t.shape if t.ndim >= n else ((1,) * (n - t.ndim) + t.shape if n < 3 or t.ndim == 0 else
                                                 (1, *t.shape, 1) if t.ndim == 1 else (*t.shape, 1))
            out.append(t if shape == t.shape else movement.reshape(t, shape))
        return out[0] if len(tensors) == 1 and isinstance(tensors[0], Tensor) else tuple(out)
    fn.__name__ = fn.__qualname__ = f"atleast_{n}d"
    return fn


atleast_1d, atleast_2d, atleast_3d = _atleast(1), _atleast(2), _atleast(3)


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    """Joined along dim 1 (dim 0 for 1-D tensors), after ``atleast_1d``."""
    ts = atleast_1d(_sequence("hstack", tensors))
    return cat(ts, 0 if ts[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    """Joined along dim 0, after ``atleast_2d`` (a 1-D tensor is a row)."""
    return cat(atleast_2d(_sequence("vstack", tensors)), 0)


def dstack(tensors: Sequence[Tensor]) -> Tensor:
    """Joined along dim 2, after ``atleast_3d``."""
    return cat(atleast_3d(_sequence("dstack", tensors)), 2)


def column_stack(tensors: Sequence[Tensor]) -> Tensor:
    """Joined along dim 1, 0-d and 1-D tensors taken as columns (n, 1)."""
    ts = _sequence("column_stack", tensors)
    return cat([movement.reshape(t, (t.numel(), 1)) if t.ndim <= 1 else t for t in ts], 1)


def broadcast_shapes(*shapes: Any) -> Size:
    """The shape all ``shapes`` (ints or sequences) broadcast to."""
    out: tuple[int, ...] = ()
    for s in shapes:
        s = (int(s),) if isinstance(s, numbers.Integral) else tuple(int(n) for n in s)
        if builtins.any(n < 0 for n in s):
            raise ValueError(f"broadcast_shapes: negative dimension in shape {s}")
        out = elementwise.broadcast_shape("broadcast_shapes", out, s)
    return Size(out)


def broadcast_tensors(*tensors: Tensor) -> tuple[Tensor, ...]:
    """The tensors broadcast to their common shape (views)."""
    shape = broadcast_shapes(*(t.shape for t in tensors))
    return tuple(movement.broadcast_to(t, tuple(shape)) for t in tensors)


def isin(elements: TensorLike, test_elements: TensorLike, *, assume_unique: bool = False,
         invert: bool = False) -> Tensor:
    """Whether each of ``elements`` (a tensor or a number) is among ``test_elements``, compared in their promoted
    dtype (as torch); a bool tensor of elements' shape (``invert``: is not)."""
    like = elements if isinstance(elements, Tensor) else test_elements
    if not isinstance(like, Tensor):
        raise TypeError("isin: elements or test_elements must be a Tensor")
    for x in (elements, test_elements):  # torch takes a Tensor or a number, never a list / array, nor a bool
        if not isinstance(x, (Tensor, int, float, numpy.integer, numpy.floating, numpy.bool_)):
            raise TypeError(f"isin: elements and test_elements must be Tensors or numbers (got {type(x).__name__})")
        if x is True or x is False or (isinstance(x, Tensor) and x.dtype == bool):
            raise DtypeError("isin: bool inputs are not supported (as torch, which raises RuntimeError)")
    dt = elementwise.result_type(elements, test_elements)
    e, t = (elementwise.cast(x if isinstance(x, (Tensor, int, float, bool)) else as_tensor(x, like), dt, like)
            for x in (elements, test_elements))
    return Tensor(like.xp.isin(e._data, t._data, invert=invert), device=like.device)


def can_cast(from_: Any, to: Any) -> bool:
    """torch's casting rule: anything but floating to integer or bool, and other to bool."""
    a, b = numpy.dtype(from_), numpy.dtype(to)
    return not ((a.kind == "f" and b.kind in "iub") or (a.kind != "b" and b.kind == "b"))


def promote_types(type1: Any, type2: Any) -> numpy.dtype:
    """The dtype torch promotes two dtypes to (int64 with float32 is float32; uint8 with int8 is int16)."""
    return elementwise.promote_types(numpy.dtype(type1), numpy.dtype(type2))


def cumulative_trapezoid(y: Tensor, x: Tensor | None = None, *, dx: float | None = None, dim: int = -1) -> Tensor:
    """The running trapezoid-rule integral of ``y`` along ``dim`` (one element shorter there), at spacing ``dx``
    (default 1) or at the sample points ``x`` (1-D along ``dim``, or broadcasting with ``y``), as torch computes it."""
    if x is not None and dx is not None:
        raise TypeError("cumulative_trapezoid: pass x or dx, not both")
    if y.ndim == 0:
        raise IndexError("cumulative_trapezoid: y must have at least one dim")
    if y.dtype == bool or (isinstance(x, Tensor) and x.dtype == bool) or isinstance(dx, bool):
        raise TypeError("cumulative_trapezoid: bool inputs are not supported (as torch)")
    d = movement.wrap_dim("cumulative_trapezoid", dim, y.ndim)
    left, right = ((slice(None),) * d + (s,) for s in (slice(None, -1), slice(1, None)))
    total = elementwise.add(y[left], y[right])
    if x is None:
        return METHODS["cumsum"](elementwise.mul(total, (1.0 if dx is None else float(dx)) / 2.0), d)
    if x.ndim == 1:
        if x.shape[0] != y.shape[d]:
            raise ValueError(f"cumulative_trapezoid: x must have one value per sample point ({y.shape[d]}), got "
                             f"{x.shape[0]}")
        x = movement.reshape(x, (1,) * d + (-1,) + (1,) * (y.ndim - d - 1))
    elif x.ndim < y.ndim:
        x = movement.reshape(x, (1,) * (y.ndim - x.ndim) + x.shape)
    return elementwise.div(METHODS["cumsum"](elementwise.mul(total, x[right] - x[left]), d), 2.0)


def chain_matmul(*matrices: Tensor) -> Tensor:
    """The product of 2-D tensors, left to right (deprecated in torch, with its warning)."""
    warnings.warn("chain_matmul is deprecated; torch.linalg.multi_dot does the same but takes the matrices as "
                  "one list (two or more)", UserWarning, stacklevel=2)
    if not matrices or builtins.any(not isinstance(m, Tensor) or m.ndim != 2 for m in matrices):
        raise ValueError(f"chain_matmul: expects one or more 2-D tensors, got shapes "
                         f"{[getattr(m, 'shape', None) for m in matrices]}")
    out = matrices[0]
    for m in matrices[1:]:
        out = linalg.matmul(out, m)
    return movement.clone(out) if len(matrices) == 1 else out


def frobenius_norm(input: Tensor, dim: Sequence[int], keepdim: bool = False) -> Tensor:  # noqa: A002
    """sqrt(sum x^2) over at most 2 dims (all when empty), floating only (deprecated in torch, with its warning)."""
    from .linalg import vector_norm

    dims = (int(dim),) if isinstance(dim, numbers.Integral) else tuple(int(d) for d in dim)
    if len(dims) > 2:
        raise ValueError(f"frobenius_norm: expects at most 2 dims, got {dims}")
    warnings.warn("frobenius_norm is deprecated (kept only for old scripted code); "
                  "linalg.vector_norm(A, 2., dim, keepdim) computes the same value",
                  UserWarning, stacklevel=2)
    if input.dtype.kind != "f":
        raise TypeError(f"frobenius_norm: expects a floating tensor (as torch), got {input.dtype}")
    return vector_norm(input, 2, dims or None, keepdim)


_REDUCTION_NAMES = ("none", "mean", "sum")


def _reduction(op: str, reduction: Any) -> str:
    """torch.<loss>'s ``reduction``, an int (0 none, 1 mean, 2 sum), as its name (F.<loss> takes the names)."""
    if isinstance(reduction, bool) or not isinstance(reduction, numbers.Integral) or not 0 <= reduction <= 2:
        raise TypeError(f"torch.{op}: reduction must be an int, 0 (none), 1 (mean) or 2 (sum), as torch's, got "
                        f"{reduction!r}; nn.functional.{op} takes the names")
    return _REDUCTION_NAMES[reduction]


def kl_div(input: Tensor, target: Tensor, reduction: int = 1, log_target: bool = False) -> Tensor:  # noqa: A002
    return _nn_function("kl_div")(input, target, reduction=_reduction("kl_div", reduction), log_target=log_target)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                                     pos_weight: Tensor | None = None, reduction: int = 1) -> Tensor:
    return _nn_function("binary_cross_entropy_with_logits")(
        input, target, weight, reduction=_reduction("binary_cross_entropy_with_logits", reduction),
        pos_weight=pos_weight)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          reduction: int = 1) -> Tensor:
    return _nn_function("cosine_embedding_loss")(input1, input2, target, margin,
                                                reduction=_reduction("cosine_embedding_loss", reduction))


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, reduction: int = 1) -> Tensor:  # noqa: A002
    return _nn_function("hinge_embedding_loss")(input, target, margin,
                                               reduction=_reduction("hinge_embedding_loss", reduction))


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        reduction: int = 1) -> Tensor:
    return _nn_function("margin_ranking_loss")(input1, input2, target, margin,
                                              reduction=_reduction("margin_ranking_loss", reduction))


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool, full: bool, eps: float,  # noqa: A002
                     reduction: int) -> Tensor:
    return _nn_function("poisson_nll_loss")(input, target, log_input, full, eps=eps,
                                           reduction=_reduction("poisson_nll_loss", reduction))


def _dropout(name: str, inplace: bool = False) -> Callable[..., Tensor]:
    """torch.dropout / alpha_dropout / feature_alpha_dropout (and ``_`` in place): (input, p, train), positional."""
    def fn(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002 - torch's name
        return _nn_function(name)(input, p, train, inplace)
    fn.__name__ = fn.__qualname__ = name + "_" * inplace
    return fn


def feature_dropout(input: Tensor, p: float, train: bool, inplace: bool = False) -> Tensor:  # noqa: A002
    """Dropout of whole channels of x (N, C, ...): one draw per (sample, channel), the rest scaled by 1 / (1 - p)."""
    if input.ndim < 2:
        raise ValueError(f"feature_dropout: needs at least 2 dims (N, C, ...), got shape {input.shape}")
    return _nn_function("_channel_dropout")("feature_dropout", input, input.ndim - 2, p, train, inplace)


def feature_dropout_(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    return feature_dropout(input, p, train, inplace=True)


def layer_norm(input: Tensor, normalized_shape: Sequence[int], weight: Tensor | None = None,  # noqa: A002
               bias: Tensor | None = None, eps: float = 1e-5, cudnn_enable: bool = True) -> Tensor:
    return _nn_function("layer_norm")(input, normalized_shape, weight, bias, eps)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,  # noqa: A002
               eps: float = 1e-5, cudnn_enabled: bool = True) -> Tensor:
    return _nn_function("group_norm")(input, num_groups, weight, bias, eps)


def batch_norm(input: Tensor, weight: Tensor | None, bias: Tensor | None, running_mean: Tensor | None,  # noqa: A002
               running_var: Tensor | None, training: bool, momentum: float, eps: float,
               cudnn_enabled: bool) -> Tensor:
    """torch.batch_norm's argument order (weight and bias first; F.batch_norm takes the running statistics first)."""
    return _nn_function("batch_norm")(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(input: Tensor, weight: Tensor | None, bias: Tensor | None, running_mean: Tensor | None,  # noqa: A002
                  running_var: Tensor | None, use_input_stats: bool, momentum: float, eps: float,
                  cudnn_enabled: bool) -> Tensor:
    """torch.instance_norm's argument order (see ``batch_norm``)."""
    return _nn_function("instance_norm")(input, running_mean, running_var, weight, bias, use_input_stats, momentum,
                                        eps)


def embedding(weight: Tensor, indices: Tensor, padding_idx: int = -1, scale_grad_by_freq: bool = False,
              sparse: bool = False) -> Tensor:
    """torch.embedding: the weight first; a negative ``padding_idx`` means none (F.embedding has wrapped it)."""
    return _nn_function("embedding")(indices, weight, None if padding_idx < 0 else padding_idx,
                                    scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


def _same_as_nn_function(name: str) -> Callable[..., Tensor]:
    """torch.<name>, which takes F.<name>'s arguments."""
    def fn(*args: Any, **kwargs: Any) -> Tensor:
        return _nn_function(name)(*args, **kwargs)
    fn.__name__ = fn.__qualname__ = name
    return fn


def _inplace_nn_function(name: str) -> Callable[..., Tensor]:
    """torch.celu_ / selu_ / threshold_ / rrelu_: ``F.<name>(..., inplace=True)``."""
    def fn(input: Tensor, *args: Any, **kwargs: Any) -> Tensor:  # noqa: A002 - torch's name
        return _nn_function(name)(input, *args, inplace=True, **kwargs)
    fn.__name__ = fn.__qualname__ = f"{name}_"
    return fn


FUNCTIONAL_NAMES = ("pdist", "pairwise_distance", "cosine_similarity", "prelu", "hardshrink", "celu", "selu",
                    "threshold", "bilinear", "rrelu")
FUNCTIONS.update({name: _function(name) for name in (
    *COMPARISON_NAMES, "absolute", "divide", "multiply", "negative", "subtract", "true_divide", "swapaxes", "swapdims",
    "put", "index_reduce", "select_scatter", "slice_scatter", "diagonal_scatter", "select", "split_with_sizes",
    "is_signed", "is_same_size", "is_nonzero", "msort", "dist", "isreal", "nextafter", "igamma", "igammac",
    "mvlgamma", "get_device", "adjoint", "detach_", "narrow_copy", "unsafe_chunk", "unsafe_split",
    "unsafe_split_with_sizes")})
IN_PLACE_FUNCTIONS = (  # torch.<name>_(input, ...) where Tensor.<name>_ exists
    "abs_", "acos_", "acosh_", "arccos_", "arccosh_", "arcsin_", "arcsinh_", "arctan_", "arctanh_",
    "asin_", "asinh_", "atan_", "atanh_", "ceil_", "clamp_", "clamp_max_", "clamp_min_", "clip_", "cos_", "cosh_",
    "deg2rad_", "erf_", "erfc_", "exp2_", "exp_", "expm1_", "fill_", "fix_", "floor_", "frac_", "i0_", "ldexp_",
    "log10_", "log1p_", "log2_", "log_", "logit_", "nan_to_num_", "neg_", "negative_", "rad2deg_", "reciprocal_",
    "relu_", "round_", "rsqrt_", "sigmoid_", "sin_", "sinc_", "sinh_", "sqrt_", "square_", "tan_", "tanh_",
    "trunc_", "xlogy_", "zero_", "addmv_", "gcd_", "lcm_", "resize_as_")
FUNCTIONS.update({name: _function(name) for name in IN_PLACE_FUNCTIONS if name in METHODS})
FUNCTIONS.update({name: _same_as_nn_function(name) for name in FUNCTIONAL_NAMES})
FUNCTIONS.update({f"{name}_": _inplace_nn_function(name) for name in ("celu", "selu", "threshold", "rrelu")})
DROPOUTS = ("dropout", "alpha_dropout", "feature_alpha_dropout")
FUNCTIONS.update({name: _dropout(name) for name in DROPOUTS})
FUNCTIONS.update({f"{name}_": _dropout(name, True) for name in DROPOUTS})
FUNCTIONS.update(
    feature_dropout=feature_dropout, feature_dropout_=feature_dropout_,
    atleast_1d=atleast_1d, atleast_2d=atleast_2d, atleast_3d=atleast_3d, hstack=hstack, vstack=vstack,
    row_stack=vstack, dstack=dstack, column_stack=column_stack, broadcast_shapes=broadcast_shapes,
    broadcast_tensors=broadcast_tensors, isin=isin, can_cast=can_cast, promote_types=promote_types,
    cumulative_trapezoid=cumulative_trapezoid, chain_matmul=chain_matmul, frobenius_norm=frobenius_norm,
    kl_div=kl_div, binary_cross_entropy_with_logits=binary_cross_entropy_with_logits,
    cosine_embedding_loss=cosine_embedding_loss, hinge_embedding_loss=hinge_embedding_loss,
    margin_ranking_loss=margin_ranking_loss, poisson_nll_loss=poisson_nll_loss, layer_norm=layer_norm,
    group_norm=group_norm, batch_norm=batch_norm, instance_norm=instance_norm, embedding=embedding,
    get_default_device=lambda: backend.device(backend.default_device()),
    is_inference_mode_enabled=autograd.is_inference_mode_enabled,
    logspace=logspace, range=range_, hann_window=hann_window, hamming_window=hamming_window,
    blackman_window=blackman_window, bartlett_window=bartlett_window, kaiser_window=kaiser_window)

# a dense Tensor's answer to what code written for sparse gradients (embedding(sparse=True), sparse_grad.py) asks
METHODS["is_sparse"] = property(lambda self: False)
METHODS["volatile"] = property(autograd.volatile, autograd.set_volatile)  # the 0.3 flag: always False, a warning


def to_sparse(self: Tensor, sparse_dim: int | None = None) -> Any:
    """A 2-D tensor as a sparse COO matrix of its nonzeros (``sparse.to_sparse``; sparse.py loads on first use)."""
    from .sparse import to_sparse
    return to_sparse(self, sparse_dim)


METHODS["to_sparse"] = METHODS["to_sparse_coo"] = to_sparse

# torch.* names of nn.functional's convolutions and pools (torch.conv2d, torch.max_pool1d, ...)
def _functional(name: str, indices: bool = False) -> Callable[..., Any]:
    """torch's ``torch.<name>``: ``nn.functional.<name>`` (imported at the call: nn is built over this module), with
    torch's ``stride=()`` (the kernel size) as None; ``indices``: always (values, indices), as
    ``torch.adaptive_max_pool1d``."""
    def fn(*args: Any, **kwargs: Any) -> Any:
        from .nn import functional

        if kwargs.get("stride") in ((), []):
            kwargs["stride"] = None
        if name.startswith(("max_pool", "avg_pool")) and len(args) > 2 and args[2] in ((), []):
            args = (*args[:2], None, *args[3:])
        return getattr(functional, name)(*args, **({**kwargs, "return_indices": True} if indices else kwargs))
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.{name}: ``nn.functional.{name}``" + (" with return_indices=True." if indices else ".")
    return fn


FUNCTIONS.update({name: _functional(name) for name in (
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "max_pool1d",
    "max_pool2d", "max_pool3d", "max_pool1d_with_indices", "avg_pool1d", "adaptive_avg_pool1d", "pixel_shuffle",
    "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle", "conv_tbc")})
FUNCTIONS["adaptive_max_pool1d"] = _functional("adaptive_max_pool1d", indices=True)


def _recurrent(name: str) -> Callable[..., Any]:
    """torch's ``torch.<name>`` (lstm_cell, gru, ...): ``nn.rnn_functional.<name>``, imported at the call."""
    def fn(*args: Any, **kwargs: Any) -> Any:
        from .nn import rnn_functional

        return getattr(rnn_functional, name)(*args, **kwargs)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.{name}: ``nn.rnn_functional.{name}``."
    return fn


FUNCTIONS.update({name: _recurrent(name) for name in (
    "lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell", "lstm", "gru", "rnn_tanh", "rnn_relu")})


# torch.func / autograd.functional -------------------------------------------------------------------------------------
def vmap(func: Callable[..., Any], in_dims: Any = 0, out_dims: Any = 0, randomness: str = "error", *,
         chunk_size: int | None = None) -> Callable[..., Any]:
    """``torch.vmap``: ``tinygrad_adam.func.vmap`` (imported at the call: func.py is built over this module), a loop
    over the batch with torch's semantics."""
    from .func import vmap as loop

    return loop(func, in_dims, out_dims, randomness, chunk_size=chunk_size)


FUNCTIONS["vmap"] = vmap


# torch._foreach_* list ops ------------------------------------------------------------------------------------------
from .ops.foreach import FOREACH  # noqa: E402 - the list ops loop over the methods bound above

FUNCTIONS.update(FOREACH)
