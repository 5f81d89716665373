"""Continuous relaxations of the Bernoulli and one-hot categorical (Concrete / Gumbel-softmax), with
reparameterised samples: ``LogitRelaxedBernoulli`` / ``RelaxedBernoulli(temperature, probs=None, logits=None)`` and
``ExpRelaxedCategorical`` / ``RelaxedOneHotCategorical(temperature, probs=None, logits=None)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..creation import full_like, rand
from ..methods import FUNCTIONS
from ..tensor import Tensor
from . import constraints
from .categorical import Categorical
from .distribution import Distribution
from .transformed_distribution import TransformedDistribution
from .transforms import ExpTransform, SigmoidTransform
from .utils import broadcast_all, clamp_probs, draw, lazy_property, logits_to_probs, probs_to_logits

_lgamma = FUNCTIONS["lgamma"]


class LogitRelaxedBernoulli(Distribution):
    """The logit of a relaxed Bernoulli: (logit u + logits) / temperature for u uniform; ``temperature`` a Tensor
    (> 0), ``probs`` or ``logits`` (tensors or numbers) giving ``batch_shape``."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}  # noqa: RUF012 - torch's
    support = constraints.real
    has_rsample = True

    def __init__(self, temperature: Tensor, probs: Tensor | float | None = None, logits: Tensor | float | None = None,
                 validate_args: bool | None = None) -> None:
        self.temperature = temperature
        if (probs is None) == (logits is None):
            raise ValueError("give exactly one of `probs` and `logits`")
        name = "probs" if probs is not None else "logits"
        (param,) = broadcast_all(probs if probs is not None else logits)
        setattr(self, name, param)
        self._param = param
        super().__init__(param.shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> LogitRelaxedBernoulli:
        new = self._expanded(LogitRelaxedBernoulli, ("probs", "logits"), batch_shape, batch_shape,
                             _instance=_instance)
        new.temperature = self.temperature
        new._param = new.__dict__["logits" if "logits" in new.__dict__ else "probs"]
        return new

    @lazy_property
    def logits(self) -> Tensor:
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self) -> Tensor:
        return logits_to_probs(self.logits, is_binary=True)

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self._param.shape

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """(logit u + logit p) / temperature, u and p clamped to [eps, 1 - eps]: shape ``sample_shape +
        batch_shape``."""
        shape = self._extended_shape(sample_shape)
        probs = clamp_probs(self.probs.expand(shape))
        u = clamp_probs(draw(rand, shape, probs, "LogitRelaxedBernoulli.rsample"))
        return (u.log() - (-u).log1p() + probs.log() - (-probs).log1p()) / self.temperature

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        diff = logits - value * self.temperature
        return self.temperature.log() + diff - 2 * diff.exp().log1p()


class _RelaxedParams:
    """A relaxed distribution's ``temperature``, ``logits`` and ``probs``: its base distribution's."""

    base_dist: Any

    @property
    def temperature(self) -> Tensor:
        return self.base_dist.temperature

    @property
    def logits(self) -> Tensor:
        return self.base_dist.logits

    @property
    def probs(self) -> Tensor:
        return self.base_dist.probs


class RelaxedBernoulli(_RelaxedParams, TransformedDistribution):
    """sigmoid of a ``LogitRelaxedBernoulli``: values in (0, 1), concentrating on {0, 1} as temperature -> 0."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}  # noqa: RUF012 - torch's
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, temperature: Tensor, probs: Tensor | float | None = None, logits: Tensor | float | None = None,
                 validate_args: bool | None = None) -> None:
        base = LogitRelaxedBernoulli(temperature, probs, logits)
        super().__init__(base, SigmoidTransform(), validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> RelaxedBernoulli:
        return super().expand(batch_shape, _instance=self._get_checked_instance(RelaxedBernoulli, _instance))


class ExpRelaxedCategorical(Distribution):
    """The log of a relaxed one-hot categorical: log-softmax((logits + Gumbel noise) / temperature) over the K
    classes (``event_shape`` (K,)), ``temperature`` a Tensor (> 0)."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}  # noqa: RUF012 - torch's
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, temperature: Tensor, probs: Tensor | None = None, logits: Tensor | None = None,
                 validate_args: bool | None = None) -> None:
        self._categorical = Categorical(probs, logits)
        self.temperature = temperature
        super().__init__(self._categorical.batch_shape, self._categorical.param_shape[-1:],
                         validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> ExpRelaxedCategorical:
        new = self._expanded(ExpRelaxedCategorical, (), (), batch_shape, self.event_shape, _instance=_instance)
        new.temperature = self.temperature
        new._categorical = self._categorical.expand(batch_shape)
        return new

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self._categorical.param_shape

    @property
    def logits(self) -> Tensor:
        return self._categorical.logits

    @property
    def probs(self) -> Tensor:
        return self._categorical.probs

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """Shape ``sample_shape + batch_shape + (K,)``; each vector's exp sums to 1."""
        u = clamp_probs(draw(rand, self._extended_shape(sample_shape), self.logits, "ExpRelaxedCategorical.rsample"))
        scores = (self.logits - (-u.log()).log()) / self.temperature
        return scores - scores.logsumexp(dim=-1, keepdim=True)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        k = self._categorical._num_events
        logits, value = broadcast_all(self.logits, value)
        log_scale = _lgamma(full_like(self.temperature, float(k))) + self.temperature.log() * (k - 1)
        score = logits - value * self.temperature
        return (score - score.logsumexp(dim=-1, keepdim=True)).sum(-1) + log_scale


class RelaxedOneHotCategorical(_RelaxedParams, TransformedDistribution):
    """exp of an ``ExpRelaxedCategorical``: points of the simplex, concentrating on its vertices as temperature
    -> 0."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}  # noqa: RUF012 - torch's
    support = constraints.simplex
    has_rsample = True

    def __init__(self, temperature: Tensor, probs: Tensor | None = None, logits: Tensor | None = None,
                 validate_args: bool | None = None) -> None:
        base = ExpRelaxedCategorical(temperature, probs, logits, validate_args=validate_args)
        super().__init__(base, ExpTransform(), validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> RelaxedOneHotCategorical:
        return super().expand(batch_shape, _instance=self._get_checked_instance(RelaxedOneHotCategorical, _instance))
