"""``Dirichlet(concentration)``: probability vectors on the simplex, with a reparameterised ``rsample`` (Gamma
draws normalised; their implicit gradients, see ``gamma.py``, flow through the normalisation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy

from ..methods import FUNCTIONS
from ..tensor import Tensor
from . import constraints
from .exp_family import ExponentialFamily
from .gamma import standard_gamma

_xlogy, _lgamma, _digamma, _one_hot, _where = (FUNCTIONS[k] for k in ("xlogy", "lgamma", "digamma", "one_hot",
                                                                      "where"))


class Dirichlet(ExponentialFamily):
    """Dirichlet distributions with ``concentration`` (..., K) (> 0): ``batch_shape`` is its shape less the last
    dim, ``event_shape`` (K,)."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}  # noqa: RUF012
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration: Tensor, validate_args: bool | None = None) -> None:
        if not isinstance(concentration, Tensor):
            raise TypeError(f"Dirichlet: `concentration` must be a Tensor of shape (..., K), got "
                            f"{type(concentration).__name__}")
        if concentration.ndim < 1:
            raise ValueError("Dirichlet: `concentration` needs at least one dim (the categories)")
        self.concentration = concentration
        super().__init__(concentration.shape[:-1], concentration.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Dirichlet:
        return self._expanded(Dirichlet, ("concentration",), (*batch_shape, *self.event_shape), batch_shape,
                              self.event_shape, _instance=_instance)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """Gamma(concentration, 1) draws divided by their sum over the last dim: shape ``sample_shape +
        batch_shape + (K,)``, each entry clamped to [the dtype's tiny, the float just below 1] as torch's
        ``_sample_dirichlet`` (a Beta(0.01, 0.01) draw is never exactly 0 or 1, where log_prob is inf)."""
        c = self.concentration
        if c.dtype.kind != "f":
            raise TypeError(f"Dirichlet.rsample: sampling needs a floating-point concentration, got {c.dtype}")
        gammas = standard_gamma(c.expand(self._extended_shape(sample_shape)))
        x = gammas / gammas.sum(-1, keepdim=True)
        tiny, below_one = float(numpy.finfo(x.dtype).tiny), float(numpy.nextafter(x.dtype.type(1), x.dtype.type(0)))
        return x + (x.detach().clamp(min=tiny, max=below_one) - x.detach())

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        c = self.concentration
        return _xlogy(c - 1.0, value).sum(-1) + _lgamma(c.sum(-1)) - _lgamma(c).sum(-1)

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.concentration.sum(-1, True)

    @property
    def mode(self) -> Tensor:
        """(c - 1)+ normalised; where every c < 1, the vertex of the largest such entry (the first: all are nan)."""
        cm1 = (self.concentration - 1).clamp(min=0.0)
        mode = cm1 / cm1.sum(-1, True)
        vertex = _one_hot(mode.argmax(dim=-1), cm1.shape[-1]).to(mode.dtype)
        return _where((self.concentration < 1).all(dim=-1, keepdim=True), vertex, mode)

    @property
    def variance(self) -> Tensor:
        c = self.concentration
        total = c.sum(-1, True)
        return c * (total - c) / (total.pow(2) * (total + 1))

    @property
    def _natural_params(self) -> tuple[Tensor]:
        return (self.concentration,)

    def _log_normalizer(self, x: Tensor) -> Tensor:
        return x.lgamma().sum(-1) - x.sum(-1).lgamma()

    def entropy(self) -> Tensor:
        c = self.concentration
        k, total = c.shape[-1], c.sum(-1)
        return (_lgamma(c).sum(-1) - _lgamma(total) - (k - total) * _digamma(total)
                - ((c - 1.0) * _digamma(c)).sum(-1))
