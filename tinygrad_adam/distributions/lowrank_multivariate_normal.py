"""``LowRankMultivariateNormal(loc, cov_factor, cov_diag)``: the Gaussian on R^n with covariance W W^T + diag(D)
(W of rank m), scored through the m x m capacitance matrix C = I + W^T D^-1 W (Woodbury identity and matrix
determinant lemma), so nothing n x n is factored."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..creation import eye, randn
from ..linalg import cholesky, solve_triangular
from ..methods import FUNCTIONS, Size
from ..tensor import Tensor
from . import constraints
from .distribution import Distribution
from .multivariate_normal import batch_mahalanobis, half_log_det
from .utils import broadcast_shape, draw, lazy_property

_diag_embed = FUNCTIONS["diag_embed"]


def capacitance_tril(W: Tensor, D: Tensor) -> Tensor:
    """The Cholesky factor of C = I + W^T D^-1 W: W (..., n, m), D (..., n) -> (..., m, m), batch dims broadcast."""
    C = (W.mT / D.unsqueeze(-2)) @ W
    return cholesky(C + eye(W.shape[-1], dtype=C.dtype, device=C.device))


def lowrank_logdet(W: Tensor, D: Tensor, cap_tril: Tensor) -> Tensor:
    """log det(W W^T + diag D) = log det C + sum log D: shape the broadcast batch."""
    return 2 * half_log_det(cap_tril) + D.log().sum(-1)


def lowrank_mahalanobis(W: Tensor, D: Tensor, x: Tensor, cap_tril: Tensor) -> Tensor:
    """x^T (W W^T + diag D)^-1 x = x^T D^-1 x - |L_C^-1 W^T D^-1 x|^2 for vectors x (..., n): shape the broadcast
    batch."""
    wt_dinv_x = ((W.mT / D.unsqueeze(-2)) @ x.unsqueeze(-1)).squeeze(-1)
    return (x.pow(2) / D).sum(-1) - batch_mahalanobis(cap_tril, wt_dinv_x)


def trace_xxt(X: Tensor) -> Tensor:
    """trace(X X^T), the squared Frobenius norm of each matrix (..., a, b): shape (...)."""
    return X.pow(2).sum((-2, -1))


class LowRankMultivariateNormal(Distribution):
    """Multivariate normal distributions with mean ``loc`` (..., n) and covariance ``cov_factor`` ``cov_factor``^T
    + diag(``cov_diag``): ``cov_factor`` (..., n, m) real, ``cov_diag`` (..., n) positive. ``batch_shape`` is the
    broadcast of the three batch dims, ``event_shape`` (n,)."""

    arg_constraints = {"loc": constraints.real_vector,  # noqa: RUF012 - torch's
                       "cov_factor": constraints.independent(constraints.real, 2),
                       "cov_diag": constraints.independent(constraints.positive, 1)}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc: Tensor, cov_factor: Tensor, cov_diag: Tensor, validate_args: bool | None = None) -> None:
        for name, value in (("loc", loc), ("cov_factor", cov_factor), ("cov_diag", cov_diag)):
            if not isinstance(value, Tensor):
                raise TypeError(f"LowRankMultivariateNormal: `{name}` must be a Tensor, got {type(value).__name__}")
        if loc.ndim < 1:
            raise ValueError("loc needs at least one dim (the event)")
        n = loc.shape[-1]
        if cov_factor.ndim < 2:
            raise ValueError("cov_factor needs 2 or more dimensions: (..., n, rank)")
        if cov_factor.shape[-2] != n:
            raise ValueError(f"cov_factor needs shape (..., {n}, m): matrices with {n} rows")
        if cov_diag.shape[-1:] != (n,):
            raise ValueError(f"cov_diag needs shape (..., {n}): vectors of length {n}")
        try:
            shape = broadcast_shape(tuple(loc.shape) + (1,), tuple(cov_factor.shape), tuple(cov_diag.shape) + (1,))
        except ValueError:
            raise ValueError(f"Incompatible batch shapes: loc {tuple(loc.shape)}, cov_factor "
                             f"{tuple(cov_factor.shape)}, cov_diag {tuple(cov_diag.shape)}") from None
        self.loc, self.cov_diag = loc.expand(shape[:-1]), cov_diag.expand(shape[:-1])
        self.cov_factor = cov_factor.expand(shape)
        self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag = cov_factor, cov_diag
        self._capacitance_tril = capacitance_tril(cov_factor, cov_diag)
        super().__init__(shape[:-2], (n,), validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> LowRankMultivariateNormal:
        shape = (*batch_shape, *self.event_shape)
        new = self._expanded(LowRankMultivariateNormal, ("loc", "cov_diag"), shape, batch_shape, self.event_shape,
                             _instance=_instance)
        new.cov_factor = self.cov_factor.expand((*shape, self.cov_factor.shape[-1]))
        for name in ("_unbroadcasted_cov_factor", "_unbroadcasted_cov_diag", "_capacitance_tril"):
            setattr(new, name, getattr(self, name))
        return new

    def _matrix_shape(self) -> Size:
        return self._batch_shape + self._event_shape + self._event_shape

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @lazy_property
    def variance(self) -> Tensor:
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        return (W.pow(2).sum(-1) + D).expand(self._batch_shape + self._event_shape)

    @lazy_property
    def scale_tril(self) -> Tensor:
        """sqrt(D) chol(I + D^-1/2 W W^T D^-1/2), the lower Cholesky factor of the covariance."""
        sqrt_d = self._unbroadcasted_cov_diag.sqrt().unsqueeze(-1)
        scaled = self._unbroadcasted_cov_factor / sqrt_d
        K = scaled @ scaled.mT
        K = K + eye(K.shape[-1], dtype=K.dtype, device=K.device)
        return (sqrt_d * cholesky(K)).expand(self._matrix_shape())

    @lazy_property
    def covariance_matrix(self) -> Tensor:
        W = self._unbroadcasted_cov_factor
        return (W @ W.mT + _diag_embed(self._unbroadcasted_cov_diag)).expand(self._matrix_shape())

    @lazy_property
    def precision_matrix(self) -> Tensor:
        """D^-1 - A^T A with A = L_C^-1 W^T D^-1 (Woodbury)."""
        D = self._unbroadcasted_cov_diag
        A = solve_triangular(self._capacitance_tril, self._unbroadcasted_cov_factor.mT / D.unsqueeze(-2),
                             upper=False)
        return (_diag_embed(D.reciprocal()) - A.mT @ A).expand(self._matrix_shape())

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """loc + W eps_W + sqrt(D) eps_D with standard normal eps_W (m,) and eps_D (n,): shape ``sample_shape +
        batch_shape + (n,)``."""
        shape = self._extended_shape(sample_shape)
        W = self._unbroadcasted_cov_factor
        eps_w = draw(randn, (*shape[:-1], W.shape[-1]), self.loc, "LowRankMultivariateNormal.rsample")
        eps_d = draw(randn, tuple(shape), self.loc, "LowRankMultivariateNormal.rsample")
        return self.loc + (W @ eps_w.unsqueeze(-1)).squeeze(-1) + self._unbroadcasted_cov_diag.sqrt() * eps_d

    def _log_det(self) -> Tensor:
        return lowrank_logdet(self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag, self._capacitance_tril)

    def log_prob(self, value: Tensor) -> Tensor:
        """-(n log 2 pi + log det + Mahalanobis distance) / 2: shape broadcast(value's, batch_shape + (n,)) less the
        last dim."""
        if self._validate_args:
            self._validate_sample(value)
        m = lowrank_mahalanobis(self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag, value - self.loc,
                                self._capacitance_tril)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + self._log_det() + m)

    def entropy(self) -> Tensor:
        h = 0.5 * (self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + self._log_det())
        return h.expand(self._batch_shape)
