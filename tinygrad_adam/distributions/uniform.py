"""``Uniform(low, high)``: uniform on the half-open interval [low, high), with a reparameterised ``rsample``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..creation import rand
from ..tensor import Tensor
from . import constraints
from .distribution import Distribution, follows_value
from .utils import NUMBERS, broadcast_all, draw


class Uniform(Distribution):
    """Uniform distributions on [``low``, ``high``) (low < high), tensors or numbers broadcast together.
    ``log_prob`` is -inf outside [low, high) (with validation, a value outside [low, high] raises)."""

    has_rsample = True

    def __init__(self, low: Tensor | float, high: Tensor | float, validate_args: bool | None = None) -> None:
        self.low, self.high = broadcast_all(low, high)
        both_numbers = isinstance(low, NUMBERS) and isinstance(high, NUMBERS)
        self._numbers = both_numbers
        super().__init__(() if both_numbers else self.low.shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Uniform:
        return self._expanded(Uniform, ("low", "high"), batch_shape, batch_shape, _instance=_instance)

    @property
    def arg_constraints(self) -> dict[str, constraints.Constraint]:
        return {"low": constraints.less_than(self.high), "high": constraints.greater_than(self.low)}

    @property
    def support(self) -> constraints.Constraint:
        return constraints.interval(self.low, self.high)

    @property
    def mean(self) -> Tensor:
        return (self.high + self.low) / 2

    @property
    def mode(self) -> Tensor:
        return math.nan * self.high

    @property
    def stddev(self) -> Tensor:
        return (self.high - self.low) / 12**0.5

    @property
    def variance(self) -> Tensor:
        return (self.high - self.low).pow(2) / 12

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """low + u * (high - low) with u ~ U[0, 1) of shape ``sample_shape + batch_shape`` in low's dtype."""
        u = draw(rand, self._extended_shape(sample_shape), self.low, "Uniform.rsample")
        return self.low + u * (self.high - self.low)

    @follows_value
    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        inside = self.low.le(value).type_as(self.low) * self.high.gt(value).type_as(self.low)
        return inside.log() - (self.high - self.low).log()

    @follows_value
    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return ((value - self.low) / (self.high - self.low)).clamp(min=0, max=1)

    @follows_value
    def icdf(self, value: Tensor) -> Tensor:
        return value * (self.high - self.low) + self.low

    def entropy(self) -> Tensor:
        return (self.high - self.low).log()
