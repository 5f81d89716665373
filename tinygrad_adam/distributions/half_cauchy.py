"""``torch.distributions.half_cauchy``'s import path: ``HalfCauchy`` (defined in ``half_normal``)."""

from .half_normal import HalfCauchy

__all__ = ["HalfCauchy"]
