"""``Kumaraswamy(concentration1, concentration0)``: density a b x^(a-1) (1 - x^a)^(b-1) on [0, 1], built as torch's
from U ~ Uniform(0, 1) through u^(1/b), 1 - v, w^(1/a) (a ``TransformedDistribution`` with a reparameterised
rsample)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..creation import full_like
from ..methods import FUNCTIONS
from ..tensor import Tensor
from . import constraints
from .transformed_distribution import TransformedDistribution
from .transforms import AffineTransform, PowerTransform
from .uniform import Uniform
from .utils import broadcast_all

_where = FUNCTIONS["where"]
_EULER_GAMMA = 0.57721566490153286060


def _moment(a: Tensor, b: Tensor, n: int) -> Tensor:
    """E[X^n] = b B(1 + n / a, b), through lgamma."""
    arg = 1 + n / a
    return b * (arg.lgamma() + b.lgamma() - (arg + b).lgamma()).exp()


def _moments(d: Kumaraswamy) -> tuple[Tensor, Tensor]:
    """(mean, variance) of ``d``, computed in float64 and rounded once to the concentrations' dtype: in float32 the
    lgamma terms cancel (b = 0.01: lgamma(b) is 4.6 where the moment is 1e-2) and so do E[X^2] - E[X]^2."""
    a, b = d.concentration1.double(), d.concentration0.double()
    mean = _moment(a, b, 1)
    variance = _moment(a, b, 2) - mean.pow(2)
    return mean.to(d.concentration1.dtype), variance.to(d.concentration1.dtype)


class Kumaraswamy(TransformedDistribution):
    """Kumaraswamy distributions with ``concentration1`` (a > 0) and ``concentration0`` (b > 0), tensors or numbers
    broadcast together."""

    arg_constraints = {"concentration1": constraints.positive,  # noqa: RUF012 - torch's
                       "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1: Tensor | float, concentration0: Tensor | float,
                 validate_args: bool | None = None) -> None:
        self.concentration1, self.concentration0 = broadcast_all(concentration1, concentration0)
        b = self.concentration0
        base = Uniform(full_like(b, 0), full_like(b, 1), validate_args=validate_args)
        transforms = [PowerTransform(b.reciprocal()), AffineTransform(1.0, -1.0),
                      PowerTransform(self.concentration1.reciprocal())]
        super().__init__(base, transforms, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Kumaraswamy:
        new = self._get_checked_instance(Kumaraswamy, _instance)
        new.concentration1 = self.concentration1.expand(tuple(batch_shape))
        new.concentration0 = self.concentration0.expand(tuple(batch_shape))
        return super().expand(batch_shape, _instance=new)

    @property
    def mean(self) -> Tensor:
        return _moments(self)[0]

    @property
    def mode(self) -> Tensor:
        """((a - 1) / (a b - 1))^(1/a); nan where a < 1 or b < 1."""
        a, b = self.concentration1, self.concentration0
        log_mode = b.reciprocal() * (-b).log1p() - (-b * a).log1p()
        return _where((b < 1) | (a < 1), math.nan, log_mode).exp()

    @property
    def variance(self) -> Tensor:
        return _moments(self)[1]

    def entropy(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        harmonic = (b + 1).digamma() + _EULER_GAMMA
        return (1 - b.reciprocal()) + (1 - a.reciprocal()) * harmonic - a.log() - b.log()
