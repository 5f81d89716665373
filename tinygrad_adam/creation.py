"""Tensor constructors: zeros, ones, full, *_like, randn, rand, arange, eye (float32 unless told)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import backend
from .tensor import DEFAULT_FLOAT, Tensor


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    """Accept both ``zeros(2, 3)`` and ``zeros((2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], Sequence):
        shape = tuple(shape[0])
    return tuple(int(n) for n in shape)


def _make(fill: str, shape: tuple[Any, ...], dtype: Any, device: str | None, requires_grad: bool,
          value: float = 0.0) -> Tensor:
    dev = backend.parse_device(device)
    xp = backend.xp_of(dev)
    dtype = DEFAULT_FLOAT if dtype is None else dtype
    with backend.device_context(dev):
        data = xp.full(_shape(shape), value, dtype=dtype) if fill == "full" else getattr(xp, fill)(_shape(shape), dtype)
    return Tensor(data, requires_grad=requires_grad, device=dev)


def zeros(*shape: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    return _make("zeros", shape, dtype, device, requires_grad)


def ones(*shape: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    return _make("ones", shape, dtype, device, requires_grad)


def full(shape: Sequence[int], value: float, dtype: Any = None, device: str | None = None,
         requires_grad: bool = False) -> Tensor:
    return _make("full", (tuple(shape),), dtype, device, requires_grad, value)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return zeros(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return ones(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def randn(*shape: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the device's seeded generator (see ``manual_seed``)."""
    dev = backend.parse_device(device)
    data = backend.standard_normal(dev, _shape(shape), DEFAULT_FLOAT if dtype is None else dtype)
    return Tensor(data, requires_grad=requires_grad, device=dev)


def rand(*shape: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from the device's seeded generator."""
    dev = backend.parse_device(device)
    data = backend.uniform(dev, _shape(shape), DEFAULT_FLOAT if dtype is None else dtype)
    return Tensor(data, requires_grad=requires_grad, device=dev)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None,
           device: str | None = None) -> Tensor:
    """Evenly spaced values in [start, stop); float32 unless ``dtype`` says otherwise."""
    dev = backend.parse_device(device)
    if stop is None:
        start, stop = 0, start
    with backend.device_context(dev):
        data = backend.xp_of(dev).arange(start, stop, step, dtype=DEFAULT_FLOAT if dtype is None else dtype)
    return Tensor(data, device=dev)


def eye(n: int, m: int | None = None, dtype: Any = None, device: str | None = None) -> Tensor:
    dev = backend.parse_device(device)
    with backend.device_context(dev):
        data = backend.xp_of(dev).eye(n, m, dtype=DEFAULT_FLOAT if dtype is None else dtype)
    return Tensor(data, device=dev)
