"""More elementwise math, as torch names it: sin, cos, tan, log2, log10, exp2, sign (each with its derivative)."""

from __future__ import annotations

import math

from ..tensor import Array, Tensor, record


def sin(a: Tensor) -> Tensor:
    return record("sin", a.xp.sin(a.data), (a,), lambda g: (g * a.xp.cos(a.data),))


def cos(a: Tensor) -> Tensor:
    return record("cos", a.xp.cos(a.data), (a,), lambda g: (-g * a.xp.sin(a.data),))


def tan(a: Tensor) -> Tensor:
    """tan x; derivative 1 / cos^2 x."""
    def backward(g: Array) -> tuple[Array]:
        c = a.xp.cos(a.data)
        return (g / (c * c),)
    return record("tan", a.xp.tan(a.data), (a,), backward)


def log2(a: Tensor) -> Tensor:
    return record("log2", a.xp.log2(a.data), (a,), lambda g: (g / (a.data * a.data.dtype.type(math.log(2))),))


def log10(a: Tensor) -> Tensor:
    return record("log10", a.xp.log10(a.data), (a,), lambda g: (g / (a.data * a.data.dtype.type(math.log(10))),))


def exp2(a: Tensor) -> Tensor:
    out = a.xp.exp2(a.data)
    return record("exp2", out, (a,), lambda g: (g * out * out.dtype.type(math.log(2)),))


def sign(a: Tensor) -> Tensor:
    """-1, 0 or 1 in a's dtype, with torch's 0 for nan and +0 for -0 (numpy's sign of nan is nan); a bool tensor
    comes back as it is. The gradient is zero."""
    x = a.data
    if x.dtype.kind == "f":
        out = (x > 0).astype(x.dtype)
        out -= x < 0
    else:
        out = x.copy() if x.dtype.kind == "b" else a.xp.sign(x)
    return record("sign", out, (a,), lambda g: (a.xp.zeros_like(g),))
