"""Reductions: sum, mean, max, min, and the stable logsumexp / log_softmax / softmax."""

from __future__ import annotations

from .. import backend
from ..tensor import Array, Tensor, record

Axis = int | tuple[int, ...] | None


def _axes(axis: Axis, ndim: int) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative axes (all axes for None)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    n = ndim or 1  # a 0-d tensor accepts axis 0 / -1, as numpy does
    for a in axes:
        if not -n <= a < n:
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
    return tuple(sorted(a % n for a in axes))


def _expand_back(g: Array, shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> Array:
    """Reshape a reduced gradient so it broadcasts against the input's ``shape``."""
    if not keepdims:
        g = g.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))
    return g


def sum(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    axes = _axes(axis, a.ndim)
    out = a.data.sum(axis=axes, keepdims=keepdims)

    def backward(g: Array) -> tuple[Array]:
        return (a.xp.broadcast_to(_expand_back(g, a.shape, axes, keepdims), a.shape),)
    return record("sum", out, (a,), backward)


def mean(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    axes = _axes(axis, a.ndim)
    n = 1
    for i in axes:
        n *= a.shape[i]
    out = a.data.mean(axis=axes, keepdims=keepdims)

    def backward(g: Array) -> tuple[Array]:
        return (a.xp.broadcast_to(_expand_back(g, a.shape, axes, keepdims) / n, a.shape),)
    return record("mean", out, (a,), backward)


def max(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Largest value; on ties the gradient is split evenly among the tied elements."""
    return _extreme("max", a, axis, keepdims)


def min(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Smallest value; on ties the gradient is split evenly among the tied elements."""
    return _extreme("min", a, axis, keepdims)


def _extreme(op: str, a: Tensor, axis: Axis, keepdims: bool) -> Tensor:
    if a.size == 0:
        raise ValueError(f"{op}() of an empty tensor with shape {a.shape}")
    axes = _axes(axis, a.ndim)
    kept = getattr(a.data, op)(axis=axes, keepdims=True)

    def backward(g: Array) -> tuple[Array]:
        hit = a.data == kept
        return (hit * (_expand_back(g, a.shape, axes, keepdims) / hit.sum(axis=axes, keepdims=True)),)
    out = kept if keepdims else kept.reshape(tuple(n for i, n in enumerate(a.shape) if i not in axes))
    return record(op, out, (a,), backward)


def logsumexp_array(x: Array, axis: Axis, keepdims: bool = True) -> Array:
    """log(sum(exp(x))) over ``axis``, shifted by the max so it never overflows."""
    xp = backend.get_array_module(x)
    m = x.max(axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    out = xp.log(xp.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else out.squeeze(axis=axis)


def logsumexp(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    axes = _axes(axis, a.ndim)
    lse = logsumexp_array(a.data, axes)

    def backward(g: Array) -> tuple[Array]:
        return (_expand_back(g, a.shape, axes, keepdims) * a.xp.exp(a.data - lse),)
    return record("logsumexp", lse if keepdims else lse.squeeze(axis=axes), (a,), backward)


def log_softmax(a: Tensor, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along ``axis``; backward g - softmax * sum(g)."""
    out = a.data - logsumexp_array(a.data, axis)

    def backward(g: Array) -> tuple[Array]:
        return (g - a.xp.exp(out) * g.sum(axis=axis, keepdims=True),)
    return record("log_softmax", out, (a,), backward)


def softmax(a: Tensor, axis: int = -1) -> Tensor:
    """exp(x - logsumexp(x)); backward s * (g - sum(g s))."""
    out = a.xp.exp(a.data - logsumexp_array(a.data, axis))

    def backward(g: Array) -> tuple[Array]:
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)
    return record("softmax", out, (a,), backward)
