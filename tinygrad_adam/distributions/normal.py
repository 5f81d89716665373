"""``Normal(loc, scale)``: the Gaussian, with a reparameterised ``rsample`` (loc + eps * scale)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..creation import randn
from ..methods import FUNCTIONS
from ..tensor import Tensor
from . import constraints
from .distribution import follows_value
from .exp_family import ExponentialFamily
from .utils import NUMBERS, broadcast_all, draw

_erf, _erfinv = FUNCTIONS["erf"], FUNCTIONS["erfinv"]


class Normal(ExponentialFamily):
    """Normal distributions with means ``loc`` and standard deviations ``scale`` (> 0): tensors or numbers,
    broadcast together; ``batch_shape`` is their broadcast shape (() for two numbers)."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}  # noqa: RUF012 - torch's
    support = constraints.real
    has_rsample = True

    def __init__(self, loc: Tensor | float, scale: Tensor | float, validate_args: bool | None = None) -> None:
        self.loc, self.scale = broadcast_all(loc, scale)
        both_numbers = isinstance(loc, NUMBERS) and isinstance(scale, NUMBERS)
        self._numbers = both_numbers
        super().__init__(() if both_numbers else self.loc.shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Normal:
        return self._expanded(Normal, ("loc", "scale"), batch_shape, batch_shape, _instance=_instance)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def stddev(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        return self.stddev.pow(2)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """loc + eps * scale with eps ~ N(0, 1) of shape ``sample_shape + batch_shape`` in loc's dtype."""
        eps = draw(randn, self._extended_shape(sample_shape), self.loc, "Normal.rsample")
        return self.loc + eps * self.scale

    @follows_value
    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        var = self.scale**2
        return -((value - self.loc) ** 2) / (2 * var) - self.scale.log() - math.log(math.sqrt(2 * math.pi))

    @follows_value
    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 * (1 + _erf((value - self.loc) * self.scale.reciprocal() / math.sqrt(2)))

    @follows_value
    def icdf(self, value: Tensor) -> Tensor:
        """The quantile at probabilities ``value`` (not validated: outside [0, 1] gives nan, as torch)."""
        return self.loc + self.scale * _erfinv(2 * value - 1) * math.sqrt(2)

    _mean_carrier_measure = 0

    @property
    def _natural_params(self) -> tuple[Tensor, Tensor]:
        return (self.loc / self.scale.pow(2), -0.5 * self.scale.pow(2).reciprocal())

    def _log_normalizer(self, x: Tensor, y: Tensor) -> Tensor:
        return -0.25 * x.pow(2) / y + 0.5 * (-math.pi / y).log()

    def entropy(self) -> Tensor:
        return 0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log()
