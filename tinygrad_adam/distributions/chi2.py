"""``torch.distributions.chi2``'s import path: ``Chi2`` (defined in ``gamma``)."""

from .gamma import Chi2

__all__ = ["Chi2"]
