"""tinygrad_adam.distributions' second batch against torch 2.13: Exponential, Laplace, Poisson, Geometric, Binomial,
OneHotCategorical, Gamma, Chi2, Beta, Dirichlet, StudentT, the transforms, TransformedDistribution and LogNormal,
and the KL pairs torch registers among them (values, dtypes, shapes and parameter gradients on hypothesis inputs
with broadcasting, extreme and invalid parameters, validated and not). The reparameterised Gamma / Beta / Dirichlet
gradients cannot be compared sample for sample (the streams differ): the implicit gradient dx/da is checked
against a float64 finite difference of the CDF relation, and E[d sample / d parameter] against d mean / d parameter.
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Any

import numpy as np
import pytest
import scipy.special as sc
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_distributions import (
    ANY,
    FLOATS,
    POSITIVE,
    RTOL,
    UNIT,
    WEIGHTS,
    _array,
    _moments,
    _shapes,
    _torch_without_ambiguous_reshape,
    check,
)
from test_torch_movement_names import raises

import tinygrad_adam as tg
from tinygrad_adam.distributions.gamma import sample_grad

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

D = tg.distributions
NONNEG = POSITIVE | st.sampled_from([0.0])
COUNTS = st.integers(0, 30).map(float) | st.sampled_from([0.0, 1.0, 1e6])
LOGITS = st.floats(-100, 100) | st.sampled_from([0.0, 40.0, -40.0, 1e4, -1e4])
# torch's Binomial(probs=p).log_prob gradient in p goes through the logits and is off by about eps / p relatively
# (eps / (1 - p) near 1; 1e-10 at p = 1e-6, 2e-5 at 1e-12: README); within eps of 0 or 1 both clamp p
BINOMIAL_P = UNIT.filter(lambda p: not (1e-16 < p < 1e-5 or 1e-16 < 1 - p < 1e-5))
MODERATE = st.floats(1e-2, 1e2) | st.sampled_from([1e-3, 1.0, 0.5, 2.0, 1e3])
BAD_POSITIVE = [0.0, -1.0, np.nan]
# concentrations for lgamma(sum) - sum lgamma: from 1e-4 (below, the gradient is a difference of terms ~1/c that
# cancel, and its rounding depends on the order the terms are added in) to 1e3 (above, lgamma's float32 ulp passes
# the tolerance)
CONCENTRATION = st.floats(1e-4, 1e3) | st.sampled_from([1e-4, 1.0, 1e3])


def _stats(d: Any) -> tuple[Any, ...]:
    return d.entropy(), d.mean, d.mode, d.variance, d.stddev


# each family: (parameter strategies with their invalid values, maker(lib, *params, validate), value strategy,
# methods beyond log_prob and the moments)
FAMILIES: dict[str, tuple[list[tuple[Any, list[float]]], Any, Any, tuple[str, ...]]] = {
    "Exponential": ([(POSITIVE, BAD_POSITIVE)], lambda lib, r, v: lib.distributions.Exponential(r, validate_args=v),
                    ANY, ("cdf", "icdf")),
    "Laplace": ([(ANY, [np.nan]), (POSITIVE, BAD_POSITIVE)],
                lambda lib, m, s, v: lib.distributions.Laplace(m, s, validate_args=v), ANY, ("cdf", "icdf")),
    "Gamma": ([(POSITIVE, BAD_POSITIVE), (POSITIVE, BAD_POSITIVE)],
              lambda lib, a, r, v: lib.distributions.Gamma(a, r, validate_args=v), ANY, ("cdf",)),
    "Chi2": ([(POSITIVE, BAD_POSITIVE)], lambda lib, k, v: lib.distributions.Chi2(k, validate_args=v), ANY, ("cdf",)),
    "Beta": ([(CONCENTRATION, BAD_POSITIVE), (CONCENTRATION, BAD_POSITIVE)],
             lambda lib, a, b, v: lib.distributions.Beta(a, b, validate_args=v), UNIT | st.sampled_from([-0.5, 2.0]),
             ()),
    "StudentT": ([(POSITIVE | st.sampled_from([2.0, 1.0]), BAD_POSITIVE), (ANY, []), (POSITIVE, BAD_POSITIVE)],
                 lambda lib, k, m, s, v: lib.distributions.StudentT(k, m, s, validate_args=v), ANY, ()),
    "LogNormal": ([(st.floats(-30, 30), [np.nan]), (MODERATE, BAD_POSITIVE)],
                  lambda lib, m, s, v: lib.distributions.LogNormal(m, s, validate_args=v), NONNEG | ANY,
                  ("cdf", "icdf")),
    "Poisson": ([(NONNEG, [-1.0, np.nan])], lambda lib, r, v: lib.distributions.Poisson(r, validate_args=v), COUNTS,
                ()),
    "Geometric": ([(UNIT, [0.0, 1.5, np.nan])], lambda lib, p, v: lib.distributions.Geometric(p, validate_args=v),
                  COUNTS, ()),
    "Geometric logits": ([(LOGITS, [np.nan])],
                         lambda lib, z, v: lib.distributions.Geometric(logits=z, validate_args=v), COUNTS, ()),
    "Binomial": ([(COUNTS, [-1.0, 0.5]), (BINOMIAL_P, [1.5, np.nan])],
                 lambda lib, n, p, v: lib.distributions.Binomial(n, p, validate_args=v), COUNTS, ()),
    "Binomial logits": ([(COUNTS, [-1.0]), (LOGITS, [np.nan])],
                        lambda lib, n, z, v: lib.distributions.Binomial(n, logits=z, validate_args=v), COUNTS, ()),
}
NO_STATS = {"Binomial", "Binomial logits"}  # entropy needs one total_count: test_binomial_entropy_and_support


@pytest.mark.parametrize("name", sorted(FAMILIES))
@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), validate=st.booleans())
def test_family_matches_torch(name: str, data: st.DataObject, dtype: Any, validate: bool) -> None:
    """log_prob / cdf / icdf / entropy / moments with their parameter gradients, as torch's (or both raise)."""
    specs, make, values, methods = FAMILIES[name]
    shapes = _shapes(data, len(specs) + 1)
    params = [_array(data, s, strategy, dtype, bad=bad) for s, (strategy, bad) in zip(shapes, specs)]
    value = _array(data, shapes[-1], values, data.draw(st.sampled_from(FLOATS)), bad=[np.nan])
    q = _array(data, shapes[-1], UNIT, dtype, bad=[-0.5, 1.5])
    # torch's float64 log1p rounds the one smallest subnormal to 0 (log1p(-5e-324) = 0, numpy's -5e-324), so at a
    # rate of 0 its Exponential icdf there is 0 / 0 = nan and ours 5e-324 / 0 = inf: the next subnormal instead
    q = np.where(np.abs(q) == 5e-324, np.copysign(1e-323, q), q).astype(dtype)
    rtol = RTOL[dtype] * (50 if name in ("StudentT", "Beta") else 5)  # lgamma differences of large arguments
    if name.startswith("Binomial") and np.abs(np.concatenate([params[0].ravel(), value.ravel()])).max(initial=0) > 1e5:
        rtol = max(rtol, 1e-9)  # log_prob adds lgamma terms of 1.3e7 that cancel to -22.3 (n = 0.5, k = 1e6)
        if dtype == np.float32:  # the probs gradient sums terms of +-n g / 2 (clamp_by_zero's backward) beside a
            rtol = max(rtol, 1e-2)  # result 1e5 times smaller, in either library's order: at n = 1e6, p = 1e-5, k = 2
            # (cotangent cos 2) it is 332920.8 in float64, ours 333337.7, torch's 332815.8

    def d(lib: Any, *ps: Any) -> Any:
        return make(lib, *ps, validate)

    mixed = max(rtol, RTOL[value.dtype.type] * 5)  # a float32 value beside float64 parameters: float32 terms
    check(lambda lib, *a: d(lib, *a[:-1]).log_prob(a[-1]), *params, value, rtol=mixed)
    if "cdf" in methods:  # torch has no gradient of gammainc for the concentration: it is compared below
        fixed = name in ("Gamma", "Chi2")  # torch's float64 gammainc is off by up to ~2e-9 (a = 20.5, x = 14.5);
        check(lambda lib, *a: d(lib, *[p.detach() if fixed and i == 0 else p for i, p in enumerate(a[:-1])]).cdf(
            a[-1]), *params, value, rtol=max(mixed, 1e-8) if fixed else mixed)  # scipy's is correctly rounded
    if "icdf" in methods:
        check(lambda lib, *a: d(lib, *a[:-1]).icdf(a[-1]), *params, q, rtol=rtol)
    if name not in NO_STATS:
        if name in ("Gamma", "Chi2", "StudentT", "Beta"):  # entropy: a difference of terms ~ a log a, whose
            params = [np.where(np.abs(p) > 1e3, 1e3, p).astype(p.dtype) for p in params]  # rounding grows with a
            # float32 up to 7e3: their last-ulp lgamma / digamma rounding differs from torch's; float64: the
            # gradients read trigamma, where torch's series is up to 5e-10 off (ours a few ulps)
            rtol = 2e-3 if dtype == np.float32 else max(rtol, 3e-9)
        check(lambda lib, *a: _stats(d(lib, *a)), *params, rtol=rtol)
    else:
        check(lambda lib, *a: (lambda x: (x.mean, x.mode, x.variance, x.stddev, x.probs, x.logits))(d(lib, *a)),
              *params, rtol=rtol)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), validate=st.booleans(), use_logits=st.booleans(),
       k=st.integers(1, 4))
def test_one_hot_categorical_matches_torch(data: st.DataObject, dtype: Any, validate: bool, use_logits: bool,
                                           k: int) -> None:
    s_batch, s_value = _shapes(data, 2)
    param = _array(data, (*s_batch, k), LOGITS if use_logits else WEIGHTS, dtype,
                   bad=[] if use_logits else [-1.0, np.nan])
    classes = data.draw(hnp.arrays(np.int64, s_value, elements=st.integers(0, k - 1)))
    value = np.eye(k, dtype=data.draw(st.sampled_from(FLOATS)))[classes]
    if value.size and data.draw(st.booleans()):
        value.flat[data.draw(st.integers(0, value.size - 1))] = data.draw(st.sampled_from([0.5, 2.0, 1.0, 0.0]))

    def d(lib: Any, p: Any) -> Any:
        return lib.distributions.OneHotCategorical(**{"logits" if use_logits else "probs": p}, validate_args=validate)

    rtol = RTOL[dtype]
    check(lambda lib, p, v: d(lib, p).log_prob(v), param, value, rtol=rtol)
    check(lambda lib, p: (lambda x: (x.entropy(), x.mean, x.variance, x.probs, x.logits))(d(lib, p)), param,
          rtol=rtol)
    if not np.isnan(param).any() and param.size:
        check(lambda lib, p: d(lib, p).mode, param, rtol=rtol)
    for expand in (True, False):
        check(lambda lib, p, expand=expand: d(lib, p).enumerate_support(expand), param, rtol=0)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), validate=st.booleans(), k=st.integers(1, 4))
def test_dirichlet_matches_torch(data: st.DataObject, dtype: Any, validate: bool, k: int) -> None:
    s_batch, s_value = _shapes(data, 2)
    conc = _array(data, (*s_batch, k), CONCENTRATION, dtype, bad=BAD_POSITIVE)
    weights = data.draw(hnp.arrays(np.float64, (*s_value, k), elements=st.floats(0, 10) | st.sampled_from([0.0, 1.0])))
    with np.errstate(invalid="ignore"):
        value = (weights / weights.sum(-1, keepdims=True)).astype(data.draw(st.sampled_from(FLOATS)))
    value[np.isnan(value)] = 1.0 / k
    if value.size and data.draw(st.booleans()):
        value.flat[data.draw(st.integers(0, value.size - 1))] = data.draw(st.sampled_from([-0.5, 2.0, np.nan]))

    def d(lib: Any, c: Any) -> Any:
        return lib.distributions.Dirichlet(c, validate_args=validate)

    rtol = RTOL[dtype] * 50
    check(lambda lib, c, v: d(lib, c).log_prob(v), conc, value, rtol=rtol)
    # (the entropy's float64 gradient reads trigamma: torch's series is up to 5e-10 off, ours a few ulps)
    check(lambda lib, c: (lambda x: (x.entropy(), x.mean, x.mode, x.variance))(d(lib, c)), conc,
          rtol=max(rtol, 3e-9) if dtype == np.float64 else rtol)


@pytest.mark.parametrize("concentration", [1e-300, 1e-40, 0.3])
def test_gammainc_density_reads_the_concentration_as_given(concentration: float) -> None:
    """A float64 concentration beside a float32 value: the cdf's derivative in the value is torch's, formed from the
    concentration as given (rounded to float32 first, 1e-300 became 0 and the density at 0 was 0 / 0 = nan where
    torch's is inf); also torch.special.gammainc / gammaincc's derivative in x."""
    value = np.array([0.0, 1e-3, 0.5, 2.0], np.float32)
    grads = []
    for lib in (tg, torch):
        k = lib.tensor(concentration, dtype=lib.float64)
        out = []
        for name in ("cdf", "gammainc", "gammaincc"):
            v = lib.tensor(value, requires_grad=True)
            y = lib.distributions.Chi2(k, validate_args=False).cdf(v) if name == "cdf" else \
                getattr(lib.special, name)(k, v)
            (y * lib.tensor([1.0, -2.0, 0.5, 3.0])).sum().backward()
            out.append(v.grad.numpy().astype(np.float64))
        grads.append(out)
    for ours, theirs in zip(*grads):  # (torch takes log x in float32 before the float64 product: 3e-6 apart)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=0)


def test_gammainc_density_at_a_negative_infinite_concentration() -> None:
    """special.gammainc's derivative in x at a = -inf is torch's nan (its lgamma(-inf) is inf; scipy's gammaln is
    -inf, which gave inf here), the same helper as the distributions' gammainc."""
    got = []
    for lib in (tg, torch):
        x = lib.tensor([0.5, 2.0, 0.0], dtype=lib.float64, requires_grad=True)
        lib.special.gammainc(lib.tensor([-np.inf, 2.0, -np.inf], dtype=lib.float64), x).sum().backward()
        got.append(x.grad.numpy())
    np.testing.assert_array_equal(*got)


def _pair(data: st.DataObject, shape: tuple[int, ...], dtype: Any, kind: str) -> list[np.ndarray]:
    """Valid parameters of ``kind`` of ``shape``."""
    unit = st.floats(1e-3, 1 - 1e-3) | st.sampled_from([0.5, 1e-3])  # (Geometric KL: terms ~ 1/p^2 cancel)
    strategies = {"pos": [MODERATE], "loc_scale": [st.floats(-10, 10), MODERATE], "pos2": [MODERATE, MODERATE],
                  "unit": [unit], "count_unit": [st.sampled_from([0.0, 1.0, 5.0]), unit],
                  "low_high": [st.floats(-2, 2), st.floats(1e-2, 3)]}[kind]
    arrays = [_array(data, shape, s, dtype) for s in strategies]
    if kind == "low_high":
        arrays[1] = (arrays[0] + arrays[1]).astype(dtype)
    return arrays


KL_MAKERS = {  # name -> (parameter kind, maker)
    "Exponential": ("pos", lambda lib, r: lib.distributions.Exponential(r)),
    "Laplace": ("loc_scale", lambda lib, m, s: lib.distributions.Laplace(m, s)),
    "Normal": ("loc_scale", lambda lib, m, s: lib.distributions.Normal(m, s)),
    "Gamma": ("pos2", lambda lib, a, r: lib.distributions.Gamma(a, r)),
    "Beta": ("pos2", lambda lib, a, b: lib.distributions.Beta(a, b)),
    "Uniform": ("low_high", lambda lib, lo, hi: lib.distributions.Uniform(lo, hi)),
    "Poisson": ("pos", lambda lib, r: lib.distributions.Poisson(r)),
    "Bernoulli": ("unit", lambda lib, p: lib.distributions.Bernoulli(p)),
    "Geometric": ("unit", lambda lib, p: lib.distributions.Geometric(p)),
    "Binomial": ("count_unit", lambda lib, n, p: lib.distributions.Binomial(n, p)),
    "LogNormal": ("loc_scale", lambda lib, m, s: lib.distributions.LogNormal(m, s)),
    "Chi2": ("pos", lambda lib, k: lib.distributions.Chi2(k)),
}
KL_PAIRS = [(p, q) for p in KL_MAKERS for q in KL_MAKERS
            if (getattr(torch.distributions, p), getattr(torch.distributions, q)) in torch.distributions.kl._KL_REGISTRY
            or p == q or (p, q) in {("Chi2", "Gamma"), ("Gamma", "Chi2")}]


@settings(max_examples=200, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), pair=st.sampled_from(KL_PAIRS))
def test_kl_pairs_match_torch(data: st.DataObject, dtype: Any, pair: tuple[str, str]) -> None:
    """Every registered pair among these (values and gradients; inf where torch gives inf; the same NotImplementedError
    where torch has none). Parameters of one shape (torch's masked writes need that)."""
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    (kp, make_p), (kq, make_q) = KL_MAKERS[pair[0]], KL_MAKERS[pair[1]]
    ps, qs = _pair(data, shape, dtype, kp), _pair(data, shape, dtype, kq)
    if pair == ("Binomial", "Binomial"):
        qs[0] = np.maximum(qs[0], ps[0]) if data.draw(st.booleans()) else qs[0]
    n = len(ps)
    tiny = min((float(np.abs(x).min(initial=1.0)) for x in ps + qs), default=1.0) < 0.01
    if dtype == np.float32 and {"Gamma", "Chi2", "Beta"} & set(pair) and tiny:
        # float32 gradients at concentrations below 0.01 are differences of terms ~ 1 / a^2 (trigamma(1e-3) is 1e6):
        # a few digits in either library (KL(Beta(1e-3, 10) || Gamma(1e-3, 1))'s: ours -0.440, torch's -0.455,
        # float64 -0.457; at (1e-3, 3) || (1e-3, 2) ours was the closer): compared in float64 there
        ps, qs, dtype = [x.astype(np.float64) for x in ps], [x.astype(np.float64) for x in qs], np.float64
    # (float64: gradients through trigamma, torch's series up to 5e-10 off, ours a few ulps, in sums that cancel)
    rtol = 3e-9 if dtype == np.float64 and {"Gamma", "Chi2", "Beta"} & set(pair) else RTOL[dtype] * 50
    check(lambda lib, *a: lib.distributions.kl_divergence(make_p(lib, *a[:n]), make_q(lib, *a[n:])), *ps, *qs,
          rtol=rtol)


def test_kl_unregistered_and_dirichlet_and_one_hot() -> None:
    raises(lambda lib: lib.distributions.kl_divergence(lib.distributions.Poisson(1.0), lib.distributions.Gamma(1.0,
                                                                                                              1.0)))
    raises(lambda lib: lib.distributions.kl_divergence(lib.distributions.LogNormal(0.0, 1.0),
                                                       lib.distributions.Gamma(1.0, 1.0)))
    a, b = np.array([[0.5, 2.0, 3.0], [1e-3, 1.0, 40.0]]), np.array([1.0, 0.2, 7.0])
    # (its gradient reads float64 trigamma, where torch's series is up to 5e-10 off: 1.2e-9 here, ours 1.3e-15)
    check(lambda lib, a, b: lib.distributions.kl_divergence(lib.distributions.Dirichlet(a),
                                                            lib.distributions.Dirichlet(b)), a, b, rtol=3e-9)
    check(lambda lib, a, b: lib.distributions.kl_divergence(lib.distributions.OneHotCategorical(a),
                                                            lib.distributions.OneHotCategorical(b)), a, b, rtol=1e-12)
    # LogNormal vs an affine-transformed Normal: the transform lists differ, so torch has no KL (nor do we)
    raises(lambda lib: lib.distributions.kl_divergence(
        lib.distributions.LogNormal(0.0, 1.0), lib.distributions.TransformedDistribution(
            lib.distributions.Normal(0.0, 1.0), [lib.distributions.transforms.AffineTransform(0.0, 2.0)])))
    # more trials in q than in p: NotImplementedError in both
    raises(lambda lib: lib.distributions.kl_divergence(lib.distributions.Binomial(2, lib.tensor([0.5])),
                                                       lib.distributions.Binomial(3, lib.tensor([0.5]))))


# ---------------------------------------------------------------------------------------------- edges, validation
def test_support_edges_and_nan() -> None:
    """Values at and beyond the support's edges, unvalidated, and extreme parameters: torch's inf / nan / 0."""
    for dtype in FLOATS:
        edge = np.array([0.0, -0.0, 1e-45, 1.0, -1.0, np.inf, np.nan], dtype)
        for make in (lambda lib, a, b: lib.distributions.Gamma(a, b, validate_args=False),
                     lambda lib, a, b: lib.distributions.Beta(a, b, validate_args=False),
                     lambda lib, a, b: lib.distributions.Exponential(a, validate_args=False),
                     lambda lib, a, b: lib.distributions.LogNormal(a, b, validate_args=False),
                     lambda lib, a, b: lib.distributions.Poisson(a, validate_args=False),
                     lambda lib, a, b: lib.distributions.Geometric(a.sigmoid(), validate_args=False)):
            for a, b in [(1.0, 1.0), (0.5, 2.0), (3.0, 0.5), (1e-30, 1e30), (1e30, 1e-30)]:
                check(lambda lib, a, b, v, make=make: make(lib, a, b).log_prob(v), np.array(a, dtype),
                      np.array(b, dtype), edge, rtol=RTOL[dtype] * 10)
        probs = np.array([0.0, 1.0, 0.5, 1.0, 0.0], dtype)
        counts = np.array([0.0, 0.0, 3.0, 4.0, 4.0], dtype)
        check(lambda lib, p, v: lib.distributions.Binomial(4, p).log_prob(v), probs, counts, rtol=RTOL[dtype])
        check(lambda lib, p, v: lib.distributions.Geometric(p).log_prob(v), np.array([1.0, 1.0, 0.3], dtype),
              np.array([0.0, 2.0, 5.0], dtype), rtol=RTOL[dtype])
        check(lambda lib, r, v: lib.distributions.Poisson(r).log_prob(v), np.array([0.0, 0.0, 2.5], dtype),
              np.array([0.0, 3.0, 0.0], dtype), rtol=RTOL[dtype])


def test_validation_errors_as_torch() -> None:
    nd = "distributions"

    def dist(lib: Any) -> Any:
        return getattr(lib, nd)

    for make in (lambda lib: dist(lib).Exponential(0.0), lambda lib: dist(lib).Laplace(0.0, -1.0),
                 lambda lib: dist(lib).Poisson(-1.0), lambda lib: dist(lib).Geometric(0.0),
                 lambda lib: dist(lib).Geometric(1.5), lambda lib: dist(lib).Geometric(),
                 lambda lib: dist(lib).Geometric(0.5, 0.0), lambda lib: dist(lib).Binomial(2.5, lib.tensor(0.5)),
                 lambda lib: dist(lib).Binomial(-1, lib.tensor(0.5)), lambda lib: dist(lib).Binomial(2),
                 lambda lib: dist(lib).Gamma(0.0, 1.0), lambda lib: dist(lib).Gamma(1.0, math.nan),
                 lambda lib: dist(lib).Chi2(-2.0), lambda lib: dist(lib).Beta(0.0, 1.0),
                 lambda lib: dist(lib).Dirichlet(lib.tensor([1.0, 0.0])),
                 lambda lib: dist(lib).Dirichlet(lib.tensor(1.0)), lambda lib: dist(lib).StudentT(0.0),
                 lambda lib: dist(lib).StudentT(1.0, 0.0, -1.0), lambda lib: dist(lib).LogNormal(0.0, 0.0),
                 lambda lib: dist(lib).OneHotCategorical(lib.tensor([0.5, -0.5])),
                 lambda lib: dist(lib).OneHotCategorical(lib.tensor(0.5)),
                 # values outside the support, validated
                 lambda lib: dist(lib).Exponential(1.0).log_prob(lib.tensor(-1.0)),
                 lambda lib: dist(lib).Gamma(1.0, 1.0).log_prob(lib.tensor(-1.0)),
                 lambda lib: dist(lib).Gamma(1.0, 1.0).cdf(lib.tensor(math.nan)),
                 lambda lib: dist(lib).Poisson(1.0).log_prob(lib.tensor(0.5)),
                 lambda lib: dist(lib).Geometric(0.5).log_prob(lib.tensor(-1.0)),
                 lambda lib: dist(lib).Binomial(3, lib.tensor(0.5)).log_prob(lib.tensor(4.0)),
                 lambda lib: dist(lib).Beta(1.0, 1.0).log_prob(lib.tensor(1.5)),
                 lambda lib: dist(lib).Dirichlet(lib.ones(3)).log_prob(lib.tensor([0.5, 0.6, 0.0])),
                 lambda lib: dist(lib).OneHotCategorical(lib.ones(3)).log_prob(lib.tensor([1.0, 1.0, 0.0])),
                 lambda lib: dist(lib).LogNormal(0.0, 1.0).log_prob(lib.tensor(-1.0)),
                 lambda lib: dist(lib).LogNormal(0.0, 1.0).cdf(lib.tensor(-1.0)),
                 lambda lib: dist(lib).Laplace(0.0, 1.0).log_prob(lib.tensor(math.nan)),
                 lambda lib: dist(lib).Laplace(lib.zeros(3), 1.0).log_prob(lib.zeros(2)),
                 # no reparameterised sampler; entropy of mixed trial counts
                 lambda lib: dist(lib).Poisson(1.0).rsample(), lambda lib: dist(lib).Geometric(0.5).rsample(),
                 lambda lib: dist(lib).Binomial(3, lib.tensor(0.5)).rsample(),
                 lambda lib: dist(lib).OneHotCategorical(lib.ones(3)).rsample(),
                 lambda lib: dist(lib).Binomial(lib.tensor([2.0, 3.0]), lib.tensor(0.5)).entropy(),
                 lambda lib: dist(lib).Binomial(lib.tensor([2.0, 3.0]), lib.tensor(0.5)).enumerate_support(),
                 lambda lib: dist(lib).TransformedDistribution(dist(lib).Normal(0.0, 1.0), "exp"),
                 lambda lib: dist(lib).TransformedDistribution(dist(lib).Normal(0.0, 1.0), [1]),
                 lambda lib: dist(lib).transforms.Transform(cache_size=2)):
        raises(make)
    for lib in (tg, torch):  # unvalidated: computed where validation would raise
        assert math.isnan(lib.distributions.Exponential(-1.0, validate_args=False).log_prob(lib.tensor(1.0)).item())
        assert lib.distributions.Gamma(1.0, 1.0, validate_args=False).log_prob(lib.tensor(-1.0)).item() == 1.0
        assert lib.distributions.Beta(2.0, 2.0, validate_args=False).log_prob(lib.tensor(1.5)).item() != 0
    with pytest.raises(ValueError, match="positive"):
        D.Geometric(tg.tensor([0.5, 0.0]))
    with pytest.raises(NotImplementedError, match="Inhomogeneous"):
        D.Binomial(tg.tensor([2.0, 3.0]), tg.tensor(0.5)).entropy()


@pytest.mark.parametrize("dtype", FLOATS)
def test_binomial_entropy_and_support(dtype: Any) -> None:
    for n in (0, 1, 7):
        for use_logits in (False, True):
            p = np.array([[-50.0, 0.3], [2, 40]] if use_logits else [[0.0, 0.3], [1.0, 0.9]], dtype)

            def d(lib: Any, p: Any, n: int = n, use_logits: bool = use_logits) -> Any:
                return lib.distributions.Binomial(n, **{"logits" if use_logits else "probs": p})

            check(lambda lib, p: (d(lib, p).entropy(), d(lib, p).enumerate_support(), d(lib, p).enumerate_support(
                False)), p, rtol=RTOL[dtype] * 10)
            check(lambda lib, p: d(lib, p).log_prob(d(lib, p).enumerate_support()), p, rtol=RTOL[dtype] * 10)


# ---------------------------------------------------------------------------------------------- shapes, samples
MAKERS = {
    "Exponential": lambda lib, a, b: lib.distributions.Exponential(a + b + 1),
    "Laplace": lambda lib, a, b: lib.distributions.Laplace(a, b + 1),
    "Poisson": lambda lib, a, b: lib.distributions.Poisson(a + b + 1),
    "Geometric": lambda lib, a, b: lib.distributions.Geometric((a + b) / 4 + 0.25),
    "Binomial": lambda lib, a, b: lib.distributions.Binomial(3, (a + b) / 4 + 0.25),
    "Gamma": lambda lib, a, b: lib.distributions.Gamma(a + 1, b + 1),
    "Chi2": lambda lib, a, b: lib.distributions.Chi2(a + b + 1),
    "Beta": lambda lib, a, b: lib.distributions.Beta(a + 1, b + 1),
    "StudentT": lambda lib, a, b: lib.distributions.StudentT(a + 3, b, b + 1),
    "LogNormal": lambda lib, a, b: lib.distributions.LogNormal(a, b + 1),
    "OneHotCategorical": lambda lib, a, b: lib.distributions.OneHotCategorical(a + b + 1),
    "Dirichlet": lambda lib, a, b: lib.distributions.Dirichlet(a + b + 1),
    "Transformed": lambda lib, a, b: lib.distributions.TransformedDistribution(
        lib.distributions.Normal(a, b + 1), [lib.distributions.transforms.AffineTransform(b, 2.0),
                                             lib.distributions.transforms.SigmoidTransform()]),
    "Transformed event": lambda lib, a, b: lib.distributions.TransformedDistribution(
        lib.distributions.Normal(a, 1.0), lib.distributions.transforms.AffineTransform(0.0, b + 1, event_dim=1)),
}
VECTOR = {"OneHotCategorical", "Dirichlet", "Transformed event"}


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), name=st.sampled_from(sorted(MAKERS)))
def test_shapes_and_sample_dtypes(data: st.DataObject, dtype: Any, name: str) -> None:
    """batch / event shapes, has_rsample, sample / rsample / expand shapes and dtypes, support and arg_constraints
    kinds as torch's."""
    s_a, s_b = _shapes(data, 2)
    full = np.broadcast_shapes(s_a, s_b)
    if name in VECTOR:  # at least one dim, and classes K >= 1 (K = 0: torch's own failures)
        s_a, s_b = (*full[:-1], max(full[-1], 1)) if full else (2,), ()
    sample_shape = tuple(data.draw(st.lists(st.integers(0, 3), max_size=2)))
    if name == "OneHotCategorical" and 0 in sample_shape:  # torch's multinomial refuses 0 draws
        sample_shape = (2,)
    a, b = np.zeros(s_a, dtype), np.ones(s_b, dtype) / 2
    ours = MAKERS[name](tg, tg.tensor(a), tg.tensor(b))
    with _torch_without_ambiguous_reshape():
        theirs = MAKERS[name](torch, torch.tensor(a), torch.tensor(b))
    bigger = (2, *ours.batch_shape)
    for d, e in [(ours, theirs), (ours.expand(bigger), theirs.expand(bigger))]:
        assert d.batch_shape == tuple(e.batch_shape) and d.event_shape == tuple(e.event_shape), name
        assert d.has_rsample == e.has_rsample and type(d).__name__ == type(e).__name__
        assert type(d.support).__name__ == type(e.support).__name__
        assert sorted(d.arg_constraints) == sorted(e.arg_constraints)
        for method in ["sample"] + ["rsample"] * d.has_rsample:
            x, y = getattr(d, method)(sample_shape), getattr(e, method)(sample_shape)
            assert x.shape == tuple(y.shape) and str(y.dtype) == f"torch.{x.dtype}", (name, x.dtype, y.dtype)
            assert not x.requires_grad
            with _torch_without_ambiguous_reshape():
                lp, lq = d.log_prob(x), e.log_prob(y)
            assert lp.shape == tuple(lq.shape) and str(lq.dtype) == f"torch.{lp.dtype}"


def test_numbers_as_parameters() -> None:
    for name, args in [("Exponential", (2.0,)), ("Laplace", (0.0, 2.0)), ("Poisson", (3,)), ("Gamma", (2.0, 0.5)),
                       ("Chi2", (3.0,)), ("Beta", (2.0, 0.5)), ("StudentT", (3.0,)), ("LogNormal", (0.0, 1.0)),
                       ("Geometric", (0.3,))]:
        ours, theirs = getattr(D, name)(*args), getattr(torch.distributions, name)(*args)
        assert ours.batch_shape == tuple(theirs.batch_shape) == (), name
        v = 1.0
        a, b = ours.log_prob(tg.tensor(v)), theirs.log_prob(torch.tensor(v))
        assert a.dtype == np.float32 and a.shape == () and np.isclose(a.item(), b.item(), rtol=1e-5), name
        assert ours.sample((3,)).dtype == np.float32 and ours.sample((3,)).shape == (3,)
        assert repr(ours) == repr(theirs), (repr(ours), repr(theirs))
    # a Gamma takes a number as its value and computes in the rate's dtype, as torch
    check(lambda lib, r: lib.distributions.Gamma(2.0, r).log_prob(1.5), np.array([1.0, 2.0]), rtol=1e-12)
    check(lambda lib, r, v: lib.distributions.Gamma(2.0, r).log_prob(v), np.array([1.0, 2.0], np.float32),
          np.array([0.5, 1.5]), rtol=2e-6)


def _per_element_grad(make: Any, params: list[np.ndarray], n: int) -> list[np.ndarray]:
    """(sample, gradient of each sample with respect to each parameter), for ``n`` copies of ``params``."""
    leaves = [tg.tensor(np.broadcast_to(p, (n, *p.shape)).copy(), requires_grad=True) for p in params]
    x = make(*leaves).rsample()
    x.sum().backward()
    return [x.numpy().astype(np.float64)] + [t.grad.numpy().astype(np.float64) for t in leaves]


def _mean_within(grads: np.ndarray, expected: np.ndarray, sigmas: float = 5) -> None:
    n = grads.shape[0]
    m, se = grads.mean(0), grads.std(0) / math.sqrt(n)
    assert np.all(np.abs(m - expected) <= sigmas * se + 1e-9 * np.abs(expected) + 1e-12), (m, expected, se)


@pytest.mark.parametrize("dtype", FLOATS)
def test_sampling_statistics(dtype: Any) -> None:
    n = 40_000
    tg.manual_seed(123)

    def moments(d: Any, mean: Any, var: Any, sampler: str = "sample") -> np.ndarray:
        x = getattr(d, sampler)((n,))
        assert x.dtype == dtype
        x = x.numpy().astype(np.float64)
        _moments(x, np.asarray(mean, np.float64), np.asarray(var, np.float64), n)
        return x

    rate = np.array([0.5, 2.0, 30.0], dtype)
    x = moments(D.Exponential(tg.tensor(rate)), 1 / rate, 1 / rate**2.0, "rsample")
    assert (x >= 0).all()
    loc, scale = np.array([0.0, 3.0], dtype), np.array([1.0, 0.1], dtype)
    moments(D.Laplace(tg.tensor(loc), tg.tensor(scale)), loc, 2 * scale**2.0, "rsample")
    r = np.array([0.0, 0.3, 5.0, 200.0], dtype)
    x = moments(D.Poisson(tg.tensor(r)), r, r)
    assert np.all(x % 1 == 0)
    p = np.array([1.0, 0.5, 0.05], dtype)
    x = moments(D.Geometric(tg.tensor(p)), 1 / p - 1, (1 / p - 1) / p)
    assert np.all(x % 1 == 0)
    counts, p = np.array([0.0, 1.0, 10.0, 100.0], dtype), np.array([0.5, 0.0, 0.3, 1.0], dtype)
    moments(D.Binomial(tg.tensor(counts), tg.tensor(p)), counts * p, counts * p * (1 - p))
    a, rr = np.array([1e-2, 0.5, 1.0, 7.0, 1e4], dtype), np.array([1.0, 2.0, 0.5, 1.0, 10.0], dtype)
    x = moments(D.Gamma(tg.tensor(a), tg.tensor(rr)), a / rr, a / rr**2.0, "rsample")
    assert (x > 0).all()
    k = np.array([1.0, 4.0], dtype)
    moments(D.Chi2(tg.tensor(k)), k, 2 * k)
    c1, c0 = np.array([0.5, 2.0, 30.0, 0.1], dtype), np.array([0.5, 5.0, 1.0, 0.1], dtype)
    total = c1 + c0
    x = moments(D.Beta(tg.tensor(c1), tg.tensor(c0)), c1 / total, c1 * c0 / (total**2 * (total + 1)), "rsample")
    assert ((x > 0) & (x <= 1)).all()
    conc = np.array([[0.3, 1.0, 4.0], [10.0, 10.0, 10.0]], dtype)
    s = conc.sum(-1, keepdims=True)
    x = moments(D.Dirichlet(tg.tensor(conc)), conc / s, conc * (s - conc) / (s**2 * (s + 1)), "rsample")
    np.testing.assert_allclose(x.sum(-1), 1.0, rtol=1e-5)
    df = np.array([5.0, 30.0], dtype)
    moments(D.StudentT(tg.tensor(df), 1.0, 2.0), np.ones(2), 4 * df / (df - 2), "rsample")
    m, sd = np.array([0.0, 1.0], dtype), np.array([0.25, 0.5], dtype)
    moments(D.LogNormal(tg.tensor(m), tg.tensor(sd)), np.exp(m + sd**2 / 2),
            np.expm1(sd.astype(np.float64) ** 2) * np.exp(2 * m + sd.astype(np.float64) ** 2), "rsample")
    w = np.array([1.0, 0.0, 3.0], dtype)
    x = moments(D.OneHotCategorical(tg.tensor(w)), w / 4, w / 4 * (1 - w / 4))
    assert np.all(x.sum(-1) == 1)


def test_samples_follow_the_seed() -> None:
    for d in (D.Gamma(tg.tensor([0.5, 3.0]), 1.0), D.Beta(tg.tensor([0.5, 3.0]), 2.0), D.Poisson(tg.tensor([2.0])),
              D.Binomial(5, tg.tensor([0.3])), D.Laplace(0.0, 1.0), D.Dirichlet(tg.ones(3))):
        tg.manual_seed(5)
        first = d.sample((4,)).numpy()
        tg.manual_seed(5)
        assert np.array_equal(first, d.sample((4,)).numpy())


# ---------------------------------------------------------------------------------------------- rsample gradients
def _fd_sample_grad(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dx/da = -(dP/da) / f(x; a) with dP/da a float64 central difference of scipy's gammainc, or -dQ/da of
    gammaincc where P > 1/2 (the smaller of the two keeps its relative accuracy; step 1e-6 a: ~1e-9 relative)."""
    h = 1e-6 * a
    lower = (sc.gammainc(a + h, x) - sc.gammainc(a - h, x)) / (2 * h)
    upper = -(sc.gammaincc(a + h, x) - sc.gammaincc(a - h, x)) / (2 * h)
    dp = np.where(sc.gammainc(a, x) > 0.5, upper, lower)
    density = np.exp((a - 1) * np.log(x) - x - sc.gammaln(a))
    return -dp / density


@settings(max_examples=60, deadline=None)
@given(a=st.floats(1e-3, 1e4) | st.sampled_from([1e-3, 0.5, 1.0, 1.5, 100.0, 5000.0]),
       u=hnp.arrays(np.float64, 8, elements=st.floats(1e-6, 1 - 1e-6)))
def test_gamma_sample_gradient_matches_the_implicit_derivative(a: float, u: np.ndarray) -> None:
    """At the quantiles x = P^-1(a, u), ours agrees with the finite difference to 1e-6 (its own accuracy); where the
    density underflows (tiny a, far quantiles), it is skipped."""
    a_arr = np.full(u.shape, a)
    x = sc.gammaincinv(a_arr, u)
    keep = (x > 1e-250) & np.isfinite(x)
    ours = sample_grad(a_arr[keep], x[keep])
    theirs = _fd_sample_grad(a_arr[keep], x[keep])
    np.testing.assert_allclose(ours, theirs, rtol=2e-6, atol=1e-300)


@pytest.mark.parametrize("a", [1e-10, 1e-6, 1e-3, 0.7, 30.0])
def test_gamma_sample_gradient_against_mpmath(a: float) -> None:
    """To ~1e-14 against 50-digit arithmetic, from subnormal-small draws (tiny concentrations) to far tails."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    xs = np.array([1e-300, 1e-20, 0.5, 2.0, 5.0, 30.0, 100.0])

    def exact(x: float) -> float:
        dp = mp.diff(lambda t: mp.gammainc(t, 0, x, regularized=True), mp.mpf(a))
        return float(-dp * mp.gamma(a) / (mp.mpf(x) ** (a - 1) * mp.e ** (-mp.mpf(x))))

    np.testing.assert_allclose(sample_grad(np.full(xs.shape, a), xs), [exact(x) for x in xs], rtol=1e-13)


def test_gamma_sample_gradient_edges() -> None:
    """A draw clamped to the smallest normal float (tiny a) keeps a finite gradient, ~ -x e^x (log x - psi(a+1)) / a;
    the reparameterised sample of a huge concentration moves by ~1 + z / (2 sqrt(a))."""
    tiny = np.finfo(np.float64).tiny
    a = np.array([1e-3, 1e-2])
    expected = -tiny * (np.log(tiny) - sc.digamma(a + 1)) / a
    np.testing.assert_allclose(sample_grad(a, np.full(2, tiny)), expected, rtol=1e-12)
    big = np.array([1e6, 1e6])
    x = big + np.array([-2.0, 3.0]) * 1e3
    np.testing.assert_allclose(sample_grad(big, x), 1 + (x - big) / (2 * big), rtol=1e-5)
    x32 = D.Gamma(tg.tensor([1e-3] * 50, requires_grad=True), 1.0)
    s = x32.rsample()
    s.sum().backward()
    assert np.isfinite(x32.concentration.grad.numpy()).all() and (s.numpy() > 0).all()


@pytest.mark.parametrize("dtype", FLOATS)
def test_gamma_rsample_gradient_in_expectation(dtype: Any) -> None:
    """E[dx/da] = d(a / rate)/da = 1 / rate and E[dx/d rate] = -a / rate^2, elementwise from 20000 draws."""
    tg.manual_seed(1)
    n = 20_000
    for a, rate in [(0.05, 1.0), (0.7, 2.0), (3.0, 0.5), (300.0, 1.0)]:
        _, ga, gr = _per_element_grad(lambda c, r: D.Gamma(c, r), [np.array(a, dtype), np.array(rate, dtype)], n)
        _mean_within(ga, np.array(1 / rate))
        _mean_within(gr, np.array(-a / rate**2))
    _, gk = _per_element_grad(lambda k: D.Chi2(k), [np.array(3.0, dtype)], n)
    _mean_within(gk, np.array(1.0))


@pytest.mark.parametrize("dtype", FLOATS)
def test_beta_and_dirichlet_rsample_gradients_in_expectation(dtype: Any) -> None:
    tg.manual_seed(2)
    n = 20_000
    for c1, c0 in [(0.3, 0.7), (2.0, 5.0), (50.0, 3.0)]:
        _, g1, g0 = _per_element_grad(lambda a, b: D.Beta(a, b), [np.array(c1, dtype), np.array(c0, dtype)], n)
        s = c1 + c0
        _mean_within(g1, np.array(c0 / s**2))
        _mean_within(g0, np.array(-c1 / s**2))
    conc = np.array([0.5, 2.0, 6.0])
    s = conc.sum()
    for j in range(3):  # d E[x_j] / d alpha_i = (delta_ij s - alpha_j) / s^2, from the gradient of x_j alone
        leaves = tg.tensor(np.broadcast_to(conc.astype(dtype), (n, 3)).copy(), requires_grad=True)
        D.Dirichlet(leaves).rsample()[:, j].sum().backward()
        _mean_within(leaves.grad.numpy().astype(np.float64), ((np.arange(3) == j) * s - conc[j]) / s**2)


def test_other_rsample_gradients() -> None:
    """Exponential, Laplace, StudentT, LogNormal and a TransformedDistribution: the pathwise gradients of their
    reparameterised samples, checked against what the drawn sample implies."""
    tg.manual_seed(3)
    n = 20_000
    x, g = _per_element_grad(lambda r: D.Exponential(r), [np.array(2.0)], n)
    np.testing.assert_allclose(g, -x / 2.0, rtol=1e-12)  # x = e / rate
    x, gm, gs = _per_element_grad(lambda m, s: D.Laplace(m, s), [np.array(1.0), np.array(3.0)], n)
    np.testing.assert_allclose(gm, 1.0)
    np.testing.assert_allclose(gs, (x - 1.0) / 3.0, rtol=1e-12, atol=1e-14)
    x, gm, gs = _per_element_grad(lambda m, s: D.LogNormal(m, s), [np.array(0.5), np.array(0.25)], n)
    np.testing.assert_allclose(gm, x, rtol=1e-12)
    np.testing.assert_allclose(gs, x * (np.log(x) - 0.5) / 0.25, rtol=1e-9)
    _, gdf, gloc, gscale = _per_element_grad(lambda k, m, s: D.StudentT(k, m, s),
                                             [np.array(5.0), np.array(0.0), np.array(2.0)], n)
    np.testing.assert_allclose(gloc, 1.0)
    _mean_within(gdf, np.array(0.0))  # the mean (loc) does not depend on df
    # E|T| = 2 sqrt(df) Gamma((df + 1) / 2) / (sqrt(pi) (df - 1) Gamma(df / 2)) for df = 5
    mean_abs = 2 * math.sqrt(5) * math.gamma(3) / (math.sqrt(math.pi) * 4 * math.gamma(2.5))
    _mean_within(np.abs(gscale), np.array(mean_abs))


# ---------------------------------------------------------------------------------------------- gammainc gradient
@settings(max_examples=40, deadline=None)
@given(a=st.floats(1e-2, 1e3), x=st.floats(1e-3, 2e3))
def test_gamma_cdf_gradient_wrt_concentration(a: float, x: float) -> None:
    """torch has no derivative of gammainc for its first argument; ours is -f(x; a) dx/da, checked against a
    float64 finite difference."""
    conc = tg.tensor(a, dtype=tg.float64, requires_grad=True)
    value = tg.tensor(x, dtype=tg.float64, requires_grad=True)
    cdf = D.Gamma(conc, 1.0).cdf(value)
    cdf.backward()
    h = 1e-6 * a
    # the difference of the smaller tail (P or Q = 1 - P): near P = 1, P's own difference loses its digits
    if sc.gammainc(a, x) < 0.5:
        expected = (sc.gammainc(a + h, x) - sc.gammainc(a - h, x)) / (2 * h)
    else:
        expected = -(sc.gammaincc(a + h, x) - sc.gammaincc(a - h, x)) / (2 * h)
    assert conc.grad.item() == pytest.approx(expected, rel=1e-5, abs=1e-12)
    assert value.grad.item() == pytest.approx(math.exp((a - 1) * math.log(x) - x - math.lgamma(a)), rel=1e-10,
                                              abs=1e-300)
    with pytest.raises(RuntimeError):  # torch refuses it
        ta = torch.tensor(a, dtype=torch.float64, requires_grad=True)
        torch.distributions.Gamma(ta, 1.0).cdf(torch.tensor(x, dtype=torch.float64)).backward()


@pytest.mark.parametrize("dtype", FLOATS)
def test_gamma_cdf_special_values(dtype: Any) -> None:
    """gammainc's edges as torch's: 0 at x = 0, 1 at x = inf, 0 for an infinite concentration (nan with x inf too),
    nan for negative arguments, and the gradient for x (the density) there."""
    vals = [0.0, -0.0, 1e-30, 0.5, 1.0, 3.0, 1e30, np.inf, -np.inf, -1.0, np.nan]
    # (a = x = 1e30 left out: the density there is exp of a difference of terms ~7e31, rounding in both libraries)
    a, x = (g.astype(dtype) for g in np.meshgrid([*vals[:6], 1e6, *vals[7:]], vals))
    check(lambda lib, a, x: lib.distributions.Gamma(a.detach(), 1.0, validate_args=False).cdf(x), a, x,
          rtol=RTOL[dtype])


# ---------------------------------------------------------------------------------------------- transforms
TRANSFORMS = {
    "exp": lambda lib, p: lib.distributions.transforms.ExpTransform(),
    "affine": lambda lib, p: lib.distributions.transforms.AffineTransform(p, p - 2.0),
    "affine number": lambda lib, p: lib.distributions.transforms.AffineTransform(1.5, -0.5),
    "sigmoid": lambda lib, p: lib.distributions.transforms.SigmoidTransform(),
    "tanh": lambda lib, p: lib.distributions.transforms.TanhTransform(),
    "compose": lambda lib, p: lib.distributions.transforms.ComposeTransform(
        [lib.distributions.transforms.AffineTransform(0.5, p), lib.distributions.transforms.TanhTransform(),
         lib.distributions.transforms.ExpTransform()]),
    "inverse": lambda lib, p: lib.distributions.transforms.SigmoidTransform().inv,
    "compose inverse": lambda lib, p: lib.distributions.transforms.ComposeTransform(
        [lib.distributions.transforms.ExpTransform(), lib.distributions.transforms.AffineTransform(p, 3.0)]).inv,
}


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), name=st.sampled_from(sorted(TRANSFORMS)))
def test_transforms_match_torch(data: st.DataObject, dtype: Any, name: str) -> None:
    """y = t(x), t.inv(y), log |det J|, sign, domain / codomain and event dims, with gradients, as torch's."""
    s_p, s_x = _shapes(data, 2)
    p = _array(data, s_p, st.floats(-3, 3) | st.sampled_from([0.0]), dtype)
    x = _array(data, s_x, st.floats(-30, 30) | st.sampled_from([0.0, -0.0, 50.0, -50.0, np.inf, -np.inf, np.nan]),
               dtype)
    y = _array(data, s_x, st.floats(-1, 3) | st.sampled_from([0.0, 1.0, -1.0, 1e-30, np.nan]), dtype)
    rtol = RTOL[dtype] * 10
    make = TRANSFORMS[name]
    # each output on its own: the gradient of a weighted sum of t.inv(y) and its log |det J| cancels (1/y - 1/y near
    # y = 0 for the sigmoid), which turns a last-bit rounding of either into a relative error of 1e-9
    check(lambda lib, p, x: make(lib, p)(x), p, x, rtol=rtol)
    check(lambda lib, p, x: (lambda t: t.log_abs_det_jacobian(x, t(x)))(make(lib, p)), p, x, rtol=rtol)
    check(lambda lib, p, y: make(lib, p).inv(y), p, y, rtol=rtol)
    check(lambda lib, p, y: (lambda t: t.inv.log_abs_det_jacobian(y, t.inv(y)))(make(lib, p)), p, y, rtol=rtol)
    ours, theirs = make(tg, tg.tensor(p)), make(torch, torch.tensor(p))
    for a, b in [(ours, theirs), (ours.inv, theirs.inv)]:
        assert type(a.domain).__name__ == type(b.domain).__name__ and a.domain.event_dim == b.domain.event_dim
        assert type(a.codomain).__name__ == type(b.codomain).__name__
        assert a.codomain.event_dim == b.codomain.event_dim and a.bijective == b.bijective
        sa, sb = a.sign, b.sign
        np.testing.assert_array_equal(np.asarray(sa.numpy() if isinstance(sa, tg.Tensor) else sa),
                                      np.asarray(sb.numpy() if isinstance(sb, torch.Tensor) else sb))
        assert (a.inv is ours) == (b.inv is theirs) and a.inv.inv is a
        assert a.forward_shape(s_x) == tuple(b.forward_shape(s_x))


def test_transform_equality_cache_and_repr() -> None:
    t = D.transforms
    assert t.ExpTransform() == t.ExpTransform() and t.ExpTransform() != t.TanhTransform()
    assert t.AffineTransform(0.0, 2.0) == t.AffineTransform(0.0, 2.0) != t.AffineTransform(0.0, 3.0)
    assert t.AffineTransform(tg.tensor([1.0]), 2.0) == t.AffineTransform(tg.tensor([1.0]), 2.0)
    assert t.ComposeTransform([t.ExpTransform()]) == t.ComposeTransform([t.ExpTransform()])
    assert t.ExpTransform().inv == t.ExpTransform().inv and t.ExpTransform().inv != t.ExpTransform()
    assert repr(t.ExpTransform().inv) == repr(torch.distributions.transforms.ExpTransform().inv)
    assert repr(t.ComposeTransform([t.ExpTransform(), t.TanhTransform()])) == repr(
        torch.distributions.transforms.ComposeTransform([torch.distributions.transforms.ExpTransform(),
                                                         torch.distributions.transforms.TanhTransform()]))
    cached = t.ExpTransform().with_cache()
    x = tg.tensor([0.5])
    y = cached(x)
    assert cached.inv(y) is x and cached(x) is y
    assert t.identity_transform(x) is x and t.identity_transform.log_abs_det_jacobian(x, x).tolist() == [0.0]


@settings(max_examples=50, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), validate=st.booleans(), kind=st.integers(0, 3))
def test_transformed_distribution_matches_torch(data: st.DataObject, dtype: Any, validate: bool, kind: int) -> None:
    """log_prob / cdf / icdf / entropy of LogNormal and of Normal bases pushed through affine, sigmoid, tanh and
    event-dim affine transforms (shapes broadcast between the base and the transforms, as torch)."""
    s_loc, s_p, s_v = _shapes(data, 3)
    loc = _array(data, s_loc, st.floats(-5, 5), dtype, bad=[np.nan])
    scale = _array(data, s_loc, MODERATE, dtype, bad=[0.0, -1.0])
    p = _array(data, s_p, st.floats(-3, 3) | st.sampled_from([0.0]), dtype)
    value = _array(data, s_v, st.floats(-3, 3) | st.sampled_from([0.0, 1.0, -1.0, 0.5, np.nan]), dtype)
    q = _array(data, s_v, UNIT, dtype)

    def d(lib: Any, m: Any, s: Any, p: Any) -> Any:
        tr = lib.distributions.transforms
        base = lib.distributions.Normal(m, s, validate_args=validate)
        if kind == 0:
            return lib.distributions.LogNormal(m, s, validate_args=validate)
        if kind == 1:
            return lib.distributions.TransformedDistribution(
                base, [tr.AffineTransform(p, p - 4.0), tr.SigmoidTransform()], validate_args=validate)
        if kind == 2:
            return lib.distributions.TransformedDistribution(base, [tr.TanhTransform(), tr.AffineTransform(p, 2.0)],
                                                             validate_args=validate)
        return lib.distributions.TransformedDistribution(base, tr.AffineTransform(p, -2.0, event_dim=1),
                                                         validate_args=validate)

    with contextlib.suppress(ValueError):  # torch's AffineTransform(event_dim=1) reshapes to (..., -1): ambiguous
        assume(kind < 3 or 0 not in np.broadcast_shapes(s_loc, s_p, s_v))  # when empty, so torch raises there
    rtol = RTOL[dtype] * 20
    check(lambda lib, m, s, p, v: d(lib, m, s, p).log_prob(v), loc, scale, p, value, rtol=rtol)
    if kind < 3:
        check(lambda lib, m, s, p, v: d(lib, m, s, p).cdf(v), loc, scale, p, value, rtol=rtol)
        if kind in (1, 2) and np.any(np.abs(q - 0.5) > 0.5 - 1e-6):  # icdf's gradients read 1 - tanh(x)^2 (or
            rtol = max(rtol, 1e-3)  # sigmoid's y (1 - y)) at |x| of 9 to 15, where y's rounding is 2e-9 to 1e-4 of
            # it, in both libraries (README, not done): at q = 1 - 1e-9, loc 3, scale 1, d/dq is 19.8779390687
            # (mpmath), ours 2.9e-9 off, torch's 1.5e-9; at loc 2.25, scale 2 the two differ by 1.3e-4
        check(lambda lib, m, s, p, v: d(lib, m, s, p).icdf(v), loc, scale, p, q, rtol=rtol)
    if kind == 0:
        check(lambda lib, m, s, p: _stats(d(lib, m, s, p)), loc, scale, p, rtol=rtol)
    if not (np.isnan(loc).any() or (scale <= 0).any()):  # shapes of samples from valid parameters
        try:
            theirs = d(torch, torch.tensor(loc), torch.tensor(scale), torch.tensor(p))
        except ValueError:  # shapes that do not broadcast: checked above
            return
        ours = d(tg, tg.tensor(loc), tg.tensor(scale), tg.tensor(p))
        assert ours.batch_shape == tuple(theirs.batch_shape) and ours.event_shape == tuple(theirs.event_shape)
        assert ours.rsample((2,)).shape == tuple(theirs.rsample((2,)).shape)
        bigger = (2, *ours.batch_shape)
        assert ours.expand(bigger).sample().shape == tuple(theirs.expand(bigger).sample().shape)


# ---------------------------------------------------------------------------------------------- on the GPU
def _gpu_program(device: str) -> list[Any]:
    """Values and gradients of the new distributions' functions on ``device`` (samples only for their shapes and
    the finiteness of the reparameterised gradients: the streams differ between devices)."""
    tg.manual_seed(0)
    a = tg.tensor([[0.5, 2.0, 7.0]], device=device, requires_grad=True)
    b = tg.tensor([[1.5, 0.5, 3.0]], device=device, requires_grad=True)
    z = tg.tensor([[0.25, 1.0, 3.0], [0.5, 0.75, 0.1]], device=device)
    p = (a / 8).clone()
    tr = D.transforms
    parts = [D.Exponential(a).log_prob(z), D.Exponential(a).cdf(z), D.Laplace(a, b).log_prob(z),
             D.Laplace(a, b).cdf(z), D.Geometric(p).log_prob(z.floor()), D.Geometric(p).entropy(),
             D.LogNormal(a, b).log_prob(z), D.LogNormal(a, b).cdf(z),
             D.TransformedDistribution(D.Normal(a, b), [tr.AffineTransform(b, 2.0), tr.TanhTransform()]).log_prob(
                 z / 4), D.OneHotCategorical(logits=a).log_prob(tg.tensor([0.0, 1.0, 0.0], device=device)),
             D.kl_divergence(D.Laplace(a, b), D.Normal(b, a)), D.kl_divergence(D.Exponential(a), D.Exponential(b))]
    draws = [D.Binomial(3, p).sample((2,)), D.Poisson(a).sample(), D.Geometric(p).sample(),
             D.Laplace(a, b).rsample(), D.Exponential(a).rsample(), D.OneHotCategorical(logits=a).sample((2,)),
             D.LogNormal(a, b).rsample(), D.Gamma(a, b).sample((2,)), D.Beta(a, b).sample(), D.Dirichlet(a).sample()]
    if os.environ.get("TINYGRAD_ADAM_FAKE_GPU") != "1":  # lgamma / digamma are cupyx.scipy.special's, not faked
        parts += [D.Poisson(a).log_prob(z.floor()), D.Binomial(3, p).log_prob(z.floor()), D.Binomial(3, p).entropy(),
                  D.Gamma(a, b).log_prob(z), D.Gamma(a, b).cdf(z), D.Gamma(a, b).entropy(), D.Chi2(a).log_prob(z),
                  D.Beta(a, b).log_prob(z / 4), D.Beta(a, b).entropy(), D.Dirichlet(a).log_prob(z / z.sum(-1, True)),
                  D.Dirichlet(a).entropy(), D.StudentT(a, b, b).log_prob(z), D.StudentT(a, b, b).entropy(),
                  D.kl_divergence(D.Gamma(a, b), D.Gamma(b, a)), D.kl_divergence(D.Beta(a, b), D.Beta(b, a)),
                  D.kl_divergence(D.Dirichlet(a), D.Dirichlet(b)), D.kl_divergence(D.Uniform(z * 0, z + 1),
                                                                                   D.Gamma(a, b))]
        draws += [D.Gamma(a, b).rsample((4,)), D.Beta(a, b).rsample((2,)), D.Dirichlet(a).rsample((3,)),
                  D.StudentT(a + 2).rsample()]
    assert all(d.device == a.device for d in draws)
    sum((q * (i + 1)).sum() for i, q in enumerate(parts)).backward()
    grads = [a.grad.cpu().numpy(), b.grad.cpu().numpy()]
    a.grad = b.grad = None
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
