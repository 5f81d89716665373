"""``Beta(concentration1, concentration0)``: a two-class ``Dirichlet`` read at its first entry, with a
reparameterised ``rsample``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..creation import tensor
from ..methods import FUNCTIONS
from ..tensor import Tensor
from . import constraints
from .dirichlet import Dirichlet
from .exp_family import ExponentialFamily
from .utils import NUMBERS, broadcast_all

_stack = FUNCTIONS["stack"]


class Beta(ExponentialFamily):
    """Beta distributions with ``concentration1`` (alpha) and ``concentration0`` (beta), both > 0, tensors or
    numbers broadcast together; density x^(alpha-1) (1-x)^(beta-1) / B(alpha, beta) on [0, 1]."""

    arg_constraints = {"concentration1": constraints.positive,  # noqa: RUF012 - torch's
                       "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1: Tensor | float, concentration0: Tensor | float,
                 validate_args: bool | None = None) -> None:
        if isinstance(concentration1, NUMBERS) and isinstance(concentration0, NUMBERS):
            both = tensor([float(concentration1), float(concentration0)])
        else:
            both = _stack(broadcast_all(concentration1, concentration0), -1)
        self._dirichlet = Dirichlet(both, validate_args=validate_args)
        super().__init__(self._dirichlet.batch_shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Beta:
        new = self._expanded(Beta, (), (), batch_shape, _instance=_instance)
        new._dirichlet = self._dirichlet.expand(batch_shape)
        return new

    @property
    def concentration1(self) -> Tensor:
        return self._dirichlet.concentration[..., 0]

    @property
    def concentration0(self) -> Tensor:
        return self._dirichlet.concentration[..., 1]

    @property
    def mean(self) -> Tensor:
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self) -> Tensor:
        return self._dirichlet.mode[..., 0]

    @property
    def variance(self) -> Tensor:
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total.pow(2) * (total + 1))

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """G1 / (G1 + G0) with G ~ Gamma(concentration, 1): shape ``sample_shape + batch_shape``."""
        return self._dirichlet.rsample(sample_shape)[..., 0]

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return self._dirichlet.log_prob(_stack([value, 1.0 - value], -1))

    @property
    def _natural_params(self) -> tuple[Tensor, Tensor]:
        return (self.concentration1, self.concentration0)

    def _log_normalizer(self, x: Tensor, y: Tensor) -> Tensor:
        return x.lgamma() + y.lgamma() - (x + y).lgamma()

    def entropy(self) -> Tensor:
        return self._dirichlet.entropy()
