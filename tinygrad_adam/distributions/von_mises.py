"""``VonMises(loc, concentration)``: the circular normal, density exp(kappa cos(x - loc)) / (2 pi I0(kappa)).
log I0 and log I1 use torch's polynomial approximations (Abramowitz & Stegun 9.8.1-9.8.4, relative error ~1e-7),
so log_prob and variance equal torch's; samples come from Best & Fisher's rejection sampler, run in float64, and
lie in [-pi, pi)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy

from ..autograd import no_grad
from ..creation import rand, zeros
from ..methods import FUNCTIONS
from ..tensor import Tensor
from . import constraints
from .distribution import Distribution, follows_value
from .utils import broadcast_all, lazy_property

_where = FUNCTIONS["where"]
_SMALL = ((1.0, 3.5156229, 3.0899424, 1.2067492, 0.2659732, 0.360768e-1, 0.45813e-2),  # I0, I1 for x < 3.75
          (0.5, 0.87890594, 0.51498869, 0.15084934, 0.2658733e-1, 0.301532e-2, 0.32411e-3))
_LARGE = ((0.39894228, 0.1328592e-1, 0.225319e-2, -0.157565e-2, 0.916281e-2, -0.2057706e-1, 0.2635537e-1,
           -0.1647633e-1, 0.392377e-2),  # sqrt(x) e^-x I0, I1 in powers of 3.75 / x
          (0.39894228, -0.3988024e-1, -0.362018e-2, 0.163801e-2, -0.1031555e-1, 0.2282967e-1, -0.2895312e-1,
           0.1787654e-1, -0.420059e-2))


def _poly(y: Tensor, coefficients: Sequence[float]) -> Tensor:
    """sum_k c_k y^k by Horner's rule (from the highest power)."""
    result: Tensor | float = coefficients[-1]
    for c in reversed(coefficients[:-1]):
        result = c + y * result
    return result  # type: ignore[return-value]


def log_modified_bessel(x: Tensor, order: int) -> Tensor:
    """log I_order(x) for order 0 or 1 (x > 0), torch's approximation: the series in (x / 3.75)^2 below 3.75, the
    asymptotic polynomial in 3.75 / x above."""
    if order not in (0, 1):
        raise ValueError(f"log_modified_bessel: order={order} is neither 0 nor 1")
    small = _poly((x / 3.75).pow(2), _SMALL[order])
    if order == 1:
        small = x.abs() * small
    large = x - 0.5 * x.log() + _poly(3.75 / x, _LARGE[order]).log()
    return _where(x < 3.75, small.log(), large)


def _rejection_sample(loc: Tensor, kappa: Tensor, proposal_r: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Best & Fisher's wrapped-Cauchy envelope, redrawn until every entry is accepted; float64 in, float64 out in
    [-pi, pi)."""
    x = zeros(shape, dtype=loc.dtype, device=loc.device)
    done = x != x  # all False
    while not bool(done.all()):
        u1, u2, u3 = rand((3, *shape), dtype=loc.dtype, device=loc.device).unbind(0)
        z = (math.pi * u1).cos()
        f = (1 + proposal_r * z) / (proposal_r + z)
        c = kappa * (proposal_r - f)
        accept = ((c * (2 - c) - u2) > 0) | ((c / u2).log() + 1 - c >= 0)
        x = _where(accept & ~done, (u3 - 0.5).sign() * f.acos(), x)
        done = done | accept
    return (x + math.pi + loc) % (2 * math.pi) - math.pi


class VonMises(Distribution):
    """von Mises distributions with ``loc`` (real, radians) and ``concentration`` kappa (> 0), tensors or numbers
    broadcast together; ``batch_shape`` is their broadcast shape. No rsample (as torch)."""

    arg_constraints = {"loc": constraints.real, "concentration": constraints.positive}  # noqa: RUF012 - torch's
    support = constraints.real
    has_rsample = False

    def __init__(self, loc: Tensor | float, concentration: Tensor | float, validate_args: bool | None = None) -> None:
        self.loc, self.concentration = broadcast_all(loc, concentration)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> VonMises:
        return self._expanded(VonMises, ("loc", "concentration"), batch_shape, batch_shape, _instance=_instance)

    @follows_value
    def log_prob(self, value: Tensor) -> Tensor:
        """kappa cos(value - loc) - log(2 pi) - log I0(kappa): shape broadcast(value's, batch_shape)."""
        if self._validate_args:
            self._validate_sample(value)
        return (self.concentration * (value - self.loc).cos() - math.log(2 * math.pi)
                - log_modified_bessel(self.concentration, 0))

    def _proposal_r(self, kappa: Tensor) -> Tensor:
        """The envelope's r = (1 + rho^2) / (2 rho); 1/kappa + kappa below kappa = 1e-5 (its Taylor form)."""
        tau = 1 + (1 + 4 * kappa**2).sqrt()
        rho = (tau - (2 * tau).sqrt()) / (2 * kappa)
        return _where(kappa < 1e-5, 1 / kappa + kappa, (1 + rho**2) / (2 * rho))

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """Draws of shape ``sample_shape + batch_shape`` in loc's dtype (computed in float64), outside the graph."""
        shape = tuple(self._extended_shape(sample_shape))
        if self.loc.dtype.kind != "f":
            raise TypeError(f"VonMises.sample: sampling needs floating-point parameters, got {self.loc.dtype}")
        with no_grad():
            loc, kappa = self.loc.to(numpy.float64), self.concentration.to(numpy.float64)
            return _rejection_sample(loc, kappa, self._proposal_r(kappa), shape).to(self.loc.dtype)

    @property
    def mean(self) -> Tensor:
        """The circular mean, loc."""
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @lazy_property
    def variance(self) -> Tensor:
        """The circular variance 1 - I1(kappa) / I0(kappa)."""
        kappa = self.concentration
        return 1 - (log_modified_bessel(kappa, 1) - log_modified_bessel(kappa, 0)).exp()
