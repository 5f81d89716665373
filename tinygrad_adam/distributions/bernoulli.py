"""``Bernoulli(probs=None, logits=None)``: 0/1 values, 1 with probability ``probs`` (or sigmoid(``logits``))."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy

from ..creation import arange, bernoulli
from ..nn.functional import binary_cross_entropy_with_logits
from ..ops.factor import DtypeError
from ..tensor import Tensor
from . import constraints
from .distribution import follows_value
from .exp_family import ExponentialFamily
from .utils import NUMBERS, BinaryProbs, broadcast_all


class Bernoulli(BinaryProbs, ExponentialFamily):
    """Bernoulli distributions, from ``probs`` in [0, 1] or ``logits`` (log-odds), not both; a tensor or a number,
    whose shape is ``batch_shape``. The other parameterisation is computed on first use (``probs_to_logits``
    clamps to [eps, 1 - eps], so probs 0 gives finite logits and log_prob, as torch)."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}  # noqa: RUF012 - torch's
    support = constraints.boolean
    has_enumerate_support = True

    def __init__(self, probs: Tensor | float | None = None, logits: Tensor | float | None = None,
                 validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("give exactly one of `probs` and `logits`")
        if probs is not None:
            (self.probs,) = broadcast_all(probs)
        else:
            (self.logits,) = broadcast_all(logits)
        self._param = self.probs if probs is not None else self.logits
        scalar = isinstance(logits if probs is None else probs, NUMBERS)
        self._numbers = scalar
        super().__init__(() if scalar else self._param.shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Bernoulli:
        new = self._expanded(Bernoulli, ("probs", "logits"), batch_shape, batch_shape, _instance=_instance)
        return self._given(new)

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        """1 where probs > 0.5, 0 where below, nan at exactly 0.5 (no gradient)."""
        p = self.probs.detach()
        return (p >= 0.5).to(p.dtype).masked_fill(p == 0.5, float("nan"))

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """0/1 draws of shape ``sample_shape + batch_shape`` in the parameter's dtype, outside the graph."""
        probs = self.probs.detach()
        return bernoulli(probs.expand(self._extended_shape(sample_shape)))

    @follows_value
    def log_prob(self, value: Tensor) -> Tensor:
        """-BCE-with-logits(logits, value), stable for any logit, shape broadcast(value's, batch_shape), in the
        value's dtype; ``value`` must be floating (as torch: an integer one raises a RuntimeError, also a TypeError)."""
        if self._validate_args:
            self._validate_sample(value)
        logits = self.logits
        if isinstance(value, Tensor):
            if value.dtype.kind != "f":
                raise DtypeError(f"Bernoulli.log_prob: value must be floating point, got {value.dtype}; pass "
                                f"value.float()")
            wide = numpy.promote_types(logits.dtype, value.dtype)  # computed in the wider dtype, rounded once
            logits, value, dtype = logits.to(wide), value.to(wide), value.dtype  # to the value's (torch's dtype)
        else:
            dtype = logits.dtype  # a number (unvalidated) takes the logits' dtype
        logits, value = broadcast_all(logits, value)
        return -binary_cross_entropy_with_logits(logits, value, reduction="none").to(dtype)

    _mean_carrier_measure = 0

    @property
    def _natural_params(self) -> tuple[Tensor]:
        return (self.probs.logit(),)

    def _log_normalizer(self, x: Tensor) -> Tensor:
        return x.exp().log1p()

    def entropy(self) -> Tensor:
        return binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")

    def enumerate_support(self, expand: bool = True) -> Tensor:
        """[0, 1] in the parameter's dtype, shaped (2, 1, ...) or, with ``expand``, (2, *batch_shape)."""
        values = arange(2, dtype=self._param.dtype, device=self._param.device)
        values = values.reshape((-1,) + (1,) * len(self._batch_shape))
        return values.expand((-1, *self._batch_shape)) if expand else values
