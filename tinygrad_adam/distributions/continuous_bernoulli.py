"""``ContinuousBernoulli(probs=None, logits=None, lims=(0.499, 0.501))``: density C(p) p^x (1 - p)^(1 - x) on
[0, 1]. Its normaliser C(p) = 2 atanh(1 - 2p) / (1 - 2p) is 0/0 at p = 1/2, so inside ``lims`` the closed forms
are evaluated at p = lims[0] (keeping their gradients finite) and torch's Taylor polynomials in (p - 1/2) are
returned instead."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..creation import ones_like, rand, zeros_like
from ..methods import FUNCTIONS
from ..nn.functional import binary_cross_entropy_with_logits
from ..tensor import Tensor
from . import constraints
from .distribution import follows_value
from .exp_family import ExponentialFamily
from .utils import NUMBERS, BinaryProbs, broadcast_all, clamp_probs, draw, lazy_property, logits_to_probs

_where, _expm1 = FUNCTIONS["where"], FUNCTIONS["expm1"]


class ContinuousBernoulli(BinaryProbs, ExponentialFamily):
    """Continuous Bernoulli distributions from ``probs`` in [0, 1] (clamped to [eps, 1 - eps]) or ``logits``, not
    both, a tensor or a number whose shape is ``batch_shape``. Within ``lims`` (around 1/2) log_prob, cdf, icdf,
    mean, variance and entropy use torch's Taylor expansions. As torch, an explicit ``validate_args`` (True or
    False) checks ``probs`` before the clamp; the default checks the clamped value."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}  # noqa: RUF012 - torch's
    support = constraints.unit_interval
    _mean_carrier_measure = 0
    has_rsample = True

    def __init__(self, probs: Tensor | float | None = None, logits: Tensor | float | None = None,
                 lims: tuple[float, float] = (0.499, 0.501), validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("give exactly one of `probs` and `logits`")
        if probs is not None:
            (self.probs,) = broadcast_all(probs)
            if validate_args is not None and not bool(constraints.unit_interval.check(self.probs.detach()).all()):
                raise ValueError("The parameter probs has invalid values; pass probs in [0, 1]")
            self.probs = clamp_probs(self.probs)
        else:
            (self.logits,) = broadcast_all(logits)
        self._param = self.probs if probs is not None else self.logits
        self._numbers = isinstance(logits if probs is None else probs, NUMBERS)
        self._lims = lims
        super().__init__(() if self._numbers else self._param.shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> ContinuousBernoulli:
        new = self._expanded(ContinuousBernoulli, ("probs", "logits"), batch_shape, batch_shape, _instance=_instance)
        new._lims = self._lims
        return self._given(new)

    @lazy_property
    def probs(self) -> Tensor:
        return clamp_probs(logits_to_probs(self.logits, is_binary=True))

    def _outside_unstable_region(self) -> Tensor:
        return (self.probs <= self._lims[0]) | (self.probs > self._lims[1])

    def _cut_probs(self) -> Tensor:
        """probs, or lims[0] inside the unstable region."""
        return _where(self._outside_unstable_region(), self.probs, self._lims[0] * ones_like(self.probs))

    def _cont_bern_log_norm(self) -> Tensor:
        """log C(p) = log |log1p(-p) - log p| - log |1 - 2p|; log 2 + 4/3 x + 104/45 x^2 (x = (p - 1/2)^2) inside
        ``lims``."""
        p = self._cut_probs()
        below, above = _where(p <= 0.5, p, zeros_like(p)), _where(p >= 0.5, p, ones_like(p))
        log_norm = ((-p).log1p() - p.log()).abs().log() - _where(p <= 0.5, (-2.0 * below).log1p(),
                                                                  (2.0 * above - 1.0).log())
        x = (self.probs - 0.5).pow(2)
        taylor = math.log(2.0) + (4.0 / 3.0 + 104.0 / 45.0 * x) * x
        return _where(self._outside_unstable_region(), log_norm, taylor)

    @property
    def mean(self) -> Tensor:
        p = self._cut_probs()
        mus = p / (2.0 * p - 1.0) + 1.0 / ((-p).log1p() - p.log())
        x = self.probs - 0.5
        taylor = 0.5 + (1.0 / 3.0 + 16.0 / 45.0 * x.pow(2)) * x
        return _where(self._outside_unstable_region(), mus, taylor)

    @property
    def variance(self) -> Tensor:
        p = self._cut_probs()
        variances = p * (p - 1.0) / (1.0 - 2.0 * p).pow(2) + 1.0 / ((-p).log1p() - p.log()).pow(2)
        x = (self.probs - 0.5).pow(2)
        taylor = 1.0 / 12.0 - (1.0 / 15.0 - 128.0 / 945.0 * x) * x
        return _where(self._outside_unstable_region(), variances, taylor)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """icdf(u) for u ~ U[0, 1): shape ``sample_shape + batch_shape``, gradients to the parameter."""
        u = draw(rand, tuple(self._extended_shape(sample_shape)), self.probs, "ContinuousBernoulli.rsample")
        return self.icdf(u)

    @follows_value
    def log_prob(self, value: Tensor) -> Tensor:
        """-BCE-with-logits(logits, value) + log C(p): shape broadcast(value's, batch_shape)."""
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return -binary_cross_entropy_with_logits(logits, value, reduction="none") + self._cont_bern_log_norm()

    @follows_value
    def cdf(self, value: Tensor) -> Tensor:
        """(p^x (1 - p)^(1 - x) + p - 1) / (2p - 1), x inside ``lims``; 0 at and below 0, 1 at and above 1."""
        if self._validate_args:
            self._validate_sample(value)
        p = self._cut_probs()
        cdfs = (p.pow(value) * (1.0 - p).pow(1.0 - value) + p - 1.0) / (2.0 * p - 1.0)
        unbounded = _where(self._outside_unstable_region(), cdfs, value)
        return _where(value <= 0.0, zeros_like(value), _where(value >= 1.0, ones_like(value), unbounded))

    @follows_value
    def icdf(self, value: Tensor) -> Tensor:
        """log1p((2p - 1) u - p) - log1p(-p), over log p - log1p(-p); u itself inside ``lims`` (not validated)."""
        p = self._cut_probs()
        inverse = ((-p + value * (2.0 * p - 1.0)).log1p() - (-p).log1p()) / (p.log() - (-p).log1p())
        return _where(self._outside_unstable_region(), inverse, value)

    def entropy(self) -> Tensor:
        log_probs0, log_probs1 = (-self.probs).log1p(), self.probs.log()
        return self.mean * (log_probs0 - log_probs1) - self._cont_bern_log_norm() - log_probs0

    @property
    def _natural_params(self) -> tuple[Tensor]:
        return (self.logits,)

    def _log_normalizer(self, x: Tensor) -> Tensor:
        """log |expm1(x)| - log |x| of the natural parameter x; x/2 + x^2/24 - x^4/2880 inside ``lims`` - 1/2."""
        outside = (x <= self._lims[0] - 0.5) | (x > self._lims[1] - 0.5)
        cut = _where(outside, x, (self._lims[0] - 0.5) * ones_like(x))
        log_norm = _expm1(cut).abs().log() - cut.abs().log()
        taylor = 0.5 * x + x.pow(2) / 24.0 - x.pow(4) / 2880.0
        return _where(outside, log_norm, taylor)
