"""``Poisson(rate)``: counts 0, 1, 2, ... with mass rate^k e^(-rate) / k!."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..autograd import no_grad
from ..creation import poisson
from ..methods import FUNCTIONS
from ..tensor import Tensor
from . import constraints
from .distribution import follows_value
from .exp_family import ExponentialFamily
from .utils import NUMBERS, broadcast_all

_xlogy = FUNCTIONS["xlogy"]


class Poisson(ExponentialFamily):
    """Poisson distributions with ``rate`` (>= 0), a tensor or a number, whose shape is ``batch_shape``."""

    arg_constraints = {"rate": constraints.nonnegative}  # noqa: RUF012 - torch's
    support = constraints.nonnegative_integer

    def __init__(self, rate: Tensor | float, validate_args: bool | None = None) -> None:
        (self.rate,) = broadcast_all(rate)
        self._numbers = isinstance(rate, NUMBERS)
        super().__init__(() if self._numbers else self.rate.shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Poisson:
        return self._expanded(Poisson, ("rate",), batch_shape, batch_shape, _instance=_instance)

    @property
    def mean(self) -> Tensor:
        return self.rate

    @property
    def mode(self) -> Tensor:
        return self.rate.floor()

    @property
    def variance(self) -> Tensor:
        return self.rate

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """Counts in rate's (floating) dtype, shape ``sample_shape + batch_shape``."""
        with no_grad():
            return poisson(self.rate.expand(self._extended_shape(sample_shape)))

    @follows_value
    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        rate, value = broadcast_all(self.rate, value)
        return _xlogy(value, rate) - rate - (value + 1).lgamma()

    @property
    def _natural_params(self) -> tuple[Tensor]:
        return (self.rate.log(),)

    def _log_normalizer(self, x: Tensor) -> Tensor:
        return x.exp()
