"""Activations beyond the elementwise basics, each one fused op with torch's forward and backward.

- ``gelu``: x Phi(x) with Phi the standard normal CDF (Hendrycks & Gimpel, 2016); ``approximate="tanh"`` uses
  0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as GPT-2 did. Both as ``torch.nn.functional.gelu``.
- ``silu``: x sigmoid(x) (a.k.a. swish); ``mish``: x tanh(softplus(x)).
- ``leaky_relu``, ``prelu`` (learnable slope), ``elu`` / ``selu`` / ``celu`` (one kernel), ``hardtanh`` (relu6 is
  hardtanh(0, 6)), ``hardsigmoid``, ``hardswish``, ``logsigmoid`` (stable for any x), ``threshold``.
- ``glu_half``: float16 ``glu`` with torch's roundings (other dtypes compose it in ``nn.functional.glu``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy

from .. import backend
from ..tensor import Array, Tensor, check_fits, record
from .elementwise import astype, exp_neg_abs, half_opmath, ignore_overflow, log1p_small, sigmoid_array, unbroadcast
from .factor import ArgumentError, DtypeError
from .reduce import float_input, quiet

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

# Phi(x) ~ 1/2 + x P(x^2) / Q(x^2) for float32 on the CPU, x clipped to +-4 sqrt(2) (beyond, Phi is 0 or 1 in
# float32). A rational fit to (Phi(x) - 1/2) / x, ours (float64 least squares, reweighted towards the largest
# error: relative error 2.5e-8); in float32 GELU's error is at most 3 ulp of x, torch's own is 5 (tests).
CDF_P = (3.989422706e-01, 3.42124878e-02, 4.69343042e-03, 1.715982059e-04, 6.287497634e-06, 2.194988607e-08)
CDF_Q = (1.0, 2.524242688e-01, 2.883639391e-02, 1.900778175e-03, 7.408859224e-05, 1.169302594e-06)


def gelu_parts(x: Array) -> tuple[Array, Array]:
    """(x Phi(x), Phi(x)) elementwise, both in x's dtype and shape, Phi(x) = (1 + erf(x / sqrt(2))) / 2 the standard
    normal CDF. erf is scalar code (scipy's, 17 ns an element), so float32 on the CPU uses the rational fit and forms
    the product in the same pass over each piece: one compiled loop with numba (the ``fast`` extra), else 26 numpy
    passes over each cached piece (~1 ns an element); both give the same bits."""
    if backend.device_of(x) != "cpu" or x.dtype != numpy.float32:
        cdf = backend.erf(x * x.dtype.type(1 / math.sqrt(2.0)))
        cdf += 1
        cdf *= 0.5
        return x * cdf, cdf
    flat = numpy.ascontiguousarray(x).reshape(-1)
    cdf, out = numpy.empty_like(flat), numpy.empty_like(flat)
    if backend.numba_available():
        loop = backend.compiled(cdf_loop)
        backend.split_work(lambda part: loop(flat[part], cdf[part], out[part], *CDF_ARGS), flat.size, flat.nbytes)
    else:
        def work(part: slice) -> None:
            cdf_passes(flat[part], cdf[part])
            numpy.multiply(flat[part], cdf[part], out=out[part])
        backend.split_work(work, flat.size, flat.nbytes, piece=backend.PIECE)
    return out.reshape(x.shape), cdf.reshape(x.shape)


CDF_ARGS = tuple(numpy.float32(c) for c in (*CDF_P, *CDF_Q, 4 * math.sqrt(2), 0.5))  # p0..p5, q0..q5, limit, half


def cdf_passes(x: Array, out: Array) -> None:
    """``out`` = Phi(x) for float32 arrays of one shape, by the rational fit as numpy passes (Horner's rule)."""
    p, q, limit, half = CDF_ARGS[:6], CDF_ARGS[6:12], CDF_ARGS[12], CDF_ARGS[13]
    c = numpy.clip(x, -limit, limit)  # nan stays nan
    z = c * c
    num, den = z * p[5], z * q[5]
    for k in range(4, 0, -1):
        num += p[k]
        num *= z
        den += q[k]
        den *= z
    num += p[0]
    den += q[0]
    num *= c
    num /= den
    numpy.add(num, half, out=out)


def cdf_loop(x: Array, cdf: Array, out: Array, p0: float, p1: float, p2: float, p3: float, p4: float, p5: float,
             q0: float, q1: float, q2: float, q3: float, q4: float, q5: float, limit: float, half: float) -> None:
    """cdf = ``cdf_passes`` per element, the same operations in the same order (float32 scalars), and out = x cdf,
    for numba."""
    for i in range(x.shape[0]):
        c = x[i]
        if c > limit:
            c = limit
        elif c < -limit:  # (nan fails both tests and stays nan)
            c = -limit
        z = c * c
        num, den = z * p5, z * q5
        num, den = (num + p4) * z, (den + q4) * z
        num, den = (num + p3) * z, (den + q3) * z
        num, den = (num + p2) * z, (den + q2) * z
        num, den = (num + p1) * z, (den + q1) * z
        phi = (num + p0) * c / (den + q0) + half
        cdf[i] = phi
        out[i] = x[i] * phi


def gelu_gradient(x: Array, cdf: Array, g: Array) -> Array:
    """GELU's input gradient g (Phi(x) + x phi(x)) from x, its ``cdf`` Phi(x) (both of one shape) and g (of that
    shape, or broadcast to it); a new array. On the CPU in cached pieces over the cores."""
    xp, t = backend.get_array_module(x), x.dtype.type
    if backend.device_of(x) != "cpu":
        return g * (cdf + x * xp.exp(x * x * t(-0.5)) * t(INV_SQRT_2PI))
    flat, cdf = numpy.ascontiguousarray(x).reshape(-1), numpy.ascontiguousarray(cdf).reshape(-1)
    gflat = numpy.broadcast_to(g, x.shape).reshape(-1)  # a view when g is whole or a broadcast scalar (a loss's sum)
    out = numpy.empty_like(flat)
    if flat.dtype == numpy.float32 and backend.numba_available():  # the same operations around numpy's exp
        exponent, finish = backend.compiled(gaussian_exponent_loop), backend.compiled(gelu_gradient_loop)
        whole = numpy.ascontiguousarray(gflat)  # (a broadcast g would make the loop strided, several times slower)

        def work(part: slice) -> None:
            exponent(flat[part], out[part], t(-0.5))
            numpy.exp(out[part], out=out[part])
            finish(flat[part], cdf[part], whole[part], out[part], t(INV_SQRT_2PI))
    else:
        def work(part: slice) -> None:
            xs = flat[part]
            d = xs * xs  # phi(x) = exp(-x^2 / 2) / sqrt(2 pi), in one buffer
            d *= t(-0.5)
            numpy.exp(d, out=d)
            d *= t(INV_SQRT_2PI)
            d *= xs
            d += cdf[part]
            numpy.multiply(d, gflat[part], out=out[part])
    backend.split_work(work, flat.size, flat.nbytes, piece=backend.PIECE)
    return out.reshape(x.shape)


def gaussian_exponent_loop(x: Array, out: Array, minus_half: float) -> None:
    """out = x * x * minus_half elementwise (1-D arrays), as ``gelu_gradient``'s first two passes."""
    for i in range(x.shape[0]):
        out[i] = x[i] * x[i] * minus_half


def gelu_gradient_loop(x: Array, cdf: Array, g: Array, out: Array, inv_sqrt_2pi: float) -> None:
    """out = (out * inv_sqrt_2pi * x + cdf) * g elementwise, out holding exp(-x^2 / 2): ``gelu_gradient``'s last
    four passes, in their order."""
    for i in range(x.shape[0]):
        out[i] = (out[i] * inv_sqrt_2pi * x[i] + cdf[i]) * g[i]


def gelu(a: Tensor, approximate: str = "none") -> Tensor:
    """GELU of ``a`` (any shape); ``approximate`` is ``"none"`` (exact, with erf) or ``"tanh"``. float16 computes
    in float32 and rounds once, value and gradient (torch's opmath: 1 + erf(x / sqrt 2) in float16 loses the left
    tail, 8% off at x = -3)."""
    if a._data.dtype == numpy.float16:
        return astype(gelu(astype(a, numpy.float32), approximate), numpy.float16)
    x, xp = float_input("gelu", a), a.xp
    if approximate == "none":
        out, cdf = gelu_parts(x)

        def backward(g: Array) -> tuple[Array]:
            return (gelu_gradient(x, cdf, g),)
    elif approximate == "tanh":
        inner = x * x
        inner *= 0.044715
        inner += 1
        inner *= x
        inner *= SQRT_2_OVER_PI
        th = xp.tanh(inner)
        cdf = 0.5 * (1 + th)
        out = x * cdf

        def backward(g: Array) -> tuple[Array]:  # d/dx of 0.5 x (1 + tanh(u)), u = c (x + 0.044715 x^3)
            du = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return (g * (cdf + 0.5 * x * (1 - th * th) * du),)
    else:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return record("gelu", out.astype(x.dtype, copy=False), (a,), backward)


def silu(a: Tensor) -> Tensor:
    """x sigmoid(x); backward s (1 + x (1 - s)). float16 computes in float32 and rounds once, value and gradient,
    as torch's kernel (in float16 x sigmoid(x) is -0 below x = -17.3, where torch's is -1.8e-7 at -18.4)."""
    if a._data.dtype == numpy.float16:
        return astype(silu(astype(a, numpy.float32)), numpy.float16)
    s = sigmoid_array(float_input("silu", a))  # (torch has no integer or bool silu)
    return record("silu", a._data * s, (a,), lambda g: (g * s * (1 + a._data * (1 - s)),))


# ---------------------------------------------------------------------------------------------- torch's kinked ones
# Each backward mirrors torch's kernel, a choice per element (xp.where), so the gradient at a kink (x == 0, x == 6 ...)
# and for nan is torch's, and a branch whose derivative is the constant 0 gives 0 even for an inf or nan g.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
ONE_SIXTH = float(numpy.float32(1.0 / 6.0))  # torch's hardsigmoid backward uses the float32 1/6, also for float64


def leaky(op: str, a: Tensor, slope: Tensor | float) -> Tensor:
    """x where x > 0, else slope x: ``leaky_relu`` (a number) and ``prelu`` (a learnable Tensor that broadcasts
    against ``a``). The gradient is 1 where x > 0, else the slope (so the slope at 0 and for nan, as torch); the
    slope's gradient is x g where x <= 0, summed over the broadcast dims. float16 with a number slope computes in
    float32 and rounds once (torch's opmath, see ``half_opmath``), as do the other activations with a number."""
    if not isinstance(slope, Tensor) and (wide := half_opmath(a, slope)) is not None:
        return astype(leaky(op, wide[0], slope), numpy.float16)
    x, xp = float_input(op, a), a.xp
    w = slope._data if isinstance(slope, Tensor) else x.dtype.type(slope)
    pos = x > 0

    def backward(g: Array) -> tuple[Array | None, ...]:
        gx = xp.where(pos, g, g * w) if a.requires_grad else None
        if not isinstance(slope, Tensor):
            return (gx,)
        gw = unbroadcast(xp.where(pos, g.dtype.type(0), x * g), slope.shape) if slope.requires_grad else None
        return gx, gw
    parents = (a, slope) if isinstance(slope, Tensor) else (a,)
    return record(op, xp.where(pos, x, x * w), parents, backward)


def leaky_relu(a: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else ``negative_slope`` x."""
    return leaky("leaky_relu", a, negative_slope)


def prelu(a: Tensor, weight: Tensor) -> Tensor:
    """x where x > 0, else w x, with ``weight`` 0-d or (1,) for all channels or (C,) per channel (dim 1 of a
    (N, C, ...) input; a 0-d or 1-D input has one channel, as in torch)."""
    if weight.dtype != a.dtype:
        raise DtypeError(f"prelu: input {a.dtype} and weight {weight.dtype} must have one dtype (torch does not "
                         f"promote here); cast one, e.g. model.to(dtype)")
    if weight.ndim > 1:
        raise ValueError(f"prelu: weight must be 0-d or 1-D (num_parameters,), got shape {weight.shape}")
    channels = a.shape[1] if a.ndim >= 2 else 1
    if weight.size != 1 and weight.size != channels:
        raise ValueError(f"prelu: weight has {weight.size} entries but the input {a.shape} has {channels} channels; "
                         f"use num_parameters=1 or the channel count")
    if weight.size != 1 and a.ndim >= 2:
        weight = weight.reshape(-1, *(1,) * (a.ndim - 2))
    elif a.ndim == 0 and weight.ndim:
        weight = weight.reshape(())
    return leaky("prelu", a, weight)


def elu(a: Tensor, alpha: float = 1.0, scale: float = 1.0, input_scale: float = 1.0, op: str = "elu") -> Tensor:
    """scale x where x > 0, else scale alpha (exp(input_scale x) - 1): torch's one kernel behind elu, selu and
    celu. The gradient where x > 0 is scale, else scale alpha input_scale exp(input_scale x) (so at 0 too, and nan
    for nan, as torch's vectorised loop, which all but tiny tensors take)."""
    if (wide := half_opmath(a, alpha)) is not None:
        return astype(elu(wide[0], alpha, scale, input_scale, op), numpy.float16)
    x, xp = float_input(op, a), a.xp
    t = x.dtype.type
    pos = x > 0
    z = xp.where(pos, t(0), x * t(input_scale))  # 0 where x > 0: no overflow in exp there
    out = xp.where(pos, x * t(scale), xp.expm1(z) * t(alpha * scale))
    coef = t(input_scale * alpha * scale)

    def backward(g: Array) -> tuple[Array]:
        return (xp.where(pos, g * t(scale), g * coef * xp.exp(z)),)
    backward.input_scale = input_scale  # type: ignore[attr-defined]  # for higher_order_nn's double backward
    return record(op, out, (a,), backward)


def selu(a: Tensor) -> Tensor:
    """scale elu(x, alpha) with the self-normalising constants of Klambauer et al. (2017)."""
    return elu(a, SELU_ALPHA, SELU_SCALE, 1.0, "selu")


def celu(a: Tensor, alpha: float = 1.0) -> Tensor:
    """max(0, x) + min(0, alpha (exp(x / alpha) - 1))."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (it divides x)")
    return elu(a, alpha, 1.0, 1.0 / alpha, "celu")


def hardtanh(a: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """x clamped to [min_val, max_val] (nan stays nan, -0 stays -0); integer tensors stay integer. The gradient
    passes only strictly inside (0 at both bounds and for nan), as torch's."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    x, xp = a._data, a.xp
    if x.dtype == bool:  # torch's RuntimeError (ours clamped every value to True)
        raise RuntimeError("hardtanh: Bool inputs not supported (as in torch); convert with .float() or .int()")
    if x.dtype.kind == "u" and (min_val < 0 or max_val < 0):  # (check_fits would wrap -1 to 255)
        raise ArgumentError("hardtanh: an unsigned input cannot take a negative min_val or max_val (as torch)")
    lo, hi = (x.dtype.type(check_fits("hardtanh", v, x.dtype)) for v in (min_val, max_val))
    out = xp.where(x < lo, lo, xp.where(x > hi, hi, x))
    inside = (x > lo) & (x < hi)
    return record("hardtanh", out, (a,), lambda g: (xp.where(inside, g, g.dtype.type(0)),))


def _shrink_lambda(op: str, x: Array, lambd: float) -> Any:
    """``lambd`` in x's dtype, refused below 0 or past the dtype's range (torch's check)."""
    if not 0 <= lambd <= float(numpy.finfo(x.dtype).max):
        raise ValueError(f"{op}: lambd must be in [0, {float(numpy.finfo(x.dtype).max):g}] for {x.dtype}, got {lambd}")
    return x.dtype.type(lambd)


def softshrink(a: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd where x > lambd, x + lambd where x < -lambd, else +0 (torch's vector loop; its scalar loop, which
    tensors of under 16 elements take, gives -0 for negative x); a nan stays nan. The gradient is 1 outside
    [-lambd, lambd] (and for nan), 0 inside, as torch's. float16's value computes in float32 and rounds once, its
    gradient compares with lambd as a float16 (torch's backward kernel: no opmath there)."""
    x, xp = float_input("softshrink", a), a.xp
    lam = _shrink_lambda("softshrink", x, lambd)
    outside = ~(xp.abs(x) <= lam)
    wide, shrunk = x, outside
    if x.dtype == numpy.float16:
        wide = x.astype(numpy.float32)
        shrunk = ~(xp.abs(wide) <= numpy.float32(lambd))
    with quiet(xp):
        out = xp.where(shrunk, wide - xp.sign(wide) * wide.dtype.type(lambd), wide.dtype.type(0))
    out = out.astype(x.dtype, copy=False)
    return record("softshrink", out, (a,), lambda g: (xp.where(outside, g, g.dtype.type(0)),))


def hardshrink(a: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd (and for nan), else 0; the gradient passes where the value does, as torch's."""
    x, xp = float_input("hardshrink", a), a.xp
    check_fits("hardshrink", lambd, x.dtype)  # (torch compares float16 with lambd as a float16, no opmath here)
    keep = ~((x >= -x.dtype.type(lambd)) & (x <= x.dtype.type(lambd)))
    return record("hardshrink", xp.where(keep, x, x.dtype.type(0)), (a,),
                  lambda g: (xp.where(keep, g, g.dtype.type(0)),))


def hardsigmoid(a: Tensor) -> Tensor:
    """min(max(x + 3, 0), 6) / 6; gradient 1/6 strictly inside (-3, 3), else 0 (nan: 0)."""
    x, xp = float_input("hardsigmoid", a), a.xp
    t = x.dtype.type
    out = xp.clip(x + t(3), t(0), t(6))
    out /= t(6)
    inside = (x > -3) & (x < 3)
    return record("hardsigmoid", out, (a,), lambda g: (xp.where(inside, g * g.dtype.type(ONE_SIXTH), t(0)),))


def hardswish(a: Tensor) -> Tensor:
    """x min(max(x + 3, 0), 6) / 6; gradient 0 where x <= -3, 1 where x >= 3, else x / 3 + 1/2 (nan for nan).
    float16 computes in float32 and rounds once, as torch's kernel (in float16 x 6 overflows from 10923 on)."""
    if a._data.dtype == numpy.float16:
        return astype(hardswish(astype(a, numpy.float32)), numpy.float16)
    x, xp = float_input("hardswish", a), a.xp
    t = x.dtype.type
    with quiet(xp):  # -inf * 0 = nan, as torch
        out = x * xp.clip(x + t(3), t(0), t(6))
    out /= t(6)

    def backward(g: Array) -> tuple[Array]:
        return (xp.where(x <= -3, t(0), xp.where(x >= 3, g, g * (x / t(3) + t(0.5)))),)
    return record("hardswish", out, (a,), backward)


def logsigmoid(a: Tensor) -> Tensor:
    """log sigmoid(x) = min(x, 0) - log(1 + exp(-|x|)), finite for any finite x; backward as torch's kernel,
    g (1 - s) for x < 0 and g s otherwise, s = e / (1 + e), e = exp(-|x|). float16 computes in float32 and rounds
    once, its backward from e rounded to float16 (torch keeps e in the input's dtype): torch's, bit for bit."""
    x, xp = float_input("logsigmoid", a), a.xp
    w = x.astype(numpy.float32) if x.dtype == numpy.float16 else x
    e = exp_neg_abs(w)
    out = xp.minimum(w, 0)
    out -= log1p_small(e)
    if w is not x:
        out, e = out.astype(x.dtype), e.astype(x.dtype).astype(w.dtype)

    def backward(g: Array) -> tuple[Array]:
        s = e / (1 + e)
        return ((g.astype(w.dtype, copy=False) * xp.where(x < 0, 1 - s, s)).astype(g.dtype, copy=False),)
    return record("logsigmoid", out, (a,), backward)


def mish(a: Tensor) -> Tensor:
    """x tanh(softplus(x)), as torch's kernel (log1p(exp(x)), so mish(-inf) is nan); backward
    g (t + x sigmoid(x) (1 - t^2)), t = tanh(softplus(x)). float16 computes in float32 and rounds once, as silu."""
    if a._data.dtype == numpy.float16:
        return astype(mish(astype(a, numpy.float32)), numpy.float16)
    x, xp = float_input("mish", a), a.xp
    with quiet(xp), ignore_overflow(xp):
        th = xp.tanh(xp.log1p(xp.exp(x)))
        out = x * th

    def backward(g: Array) -> tuple[Array]:
        with quiet(xp):
            return (g * (th + x * sigmoid_array(x) * (1 - th * th)),)
    return record("mish", out, (a,), backward)


def threshold(a: Tensor, threshold: float, value: float) -> Tensor:
    """x where x > threshold, else ``value`` (nan stays nan); the gradient is 0 where x <= threshold, else g."""
    x, xp = a._data, a.xp
    below = x <= check_fits("threshold", threshold, x.dtype)
    out = xp.where(below, x.dtype.type(check_fits("threshold", value, x.dtype)), x)
    return record("threshold", out, (a,), lambda g: (xp.where(below, g.dtype.type(0), g),))


def glu_half(a: Tensor, dim: int) -> Tensor:
    """float16 a sigmoid(b) for the halves a, b of ``a`` along ``dim`` (even size, checked by the caller), as
    torch's kernels round: the value in float32, rounded once; the backward from sigmoid(b) rounded to float16,
    g s for a and g (1 - s) s a for b, each in float32 and rounded once."""
    x, xp = a._data, a.xp
    half = x.shape[dim] // 2
    lead = (slice(None),) * dim
    fa = x[(*lead, slice(0, half))].astype(numpy.float32)
    s = sigmoid_array(x[(*lead, slice(half, None))].astype(numpy.float32))
    with quiet(xp):
        out = (fa * s).astype(numpy.float16)

    def backward(g: Array) -> tuple[Array]:
        sh = s.astype(numpy.float16).astype(numpy.float32)
        gw = g.astype(numpy.float32)
        with quiet(xp):
            ga, gb = sh * gw, (1 - sh) * sh * fa * gw
        return (xp.concatenate([ga.astype(g.dtype), gb.astype(g.dtype)], axis=dim),)
    return record("glu", out, (a,), backward)
