"""``Categorical(probs=None, logits=None)``: integer classes 0..K-1 with the weights of the last dim."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy

from ..creation import arange, full, multinomial
from ..tensor import Tensor
from . import constraints
from .distribution import Distribution
from .utils import broadcast_shape, lazy_property, logits_to_probs, probs_to_logits, sizes


class Categorical(Distribution):
    """Categorical distributions over K classes from ``probs`` (..., K) (non-negative, normalised here over the last
    dim) or ``logits`` (..., K) (unnormalised log-probabilities, normalised by logsumexp), not both.
    ``batch_shape`` is the parameter's shape less its last dim; ``probs`` and ``logits`` read back normalised."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}  # noqa: RUF012 - torch's
    has_enumerate_support = True

    def __init__(self, probs: Tensor | None = None, logits: Tensor | None = None,
                 validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("give exactly one of `probs` and `logits`")
        name, param = ("probs", probs) if probs is not None else ("logits", logits)
        if not isinstance(param, Tensor):
            raise TypeError(f"Categorical: `{name}` must be a Tensor of shape (..., K), got {type(param).__name__}")
        if param.ndim < 1:
            raise ValueError(f"`{name}` needs at least one dim (the categories)")
        if probs is not None:
            self.probs = probs / probs.sum(-1, keepdim=True)
        else:
            self.logits = logits - logits.logsumexp(dim=-1, keepdim=True)
        self._param = self.probs if probs is not None else self.logits
        self._num_events = self._param.shape[-1]
        super().__init__(self._param.shape[:-1], validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Categorical:
        new = self._expanded(Categorical, ("probs", "logits"), (*batch_shape, self._num_events), batch_shape,
                             _instance=_instance)
        new._param = new.__dict__["logits" if "logits" in new.__dict__ else "probs"]
        new._num_events = self._num_events
        return new

    @property
    def support(self) -> constraints.Constraint:
        return constraints.integer_interval(0, self._num_events - 1)

    @lazy_property
    def logits(self) -> Tensor:
        return probs_to_logits(self.probs)

    @lazy_property
    def probs(self) -> Tensor:
        return logits_to_probs(self.logits)

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self._param.shape

    @property
    def mean(self) -> Tensor:
        """nan, shape ``batch_shape`` (classes have no mean)."""
        return full(self._extended_shape(), math.nan, dtype=self.probs.dtype, device=self.probs.device)

    @property
    def mode(self) -> Tensor:
        return self.probs.argmax(dim=-1)

    @property
    def variance(self) -> Tensor:
        return full(self._extended_shape(), math.nan, dtype=self.probs.dtype, device=self.probs.device)

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """int64 classes of shape ``sample_shape + batch_shape``."""
        n = math.prod(sizes(sample_shape))
        drawn = multinomial(self.probs.detach().reshape(-1, self._num_events), n, True)
        return drawn.T.reshape(self._extended_shape(sample_shape))

    def log_prob(self, value: Tensor) -> Tensor:
        """log p[value] for integer classes ``value`` (broadcast against ``batch_shape``; floats are truncated)."""
        if self._validate_args:
            self._validate_sample(value)
        if not isinstance(value, Tensor):
            raise TypeError(f"Categorical.log_prob: value must be a Tensor of classes, got {type(value).__name__}")
        value = value.long().unsqueeze(-1)
        shape = broadcast_shape(value.shape, self.logits.shape)
        return self.logits.broadcast_to(shape).gather(-1, value.broadcast_to(shape)[..., :1]).squeeze(-1)

    def entropy(self) -> Tensor:
        """-sum p log p over the classes (log p clamped at the dtype's lowest finite value, so p = 0 adds 0)."""
        logits = self.logits.clamp(min=float(numpy.finfo(self.logits.dtype).min))
        return -(logits * self.probs).sum(-1)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        """0..K-1 (int64), shaped (K, 1, ...) or, with ``expand``, (K, *batch_shape)."""
        values = arange(self._num_events, device=self._param.device).reshape((-1,) + (1,) * len(self._batch_shape))
        return values.expand((-1, *self._batch_shape)) if expand else values
