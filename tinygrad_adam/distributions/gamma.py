"""``Gamma(concentration, rate)`` and ``Chi2(df)``, with a reparameterised ``rsample``: the gradient of a drawn
x ~ Gamma(a, 1) with respect to a is the implicit one, dx/da = -(dP/da)(a, x) / f(x; a) (P the regularised lower
incomplete gamma function, f the density), summed here to float64 accuracy by the power series of P (x < a + 1)
or the continued fraction of Q = 1 - P differentiated along with it (x >= a + 1)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy

from .. import backend
from ..creation import as_tensor
from ..methods import FUNCTIONS
from ..ops.binary import gamma_density
from ..ops.elementwise import ignore_fp_errors, operands
from ..tensor import Tensor, record
from . import constraints
from .distribution import follows_value
from .exp_family import ExponentialFamily
from .utils import NUMBERS, broadcast_all

_xlogy, _lgamma, _digamma = FUNCTIONS["xlogy"], FUNCTIONS["lgamma"], FUNCTIONS["digamma"]
_EPS = 1e-16
_MAX_TERMS = 200_000  # the sums need about 10 sqrt(a) terms near x = a: concentrations up to ~1e8


def _sum_until_converged(step: Any, state: list[Any], xp: Any, who: str) -> Any:
    """Run ``step(state, k) -> (state, result, done)`` for k = 1, 2, ... on the elements not yet ``done``
    (arrays of one length, compressed as they finish); the float64 results in the original order."""
    n = state[0].shape[0]
    out, active = xp.full(n, math.nan), xp.arange(n)
    for k in range(1, _MAX_TERMS + 1):
        if active.size == 0:
            return out
        state, result, done = step(state, k)
        if bool(done.any()):
            out[active[done]] = result[done]
            keep = ~done
            active, state = active[keep], [s[keep] for s in state]
    raise NotImplementedError(f"{who}: the series for d sample / d concentration did not converge in {_MAX_TERMS} "
                              f"terms (concentration above ~1e8); use sample() or smaller concentrations")


def _series(a: Any, x: Any, xp: Any) -> Any:
    """-sum_n u_n (log x - digamma(a + n + 1)), u_n = x^(n+1) Gamma(a) / Gamma(a + n + 1): dx/da for x < a + 1."""
    logx, psi = xp.log(x), backend.special("digamma", a + 1)
    u = x / a
    total = -u * (logx - psi)

    def step(state: list[Any], k: int) -> tuple[list[Any], Any, Any]:
        a, x, logx, psi, u, total = state
        u = u * x / (a + k)
        psi = psi + 1 / (a + k)
        term = u * (logx - psi)
        total = total - term
        done = (xp.abs(term) <= _EPS * xp.abs(total)) & (u <= _EPS * x / a) | (u == 0)
        return [a, x, logx, psi, u, total], total, done
    return _sum_until_converged(step, [a, x, logx, psi, u, total], xp, "Gamma.rsample")


def _continued_fraction(a: Any, x: Any, xp: Any) -> Any:
    """x (K (log x - digamma(a)) + dK/da) with Q(a, x) = x^a e^-x K / Gamma(a), K = 1/(b1 + c2/(b2 + c3/...)),
    b_k = x + 2k - 1 - a, c_k = -(k - 1)(k - 1 - a): dx/da = (dQ/da) / f for x >= a + 1. The convergents A/B and
    their derivatives run forward together, rescaled by 1/B each step."""
    lead = xp.log(x) - backend.special("digamma", a)
    one, zero = xp.ones_like(x), xp.zeros_like(x)
    b1 = x + 1 - a
    # (A_{k-2}, A_{k-1}, B_{k-2}, B_{k-1}) and their a-derivatives, after k = 1: A = 1, B = b1
    state = [a, x, lead, zero, one / b1, one / b1, one, zero, zero, zero, -one / b1, one / b1, zero]

    def step(state: list[Any], k: int) -> tuple[list[Any], Any, Any]:
        a, x, lead, a2, a1, b2, b1, da2, da1, db2, db1, k_prev, r_prev = state
        beta, c = x + 2 * k + 1 - a, -k * (k - a)  # the (k + 1)-th partial denominator and numerator
        a0, b0 = beta * a1 + c * a2, beta * b1 + c * b2
        da0 = -a1 + beta * da1 + k * a2 + c * da2
        db0 = -b1 + beta * db1 + k * b2 + c * db2
        s = 1 / b0
        frac = a0 * s
        dfrac = (da0 - frac * db0) * s
        result = x * (frac * lead + dfrac)
        scale = xp.abs(frac * lead) + xp.abs(dfrac)
        done = (xp.abs(frac - k_prev) <= _EPS * xp.abs(frac)) & (xp.abs(result - r_prev) <= _EPS * x * scale)
        return [a, x, lead, a1 * s, frac, b1 * s, xp.ones_like(a), da1 * s, da0 * s, db1 * s, db0 * s, frac,
                result], result, done
    return _sum_until_converged(step, state, xp, "Gamma.rsample")


def sample_grad(a: Any, x: Any) -> Any:
    """dx/da of x ~ Gamma(a, 1) drawn by inverting its CDF, at fixed CDF value: float64 arrays of one shape (a > 0,
    x > 0) -> float64 array of that shape."""
    xp = backend.get_array_module(a)
    a, x = xp.broadcast_arrays(xp.asarray(a, dtype=numpy.float64), xp.asarray(x, dtype=numpy.float64))
    a, x = a.ravel(), x.ravel()
    out = xp.full(a.shape, math.nan)
    with ignore_fp_errors(xp):
        low = x < a + 1
        if bool(low.any()):
            out[low] = _series(a[low], x[low], xp)
        high = ~low & (x > 0)
        if bool(high.any()):
            out[high] = _continued_fraction(a[high], x[high], xp)
    return out.reshape(a.shape)


def standard_gamma(concentration: Tensor) -> Tensor:
    """x ~ Gamma(concentration, 1) elementwise (clamped to the dtype's tiny), with the implicit reparameterisation
    gradient dx/da; same shape and floating dtype."""
    a = concentration._data
    dtype = a.dtype
    a64 = a.astype(numpy.float64)
    if not bool((a64 > 0).all()):
        raise ValueError("Gamma sampling: concentration must be positive (and not nan); fix it, or do not sample")
    x = backend.standard_gamma(concentration.device, a64).astype(dtype)
    x = concentration.xp.maximum(x, dtype.type(numpy.finfo(dtype).tiny))
    shape = a.shape
    return record("standard_gamma", x, (concentration,),
                  lambda g: (g * sample_grad(a64, x).reshape(shape).astype(dtype),))


def gammainc(a: Tensor, x: Tensor) -> Tensor:
    """P(a, x), the regularised lower incomplete gamma function (``torch.special.gammainc``), of broadcast shape;
    derivatives f(x; a) = x^(a-1) e^-x / Gamma(a) for x and -f dx/da (``sample_grad``) for a, which torch
    leaves unimplemented."""
    given = a._data if isinstance(a, Tensor) else a  # (the derivatives read a as given, as torch's formula does)
    a, x = broadcast_all(*operands("gammainc", a, x, floating=True))  # torch's promotion: a 0-d float64 a meets
    av, xv, xp = a._data, x._data, a.xp  # a float32 x as float32
    with ignore_fp_errors(xp):
        out = backend.special("gammainc", av, xv).astype(xv.dtype)  # (scipy computes float32 in float64)
        nan, one, zero = (xv.dtype.type(v) for v in (math.nan, 1, 0))  # torch's special cases, in its order
        out = xp.where(xp.isinf(xv), one, out)
        out = xp.where(xp.isinf(av), xp.where(xp.isinf(xv), nan, zero), out)
        out = xp.where(xv == 0, zero, out)
        out = xp.where(av == 0, xp.where(xv > 0, one, nan), out)
        out = xp.where((xv < 0) | (av < 0), nan, out)

    def backward(g: Any) -> tuple[Any, Any]:
        a64 = xp.broadcast_to(xp.asarray(given, dtype=numpy.float64), av.shape)
        x64 = xv.astype(numpy.float64)
        density = gamma_density(a64, x64)
        with ignore_fp_errors(xp):
            ga = None
            if a.requires_grad:
                inside = (x64 > 0) & xp.isfinite(x64) & (a64 > 0)
                d = xp.zeros_like(a64)
                d[inside] = -density[inside] * sample_grad(a64[inside], x64[inside])
                ga = (g * d.astype(av.dtype))
        return ga, g * density.astype(xv.dtype)
    return record("gammainc", out, (a, x), backward)


class Gamma(ExponentialFamily):
    """Gamma distributions with shape ``concentration`` (> 0) and ``rate`` (> 0), tensors or numbers broadcast
    together; density x^(a-1) e^(-rate x) rate^a / Gamma(a) on [0, inf)."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}  # noqa: RUF012 - torch's
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, concentration: Tensor | float, rate: Tensor | float, validate_args: bool | None = None) -> None:
        self.concentration, self.rate = broadcast_all(concentration, rate)
        self._numbers = isinstance(concentration, NUMBERS) and isinstance(rate, NUMBERS)
        super().__init__(() if self._numbers else self.concentration.shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Gamma:
        return self._expanded(Gamma, ("concentration", "rate"), batch_shape, batch_shape, _instance=_instance)

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.rate

    @property
    def mode(self) -> Tensor:
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self) -> Tensor:
        return self.concentration / self.rate.pow(2)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """standard_gamma(concentration) / rate of shape ``sample_shape + batch_shape``, at least the dtype's tiny;
        gradients reach both parameters."""
        shape = self._extended_shape(sample_shape)
        if self.concentration.dtype.kind != "f":
            raise TypeError(f"Gamma.rsample: sampling needs floating-point parameters, got "
                            f"{self.concentration.dtype}")
        value = standard_gamma(self.concentration.expand(shape)) / self.rate.expand(shape)
        tiny = float(numpy.finfo(value.dtype).tiny)
        return value + (value.detach().clamp(min=tiny) - value.detach())  # clamped outside the graph, as torch

    @follows_value
    def log_prob(self, value: Tensor | float) -> Tensor:
        """Computed in rate's dtype (``value`` is converted to it, as torch)."""
        value = as_tensor(value, dtype=self.rate.dtype, device=self.rate.device)
        if self._validate_args:
            self._validate_sample(value)
        return (_xlogy(self.concentration, self.rate) + _xlogy(self.concentration - 1, value) - self.rate * value
                - _lgamma(self.concentration))

    @follows_value
    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return gammainc(self.concentration, self.rate * value)

    _mean_carrier_measure = 0

    @property
    def _natural_params(self) -> tuple[Tensor, Tensor]:
        return (self.concentration - 1, -self.rate)

    def _log_normalizer(self, x: Tensor, y: Tensor) -> Tensor:
        return (x + 1).lgamma() + (x + 1) * (-y.reciprocal()).log()

    def entropy(self) -> Tensor:
        a = self.concentration
        return a - self.rate.log() + _lgamma(a) + (1.0 - a) * _digamma(a)


class Chi2(Gamma):
    """The chi-squared distribution with ``df`` (> 0) degrees of freedom: Gamma(df / 2, 1 / 2)."""

    arg_constraints = {"df": constraints.positive}  # noqa: RUF012 - torch's

    def __init__(self, df: Tensor | float, validate_args: bool | None = None) -> None:
        super().__init__(0.5 * df, 0.5, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Chi2:
        return super().expand(batch_shape, self._get_checked_instance(Chi2, _instance))

    @property
    def df(self) -> Tensor:
        return self.concentration * 2
