"""``torch.distributions.relaxed_bernoulli``'s import path: ``LogitRelaxedBernoulli`` and
``RelaxedBernoulli`` (defined in ``relaxed``)."""

from .relaxed import LogitRelaxedBernoulli, RelaxedBernoulli

__all__ = ["LogitRelaxedBernoulli", "RelaxedBernoulli"]
