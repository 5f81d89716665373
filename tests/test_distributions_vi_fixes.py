"""What the variational-inference program (``tests/torch_style/distributions_vi.py``) met, against torch 2.13.

- Constraint reprs (printed text, no number involved): ``print(MultivariateNormal(...).support)`` showed
  ``Independent(base_constraint=Real(), reinterpreted_batch_ndims=1)`` where torch shows
  ``IndependentConstraint(Real(), 1)``; a mixture's support ``MixtureSameFamilyConstraint(base_constraint=...)``
  where torch shows ``MixtureSameFamilyConstraint(Real())``; ``cat`` / ``stack`` / ``multinomial`` listed their
  fields where torch prints ``Cat()``, ``Stack()``, ``Multinomial()``.
- ``zeros_like`` / ``ones_like`` / ``full_like`` / ``empty_like`` / ``rand_like`` / ``randn_like`` given a non-tensor
  (a Python float, a numpy scalar such as YongfeiYan's annealed ``np.maximum`` temperature, a list, an ndarray)
  raised AttributeError (``'float' object has no attribute 'shape'``); torch raises TypeError ("argument 'input'
  (position 1) must be Tensor, not float"). ``RelaxedOneHotCategorical(temp, ...).log_prob`` with a float
  temperature reaches ``full_like`` and so now raises torch's TypeError too.
- Beside the fixes, the numbers these programs drive their training with (log_prob / entropy / mean / variance /
  cdf / icdf, the registered KLs and all their parameter gradients) are checked here on hypothesis-drawn extreme
  parameters (tiny and huge scales and concentrations, probabilities at and near 0 / 1, logits of +-80): no
  difference was found there beyond rounding (float64 within 1e-9 relative of the largest term).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def constraint(lib: object, spec: tuple) -> object:
    """A constraint of ``lib`` built from a nested spec."""
    C = lib.distributions.constraints
    kind = spec[0]
    if kind == "leaf":
        return getattr(C, spec[1])
    if kind == "interval":
        return getattr(C, spec[1])(*spec[2])
    if kind == "independent":
        return C.independent(constraint(lib, spec[1]), spec[2])
    if kind in ("cat", "stack"):
        parts = [constraint(lib, s) for s in spec[1]]
        return C.cat(parts, 0, [1] * len(parts)) if kind == "cat" else C.stack(parts, 0)
    return C.multinomial(spec[1])


LEAVES = st.sampled_from(["real", "positive", "nonnegative", "unit_interval", "simplex", "boolean", "real_vector",
                          "lower_cholesky", "positive_definite", "corr_cholesky", "nonnegative_integer", "one_hot"])
BOUNDS = st.tuples(st.sampled_from(["interval", "half_open_interval", "integer_interval"]),
                   st.tuples(st.integers(-3, 0), st.integers(1, 5)))
SPECS = st.recursive(
    st.one_of(LEAVES.map(lambda n: ("leaf", n)), BOUNDS.map(lambda b: ("interval", b[0], b[1])),
              st.integers(1, 9).map(lambda n: ("multinomial", n))),
    lambda inner: st.one_of(st.tuples(st.just("independent"), inner, st.integers(0, 3)),
                            st.tuples(st.sampled_from(["cat", "stack"]), st.lists(inner, min_size=1, max_size=3))),
    max_leaves=5)


@settings(deadline=None, max_examples=60)
@given(SPECS)
@example(("independent", ("leaf", "real"), 1))
@example(("independent", ("independent", ("leaf", "positive"), 1), 2))
@example(("cat", [("leaf", "real"), ("leaf", "positive")]))
@example(("multinomial", 3))
def test_constraint_repr_matches_torch(spec: tuple) -> None:
    assert repr(constraint(tg, spec)) == repr(constraint(torch, spec))


def supports(lib: object) -> list[str]:
    D = lib.distributions
    loc = lib.zeros(2, 3)
    return [repr(d.support) for d in (
        D.MultivariateNormal(lib.zeros(3), scale_tril=lib.eye(3)),
        D.LowRankMultivariateNormal(lib.zeros(3), lib.ones(3, 1), lib.ones(3)),
        D.Independent(D.Normal(loc, 1.0), 1), D.Independent(D.Normal(loc, 1.0), 2),
        D.MixtureSameFamily(D.Categorical(logits=lib.zeros(2)), D.Independent(D.Normal(loc, 1.0), 1)),
        D.MixtureSameFamily(D.Categorical(logits=lib.zeros(2)), D.Normal(lib.zeros(2), 1.0)),
        D.MixtureSameFamily(D.Categorical(logits=lib.zeros(2)), D.Gamma(lib.ones(2), 1.0)),
        D.Multinomial(4, lib.ones(3)), D.Dirichlet(lib.ones(3)), D.Beta(lib.ones(1), lib.ones(1)),
        D.LogNormal(lib.zeros(1), 1.0), D.RelaxedOneHotCategorical(lib.tensor(0.5), logits=lib.zeros(3)),
    )]


def test_distribution_supports_print_as_torch() -> None:
    assert supports(tg) == supports(torch)
    assert supports(tg)[0] == "IndependentConstraint(Real(), 1)"


LIKES = ("zeros_like", "ones_like", "empty_like", "rand_like", "randn_like", "full_like")
NON_TENSORS = {"float": 0.5, "int": 3, "np_float64": np.float64(0.5), "np_float32": np.float32(0.5),
               "list": [1.0, 2.0], "ndarray": np.zeros(2), "none": None}


@pytest.mark.parametrize("name", LIKES)
@pytest.mark.parametrize("kind", sorted(NON_TENSORS))
def test_like_of_a_non_tensor_raises_torchs_type_error(name: str, kind: str) -> None:
    args = (2.0,) if name == "full_like" else ()
    with pytest.raises(TypeError) as theirs:
        getattr(torch, name)(NON_TENSORS[kind], *args)
    with pytest.raises(TypeError) as ours:
        getattr(tg, name)(NON_TENSORS[kind], *args)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("name", LIKES)
def test_like_of_tensors_still_works(name: str) -> None:
    args = (2.0,) if name == "full_like" else ()
    for x in (tg.ones(2, 3, dtype=tg.float64), tg.nn.Parameter(tg.ones(0)), tg.tensor(1.5)):
        out = getattr(tg, name)(x, *args)
        assert tuple(out.shape) == tuple(x.shape) and out.dtype == x.dtype


@pytest.mark.parametrize("temperature", [0.5, np.float64(0.5), np.float32(0.5)])
def test_relaxed_one_hot_log_prob_with_a_float_temperature_raises_as_torch(temperature: float) -> None:
    """torch builds it and samples from it, but its log_prob needs a tensor temperature (``full_like``)."""
    value = [[0.2, 0.3, 0.5]]
    for lib in (torch, tg):
        d = lib.distributions.RelaxedOneHotCategorical(temperature, logits=lib.zeros(1, 3))
        assert tuple(d.rsample().shape) == (1, 3)
        with pytest.raises(TypeError, match="must be Tensor"):
            d.log_prob(lib.tensor(value))


# ---- the zoo on extreme parameters: values and parameter gradients as torch's (float64)
POS = st.one_of(st.sampled_from([1e-8, 1e-4, 1e-2, 0.5, 1.0, 3.0, 300.0, 1e4, 1e6]),
                st.floats(1e-3, 1e3, allow_nan=False))
REAL = st.one_of(st.sampled_from([-80.0, -20.0, -1.0, 0.0, 20.0, 80.0]), st.floats(-50, 50, allow_nan=False))
P01 = st.one_of(st.sampled_from([0.0, 1e-12, 1e-7, 0.5, 1 - 1e-7, 1.0]), st.floats(0, 1))
FAMILIES = {  # name: (parameter strategies, value strategy, builder, methods)
    "Normal": ((REAL, POS), REAL, lambda D, p: D.Normal(*p), ("log_prob", "entropy", "cdf", "mean", "variance")),
    "Laplace": ((REAL, POS), REAL, lambda D, p: D.Laplace(*p), ("log_prob", "entropy", "cdf", "variance")),
    "LogNormal": ((REAL.map(lambda x: x / 10), POS.map(lambda s: min(s, 20.0))), POS,
                  lambda D, p: D.LogNormal(*p), ("log_prob", "entropy", "mean", "cdf")),
    "Beta": ((POS, POS), st.floats(1e-6, 1 - 1e-6), lambda D, p: D.Beta(*p), ("log_prob", "mean", "variance")),
    "Gamma": ((POS, POS), POS, lambda D, p: D.Gamma(*p), ("log_prob", "mean", "variance")),
    "StudentT": ((POS.map(lambda d: max(d, 1e-2)), REAL, POS), REAL, lambda D, p: D.StudentT(*p), ("log_prob",)),
    "BernoulliLogits": ((REAL,), st.sampled_from([0.0, 1.0]), lambda D, p: D.Bernoulli(logits=p[0]),
                        ("log_prob", "entropy", "mean")),
    "BernoulliProbs": ((P01,), st.sampled_from([0.0, 1.0]), lambda D, p: D.Bernoulli(probs=p[0]),
                       ("log_prob", "mean", "variance")),
}
KL_FAMILIES = {
    "Normal": ((REAL, POS), lambda D, p: D.Normal(*p)),
    "Laplace": ((REAL, POS), lambda D, p: D.Laplace(*p)),
    "Gamma": ((POS.map(lambda c: min(c, 1e4)), POS), lambda D, p: D.Gamma(*p)),
    "BernoulliLogits": ((REAL.map(lambda x: x / 4),), lambda D, p: D.Bernoulli(logits=p[0])),
    "Categorical": ((st.lists(REAL, min_size=3, max_size=3),), lambda D, p: D.Categorical(logits=p[0])),
    "Dirichlet": ((st.lists(POS.map(lambda c: min(max(c, 1e-3), 1e4)), min_size=3, max_size=3),),
                  lambda D, p: D.Dirichlet(p[0])),
}


def evaluate(lib: object, build: object, params: list, what: str, value: object = None,
             other: list | None = None) -> list:
    """[result, d sum(result) / d each parameter] as float64 arrays (None where no gradient)."""
    D = lib.distributions
    ps = [lib.tensor(np.asarray(p, np.float64), requires_grad=True) for p in params]
    d = build(D, ps)
    if what == "kl":
        out = D.kl_divergence(d, build(D, [lib.tensor(np.asarray(p, np.float64)) for p in other]))
    elif what in ("log_prob", "cdf"):
        out = getattr(d, what)(lib.tensor(np.asarray(value, np.float64)))
    elif what == "entropy":
        out = d.entropy()
    else:
        out = getattr(d, what)
    if not out.requires_grad:
        return [out.detach().numpy()]
    grads = lib.autograd.grad(out.sum(), ps, allow_unused=True)
    return [out.detach().numpy()] + [None if g is None else g.numpy() for g in grads]


def scale_of(params: list) -> float:
    """The size of the largest term such formulas meet: max(1, |p|, 1 / |p|) over the parameters (1 / |p| for
    |p| >= 1e-12 only: a denormal logit is just 0)."""
    flat = np.abs(np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in params]))
    return float(max(1.0, flat.max(), *(1 / flat[flat >= 1e-12])))


def agree(ours: list, theirs: list, scale: float) -> None:
    assert len(ours) == len(theirs)
    for got, want in zip(ours, theirs, strict=True):
        assert (got is None) == (want is None)
        if want is not None:
            finite = np.isfinite(want)
            assert np.array_equal(np.isfinite(got), finite) and np.array_equal(got[~finite], want[~finite])
            np.testing.assert_allclose(got[finite], want[finite], rtol=1e-9, atol=1e-9 * scale)


@settings(deadline=None, max_examples=120)
@given(st.sampled_from(sorted(FAMILIES)), st.data())
def test_zoo_on_extreme_parameters_matches_torch(name: str, data: st.DataObject) -> None:
    strategies, value_strategy, build, methods = FAMILIES[name]
    params = [data.draw(s) for s in strategies]
    value = data.draw(value_strategy)
    what = data.draw(st.sampled_from(methods))
    theirs = evaluate(torch, build, params, what, value)
    ours = evaluate(tg, build, params, what, value)
    agree(ours, theirs, scale_of(params))


@settings(deadline=None, max_examples=80)
@given(st.sampled_from(sorted(KL_FAMILIES)), st.data())
def test_registered_kl_on_extreme_parameters_matches_torch(name: str, data: st.DataObject) -> None:
    strategies, build = KL_FAMILIES[name]
    p, q = [data.draw(s) for s in strategies], [data.draw(s) for s in strategies]
    theirs = evaluate(torch, build, p, "kl", other=q)
    ours = evaluate(tg, build, p, "kl", other=q)
    agree(ours, theirs, scale_of(p + q))
