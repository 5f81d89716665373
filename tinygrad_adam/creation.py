"""Tensor constructors: tensor, zeros, ones, full, empty, *_like, randn, rand, randint, randperm, multinomial,
arange, linspace, logspace, eye, the window functions (hann, hamming, blackman, bartlett, kaiser), and
``Generator`` objects for the random ones.

Dtypes follow torch: float32 unless told, except where torch infers another (``tensor`` of Python ints is int64,
of bools bool; ``arange`` of ints and ``randint`` / ``randperm`` give int64; ``full`` takes its value's kind).
"""

from __future__ import annotations

import functools
import json
import math
import operator
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy

from . import backend
from .layouts import check_layout, like
from .ops.elementwise import cast_array, promote_types
from .ops.factor import KernelDtypeError
from .ops.movement import int_args
from .tensor import (
    DEFAULT_FLOAT,
    Tensor,
    check_devices,
    check_fits,
    is_foreign_array,
    numeric_array,
    record,
    refuse_complex,
    tensors_as_numbers,
)


class Generator:
    """A random stream of its own, as ``torch.Generator``: pass it as ``generator=`` to the random functions.

    ``Generator(device="cpu").manual_seed(s)`` gives the same numbers for the same seed, apart from the
    global stream that ``manual_seed`` seeds.
    """

    def __init__(self, device: str | None = "cpu") -> None:
        self.device = backend.parse_device(device)
        self._seed: int | None = None
        self.rng = backend.new_generator(self.device, None)

    def manual_seed(self, seed: int) -> Generator:
        """Restart the stream from ``seed`` (an integer in [-2**63, 2**64), a negative one read as unsigned 64-bit,
        as torch's); returns the generator."""
        if isinstance(seed, (bool, float, numpy.floating)):
            raise TypeError(f"manual_seed expected a long, but got {type(seed).__name__}")
        self._seed = seed_value(seed)
        self.rng = backend.new_generator(self.device, self._seed)
        return self

    def seed(self) -> int:
        """Reseed from fresh entropy; returns the new seed."""
        return self.manual_seed(int(numpy.random.SeedSequence().generate_state(1)[0])).initial_seed()

    def initial_seed(self) -> int | None:
        return self._seed

    def get_state(self) -> Tensor:
        """The stream's state as a uint8 tensor (torch's type: it can be cloned, saved and given to
        ``set_state``); its bytes are ours, not torch's."""
        if self.device != "cpu":
            raise NotImplementedError("get_state: a GPU generator has no state to save; reseed it instead")
        return state_tensor(self.rng.bit_generator.state)

    def set_state(self, state: Tensor | dict[str, Any]) -> Generator:
        """Restore what ``get_state`` returned (a dict, the earlier form, is taken too)."""
        if self.device != "cpu":
            raise NotImplementedError("set_state: a GPU generator has no state to restore; reseed it instead")
        self.rng.bit_generator.state = state_dict(state)
        return self


def state_tensor(state: dict[str, Any]) -> Tensor:
    """A generator state (a dict of numbers and names) as torch's kind of state: a 1-D uint8 tensor (JSON bytes)."""
    text = json.dumps(state, default=lambda value: value.tolist())  # (an array in a state: a list)
    return Tensor(numpy.frombuffer(text.encode(), dtype=numpy.uint8).copy())


def state_dict(state: Tensor | dict[str, Any]) -> dict[str, Any]:
    """The dict ``state_tensor`` encoded (a dict passes through); anything else raises TypeError."""
    if isinstance(state, dict):
        return state
    if not isinstance(state, Tensor) or state.dtype != numpy.uint8 or state.ndim != 1:
        raise TypeError(f"expected a 1-D uint8 tensor from get_state / get_rng_state, got {state!r}")
    try:
        return json.loads(bytes(backend.to_numpy(state._data)).decode())
    except (UnicodeDecodeError, ValueError) as error:
        raise RuntimeError("this state was not made by this library's get_state / get_rng_state") from error


class _DefaultGenerator(Generator):
    """``torch.default_generator``: the global CPU stream (the one ``manual_seed`` seeds and the random functions
    draw from without ``generator=``) as a Generator."""

    def __init__(self) -> None:
        self.device = "cpu"

    @property
    def rng(self) -> Any:  # type: ignore[override]
        return backend.generator("cpu")

    def manual_seed(self, seed: int) -> Generator:
        backend.manual_seed(seed_value(seed))
        return self

    def seed(self) -> int:
        return backend.seed()

    def initial_seed(self) -> int:
        return backend.initial_seed()


default_generator = _DefaultGenerator()


def seed_value(seed: Any) -> int:
    """torch's seed as an unsigned 64-bit integer: ``int(seed)`` in [-2**63, 2**64) (ValueError outside), a
    negative one wrapped (-1 is 2**64 - 1, what ``initial_seed()`` then returns)."""
    value = int(seed)
    if not -2 ** 63 <= value < 2 ** 64:
        raise ValueError(f"manual_seed: seed {value} is outside [-2**63, 2**64)")
    return value % 2 ** 64


def manual_seed(seed: int) -> Generator:
    """Seed the random stream of every device (the same seed gives the same numbers); returns
    ``default_generator``, as torch's."""
    return default_generator.manual_seed(seed)


def _rng(generator: Generator | None, device: str) -> Any:
    """The raw generator to draw from: ``generator``'s (on its own device) or None for the device's stream."""
    if generator is None:
        return None
    if generator.device != device:
        raise backend.DeviceError(f"the generator is on {generator.device} but the tensor is made on {device}")
    return generator.rng


def infer_dtype(data: Any) -> Any:
    """torch's dtype for Python data: bools -> bool, ints -> int64, floats -> float32, complex -> complex64 (a
    Tensor or array counts as the Python number of its kind, as torch's Scalar: full((2,), tensor(3)) is int64)."""
    kind = (data._data if isinstance(data, Tensor) else numpy.asarray(data)).dtype.kind
    return {"b": numpy.bool_, "i": numpy.int64, "u": numpy.int64, "c": numpy.complex64}.get(kind, DEFAULT_FLOAT)


_PYTHON_DTYPES = {bool: numpy.dtype(bool), int: numpy.dtype(numpy.int64), float: numpy.dtype(DEFAULT_FLOAT)}


def nested_dtype(data: Any) -> numpy.dtype | None:
    """torch.tensor's dtype for ``data`` (a number or nested lists): a Tensor or numpy element keeps its dtype, a
    Python bool / int / float is bool / int64 / float32, and they are promoted across the nest as
    ``torch.promote_types`` does (a float64 0-d tensor among Python floats gives float64; Python ints give int64
    however large, so one beyond int64 overflows, as in torch). None for an empty nest."""
    if isinstance(data, (list, tuple)):
        kinds = {type(x) for x in data}
        leaves = [_PYTHON_DTYPES[k] for k in kinds] if kinds <= _PYTHON_DTYPES.keys() else map(nested_dtype, data)
        return functools.reduce(promote_types, leaves, None)
    if hasattr(data, "dtype"):
        return numpy.dtype(data.dtype)
    if data is None:  # (numpy would make an object array: torch refuses)
        raise RuntimeError("Could not infer dtype of NoneType")
    if isinstance(data, str):
        raise TypeError("new(): invalid data type 'str'")
    return _PYTHON_DTYPES[type(data)] if type(data) in _PYTHON_DTYPES else numpy.dtype(infer_dtype(data))


def warn_copy_construct(spelling: str) -> None:
    """torch's UserWarning for a tensor copied by ``spelling`` (``torch.tensor`` / ``new_tensor`` of a Tensor), shown
    at the caller of the public function."""
    warnings.warn(f"copy construct from a tensor with sourceTensor.detach().clone() (and .requires_grad_(True) "
                  f"where needed) rather than {spelling}", UserWarning, stacklevel=3)


def _nested_tensors(data: list | tuple) -> Iterator[Tensor]:
    """The Tensors nested in ``data`` (lists and tuples, any depth), in order."""
    if set(map(type, data)) <= {float, int, bool}:  # (the common case, at C speed)
        return
    for x in data:
        if isinstance(x, Tensor):
            yield x
        elif isinstance(x, (list, tuple)):
            yield from _nested_tensors(x)


def refuse_float_indices(data: list | tuple) -> None:
    """torch reads a Tensor nested in the data of an integer or bool ``tensor`` as an index (``__index__``): a
    floating one, or one of more than one element, raises its TypeError at any depth (a float one would otherwise
    be truncated)."""
    if any(x.dtype.kind not in "biu" or x.numel() != 1 for x in _nested_tensors(data)):
        raise TypeError("a tensor used as an index must be an integer tensor with one element")


def warn_nested_grad(data: list | tuple) -> None:
    """torch's once-per-process warning of ``float(t)`` when ``torch.tensor([0.0, t])`` reads a tensor that requires
    grad as a float number (the new tensor is cut from its graph), at ``tensor``'s caller."""
    for x in _nested_tensors(data):
        if x.requires_grad:
            from .methods import warn_scalar_of_grad  # (methods imports this module)
            warn_scalar_of_grad(x, 3)
            return


def tensor(data: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False, *,
           pin_memory: bool | None = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (a number, nested lists, an array or a Tensor), as ``torch.tensor``.

    Without ``dtype``: arrays and tensors keep theirs; Python data takes torch's (see ``nested_dtype``).
    """
    check_layout("tensor", None, pin_memory)
    if dtype is not None and isinstance(data, (list, tuple)) and numpy.dtype(dtype).kind in "biu":
        refuse_float_indices(data)  # (a dtype given; an inferred integer one holds no float tensor)
    if isinstance(data, Tensor):
        warn_copy_construct("torch.tensor(sourceTensor)")
        data = data._data
    elif is_foreign_array(data):
        data = numeric_array(data)  # another library's array (torch's), with its dtype
    elif dtype is None and not hasattr(data, "dtype"):
        inferred = nested_dtype(data)
        dtype = DEFAULT_FLOAT if inferred is None else inferred
    if isinstance(data, (list, tuple)) and (dtype is None or numpy.dtype(dtype).kind in "fc"):
        warn_nested_grad(data)
    if dtype is not None and isinstance(data, numpy.generic):  # a numpy number converted as the Python number it
        data = check_fits("tensor", data, dtype)  # is, checked as torch checks one (np.float64(-2.5) to uint8)
    data = tensors_as_numbers(data)
    if hasattr(data, "dtype"):  # an array or a numpy scalar keeps its dtype (in native byte order: the copy's)
        array = cast_array(data, dtype if dtype is not None else data.dtype.newbyteorder("="))
        array = array.copy() if array is data else array
        array = numpy.asarray(array) if isinstance(array, numpy.generic) else array
    else:
        kind = numpy.dtype(dtype).kind
        # Floats truncated into an integer dtype: torch checks each (-0.5 does not fit uint8; numpy would give 0).
        if kind in "iu" and getattr(nested_dtype(data), "kind", "") == "f":
            info, values = numpy.iinfo(dtype), numpy.array(data, dtype=numpy.float64)
            if not ((values >= info.min) & (values <= info.max)).all():  # (nan too; then element by element, as
                data = _checked_nest(data, dtype)  # an int may still wrap: [-1, 2.5] is [255, 2] for uint8)
        try:  # (Python floats for float16 go through float32, as torch's, see cast_array)
            array = numpy.array(data, dtype=dtype) if numpy.dtype(dtype) != numpy.float16 else \
                cast_array(numpy.array(data, dtype=numpy.float64), dtype)
        except OverflowError:  # (numpy refuses -1 for uint8, 2**15 for int16: torch wraps the first, refuses the other)
            array = numpy.array(_checked_nest(data, dtype), dtype=dtype)
    if device is None and backend.device_of(array) != "cpu":
        device = backend.device_of(array)
    return Tensor(array, requires_grad=requires_grad, device=device)


def _checked_nest(data: Any, dtype: Any) -> Any:
    """``data`` (a number or nested lists) with each Python number passed through :func:`check_fits` for ``dtype``,
    as torch converts each element of ``torch.tensor``'s data (a negative int wraps into an unsigned dtype)."""
    if isinstance(data, (list, tuple)):
        return [_checked_nest(x, dtype) for x in data]
    return check_fits("tensor", data, dtype)


def from_dlpack(ext_tensor: Any) -> Tensor:
    """``torch.from_dlpack``: a tensor sharing the memory of ``ext_tensor`` (a numpy or cupy array, a torch or jax
    tensor: anything with ``__dlpack__``), so writes to either show in both; a Tensor gives a detached alias (one
    that requires grad raises BufferError, as torch's export does)."""
    if isinstance(ext_tensor, Tensor):
        ext_tensor.__dlpack__()  # (its checks)
        return ext_tensor.detach()
    if not hasattr(ext_tensor, "__dlpack__"):
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ (a numpy or cupy array, a torch or jax "
                        f"tensor), got {type(ext_tensor).__name__}")
    array = backend.from_dlpack(ext_tensor)
    return Tensor(array, device=backend.device_of(array))


def from_numpy(array: numpy.ndarray) -> Tensor:
    """A CPU tensor sharing ``array``'s memory and dtype, as ``torch.from_numpy`` (writes to either show in both)."""
    if not isinstance(array, numpy.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "biufc" or (array.dtype.itemsize > 8 and array.dtype.kind == "f"):
        raise TypeError(f"from_numpy: can't convert an array of dtype {array.dtype}; the supported dtypes are "
                        f"float64, float32, float16, int64, int32, int16, int8, uint8 and bool")
    if not array.dtype.isnative:  # (a tensor's dtype is native: torch refuses to share a byte-swapped array)
        raise ValueError("from_numpy: the array's byte order is not the native one; convert it with "
                         "array.astype(array.dtype.newbyteorder('=')) first (as torch asks)")
    if not array.flags.writeable:
        warnings.warn("from_numpy: the array is not writable; the tensor shares its memory, so writing to the tensor "
                      "raises (copy the array first to write)", UserWarning, stacklevel=2)
    return Tensor(array, device="cpu")


def as_tensor(data: Any, dtype: Any = None, device: str | None = None) -> Tensor:
    """``data`` as a tensor, as ``torch.as_tensor``: a Tensor or an array already of this dtype and device is shared
    (no copy; a Tensor is returned itself), anything else is copied as ``tensor`` does."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype)  # itself when nothing changes; else differentiable, as torch
    if isinstance(data, numpy.ndarray) or backend.device_of(data) != "cpu":
        here, dev = backend.device_of(data), None if device is None else backend.parse_device(device)
        if (dtype is None or data.dtype == numpy.dtype(dtype)) and dev in (None, here) and data.dtype.isnative:
            return Tensor(data, device=here)
    return tensor(data, dtype=dtype, device=device)


def _shape(shape: tuple[Any, ...], size: Any = None, name: str = "") -> tuple[int, ...]:
    """Accept ``zeros(2, 3)``, ``zeros((2, 3))`` and torch's keyword ``zeros(size=(2, 3))`` (a sequence only)."""
    if size is not None:
        if shape:
            raise TypeError(f"{name}() got multiple values for argument 'size'")
        if not isinstance(size, Sequence):
            raise TypeError(f"{name}(): argument 'size' must be tuple of ints, not {type(size).__name__}")
        shape = (size,)
    if len(shape) == 1 and isinstance(shape[0], Sequence):
        shape = tuple(shape[0])
    return int_args(name or "size", "size", shape)  # (a float or bool size raises, as torch: not truncated)


def _make(fill: str, shape: tuple[Any, ...], dtype: Any, device: str | None, requires_grad: bool,
          value: float = 0.0, layout: Any = None, pin_memory: bool | None = False, size: Any = None) -> Tensor:
    check_layout(fill, layout, pin_memory)
    shape = _shape(shape, size, fill)
    dev = backend.parse_device(device)
    xp = backend.xp_of(dev)
    dtype = DEFAULT_FLOAT if dtype is None else dtype
    if fill == "full":
        value = check_fits("full", value, dtype)
    with backend.device_context(dev):
        data = xp.full(shape, value, dtype=dtype) if fill == "full" else getattr(xp, fill)(shape, dtype)
    return Tensor(data, requires_grad=requires_grad, device=dev)


def zeros(*shape: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False,
          layout: Any = None, pin_memory: bool | None = False, size: Any = None) -> Tensor:
    return _make("zeros", shape, dtype, device, requires_grad, layout=layout, pin_memory=pin_memory, size=size)


def ones(*shape: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False,
         layout: Any = None, pin_memory: bool | None = False, size: Any = None) -> Tensor:
    return _make("ones", shape, dtype, device, requires_grad, layout=layout, pin_memory=pin_memory, size=size)


def empty(*shape: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False,
          layout: Any = None, memory_format: Any = None, pin_memory: bool | None = False, size: Any = None) -> Tensor:
    """A tensor of ``shape`` (zero-filled here: never uninitialised memory), laid out in ``memory_format``."""
    out = _make("zeros", shape, dtype, device, requires_grad, layout=layout, pin_memory=pin_memory, size=size)
    return out if memory_format is None else like("empty", out, out, memory_format)


def full(size: Sequence[int] | int, fill_value: float, dtype: Any = None, device: str | None = None,
         requires_grad: bool = False, layout: Any = None, pin_memory: bool | None = False) -> Tensor:
    """``size`` filled with ``fill_value`` (torch's argument names); without ``dtype``, the value's kind as torch
    infers it (7 -> int64)."""
    shape = (size,) if isinstance(size, int) else tuple(size)
    return _make("full", (shape,), infer_dtype(fill_value) if dtype is None else dtype, device, requires_grad,
                 fill_value, layout, pin_memory)


def _need_tensor(name: str, t: Any) -> None:
    """torch's TypeError for a ``*_like`` given a non-tensor (a float, a numpy scalar, a list)."""
    if not isinstance(t, Tensor) and not getattr(t, "is_sparse", False) and not hasattr(t, "crow_indices"):
        kind = type(t)
        shown = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not {shown}")


def zeros_like(input: Tensor, dtype: Any = None, requires_grad: bool = False, *, memory_format: Any = None,  # noqa: A002 - torch's name
               layout: Any = None, pin_memory: bool | None = False, device: str | None = None) -> Tensor:
    """Zeros of input's shape, dtype and device; laid out as input when dense (``memory_format``: see layouts.like)."""
    _need_tensor("zeros_like", input)
    out = zeros(input.shape, dtype=dtype or input.dtype, device=device or input.device, requires_grad=requires_grad)
    return like("zeros_like", input, out, memory_format, layout, pin_memory)


def ones_like(input: Tensor, dtype: Any = None, requires_grad: bool = False, *, memory_format: Any = None,  # noqa: A002 - torch's name
              layout: Any = None, pin_memory: bool | None = False, device: str | None = None) -> Tensor:
    _need_tensor("ones_like", input)
    out = ones(input.shape, dtype=dtype or input.dtype, device=device or input.device, requires_grad=requires_grad)
    return like("ones_like", input, out, memory_format, layout, pin_memory)


def full_like(input: Tensor, fill_value: float, dtype: Any = None, requires_grad: bool = False, *,  # noqa: A002 - torch's name
              memory_format: Any = None, layout: Any = None, pin_memory: bool | None = False,
              device: str | None = None) -> Tensor:
    _need_tensor("full_like", input)
    out = full(input.shape, fill_value, dtype=dtype or input.dtype, device=device or input.device,
               requires_grad=requires_grad)
    return like("full_like", input, out, memory_format, layout, pin_memory)


def empty_like(input: Tensor, dtype: Any = None, requires_grad: bool = False, *, memory_format: Any = None,  # noqa: A002 - torch's name
               layout: Any = None, pin_memory: bool | None = False, device: str | None = None) -> Tensor:
    _need_tensor("empty_like", input)
    return zeros_like(input, dtype=dtype, requires_grad=requires_grad, memory_format=memory_format, layout=layout,
                      pin_memory=pin_memory, device=device)


def randn(*shape: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False,
          generator: Generator | None = None, layout: Any = None, pin_memory: bool | None = False,
          size: Any = None) -> Tensor:
    """Standard normal samples from ``generator`` or the device's seeded stream (see ``manual_seed``)."""
    check_layout("randn", layout, pin_memory)
    dev = backend.parse_device(device)
    dtype = DEFAULT_FLOAT if dtype is None else dtype
    data = backend.standard_normal(dev, _shape(shape, size, "randn"), dtype, _rng(generator, dev))
    return Tensor(data, requires_grad=requires_grad, device=dev)


def rand(*shape: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False,
         generator: Generator | None = None, layout: Any = None, pin_memory: bool | None = False,
         size: Any = None) -> Tensor:
    """Uniform samples in [0, 1) from ``generator`` or the device's seeded stream."""
    check_layout("rand", layout, pin_memory)
    dev = backend.parse_device(device)
    dtype = DEFAULT_FLOAT if dtype is None else dtype
    data = backend.uniform(dev, _shape(shape, size, "rand"), dtype, _rng(generator, dev))
    return Tensor(data, requires_grad=requires_grad, device=dev)


def randn_like(input: Tensor, dtype: Any = None, requires_grad: bool = False, *, memory_format: Any = None,  # noqa: A002 - torch's name
               layout: Any = None, pin_memory: bool | None = False, device: str | None = None) -> Tensor:
    _need_tensor("randn_like", input)
    out = randn(input.shape, dtype=dtype or input.dtype, device=device or input.device, requires_grad=requires_grad)
    return like("randn_like", input, out, memory_format, layout, pin_memory)


def rand_like(input: Tensor, dtype: Any = None, requires_grad: bool = False, *, memory_format: Any = None,  # noqa: A002 - torch's name
              layout: Any = None, pin_memory: bool | None = False, device: str | None = None) -> Tensor:
    _need_tensor("rand_like", input)
    out = rand(input.shape, dtype=dtype or input.dtype, device=device or input.device, requires_grad=requires_grad)
    return like("rand_like", input, out, memory_format, layout, pin_memory)


def randint(low: int | None = None, high: int | None = None, size: Sequence[int] = (), *,
            generator: Generator | None = None, dtype: Any = None, device: str | None = None, layout: Any = None,
            pin_memory: bool | None = False) -> Tensor:
    """Integers uniform in [low, high) (``randint(high, size)`` and ``randint(high=, size=)`` mean low = 0); int64
    unless told."""
    check_layout("randint", layout, pin_memory)
    if low is None:
        if high is None:
            raise TypeError("randint() missing required argument 'high'")
        low = 0
    if high is None or (not isinstance(high, int) and isinstance(high, Sequence)):
        low, high, size = 0, low, size if high is None else high
    low, high = operator.index(low), operator.index(high)  # a float bound raises TypeError, as torch's
    if high <= low:
        raise ValueError(f"randint: needs low < high, got low={low}, high={high}")
    if dtype is not None:
        _check_fits_dtype("randint", low, high, numpy.dtype(dtype))
    dev = backend.parse_device(device)
    data = backend.integers(dev, low, high, _shape((size,)), _rng(generator, dev))
    return Tensor(data if dtype is None else data.astype(dtype), device=dev)


def _check_fits_dtype(name: str, low: int, high: int, dt: numpy.dtype) -> None:
    """torch's check that the integers of [low, high) fit ``dt`` (a bool, an integer type, or float16's exact
    integers up to 2**11; wider floats are not checked): ValueError otherwise rather than wrapped values."""
    if dt.kind == "b":
        bottom, top = 0, 1
    elif dt.kind in "iu":
        bottom, top = int(numpy.iinfo(dt).min), int(numpy.iinfo(dt).max)
    elif dt == numpy.float16:
        bottom, top = -2 ** 11, 2 ** 11
    else:
        return
    if low < bottom or high - 1 > top:
        raise ValueError(f"{name}: [{low}, {high}) does not fit in dtype {dt} ([{bottom}, {top}])")


def randperm(n: int, *, generator: Generator | None = None, dtype: Any = None, device: str | None = None,
             layout: Any = None, pin_memory: bool | None = False) -> Tensor:
    """A random permutation of 0..n-1 (int64 unless told)."""
    check_layout("randperm", layout, pin_memory)
    (n,) = int_args("randperm", "n", n)  # (a float or bool n raises, as torch)
    if n < 0:
        raise ValueError(f"randperm: n must be non-negative, got {n}")
    if dtype is not None and numpy.dtype(dtype) == numpy.bool_:  # (torch has no bool kernel: 0..n-1 are no bools)
        raise KernelDtypeError("randperm: dtype=bool is not supported (as torch); use an integer or floating dtype")
    dev = backend.parse_device(device)
    data = backend.permutation(dev, int(n), _rng(generator, dev))
    return Tensor(data if dtype is None else data.astype(dtype), device=dev)


def multinomial(probs: Tensor, num_samples: int, replacement: bool = False, *,
                generator: Generator | None = None) -> Tensor:
    """int64 category indices drawn with weights ``probs`` (C,) or (N, C) -> (num_samples,) or (N, num_samples).

    Weights need not sum to 1 but must be finite, non-negative and not all 0 (a ValueError otherwise), and
    floating. Without replacement, ``num_samples`` may not exceed the categories; once a row's non-zero weights
    are drawn, its zero-weight categories follow in random order (as torch's).
    """
    if probs.ndim not in (1, 2):
        raise ValueError(f"multinomial: probs must be 1-D or 2-D, got shape {probs.shape}")
    if probs.dtype.kind != "f":
        raise TypeError(f"multinomial: the probabilities must be floating point, not {probs.dtype}")
    if num_samples < 0:  # (0 gives an empty draw, where torch raises: Categorical.sample((0,)) relies on it)
        raise ValueError(f"multinomial: cannot sample a negative number of samples, got {num_samples}")
    xp, dev = probs.xp, probs.device
    p = probs._data.astype(numpy.float64).reshape(-1, probs.shape[-1])
    if not bool(xp.isfinite(p).all()) or bool((p < 0).any()) or bool((p.sum(axis=1) <= 0).any()):
        raise ValueError("multinomial: probs must be finite, non-negative, with a positive sum in every row")
    rows = p.shape[0]
    if not replacement and num_samples > p.shape[1]:
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement from "
                         f"{p.shape[1]} categories")
    u = backend.uniform(dev, (rows, num_samples if replacement else p.shape[1]), numpy.float64, _rng(generator, dev))
    if replacement:  # invert the cumulative distribution; an empty interval (weight 0) is never hit
        cdf = xp.cumsum(p, axis=1)
        cdf /= cdf[:, -1:]
        idx = (u[:, :, None] >= cdf[:, None, :]).sum(axis=2)
        idx = xp.minimum(idx, p.shape[1] - 1)
    else:  # Efraimidis-Spirakis: the k largest log(u) / p are a weighted sample without replacement
        with _quiet(xp):
            keys = xp.where(p > 0, xp.log(u) / p, -numpy.inf)
        shuffle = xp.argsort(u, axis=1)  # zero weights (keys all -inf) come last, in this random order
        order = xp.argsort(-xp.take_along_axis(keys, shuffle, axis=1), axis=1, kind="stable")[:, :num_samples]
        idx = xp.take_along_axis(shuffle, order, axis=1)
    idx = idx.astype(numpy.int64)
    return Tensor(idx if probs.ndim == 2 else idx[0], device=dev)


def _quiet(xp: Any) -> Any:
    import contextlib

    return xp.errstate(divide="ignore") if hasattr(xp, "errstate") else contextlib.nullcontext()


# ---------------------------------------------------------------------------------------------- distributions
def uniform64(device: str, shape: tuple[int, ...], generator: Generator | None = None) -> Any:
    """float64 samples in [0, 1) on ``device`` (the source the other distributions transform)."""
    return backend.uniform(device, shape, numpy.float64, _rng(generator, device))


def _sampled(op: str, out: Any, parents: tuple[Tensor, ...]) -> Tensor:
    """Samples from a distribution with parameters ``parents``: a zero gradient flows back to them, as in torch
    (its samplers are not reparameterised)."""
    return record(op, out, parents, lambda g: tuple(p.xp.zeros(p.shape, dtype=g.dtype) for p in parents))


def normal(mean: Tensor | float, std: Tensor | float = 1.0, size: Sequence[int] | None = None, *,
           generator: Generator | None = None, dtype: Any = None, device: str | None = None,
           requires_grad: bool = False, layout: Any = None, pin_memory: bool | None = False) -> Tensor:
    """Normal samples with means ``mean`` and standard deviations ``std`` (>= 0), as ``torch.normal``: tensors or
    numbers broadcast together (the output has their broadcast shape and floating dtype); with two numbers,
    ``size`` gives the shape (float32 unless ``dtype``; ``layout`` / ``pin_memory`` as the factories take them).
    The gradient to a ``mean`` or ``std`` tensor is zero."""
    params = tuple(t for t in (mean, std) if isinstance(t, Tensor))
    if not params:
        check_layout("normal", layout, pin_memory)
        if size is None:
            raise TypeError("normal: with a number mean and std, give the size: normal(0.0, 1.0, (2, 3))")
        if not std >= 0:
            raise ValueError(f"normal: std must be >= 0, got {std}")
        dev, dt = backend.parse_device(device), numpy.dtype(DEFAULT_FLOAT if dtype is None else dtype)
        z = backend.standard_normal(dev, _shape((size,)), numpy.float64, _rng(generator, dev))
        return Tensor((z * std + mean).astype(dt), requires_grad=requires_grad, device=dev)
    if size is not None or layout is not None or pin_memory:
        raise TypeError("normal: size, layout and pin_memory are only for a number mean and std; with a tensor its "
                        "shape is the output's")
    if any(t.dtype.kind != "f" for t in params):
        raise TypeError(f"normal: mean and std must be floating point, got {[t.dtype.name for t in params]}")
    dev = check_devices("normal", *params)
    s = std._data if isinstance(std, Tensor) else std
    if not bool(backend.xp_of(dev).all(s >= 0)):
        raise ValueError("normal: std must be >= 0 everywhere (and not nan)")
    dt = numpy.result_type(*(t.dtype for t in params))  # floating dtypes promote as in torch
    shape = numpy.broadcast_shapes(*(t.shape for t in params))
    z = backend.standard_normal(dev, shape, numpy.float64, _rng(generator, dev))
    m = mean._data if isinstance(mean, Tensor) else mean
    return _sampled("normal", (z * s + m).astype(dt), params)


def bernoulli_draws(op: str, p: Any, shape: tuple[int, ...], dtype: Any, device: str,
                    generator: Generator | None) -> Any:
    """0/1 samples of ``shape`` and ``dtype``: 1 with probability ``p``, a number or an array that broadcasts to
    ``shape``, each in [0, 1] (a ValueError otherwise)."""
    inside = 0 <= p <= 1 if isinstance(p, (int, float)) else bool(backend.xp_of(device).all((p >= 0) & (p <= 1)))
    if not inside:
        raise ValueError(f"{op}: probabilities must lie in [0, 1]")
    return (uniform64(device, shape, generator) < p).astype(dtype)


def bernoulli(input: Tensor, p: float | None = None, *, generator: Generator | None = None) -> Tensor:  # noqa: A002
    """0/1 samples of ``input``'s shape and (floating) dtype: 1 with probability ``input`` elementwise, or ``p``
    when given, as ``torch.bernoulli``. The gradient to ``input`` is zero."""
    if input.dtype.kind != "f":
        raise TypeError(f"bernoulli: probabilities must be floating point, got dtype {input.dtype}")
    out = bernoulli_draws("bernoulli", input._data if p is None else p, input.shape, input.dtype, input.device,
                          generator)
    return _sampled("bernoulli", out, (input,))


def poisson(input: Tensor, generator: Generator | None = None) -> Tensor:  # noqa: A002
    """Poisson samples with rates ``input`` (floating, >= 0), of its shape and dtype, as ``torch.poisson``. The
    gradient to ``input`` is zero."""
    if input.dtype.kind != "f":
        raise TypeError(f"poisson: rates must be floating point, got dtype {input.dtype}")
    rates = input._data.astype(numpy.float64)
    if not bool(input.xp.all(rates >= 0)):
        raise ValueError("poisson: rates must be >= 0 (and not nan)")
    out = backend.poisson(input.device, rates, _rng(generator, input.device)).astype(input.dtype)
    return _sampled("poisson", out, (input,))


def binomial(count: Tensor, prob: Tensor, generator: Generator | None = None) -> Tensor:
    """Binomial samples: successes in ``count`` trials of probability ``prob`` (floating tensors of one dtype,
    broadcast together), as ``torch.binomial``: a count below 0 gives 0, a probability above 1 acts as 1, a nan
    one gives nan. It has no derivative (backward through it raises, as torch's)."""
    if count.dtype.kind != "f":
        raise ValueError(f"binomial: count has dtype {count.dtype}, where floating point is needed; convert it with "
                         ".float()")
    if prob.dtype != count.dtype:
        raise RuntimeError(f"binomial: prob has dtype {prob.dtype} but count has {count.dtype}; they must match")
    xp = count.xp
    n, p = xp.broadcast_arrays(count._data.astype(numpy.float64), prob._data.astype(numpy.float64))
    nan = xp.isnan(n) | xp.isnan(p)
    trials = xp.where(nan, 0, xp.floor(xp.clip(n, 0, None))).astype(numpy.int64)
    draws = (backend.generator(count.device) if generator is None else _rng(generator, count.device)).binomial(
        trials, xp.where(nan, 0.0, xp.clip(p, 0.0, 1.0)))
    out = xp.where(nan, numpy.nan, draws).astype(count.dtype)

    def no_derivative(g: Any) -> tuple[Any, Any]:
        raise RuntimeError("binomial has no derivative: its samples are integers; detach count and prob first")
    return record("binomial", out, (count, prob), no_derivative)


def empty_permuted(size: Sequence[int], physical_layout: Sequence[int], *, dtype: Any = None, layout: Any = None,
                   device: str | None = None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A tensor of ``size`` whose memory runs in the dim order ``physical_layout`` (outermost first): its strides
    are torch's (``empty_permuted((2, 3, 4), (2, 0, 1)).stride() == (3, 1, 6)``). Zero-filled here."""
    size, order = tuple(size), tuple(physical_layout)
    if sorted(order) != list(range(len(size))):
        raise RuntimeError(f"empty_permuted: physical_layout {order} must be a permutation of the dims of a "
                           f"{len(size)}-d size (each dim once)")
    stored = empty(*(size[d] for d in order), dtype=dtype, device=device, layout=layout, pin_memory=pin_memory)
    out = stored.permute(tuple(numpy.argsort(order).tolist()))
    return out.requires_grad_(requires_grad) if requires_grad else out


def _sample_dirichlet(input: Tensor, generator: Generator | None = None) -> Tensor:  # noqa: A002
    """Dirichlet samples with concentrations ``input`` (floating, > 0) along its last dim, of its shape and dtype:
    Gamma(alpha, 1) draws (at least the dtype's tiny) divided by their sum, then clipped to [tiny, the float below
    1], as ``torch._sample_dirichlet`` (torchvision's RandomMixup / RandomCutmix draw their lambda with it). Like
    torch's, it has no derivative: backward through it raises (``Dirichlet.rsample`` is the reparameterised one)."""
    if input.dtype.kind != "f":
        raise NotImplementedError(f'"dirichlet" not implemented for {input.dtype}')
    alpha = input._data.astype(numpy.float64)
    if not bool(input.xp.all(alpha > 0)):
        raise ValueError("_sample_dirichlet: concentrations must be > 0 (and not nan)")
    xp, tiny = input.xp, numpy.finfo(input.dtype).tiny
    gammas = xp.maximum(backend.standard_gamma(input.device, alpha, _rng(generator, input.device)), tiny)
    out = (gammas / gammas.sum(-1, keepdims=True) if alpha.ndim else gammas / gammas).astype(input.dtype)

    def no_derivative(g: Any) -> tuple[Any]:
        raise NotImplementedError('the derivative for "_sample_dirichlet" is not implemented.')
    below_one = numpy.nextafter(input.dtype.type(1), input.dtype.type(0))  # torch's draws lie strictly inside (0, 1)
    return record("_sample_dirichlet", xp.clip(out, input.dtype.type(tiny), below_one), (input,), no_derivative)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           device: str | None = None, requires_grad: bool = False, *, layout: Any = None,
           pin_memory: bool | None = False) -> Tensor:
    """Evenly spaced values in [start, end); int64 when start, end and step are all ints, else float32."""
    check_layout("arange", layout, pin_memory)
    dev = backend.parse_device(device)
    if end is None:
        start, end = 0, start
    start, end, step = (v.item() if hasattr(v, "item") else v for v in (start, end, step))  # (0-d tensors, numpy)
    if dtype is None:
        dtype = numpy.int64 if all(isinstance(v, int) for v in (start, end, step)) else DEFAULT_FLOAT
    if not all(math.isfinite(v) for v in (start, end, step)):
        raise ValueError(f"arange: start, end and step must be finite, got {start}, {end}, {step}")
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if numpy.dtype(dtype).kind == "b":
        raise TypeError("arange: dtype bool is not supported (torch's kernel refuses it)")
    if (step > 0 and end < start) or (step < 0 and end > start):
        raise ValueError(f"arange: end {end} lies on the wrong side of start {start} for step {step} (as torch)")
    for v in (start, end, step):  # torch reads int bounds as int64: one past it raises (ours wrapped around)
        if isinstance(v, int):
            check_fits("arange", v, numpy.int64)
    # As torch's kernel: the count ceil((end - start) / step) in double; the values start + i * step, in double for
    # a float dtype, and for an integer one with start and step truncated to integers (wrapping into the dtype).
    # For int64 torch counts with the truncated bounds too, so a step truncated to 0 raises there.
    n, integer = math.ceil((end - start) / step), numpy.dtype(dtype).kind in "iu"
    if integer:
        start, step = int(start), int(step)
    if numpy.dtype(dtype) == numpy.int64:
        if step == 0:
            raise ValueError("arange: an int64 step must be at least 1 in size")
        n = (int(end) - start + step - (1 if step > 0 else -1)) // step
    if n >= 2 ** 62:  # (numpy's arange of such a count comes back empty; torch raises)
        raise ValueError(f"arange: [{start}, {end}) in steps of {step} has {n} values, more than a tensor can hold")
    with backend.device_context(dev):
        steps = backend.xp_of(dev).arange(n, dtype=numpy.int64 if integer else numpy.float64)
        data = (steps * step + start).astype(dtype)
    return Tensor(data, device=dev, requires_grad=requires_grad)


def range_(start: float, end: float, step: float = 1, dtype: Any = None, device: str | None = None,
           requires_grad: bool = False, *, layout: Any = None, pin_memory: bool | None = False) -> Tensor:
    """The deprecated ``torch.range``: ``floor((end - start) / step) + 1`` values from start, end included,
    ``start + i * step`` computed in double; float32 (the default float) unless ``dtype`` says, whatever the bounds'
    types, with torch's deprecation UserWarning."""
    warnings.warn("torch.range is deprecated: unlike Python's range it includes the end point; torch.arange "
                  "gives the half-open [start, end)", UserWarning, stacklevel=2)
    check_layout("range", layout, pin_memory)
    dev = backend.parse_device(device)
    start, end, step = (v.item() if hasattr(v, "item") else v for v in (start, end, step))
    dtype = DEFAULT_FLOAT if dtype is None else dtype
    if step == 0 or not all(math.isfinite(v) for v in (start, end, step)):
        raise ValueError(f"range: start, end and step must be finite and step nonzero, got {start}, {end}, {step}")
    if (step > 0 and end < start) or (step < 0 and end > start):
        raise ValueError("range: the step's sign points away from end (start + k * step never reaches it)")
    n = math.floor((end - start) / step) + 1
    with backend.device_context(dev):
        data = (backend.xp_of(dev).arange(n, dtype=numpy.float64) * step + start).astype(dtype)
    return Tensor(data, device=dev, requires_grad=requires_grad)


def _span_steps(op: str, start: Any, end: Any, steps: Any) -> int:
    """``steps`` of linspace / logspace as a non-negative int (an integer, or anything with ``__index__``: a float
    is refused, as torch's argument parser does); start and end must be numbers or 0-d tensors."""
    try:
        n = operator.index(steps)
    except TypeError:
        raise TypeError(f"{op}: steps must be an integer, got {type(steps).__name__} {steps!r}") from None
    if n < 0:
        raise ValueError(f"{op}: steps={n} is negative")
    for name, v in (("start", start), ("end", end)):
        if getattr(v, "ndim", 0) != 0:
            raise ValueError(f"{op}: {name} must be a number or a 0-d tensor, got shape {tuple(v.shape)}")
    return n


def linspace(start: float, end: float, steps: int, dtype: Any = None, device: str | None = None,
             requires_grad: bool = False, *, layout: Any = None, pin_memory: bool | None = False) -> Tensor:
    """``steps`` evenly spaced values from start to end inclusive (float32 unless told); float32 / float64 as
    torch's CPU kernel computes them (:func:`_fused_linspace`), integer dtypes too: the bounds cast to the dtype
    (floats truncated), the points computed so in float64 and truncated toward zero. bool raises, as in torch."""
    check_layout("linspace", layout, pin_memory)
    steps = _span_steps("linspace", start, end, steps)
    dev, dt = backend.parse_device(device), DEFAULT_FLOAT if dtype is None else dtype
    if int(steps) > 0:  # (torch converts start for a point, end for two: unused, neither must fit)
        start = check_fits("linspace", start, dt)
    if int(steps) > 1:
        end = check_fits("linspace", end, dt)
    kind = numpy.dtype(dt).kind
    if kind == "b":
        raise TypeError("linspace: dtype bool is not supported (torch's kernel refuses it)")
    if kind in "iu" and int(steps) > 0:  # the bounds cast to the dtype (truncated), the values truncated from double
        lo, hi = (float(numpy.array(int(v)).astype(dt)) for v in (start, end))
        data = numpy.trunc(_fused_linspace(lo, hi, int(steps), numpy.dtype(numpy.float64))).astype(dt)
        return Tensor(data, device=dev, requires_grad=requires_grad)
    if numpy.dtype(dt) in (numpy.float32, numpy.float64) and int(steps) > 0:
        return Tensor(_fused_linspace(start, end, int(steps), numpy.dtype(dt)), device=dev, requires_grad=requires_grad)
    if numpy.dtype(dt) == numpy.float16 and int(steps) > 0:
        return Tensor(_half_linspace(start, end, int(steps)), device=dev, requires_grad=requires_grad)
    with backend.device_context(dev):
        data = backend.xp_of(dev).linspace(start, end, int(steps), dtype=dt)
    return Tensor(data, device=dev, requires_grad=requires_grad)


def _fused_linspace(start: float, end: float, steps: int, dt: numpy.dtype) -> numpy.ndarray:
    """(steps,) torch's CPU linspace: step = (end - start) / (steps - 1) in ``dt``, then start + step * i for the
    first steps // 2 points and end - step * (steps - 1 - i) for the rest, each a fused multiply-add (one
    rounding; numpy's plain linspace is an ulp off at some points). The multiply-add runs in numpy's longdouble
    (80-bit on x86), then rounds to ``dt``. An ulp off at rare points: for float64 the longdouble rounds twice,
    and torch's vectorized loop (long float32 ranges) rounds step * j on its own where that is a tie."""
    lo, hi = dt.type(start), dt.type(end)
    if steps == 1:  # start itself, whatever end is (numpy's gives nan for an infinite end)
        return numpy.array([lo])
    i = numpy.arange(steps)
    with numpy.errstate(invalid="ignore", over="ignore"):  # (inf - inf, inf * 0: nan, as torch's)
        step = numpy.longdouble((hi - lo) / dt.type(steps - 1))
        values = numpy.where(i < steps // 2, lo + step * i, hi - step * (steps - 1 - i))
    return values.astype(dt)


def _half_linspace(start: float, end: float, steps: int) -> numpy.ndarray:
    """(steps,) torch's float16 CPU linspace: its step and points in float16 arithmetic (each operation rounded to
    float16): step = (end - start) / (steps - 1), then start + step * i for the first steps // 2 points and
    end - step * (steps - 1 - i) for the rest."""
    h = numpy.float16
    if steps == 1:  # start itself, whatever end is (numpy's gives nan for an infinite or nan end)
        return numpy.array([h(start)])
    lo, hi, i = h(start), h(end), numpy.arange(steps)
    with numpy.errstate(invalid="ignore", over="ignore"):
        step = h(h(hi - lo) / h(steps - 1))
        up = lo + (step * i.astype(h))  # numpy's float16 ops compute in float32 and round each result
        down = hi - (step * (steps - 1 - i).astype(h))
    return numpy.where(i < steps // 2, up, down)


def eye(n: int, m: int | None = None, dtype: Any = None, device: str | None = None, *, requires_grad: bool = False,
        layout: Any = None, pin_memory: bool | None = False) -> Tensor:
    """The (n, m) identity (m = n unless given; float32 unless told)."""
    check_layout("eye", layout, pin_memory)
    dev = backend.parse_device(device)
    with backend.device_context(dev):
        data = backend.xp_of(dev).eye(n, m, dtype=DEFAULT_FLOAT if dtype is None else dtype)
    return Tensor(data, device=dev, requires_grad=requires_grad)


def logspace(start: float, end: float, steps: int, base: float = 10.0, *, dtype: Any = None,
             device: str | None = None, requires_grad: bool = False, layout: Any = None,
             pin_memory: bool | None = False) -> Tensor:
    """``steps`` values base ** e, e evenly spaced from start to end inclusive (float32 unless told), computed as
    torch's CPU kernel: start and end in the dtype, the powers in float64 from whichever end is nearer (an integer
    dtype takes a float32 base and truncates the powers)."""
    check_layout("logspace", layout, pin_memory)
    steps = _span_steps("logspace", start, end, steps)
    if isinstance(start, complex) or isinstance(end, complex):
        refuse_complex(numpy.dtype(complex))
    dt = numpy.dtype(DEFAULT_FLOAT if dtype is None else dtype)
    if dt.kind not in "iuf":
        raise TypeError(f"logspace: dtype {dt} is not supported (a floating or integer dtype)")
    i = numpy.arange(steps, dtype=numpy.float64)
    if steps <= 1:  # torch fills base ** start, both as given (float64); end is not used (an int dtype's may be inf)
        b, exponents = float(base), i + float(start)
    else:
        if dt.kind == "f":
            lo, hi, b = float(dt.type(start)), float(dt.type(end)), float(base)
            span = float(dt.type(hi) - dt.type(lo))  # the subtraction in the dtype, as torch's
        else:
            lo, hi, b = int(start), int(end), float(numpy.float32(base))
            span = float(hi - lo)
        step = span / (steps - 1)
        exponents = numpy.where(i < steps // 2, lo + step * i, hi - step * (steps - i - 1))
    with numpy.errstate(over="ignore", invalid="ignore"):
        values = numpy.power(b, exponents).astype(dt)
    return Tensor(values, device=device, requires_grad=requires_grad)


def _window(op: str, length: int, periodic: bool, dtype: Any, device: str | None, requires_grad: bool,
            fill: Any) -> Tensor:
    """A window function of ``length`` points (``periodic``: of length + 1 points, the last dropped, as torch); lengths
    0 and 1 give [] and [1]. ``fill(n, arange(n))`` computes the n points in the dtype (floating only, as torch)."""
    if length < 0:
        raise ValueError(f"{op}: requires a non-negative window length, got window_length={length}")
    dt = numpy.dtype(DEFAULT_FLOAT if dtype is None else dtype)
    if dt.kind != "f":
        raise TypeError(f"{op}: expects a floating point dtype, got {dt}")
    dev = backend.parse_device(device)
    xp = backend.xp_of(dev)
    with backend.device_context(dev):
        if length <= 1:
            data = xp.ones(length, dtype=dt)
        else:
            n = length + 1 if periodic else length
            data = fill(n, xp.arange(n, dtype=dt), xp)[:length]
    return Tensor(data, device=dev, requires_grad=requires_grad)


def hamming_window(window_length: int, periodic: bool = True, alpha: float = 0.54, beta: float = 0.46, *,
                   dtype: Any = None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    """alpha - beta cos(2 pi k / (n - 1)), shape (window_length,)."""
    def fill(n: int, k: Any, xp: Any) -> Any:
        t = k.dtype.type
        return xp.cos(k * t(2 * numpy.pi / (n - 1))) * t(-beta) + t(alpha)
    return _window("hamming_window", window_length, periodic, dtype, device, requires_grad, fill)


def hann_window(window_length: int, periodic: bool = True, *, dtype: Any = None, device: str | None = None,
                requires_grad: bool = False) -> Tensor:
    """0.5 - 0.5 cos(2 pi k / (n - 1)) (torch's hamming_window with alpha = beta = 0.5), shape (window_length,)."""
    return hamming_window(window_length, periodic, 0.5, 0.5, dtype=dtype, device=device, requires_grad=requires_grad)


def blackman_window(window_length: int, periodic: bool = True, *, dtype: Any = None, device: str | None = None,
                    requires_grad: bool = False) -> Tensor:
    """0.42 - 0.5 cos(2 pi k / (n - 1)) + 0.08 cos(4 pi k / (n - 1)), shape (window_length,)."""
    def fill(n: int, k: Any, xp: Any) -> Any:
        t = k.dtype.type
        x = k * t(numpy.pi / (n - 1))
        return xp.cos(x * t(4)) * t(0.08) - xp.cos(x * t(2)) * t(0.5) + t(0.42)
    return _window("blackman_window", window_length, periodic, dtype, device, requires_grad, fill)


def bartlett_window(window_length: int, periodic: bool = True, *, dtype: Any = None, device: str | None = None,
                    requires_grad: bool = False) -> Tensor:
    """The triangle 1 - |2k / (n - 1) - 1|, shape (window_length,)."""
    def fill(n: int, k: Any, xp: Any) -> Any:
        t = k.dtype.type
        x = k * t(2 / (n - 1))
        half = ((n - 1) >> 1) + 1
        x[half:] = -x[half:] + t(2)
        return x
    return _window("bartlett_window", window_length, periodic, dtype, device, requires_grad, fill)


def kaiser_window(window_length: int, periodic: bool = True, beta: float = 12.0, *, dtype: Any = None,
                  device: str | None = None, requires_grad: bool = False) -> Tensor:
    """I0(beta sqrt(1 - ((k - a) / a)^2)) / I0(beta), a = (n - 1) / 2, shape (window_length,)."""
    def fill(n: int, k: Any, xp: Any) -> Any:
        t = k.dtype.type
        a = t((n - 1) / 2.0)
        arg = t(beta) * xp.sqrt(xp.abs(t(1) - ((k - a) / a) ** t(2)))
        return (backend.special("i0", arg) / backend.special("i0", t(beta))).astype(k.dtype)
    return _window("kaiser_window", window_length, periodic, dtype, device, requires_grad, fill)
