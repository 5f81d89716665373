"""Memory formats and layouts, as torch names them: ``contiguous_format``, ``channels_last`` (NCHW values stored
as NHWC), ``channels_last_3d`` (NCDHW as NDHWC), ``preserve_format``; the one layout, ``strided``.

A format is a choice of strides: ``x.contiguous(memory_format=channels_last)`` is an array with channels-last
strides (numpy arrays take any strides), so ``stride()`` and ``is_contiguous(memory_format=...)`` answer as
torch's; the values are the same in every format, and ops compute the same whatever the strides.
"""

from __future__ import annotations

from typing import Any

from . import backend
from .tensor import Tensor


class memory_format:  # noqa: N801 - torch's name
    """``torch.memory_format``: the type of ``contiguous_format``, ``channels_last``, ... (its four values)."""

    def __init__(self, name: str, order: tuple[int, ...] | None = None, rank: int | None = None) -> None:
        self.name, self.order, self.rank = name, order, rank  # order: the dims from the outermost in memory

    def __repr__(self) -> str:
        return f"tinygrad_adam.{self.name}"

    def __reduce__(self) -> str:
        return self.name  # pickles as the module-level name: the same object after loading


class layout:  # noqa: N801
    """``torch.layout``: the type of ``strided`` (dense tensors) and ``sparse_coo`` (sparse.py's matrices)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"tinygrad_adam.{self.name}"

    def __reduce__(self) -> str:
        return self.name


contiguous_format = memory_format("contiguous_format")
preserve_format = memory_format("preserve_format")
channels_last = memory_format("channels_last", (0, 2, 3, 1), 4)
channels_last_3d = memory_format("channels_last_3d", (0, 2, 3, 4, 1), 5)
strided = layout("strided")
sparse_coo = layout("sparse_coo")  # torch.sparse_coo: sparse_coo_tensor's (sparse.py)


def check_layout(op: str, value: Any, pin_memory: bool | None = False) -> None:
    """``layout=`` as torch accepts it: None or ``strided`` (sparse layouts raise); ``pin_memory=`` None or False
    (True raises, as torch without an accelerator does)."""
    if value is not None and value is not strided:
        raise NotImplementedError(f"{op}: layout={value!r}: only tinygrad_adam.strided (dense tensors) exists here")
    if pin_memory:
        raise NotImplementedError(f"{op}: pin_memory=True: page-locked host memory is not available here; drop it")


def _format(op: str, value: Any) -> memory_format:
    if not isinstance(value, memory_format):
        raise TypeError(f"{op}(): memory_format must be a tinygrad_adam.memory_format, not {type(value).__name__}")
    return value


def _order(op: str, t: Tensor, fmt: memory_format) -> tuple[int, ...]:
    """The dims of ``t`` from the outermost in memory for ``fmt`` (contiguous: 0, 1, ..., n-1)."""
    if fmt.rank is None:
        return tuple(range(t.ndim))
    if t.ndim != fmt.rank:
        raise RuntimeError(f"{op}: required rank {fmt.rank} tensor to use {fmt.name} format, got shape {t.shape}")
    return fmt.order


def _follows(shape: tuple[int, ...], strides: tuple[int, ...], order: tuple[int, ...]) -> bool:
    """Whether ``strides`` are the dense strides of ``order`` (dims of size 1 may have any stride, as in torch)."""
    expected = 1
    for d in reversed(order):
        if shape[d] != 1:
            if strides[d] != expected:
                return False
            expected *= shape[d]
    return True


def element_strides(t: Tensor) -> tuple[int, ...]:
    return tuple(s // t.dtype.itemsize for s in t._data.strides)


def is_contiguous(t: Tensor, memory_format: memory_format = contiguous_format) -> bool:
    """Whether ``t``'s strides are those of ``memory_format`` (channels_last: only for 4-D tensors, else False)."""
    fmt = _format("is_contiguous", memory_format)
    if fmt.rank is None:
        return t._data.size == 0 or _follows(t.shape, element_strides(t), tuple(range(t.ndim)))
    return t.ndim == fmt.rank and _follows(t.shape, element_strides(t), fmt.order)


def dense_strides(shape: tuple[int, ...], order: tuple[int, ...]) -> tuple[int, ...]:
    """The strides (elements) of a dense array of ``shape`` whose dims lie in memory in ``order``."""
    strides, step = [0] * len(shape), 1
    for d in reversed(order):
        strides[d], step = step, step * max(shape[d], 1)
    return tuple(strides)


def _strides_like(shape: tuple[int, ...], strides: tuple[int, ...], order: tuple[int, ...]) -> bool:
    """torch's test whether strides look like a channels-last ``order`` (not necessarily dense): increasing from the
    channel dim outwards; a zero channel stride or a tie between N and C (N111 tensors) reads as contiguous."""
    if strides[1] == 0:
        return False
    low = 0
    for d in reversed(order):
        if shape[d] == 0 or strides[d] < low or (d == 0 and low == strides[1]):
            return False
        low = strides[d] * max(shape[d], 1)
    return True


def suggest_memory_format(t: Tensor) -> memory_format:
    """The format ``t``'s strides suggest, as torch's ``suggest_memory_format``: channels_last(_3d) when they look
    so, else contiguous_format."""
    for fmt in (channels_last, channels_last_3d):
        if t.ndim == fmt.rank and _strides_like(t.shape, element_strides(t), fmt.order):
            return fmt
    return contiguous_format


def follow_format(out: Any, *inputs: Tensor) -> Any:
    """``out`` (a new result array, of the inputs' rank) laid out in the channels-last format the first of ``inputs``
    to suggest one suggests, as torch lays out the outputs of its convolutions (input or weight), pools and
    upsampling; else ``out`` itself. The values do not change, only their order in memory (so ``stride()`` and
    ``is_contiguous()`` answer as torch's)."""
    for t in inputs:
        fmt = suggest_memory_format(t)
        if fmt is not contiguous_format and out.ndim == fmt.rank:
            strides = dense_strides(out.shape, fmt.order)
            if out.size and tuple(s // out.itemsize for s in out.strides) != strides:
                array = strided_array(out, out.shape, strides, out.dtype)
                array[...] = out
                return array
            return out
    return out


def _inner_first(shape: tuple[int, ...], strides: tuple[int, ...]) -> list[int]:
    """The dims ordered from the innermost by stride, as torch's ``infer_dense_strides`` sorts them (a stable
    insertion sort; a zero stride never moves a dim; equal strides put the smaller size inside)."""
    perm = list(reversed(range(len(shape))))
    for i in range(1, len(perm)):
        at = i
        for j in range(i - 1, -1, -1):
            a, b = strides[perm[j]], strides[perm[at]]
            after = a != 0 and b != 0 and (a > b or (a == b and shape[perm[j]] > shape[perm[at]]))
            if not after and a != 0 and b != 0 and a < b:
                break
            if after:
                perm[j], perm[at], at = perm[at], perm[j], j
    return perm


def preserved_strides(t: Tensor) -> tuple[int, ...]:
    """The strides torch's ``preserve_format`` gives a copy of ``t``: t's own when they are dense and
    non-overlapping (positive, a permutation of a dense layout), else dense ones in the order of t's strides."""
    strides = element_strides(t)
    order = tuple(sorted(range(t.ndim), key=lambda d: -strides[d]))
    if all(s >= 0 for s in strides) and _follows(t.shape, strides, order) and t._data.size:
        return strides
    out, step = [0] * t.ndim, 1
    for d in _inner_first(t.shape, strides):
        out[d], step = step, step * (t.shape[d] if t.shape[d] > 1 else 1)
    return tuple(out)


def span(shape: tuple[int, ...], strides: tuple[int, ...]) -> int:
    """How many elements a storage needs to hold a view of ``shape`` and (non-negative) ``strides`` from 0."""
    return 0 if 0 in shape else 1 + sum((n - 1) * s for n, s in zip(shape, strides))


def strided_array(like: Any, shape: tuple[int, ...], strides: tuple[int, ...], dtype: Any) -> Any:
    """A zero-filled array of ``shape`` with ``strides`` (elements) in memory of its own, on ``like``'s device."""
    xp = backend.get_array_module(like)
    with backend.device_context(backend.device_of(like)):
        flat = xp.zeros(span(shape, strides), dtype=dtype)
    return xp.lib.stride_tricks.as_strided(flat, shape, tuple(s * flat.itemsize for s in strides))


def _set_strides(out: Tensor, strides: tuple[int, ...]) -> Tensor:
    """``out`` (a tensor nothing else shares) with its values moved into an array of ``strides``."""
    if element_strides(out) != strides and out._data.size:
        array = strided_array(out._data, out.shape, strides, out.dtype)
        array[...] = out._data
        out._data = array
    return out


def _relaid(t: Tensor, strides: tuple[int, ...]) -> Tensor:
    """A differentiable copy of ``t`` whose array has ``strides`` (elements)."""
    from .ops import movement

    return _set_strides(movement.clone(t), strides)


def strides_for(op: str, t: Tensor, memory_format: Any) -> tuple[int, ...]:
    """The strides a copy of ``t`` in ``memory_format`` has (``preserve_format``: see ``preserved_strides``)."""
    fmt = _format(op, memory_format)
    return preserved_strides(t) if fmt is preserve_format else dense_strides(t.shape, _order(op, t, fmt))


def contiguous(t: Tensor, memory_format: Any = contiguous_format) -> Tensor:
    """``t`` itself when its strides are already ``memory_format``'s, else a copy with them (differentiable)."""
    fmt = _format("contiguous", memory_format)
    if fmt is preserve_format:
        if is_contiguous(t):
            return t
        raise RuntimeError("contiguous: preserve_format is not supported by contiguous() (as in torch); use "
                           "clone(memory_format=preserve_format)")
    return t if is_contiguous(t, fmt) else _relaid(t, strides_for("contiguous", t, fmt))


def clone(t: Tensor, *, memory_format: Any = preserve_format) -> Tensor:
    """A copy with its own array: ``preserve_format`` keeps t's strides when they are dense (else contiguous)."""
    return _relaid(t, strides_for("clone", t, memory_format))


def to_format(out: Tensor, memory_format: Any) -> Tensor:
    """``to(..., memory_format=)``: ``out`` in ``memory_format``; as torch's, itself when its strides suggest that
    format already (even when not dense) or with ``preserve_format``."""
    fmt = _format("to", memory_format)
    if fmt is preserve_format or suggest_memory_format(out) is fmt:  # (torch's test: a strided tensor may stay)
        return out
    return _relaid(out, strides_for("to", out, fmt))


def like(op: str, t: Tensor, out: Tensor, memory_format: Any, layout: Any = None,
         pin_memory: bool | None = False) -> Tensor:
    """``zeros_like`` and friends: ``out`` (new, of t's shape, no graph) laid out in ``memory_format`` of ``t``."""
    check_layout(op, layout, pin_memory)
    return _set_strides(out, strides_for(op, t, preserve_format if memory_format is None else memory_format))
