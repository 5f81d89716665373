"""``Cauchy(loc, scale)``: the Lorentz distribution, density 1 / (pi scale (1 + ((x - loc) / scale)^2)), with a
reparameterised ``rsample`` (loc + scale tan(pi (u - 1/2)))."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..creation import full, rand
from ..tensor import Tensor
from . import constraints
from .distribution import Distribution, follows_value
from .utils import NUMBERS, broadcast_all, draw


class Cauchy(Distribution):
    """Cauchy distributions with median ``loc`` and half-width ``scale`` (> 0), tensors or numbers broadcast
    together. Mean and variance are undefined: nan and inf, as torch."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}  # noqa: RUF012 - torch's
    support = constraints.real
    has_rsample = True

    def __init__(self, loc: Tensor | float, scale: Tensor | float, validate_args: bool | None = None) -> None:
        self.loc, self.scale = broadcast_all(loc, scale)
        self._numbers = isinstance(loc, NUMBERS) and isinstance(scale, NUMBERS)
        super().__init__(() if self._numbers else self.loc.shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Cauchy:
        return self._expanded(Cauchy, ("loc", "scale"), batch_shape, batch_shape, _instance=_instance)

    @property
    def mean(self) -> Tensor:
        return full(self._extended_shape(), math.nan, dtype=self.loc.dtype, device=self.loc.device)

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return full(self._extended_shape(), math.inf, dtype=self.loc.dtype, device=self.loc.device)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """loc + scale tan(pi (u - 1/2)), u ~ U[0, 1): shape ``sample_shape + batch_shape``."""
        u = draw(rand, self._extended_shape(sample_shape), self.loc, "Cauchy.rsample")
        return self.loc + (math.pi * (u - 0.5)).tan() * self.scale

    @follows_value
    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return -math.log(math.pi) - self.scale.log() - ((value - self.loc) / self.scale).pow(2).log1p()

    @follows_value
    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return ((value - self.loc) / self.scale).atan() / math.pi + 0.5

    @follows_value
    def icdf(self, value: Tensor) -> Tensor:
        return (math.pi * (value - 0.5)).tan() * self.scale + self.loc

    def entropy(self) -> Tensor:
        return math.log(4 * math.pi) + self.scale.log()
