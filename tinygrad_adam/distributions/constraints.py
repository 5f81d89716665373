"""The constraints the distributions here check their parameters and values against, under torch's names
(``torch.distributions.constraints``). ``check(value)`` returns a bool Tensor (of the value's shape, less
``event_dim`` trailing dims)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy

from ..creation import full
from ..linalg import cholesky_ex, eigvalsh, vector_norm
from ..methods import FUNCTIONS
from ..tensor import Tensor
from .utils import sum_rightmost

_cat, _stack = FUNCTIONS["cat"], FUNCTIONS["stack"]

__all__ = [
    "Constraint",
    "MixtureSameFamilyConstraint",
    "boolean",
    "cat",
    "corr_cholesky",
    "dependent",
    "dependent_property",
    "greater_than",
    "greater_than_eq",
    "half_open_interval",
    "independent",
    "integer_interval",
    "interval",
    "is_dependent",
    "less_than",
    "lower_cholesky",
    "lower_triangular",
    "nonnegative",
    "nonnegative_integer",
    "one_hot",
    "positive",
    "positive_definite",
    "positive_integer",
    "positive_semidefinite",
    "real",
    "real_vector",
    "simplex",
    "square",
    "stack",
    "symmetric",
    "unit_interval",
]


class Constraint:
    """A region of values; ``is_discrete`` and ``event_dim`` (the trailing dims that make one event) as torch's."""

    is_discrete = False
    event_dim = 0

    def check(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        bounds = ", ".join(f"{k}={v}" for k, v in vars(self).items())
        return f"{type(self).__name__.lstrip('_')}({bounds})"


class _Dependent(Constraint):
    """A support that depends on a distribution's parameters (a placeholder, as torch's): it cannot be checked,
    and ``is_discrete``/``event_dim`` are known only where given; calling it gives one with those set."""

    def __init__(self, *, is_discrete: Any = NotImplemented, event_dim: Any = NotImplemented) -> None:
        self._is_discrete, self._event_dim = is_discrete, event_dim

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        if self._is_discrete is NotImplemented:
            raise NotImplementedError(".is_discrete cannot be determined statically")
        return self._is_discrete

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        if self._event_dim is NotImplemented:
            raise NotImplementedError(".event_dim cannot be determined statically")
        return self._event_dim

    def __call__(self, *, is_discrete: Any = NotImplemented, event_dim: Any = NotImplemented) -> _Dependent:
        return _Dependent(is_discrete=self._is_discrete if is_discrete is NotImplemented else is_discrete,
                          event_dim=self._event_dim if event_dim is NotImplemented else event_dim)

    def check(self, value: Tensor) -> Tensor:
        raise ValueError("a dependent constraint has no check(): its bounds come from the distribution's parameters")

    def __repr__(self) -> str:
        return f"{type(self).__name__.lstrip('_')}()"


class _DependentProperty(property, _Dependent):
    """A property that is also a dependent constraint, for a ``support`` computed from parameters::

        @constraints.dependent_property(is_discrete=False, event_dim=0)
        def support(self): return constraints.interval(self.low, self.high)
    """

    def __init__(self, fn: Any = None, *, is_discrete: Any = NotImplemented, event_dim: Any = NotImplemented) -> None:
        property.__init__(self, fn)
        _Dependent.__init__(self, is_discrete=is_discrete, event_dim=event_dim)

    def __call__(self, fn: Any) -> _DependentProperty:  # type: ignore[override]
        return _DependentProperty(fn, is_discrete=self._is_discrete, event_dim=self._event_dim)


def is_dependent(constraint: Any) -> bool:
    """Whether ``constraint`` is a ``dependent`` placeholder (or a ``dependent_property``)."""
    return isinstance(constraint, _Dependent)


class _Real(Constraint):
    def check(self, value: Tensor) -> Tensor:
        return value == value  # False for nan


class _Boolean(Constraint):
    is_discrete = True

    def check(self, value: Tensor) -> Tensor:
        return (value == 0) | (value == 1)


class _GreaterThan(Constraint):
    def __init__(self, lower_bound: Any) -> None:
        self.lower_bound = lower_bound

    def check(self, value: Tensor) -> Tensor:
        return value > self.lower_bound


class _GreaterThanEq(_GreaterThan):
    def check(self, value: Tensor) -> Tensor:
        return value >= self.lower_bound


def _whole(value: Tensor) -> Tensor:
    """True where ``value`` is a whole number (every element of an integer tensor)."""
    return value % 1 == 0 if value.dtype.kind == "f" else value == value


class _IntegerGreaterThan(_GreaterThan):
    """Whole numbers >= ``lower_bound``."""

    is_discrete = True

    def check(self, value: Tensor) -> Tensor:
        return _whole(value) & (value >= self.lower_bound)


class _LessThan(Constraint):
    def __init__(self, upper_bound: Any) -> None:
        self.upper_bound = upper_bound

    def check(self, value: Tensor) -> Tensor:
        return value < self.upper_bound


class _IntegerLessThan(_LessThan):
    """Whole numbers <= ``upper_bound``."""

    is_discrete = True

    def check(self, value: Tensor) -> Tensor:
        return _whole(value) & (value <= self.upper_bound)


class _Interval(Constraint):
    """The closed interval [lower_bound, upper_bound]."""

    def __init__(self, lower_bound: Any, upper_bound: Any) -> None:
        self.lower_bound, self.upper_bound = lower_bound, upper_bound

    def check(self, value: Tensor) -> Tensor:
        return (value >= self.lower_bound) & (value <= self.upper_bound)


class _HalfOpenInterval(_Interval):
    """The half-open interval [lower_bound, upper_bound)."""

    def check(self, value: Tensor) -> Tensor:
        return (value >= self.lower_bound) & (value < self.upper_bound)


class MixtureSameFamilyConstraint(Constraint):
    """A mixture's support: ``base_constraint`` (its components') checked on the value as one component's."""

    def __init__(self, base_constraint: Constraint) -> None:
        if not isinstance(base_constraint, Constraint):
            raise TypeError(f"base_constraint must be a Constraint, got {type(base_constraint).__name__}")
        self.base_constraint = base_constraint

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return self.base_constraint.is_discrete

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        return self.base_constraint.event_dim

    def check(self, value: Tensor) -> Tensor:
        if value.ndim < self.event_dim:
            raise ValueError(f"Expected value.dim() >= {self.event_dim} but got {value.ndim}")
        return self.base_constraint.check(value.unsqueeze(-1 - self.event_dim)).squeeze(-1)

    def __repr__(self) -> str:
        """torch's ``MixtureSameFamilyConstraint(Real())``."""
        return f"{type(self).__name__}({self.base_constraint!r})"


class _IntegerInterval(_Interval):
    is_discrete = True

    def check(self, value: Tensor) -> Tensor:
        return _whole(value) & super().check(value)


class _Simplex(Constraint):
    """Non-negative vectors along the last dim that sum to 1 (within 1e-6)."""

    event_dim = 1

    def check(self, value: Tensor) -> Tensor:
        return (value >= 0).all(-1) & ((value.sum(-1) - 1).abs() < 1e-6)


class _Multinomial(Constraint):
    """Non-negative count vectors along the last dim summing to at most ``upper_bound``."""

    __repr__ = _Dependent.__repr__  # torch prints no fields: ``Multinomial()``

    is_discrete = True
    event_dim = 1

    def __init__(self, upper_bound: int) -> None:
        self.upper_bound = upper_bound

    def check(self, value: Tensor) -> Tensor:
        return (value >= 0).all(-1) & (value.sum(-1) <= self.upper_bound)


class _OneHot(Constraint):
    """0/1 vectors along the last dim with exactly one 1."""

    is_discrete = True
    event_dim = 1

    def check(self, value: Tensor) -> Tensor:
        return ((value == 0) | (value == 1)).all(-1) & (value.sum(-1) == 1)


def _matrices(name: str, value: Tensor) -> None:
    if value.ndim < 2:
        raise ValueError(f"{name}: expected matrices (..., n, m), got shape {tuple(value.shape)}")


class _Square(Constraint):
    """Square matrices (..., n, n): True or False for the whole batch at once, from the shape alone."""

    event_dim = 2

    def check(self, value: Tensor) -> Tensor:
        _matrices("square", value)
        return full(value.shape[:-2], value.shape[-1] == value.shape[-2], dtype=bool, device=value.device)


class _LowerTriangular(Constraint):
    """Matrices (..., n, m) with zeros above the diagonal (nan anywhere fails)."""

    event_dim = 2

    def check(self, value: Tensor) -> Tensor:
        _matrices("lower_triangular", value)
        return (value.tril() == value).all(-1).all(-1)


class _LowerCholesky(Constraint):
    """Lower-triangular square matrices (..., n, n) with a positive diagonal."""

    event_dim = 2

    def check(self, value: Tensor) -> Tensor:
        lower = (value.tril() == value).all(-1).all(-1)
        return lower & (value.diagonal(dim1=-2, dim2=-1) > 0).all(-1)


class _Symmetric(Constraint):
    """Square matrices (..., n, n) equal to their transpose within atol 1e-6 (torch's isclose); False for each
    non-square one."""

    event_dim = 2

    def check(self, value: Tensor) -> Tensor:
        if value.ndim < 2:
            raise ValueError(f"{type(self).__name__.lstrip('_')}: expected matrices (..., n, n), got shape "
                             f"{tuple(value.shape)}")
        if value.shape[-1] != value.shape[-2]:
            return full(value.shape[:-2], False, dtype=bool, device=value.device)
        return value.isclose(value.mT, atol=1e-6).all(-1).all(-1)


class _PositiveDefinite(_Symmetric):
    """Symmetric positive-definite matrices (..., n, n): Cholesky succeeds."""

    def check(self, value: Tensor) -> Tensor:
        symmetric = super().check(value)
        if not bool(symmetric.all().item()):
            return symmetric
        return cholesky_ex(value.detach()).info == 0


class _PositiveSemidefinite(_Symmetric):
    """Symmetric matrices (..., n, n) whose eigenvalues are all >= 0."""

    def check(self, value: Tensor) -> Tensor:
        symmetric = super().check(value)
        if not bool(symmetric.all().item()):
            return symmetric
        return (eigvalsh(value.detach()) >= 0).all(-1)


class _CorrCholesky(_LowerCholesky):
    """Cholesky factors of correlation matrices: lower Cholesky with each row of unit Euclidean norm (within
    10 n eps of the dtype, as torch)."""

    def check(self, value: Tensor) -> Tensor:
        tol = float(numpy.finfo(value.dtype).eps) * value.shape[-1] * 10
        unit_rows = ((vector_norm(value.detach(), dim=-1) - 1.0).abs() <= tol).all(-1)
        return super().check(value) & unit_rows


def _check_dim(dim: int, value: Tensor) -> None:
    if not -value.ndim <= dim < value.ndim:
        raise AssertionError(f"dim {dim} out of range for value with {value.ndim} dimensions")


class _Cat(Constraint):
    """``cseq[i]`` on the i-th slice of length ``lengths[i]`` (default 1 each) along ``dim``, as ``torch.cat``
    joins them; the checks are joined along ``dim`` too."""

    __repr__ = _Dependent.__repr__  # torch prints no fields: ``Cat()``

    def __init__(self, cseq: Sequence[Constraint], dim: int = 0, lengths: Sequence[int] | None = None) -> None:
        if not all(isinstance(c, Constraint) for c in cseq):
            raise AssertionError("cseq may hold Constraint objects only")
        self.cseq, self.dim = list(cseq), dim
        self.lengths = [1] * len(self.cseq) if lengths is None else list(lengths)
        if len(self.lengths) != len(self.cseq):
            raise AssertionError(f"lengths ({len(self.lengths)}) must match cseq ({len(self.cseq)})")

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return any(c.is_discrete for c in self.cseq)

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        return max(c.event_dim for c in self.cseq)

    def check(self, value: Tensor) -> Tensor:
        _check_dim(self.dim, value)
        starts = itertools.accumulate(self.lengths, initial=0)
        return _cat([c.check(value.narrow(self.dim, start, length))
                     for c, start, length in zip(self.cseq, starts, self.lengths)], self.dim)


class _Stack(Constraint):
    """``cseq[i]`` on ``value.select(dim, i)``; the checks stacked along ``dim``."""

    __repr__ = _Dependent.__repr__  # torch prints no fields: ``Stack()``

    def __init__(self, cseq: Sequence[Constraint], dim: int = 0) -> None:
        if not all(isinstance(c, Constraint) for c in cseq):
            raise AssertionError("cseq may hold Constraint objects only")
        self.cseq, self.dim = list(cseq), dim

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return any(c.is_discrete for c in self.cseq)

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        dim = max(c.event_dim for c in self.cseq)
        return dim + 1 if self.dim + dim < 0 else dim

    def check(self, value: Tensor) -> Tensor:
        _check_dim(self.dim, value)
        return _stack([c.check(value.select(self.dim, i))
                       for i, c in zip(range(value.shape[self.dim]), self.cseq)], self.dim)


class _IndependentConstraint(Constraint):
    """``base`` holding for every element of the last ``reinterpreted_batch_ndims`` dims together."""

    def __init__(self, base: Constraint, reinterpreted_batch_ndims: int) -> None:
        self.base_constraint, self.reinterpreted_batch_ndims = base, reinterpreted_batch_ndims

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return self.base_constraint.is_discrete

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        return self.base_constraint.event_dim + self.reinterpreted_batch_ndims

    def check(self, value: Tensor) -> Tensor:
        result, n = self.base_constraint.check(value), self.reinterpreted_batch_ndims
        if result.ndim < n:
            raise ValueError(f"Expected value.dim() >= {n + self.base_constraint.event_dim} but got {value.ndim}")
        return sum_rightmost(result, n, reduce="all")

    def __repr__(self) -> str:
        """torch's ``IndependentConstraint(Real(), 1)``."""
        return f"IndependentConstraint({self.base_constraint!r}, {self.reinterpreted_batch_ndims})"


real = _Real()
real_vector = _IndependentConstraint(real, 1)
boolean = _Boolean()
positive = _GreaterThan(0.0)
nonnegative = _GreaterThanEq(0.0)
nonnegative_integer = _IntegerGreaterThan(0)
positive_integer = _IntegerGreaterThan(1)
dependent = _Dependent()
dependent_property = _DependentProperty
square = _Square()
lower_triangular = _LowerTriangular()
one_hot = _OneHot()
unit_interval = _Interval(0.0, 1.0)
lower_cholesky = _LowerCholesky()
positive_definite = _PositiveDefinite()
positive_semidefinite = _PositiveSemidefinite()
symmetric = _Symmetric()
corr_cholesky = _CorrCholesky()
simplex = _Simplex()
greater_than, less_than, interval, integer_interval = _GreaterThan, _LessThan, _Interval, _IntegerInterval
greater_than_eq = _GreaterThanEq
half_open_interval = _HalfOpenInterval
multinomial = _Multinomial
independent = _IndependentConstraint
cat = _Cat
stack = _Stack
