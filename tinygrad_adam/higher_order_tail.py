"""Differentiable backwards (see :mod:`higher_order`) of the long tail: asin, acos, copysign, fmod, remainder,
nan_to_num and logcumsumexp.

Each is torch's derivative formula in Tensor ops, so its second derivative is the one torch's autograd takes of
that formula, edge values included: asin's and acos's rsqrt(1 - x^2) is inf at +-1 and nan beyond; copysign's
result / x is masked to 0 at x = 0; the rounded quotient of fmod and remainder has a zero derivative (torch's
rounding division); nan_to_num's mask isfinite(x) is a constant; logcumsumexp's gradient is its log-domain sum of
the positive and negative parts of g, built of logcumsumexp itself (so it can be differentiated any number of
times).
"""

from __future__ import annotations

import numpy

from .higher_order import depends, differentiable, saved
from .higher_order_more import pair
from .ops import elementwise as ew
from .ops import movement, statistics
from .tensor import Tensor, constant


def rsqrt(t: Tensor) -> Tensor:
    """1 / sqrt(t) as Tensor ops (inf at 0, nan below, as torch's rsqrt)."""
    return 1 / ew.sqrt(t)


@differentiable("asin")
def asin(node: Tensor, g: Tensor) -> tuple[Tensor]:  # torch's: g rsqrt(1 - x^2)
    x = node._parents[0]
    return (g * rsqrt(1 - x * x),)


@differentiable("acos")
def acos(node: Tensor, g: Tensor) -> tuple[Tensor]:  # torch's: g -rsqrt(1 - x^2)
    x = node._parents[0]
    return (g * -rsqrt(1 - x * x),)


@differentiable("copysign")
def copysign(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """g (result / a), 0 where a is 0 (torch's copysign_tensor_self_backward: the result keeps its history), and
    zeros for b (torch's zeros_like: no history)."""
    a, b = node._parents
    ratio = ew.where(constant(a.data == 0), 0, node / a)
    return pair(a, b, lambda: g * ratio, lambda: constant(a.xp.zeros(node.shape, g.dtype)))


@differentiable("fmod", "remainder")
def modulo(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """g for a and -g q for b, q the rounded quotient (truncated for fmod, floored for remainder), whose derivative
    is 0 (torch's div with a rounding mode)."""
    a, b = node._parents
    with ew.ignore_fp_errors(a.xp):
        q = saved(node, "quotient")(a.data, b.data)
    return pair(a, b, lambda: g, lambda: -g * depends(q.astype(g.dtype, copy=False), b))


@differentiable("nan_to_num")
def nan_to_num(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """g isfinite(x): a constant mask (nan where g is nan or inf at a non-finite x, as torch)."""
    x = node._parents[0]
    return (g * constant(x.xp.isfinite(x.data).astype(g.dtype)),)


@differentiable("logcumsumexp")
def logcumsumexp(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's logcumsumexp_backward: exp(x_i + log sum_{j >= i} |g_j| exp(-out_j)) over the positive g_j, minus
    the same over the negative ones, each sum a reversed logcumsumexp (g itself for a 0-d or empty input)."""
    x = node._parents[0]
    if x.ndim == 0 or g.size == 0:
        return (g,)
    d = saved(node, "d")
    log_g = ew.log(ew.abs(g))

    def part(sign: object) -> Tensor:
        t = movement.flip(ew.where(constant(sign), log_g, float(numpy.finfo(g.dtype).min)) - node, (d,))
        return ew.exp(movement.flip(statistics.logcumsumexp(t, d), (d,)) + x)
    return (part(g.data > 0) - part(g.data < 0),)
