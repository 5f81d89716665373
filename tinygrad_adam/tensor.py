"""The autodiff ``Tensor``: an array, the op that made it, and reverse-mode ``backward``.

An op (see ``ops/``) computes its output array and calls :func:`record` with a small
``backward(g)`` closure that maps the output gradient to one gradient per input, like
micrograd. ``backward()`` hands the recorded graph to the engine in ``autograd.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Union

import numpy

from . import backend
from .autograd import is_grad_enabled, root_grads, run_backward

Array = Any  # a numpy.ndarray or a cupy.ndarray
Backward = Callable[[Array], Sequence[Union[Array, None]]]
Scalar = Union[int, float, bool]
TensorLike = Union["Tensor", Scalar, Array]

DEFAULT_FLOAT = numpy.float32


class Tensor:
    """An n-dimensional array that can record the ops applied to it and differentiate them.

    ``Tensor(data, requires_grad=False, dtype=None, device=None)``: Python scalars and lists
    become float32 (ints too, unless ``dtype`` says otherwise); an ndarray keeps its dtype
    and is used without a copy when it is already on ``device``. Without ``device``, host data
    (scalars, lists, numpy arrays) goes to the default device, while a GPU array or a Tensor stays
    where it is.
    """

    __slots__ = ("__dict__", "__weakref__", "_backward", "_grad", "_op", "_parents", "data", "requires_grad")
    __array_priority__ = 1000  # so numpy scalars on the left defer to our reflected operators

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 device: str | None = None) -> None:
        stay = isinstance(data, Tensor)
        if stay:
            data = data.data
        if isinstance(data, numpy.generic):
            data = numpy.asarray(data)
        if not hasattr(data, "dtype"):  # Python scalar or (nested) list: float32 unless told
            raw = numpy.asarray(data)
            if raw.dtype.kind not in "biufc":  # None, strings, objects: never a silent nan
                raise TypeError(f"Tensor(): data must be a number or a (nested) sequence of numbers, got "
                                f"{type(data).__name__} {data!r:.60}")
            data = raw.astype(DEFAULT_FLOAT if dtype is None else dtype, copy=False)
        elif dtype is not None and data.dtype != numpy.dtype(dtype):
            data = data.astype(dtype)
        here = backend.device_of(data)
        if device is not None:
            dev = backend.parse_device(device)
        else:
            dev = here if stay or here != "cpu" else backend.default_device()
        if dev != here:
            data = backend.to_device(data, dev)
        self.data = data
        self._grad: Tensor | None = None
        self._parents: tuple[Tensor, ...] = ()
        self._backward: Backward | None = None
        self._op = ""
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_()

    # ------------------------------------------------------------------ attributes
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return int(self.data.size)

    @property
    def dtype(self) -> numpy.dtype:
        return self.data.dtype

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    @property
    def xp(self) -> Any:
        """The array module (numpy or cupy) this tensor's data lives in."""
        return backend.get_array_module(self.data)

    @property
    def is_leaf(self) -> bool:
        return self._backward is None

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient (a Tensor of the same shape), or None."""
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                value = Tensor(value, device=self.device)
            if value.shape != self.shape:
                raise ValueError(f"assigned grad has shape {value.shape}, but the tensor has shape {self.shape}")
            check_devices("grad assignment", self, value)
        self._grad = value

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Mark this tensor as a leaf whose gradient is wanted (in place)."""
        if requires_grad and self.data.dtype.kind not in "fc":
            raise TypeError(f"only floating-point tensors can require grad, got dtype {self.data.dtype}")
        self.requires_grad = requires_grad
        return self

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        extra = f", device='{self.device}'" if self.device != "cpu" else ""
        grad = f", grad_fn={self._op}" if self._backward is not None else (
            ", requires_grad=True" if self.requires_grad else "")
        body = numpy.array2string(self.numpy(), separator=", ", precision=4, prefix="Tensor(")
        return f"Tensor({body}, dtype={self.dtype}{extra}{grad})"

    __hash__ = object.__hash__  # by identity, as in PyTorch (== is elementwise)

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(f"the truth value of a Tensor with shape {self.shape} is ambiguous")
        return bool(self.data)

    # ------------------------------------------------------------------ conversion
    def numpy(self) -> numpy.ndarray:
        """A host numpy array (a copy from the GPU; the array itself on the CPU)."""
        return backend.to_numpy(self.data)

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def detach(self) -> Tensor:
        """The same data, cut from the graph (no copy)."""
        return Tensor(self)

    def to(self, device: str) -> Tensor:
        """This tensor on ``device``; differentiable (the gradient moves back)."""
        return movement.to(self, backend.parse_device(device))

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def float(self) -> Tensor:
        return self.astype(numpy.float32)

    def double(self) -> Tensor:
        return self.astype(numpy.float64)

    def astype(self, dtype: Any) -> Tensor:
        return elementwise.astype(self, dtype)

    # ------------------------------------------------------------------ backward
    def backward(self, grad: TensorLike | None = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``grad`` is the gradient of some scalar with respect to ``self`` (it may be omitted
        for a one-element tensor). The graph is freed afterwards unless ``retain_graph``: a
        second backward through it raises, as in PyTorch (see ``autograd.run_backward``).
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad: no input of the "
                               "ops that made it has requires_grad=True (or it was made under no_grad)")
        run_backward([self], root_grads([self], [grad]), retain_graph)

    def _accumulate(self, g: Array, handed_out: set[int]) -> None:
        """Add ``g`` into ``.grad``; copies when ``g`` may be shared, so grads never alias."""
        if g.dtype != self.dtype:
            g = g.astype(self.dtype)
        if self._grad is None:
            if g.base is not None or id(g) in handed_out:
                g = g.copy()
            handed_out.add(id(g))
            self._grad = Tensor(g, device=self.device)
        else:
            self._grad = Tensor(self._grad.data + g, device=self.device)

    # ------------------------------------------------------------------ operators
    def __add__(self, other: TensorLike) -> Tensor:
        return elementwise.add(self, other)

    def __radd__(self, other: TensorLike) -> Tensor:
        return elementwise.add(other, self)

    def __sub__(self, other: TensorLike) -> Tensor:
        return elementwise.sub(self, other)

    def __rsub__(self, other: TensorLike) -> Tensor:
        return elementwise.sub(other, self)

    def __mul__(self, other: TensorLike) -> Tensor:
        return elementwise.mul(self, other)

    def __rmul__(self, other: TensorLike) -> Tensor:
        return elementwise.mul(other, self)

    def __truediv__(self, other: TensorLike) -> Tensor:
        return elementwise.div(self, other)

    def __rtruediv__(self, other: TensorLike) -> Tensor:
        return elementwise.div(other, self)

    def __pow__(self, other: TensorLike) -> Tensor:
        return elementwise.pow(self, other)

    def __rpow__(self, other: TensorLike) -> Tensor:
        return elementwise.pow(other, self)

    def __matmul__(self, other: TensorLike) -> Tensor:
        return linalg.matmul(self, other)

    def __rmatmul__(self, other: TensorLike) -> Tensor:
        return linalg.matmul(other, self)

    def __neg__(self) -> Tensor:
        return elementwise.neg(self)

    def __getitem__(self, index: Any) -> Tensor:
        return movement.getitem(self, index)

    def __lt__(self, other: TensorLike) -> Tensor:
        return elementwise.compare(self, other, "less")

    def __le__(self, other: TensorLike) -> Tensor:
        return elementwise.compare(self, other, "less_equal")

    def __gt__(self, other: TensorLike) -> Tensor:
        return elementwise.compare(self, other, "greater")

    def __ge__(self, other: TensorLike) -> Tensor:
        return elementwise.compare(self, other, "greater_equal")

    def __eq__(self, other: TensorLike) -> Tensor:  # type: ignore[override]
        return elementwise.compare(self, other, "equal")

    def __ne__(self, other: TensorLike) -> Tensor:  # type: ignore[override]
        return elementwise.compare(self, other, "not_equal")

    # ------------------------------------------------------------------ math methods
    def exp(self) -> Tensor:
        return elementwise.exp(self)

    def log(self) -> Tensor:
        return elementwise.log(self)

    def sqrt(self) -> Tensor:
        return elementwise.sqrt(self)

    def tanh(self) -> Tensor:
        return elementwise.tanh(self)

    def sigmoid(self) -> Tensor:
        return elementwise.sigmoid(self)

    def relu(self) -> Tensor:
        return elementwise.relu(self)

    def softplus(self, beta: float = 1.0) -> Tensor:
        return elementwise.softplus(self, beta)

    def abs(self) -> Tensor:
        return elementwise.abs(self)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        return elementwise.clip(self, min, max)

    def maximum(self, other: TensorLike) -> Tensor:
        return elementwise.maximum(self, other)

    def minimum(self, other: TensorLike) -> Tensor:
        return elementwise.minimum(self, other)

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return reduce.sum(self, axis, keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return reduce.mean(self, axis, keepdims)

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return reduce.max(self, axis, keepdims)

    def min(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return reduce.min(self, axis, keepdims)

    def argmax(self, axis: int | None = None) -> Tensor:
        return Tensor(self.xp.argmax(self.data, axis=axis), device=self.device)

    def logsumexp(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return reduce.logsumexp(self, axis, keepdims)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return reduce.log_softmax(self, axis)

    def softmax(self, axis: int = -1) -> Tensor:
        return reduce.softmax(self, axis)

    def matmul(self, other: TensorLike) -> Tensor:
        return linalg.matmul(self, other)

    # ------------------------------------------------------------------ shape methods
    def reshape(self, *shape: Any) -> Tensor:
        return movement.reshape(self, _one_or_many(shape))

    def view(self, *shape: Any) -> Tensor:
        return self.reshape(*shape)

    def transpose(self, *axes: Any) -> Tensor:
        return movement.transpose(self, _one_or_many(axes))

    @property
    def T(self) -> Tensor:  # noqa: N802 - numpy's name
        return movement.transpose(self, ())

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return movement.flatten(self, start_dim, end_dim)

    def expand(self, *shape: Any) -> Tensor:
        return movement.broadcast_to(self, _one_or_many(shape))

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        return movement.broadcast_to(self, shape)

    def squeeze(self, axis: int | tuple[int, ...] | None = None) -> Tensor:
        return movement.squeeze(self, axis)

    def unsqueeze(self, axis: int) -> Tensor:
        return movement.unsqueeze(self, axis)

    def pad(self, pad_width: Any, value: float = 0.0) -> Tensor:
        return movement.pad(self, pad_width, value)


def _one_or_many(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Accept both ``f(2, 3)`` and ``f((2, 3))``."""
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


def record(op: str, data: Array, parents: tuple[Tensor, ...], backward: Backward) -> Tensor:
    """Wrap an op's output array; remember ``parents`` and ``backward`` when a gradient is wanted.

    ``backward(g)`` returns one gradient (or None) per parent, each of that parent's shape.
    """
    out = Tensor.__new__(Tensor)
    out.data, out._grad = data, None
    if is_grad_enabled() and any(p.requires_grad for p in parents):
        out.requires_grad, out._parents, out._backward, out._op = True, parents, backward, op
    else:
        out.requires_grad, out._parents, out._backward, out._op = False, (), None, op
    return out


def check_devices(op: str, *tensors: Tensor) -> str:
    """The common device of ``tensors``; a DeviceError naming both devices when they differ."""
    dev = tensors[0].device
    for t in tensors[1:]:
        if t.device != dev:
            raise backend.DeviceError(f"{op}: tensors are on different devices, {dev} and {t.device}; "
                                      f"move one with .to(device)")
    return dev


def as_tensor(x: TensorLike, like: Tensor | None = None) -> Tensor:
    """``x`` as a Tensor; Python scalars take ``like``'s dtype and device (a constant, no grad)."""
    if isinstance(x, Tensor):
        return x
    if like is not None:
        xp = like.xp
        if isinstance(x, (int, float, bool)):
            dtype = like.dtype if like.dtype.kind in "fc" or isinstance(x, (int, bool)) else DEFAULT_FLOAT
            return Tensor(xp.asarray(x, dtype=dtype), device=like.device)
        return Tensor(x, device=like.device)
    return Tensor(x)


# The ops modules import this one, so they are bound here, after Tensor exists.
from .ops import elementwise, linalg, movement, reduce  # noqa: E402
