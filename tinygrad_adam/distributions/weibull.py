"""``torch.distributions.weibull``'s import path: ``Weibull`` (defined in ``gumbel``)."""

from .gumbel import Weibull

__all__ = ["Weibull"]
