"""torch's lazy modules: ``LazyLinear``, ``LazyConv1d/2d/3d``, ``LazyConvTranspose1d/2d``, ``LazyBatchNorm1d/2d/3d``,
``LazyInstanceNorm1d/2d/3d`` and ``LazyConvTranspose3d`` infer their input size from the first forward.

A lazy layer is its eager class (``LazyLinear`` is a ``Linear``) built with torch's arguments less the first
(``in_features``, ``in_channels`` or ``num_features``), which reads 0, and with ``UninitializedParameter`` /
``UninitializedBuffer`` in place of its parameters and floating-point buffers. Its first forward reads the size from
the input, builds the eager layer of that size (the very random draws of ``Linear(in, out)``: with the same seed, the
same weights), moves those arrays into the uninitialized tensors in place (so an optimizer built before the first
forward holds the right objects, as in torch) and turns the module into the eager class (``type(m) is Linear``).
``to()``, ``cuda()``, ``half()`` before that set the dtype and device the arrays are then cast to (so a lazy layer
with ``half()`` equals ``Linear(in, out).half()``), and ``load_state_dict`` materializes the tensors from the loaded
shapes instead (torch's behaviour).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from typing import Any, ClassVar

from .. import backend
from ..ops.sparse import is_csr
from ..tensor import Tensor
from .layers import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    Linear,
)
from .module import Module, Parameter, UninitializedBuffer, UninitializedParameter, is_lazy


@contextlib.contextmanager
def _cpu_draws_undone() -> Iterator[None]:
    """Leave the CPU random stream as it was before the block (``fork_rng`` would also restart the GPU streams)."""
    stream = backend.generator("cpu").bit_generator
    state = stream.state
    try:
        yield
    finally:
        stream.state = state


class LazyModuleMixin:
    """The mechanism of every lazy layer; a subclass names its eager class and where the input holds the size."""

    cls_to_become: type[Module]
    in_ranks: tuple[int, ...] = ()  # the input ranks the layer takes; () is Linear's (..., in_features)
    unbatched_rank: int | None = None  # an input of this rank has no batch dim: the size is its dim 0, not dim 1
    lazy_defaults: ClassVar[dict[str, Any]] = {}  # defaults that differ from the eager class's (LazyInstanceNorm's)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        eager, size = self.cls_to_become, self._size_name()
        params = list(inspect.signature(eager.__init__).parameters.values())[2:]  # less self and the size
        signature = inspect.Signature([p.replace(default=self.lazy_defaults.get(p.name, p.default),
                                                 annotation=inspect.Parameter.empty) for p in params])
        try:
            call = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{type(self).__name__}{signature}: {e}") from None
        call.apply_defaults()
        arguments = dict(call.arguments)
        with _cpu_draws_undone():  # an eager layer of a stand-in size sets every attribute, drawing nothing for real
            eager.__init__(self, **{size: arguments.get("groups", 1), **arguments, "device": "cpu"})
        own = [*self.named_parameters(recurse=False), *self._own_buffers()]  # type: ignore[attr-defined]
        names = tuple(n for n, t in own if t.dtype.kind == "f")
        for name in names:
            t = getattr(self, name)
            kind = UninitializedParameter if isinstance(t, Parameter) else UninitializedBuffer
            setattr(self, name, kind(t.requires_grad, "cpu", t.dtype))
        setattr(self, size, 0)
        self._lazy_call, self._lazy_names = arguments, names
        self.to(backend.parse_device(arguments["device"]))  # type: ignore[attr-defined]

    @classmethod
    def _size_name(cls) -> str:
        """The eager constructor's first argument: the size a lazy layer infers."""
        return list(inspect.signature(cls.cls_to_become.__init__).parameters)[1]

    def _in_size(self, x: Any) -> int:
        """The size ``x`` gives: its channel dim (1, or 0 when unbatched), or its last dim for ``in_ranks == ()``
        (Linear's, which also takes a sparse CSR batch (N, in_features))."""
        name, ranks = type(self).__name__, self.in_ranks
        if not isinstance(x, Tensor) and not (is_csr(x) and not ranks):
            raise TypeError(f"{name}: the first forward infers {self._size_name()} from a Tensor, got "
                            f"{type(x).__name__}")
        shape = tuple(x.shape)
        if (len(shape) not in ranks) if ranks else not shape:
            wanted = " or ".join(f"{r}-d" for r in ranks) if ranks else "at least 1-d"
            raise ValueError(f"{name}: expected {wanted} input to infer {self._size_name()} from, got shape {shape}")
        size = shape[-1] if not ranks else shape[0 if len(shape) == self.unbatched_rank else 1]
        if size == 0:  # (torch leaves such a layer's weights uninitialised garbage; the eager Linear takes 0)
            raise ValueError(f"{name}: {self._size_name()} must be a positive int, got 0 (input shape {shape})")
        return size

    def has_uninitialized_params(self) -> bool:
        """Whether a parameter or buffer is still uninitialized (torch's name)."""
        return any(is_lazy(getattr(self, n)) for n in self._lazy_names)

    def initialize_parameters(self, x: Tensor, *args: Any, **kwargs: Any) -> None:
        """Infer the size from the input ``x``, make the parameters and buffers, and become the eager class (torch's
        name; the first forward calls it). Parameters loaded by ``load_state_dict`` are kept, checked against it."""
        eager, name, size = self.cls_to_become, type(self).__name__, self._in_size(x)
        call = {**self._lazy_call, self._size_name(): size}
        tensors = {n: getattr(self, n) for n in self._lazy_names}
        pending = [n for n, t in tensors.items() if is_lazy(t)]
        if pending and len(pending) < len(tensors):
            raise ValueError(f"{name}: load_state_dict filled {[n for n in tensors if n not in pending]} but not "
                             f"{pending}; load all of them (or none) before the first forward")
        if pending:  # the eager layer's own draws, then what to(), cuda(), half() did before this forward
            fresh = eager(**call)
            for n, t in tensors.items():
                t._become(backend.to_device(getattr(fresh, n)._data, t.device).astype(t.dtype, copy=False))
        elif tensors:  # all loaded: their shapes must be those of the eager layer for this input
            with _cpu_draws_undone():
                fresh = eager(**{**call, "device": "cpu"})
            wrong = [f"{n} {t.shape} (expected {getattr(fresh, n).shape})" for n, t in tensors.items()
                     if t.shape != getattr(fresh, n).shape]
            if wrong:
                raise ValueError(f"{name}: the loaded {', '.join(wrong)} cannot take an input of shape {x.shape} "
                                 f"({self._size_name()}={size}); load a state_dict that fits the input")
        setattr(self, self._size_name(), size)
        del self._lazy_call, self._lazy_names
        self.__class__ = eager

    def forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Any:
        self.initialize_parameters(x)
        return self.forward(x, *args, **kwargs)  # the eager class's forward now


class LazyLinear(LazyModuleMixin, Linear):
    """A Linear whose ``in_features`` is the last dim of its first input: ``LazyLinear(out_features, bias=True,
    device=None, dtype=None)``."""

    cls_to_become = Linear


class LazyConv1d(LazyModuleMixin, Conv1d):
    """A Conv1d whose ``in_channels`` is the channel dim of its first input, (N, C, L) or (C, L); Conv1d's
    arguments from ``out_channels`` on."""

    cls_to_become, in_ranks, unbatched_rank = Conv1d, (2, 3), 2


class LazyConv2d(LazyModuleMixin, Conv2d):
    """A Conv2d whose ``in_channels`` is the channel dim of its first input, (N, C, H, W) or (C, H, W); Conv2d's
    arguments from ``out_channels`` on."""

    cls_to_become, in_ranks, unbatched_rank = Conv2d, (3, 4), 3


class LazyConv3d(LazyModuleMixin, Conv3d):
    """A Conv3d whose ``in_channels`` is the channel dim of its first input, (N, C, D, H, W) or (C, D, H, W); Conv3d's
    arguments from ``out_channels`` on."""

    cls_to_become, in_ranks, unbatched_rank = Conv3d, (4, 5), 4


class LazyConvTranspose1d(LazyModuleMixin, ConvTranspose1d):
    """A ConvTranspose1d whose ``in_channels`` is the channel dim of its first input, (N, C, L) or (C, L)."""

    cls_to_become, in_ranks, unbatched_rank = ConvTranspose1d, (2, 3), 2


class LazyConvTranspose2d(LazyModuleMixin, ConvTranspose2d):
    """A ConvTranspose2d whose ``in_channels`` is the channel dim of its first input, (N, C, H, W) or (C, H, W)."""

    cls_to_become, in_ranks, unbatched_rank = ConvTranspose2d, (3, 4), 3


class LazyConvTranspose3d(LazyModuleMixin, ConvTranspose3d):
    """A ConvTranspose3d whose ``in_channels`` is the channel dim of its first input, (N, C, D, H, W) or
    (C, D, H, W)."""

    cls_to_become, in_ranks, unbatched_rank = ConvTranspose3d, (4, 5), 4


class LazyBatchNorm1d(LazyModuleMixin, BatchNorm1d):
    """A BatchNorm1d whose ``num_features`` is dim 1 of its first input, (N, C) or (N, C, L)."""

    cls_to_become, in_ranks = BatchNorm1d, (2, 3)


class LazyBatchNorm2d(LazyModuleMixin, BatchNorm2d):
    """A BatchNorm2d whose ``num_features`` is dim 1 of its first input (N, C, H, W)."""

    cls_to_become, in_ranks = BatchNorm2d, (4,)


class LazyBatchNorm3d(LazyModuleMixin, BatchNorm3d):
    """A BatchNorm3d whose ``num_features`` is dim 1 of its first input (N, C, D, H, W)."""

    cls_to_become, in_ranks = BatchNorm3d, (5,)


_LAZY_INSTANCE_NORM = {"affine": True, "track_running_stats": True}  # torch's, unlike InstanceNorm's own defaults


class LazyInstanceNorm1d(LazyModuleMixin, InstanceNorm1d):
    """An InstanceNorm1d whose ``num_features`` is the channel dim of its first input, (N, C, L) or (C, L). As in
    torch, ``affine`` and ``track_running_stats`` default to True here."""

    cls_to_become, in_ranks, unbatched_rank, lazy_defaults = InstanceNorm1d, (2, 3), 2, _LAZY_INSTANCE_NORM


class LazyInstanceNorm2d(LazyModuleMixin, InstanceNorm2d):
    """An InstanceNorm2d whose ``num_features`` is the channel dim of its first input, (N, C, H, W) or (C, H, W).
    As in torch, ``affine`` and ``track_running_stats`` default to True here."""

    cls_to_become, in_ranks, unbatched_rank, lazy_defaults = InstanceNorm2d, (3, 4), 3, _LAZY_INSTANCE_NORM


class LazyInstanceNorm3d(LazyModuleMixin, InstanceNorm3d):
    """An InstanceNorm3d whose ``num_features`` is the channel dim of its first input, (N, C, D, H, W) or
    (C, D, H, W). As in torch, ``affine`` and ``track_running_stats`` default to True here."""

    cls_to_become, in_ranks, unbatched_rank, lazy_defaults = InstanceNorm3d, (4, 5), 4, _LAZY_INSTANCE_NORM
