"""``LKJCholesky(dim, concentration)``: the LKJ distribution over the lower Cholesky factors L of dim x dim
correlation matrices, density proportional to det(L L^T)^(concentration - 1); sampled by torch's onion method
(each row a Beta-distributed squared length times a uniform direction), no rsample."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy

from ..autograd import no_grad
from ..creation import arange, randn
from ..methods import FUNCTIONS
from ..tensor import Tensor
from . import constraints
from .beta import Beta
from .distribution import Distribution
from .utils import broadcast_all, draw

_cat, _diag_embed, _mvlgamma, _where = (FUNCTIONS[k] for k in ("cat", "diag_embed", "mvlgamma", "where"))


class LKJCholesky(Distribution):
    """LKJ distributions of ``dim`` x ``dim`` (dim >= 2) correlation Cholesky factors with ``concentration`` (> 0,
    a tensor or number, whose shape is ``batch_shape``); ``event_shape`` is (dim, dim)."""

    arg_constraints = {"concentration": constraints.positive}  # noqa: RUF012 - torch's
    support = constraints.corr_cholesky

    def __init__(self, dim: int, concentration: Tensor | float = 1.0, validate_args: bool | None = None) -> None:
        if dim < 2:
            raise ValueError(f"LKJCholesky: dim={dim!r}; it has to be an integer of at least 2")
        self.dim = dim
        (self.concentration,) = broadcast_all(concentration)
        c = self.concentration
        offset = arange(dim - 1, dtype=c.dtype, device=c.device)
        offset = _cat([offset[:1] * 0, offset])
        marginal = c + 0.5 * (dim - 2)
        # row i >= 1: y_i ~ Beta(i / 2, concentration + (dim - 2) / 2 - (i - 1) / 2), the onion method (Lewandowski,
        # Kurowicka and Joe 2009, section 3.2); torch 2.13 takes i - 1/2 for the first parameter, so its rows below the
        # second are not LKJ-distributed (README)
        self._beta = Beta(0.5 * offset + 0.5, marginal.unsqueeze(-1) - 0.5 * offset)
        super().__init__(c.shape, (dim, dim), validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> LKJCholesky:
        new = self._expanded(LKJCholesky, ("concentration",), batch_shape, batch_shape, self.event_shape,
                             _instance=_instance)
        new.dim, new._beta = self.dim, self._beta.expand((*batch_shape, self.dim))
        return new

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """Row i of L: sqrt(y_i) times a uniform unit vector in its first i entries, and the diagonal entry that
        makes the row's norm 1 (y_i ~ Beta): shape ``sample_shape + batch_shape + (dim, dim)``, outside the
        graph."""
        with no_grad():
            y = self._beta.sample(sample_shape).unsqueeze(-1)
            u = draw(randn, tuple(self._extended_shape(sample_shape)), y, "LKJCholesky.sample").tril(-1)
            norm = u.norm(dim=-1, keepdim=True)
            w = y.sqrt() * u / _where(norm == 0, 1.0, norm)  # (the first row is all 0)
            tiny = float(numpy.finfo(w.dtype).tiny)
            return w + _diag_embed((1 - w.pow(2).sum(-1)).clamp(min=tiny).sqrt())

    def log_prob(self, value: Tensor) -> Tensor:
        """sum_i (2 (concentration - 1) + dim - i) log L_ii over i = 2..dim, less the normaliser: shape
        broadcast(value's batch, batch_shape)."""
        if self._validate_args:
            self._validate_sample(value)
        diag = value.diagonal(dim1=-1, dim2=-2)[..., 1:]
        order = arange(2, self.dim + 1, device=self.concentration.device)
        order = 2 * (self.concentration - 1).unsqueeze(-1) + self.dim - order
        unnormalized = (order * diag.log()).sum(-1)
        dm1 = self.dim - 1
        alpha = self.concentration + 0.5 * dm1
        normalizer = 0.5 * dm1 * math.log(math.pi) + _mvlgamma(alpha - 0.5, dm1) - alpha.lgamma() * dm1
        return unnormalized - normalizer
