"""``Laplace(loc, scale)``: density e^(-|x - loc| / scale) / (2 scale), with a reparameterised ``rsample``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy

from ..creation import rand
from ..tensor import Tensor
from . import constraints
from .distribution import Distribution, follows_value
from .utils import NUMBERS, broadcast_all, draw


class Laplace(Distribution):
    """Laplace distributions with ``loc`` and ``scale`` (> 0), tensors or numbers broadcast together."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}  # noqa: RUF012 - torch's
    support = constraints.real
    has_rsample = True

    def __init__(self, loc: Tensor | float, scale: Tensor | float, validate_args: bool | None = None) -> None:
        self.loc, self.scale = broadcast_all(loc, scale)
        self._numbers = isinstance(loc, NUMBERS) and isinstance(scale, NUMBERS)
        super().__init__(() if self._numbers else self.loc.shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Laplace:
        return self._expanded(Laplace, ("loc", "scale"), batch_shape, batch_shape, _instance=_instance)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return 2 * self.scale.pow(2)

    @property
    def stddev(self) -> Tensor:
        return (2**0.5) * self.scale

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """loc - scale sign(u) log(1 - |u|) with u uniform on [eps - 1, 1), shape ``sample_shape + batch_shape``."""
        u = draw(rand, self._extended_shape(sample_shape), self.loc, "Laplace.rsample")
        eps = float(numpy.finfo(u.dtype).eps)
        u = u * (2 - eps) + (eps - 1)
        return self.loc - self.scale * u.sign() * (-u.abs()).log1p()

    @follows_value
    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return -(2 * self.scale).log() - (value - self.loc).abs() / self.scale

    @follows_value
    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        diff = value - self.loc
        return 0.5 - 0.5 * diff.sign() * (-diff.abs() / self.scale).expm1()

    @follows_value
    def icdf(self, value: Tensor) -> Tensor:
        term = value - 0.5
        return self.loc - self.scale * term.sign() * (-2 * term.abs()).log1p()

    def entropy(self) -> Tensor:
        return 1 + (2 * self.scale).log()
