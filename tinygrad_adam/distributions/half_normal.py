"""``HalfNormal(scale)`` and ``HalfCauchy(scale)``: |X| for X ~ Normal(0, scale) / Cauchy(0, scale), on [0, inf);
``LogisticNormal(loc, scale)``: Normal vectors pushed onto the simplex by stick breaking."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..creation import as_tensor, full, zeros_like
from ..methods import FUNCTIONS
from ..tensor import Tensor
from . import constraints
from .cauchy import Cauchy
from .distribution import Distribution, follows_value
from .normal import Normal
from .transformed_distribution import TransformedDistribution
from .transforms import AbsTransform, StickBreakingTransform

_where = FUNCTIONS["where"]


class _Folded(TransformedDistribution):
    """|X| for X from a symmetric ``base`` centred at 0: density 2 p(x) for x >= 0, -inf log density below."""

    arg_constraints = {"scale": constraints.positive}  # noqa: RUF012 - torch's
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, base: Distribution, validate_args: bool | None) -> None:
        super().__init__(base, AbsTransform(), validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Any:
        return super().expand(batch_shape, _instance=self._get_checked_instance(type(self), _instance))

    @property
    def scale(self) -> Tensor:
        return self.base_dist.scale

    @property
    def mode(self) -> Tensor:
        return zeros_like(self.scale)

    def _folded_log_prob(self, value: Tensor) -> Tensor:
        log_prob = self.base_dist.log_prob(value) + math.log(2)
        return _where(value >= 0, log_prob, -math.inf)

    @follows_value
    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return 2 * self.base_dist.cdf(value) - 1

    @follows_value
    def icdf(self, value: Tensor) -> Tensor:
        return self.base_dist.icdf((value + 1) / 2)

    def entropy(self) -> Tensor:
        return self.base_dist.entropy() - math.log(2)


class HalfNormal(_Folded):
    """Half-normal distributions with ``scale`` (> 0), a tensor or a number."""

    def __init__(self, scale: Tensor | float, validate_args: bool | None = None) -> None:
        super().__init__(Normal(0, scale, validate_args=False), validate_args)
        self._numbers = self.base_dist._numbers

    @property
    def mean(self) -> Tensor:
        return self.scale * math.sqrt(2 / math.pi)

    @property
    def variance(self) -> Tensor:
        return self.scale.pow(2) * (1 - 2 / math.pi)

    @follows_value
    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return self._folded_log_prob(value)


class HalfCauchy(_Folded):
    """Half-Cauchy distributions with ``scale`` (> 0), a tensor or a number; mean and variance are inf."""

    def __init__(self, scale: Tensor | float, validate_args: bool | None = None) -> None:
        super().__init__(Cauchy(0, scale, validate_args=False), validate_args)
        self._numbers = self.base_dist._numbers

    @property
    def mean(self) -> Tensor:
        return full(self._extended_shape(), math.inf, dtype=self.scale.dtype, device=self.scale.device)

    @property
    def variance(self) -> Tensor:
        return self.mean

    @follows_value
    def log_prob(self, value: Tensor | float) -> Tensor:
        """``value`` may be a number when not validating (taken in scale's dtype, as torch)."""
        if self._validate_args:
            self._validate_sample(value)
        return self._folded_log_prob(as_tensor(value, dtype=self.scale.dtype, device=self.scale.device))


class LogisticNormal(TransformedDistribution):
    """Normal(loc, scale) vectors of K - 1 entries (a scalar batch counts as one entry) mapped onto the K-simplex
    by ``StickBreakingTransform``."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}  # noqa: RUF012 - torch's
    support = constraints.simplex
    has_rsample = True

    def __init__(self, loc: Tensor | float, scale: Tensor | float, validate_args: bool | None = None) -> None:
        base = Normal(loc, scale, validate_args=validate_args)
        if not base.batch_shape:
            base = base.expand([1])
        super().__init__(base, StickBreakingTransform(), validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> LogisticNormal:
        return super().expand(batch_shape, _instance=self._get_checked_instance(LogisticNormal, _instance))

    @property
    def loc(self) -> Tensor:
        return self.base_dist.base_dist.loc

    @property
    def scale(self) -> Tensor:
        return self.base_dist.base_dist.scale
