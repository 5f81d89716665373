"""``torch.distributions.log_normal``'s import path: ``LogNormal`` (defined in ``transformed_distribution``)."""

from .transformed_distribution import LogNormal

__all__ = ["LogNormal"]
