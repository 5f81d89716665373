"""``MultivariateNormal(loc, covariance_matrix=None, precision_matrix=None, scale_tril=None)``: the Gaussian on R^n
from a mean vector and one of a covariance, a precision or a lower Cholesky factor, everything computed from the
(unbroadcast) Cholesky factor L of the covariance, with gradients through ``linalg.cholesky`` /
``solve_triangular`` / ``cholesky_inverse``."""

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
from .utils import broadcast_shape, draw, lazy_property

_cholesky_inverse, _flip = FUNCTIONS["cholesky_inverse"], FUNCTIONS["flip"]


def batch_mahalanobis(L: Tensor, x: Tensor) -> Tensor:
    """x^T (L L^T)^-1 x for lower-triangular L (..., n, n) and vectors x (..., n), batch dims broadcast: shape
    broadcast(L's batch, x's batch)."""
    return solve_triangular(L, x.unsqueeze(-1), upper=False).squeeze(-1).pow(2).sum(-1)


def precision_to_scale_tril(P: Tensor) -> Tensor:
    """The lower Cholesky factor L of P^-1 (..., n, n), from the Cholesky factor of P with its rows and columns
    reversed (which is upper-triangular once flipped back), without forming P^-1."""
    lf = cholesky(_flip(P, (-2, -1)))
    l_inv = _flip(lf, (-2, -1)).mT
    return solve_triangular(l_inv, eye(P.shape[-1], dtype=P.dtype, device=P.device), upper=False)


def half_log_det(L: Tensor) -> Tensor:
    """log |det L| for a lower-triangular L with a positive diagonal: sum of log diagonal, shape L's batch."""
    return L.diagonal(dim1=-2, dim2=-1).log().sum(-1)


class TrilMatrices:
    """``scale_tril``, ``covariance_matrix`` (L L^T) and ``precision_matrix`` of a distribution that keeps its
    lower Cholesky factor L as ``_unbroadcasted_scale_tril``, each expanded to its ``_matrix_shape()``
    (MultivariateNormal's covariance; Wishart's scale)."""

    _unbroadcasted_scale_tril: Tensor
    _matrix_shape: Any  # () -> the (*batch, n, n) shape, defined by each class

    def _set_scale_tril(self, name: str, matrix: Tensor) -> None:
        """L from the one matrix the distribution was given, named ``name`` (scale_tril, covariance_matrix or
        precision_matrix)."""
        if name == "scale_tril":
            self._unbroadcasted_scale_tril = matrix
        elif name == "covariance_matrix":
            self._unbroadcasted_scale_tril = cholesky(matrix)
        else:
            self._unbroadcasted_scale_tril = precision_to_scale_tril(matrix)

    @lazy_property
    def scale_tril(self) -> Tensor:
        return self._unbroadcasted_scale_tril.expand(self._matrix_shape())

    @lazy_property
    def covariance_matrix(self) -> Tensor:
        L = self._unbroadcasted_scale_tril
        return (L @ L.mT).expand(self._matrix_shape())

    @lazy_property
    def precision_matrix(self) -> Tensor:
        return _cholesky_inverse(self._unbroadcasted_scale_tril).expand(self._matrix_shape())


class MultivariateNormal(TrilMatrices, Distribution):
    """Multivariate normal distributions with mean ``loc`` (..., n) and exactly one of ``covariance_matrix`` /
    ``precision_matrix`` (..., n, n) (symmetric positive-definite) or ``scale_tril`` (..., n, n) (lower-triangular,
    positive diagonal): ``batch_shape`` is the broadcast of their batch dims, ``event_shape`` (n,)."""

    arg_constraints = {"loc": constraints.real_vector,  # noqa: RUF012 - torch's
                       "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite, "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc: Tensor, covariance_matrix: Tensor | None = None, precision_matrix: Tensor | None = None,
                 scale_tril: Tensor | None = None, validate_args: bool | None = None) -> None:
        given = {k: v for k, v in (("covariance_matrix", covariance_matrix), ("precision_matrix", precision_matrix),
                                   ("scale_tril", scale_tril)) if v is not None}
        for name, value in {"loc": loc, **given}.items():
            if not isinstance(value, Tensor):
                raise TypeError(f"MultivariateNormal: `{name}` must be a Tensor, got {type(value).__name__}")
        if loc.ndim < 1:
            raise ValueError("loc needs at least one dim (the event)")
        if len(given) != 1:
            raise ValueError("give just one of covariance_matrix, precision_matrix and scale_tril")
        (name, matrix), = given.items()
        if matrix.ndim < 2:
            raise ValueError(f"{name} needs 2 or more dimensions: (..., n, n)")
        n = loc.shape[-1]
        if matrix.shape[-2:] != (n, n):
            raise ValueError(f"MultivariateNormal: {name} of shape {tuple(matrix.shape)} does not fit loc of shape "
                             f"{tuple(loc.shape)}: its last two dims must be ({n}, {n})")
        batch_shape = broadcast_shape(tuple(matrix.shape[:-2]), tuple(loc.shape[:-1]))
        setattr(self, name, matrix.expand((*batch_shape, n, n)))
        self.loc = loc.expand((*batch_shape, n))
        super().__init__(batch_shape, (n,), validate_args=validate_args)
        self._set_scale_tril(name, matrix)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> MultivariateNormal:
        event = self.event_shape
        new = self._expanded(MultivariateNormal, ("loc",), (*batch_shape, *event), batch_shape, event,
                             _instance=_instance)
        for name in ("covariance_matrix", "precision_matrix", "scale_tril"):
            if name in self.__dict__:
                setattr(new, name, self.__dict__[name].expand((*batch_shape, *event, *event)))
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        return new

    def _matrix_shape(self) -> Size:
        return self._batch_shape + self._event_shape + self._event_shape

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return self._unbroadcasted_scale_tril.pow(2).sum(-1).expand(self._batch_shape + self._event_shape)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """loc + L eps with eps ~ N(0, I): shape ``sample_shape + batch_shape + (n,)`` in loc's dtype."""
        eps = draw(randn, self._extended_shape(sample_shape), self.loc, "MultivariateNormal.rsample")
        return self.loc + (self._unbroadcasted_scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, value: Tensor) -> Tensor:
        """-(n log 2 pi + Mahalanobis distance) / 2 - log |L|: shape broadcast(value's, batch_shape + (n,)) less
        the last dim."""
        if self._validate_args:
            self._validate_sample(value)
        L = self._unbroadcasted_scale_tril  # a value of another dtype is cast to L's: torch's solve does that
        m = batch_mahalanobis(L, (value - self.loc).to(L.dtype))
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + m) - half_log_det(L)

    def entropy(self) -> Tensor:
        h = 0.5 * self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + half_log_det(self._unbroadcasted_scale_tril)
        return h.expand(self._batch_shape)
