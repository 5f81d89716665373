"""Activations beyond the elementwise basics: GELU (exact and tanh form) and SiLU, each one fused op.

- ``gelu``: x Phi(x) with Phi the standard normal CDF (Hendrycks & Gimpel, 2016); ``approximate="tanh"`` uses
  0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as GPT-2 did. Both as ``torch.nn.functional.gelu``.
- ``silu``: x sigmoid(x) (a.k.a. swish).
"""

from __future__ import annotations

import math

from .. import backend
from ..tensor import Array, Tensor, record
from .elementwise import sigmoid_array

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def gelu(a: Tensor, approximate: str = "none") -> Tensor:
    """GELU of ``a`` (any shape); ``approximate`` is ``"none"`` (exact, with erf) or ``"tanh"``."""
    x, xp = a.data, a.xp
    if approximate == "none":
        cdf = backend.erf(x * x.dtype.type(1 / math.sqrt(2.0)))
        cdf += 1
        cdf *= 0.5

        def backward(g: Array) -> tuple[Array]:  # g (Phi(x) + x phi(x)), in one buffer
            d = xp.multiply(x, x, out=xp.empty_like(x))  # an array even when 0-d
            d *= x.dtype.type(-0.5)
            xp.exp(d, out=d)
            d *= x.dtype.type(INV_SQRT_2PI)  # phi(x)
            d *= x
            d += cdf
            d *= g
            return (d,)
    elif approximate == "tanh":
        inner = x * x
        inner *= 0.044715
        inner += 1
        inner *= x
        inner *= SQRT_2_OVER_PI
        th = xp.tanh(inner)
        cdf = 0.5 * (1 + th)

        def backward(g: Array) -> tuple[Array]:  # d/dx of 0.5 x (1 + tanh(u)), u = c (x + 0.044715 x^3)
            du = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return (g * (cdf + 0.5 * x * (1 - th * th) * du),)
    else:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return record("gelu", (x * cdf).astype(x.dtype, copy=False), (a,), backward)


def silu(a: Tensor) -> Tensor:
    """x sigmoid(x); backward s (1 + x (1 - s))."""
    s = sigmoid_array(a.data)
    return record("silu", a.data * s, (a,), lambda g: (g * s * (1 + a.data * (1 - s)),))
