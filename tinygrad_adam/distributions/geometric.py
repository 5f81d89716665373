"""``Geometric(probs=None, logits=None)``: the number of failures before the first success, (1 - p)^k p."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy

from ..autograd import no_grad
from ..creation import rand, zeros_like
from ..methods import FUNCTIONS
from ..nn.functional import logsigmoid
from ..tensor import Tensor
from . import constraints
from .distribution import Distribution, _all_true, follows_value
from .utils import NUMBERS, BinaryProbs, broadcast_all, draw

_where = FUNCTIONS["where"]


class Geometric(BinaryProbs, Distribution):
    """Geometric distributions from success ``probs`` in (0, 1] or ``logits``, not both; a tensor or a number,
    whose shape is ``batch_shape``."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}  # noqa: RUF012 - torch's
    support = constraints.nonnegative_integer

    def __init__(self, probs: Tensor | float | None = None, logits: Tensor | float | None = None,
                 validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("give exactly one of `probs` and `logits`")
        if probs is not None:
            (self.probs,) = broadcast_all(probs)
        else:
            (self.logits,) = broadcast_all(logits)
        given = probs if probs is not None else logits
        self._numbers = isinstance(given, NUMBERS)
        param = self.probs if probs is not None else self.logits
        super().__init__(() if self._numbers else param.shape, validate_args=validate_args)
        if self._validate_args and probs is not None and not _all_true(self.probs > 0):
            raise ValueError(f"probs (shape {tuple(self.probs.shape)}) of {self!r} must be positive everywhere; fix "
                             f"them, or pass validate_args=False")

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Geometric:
        return self._expanded(Geometric, ("probs", "logits"), batch_shape, batch_shape, _instance=_instance)

    @property
    def mean(self) -> Tensor:
        return 1.0 / self.probs - 1.0

    @property
    def mode(self) -> Tensor:
        return zeros_like(self.probs)

    @property
    def variance(self) -> Tensor:
        return (1.0 / self.probs - 1.0) / self.probs

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """floor(log u / log(1 - p)) with u uniform on [tiny, 1), in probs' dtype."""
        with no_grad():
            probs = self.probs
            u = draw(rand, self._extended_shape(sample_shape), probs, "Geometric.sample")
            u = u.clamp(min=float(numpy.finfo(u.dtype).tiny))
            return (u.log() / (-probs).log1p()).floor()

    @follows_value
    def log_prob(self, value: Tensor) -> Tensor:
        """value log(1 - p) + log p, with the first term 0 where p = 1 and value = 0."""
        if self._validate_args:
            self._validate_sample(value)
        value, probs = broadcast_all(value, self.probs)
        probs = _where((probs == 1) & (value == 0), 0.0, probs)
        return value * (-probs).log1p() + self.probs.log()

    def entropy(self) -> Tensor:
        """BCE(logits, probs) / probs, the BCE composed as torch's ((1 - p) z - logsigmoid(z)), whose rounding the
        division by a small p magnifies."""
        p, z = self.probs, self.logits
        return ((1 - p) * z - logsigmoid(z)) / p
