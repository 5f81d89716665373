"""``FisherSnedecor(df1, df2)``: the F distribution, (X1 / df1) / (X2 / df2) for chi-squared X1, X2, with a
reparameterised rsample through two Gammas."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy

from ..methods import FUNCTIONS
from ..tensor import Tensor
from . import constraints
from .distribution import Distribution, follows_value
from .gamma import Gamma
from .utils import NUMBERS, broadcast_all

_where = FUNCTIONS["where"]


class FisherSnedecor(Distribution):
    """F distributions with ``df1`` (> 0) and ``df2`` (> 0) degrees of freedom, tensors or numbers broadcast
    together. As torch, the two Gammas behind the sampler are made with the default validation, so invalid
    degrees of freedom raise ValueError even with ``validate_args=False`` (while validation is on by default)."""

    arg_constraints = {"df1": constraints.positive, "df2": constraints.positive}  # noqa: RUF012 - torch's
    support = constraints.positive
    has_rsample = True

    def __init__(self, df1: Tensor | float, df2: Tensor | float, validate_args: bool | None = None) -> None:
        self.df1, self.df2 = broadcast_all(df1, df2)
        self._gamma1, self._gamma2 = Gamma(self.df1 * 0.5, self.df1), Gamma(self.df2 * 0.5, self.df2)
        self._numbers = isinstance(df1, NUMBERS) and isinstance(df2, NUMBERS)
        super().__init__(() if self._numbers else self.df1.shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> FisherSnedecor:
        new = self._expanded(FisherSnedecor, ("df1", "df2"), batch_shape, batch_shape, _instance=_instance)
        new._gamma1, new._gamma2 = self._gamma1.expand(batch_shape), self._gamma2.expand(batch_shape)
        return new

    @property
    def mean(self) -> Tensor:
        """df2 / (df2 - 2); nan for df2 <= 2."""
        df2 = _where(self.df2 <= 2, math.nan, self.df2)
        return df2 / (df2 - 2)

    @property
    def mode(self) -> Tensor:
        """(df1 - 2) / df1 * df2 / (df2 + 2); nan for df1 <= 2."""
        return _where(self.df1 <= 2, math.nan, (self.df1 - 2) / self.df1 * self.df2 / (self.df2 + 2))

    @property
    def variance(self) -> Tensor:
        """nan for df2 <= 4."""
        df1, df2 = self.df1, _where(self.df2 <= 4, math.nan, self.df2)
        return 2 * df2.pow(2) * (df1 + df2 - 2) / (df1 * (df2 - 2).pow(2) * (df2 - 4))

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """X1 / X2 for X1 ~ Gamma(df1 / 2, df1), X2 ~ Gamma(df2 / 2, df2), both clamped to at least the dtype's tiny
        (as torch): shape ``sample_shape + batch_shape``."""
        x1, x2 = self._gamma1.rsample(sample_shape), self._gamma2.rsample(sample_shape)
        tiny = float(numpy.finfo(x2.dtype).tiny)
        return (x1 / x2.clamp(min=tiny)).clamp(min=tiny)

    @follows_value
    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        half1, half2, ratio = self.df1 * 0.5, self.df2 * 0.5, self.df1 / self.df2
        t1 = (half1 + half2).lgamma() - half1.lgamma() - half2.lgamma()
        t2 = half1 * ratio.log() + (half1 - 1) * value.log()
        return t1 + t2 - (half1 + half2) * (ratio * value).log1p()
