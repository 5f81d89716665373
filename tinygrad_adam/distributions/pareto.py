"""``torch.distributions.pareto``'s import path: ``Pareto`` (defined in ``gumbel``)."""

from .gumbel import Pareto

__all__ = ["Pareto"]
