"""tinygrad_adam.distributions against torch 2.13's torch.distributions: Normal, Bernoulli, Categorical, Uniform,
Independent and kl_divergence (values, dtypes, shapes and parameter gradients of log_prob / cdf / icdf / entropy /
moments / KL on hypothesis inputs with broadcasting, edge values and invalid parameters, both validated and not),
sampling checked statistically (our streams differ from torch's), register_kl dispatch, and a small VAE step.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_torch_movement_names import ERRORS, SPECIAL, agree, raises, run

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

FLOATS = [np.float32, np.float64]
RTOL = {np.float32: 2e-5, np.float64: 1e-11}
ANY = st.floats(-1e3, 1e3) | SPECIAL
POSITIVE = st.floats(1e-3, 1e3) | st.floats(1e-30, 1e-3) | st.sampled_from([1e-300, 1e-40, 1e30, 1e300, 1.0])
UNIT = st.floats(0, 1) | st.sampled_from([0.0, 1.0, 0.5, 1e-30, 1 - 1e-9])
WEIGHTS = st.floats(0, 10) | st.sampled_from([0.0, 0.0, 1.0, 1e-30, 1e30])
LOGITS = st.floats(-100, 100) | st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan])
D = tg.distributions


def _array(data: st.DataObject, shape: tuple[int, ...], elements: Any, dtype: Any, bad: list[float] = ()) -> np.ndarray:
    """An array of ``dtype`` (drawn in float64, then rounded); a quarter of the time one entry is set to a value
    from ``bad`` (invalid parameters, to check that both libraries refuse them)."""
    a = data.draw(hnp.arrays(np.float64, shape, elements=elements))
    if bad and a.size and data.draw(st.integers(0, 3)) == 0:
        a.flat[data.draw(st.integers(0, a.size - 1))] = data.draw(st.sampled_from(bad))
    with np.errstate(over="ignore"):
        return a.astype(dtype)


def _shapes(data: st.DataObject, n: int) -> tuple[tuple[int, ...], ...]:
    shapes = hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=0, max_dims=3, min_side=0, max_side=3)
    return data.draw(shapes).input_shapes


def _quiet(f: Any) -> Any:
    """``f`` with numpy's floating-point warnings (log 0, inf - inf) and torch's UserWarnings silenced."""
    def wrapped(*args: Any) -> Any:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return f(*args)
    return wrapped


def _close(ours: Any, theirs: Any, exact: Any, rtol: float, largest_rtol: float = 0.0, atol: float = 0.0) -> None:
    """``ours`` within rtol of torch's, widened by twice torch's own float32 error (its distance from the float64
    result ``exact``) where both are finite: float32 cancellation (1/s - x^2/s^3 at x = s) is torch's error too; or
    within that of ``exact`` itself (the two errors can fall on opposite sides: the float32 gradient of KL(Beta(1e-3,
    3) || Gamma(1e-3, 2)) is -0.0406 here, -0.0885 in torch, -0.0666 in float64). ``largest_rtol``: also within that
    fraction of the array's largest finite magnitude (a matrix's rounding error is relative to its norm); ``atol``: also
    within that (the rounding of terms that cancel)."""
    theirs = np.asarray(theirs, np.float64)
    slack = np.full_like(theirs, largest_rtol * np.abs(theirs[np.isfinite(theirs)]).max(initial=0.0) + atol)
    if exact is not None:
        exact = np.asarray(exact, np.float64)
        with np.errstate(invalid="ignore"):
            slack += np.where(np.isfinite(theirs) & np.isfinite(exact), 2 * np.abs(theirs - exact), 0.0)
    ours = np.asarray(ours, np.float64)
    same = (ours == theirs) | (np.isnan(ours) & np.isnan(theirs))
    with np.errstate(invalid="ignore"):  # infinities and nans must agree exactly
        near = np.isfinite(theirs) & (np.abs(ours - theirs) <= rtol * (1 + np.abs(theirs)) + slack)
        if exact is not None:  # unless torch's float32 lost a finite float64 value that ours keeps (Kumaraswamy's
            kept = ~np.isfinite(theirs) & np.isfinite(exact)  # variance at a = b = 1000: nan in torch)
            near |= kept & (np.abs(ours - exact) <= rtol * (1 + np.abs(exact)))
            near |= np.isnan(theirs) & np.isinf(exact) & (ours == exact)  # or its nan where float64 and ours are
            # inf (the LogisticNormal / stick-breaking test at [0, 0]: nan in torch's float32; a hypothesis run)
            near |= (slack > 0) & (np.abs(ours - exact) <= rtol * (1 + np.abs(exact)) + slack)
    assert np.all(same | near), (ours, theirs, exact)


@contextlib.contextmanager
def _torch_without_ambiguous_reshape() -> Any:
    """torch with its ``reshape(shape[:-n] + (-1,))`` (in _sum_rightmost and the independent constraint) given the
    size instead: -1 is ambiguous for an empty batch, so torch raises there (Categorical(logits=zeros(0, 2)),
    Independent over a batch of size 0); ours computes, and this is the reference it is compared with."""
    from torch.distributions import constraints, independent, kl

    def sum_rightmost(value: Any, dim: int, reduce: str = "sum") -> Any:
        if dim == 0:
            return value
        kept = value.shape[:-dim]
        return getattr(value.reshape(*kept, math.prod(value.shape[len(kept):])), reduce)(-1)

    def check(self: Any, value: Any) -> Any:
        return sum_rightmost(self.base_constraint.check(value), self.reinterpreted_batch_ndims, "all")

    saved = independent._sum_rightmost, kl._sum_rightmost, constraints._IndependentConstraint.check
    independent._sum_rightmost = kl._sum_rightmost = sum_rightmost
    constraints._IndependentConstraint.check = check
    try:
        yield
    finally:
        independent._sum_rightmost, kl._sum_rightmost, constraints._IndependentConstraint.check = saved


def _run_torch(f: Any, arrays: tuple[np.ndarray, ...]) -> Any:
    try:
        return run(torch, f, arrays, True)
    except RuntimeError as e:
        if "ambiguous" not in str(e):
            raise
        with _torch_without_ambiguous_reshape():
            return run(torch, f, arrays, True)


def check(f: Any, *arrays: np.ndarray, rtol: float, largest_rtol: float = 0.0, atol: float = 0.0) -> None:
    """As ``agree`` (values, dtypes, shapes and input gradients as torch's, or both raise), float32 results
    compared with the slack of ``_close`` (``largest_rtol``: its norm-wise tolerance; ``atol``: an absolute one)."""
    f = _quiet(f)
    try:
        theirs = _run_torch(f, arrays)
    except ERRORS:
        with pytest.raises(ERRORS):
            run(tg, f, arrays, True)
        return
    ours = run(tg, f, arrays, True)
    exact = ([None] * len(theirs[0]), [None] * len(theirs[1]))
    if any(a.dtype == np.float32 for a in arrays):
        with contextlib.suppress(*ERRORS):
            exact = _run_torch(f, tuple(a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays))
    assert len(ours[0]) == len(theirs[0])
    for a, b, e in zip(ours[0], theirs[0], exact[0]):
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
        _close(a, b, e, rtol, largest_rtol, atol)
    for a, b, e in zip(ours[1], theirs[1], exact[1]):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == b.dtype and a.shape == b.shape
            _close(a, b, e, rtol, largest_rtol, atol)


# ---------------------------------------------------------------------------------------------- Normal
@settings(max_examples=80, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), validate=st.booleans())
def test_normal_matches_torch(data: st.DataObject, dtype: Any, validate: bool) -> None:
    s_loc, s_scale, s_value = _shapes(data, 3)
    loc = _array(data, s_loc, ANY, dtype)
    scale = _array(data, s_scale, POSITIVE, dtype, bad=[0.0, -1.0, np.nan, np.inf])
    value = _array(data, s_value, ANY, data.draw(st.sampled_from(FLOATS)))
    q = _array(data, s_value, UNIT, dtype, bad=[-0.5, 1.5, np.nan])

    def normal(lib: Any, m: Any, s: Any) -> Any:
        return lib.distributions.Normal(m, s, validate_args=validate)

    rtol = RTOL[dtype]
    # a float32 value beside 0-d float64 parameters computes in float32 in both (torch's promotion), where a sum of
    # gradients can land nearer the float64 one in torch by luck (a local run: 8e-7 apart, torch 4e-9 from it)
    mixed = max(rtol, RTOL[value.dtype.type] * 5)
    check(lambda lib, m, s, v: normal(lib, m, s).log_prob(v), loc, scale, value, rtol=mixed)
    check(lambda lib, m, s, v: normal(lib, m, s).cdf(v), loc, scale, value, rtol=mixed)
    check(lambda lib, m, s, p: normal(lib, m, s).icdf(p), loc, scale, q, rtol=rtol)
    check(lambda lib, m, s: (lambda d: (d.entropy(), d.mean, d.mode, d.stddev, d.variance, d.perplexity()))(
        normal(lib, m, s)), loc, scale, rtol=rtol)
    m2 = _array(data, s_value, ANY, dtype)
    s2 = _array(data, s_value, POSITIVE, dtype, bad=[0.0, np.nan])
    check(lambda lib, m, s, n, t: lib.distributions.kl_divergence(normal(lib, m, s), normal(lib, n, t)),
          loc, scale, m2, s2, rtol=rtol)


MAKERS = {  # two parameter arrays of broadcastable shapes -> a distribution (torch's or ours)
    "Normal": lambda lib, a, b: lib.distributions.Normal(a, b + 1),
    "Uniform": lambda lib, a, b: lib.distributions.Uniform(a, a + b + 1),
    "Bernoulli": lambda lib, a, b: lib.distributions.Bernoulli((a + b) / 4 + 0.5),
    "Bernoulli logits": lambda lib, a, b: lib.distributions.Bernoulli(logits=a + b),
    "Categorical": lambda lib, a, b: lib.distributions.Categorical(a + b + 1),
    "Categorical logits": lambda lib, a, b: lib.distributions.Categorical(logits=a + b),
    "Independent": lambda lib, a, b: lib.distributions.Independent(lib.distributions.Normal(a, b + 1),
                                                                   min(1, (a + b).ndim)),
}


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), name=st.sampled_from(sorted(MAKERS)))
def test_shapes_and_sample_dtypes(data: st.DataObject, dtype: Any, name: str) -> None:
    """batch_shape, event_shape, sample / rsample / expand shapes and dtypes as torch's."""
    s_a, s_b = _shapes(data, 2)
    full = np.broadcast_shapes(s_a, s_b)
    if name.startswith("Categorical") and not (full and full[-1]):  # K >= 1 classes (K = 0: in the tests below)
        s_a, s_b = (*full[:-1], 2), ()
    sample_shape = tuple(data.draw(st.lists(st.integers(0, 3), max_size=2)))
    a, b = np.zeros(s_a, dtype), np.ones(s_b, dtype) / 2
    ours = MAKERS[name](tg, tg.tensor(a), tg.tensor(b))
    with _torch_without_ambiguous_reshape():
        theirs = MAKERS[name](torch, torch.tensor(a), torch.tensor(b))
    assert ours.batch_shape == tuple(theirs.batch_shape) and ours.event_shape == tuple(theirs.event_shape)
    assert isinstance(ours.batch_shape, tg.Size) and ours.has_rsample == theirs.has_rsample
    bigger = (2, *ours.batch_shape)
    samplers = ["sample"] + ["rsample"] * ours.has_rsample
    for d, e in [(ours, theirs), (ours.expand(bigger), theirs.expand(bigger))]:
        assert d.batch_shape == tuple(e.batch_shape) and d.event_shape == tuple(e.event_shape)
        for method in samplers:
            if name.startswith("Categorical") and 0 in sample_shape:  # torch's multinomial refuses 0 draws
                continue
            x, y = getattr(d, method)(sample_shape), getattr(e, method)(sample_shape)
            assert x.shape == tuple(y.shape) and str(y.dtype) == f"torch.{x.dtype}"
            assert x.requires_grad is False
        with _torch_without_ambiguous_reshape():
            assert d.entropy().shape == tuple(e.entropy().shape)


@pytest.mark.parametrize("loc, scale", [(0.0, 1.0), (1, 2), (True, 0.5), (np.float64(1.5), 2.0)])
def test_numbers_as_parameters(loc: Any, scale: Any) -> None:
    for ours, theirs in [(D.Normal(loc, scale), torch.distributions.Normal(loc, scale)),
                         (D.Uniform(loc, loc + scale), torch.distributions.Uniform(loc, loc + scale))]:
        assert ours.batch_shape == tuple(theirs.batch_shape) == ()
        value = float(loc) + 0.25
        a, b = ours.log_prob(tg.tensor(value)), theirs.log_prob(torch.tensor(value))
        assert a.dtype == np.float32 and a.shape == () and np.isclose(a.item(), b.item(), rtol=1e-6)
        assert ours.sample().dtype == np.float32 and ours.rsample((3,)).shape == (3,)
    # a number beside a tensor takes the tensor's dtype; the tensor keeps its own shape (batch_shape)
    d = D.Normal(tg.tensor([1.0, 2.0], dtype=tg.float64), 1)
    assert d.scale.dtype == np.float64 and d.batch_shape == (2,) and d.scale.shape == (2,)
    bern = D.Bernoulli(0.25)
    assert bern.batch_shape == () and bern.probs.dtype == np.float32
    assert np.isclose(bern.logits.item(), torch.distributions.Bernoulli(0.25).logits.item())


def test_normal_with_integer_parameters() -> None:
    """torch computes log_prob / entropy of an integer loc and scale (promoted to float32) but refuses to sample."""
    check(lambda lib, m, s, v: lib.distributions.Normal(m, s).log_prob(v), np.array([0, 1]), np.array([1, 2]),
          np.array([0.5, 2.0], np.float32), rtol=1e-6)
    check(lambda lib, m, s: lib.distributions.Normal(m, s).entropy(), np.array([0, 1]), np.array([1, 2]), rtol=1e-6)
    raises(lambda lib: lib.distributions.Normal(lib.tensor([0]), lib.tensor([1])).sample())
    raises(lambda lib: lib.distributions.Uniform(lib.tensor([0]), lib.tensor([1])).rsample())


# ---------------------------------------------------------------------------------------------- Bernoulli
@settings(max_examples=80, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), validate=st.booleans(), use_logits=st.booleans())
def test_bernoulli_matches_torch(data: st.DataObject, dtype: Any, validate: bool, use_logits: bool) -> None:
    s_param, s_value = _shapes(data, 2)
    if use_logits:
        param = _array(data, s_param, ANY | st.sampled_from([1e4, -1e4, 40.0, -40.0]), dtype)
    else:
        param = _array(data, s_param, UNIT, dtype, bad=[-0.1, 1.5, np.nan])
    value = _array(data, s_value, st.sampled_from([0.0, 1.0]), data.draw(st.sampled_from(FLOATS)),
                   bad=[0.5, 2.0, np.nan])

    def bern(lib: Any, p: Any) -> Any:
        key = "logits" if use_logits else "probs"
        return lib.distributions.Bernoulli(**{key: p}, validate_args=validate)

    def log_prob(lib: Any, p: Any, v: Any) -> Any:
        d = bern(lib, p)
        out = d.log_prob(v)
        if lib is torch and v.dtype != p.dtype:  # torch rounds its terms (1 - y) z and log sigmoid(z) to the
            wide = torch.promote_types(v.dtype, p.dtype)  # value's / logits' dtype (float32: inf beyond its range,
            z, y = torch.broadcast_tensors(d.logits.to(wide), v.to(wide))  # an ulp of |z| off); ours works in
            bce = torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="none")  # float64 and
            return -bce.to(v.dtype)  # rounds once, as this
        return out

    check(log_prob, param, value, rtol=max(RTOL[dtype], RTOL[value.dtype.type]))
    rtol = RTOL[dtype]
    check(lambda lib, p: (lambda d: (d.entropy(), d.probs, d.logits, d.mean, d.variance, d.stddev))(bern(lib, p)),
          param, rtol=rtol)
    key = "logits" if use_logits else "probs"
    probs = torch.distributions.Bernoulli(**{key: torch.tensor(param)}, validate_args=False).probs.numpy()
    if not np.any(np.abs(probs - 0.5) <= 4 * np.finfo(dtype).eps):  # mode is nan at 0.5: a
        check(lambda lib, p: bern(lib, p).mode, param, rtol=0)  # last-bit sigmoid(z) may fall either side
    other = _array(data, s_value, UNIT, dtype)
    # torch's KL indexes with masks of the parameters' own shapes, which raises unless they are the broadcast
    # shape: the parameters are broadcast first here (test_kl_broadcasts has the other case)
    shape = np.broadcast_shapes(s_param, s_value)

    def kl(lib: Any, p: Any, o: Any, flip: bool) -> Any:
        p, o = bern(lib, lib.broadcast_to(p, shape)), lib.distributions.Bernoulli(lib.broadcast_to(o, shape))
        return lib.distributions.kl_divergence(*((o, p) if flip else (p, o)))

    check(lambda lib, p, o: kl(lib, p, o, False), param, other, rtol=rtol)
    check(lambda lib, p, o: kl(lib, p, o, True), param, other, rtol=rtol)


def test_bernoulli_edges() -> None:
    """probs 0 and 1 give torch's finite logits (clamped at eps) and log_prob; huge logits stay exact."""
    for dtype in FLOATS:
        p = np.array([0.0, 1.0, 0.5, 1e-30], dtype)
        v = np.array([1.0, 0.0, 1.0, 0.0], dtype)
        check(lambda lib, p, v: lib.distributions.Bernoulli(p).log_prob(v), p, v, rtol=RTOL[dtype])
        check(lambda lib, p: lib.distributions.Bernoulli(p).entropy(), p, rtol=RTOL[dtype])
        z = np.array([1e4, -1e4, 100.0, -100.0], dtype)
        check(lambda lib, z, v: lib.distributions.Bernoulli(logits=z).log_prob(v), z, v, rtol=RTOL[dtype])
        check(lambda lib, z: lib.distributions.Bernoulli(logits=z).entropy(), z, rtol=RTOL[dtype])
    # KL through torch's softplus, linear above 20 (logits past 20 and probabilities within 1e-9 of 0 or 1)
    p, z = np.array([1 - 1e-9, 1e-9, 0.3, 0.0]), np.array([25.0, -30.0, 21.0, 22.0])
    check(lambda lib, p, z: lib.distributions.kl_divergence(lib.distributions.Bernoulli(p),
                                                            lib.distributions.Bernoulli(logits=z)), p, z, rtol=1e-13)
    check(lambda lib, p, z: lib.distributions.kl_divergence(lib.distributions.Bernoulli(logits=z),
                                                            lib.distributions.Bernoulli(p)), p, z, rtol=1e-13)
    # an integer or bool value: torch's BCE refuses it, and so do we (pass value.float())
    raises(lambda lib: lib.distributions.Bernoulli(lib.tensor([0.3])).log_prob(lib.tensor([1])))
    raises(lambda lib: lib.distributions.Bernoulli(lib.tensor([0.3])).log_prob(lib.tensor([True])))


def test_kl_broadcasts() -> None:
    """Bernoulli KL of parameters of two shapes: torch's masked writes raise (IndexError) unless each parameter
    has the broadcast shape; ours broadcasts, giving torch's result for the broadcast parameters."""
    shape = (2, 3)
    p, q = np.array([[0.0, 0.3, 1.0], [0.5, 0.2, 1.0]]), np.array([0.0, 1.0, 0.4])
    with pytest.raises(IndexError):
        torch.distributions.kl_divergence(torch.distributions.Bernoulli(torch.tensor(p)),
                                          torch.distributions.Bernoulli(torch.tensor(q)))

    def kl(lib: Any, a: Any, b: Any) -> Any:
        if lib is torch:
            a, b = a.expand(shape), b.expand(shape)
        return lib.distributions.kl_divergence(lib.distributions.Bernoulli(a), lib.distributions.Bernoulli(b))

    check(kl, p, q, rtol=1e-12)
    check(lambda lib, a, b: kl(lib, b, a), p, q, rtol=1e-12)


# ---------------------------------------------------------------------------------------------- Categorical
@settings(max_examples=80, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), validate=st.booleans(), use_logits=st.booleans(),
       k=st.integers(1, 4))
def test_categorical_matches_torch(data: st.DataObject, dtype: Any, validate: bool, use_logits: bool,
                                   k: int) -> None:
    s_batch, s_value, s_other = _shapes(data, 3)
    if use_logits:  # huge logits: test_categorical_huge_logits
        param = _array(data, (*s_batch, k), LOGITS, dtype)
    else:
        param = _array(data, (*s_batch, k), WEIGHTS, dtype, bad=[-1.0, np.nan, np.inf])
    value = data.draw(hnp.arrays(data.draw(st.sampled_from([np.int64, np.int32, np.float32])), s_value,
                                 elements=st.integers(0, k - 1) | st.integers(-1, k)))

    def cat(lib: Any, p: Any) -> Any:
        key = "logits" if use_logits else "probs"
        return lib.distributions.Categorical(**{key: p}, validate_args=validate)

    rtol = RTOL[dtype]
    if validate or (value.min(initial=0) >= 0 and value.max(initial=0) < k):  # out of range: an index error in both
        check(lambda lib, p, v: cat(lib, p).log_prob(v), param, value, rtol=rtol)
    check(lambda lib, p: (lambda d: (d.entropy(), d.probs, d.logits, d.mean, d.variance, d.stddev,
                                     d.perplexity()))(cat(lib, p)), param,
          rtol=rtol)
    if not np.isnan(param).any():
        check(lambda lib, p: cat(lib, p).mode, param, rtol=rtol)
    other = _array(data, (*s_other, k), WEIGHTS, dtype)
    # KL's gradient through probs = w / w.sum() cancels terms as large as the largest entry (1e24 for weights
    # [0, 1e-30], hunt 49002), so an entry that is 0 exactly is off by rounding of that size: an ulp of a float32
    # log (numpy's and torch's differ there) made ours -5.8e17 beside -5.6e24, where torch's rounding gave 0
    eps = 8 * float(np.finfo(dtype).eps)
    check(lambda lib, p, o: lib.distributions.kl_divergence(cat(lib, p), lib.distributions.Categorical(o)),
          param, other, rtol=rtol, largest_rtol=eps)
    check(lambda lib, p, o: lib.distributions.kl_divergence(lib.distributions.Categorical(o), cat(lib, p)),
          param, other, rtol=rtol, largest_rtol=eps)


@pytest.mark.parametrize("dtype", FLOATS)
def test_categorical_huge_logits(dtype: Any) -> None:
    """Values as torch's; gradients as torch's with the row maximum taken out first (torch's logsumexp backward,
    exp(x - lse), loses |lse| * eps: see README "Differences from PyTorch"; ours is softmax)."""
    big = float(np.finfo(dtype).max) / 4
    logits = np.array([[big, big, -big], [5e3, 5e3 + 1, 0.0], [-big, 0.0, 1.0]], dtype)
    value = np.array([0, 1, 2])

    def f(lib: Any, z: Any, v: Any, shift: bool = False) -> Any:
        if shift:
            z = z - z.amax(-1, keepdim=True).detach()
        d = lib.distributions.Categorical(logits=z)
        return d.log_prob(v), d.entropy(), d.probs

    agree(f, logits, value, grads=False, rtol=RTOL[dtype])
    (ours,), (theirs,) = run(tg, f, (logits, value), True)[1][:1], run(torch, lambda *a: f(*a, shift=True),
                                                                          (logits, value), True)[1][:1]
    np.testing.assert_allclose(ours, theirs, rtol=RTOL[dtype], atol=RTOL[dtype])


def test_categorical_shapes_and_samples() -> None:
    for shape in [(4,), (2, 3), (2, 1, 5), (0, 3)]:
        probs = np.ones(shape, np.float32)
        ours, theirs = D.Categorical(tg.tensor(probs)), torch.distributions.Categorical(torch.tensor(probs))
        assert ours.batch_shape == tuple(theirs.batch_shape) and ours.event_shape == tuple(theirs.event_shape)
        assert ours.param_shape == tuple(theirs.param_shape)
        for sample_shape in [(), (3,), (2, 4)]:
            a, b = ours.sample(sample_shape), theirs.sample(sample_shape)
            assert a.shape == tuple(b.shape) and a.dtype == np.int64
        # no samples: torch's multinomial refuses 0 draws; ours gives the empty result the other distributions do
        assert ours.sample((2, 0)).shape == (2, 0, *ours.batch_shape)
        with pytest.raises(RuntimeError):
            theirs.sample((2, 0))
        for expand in (True, False):
            a, b = ours.enumerate_support(expand), theirs.enumerate_support(expand)
            np.testing.assert_array_equal(a.numpy(), b.numpy())
            assert a.dtype == np.int64
    raises(lambda lib: lib.distributions.Categorical(lib.tensor(0.5)))
    raises(lambda lib: lib.distributions.Categorical(lib.tensor([0.5, 0.5]), lib.tensor([0.0, 0.0])))
    raises(lambda lib: lib.distributions.Categorical())
    raises(lambda lib: lib.distributions.Categorical(lib.ones(0)))  # an empty simplex sums to 0
    raises(lambda lib: lib.distributions.Categorical(lib.tensor([0.3, 0.7])).log_prob(lib.tensor(1.5)))
    raises(lambda lib: lib.distributions.Categorical(lib.ones(2, 2)).log_prob(lib.tensor([0, 1, 1])))
    check(lambda lib, p, v: lib.distributions.Categorical(p).log_prob(v), np.array([0.3, 0.7]),
          np.array([[0, 1, 1]]), rtol=1e-12)
    raises(lambda lib: lib.distributions.Categorical(lib.tensor([0.3, 0.7]), validate_args=False).log_prob(
        lib.tensor(2)))
    raises(lambda lib: lib.distributions.kl_divergence(lib.distributions.Categorical(lib.ones(3)),
                                                       lib.distributions.Categorical(lib.ones(2))))


# ---------------------------------------------------------------------------------------------- Uniform
@settings(max_examples=80, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS), validate=st.booleans())
def test_uniform_matches_torch(data: st.DataObject, dtype: Any, validate: bool) -> None:
    s_low, s_value = _shapes(data, 2)
    low = _array(data, s_low, st.floats(-100, 100) | st.sampled_from([0.0, -1e30]), dtype, bad=[np.nan])
    width = _array(data, s_low, POSITIVE, dtype, bad=[0.0, -1.0])
    with np.errstate(all="ignore"):
        high = (low + width).astype(dtype)
    value = _array(data, s_value, st.floats(-150, 150) | st.sampled_from([0.0, 1.0, -1.0, np.nan]), dtype)
    q = _array(data, s_value, UNIT, dtype)

    def uni(lib: Any, lo: Any, hi: Any) -> Any:
        return lib.distributions.Uniform(lo, hi, validate_args=validate)

    rtol = RTOL[dtype]
    check(lambda lib, lo, hi, v: uni(lib, lo, hi).log_prob(v), low, high, value, rtol=rtol)
    check(lambda lib, lo, hi, v: uni(lib, lo, hi).cdf(v), low, high, value, rtol=rtol)
    check(lambda lib, lo, hi, p: uni(lib, lo, hi).icdf(p), low, high, q, rtol=rtol)
    check(lambda lib, lo, hi: (lambda d: (d.entropy(), d.mean, d.mode, d.stddev, d.variance))(uni(lib, lo, hi)),
          low, high, rtol=rtol)
    lo2 = _array(data, s_value, st.floats(-100, 100), dtype)
    hi2 = (lo2 + _array(data, s_value, st.floats(1e-3, 300), dtype)).astype(dtype)
    check(lambda lib, a, b, c, e: lib.distributions.kl_divergence(uni(lib, a, b), uni(lib, c, e)),
          low, high, lo2, hi2, rtol=rtol)
    scale = _array(data, s_value, POSITIVE, dtype)
    check(lambda lib, a, b, m, s: lib.distributions.kl_divergence(uni(lib, a, b), lib.distributions.Normal(m, s)),
          low, high, lo2, scale, rtol=rtol)
    check(lambda lib, a, b, m, s: lib.distributions.kl_divergence(lib.distributions.Normal(m, s), uni(lib, a, b)),
          low, high, lo2, scale, rtol=rtol)


def test_uniform_support_edges() -> None:
    """log_prob is 0 - log(width) on [low, high), -inf at high and outside (unvalidated); validated, a value
    outside [low, high] raises (high itself is accepted and gives -inf)."""
    check(lambda lib, lo, hi, v: lib.distributions.Uniform(lo, hi, validate_args=False).log_prob(v),
          np.array([0.0]), np.array([2.0]), np.array([-1.0, 0.0, 1.0, 2.0, 3.0]), rtol=1e-12)
    check(lambda lib, lo, hi, v: lib.distributions.Uniform(lo, hi).log_prob(v), np.array([0.0]), np.array([2.0]),
          np.array([0.0, 1.0, 2.0]), rtol=1e-12)
    raises(lambda lib: lib.distributions.Uniform(0.0, 2.0).log_prob(lib.tensor(2.5)))
    raises(lambda lib: lib.distributions.Uniform(0.0, 2.0).cdf(lib.tensor(-0.5)))
    raises(lambda lib: lib.distributions.Uniform(1.0, 1.0))
    raises(lambda lib: lib.distributions.Uniform(lib.tensor([0.0, 3.0]), 2.0))


# ---------------------------------------------------------------------------------------------- Independent
@settings(max_examples=50, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(FLOATS))
def test_independent_matches_torch(data: st.DataObject, dtype: Any) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
    n = data.draw(st.integers(0, len(shape) + 1))
    loc, loc2 = _array(data, shape, st.floats(-10, 10), dtype), _array(data, shape, st.floats(-10, 10), dtype)
    scale, scale2 = _array(data, shape, st.floats(0.1, 10), dtype), _array(data, shape, st.floats(0.1, 10), dtype)
    value = _array(data, shape[data.draw(st.integers(0, len(shape))):], st.floats(-10, 10), dtype)

    def ind(lib: Any, m: Any, s: Any, k: int = n) -> Any:
        return lib.distributions.Independent(lib.distributions.Normal(m, s), k)

    rtol = RTOL[dtype] * 10
    check(lambda lib, m, s, v: ind(lib, m, s).log_prob(v), loc, scale, value, rtol=rtol)
    check(lambda lib, m, s: (lambda d: (d.entropy(), d.mean, d.mode, d.variance))(ind(lib, m, s)), loc, scale,
          rtol=rtol)
    check(lambda lib, m, s, m2, s2: lib.distributions.kl_divergence(ind(lib, m, s), ind(lib, m2, s2)),
          loc, scale, loc2, scale2, rtol=rtol)
    raises(lambda lib: lib.distributions.kl_divergence(ind(lib, lib.tensor(loc), lib.tensor(scale), 0),
                                                       ind(lib, lib.tensor(loc), lib.tensor(scale), 1)) if shape
           else lib.distributions.Independent(lib.distributions.Normal(0.0, 1.0), 1))
    if n <= len(shape):
        ours, theirs = ind(tg, tg.tensor(loc), tg.tensor(scale)), ind(torch, torch.tensor(loc), torch.tensor(scale))
        # (torch.distributions' own empty-batch failures: _torch_without_ambiguous_reshape)
        assert ours.batch_shape == tuple(theirs.batch_shape) and ours.event_shape == tuple(theirs.event_shape)
        assert ours.has_rsample and ours.rsample((2,)).shape == tuple(theirs.rsample((2,)).shape)
        bigger = (2, *ours.batch_shape)
        a, b = ours.expand(bigger), theirs.expand(bigger)
        assert a.batch_shape == tuple(b.batch_shape) and a.event_shape == tuple(b.event_shape)


# ---------------------------------------------------------------------------------------------- validation
def test_validation_errors_as_torch() -> None:
    nd = "distributions"
    raises(lambda lib: getattr(lib, nd).Normal(0.0, 0.0))
    raises(lambda lib: getattr(lib, nd).Normal(lib.tensor([0.0, math.nan]), 1.0))
    raises(lambda lib: getattr(lib, nd).Normal(lib.zeros(2), lib.ones(3)))
    raises(lambda lib: getattr(lib, nd).Normal(np.zeros(2), 1.0))  # an array is neither a Tensor nor a number
    raises(lambda lib: getattr(lib, nd).Normal(np.float32(0.0), 1.0))
    raises(lambda lib: getattr(lib, nd).Normal(0.0, 1.0).log_prob(0.5))  # validated: the value must be a Tensor
    raises(lambda lib: getattr(lib, nd).Normal(lib.zeros(3), 1.0).log_prob(lib.zeros(2)))
    raises(lambda lib: getattr(lib, nd).Normal(lib.zeros(3), 1.0).cdf(lib.tensor(math.nan)))
    raises(lambda lib: getattr(lib, nd).Normal(0.0, 1.0).sample(5))  # torch.Size(5) is a TypeError
    raises(lambda lib: getattr(lib, nd).Bernoulli())
    raises(lambda lib: getattr(lib, nd).Bernoulli(0.5, 0.0))
    raises(lambda lib: getattr(lib, nd).Bernoulli(1.5))
    raises(lambda lib: getattr(lib, nd).Bernoulli(logits=math.nan))
    raises(lambda lib: getattr(lib, nd).Bernoulli(0.5).log_prob(lib.tensor(0.5)))
    raises(lambda lib: getattr(lib, nd).Bernoulli(0.5).rsample())
    raises(lambda lib: getattr(lib, nd).Categorical(lib.ones(3)).rsample())
    raises(lambda lib: getattr(lib, nd).Independent(getattr(lib, nd).Normal(lib.zeros(2), 1.0), 2))
    raises(lambda lib: getattr(lib, nd).kl_divergence(getattr(lib, nd).Normal(0.0, 1.0),
                                                      getattr(lib, nd).Bernoulli(0.5)))
    raises(lambda lib: getattr(lib, nd).kl_divergence(getattr(lib, nd).Bernoulli(lib.rand(2, 3)),
                                                      getattr(lib, nd).Bernoulli(lib.rand(4))))
    # validate_args=False computes where validation would raise (here nan, as torch)
    for lib in (tg, torch):
        d = lib.distributions.Normal(0.0, -1.0, validate_args=False)
        assert math.isnan(d.log_prob(lib.tensor(0.0)).item()) and math.isnan(d.entropy().item())
        assert lib.distributions.Normal(0.0, 1.0, validate_args=False).log_prob(0.5).item() == pytest.approx(
            -1.0439385332046727)


def test_set_default_validate_args() -> None:
    try:
        D.Distribution.set_default_validate_args(False)
        assert math.isnan(D.Normal(0.0, -1.0).entropy().item())
        assert D.Normal(0.0, 1.0, validate_args=True)._validate_args
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError, match="scale"):
        D.Normal(0.0, -1.0)
    with pytest.raises(ValueError):
        D.Distribution.set_default_validate_args("yes")


# ---------------------------------------------------------------------------------------------- sampling
def _moments(x: np.ndarray, mean: np.ndarray, var: np.ndarray, n: int) -> None:
    """The sample mean and variance of ``n`` draws within 5 standard errors of ``mean`` and ``var`` (the variance's
    standard error from the fourth moment)."""
    m, v = x.mean(0), x.var(0)
    assert np.all(np.abs(m - mean) <= 5 * np.sqrt(var / n) + 1e-12), (m, mean)
    fourth = ((x - mean) ** 4).mean(0)
    spread = 5 * np.sqrt(np.maximum(fourth - var**2, 0) / n) + 25 * var / n  # + (m - mean)^2 at 5 standard errors
    assert np.all(np.abs(v - var) <= spread + 1e-9), (v, var)


@pytest.mark.parametrize("dtype", FLOATS)
def test_sampling_statistics(dtype: Any) -> None:
    n = 40_000
    tg.manual_seed(123)
    loc, scale = np.array([0.0, 3.0, -2.0], dtype), np.array([1.0, 0.5, 4.0], dtype)
    normal = D.Normal(tg.tensor(loc), tg.tensor(scale))
    for x in (normal.sample((n,)), normal.rsample((n,))):
        assert x.dtype == dtype and x.shape == (n, 3)
        _moments(x.numpy().astype(np.float64), loc, scale.astype(np.float64) ** 2, n)
    low, high = np.array([0.0, -5.0], dtype), np.array([1.0, 10.0], dtype)
    u = D.Uniform(tg.tensor(low), tg.tensor(high)).sample((n,)).numpy()
    assert u.dtype == dtype and np.all((u >= low) & (u < high))
    _moments(u.astype(np.float64), (low + high) / 2, (high - low).astype(np.float64) ** 2 / 12, n)
    p = np.array([0.0, 0.1, 0.5, 1.0], dtype)
    b = D.Bernoulli(tg.tensor(p)).sample((n,)).numpy()
    assert b.dtype == dtype and set(np.unique(b)) <= {0.0, 1.0}
    _moments(b.astype(np.float64), p, p * (1 - p), n)
    w = np.array([[1.0, 0.0, 3.0], [1.0, 1.0, 1.0]], dtype)
    c = D.Categorical(logits=tg.tensor(np.log(w))).sample((n, 2)).numpy()
    assert c.dtype == np.int64 and c.shape == (n, 2, 2)
    freq = np.stack([(c == k).mean((0, 1)) for k in range(3)], -1)
    probs = w / w.sum(-1, keepdims=True)
    assert np.all(np.abs(freq - probs) <= 5 * np.sqrt(probs * (1 - probs) / (2 * n)) + 1e-12), freq


def test_samples_follow_the_seed_and_rsample_is_reparameterised() -> None:
    mu = tg.tensor([0.5, -1.0], requires_grad=True)
    sigma = tg.tensor([2.0, 0.1], requires_grad=True)
    tg.manual_seed(7)
    z = D.Normal(mu, sigma).rsample((5,))
    tg.manual_seed(7)
    assert np.array_equal(D.Normal(mu, sigma).sample((5,)).numpy(), z.numpy())
    assert not D.Normal(mu, sigma).sample().requires_grad and z.requires_grad
    z.sum().backward()
    eps = (z.numpy() - mu.numpy()) / sigma.numpy()
    np.testing.assert_allclose(mu.grad.numpy(), [5.0, 5.0])
    np.testing.assert_allclose(sigma.grad.numpy(), eps.sum(0), rtol=1e-5)
    low, high = tg.tensor(1.0, requires_grad=True), tg.tensor(3.0, requires_grad=True)
    u = D.Uniform(low, high).rsample((4,))
    u.sum().backward()
    frac = (u.numpy() - 1.0) / 2.0
    np.testing.assert_allclose([low.grad.item(), high.grad.item()], [(1 - frac).sum(), frac.sum()], rtol=1e-5)


def test_lazy_parameters_keep_their_graph() -> None:
    """probs computed first inside no_grad (by sample) still carry the gradient to logits later, as in torch."""
    z = tg.tensor([0.3, -2.0], requires_grad=True)
    b = D.Bernoulli(logits=z)
    with tg.no_grad():
        b.sample()
    b.entropy().sum().backward()
    zt = torch.tensor([0.3, -2.0], requires_grad=True)
    torch.distributions.Bernoulli(logits=zt).entropy().sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), zt.grad.numpy(), rtol=1e-6)


# ---------------------------------------------------------------------------------------------- kl dispatch
def test_register_kl_dispatch() -> None:
    class MyNormal(D.Normal):
        pass

    class Other(D.Normal):
        pass

    # a subclass uses its base's registration until it has its own
    p, q = MyNormal(0.0, 1.0), D.Normal(1.0, 2.0)
    assert D.kl_divergence(p, q).item() == pytest.approx(D.kl_divergence(D.Normal(0.0, 1.0), q).item())

    @D.register_kl(MyNormal, D.Normal)
    def _mine(p: Any, q: Any) -> Any:
        return tg.tensor(42.0)

    assert D.kl_divergence(p, q).item() == 42.0 and D.kl_divergence(q, p).item() != 42.0

    @D.register_kl(D.Normal, Other)
    def _other(p: Any, q: Any) -> Any:
        return tg.tensor(-1.0)

    with pytest.warns(RuntimeWarning, match="Ambiguous"):
        assert D.kl_divergence(p, Other(0.0, 1.0)).item() == 42.0  # p's class is matched first, as torch
    with pytest.raises(TypeError):
        D.register_kl(int, D.Normal)
    with pytest.raises(NotImplementedError):
        D.kl_divergence(D.Bernoulli(0.5), D.Categorical(tg.ones(2)))


def test_constraints_and_repr() -> None:
    c = D.constraints
    assert D.Normal.arg_constraints["scale"] is c.positive and D.Normal.support is c.real
    assert D.Categorical(tg.ones(3)).support.upper_bound == 2
    assert c.simplex.check(tg.tensor([[0.5, 0.5], [0.5, 0.6]])).tolist() == [True, False]
    assert c.real_vector.check(tg.tensor([[0.0, math.nan], [1.0, 2.0]])).tolist() == [False, True]
    assert repr(D.Normal(0.0, 1.0)) == "Normal(loc: 0.0, scale: 1.0)"
    assert "Independent(Normal" in repr(D.Independent(D.Normal(tg.zeros(2), 1.0), 1))
    assert D.Bernoulli(0.5).has_enumerate_support and not D.Bernoulli(0.5).has_rsample
    check(lambda lib, p: lib.distributions.Bernoulli(p).enumerate_support(False), np.array([[0.2], [0.3]]),
          rtol=0)
    check(lambda lib, p: lib.distributions.Bernoulli(p).enumerate_support(), np.array([[0.2], [0.3]]), rtol=0)


def test_lazily_loaded_subpackage() -> None:
    import subprocess
    import sys

    code = "import sys, tinygrad_adam as tg; assert 'tinygrad_adam.distributions' not in sys.modules; tg.distributions"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------- a VAE step
def _vae_loss(lib: Any, x: Any, w_enc: Any, w_dec: Any, eps: Any) -> tuple[Any, Any]:
    """A one-layer VAE: (mu, log-variance) from x, z = mu + eps * std (eps given, so both libraries agree), the
    Bernoulli likelihood of x under the decoded logits, and the KL to N(0, 1)."""
    h = x @ w_enc
    mu, logvar = h[:, :2], h[:, 2:]
    q = lib.distributions.Normal(mu, (0.5 * logvar).exp())
    z = q.loc + eps * q.scale  # what q.rsample() does with this eps
    recon = lib.distributions.Independent(lib.distributions.Bernoulli(logits=z @ w_dec), 1).log_prob(x)
    kl = lib.distributions.kl_divergence(q, lib.distributions.Normal(0.0, 1.0)).sum(-1)
    return (kl - recon).mean(), kl


def test_vae_step_matches_torch() -> None:
    rng = np.random.default_rng(0)
    x = (rng.random((8, 5)) < 0.5).astype(np.float32)
    w_enc = rng.normal(size=(5, 4)).astype(np.float32) * 0.5
    w_dec = rng.normal(size=(2, 5)).astype(np.float32)
    eps = rng.normal(size=(8, 2)).astype(np.float32)
    check(lambda lib, x, we, wd, e: _vae_loss(lib, x, we, wd, e), x, w_enc, w_dec, eps, rtol=2e-5)
    # and with the library's own rsample: training lowers the loss
    tg.manual_seed(0)
    enc, dec = tg.tensor(w_enc, requires_grad=True), tg.tensor(w_dec, requires_grad=True)
    opt = tg.optim.Adam([enc, dec], lr=0.05)
    xt = tg.tensor(x)

    def loss() -> Any:
        h = xt @ enc
        q = D.Normal(h[:, :2], (0.5 * h[:, 2:]).exp())
        z = q.rsample((16,))  # (16, 8, 2)
        recon = D.Independent(D.Bernoulli(logits=z @ dec), 1).log_prob(xt).mean(0)
        return (D.kl_divergence(q, D.Normal(0.0, 1.0)).sum(-1) - recon).mean()

    first = loss().item()
    for _ in range(60):
        opt.zero_grad()
        value = loss()
        value.backward()
        assert np.isfinite(enc.grad.numpy()).all() and np.abs(enc.grad.numpy()).sum() > 0
        opt.step()
    assert loss().item() < first - 0.5


# ---------------------------------------------------------------------------------------------- on the GPU
def _gpu_program(device: str) -> list[Any]:
    """Values and gradients of every distribution's functions on ``device``; distributions made from Python
    numbers meet tensors there (torch's 0-d CPU parameters act as scalars)."""
    tg.manual_seed(0)
    mu = tg.tensor([[0.5, -1.0, 2.0]], device=device, requires_grad=True)
    sd = tg.tensor([[1.0, 0.5, 2.0]], device=device, requires_grad=True)
    z = tg.tensor([[-1.0, 0.0, 3.0], [0.0, 1.0, 3.0]], device=device)
    logits = tg.tensor([[0.3, -2.0, 1.0], [4.0, 0.0, -1.0]], device=device, requires_grad=True)
    q, prior = D.Normal(mu, sd), D.Normal(0, 1)
    u = D.Uniform(mu - 3, mu + sd + 3)
    b, c = D.Bernoulli(logits=logits), D.Categorical(logits=logits)
    parts = [q.log_prob(z), q.cdf(z), q.entropy(), prior.log_prob(z), prior.cdf(z),
             D.kl_divergence(q, prior), D.kl_divergence(prior, q), u.log_prob(z), u.cdf(z), u.entropy(),
             D.kl_divergence(u, D.Uniform(-10.0, 10.0)), D.kl_divergence(u, q), b.log_prob((z > 0).float()),
             b.entropy(), D.kl_divergence(b, D.Bernoulli(0.3)), D.Bernoulli(0.3).log_prob((z > 0).float()),
             c.log_prob(tg.tensor([2, 0], device=device)), c.entropy(), c.probs,
             D.kl_divergence(c, D.Categorical(logits=logits.detach().flip(-1))),
             D.Independent(q, 2).log_prob(z),
             D.kl_divergence(D.Independent(q, 1), D.Independent(D.Normal(tg.zeros(1, 3, device=device), 1.0), 1))]
    if os.environ.get("TINYGRAD_ADAM_FAKE_GPU") != "1":  # erfinv is cupyx.scipy.special's, not in the fake cupy
        parts.append(q.icdf(z.sigmoid()))
    draws = [q.rsample((4,)), q.sample(), u.rsample((2,)), b.sample((3,)), c.sample((5,))]
    assert all(d.device == mu.device for d in draws) and prior.sample((2,)).device == "cpu"
    parts.append(sum(d.float().sum() * 0 for d in draws))  # the gradient of rsample reaches mu and sd
    sum((p.float() * (i + 1)).sum() for i, p in enumerate(parts) if p.requires_grad).backward()
    return [p.detach().cpu().numpy() for p in parts] + [t.grad.cpu().numpy() for t in (mu, sd, logits)]


@pytest.mark.gpu
def test_distributions_on_the_gpu_match_the_cpu() -> None:
    for a, b in zip(_gpu_program("cuda"), _gpu_program("cpu")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_gpu_program_runs_on_the_cpu() -> None:
    """The GPU test's program (the part that does not need a device) runs and its gradients are finite."""
    out = _gpu_program("cpu")
    assert all(np.all(np.isfinite(o) | np.isinf(o)) for o in out[:-3]) and all(np.isfinite(g).all() for g in out[-3:])
