"""Elementwise ops: arithmetic with broadcasting, and the unary math functions.

Each op computes its output, then records a ``backward(g)`` closure that returns one
gradient per input. Broadcast inputs get their gradient summed back to their own shape.
"""

from __future__ import annotations

import contextlib
from typing import Any

from .. import backend
from ..tensor import Array, Tensor, TensorLike, as_tensor, check_devices, record


def broadcast_shape(op: str, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """numpy's broadcast of two shapes; a ValueError naming both shapes and the op otherwise."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        da = a[-i] if i <= len(a) else 1
        db = b[-i] if i <= len(b) else 1
        if da != db and da != 1 and db != 1:
            raise ValueError(f"{op}: shapes {a} and {b} cannot be broadcast together")
        out.append(max(da, db) if da and db else 0)
    return tuple(reversed(out))


def unbroadcast(g: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``g`` down to ``shape``: the gradient of an operand that was broadcast."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape) if axes else g.reshape(shape)


def operands(op: str, a: TensorLike, b: TensorLike) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors on one device with broadcastable shapes."""
    if not isinstance(a, Tensor):
        a = as_tensor(a, like=b if isinstance(b, Tensor) else None)
    if not isinstance(b, Tensor):
        b = as_tensor(b, like=a)
    check_devices(op, a, b)
    if a.shape != b.shape:
        broadcast_shape(op, a.shape, b.shape)
    return a, b


def add(a: TensorLike, b: TensorLike) -> Tensor:
    a, b = operands("add", a, b)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        return (unbroadcast(g, a.shape) if a.requires_grad else None,
                unbroadcast(g, b.shape) if b.requires_grad else None)
    return record("add", a.data + b.data, (a, b), backward)


def sub(a: TensorLike, b: TensorLike) -> Tensor:
    a, b = operands("sub", a, b)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        return (unbroadcast(g, a.shape) if a.requires_grad else None,
                unbroadcast(-g, b.shape) if b.requires_grad else None)
    return record("sub", a.data - b.data, (a, b), backward)


def mul(a: TensorLike, b: TensorLike) -> Tensor:
    a, b = operands("mul", a, b)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        return (unbroadcast(g * b.data, a.shape) if a.requires_grad else None,
                unbroadcast(g * a.data, b.shape) if b.requires_grad else None)
    return record("mul", a.data * b.data, (a, b), backward)


def div(a: TensorLike, b: TensorLike) -> Tensor:
    a, b = operands("div", a, b)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        ga = g / b.data
        return (unbroadcast(ga, a.shape) if a.requires_grad else None,
                unbroadcast(-ga * a.data / b.data, b.shape) if b.requires_grad else None)
    return record("div", a.data / b.data, (a, b), backward)


def pow(a: TensorLike, b: TensorLike) -> Tensor:  # noqa: A001 - named after the operator
    a, b = operands("pow", a, b)
    out = a.data ** b.data

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        xp = a.xp
        ga = unbroadcast(g * b.data * a.data ** (b.data - 1), a.shape) if a.requires_grad else None
        gb = None
        if b.requires_grad:  # d(a^b)/db = a^b log a, taken as 0 where a == 0
            log_a = xp.log(xp.where(a.data > 0, a.data, 1))
            gb = unbroadcast(g * out * log_a, b.shape)
        return ga, gb
    return record("pow", out, (a, b), backward)


def neg(a: Tensor) -> Tensor:
    return record("neg", -a.data, (a,), lambda g: (-g,))


def exp(a: Tensor) -> Tensor:
    out = a.xp.exp(a.data)
    return record("exp", out, (a,), lambda g: (g * out,))


def log(a: Tensor) -> Tensor:
    return record("log", a.xp.log(a.data), (a,), lambda g: (g / a.data,))


def sqrt(a: Tensor) -> Tensor:
    out = a.xp.sqrt(a.data)
    return record("sqrt", out, (a,), lambda g: (g / (2 * out),))


def tanh(a: Tensor) -> Tensor:
    out = a.xp.tanh(a.data)
    return record("tanh", out, (a,), lambda g: (g * (1 - out * out),))


def sigmoid_array(x: Array) -> Array:
    """1 / (1 + exp(-x)): accurate for all x (exp(-x) overflows to inf below about -88 in float32, which gives
    the right limit 0); four passes over ``x``, one new array."""
    xp = backend.get_array_module(x)
    d = xp.negative(x, out=xp.empty_like(x))  # out=: a 0-d input would otherwise give a scalar
    with ignore_overflow(xp):
        xp.exp(d, out=d)
    d += 1
    return xp.reciprocal(d, out=d)


def ignore_overflow(xp: Any) -> Any:
    """numpy's errstate(over="ignore") (cupy never warns)."""
    return xp.errstate(over="ignore") if hasattr(xp, "errstate") else contextlib.nullcontext()


def log1p_small(e: Array) -> Array:
    """log(1 + e) for 0 <= e <= 1, to a few ulps: log(u) of u = 1 + e, corrected by the rounding error of u.

    u - 1 - e is exactly that rounding error (e <= 1), and log(1 + e) = log(u) - (u - 1 - e) / u to second
    order. On the CPU this beats numpy's float32 ``log1p``, which is not vectorised (about 4x slower than log).
    """
    xp = backend.get_array_module(e)
    if backend.device_of(e) != "cpu":
        return xp.log1p(e)
    u = 1 + e
    err = u - 1
    err -= e
    err /= u
    out = xp.log(u, out=u)
    out -= err
    return out


def exp_neg_abs(x: Array) -> Array:
    """exp(-|x|), in (0, 1]: the part of softplus and of the logistic loss that can never overflow."""
    xp = backend.get_array_module(x)
    e = xp.abs(x)
    xp.negative(e, out=e)
    return xp.exp(e, out=e)


def sigmoid(a: Tensor) -> Tensor:
    out = sigmoid_array(a.data)
    return record("sigmoid", out, (a,), lambda g: (g * out * (1 - out),))


def relu(a: Tensor) -> Tensor:
    mask = a.data > 0
    return record("relu", a.data * mask, (a,), lambda g: (g * mask,))


def softplus_array(x: Array, beta: float = 1.0) -> Array:
    """log(1 + exp(beta x)) / beta, stable for large |x|: max(z, 0) + log1p(exp(-|z|))."""
    xp = backend.get_array_module(x)
    z = x * beta if beta != 1 else x
    out = log1p_small(exp_neg_abs(z))
    out += xp.maximum(z, 0)
    if beta != 1:
        out /= beta
    return out


def softplus(a: Tensor, beta: float = 1.0) -> Tensor:
    out = softplus_array(a.data, beta)

    def backward(g: Array) -> tuple[Array]:
        s = sigmoid_array(a.data * beta if beta != 1 else a.data)
        s *= g
        return (s,)
    return record("softplus", out, (a,), backward)


def abs(a: Tensor) -> Tensor:  # noqa: A001
    return record("abs", a.xp.abs(a.data), (a,), lambda g: (g * a.xp.sign(a.data),))


def clip(a: Tensor, lo: float | None = None, hi: float | None = None) -> Tensor:
    """Clamp to [lo, hi]; the gradient passes where the value was inside the range."""
    out = a.xp.clip(a.data, lo, hi)
    return record("clip", out, (a,), lambda g: (g * (out == a.data),))


def maximum(a: TensorLike, b: TensorLike) -> Tensor:
    """Elementwise max; on ties the gradient is split evenly between the two."""
    return _select("maximum", a, b, lambda x, y: x > y)


def minimum(a: TensorLike, b: TensorLike) -> Tensor:
    """Elementwise min; on ties the gradient is split evenly between the two."""
    return _select("minimum", a, b, lambda x, y: x < y)


def _select(op: str, a: TensorLike, b: TensorLike, a_wins: Any) -> Tensor:
    a, b = operands(op, a, b)
    xp = a.xp
    pick_a = a_wins(a.data, b.data)
    share_a = pick_a + 0.5 * (a.data == b.data)  # 1 where a wins, 0.5 on ties, 0 where b wins
    out = xp.where(pick_a, a.data, b.data)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        return (unbroadcast(g * share_a, a.shape) if a.requires_grad else None,
                unbroadcast(g * (1 - share_a), b.shape) if b.requires_grad else None)
    return record(op, out.astype(a.dtype, copy=False), (a, b), backward)


def where(cond: TensorLike, a: TensorLike, b: TensorLike) -> Tensor:
    """``a`` where ``cond`` holds, else ``b``; the gradient goes to the chosen side."""
    a, b = operands("where", a, b)
    c = cond.data if isinstance(cond, Tensor) else a.xp.asarray(cond)
    if isinstance(cond, Tensor):
        check_devices("where", cond, a)
    out = a.xp.where(c, a.data, b.data)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        zero = g.dtype.type(0)
        return (unbroadcast(a.xp.where(c, g, zero), a.shape) if a.requires_grad else None,
                unbroadcast(a.xp.where(c, zero, g), b.shape) if b.requires_grad else None)
    return record("where", out, (a, b), backward)


def compare(a: TensorLike, b: TensorLike, name: str) -> Tensor:
    """``a <name> b`` (less, equal, ...) as a bool Tensor; never part of a graph."""
    a, b = operands(name, a, b)
    return Tensor(getattr(a.xp, name)(a.data, b.data), device=a.device)


def astype(a: Tensor, dtype: Any) -> Tensor:
    """Cast; the gradient is cast back to the input's dtype."""
    src = a.dtype
    return record("astype", a.data.astype(dtype), (a,), lambda g: (g.astype(src),))
