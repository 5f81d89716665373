"""``InverseGamma(concentration, rate)``: 1 / X for X ~ Gamma(concentration, rate), a ``TransformedDistribution``
through ``PowerTransform(-1)`` (so log_prob, cdf and the reparameterised rsample come from Gamma's)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..creation import ones
from ..methods import FUNCTIONS
from ..tensor import Tensor
from . import constraints
from .gamma import Gamma
from .transformed_distribution import TransformedDistribution
from .transforms import PowerTransform

_where = FUNCTIONS["where"]


class InverseGamma(TransformedDistribution):
    """Inverse-gamma distributions with ``concentration`` (> 0) and ``rate`` (> 0), tensors or numbers broadcast
    together; density rate^a x^(-a-1) e^(-rate / x) / Gamma(a) on (0, inf)."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}  # noqa: RUF012 - torch's
    support = constraints.positive
    has_rsample = True
    base_dist: Gamma

    def __init__(self, concentration: Tensor | float, rate: Tensor | float, validate_args: bool | None = None) -> None:
        base = Gamma(concentration, rate, validate_args=validate_args)
        minus_one = -ones((), dtype=base.rate.dtype, device=base.rate.device)
        super().__init__(base, PowerTransform(minus_one), validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> InverseGamma:
        return super().expand(batch_shape, _instance=self._get_checked_instance(InverseGamma, _instance))

    @property
    def concentration(self) -> Tensor:
        return self.base_dist.concentration

    @property
    def rate(self) -> Tensor:
        return self.base_dist.rate

    @property
    def mean(self) -> Tensor:
        """rate / (concentration - 1); inf for concentration <= 1."""
        return _where(self.concentration > 1, self.rate / (self.concentration - 1), math.inf)

    @property
    def mode(self) -> Tensor:
        return self.rate / (self.concentration + 1)

    @property
    def variance(self) -> Tensor:
        """rate^2 / ((a - 1)^2 (a - 2)); inf for a <= 2."""
        a = self.concentration
        return _where(a > 2, self.rate.square() / ((a - 1).square() * (a - 2)), math.inf)

    def entropy(self) -> Tensor:
        a = self.concentration
        return a + self.rate.log() + a.lgamma() - (1 + a) * a.digamma()
