"""``StudentT(df, loc=0, scale=1)``: Student's t, with a reparameterised ``rsample`` (X / sqrt(Z / df), X normal,
Z chi-squared)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..creation import randn
from ..methods import FUNCTIONS
from ..tensor import Tensor
from . import constraints
from .distribution import Distribution, follows_value
from .gamma import Chi2
from .utils import broadcast_all, draw

_where, _lgamma, _digamma = FUNCTIONS["where"], FUNCTIONS["lgamma"], FUNCTIONS["digamma"]


class StudentT(Distribution):
    """Student's t distributions with ``df`` (> 0) degrees of freedom, ``loc`` and ``scale`` (> 0), tensors or
    numbers broadcast together; ``batch_shape`` is their broadcast shape."""

    arg_constraints = {"df": constraints.positive, "loc": constraints.real,  # noqa: RUF012 - torch's
                       "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, df: Tensor | float, loc: Tensor | float = 0.0, scale: Tensor | float = 1.0,
                 validate_args: bool | None = None) -> None:
        self.df, self.loc, self.scale = broadcast_all(df, loc, scale)
        self._chi2 = Chi2(self.df)
        super().__init__(self.df.shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> StudentT:
        new = self._expanded(StudentT, ("df", "loc", "scale"), batch_shape, batch_shape, _instance=_instance)
        new._chi2 = self._chi2.expand(batch_shape)
        return new

    @property
    def mean(self) -> Tensor:
        """loc, nan where df <= 1."""
        return _where(self.df <= 1, math.nan, self.loc)

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        """scale^2 df / (df - 2) for df > 2, inf for 1 < df <= 2, nan for df <= 1 (df itself where df is nan)."""
        df = self.df
        safe = _where(df > 2, df, 3.0)  # the other branch's gradient stays finite at df = 2
        var = self.scale.pow(2) * safe / (safe - 2)
        return _where(df > 2, var, _where((df > 1) & (df <= 2), math.inf, _where(df <= 1, math.nan, df)))

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        x = draw(randn, self._extended_shape(sample_shape), self.df, "StudentT.rsample")
        z = self._chi2.rsample(sample_shape)
        return self.loc + self.scale * x * (z / self.df).rsqrt()

    @follows_value
    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        df = self.df
        y = (value - self.loc) / self.scale
        z = (self.scale.log() + 0.5 * df.log() + 0.5 * math.log(math.pi) + _lgamma(0.5 * df)
             - _lgamma(0.5 * (df + 1.0)))
        return -0.5 * (df + 1.0) * (y**2.0 / df).log1p() - z

    def entropy(self) -> Tensor:
        df = self.df
        lbeta = _lgamma(0.5 * df) + math.lgamma(0.5) - _lgamma(0.5 * (df + 1))
        return (self.scale.log() + 0.5 * (df + 1) * (_digamma(0.5 * (df + 1)) - _digamma(0.5 * df))
                + 0.5 * df.log() + lbeta)
