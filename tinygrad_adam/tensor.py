"""The autodiff ``Tensor``: an array, the op that made it, and reverse-mode ``backward``.

An op (see ``ops/``) computes its output array and calls :func:`record` with a small
``backward(g)`` closure that maps the output gradient to one gradient per input, like
micrograd. ``backward()`` hands the recorded graph to the engine in ``autograd.py``, which raises where an
array that a backward closure reads was written in place after the op was recorded (``check_versions``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any, Union

import numpy

from . import backend, printing
from .autograd import _state as grad_state
from .autograd import backward, is_grad_enabled

Array = Any  # a numpy.ndarray or a cupy.ndarray
Backward = Callable[[Array], Sequence[Union[Array, None]]]
Scalar = Union[int, float, bool]
TensorLike = Union["Tensor", Scalar, Array]

DEFAULT_FLOAT = numpy.float32


class Size(tuple):
    """A shape, as ``torch.Size``: a tuple of ints with ``numel()``. Its slices, sums with tuples (either side) and
    repeats stay Sizes, as torch's (so ``Tensor(x.size()[1:])`` is the legacy sizes form there as here)."""

    def numel(self) -> int:
        return math.prod(self)

    def __getitem__(self, index: Any) -> Any:
        item = tuple.__getitem__(self, index)
        return Size(item) if type(index) is slice else item

    def __add__(self, other: Any) -> Size:
        return Size(super().__add__(other)) if isinstance(other, tuple) else NotImplemented  # (an array's + runs)

    def __radd__(self, other: Any) -> Size:
        return Size(other + tuple(self))

    def __mul__(self, n: Any) -> Size:
        return Size(super().__mul__(n))

    __rmul__ = __mul__


def legacy_sizes(first: int | Size, requires_grad: Any, dtype: Any, device: Any,
                 more: tuple[Any, ...]) -> tuple[Array, Any]:
    """torch's legacy ``Tensor(*sizes)`` / ``Tensor(Size)``, from ``Tensor.__init__``'s arguments: the leading ints
    are the sizes, and only ``device`` may follow (as in torch). Returns (float32 zeros of that shape, device)."""
    args, k = (requires_grad, dtype, device), 0
    sizes = list(first) if type(first) is Size else [first]
    while type(first) is int and k < 3 and type(args[k]) is int:  # (True is not a size here)
        k += 1
    sizes += args[:k]
    if more and (k < 3 or not all(type(n) is int for n in more)):
        raise TypeError(f"Tensor(*sizes): sizes must be ints, got {(*sizes, *args[k:], *more)}")
    if (k < 1 and requires_grad is not False) or (k < 2 and dtype is not None):
        raise TypeError("Tensor(*sizes) / Tensor(Size) take only device= (as torch's legacy form); use "
                        "torch.zeros(*sizes, dtype=..., requires_grad=...)")
    sizes += more
    if any(n < 0 for n in sizes):
        raise ValueError(f"Tensor: negative dimension in size {tuple(sizes)}")
    return numpy.zeros(sizes, DEFAULT_FLOAT), device if k < 3 else None


class Tensor:
    """An n-dimensional array that can record the ops applied to it and differentiate them.

    ``Tensor(data, requires_grad=False, dtype=None, device=None)``: Python scalars and lists
    become float32 (ints too, unless ``dtype`` says otherwise); an ndarray keeps its dtype
    and is used without a copy when it is already on ``device``. Without ``device``, host data
    (scalars, lists, numpy arrays) goes to the default device, while a GPU array or a Tensor stays
    where it is. torch's legacy forms: ``Tensor(2, 3)`` and ``Tensor(x.size())`` are float32 zeros of
    that shape (torch's memory is uninitialised), ``Tensor()`` the empty (0,).
    """

    __slots__ = ("__dict__", "__weakref__", "_backward", "_data", "_epoch", "_grad", "_op", "_parents",
                 "requires_grad")
    __array_priority__ = 1000  # so numpy scalars on the left defer to our reflected operators
    # In-place bookkeeping (see ops/inplace.py). ``_epoch`` is the write clock (``inplace_writes``) when this
    # tensor was made; ``_vbox`` a list [clock, count] shared by a tensor and its views (made by version_box):
    # the clock at the last in-place write into their array and the number of those writes (``_version``);
    # None: never shared nor written; ``_base`` the tensor this one is a view of. Class-level defaults, so that
    # ordinary tensors pay nothing for the last two.
    _vbox: list[int] | None = None
    _base: Tensor | None = None
    # A tensor whose graph an in-place write replaced keeps the one it had before in ``_prior`` (torch's old
    # grad_fn, still the input of the ops recorded before the write; see ``reroute_stale_parents``).
    _prior: Tensor | None = None
    _detached_inputs: tuple[Tensor, ...] = ()  # inputs ``detach_()`` cut from the graph after this node's op
    # Gradient hooks (``register_hook``) and ``retain_grad``: see autograd.py; class defaults here too.
    _hooks: tuple[Any, ...] = ()
    _post_accumulate_hooks: tuple[Any, ...] = ()  # register_post_accumulate_grad_hook (leaves only)
    _node_hooks: tuple[Any, ...] = ()  # ``grad_fn.register_hook`` (torch's Node hooks; non-leaves only)
    _retains_grad = False
    _inference = False  # made inside inference_mode() (Tensor.is_inference)
    _data_alias = False  # made by ``.data`` (so resize_ cannot grow it away from its owner's array)
    _torch_strided: bool | None = None  # an alias (detach(), .data) of a strided array: its source's strides are
    # torch's (``torch_strided``), so its own are
    _expand_alias = False  # an alias (detach(), .data) of a view of an expand (``expanded``)

    def __init__(self, data: Any = (), requires_grad: bool = False, dtype: Any = None,
                 device: str | None = None, *more_sizes: int) -> None:
        source = data if isinstance(data, Tensor) else None
        stay = source is not None
        if source is not None:
            if isinstance(source._data, numpy.generic):  # a 0-d result numpy handed out as a scalar: an array both
                source._data = numpy.asarray(source._data)  # share, so writes through either reach the other
            data = source._data
        if isinstance(data, numpy.generic):
            data = numpy.asarray(data)
        elif type(data) is not numpy.ndarray and is_foreign_array(data):
            data = numeric_array(data)  # (keeping its dtype)
        if not hasattr(data, "dtype"):  # Python scalar or (nested) list: float32 unless told
            if type(data) is int or type(data) is Size:  # torch.Tensor(3, 2), torch.Tensor(x.size())
                data, device = legacy_sizes(data, requires_grad, dtype, device, more_sizes)
                requires_grad, dtype = False, None
            elif more_sizes:
                raise TypeError(f"Tensor: too many arguments for Tensor({type(data).__name__}, ...)")
            data = numeric_array(tensors_as_numbers(data)).astype(DEFAULT_FLOAT if dtype is None else dtype,
                                                                 copy=False)
        elif dtype is not None and data.dtype != numpy.dtype(dtype):
            data = data.astype(dtype)
        refuse_complex(data.dtype)
        if data.dtype.kind not in "biuf" or data.dtype.itemsize > 8:  # object, str, datetime, float128...: torch's
            raise TypeError(f"can't convert an array of dtype {data.dtype}: tensors hold bool, integer or float "
                            f"(16, 32, 64-bit) numbers; convert the array first, e.g. a.astype(numpy.float32)")
        here = backend.device_of(data)
        if device is not None:
            dev = backend.parse_device(device)
        else:
            dev = here if stay or here != "cpu" else backend.default_device()
        if dev != here:
            data = backend.to_device(data, dev)
        self._data, self._epoch = data, inplace_writes[0]
        if source is not None and data is source._data:  # the same array: the same version counter
            self._vbox = version_box(source)
            note_alias(self, data, source)
        self._grad: Tensor | None = None
        self._parents: tuple[Tensor, ...] = ()
        self._backward: Backward | None = None
        self._op = ""
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_()
        if grad_state.inference:  # made inside inference_mode(): is_inference()
            self._inference = True

    # ------------------------------------------------------------------ attributes
    def _set_data(self, value: Any) -> None:
        """``t.data = x`` with a Tensor (or a numpy / cupy array): ``t`` takes x's array, shared, as torch's takes
        x's storage, so ``dec.weight.data = enc.weight.data`` ties the two weights; views of ``t`` made before keep the
        old array (as torch's keep the old storage). ``t.data += x`` writes in place through the alias ``t.data``."""
        source = value if isinstance(value, Tensor) else None
        if source is not None:
            value = own_array(source)
            if value is self._data:  # ``t.data += x``: the alias ``t.data`` was already written in place
                return
        if not (hasattr(value, "dtype") and hasattr(value, "shape")) or isinstance(value, numpy.generic):
            raise TypeError(f".data must be assigned a Tensor or an array, got {type(value).__name__}")
        refuse_complex(value.dtype)
        if self.requires_grad and value.dtype.kind != "f":  # (as torch: it would be an integer tensor needing grad)
            raise RuntimeError(f".data: a tensor that requires grad cannot take {value.dtype} data; assign floating "
                               f"point data, or call requires_grad_(False) first")
        self._data = value
        if source is not None and self._base is None:  # (it takes x's storage, as torch's)
            keep_storage(self, source)

    def _get_data(self) -> Tensor:
        """``t.data``: a new Tensor on the same array, cut from the graph, as torch's. Unlike ``detach()`` it does
        not share the version counter: writes through it (``p.data.add_(u)``) are invisible to autograd, as in
        torch. The raw numpy / cupy array is ``t.numpy()`` on the CPU (and ``t._data`` inside the library)."""
        alias = Tensor(own_array(self), device=backend.device_of(self._data))
        alias._data_alias = True
        note_alias(alias, self._data, self)
        return alias

    data = property(_get_data, _set_data)

    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self) -> numpy.dtype:
        return self._data.dtype

    @property
    def device(self) -> str:
        return backend.device_of(self._data)

    @property
    def xp(self) -> Any:
        """The array module (numpy or cupy) this tensor's data lives in."""
        return backend.get_array_module(self._data)

    def __deepcopy__(self, memo: dict[int, Any]) -> Tensor:
        """``copy.deepcopy``: a leaf's copy has its own array, ``.grad`` and attributes, as torch's. A graph's result
        raises, as torch: its copy would carry copies of the leaves, so a backward through it would fill no one's
        ``.grad``."""
        if self._backward is not None:
            raise RuntimeError("deepcopy works on graph leaves only, and this tensor was computed from others: "
                               "deep-copy t.detach() instead")
        if id(self) not in memo:
            new = memo[id(self)] = object.__new__(type(self))
            new._data, new._grad = copy.deepcopy(self._data, memo), copy.deepcopy(self._grad, memo)
            new._epoch, new._op, new._parents, new._backward = self._epoch, self._op, (), None
            new.requires_grad = self.requires_grad
            new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return memo[id(self)]

    @property
    def is_leaf(self) -> bool:
        return self._backward is None

    @property
    def _version(self) -> int:
        """How many in-place writes this tensor's array has had, through it or a view sharing its counter (torch's
        private ``_version``: ``detach()`` shares it, ``.data`` does not; an optimizer step counts one)."""
        return 0 if self._vbox is None else self._vbox[1]

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient (a Tensor of the same shape; a ``SparseGrad`` from ``embedding(sparse=True)``),
        or None."""
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, (Tensor, SparseGrad)):
                raise TypeError(f"assigned grad must be a Tensor or None, got {type(value).__name__}")
            if value is self:
                raise RuntimeError("a tensor cannot be its own grad: assign a copy (x.grad = x.detach().clone())")
            if value.shape != self.shape:
                raise RuntimeError(f"assigned grad has shape {tuple(value.shape)}, but the tensor has shape "
                                   f"{tuple(self.shape)}")
            if value.dtype != self.dtype:
                raise RuntimeError(f"assigned grad has dtype {value.dtype}, but the tensor has dtype {self.dtype}: "
                                   f"assign grad.to({self.dtype})")
            check_devices("grad assignment", self, value if isinstance(value, Tensor) else value._values())
        self._grad = value

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Mark this tensor as a leaf whose gradient is wanted (in place); only a leaf can be unmarked."""
        if requires_grad and self._data.dtype.kind not in "fc":
            from .ops.factor import DtypeError  # (a TypeError that is torch's RuntimeError too)
            raise DtypeError(f"only floating-point tensors can require grad, got dtype {self._data.dtype}; "
                             f"convert first, e.g. x.float()")
        if not requires_grad and self._backward is not None:
            raise RuntimeError("requires_grad_(False) works on leaf tensors only; this one was computed by an op "
                               "that records its gradient: use x.detach() for a copy outside the graph")
        self.requires_grad = requires_grad
        return self

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        extra = f", device='{self.device}'" if self.device != "cpu" else ""
        grad = f", grad_fn={self._op}" if self._backward is not None else (
            ", requires_grad=True" if self.requires_grad else "")
        body = printing.array_string(self.numpy(), prefix="Tensor(")  # (set_printoptions)
        size = f", size={self.shape}" if self._data.size == 0 and self.ndim != 1 else ""  # torch's, for empties
        return f"Tensor({body}{size}, dtype={self.dtype}{extra}{grad})"

    __hash__ = object.__hash__  # by identity, as in PyTorch (== is elementwise)

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(f"the truth value of a Tensor with shape {self.shape} is ambiguous")
        return bool(self._data)

    # ------------------------------------------------------------------ conversion
    def numpy(self, *, force: bool = False) -> numpy.ndarray:
        """A host numpy array (a copy from the GPU; the array itself on the CPU). ``force=True`` (torch's: detach,
        conj and copy to the CPU) is the same array here."""
        return backend.to_numpy(self._data)

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self._data.reshape(()).item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def detach(self) -> Tensor:
        """The same data, cut from the graph (no copy)."""
        return Tensor(self)

    def astype(self, dtype: Any) -> Tensor:
        return elementwise.astype(self, dtype)

    # ------------------------------------------------------------------ backward
    def backward(self, gradient: TensorLike | None = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Tensor | Sequence[Tensor] | None = None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (only into ``inputs``' ``.grad`` when given:
        tensors of the graph, leaves or not).

        ``gradient`` is the gradient of some scalar with respect to ``self`` (it may be omitted
        for a one-element tensor). The graph is freed afterwards unless ``retain_graph``: a
        second backward through it raises, as in PyTorch (see ``autograd.backward``).
        ``create_graph``: the backward pass is recorded, so each ``.grad`` is a Tensor with history that can be
        differentiated again (higher_order.py lists the ops it covers; the others raise); the graph is kept.
        """
        backward([self], None if gradient is None else [gradient], retain_graph, create_graph, inputs)

    def _accumulate(self, g: Array, handed_out: set[int]) -> None:
        """Add ``g`` into ``.grad``; copies when ``g`` may be shared, so grads never alias."""
        if g.dtype != self.dtype:
            g = g.astype(self.dtype)
        if self._grad is None:
            if g.base is not None or id(g) in handed_out:
                g = g.copy()
            handed_out.add(id(g))
            self._grad = grad_tensor(g, self.device)
        elif (self._backward is None and isinstance(self._grad, Tensor) and not self._grad.requires_grad
              and self._grad.dtype == self.dtype and not isinstance(g, SparseGrad)
              and getattr(self._grad._data.flags, "writeable", True) and 0 not in self._grad._data.strides):
            self._grad._data += g  # a leaf's .grad is added into in place, as torch's AccumulateGrad: the same
            bump_version(self._grad)  # Tensor (a user's or a view), updated where others hold it
        else:  # (a sparse gradient, sparse_grad.py, adds up as torch's: sparse + sparse stays sparse)
            self._grad = grad_tensor(self._grad._data + g, self.device)

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
        return elementwise.mul(self, other)  # (torch's: a number on the left is x * number, in float16 too)

    def __truediv__(self, other: TensorLike) -> Tensor:
        return elementwise.div(self, other)

    def __rtruediv__(self, other: TensorLike) -> Tensor:
        return elementwise.rdiv(self, other)

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
        if not _comparable(other):  # None, a string, a list...: Python's identity answer (False), as torch's
            return NotImplemented
        return elementwise.compare(self, other, "equal")

    def __ne__(self, other: TensorLike) -> Tensor:  # type: ignore[override]
        if not _comparable(other):
            return NotImplemented
        return elementwise.compare(self, other, "not_equal")

    # Named methods (sum, transpose, add_, ...) are attached by methods.py, torch's names in one place.


def _comparable(other: Any) -> bool:
    """Whether ``x == other`` compares elementwise: a Tensor, a number or an array (torch's ``==`` with anything else,
    None, a string, a list, is Python's answer, False)."""
    return isinstance(other, (Tensor, int, float, complex, numpy.generic)) or backend.is_array(other)


def own_array(t: Tensor) -> Array:
    """``t``'s array, to hand out shared (``.data``, DLPack): a 0-d result that numpy gave as a scalar (immutable,
    owned by no array) becomes a 0-d array in place first, so writes through what is handed out reach ``t``."""
    if isinstance(t._data, numpy.generic):
        t._data = numpy.asarray(t._data)
    return t._data


def record(op: str, data: Array, parents: tuple[Tensor, ...], backward: Backward) -> Tensor:
    """Wrap an op's output array; remember ``parents`` and ``backward`` when a gradient is wanted.

    ``backward(g)`` returns one gradient (or None) per parent, each of that parent's shape.
    """
    out = constant(data)
    out._op = op
    if is_grad_enabled() and not grad_state.inference:  # (enable_grad() inside inference_mode() records nothing)
        for p in parents:  # a plain loop: any() over a generator costs more than the check itself
            # a view whose memory was written after its graph was set: regenerated from the tensor owning that
            # memory, as torch's grad_fn (the epoch first: a slot, cheaper than the class default _base)
            if p._epoch != out._epoch and p._base is not None and p._vbox[0] > p._epoch:
                refresh_view(p)
            if p.requires_grad:
                if data.dtype.kind not in "fc":  # an integer or bool result has no gradient, as in torch (a float
                    continue  # copied into an int tensor, or cast to one, leaves the graph there)
                out.requires_grad, out._parents, out._backward = True, parents, backward
            elif p._backward is not None:  # computed, then told ``requires_grad = False``: torch refuses that
                raise RuntimeError(f"{op}: an input was computed by an op that records its gradient, and then had "
                                   f"requires_grad set to False, which only a leaf tensor allows (as in torch); "
                                   f"use x.detach() for a copy outside the graph")
    base = data.base  # every op records an array (numpy scalars have .base too)
    if base is not None:
        for p in parents:  # a view of a parent's array (reshape, transpose, slicing...) shares its version counter
            if base is p._data or base is p._data.base:
                out._vbox, out._base = version_box(p), p
                if p._inference:  # a view of an inference tensor is one, as in torch
                    out._inference = True
                break
    return out


def constant(data: Array) -> Tensor:
    """A leaf without gradient around ``data`` as it is (an array already on its device, of its final dtype):
    no checks and no copy, the cheap way for ops to wrap a number they made themselves."""
    out = Tensor.__new__(Tensor)
    out._data, out._grad, out._epoch = data, None, inplace_writes[0]
    out.requires_grad, out._parents, out._backward, out._op = False, (), None, ""
    if grad_state.inference:
        out._inference = True
    return out


# The write clock: how many in-place writes ever happened. A node made at clock c is stale when an array its
# backward reads was written at a later clock (``check_versions``), and while no write happened after c, the
# check is one comparison.
inplace_writes = [0]


# The resampling ops (``resize.interpolate``).
INTERPOLATIONS = ("interpolate_nearest", "interpolate_nearest_exact", "interpolate_linear", "interpolate_bilinear",
                  "interpolate_trilinear", "interpolate_bicubic", "interpolate_area", "interpolate_bilinear_antialias",
                  "interpolate_bicubic_antialias")

# Ops whose backward reads no array's values, only shapes or a mask / indices kept at forward: an in-place write
# into their input or their output after they were recorded leaves their gradient right (both lists below).
READS_NO_VALUES = (
    "add", "sub", "neg", "sum", "mean", "reshape", "transpose", "broadcast_to", "getitem", "pad", "concatenate",
    "view_of", "clone", "_zero_derivative", "index_put", "flip", "roll", "repeat", "unfold", "fold", "as_strided",
    *INTERPOLATIONS, "masked_scatter", "where", "astype", "relu", "cross_entropy", "gather", "embedding", "cumsum",
    "diagonal", "tril", "triu", "floor", "round", "ceil", "trunc", "sign", "frac",
)

# Ops whose backward never reads their own output array, so writing into that output in place is safe for them.
OUTPUT_NOT_SAVED = frozenset({
    *READS_NO_VALUES, "mul", "div", "log", "matmul", "linear", "abs", "maximum", "minimum", "to", "conv2d",
    "max_pool2d", "nll_loss", "binary_cross_entropy_with_logits", "scatter", "scatter_add", "sin", "cos", "logit",
    "log2", "log10", "einsum", "diag", "diag_embed", "log1p", "erf", "nan_to_num", "atan2", "logaddexp", "logaddexp2",
    "fmod", "lerp", "addcmul", "addcdiv", "prelu", "sinh", "cosh", "var", "heaviside", "grid_sample_bilinear",
    "grid_sample_nearest", "grid_sample_bicubic", "index_fill", "index_add", "index_copy", "masked_select", "normal",
    "bernoulli", "poisson", "layer_norm", "batch_norm", "group_norm", "instance_norm", "conv_transpose2d",
    "avg_pool2d", "leaky_relu", "hardtanh", "elu", "selu", "celu", "silu", "gelu", "softplus", "logsigmoid", "clip",
    "remainder", "xlogy", "hardswish", "hardsigmoid", "mish", "softshrink", "hardshrink", "threshold", "div_rounded",
    "asin", "acos", "atan", "asinh", "acosh", "atanh", "erfc", "lgamma", "polygamma", "sinc", "i0", "angle",
    "erfinv", "smooth_l1_loss", "huber_loss", "binary_cross_entropy", "kl_div", "xlog1py", "entr", "ndtr",
    "soft_margin_loss",
})


def keep_storage(alias: Tensor, source: Tensor) -> None:
    """``alias`` now shares ``source``'s array: where that lies in a larger storage (``source`` is a view, or linked
    to one), ``alias`` keeps a link to it (``storage.StorageLink``)."""
    if source._base is not None or "_storage_link" in source.__dict__:
        from .storage import link_storage

        link_storage(alias, source)


def note_alias(alias: Tensor, data: Any, source: Tensor) -> None:
    """``alias`` shares ``source``'s array ``data`` (``detach()``, ``.data``): it keeps what that array's layout says
    of ``source``: the storage it lies in (``storage.StorageLink``), whether its strides are torch's
    (``torch_strided``) and whether it views an expand (``expanded``; numpy marks such an array read-only)."""
    flags = getattr(data, "flags", None)
    keep_storage(alias, source)
    if flags is not None and not flags.c_contiguous:
        alias._torch_strided = torch_strided(source)
    if not getattr(flags, "writeable", True) and expanded(source):  # (cupy has no such flag)
        alias._expand_alias = True


def repeats(data: Any) -> bool:
    """Whether the array ``data`` holds some element at several places (a stride of 0 over a dim longer than 1)."""
    return 0 in data.strides and data.size > 1 and any(
        s == 0 and n > 1 for s, n in zip(data.strides, data.shape, strict=True))


def expanded(t: Tensor | None) -> bool:
    """Whether ``t``, or a tensor it is a view or an alias of, holds an element at several places (an expand)."""
    while t is not None:
        if t._expand_alias or repeats(t._data):
            return True
        t = t._base
    return False


def storage_root(t: Tensor) -> Tensor:
    """The tensor whose array owns ``t``'s storage (``t`` itself unless it is a recorded view)."""
    while t._base is not None:
        t = t._base
    return t


def torch_strided(t: Tensor) -> bool:
    """Whether ``t``'s array has the strides torch's tensor would: a view (transpose, slice, permute...) of a
    row-major array, or an alias (``detach()``, ``.data``) of one. A computed array may be laid out otherwise than
    torch's (numpy's einsum), so ``view`` copies it instead of refusing."""
    t = storage_root(t)
    if t._torch_strided is not None:
        return t._torch_strided
    flags = getattr(t._data, "flags", None)
    return flags is not None and bool(flags.c_contiguous)


def version_box(t: Tensor) -> list[int]:
    """``t``'s version counter, [clock at the last in-place write, number of writes], made on first use; a view
    of ``t`` shares it."""
    if t._vbox is None:
        t._vbox = [0, 0]
    return t._vbox


def bump_version(t: Tensor) -> None:
    """Record that ``t``'s array was written in place (by an in-place op or an optimizer step)."""
    inplace_writes[0] += 1
    box = version_box(t)
    box[0] = inplace_writes[0]
    box[1] += 1


def saves_output(node: Tensor) -> bool:
    """Whether ``node``'s backward reads its output array (in-place ops, named ``*_``, keep a private copy); pow reads
    it only for its exponent's gradient (as torch, whose pow(Tensor, number) saves its input only); a custom
    Function's node reads none (its ``saved_tensors`` checks what it saved: ``function._checks_saved``)."""
    if getattr(node._backward, "checks_saved", False):
        return False
    if node._op == "pow":
        return node._parents[1].requires_grad
    return node._op not in OUTPUT_NOT_SAVED and not node._op.endswith("_")


# Ops whose backward never reads their inputs' values (torch saves no input for them): an in-place write into an
# input after the op was recorded leaves its gradient right. (mul, div and their kin: READ_FOR.)
# The in-place ops' nodes (``inplace``: ``add_`` is an add's node) read what their out-of-place op reads.
INPUT_NOT_SAVED = frozenset({*READS_NO_VALUES, "add_", "sub_", "neg_", "copy_", "fill_", "__setitem__", "index_put_",
                             "masked_fill_", "masked_scatter_",
                             # (these read their output instead, as torch's)
                             "exp", "sigmoid", "tanh", "sqrt", "reciprocal", "expm1", "softmax", "log_softmax", "inv",
                             "tan", "exp2"})
# Ops whose backward reads an input's values only for other inputs' gradients: for each input, the inputs whose
# gradients read it (torch's ops save only those): ``a * b`` reads ``a`` for ``b``'s gradient. (lerp's end - start
# is kept at forward; torch keeps addcdiv's tensor2 for any gradient.)
READ_FOR = {"mul": ((1,), (0,)), "div": ((1,), (0, 1)), "lerp": ((), (), (0, 1)), "addcmul": ((), (2,), (1,)),
            "addcdiv": ((), (2,), (0, 1, 2)), "fmod": ((1,), (1,)), "remainder": ((1,), (1,)),
            "matmul": ((1,), (0,)), "linear": ((1,), (0,), ()), "copysign": ((0,), ()), "kl_div": ((1,), (0, 1))}
READ_FOR.update({f"{op}_": reads for op, reads in READ_FOR.items()})


def reads_input(node: Tensor, i: int) -> bool:
    """Whether ``node``'s backward reads the values of its ``i``-th input: not for INPUT_NOT_SAVED ops, nor for a
    READ_FOR op's input when the inputs whose gradients would read it are constants (leaves without grad, never in a
    graph)."""
    op = node._op
    if op in INPUT_NOT_SAVED:
        return False
    readers = READ_FOR.get(op)
    if readers is not None:
        parents = node._parents
        return any(j < len(parents) and (parents[j].requires_grad or parents[j]._backward is not None or
                                         parents[j]._prior is not None) for j in readers[i])
    return not getattr(node._backward, "checks_saved", False)  # (a custom Function's: ``function._checks_saved``)


def reroute_stale_parents(node: Tensor) -> None:
    """As torch's edges point at the grad_fn an input had when ``node`` was recorded: an input whose graph an
    in-place write has replaced since (``_epoch`` later than ``node``'s) is swapped, in ``node._parents``, for the
    tensor standing for its graph at that time (``_prior``), when ``node``'s backward reads no values of it."""
    parents = node._parents
    for i, p in enumerate(parents):
        if p._epoch > node._epoch and p._prior is not None and not reads_input(node, i):
            if detached_since(p, node):  # its backward asks the input itself whether it requires grad: see
                node._detached_inputs = (*node._detached_inputs, p)  # ``autograd.as_recorded``
            while p._epoch > node._epoch and p._prior is not None:
                p = p._prior
            parents = (*parents[:i], p, *parents[i + 1:])
    node._parents = parents


def detached_since(p: Tensor, node: Tensor) -> bool:
    """Whether ``p`` was cut from its graph by ``detach_()`` after ``node`` was recorded."""
    while p._epoch > node._epoch and p._prior is not None:
        if p._prior.__dict__.get("_detached_into", False):
            return True
        p = p._prior
    return False


def refresh_view(view: Tensor) -> None:
    """``ops.inplace.refresh_view`` (imported here when first needed: ops import this module)."""
    from .ops.inplace import refresh_view as refresh
    refresh(view)


def check_versions(node: Tensor) -> None:
    """A RuntimeError when an array that ``node``'s backward reads was written in place after it was recorded
    (for an input whose values it does not read: when the input's graph was replaced and could not be rerouted)."""
    for i, p in enumerate(node._parents):
        if reads_input(node, i) and p._epoch > node._epoch and detached_since(p, node):
            raise RuntimeError(f"backward through {node._op}: a tensor it saved (shape {p.shape}) was cut from the "
                               f"graph by an in-place .detach_(); use out-of-place .detach()")
        if (p._epoch > node._epoch and p.requires_grad) if not reads_input(node, i) else \
                (p._vbox is not None and p._vbox[0] > node._epoch):
            raise RuntimeError(f"backward through {node._op}: one of its inputs (shape {p.shape}) was modified by an "
                               f"in-place operation after {node._op} used it; compute the update out of place "
                               f"(x = x + y) or do it after backward()")
    if node._vbox is not None and node._vbox[0] > node._epoch and saves_output(node):
        raise RuntimeError(f"backward through {node._op}: its output (shape {node.shape}) was modified by an in-place "
                           f"operation, but {node._op}'s gradient needs it; use an out-of-place op instead")


def is_foreign_array(data: Any) -> bool:
    """Another library's array (torch's, jax's): it has a ``dtype`` but is no ndarray (numpy's or cupy's), numpy
    scalar or sparse gradient / matrix (those keep their own paths: sparse_grad.py, sparse.py)."""
    return (hasattr(data, "dtype") and not backend.is_array(data) and not isinstance(data, numpy.generic)
            and not getattr(data, "is_sparse", False))


def numeric_array(data: Any) -> numpy.ndarray:
    """Python numbers, (nested) sequences of them or another library's array as a numpy array (of numpy's dtype for
    it), through ``numpy.asarray``; a TypeError for anything else (None, strings, an object that only has a
    ``dtype``: never a silent nan, nor the object stored as the array), NotImplementedError for complex."""
    raw = numpy.asarray(data)
    if raw.dtype.kind not in "biuf":
        refuse_complex(raw.dtype)
        raise TypeError(f"Tensor(): data must be numbers (a number, a nested sequence of them or an array), got "
                        f"{type(data).__name__} {data!r:.60}")
    return raw


_NUMBERS = frozenset({float, int, bool})


def tensors_as_numbers(data: Any) -> Any:
    """``data`` (a number or nested lists / tuples) with each Tensor in the nest read as its Python number, as torch
    reads one there at any depth: ``[[t]]`` with ``t`` of shape (1,) is shape (1, 1); a tensor of more than one
    element raises. ``data`` itself when it holds no Tensor."""
    if isinstance(data, Tensor):
        return data.item()
    if not isinstance(data, (list, tuple)) or set(map(type, data)) <= _NUMBERS:  # (the common case, at C speed)
        return data
    out = [tensors_as_numbers(x) for x in data]
    return out if any(a is not b for a, b in zip(out, data)) else data


def refuse_complex(dtype: numpy.dtype) -> None:
    """A NotImplementedError for a complex ``dtype``: tensors here are bool, integer or floating, and the ops, their
    gradients and ``.real`` / ``.imag`` are written for real numbers, so complex data would give wrong answers."""
    if dtype.kind == "c":
        raise NotImplementedError(f"complex tensors are not supported (dtype {dtype}); keep the real and imaginary "
                                  f"parts as two real tensors (or one with a last dimension of 2, the layout of "
                                  f"torch.view_as_real)")


def check_devices(op: str, *tensors: Tensor) -> str:
    """The common device of ``tensors``; a DeviceError naming both devices when they differ."""
    dev = backend.device_of(tensors[0]._data)  # (the arrays' devices: cheaper than the Tensor property)
    for t in tensors[1:]:
        d = backend.device_of(t._data)
        if d is not dev and d != dev:  # device objects are made once each: identity is the common answer
            raise backend.DeviceError(f"{op}: tensors are on different devices, {dev} and {d}; "
                                      f"move one with .to(device)")
    return dev


def as_tensor(x: TensorLike, like: Tensor | None = None) -> Tensor:
    """``x`` as an op's operand; Python scalars take ``like``'s dtype and device (a constant, no grad). An array
    is copied: a graph may keep it for backward, and writing into it afterwards must not change the gradient
    (torch refuses numpy operands of tensors that need a gradient)."""
    if isinstance(x, Tensor):
        return x
    if like is not None:
        xp = like.xp
        if isinstance(x, (int, float, bool)):
            dtype = like.dtype if like.dtype.kind in "fc" or isinstance(x, (int, bool)) else DEFAULT_FLOAT
            return Tensor(xp.asarray(x, dtype=dtype), device=like.device)
        out = Tensor(x, device=like.device)
    else:
        out = Tensor(x)
    if out._data is x:
        out._data = x.copy()
    return out


class FitsError(OverflowError, RuntimeError):
    """A number that does not fit a dtype: torch's RuntimeError, and the OverflowError ours raised before."""


def check_fits(op: str, value: Any, dtype: Any) -> Any:
    """``value`` itself where a Python number fits ``dtype`` as torch checks it for a fill, a bound or a factor
    converted to the tensor's dtype; else a ``FitsError`` (torch's RuntimeError, also an OverflowError). inf and
    nan fit a floating dtype (the finite limit is the largest finite value, not the rounding threshold: float16
    65519.0 overflows, as in torch); an int fits an unsigned dtype also as its two's complement (-1 for uint8). A
    value for float16 comes back rounded to float32, as torch converts it."""
    dtype = numpy.dtype(dtype)
    if isinstance(value, numpy.generic) and value.dtype.kind in "iuf":  # a numpy number is checked as the Python
        value = value.item()  # number it is, as torch's (np.int64(300) does not fit int8)
    if isinstance(value, complex):  # (numpy would keep the real part and only warn)
        refuse_complex(numpy.dtype(complex))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or dtype.kind not in "fiu":
        return value
    if dtype.kind == "f":
        bad = value == value and abs(value) != math.inf and abs(value) > float(numpy.finfo(dtype).max)
        if dtype == numpy.float16 and not bad:  # (torch makes a Half from a float: rounded to float32 first)
            with numpy.errstate(over="ignore"):
                value = float(numpy.float32(value))
    else:
        info = numpy.iinfo(dtype)
        low = -info.max if dtype.kind == "u" and isinstance(value, int) else info.min
        bad = value != value or not low <= value <= info.max
    if bad:
        raise FitsError(f"{op}: value {value!r} cannot be converted to {dtype} without overflow (as torch)")
    if dtype.kind == "u" and isinstance(value, int) and value < 0:  # wrapped, as torch's (uint8 fill_(-1) is 255;
        return value + int(info.max) + 1  # numpy refuses -1 for uint8)
    return value


# The ops modules import this one, so they are bound here, after Tensor exists.
from .ops import elementwise, linalg, movement  # noqa: E402
from .sparse_grad import SparseGrad, grad_tensor  # noqa: E402
