"""``OneHotCategorical(probs=None, logits=None)``: a Categorical whose samples are one-hot vectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..creation import eye
from ..methods import FUNCTIONS
from ..tensor import Tensor
from . import constraints
from .categorical import Categorical
from .distribution import Distribution

_one_hot = FUNCTIONS["one_hot"]


class OneHotCategorical(Distribution):
    """One-hot vectors of length K (the event shape) with the class weights ``probs`` (..., K) or ``logits``
    (..., K) of a ``Categorical``; ``batch_shape`` is the parameter's shape less its last dim."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}  # noqa: RUF012 - torch's
    support = constraints.one_hot
    has_enumerate_support = True

    def __init__(self, probs: Tensor | None = None, logits: Tensor | None = None,
                 validate_args: bool | None = None) -> None:
        self._categorical = Categorical(probs, logits)
        super().__init__(self._categorical.batch_shape, self._categorical.param_shape[-1:],
                         validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> OneHotCategorical:
        new = self._expanded(OneHotCategorical, (), (), batch_shape, self.event_shape, _instance=_instance)
        new._categorical = self._categorical.expand(batch_shape)
        return new

    @property
    def _param(self) -> Tensor:
        return self._categorical._param

    @property
    def probs(self) -> Tensor:
        return self._categorical.probs

    @property
    def logits(self) -> Tensor:
        return self._categorical.logits

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self._categorical.param_shape

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        probs = self.probs
        return _one_hot(probs.argmax(dim=-1), probs.shape[-1]).to(probs.dtype)

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """One-hot vectors in the parameter's dtype, shape ``sample_shape + batch_shape + (K,)``."""
        indices = self._categorical.sample(sample_shape)
        return _one_hot(indices, self._categorical._num_events).to(self.probs.dtype)

    def log_prob(self, value: Tensor) -> Tensor:
        """log p of the class where ``value`` (..., K) is largest (first of ties)."""
        if self._validate_args:
            self._validate_sample(value)
        return self._categorical.log_prob(value.argmax(-1))

    def entropy(self) -> Tensor:
        return self._categorical.entropy()

    def enumerate_support(self, expand: bool = True) -> Tensor:
        """The K one-hot vectors, shaped (K, 1, ..., K) or, with ``expand``, (K, *batch_shape, K)."""
        n = self.event_shape[0]
        values = eye(n, dtype=self._param.dtype, device=self._param.device)
        values = values.reshape((n,) + (1,) * len(self.batch_shape) + (n,))
        return values.expand((n, *self.batch_shape, n)) if expand else values


class OneHotCategoricalStraightThrough(OneHotCategorical):
    """``OneHotCategorical`` with the straight-through ``rsample``: a one-hot sample whose gradient is that of
    ``probs`` (sample + probs - probs.detach())."""

    has_rsample = True

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """One-hot draws of shape ``sample_shape + batch_shape + (K,)``; d rsample / d probs = identity."""
        probs = self._categorical.probs
        return self.sample(sample_shape) + (probs - probs.detach())
