"""``Exponential(rate)``: density rate e^(-rate x) on [0, inf), with a reparameterised ``rsample``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..creation import rand, zeros_like
from ..tensor import Tensor
from . import constraints
from .distribution import follows_value
from .exp_family import ExponentialFamily
from .utils import NUMBERS, broadcast_all, draw


class Exponential(ExponentialFamily):
    """Exponential distributions with ``rate`` (> 0), a tensor or a number, whose shape is ``batch_shape``."""

    arg_constraints = {"rate": constraints.positive}  # noqa: RUF012 - torch's
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, rate: Tensor | float, validate_args: bool | None = None) -> None:
        (self.rate,) = broadcast_all(rate)
        self._numbers = isinstance(rate, NUMBERS)
        super().__init__(() if self._numbers else self.rate.shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Exponential:
        return self._expanded(Exponential, ("rate",), batch_shape, batch_shape, _instance=_instance)

    @property
    def mean(self) -> Tensor:
        return self.rate.reciprocal()

    @property
    def mode(self) -> Tensor:
        return zeros_like(self.rate)

    @property
    def stddev(self) -> Tensor:
        return self.rate.reciprocal()

    @property
    def variance(self) -> Tensor:
        return self.rate.pow(-2)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """-log(1 - u) / rate with u ~ U[0, 1), shape ``sample_shape + batch_shape``."""
        u = draw(rand, self._extended_shape(sample_shape), self.rate, "Exponential.rsample")
        return -(-u).log1p() / self.rate

    @follows_value
    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return self.rate.log() - self.rate * value

    @follows_value
    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return 1 - (-self.rate * value).exp()

    @follows_value
    def icdf(self, value: Tensor) -> Tensor:
        return -(-value).log1p() / self.rate

    _mean_carrier_measure = 0

    @property
    def _natural_params(self) -> tuple[Tensor]:
        return (-self.rate,)

    def _log_normalizer(self, x: Tensor) -> Tensor:
        return -(-x).log()

    def entropy(self) -> Tensor:
        return 1.0 - self.rate.log()
