"""``torch.distributions.logistic_normal``'s import path: ``LogisticNormal`` (defined in ``half_normal``)."""

from .half_normal import LogisticNormal

__all__ = ["LogisticNormal"]
