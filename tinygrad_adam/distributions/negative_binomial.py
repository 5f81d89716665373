"""``NegativeBinomial(total_count, probs=None, logits=None)``: the number of successes before ``total_count``
failures of Bernoulli(probs) trials (a Gamma-Poisson mixture, which is how it is sampled)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..autograd import no_grad
from ..creation import poisson
from ..methods import FUNCTIONS
from ..nn.functional import logsigmoid
from ..tensor import Tensor
from . import constraints
from .distribution import Distribution
from .gamma import Gamma
from .utils import BinaryProbs, broadcast_all

_lgamma = FUNCTIONS["lgamma"]


class NegativeBinomial(BinaryProbs, Distribution):
    """Negative binomial distributions with ``total_count`` (> 0; real values allowed, as torch) and success
    ``probs`` in [0, 1) or ``logits``, not both, all broadcast together: ``batch_shape`` is their shape."""

    arg_constraints = {"total_count": constraints.greater_than_eq(0),  # noqa: RUF012 - torch's
                       "probs": constraints.half_open_interval(0.0, 1.0), "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, total_count: Tensor | float, probs: Tensor | float | None = None,
                 logits: Tensor | float | None = None, validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("give exactly one of `probs` and `logits`")
        name = "probs" if probs is not None else "logits"
        count, param = broadcast_all(total_count, probs if probs is not None else logits)
        self.total_count = count.type_as(param)
        setattr(self, name, param)
        self._param = param
        super().__init__(param.shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> NegativeBinomial:
        names = ("total_count", "probs", "logits")
        return self._given(self._expanded(NegativeBinomial, names, batch_shape, batch_shape, _instance=_instance))

    @property
    def mean(self) -> Tensor:
        return self.total_count * self.logits.exp()

    @property
    def mode(self) -> Tensor:
        return ((self.total_count - 1) * self.logits.exp()).floor().clamp(min=0.0)

    @property
    def variance(self) -> Tensor:
        return self.mean / (-self.logits).sigmoid()

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """Poisson(Gamma(total_count, e^-logits)) counts in the parameters' dtype, shape ``sample_shape +
        batch_shape``."""
        with no_grad():
            rate = Gamma(self.total_count, (-self.logits).exp(), validate_args=False).sample(sample_shape)
            return poisson(rate)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        n = self.total_count
        unnormalized = n * logsigmoid(-self.logits) + value * logsigmoid(self.logits)
        normalization = -_lgamma(n + value) + _lgamma(1.0 + value) + _lgamma(n)
        return unnormalized - normalization.masked_fill(n + value == 0.0, 0.0)
