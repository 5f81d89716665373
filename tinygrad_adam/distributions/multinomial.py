"""``Multinomial(total_count=1, probs=None, logits=None)``: counts of ``total_count`` draws from a Categorical."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy

from ..methods import FUNCTIONS
from ..tensor import Tensor
from . import constraints
from .binomial import Binomial
from .categorical import Categorical
from .distribution import Distribution
from .utils import broadcast_all, sizes

_lgamma, _one_hot, _where = FUNCTIONS["lgamma"], FUNCTIONS["one_hot"], FUNCTIONS["where"]


class Multinomial(Distribution):
    """Multinomial distributions of one Python int ``total_count`` (>= 0) over K classes with the weights ``probs``
    (..., K) or ``logits`` (..., K) of a ``Categorical``: ``batch_shape`` the parameter's less its last dim,
    ``event_shape`` (K,). ``log_prob`` does not check that the counts sum to ``total_count`` (as torch)."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}  # noqa: RUF012 - torch's

    def __init__(self, total_count: int = 1, probs: Tensor | None = None, logits: Tensor | None = None,
                 validate_args: bool | None = None) -> None:
        if not isinstance(total_count, int):
            raise NotImplementedError("inhomogeneous total_count is not supported")
        self.total_count = total_count
        self._categorical = Categorical(probs=probs, logits=logits)
        self._binomial = Binomial(total_count=total_count, probs=self.probs)
        super().__init__(self._categorical.batch_shape, self._categorical.param_shape[-1:],
                         validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Multinomial:
        new = self._expanded(Multinomial, (), (), batch_shape, self.event_shape, _instance=_instance)
        new.total_count = self.total_count
        new._categorical = self._categorical.expand(batch_shape)
        new._binomial = self._binomial.expand((*batch_shape, *self.event_shape))  # (torch's expand leaves it out,
        return new  # so its entropy raises AttributeError there)

    @property
    def support(self) -> constraints.Constraint:
        return constraints.multinomial(self.total_count)

    @property
    def logits(self) -> Tensor:
        return self._categorical.logits

    @property
    def probs(self) -> Tensor:
        return self._categorical.probs

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self._categorical.param_shape

    @property
    def mean(self) -> Tensor:
        return self.probs * self.total_count

    @property
    def variance(self) -> Tensor:
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """Class counts in the parameters' dtype, shape ``sample_shape + batch_shape + (K,)``."""
        draws = self._categorical.sample((self.total_count, *sizes(sample_shape)))
        k = self._categorical._num_events
        return _one_hot(draws, k).sum(0).reshape(self._extended_shape(sample_shape)).to(self.probs.dtype)

    def entropy(self) -> Tensor:
        """n H(categorical) - log n! + sum_i E[log x_i!] (x_i binomial), shape ``batch_shape``."""
        n = self.total_count
        term1 = n * self._categorical.entropy() - float(numpy.float32(math.lgamma(n + 1)))  # torch's: float32
        support = self._binomial.enumerate_support(expand=False)[1:]
        binomial_probs = self._binomial.log_prob(support).exp()
        term2 = (binomial_probs * _lgamma(support + 1)).sum(0).sum(-1)
        return term1 + term2

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        logits = _where((value == 0) & (logits == -math.inf), 0.0, logits)
        log_factorial_n = _lgamma(value.sum(-1) + 1)
        log_factorial_xs = _lgamma(value + 1).sum(-1)
        return log_factorial_n - log_factorial_xs + (logits * value).sum(-1)
