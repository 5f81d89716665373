"""``tinygrad_adam.special``, as ``torch.special``: the special functions under torch's names there.

Most are the library's functions under another name (``expit`` is ``sigmoid``, ``gammaln`` is ``lgamma``, ``psi``
is ``digamma``); ``ndtr``, ``ndtri``, ``log_ndtr`` and ``entr`` live only here, as in torch. Integer and bool
inputs are computed in float32, as torch's.

The rest (erfcx, i0e, i1, i1e, the Bessel functions, airy_ai, zeta, xlog1py, multigammaln, gammainc / gammaincc) are
scipy's values with torch's derivatives and edge values; the orthogonal polynomials follow torch's recurrences. Every
function but softmax and log_softmax takes torch's ``out=``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from . import backend
from .methods import FUNCTIONS, _float_unary, _floating
from .ops import binary, unary
from .ops.binary import _grads
from .ops.elementwise import ignore_fp_errors, operands
from .out_arg import write_out
from .tensor import Array, Tensor, TensorLike, record

__all__ = ["digamma", "entr", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammaln", "i0", "log1p",
           "log_ndtr", "log_softmax", "logit", "logsumexp", "ndtr", "ndtri", "polygamma", "psi", "round", "sinc",
           "softmax", "xlogy"]
__all__ += ["airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "erfcx", "gammainc", "gammaincc", "i0e",
            "i1", "i1e", "modified_bessel_i0", "modified_bessel_i1", "modified_bessel_k0", "modified_bessel_k1",
            "multigammaln", "scaled_modified_bessel_k0", "scaled_modified_bessel_k1", "spherical_bessel_j0", "xlog1py",
            "zeta"]
__all__ += ["chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v", "chebyshev_polynomial_w",
            "hermite_polynomial_h", "hermite_polynomial_he", "laguerre_polynomial_l", "legendre_polynomial_p",
            "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
            "shifted_chebyshev_polynomial_w"]


def _as_function(op: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    method = _float_unary(op)

    def function(input: Tensor) -> Tensor:  # noqa: A002 - torch's name
        return method(input if isinstance(input, Tensor) else Tensor(input))
    function.__name__ = function.__qualname__ = op.__name__
    function.__doc__ = op.__doc__
    return function


ndtr = _as_function(unary.ndtr)
ndtri = _as_function(unary.ndtri)
log_ndtr = _as_function(unary.log_ndtr)
entr = _as_function(unary.entr)
expit = FUNCTIONS["sigmoid"]
gammaln = FUNCTIONS["lgamma"]
psi = digamma = FUNCTIONS["digamma"]
polygamma, xlogy, i0, sinc = FUNCTIONS["polygamma"], FUNCTIONS["xlogy"], FUNCTIONS["i0"], FUNCTIONS["sinc"]
erf, erfc, erfinv, logit = FUNCTIONS["erf"], FUNCTIONS["erfc"], FUNCTIONS["erfinv"], FUNCTIONS["logit"]
exp2, expm1, log1p = FUNCTIONS["exp2"], FUNCTIONS["expm1"], FUNCTIONS["log1p"]
softmax, log_softmax, logsumexp = FUNCTIONS["softmax"], FUNCTIONS["log_softmax"], FUNCTIONS["logsumexp"]
round = FUNCTIONS["round"]  # noqa: A001 - torch.special's name


# ---- the functions torch.special has beyond the library's own: scipy's values, torch's derivatives and edges


def _unary(name: str, scipy_name: str,
           derivative: Callable[[Array, Array], Array] | None = None) -> Callable[[Tensor], Tensor]:
    """torch.special.<name>: scipy.special.<scipy_name> in the input's dtype (float32 for integers and bools);
    ``derivative(x, y)`` is dy/dx, None where torch has no derivative (the result is then outside the graph).
    The argument's keyword is ``input=`` or ``x=``, as torch takes both."""
    def function(input: TensorLike = None, *, x: TensorLike = None) -> Tensor:  # noqa: A002 - torch's name
        if (input is None) == (x is None):
            raise TypeError(f"{name}(): give the tensor once, positionally or as input= (or x=)")
        input = input if x is None else x  # noqa: A001
        a = _floating(input if isinstance(input, Tensor) else Tensor(input))
        x = a._data
        with ignore_fp_errors(a.xp):
            y = backend.special(scipy_name, x).astype(x.dtype, copy=False)
        if derivative is None:
            return Tensor(y, device=a.device)

        def backward(g: Array) -> tuple[Array]:
            with ignore_fp_errors(a.xp):
                return ((g * derivative(x, y)).astype(x.dtype, copy=False),)
        return record(name, y, (a,), backward)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"torch.special.{name}, elementwise (scipy.special.{scipy_name}'s values)."
    return function


def _xp(x: Array) -> Any:
    return backend.get_array_module(x)


def _not_tiny(x: Array) -> Array:
    """Where torch's i1 / i1e derivative uses its formula: |x| > eps; elsewhere (also at nan) it gives 1/2."""
    return _xp(x).abs(x) > _xp(x).finfo(x.dtype).eps


def _i1_derivative(x: Array, y: Array) -> Array:
    """d i1 / dx = i0(x) - i1(x) / x, 1/2 where |x| <= eps or x is nan (torch's)."""
    i0x = backend.special("i0", x).astype(x.dtype, copy=False)
    return _xp(x).where(_not_tiny(x), i0x - y / x, x.dtype.type(0.5))


def _i1e_derivative(x: Array, y: Array) -> Array:
    """d i1e / dx = i0e(x) - i1e(x) (sign(x) + 1 / x), 1/2 where |x| <= eps or x is nan (torch's)."""
    xp = _xp(x)
    i0e = backend.special("i0e", x).astype(x.dtype, copy=False)
    return xp.where(_not_tiny(x), i0e - y * (xp.sign(x) + 1 / x), x.dtype.type(0.5))


def _i0e_derivative(x: Array, y: Array) -> Array:
    """d i0e / dx = i1e(x) - sign(x) i0e(x)."""
    return backend.special("i1e", x).astype(x.dtype, copy=False) - _xp(x).sign(x) * y


erfcx = _unary("erfcx", "erfcx", lambda x, y: 2 * x * y - x.dtype.type(2 / math.sqrt(math.pi)))
i0e = _unary("i0e", "i0e", _i0e_derivative)
i1 = _unary("i1", "i1", _i1_derivative)
i1e = _unary("i1e", "i1e", _i1e_derivative)
bessel_j0 = _unary("bessel_j0", "j0")
bessel_j1 = _unary("bessel_j1", "j1")
bessel_y0 = _unary("bessel_y0", "y0")
bessel_y1 = _unary("bessel_y1", "y1")
modified_bessel_i0 = _unary("modified_bessel_i0", "i0")
modified_bessel_i1 = _unary("modified_bessel_i1", "i1")
modified_bessel_k0 = _unary("modified_bessel_k0", "k0")
modified_bessel_k1 = _unary("modified_bessel_k1", "k1")
scaled_modified_bessel_k0 = _unary("scaled_modified_bessel_k0", "k0e")
scaled_modified_bessel_k1 = _unary("scaled_modified_bessel_k1", "k1e")


def airy_ai(x: TensorLike) -> Tensor:
    """The Airy function Ai(x), elementwise: 0 for finite x above 103.892, as torch (no derivative, as torch).
    The argument's keyword is ``x=``, as torch's (which refuses ``input=`` here)."""
    a = _floating(x if isinstance(x, Tensor) else Tensor(x))
    with ignore_fp_errors(a.xp):
        y = backend.special("airy", a._data)[0].astype(a.dtype, copy=False)
        x = a._data
        y = a.xp.where((x > 103.892) & (x != math.inf), a.dtype.type(0), y)  # torch's cutoff (scipy: nan ~1e9 up)
    return Tensor(y, device=a.device)


def spherical_bessel_j0(x: TensorLike) -> Tensor:
    """sin(x) / x, 1 at 0, 0 at +-inf (no derivative, as torch); keyword ``x=``, as torch's."""
    a = _floating(x if isinstance(x, Tensor) else Tensor(x))
    x, xp = a._data, a.xp
    with ignore_fp_errors(xp):
        y = xp.where(x == 0, x.dtype.type(1), xp.sin(x) / x)
        y = xp.where(xp.isinf(x), x.dtype.type(0), y)
    return Tensor(y.astype(x.dtype, copy=False), device=a.device)


def xlog1py(input: TensorLike, other: TensorLike) -> Tensor:  # noqa: A002 - torch's name
    """input * log1p(other), 0 where input is 0 unless other is nan (float32 for integers); derivatives as
    torch's: xlog1py(g, other) for input (0 where input is 0 and other <= -1) and g input / (1 + other) for other."""
    a, b = operands("xlog1py", input, other, floating=True)
    x, y, xp = a._data, b._data, a.xp

    def compute(s: Array, t: Array) -> Array:
        return xp.where((s == 0) & ~xp.isnan(t), s.dtype.type(0), s * xp.log1p(t))
    with ignore_fp_errors(xp):
        out = compute(x, y)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        return _grads(a, b, lambda: xp.where((x == 0) & (y <= -1), x.dtype.type(0), compute(g, y)),
                      lambda: g * x / (y + 1))
    return record("xlog1py", out, (a, b), backward)


def zeta(input: TensorLike, other: TensorLike) -> Tensor:  # noqa: A002 - torch's name
    """The Hurwitz zeta function sum_k (k + other)^-input (float32 for integers, as torch); derivative
    -input zeta(input + 1, other) for other; none for input (torch's backward raises there)."""
    a, b = operands("zeta", input, other, floating=True)
    x, q, xp = a._data, b._data, a.xp
    with ignore_fp_errors(xp):
        out = backend.special("zeta", x, q).astype(x.dtype, copy=False)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        if a.requires_grad:
            raise RuntimeError("the derivative for zeta with respect to its first argument (input) is not "
                               "implemented (as in torch); detach it")
        return _grads(a, b, lambda: None, lambda: g * -x * backend.special("zeta", x + 1, q).astype(x.dtype))
    return record("zeta", out, (a, b), backward)


def multigammaln(input: TensorLike, p: int) -> Tensor:  # noqa: A002 - torch's name
    """log of the multivariate gamma function of dimension p (torch.special.multigammaln, torch.mvlgamma)."""
    return FUNCTIONS["mvlgamma"](input if isinstance(input, Tensor) else Tensor(input), p)


def gammainc(input: TensorLike, other: TensorLike) -> Tensor:  # noqa: A002 - torch's name
    """The regularized lower incomplete gamma function P(input, other) (torch.igamma)."""
    return binary.igamma(input, other)


def gammaincc(input: TensorLike, other: TensorLike) -> Tensor:  # noqa: A002 - torch's name
    """The regularized upper incomplete gamma function Q(input, other) (torch.igammac)."""
    return binary.igamma(input, other, upper=True)


# ---- the orthogonal polynomials, torch's algorithm step for step (its recurrences and its special values)


def _polynomial(name: str, edges: Callable[[Any, Array, Array, Array], Array], first: Callable[[Array], Array],
                step: Callable[[int, Array, Array, Array], Array],
                trig: tuple[int, Callable[[Any, Array, Array], Array]] | None = None) -> Callable[..., Tensor]:
    """torch.special.<name>(input, n): 0 for n < 0; ``edges(xp, x, n, y)`` torch's special values (patching y);
    for n above ``trig[0]`` and |t| < 1, ``trig[1](xp, x, n)`` (torch's closed form); else the recurrence from
    P0 = 1, P1 = ``first(x)``, P(k) = ``step(k, x, P(k-2), P(k-1))``. n is truncated to an integer, as torch."""
    def function(x: TensorLike, n: TensorLike) -> Tensor:  # (torch's keywords: x=, n=; it refuses input=)
        a, m = operands(name, x, n, floating=True)
        xp = a.xp
        x, k = xp.broadcast_arrays(a._data, m._data)
        k = xp.trunc(k)
        with ignore_fp_errors(xp):  # torch converts n to int64: nan, inf and |n| >= 2**63 come out negative (0)
            k = xp.where(xp.abs(k) < 2.0 ** 63, k, k.dtype.type(-1))
        with ignore_fp_errors(xp):
            out = xp.ones(x.shape, x.dtype)
            finite = k[xp.isfinite(k)]
            top = int(finite.max()) if finite.size else 0
            if top >= 1:
                p, q = xp.ones(x.shape, x.dtype), first(x)
                out = xp.where(k == 1, q, out)
                if top > 16:  # entries the closed form or a special value replaces below need no recurrence
                    settled = ~xp.isnan(edges(xp, x, k, xp.full(x.shape, math.nan, x.dtype)))
                    if trig is not None:
                        settled |= (k > trig[0]) & trig[2](xp, x)
                for j in range(2, top + 1):
                    p, q = q, step(j, x, p, q)
                    out = xp.where(k == j, q, out)
                    # once P(j) is NaN every later one is: stop when no unsettled entry needs more steps
                    if j % 16 == 0 and j < top and not bool(((k > j) & ~xp.isnan(q) & ~settled).any()):
                        out = xp.where(k > j, q, out)
                        break
            if trig is not None:
                out = xp.where((k > trig[0]) & trig[2](xp, x), trig[1](xp, x, k), out)
            out = edges(xp, x, k, out)
            out = xp.where(k < 0, x.dtype.type(0), out)
        return Tensor(out.astype(x.dtype, copy=False), device=a.device)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"torch.special.{name}(x, n), elementwise: torch's recurrence and special values."
    return function


def _odd(k: Array) -> Array:
    return _xp(k).fmod(k, 2) != 0


def _unit(xp: Any, x: Array) -> Array:
    return xp.abs(x) < 1


def _shifted_unit(xp: Any, x: Array) -> Array:
    return xp.abs(x + x - 1) < 1


def _t(x: Array) -> Array:
    """2x - 1, the shifted polynomials' argument, as torch writes it."""
    return x + x - 1


def _sign_at_minus_one(xp: Any, x: Array, k: Array, value: Array, y: Array, at: Array) -> Array:
    return xp.where(at, xp.where((x > 0) | ~_odd(k), value, -value), y)


chebyshev_polynomial_t = _polynomial(
    "chebyshev_polynomial_t",
    lambda xp, x, k, y: _sign_at_minus_one(xp, x, k, xp.ones_like(x), y, xp.abs(x) == 1),
    lambda x: x, lambda j, x, p, q: (x + x) * q - p,
    (6, lambda xp, x, k: xp.cos(k * xp.arccos(x)), _unit))
chebyshev_polynomial_u = _polynomial(
    "chebyshev_polynomial_u",
    lambda xp, x, k, y: _sign_at_minus_one(xp, x, k, k + 1, y, xp.abs(x) == 1),
    lambda x: x + x, lambda j, x, p, q: (x + x) * q - p,
    (8, lambda xp, x, k: xp.where(xp.sin(xp.arccos(x)) != 0,
                                  xp.sin((k + 1) * xp.arccos(x)) / xp.sin(xp.arccos(x)),
                                  (k + 1) * xp.cos((k + 1) * xp.arccos(x)) / x), _unit))
chebyshev_polynomial_v = _polynomial(
    "chebyshev_polynomial_v",
    lambda xp, x, k, y: xp.where(xp.abs(x) == 1, xp.where(x > 0, x.dtype.type(1),
                                                          xp.where(_odd(k), -(k + k + 1), k + k + 1)), y),
    lambda x: x + x - 1, lambda j, x, p, q: (x + x) * q - p,
    (8, lambda xp, x, k: xp.where(xp.sin(xp.arccos(x) / 2) != 1,
                                  xp.cos((k + 0.5) * xp.arccos(x)) / xp.cos(xp.arccos(x) / 2),
                                  xp.where(_odd(k), -(k + k + 1), k + k + 1)), _unit))
chebyshev_polynomial_w = _polynomial(
    "chebyshev_polynomial_w",
    lambda xp, x, k, y: xp.where(xp.abs(x) == 1, xp.where(x > 0, k + k + 1,
                                                          xp.where(_odd(k), x.dtype.type(-1), x.dtype.type(1))), y),
    lambda x: x + x + 1, lambda j, x, p, q: (x + x) * q - p,
    (8, lambda xp, x, k: xp.where(xp.cos(xp.arccos(x) / 2) != 1,
                                  xp.sin((k + 0.5) * xp.arccos(x)) / xp.sin(xp.arccos(x) / 2),
                                  xp.where(x > 0, k + k + 1, xp.where(_odd(k), -1.0, 1.0))), _unit))
hermite_polynomial_h = _polynomial(
    "hermite_polynomial_h", lambda xp, x, k, y: y, lambda x: x + x,
    lambda j, x, p, q: (x + x) * q - (2 * (j - 1)) * p)
hermite_polynomial_he = _polynomial(
    "hermite_polynomial_he", lambda xp, x, k, y: y, lambda x: x, lambda j, x, p, q: x * q - (j - 1) * p)
laguerre_polynomial_l = _polynomial(
    "laguerre_polynomial_l", lambda xp, x, k, y: xp.where(x == 0, x.dtype.type(1), y), lambda x: 1 - x,
    lambda j, x, p, q: (((2 * (j - 1)) + (1 - x)) * q - (j - 1) * p) / j)
legendre_polynomial_p = _polynomial(
    "legendre_polynomial_p",
    lambda xp, x, k, y: xp.where(xp.abs(x) == 1, xp.where((x > 0) | ~_odd(k), x.dtype.type(1),
                                                          x.dtype.type(-1)), y),
    lambda x: x, lambda j, x, p, q: ((2 * (j - 1) + 1) * x * q - (j - 1) * p) / j)
shifted_chebyshev_polynomial_t = _polynomial(
    "shifted_chebyshev_polynomial_t",
    lambda xp, x, k, y: xp.where(x == 1, x.dtype.type(1), xp.where(x == 0, xp.where(_odd(k), -1.0, 1.0), y)),
    _t, lambda j, x, p, q: (_t(x) + _t(x)) * q - p,
    (6, lambda xp, x, k: xp.cos(k * xp.arccos(_t(x))), _shifted_unit))
shifted_chebyshev_polynomial_u = _polynomial(
    "shifted_chebyshev_polynomial_u",
    lambda xp, x, k, y: xp.where(x == 1, k + 1, xp.where(x == 0, xp.where(_odd(k), -(k + 1), k + 1), y)),
    lambda x: _t(x) + _t(x), lambda j, x, p, q: (_t(x) + _t(x)) * q - p,
    (6, lambda xp, x, k: xp.where(xp.sin(xp.arccos(_t(x))) != 0,
                                  xp.sin((k + 1) * xp.arccos(_t(x))) / xp.sin(xp.arccos(_t(x))),
                                  (k + 1) * xp.cos((k + 1) * xp.arccos(_t(x))) / _t(x)), _shifted_unit))
shifted_chebyshev_polynomial_v = _polynomial(
    "shifted_chebyshev_polynomial_v",
    lambda xp, x, k, y: xp.where(x == 1, x.dtype.type(1),
                                 xp.where(x == 0, xp.where(_odd(k), -(k + k + 1), k + k + 1), y)),
    lambda x: _t(x) + _t(x) - 1, lambda j, x, p, q: (_t(x) + _t(x)) * q - p,
    (6, lambda xp, x, k: xp.where(xp.sin(xp.arccos(_t(x)) / 2) != 1,
                                  xp.cos((k + 0.5) * xp.arccos(_t(x))) / xp.cos(xp.arccos(_t(x)) / 2),
                                  xp.where(_odd(k), -(k + k + 1), k + k + 1)), _shifted_unit))
shifted_chebyshev_polynomial_w = _polynomial(
    "shifted_chebyshev_polynomial_w",
    lambda xp, x, k, y: xp.where(x == 1, k + k + 1, xp.where(x == 0, xp.where(_odd(k), -1.0, 1.0), y)),
    lambda x: _t(x) + _t(x) + 1, lambda j, x, p, q: (_t(x) + _t(x)) * q - p,
    (4, lambda xp, x, k: xp.where(xp.cos(xp.arccos(_t(x)) / 2) != 1,
                                  xp.sin((k + 0.5) * xp.arccos(_t(x))) / xp.sin(xp.arccos(_t(x)) / 2),
                                  xp.where(_odd(k), -1.0, 1.0)), _shifted_unit))


# ---- out=, as torch.special takes it on every function but softmax and log_softmax


def _with_out(name: str, fn: Callable[..., Tensor]) -> Callable[..., Any]:
    """``fn`` taking torch's ``out=`` (the result written into it, as the top-level functions' ``out=``)."""
    @functools.wraps(fn)
    def function(*args: Any, out: Tensor | None = None, **kwargs: Any) -> Any:
        if out is None:
            return fn(*args, **kwargs)
        return write_out(f"special.{name}", fn(*args, **kwargs), out)
    return function


for _name in [n for n in __all__ if n not in ("softmax", "log_softmax")]:
    globals()[_name] = _with_out(_name, globals()[_name])
del _name
