"""tinygrad_adam.distributions' third batch against torch 2.13: MultivariateNormal, Cauchy, HalfNormal, HalfCauchy,
Gumbel, Weibull, Pareto, the Abs / Power transforms, and the KL pairs torch registers among all the distributions
here (values, dtypes, shapes and parameter gradients on hypothesis inputs with broadcasting, empty batches,
extreme, ill-conditioned and invalid parameters, validated and not; sampling checked statistically, as our streams
differ from torch's)."""

from __future__ import annotations

import contextlib
import math
import os
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_distributions import (
    ANY,
    FLOATS,
    POSITIVE,
    RTOL,
    UNIT,
    _array,
    _moments,
    _shapes,
    _torch_without_ambiguous_reshape,
    check,
)
from test_distributions_more import (
    BAD_POSITIVE,
    COUNTS,
    KL_MAKERS,
    LOGITS,
    MODERATE,
    NONNEG,
    _mean_within,
    _pair,
    _per_element_grad,
)
from test_torch_movement_names import raises

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

D = tg.distributions


def _stats(d: Any) -> tuple[Any, ...]:
    return d.entropy(), d.mean, d.mode, d.variance, d.stddev


# each family: (parameter strategies with their invalid values, maker(lib, *params, validate), value strategy,
# methods beyond log_prob and the moments)
FAMILIES: dict[str, tuple[list[tuple[Any, list[float]]], Any, Any, tuple[str, ...]]] = {
    "Cauchy": ([(ANY, [np.nan]), (POSITIVE, BAD_POSITIVE)],
               lambda lib, m, s, v: lib.distributions.Cauchy(m, s, validate_args=v), ANY, ("cdf", "icdf")),
    "HalfNormal": ([(POSITIVE, BAD_POSITIVE)], lambda lib, s, v: lib.distributions.HalfNormal(s, validate_args=v),
                   NONNEG | ANY, ("cdf", "icdf")),
    "HalfCauchy": ([(POSITIVE, BAD_POSITIVE)], lambda lib, s, v: lib.distributions.HalfCauchy(s, validate_args=v),
                   NONNEG | ANY, ("cdf", "icdf")),
    "Gumbel": ([(ANY, [np.nan]), (POSITIVE, BAD_POSITIVE)],
               lambda lib, m, s, v: lib.distributions.Gumbel(m, s, validate_args=v), ANY, ("cdf", "icdf")),
    "Weibull": ([(MODERATE, BAD_POSITIVE), (MODERATE, BAD_POSITIVE)],
                lambda lib, s, k, v: lib.distributions.Weibull(s, k, validate_args=v), NONNEG | ANY, ("cdf", "icdf")),
    "Pareto": ([(MODERATE, BAD_POSITIVE), (MODERATE | st.sampled_from([1.0, 2.0]), BAD_POSITIVE)],
               lambda lib, s, a, v: lib.distributions.Pareto(s, a, validate_args=v), NONNEG | ANY, ("cdf", "icdf")),
    "NegativeBinomial": ([(MODERATE | st.sampled_from([0.0, 1.0]), [-1.0, np.nan]),
                          (st.floats(0, 0.999) | st.sampled_from([0.0, 0.5]), [1.0, 1.5, np.nan])],
                         lambda lib, n, p, v: lib.distributions.NegativeBinomial(n, p, validate_args=v), COUNTS, ()),
    "NegativeBinomial logits": ([(MODERATE, [-1.0]), (st.floats(-30, 30) | st.sampled_from([0.0]), [np.nan])],
                                lambda lib, n, z, v: lib.distributions.NegativeBinomial(n, logits=z, validate_args=v),
                                COUNTS, ()),
}


@pytest.mark.parametrize("name", sorted(FAMILIES))
@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), validate=st.booleans())
def test_family_matches_torch(name: str, data: st.DataObject, dtype: Any, validate: bool) -> None:
    """log_prob / cdf / icdf / entropy / moments with their parameter gradients, as torch's (or both raise)."""
    specs, make, values, methods = FAMILIES[name]
    shapes = _shapes(data, len(specs) + 1)
    params = [_array(data, s, strategy, dtype, bad=bad) for s, (strategy, bad) in zip(shapes, specs)]
    value = _array(data, shapes[-1], values, dtype, bad=[np.nan])
    q = _array(data, shapes[-1], UNIT, dtype, bad=[-0.5, 1.5])
    rtol = RTOL[dtype] * (50 if name in ("Weibull", "Pareto") else 5)  # powers of large arguments

    def d(lib: Any, *ps: Any) -> Any:
        return make(lib, *ps, validate)

    if name.startswith("NegativeBinomial"):  # lgamma(n + k) - lgamma(n): float32 rounding of large terms
        rtol = RTOL[dtype] * 500
    check(lambda lib, *a: d(lib, *a[:-1]).log_prob(a[-1]), *params, value, rtol=rtol)
    if "cdf" in methods:
        check(lambda lib, *a: d(lib, *a[:-1]).cdf(a[-1]), *params, value, rtol=rtol)
        check(lambda lib, *a: d(lib, *a[:-1]).icdf(a[-1]), *params, q, rtol=rtol)
        if name == "Weibull" and dtype == np.float32:  # the variance is a difference of exp(lgamma) terms that
            params[1] = np.minimum(params[1], 50).astype(dtype)  # cancel to 1/k^2: float32 rounding past k ~ 50
        check(lambda lib, *a: _stats(d(lib, *a)), *params, rtol=rtol)
    else:  # no entropy (torch has none)
        check(lambda lib, *a: (lambda x: (x.mean, x.mode, x.variance, x.stddev, x.probs, x.logits))(d(lib, *a)),
              *params, rtol=rtol)


# ---------------------------------------------------------------------------------------------- MultivariateNormal
KINDS = ("covariance_matrix", "precision_matrix", "scale_tril")


def _spd(data: st.DataObject, batch: tuple[int, ...], n: int, dtype: Any) -> np.ndarray:
    """Symmetric positive-definite matrices (*batch, n, n): B B^T + c I, B's columns scaled by 1e+-3 (entries from
    1e-6 to 1e6) and c relative to B's largest entry squared: condition numbers up to ~1e6 in float64, ~1e2 in
    float32 (the precision matrix's gradient loses cond^2 ulps, in torch as here)."""
    b = data.draw(hnp.arrays(np.float64, (*batch, n, n), elements=st.floats(-2, 2)))
    scales = 10.0 ** data.draw(hnp.arrays(np.float64, (n,), elements=st.floats(-3, 3)))
    b = b * scales
    relative = st.sampled_from([1e-5, 1e-3, 1e-2]) if dtype == np.float64 else st.sampled_from([0.1, 1.0])
    # c at least 1e-6 (float64): at B = 0 and c = 1e-17 a KL's gradient is a difference of terms ~1 / c, where
    # torch's rounding noise was -3.3e-6 against the exact 0 (float32: no matrix far below 1 beside one near 1)
    floor = 0.1 if dtype == np.float64 else 1.0
    c = data.draw(relative) * max(floor, float(np.abs(b).max(initial=0.0)) ** 2)
    a = b @ np.swapaxes(b, -1, -2) + c * np.eye(n)
    return ((a + np.swapaxes(a, -1, -2)) / 2).astype(dtype)


@contextlib.contextmanager
def _torch_for_empty(*arrays: np.ndarray) -> Any:
    """torch's _batch_mahalanobis reshapes with -1 and divides by batch sizes, so it raises on empty batches
    (ambiguous reshape, ZeroDivisionError), as do the lower_cholesky and mixture constraints; ours computes
    there, and is compared with the same formula written
    with torch's broadcasting solve_triangular (used only when some array is empty)."""
    from torch.distributions import constraints, kl, multivariate_normal, transformed_distribution

    def mahalanobis(L: Any, x: Any) -> Any:
        return torch.linalg.solve_triangular(L, x.unsqueeze(-1), upper=False).squeeze(-1).pow(2).sum(-1)

    def lower_cholesky(self: Any, value: Any) -> Any:  # the same check, without the view(..., -1)
        return (value.tril() == value).all(-1).all(-1) & (value.diagonal(dim1=-2, dim2=-1) > 0).all(-1)

    def mixture(self: Any, value: Any) -> Any:  # (and MixtureSameFamilyConstraint's reshape(..., -1))
        return self.base_constraint.check(value.unsqueeze(-1 - self.event_dim)).squeeze(-1)

    def sum_rightmost(value: Any, dim: int) -> Any:  # (and TransformedDistribution's reshape(..., -1))
        kept = value.shape[:value.dim() - dim]
        return value.reshape(*kept, math.prod(value.shape[len(kept):])).sum(-1) if dim else value

    mix, td = constraints.MixtureSameFamilyConstraint, transformed_distribution
    saved = (multivariate_normal._batch_mahalanobis, kl._batch_mahalanobis, constraints._LowerCholesky.check,
             mix.check, td._sum_rightmost)
    if any(a.size == 0 for a in arrays):
        multivariate_normal._batch_mahalanobis = kl._batch_mahalanobis = mahalanobis
        constraints._LowerCholesky.check, mix.check, td._sum_rightmost = lower_cholesky, mixture, sum_rightmost
    try:
        yield
    finally:
        (multivariate_normal._batch_mahalanobis, kl._batch_mahalanobis, constraints._LowerCholesky.check,
         mix.check, td._sum_rightmost) = saved


def _mvn(lib: Any, loc: Any, matrix: Any, kind: str, validate: bool = True) -> Any:
    return lib.distributions.MultivariateNormal(loc, **{kind: matrix}, validate_args=validate)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), kind=st.sampled_from(KINDS), n=st.integers(1, 3),
       validate=st.booleans())
def test_multivariate_normal_matches_torch(data: st.DataObject, dtype: Any, kind: str, n: int,
                                           validate: bool) -> None:
    """log_prob, entropy, the moments and the three matrices, with gradients for loc and the matrix, on broadcast
    batch shapes (empty ones included) and ill-conditioned covariances, from each parameterisation."""
    s_loc, s_mat, s_val = _shapes(data, 3)
    loc = _array(data, (*s_loc, n), st.floats(-10, 10), dtype, bad=[np.nan])
    matrix = _spd(data, s_mat, n, dtype)
    if kind == "scale_tril":
        matrix = np.linalg.cholesky(matrix.astype(np.float64)).astype(dtype)
    value = _array(data, (*s_val, n), st.floats(-10, 10), dtype, bad=[np.nan, np.inf])
    rtol = RTOL[dtype] * (1e3 if dtype == np.float32 else 1e2)  # Cholesky of cond ~1e4 (f32) / ~1e12 (f64)
    if dtype == np.float64:
        rtol = 1e-6
    with _torch_for_empty(loc, matrix, value):
        check(lambda lib, m, a, v: _mvn(lib, m, a, kind, validate).log_prob(v), loc, matrix, value, rtol=rtol)
        check(lambda lib, m, a: (lambda d: (d.entropy(), d.mean, d.mode, d.variance, d.stddev))(
            _mvn(lib, m, a, kind, validate)), loc, matrix, rtol=rtol)
        check(lambda lib, m, a: (lambda d: (d.covariance_matrix, d.precision_matrix, d.scale_tril))(
            _mvn(lib, m, a, kind, validate)), loc, matrix, rtol=rtol)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), kind=st.sampled_from(KINDS), n=st.integers(1, 3))
def test_multivariate_normal_invalid_matrices(data: st.DataObject, dtype: Any, kind: str, n: int) -> None:
    """Matrices that are not symmetric, not positive-definite, not lower-triangular or hold nan: both raise when
    validating (and unvalidated, where the Cholesky factor fails)."""
    matrix = _spd(data, (), n, dtype)
    if kind == "scale_tril":
        matrix = np.linalg.cholesky(matrix.astype(np.float64)).astype(dtype)
    i, j = data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, n - 1))
    matrix[i, j] = data.draw(st.sampled_from([np.nan, -1e3, 0.0, 5.0]))
    loc = np.zeros(n, dtype)
    for validate in (True, False):
        try:
            theirs = _mvn(torch, torch.tensor(loc), torch.tensor(matrix), kind, validate)
        except (ValueError, RuntimeError):
            with pytest.raises((ValueError, RuntimeError)):
                _mvn(tg, tg.tensor(loc), tg.tensor(matrix), kind, validate)
            continue
        ours = _mvn(tg, tg.tensor(loc), tg.tensor(matrix), kind, validate)
        with np.errstate(all="ignore"):
            np.testing.assert_allclose(ours.entropy().numpy(), theirs.entropy().numpy(), rtol=1e-4)


def test_multivariate_normal_argument_errors() -> None:
    def mvn(lib: Any, loc: Any, **kw: Any) -> Any:
        return lib.distributions.MultivariateNormal(loc, **kw)

    for make in (lambda lib: mvn(lib, lib.tensor(0.0), covariance_matrix=lib.eye(1)),  # 0-d loc
                 lambda lib: mvn(lib, lib.zeros(2)),  # no matrix
                 lambda lib: mvn(lib, lib.zeros(2), covariance_matrix=lib.eye(2), scale_tril=lib.eye(2)),
                 lambda lib: mvn(lib, lib.zeros(2), covariance_matrix=lib.ones(2)),  # 1-d matrix
                 lambda lib: mvn(lib, lib.zeros((3, 2)), covariance_matrix=lib.eye(2).expand(2, 2, 2)),
                 lambda lib: mvn(lib, lib.zeros(2), covariance_matrix=lib.tensor([[1.0, 2.0], [0.0, 1.0]])),
                 lambda lib: mvn(lib, lib.zeros(2), scale_tril=lib.tensor([[1.0, 2.0], [0.0, 1.0]])),
                 lambda lib: mvn(lib, lib.zeros(2), scale_tril=-lib.eye(2)),
                 lambda lib: mvn(lib, lib.zeros(2), covariance_matrix=lib.eye(2)).log_prob(lib.zeros(3)),
                 lambda lib: mvn(lib, lib.zeros(2), covariance_matrix=lib.eye(2)).log_prob(lib.zeros((3, 1))),
                 lambda lib: lib.distributions.kl_divergence(mvn(lib, lib.zeros(2), covariance_matrix=lib.eye(2)),
                                                             mvn(lib, lib.zeros(3), covariance_matrix=lib.eye(3)))):
        raises(make)
    # a matrix whose size differs from loc's: torch builds it (and fails later); we refuse it at once
    with pytest.raises(ValueError, match="does not fit loc"):
        D.MultivariateNormal(tg.zeros(3), covariance_matrix=tg.eye(2))
    with pytest.raises(TypeError, match="Tensor"):
        D.MultivariateNormal([0.0, 1.0], covariance_matrix=tg.eye(2))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), kinds=st.tuples(st.sampled_from(KINDS), st.sampled_from(KINDS)),
       n=st.integers(1, 3))
def test_multivariate_normal_kl_matches_torch(data: st.DataObject, dtype: Any, kinds: tuple[str, str],
                                              n: int) -> None:
    s_p, s_q, s_lp, s_lq = _shapes(data, 4)
    mp, mq = _spd(data, s_p, n, dtype), _spd(data, s_q, n, dtype)
    lp = _array(data, (*s_lp, n), st.floats(-5, 5), dtype)
    lq = _array(data, (*s_lq, n), st.floats(-5, 5), dtype)
    if kinds[0] == "scale_tril":
        mp = np.linalg.cholesky(mp.astype(np.float64)).astype(dtype)
    if kinds[1] == "scale_tril":
        mq = np.linalg.cholesky(mq.astype(np.float64)).astype(dtype)
    with _torch_for_empty(lp, mp, lq, mq):
        check(lambda lib, a, b, c, e: lib.distributions.kl_divergence(_mvn(lib, a, b, kinds[0]),
                                                                      _mvn(lib, c, e, kinds[1])),
              lp, mp, lq, mq, rtol=1e-2 if dtype == np.float32 else 1e-6, largest_rtol=1e-9)
    # (largest_rtol: at precision matrices 1e-6 I and [[2e4 + 0.1, 2e4], [2e4, 2e4 + 0.1]], d KL / d the second has
    # off-diagonal entries of 2.4999938 beside 5e5; ours is 7.7e-6 off there, torch's 1.2e-5: 2e-11 of the largest)


@pytest.mark.parametrize("dtype", FLOATS)
def test_multivariate_normal_samples(dtype: Any) -> None:
    """Sample mean and covariance within a few standard errors; the pathwise gradient: d x / d loc = I and
    d x / d L = eps^T (x = loc + L eps)."""
    tg.manual_seed(5)
    n = 40_000
    cov = np.array([[2.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 0.5]])
    loc = np.array([1.0, -2.0, 0.5])
    d = D.MultivariateNormal(tg.tensor(loc.astype(dtype)), covariance_matrix=tg.tensor(cov.astype(dtype)))
    x = d.sample((n,))
    assert x.dtype == dtype and x.shape == (n, 3) and not x.requires_grad
    x = x.numpy().astype(np.float64)
    _moments(x, loc, np.diag(cov), n)
    c = np.cov(x.T)
    se = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / n)
    assert np.all(np.abs(c - cov) <= 5 * se), (c, cov)
    tril = tg.tensor(np.linalg.cholesky(cov).astype(dtype), requires_grad=True)
    m = tg.tensor(loc.astype(dtype), requires_grad=True)
    y = D.MultivariateNormal(m, scale_tril=tril).rsample((7,))
    y[:, 1].sum().backward()
    np.testing.assert_array_equal(m.grad.numpy(), [0.0, 7.0, 0.0])
    eps = np.linalg.solve(np.linalg.cholesky(cov), (y.detach().numpy().astype(np.float64) - loc).T).T
    expected = np.zeros((3, 3))
    expected[1] = eps.sum(0)
    np.testing.assert_allclose(tril.grad.numpy(), expected, rtol=1e-4 if dtype == np.float32 else 1e-10,
                               atol=1e-4 if dtype == np.float32 else 1e-10)


# ---------------------------------------------------------------------------------------------- MixtureSameFamily
@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), k=st.integers(1, 3), family=st.integers(0, 2),
       validate=st.booleans())
def test_mixture_same_family_matches_torch(data: st.DataObject, dtype: Any, k: int, family: int,
                                           validate: bool) -> None:
    """log_prob, cdf (scalar components), mean and variance with gradients for the weights and the components'
    parameters: Normal, Independent(Normal, 1) and MultivariateNormal components, mixture batch shapes
    broadcasting against the components'."""
    s_b, s_v = _shapes(data, 2)
    s_mix = s_b[data.draw(st.integers(0, len(s_b))):]
    logits = _array(data, (*s_mix, k), LOGITS, dtype)
    event = (2,) if family else ()
    loc = _array(data, (*s_b, k, *event), st.floats(-5, 5), dtype)
    scale = _array(data, (*s_b, k, *event), MODERATE, dtype, bad=[0.0, -1.0])
    value = _array(data, (*s_v, *event), st.floats(-5, 5) | st.sampled_from([np.nan, np.inf]), dtype)

    def mix(lib: Any, z: Any, m: Any, s: Any) -> Any:
        dist = lib.distributions
        comp = (dist.Normal(m, s), dist.Independent(dist.Normal(m, s), 1),
                dist.MultivariateNormal(m, scale_tril=lib.diag_embed(s)))[family]
        return dist.MixtureSameFamily(dist.Categorical(logits=z), comp, validate_args=validate)

    rtol = RTOL[dtype] * 50
    with _torch_without_ambiguous_reshape(), _torch_for_empty(logits, loc, value):
        check(lambda lib, z, m, s, v: mix(lib, z, m, s).log_prob(v), logits, loc, scale, value, rtol=rtol)
        check(lambda lib, z, m, s: (lambda d: (d.mean, d.variance))(mix(lib, z, m, s)), logits, loc, scale, rtol=rtol)
        if family == 0:
            check(lambda lib, z, m, s, v: mix(lib, z, m, s).cdf(v), logits, loc, scale, value, rtol=rtol)
    ours = mix(tg, tg.tensor(logits), tg.tensor(loc), tg.tensor(np.abs(scale) + 1))
    with _torch_without_ambiguous_reshape(), _torch_for_empty(loc):
        theirs = mix(torch, torch.tensor(logits), torch.tensor(loc), torch.tensor(np.abs(scale) + 1))
    assert ours.batch_shape == tuple(theirs.batch_shape) and ours.event_shape == tuple(theirs.event_shape)
    if s_mix == s_b and not np.isnan(logits).any() and not np.isinf(logits).all(-1).any() and 0 not in s_b:
        assert ours.sample((2,)).shape == tuple(theirs.sample((2,)).shape)
    assert ours.expand((3, *ours.batch_shape)).batch_shape == (3, *ours.batch_shape)


def test_mixture_and_negative_binomial_samples() -> None:
    tg.manual_seed(21)
    n = 40_000
    mix = D.MixtureSameFamily(D.Categorical(tg.tensor([0.2, 0.5, 0.3], dtype=tg.float64)),
                              D.Normal(tg.tensor([-3.0, 0.0, 4.0], dtype=tg.float64),
                                       tg.tensor([0.5, 1.0, 2.0], dtype=tg.float64)))
    x = mix.sample((n,))
    assert x.shape == (n,) and x.dtype == np.float64
    _moments(x.numpy(), mix.mean.numpy(), mix.variance.numpy(), n)
    for count, p in ((2.0, 0.3), (7.5, 0.8)):
        nb = D.NegativeBinomial(tg.tensor([count]), tg.tensor([p]))
        y = nb.sample((n,))
        assert y.dtype == np.float32 and y.shape == (n, 1) and (y.numpy() % 1 == 0).all()
        _moments(y.numpy().astype(np.float64), nb.mean.numpy().astype(np.float64),
                 nb.variance.numpy().astype(np.float64), n)
    with pytest.raises(NotImplementedError):
        mix.rsample()
    for make in (lambda lib: lib.distributions.MixtureSameFamily(lib.distributions.Normal(0.0, 1.0),
                                                                 lib.distributions.Normal(lib.zeros(2), 1.0)),
                 lambda lib: lib.distributions.MixtureSameFamily(lib.distributions.Categorical(lib.ones(3)),
                                                                 lib.distributions.Normal(lib.zeros(2), 1.0)),
                 lambda lib: lib.distributions.MixtureSameFamily(lib.distributions.Categorical(lib.ones(2, 2)),
                                                                 lib.distributions.Normal(lib.zeros(3, 2), 1.0)),
                 lambda lib: lib.distributions.NegativeBinomial(2.0),
                 lambda lib: lib.distributions.NegativeBinomial(2.0, lib.tensor(1.0)),
                 lambda lib: lib.distributions.NegativeBinomial(2.0, lib.tensor(0.5)).log_prob(lib.tensor(0.5))):
        raises(make)


# ---------------------------------------------------------------------------------------------- LogisticNormal
@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), k=st.integers(1, 3), validate=st.booleans())
def test_logistic_normal_and_stick_breaking_match_torch(data: st.DataObject, dtype: Any, k: int,
                                                        validate: bool) -> None:
    """LogisticNormal.log_prob with gradients (vector and scalar batches), and StickBreakingTransform's forward,
    inverse and log |det J| with gradients, as torch's."""
    s_p, s_v = _shapes(data, 2)
    loc = _array(data, (*s_p, k), st.floats(-10, 10), dtype, bad=[np.nan])
    scale = _array(data, (*s_p, k), MODERATE, dtype, bad=[0.0, -1.0])
    w = data.draw(hnp.arrays(np.float64, (*s_v, k + 1), elements=st.floats(1e-3, 10)))
    value = (w / w.sum(-1, keepdims=True)).astype(dtype)
    if value.size and data.draw(st.booleans()):
        value.flat[data.draw(st.integers(0, value.size - 1))] = data.draw(st.sampled_from([-0.5, 2.0, np.nan]))
    x = _array(data, (*s_v, k), st.floats(-30, 30) | st.sampled_from([0.0, np.inf, -np.inf]), dtype)
    rtol = RTOL[dtype] * 50
    with _torch_without_ambiguous_reshape(), _torch_for_empty(loc, value):
        check(lambda lib, m, s, v: lib.distributions.LogisticNormal(m, s, validate_args=validate).log_prob(v), loc,
              scale, value, rtol=rtol)
        check(lambda lib, m, s, v: lib.distributions.LogisticNormal(m[..., 0], s[..., 0]).log_prob(v[..., :2]),
              loc, scale, value, rtol=rtol)
        check(lambda lib, x: (lambda t: (t(x), t.log_abs_det_jacobian(x, t(x))))(
            lib.distributions.transforms.StickBreakingTransform()), x, rtol=rtol)
        # the round trip's gradient in float32 is cancellation: at x = [0, 0, inf] the last stick is 6e-8, its
        # 1 / (1 - cumsum) terms are ~1e7, and the float32 sums of the reversed cumsum land their rounding on a
        # different element in each library (torch: x[1] -0.22 for float64's -0.67; ours: x[0] 0.47 for 0.56),
        # so it is compared in float64, where both are exact
        check(lambda lib, x: lib.distributions.transforms.StickBreakingTransform().inv(
            lib.distributions.transforms.StickBreakingTransform()(x)), x.astype(np.float64), rtol=RTOL[np.float64] * 50)
    t, tt = D.transforms.StickBreakingTransform(), torch.distributions.transforms.StickBreakingTransform()
    assert t.forward_shape((2, k)) == tuple(tt.forward_shape((2, k))) and t.inverse_shape((k + 1,)) == (k,)
    assert t.domain.event_dim == tt.domain.event_dim == 1 and t.bijective and t == D.transforms.StickBreakingTransform()


# ---------------------------------------------------------------------------------------------- Multinomial
@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), use_logits=st.booleans(), k=st.integers(1, 4),
       n=st.integers(0, 6), validate=st.booleans())
def test_multinomial_matches_torch(data: st.DataObject, dtype: Any, use_logits: bool, k: int, n: int,
                                   validate: bool) -> None:
    """log_prob (with -inf logits at zero counts), entropy, mean and variance with gradients, as torch's."""
    s_p, s_v = _shapes(data, 2)
    param = _array(data, (*s_p, k), LOGITS | st.sampled_from([-np.inf]) if use_logits else
                   st.floats(0, 10) | st.sampled_from([0.0, 1.0]), dtype, bad=[] if use_logits else [-1.0, np.nan])
    counts = data.draw(hnp.arrays(np.int64, (*s_v, k), elements=st.integers(0, n)))
    value = counts.astype(data.draw(st.sampled_from(FLOATS)))
    if value.size and data.draw(st.booleans()):
        value.flat[data.draw(st.integers(0, value.size - 1))] = data.draw(st.sampled_from([-1.0, 0.5, 100.0]))

    def d(lib: Any, p: Any) -> Any:
        return lib.distributions.Multinomial(n, **{"logits" if use_logits else "probs": p}, validate_args=validate)

    rtol = RTOL[dtype] * 50
    mixed = max(rtol, RTOL[value.dtype.type] * 5)  # a float32 value: lgamma(value + 1) in float32, in both
    with _torch_without_ambiguous_reshape():
        check(lambda lib, p, v: d(lib, p).log_prob(v), param, value, rtol=mixed)
        check(lambda lib, p: (lambda x: (x.mean, x.variance, x.probs, x.logits))(d(lib, p)), param, rtol=rtol)
        if not np.isnan(param).any() and not (np.isinf(param).all(-1)).any():
            with np.errstate(all="ignore"):
                w = np.exp(param - param.max(-1, keepdims=True)) if use_logits else param.astype(np.float64)
                p = w / w.sum(-1, keepdims=True)
            # a probability near 1e-12 leaves its gradient terms like (1 - p)^n - 1 to rounding in both libraries
            # (a local hypothesis run: [1e-12, 0, 1] in float64 6e-7 apart)
            tiny = bool(((p > 0) & (p < 1e-6)).any())
            # raw probs summing to S scale the entropy's gradient by 1 / S: at [5e-61] * 3 (uniform) it is exactly
            # 0, and torch's rounding noise there 1.8e44, so such draws are left out
            if use_logits or param.astype(np.float64).sum(-1).min(initial=1.0) > 1e-30:
                check(lambda lib, p: d(lib, p).entropy(), param, rtol=max(rtol, 1e-5) if tiny else rtol)


def test_multinomial_samples() -> None:
    tg.manual_seed(4)
    p = np.array([[0.2, 0.3, 0.5], [0.7, 0.0, 0.3]])
    m = D.Multinomial(6, tg.tensor(p))
    x = m.sample((20_000,))
    assert x.shape == (20_000, 2, 3) and x.dtype == np.float64 and (x.numpy().sum(-1) == 6).all()
    _moments(x.numpy(), m.mean.numpy(), m.variance.numpy(), 20_000)
    raises(lambda lib: lib.distributions.Multinomial(2.0, lib.tensor([0.5, 0.5])))
    raises(lambda lib: lib.distributions.Multinomial(2, lib.tensor([0.5, 0.5])).log_prob(lib.tensor([2.0, 1.0])))
    raises(lambda lib: lib.distributions.Multinomial(2, lib.tensor([0.5, 0.5])).rsample())
    raises(lambda lib: lib.distributions.Multinomial(2, lib.ones(0, 2)).entropy())  # Binomial's max of nothing
    # torch's expand leaves out the Binomial its entropy uses (AttributeError); ours has it
    expanded = D.Multinomial(3, tg.tensor([0.2, 0.8])).expand((2,)).entropy()
    np.testing.assert_allclose(expanded.numpy(), torch.distributions.Multinomial(3, torch.tensor([0.2, 0.8])).entropy(
    ).expand(2).numpy(), rtol=1e-6)


# ---------------------------------------------------------------------------------------------- relaxed
@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), use_logits=st.booleans(), one_hot=st.booleans(),
       k=st.integers(1, 3), validate=st.booleans())
def test_relaxed_match_torch(data: st.DataObject, dtype: Any, use_logits: bool, one_hot: bool, k: int,
                             validate: bool) -> None:
    """log_prob of RelaxedBernoulli / RelaxedOneHotCategorical (and their logit / log bases) with gradients for the
    temperature, the parameter and the value."""
    s_p, s_v = _shapes(data, 2)
    event = (k,) if one_hot else ()
    temp = _array(data, (), st.floats(0.05, 5) | st.sampled_from([1.0, 1e-2]), dtype, bad=[0.0, -1.0])
    param = _array(data, (*s_p, *event), st.floats(-10, 10) if use_logits else st.floats(0.01, 1),
                   dtype, bad=[np.nan] if use_logits else [1.5, np.nan])
    if not one_hot:
        value = _array(data, s_v, st.floats(0.001, 0.999) | st.sampled_from([0.5]), dtype, bad=[1.5, 0.0, np.nan])
    else:
        w = data.draw(hnp.arrays(np.float64, (*s_v, k), elements=st.floats(0.01, 10)))
        value = (w / w.sum(-1, keepdims=True)).astype(dtype)
    key = "logits" if use_logits else "probs"

    def relaxed(lib: Any, t: Any, p: Any, base: bool = False) -> Any:
        dist = lib.distributions
        if base:  # the bases live in the submodules (torch's names differ: relaxed_bernoulli, relaxed_categorical)
            module = dist.relaxed if lib is tg else (dist.relaxed_categorical if one_hot else dist.relaxed_bernoulli)
            make = module.ExpRelaxedCategorical if one_hot else module.LogitRelaxedBernoulli
        else:
            make = dist.RelaxedOneHotCategorical if one_hot else dist.RelaxedBernoulli
        return make(t, **{key: p}, validate_args=validate)

    rtol = RTOL[dtype] * 50
    with _torch_without_ambiguous_reshape(), _torch_for_empty(param, value):
        check(lambda lib, t, p, v: relaxed(lib, t, p).log_prob(v), temp, param, value, rtol=rtol)
        check(lambda lib, t, p, v: relaxed(lib, t, p, True).log_prob(v.log() if one_hot else v), temp, param,
              value, rtol=rtol)
    if not (np.isnan(param).any() or (temp <= 0) or (not use_logits and (param > 1).any())):
        ours = relaxed(tg, tg.tensor(temp), tg.tensor(param))
        with _torch_without_ambiguous_reshape(), _torch_for_empty(param):
            theirs = relaxed(torch, torch.tensor(temp), torch.tensor(param))
        assert ours.batch_shape == tuple(theirs.batch_shape) and ours.event_shape == tuple(theirs.event_shape)
        assert ours.rsample((2,)).shape == tuple(theirs.rsample((2,)).shape)


@pytest.mark.parametrize("dtype", FLOATS)
def test_relaxed_samples(dtype: Any) -> None:
    """P(RelaxedBernoulli > 1/2) = p and the argmax of a RelaxedOneHotCategorical draw is Categorical(probs), at
    any temperature; samples lie in the support; the pathwise gradient of sigmoid((logit u + z) / t) for z."""
    tg.manual_seed(8)
    n = 40_000
    p = np.array([0.1, 0.5, 0.85])
    for t in (0.1, 1.0, 3.0):
        x = D.RelaxedBernoulli(tg.tensor(np.array(t, dtype)), tg.tensor(p.astype(dtype))).sample((n,))
        assert x.dtype == dtype and x.shape == (n, 3)
        x = x.numpy()
        assert ((x >= 0) & (x <= 1)).all()
        frac = (x > 0.5).mean(0)
        assert np.all(np.abs(frac - p) <= 5 * np.sqrt(p * (1 - p) / n)), (t, frac)
        y = D.RelaxedOneHotCategorical(tg.tensor(np.array(t, dtype)), tg.tensor(p.astype(dtype))).rsample((n,))
        assert y.dtype == dtype and y.shape == (n, 3)
        np.testing.assert_allclose(y.detach().numpy().sum(-1), 1.0, rtol=1e-5)
        q = p / p.sum()
        counts = np.bincount(y.detach().numpy().argmax(-1), minlength=3) / n
        assert np.all(np.abs(counts - q) <= 5 * np.sqrt(q * (1 - q) / n)), (t, counts)
    x, gz = _per_element_grad(lambda z: D.RelaxedBernoulli(tg.tensor(0.5, dtype=tg.float64), logits=z),
                              [np.array(0.3)], n)
    np.testing.assert_allclose(gz, x * (1 - x) / 0.5, rtol=1e-7, atol=1e-300)


# ---------------------------------------------------------------------------------------------- KL pairs
NEW_KL_MAKERS = {
    "Cauchy": ("loc_scale", lambda lib, m, s: lib.distributions.Cauchy(m, s)),
    "HalfNormal": ("pos", lambda lib, s: lib.distributions.HalfNormal(s)),
    "Gumbel": ("loc_scale", lambda lib, m, s: lib.distributions.Gumbel(m, s)),
    "Pareto": ("pos2", lambda lib, s, a: lib.distributions.Pareto(s, a)),
    "Weibull": ("pos2", lambda lib, s, k: lib.distributions.Weibull(s, k)),
    "HalfCauchy": ("pos", lambda lib, s: lib.distributions.HalfCauchy(s)),
}
ALL_KL = {**KL_MAKERS, **NEW_KL_MAKERS}
_TORCH_KL = torch.distributions.kl._KL_REGISTRY
KL_PAIRS = [(p, q) for p in ALL_KL for q in ALL_KL if (p in NEW_KL_MAKERS or q in NEW_KL_MAKERS)
            and ((getattr(torch.distributions, p), getattr(torch.distributions, q)) in _TORCH_KL or p == q)]


def test_every_registered_pair_is_covered() -> None:
    """Every pair torch registers among the distributions present here is registered here too."""
    ours = {getattr(torch.distributions, name) for name in D.__all__
            if isinstance(getattr(torch.distributions, name, None), type)}  # (not identity_transform, biject_to...)
    for tp, tq in torch.distributions.kl._KL_REGISTRY:
        if tp in ours and tq in ours:
            assert (getattr(D, tp.__name__), getattr(D, tq.__name__)) in D.kl._REGISTRY, (tp, tq)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), pair=st.sampled_from(KL_PAIRS))
def test_kl_pairs_match_torch(data: st.DataObject, dtype: Any, pair: tuple[str, str]) -> None:
    """Values and gradients; inf where torch gives inf; the same NotImplementedError where torch has none."""
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    (kp, make_p), (kq, make_q) = ALL_KL[pair[0]], ALL_KL[pair[1]]
    ps, qs = _pair(data, shape, dtype, kp), _pair(data, shape, dtype, kq)
    n = len(ps)
    check(lambda lib, *a: lib.distributions.kl_divergence(make_p(lib, *a[:n]), make_q(lib, *a[n:])), *ps, *qs,
          rtol=RTOL[dtype] * 200)


# ---------------------------------------------------------------------------------------------- transforms
@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS))
def test_power_and_abs_transforms_match_torch(data: st.DataObject, dtype: Any) -> None:
    s_p, s_x = _shapes(data, 2)
    p = _array(data, s_p, st.floats(-3, 3) | st.sampled_from([0.0, 0.5, 2.0]), dtype)
    x = _array(data, s_x, st.floats(0, 30) | st.sampled_from([0.0, 1e-30, np.inf, np.nan]), dtype)
    rtol = RTOL[dtype] * 10
    check(lambda lib, p, x: (lambda t: (t(x), t.inv(x), t.log_abs_det_jacobian(x, t(x)), t.sign))(
        lib.distributions.transforms.PowerTransform(p)), p, x, rtol=rtol)
    check(lambda lib, x: (lambda t: (t(x - 1), t.inv(x)))(lib.distributions.transforms.AbsTransform()), x, rtol=0)
    tr, ttr = D.transforms, torch.distributions.transforms
    for ours, theirs in [(tr.PowerTransform(tg.tensor(p)), ttr.PowerTransform(torch.tensor(p))),
                         (tr.AbsTransform(), ttr.AbsTransform())]:
        assert ours.bijective == theirs.bijective and ours.event_dim == theirs.event_dim
        assert type(ours.domain).__name__ == type(theirs.domain).__name__
        assert ours.forward_shape(s_x) == tuple(theirs.forward_shape(s_x))
    assert tr.PowerTransform(2.0) == tr.PowerTransform(2.0) != tr.PowerTransform(3.0)
    assert tr.AbsTransform() == tr.AbsTransform() != tr.ExpTransform()
    cached = tr.PowerTransform(2.0).with_cache()
    y = cached(tg.tensor([3.0]))
    assert cached.inv(y).tolist() == [3.0]
    with pytest.raises(NotImplementedError):
        tr.AbsTransform().log_abs_det_jacobian(tg.tensor(1.0), tg.tensor(1.0))


# ---------------------------------------------------------------------------------------------- shapes, samples
MAKERS = {
    "Cauchy": lambda lib, a, b: lib.distributions.Cauchy(a, b + 1),
    "HalfNormal": lambda lib, a, b: lib.distributions.HalfNormal(a + b + 1),
    "HalfCauchy": lambda lib, a, b: lib.distributions.HalfCauchy(a + b + 1),
    "Gumbel": lambda lib, a, b: lib.distributions.Gumbel(a, b + 1),
    "Weibull": lambda lib, a, b: lib.distributions.Weibull(a + 1, b + 1),
    "Pareto": lambda lib, a, b: lib.distributions.Pareto(a + 1, b + 1),
    "MultivariateNormal": lambda lib, a, b: lib.distributions.MultivariateNormal(
        a, covariance_matrix=(b + 1).unsqueeze(-1) * lib.eye(a.shape[-1], dtype=a.dtype)),
    "NegativeBinomial": lambda lib, a, b: lib.distributions.NegativeBinomial(a + b + 1, b),
    "Multinomial": lambda lib, a, b: lib.distributions.Multinomial(3, logits=a + b),
    "LogisticNormal": lambda lib, a, b: lib.distributions.LogisticNormal(a, b + 1),
    "RelaxedBernoulli": lambda lib, a, b: lib.distributions.RelaxedBernoulli(lib.tensor(0.5, dtype=a.dtype), a + b),
    "RelaxedOneHotCategorical": lambda lib, a, b: lib.distributions.RelaxedOneHotCategorical(
        lib.tensor(0.5, dtype=a.dtype), logits=a + b),
    "MixtureSameFamily": lambda lib, a, b: lib.distributions.MixtureSameFamily(
        lib.distributions.Categorical(logits=a + b), lib.distributions.Normal(a, b + 1)),
    "MultivariateNormal precision": lambda lib, a, b: lib.distributions.MultivariateNormal(
        a, precision_matrix=(b + 1).unsqueeze(-1) * lib.eye(a.shape[-1], dtype=a.dtype)),
}


MAKERS_WITH_ENTROPY = {"Multinomial", "Cauchy", "HalfNormal", "HalfCauchy", "Gumbel", "Weibull", "Pareto",
                       "MultivariateNormal", "MultivariateNormal precision"}
VECTORS = ("MultivariateNormal", "MixtureSameFamily", "RelaxedOneHot", "Multinomial",
           "LogisticNormal")  # at least one entry
NO_EMPTY_DRAWS = ("MixtureSameFamily", "RelaxedOneHotCategorical", "Multinomial",
                  "LogisticNormal")  # torch's multinomial refuses 0
# draws, and its transformed log_prob reshapes (0, -1)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), name=st.sampled_from(sorted(MAKERS)))
def test_shapes_and_sample_dtypes(data: st.DataObject, dtype: Any, name: str) -> None:
    """batch / event shapes, has_rsample, sample / rsample / expand shapes and dtypes, support and arg_constraints
    kinds as torch's."""
    s_a, s_b = _shapes(data, 2)
    if name.startswith(VECTORS):
        full = np.broadcast_shapes(s_a, s_b)
        s_a = s_b = (*full[:-1], max(full[-1], 1)) if full else (2,)
    sample_shape = tuple(data.draw(st.lists(st.integers(0, 3), max_size=2)))
    if name in NO_EMPTY_DRAWS and 0 in sample_shape:
        sample_shape = (2,)
    a, b = np.zeros(s_a, dtype), np.ones(s_b, dtype) / 2
    ours = MAKERS[name](tg, tg.tensor(a), tg.tensor(b))
    with _torch_without_ambiguous_reshape(), _torch_for_empty(a, b):
        theirs = MAKERS[name](torch, torch.tensor(a), torch.tensor(b))
    bigger = (2, *ours.batch_shape)
    for d, e in [(ours, theirs), (ours.expand(bigger), theirs.expand(bigger))]:
        assert d.batch_shape == tuple(e.batch_shape) and d.event_shape == tuple(e.event_shape), name
        assert d.has_rsample == e.has_rsample and type(d).__name__ == type(e).__name__
        assert type(d.support).__name__.removesuffix("Constraint") == type(e.support).__name__.removesuffix(
            "Constraint")
        assert sorted(d.arg_constraints) == sorted(e.arg_constraints)
        for method in ["sample"] + ["rsample"] * d.has_rsample:
            x, y = getattr(d, method)(sample_shape), getattr(e, method)(sample_shape)
            assert x.shape == tuple(y.shape) and str(y.dtype) == f"torch.{x.dtype}", (name, x.dtype, y.dtype)
            assert not x.requires_grad
            with _torch_without_ambiguous_reshape(), _torch_for_empty(x.numpy()):
                lp, lq = d.log_prob(x), e.log_prob(y)
            assert lp.shape == tuple(lq.shape) and str(lq.dtype) == f"torch.{lp.dtype}"
        if name in MAKERS_WITH_ENTROPY and not (name == "Multinomial" and (d is not ours or 0 in d.batch_shape)):
            np.testing.assert_allclose(d.entropy().numpy(), e.entropy().numpy(), rtol=1e-5)
            np.testing.assert_allclose(d.variance.numpy(), e.variance.numpy(), rtol=1e-5)


def test_numbers_as_parameters() -> None:
    for name, args in [("Cauchy", (0.5, 2.0)), ("HalfNormal", (2.0,)), ("HalfCauchy", (2.0,)),
                       ("Gumbel", (0.0, 2.0)), ("Weibull", (1.5, 2.0)), ("Pareto", (0.5, 3.0))]:
        ours, theirs = getattr(D, name)(*args), getattr(torch.distributions, name)(*args)
        assert ours.batch_shape == tuple(theirs.batch_shape) == (), name
        a, b = ours.log_prob(tg.tensor(1.0)), theirs.log_prob(torch.tensor(1.0))
        assert a.dtype == np.float32 and a.shape == () and np.isclose(a.item(), b.item(), rtol=1e-5), name
        assert ours.sample((3,)).dtype == np.float32 and ours.sample((3,)).shape == (3,)
    for validate in (True, False):  # a number as the value: refused when validating, as torch
        check(lambda lib, s, v=validate: lib.distributions.HalfCauchy(s, validate_args=v).log_prob(1.5),
              np.array([1.0, 2.0], np.float32), rtol=1e-6)


@pytest.mark.parametrize("dtype", FLOATS)
def test_sampling_statistics(dtype: Any) -> None:
    n = 40_000
    tg.manual_seed(11)

    def draws(d: Any, method: str = "sample") -> np.ndarray:
        x = getattr(d, method)((n,))
        assert x.dtype == dtype
        return x.numpy().astype(np.float64)

    def t(v: float) -> Any:
        return tg.tensor(np.array(v, dtype))

    for d in (D.HalfNormal(t(2.0)), D.Gumbel(t(1.0), t(3.0)), D.Weibull(t(2.0), t(1.5)), D.Pareto(t(1.5), t(6.0))):
        for method in ("sample", "rsample"):
            _moments(draws(d, method), d.mean.numpy().astype(np.float64), d.variance.numpy().astype(np.float64), n)
    for d in (D.Cauchy(t(1.0), t(2.0)), D.HalfCauchy(t(2.0))):  # no moments: the quartiles
        x = draws(d)
        for q in (0.25, 0.5, 0.75):
            frac = (x <= d.icdf(t(q)).item()).mean()
            assert abs(frac - q) <= 5 * math.sqrt(q * (1 - q) / n), (type(d).__name__, q, frac)


def test_rsample_gradients() -> None:
    """The pathwise gradients of the reparameterised samples, checked against what the drawn sample implies."""
    tg.manual_seed(3)
    n = 20_000
    x, gm, gs = _per_element_grad(lambda m, s: D.Cauchy(m, s), [np.array(1.0), np.array(3.0)], n)
    np.testing.assert_allclose(gm, 1.0)
    np.testing.assert_allclose(gs, (x - 1.0) / 3.0, rtol=1e-9, atol=1e-12)
    x, gm, gs = _per_element_grad(lambda m, s: D.Gumbel(m, s), [np.array(1.0), np.array(3.0)], n)
    np.testing.assert_allclose(gm, 1.0)
    np.testing.assert_allclose(gs, (x - 1.0) / 3.0, rtol=1e-9, atol=1e-12)
    x, gs = _per_element_grad(lambda s: D.HalfNormal(s), [np.array(2.0)], n)
    np.testing.assert_allclose(gs, x / 2.0, rtol=1e-12)
    x, gs, gk = _per_element_grad(lambda s, k: D.Weibull(s, k), [np.array(2.0), np.array(1.5)], n)
    np.testing.assert_allclose(gs, x / 2.0, rtol=1e-9)
    np.testing.assert_allclose(gk, -x * np.log(x / 2.0) / 1.5, rtol=1e-7, atol=1e-12)
    x, gs, ga = _per_element_grad(lambda s, a: D.Pareto(s, a), [np.array(1.5), np.array(4.0)], n)
    np.testing.assert_allclose(gs, x / 1.5, rtol=1e-9)
    np.testing.assert_allclose(ga, -x * np.log(x / 1.5) / 4.0, rtol=1e-7, atol=1e-12)
    _mean_within(ga, np.array(-1.5 / 3.0**2))  # d mean / d alpha of alpha s / (alpha - 1)


def test_validation_errors_as_torch() -> None:
    def dist(lib: Any) -> Any:
        return lib.distributions

    for make in (lambda lib: dist(lib).Cauchy(0.0, 0.0), lambda lib: dist(lib).Cauchy(math.nan, 1.0),
                 lambda lib: dist(lib).HalfNormal(-1.0), lambda lib: dist(lib).HalfCauchy(0.0),
                 lambda lib: dist(lib).Gumbel(0.0, -1.0), lambda lib: dist(lib).Weibull(1.0, 0.0),
                 lambda lib: dist(lib).Weibull(-1.0, 1.0), lambda lib: dist(lib).Pareto(0.0, 1.0),
                 lambda lib: dist(lib).Pareto(1.0, math.nan),
                 lambda lib: dist(lib).HalfNormal(1.0).log_prob(lib.tensor(-1.0)),
                 lambda lib: dist(lib).HalfCauchy(1.0).cdf(lib.tensor(-1.0)),
                 lambda lib: dist(lib).Weibull(1.0, 1.0).log_prob(lib.tensor(0.0)),
                 lambda lib: dist(lib).Pareto(2.0, 1.0).log_prob(lib.tensor(1.0)),
                 lambda lib: dist(lib).Gumbel(0.0, 1.0).log_prob(lib.tensor(math.nan)),
                 lambda lib: dist(lib).Cauchy(lib.zeros(3), 1.0).log_prob(lib.zeros(2)),
                 lambda lib: dist(lib).transforms.AbsTransform().log_abs_det_jacobian(lib.ones(1), lib.ones(1))):
        raises(make)
    for lib in (tg, torch):  # unvalidated: computed where validation would raise
        assert lib.distributions.HalfNormal(1.0, validate_args=False).log_prob(lib.tensor(-1.0)).item() == -math.inf
        assert math.isnan(lib.distributions.Cauchy(0.0, -1.0, validate_args=False).log_prob(lib.tensor(1.0)).item())


# ---------------------------------------------------------------------------------------------- on the GPU
def _gpu_program(device: str) -> list[Any]:
    """Values and gradients of the new distributions' functions on ``device`` (samples only for their shapes and
    the finiteness of the reparameterised gradients: the streams differ between devices)."""
    tg.manual_seed(0)
    a = tg.tensor([[0.5, 2.0, 7.0]], device=device, requires_grad=True)
    b = tg.tensor([[1.5, 0.5, 3.0]], device=device, requires_grad=True)
    z = tg.tensor([[0.25, 1.0, 3.0], [0.5, 0.75, 0.1]], device=device)
    cov = tg.tensor([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.7]], device=device, requires_grad=True)
    def mvns() -> tuple[Any, Any]:  # made twice: the draws' graph is separate from the values'
        return D.MultivariateNormal(b.squeeze(0), covariance_matrix=cov), D.MultivariateNormal(a, precision_matrix=cov)

    mvn, prec = mvns()
    parts = [D.Cauchy(a, b).log_prob(z), D.Cauchy(a, b).cdf(z), D.Cauchy(a, b).icdf(z / 4),
             D.HalfNormal(b).log_prob(z), D.HalfNormal(b).cdf(z), D.HalfCauchy(b).log_prob(z),
             D.Gumbel(a, b).log_prob(z), D.Gumbel(a, b).cdf(z), D.Weibull(a, b).log_prob(z), D.Weibull(a, b).cdf(z),
             D.Pareto(b / 8, a).log_prob(z + 0.5), D.Pareto(b / 8, a).entropy(), mvn.log_prob(z), mvn.entropy(),
             mvn.precision_matrix, prec.log_prob(z), prec.scale_tril,
             D.kl_divergence(mvn, prec), D.kl_divergence(D.Cauchy(a, b), D.Cauchy(b, a)),
             D.kl_divergence(D.HalfNormal(a), D.HalfNormal(b)), D.kl_divergence(D.Normal(a, b), D.Gumbel(b, a)),
             D.kl_divergence(D.Pareto(a, b + 2), D.Normal(b, a))]
    mvn, prec = mvns()
    draws = [D.Cauchy(a, b).rsample((2,)), D.HalfNormal(b).rsample(), D.HalfCauchy(b).rsample(),
             D.Gumbel(a, b).rsample(), D.Weibull(a, b).rsample(), D.Pareto(b, a).rsample(), mvn.rsample((4,)),
             prec.rsample()]
    if os.environ.get("TINYGRAD_ADAM_FAKE_GPU") != "1":  # lgamma / digamma are cupyx.scipy.special's, not faked
        parts += [D.Weibull(a, b).mean, D.Weibull(a, b).variance, D.kl_divergence(D.Gumbel(a, b), D.Gumbel(b, a)),
                  D.kl_divergence(D.Gamma(a, b), D.Gumbel(b, a))]
    assert all(d.device == a.device for d in draws)
    sum((q * (i + 1)).sum() for i, q in enumerate(parts)).backward()
    grads = [a.grad.cpu().numpy(), b.grad.cpu().numpy(), cov.grad.cpu().numpy()]
    a.grad = b.grad = cov.grad = None
    sum(d.sum() for d in draws if d.requires_grad).backward()
    assert np.isfinite(a.grad.cpu().numpy()).all() and np.isfinite(b.grad.cpu().numpy()).all()
    return [q.detach().cpu().numpy() for q in parts] + grads


@pytest.mark.gpu
def test_distributions_on_the_gpu_match_the_cpu() -> None:
    for x, y in zip(_gpu_program("cuda"), _gpu_program("cpu")):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_gpu_program_runs_on_the_cpu() -> None:
    out = _gpu_program("cpu")
    assert all(np.isfinite(o).all() for o in out)


def test_new_constraints_match_torch() -> None:
    """positive_definite (symmetric within torch's isclose, Cholesky succeeds; False for non-square), lower_cholesky,
    half_open_interval, multinomial and the mixture constraint, on the same values as torch."""
    mats = [np.eye(2), np.ones((2, 2)), np.array([[2.0, 1.0], [1.0 + 1e-7, 2.0]]), np.array([[2.0, 1.0], [1.1, 2.0]]),
            np.array([[1.0, np.nan], [np.nan, 1.0]]), np.array([[-1.0, 0.0], [0.0, 1.0]]),
            np.array([[1.0, 0.0], [3.0, 2.0]]), np.array([[1.0, 1.0], [0.0, 2.0]]), np.array([[1.0, 0.0], [0.0, 0.0]])]
    stack = np.stack(mats)
    for name in ("positive_definite", "lower_cholesky"):
        ours = getattr(D.constraints, name).check(tg.tensor(stack)).numpy()
        theirs = getattr(torch.distributions.constraints, name).check(torch.tensor(stack)).numpy()
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(D.constraints.positive_definite.check(tg.ones(2, 2, 3)).numpy(), [False, False])
    v = np.array([-0.5, 0.0, 0.5, 1.0, np.nan])
    for make in (lambda c: c.half_open_interval(0.0, 1.0), lambda c: c.multinomial(3),
                 lambda c: c.MixtureSameFamilyConstraint(c.positive)):
        x = v if make(D.constraints).event_dim == 0 else np.array([[1.0, 2.0], [2.0, 2.0], [-1.0, 1.0], [0.0, 0.0]])
        np.testing.assert_array_equal(make(D.constraints).check(tg.tensor(x)).numpy(),
                                      make(torch.distributions.constraints).check(torch.tensor(x)).numpy())
