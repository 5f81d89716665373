"""``Binomial(total_count=1, probs=None, logits=None)``: successes in ``total_count`` Bernoulli trials."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy

from .. import backend
from ..creation import arange
from ..tensor import Tensor
from . import constraints
from .distribution import Distribution
from .utils import BinaryProbs, broadcast_all


def _clamp_by_zero(x: Tensor) -> Tensor:
    """max(x, 0) with gradient 1/2 at 0 (torch's)."""
    return (x.clamp(min=0) + x - x.clamp(max=0)) / 2


class Binomial(BinaryProbs, Distribution):
    """Binomial distributions with whole ``total_count`` (>= 0; a tensor or an int, converted to the probabilities'
    dtype) and success ``probs`` in [0, 1] or ``logits``, not both, all broadcast together: ``batch_shape`` is
    their shape."""

    arg_constraints = {"total_count": constraints.nonnegative_integer,  # noqa: RUF012 - torch's
                       "probs": constraints.unit_interval, "logits": constraints.real}
    has_enumerate_support = True

    def __init__(self, total_count: Tensor | int = 1, probs: Tensor | float | None = None,
                 logits: Tensor | float | None = None, validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("give exactly one of `probs` and `logits`")
        if probs is not None:
            self.total_count, self.probs = broadcast_all(total_count, probs)
            self.total_count = self.total_count.type_as(self.probs)
        else:
            self.total_count, self.logits = broadcast_all(total_count, logits)
            self.total_count = self.total_count.type_as(self.logits)
        self._param = self.probs if probs is not None else self.logits
        super().__init__(self._param.shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Binomial:
        names = ("total_count", "probs", "logits")
        return self._given(self._expanded(Binomial, names, batch_shape, batch_shape, _instance=_instance))

    @property
    def support(self) -> constraints.Constraint:
        return constraints.integer_interval(0, self.total_count)

    @property
    def mean(self) -> Tensor:
        return self.total_count * self.probs

    @property
    def mode(self) -> Tensor:
        return ((self.total_count + 1) * self.probs).floor().clamp(max=self.total_count)

    @property
    def variance(self) -> Tensor:
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """Success counts in the parameters' dtype, shape ``sample_shape + batch_shape``."""
        shape = self._extended_shape(sample_shape)
        probs = self.probs.detach()
        if probs.dtype.kind != "f":
            raise TypeError(f"Binomial.sample: needs floating-point parameters, got {probs.dtype}")
        xp = probs.xp
        n = xp.broadcast_to(self.total_count._data, shape).astype(numpy.float64)
        p = xp.broadcast_to(probs._data, shape).astype(numpy.float64)
        if not bool(((n >= 0) & (n % 1 == 0) & (p >= 0) & (p <= 1)).all()):
            raise ValueError("Binomial.sample: total_count must be whole and >= 0 and probs in [0, 1]")
        drawn = backend.binomial(probs.device, n.astype(numpy.int64), p)
        return Tensor(drawn.astype(probs.dtype), device=probs.device)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        n, logits = self.total_count, self.logits
        normalize = n * _clamp_by_zero(logits) + n * (-logits.abs()).exp().log1p() - (n + 1).lgamma()
        return value * logits - (value + 1).lgamma() - (n - value + 1).lgamma() - normalize

    def _homogeneous_count(self, who: str) -> int:
        total = int(self.total_count.max().item())
        if not self.total_count.min().item() == total:
            raise NotImplementedError(f"Inhomogeneous total count not supported by `{who}`.")
        return total

    def entropy(self) -> Tensor:
        """-sum_k p(k) log p(k) over 0..total_count (one total_count for the whole batch, as torch)."""
        self._homogeneous_count("entropy")
        log_prob = self.log_prob(self.enumerate_support(False))
        return -(log_prob.exp() * log_prob).sum(0)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        """0..total_count in the parameters' dtype, shaped (n + 1, 1, ...) or, with ``expand``, (n + 1, *batch)."""
        total = self._homogeneous_count("enumerate_support")
        values = arange(1 + total, dtype=self._param.dtype, device=self._param.device)
        values = values.reshape((-1,) + (1,) * len(self._batch_shape))
        return values.expand((-1, *self._batch_shape)) if expand else values
