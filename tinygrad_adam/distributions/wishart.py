"""``Wishart(df, covariance_matrix=None, precision_matrix=None, scale_tril=None)``: the distribution of positive
definite p x p matrices X = sum of df outer products of N(0, V) vectors (for real df > p - 1 in general), with V
given by one of a covariance, a precision or its lower Cholesky factor L; everything is computed from the
(unbroadcast) L, as ``MultivariateNormal`` does. Samples use the Bartlett decomposition: X = (L A)(L A)^T with A
lower-triangular, sqrt(chi2(df - i)) on the diagonal and N(0, 1) below it."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy

from ..creation import arange, eye, randn, tensor
from ..linalg import cholesky_ex, slogdet
from ..methods import FUNCTIONS
from ..tensor import Tensor
from . import constraints
from .exp_family import ExponentialFamily
from .gamma import Chi2
from .multivariate_normal import TrilMatrices, half_log_det
from .utils import NUMBERS, broadcast_shape

_cholesky_solve, _mvlgamma = (FUNCTIONS[n] for n in ("cholesky_solve", "mvlgamma"))
_where, _tril_indices = FUNCTIONS["where"], FUNCTIONS["tril_indices"]


def mvdigamma(x: Tensor, p: int) -> Tensor:
    """The derivative of ``mvlgamma(x, p)``: sum of digamma(x - i / 2) for i < p, shape x's."""
    offsets = arange(p, dtype=x.dtype, device=x.device) / 2
    return (x.unsqueeze(-1) - offsets).digamma().sum(-1)


class Wishart(TrilMatrices, ExponentialFamily):
    """Wishart distributions with degrees of freedom ``df`` (a number or a tensor, > p - 1) and exactly one of
    ``covariance_matrix`` / ``precision_matrix`` (..., p, p) (symmetric positive-definite) or ``scale_tril``
    (lower-triangular, positive diagonal): ``batch_shape`` the broadcast of df's shape and the matrix's batch,
    ``event_shape`` (p, p)."""

    arg_constraints = {"covariance_matrix": constraints.positive_definite,  # noqa: RUF012 - torch's
                       "precision_matrix": constraints.positive_definite, "scale_tril": constraints.lower_cholesky,
                       "df": constraints.greater_than(0)}
    support = constraints.positive_definite
    has_rsample = True

    def __init__(self, df: Tensor | float, covariance_matrix: Tensor | None = None,
                 precision_matrix: Tensor | None = None, scale_tril: Tensor | None = None,
                 validate_args: bool | None = None) -> None:
        given = {k: v for k, v in (("covariance_matrix", covariance_matrix), ("precision_matrix", precision_matrix),
                                   ("scale_tril", scale_tril)) if v is not None}
        if len(given) != 1:  # torch's exception type
            raise AssertionError("give just one of covariance_matrix, precision_matrix and scale_tril")
        (name, matrix), = given.items()
        if matrix.ndim < 2:
            raise ValueError("scale_tril needs 2 or more dimensions: (..., n, n)")
        if matrix.shape[-1] != matrix.shape[-2]:
            raise ValueError(f"Wishart: {name} must be square (..., p, p), got shape {tuple(matrix.shape)}")
        p = matrix.shape[-1]
        if isinstance(df, NUMBERS):
            batch_shape = tuple(matrix.shape[:-2])
            self.df = tensor(df, dtype=matrix.dtype, device=matrix.device)
        else:
            batch_shape = broadcast_shape(tuple(matrix.shape[:-2]), tuple(df.shape))
            self.df = df.expand(batch_shape)
        if bool((self.df <= p - 1).any().item()):
            raise ValueError(f"Wishart: df={df} must exceed {p - 1} (the matrix size less one)")
        setattr(self, name, matrix.expand((*batch_shape, p, p)))
        self.arg_constraints = {**Wishart.arg_constraints, "df": constraints.greater_than(p - 1)}
        if bool((self.df < p).any().item()):
            warnings.warn("df lies between ndim - 1 and ndim: samples drawn with so few degrees of freedom are "
                          "likely singular", UserWarning, stacklevel=2)
        super().__init__(batch_shape, (p, p), validate_args=validate_args)
        self._set_scale_tril(name, matrix)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Wishart:
        p = self._event_shape[-1]
        new = self._expanded(Wishart, ("df",), batch_shape, batch_shape, self._event_shape, _instance=_instance)
        for name in ("covariance_matrix", "precision_matrix", "scale_tril"):
            if name in self.__dict__:
                setattr(new, name, self.__dict__[name].expand((*batch_shape, p, p)))
        new._unbroadcasted_scale_tril, new.arg_constraints = self._unbroadcasted_scale_tril, self.arg_constraints
        return new

    def _matrix_shape(self) -> tuple[int, ...]:
        return (*self._batch_shape, *self._event_shape)

    def _df(self) -> Tensor:
        """df as (*batch_shape, 1, 1), to scale matrices."""
        return self.df.expand(tuple(self._batch_shape)).reshape(*self._batch_shape, 1, 1)

    @property
    def mean(self) -> Tensor:
        return self._df() * self.covariance_matrix

    @property
    def mode(self) -> Tensor:
        """(df - p - 1) V, nan where df <= p + 1 (no mode)."""
        factor = self._df() - self._event_shape[-1] - 1
        return _where(factor > 0, factor, math.nan) * self.covariance_matrix

    @property
    def variance(self) -> Tensor:
        V = self.covariance_matrix
        d = V.diagonal(dim1=-2, dim2=-1)
        return self._df() * (V.pow(2) + d.unsqueeze(-1) * d.unsqueeze(-2))

    def _bartlett(self, sample_shape: tuple[int, ...]) -> Tensor:
        """One Bartlett draw per sample: (L A)(L A)^T, shape sample_shape + batch_shape + (p, p)."""
        p = self._event_shape[-1]
        df = self.df.expand(tuple(self._batch_shape)).unsqueeze(-1) - arange(p, dtype=self.df.dtype,
                                                                             device=self.df.device)
        diag = Chi2(df).rsample(sample_shape).sqrt()
        diag = diag.clamp(min=float(numpy.finfo(diag.dtype).eps))
        rows, cols = _tril_indices(p, p, -1, device=self.df.device)
        below = randn((*sample_shape, *self._batch_shape, p * (p - 1) // 2), dtype=diag.dtype, device=diag.device)
        place = eye(p * p, dtype=diag.dtype, device=diag.device)[rows * p + cols]  # (m, p*p): k -> (rows[k], cols[k])
        A = diag.diag_embed() + (below @ place).reshape(*below.shape[:-1], p, p)
        chol = self._unbroadcasted_scale_tril @ A
        return chol @ chol.mT

    def rsample(self, sample_shape: Sequence[int] = (), max_try_correction: int | None = None) -> Tensor:
        """Bartlett samples, shape ``sample_shape + batch_shape + (p, p)``, with gradients to df and the matrix;
        samples that are not numerically positive-definite are redrawn up to ``max_try_correction`` (10) times,
        then returned with a warning."""
        sample_shape = tuple(sample_shape)
        sample = self._bartlett(sample_shape)
        for _ in range(10 if max_try_correction is None else max_try_correction):
            bad = cholesky_ex(sample.detach()).info != 0
            if not bool(bad.any().item()):
                return sample
            sample = _where(bad.unsqueeze(-1).unsqueeze(-1), self._bartlett(sample_shape), sample)
        if bool((cholesky_ex(sample.detach()).info != 0).any().item()):
            warnings.warn("Singular sample detected.", UserWarning, stacklevel=2)
        return sample

    def log_prob(self, value: Tensor) -> Tensor:
        """The log density at positive-definite ``value`` (..., p, p): shape broadcast(value's batch, batch_shape)."""
        if self._validate_args:
            self._validate_sample(value)
        nu, p, L = self.df, self._event_shape[-1], self._unbroadcasted_scale_tril
        return (-nu * (p * math.log(2) / 2 + half_log_det(L)) - _mvlgamma(nu / 2, p)
                + (nu - p - 1) / 2 * slogdet(value).logabsdet
                - _cholesky_solve(value, L).diagonal(dim1=-2, dim2=-1).sum(-1) / 2)

    def entropy(self) -> Tensor:
        nu, p, L = self.df, self._event_shape[-1], self._unbroadcasted_scale_tril
        h = ((p + 1) * (p * math.log(2) / 2 + half_log_det(L)) + _mvlgamma(nu / 2, p)
             - (nu - p - 1) / 2 * mvdigamma(nu / 2, p) + nu * p / 2)
        return h.expand(tuple(self._batch_shape))

    @property
    def _natural_params(self) -> tuple[Tensor, Tensor]:
        """theta = (-precision / 2, df / 2): with them ``kl_divergence`` of two Wisharts is the Bregman divergence
        of the exponential family (torch registers no closed form for the pair)."""
        return -0.5 * self.precision_matrix, 0.5 * self.df

    def _log_normalizer(self, x: Tensor, y: Tensor) -> Tensor:
        """F(theta) = y (p log 2 - log det(-2 x)) + mvlgamma(y, p), for theta = (x, y) as ``_natural_params``."""
        p = self._event_shape[-1]
        return y * (p * math.log(2) - slogdet(-2 * x).logabsdet) + _mvlgamma(y, p)
