"""More elementwise math, as torch names it: sin, cos, tan and their inverses asin, acos, atan, the hyperbolic sinh,
cosh and inverses asinh, acosh, atanh, sinc, log2, log10, exp2, sign, the rounding functions (round, floor, ceil,
trunc, frac), log1p, expm1, erf, erfc, erfinv, the normal distribution's ndtr, ndtri and log_ndtr, entr, reciprocal,
logit, nan_to_num, frexp, and the gamma family lgamma, digamma, polygamma and i0 (each with its derivative, in
torch's formula)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy

from .. import backend
from ..tensor import Array, Tensor, record
from .elementwise import ignore_fp_errors, ignore_overflow
from .factor import KernelDtypeError


def sin(a: Tensor) -> Tensor:
    return record("sin", a.xp.sin(a._data), (a,), lambda g: (g * a.xp.cos(a._data),))


def cos(a: Tensor) -> Tensor:
    return record("cos", a.xp.cos(a._data), (a,), lambda g: (-g * a.xp.sin(a._data),))


def tan(a: Tensor) -> Tensor:
    """tan x; derivative 1 + tan^2 x from the result, as torch's (which saves the result, not x)."""
    out = a.xp.tan(a._data)
    return record("tan", out, (a,), lambda g: (g * (1 + out * out),))


def _quietly(a: Tensor, op: str, f: Callable[[Array], Array], d: Callable[[Array], Array]) -> Tensor:
    """``op`` = f(x) with the backward g * d(x), both without floating-point warnings (nan and inf are values)."""
    def backward(g: Array) -> tuple[Array]:
        with ignore_fp_errors(a.xp):
            return (g * d(a._data),)
    with ignore_fp_errors(a.xp):
        return record(op, f(a._data), (a,), backward)


def _rsqrt(x: Array) -> Array:
    """1 / sqrt(x), as torch's rsqrt: inf at 0, nan below."""
    return x.dtype.type(1) / backend.get_array_module(x).sqrt(x)


def one_minus_square(x: Array) -> Array:
    """1 - x^2 as (1 - x)(1 + x): near |x| = 1, where x^2 rounds away its last term, within an ulp or two (torch's
    1 - x^2 is 5e-5 relatively off at 0.9999 in float32, 2.8e-10 at 1 - 1e-8 in float64)."""
    one = x.dtype.type(1)
    return (one - x) * (one + x)


def asin(a: Tensor) -> Tensor:
    """arcsin x (nan outside [-1, 1]); derivative 1 / sqrt(1 - x^2) (inf at +-1)."""
    return _quietly(a, "asin", a.xp.arcsin, lambda x: _rsqrt(one_minus_square(x)))


def acos(a: Tensor) -> Tensor:
    """arccos x (nan outside [-1, 1]); derivative -1 / sqrt(1 - x^2)."""
    return _quietly(a, "acos", a.xp.arccos, lambda x: -_rsqrt(one_minus_square(x)))


def atan(a: Tensor) -> Tensor:
    """arctan x; derivative 1 / (1 + x^2)."""
    return _quietly(a, "atan", a.xp.arctan, lambda x: x.dtype.type(1) / (x * x + x.dtype.type(1)))


def sinh(a: Tensor) -> Tensor:
    """sinh x; derivative cosh x."""
    return _quietly(a, "sinh", a.xp.sinh, a.xp.cosh)


def cosh(a: Tensor) -> Tensor:
    """cosh x; derivative sinh x."""
    return _quietly(a, "cosh", a.xp.cosh, a.xp.sinh)


def asinh(a: Tensor) -> Tensor:
    """arsinh x; derivative 1 / sqrt(x^2 + 1)."""
    return _quietly(a, "asinh", a.xp.arcsinh, lambda x: _rsqrt(x * x + x.dtype.type(1)))


def acosh(a: Tensor) -> Tensor:
    """arcosh x (nan below 1); derivative 1 / sqrt(x^2 - 1) (inf at 1), x^2 - 1 as -(1 - x^2) (+0 at -1: +inf,
    as torch's)."""
    return _quietly(a, "acosh", a.xp.arccosh, lambda x: _rsqrt(x.dtype.type(0) - one_minus_square(x)))


def atanh(a: Tensor) -> Tensor:
    """artanh x (+-inf at +-1, nan beyond); derivative 1 / (1 - x^2)."""
    return _quietly(a, "atanh", a.xp.arctanh, lambda x: x.dtype.type(1) / one_minus_square(x))


# d/du (sin u / u) = sum over k >= 1 of (-1)^k 2k u^(2k-1) / (2k+1)!: its first ten coefficients, u^1 first
SINC_SLOPE_SERIES = [(-1) ** k * 2 * k / math.factorial(2 * k + 1) for k in range(1, 11)]


def sinc_slope_series(u: Array | Tensor) -> Array | Tensor:
    """(sin u / u)' by its series (Horner in u^2), for |u| < 1 where the closed form cancels; ``u`` an array or a
    Tensor (the double backward's)."""
    u2 = u * u
    series = u2 * SINC_SLOPE_SERIES[-1] + SINC_SLOPE_SERIES[-2]
    for c in SINC_SLOPE_SERIES[-3::-1]:
        series = series * u2 + c
    return u * series


def sinc(a: Tensor) -> Tensor:
    """sin(pi x) / (pi x), 1 at 0; derivative (cos(pi x) - sinc x) / x, 0 at 0. For |pi x| < 1, where that
    difference cancels (torch's form is 36% off at x = 1e-8 in float64), the derivative is pi times the series
    of (sin u / u)' at u = pi x. float16 computes in float32 and rounds once, as torch."""
    xp, x, t = a.xp, a._data, a._data.dtype.type
    wide = x.astype(numpy.float32) if t is numpy.float16 else x  # (sinc(1) in float16 steps is 3e-4, not 0)
    w = wide.dtype.type
    with ignore_fp_errors(xp):
        u = w(math.pi) * wide
        value = xp.where(wide == 0, w(1), xp.sin(u) / u)
    out = value.astype(t)

    def backward(g: Array) -> tuple[Array]:
        with ignore_fp_errors(xp):
            slope = xp.where(xp.abs(u) < 1, w(math.pi) * sinc_slope_series(u), (xp.cos(u) - value) / wide)
            return (g * xp.where(wide == 0, w(0), slope).astype(t),)
    return record("sinc", out, (a,), backward)


def via_float64(a: Tensor, name: str) -> Array:
    """numpy's ``name`` of a's data; on the CPU a float32 / float16 x is computed in float64 and rounded to float32
    (then to x's dtype). numpy's own float32 log2 / log10 / log1p / expm1 are up to 2 ulps off (log10: about half of
    all x, log10(100) = 2.0000002; expm1: one x in eight, expm1(-9) 0.99987656, not 0.99987662), where torch's are
    within an ulp and correctly rounded for 97-100% of x; the float64 round trip costs about 3x a float32 pass."""
    x = a._data
    if x.dtype.kind == "f" and x.dtype.itemsize < 8 and backend.device_of(x) == "cpu":
        return getattr(numpy, name)(x.astype(numpy.float64)).astype(numpy.float32).astype(x.dtype, copy=False)
    return getattr(a.xp, name)(x)


def log2(a: Tensor) -> Tensor:
    """log2 x (float32 through float64: ``via_float64``)."""
    return record("log2", via_float64(a, "log2"), (a,), lambda g: (g / (a._data * a._data.dtype.type(math.log(2))),))


def log10(a: Tensor) -> Tensor:
    """log10 x (float32 through float64: ``via_float64``)."""
    x = a._data
    return record("log10", via_float64(a, "log10"), (a,), lambda g: (g / (x * x.dtype.type(math.log(10))),))


def exp2(a: Tensor) -> Tensor:
    out = a.xp.exp2(a._data)
    return record("exp2", out, (a,), lambda g: (g * out * out.dtype.type(math.log(2)),))


def sign(a: Tensor) -> Tensor:
    """-1, 0 or 1 in a's dtype, with torch's 0 for nan and +0 for -0 (numpy's sign of nan is nan); a bool tensor
    comes back as it is. The gradient is zero."""
    x = a._data
    if x.dtype.kind == "f":
        out = (x > 0).astype(x.dtype)
        out -= x < 0
    else:
        out = x.copy() if x.dtype.kind == "b" else a.xp.sign(x)
    return record("sign", out, (a,), lambda g: (a.xp.zeros_like(g),))


def rounded(a: Tensor, how: str = "round", decimals: int | None = None) -> Tensor:
    """``how`` is "round" (half to even, torch's nearbyint), "floor", "ceil" or "trunc", elementwise, in a's dtype
    and shape. ``decimals`` (round only) rounds to that many decimal places as torch does: x * 10^d rounded, then
    / 10^d (for d < 0: x / 10^-d rounded, then * 10^-d), in float32 for float16. Integer tensors come back as they
    are (a copy); bool tensors, and integers given ``decimals`` (even 0), raise as in torch. The gradient is zero."""
    x, xp = a._data, a.xp
    if x.dtype.kind == "b" or (decimals is not None and x.dtype.kind != "f"):
        given = "" if decimals is None else " given decimals"
        raise KernelDtypeError(f"{how}: not implemented for {x.dtype} tensors{given} (as in torch); convert with "
                               f".float() first")
    if x.dtype.kind != "f":
        return Tensor(x.copy(), device=a.device)
    fn = xp.rint if how == "round" else getattr(xp, how)
    if decimals:
        y = x.astype(numpy.float32) if x.dtype == numpy.float16 else x
        with ignore_fp_errors(xp):
            scale = y.dtype.type(math.inf if abs(decimals) > 308 else 10.0 ** abs(decimals))
            out = (fn(y * scale) / scale if decimals > 0 else fn(y / scale) * scale).astype(x.dtype, copy=False)
    else:
        out = fn(x)
    return record(how, out, (a,), lambda g: (xp.zeros_like(g),))


def frac(a: Tensor) -> Tensor:
    """x - trunc(x), with x's sign (nan for +-inf, as torch); floating tensors only. The gradient passes as it is."""
    if a.dtype.kind != "f":
        raise KernelDtypeError(f"frac: not implemented for {a.dtype} tensors (as in torch); convert with .float() "
                               f"first")
    with ignore_fp_errors(a.xp):
        out = a._data - a.xp.trunc(a._data)
    return record("frac", out, (a,), lambda g: (g,))


def log1p(a: Tensor) -> Tensor:
    """log(1 + x), exact for tiny x (float32 through float64: ``via_float64``); derivative 1 / (1 + x)."""
    return record("log1p", via_float64(a, "log1p"), (a,), lambda g: (g / (a._data + 1),))


def expm1(a: Tensor) -> Tensor:
    """exp(x) - 1, exact for tiny x (float32 through float64: ``via_float64``); derivative exp(x), taken as out + 1
    (as torch)."""
    out = via_float64(a, "expm1")
    return record("expm1", out, (a,), lambda g: (g * (out + 1),))


def erf(a: Tensor) -> Tensor:
    """The error function; derivative 2 / sqrt(pi) exp(-x^2)."""
    x = a._data

    def backward(g: Array) -> tuple[Array]:
        d = a.xp.exp(-(x * x))
        d *= x.dtype.type(2 / math.sqrt(math.pi))
        return (d * g,)
    return record("erf", backend.erf(x), (a,), backward)


def erfc(a: Tensor) -> Tensor:
    """1 - erf(x), without the cancellation for large x (scipy's erfc); derivative -2 / sqrt(pi) exp(-x^2)."""
    x = a._data

    def backward(g: Array) -> tuple[Array]:
        d = a.xp.exp(-(x * x))
        d *= x.dtype.type(-2 / math.sqrt(math.pi))
        return (d * g,)
    return record("erfc", backend.special("erfc", x).astype(x.dtype, copy=False), (a,), backward)


def erfinv(a: Tensor) -> Tensor:
    """The inverse of erf on [-1, 1] (+-inf at +-1, nan outside); derivative sqrt(pi) / 2 exp(erfinv(x)^2)."""
    x = a._data
    out = backend.special("erfinv", x).astype(x.dtype, copy=False)
    out = a.xp.where(x == 0, x, out)  # erfinv(-0.0) is -0.0, as torch's

    def backward(g: Array) -> tuple[Array]:  # float16 / float32 from the float64 erfinv, rounded once (exp(out^2) of
        with ignore_fp_errors(a.xp):  # a rounded out: 12 float32 ulps off where out^2 ~ 10; torch's 3); from x, as
            wide = backend.special("erfinv", x.astype(numpy.float64, copy=False))  # torch's (out may be written)
            d = a.xp.exp(wide * wide)
            d *= math.sqrt(math.pi) / 2
            return (d.astype(x.dtype, copy=False) * g,)
    return record("erfinv", out, (a,), backward)


def _normal_density(x: Array, scale: float = 1 / math.sqrt(2 * math.pi), sign: float = -0.5) -> Array:
    """scale exp(sign x^2): the standard normal density by default, exp(x^2 / 2) sqrt(2 pi) (its reciprocal) with
    sign 0.5 and scale sqrt(2 pi)."""
    xp = backend.get_array_module(x)
    with ignore_fp_errors(xp):
        return xp.exp(x * x * x.dtype.type(sign)) * x.dtype.type(scale)


def ndtr(a: Tensor) -> Tensor:
    """The standard normal CDF, (1 + erf(x / sqrt 2)) / 2 (scipy's ndtr: no cancellation in the lower tail);
    derivative the density exp(-x^2 / 2) / sqrt(2 pi)."""
    x = a._data
    out = backend.special("ndtr", x).astype(x.dtype, copy=False)
    return record("ndtr", out, (a,), lambda g: (g * _normal_density(x),))


def log_ndtr(a: Tensor) -> Tensor:
    """log ndtr(x), finite far into the lower tail (scipy's); derivative density / ndtr, formed in float64: for
    x < 0 as sqrt(2 / pi) / erfcx(-x / sqrt 2), which is that ratio with the exp(-x^2 / 2) of both cancelled
    exactly (exp(-x^2 / 2 - out) subtracts two numbers near x^2 / 2: 1.9e8 at x = -1e8, where the ratio is 1e8,
    and inf at -1e10), for x >= 0 as exp(-x^2 / 2 - out) / sqrt(2 pi) (erfcx overflows there past x = 37.7)."""
    x = a._data
    out = backend.special("log_ndtr", x).astype(x.dtype, copy=False)

    def backward(g: Array) -> tuple[Array]:
        xp, x64 = a.xp, x.astype("float64")
        with ignore_fp_errors(xp):
            upper = xp.exp(x64 * x64 * -0.5 - backend.special("log_ndtr", x64)) * (1 / math.sqrt(2 * math.pi))
            lower = math.sqrt(2 / math.pi) / backend.special("erfcx", x64 * -math.sqrt(0.5))
            d = xp.where((x64 < 0) & (x64 > -math.inf), lower, upper)  # (nan at -inf, as torch's)
        return (g * d.astype(x.dtype, copy=False),)
    return record("log_ndtr", out, (a,), backward)


def ndtri(a: Tensor) -> Tensor:
    """The inverse of ndtr on [0, 1] (+-inf at 1 and 0, nan outside; scipy's, accurate in both tails, where
    sqrt 2 erfinv(2p - 1) is not); derivative sqrt(2 pi) exp(out^2 / 2)."""
    out = backend.special("ndtri", a._data).astype(a.dtype, copy=False)

    def backward(g: Array) -> tuple[Array]:  # in float64 for a narrower dtype: the product may be in its range where
        wide = out.astype("float64", copy=False)  # exp alone is not (p = 1.3e-40: sqrt(2 pi) exp(88.3) overflows
        d = g.astype("float64", copy=False) * _normal_density(wide, math.sqrt(2 * math.pi), 0.5)  # float32; times
        return (d.astype(g.dtype, copy=False),)  # a g of 0.54 it is 3.1e38)
    return record("ndtri", out, (a,), backward)


def entr(a: Tensor) -> Tensor:
    """-x ln x elementwise: 0 at 0, -inf below 0, nan at nan (as torch); derivative -(1 + ln x)."""
    xp, x = a.xp, a._data
    with ignore_fp_errors(xp):
        out = xp.where(x > 0, -x * xp.log(x), xp.where(x == 0, x.dtype.type(0), x.dtype.type(-math.inf)))
    out = xp.where(xp.isnan(x), x, out)

    def backward(g: Array) -> tuple[Array]:
        with ignore_fp_errors(xp):
            return (g * -(xp.log(x) + x.dtype.type(1)),)
    return record("entr", out, (a,), backward)


def reciprocal(a: Tensor) -> Tensor:
    """1 / x; derivative -1 / x^2, taken as -out^2 (as torch)."""
    out = a.xp.reciprocal(a._data)
    return record("reciprocal", out, (a,), lambda g: (-g * (out * out),))


def logit(a: Tensor, eps: float | None = None) -> Tensor:
    """log(p / (1 - p)) of a floating tensor, p = a clamped to [eps, 1 - eps] when ``eps`` is given; derivative
    1 / (p (1 - p)), as torch's kernel: NaN where a is outside [0, 1] without eps (or a negative one), 0 outside
    [eps, 1 - eps] with it (NaN at a NaN). (Double backward follows torch's differentiable formula, which differs
    at those edges: higher_order_more.logit.)"""
    xp, x, t = a.xp, a._data, a.dtype.type
    clamped = eps is not None and eps >= 0  # (torch's kernels take a negative eps as none)
    if not clamped:
        p = x
    elif eps <= 0.5:
        p = xp.clip(x, t(eps), t(1 - eps))
    else:  # bounds crossed: torch tests the lower one first (below eps -> eps, else above 1 - eps -> 1 - eps)
        p = xp.where(x < t(eps), t(eps), xp.where(x > t(1 - eps), t(1 - eps), x))
    with ignore_fp_errors(xp):
        out = xp.log(p / (1 - p))

    def backward(g: Array) -> tuple[Array]:
        with ignore_fp_errors(xp):
            d = g / (p * (1 - p) + t(0))  # (+ 0: at p = -0.0 torch's g * inf, not g / -0.0)
            outside = (x < t(eps)) | (x > t(1 - eps)) if clamped else (x < 0) | (x > 1)
            return (xp.where(outside, t(0 if clamped else math.nan), d),)
    return record("logit", out, (a,), backward)


def nan_to_num(a: Tensor, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
    """nan, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (by default the dtype's largest and
    smallest finite values; a value out of the dtype's range becomes inf, as torch casts it). Integer and bool
    tensors come back as they are (a copy). The gradient is g where x is finite and 0 elsewhere (nan where g is
    not finite there: g * isfinite(x), as torch)."""
    x, xp = a._data, a.xp
    if x.dtype.kind != "f":
        return Tensor(x.copy(), device=a.device)
    with ignore_overflow(xp):
        out = xp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)
    return record("nan_to_num", out, (a,), lambda g: (g * xp.isfinite(x),))


def frexp(a: Tensor) -> tuple[Tensor, Tensor]:
    """(mantissa, int32 exponent) with a = mantissa 2^exponent and 0.5 <= |mantissa| < 1 (0, inf and nan: themselves,
    exponent 0); floating input only, as torch. The mantissa's gradient is g 2^-exponent rounded once (torch's float32
    power of two is 0 or inf beyond float32's exponents); the exponent has none."""
    if a.dtype.kind != "f":
        raise TypeError(f"frexp: only floating-point input is supported (as torch), got {a.dtype}; convert with "
                        f".float() first")
    xp = a.xp
    mantissa, exponent = xp.frexp(a._data)
    exponent = exponent.astype("int32", copy=False)

    def backward(g: Array) -> tuple[Array]:
        with ignore_fp_errors(xp):  # g 2^-exponent rounded once (float32 denormals: 2^-exponent alone overflows)
            return (xp.ldexp(g, -exponent),)
    return record("frexp", mantissa, (a,), backward), Tensor(exponent, device=a.device)


def lgamma(a: Tensor) -> Tensor:
    """log |Gamma(x)| (inf at the poles 0, -1, -2, ... and at -inf, as torch); derivative digamma(x)."""
    x = a._data
    out = backend.special("gammaln", x).astype(x.dtype, copy=False)
    out = a.xp.where(x == -math.inf, x.dtype.type(math.inf), out)  # scipy answers -inf there, torch inf
    tiny = (x != 0) & (a.xp.abs(x) < numpy.finfo(x.dtype).tiny)
    if bool(tiny.any()):  # subnormal x: scipy overflows to inf, torch gives -log |x| (exact there)
        with ignore_fp_errors(a.xp):
            out = a.xp.where(tiny, -a.xp.log(a.xp.abs(x)), out)
    if x.dtype == numpy.float64:  # within 1/8 of its zeros 1 and 2, the series there (below; float32 needs none:
        near = a.xp.abs(a.xp.abs(x - 1.5) - 0.5) < 0.125  # its ulp there is above scipy's float64 error)
        if bool(near.any()):
            v = x[near]
            one = v < 1.5
            v[one], v[~one] = _lgamma_series_at(1, v[one] - 1), _lgamma_series_at(2, v[~one] - 2)
            out[near] = v
    return record("lgamma", out, (a,), lambda g: (g * _polygamma_array(0, x),))


@functools.cache
def _lgamma_coefficients(centre: int) -> tuple[float, ...]:
    """Taylor coefficients of lgamma at 1 or 2 from z to z^20: -gamma, then (-1)^k zeta(k) / k; 1 - gamma, then
    (-1)^k (zeta(k) - 1) / k."""
    k = numpy.arange(2, 21, dtype=numpy.float64)
    zeta = backend.special("zetac", k) + (centre == 1)  # zeta(k) - 1 from scipy, exact for large k; + 1 at 1
    return (float(centre - 1 - numpy.euler_gamma), *((-1) ** k * zeta / k).tolist())


def _lgamma_series_at(centre: int, z: Array) -> Array:
    """lgamma(centre + z) for float64 z, |z| < 1/8, by its Taylor series (the terms past z^20 are below 1e-17
    relatively there): accurate relatively up to the zeros at 1 and 2, where scipy's gammaln is so only absolutely
    (2.9e-9 off relatively at 0.9999999, 0.29 at 1 + 1e-15; torch's is within an ulp)."""
    acc = z * 0.0
    for c in reversed(_lgamma_coefficients(centre)):
        acc = (acc + c) * z
    return acc + 0.0  # (+0.0 at z = 0, as torch's)


def digamma(a: Tensor) -> Tensor:
    """Gamma'(x) / Gamma(x): -inf at +0, inf at -0, nan at the negative integers (as torch); derivative
    polygamma(1, x)."""
    return polygamma(0, a)


def polygamma(n: int, a: Tensor) -> Tensor:
    """The n-th derivative of digamma (n = 0 is digamma itself), computed as torch does: n = 1 by torch's series
    (with its reflection for x < 1/2; float64 as zeta(2, x), within a few ulps where torch's series is 5e-10 off),
    n >= 2 as (-1)^(n+1) n! zeta(n + 1, x); derivative polygamma(n + 1, x)."""
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ValueError(f"polygamma: n must be a non-negative integer, got {n!r}")
    x = a._data
    return record("polygamma", _polygamma_array(int(n), x), (a,), lambda g: (g * _polygamma_array(int(n) + 1, x),))


def _polygamma_array(n: int, x: Array) -> Array:
    xp = backend.get_array_module(x)
    with ignore_fp_errors(xp):
        if n == 0:
            out = backend.special("digamma", x).astype(x.dtype, copy=False)
            return xp.where(x == 0, xp.copysign(x.dtype.type(math.inf), -x), out)  # scipy: -inf at -0 too
        if n == 1 and x.dtype == numpy.float64:  # scipy's Hurwitz zeta(2, x), reflected below 0 (torch's series is
            # 5e-10 off at x = 1 in float64: its asymptotic tail starts at x + 6)
            reflect = x <= 0
            s = xp.sin(math.pi * x)
            zeta = backend.special("zeta", 2.0, xp.where(reflect, 1 - x, x))
            return xp.where(reflect, math.pi ** 2 / (s * s) - zeta, zeta)
        if n == 1:  # torch's trigamma, step for step (float16 in float32, as torch's CPU kernel, rounded at the end)
            if x.dtype == numpy.float16:
                return _polygamma_array(1, x.astype(numpy.float32)).astype(x.dtype)
            one, pi = x.dtype.type(1), x.dtype.type(math.pi)
            reflect = x < 0.5
            s = xp.sin(pi * x)
            out = xp.where(reflect, -(pi * pi) / (s * s), x.dtype.type(0))
            y = xp.where(reflect, one - x, x)
            for _ in range(6):
                out = out + one / (y * y)
                y = y + one
            ixx = one / (y * y)
            tail = ixx * (x.dtype.type(1 / 6) - ixx * (x.dtype.type(1 / 30) - ixx * x.dtype.type(1 / 42)))
            out = out + (one + one / (x.dtype.type(2) * y) + tail) / y
            return xp.where(reflect, -out, out)
        zeta = backend.special("zeta", float(n + 1), x)
        out = (-1.0) ** (n + 1) * math.exp(math.lgamma(n + 1.0)) * zeta
        return xp.where(x == math.inf, math.nan, out).astype(x.dtype, copy=False)  # torch's zeta(s, inf) is nan


def i0(a: Tensor) -> Tensor:
    """The modified Bessel function of the first kind, order 0; derivative i1(x)."""
    x = a._data
    out = backend.special("i0", x).astype(x.dtype, copy=False)
    return record("i0", out, (a,), lambda g: (g * backend.special("i1", x).astype(x.dtype, copy=False),))
