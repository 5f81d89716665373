"""``GeneralizedPareto(loc, scale, concentration)``: the peaks-over-threshold law, survival function
(1 + xi z)^(-1/xi) of z = (x - loc) / scale (e^-z at xi = 0), on [loc, loc - scale / xi] for xi < 0 and
[loc, inf) otherwise; reparameterised rsample by the inverse CDF."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..creation import ones_like, rand
from ..methods import FUNCTIONS
from ..tensor import Tensor
from . import constraints
from .distribution import Distribution, follows_value
from .utils import NUMBERS, broadcast_all, draw

_where, _expm1 = FUNCTIONS["where"], FUNCTIONS["expm1"]


class GeneralizedPareto(Distribution):
    """Generalized Pareto distributions with ``loc`` (real), ``scale`` (> 0) and ``concentration`` xi (real),
    tensors or numbers broadcast together. |xi| <= 1e-8 (torch's ``isclose(xi, 0)``) is treated as xi = 0.
    Unlike torch 2.13, log_prob / cdf work for float64 parameters (torch raises a dtype mismatch)."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive,  # noqa: RUF012 - torch's
                       "concentration": constraints.real}
    has_rsample = True

    def __init__(self, loc: Tensor | float, scale: Tensor | float, concentration: Tensor | float,
                 validate_args: bool | None = None) -> None:
        self.loc, self.scale, self.concentration = broadcast_all(loc, scale, concentration)
        self._numbers = all(isinstance(v, NUMBERS) for v in (loc, scale, concentration))
        super().__init__(() if self._numbers else self.loc.shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> GeneralizedPareto:
        return self._expanded(GeneralizedPareto, ("loc", "scale", "concentration"), batch_shape, batch_shape,
                              _instance=_instance)

    @property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        """[loc, loc - scale / xi] for xi < 0, [loc, inf) otherwise (per element)."""
        upper = _where(self.concentration < 0, self.loc - self.scale / self.concentration, math.inf)
        return constraints.interval(self.loc, upper)

    def _safe_concentration(self) -> tuple[Tensor, Tensor]:
        """(xi == 0 by torch's isclose, xi with those entries set to 1)."""
        xi = self.concentration
        zero = xi.abs() <= 1e-8
        return zero, _where(zero, ones_like(xi), xi)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """icdf(u) for u ~ U[0, 1): shape ``sample_shape + batch_shape``, gradients to all three parameters."""
        return self.icdf(draw(rand, tuple(self._extended_shape(sample_shape)), self.loc, "GeneralizedPareto.rsample"))

    @follows_value
    def log_prob(self, value: Tensor) -> Tensor:
        """-log scale - (1/xi + 1) log1p(xi z) (0 where 1/xi + 1 = 0), -log scale - z at xi = 0."""
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        zero, xi = self._safe_concentration()
        y = 1 / xi + ones_like(z)
        nonzero = _where(y == 0, y, y * (xi * z).log1p())
        return -self.scale.log() - _where(zero, z, nonzero)

    def log_survival_function(self, value: Tensor) -> Tensor:
        """log P(X > value) = -log1p(xi z) / xi (-z at xi = 0)."""
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        zero, xi = self._safe_concentration()
        return _where(zero, -z, -(xi * z).log1p() / xi)

    def log_cdf(self, value: Tensor) -> Tensor:
        return (-self.log_survival_function(value).exp()).log1p()

    @follows_value
    def cdf(self, value: Tensor) -> Tensor:
        return self.log_cdf(value).exp()

    @follows_value
    def icdf(self, value: Tensor) -> Tensor:
        """loc + scale expm1(-xi log1p(-u)) / xi (loc - scale log1p(-u) at xi = 0); not validated."""
        zero, xi = self._safe_concentration()
        log_u = (-value).log1p()
        return _where(zero, self.loc - self.scale * log_u, self.loc + self.scale / xi * _expm1(-xi * log_u))

    @property
    def mean(self) -> Tensor:
        """loc + scale / (1 - xi); nan for xi >= 1."""
        valid = self.concentration < 1
        xi = _where(valid, self.concentration, 0.5)
        return _where(valid, self.loc + self.scale / (1 - xi), math.nan)

    @property
    def variance(self) -> Tensor:
        """scale^2 / ((1 - xi)^2 (1 - 2 xi)); nan for xi >= 1/2."""
        valid = self.concentration < 0.5
        xi = _where(valid, self.concentration, 0.25)
        return _where(valid, self.scale**2 / ((1 - xi) ** 2 * (1 - 2 * xi)), math.nan)

    @property
    def mode(self) -> Tensor:
        return self.loc

    def entropy(self) -> Tensor:
        return (self.scale.log() + self.concentration + 1).broadcast_to(tuple(self._batch_shape))
